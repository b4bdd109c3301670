//! The privacy promises: export holds everything and no secret; deletion revokes at the
//! platforms, erases rows at once and removes images; disconnect revokes once unused.

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{AccountState, ChatKind, ChatPlatform, OAuthProvider, Provider};
use autopost::posting::{Actor, Draft};
use autopost::privacy::PrivacyError;
use autopost::store::{AuditKind, NewGrant, NewLinkedAccount};
use autopost_sim::SimServer;
use autopost_sim::x::{self as simx, SimX, SimXConfig, SimXUser};
use bytes::Bytes;
use chrono::Utc;

use crate::helpers::{TestDir, contains};

struct Fixture {
    dir: TestDir,
    _server: SimServer,
    sim: SimX,
    app: App,
    alice: Actor,
    bob: Actor,
}

async fn fixture() -> Fixture {
    let (sim, server) = simx::start(SimXConfig::public("client")).await.unwrap();
    sim.insert_grant(
        SimXUser::new("2244994945", "alice"),
        "alice-access",
        Some("alice-refresh"),
    );
    let dir = TestDir::new();
    let base = server.url().to_string();
    let app = App::open(dir.config(&[
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", &base),
    ]))
    .await
    .unwrap();
    let store = app.store().clone();
    let now = Utc::now();
    let alice = store
        .upsert_user(ChatPlatform::Telegram, "1", Some("alice"), now)
        .await
        .unwrap()
        .id;
    let bob = store
        .upsert_user(ChatPlatform::Telegram, "2", Some("bob"), now)
        .await
        .unwrap()
        .id;
    let chat = store
        .upsert_chat(
            ChatPlatform::Telegram,
            "-1",
            ChatKind::Group,
            Some("team"),
            now,
        )
        .await
        .unwrap()
        .id;
    store
        .save_linked_grant(
            NewGrant {
                owner: alice,
                provider: OAuthProvider::X,
                remote_user_id: "2244994945",
                scopes: "tweet.read tweet.write users.read media.write offline.access",
                access_token: Secret::new("alice-access"),
                refresh_token: Some(Secret::new("alice-refresh")),
                expires_at: Some(now + chrono::Duration::hours(2)),
            },
            vec![NewLinkedAccount {
                provider: Provider::X,
                remote_id: "2244994945".to_owned(),
                display_name: "@alice".to_owned(),
                access_token: None,
            }],
            chat,
            now,
        )
        .await
        .unwrap();
    Fixture {
        dir,
        _server: server,
        sim,
        app,
        alice: Actor {
            user: alice,
            chat,
            is_admin: false,
        },
        bob: Actor {
            user: bob,
            chat,
            is_admin: false,
        },
    }
}

fn jpeg() -> Bytes {
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    Bytes::from(out.into_inner())
}

#[tokio::test]
async fn an_export_holds_the_users_data_and_no_secret() {
    let f = fixture().await;
    f.app
        .create_post(
            &f.alice,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "exported words".to_owned(),
                images: vec![jpeg()],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let json = f.app.export_user(f.alice.user, Utc::now()).await.unwrap();
    let text = String::from_utf8(json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["user"]["display_name"], "alice");
    assert_eq!(value["accounts"][0]["display_name"], "@alice");
    assert_eq!(value["accounts"][0]["chats"][0], "telegram:-1");
    assert_eq!(value["posts"][0]["text"], "exported words");
    assert_eq!(value["posts"][0]["images"].as_array().unwrap().len(), 1);
    for secret in ["alice-access", "alice-refresh"] {
        assert!(!text.contains(secret), "the export holds no token");
    }
    let audit = f
        .app
        .store()
        .audit_events(Some(f.alice.user))
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::DataExported));
}

#[tokio::test]
async fn deleteme_revokes_at_the_platform_erases_everything_and_removes_images() {
    let f = fixture().await;
    let image = jpeg();
    f.app
        .create_post(
            &f.alice,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "to be erased".to_owned(),
                images: vec![image.clone()],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let media_dir = f.dir.path().join("media");
    assert_eq!(std::fs::read_dir(&media_dir).unwrap().count(), 1);

    let erasure = f.app.erase_user(f.alice.user, Utc::now()).await.unwrap();
    assert_eq!(erasure.revoked, 1);
    assert_eq!(erasure.files_removed, 1);
    assert_eq!(std::fs::read_dir(&media_dir).unwrap().count(), 0);
    assert!(!f.sim.revoked_tokens().is_empty(), "X was told");
    let store = f.app.store();
    assert!(store.user(f.alice.user).await.is_err());
    assert!(
        store
            .accounts_of_chat(f.alice.chat)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.app.queue(f.alice.chat).await.unwrap().is_empty());
    assert!(
        store
            .audit_events(Some(f.alice.user))
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.audit_events(None).await.unwrap();
    assert!(all.iter().any(|e| e.kind == AuditKind::UserDeleted));
    store.close().await;
    let bytes = f.dir.db_bytes();
    for gone in ["to be erased", "@alice", "alice-access"] {
        assert!(
            !contains(&bytes, gone),
            "{gone} is still in the database files"
        );
    }
}

#[tokio::test]
async fn disconnect_needs_the_owner_or_an_admin_and_revokes_the_unused_grant() {
    let f = fixture().await;
    let account = f.app.store().accounts_of_chat(f.alice.chat).await.unwrap()[0].id;
    let err = f
        .app
        .disconnect_account(&f.bob, account, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PrivacyError::NotAllowed(_)), "{err}");
    assert!(f.sim.revoked_tokens().is_empty());

    let revoked = f
        .app
        .disconnect_account(&f.alice, account, Utc::now())
        .await
        .unwrap();
    assert!(revoked);
    assert!(!f.sim.revoked_tokens().is_empty());
    assert!(
        f.app
            .store()
            .accounts_of_chat(f.alice.chat)
            .await
            .unwrap()
            .is_empty()
    );
    let err = f
        .app
        .disconnect_account(&f.alice, account, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PrivacyError::NotLinked));
    let grant = f.app.store().grants_of_user(f.alice.user).await.unwrap()[0].0;
    assert_eq!(
        f.app.store().grant_state(grant).await.unwrap(),
        AccountState::Revoked
    );
    assert!(
        f.app.store().grant_tokens(grant).await.is_err(),
        "tokens erased"
    );
}
