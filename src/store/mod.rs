//! The only SQL in autopost: a SQLite store (WAL, foreign keys, busy timeout) behind typed
//! functions. Secrets are sealed here and nowhere else; callers see `Secret`s and domain types.

mod accounts;
mod audit;
mod chats;
mod composition;
mod consents;
mod db;
mod disk;
mod drafts;
mod due_hints;
mod export;
mod grouped;
mod inbox;
mod instances;
mod keys;
pub mod media_blobs;
mod meta_users;
mod notifications;
mod oauth_states;
mod post_views;
mod posts;
mod privacy;
mod rate_windows;
mod retention;
mod revocations;
#[cfg(test)]
mod schema_match;
mod series;
mod targets;
mod thread_parts;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use db::Backend;
use db::{Pool, query, query_scalar};

use crate::crypto::{Aad, CryptoError, KeyId, MasterKey, Sealer, Secret, sealed_key_id};

pub use accounts::{
    ExpiringGrant, GrantTokens, LinkedAccount, NewAccount, NewGrant, NewLinkedAccount,
};
pub use audit::{AuditEvent, AuditKind, LoggedEvent};
pub use chats::{Chat, User};
pub use composition::{ComposedPost, SameText, TargetChange};
pub use consents::ConsentAction;
pub use disk::GrowthSwitch;
use disk::{DatabaseFiles, is_storage_full};
pub use drafts::{DraftClaim, NewDraft, StoredDraft};
pub use due_hints::DueHints;
pub use export::{
    ExportedAccount, ExportedChat, ExportedChatAccount, ExportedConsent, ExportedDraft,
    ExportedDraftImage, ExportedEvent, ExportedGrant, ExportedMedia, ExportedNotification,
    ExportedOAuthState, ExportedPost, ExportedPostMessage, ExportedRevocation, ExportedTarget,
    ExportedThreadPart, ExportedUser, ExportedVariant, UserExport,
};
pub use inbox::{GrantRefreshLock, Inbound};
pub use instances::{LeaseSession, Peer, SESSION_PREFIX};
pub use keys::SEALED_COLUMNS;
pub use meta_users::{
    DeletionRequest, DeletionSummary, MetaErasure, MetaRevocation, RevokedAccount,
};
pub use notifications::{Notification, NotificationKind, StoredNotification};
pub use oauth_states::{NewOAuthState, OAuthState, StateProblem, StateUse};
pub use post_views::{MessageRole, PostMessage, PostState, PostView, TargetView};
pub use posts::{MediaFile, NewMedia, NewPost};
pub use privacy::{GrantUse, Unlinked};
pub use retention::{RemovedMedia, RemovedPosts};
pub use revocations::{AbandonedRevocation, PendingRevocation, RevocationId};
pub use series::{EditablePost, PostUpdate, Updated};
pub use targets::{Cancelled, Claim, ClaimLimits, DueTarget, HistoryEntry, QueuedRow, Retrying};
pub use thread_parts::ThreadPart;

/// How long PostgreSQL lets a session sit idle inside a transaction before ending it.
const IDLE_IN_TRANSACTION: &str = "5s";

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most the write-ahead log keeps on disk once it has been checkpointed and starts over
/// (`journal_size_limit`): pages past it are cut off instead of lingering, old content and
/// all, until overwritten. The 100 ms checkpoints keep the log far smaller in normal use.
const WAL_SIZE_LIMIT: &str = "8388608";

/// How many times [`Store::checkpoint_truncate`] asks before giving up, and the longest it
/// waits between two asks (each ask itself waits up to the busy timeout for the lock).
const TRUNCATE_ATTEMPTS: u32 = 8;
const TRUNCATE_MAX_PAUSE: Duration = Duration::from_secs(1);

/// A plain value sealed into `settings` on first start: opening it proves the key is right.
const KEY_CHECK_PLAIN: &str = "autopost master key check";

/// Handle to the database. Cheap to clone; all clones share one pool and one sealer.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    sealer: Arc<Sealer>,
    shared: Arc<Shared>,
    /// The instance whose claims and outcome writes this handle makes (see
    /// [`Store::owned_by`]); `None` for a store no instance joined through (tests, tools).
    owner: Option<Arc<str>>,
}

