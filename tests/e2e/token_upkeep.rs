//! Token upkeep against the simulated X and Meta: refresh before expiry with rotation, one
//! refresh at a time, postponement on a blip, reconnection only when the platform refuses for
//! good. Grants are seeded in the store: each test needs an exact expiry.

use std::sync::Arc;

use autopost::crypto::{MasterKey, Sealer, Secret};
use autopost::domain::{AccountState, GrantId, OAuthProvider, Provider};
use autopost::domain::{Actor, ChatKind, ChatPlatform};
use autopost::store::{NewGrant, NewLinkedAccount, NotificationKind, Store};
use autopost::tokens::{RefreshOutcome, TokenKeeper};
use autopost_sim::World;
use autopost_sim::world::SeededAccount;
use autopost_sim::x::{Endpoint, Failure, SimXUser};
use chrono::{Duration, Utc};

/// autopost open but not serving (each test sweeps by hand), with one linked grant.
struct Upkeep {
    world: World,
    store: Store,
    keeper: Arc<TokenKeeper>,
    actor: Actor,
    grant: GrantId,
}

/// A linked X account whose access token lapses in five minutes.
async fn upkeep() -> (Upkeep, SeededAccount) {
    let world = World::builder().x().open().await.unwrap();
    let actor = world.actor("telegram:-9", "telegram:1").await.unwrap();
    let user = SimXUser::new("2244994945", "alice");
    let expires = Utc::now() + Duration::minutes(5);
    let seeded = world
        .seed_x_account(&actor, &user, Some(expires))
        .await
        .unwrap();
    let upkeep = Upkeep {
        store: world.store().await.unwrap(),
        keeper: world.app().tokens().clone(),
        grant: seeded.grant,
        world,
        actor,
    };
    (upkeep, seeded)
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_and_the_rotated_pair_is_stored() {
    let (u, seeded) = upkeep().await;
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Refreshed)]);
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_ne!(tokens.access_token.expose(), seeded.access_token);
    let refresh = tokens.refresh_token.unwrap();
    assert_ne!(
        refresh.expose(),
        seeded.refresh_token,
        "X rotates refresh tokens"
    );
    assert!(tokens.expires_at.unwrap() > Utc::now() + Duration::minutes(100));
    assert_eq!(u.world.x().token_requests().refreshes, 1);
    // Nothing left to do until the new token nears its end.
    assert!(u.keeper.sweep(Utc::now()).await.unwrap().is_empty());
    let audit = u.store.audit_events(None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == autopost::store::AuditKind::TokenRefreshed)
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_grant_use_the_single_use_refresh_token_once() {
    let (u, _) = upkeep().await;
    let now = Utc::now();
    let (a, b) = tokio::join!(
        u.keeper.refresh_grant(u.grant, OAuthProvider::X, now),
        u.keeper.refresh_grant(u.grant, OAuthProvider::X, now),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [RefreshOutcome::AlreadyFresh, RefreshOutcome::Refreshed]
    );
    assert_eq!(u.world.x().token_requests().refreshes, 1);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::Active
    );
}

#[tokio::test]
async fn a_network_blip_postpones_the_refresh_and_keeps_the_grant_active() {
    let (u, seeded) = upkeep().await;
    u.world.x().fail_next(Endpoint::Token, Failure::ServerError);
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Postponed)]);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::Active
    );
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_eq!(tokens.refresh_token.unwrap().expose(), seeded.refresh_token);
    // The next round succeeds with the same refresh token.
    assert_eq!(
        u.keeper.sweep(Utc::now()).await.unwrap(),
        vec![(u.grant, RefreshOutcome::Refreshed)]
    );
}

#[tokio::test]
async fn a_refused_refresh_marks_the_account_for_reconnection_and_tells_the_chat() {
    let (u, seeded) = upkeep().await;
    // Spend the refresh token behind autopost's back, as a second installation would.
    let x = u.world.app().platforms().for_provider(Provider::X).unwrap();
    let spent = x.refresh(&Secret::new(seeded.refresh_token.as_str())).await;
    assert!(spent.is_ok());
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::NeedsReconnect)]);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::NeedsReconnect
    );
    let accounts = u.store.accounts_of_chat(u.actor.chat).await.unwrap();
    assert_eq!(accounts[0].state, AccountState::NeedsReconnect);
    let notes = u.store.undelivered_notifications(10).await.unwrap();
    let note = notes
        .iter()
        .find(|n| n.notification.kind == NotificationKind::AccountNeedsReconnect)
        .expect("the chat is told");
    assert!(
        note.notification.text.contains("/connect x"),
        "{}",
        note.notification.text
    );
    // A grant needing reconnection is not retried in a loop.
    assert!(u.keeper.sweep(Utc::now()).await.unwrap().is_empty());
}

