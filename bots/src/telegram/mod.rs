//! The Telegram front end: translation only. An update comes in (long polling, or by webhook
//! at `/telegram/webhook`, a route this front end brings to the app's web server when
//! `AUTOPOST_TELEGRAM_WEBHOOK_SECRET` is set), is parsed once into a command with the person,
//! chat and images, goes to `commands`, and the `Reply` goes back out as HTML with an inline
//! keyboard. The core's notifications reach Telegram chats through `commands`' delivery loop.
//!
//! Hazards handled here (SPEC §11): redelivered updates are skipped by `update_id` (the core
//! remembers them); the teloxide `Bot` (whose Debug prints the token) is never formatted;
//! errors from reqwest and teloxide lose every URL (the Bot API URL holds the token) before
//! they are kept or logged. Updates come in through `intake`, are handled in `handle`,
//! answers leave through `outbox`, and pictures are fetched by `files`; `decode` reads
//! Telegram's JSON without I/O.

mod decode;
mod files;
mod handle;
mod intake;
mod outbox;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
mod webhook;

pub use decode::read_update;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autopost::app::App;
use autopost::domain::{ChatKind, ChatPlatform};
use autopost::front_end::{FrontEnd, FrontEndError, FrontEndTask, stopped};
use autopost::images::{ImageError, MAX_INPUT_BYTES};
use autopost::instance::Role;
use autopost::throttle::Allowance;
use bytes::Bytes;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQuery, Chat, FileId, InlineKeyboardButton,
    InlineKeyboardMarkup, InputFile, Message, ParseMode, Update, UpdateKind, User,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::commands::{self, Commands, ParseContext, Reply, VERBS, Verb};

/// What an empty chat with the bot shows, above the Start button: at most 512 characters.
/// <https://core.telegram.org/bots/api#setmydescription>
const DESCRIPTION: &str = "autopost publishes your posts to X, Facebook Pages and Instagram at the \
time you choose, for you or for your whole team in a group.\n\n\
Press Start, agree to the privacy policy, link an account and send \
/post tomorrow 9am | Hello! Your times are read in your own time zone.";

/// The bot's profile line and what a shared link to it shows: at most 120 characters.
/// <https://core.telegram.org/bots/api#setmyshortdescription>
const SHORT_DESCRIPTION: &str =
    "Schedule posts to X, Facebook and Instagram from this chat or your team's group.";

/// The update kinds the bot handles; Telegram sends no others.
const ALLOWED_UPDATES: [AllowedUpdate; 2] = [AllowedUpdate::Message, AllowedUpdate::CallbackQuery];

/// Why a Telegram call failed. No variant carries a URL or the token.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The Bot API refused the call; retrying the same call will not help.
    #[error("the Telegram Bot API refused the call: {description}")]
    Refused {
        /// Telegram's description.
        description: String,
    },
    /// The person blocked the bot or never pressed Start: ask them to open a private chat.
    #[error("Telegram does not let the bot write there: {description}")]
    Forbidden {
        /// Telegram's description.
        description: String,
    },
    /// Flood control: wait this long before the next call.
    #[error("Telegram asks to wait {0:?}")]
    RetryAfter(Duration),
    /// The group became a supergroup with this id.
    // The id stays out of the text: an error's text may reach a log line.
    #[error("the group moved to a supergroup")]
    Migrated(i64),
    /// Nothing usable came back (network, timeout, unreadable answer); a retry may work.
    #[error("cannot reach the Telegram Bot API: {detail}")]
    Unreachable {
        /// The error chain, URLs removed.
        detail: String,
    },
    /// An attached file is over the size limit.
    #[error("the file is {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size (as announced or as read so far).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The core could not record what it must (the database failed).
    #[error("autopost could not record the update")]
    Core(#[from] FrontEndError),
    /// `AUTOPOST_TELEGRAM_TOKEN` is not set.
    #[error("the Telegram bot is not configured (AUTOPOST_TELEGRAM_TOKEN)")]
    NotConfigured,
}

impl From<RequestError> for TelegramError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Api(api) => {
                let description = match &api {
                    ApiError::Unknown(text) => scrub(text),
                    known => scrub(&known.to_string()),
                };
                if is_forbidden(&api, &description) {
                    TelegramError::Forbidden { description }
                } else {
                    TelegramError::Refused { description }
                }
            }
            RequestError::MigrateToChatId(chat) => TelegramError::Migrated(chat.0),
            RequestError::RetryAfter(wait) => TelegramError::RetryAfter(wait.duration()),
            other => TelegramError::Unreachable {
                detail: scrub(&autopost::telemetry::chain(&other)),
            },
        }
    }
}

fn is_forbidden(api: &ApiError, description: &str) -> bool {
    matches!(
        api,
        ApiError::BotBlocked
            | ApiError::CantInitiateConversation
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
    ) || description.starts_with("Forbidden")
}