/// What the clones of one `Store` share besides the pool.
struct Shared {
    /// The pool again, for the background checkpoints (see [`checkpoint_wal`]): they hold
    /// only a weak reference to this, so the pool closes once the last `Store` is dropped.
    pool: Pool,
    /// Taken around the frequent writes (see [`Store::write_turn`]).
    writes: tokio::sync::Mutex<()>,
    /// When `first_delivery` last pruned old update ids (Unix ms).
    updates_pruned_at: AtomicI64,
    /// Counts stored notifications, so front ends wake for every one, whoever stored it
    /// (scheduler, linker, token upkeep).
    notifications: tokio::sync::watch::Sender<u64>,
    /// The group-commit task for outcome writes, started at the first one (inside the
    /// runtime that makes it); it ends when this is dropped.
    grouped: std::sync::OnceLock<grouped::Grouped>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// How a store is opened beyond its URL; production uses the default.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// A switch that stops the database growing, for tests of a full disk; `None` in
    /// production.
    pub growth: Option<GrowthSwitch>,
    /// How this process names itself to PostgreSQL (`application_name`), so that another
    /// instance can tell its sessions apart; ignored on SQLite.
    pub application_name: Option<String>,
}

/// Whether `url` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL with any password replaced, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The value sealed into a database on first start: which master key opens it.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    sealed: Vec<u8>,
}

impl KeyCheck {
    /// Whether `key` is the database's key.
    pub fn opens_with(&self, key: &MasterKey) -> bool {
        verify_key_check(&Sealer::new(key.clone()), &self.sealed).is_ok()
    }

    /// The id of the key the database was sealed with, as stored beside the ciphertext.
    pub fn key_id(&self) -> Option<KeyId> {
        sealed_key_id(&self.sealed)
    }
}

/// What SQLite's integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// Every page and index is as it should be.
    Sound,
    /// The file is damaged or not a database; the first problem found.
    Damaged(String),
}

/// What `doctor` learns about a database without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Migrations this binary has that the database has not applied.
    pub pending_migrations: usize,
    /// The key the database was sealed with, if it has been opened before.
    pub sealed_with: Option<KeyId>,
    /// How many stored secrets there are; every one opened with the given key.
    pub secrets: usize,
}

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file cannot be opened or created.
    #[error("cannot open the database at {url}")]
    Open {
        /// The database URL, its password redacted.
        url: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The database was sealed with another master key. Nothing was changed.
    #[error(
        "the master key {given} does not open this database (its secrets were sealed with key {expected}); \
         start with the key it was created with (AUTOPOST_MASTER_KEY or master.key in the data dir)"
    )]
    WrongKey {
        /// The key this process has.
        given: KeyId,
        /// The key the database expects.
        expected: String,
    },
    /// Schema migrations failed.
    #[error("cannot apply database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database cannot grow: its disk is full (SQLite's SQLITE_FULL), or writing to the
    /// disk failed. Nothing of the change was kept; it works again once space is freed.
    #[error("the database cannot store anything: its disk is full or failing to write")]
    StorageFull(#[source] sqlx::Error),
    /// The database files cannot be created or made private to their owner.
    #[error("cannot create or protect the database file {}", path.display())]
    Files {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database reported an error.
    #[error("database error")]
    Db(#[source] sqlx::Error),
    /// A sealed value does not open.
    #[error("a stored secret cannot be decrypted")]
    Crypto(#[from] CryptoError),
    /// The row asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
    },
    /// A stored value cannot be read back as its type.
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// The write-ahead log could not be emptied: other connections kept it busy every time.
    /// What it holds moves into the database file at the next checkpoint or at shutdown.
    #[error("the database's write-ahead log stayed busy through {attempts} attempts to empty it")]
    CheckpointBusy {
        /// How many times it was asked.
        attempts: u32,
    },
}

impl From<sqlx::Error> for StoreError {
    /// Every database error enters here, so a full disk is told apart once, for every store
    /// function: the front ends answer it with "cannot store anything right now", and the
    /// operator reads what to do.
    fn from(error: sqlx::Error) -> Self {
        if is_storage_full(&error) {
            StoreError::StorageFull(error)
        } else {
            StoreError::Db(error)
        }
    }
}

impl StoreError {
    /// Whether `error` or any error in its chain says the database cannot store anything
    /// (see [`StoreError::StorageFull`]): what front ends tell people instead of "something
    /// went wrong".
    pub fn is_storage_full_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(error) = next {
            if matches!(
                error.downcast_ref::<StoreError>(),
                Some(StoreError::StorageFull(_))
            ) {
                return true;
            }
            next = error.source();
        }
        false
    }
}

fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    SqliteConnectOptions::from_str(url)
        .map(|o| {
            o.foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(BUSY_TIMEOUT)
                // FULL (one fsync per commit) on purpose. NORMAL measured ~35% more chat
                // commands per second, but a power cut could then undo the last commits: a
                // claim undone after its post went out is a double post, and a confirmed
                // post undone is a lost one, the two things autopost promises never to do.
                .synchronous(SqliteSynchronous::Full)
                // Erased rows are overwritten, not left in free pages: deletion must leave
                // nothing of a person behind in the file.
                .pragma("secure_delete", "ON")
                // Checkpoints run in the background instead: see `checkpoint_wal`.
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", WAL_SIZE_LIMIT)
        })
        .map_err(|source| StoreError::Open {
            url: url.to_owned(),
            source,
        })
}

