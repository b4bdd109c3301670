//! The App: built from `Config`, it owns the master key, the store and the web server, and
//! offers the calls the binary and the bots make (run, rotate the key, check health).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::crypto::{CryptoError, KeyId, MasterKey, Sealer};
use crate::data_dir;
use crate::instance::Instance;
use std::sync::{Arc, Mutex, PoisonError};

use crate::data_dir::{DataDirError, DataDirLock};
use crate::key_files::{self, KeyFileError, Outcome as KeyFileOutcome};

use crate::deliveries::DeliveryLog;
use crate::domain::{ChatKind, ChatPlatform, OAuthProvider, Provider};
use crate::front_end::FrontEnd;
use crate::log_ids::LogIds;
use crate::media::MediaFiles;
use crate::meta_callbacks::MetaCallbacks;
use crate::oauth::{Linker, OAuthError};
use crate::platforms::{self, Platforms};
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::store::{Store, StoreError, StoreOptions};
use crate::tokens::TokenKeeper;
use crate::web::{self, WebError, WebState};

pub use crate::key_files::{KEY_FILE, NEW_KEY_FILE};

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `AUTOPOST_MASTER_KEY`.
    Environment,
    /// The key file in the data dir (created on first start).
    File(PathBuf),
}

/// Why the app cannot start or finish a task.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data directory cannot be created, made private or locked, or another autopost
    /// uses it.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The master key cannot be read or created.
    #[error(transparent)]
    Key(#[from] CryptoError),
    /// No key file in the data dir can be used, or one cannot be moved into place.
    #[error(transparent)]
    KeyFiles(#[from] KeyFileError),
    /// The database cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The web server cannot start or failed.
    #[error(transparent)]
    Web(#[from] WebError),
    /// An environment key was rotated, and the variable still holds the old key.
    #[error(
        "the database is sealed with the key in {} (written by rotate-key); set \
         AUTOPOST_MASTER_KEY to its contents and start again, then delete the file",
        new.display()
    )]
    RotationInterrupted {
        /// The new key file.
        new: PathBuf,
    },
    /// This instance could not renew its lease on the shared database; it stopped so that
    /// the instance taking its work over is the only one sending it.
    #[error("this instance lost its lease on the shared database and stopped; start it again")]
    LeaseLost,
    /// A command-line argument is malformed.
    #[error("{0}")]
    BadArgument(String),
    /// Linking could not start.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot set up HTTPS")]
    HttpClient(#[source] reqwest::Error),
    /// A new key file from an unfinished rotation is in the way.
    #[error(
        "{} already exists from an earlier rotate-key; check which key opens the database \
         (`autopost doctor`), then remove the stale file",
        path.display()
    )]
    RotationPending {
        /// The stale file.
        path: PathBuf,
    },
    /// Renaming the key files after a rotation failed.
    #[error("the database now uses the key in {}, but moving key files failed; move it to {} by hand", new.display(), current.display())]
    KeySwap {
        /// The new key file.
        new: PathBuf,
        /// Where it belongs.
        current: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The running core: configuration and the open store.
#[derive(Debug)]
pub struct App {
    config: Config,
    store: Store,
    media: MediaFiles,
    platforms: Platforms,
    linker: Linker,
    meta_callbacks: Option<MetaCallbacks>,
    tokens: Arc<TokenKeeper>,
    scheduler: Arc<Scheduler>,
    instance: Instance,
    key_source: KeySource,
    deliveries: DeliveryLog,
    log_ids: LogIds,
    /// The data dir's lock, held from open until the store closes.
    lock: Mutex<Option<DataDirLock>>,
}

impl App {
    /// Creates the data dir (owner-only) and locks it, loads (or creates) the master key,
    /// opens and migrates the store. A second autopost on the same data dir, or a wrong key,
    /// stops here, before anything is written.
    pub async fn open(config: Config) -> Result<Self, AppError> {
        Self::open_with(config, StoreOptions::default()).await
    }

    /// [`App::open`] without the data dir's lock, for the operator's commands that must
    /// work while `autopost run` serves (`connect`, `export`, `erase`, `audit`: a person
    /// exercises their rights by asking the operator, at any time). They start no scheduler
    /// and no bot, and SQLite keeps their writes and the server's apart.
    pub async fn open_alongside(config: Config) -> Result<Self, AppError> {
        Self::open_as(config, StoreOptions::default(), false).await
    }

    /// [`App::open`] with store options (tests: a switch that stops the database growing).
    pub async fn open_with(config: Config, options: StoreOptions) -> Result<Self, AppError> {
        Self::open_as(config, options, true).await
    }

    async fn open_as(
        config: Config,
        options: StoreOptions,
        exclusive: bool,
    ) -> Result<Self, AppError> {
        data_dir::prepare(&config.data_dir)?;
        let lock = if exclusive {
            Some(DataDirLock::acquire(&config.data_dir)?)
        } else {
            None
        };
        let (key, key_source) = master_key(&config).await?;
        let stale = config.data_dir.join(NEW_KEY_FILE);
        if key_source != KeySource::Environment && stale.exists() {
            // `master_key` would have used it had it opened the database.
            tracing::warn!(
                path = %stale.display(),
                "a rotate-key stopped before the database switched keys; this file opens nothing \
                 and the next rotate-key refuses while it is there: delete it (shred -u)"
            );
        }
        let media_key = key.derive("media links");
        let log_ids = LogIds::new(key.derive("log pseudonyms"));
        // The instance's id names its database sessions too, so that a peer that finds it
        // frozen past its lease can end every one of them.
        let id = crate::instance::new_id();
        let mut options = options;
        if exclusive && options.application_name.is_none() {
            options.application_name = Some(format!("{}{id}", crate::store::SESSION_PREFIX));
        }
        let store = open_store(&config, key, &key_source, options).await?;
        let media = MediaFiles::for_store(&config.data_dir, &store, media_key);
        let instance = if exclusive {
            Instance::join_as(store.clone(), id, crate::instance::default_name()).await?
        } else {
            Instance::detached(store.clone())
        };
        let http_client = platforms::http::client().map_err(AppError::HttpClient)?;
        let platforms = Platforms::from_config(&config, &http_client);
        let linker = Linker::new(
            store.clone(),
            config.public_url.clone(),
            platforms.x.clone(),
            platforms.graph.clone(),
            log_ids.clone(),
        );
        let meta_callbacks = config
            .meta
            .as_ref()
            .map(|meta| MetaCallbacks::new(meta, store.clone(), config.public_url.clone()));
        let tokens = Arc::new(TokenKeeper::new(
            store.clone(),
            platforms.for_provider(Provider::X),
            platforms.for_provider(Provider::FacebookPage),
            log_ids.clone(),
        ));
        let scheduler = Arc::new(Scheduler::new(
            store.clone(),
            instance.clone(),
            platforms.clone(),
            media.clone(),
            config.public_url.clone(),
            tokens.clone(),
            SchedulerConfig::default(),
        ));
        let deliveries = DeliveryLog::start(store.clone());
        Ok(Self {
            log_ids,
            deliveries,
            config,
            store,
            media,
            platforms,
            linker,
            meta_callbacks,
            tokens,
            scheduler,
            instance,
            key_source,
            lock: Mutex::new(lock),
        })
    }

    /// Moves the database's write-ahead log into the file and closes it, for commands that
    /// end without `serve` (which closes the store itself when it stops).
    pub async fn close(&self) {
        self.store.close().await;
        self.release_data_dir();
    }

    /// Lets another process use the data dir: the store is closed, this app writes no more.
    fn release_data_dir(&self) {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// This process among the instances sharing the database: its id, lease and roles.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The configuration the app was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Pseudonyms for log lines: front ends log people and chats only through these
    /// (`app.log_ids().chat(ChatPlatform::Telegram, "-1001")`), never by their ids.
    pub fn log_ids(&self) -> &LogIds {
        &self.log_ids
    }

    /// Where update ids are recorded as seen.
    pub(crate) fn deliveries(&self) -> &DeliveryLog {
        &self.deliveries
    }

    /// The database.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The clients of the configured platforms.
    pub fn platforms(&self) -> &Platforms {
        &self.platforms
    }

    /// Runs OAuth round trips.
    pub fn linker(&self) -> &Linker {
        &self.linker
    }

    /// Publishes due posts.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Keeps tokens fresh.
    pub fn tokens(&self) -> &Arc<TokenKeeper> {
        &self.tokens
    }

    /// Prints the start link for `autopost connect`: `provider` is `x`, `meta`, `facebook`
    /// or `instagram`; chat and user are `PLATFORM:ID` such as `telegram:-1001234567`.
    pub async fn connect_link(
        &self,
        provider: &str,
        chat: &str,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<url::Url, AppError> {
        let provider = match provider.to_ascii_lowercase().as_str() {
            "x" | "twitter" => OAuthProvider::X,
            "meta" | "facebook" | "instagram" => OAuthProvider::Meta,
            other => {
                return Err(AppError::BadArgument(format!(
                    "`{other}` is not a platform; use x, meta, facebook or instagram"
                )));
            }
        };
        let (chat_platform, chat_id) = parse_chat_ref("--chat", chat)?;
        let (user_platform, user_id) = parse_chat_ref("--user", user)?;
        if chat_platform != user_platform {
            return Err(AppError::BadArgument(
                "--chat and --user must be on the same chat platform".to_owned(),
            ));
        }
        let kind = if chat_id == user_id {
            ChatKind::Private
        } else {
            ChatKind::Group
        };
        let user = self
            .store
            .upsert_user(user_platform, user_id, None, now)
            .await?;
        let chat = self
            .store
            .upsert_chat(chat_platform, chat_id, kind, None, now)
            .await?;
        Ok(self
            .linker
            .start_link(provider, user.id, chat.id, now)
            .await?)
    }

    /// A one-time link (10 minutes) that starts linking `provider` accounts of the acting
    /// person to their chat: `/connect` from chat.
    pub async fn start_link(
        &self,
        actor: &crate::domain::Actor,
        provider: OAuthProvider,
        now: DateTime<Utc>,
    ) -> Result<url::Url, OAuthError> {
        self.linker
            .start_link(provider, actor.user, actor.chat, now)
            .await
    }

    /// Stored images and their signed links.
    pub fn media(&self) -> &MediaFiles {
        &self.media
    }

    /// `{AUTOPOST_PUBLIC_URL}/{segments…}`: where the outside world reaches one of the web
    /// server's routes, such as a front end's webhook.
    pub fn public_link(&self, segments: &[&str]) -> url::Url {
        crate::config::public_link(&self.config.public_url, segments)
    }

    /// Where the master key came from.
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    /// Binds the web server's address (`AUTOPOST_LISTEN`; port 0 picks one).
    pub async fn bind(&self) -> Result<TcpListener, AppError> {
        Ok(web::bind(self.config.listen).await?)
    }

    /// Serves on `listener` until `shutdown` resolves, with the token upkeep, the scheduler,
    /// the retention purge, the revocation retries and the chat front ends (their routes merged into the one router, their tasks given
    /// the stop signal); then stops them all, lets in-flight work finish, and closes the
    /// store.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        mut front_ends: Vec<Box<dyn FrontEnd>>,
    ) -> Result<(), AppError> {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(
            listen = %addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
            public_url = %self.config.public_url,
            "web server listening"
        );
        let routes = front_ends.iter_mut().filter_map(|f| f.routes()).collect();
        let router = web::router(
            WebState {
                store: self.store.clone(),
                data_dir: self.config.data_dir.clone(),
                policy_version: self.config.policy_version,
                policy_date: self.config.policy_date,
                media: self.media.clone(),
                linker: self.linker.clone(),
                meta_callbacks: self.meta_callbacks.clone(),
            },
            routes,
        );
        let (stop, stopped) = watch::channel(false);
        // A lost lease stops everything as a signal would, and the process then exits with
        // an error: another instance is taking this one's work over.
        let mut lost = self.instance.lost();
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                _ = lost.wait_for(|lost| *lost) => {}
            }
        };
        // The lease outlives every other task: this instance's row stays until its last
        // publish is written, or a peer would take over targets still being sent.
        let (leave, left) = watch::channel(false);
        let lease = tokio::spawn(self.instance.clone().run(left));
        let mut tasks: Vec<(&'static str, JoinHandle<()>)> = vec![
            (
                "token upkeep",
                tokio::spawn(
                    self.tokens
                        .clone()
                        .run(self.instance.clone(), stopped.clone()),
                ),
            ),
            (
                "scheduler",
                tokio::spawn(self.scheduler.clone().run(stopped.clone())),
            ),
            (
                "retention purge",
                tokio::spawn(self.clone().run_purge(stopped.clone())),
            ),
            (
                "revocation retries",
                tokio::spawn(self.clone().run_revocations(stopped.clone())),
            ),
        ];
        for front_end in front_ends {
            let name = front_end.name();
            tasks.push((name, tokio::spawn(front_end.run(stopped.clone()))));
        }
        let served = web::serve(listener, router, shutdown).await;
        // Stop polling and claiming, let in-flight work finish, then close the store.
        let _ = stop.send(true);
        for (name, task) in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, task = name, "background task ended abnormally");
            }
        }
        let _ = leave.send(true);
        if let Err(e) = lease.await {
            tracing::error!(error = %e, task = "instance lease", "background task ended abnormally");
        }
        self.store.close().await;
        self.release_data_dir();
        if *self.instance.lost().borrow() {
            return Err(AppError::LeaseLost);
        }
        tracing::info!("stopped");
        Ok(served?)
    }
}

