//! The privacy promises: deletion revokes at the platforms, erases rows at once and removes
//! images; disconnect revokes once unused and says exactly what became of the access:
//! revoked, kept for another chat, already revoked, or retried (sealed, with backoff) until X
//! answers or 30 days pass, the chat told. The export's completeness is in `export.rs`.

use autopost::domain::Actor;
use autopost::domain::{AccountState, ChatPlatform};
use autopost::posting::Draft;
use autopost::privacy::{Disconnected, Erasure, GrantUse, PrivacyError};
use autopost::store::AuditKind;
use autopost_sim::World;
use autopost_sim::world::LinkedAccounts;
use autopost_sim::x::{Endpoint, Failure, SimXConfig, SimXUser};
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
    assert_eq!(
        erasure,
        Erasure {
            revoked: 1,
            already_revoked: 0,
            retrying: 0,
            files_removed: 1,
        }
    );
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

    let outcome = app
        .disconnect_account(&alice, account, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::Revoked);
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

/// alice's only grant, and the chat-side account linked to her group.
async fn grant_of_alice(f: &Fixture) -> autopost::domain::GrantId {
    let store = f.world.store().await.unwrap();
    store.grants_of_user(f.alice.actor.user).await.unwrap()[0].0
}

/// What the chats of the Telegram side are waiting to be told.
async fn told(world: &World) -> Vec<String> {
    world
        .app()
        .undelivered(ChatPlatform::Telegram, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.text)
        .collect()
}

#[tokio::test]
async fn disconnect_keeps_the_access_while_another_chat_uses_it_and_says_where() {
    let f = fixture().await;
    let app = f.world.app();
    // alice links the same X account to a second chat: one grant, two chats.
    f.world.link_x("telegram:-2", "telegram:1").await.unwrap();
    let account = f.alice.accounts[0].id;

    let outcome = app
        .disconnect_account(&f.alice.actor, account, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Disconnected::Kept {
            still_serves: vec![GrantUse {
                provider: autopost::domain::Provider::X,
                account: "@alice".to_owned(),
                here: false,
                other_chats: 1,
            }]
        }
    );
    assert_eq!(
        f.world.x().token_requests().revocations,
        0,
        "X was not asked"
    );
    let store = f.world.store().await.unwrap();
    assert!(
        store.grant_tokens(grant_of_alice(&f).await).await.is_ok(),
        "still works"
    );

    let second = f.world.actor("telegram:-2", "telegram:1").await.unwrap();
    let outcome = app
        .disconnect_account(&second, account, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::Revoked);
    assert!(f.world.x().token_requests().revocations > 0);
}

#[tokio::test]
async fn a_revocation_x_cannot_take_now_is_kept_sealed_retried_with_backoff_and_the_chat_told() {
    let f = fixture().await;
    let app = f.world.app();
    let [access, refresh] = tokens_of(&f).await;
    // X is down for both tokens (refresh first, then access).
    for _ in 0..2 {
        f.world
            .x()
            .fail_next(Endpoint::Revoke, Failure::ServerError);
    }
    let now = Utc::now();
    let outcome = app
        .disconnect_account(&f.alice.actor, f.alice.accounts[0].id, now)
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::WillRetry);
    let store = f.world.store().await.unwrap();
    let grant = grant_of_alice(&f).await;
    assert!(
        store.grant_tokens(grant).await.is_err(),
        "our copy is erased at once"
    );
    assert_eq!(store.pending_revocation_count().await.unwrap(), 2);
    let bytes = db_bytes(f.world.dir());
    for token in [&access, &refresh] {
        assert!(!contains(&bytes, token), "kept sealed, never in plain text");
    }
    let audit = store.audit_events(Some(f.alice.actor.user)).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::RevokeFailed));

    // Not due yet: nothing is sent.
    let early = app.retry_revocations(now).await.unwrap();
    assert_eq!((early.revoked, early.postponed), (0, 0));
    assert!(f.world.x().revoked_tokens().is_empty());

    // Five minutes on, X throttles the first try and takes the second.
    f.world.x().fail_next(
        Endpoint::Revoke,
        Failure::RateLimited {
            reset_in_secs: 3600,
        },
    );
    let first_retry = now + chrono::Duration::minutes(5);
    let round = app.retry_revocations(first_retry).await.unwrap();
    assert_eq!((round.revoked, round.postponed), (1, 1));
    assert_eq!(store.pending_revocation_count().await.unwrap(), 1);
    assert!(
        !told(&f.world)
            .await
            .iter()
            .any(|t| t.contains("now revoked")),
        "one revocation, one message: not before its last token"
    );
    // The throttled one waits for X's reset, not just the doubled pause.
    let after_pause = first_retry + chrono::Duration::minutes(10);
    assert_eq!(app.retry_revocations(after_pause).await.unwrap().revoked, 0);
    let round = app
        .retry_revocations(Utc::now() + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(round.revoked, 1);
    assert_eq!(store.pending_revocation_count().await.unwrap(), 0);
    let revoked = f.world.x().revoked_tokens();
    assert!(
        revoked.contains(&access) && revoked.contains(&refresh),
        "both reached X"
    );
    let said: Vec<String> = told(&f.world)
        .await
        .into_iter()
        .filter(|t| t.contains("now revoked"))
        .collect();
    assert_eq!(
        said,
        ["autopost's access to @alice (X) is now revoked at X."]
    );
}

