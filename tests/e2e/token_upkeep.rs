//! Token upkeep against the simulated X: refresh before expiry with rotation, one refresh at
//! a time, postponement on a blip, reconnection only when the platform refuses for good.

use std::sync::Arc;

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{AccountState, ChatKind, ChatPlatform, GrantId, OAuthProvider, Provider};
use autopost::platforms::Platform;
use autopost::platforms::x::XClient;
use autopost::store::{NewGrant, NewLinkedAccount, NotificationKind, Store};
use autopost::tokens::{RefreshOutcome, TokenKeeper};
use autopost_sim::x::{self as simx, Endpoint, Failure, SimX, SimXConfig, SimXUser};
use chrono::{Duration, Utc};

use crate::helpers::TestDir;

struct Upkeep {
    _dir: TestDir,
    _server: autopost_sim::SimServer,
    sim: SimX,
    store: Store,
    keeper: Arc<TokenKeeper>,
    grant: GrantId,
}

/// A linked X account whose access token lapses in five minutes.
async fn upkeep() -> Upkeep {
    let (sim, server) = simx::start(SimXConfig::public("client")).await.unwrap();
    let user = SimXUser::new("2244994945", "alice");
    sim.insert_grant(user, "access-0", Some("refresh-0"));
    let dir = TestDir::new();
    let base = server.url().to_string();
    let config = dir.config(&[
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", &base),
    ]);
    let x: Arc<dyn Platform> = Arc::new(XClient::new(
        config.x.as_ref().unwrap(),
        autopost::platforms::http::client().unwrap(),
    ));
    let app = App::open(config).await.unwrap();
    let store = app.store().clone();
    let now = Utc::now();
    let owner = store
        .upsert_user(ChatPlatform::Telegram, "1", Some("alice"), now)
        .await
        .unwrap();
    let chat = store
        .upsert_chat(ChatPlatform::Telegram, "-9", ChatKind::Group, None, now)
        .await
        .unwrap();
    let (grant, _) = store
        .save_linked_grant(
            NewGrant {
                owner: owner.id,
                provider: OAuthProvider::X,
                remote_user_id: "2244994945",
                scopes: "tweet.read tweet.write users.read media.write offline.access",
                access_token: Secret::new("access-0"),
                refresh_token: Some(Secret::new("refresh-0")),
                expires_at: Some(now + Duration::minutes(5)),
            },
            vec![NewLinkedAccount {
                provider: Provider::X,
                remote_id: "2244994945".to_owned(),
                display_name: "@alice".to_owned(),
                access_token: None,
            }],
            chat.id,
            now,
        )
        .await
        .unwrap();
    let keeper = Arc::new(TokenKeeper::new(store.clone(), Some(x), None));
    Upkeep {
        _dir: dir,
        _server: server,
        sim,
        store,
        keeper,
        grant,
    }
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_and_the_rotated_pair_is_stored() {
    let u = upkeep().await;
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Refreshed)]);
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_ne!(tokens.access_token.expose(), "access-0");
    let refresh = tokens.refresh_token.unwrap();
    assert_ne!(refresh.expose(), "refresh-0", "X rotates refresh tokens");
    assert!(tokens.expires_at.unwrap() > Utc::now() + Duration::minutes(100));
    assert_eq!(u.sim.token_requests().refreshes, 1);
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
    let u = upkeep().await;
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
    assert_eq!(u.sim.token_requests().refreshes, 1);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::Active
    );
}

#[tokio::test]
async fn a_network_blip_postpones_the_refresh_and_keeps_the_grant_active() {
    let u = upkeep().await;
    u.sim.fail_next(Endpoint::Token, Failure::ServerError);
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Postponed)]);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::Active
    );
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_eq!(tokens.refresh_token.unwrap().expose(), "refresh-0");
    // The next round succeeds with the same refresh token.
    assert_eq!(
        u.keeper.sweep(Utc::now()).await.unwrap(),
        vec![(u.grant, RefreshOutcome::Refreshed)]
    );
}

#[tokio::test]
async fn a_refused_refresh_marks_the_account_for_reconnection_and_tells_the_chat() {
    let u = upkeep().await;
    // Spend the refresh token behind autopost's back, as a second installation would.
    let spent = spend_refresh_token(&u).await;
    assert!(spent);
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::NeedsReconnect)]);
    assert_eq!(
        u.store.grant_state(u.grant).await.unwrap(),
        AccountState::NeedsReconnect
    );
    let accounts = u
        .store
        .accounts_of_chat(autopost::domain::ChatId(1))
        .await
        .unwrap();
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

/// Uses the grant's refresh token outside autopost.
async fn spend_refresh_token(u: &Upkeep) -> bool {
    let base = u._server.url().to_string();
    let config = u._dir.config(&[
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", &base),
    ]);
    let client = XClient::new(
        config.x.as_ref().unwrap(),
        autopost::platforms::http::client().unwrap(),
    );
    client.refresh(&Secret::new("refresh-0")).await.is_ok()
}

/// A linked Meta grant whose long-lived token lapses in three days.
struct MetaUpkeep {
    _dir: TestDir,
    _server: autopost_sim::SimServer,
    sim: autopost_sim::meta::SimMeta,
    store: Store,
    keeper: Arc<TokenKeeper>,
    grant: GrantId,
}

async fn meta_upkeep() -> MetaUpkeep {
    use autopost_sim::meta::{self as simmeta, SimMetaConfig};
    let (sim, server) = simmeta::start(SimMetaConfig::new("app", "app-secret"))
        .await
        .unwrap();
    sim.insert_user_token("long-lived-0");
    let dir = TestDir::new();
    let base = server.url().to_string();
    let config = dir.config(&[
        ("AUTOPOST_META_APP_ID", "app"),
        ("AUTOPOST_META_APP_SECRET", "app-secret"),
        ("AUTOPOST_META_GRAPH_URL", &base),
        ("AUTOPOST_META_DIALOG_URL", &base),
    ]);
    let app = App::open(config).await.unwrap();
    let store = app.store().clone();
    let now = Utc::now();
    let owner = store
        .upsert_user(ChatPlatform::Telegram, "1", None, now)
        .await
        .unwrap();
    let chat = store
        .upsert_chat(ChatPlatform::Telegram, "-9", ChatKind::Group, None, now)
        .await
        .unwrap();
    let (grant, _) = store
        .save_linked_grant(
            NewGrant {
                owner: owner.id,
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
            chat.id,
            now,
        )
        .await
        .unwrap();
    MetaUpkeep {
        _dir: dir,
        _server: server,
        sim,
        store,
        keeper: app.tokens().clone(),
        grant,
    }
}

#[tokio::test]
async fn a_meta_long_lived_token_is_renewed_a_week_before_it_lapses() {
    let u = meta_upkeep().await;
    let outcomes = u.keeper.sweep(Utc::now()).await.unwrap();
    assert_eq!(outcomes, vec![(u.grant, RefreshOutcome::Refreshed)]);
    assert_eq!(u.sim.token_requests().long_lived_exchanges, 1);
    let tokens = u.store.grant_tokens(u.grant).await.unwrap();
    assert_ne!(tokens.access_token.expose(), "long-lived-0");
    assert!(tokens.expires_at.unwrap() > Utc::now() + Duration::days(50));
    assert!(tokens.refresh_token.is_none());
}

#[tokio::test]
async fn a_dead_meta_token_asks_the_chat_to_reconnect_facebook() {
    let u = meta_upkeep().await;
    u.sim.expire_tokens();
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