fn parse_chat_ref<'a>(flag: &str, text: &'a str) -> Result<(ChatPlatform, &'a str), AppError> {
    let bad = || {
        AppError::BadArgument(format!(
            "{flag} `{text}` is not PLATFORM:ID, such as telegram:-1001234567 or discord:81234"
        ))
    };
    let (platform, id) = text.split_once(':').ok_or_else(bad)?;
    let platform = platform.parse().map_err(|_| bad())?;
    if id.is_empty() || id.len() > 64 {
        return Err(bad());
    }
    Ok((platform, id))
}

/// The master key: `AUTOPOST_MASTER_KEY` if set, else the key file. A key file is created only
/// for a fresh install; an interrupted `rotate-key` is finished when exactly one key file
/// opens the database (see [`key_files`]). Callers hold the data dir's lock.
pub async fn master_key(config: &Config) -> Result<(MasterKey, KeySource), AppError> {
    if let Some(key) = &config.master_key {
        return Ok((key.clone(), KeySource::Environment));
    }
    // An unreadable database is the store's to report when it opens it; here it only means
    // there is no key check to go by.
    let check = Store::key_check(&config.database_url).await.ok().flatten();
    let plan = key_files::plan(&config.data_dir, check.as_ref())?;
    let (key, outcome) = plan.carry_out(&config.data_dir)?;
    let path = config.data_dir.join(KEY_FILE);
    match outcome {
        KeyFileOutcome::Used => {}
        KeyFileOutcome::Created => tracing::warn!(
            path = %path.display(),
            key_id = %key.id(),
            "created a new master key; back it up: without it no stored token can be read"
        ),
        KeyFileOutcome::Recovered { from, set_aside } => tracing::warn!(
            from = %from.display(),
            to = %path.display(),
            set_aside = %set_aside.as_ref().map_or_else(String::new, |p| p.display().to_string()),
            key_id = %key.id(),
            "finished an interrupted rotate-key: the key that opens the database is now the key \
             file; back it up"
        ),
    }
    Ok((key, KeySource::File(path)))
}