impl Store {
    /// Opens (creating if needed) the database at `url`, checks that `sealer`'s key is the
    /// database's key before writing anything, then applies pending migrations.
    pub async fn open(url: &str, sealer: Sealer) -> Result<Self, StoreError> {
        Self::open_with(url, sealer, StoreOptions::default()).await
    }

    /// [`Store::open`] with `options` (tests: a switch that stops the database growing).
    pub async fn open_with(
        url: &str,
        sealer: Sealer,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        if is_postgres_url(url) {
            return Self::open_postgres(url, sealer, options).await;
        }
        let connect = connect_options(url)?.create_if_missing(true);
        let files = DatabaseFiles::of(&connect);
        if let Some(files) = &files {
            files.create_private()?;
        }
        let mut pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A local file does not hang up: sqlx's default ping on every acquire would only
            // add a round trip to the connection's thread before each statement.
            .test_before_acquire(false);
        if let Some(switch) = options.growth {
            let on_connect = switch.clone();
            pool = pool
                .after_connect(move |connection, _| {
                    let switch = on_connect.clone();
                    Box::pin(async move { switch.apply(connection).await })
                })
                .before_acquire(move |connection, _| {
                    let switch = switch.clone();
                    Box::pin(async move { switch.apply(connection).await.map(|()| true) })
                });
        }
        let pool = pool
            .connect_with(connect)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?;
        let store = Self::checked_and_migrated(Pool::Sqlite(pool), sealer).await?;
        // The WAL and its index exist by now. SQLite gives them the database file's mode; set
        // it again anyway, so no SQLite build or umask can leave them readable by others.
        if let Some(files) = &files {
            files.make_private()?;
        }
        tokio::spawn(checkpoint_wal(Arc::downgrade(&store.shared)));
        Ok(store)
    }

    /// Opens the shared PostgreSQL database at `url`: checks the key before writing
    /// anything, then migrates under PostgreSQL's advisory lock (sqlx takes it), so that
    /// instances starting together migrate once.
    async fn open_postgres(
        url: &str,
        sealer: Sealer,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            url: redacted_url(url),
            source,
        };
        // A session left idle inside a transaction (its process frozen between two statements)
        // would hold the write lock every instance waits for: PostgreSQL ends it instead. No
        // store transaction waits on anything but the database between its statements.
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(open_error)?
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
        if let Some(name) = &options.application_name {
            connect = connect.application_name(name);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(connect)
            .await
            .map_err(open_error)?;
        Self::checked_and_migrated(Pool::Postgres(pool), sealer).await
    }

