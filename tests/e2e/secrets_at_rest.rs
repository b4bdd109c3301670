//! Encryption at rest: tokens never reach the database files in plain text, a ciphertext is
//! bound to its row, a wrong key changes nothing, and rotate-key moves every secret.

use autopost::app::{self, App, AppError, KEY_FILE};
use autopost::crypto::{Aad, CryptoError, MasterKey, Sealer};
use autopost::domain::{ChatId, GrantId, Provider};
use autopost::key_files::KeyFileError;
use autopost::store::{AuditKind, SEALED_COLUMNS, Store, StoreError};
use autopost_sim::World;
use chrono::Utc;
use sqlx::Row;
use sqlx::sqlite::SqlitePoolOptions;

use crate::helpers::{
    ACCESS_TOKEN, PAGE_TOKEN, REFRESH_TOKEN, contains, db_bytes, db_fingerprint, db_path,
    seed_secrets,
};

/// A world whose database holds the well-known secrets and is then closed; `builder` chooses
/// how the master key is kept.
async fn sealed(builder: autopost_sim::WorldBuilder) -> (World, GrantId) {
    let mut world = builder.open().await.unwrap();
    let grant = seed_secrets(&world.store().await.unwrap()).await;
    world.shutdown().await.unwrap();
    (world, grant)
}

#[tokio::test]
async fn stored_tokens_are_not_in_the_database_or_its_wal_in_plain_text() {
    let mut world = World::builder().open().await.unwrap();
    let store = world.store().await.unwrap();
    let grant = seed_secrets(&store).await;
    // Read while the WAL still holds the fresh pages: the WAL is checked as well as the file.
    let tokens = store.grant_tokens(grant).await.unwrap();
    assert_eq!(tokens.access_token.expose(), ACCESS_TOKEN);
    let live = db_bytes(world.dir());
    assert!(
        std::fs::metadata(world.dir().join("autopost.db-wal")).is_ok(),
        "the test must see a WAL file"
    );
    world.shutdown().await.unwrap();
    let closed = db_bytes(world.dir());
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
    let (world, _) = sealed(World::builder()).await;

    // Copy the X account's grant token into a second grant row, as an attacker with write
    // access to the file could.
    let url = format!("sqlite://{}", db_path(world.dir()).display());
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

    let store = world.store().await.unwrap();
    assert_eq!(
        store
            .grant_tokens(GrantId(1))
            .await
            .unwrap()
            .access_token
            .expose(),
        ACCESS_TOKEN
    );
    let moved = store.grant_tokens(GrantId(2)).await;
    assert!(
        matches!(moved, Err(StoreError::Crypto(CryptoError::Tampered))),
        "{moved:?}"
    );
    let accounts = store.accounts_of_chat(ChatId(1)).await.unwrap();
    let page = accounts
        .iter()
        .find(|a| a.provider == Provider::FacebookPage)
        .unwrap();
    assert!(matches!(
        store.account_access_token(page.id).await,
        Err(StoreError::Crypto(CryptoError::Tampered))
    ));
}