#[tokio::test]
async fn a_revocation_unreachable_for_30_days_is_given_up_and_the_chat_told() {
    let f = fixture().await;
    let app = f.world.app();
    for _ in 0..2 {
        f.world
            .x()
            .fail_next(Endpoint::Revoke, Failure::ServerError);
    }
    let now = Utc::now();
    let outcome = app
        .disconnect_account(&f.alice.actor, f.alice.accounts[0].id, now)
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::WillRetry);
    let report = app
        .purge(now + chrono::Duration::days(30) - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(report.revocations_abandoned, 0);
    let report = app.purge(now + chrono::Duration::days(30)).await.unwrap();
    assert_eq!(
        report.revocations_abandoned, 1,
        "one revocation, two tokens"
    );
    let store = f.world.store().await.unwrap();
    assert_eq!(
        store.pending_revocation_count().await.unwrap(),
        0,
        "nothing kept"
    );
    let said: Vec<String> = told(&f.world)
        .await
        .into_iter()
        .filter(|t| t.contains("stopped trying"))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("@alice (X)"), "{said:?}");
}

#[tokio::test]
async fn x_saying_the_token_is_invalid_counts_as_already_revoked() {
    let f = fixture().await;
    for _ in 0..2 {
        f.world
            .x()
            .fail_next(Endpoint::Revoke, Failure::InvalidToken);
    }
    let outcome = f
        .world
        .app()
        .disconnect_account(&f.alice.actor, f.alice.accounts[0].id, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::AlreadyRevoked);
    let store = f.world.store().await.unwrap();
    assert_eq!(
        store.pending_revocation_count().await.unwrap(),
        0,
        "nothing to retry"
    );
    assert!(store.grant_tokens(grant_of_alice(&f).await).await.is_err());
}

#[tokio::test]
async fn a_grant_revoked_before_is_skipped_without_asking_x_and_is_no_failure() {
    let f = fixture().await;
    let store = f.world.store().await.unwrap();
    store
        .mark_grant_revoked(grant_of_alice(&f).await)
        .await
        .unwrap();
    let outcome = f
        .world
        .app()
        .disconnect_account(&f.alice.actor, f.alice.accounts[0].id, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::AlreadyRevoked);
    assert_eq!(f.world.x().token_requests().revocations, 0);

    // Erasing a person whose only grant was revoked before: skipped, not a failure.
    let erasure = f
        .world
        .app()
        .erase_user(f.alice.actor.user, Utc::now())
        .await
        .unwrap();
    assert_eq!((erasure.already_revoked, erasure.retrying), (1, 0));
    assert_eq!(f.world.x().token_requests().revocations, 0);
}

#[tokio::test]
async fn an_erasure_while_x_is_down_erases_at_once_and_keeps_nothing_that_names_the_person() {
    let mut f = fixture().await;
    let [access, _] = tokens_of(&f).await;
    for _ in 0..2 {
        f.world
            .x()
            .fail_next(Endpoint::Revoke, Failure::ServerError);
    }
    let erasure = f
        .world
        .app()
        .erase_user(f.alice.actor.user, Utc::now())
        .await
        .unwrap();
    assert_eq!((erasure.revoked, erasure.retrying), (0, 1));
    let store = f.world.store().await.unwrap();
    assert_eq!(store.pending_revocation_count().await.unwrap(), 2);
    let round = f
        .world
        .app()
        .retry_revocations(Utc::now() + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(round.revoked, 2);
    assert!(f.world.x().revoked_tokens().contains(&access));
    assert!(told(&f.world).await.is_empty(), "nobody is left to tell");
    f.world.shutdown().await.unwrap();
    let bytes = db_bytes(f.world.dir());
    for gone in ["@alice", "2244994945", access.as_str()] {
        assert!(
            !contains(&bytes, gone),
            "{gone} is still in the database files"
        );
    }
}

#[tokio::test]
async fn a_revocation_x_throttles_is_not_tried_again_before_xs_reset() {
    let f = fixture().await;
    let app = f.world.app();
    for _ in 0..2 {
        f.world.x().fail_next(
            Endpoint::Revoke,
            Failure::RateLimited {
                reset_in_secs: 3600,
            },
        );
    }
    let now = Utc::now();
    let outcome = app
        .disconnect_account(&f.alice.actor, f.alice.accounts[0].id, now)
        .await
        .unwrap();
    assert_eq!(outcome, Disconnected::WillRetry);
    let early = app
        .retry_revocations(now + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        (early.revoked, early.postponed),
        (0, 0),
        "not before the reset"
    );
    let later = app
        .retry_revocations(now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(later.revoked, 2);
}