    /// A store over `pool` once its key is checked (reading only: a wrong key must leave
    /// the database exactly as it was), its migrations applied and its key check sealed.
    async fn checked_and_migrated(pool: Pool, sealer: Sealer) -> Result<Self, StoreError> {
        let store = Self {
            shared: Arc::new(Shared {
                pool: pool.clone(),
                writes: tokio::sync::Mutex::new(()),
                updates_pruned_at: AtomicI64::new(0),
                notifications: tokio::sync::watch::Sender::new(0),
                grouped: std::sync::OnceLock::new(),
            }),
            pool,
            sealer: Arc::new(sealer),
            owner: None,
        };
        if let Err(e) = store.check_key().await {
            store.pool.close().await;
            return Err(e);
        }
        let migrated = match &store.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations_pg").run(pool).await,
        };
        migrated.map_err(StoreError::Migrate)?;
        store.ensure_key_check().await?;
        Ok(store)
    }

    /// Which engine the store runs on.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Reads what `doctor` reports, opening the file read-only. Does not create or migrate.
    pub async fn inspect(url: &str, sealer: &Sealer) -> Result<Inspection, StoreError> {
        let pool = read_only_pool(url).await?;
        let result = async {
            let applied: Vec<i64> = if table_exists(&pool, "_sqlx_migrations").await? {
                query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&pool)
                    .await?
            } else {
                Vec::new()
            };
            let migrations = match pool.backend() {
                Backend::Sqlite => sqlx::migrate!("./migrations"),
                Backend::Postgres => sqlx::migrate!("./migrations_pg"),
            };
            let pending_migrations = migrations
                .iter()
                .filter(|m| !applied.contains(&m.version))
                .count();
            let sealed = read_key_check(&pool).await?;
            if let Some(sealed) = &sealed {
                verify_key_check(sealer, sealed)?;
            }
            Ok(Inspection {
                pending_migrations,
                sealed_with: sealed.as_deref().and_then(sealed_key_id),
                secrets: keys::open_every_secret(&pool, sealer).await?,
            })
        }
        .await;
        pool.close().await;
        result
    }

    /// The sealed key check of the database at `url`, read without creating or changing
    /// anything: `None` when there is no database yet or it was never opened with a key.
    pub async fn key_check(url: &str) -> Result<Option<KeyCheck>, StoreError> {
        let pool = read_only_pool(url).await?;
        let sealed = read_key_check(&pool).await;
        pool.close().await;
        Ok(sealed?.map(|sealed| KeyCheck { sealed }))
    }

    /// Runs SQLite's integrity check on the database at `url`, opened read-only: every page,
    /// b-tree and index is read. A file that is not a database at all counts as damaged.
    pub async fn check_integrity(url: &str) -> Result<Integrity, StoreError> {
        if is_postgres_url(url) {
            // PostgreSQL checks its own pages; what `doctor` can learn here is that the
            // server answers.
            let pool = read_only_pool(url).await?;
            let answered = query("SELECT 1").execute(&pool).await;
            pool.close().await;
            answered?;
            return Ok(Integrity::Sound);
        }
        let options = connect_options(url)?.read_only(true);
        let damaged = |e: &sqlx::Error| -> Option<Integrity> {
            // SQLITE_CORRUPT and SQLITE_NOTADB, primary codes.
            const CORRUPT: i32 = 11;
            const NOT_A_DATABASE: i32 = 26;
            let code = e
                .as_database_error()
                .and_then(|d| d.code())
                .and_then(|c| c.parse::<i32>().ok())?;
            matches!(code & 0xff, CORRUPT | NOT_A_DATABASE)
                .then(|| Integrity::Damaged(crate::telemetry::chain(e)))
        };
        let pool = match SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                return damaged(&e).ok_or(StoreError::Open {
                    url: url.to_owned(),
                    source: e,
                });
            }
        };
        let found: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await;
        pool.close().await;
        match found {
            Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(Integrity::Sound),
            Ok(lines) => {
                Ok(Integrity::Damaged(lines.into_iter().next().unwrap_or_else(
                    || "the integrity check said nothing".to_owned(),
                )))
            }
            Err(e) => damaged(&e).ok_or_else(|| e.into()),
        }
    }

    /// Moves the WAL's pages into the database file and closes every connection, so that
    /// the file alone is a complete copy (for backups and for the tests that inspect it).
    pub async fn close(&self) {
        if let Some(pool) = self.pool.sqlite()
            && let Err(e) = pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await
        {
            tracing::warn!(error = %crate::telemetry::chain(&e), "WAL checkpoint at close failed");
        }
        self.pool.close().await;
    }

    /// Moves every page of the write-ahead log into the database file and cuts the log to
    /// zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`), so that what was just erased survives
    /// in neither file: with `secure_delete` the erased rows are zeroes in the pages moved,
    /// and the log, which still held them as they were, is gone. A checkpoint that finds
    /// readers or a writer in the way reports "busy"; it is asked again, with growing pauses,
    /// [`TRUNCATE_ATTEMPTS`] times. Call it after an erasure, a disconnect, a purge.
    pub async fn checkpoint_truncate(&self) -> Result<(), StoreError> {
        // PostgreSQL keeps no log of ours to cut: its own WAL and free space are the
        // operator's (see the README on erasure with PostgreSQL).
        let Some(pool) = self.pool.sqlite() else {
            return Ok(());
        };
        let mut pause = Duration::from_millis(10);
        for attempt in 1..=TRUNCATE_ATTEMPTS {
            // Columns: busy (1 if it could not finish), log frames, frames checkpointed.
            let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await?;
            if busy == 0 {
                return Ok(());
            }
            if attempt < TRUNCATE_ATTEMPTS {
                tracing::info!(
                    attempt,
                    pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "the write-ahead log is busy; emptying it again shortly"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(TRUNCATE_MAX_PAUSE);
            }
        }
        Err(StoreError::CheckpointBusy {
            attempts: TRUNCATE_ATTEMPTS,
        })
    }

    /// Whether the database answers: for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The id of the key new secrets are sealed with.
    pub fn key_id(&self) -> KeyId {
        self.sealer.current_key_id()
    }

    async fn check_key(&self) -> Result<(), StoreError> {
        match read_key_check(&self.pool).await? {
            Some(sealed) => verify_key_check(&self.sealer, &sealed),
            None => Ok(()),
        }
    }

    async fn ensure_key_check(&self) -> Result<(), StoreError> {
        let sealed = self
            .sealer
            .seal(&Secret::new(KEY_CHECK_PLAIN), &key_check_aad());
        query("INSERT INTO settings (key, value) VALUES ('key_check', ?) ON CONFLICT DO NOTHING")
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Waits for this process's turn to write. SQLite takes one writer at a time; a
    /// connection that finds the write lock taken sleeps in its busy handler (1, 2, 5, 10…
    /// ms) and retries, which under a burst of chat commands left the lock idle while
    /// writers slept. Frequent writes queue here instead, in order and without sleeping.
    /// Hold the turn for one statement or transaction, and call no other store function
    /// while holding it. Rare writes skip it: the busy timeout still covers them.
    async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.shared.writes.lock().await
    }

    /// Where the scheduler's outcome writes go to be committed together.
    fn grouped(&self) -> &grouped::Grouped {
        self.shared
            .grouped
            .get_or_init(|| grouped::Grouped::start(self.pool.clone()))
    }

    fn seal(&self, value: &Secret, aad: &Aad) -> Vec<u8> {
        self.sealer.seal(value, aad)
    }

    fn open_sealed(&self, sealed: &[u8], aad: &Aad) -> Result<Secret, StoreError> {
        Ok(self.sealer.open(sealed, aad)?)
    }
}

