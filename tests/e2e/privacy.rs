//! The privacy promises: deletion revokes at the platforms, erases rows at once and removes
//! images; disconnect revokes once unused. The export's completeness is in `export.rs`.

use autopost::domain::AccountState;
use autopost::domain::Actor;
use autopost::posting::Draft;
use autopost::privacy::PrivacyError;
use autopost::store::AuditKind;
use autopost_sim::World;
use autopost_sim::world::LinkedAccounts;
use autopost_sim::x::{SimXConfig, SimXUser};
use chrono::Utc;

use crate::helpers::{contains, db_bytes, jpeg};

/// alice (X user `@alice`) has linked her X account to the team's group; bob is a member.
struct Fixture {
    world: World,
    alice: LinkedAccounts,
    bob: Actor,
}

async fn fixture() -> Fixture {
    let mut x = SimXConfig::public(autopost_sim::world::X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "alice");
    let world = World::builder().x_with(x).start().await.unwrap();
    let alice = world.link_x("telegram:-1", "telegram:1").await.unwrap();
    let bob = world.actor("telegram:-1", "telegram:2").await.unwrap();
    Fixture { world, alice, bob }
}

/// alice's X tokens, as stored: the export and the database must show neither.
async fn tokens_of(f: &Fixture) -> [String; 2] {
    let store = f.world.store().await.unwrap();
    let (grant, _) = store.grants_of_user(f.alice.actor.user).await.unwrap()[0];
    let tokens = store.grant_tokens(grant).await.unwrap();
    [
        tokens.access_token.expose().to_owned(),
        tokens.refresh_token.unwrap().expose().to_owned(),
    ]
}

#[tokio::test]
async fn deleteme_revokes_at_the_platform_erases_everything_and_removes_images() {
    let mut f = fixture().await;
    let alice = f.alice.actor;
    let app = f.world.app().clone();
    app.create_post(
        &alice,
        Draft {
            when: "tomorrow 9am".to_owned(),
            text: "to be erased".to_owned(),
            images: vec![jpeg(8, 8)],
            targets: None,
        },
        Utc::now(),
    )
    .await
    .unwrap();
    let media_dir = f.world.dir().join("media");
    assert_eq!(std::fs::read_dir(&media_dir).unwrap().count(), 1);
    let [access_token, _] = tokens_of(&f).await;

    let erasure = app.erase_user(alice.user, Utc::now()).await.unwrap();
    assert_eq!(erasure.revoked, 1);
    assert_eq!(erasure.files_removed, 1);
    assert_eq!(std::fs::read_dir(&media_dir).unwrap().count(), 0);
    assert!(!f.world.x().revoked_tokens().is_empty(), "X was told");
    let store = f.world.store().await.unwrap();
    assert!(store.user(alice.user).await.is_err());
    assert!(store.accounts_of_chat(alice.chat).await.unwrap().is_empty());
    assert!(app.queue(alice.chat).await.unwrap().is_empty());
    assert!(
        store
            .audit_events(Some(alice.user))
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.audit_events(None).await.unwrap();
    assert!(all.iter().any(|e| e.kind == AuditKind::UserDeleted));
    f.world.shutdown().await.unwrap();
    let bytes = db_bytes(f.world.dir());
    for gone in ["to be erased", "@alice", access_token.as_str()] {
        assert!(
            !contains(&bytes, gone),
            "{gone} is still in the database files"
        );
    }
}

#[tokio::test]
async fn disconnect_needs_the_owner_or_an_admin_and_revokes_the_unused_grant() {
    let f = fixture().await;
    let (app, alice) = (f.world.app(), f.alice.actor);
    let account = f.alice.accounts[0].id;
    let err = app
        .disconnect_account(&f.bob, account, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PrivacyError::NotAllowed(_)), "{err}");
    assert!(f.world.x().revoked_tokens().is_empty());

    let revoked = app
        .disconnect_account(&alice, account, Utc::now())
        .await
        .unwrap();
    assert!(revoked);
    assert!(!f.world.x().revoked_tokens().is_empty());
    let store = f.world.store().await.unwrap();
    assert!(store.accounts_of_chat(alice.chat).await.unwrap().is_empty());
    let err = app
        .disconnect_account(&alice, account, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PrivacyError::NotLinked));
    let grant = store.grants_of_user(alice.user).await.unwrap()[0].0;
    assert_eq!(
        store.grant_state(grant).await.unwrap(),
        AccountState::Revoked
    );
    assert!(store.grant_tokens(grant).await.is_err(), "tokens erased");
}
