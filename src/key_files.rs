//! The master key when it lives in files in the data dir: `master.key`, and what
//! `rotate-key` leaves beside it (`master.key.new` before the swap, `master.key.retired-<id>`
//! after). A new key is made only on a fresh install, never beside another key file or for a
//! database already sealed; after an interrupted rotation, the one file that opens the
//! database is moved into place.

use std::path::{Path, PathBuf};

use crate::crypto::{CryptoError, MasterKey};
use crate::store::KeyCheck;

/// Name of the key file in the data dir.
pub const KEY_FILE: &str = "master.key";
/// Where `rotate-key` writes the new key before the database switches to it.
pub const NEW_KEY_FILE: &str = "master.key.new";
/// Where `rotate-key` moves the key it replaced: `master.key.retired-<key id>`.
pub const RETIRED_KEY_PREFIX: &str = "master.key.retired-";

/// Why no key file can be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// `master.key` cannot be read, is malformed or exposed.
    #[error(transparent)]
    Unreadable(#[from] CryptoError),
    /// The database is sealed, but no key file in the data dir opens it.
    #[error(
        "the database is sealed with master key {expected}, but no key file in {} opens it{}; \
         restore master.key from your backup (or set AUTOPOST_MASTER_KEY)",
        dir.display(),
        tried_list(tried)
    )]
    NoneOpens {
        /// The data dir.
        dir: PathBuf,
        /// The id of the key the database expects.
        expected: String,
        /// The key files tried.
        tried: Vec<PathBuf>,
    },
    /// `master.key` is missing while other key files are there: creating a fresh key beside
    /// them could hide the one the database needs.
    #[error(
        "{} is missing but {} {} here from an earlier rotate-key, and the database does not say \
         which key it needs; put the key the database was sealed with at {} (or remove the stale \
         files if the database is new)",
        dir.join(KEY_FILE).display(),
        file_list(others),
        if others.len() == 1 { "is" } else { "are" },
        dir.join(KEY_FILE).display()
    )]
    Stray {
        /// The data dir.
        dir: PathBuf,
        /// The other key files.
        others: Vec<PathBuf>,
    },
    /// Moving a key file into place failed.
    #[error("cannot move {} to {}; do it by hand", from.display(), to.display())]
    Move {
        /// The file to move.
        from: PathBuf,
        /// Where it belongs.
        to: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn tried_list(files: &[PathBuf]) -> String {
    if files.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", file_list(files))
    }
}

fn file_list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// Which key file to use, decided without changing anything (`doctor` reports it; start-up
/// then [`Plan::carry_out`]s it).
#[derive(Debug)]
pub enum Plan {
    /// `master.key` is the key: it opens the database (or the database is not sealed yet, or
    /// opens with no key file, in which case the store refuses it with both key ids).
    Current {
        /// The key.
        key: MasterKey,
        /// Key files left beside it that open nothing: an unfinished rotation's new key
        /// (written before the database switched) or retired keys.
        leftovers: Vec<PathBuf>,
    },
    /// A fresh install: no key file and no sealed database. A new key is written.
    Create,
    /// An interrupted rotation: `master.key` is missing or does not open the database, and
    /// exactly one other key file does. It is moved to `master.key`, and a `master.key` that
    /// does not open is kept as a retired key.
    Recover {
        /// The file that opens the database.
        from: PathBuf,
        /// Its key.
        key: MasterKey,
        /// `master.key` and where it goes, when it is there but does not open the database.
        set_aside: Option<(PathBuf, PathBuf)>,
    },
}

/// What carrying out a plan did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `master.key` was used as it was.
    Used,
    /// A new key was written to `master.key`.
    Created,
    /// A key file was moved to `master.key` (the interrupted rotation is finished).
    Recovered {
        /// Where it was.
        from: PathBuf,
        /// Where the `master.key` that did not open went, if there was one.
        set_aside: Option<PathBuf>,
    },
}

