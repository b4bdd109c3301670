//! Shared set-up: a config for a temp data dir, seeded secrets, file fingerprints.

use std::path::{Path, PathBuf};

use autopost::config::{self, Config};
use autopost::crypto::Secret;
use autopost::domain::{ChatKind, ChatPlatform, GrantId, OAuthProvider, Provider};
use autopost::store::{NewAccount, NewGrant, Store};
use chrono::Utc;
use sha2::{Digest, Sha256};

/// Tokens distinctive enough that finding their bytes anywhere means a leak.
pub const ACCESS_TOKEN: &str = "AccessTok-7f3a9c21-do-not-leak";
pub const REFRESH_TOKEN: &str = "RefreshTok-91be44d0-do-not-leak";
pub const PAGE_TOKEN: &str = "PageTok-c0ffee12-do-not-leak";

/// A temp data dir and the configuration that points at it.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.path().join("autopost.db")
    }

    /// Configuration with these variables on top of the temp data dir; no file, no process env.
    pub fn config(&self, vars: &[(&str, &str)]) -> Config {
        let data = self.path().display().to_string();
        // Earlier entries win in `from_variables`: the caller's, then these defaults.
        let mut all = vars.to_vec();
        all.push(("AUTOPOST_DATA_DIR", &data));
        all.push(("AUTOPOST_LISTEN", "127.0.0.1:0"));
        config::from_variables(&all).unwrap()
    }

    /// SHA-256 of the database file and of its WAL. A missing and an empty WAL count as the
    /// same (no pending pages): SQLite deletes an empty WAL when the last connection closes.
    pub fn db_fingerprint(&self) -> Vec<(String, Option<[u8; 32]>)> {
        ["autopost.db", "autopost.db-wal"]
            .iter()
            .map(|name| {
                let bytes = std::fs::read(self.path().join(name))
                    .ok()
                    .filter(|b| !b.is_empty());
                ((*name).to_owned(), bytes.map(|b| Sha256::digest(&b).into()))
            })
            .collect()
    }

    /// The raw bytes of the database file and its WAL.
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut all = std::fs::read(self.db_path()).unwrap();
        if let Ok(wal) = std::fs::read(self.path().join("autopost.db-wal")) {
            all.extend_from_slice(&wal);
        }
        all
    }
}

/// Stores an X grant and account and a Facebook Page account with the well-known tokens.
pub async fn seed_secrets(store: &Store) -> GrantId {
    let now = Utc::now();
    let owner = store
        .upsert_user(ChatPlatform::Telegram, "1001", Some("alice"), now)
        .await
        .unwrap();
    let chat = store
        .upsert_chat(
            ChatPlatform::Telegram,
            "-2002",
            ChatKind::Group,
            Some("team"),
            now,
        )
        .await
        .unwrap();
    let grant = store
        .save_grant(
            NewGrant {
                owner: owner.id,
                provider: OAuthProvider::X,
                remote_user_id: "2244994945",
                scopes: "tweet.read tweet.write users.read media.write offline.access",
                access_token: Secret::new(ACCESS_TOKEN),
                refresh_token: Some(Secret::new(REFRESH_TOKEN)),
                expires_at: Some(now + chrono::Duration::hours(2)),
            },
            now,
        )
        .await
        .unwrap();
    for (provider, remote_id, name, token) in [
        (Provider::X, "2244994945", "@alice", None),
        (
            Provider::FacebookPage,
            "5550001",
            "Alice's Bakery",
            Some(Secret::new(PAGE_TOKEN)),
        ),
    ] {
        let account = store
            .save_account(
                NewAccount {
                    grant,
                    provider,
                    remote_id,
                    display_name: name,
                    access_token: token,
                },
                now,
            )
            .await
            .unwrap();
        store
            .link_account(chat.id, account, owner.id, now)
            .await
            .unwrap();
    }
    grant
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