/// Removes every URL from an error text: the Bot API URL carries the token.
fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        out.push_str("[url]");
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Timings of the bot; the defaults are the production values.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Long-poll timeout of `getUpdates`.
    pub poll_timeout: Duration,
    /// Quiet time after the last part of an album before it is handled as one post.
    pub album_quiet: Duration,
    /// First wait after a failed poll; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest wait after failed polls.
    pub max_backoff: Duration,
    /// Per-user command allowance.
    pub allowance: Allowance,
    /// Wait before sending notifications again after Telegram refused or failed one.
    pub notification_retry: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            poll_timeout: Duration::from_secs(10),
            album_quiet: Duration::from_secs(1),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            allowance: Allowance::default(),
            notification_retry: Duration::from_secs(5),
        }
    }
}

/// The connected Telegram bot. Owns the teloxide `Bot`, which is never formatted: its Debug
/// output holds the token.
#[derive(Clone)]
struct TelegramBot {
    inner: Arc<Inner>,
}

impl fmt::Debug for TelegramBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramBot")
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

struct Inner {
    bot: Bot,
    app: Arc<App>,
    commands: Commands,
    username: String,
    options: Options,
    /// Counts updates taken and done with (handled, ignored, skipped as seen, or buffered as
    /// part of an album): the quiescence signal tests wait on.
    taken: watch::Sender<u64>,
    /// Albums (`chat:media_group_id`) with parts that came to this instance and whose timer
    /// runs; their parts wait in the database.
    albums: Mutex<HashSet<String>>,
    /// The tasks that hand albums on once complete, and that take handled updates out of the
    /// inbox: awaited at shutdown, before the store closes.
    album_timers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Turns true at shutdown, once the albums still gathering were handed on: their timers
    /// stop waiting for a quiet time that no longer matters.
    albums_flushed: watch::Sender<bool>,
}

/// The Telegram front end as `App::serve` runs it. In webhook mode it brings
/// `/telegram/webhook` to the app's web server; its task connects to the Bot API (retrying
/// while it cannot be reached, so start-up never waits on Telegram) and takes updates until
/// the stop.
pub struct TelegramFrontEnd {
    app: Arc<App>,
    options: Options,
    /// Webhook mode: the route's end of the queue (until `routes` hands it out), and intake's.
    hook: Option<(Option<mpsc::Sender<Bytes>>, mpsc::Receiver<Bytes>)>,
    /// Webhook mode: where the sweeper puts updates that an instance which died accepted.
    sweeper: Option<mpsc::Sender<Bytes>>,
    taken: watch::Sender<u64>,
}

impl fmt::Debug for TelegramFrontEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramFrontEnd")
            .field("webhook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl TelegramFrontEnd {
    /// The front end of `app`'s Telegram configuration; `None` when Telegram is off.
    pub fn new(app: Arc<App>, options: Options) -> Option<Self> {
        let config = app.config().telegram.as_ref()?;
        let hook = config.webhook_secret.as_ref().map(|_| {
            let (sender, receiver) = webhook::inbox();
            (Some(sender), receiver)
        });
        let sweeper = hook.as_ref().and_then(|(sender, _)| sender.clone());
        Some(Self {
            app,
            options,
            hook,
            sweeper,
            taken: watch::Sender::new(0),
        })
    }

    /// How many updates the bot has taken and is done with, whether it answered them,
    /// ignored them (group talk), skipped them (seen before) or buffered them (album parts):
    /// wait for a count instead of sleeping to see that nothing more happens.
    pub fn taken_updates(&self) -> watch::Receiver<u64> {
        self.taken.subscribe()
    }
}

impl FrontEnd for TelegramFrontEnd {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn routes(&mut self) -> Option<axum::Router> {
        let secret = self
            .app
            .config()
            .telegram
            .as_ref()?
            .webhook_secret
            .as_ref()?;
        let sender = self.hook.as_mut()?.0.take()?;
        Some(webhook::routes(secret, self.app.clone(), sender))
    }

    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> FrontEndTask {
        Box::pin(self.serve(stop))
    }
}

