//! The data directory: created, or tightened if it already existed, to owner-only modes (it
//! holds the key files, the database and people's images), and locked so that one autopost at
//! a time uses it. Modes are set explicitly after creating, never left to the umask.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file in the data dir: held (an exclusive advisory lock) by the process using the
/// directory, and naming its pid for the one that is refused.
pub const LOCK_FILE: &str = "autopost.lock";

/// Directories autopost makes: readable by their owner only.
pub const PRIVATE_DIR: u32 = 0o700;
/// Files autopost makes: readable by their owner only.
pub const PRIVATE_FILE: u32 = 0o600;

/// Why the data dir cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory cannot be created.
    #[error("cannot create the data directory {}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A directory or file cannot be made private to its owner.
    #[error("cannot make {} readable by its owner only (chmod)", path.display())]
    Permissions {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot lock the data directory through {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the lock.
    #[error(
        "another autopost{} is using the data directory {}; stop it first: only one autopost may use a data directory at a time",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        dir.display()
    )]
    InUse {
        /// The data dir.
        dir: PathBuf,
        /// The pid the lock file names, if it names one.
        pid: Option<u32>,
    },
}

/// Creates the data dir (and its parents) if missing, and makes it and the media directory
/// in it private to their owner even when they existed with wider modes.
pub fn prepare(dir: &Path) -> Result<(), DataDirError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR);
    }
    builder.create(dir).map_err(|source| DataDirError::Create {
        path: dir.to_owned(),
        source,
    })?;
    make_private(dir, PRIVATE_DIR)?;
    let media = dir.join(crate::media::MEDIA_DIR);
    if media.is_dir() {
        make_private(&media, PRIVATE_DIR)?;
        let entries = std::fs::read_dir(&media).map_err(|source| DataDirError::Permissions {
            path: media.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                make_private(&path, PRIVATE_FILE)?;
            }
        }
    }
    Ok(())
}

/// Sets `mode` on `path` (a no-op off Unix): explicitly, so the umask plays no part.
pub fn make_private(path: &Path, mode: u32) -> Result<(), DataDirError> {
    set_mode(path, mode).map_err(|source| DataDirError::Permissions {
        path: path.to_owned(),
        source,
    })
}

/// `chmod mode path` on Unix; nothing elsewhere.
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The exclusive lock on a data dir, held until dropped (or the process ends, however it
/// ends: the system releases it with the file descriptor, so a killed process leaves no
/// stale lock behind).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist), or says which process holds it. Two
    /// autoposts on one SQLite data dir would each run a scheduler over the same queue.
    pub fn acquire(dir: &Path) -> Result<Self, DataDirError> {
        let path = dir.join(LOCK_FILE);
        let failed = |source| DataDirError::Lock {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(PRIVATE_FILE);
        }
        let mut file = options.open(&path).map_err(failed)?;
        make_private(&path, PRIVATE_FILE)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(DataDirError::InUse {
                    dir: dir.to_owned(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(failed(source)),
        }
        // The pid is only for the message a second process shows; the lock is what counts.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(failed)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("another autopost"), "{message}");
        drop(held);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_open_directory_and_its_media_become_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let media = dir.join(crate::media::MEDIA_DIR);
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("a.jpg"), b"x").unwrap();
        for (path, mode) in [(&dir, 0o755), (&media, 0o777)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::set_permissions(media.join("a.jpg"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        prepare(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&media), 0o700);
        assert_eq!(mode(&media.join("a.jpg")), 0o600);
    }
}