async fn open_store(
    config: &Config,
    key: MasterKey,
    source: &KeySource,
    options: StoreOptions,
) -> Result<Store, AppError> {
    match Store::open_with(&config.database_url, Sealer::new(key), options).await {
        Ok(store) => Ok(store),
        Err(StoreError::WrongKey { given, expected }) => {
            // Key files are sorted out before opening (see `master_key`); an environment key
            // left behind by a rotation is not, since autopost cannot change the variable.
            let new = config.data_dir.join(NEW_KEY_FILE);
            if *source == KeySource::Environment && pending_key_matches(&new, &expected) {
                return Err(AppError::RotationInterrupted { new });
            }
            Err(StoreError::WrongKey { given, expected }.into())
        }
        Err(other) => Err(other.into()),
    }
}

fn pending_key_matches(path: &Path, expected: &str) -> bool {
    MasterKey::load(path).is_ok_and(|key| key.id().to_string() == expected)
}

/// What `rotate-key` did.
#[derive(Debug)]
pub struct Rotation {
    /// How many secrets were re-sealed.
    pub secrets: usize,
    /// The retired key.
    pub old_key: KeyId,
    /// The key now in use.
    pub new_key: KeyId,
    /// Where the new key is: the key file, or (for an environment key) a file to copy from.
    pub new_key_file: PathBuf,
    /// Where the old key file was moved, when the key came from a file.
    pub retired_key_file: Option<PathBuf>,
}

