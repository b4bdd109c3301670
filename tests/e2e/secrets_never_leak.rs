//! A stored token's value never appears in log output, error messages or Debug output.

use std::sync::OnceLock;

use autopost::app::App;
use autopost::config::LogFormat;
use autopost::crypto::{MasterKey, Secret};
use autopost::domain::{OAuthProvider, Provider};
use autopost::posting::Draft;
use autopost::tokens::RefreshOutcome;
use autopost_sim::meta::{Endpoint as MetaEndpoint, Failure as MetaFailure, SimMetaConfig};
use autopost_sim::world::{META_APP_ID, X_CLIENT_ID};
use autopost_sim::x::{Endpoint as XEndpoint, Failure as XFailure, SimXConfig};
use autopost_sim::{CapturedLogs, World};
use chrono::{Duration, Utc};

use crate::helpers::{ACCESS_TOKEN, PAGE_TOKEN, REFRESH_TOKEN, seed_secrets};

/// Installs, once per test binary, a trace-level subscriber that records every log line
/// of every thread (sqlx logs from its own worker threads).
fn captured_logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = CapturedLogs::default();
        let subscriber = captured.subscriber("trace", LogFormat::Json).unwrap();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

fn assert_no_token(text: &str, what: &str) {
    for token in [ACCESS_TOKEN, REFRESH_TOKEN, PAGE_TOKEN] {
        assert!(!text.contains(token), "{what} contains {token}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_tokens_never_appear_in_logs_errors_or_debug_output() {
    let logs = captured_logs();
    let mut world = World::builder()
        .var("AUTOPOST_LOG", "trace")
        .open()
        .await
        .unwrap();
    let store = world.store().await.unwrap();
    let grant = seed_secrets(&store).await;
    let tokens = store.grant_tokens(grant).await.unwrap();
    assert_eq!(tokens.access_token.expose(), ACCESS_TOKEN, "sanity");

    // Debug output of everything that holds a token.
    assert_no_token(&format!("{tokens:?}"), "GrantTokens Debug");
    assert_no_token(&format!("{:?}", world.app()), "App Debug");
    let secret = Secret::new(ACCESS_TOKEN);
    assert_no_token(&format!("{secret:?} {secret}"), "Secret Debug/Display");

    // A configuration full of credentials.
    let key = MasterKey::generate();
    let config = world
        .config_with(&[
            (
                "AUTOPOST_TELEGRAM_TOKEN",
                "123456:RefreshTok-91be44d0-do-not-leak",
            ),
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_X_CLIENT_SECRET", ACCESS_TOKEN),
            ("AUTOPOST_META_APP_ID", "1"),
            ("AUTOPOST_META_APP_SECRET", PAGE_TOKEN),
            ("AUTOPOST_MASTER_KEY", key.to_base64().expose()),
        ])
        .unwrap();
    let shown = format!("{config:?}");
    assert_no_token(&shown, "Config Debug");
    assert!(
        !shown.contains(key.to_base64().expose()),
        "master key in Config Debug"
    );
    world.shutdown().await.unwrap();

    // Error messages and their Debug forms, from the paths that handle tokens.
    let err = App::open(config).await.unwrap_err();
    assert_no_token(&format!("{err} {err:?}"), "wrong-key error");
    assert!(!format!("{err:?}").contains(key.to_base64().expose()));

    let bad_key = autopost::config::load(None, |name| {
        (name == "AUTOPOST_MASTER_KEY").then(|| format!("{ACCESS_TOKEN}=="))
    })
    .unwrap_err();
    assert_no_token(&format!("{bad_key} {bad_key:?}"), "config error");

    let output = logs.text();
    assert!(
        output.contains("INSERT INTO grants"),
        "the capture must see sqlx's statement logs:\n{output}"
    );
    assert_no_token(&output, "log output");
}

/// Fails unless none of `secrets` is in the captured logs, the database files (after the
/// world closed them) or `shown` (what the chat was told).
fn assert_nowhere(world: &World, secrets: &[&str], shown: &[String]) {
    let logged = captured_logs().text();
    let stored = crate::helpers::db_bytes(world.dir());
    for secret in secrets {
        assert!(!logged.contains(secret), "{secret} in the log");
        assert!(
            !crate::helpers::contains(&stored, secret),
            "{secret} in the database files"
        );
        for text in shown {
            assert!(!text.contains(secret), "{secret} told to the chat: {text}");
        }
    }
}

/// The texts of the notifications waiting for the chats; for a post that changed, what its
/// status message will show: each target's reason.
async fn notices(world: &World) -> Vec<String> {
    let store = world.store().await.unwrap();
    let mut told = Vec::new();
    for n in store.undelivered_notifications(50).await.unwrap() {
        told.push(n.notification.text);
        if let Some(post) = n.notification.post {
            let view = store.post_view(post).await.unwrap().unwrap();
            told.extend(view.targets.into_iter().filter_map(|t| t.reason));
        }
    }
    told
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x_error_that_echoes_the_tokens_and_client_secret_reaches_no_chat_log_or_row() {
    let _ = captured_logs();
    let client_secret = "x-client-secret-echoed-0001";
    let x = SimXConfig::confidential(X_CLIENT_ID, client_secret);
    let user = x.user.clone();
    let mut world = World::builder().x_with(x).start().await.unwrap();
    let actor = world
        .actor("telegram:-7001", "telegram:7001")
        .await
        .unwrap();
    let seeded = world
        .seed_x_account(&actor, &user, Some(Utc::now() + Duration::hours(2)))
        .await
        .unwrap();
    world
        .x()
        .fail_next(XEndpoint::Tweets, XFailure::EchoCredentials);
    world
        .app()
        .create_post(
            &actor,
            Draft {
                when: "now".to_owned(),
                text: "a post the platform answers carelessly".to_owned(),
                images: Vec::new(),
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    world.wait_for_quiet().await.unwrap();
    let history = world.app().history(actor.chat, 10).await.unwrap();
    let reason = history[0].error.clone().unwrap();
    assert!(
        reason.contains("not accepted: [redacted]"),
        "the platform's words stay, the token goes: {reason}"
    );

    // A refresh whose error repeats the refresh token and the client secret.
    world
        .x()
        .fail_next(XEndpoint::Token, XFailure::EchoCredentials);
    let outcome = world
        .app()
        .tokens()
        .refresh_grant(
            seeded.grant,
            OAuthProvider::X,
            Utc::now() + Duration::hours(3),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Postponed);
    let told = notices(&world).await;
    assert!(told.iter().any(|t| t.contains("[redacted]")), "{told:?}");
    world.shutdown().await.unwrap();
    assert_nowhere(
        &world,
        &[&seeded.access_token, &seeded.refresh_token, client_secret],
        &told,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meta_error_that_echoes_page_and_user_tokens_and_the_app_secret_reaches_no_chat_log_or_row()
 {
    let _ = captured_logs();
    let app_secret = "meta-app-secret-echoed-0002";
    let mut world = World::builder()
        .meta_with(SimMetaConfig::new(META_APP_ID, app_secret))
        .start()
        .await
        .unwrap();
    let linked = world
        .link_meta("telegram:-7002", "telegram:7002")
        .await
        .unwrap();
    let page = linked
        .accounts
        .iter()
        .find(|a| a.provider == Provider::FacebookPage)
        .unwrap();
    let store = world.store().await.unwrap();
    let page_token = store.account_access_token(page.id).await.unwrap();
    let grant = store
        .grants_expiring_before(Utc::now() + Duration::days(365))
        .await
        .unwrap()[0]
        .id;
    let user_token = store.grant_tokens(grant).await.unwrap().access_token;

    world
        .meta()
        .fail_next(MetaEndpoint::Feed, MetaFailure::EchoCredentials);
    world
        .app()
        .create_post(
            &linked.actor,
            Draft {
                when: "now".to_owned(),
                text: "a Page post the platform answers carelessly".to_owned(),
                images: Vec::new(),
                targets: Some(vec![page.id]),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    world.wait_for_quiet().await.unwrap();
    let history = world.app().history(linked.actor.chat, 10).await.unwrap();
    let reason = history[0].error.clone().unwrap();
    assert!(reason.contains("[redacted]"), "{reason}");

    // The long-lived exchange sends the user token and the app secret.
    world
        .meta()
        .fail_next(MetaEndpoint::AccessToken, MetaFailure::EchoCredentials);
    world
        .app()
        .tokens()
        .refresh_grant(grant, OAuthProvider::Meta, Utc::now() + Duration::days(364))
        .await
        .unwrap();
    let told = notices(&world).await;
    world.shutdown().await.unwrap();
    assert_nowhere(
        &world,
        &[page_token.expose(), user_token.expose(), app_secret],
        &told,
    );
}