/// How often the background task moves the WAL's pages into the database file: often, so
/// that each checkpoint is short (measured with `autopost bench telegram`: 100 ms gave a
/// lower p99 than 500 ms or SQLite's automatic checkpoint).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Moves the WAL's pages into the database file every `CHECKPOINT_EVERY`, until the store is
/// dropped or closed. SQLite's automatic checkpoint runs inside whichever commit takes the
/// WAL past 1000 pages and holds that writer for milliseconds, and with it every write
/// queued behind it (see [`Store::write_turn`]): under load that was the slowest 1% of chat
/// commands. A PASSIVE checkpoint neither waits for nor blocks anyone.
async fn checkpoint_wal(shared: std::sync::Weak<Shared>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await; // the first tick is immediate
    loop {
        every.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(pool) = shared.pool.sqlite() else {
            return;
        };
        if pool.is_closed() {
            return;
        }
        if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await
            && !pool.is_closed()
        {
            tracing::warn!(error = %crate::telemetry::chain(&e), "background WAL checkpoint failed");
        }
    }
}

fn key_check_aad() -> Aad {
    Aad::new("settings", 0, "key_check")
}

/// One read-only connection to the database at `url`, for the checks that must change
/// nothing (`doctor`, the key check before start).
async fn read_only_pool(url: &str) -> Result<Pool, StoreError> {
    let open_error = |source| StoreError::Open {
        url: redacted_url(url),
        source,
    };
    if is_postgres_url(url) {
        let connect = PgConnectOptions::from_str(url)
            .map_err(open_error)?
            .options([("default_transaction_read_only", "on")]);
        return PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(connect)
            .await
            .map(Pool::Postgres)
            .map_err(open_error);
    }
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(connect_options(url)?.read_only(true))
        .await
        .map(Pool::Sqlite)
        .map_err(open_error)
}

