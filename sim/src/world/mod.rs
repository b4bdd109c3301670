//! The one test world: the real autopost in a temporary data dir, configured only from an
//! in-memory variable list (no autopost.toml, no process environment), against whichever
//! simulated platforms it is built with. Tests, the demo and the benches start here instead
//! of wiring sims, ports and settings by hand.
//!
//! ```no_run
//! # async fn example() -> Result<(), autopost_sim::WorldError> {
//! use autopost_sim::World;
//! let world = World::builder().x().start().await?;
//! let linked = world.link_x("telegram:-1001", "telegram:42").await?;
//! assert_eq!(linked.accounts.len(), 1);
//! # Ok(()) }
//! ```

mod browse;
mod link;
#[cfg(test)]
mod tests;
mod wait;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use autopost::app::{App, AppError};
use autopost::config::{self, Config, ConfigError};
use autopost::crypto::{self, MasterKey, Sealer};
use autopost::front_end::FrontEnd;
use autopost::store::{GrowthSwitch, Store, StoreError, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;
use url::Url;

use crate::SimServer;
use crate::discord::{self as simdc, SimDiscord, SimDiscordConfig};
use crate::meta::{self as simmeta, SimMeta, SimMetaConfig};
use crate::telegram::{self as simtg, SimTelegram, SimTelegramConfig};
use crate::x::{self as simx, SimX, SimXConfig};

pub use browse::{Browser, Hop, Page, Step, browse};
pub use link::{LinkedAccounts, SeededAccount};
pub use wait::{PATIENCE, wait_for_quiet, wait_until};

/// The OAuth client id of the simulated X app that [`WorldBuilder::x`] registers.
pub const X_CLIENT_ID: &str = "autopost-sim-client";
/// The Meta app id that [`WorldBuilder::meta`] registers (its secret is fresh each time).
pub const META_APP_ID: &str = "424242";
/// The bot's @username in the simulated Telegram of [`WorldBuilder::telegram`].
pub const BOT_USERNAME: &str = "autopost_sim_bot";

/// Why a world could not be built, or could not do what was asked. Each says what failed.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The data dir could not be made.
    #[error("cannot create a temporary directory")]
    TempDir(#[source] io::Error),
    /// A simulated platform could not listen on loopback.
    #[error("cannot start the simulated {platform}")]
    Sim {
        /// X, Meta, Telegram or Discord.
        platform: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// autopost's own port could not be bound.
    #[error("cannot listen on 127.0.0.1")]
    Listen(#[source] io::Error),
    /// The variables do not make a valid configuration.
    #[error("the world's configuration is invalid")]
    Config(#[from] ConfigError),
    /// autopost (or its master key) could not be opened.
    #[error("cannot open autopost")]
    Open(#[source] AppError),
    /// A front end handed to the builder found its platform not configured.
    #[error(
        "a front end handed to the world is not configured; enable its simulated platform on the builder"
    )]
    FrontEndOff,
    /// `serve` was called on a world that already serves or was shut down.
    #[error("the world is already serving or was shut down")]
    NotOpen,
    /// Linking needs autopost's web server for its callback.
    #[error("linking needs a serving world; build it with start(), or call serve()")]
    NotServing,
    /// A chat or person is not named as `PLATFORM:ID`.
    #[error("`{name}` is not PLATFORM:ID, such as telegram:-1001 or telegram:42")]
    BadName {
        /// What was given.
        name: String,
    },
    /// autopost refused to make a start link.
    #[error("autopost made no start link")]
    Connect(#[source] AppError),
    /// The HTTP client could not be built.
    #[error("cannot set up an HTTP client")]
    Http(#[source] reqwest::Error),
    /// A page of a round trip could not be opened.
    #[error("cannot open {path}")]
    Browse {
        /// The page's path (its query, which holds one-time codes, is left out).
        path: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A redirect led nowhere, or in circles.
    #[error("the redirect from {path} leads nowhere or in circles")]
    BadRedirect {
        /// Where it came from.
        path: String,
    },
    /// The round trip ended on an error page.
    #[error("linking ended on a page with status {status}")]
    LinkRefused {
        /// The page's status.
        status: u16,
        /// The page, for the test that prints the error.
        page: String,
    },
    /// The database answered with an error.
    #[error("the world's database failed")]
    Store(#[from] StoreError),
    /// The app could not record a person or chat.
    #[error("autopost could not record a person or chat")]
    FrontEnd(#[from] autopost::front_end::FrontEndError),
    /// Something awaited did not happen in time.
    #[error("gave up after {waited:?} waiting for {what}")]
    Stalled {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// autopost did not stop (its in-flight publishes drained) in time after the stop signal.
    #[error("autopost did not stop within {PATIENCE:?}")]
    DidNotStop,
    /// autopost's serving task panicked.
    #[error("autopost's server task ended abnormally")]
    Crashed(#[source] tokio::task::JoinError),
    /// autopost's web server failed.
    #[error("autopost's web server failed")]
    Served(#[source] AppError),
}

/// Builds a front end for the app once it is open (the bots crate hands in its Telegram front
/// end this way; this crate knows no front end).
type MakeFrontEnd = Box<dyn FnOnce(Arc<App>) -> Option<Box<dyn FrontEnd>> + Send>;

/// What a world is made of; see [`World::builder`].
#[must_use]
#[derive(Default)]
pub struct WorldBuilder {
    x: Option<SimXConfig>,
    meta: Option<SimMetaConfig>,
    telegram: Option<SimTelegramConfig>,
    discord: Option<SimDiscordConfig>,
    webhook_secret: Option<String>,
    key_file: bool,
    growth: Option<GrowthSwitch>,
    postgres: bool,
    vars: Vec<(String, String)>,
    front_ends: Vec<MakeFrontEnd>,
}

impl WorldBuilder {
    /// A simulated X with a public PKCE client, and autopost's X settings (API and consent
    /// page) pointed at it.
    pub fn x(self) -> Self {
        self.x_with(SimXConfig::public(X_CLIENT_ID))
    }

    /// The same with this registration and consenting user; a confidential client's secret
    /// becomes `AUTOPOST_X_CLIENT_SECRET`.
    pub fn x_with(mut self, config: SimXConfig) -> Self {
        self.x = Some(config);
        self
    }

    /// A simulated Meta (Graph API and login dialog) with a fresh random app secret, and
    /// autopost's Meta settings pointed at it.
    pub fn meta(self) -> Self {
        let secret = crypto::random_token();
        self.meta_with(SimMetaConfig::new(META_APP_ID, secret.expose()))
    }

    /// The same with this app, user and Pages.
    pub fn meta_with(mut self, config: SimMetaConfig) -> Self {
        self.meta = Some(config);
        self
    }

    /// A simulated Telegram Bot API with a fresh random bot token, and autopost's Telegram
    /// settings pointed at it (the bot itself runs only if a front end is handed in).
    pub fn telegram(self) -> Self {
        // `<bot id>:<secret>`, as @BotFather issues them.
        let token = format!("7000000001:{}", crypto::random_token().expose());
        self.telegram_with(SimTelegramConfig::new(token, BOT_USERNAME))
    }

    /// The same with this bot.
    pub fn telegram_with(mut self, config: SimTelegramConfig) -> Self {
        self.telegram = Some(config);
        self
    }

    /// Telegram (simulated, if not chosen yet) taking updates by webhook with this secret.
    pub fn telegram_webhook(mut self, secret: &str) -> Self {
        self.webhook_secret = Some(secret.to_owned());
        if self.telegram.is_none() {
            self = self.telegram();
        }
        self
    }

    /// A simulated Discord (REST, CDN and gateway) with a fresh random bot token and signing
    /// key, and autopost's Discord settings pointed at it: token, application id, public key
    /// and API URL (the bots run only if a front end is handed in).
    pub fn discord(self) -> Self {
        self.discord_with(SimDiscordConfig::random())
    }

    /// The same with this application; [`SimDiscordConfig::endpoint_only`] leaves the token out
    /// (only the HTTP interactions endpoint), [`SimDiscordConfig::gateway_only`] the public key.
    pub fn discord_with(mut self, config: SimDiscordConfig) -> Self {
        self.discord = Some(config);
        self
    }

    /// Any other `AUTOPOST_*` setting. It wins over what the world chooses (the master key, the
    /// platforms' settings), but not over the data dir, the listen address and the public URL,
    /// which the world owns.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Keeps the master key in the data dir's key file, created on first start as a fresh
    /// installation does, instead of a random `AUTOPOST_MASTER_KEY` held in memory.
    pub fn key_file(mut self) -> Self {
        self.key_file = true;
        self
    }

    /// A fresh database on the test PostgreSQL server (`autopost::test_cluster`) instead of
    /// SQLite: the shared mode, which [`World::another_instance`] joins. Where no PostgreSQL
    /// is installed the world says so on stderr and stays on SQLite; [`World::is_shared`]
    /// tells, so that a test can return early.
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Lets the test stop the database growing, as a full disk would, and resume it: see
    /// [`World::stop_database_growth`].
    pub fn growth_switch(mut self) -> Self {
        self.growth = Some(GrowthSwitch::default());
        self
    }

    /// A chat front end, built from the open app when the world starts serving. `None` (its
    /// platform not configured) fails the start.
    pub fn front_end<F: FrontEnd + 'static>(
        mut self,
        make: impl FnOnce(Arc<App>) -> Option<F> + Send + 'static,
    ) -> Self {
        self.front_ends.push(Box::new(move |app| {
            make(app).map(|front_end| Box::new(front_end) as Box<dyn FrontEnd>)
        }));
        self
    }

    /// Opens autopost in a temporary data dir, on a port already bound (so that the public
    /// URL, and with it every OAuth redirect and media link, names the real port), but does
    /// not serve: white-box tests drive the scheduler and token upkeep themselves. See
    /// [`World::serve`].
    pub async fn open(self) -> Result<World, WorldError> {
        let dir = tempfile::tempdir().map_err(WorldError::TempDir)?;
        // What points autopost at the simulated platforms, gathered as each one starts.
        let mut platform_vars = Vec::new();
        let x = match self.x {
            Some(config) => {
                platform_vars.push(var("AUTOPOST_X_CLIENT_ID", &config.client_id));
                if let Some(secret) = &config.client_secret {
                    platform_vars.push(var("AUTOPOST_X_CLIENT_SECRET", secret));
                }
                let x = Running::start("X", simx::start(config)).await?;
                let authorize = simx::authorize_url(&x.url);
                platform_vars.push(var("AUTOPOST_X_API_URL", x.url.as_str()));
                platform_vars.push(var("AUTOPOST_X_AUTHORIZE_URL", authorize.as_str()));
                Some(x)
            }
            None => None,
        };
        let meta = match self.meta {
            Some(config) => {
                platform_vars.push(var("AUTOPOST_META_APP_ID", &config.app_id));
                platform_vars.push(var("AUTOPOST_META_APP_SECRET", &config.app_secret));
                platform_vars.push(var("AUTOPOST_META_API_VERSION", &config.api_version));
                let meta = Running::start("Meta", simmeta::start(config)).await?;
                platform_vars.push(var("AUTOPOST_META_GRAPH_URL", meta.url.as_str()));
                platform_vars.push(var("AUTOPOST_META_DIALOG_URL", meta.url.as_str()));
                Some(meta)
            }
            None => None,
        };
        let telegram = match self.telegram {
            Some(config) => {
                platform_vars.push(var("AUTOPOST_TELEGRAM_TOKEN", config.token.expose()));
                if let Some(secret) = &self.webhook_secret {
                    platform_vars.push(var("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", secret));
                }
                let telegram = Running::start("Telegram", simtg::start(config)).await?;
                platform_vars.push(var("AUTOPOST_TELEGRAM_API_URL", telegram.url.as_str()));
                Some(telegram)
            }
            None => None,
        };
        let discord = match self.discord {
            Some(config) => {
                let application_id = config.application_id.to_string();
                platform_vars.push(var("AUTOPOST_DISCORD_APPLICATION_ID", &application_id));
                if config.gateway {
                    platform_vars.push(var("AUTOPOST_DISCORD_TOKEN", config.token.expose()));
                }
                if config.endpoint {
                    platform_vars
                        .push(var("AUTOPOST_DISCORD_PUBLIC_KEY", &config.public_key_hex()));
                }
                let discord = Running::start("Discord", simdc::start(config)).await?;
                platform_vars.push(var("AUTOPOST_DISCORD_API_URL", discord.url.as_str()));
                Some(discord)
            }
            None => None,
        };
        let (listener, addr, url) = listen_on_loopback().await?;

        // Earlier entries win in `from_variables`: the world's own, the caller's, the rest.
        let mut vars = vec![
            var("AUTOPOST_DATA_DIR", &dir.path().display().to_string()),
            var("AUTOPOST_LISTEN", &addr.to_string()),
            var("AUTOPOST_PUBLIC_URL", url.as_str()),
        ];
        vars.extend(self.vars);
        if self.postgres {
            match autopost::test_cluster::cluster() {
                Some(cluster) => {
                    let url = cluster.fresh_database().await;
                    vars.push(var("AUTOPOST_DATABASE_URL", &url));
                }
                None => eprintln!(
                    "no PostgreSQL server binaries: this world runs on SQLite, as one instance"
                ),
            }
        }
        if !self.key_file {
            // A key in memory: no key file to create, nor a warning to back it up.
            let key = MasterKey::generate().to_base64();
            vars.push(var("AUTOPOST_MASTER_KEY", key.expose()));
        }
        vars.extend(platform_vars);

        let options = StoreOptions {
            growth: self.growth.clone(),
            ..StoreOptions::default()
        };
        let app = App::open_with(configure(&vars, &[])?, options)
            .await
            .map_err(WorldError::Open)?;
        Ok(World {
            app: Arc::new(app),
            own_url: url.clone(),
            url,
            vars,
            x,
            meta,
            telegram,
            discord,
            front_ends: self.front_ends,
            phase: Phase::Open(listener),
            growth: self.growth,
            store: OnceCell::new(),
            dir,
        })
    }

    /// Opens autopost as [`WorldBuilder::open`] does, then serves: web server, scheduler,
    /// token upkeep and the front ends handed in.
    pub async fn start(self) -> Result<World, WorldError> {
        let mut world = self.open().await?;
        world.serve()?;
        Ok(world)
    }
}

fn var(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// The configuration `first` and then `vars` make, from no file and no process environment.
fn configure(vars: &[(String, String)], first: &[(&str, &str)]) -> Result<Config, WorldError> {
    let mut all: Vec<(&str, &str)> = first.to_vec();
    all.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(config::from_variables(&all)?)
}

/// A simulated platform serving on its own loopback port; shared by every instance of a
/// world.
#[derive(Clone)]
struct Running<S> {
    sim: S,
    url: Url,
    _server: Arc<SimServer>,
}

impl<S> Running<S> {
    async fn start(
        platform: &'static str,
        started: impl Future<Output = io::Result<(S, SimServer)>>,
    ) -> Result<Self, WorldError> {
        let (sim, server) = started
            .await
            .map_err(|source| WorldError::Sim { platform, source })?;
        Ok(Self {
            sim,
            url: server.url(),
            _server: Arc::new(server),
        })
    }
}

enum Phase {
    /// Open on a bound port that nobody answers yet.
    Open(TcpListener),
    /// Serving until `stop` turns true.
    Serving {
        stop: watch::Sender<bool>,
        served: JoinHandle<Result<(), AppError>>,
    },
    /// Stopped and closed.
    Closed,
}

/// autopost running (or open) against simulated platforms, in a temporary data dir that is
/// removed when the world is dropped.
pub struct World {
    app: Arc<App>,
    url: Url,
    /// Where this instance's web server listens: the public URL for the first instance; a
    /// port of its own for the others (behind the one public URL, as behind a balancer).
    own_url: Url,
    /// Everything the configuration was made from, for [`World::config_with`].
    vars: Vec<(String, String)>,
    x: Option<Running<SimX>>,
    meta: Option<Running<SimMeta>>,
    telegram: Option<Running<SimTelegram>>,
    discord: Option<Running<SimDiscord>>,
    front_ends: Vec<MakeFrontEnd>,
    phase: Phase,
    /// Stops the database growing, if the builder asked for it.
    growth: Option<GrowthSwitch>,
    /// The white-box store, opened on first use.
    store: OnceCell<Store>,
    /// Declared last, so that it is removed after everything above is dropped.
    dir: tempfile::TempDir,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The variables hold the master key and the platforms' secrets.
        f.debug_struct("World")
            .field("url", &self.url.as_str())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl World {
    /// Starts describing a world: which simulated platforms, which settings, which front ends.
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// The app.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// autopost's base URL (`AUTOPOST_PUBLIC_URL`): its real port, answered once serving.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Where this instance's own web server listens: [`World::url`] for a world, a port of its
    /// own for [`World::another_instance`] (whose public URL is the first instance's).
    pub fn own_url(&self) -> &Url {
        &self.own_url
    }

    /// Whether the world runs on PostgreSQL (the shared mode), where other instances may join.
    pub fn is_shared(&self) -> bool {
        self.app.config().shared()
    }

    /// Another autopost instance on the same database: a data dir and a listening port of its
    /// own, the same database, master key, public URL and simulated platforms, joined as an
    /// instance (`App::open`). It is open, not serving: hand it front ends with
    /// [`World::with_front_end`], then [`World::serve`]. On SQLite the data dir's lock would
    /// refuse a second instance, so this needs [`WorldBuilder::postgres`].
    pub async fn another_instance(&self) -> Result<World, WorldError> {
        let dir = tempfile::tempdir().map_err(WorldError::TempDir)?;
        let (listener, addr, own_url) = listen_on_loopback().await?;
        // Earlier entries win: this instance's own data dir and port, the rest as the first's.
        let mut vars = vec![
            var("AUTOPOST_DATA_DIR", &dir.path().display().to_string()),
            var("AUTOPOST_LISTEN", &addr.to_string()),
        ];
        vars.extend(self.vars.iter().cloned());
        let app = App::open(configure(&vars, &[])?)
            .await
            .map_err(WorldError::Open)?;
        Ok(World {
            app: Arc::new(app),
            url: self.url.clone(),
            own_url,
            vars,
            x: self.x.clone(),
            meta: self.meta.clone(),
            telegram: self.telegram.clone(),
            discord: self.discord.clone(),
            front_ends: Vec::new(),
            phase: Phase::Open(listener),
            growth: None,
            store: OnceCell::new(),
            dir,
        })
    }

    /// Adds a chat front end, built from the open app when the world starts serving, as
    /// [`WorldBuilder::front_end`] does (for [`World::another_instance`]).
    #[must_use]
    pub fn with_front_end<F: FrontEnd + 'static>(
        mut self,
        make: impl FnOnce(Arc<App>) -> Option<F> + Send + 'static,
    ) -> Self {
        self.front_ends.push(Box::new(move |app| {
            make(app).map(|front_end| Box::new(front_end) as Box<dyn FrontEnd>)
        }));
        self
    }

    /// The temporary data dir (database, key file, media).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The simulated X.
    ///
    /// # Panics
    /// If the world was built without X.
    pub fn x(&self) -> &SimX {
        &enabled(self.x.as_ref(), "X", "x()").sim
    }

    /// Where the simulated X serves.
    ///
    /// # Panics
    /// If the world was built without X.
    pub fn x_url(&self) -> &Url {
        &enabled(self.x.as_ref(), "X", "x()").url
    }

    /// The simulated Meta.
    ///
    /// # Panics
    /// If the world was built without Meta.
    pub fn meta(&self) -> &SimMeta {
        &enabled(self.meta.as_ref(), "Meta", "meta()").sim
    }

    /// Where the simulated Meta serves.
    ///
    /// # Panics
    /// If the world was built without Meta.
    pub fn meta_url(&self) -> &Url {
        &enabled(self.meta.as_ref(), "Meta", "meta()").url
    }

    /// The simulated Telegram Bot API.
    ///
    /// # Panics
    /// If the world was built without Telegram.
    pub fn telegram(&self) -> &SimTelegram {
        &enabled(self.telegram.as_ref(), "Telegram", "telegram()").sim
    }

    /// Where the simulated Telegram serves.
    ///
    /// # Panics
    /// If the world was built without Telegram.
    pub fn telegram_url(&self) -> &Url {
        &enabled(self.telegram.as_ref(), "Telegram", "telegram()").url
    }

    /// The simulated Discord.
    ///
    /// # Panics
    /// If the world was built without Discord.
    pub fn discord(&self) -> &SimDiscord {
        &enabled(self.discord.as_ref(), "Discord", "discord()").sim
    }

    /// Where the simulated Discord's REST API and CDN serve (`AUTOPOST_DISCORD_API_URL`); the
    /// gateway is at [`SimDiscord::gateway_url`].
    ///
    /// # Panics
    /// If the world was built without Discord.
    pub fn discord_url(&self) -> &Url {
        &enabled(self.discord.as_ref(), "Discord", "discord()").url
    }

    /// autopost's own interactions endpoint (`/discord/interactions`), where
    /// [`SimDiscord::deliver`] posts.
    pub fn discord_interactions_url(&self) -> Url {
        // A relative path always joins onto an http base.
        self.own_url
            .join("discord/interactions")
            .unwrap_or_else(|_| unreachable!())
    }

    /// Starts serving an open world: web server, scheduler, token upkeep and the front ends
    /// handed to the builder, on the port bound at open.
    pub fn serve(&mut self) -> Result<(), WorldError> {
        let Phase::Open(listener) = std::mem::replace(&mut self.phase, Phase::Closed) else {
            return Err(WorldError::NotOpen);
        };
        let mut front_ends = Vec::with_capacity(self.front_ends.len());
        for make in self.front_ends.drain(..) {
            front_ends.push(make(self.app.clone()).ok_or(WorldError::FrontEndOff)?);
        }
        let (stop, mut stopping) = watch::channel(false);
        let shutdown = async move { autopost::front_end::stopped(&mut stopping).await };
        let served = tokio::spawn(self.app.clone().serve(listener, shutdown, front_ends));
        self.phase = Phase::Serving { stop, served };
        Ok(())
    }

    /// From now on the app's database cannot grow, as on a full disk: a write that needs a
    /// new page fails with SQLite's "database or disk is full". (The white-box store is not
    /// limited.)
    ///
    /// # Panics
    /// If the world was built without [`WorldBuilder::growth_switch`].
    pub fn stop_database_growth(&self) {
        self.growth_switch().stop();
    }

    /// The app's database may grow again, as when disk space was freed.
    ///
    /// # Panics
    /// If the world was built without [`WorldBuilder::growth_switch`].
    pub fn resume_database_growth(&self) {
        self.growth_switch().resume();
    }

    fn growth_switch(&self) -> &GrowthSwitch {
        self.growth.as_ref().unwrap_or_else(|| {
            panic!("this world has no growth switch: add `.growth_switch()` to its builder")
        })
    }

    /// Whether the web server, scheduler and front ends are running.
    pub fn is_serving(&self) -> bool {
        matches!(self.phase, Phase::Serving { .. })
    }

    /// A second store on the world's database with the same master key, for white-box tests
    /// that seed or inspect rows. Opened on first use and closed by [`World::shutdown`]; after
    /// that, the next call opens a fresh one on the files left behind.
    pub async fn store(&self) -> Result<Store, WorldError> {
        let store = self
            .store
            .get_or_try_init(|| async {
                let config = self.app.config();
                let (key, _) = autopost::app::master_key(config)
                    .await
                    .map_err(WorldError::Open)?;
                Ok::<_, WorldError>(Store::open(&config.database_url, Sealer::new(key)).await?)
            })
            .await?;
        Ok(store.clone())
    }

    /// The world's configuration with `vars` on top: the same data dir, key and platforms,
    /// for tests that open the app again differently. An empty value unsets a variable (such
    /// as `AUTOPOST_MASTER_KEY`, to fall back to the key file).
    pub fn config_with(&self, vars: &[(&str, &str)]) -> Result<Config, WorldError> {
        configure(&self.vars, vars)
    }

    /// Waits until `check` holds, for at most [`PATIENCE`].
    pub async fn wait_until(
        &self,
        what: &str,
        check: impl AsyncFnMut() -> bool,
    ) -> Result<(), WorldError> {
        wait_until(what, PATIENCE, check).await
    }

    /// Waits until the app's scheduler (serving) has nothing due and nothing in flight, after
    /// a tick that began after this call; see [`wait_for_quiet`].
    pub async fn wait_for_quiet(&self) -> Result<(), WorldError> {
        if !self.is_serving() {
            return Err(WorldError::NotServing);
        }
        wait_for_quiet(self.app.scheduler()).await
    }

    /// Stops serving as Ctrl-C would (in-flight work drains, the app's store closes), or
    /// closes an app that was only open; then closes the white-box store. The simulated
    /// platforms keep their records, and the data dir stays until the world is dropped.
    pub async fn shutdown(&mut self) -> Result<(), WorldError> {
        let stopped = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Serving { stop, served } => {
                let _ = stop.send(true);
                match tokio::time::timeout(PATIENCE, served).await {
                    Err(_) => Err(WorldError::DidNotStop),
                    Ok(Err(crashed)) => Err(WorldError::Crashed(crashed)),
                    Ok(Ok(served)) => served.map_err(WorldError::Served),
                }
            }
            Phase::Open(_) => {
                self.app.close().await;
                Ok(())
            }
            Phase::Closed => Ok(()),
        };
        if let Some(store) = self.store.take() {
            store.close().await;
        }
        stopped
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A world dropped while serving (a failed test) at least tells the app to stop.
        if let Phase::Serving { stop, .. } = &self.phase {
            let _ = stop.send(true);
        }
    }
}

fn enabled<'a, S>(sim: Option<&'a Running<S>>, platform: &str, method: &str) -> &'a Running<S> {
    sim.unwrap_or_else(|| {
        panic!("this world has no simulated {platform}: add `.{method}` to its builder")
    })
}

/// A listener on a free loopback port, its address and its http URL.
async fn listen_on_loopback() -> Result<(TcpListener, std::net::SocketAddr, Url), WorldError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(WorldError::Listen)?;
    let addr = listener.local_addr().map_err(WorldError::Listen)?;
    // A socket address always forms a valid http URL.
    let url = Url::parse(&format!("http://{addr}/")).unwrap_or_else(|_| unreachable!());
    Ok((listener, addr, url))
}