/// A linked Facebook Page whose Meta grant (a long-lived user token) lapses in three days.
async fn meta_upkeep() -> Upkeep {
    let world = World::builder().meta().open().await.unwrap();
    world.meta().insert_user_token("long-lived-0");
    let actor = world.actor("telegram:-9", "telegram:1").await.unwrap();
    let store = world.store().await.unwrap();
    let now = Utc::now();
    let (grant, _) = store
        .save_linked_grant(
            NewGrant {
                owner: actor.user,
                provider: OAuthProvider::Meta,
                remote_user_id: "10158000000000001",
                scopes: "pages_manage_posts",
                access_token: Secret::new("long-lived-0"),
                refresh_token: None,
                expires_at: Some(now + Duration::days(3)),
            },
            vec![NewLinkedAccount {
                provider: Provider::FacebookPage,
                remote_id: "5550001".to_owned(),
                display_name: "Alice's Bakery".to_owned(),
                access_token: Some(Secret::new("page-token")),
            }],
            actor.chat,
            now,
        )
        .await
        .unwrap();
    Upkeep {
        store,
        keeper: world.app().tokens().clone(),
        world,
        actor,
        grant,
    }
}

#[tokio::test]
async fn a_meta_long_lived_token_is_renewed_a_week_before_it_lapses() {
    let u = meta_upkeep().await;
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Refreshed)]);
    assert_eq!(u.world.meta().token_requests().long_lived_exchanges, 1);
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_ne!(tokens.access_token.expose(), "long-lived-0");
    assert!(tokens.expires_at.unwrap() > Utc::now() + Duration::days(50));
    assert!(tokens.refresh_token.is_none());
}

#[tokio::test]
async fn a_dead_meta_token_asks_the_chat_to_reconnect_facebook() {
    let u = meta_upkeep().await;
    u.world.meta().expire_tokens();
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::NeedsReconnect)]);
    let notes = u.store.undelivered_notifications(10).await.unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.notification.text.contains("/connect facebook")),
        "{notes:?}"
    );
}

/// Two instances on one PostgreSQL database that find the same access token refused at the
/// same moment: one refreshes, the other uses what it stored, and the single-use refresh
/// token is spent once at X.
#[tokio::test]
async fn two_instances_refreshing_one_grant_at_once_spend_its_refresh_token_once() {
    let Some(cluster) = autopost::test_cluster::cluster() else {
        return;
    };
    let world = World::builder().x().open().await.unwrap();
    let url = cluster.fresh_database().await;
    let key = MasterKey::generate().to_base64();
    let open = async || {
        let key = MasterKey::from_base64(key.expose()).unwrap();
        Store::open(&url, Sealer::new(key)).await.unwrap()
    };
    let (a, b) = (open().await, open().await);
    let now = Utc::now();
    let user = a
        .upsert_user(ChatPlatform::Telegram, "1", None, now)
        .await
        .unwrap();
    let chat = a
        .upsert_chat(ChatPlatform::Telegram, "-9", ChatKind::Group, None, now)
        .await
        .unwrap();
    let x_user = SimXUser::new("2244994945", "alice");
    world
        .x()
        .insert_grant(x_user.clone(), "access-1", Some("refresh-1"));
    let (grant, _) = a
        .save_linked_grant(
            NewGrant {
                owner: user.id,
                provider: OAuthProvider::X,
                remote_user_id: &x_user.id,
                scopes: autopost::platforms::x::SCOPES,
                access_token: Secret::new("access-1"),
                refresh_token: Some(Secret::new("refresh-1")),
                expires_at: Some(now + Duration::minutes(90)),
            },
            vec![NewLinkedAccount {
                provider: Provider::X,
                remote_id: x_user.id.clone(),
                display_name: "@alice".to_owned(),
                access_token: None,
            }],
            chat.id,
            now,
        )
        .await
        .unwrap();
    let x = world.app().platforms().for_provider(Provider::X);
    let log_ids = world.app().log_ids().clone();
    let on_a = TokenKeeper::new(a.clone(), x.clone(), None, log_ids.clone());
    let on_b = TokenKeeper::new(b, x, None, log_ids);
    let rejected = Secret::new("access-1");
    let (first, second) = tokio::join!(
        on_a.refresh_rejected(grant, OAuthProvider::X, &rejected, now),
        on_b.refresh_rejected(grant, OAuthProvider::X, &rejected, now),
    );
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [RefreshOutcome::AlreadyFresh, RefreshOutcome::Refreshed]
    );
    assert_eq!(world.x().token_requests().refreshes, 1);
    assert_eq!(a.grant_state(grant).await.unwrap(), AccountState::Active);
}