async fn table_exists(pool: &Pool, name: &str) -> Result<bool, StoreError> {
    let sql = match pool.backend() {
        Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
        Backend::Postgres => {
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        }
    };
    let found: Option<i64> = query_scalar(sql).bind(name).fetch_optional(pool).await?;
    Ok(found.is_some())
}

async fn read_key_check(pool: &Pool) -> Result<Option<Vec<u8>>, StoreError> {
    if !table_exists(pool, "settings").await? {
        return Ok(None);
    }
    let row = query("SELECT value FROM settings WHERE key = 'key_check'")
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get::<Vec<u8>, _>("value")))
}

fn verify_key_check(sealer: &Sealer, sealed: &[u8]) -> Result<(), StoreError> {
    let wrong_key = || StoreError::WrongKey {
        given: sealer.current_key_id(),
        expected: sealed_key_id(sealed).map_or_else(|| "unknown".to_owned(), |k| k.to_string()),
    };
    match sealer.open(sealed, &key_check_aad()) {
        Ok(plain) if plain.expose() == KEY_CHECK_PLAIN => Ok(()),
        Ok(_) | Err(CryptoError::UnknownKey { .. } | CryptoError::Tampered) => Err(wrong_key()),
        Err(other) => Err(other.into()),
    }
}

/// Instants are stored as Unix milliseconds.
fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("instant {ms} is out of range")))
}

