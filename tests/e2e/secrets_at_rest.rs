//! Encryption at rest: tokens never reach the database files in plain text, a ciphertext is
//! bound to its row, a wrong key changes nothing, and rotate-key moves every secret.

use autopost::app::{self, App, AppError, KEY_FILE};
use autopost::crypto::{Aad, CryptoError, MasterKey, Sealer};
use autopost::store::{SEALED_COLUMNS, Store, StoreError};
use chrono::Utc;
use sqlx::Row;
use sqlx::sqlite::SqlitePoolOptions;

use crate::helpers::{ACCESS_TOKEN, PAGE_TOKEN, REFRESH_TOKEN, TestDir, contains, seed_secrets};

#[tokio::test]
async fn stored_tokens_are_not_in_the_database_or_its_wal_in_plain_text() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    let grant = seed_secrets(app.store()).await;
    // Read while the WAL still holds the fresh pages: the WAL is checked as well as the file.
    let tokens = app.store().grant_tokens(grant).await.unwrap();
    assert_eq!(tokens.access_token.expose(), ACCESS_TOKEN);
    let live = dir.db_bytes();
    assert!(
        std::fs::metadata(dir.path().join("autopost.db-wal")).is_ok(),
        "the test must see a WAL file"
    );
    app.store().close().await;
    let closed = dir.db_bytes();
    for bytes in [&live, &closed] {
        for token in [ACCESS_TOKEN, REFRESH_TOKEN, PAGE_TOKEN] {
            assert!(
                !contains(bytes, token),
                "{token} found in the database files"
            );
        }
        assert!(
            contains(bytes, "Alice's Bakery"),
            "sanity: plain data is findable"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    seed_secrets(app.store()).await;
    app.store().close().await;

    // Copy the X account's grant token into a second grant row, as an attacker with write
    // access to the file could.
    let url = format!("sqlite://{}", dir.db_path().display());
    let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO grants (owner_id, platform, remote_user_id, access_token, created_at)
         SELECT owner_id, platform, 'someone-else', access_token, created_at FROM grants WHERE id = 1",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE accounts SET access_token = (SELECT access_token FROM grants WHERE id = 1) WHERE provider = 'facebook_page'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let app = App::open(dir.config(&[])).await.unwrap();
    let store = app.store();
    assert_eq!(
        store
            .grant_tokens(autopost::domain::GrantId(1))
            .await
            .unwrap()
            .access_token
            .expose(),
        ACCESS_TOKEN
    );
    let moved = store.grant_tokens(autopost::domain::GrantId(2)).await;
    assert!(
        matches!(moved, Err(StoreError::Crypto(CryptoError::Tampered))),
        "{moved:?}"
    );
    let accounts = store
        .accounts_of_chat(autopost::domain::ChatId(1))
        .await
        .unwrap();
    let page = accounts
        .iter()
        .find(|a| a.provider == autopost::domain::Provider::FacebookPage)
        .unwrap();
    assert!(matches!(
        store.account_access_token(page.id).await,
        Err(StoreError::Crypto(CryptoError::Tampered))
    ));
}

#[tokio::test]
async fn starting_with_another_master_key_fails_cleanly_and_changes_nothing() {
    let dir = TestDir::new();
    let key = MasterKey::generate();
    let right = key.to_base64();
    let app = App::open(dir.config(&[("AUTOPOST_MASTER_KEY", right.expose())]))
        .await
        .unwrap();
    seed_secrets(app.store()).await;
    app.store().close().await;
    let before = dir.db_fingerprint();

    let wrong = MasterKey::generate();
    let err = App::open(dir.config(&[("AUTOPOST_MASTER_KEY", wrong.to_base64().expose())]))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, AppError::Store(StoreError::WrongKey { .. })),
        "{err:?}"
    );
    assert!(message.contains(&wrong.id().to_string()), "{message}");
    assert!(message.contains(&key.id().to_string()), "{message}");
    assert!(!message.contains(right.expose()) && !message.contains('\n'));
    assert_eq!(
        dir.db_fingerprint(),
        before,
        "a refused start must not touch the files"
    );

    // The key file path is refused the same way when the env key is absent.
    let err = App::open(dir.config(&[])).await.unwrap_err();
    assert!(
        matches!(err, AppError::Store(StoreError::WrongKey { .. })),
        "{err:?}"
    );
    assert_eq!(dir.db_fingerprint(), before);

    // And the right key still works afterwards.
    let app = App::open(dir.config(&[("AUTOPOST_MASTER_KEY", right.expose())]))
        .await
        .unwrap();
    assert_eq!(app.store().verify_all_secrets().await.unwrap(), 3);
    app.store().close().await;
}