/// Re-seals every stored secret under a fresh key in one transaction. The new key is
/// written to disk (0600) before the database switches, so that no moment exists in which
/// the only copy of the key in use is in memory.
pub async fn rotate_key(config: &Config, now: DateTime<Utc>) -> Result<Rotation, AppError> {
    data_dir::prepare(&config.data_dir)?;
    // Held to the end: a running autopost (or a second rotation) must not see the swap.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let (old, source) = master_key(config).await?;
    let store = open_store(config, old.clone(), &source, StoreOptions::default()).await?;
    let new_path = config.data_dir.join(NEW_KEY_FILE);
    if new_path.exists() {
        store.close().await;
        return Err(AppError::RotationPending { path: new_path });
    }
    let new = MasterKey::generate();
    new.write_new_file(&new_path)?;
    let (old_id, new_id) = (old.id(), new.id());
    let resealed = store.reseal_all(&Sealer::rotating(old, new), now).await;
    store.close().await;
    let secrets = match resealed {
        Ok(count) => count,
        Err(e) => {
            // Nothing was committed, so the new key is worthless: remove it.
            let _ = std::fs::remove_file(&new_path);
            return Err(e.into());
        }
    };
    tracing::info!(secrets, old_key = %old_id, new_key = %new_id, "master key rotated");
    let retired_key_file = match source {
        KeySource::Environment => None,
        KeySource::File(current) => {
            let retired = config.data_dir.join(format!("{KEY_FILE}.retired-{old_id}"));
            let swap = std::fs::rename(&current, &retired)
                .and_then(|()| std::fs::rename(&new_path, &current));
            if let Err(source) = swap {
                return Err(AppError::KeySwap {
                    new: new_path,
                    current,
                    source,
                });
            }
            return Ok(Rotation {
                secrets,
                old_key: old_id,
                new_key: new_id,
                new_key_file: current,
                retired_key_file: Some(retired),
            });
        }
    };
    Ok(Rotation {
        secrets,
        old_key: old_id,
        new_key: new_id,
        new_key_file: new_path,
        retired_key_file,
    })
}