fn parse_stored<T: FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("`{text}` is not a valid {what}")))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::domain::{AccountId, ChatId, ChatKind, ChatPlatform, UserId};

    /// A migrated store in a fresh temp dir (a file, not `:memory:`, as pooled connections need).
    pub async fn temp_store() -> (Store, tempfile::TempDir) {
        temp_store_on(Backend::Sqlite).await
    }

    /// A migrated store on `backend`: a SQLite file in a fresh temp dir, or a fresh database
    /// of the test PostgreSQL server (with an empty temp dir, so that both read alike).
    /// Without PostgreSQL installed, a PostgreSQL store is a SQLite one, after the test
    /// cluster's one skip line (`AUTOPOST_REQUIRE_POSTGRES=1` makes that an error instead).
    pub async fn temp_store_on(backend: Backend) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_url(backend, &dir, "test.db").await;
        let store = Store::open(&url, Sealer::new(MasterKey::generate()))
            .await
            .unwrap();
        (store, dir)
    }

    /// The URL of a database not created yet on `backend` (a SQLite file `name` in `dir`), or
    /// of a fresh, empty one on the test PostgreSQL server; SQLite without PostgreSQL
    /// installed, as [`temp_store_on`].
    pub async fn fresh_url(backend: Backend, dir: &tempfile::TempDir, name: &str) -> String {
        match (backend, crate::test_cluster::cluster()) {
            (Backend::Postgres, Some(cluster)) => cluster.fresh_database().await,
            _ => format!("sqlite://{}", dir.path().join(name).display()),
        }
    }

    /// Runs the enclosed tests once per engine: written as the body of a `mod tests`, they
    /// become `tests_sqlite` and `tests_postgres`, in each of which `temp_store()` opens a
    /// store on that engine, and `BACKEND` names it.
    macro_rules! on_both_backends {
        ($($body:tt)*) => {
            #[cfg(test)]
            mod tests_sqlite {
                #[allow(dead_code)]
                const BACKEND: $crate::store::Backend = $crate::store::Backend::Sqlite;
                #[allow(dead_code)]
                async fn temp_store() -> ($crate::store::Store, tempfile::TempDir) {
                    $crate::store::test_support::temp_store_on($crate::store::Backend::Sqlite).await
                }
                $($body)*
            }
            #[cfg(test)]
            mod tests_postgres {
                #[allow(dead_code)]
                const BACKEND: $crate::store::Backend = $crate::store::Backend::Postgres;
                #[allow(dead_code)]
                async fn temp_store() -> ($crate::store::Store, tempfile::TempDir) {
                    $crate::store::test_support::temp_store_on($crate::store::Backend::Postgres).await
                }
                $($body)*
            }
        };
    }
    pub(crate) use on_both_backends;

    /// Telegram user "1" and their private chat with the bot: what most store tests start from.
    pub async fn telegram_user_and_chat(store: &Store, now: DateTime<Utc>) -> (User, Chat) {
        let user = store
            .upsert_user(ChatPlatform::Telegram, "1", None, now)
            .await
            .unwrap();
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "1", ChatKind::Private, None, now)
            .await
            .unwrap();
        (user, chat)
    }

    /// Telegram user "1", group "-1" and two Facebook Pages ("Page 1", "Page 2") linked to
    /// it by the user: the queue most posting tests start from.
    pub async fn group_with_two_pages(
        store: &Store,
        now: DateTime<Utc>,
    ) -> (UserId, ChatId, Vec<AccountId>) {
        let author = store
            .upsert_user(ChatPlatform::Telegram, "1", None, now)
            .await
            .unwrap()
            .id;
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "-1", ChatKind::Group, None, now)
            .await
            .unwrap()
            .id;
        let page = |n: u8| NewLinkedAccount {
            provider: crate::domain::Provider::FacebookPage,
            remote_id: format!("p{n}"),
            display_name: format!("Page {n}"),
            access_token: Some(crate::crypto::Secret::new("pt")),
        };
        let (_, accounts) = store
            .save_linked_grant(
                NewGrant {
                    owner: author,
                    provider: crate::domain::OAuthProvider::Meta,
                    remote_user_id: "u",
                    scopes: "",
                    access_token: crate::crypto::Secret::new("t"),
                    refresh_token: None,
                    expires_at: None,
                },
                vec![page(1), page(2)],
                chat,
                now,
            )
            .await
            .unwrap();
        (author, chat, accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::temp_store;
    use super::*;
    use db::{query, query_scalar};

    #[tokio::test]
    async fn opening_sets_wal_foreign_keys_and_the_busy_timeout() {
        let (store, _dir) = temp_store().await;
        let mode: String = query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let timeout: i64 = query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(timeout, 5000);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn every_pooled_connection_zeroes_deleted_content_and_bounds_the_log() {
        let (store, _dir) = temp_store().await;
        // Held at once, so that they are distinct connections of the pool.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(store.pool.acquire().await.unwrap());
        }
        for conn in &mut held {
            let secure: i64 = query_scalar("PRAGMA secure_delete")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(secure, 1);
            let limit: i64 = query_scalar("PRAGMA journal_size_limit")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(limit.to_string(), WAL_SIZE_LIMIT);
        }
    }

    #[tokio::test]
    async fn after_a_truncating_checkpoint_deleted_rows_are_in_neither_file() {
        let (store, dir) = temp_store().await;
        let now = chrono::Utc::now();
        let name = "Erased-Name-4c1d9a";
        let user = store
            .upsert_user(
                crate::domain::ChatPlatform::Telegram,
                "5550123987",
                Some(name),
                now,
            )
            .await
            .unwrap();
        let files = || {
            let mut bytes = std::fs::read(dir.path().join("test.db")).unwrap();
            bytes.extend(std::fs::read(dir.path().join("test.db-wal")).unwrap_or_default());
            bytes
        };
        let holds = |bytes: &[u8]| bytes.windows(name.len()).any(|w| w == name.as_bytes());
        assert!(holds(&files()), "the test looks where the name is");
        query("DELETE FROM users WHERE id = ?")
            .bind(user.id.0)
            .execute(&store.pool)
            .await
            .unwrap();
        store.checkpoint_truncate().await.unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("test.db-wal"))
                .unwrap()
                .len(),
            0,
            "the log is cut to nothing"
        );
        assert!(!holds(&files()), "zeroed in the database file");
        store.ping().await.unwrap();
    }
}

