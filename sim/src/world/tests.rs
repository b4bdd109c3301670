//! The world's own promises: front ends handed in are served and stopped, settings reach the
//! app, and misuse says what to do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use autopost::front_end::{FrontEnd, FrontEndTask};
use tokio::sync::watch;

use super::*;

/// A front end that serves `/probe` and records that it saw the stop signal.
struct Probe {
    stopped: Arc<AtomicBool>,
}

impl FrontEnd for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn routes(&mut self) -> Option<axum::Router> {
        Some(axum::Router::new().route("/probe", axum::routing::get(async || "here")))
    }

    fn run(self: Box<Self>, mut stop: watch::Receiver<bool>) -> FrontEndTask {
        Box::pin(async move {
            autopost::front_end::stopped(&mut stop).await;
            self.stopped.store(true, Ordering::SeqCst);
        })
    }
}

#[tokio::test]
async fn a_front_end_handed_in_is_served_on_the_world_port_and_stopped_at_shutdown() {
    let stopped = Arc::new(AtomicBool::new(false));
    let probe = Probe {
        stopped: stopped.clone(),
    };
    let mut world = World::builder()
        .front_end(move |_app| Some(probe))
        .start()
        .await
        .unwrap();
    let page = browse(world.url().join("probe").unwrap()).await.unwrap();
    assert_eq!((page.status, page.body.as_str()), (200, "here"));
    assert!(!stopped.load(Ordering::SeqCst));
    world.shutdown().await.unwrap();
    assert!(stopped.load(Ordering::SeqCst), "the front end saw the stop");
}

#[tokio::test]
async fn a_front_end_whose_platform_is_off_fails_the_start() {
    let err = World::builder()
        .front_end(|_app| None::<Probe>)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, WorldError::FrontEndOff), "{err:?}");
}

#[tokio::test]
async fn the_simulated_platforms_and_settings_reach_the_app() {
    let world = World::builder()
        .x()
        .telegram_webhook("hook-secret")
        .var("AUTOPOST_DEFAULT_TIMEZONE", "Europe/Berlin")
        .open()
        .await
        .unwrap();
    let config = world.app().config();
    let telegram = config.telegram.as_ref().unwrap();
    assert_eq!(&telegram.api_url, world.telegram_url());
    assert!(
        telegram
            .webhook_secret
            .as_ref()
            .unwrap()
            .matches("hook-secret")
    );
    let x = config.x.as_ref().unwrap();
    assert_eq!(&x.api_url, world.x_url());
    assert_eq!(x.client_id, X_CLIENT_ID);
    assert!(config.meta.is_none());
    assert!(config.master_key.is_some(), "a random key, in memory");
    assert_eq!(config.default_time_zone, chrono_tz::Europe::Berlin);
    assert_eq!(&config.public_url, world.url());
    assert_eq!(config.data_dir, world.dir());
}

#[tokio::test]
async fn linking_needs_a_serving_world_and_names_need_a_platform() {
    let world = World::builder().x().open().await.unwrap();
    let err = world.link_x("telegram:-1", "telegram:1").await.unwrap_err();
    assert!(matches!(err, WorldError::NotServing), "{err:?}");
    let err = world.actor("-1", "telegram:1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`-1` is not PLATFORM:ID, such as telegram:-1001 or telegram:42"
    );
}

#[test]
#[should_panic(expected = "this world has no simulated Meta: add `.meta()` to its builder")]
fn asking_for_a_platform_the_world_lacks_says_how_to_add_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(World::builder().open()).unwrap();
    world.meta();
}

#[tokio::test]
async fn a_discord_world_hands_autopost_the_simulated_application() {
    let world = World::builder().discord().open().await.unwrap();
    let discord = world.discord();
    let config = world
        .app()
        .config()
        .discord
        .as_ref()
        .expect("Discord is on");
    assert_eq!(config.application_id, Some(discord.application_id()));
    assert_eq!(
        config.token.as_ref().map(|t| t.expose().to_owned()),
        Some(discord.bot_token().expose().to_owned())
    );
    let key = discord.verifying_key().to_bytes();
    assert_eq!(config.public_key, Some(key));
    assert_eq!(&config.api_url, world.discord_url());
    assert!(
        world
            .discord_interactions_url()
            .as_str()
            .ends_with("/discord/interactions")
    );
}

#[tokio::test]
async fn a_discord_world_can_leave_out_the_token_or_the_key() {
    use crate::discord::SimDiscordConfig;
    let endpoint_only = World::builder()
        .discord_with(SimDiscordConfig::random().endpoint_only())
        .open()
        .await
        .unwrap();
    let config = endpoint_only.app().config().discord.as_ref().unwrap();
    assert!(config.token.is_none() && config.public_key.is_some());
    let gateway_only = World::builder()
        .discord_with(SimDiscordConfig::random().gateway_only())
        .open()
        .await
        .unwrap();
    let config = gateway_only.app().config().discord.as_ref().unwrap();
    assert!(config.token.is_some() && config.public_key.is_none());
}
