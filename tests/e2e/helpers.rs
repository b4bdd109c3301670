//! What several features' tests share besides the world (`autopost_sim::World`): seeded
//! secrets, the database files' bytes, URL tampering, images and post contents for the
//! platform clients, errors shown every way.

use std::collections::HashMap;
use std::path::Path;

use autopost::crypto::Secret;
use autopost::domain::{ChatKind, ChatPlatform, GrantId, OAuthProvider, Provider};
use autopost::platforms::{Media, PostContent};
use autopost::store::{NewAccount, NewGrant, Store};
use autopost::telemetry;
use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use url::Url;

/// Tokens distinctive enough that finding their bytes anywhere means a leak.
pub const ACCESS_TOKEN: &str = "AccessTok-7f3a9c21-do-not-leak";
pub const REFRESH_TOKEN: &str = "RefreshTok-91be44d0-do-not-leak";
pub const PAGE_TOKEN: &str = "PageTok-c0ffee12-do-not-leak";

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
                scopes: autopost::platforms::x::SCOPES,
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

/// The database file in a data dir.
pub fn db_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("autopost.db")
}

/// SHA-256 of the database file and of its WAL. A missing and an empty WAL count as the
/// same (no pending pages): SQLite deletes an empty WAL when the last connection closes.
pub fn db_fingerprint(data_dir: &Path) -> Vec<(String, Option<[u8; 32]>)> {
    ["autopost.db", "autopost.db-wal"]
        .iter()
        .map(|name| {
            let bytes = std::fs::read(data_dir.join(name))
                .ok()
                .filter(|b| !b.is_empty());
            ((*name).to_owned(), bytes.map(|b| Sha256::digest(&b).into()))
        })
        .collect()
}

/// The raw bytes of the database file and its WAL.
pub fn db_bytes(data_dir: &Path) -> Vec<u8> {
    let mut all = std::fs::read(db_path(data_dir)).unwrap();
    if let Ok(wal) = std::fs::read(data_dir.join("autopost.db-wal")) {
        all.extend_from_slice(&wal);
    }
    all
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// `url` with the query parameter `key` set to `value` instead, the rest as it was: a
/// tampered consent or dialog link.
pub fn with_query(url: &Url, key: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == key {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let mut tampered = url.clone();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    tampered
}

/// The OAuth `state` the platform-client tests send; it must come back unchanged.
pub const STATE: &str = "state-123";

/// Opens a consent page or login dialog without following its redirect, checks that it sends
/// the person back to `redirect` with [`STATE`], and returns the code.
pub async fn code_from(consent: Url, redirect: &Url) -> String {
    let answer = autopost::platforms::http::client()
        .unwrap()
        .get(consent)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect.as_str()));
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], STATE);
    query["code"].clone()
}

/// A real JPEG, as a phone would send.
pub fn jpeg(width: u32, height: u32) -> Bytes {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([1, 2, 3]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    Bytes::from(out.into_inner())
}

/// `len` bytes that start as a JPEG does, filled with `fill`: enough for the platforms' type
/// checks, which read the first bytes only.
pub fn jpeg_bytes(len: usize, fill: u8) -> Bytes {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(len, fill);
    Bytes::from(bytes)
}

/// `len` bytes that start as a 16x16 PNG does.
pub fn png_bytes(len: usize) -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10".to_vec();
    bytes.resize(len, 7);
    Bytes::from(bytes)
}

/// An image to upload, with no public link.
pub fn upload(content_type: &str, bytes: Bytes) -> Media {
    Media {
        content_type: content_type.to_owned(),
        bytes,
        public_url: None,
    }
}

/// A text post without images.
pub fn text(text: &str) -> PostContent<'_> {
    PostContent {
        text,
        media: &[],
        reply_to: None,
    }
}

/// Display, Debug and the whole source chain of an error.
pub fn shown(error: &(dyn std::error::Error + 'static)) -> String {
    format!("{error} | {error:?} | {}", telemetry::chain(error))
}