/// Looks at the key files in `dir` and decides which to use for a database whose key check
/// is `check` (`None`: no database yet, or one never sealed).
pub fn plan(dir: &Path, check: Option<&KeyCheck>) -> Result<Plan, KeyFileError> {
    let current_path = dir.join(KEY_FILE);
    let current = match MasterKey::load(&current_path) {
        Ok(key) => Some(key),
        Err(CryptoError::KeyFile { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(other) => return Err(other.into()),
    };
    let others = other_key_files(dir);
    let Some(check) = check else {
        return match current {
            Some(key) => Ok(Plan::Current {
                key,
                leftovers: others,
            }),
            None if others.is_empty() => Ok(Plan::Create),
            None => Err(KeyFileError::Stray {
                dir: dir.to_owned(),
                others,
            }),
        };
    };
    if let Some(key) = &current
        && check.opens_with(key)
    {
        return Ok(Plan::Current {
            key: key.clone(),
            leftovers: others,
        });
    }
    // Files that cannot be read are simply not the key; `master.key`'s own problems were
    // reported above.
    let mut openers: Vec<(PathBuf, MasterKey)> = Vec::new();
    for path in &others {
        if let Ok(key) = MasterKey::load(path)
            && check.opens_with(&key)
            && !openers.iter().any(|(_, k)| k.id() == key.id())
        {
            openers.push((path.clone(), key));
        }
    }
    match (openers.pop(), openers.is_empty(), current) {
        (Some((from, key)), true, current) => Ok(Plan::Recover {
            from,
            key,
            set_aside: current.map(|current| {
                let retired = dir.join(format!("{RETIRED_KEY_PREFIX}{}", current.id()));
                (current_path, retired)
            }),
        }),
        // Two different keys cannot open one key check; a copy of one key is deduplicated
        // above. Should it happen anyway, guessing is worse than asking.
        (Some(_), false, _) | (None, _, None) => Err(KeyFileError::NoneOpens {
            dir: dir.to_owned(),
            expected: check
                .key_id()
                .map_or_else(|| "unknown".to_owned(), |id| id.to_string()),
            tried: others,
        }),
        // `master.key` does not open it and nothing else does: the store refuses it with
        // both key ids, as for any wrong key.
        (None, _, Some(key)) => Ok(Plan::Current {
            key,
            leftovers: others,
        }),
    }
}

impl Plan {
    /// Uses, creates or moves key files as planned; returns the key and what was done.
    pub fn carry_out(self, dir: &Path) -> Result<(MasterKey, Outcome), KeyFileError> {
        let current = dir.join(KEY_FILE);
        match self {
            Plan::Current { key, .. } => Ok((key, Outcome::Used)),
            Plan::Create => {
                let (key, _) = MasterKey::load_or_create(&current)?;
                Ok((key, Outcome::Created))
            }
            Plan::Recover {
                from,
                key,
                set_aside,
            } => {
                let moved_aside = match set_aside {
                    Some((path, retired)) => {
                        rename(&path, &retired)?;
                        Some(retired)
                    }
                    None => None,
                };
                rename(&from, &current)?;
                Ok((
                    key,
                    Outcome::Recovered {
                        from,
                        set_aside: moved_aside,
                    },
                ))
            }
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), KeyFileError> {
    std::fs::rename(from, to).map_err(|source| KeyFileError::Move {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })
}

/// `master.key.new` and the retired keys in `dir`, in name order.
pub fn other_key_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name == NEW_KEY_FILE || name.starts_with(RETIRED_KEY_PREFIX)
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::Store;

    /// A data dir with a database sealed by `key`, and its key check.
    async fn sealed_with(key: &MasterKey) -> (tempfile::TempDir, KeyCheck) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        Store::open(&url, Sealer::new(key.clone()))
            .await
            .unwrap()
            .close()
            .await;
        let check = Store::key_check(&url).await.unwrap().unwrap();
        (dir, check)
    }

    fn write(dir: &Path, name: &str, key: &MasterKey) -> PathBuf {
        let path = dir.join(name);
        key.write_new_file(&path).unwrap();
        path
    }

    #[tokio::test]
    async fn a_fresh_dir_creates_and_a_sealed_database_never_gets_a_new_key() {
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(plan(empty.path(), None), Ok(Plan::Create)));
        let key = MasterKey::generate();
        let (dir, check) = sealed_with(&key).await;
        let err = plan(dir.path(), Some(&check)).unwrap_err();
        assert!(matches!(err, KeyFileError::NoneOpens { .. }), "{err:?}");
        assert!(err.to_string().contains(&key.id().to_string()), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[tokio::test]
    async fn no_key_is_created_beside_a_new_or_retired_key() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), NEW_KEY_FILE, &MasterKey::generate());
        let err = plan(dir.path(), None).unwrap_err();
        assert!(matches!(err, KeyFileError::Stray { .. }), "{err:?}");
        assert!(err.to_string().contains(NEW_KEY_FILE), "{err}");
    }

    #[tokio::test]
    async fn the_one_file_that_opens_the_database_is_moved_into_place() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let (dir, check) = sealed_with(&new).await;
        // Killed after the database switched, before either rename.
        write(dir.path(), KEY_FILE, &old);
        write(dir.path(), NEW_KEY_FILE, &new);
        let planned = plan(dir.path(), Some(&check)).unwrap();
        let (key, outcome) = planned.carry_out(dir.path()).unwrap();
        assert_eq!(key.id(), new.id());
        let retired = dir.path().join(format!("{RETIRED_KEY_PREFIX}{}", old.id()));
        assert_eq!(
            outcome,
            Outcome::Recovered {
                from: dir.path().join(NEW_KEY_FILE),
                set_aside: Some(retired.clone()),
            }
        );
        assert_eq!(MasterKey::load(&retired).unwrap().id(), old.id());
        assert_eq!(
            MasterKey::load(&dir.path().join(KEY_FILE)).unwrap().id(),
            new.id()
        );
        assert!(!dir.path().join(NEW_KEY_FILE).exists());
    }

    #[tokio::test]
    async fn a_key_that_opens_wins_and_stale_files_are_only_reported() {
        let key = MasterKey::generate();
        let (dir, check) = sealed_with(&key).await;
        write(dir.path(), KEY_FILE, &key);
        let stale = write(dir.path(), NEW_KEY_FILE, &MasterKey::generate());
        match plan(dir.path(), Some(&check)).unwrap() {
            Plan::Current {
                key: used,
                leftovers,
            } => {
                assert_eq!(used.id(), key.id());
                assert_eq!(leftovers, vec![stale]);
            }
            other => panic!("{other:?}"),
        }
    }
}