// What works alike on both engines: the key check, `doctor`'s inspection.
#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::test_support::fresh_url;
    use super::*;
    use crate::crypto::MasterKey;

    fn copy_of(key: &MasterKey) -> MasterKey {
        MasterKey::from_base64(key.to_base64().expose()).unwrap()
    }

    #[tokio::test]
    async fn a_second_open_with_the_same_key_works_and_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_url(BACKEND, &dir, "k.db").await;
        let key = MasterKey::generate();
        Store::open(&url, Sealer::new(copy_of(&key)))
            .await
            .unwrap()
            .close()
            .await;
        Store::open(&url, Sealer::new(copy_of(&key)))
            .await
            .unwrap()
            .close()
            .await;
        let err = Store::open(&url, Sealer::new(MasterKey::generate()))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
        let check = Store::key_check(&url).await.unwrap().unwrap();
        assert!(check.opens_with(&key));
        assert!(!check.opens_with(&MasterKey::generate()));
        assert_eq!(check.key_id(), Some(Sealer::new(key).current_key_id()));
    }

    #[tokio::test]
    async fn inspection_counts_pending_migrations_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_url(BACKEND, &dir, "i.db").await;
        let key = MasterKey::generate();
        if is_postgres_url(&url) {
            // The database exists (empty): everything is pending, and nothing is made.
            let seen = Store::inspect(&url, &Sealer::new(MasterKey::generate()))
                .await
                .unwrap();
            assert_eq!(seen.pending_migrations, sqlx::migrate!("./migrations_pg").iter().count());
            assert_eq!(seen.sealed_with, None);
            assert!(Store::key_check(&url).await.unwrap().is_none());
            let pool = read_only_pool(&url).await.unwrap();
            assert!(!table_exists(&pool, "_sqlx_migrations").await.unwrap());
            pool.close().await;
        } else {
            assert!(matches!(
                Store::inspect(&url, &Sealer::new(MasterKey::generate())).await,
                Err(StoreError::Open { .. })
            ));
            assert!(
                !dir.path().join("i.db").exists(),
                "inspect must not create the database"
            );
        }
        let store = Store::open(&url, Sealer::new(copy_of(&key))).await.unwrap();
        let key_id = store.key_id();
        // One grant and two Pages: three sealed tokens.
        super::test_support::group_with_two_pages(&store, chrono::Utc::now()).await;
        store.close().await;
        let seen = Store::inspect(&url, &Sealer::new(copy_of(&key))).await.unwrap();
        assert_eq!(seen.pending_migrations, 0);
        assert_eq!(seen.sealed_with, Some(key_id));
        assert_eq!(seen.secrets, 3);
        assert!(matches!(
            Store::inspect(&url, &Sealer::new(MasterKey::generate())).await,
            Err(StoreError::WrongKey { .. })
        ));
        assert_eq!(Store::check_integrity(&url).await.unwrap(), Integrity::Sound);
    }

    #[tokio::test]
    async fn a_session_idle_inside_a_transaction_cannot_hold_the_write_lock() {
        let (store, _dir) = temp_store().await;
        let Some(pool) = store.pool.postgres() else {
            return;
        };
        let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(timeout, IDLE_IN_TRANSACTION);
    }
}
