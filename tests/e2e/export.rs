//! The export is complete (policy 7): for every table with a column that refers to people,
//! the export has a section named after it with exactly that person's rows, and so for the
//! rows hanging off those (targets and images of their posts, accounts of their grants). A
//! new table with a user column fails here until the export covers it. No sealed value or
//! token is in it; with images it is a zip of `export.json` and the pictures.

use std::collections::BTreeMap;
use std::io::Read;

use autopost::domain::{Actor, OAuthProvider, Provider, UserId};
use autopost::export::ExportError;
use autopost::posting::Draft;
use autopost::store::{AuditKind, SEALED_COLUMNS, Store};
use autopost_sim::World;
use autopost_sim::world::LinkedAccounts;
use autopost_sim::x::{SimXConfig, SimXUser};
use base64::Engine;
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool as Pool, SqlitePoolOptions};

use crate::helpers::{db_path, jpeg};

/// alice linked X and Meta to the team's group, wrote a published post with an image and a
/// queued one, started a link she did not finish, had her token refreshed, agreed to the
/// policy twice and is owed a revocation; bob, in the same group, wrote a post to alice's
/// accounts and has rows of his own, none of which belong in alice's export.
struct Fixture {
    world: World,
    alice: Actor,
    bob: Actor,
    x: LinkedAccounts,
    pool: Pool,
}