/// Opens every sealed column directly with `sealer`, returning how many opened and failed.
async fn open_raw(dir: &TestDir, sealer: &Sealer) -> (usize, usize) {
    let url = format!("sqlite://{}", dir.db_path().display());
    let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
    let (mut opened, mut failed) = (0, 0);
    for (table, column) in SEALED_COLUMNS {
        let rows = sqlx::query(&format!(
            "SELECT id, {column} AS v FROM {table} WHERE {column} IS NOT NULL"
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        for row in rows {
            let sealed: Vec<u8> = row.get("v");
            match sealer.open(&sealed, &Aad::new(table, row.get("id"), column)) {
                Ok(_) => opened += 1,
                Err(_) => failed += 1,
            }
        }
    }
    pool.close().await;
    (opened, failed)
}

#[tokio::test]
async fn after_rotate_key_every_secret_opens_under_the_new_key_only() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    let grant = seed_secrets(app.store()).await;
    app.store().close().await;
    let key_path = dir.path().join(KEY_FILE);
    let old = MasterKey::from_base64(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    assert_eq!(open_raw(&dir, &Sealer::new(old.clone())).await, (3, 0));

    let rotation = app::rotate_key(&dir.config(&[]), Utc::now()).await.unwrap();
    assert_eq!(rotation.secrets, 3);
    assert_eq!(rotation.old_key, old.id());
    assert_eq!(rotation.new_key_file, key_path);
    let retired = rotation.retired_key_file.clone().unwrap();
    let new = MasterKey::from_base64(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    assert_eq!(new.id(), rotation.new_key);
    assert_ne!(new.id(), old.id());
    let kept = MasterKey::from_base64(&std::fs::read_to_string(&retired).unwrap()).unwrap();
    assert_eq!(kept.id(), old.id(), "the old key is retired, not lost");
    assert!(!dir.path().join(app::NEW_KEY_FILE).exists());

    assert_eq!(open_raw(&dir, &Sealer::new(new.clone())).await, (3, 0));
    assert_eq!(open_raw(&dir, &Sealer::new(old.clone())).await, (0, 3));

    let app = App::open(dir.config(&[])).await.unwrap();
    let tokens = app.store().grant_tokens(grant).await.unwrap();
    assert_eq!(tokens.access_token.expose(), ACCESS_TOKEN);
    assert_eq!(tokens.refresh_token.unwrap().expose(), REFRESH_TOKEN);
    let audit = app.store().audit_events(None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == autopost::store::AuditKind::KeyRotated)
    );
    app.store().close().await;

    let err = Store::open(
        &format!("sqlite://{}", dir.db_path().display()),
        Sealer::new(old),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }));
}

#[tokio::test]
async fn rotating_an_environment_key_leaves_the_new_key_in_a_private_file() {
    let dir = TestDir::new();
    let old = MasterKey::generate();
    let vars = [("AUTOPOST_MASTER_KEY", old.to_base64())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.expose())).collect();
    let app = App::open(dir.config(&vars)).await.unwrap();
    seed_secrets(app.store()).await;
    app.store().close().await;

    let rotation = app::rotate_key(&dir.config(&vars), Utc::now())
        .await
        .unwrap();
    assert!(rotation.retired_key_file.is_none());
    assert_eq!(rotation.new_key_file, dir.path().join(app::NEW_KEY_FILE));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rotation.new_key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let new = std::fs::read_to_string(&rotation.new_key_file).unwrap();
    assert!(
        App::open(dir.config(&vars)).await.is_err(),
        "the old key no longer opens it"
    );
    let app = App::open(dir.config(&[("AUTOPOST_MASTER_KEY", new.trim())]))
        .await
        .unwrap();
    assert_eq!(app.store().verify_all_secrets().await.unwrap(), 3);
    app.store().close().await;

    // A second rotation refuses while the first one's key file is still lying around.
    let err = app::rotate_key(
        &dir.config(&[("AUTOPOST_MASTER_KEY", new.trim())]),
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AppError::RotationPending { .. }), "{err:?}");
}

#[tokio::test]
async fn an_interrupted_file_rotation_is_explained_at_start() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    seed_secrets(app.store()).await;
    app.store().close().await;
    let key_path = dir.path().join(KEY_FILE);
    let old_text = std::fs::read_to_string(&key_path).unwrap();
    app::rotate_key(&dir.config(&[]), Utc::now()).await.unwrap();
    // Simulate a crash after the database switched but before the files were swapped.
    std::fs::rename(&key_path, dir.path().join(app::NEW_KEY_FILE)).unwrap();
    std::fs::write(&key_path, old_text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let err = App::open(dir.config(&[])).await.unwrap_err();
    assert!(
        matches!(err, AppError::RotationInterrupted { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("mv "), "{err}");
}
