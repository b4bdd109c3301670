//! The demo's world: simulated X, Meta and Telegram on loopback ports, and a real autopost
//! (web server, scheduler, Telegram bot) configured only from an in-memory variable list and
//! a temporary data directory, so no `autopost.toml` or `AUTOPOST_*` variable leaks in.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use autopost::app::App;
use autopost::config;
use autopost::crypto::{self, MasterKey, Secret};
use autopost_sim::SimServer;
use autopost_sim::meta::{self as simmeta, SimMeta, SimMetaConfig, SimMetaUser, SimPage};
use autopost_sim::telegram::{self as simtg, SimTelegram, SimTelegramConfig};
use autopost_sim::x::{self as simx, SimX, SimXConfig, SimXUser};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use autopost::front_end::FrontEnd;

use autopost_bots::telegram::{Options, TelegramFrontEnd};

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

/// Everything the demo runs, until [`World::shut_down`].
pub struct World {
    /// Holds the database and media; removed when dropped.
    _dir: tempfile::TempDir,
    pub x: SimX,
    pub meta: SimMeta,
    pub tg: SimTelegram,
    pub x_url: Url,
    pub meta_url: Url,
    pub tg_url: Url,
    /// autopost's own web server (the OAuth callbacks and media links).
    pub autopost_url: Url,
    servers: Vec<SimServer>,
    stop: watch::Sender<bool>,
    served: JoinHandle<Result<(), autopost::app::AppError>>,
}

impl World {
    /// Starts the simulated platforms, then autopost against them, serving on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temp dir")?;

        let mut x_config = SimXConfig::public(X_CLIENT_ID);
        x_config.user = alice_on_x();
        let (x, x_server) = simx::start(x_config)
            .await
            .context("cannot start the simulated X")?;

        // Fresh random secrets, held only in this process: never printed.
        let meta_secret = crypto::random_token();
        let master_key = MasterKey::generate().to_base64();
        let mut meta_config = SimMetaConfig::new(META_APP_ID, meta_secret.expose());
        meta_config.user = SimMetaUser {
            id: "10158000000000001".to_owned(),
            name: "Alice".to_owned(),
            pages: vec![
                SimPage::new(PAGE_ID, PAGE_NAME).with_instagram(INSTAGRAM_ID, INSTAGRAM_USERNAME),
            ],
        };
        let (meta, meta_server) = simmeta::start(meta_config)
            .await
            .context("cannot start the simulated Meta")?;

        // `<bot id>:<secret>`, as @BotFather issues them.
        let bot_token = Secret::new(format!("7000000001:{}", crypto::random_token().expose()));
        let (tg, tg_server) =
            simtg::start(SimTelegramConfig::new(bot_token.expose(), BOT_USERNAME))
                .await
                .context("cannot start the simulated Telegram")?;

        // Bind first, so that the public URL (and so every OAuth redirect and media link)
        // names the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound port")?;
        let autopost_url = Url::parse(&format!("http://{addr}/"))?;

        let data = dir.path().join("data").display().to_string();
        let listen = addr.to_string();
        let public = autopost_url.to_string();
        let x_url = x_server.url();
        let x_api = x_url.to_string();
        let x_authorize = simx::authorize_url(&x_url).to_string();
        let meta_url = meta_server.url();
        let meta_api = meta_url.to_string();
        let tg_url = tg_server.url();
        let tg_api = tg_url.to_string();
        let vars: Vec<(&str, &str)> = vec![
            ("AUTOPOST_DATA_DIR", &data),
            // A key in memory: no key file to create, nor a warning to back it up.
            ("AUTOPOST_MASTER_KEY", master_key.expose()),
            ("AUTOPOST_LISTEN", &listen),
            ("AUTOPOST_PUBLIC_URL", &public),
            ("AUTOPOST_DEFAULT_TIMEZONE", "UTC"),
            ("AUTOPOST_X_CLIENT_ID", X_CLIENT_ID),
            ("AUTOPOST_X_API_URL", &x_api),
            ("AUTOPOST_X_AUTHORIZE_URL", &x_authorize),
            ("AUTOPOST_META_APP_ID", META_APP_ID),
            ("AUTOPOST_META_APP_SECRET", meta_secret.expose()),
            ("AUTOPOST_META_GRAPH_URL", &meta_api),
            ("AUTOPOST_META_DIALOG_URL", &meta_api),
            ("AUTOPOST_TELEGRAM_TOKEN", bot_token.expose()),
            ("AUTOPOST_TELEGRAM_API_URL", &tg_api),
            ("AUTOPOST_LOG", "warn"),
        ];
        // Nothing from an autopost.toml in the working directory or the environment.
        let config = config::from_variables(&vars).context("invalid demo configuration")?;
        let app = Arc::new(App::open(config).await.context("cannot start autopost")?);

        // The real bot, with shorter waits than production so that the demo stays brisk.
        let options = Options {
            poll_timeout: Duration::from_secs(1),
            album_quiet: Duration::from_millis(300),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            ..Options::default()
        };
        let bot = TelegramFrontEnd::new(app.clone(), options)
            .context("the Telegram bot is not configured")?;
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let front_ends: Vec<Box<dyn FrontEnd>> = vec![Box::new(bot)];
        let served = tokio::spawn(app.clone().serve(listener, shutdown, front_ends));
        Ok(Self {
            _dir: dir,
            x,
            meta,
            tg,
            x_url,
            meta_url,
            tg_url,
            autopost_url,
            servers: vec![x_server, meta_server, tg_server],
            stop,
            served,
        })
    }

    /// Stops autopost as Ctrl-C would (in-flight work drains, the store closes), then the
    /// simulated platforms; the temp dir goes when `self` is dropped.
    pub async fn shut_down(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let served = tokio::time::timeout(Duration::from_secs(10), self.served)
            .await
            .context("autopost did not stop within 10 seconds")?;
        served
            .context("autopost's server task ended abnormally")?
            .context("autopost's web server failed")?;
        drop(self.servers);
        Ok(())
    }
}