impl TelegramFrontEnd {
    async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(&self.options);
        let updates = self.hook.map(|(_, receiver)| receiver);
        let mut sweeper = self.sweeper;
        loop {
            let started = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                started = TelegramBot::start_with(self.app.clone(), self.options, self.taken.clone()) => started,
            };
            let wait = match started {
                Ok(bot) => return bot.run(shutdown, updates, sweeper.take()).await,
                Err(TelegramError::NotConfigured) => return,
                Err(e) => {
                    let wait = backoff.next();
                    tracing::error!(error = %autopost::telemetry::chain(&e), retry_ms = wait.as_millis() as u64, "cannot start the Telegram bot");
                    wait
                }
            };
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl TelegramBot {
    /// Connects to the configured Bot API: learns the bot's username (`getMe`), removes a
    /// webhook left from an earlier deployment, and publishes the command menu.
    async fn start_with(
        app: Arc<App>,
        options: Options,
        taken: watch::Sender<u64>,
    ) -> Result<Self, TelegramError> {
        let config = app
            .config()
            .telegram
            .as_ref()
            .ok_or(TelegramError::NotConfigured)?;
        let bot = Bot::new(config.token.expose()).set_api_url(api_base(&config.api_url));
        let me = bot.get_me().await.map_err(TelegramError::from)?;
        let username = me.username().to_owned();
        let webhook = config.webhook_secret.is_some();
        match &config.webhook_secret {
            Some(secret) => {
                let url = app.public_link(&["telegram", "webhook"]);
                bot.set_webhook(url)
                    .secret_token(secret.expose().to_owned())
                    .allowed_updates(ALLOWED_UPDATES)
                    .await
                    .map_err(TelegramError::from)?;
            }
            // getUpdates answers 409 while a webhook is set: remove one left from an earlier
            // deployment.
            None => match bot.get_webhook_info().await {
                Ok(info) if info.url.is_some() => {
                    if let Err(e) = bot.delete_webhook().await {
                        tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot remove the old webhook");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot read the webhook");
                }
            },
        }
        // What a person sees before they write anything: a missing description only makes
        // the bot look unfinished, so a refusal is logged and the bot starts all the same.
        // Before the menu, which stays the last step of starting.
        if let Err(e) = bot.set_my_description().description(DESCRIPTION).await {
            tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot set the bot's description");
        }
        if let Err(e) = bot
            .set_my_short_description()
            .short_description(SHORT_DESCRIPTION)
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot set the bot's short description");
        }
        bot.set_my_commands(
            VERBS
                .iter()
                .map(|verb| BotCommand::new(verb.name, menu_line(verb))),
        )
        .await
        .map_err(TelegramError::from)?;
        tracing::info!(
            bot = %username,
            mode = if webhook { "webhook" } else { "polling" },
            "Telegram bot connected"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                bot,
                commands: Commands::new(app.clone(), options.allowance),
                app,
                taken,
                username,
                options,
                albums: Mutex::new(HashSet::new()),
                album_timers: Mutex::new(Vec::new()),
                albums_flushed: watch::Sender::new(false),
            }),
        })
    }

    /// Takes updates (polling, or from the webhook route's queue) and delivers notifications
    /// until `shutdown` turns true; then waits for the updates being handled. Meanwhile it
    /// sweeps up what instances that died left behind, feeding webhook updates to `sweeper`.
    async fn run(
        self,
        shutdown: watch::Receiver<bool>,
        updates: Option<mpsc::Receiver<Bytes>>,
        sweeper: Option<mpsc::Sender<Bytes>>,
    ) {
        let sweeping = tokio::spawn(self.inner.clone().sweep(sweeper, shutdown.clone()));
        let inner = self.inner.clone();
        let stop = shutdown.clone();
        let notifier = tokio::spawn(async move {
            let mut stop = stop;
            // One instance sends the stored notifications, so none is sent twice.
            if !inner
                .app
                .instance()
                .hold(Role::TelegramNotifier, &mut stop)
                .await
            {
                return;
            }
            commands::deliver_notifications(
                &inner.app,
                ChatPlatform::Telegram,
                &*inner,
                inner.options.notification_retry,
                stop,
            )
            .await;
        });
        match updates {
            Some(updates) => {
                self.inner
                    .clone()
                    .take_webhook_updates(updates, shutdown)
                    .await;
            }
            None => {
                // getUpdates allows one consumer: the instance playing the poller's role.
                let mut shutdown = shutdown;
                if self
                    .inner
                    .app
                    .instance()
                    .hold(Role::TelegramPoller, &mut shutdown)
                    .await
                {
                    self.inner.clone().poll(shutdown).await;
                }
            }
        }
        if let Err(e) = notifier.await {
            tracing::error!(error = %autopost::telemetry::chain(&e), "Telegram notification task ended abnormally");
        }
        if let Err(e) = sweeping.await {
            tracing::error!(error = %autopost::telemetry::chain(&e), "Telegram sweeper ended abnormally");
        }
    }
}

/// A verb's line in Telegram's command menu (1-256 characters): what it does, and how to
/// write its arguments, since the menu is all a person sees while typing.
fn menu_line(verb: &Verb) -> String {
    if verb.args.is_empty() {
        verb.description()
    } else {
        format!("{}: {}", verb.description(), verb.usage)
    }
}

/// The API base teloxide appends `/bot<token>/<method>` to: without a trailing slash.
fn api_base(url: &url::Url) -> url::Url {
    let text = url.as_str().trim_end_matches('/');
    url::Url::parse(text).unwrap_or_else(|_| url.clone())
}

/// Waits after failures in a row: `min_backoff`, doubling up to `max_backoff`.
struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn new(options: &Options) -> Self {
        Self {
            next: options.min_backoff,
            min: options.min_backoff,
            max: options.max_backoff,
        }
    }

    /// The wait after one more failure.
    fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// After a success: the next failure waits the least again.
    fn reset(&mut self) {
        self.next = self.min;
    }
}
