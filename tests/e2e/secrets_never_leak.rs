//! A stored token's value never appears in log output, error messages or Debug output.

use std::sync::OnceLock;

use autopost::app::App;
use autopost::config::LogFormat;
use autopost::crypto::{MasterKey, Secret};
use autopost_sim::{CapturedLogs, World};

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