#[tokio::test]
async fn starting_with_another_master_key_fails_cleanly_and_changes_nothing() {
    let key = MasterKey::generate();
    let right = key.to_base64();
    let (world, _) = sealed(World::builder().var("AUTOPOST_MASTER_KEY", right.expose())).await;
    let before = db_fingerprint(world.dir());

    let wrong = MasterKey::generate();
    let wrong_key = world
        .config_with(&[("AUTOPOST_MASTER_KEY", wrong.to_base64().expose())])
        .unwrap();
    let err = App::open(wrong_key).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, AppError::Store(StoreError::WrongKey { .. })),
        "{err:?}"
    );
    assert!(message.contains(&wrong.id().to_string()), "{message}");
    assert!(message.contains(&key.id().to_string()), "{message}");
    assert!(!message.contains(right.expose()) && !message.contains('\n'));
    assert_eq!(
        db_fingerprint(world.dir()),
        before,
        "a refused start must not touch the files"
    );

    // Without the env key (an empty variable counts as unset) there is no key file either:
    // a sealed database never gets a fresh key, so the refusal names the key it needs and
    // creates nothing.
    let key_file = world.config_with(&[("AUTOPOST_MASTER_KEY", "")]).unwrap();
    let err = App::open(key_file).await.unwrap_err();
    assert!(
        matches!(err, AppError::KeyFiles(KeyFileError::NoneOpens { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(&key.id().to_string()), "{err}");
    assert!(!world.dir().join(KEY_FILE).exists(), "no key was created");
    assert_eq!(db_fingerprint(world.dir()), before);

    // And the right key still works afterwards.
    let app = App::open(world.config_with(&[]).unwrap()).await.unwrap();
    app.close().await;
    let store = world.store().await.unwrap();
    assert_eq!(store.verify_all_secrets().await.unwrap(), 3);
}

/// Opens every sealed value in the database file with `sealer`, returning how many opened
/// and failed.
async fn open_raw(world: &World, sealer: &Sealer) -> (usize, usize) {
    let url = format!("sqlite://{}", db_path(world.dir()).display());
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
    let (mut world, grant) = sealed(World::builder().key_file()).await;
    let key_path = world.dir().join(KEY_FILE);
    let old = MasterKey::from_base64(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    assert_eq!(open_raw(&world, &Sealer::new(old.clone())).await, (3, 0));

    let config = world.config_with(&[]).unwrap();
    let rotation = app::rotate_key(&config, Utc::now()).await.unwrap();
    assert_eq!(rotation.secrets, 3);
    assert_eq!(rotation.old_key, old.id());
    assert_eq!(rotation.new_key_file, key_path);
    let retired = rotation.retired_key_file.clone().unwrap();
    let new = MasterKey::from_base64(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    assert_eq!(new.id(), rotation.new_key);
    assert_ne!(new.id(), old.id());
    let kept = MasterKey::from_base64(&std::fs::read_to_string(&retired).unwrap()).unwrap();
    assert_eq!(kept.id(), old.id(), "the old key is retired, not lost");
    assert!(!world.dir().join(app::NEW_KEY_FILE).exists());

    assert_eq!(open_raw(&world, &Sealer::new(new.clone())).await, (3, 0));
    assert_eq!(open_raw(&world, &Sealer::new(old.clone())).await, (0, 3));

    let app = App::open(world.config_with(&[]).unwrap()).await.unwrap();
    app.close().await;
    // The world's store reads the key file afresh: the new key.
    let store = world.store().await.unwrap();
    let tokens = store.grant_tokens(grant).await.unwrap();
    assert_eq!(tokens.access_token.expose(), ACCESS_TOKEN);
    assert_eq!(tokens.refresh_token.unwrap().expose(), REFRESH_TOKEN);
    let audit = store.audit_events(None).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::KeyRotated));
    world.shutdown().await.unwrap();

    let url = format!("sqlite://{}", db_path(world.dir()).display());
    let err = Store::open(&url, Sealer::new(old)).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }));
}

#[tokio::test]
async fn rotating_an_environment_key_leaves_the_new_key_in_a_private_file() {
    let old = MasterKey::generate().to_base64();
    let (world, _) = sealed(World::builder().var("AUTOPOST_MASTER_KEY", old.expose())).await;

    let rotation = app::rotate_key(&world.config_with(&[]).unwrap(), Utc::now())
        .await
        .unwrap();
    assert!(rotation.retired_key_file.is_none());
    assert_eq!(rotation.new_key_file, world.dir().join(app::NEW_KEY_FILE));
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
    let new = new.trim();
    assert!(
        App::open(world.config_with(&[]).unwrap()).await.is_err(),
        "the old key no longer opens it"
    );
    let new_key = world.config_with(&[("AUTOPOST_MASTER_KEY", new)]).unwrap();
    let app = App::open(new_key).await.unwrap();
    app.close().await;
    let url = format!("sqlite://{}", db_path(world.dir()).display());
    let store = Store::open(&url, Sealer::new(MasterKey::from_base64(new).unwrap()))
        .await
        .unwrap();
    assert_eq!(store.verify_all_secrets().await.unwrap(), 3);
    store.close().await;

    // A second rotation refuses while the first one's key file is still lying around.
    let err = app::rotate_key(
        &world.config_with(&[("AUTOPOST_MASTER_KEY", new)]).unwrap(),
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AppError::RotationPending { .. }), "{err:?}");
}

#[tokio::test]
async fn an_interrupted_file_rotation_is_finished_at_start() {
    let (world, _) = sealed(World::builder().key_file()).await;
    let key_path = world.dir().join(KEY_FILE);
    let old_text = std::fs::read_to_string(&key_path).unwrap();
    let old = MasterKey::from_base64(&old_text).unwrap();
    let config = world.config_with(&[]).unwrap();
    let rotation = app::rotate_key(&config, Utc::now()).await.unwrap();
    // Simulate a crash after the database switched but before the files were swapped.
    std::fs::rename(&key_path, world.dir().join(app::NEW_KEY_FILE)).unwrap();
    std::fs::remove_file(rotation.retired_key_file.unwrap()).unwrap();
    MasterKey::from_base64(&old_text)
        .unwrap()
        .write_new_file(&key_path)
        .unwrap();
    let app = App::open(config).await.unwrap();
    app.close().await;
    let now_in_place = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(
        MasterKey::from_base64(&now_in_place).unwrap().id(),
        rotation.new_key
    );
    assert!(!world.dir().join(app::NEW_KEY_FILE).exists());
    let retired = world.dir().join(format!(
        "{}{}",
        autopost::key_files::RETIRED_KEY_PREFIX,
        old.id()
    ));
    assert_eq!(
        std::fs::read_to_string(retired).unwrap(),
        old_text,
        "the key that no longer opens the database is kept, not lost"
    );
}