async fn fixture() -> Fixture {
    let mut x = SimXConfig::public(autopost_sim::world::X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "alice");
    let world = World::builder().x_with(x).meta().start().await.unwrap();
    let linked_x = world.link_x("telegram:-1", "telegram:1").await.unwrap();
    let linked_meta = world.link_meta("telegram:-1", "telegram:1").await.unwrap();
    let alice = linked_x.actor;
    // Her private chat with the bot, as the front end records it on her first message.
    world.actor("telegram:1", "telegram:1").await.unwrap();
    let bob = world.actor("telegram:-1", "telegram:2").await.unwrap();
    let app = world.app();
    let x_account = linked_x.accounts[0].id;
    let page = linked_meta
        .accounts
        .iter()
        .find(|a| a.provider == Provider::FacebookPage)
        .unwrap()
        .id;
    app.create_post(
        &alice,
        Draft {
            when: "now".to_owned(),
            text: "alice's published words".to_owned(),
            images: vec![jpeg(16, 12)],
            targets: Some(vec![x_account]),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    let tweets = world.x().clone();
    world
        .wait_until("alice's post on X", async || !tweets.tweets().is_empty())
        .await
        .unwrap();
    world.wait_for_quiet().await.unwrap();
    let queued = app
        .create_post(
            &alice,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "alice's queued words\nx: alice's words for X".to_owned(),
                images: Vec::new(),
                targets: Some(vec![x_account, page]),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    // The chat message that confirmed it, as a front end remembers it.
    app.remember_post_message(
        queued.post,
        &autopost::posting::PostMessage {
            role: autopost::posting::MessageRole::Confirmation,
            chat: "-100".to_owned(),
            message: "41".to_owned(),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    app.create_post(
        &bob,
        Draft {
            when: "tomorrow 10am".to_owned(),
            text: "bob's words".to_owned(),
            images: vec![jpeg(8, 8)],
            targets: Some(vec![x_account]),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    // A post waiting for alice to pick one of the times suggested for its vague phrase.
    app.hold_draft(
        &alice,
        &autopost::drafts::HeldPost {
            text: "alice's held words".to_owned(),
            to: vec!["x".to_owned()],
            images: vec![jpeg(4, 4)],
        },
        &["tomorrow 09:00".to_owned()],
        Utc::now(),
    )
    .await
    .unwrap();
    app.start_link(&alice, OAuthProvider::X, Utc::now())
        .await
        .unwrap();
    let store = world.store().await.unwrap();
    let (grant, _) = store.grants_of_user(alice.user).await.unwrap()[0];
    // Refreshed as if two hours had passed: the token is due.
    app.tokens()
        .refresh_grant(grant, OAuthProvider::X, Utc::now() + Duration::hours(3))
        .await
        .unwrap();

    // Rows the consent gate and the revocation retries write; seeded here so that the
    // export is checked for them whichever lands first.
    let url = format!("sqlite://{}", db_path(world.dir()).display());
    let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
    let now = Utc::now().timestamp_millis();
    sqlx::query("UPDATE users SET adult_confirmed_at = ? WHERE id = ?")
        .bind(now)
        .bind(alice.user.0)
        .execute(&pool)
        .await
        .unwrap();
    for (user, version, action) in [
        (alice.user, 1, "agreed"),
        (alice.user, 2, "notified"),
        (bob.user, 1, "agreed"),
    ] {
        sqlx::query(
            "INSERT INTO consents (user_id, policy_version, action, at) VALUES (?, ?, ?, ?)",
        )
        .bind(user.0)
        .bind(version)
        .bind(action)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (user, token) in [
        (alice.user, &b"sealed-revocation-of-alice"[..]),
        (bob.user, &b"sealed-revocation-of-bob"[..]),
    ] {
        sqlx::query(
            "INSERT INTO pending_revocations (provider, token, user_id, notify_chat_id, label, next_attempt_at, created_at)
             VALUES ('x', ?, ?, ?, 'X @someone', ?, ?)",
        )
        .bind(token)
        .bind(user.0)
        .bind(alice.chat.0)
        .bind(now)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
    }
    Fixture {
        world,
        alice,
        bob,
        x: linked_x,
        pool,
    }
}

/// Each table's columns that are foreign keys, with the table they point at.
async fn foreign_keys(pool: &Pool) -> BTreeMap<String, Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT m.name AS tbl, f.\"from\" AS col, f.\"table\" AS parent
         FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
         WHERE m.type = 'table' ORDER BY m.name, f.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut keys: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for row in rows {
        keys.entry(row.get("tbl"))
            .or_default()
            .push((row.get("col"), row.get("parent")));
    }
    keys
}

/// How many rows each table holds that refer to `user`: directly, through a column that
/// references `users`, or through a row of such a table (a target of their post, an
/// account of their grant).
async fn rows_of(pool: &Pool, user: UserId) -> BTreeMap<String, i64> {
    let keys = foreign_keys(pool).await;
    let mut direct: BTreeMap<String, String> = BTreeMap::new();
    for (table, columns) in &keys {
        let user_columns: Vec<&str> = columns
            .iter()
            .filter(|(_, parent)| parent == "users")
            .map(|(col, _)| col.as_str())
            .collect();
        if !user_columns.is_empty() {
            // Names come from sqlite_master, not from input.
            let filter = user_columns
                .iter()
                .map(|col| format!("{col} = ?1"))
                .collect::<Vec<_>>()
                .join(" OR ");
            direct.insert(table.clone(), filter);
        }
    }
    let mut counts = BTreeMap::new();
    for (table, filter) in &direct {
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"))
                .bind(user.0)
                .fetch_one(pool)
                .await
                .unwrap();
        counts.insert(table.clone(), count);
    }
    for (table, columns) in &keys {
        if direct.contains_key(table) {
            continue;
        }
        for (col, parent) in columns {
            if let Some(filter) = direct.get(parent) {
                let count: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {col} IN (SELECT id FROM {parent} WHERE {filter})"
                ))
                .bind(user.0)
                .fetch_one(pool)
                .await
                .unwrap();
                assert!(
                    counts.insert(table.clone(), count).is_none(),
                    "{table} hangs off two tables of a person's rows; say here which the export follows"
                );
            }
        }
    }
    counts
}

/// Every sealed value and hash in the database, as stored.
async fn sealed_values(pool: &Pool) -> Vec<Vec<u8>> {
    let mut columns: Vec<(&str, &str)> = SEALED_COLUMNS.to_vec();
    columns.extend([
        ("pending_revocations", "token"),
        ("oauth_states", "state_hash"),
        ("oauth_states", "browser_hash"),
    ]);
    let mut values = Vec::new();
    for (table, column) in columns {
        let found: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        values.extend(found);
    }
    values
}

/// alice's tokens in plain text: her grants' and her Pages'.
async fn plain_tokens(store: &Store, alice: UserId, pool: &Pool) -> Vec<String> {
    let mut tokens = Vec::new();
    for (grant, _) in store.grants_of_user(alice).await.unwrap() {
        let t = store.grant_tokens(grant).await.unwrap();
        tokens.push(t.access_token.expose().to_owned());
        tokens.extend(t.refresh_token.map(|r| r.expose().to_owned()));
    }
    let pages: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE access_token IS NOT NULL")
            .fetch_all(pool)
            .await
            .unwrap();
    for page in pages {
        let token = store
            .account_access_token(autopost::domain::AccountId(page))
            .await
            .unwrap();
        tokens.push(token.expose().to_owned());
    }
    tokens
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts that `text` holds none of the secrets in any of the ways they could be written.
fn assert_no_secret(text: &str, sealed: &[Vec<u8>], tokens: &[String]) {
    assert!(sealed.len() >= 5, "the test must see sealed values");
    for value in sealed {
        for written in [
            base64::engine::general_purpose::STANDARD.encode(value),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value),
            hex(value),
            String::from_utf8_lossy(value).into_owned(),
        ] {
            assert!(!text.contains(&written), "a sealed value is in the export");
        }
        let numbers = value
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",");
        assert!(
            !text.contains(&numbers),
            "a sealed value is in the export as numbers"
        );
    }
    assert!(tokens.len() >= 3, "the test must see tokens");
    for token in tokens {
        assert!(!text.contains(token.as_str()), "a token is in the export");
    }
}

#[tokio::test]
async fn the_export_has_every_row_of_every_table_that_refers_to_the_person_and_no_secret() {
    let f = fixture().await;
    let app = f.world.app();
    // Counted first: the export itself adds one event to the log, after it was read.
    let counts = rows_of(&f.pool, f.alice.user).await;
    let json = app.export_user(f.alice.user, Utc::now()).await.unwrap();
    let text = String::from_utf8(json).unwrap();
    let export: serde_json::Value = serde_json::from_str(&text).unwrap();
    for expected in [
        "grants",
        "chat_accounts",
        "posts",
        "oauth_states",
        "notifications",
        "audit_events",
        "consents",
        "pending_revocations",
        "targets",
        "media",
        "accounts",
    ] {
        assert!(
            counts.contains_key(expected),
            "{expected} not found among {counts:?}"
        );
    }
    for (table, count) in &counts {
        assert!(
            *count > 0,
            "the fixture gives alice no row in {table}: seed one, so that its export is checked"
        );
        let section = export[table.as_str()].as_array().unwrap_or_else(|| {
            panic!("the export has no section `{table}`, a table that refers to people")
        });
        assert_eq!(
            section.len() as i64,
            *count,
            "{table}: the export must hold exactly alice's rows"
        );
    }
    // What the sections say, beyond their size.
    assert!(
        export["thread_parts"].is_array(),
        "threads' parts are exported too"
    );
    let user = &export["users"][0];
    assert_eq!(export["users"].as_array().unwrap().len(), 1);
    assert_eq!(user["remote_id"], "1");
    assert!(user["adult_confirmed_at"].is_string(), "{user}");
    let grants = export["grants"].as_array().unwrap();
    assert!(grants.iter().all(|g| g["token_expires_at"].is_string()));
    assert!(
        grants.iter().any(|g| g["refreshed_at"].is_string()),
        "refreshed"
    );
    assert!(
        grants
            .iter()
            .all(|g| !g["scopes"].as_array().unwrap().is_empty())
    );
    let x_account = f.x.accounts[0].id.0;
    let account = export["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == x_account)
        .unwrap();
    assert_eq!(account["display_name"], "@alice");
    assert_eq!(account["chats"], serde_json::json!([f.alice.chat.0]));
    let posts = export["posts"].as_array().unwrap();
    assert!(posts.iter().all(|p| p["body"] != "bob's words"));
    let published = export["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "published")
        .unwrap();
    assert!(published["remote_url"].is_string() && published["remote_id"].is_string());
    assert_eq!(published["attempts"], 1);
    let media = &export["media"][0];
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(16), Some(12))
    );
    assert!(media["sha256"].as_str().unwrap().len() == 64 && media["file"].is_null());
    assert!(
        media.get("stored_as").is_none(),
        "the disk layout stays private"
    );
    let kinds: Vec<&str> = export["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["account_linked", "token_refreshed"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let roles: BTreeMap<i64, Vec<String>> = export["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                serde_json::from_value(c["roles"].clone()).unwrap(),
            )
        })
        .collect();
    let group = &roles[&f.alice.chat.0];
    for role in [
        "linked_accounts_here",
        "your_accounts_post_here",
        "wrote_posts_here",
    ] {
        assert!(group.contains(&role.to_owned()), "{role}: {group:?}");
    }
    assert!(
        roles.values().any(|r| r == &["private_chat".to_owned()]),
        "{roles:?}"
    );
    for absent in [
        "access_token",
        "refresh_token",
        "pkce_verifier",
        "state_hash",
        "browser_hash",
        "\"token\"",
    ] {
        assert!(!text.contains(absent), "{absent} is in the export");
    }

    let store = f.world.store().await.unwrap();
    let sealed = sealed_values(&f.pool).await;
    let tokens = plain_tokens(&store, f.alice.user, &f.pool).await;
    assert_no_secret(&text, &sealed, &tokens);

    // bob's export is his alone.
    let bobs_rows = rows_of(&f.pool, f.bob.user).await;
    let bobs = app.export_user(f.bob.user, Utc::now()).await.unwrap();
    let bobs: serde_json::Value = serde_json::from_slice(&bobs).unwrap();
    for (table, count) in bobs_rows {
        assert_eq!(
            bobs[table.as_str()].as_array().unwrap().len() as i64,
            count,
            "bob's {table}"
        );
    }
    let recorded = store.audit_events(Some(f.alice.user)).await.unwrap();
    assert!(recorded.iter().any(|e| e.kind == AuditKind::DataExported));
}

#[tokio::test]
async fn export_with_images_is_a_zip_of_the_json_and_each_picture() {
    let f = fixture().await;
    let app = f.world.app();
    let bytes = app
        .export_user_archive(f.alice.user, 50_000_000, Utc::now())
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let mut names: Vec<String> = zip
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    let mut json = String::new();
    zip.by_name("export.json")
        .unwrap()
        .read_to_string(&mut json)
        .unwrap();
    let export: serde_json::Value = serde_json::from_str(&json).unwrap();
    let media = export["media"].as_array().unwrap();
    assert_eq!(media.len(), 1, "alice's one image, not bob's");
    let post = media[0]["post_id"].as_i64().unwrap();
    let image = format!("images/{post}-1.jpg");
    assert_eq!(names, ["export.json".to_owned(), image.clone()]);
    assert_eq!(media[0]["file"], image.as_str());
    let mut picture = Vec::new();
    zip.by_name(&image)
        .unwrap()
        .read_to_end(&mut picture)
        .unwrap();
    assert_eq!(
        hex(&Sha256::digest(&picture)),
        media[0]["sha256"].as_str().unwrap()
    );
    assert_eq!(picture.len() as i64, media[0]["byte_len"].as_i64().unwrap());

    let store = f.world.store().await.unwrap();
    let sealed = sealed_values(&f.pool).await;
    let tokens = plain_tokens(&store, f.alice.user, &f.pool).await;
    assert_no_secret(&json, &sealed, &tokens);
    let raw = String::from_utf8_lossy(&bytes);
    for token in &tokens {
        assert!(!raw.contains(token.as_str()));
    }
    let recorded = store.audit_events(Some(f.alice.user)).await.unwrap();
    assert!(
        recorded
            .iter()
            .any(|e| e.kind == AuditKind::DataExported && e.detail.contains("images")),
        "{recorded:?}"
    );

    // An image the retention purge removed meanwhile is listed without a file.
    for entry in std::fs::read_dir(f.world.dir().join("media")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let bytes = app
        .export_user_archive(f.alice.user, 50_000_000, Utc::now())
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(zip.len(), 1);
    let mut json = String::new();
    zip.by_name("export.json")
        .unwrap()
        .read_to_string(&mut json)
        .unwrap();
    let export: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(export["media"][0]["file"].is_null());
    assert_eq!(export["media"][0]["post_id"], post);
}

#[tokio::test]
async fn a_zip_over_the_limit_is_refused_before_anything_is_exported() {
    let f = fixture().await;
    let store = f.world.store().await.unwrap();
    let before = store.audit_events(Some(f.alice.user)).await.unwrap().len();
    let err = f
        .world
        .app()
        .export_user_archive(f.alice.user, 1_000, Utc::now())
        .await
        .unwrap_err();
    let ExportError::TooLarge { size, limit } = err else {
        panic!("{err}")
    };
    assert_eq!(limit, 1_000);
    assert!(size > limit, "{size}");
    assert_eq!(
        store.audit_events(Some(f.alice.user)).await.unwrap().len(),
        before,
        "nothing was exported, so nothing is recorded"
    );
}
