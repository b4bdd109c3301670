//! The demo's world: the shared test world (simulated X, Meta, Telegram and Discord on loopback ports,
//! and a real autopost configured only from in-memory variables in a temporary data dir, so
//! no `autopost.toml` or `AUTOPOST_*` variable leaks in), peopled with the demo's cast and
//! served with the real Telegram and Discord bots.

use std::time::Duration;

use anyhow::Context;
use autopost::crypto::{self, Secret};
use autopost_bots::discord::{self, DiscordFrontEnd};
use autopost_bots::telegram::{Options, TelegramFrontEnd};
use autopost_sim::World;
use autopost_sim::discord::SimDiscordConfig;
use autopost_sim::meta::{SimMetaConfig, SimMetaUser, SimPage};
use autopost_sim::telegram::SimTelegramConfig;
use autopost_sim::x::{SimXConfig, SimXUser};

/// The bot's @username in the simulated Telegram.
pub const BOT_USERNAME: &str = "autopost_demo_bot";
/// The Facebook Page the simulated Meta user manages, and its Instagram account.
pub const PAGE_ID: &str = "5550001";
pub const PAGE_NAME: &str = "Alice's Bakery";
pub const INSTAGRAM_ID: &str = "17841400000000001";
pub const INSTAGRAM_USERNAME: &str = "alices_bakery";

const X_CLIENT_ID: &str = "autopost-demo";
const META_APP_ID: &str = "424242";

/// Alice's own X account, and the team's.
pub fn alice_on_x() -> SimXUser {
    SimXUser::new("2244994945", "alices_bakery")
}

pub fn team_on_x() -> SimXUser {
    SimXUser::new("1500000000000000042", "bakery_team")
}

/// The X account of the team that works in Discord.
pub fn discord_team_on_x() -> SimXUser {
    SimXUser::new("1500000000000000043", "bakery_hq")
}

/// Starts the simulated platforms, then autopost against them with the real Telegram bot,
/// serving on a free port.
pub async fn start() -> anyhow::Result<World> {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = alice_on_x();
    // Fresh random secrets, held only in this process: never printed.
    let mut meta = SimMetaConfig::new(META_APP_ID, crypto::random_token().expose());
    meta.user = SimMetaUser {
        id: "10158000000000001".to_owned(),
        name: "Alice".to_owned(),
        pages: vec![
            SimPage::new(PAGE_ID, PAGE_NAME).with_instagram(INSTAGRAM_ID, INSTAGRAM_USERNAME),
        ],
    };
    // `<bot id>:<secret>`, as @BotFather issues them.
    let bot_token = Secret::new(format!("7000000001:{}", crypto::random_token().expose()));
    // The real bot, with shorter waits than production so that the demo stays brisk.
    let options = Options {
        poll_timeout: Duration::from_secs(1),
        album_quiet: Duration::from_millis(300),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        ..Options::default()
    };
    World::builder()
        .x_with(x)
        .meta_with(meta)
        .telegram_with(SimTelegramConfig::new(bot_token.expose(), BOT_USERNAME))
        .discord_with(SimDiscordConfig::random())
        .var("AUTOPOST_DEFAULT_TIMEZONE", "UTC")
        .var("AUTOPOST_LOG", "warn")
        .front_end(move |app| TelegramFrontEnd::new(app, options))
        .front_end(|app| {
            DiscordFrontEnd::new(app, discord::Options::default())
                .ok()
                .flatten()
        })
        .start()
        .await
        .context("cannot start autopost against the simulated platforms")
}
