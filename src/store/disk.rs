//! The database on disk: its files kept private to their owner, and a full disk told apart
//! from other database errors (with a switch that makes one, for tests).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Executor;
use sqlx::sqlite::SqliteConnectOptions;

use super::StoreError;
use crate::data_dir::{PRIVATE_FILE, set_mode};

/// SQLite's "database or disk is full" (which `max_page_count` also raises), the I/O errors of
/// writing (write, fsync, truncate), and an operating system's "no space left".
pub(super) fn is_storage_full(error: &sqlx::Error) -> bool {
    const FULL: i32 = 13;
    const IOERR_WRITE: i32 = 10 | (3 << 8);
    const IOERR_FSYNC: i32 = 10 | (4 << 8);
    const IOERR_DIR_FSYNC: i32 = 10 | (5 << 8);
    const IOERR_TRUNCATE: i32 = 10 | (6 << 8);
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| {
                code & 0xff == FULL
                    || matches!(
                        code,
                        IOERR_WRITE | IOERR_FSYNC | IOERR_DIR_FSYNC | IOERR_TRUNCATE
                    )
            }),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// Stops and resumes a store's growth, as a disk filling up and being freed would: while
/// stopped, every pooled connection has SQLite's `max_page_count` at the database's current
/// size, so a write that needs a new page fails with SQLITE_FULL, exactly as on a full disk.
/// Applied when a connection opens and each time one is taken from the pool.
#[derive(Debug, Clone, Default)]
pub struct GrowthSwitch(std::sync::Arc<AtomicBool>);

impl GrowthSwitch {
    /// From now on the database cannot grow.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// The database may grow again.
    pub fn resume(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub(super) async fn apply(
        &self,
        connection: &mut sqlx::SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        // A cap below the current size is raised to it: 1 means "as large as it is now".
        // SQLite's largest cap lifts the limit again.
        let pages = if self.0.load(Ordering::SeqCst) {
            1
        } else {
            4_294_967_294_u64
        };
        connection
            .execute(format!("PRAGMA max_page_count = {pages}").as_str())
            .await
            .map(drop)
    }
}

/// The files of a database on disk: the database, its write-ahead log and the log's index.
pub(super) struct DatabaseFiles {
    db: PathBuf,
}

impl DatabaseFiles {
    /// The files behind `options`; `None` for an in-memory database.
    pub(super) fn of(options: &SqliteConnectOptions) -> Option<Self> {
        let db = options.get_filename();
        let name = db.to_string_lossy();
        if name.is_empty() || name.starts_with(':') || name.starts_with("file:") {
            return None;
        }
        Some(Self { db: db.to_owned() })
    }

    fn companions(&self) -> [PathBuf; 3] {
        let with = |suffix: &str| {
            let mut name = self.db.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [self.db.clone(), with("-wal"), with("-shm")]
    }

    /// Creates an empty database file readable by its owner only, before SQLite opens it
    /// (SQLite would create it 0644 less the umask, and its WAL and index with the same mode);
    /// an existing one and its companions are made owner-only too.
    pub(super) fn create_private(&self) -> Result<(), StoreError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(PRIVATE_FILE);
        }
        match options.open(&self.db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A missing directory and the like: SQLite says it better when it tries.
            Err(_) => return Ok(()),
        }
        self.make_private()
    }

    /// Makes the database and whichever of its companions exist owner-only.
    pub(super) fn make_private(&self) -> Result<(), StoreError> {
        for path in self.companions() {
            // Only regular files: whatever else sits at the path is SQLite's to refuse.
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            set_mode(&path, PRIVATE_FILE).map_err(|source| StoreError::Files { path, source })?;
        }
        Ok(())
    }
}
