//! The Telegram front end: translation only. An update comes in (long polling, or by webhook
//! through the core's `/telegram/webhook` when `AUTOPOST_TELEGRAM_WEBHOOK_SECRET` is set),
//! becomes an `Actor` plus text and images, goes to `commands`, and the `Reply` goes back out
//! as HTML with an inline keyboard. Also delivers the scheduler's notifications to Telegram
//! chats.
//!
//! Hazards handled here (SPEC §11): redelivered updates are skipped by `update_id`; the
//! teloxide `Bot` (whose Debug prints the token) is never formatted; errors from reqwest and
//! teloxide lose every URL (the Bot API URL holds the token) before they are kept or logged.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autopost::app::App;
use autopost::domain::{ChatKind, ChatPlatform};
use autopost::images::{ImageError, MAX_INPUT_BYTES};
use autopost::posting::Actor;
use autopost::store::StoreError;
use autopost::throttle::{Allowance, Throttle};
use bytes::Bytes;
use chrono::Utc;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQuery, Chat, FileId, InlineKeyboardButton,
    InlineKeyboardMarkup, InputFile, Message, ParseMode, Update, UpdateKind, User,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::commands::{self, Command, ParseContext, Reply};

/// Where updates come from, for `first_delivery`.
const SOURCE: &str = "telegram";

/// The update kinds the bot handles; Telegram sends no others.
const ALLOWED_UPDATES: [AllowedUpdate; 2] = [AllowedUpdate::Message, AllowedUpdate::CallbackQuery];

/// The verbs of SPEC §4, as the Telegram command menu shows them.
const MENU: &[(&str, &str)] = &[
    ("start", "What autopost does, privacy notice and examples"),
    ("help", "How to schedule posts, with examples"),
    ("post", "Schedule a post: /post WHEN | TEXT"),
    ("queue", "This chat's pending posts"),
    ("cancel", "Cancel a pending post: /cancel ID"),
    ("edit", "Change a pending post: /edit ID WHEN | TEXT"),
    ("postnow", "Publish a pending post now: /postnow ID"),
    ("history", "Recently published and failed posts"),
    ("connect", "Link an account: /connect x|facebook|instagram"),
    ("accounts", "The accounts this chat posts to"),
    ("disconnect", "Unlink an account: /disconnect ACCOUNT"),
    ("timezone", "Show or set your time zone: /timezone ZONE"),
    ("export", "Your data as a JSON file, sent privately"),
    ("deleteme", "Erase everything autopost keeps about you"),
];

/// Why a Telegram call failed. No variant carries a URL or the token.
// Display and Error are written out below: the bots crate does not depend on thiserror.
#[derive(Debug)]
pub enum TelegramError {
    /// The Bot API refused the call; retrying the same call will not help.
    Refused {
        /// Telegram's description.
        description: String,
    },
    /// The person blocked the bot or never pressed Start: ask them to open a private chat.
    Forbidden {
        /// Telegram's description.
        description: String,
    },
    /// Flood control: wait this long before the next call.
    RetryAfter(Duration),
    /// The group became a supergroup with this id.
    Migrated(i64),
    /// Nothing usable came back (network, timeout, unreadable answer); a retry may work.
    Unreachable {
        /// The error chain, URLs removed.
        detail: String,
    },
    /// An attached file is over the size limit.
    TooLarge {
        /// Its size (as announced or as read so far).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The database failed.
    Store(StoreError),
    /// `AUTOPOST_TELEGRAM_TOKEN` is not set.
    NotConfigured,
}

impl fmt::Display for TelegramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelegramError::Refused { description } => {
                write!(f, "the Telegram Bot API refused the call: {description}")
            }
            TelegramError::Forbidden { description } => {
                write!(
                    f,
                    "Telegram does not let the bot write there: {description}"
                )
            }
            TelegramError::RetryAfter(wait) => write!(f, "Telegram asks to wait {wait:?}"),
            TelegramError::Migrated(chat) => write!(f, "the group moved to the supergroup {chat}"),
            TelegramError::Unreachable { detail } => {
                write!(f, "cannot reach the Telegram Bot API: {detail}")
            }
            TelegramError::TooLarge { bytes, limit } => {
                write!(f, "the file is {bytes} bytes, over the limit of {limit}")
            }
            TelegramError::Store(_) => f.write_str("the database failed"),
            TelegramError::NotConfigured => {
                f.write_str("the Telegram bot is not configured (AUTOPOST_TELEGRAM_TOKEN)")
            }
        }
    }
}

impl std::error::Error for TelegramError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TelegramError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for TelegramError {
    fn from(error: StoreError) -> Self {
        TelegramError::Store(error)
    }
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

/// The running Telegram bot. Owns the teloxide `Bot`, which is never formatted: its Debug
/// output holds the token.
#[derive(Clone)]
pub struct TelegramBot {
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
    throttle: Throttle,
    username: String,
    options: Options,
    /// Updates come from the core's webhook route instead of `getUpdates`.
    webhook: bool,
    albums: Mutex<HashMap<String, Album>>,
    /// The tasks that hand albums on once complete, awaited at shutdown.
    album_timers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Parts of an album seen so far.
struct Album {
    parts: Vec<Message>,
    last_part: Instant,
}

impl TelegramBot {
    /// Connects to the configured Bot API: learns the bot's username (`getMe`), removes a
    /// webhook left from an earlier deployment, and publishes the command menu.
    pub async fn start_with(app: Arc<App>, options: Options) -> Result<Self, TelegramError> {
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
                let url = app.telegram_webhook_url();
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
                        tracing::warn!(error = %TelegramError::from(e), "cannot remove the old webhook");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %TelegramError::from(e), "cannot read the webhook");
                }
            },
        }
        bot.set_my_commands(MENU.iter().map(|(c, d)| BotCommand::new(*c, *d)))
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
                throttle: Throttle::new(options.allowance),
                app,
                username,
                options,
                webhook,
                albums: Mutex::new(HashMap::new()),
                album_timers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Starts the bot (retrying while the Bot API cannot be reached) and runs it until
    /// `shutdown` turns true. For `autopost run`: start-up never waits on Telegram.
    pub async fn serve(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
        let options = Options::default();
        let mut backoff = options.min_backoff;
        loop {
            let started = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                started = Self::start_with(app.clone(), options) => started,
            };
            match started {
                Ok(bot) => return bot.run(shutdown).await,
                Err(TelegramError::NotConfigured) => return,
                Err(e) => {
                    tracing::error!(error = %e, retry_ms = backoff.as_millis() as u64, "cannot start the Telegram bot");
                }
            }
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(options.max_backoff);
        }
    }

    /// Takes updates (polling or webhook) and delivers notifications until `shutdown` turns
    /// true; then waits for the updates being handled.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let notifier = tokio::spawn(self.inner.clone().deliver_notifications(shutdown.clone()));
        if !self.inner.webhook {
            self.inner.clone().poll(shutdown).await;
        } else if let Some(updates) = self.inner.app.take_telegram_updates() {
            self.inner
                .clone()
                .take_webhook_updates(updates, shutdown)
                .await;
        } else {
            tracing::error!("another Telegram bot already takes this app's webhook updates");
        }
        if let Err(e) = notifier.await {
            tracing::error!(error = %e, "Telegram notification task ended abnormally");
        }
    }
}

/// The API base teloxide appends `/bot<token>/<method>` to: without a trailing slash.
fn api_base(url: &url::Url) -> url::Url {
    let text = url.as_str().trim_end_matches('/');
    url::Url::parse(text).unwrap_or_else(|_| url.clone())
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: treat as a stop.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Inner {
    async fn poll(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut offset: i32 = 0;
        let mut backoff = self.options.min_backoff;
        let mut handlers = JoinSet::new();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let timeout = u32::try_from(self.options.poll_timeout.as_secs()).unwrap_or(10);
        loop {
            while handlers.try_join_next().is_some() {}
            // Ask only for what can be handled now: a backlog stays at Telegram, not in memory.
            let free = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                free = wait_for_slots(&slots) => free,
            };
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .limit(u8::try_from(free.min(100)).unwrap_or(100))
                .timeout(timeout)
                .allowed_updates(ALLOWED_UPDATES);
            let answer = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                answer = request.into_future() => answer,
            };
            let wait = match answer {
                Ok(updates) => {
                    backoff = self.options.min_backoff;
                    let next = updates
                        .iter()
                        .map(|u| i32::try_from(u.id.0).unwrap_or(i32::MAX).saturating_add(1))
                        .max();
                    match self.dispatch(&mut handlers, &slots, updates).await {
                        // Confirmed with the next call's offset only once recorded, so a
                        // database failure gets the same updates again instead of losing them.
                        Ok(()) => {
                            offset = next.map_or(offset, |next| offset.max(next));
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot record Telegram updates; asking again");
                            let wait = backoff;
                            backoff = (backoff * 2).min(self.options.max_backoff);
                            wait
                        }
                    }
                }
                Err(e) => {
                    let error = TelegramError::from(e);
                    match error {
                        TelegramError::RetryAfter(wait) => wait,
                        other => {
                            tracing::warn!(error = %other, wait_ms = backoff.as_millis() as u64, "getUpdates failed");
                            let wait = backoff;
                            backoff = (backoff * 2).min(self.options.max_backoff);
                            wait
                        }
                    }
                }
            };
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        while handlers.join_next().await.is_some() {}
        self.finish_albums().await;
    }

    /// Handles the updates the core's webhook route accepted. After the stop the web server
    /// has already closed, so the queue is drained: those updates were answered 200 and
    /// Telegram will not send them again.
    async fn take_webhook_updates(
        self: Arc<Self>,
        mut updates: mpsc::Receiver<Bytes>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut handlers = JoinSet::new();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        loop {
            while handlers.try_join_next().is_some() {}
            // While every slot is busy, updates wait in the route's queue, and once that is
            // full Telegram is told to come back later.
            let free = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                free = wait_for_slots(&slots) => free,
            };
            let body = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                body = updates.recv() => body,
            };
            let Some(body) = body else { break };
            let mut batch = vec![body];
            while batch.len() < free.min(100) {
                match updates.try_recv() {
                    Ok(body) => batch.push(body),
                    Err(_) => break,
                }
            }
            self.dispatch_raw(&mut handlers, &slots, &batch).await;
        }
        updates.close();
        loop {
            wait_for_slots(&slots).await;
            let Some(body) = updates.recv().await else {
                break;
            };
            self.dispatch_raw(&mut handlers, &slots, &[body]).await;
        }
        while handlers.join_next().await.is_some() {}
        self.finish_albums().await;
    }

    /// Reads webhook bodies and dispatches them. Already answered 200, they cannot be asked
    /// for again: a database failure here loses them, and is logged as an error.
    async fn dispatch_raw(
        self: &Arc<Self>,
        handlers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        bodies: &[Bytes],
    ) {
        let updates: Vec<Update> = bodies
            .iter()
            .filter_map(|body| match serde_json::from_slice::<Update>(body) {
                Ok(update) => Some(update),
                // The route checked `update_id`; the rest is Telegram's and may be newer.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a Telegram update; skipped");
                    None
                }
            })
            .collect();
        if let Err(e) = self.dispatch(handlers, slots, updates).await {
            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot record Telegram updates; they are lost");
        }
    }

    /// Records a batch of updates as seen in one write, then handles each one not seen
    /// before (Telegram redelivers when unsure) in its own task holding one slot.
    async fn dispatch(
        self: &Arc<Self>,
        handlers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        updates: Vec<Update>,
    ) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = updates.iter().map(|u| u.id.0.to_string()).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let fresh = self
            .app
            .store()
            .first_deliveries(SOURCE, &id_refs, Utc::now())
            .await?;
        for update in updates {
            let id = update.id.0.to_string();
            if !fresh.contains(&id) {
                tracing::debug!(update_id = update.id.0, "update already handled; skipped");
                continue;
            }
            // The caller waited for free slots; a missing one only means a brief overshoot.
            let slot = slots.clone().try_acquire_owned().ok();
            let inner = self.clone();
            let span = tracing::info_span!(
                "update",
                update_id = update.id.0,
                chat_id = tracing::field::Empty
            );
            handlers.spawn(
                async move {
                    inner.on_update(update).await;
                    drop(slot);
                }
                .instrument(span),
            );
        }
        Ok(())
    }

    /// One update, already known to be new.
    async fn on_update(self: Arc<Self>, update: Update) {
        let result = match update.kind {
            UpdateKind::Message(message) => {
                tracing::Span::current().record("chat_id", message.chat.id.0);
                // Telegram announces an upgrade in both chats; the first one moves the data.
                let migration = match (message.migrate_to_chat_id(), message.migrate_from_chat_id())
                {
                    (Some(to), _) => Some((message.chat.id, *to)),
                    (None, Some(from)) => Some((*from, message.chat.id)),
                    (None, None) => None,
                };
                if let Some((from, to)) = migration {
                    self.follow_migration(from, to).await;
                    return;
                }
                match message.media_group_id() {
                    Some(group) => {
                        let group = group.0.clone();
                        self.album_part(group, message);
                        Ok(())
                    }
                    None => self.on_message(vec![message]).await,
                }
            }
            UpdateKind::CallbackQuery(query) => {
                if let Some(message) = &query.message {
                    tracing::Span::current().record("chat_id", message.chat().id.0);
                }
                self.on_callback(query).await
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "update not handled");
        }
    }

    /// Buffers one part of an album; the first part starts the timer that hands the whole
    /// album on after `album_quiet` without a new part.
    fn album_part(self: &Arc<Self>, group: String, message: Message) {
        let first = {
            let mut albums = self.albums.lock().unwrap_or_else(PoisonError::into_inner);
            let album = albums.entry(group.clone()).or_insert_with(|| Album {
                parts: Vec::new(),
                last_part: Instant::now(),
            });
            album.parts.push(message);
            album.last_part = Instant::now();
            album.parts.len() == 1
        };
        if !first {
            return;
        }
        let inner = self.clone();
        let timer = tokio::spawn(
            async move {
                let quiet = inner.options.album_quiet;
                let mut wait = quiet;
                let parts = loop {
                    tokio::time::sleep(wait).await;
                    let mut albums = inner.albums.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(album) = albums.get(&group) else {
                        return;
                    };
                    let since = album.last_part.elapsed();
                    if since >= quiet {
                        break albums.remove(&group).map(|a| a.parts).unwrap_or_default();
                    }
                    wait = quiet - since;
                };
                if parts.is_empty() {
                    return;
                }
                if let Err(e) = inner.on_message(parts).await {
                    tracing::warn!(error = %e, "album not handled");
                }
            }
            .instrument(tracing::Span::current()),
        );
        let mut timers = self
            .album_timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        timers.retain(|t| !t.is_finished());
        timers.push(timer);
    }

    /// At shutdown: albums still waiting for their quiet time are handled now (their updates
    /// are confirmed and will not come again), and albums being handled are awaited.
    async fn finish_albums(&self) {
        let waiting: Vec<Vec<Message>> = self
            .albums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, album)| album.parts)
            .collect();
        for parts in waiting {
            if let Err(e) = self.on_message(parts).await {
                tracing::warn!(error = %e, "album not handled");
            }
        }
        let timers = std::mem::take(
            &mut *self
                .album_timers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for timer in timers {
            if let Err(e) = timer.await {
                tracing::error!(error = %e, "album task ended abnormally");
            }
        }
    }

    /// One message, or all parts of an album (oldest first).
    async fn on_message(&self, mut parts: Vec<Message>) -> Result<(), TelegramError> {
        parts.sort_by_key(|m| m.id.0);
        let Some(first) = parts.first() else {
            return Ok(());
        };
        let chat = &first.chat;
        let kind = if chat.is_private() {
            ChatKind::Private
        } else if chat.is_group() || chat.is_supergroup() {
            ChatKind::Group
        } else {
            return Ok(()); // channels are not for autopost
        };
        // Anonymous group admins and channels carry no person to act as.
        let Some(from) = first.from.clone().filter(|u| !u.is_bot) else {
            return Ok(());
        };
        let text = parts.iter().find_map(|m| m.text().or_else(|| m.caption()));
        let files: Vec<(FileId, u32)> = parts.iter().filter_map(image_of).collect();
        let is_private = kind == ChatKind::Private;
        let context = ParseContext {
            bot_username: Some(&self.username),
            is_private,
        };
        let Some(text) = text else {
            if is_private && !files.is_empty() {
                let hint = Reply::error(
                    "to post this picture, give it a caption `WHEN | TEXT`, such as `tomorrow 9am | hello`",
                );
                self.send(chat.id, &hint).await?;
            }
            return Ok(());
        };
        // Parse first: ordinary group talk costs no database write, download or admin check.
        let command = match commands::parse(text, context) {
            Ok(None) => return Ok(()),
            Ok(Some(command)) => Some(command),
            Err(_) => None, // `on_message` answers with the parse error
        };
        let actor = self.actor(&from, chat, kind, command.as_ref()).await?;
        let mut images = Vec::new();
        if matches!(command, Some(Command::Post { .. })) {
            for (file, size) in &files {
                match self.download(file, *size).await {
                    Ok(bytes) => images.push(bytes),
                    Err(TelegramError::TooLarge { bytes, limit }) => {
                        let reply =
                            Reply::error(&ImageError::TooLarge { bytes, limit }.to_string());
                        return self.reply(chat, &from, &reply, command.as_ref()).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot download an image");
                        let reply = Reply::error(
                            "I could not fetch your image from Telegram; please send it again",
                        );
                        return self.reply(chat, &from, &reply, command.as_ref()).await;
                    }
                }
            }
        }
        let reply = commands::on_message(
            &self.app,
            &self.throttle,
            &actor,
            text,
            images,
            context,
            Utc::now(),
        )
        .await;
        match reply {
            Some(reply) => self.reply(chat, &from, &reply, command.as_ref()).await,
            None => Ok(()),
        }
    }

    async fn on_callback(&self, query: CallbackQuery) -> Result<(), TelegramError> {
        let data = query.data.clone().unwrap_or_default();
        let Some(message) = &query.message else {
            self.answer(&query, "This button no longer works.").await;
            return Ok(());
        };
        let chat = message.chat();
        let kind = if chat.is_private() {
            ChatKind::Private
        } else {
            ChatKind::Group
        };
        let actor = match self.actor(&query.from, chat, kind, None).await {
            Ok(actor) => actor,
            Err(e) => {
                self.answer(&query, "Something went wrong; please try again.")
                    .await;
                return Err(e);
            }
        };
        let reply = commands::on_button(&self.app, &actor, &data, Utc::now()).await;
        let Some(reply) = reply else {
            self.answer(&query, "This button no longer works.").await;
            return Ok(());
        };
        if reply.refused {
            // Only the presser hears why; the message stays as the others see it.
            self.alert(&query, &short_text(&reply)).await;
            return Ok(());
        }
        self.answer(&query, &short_text(&reply)).await;
        if reply.private || reply.file.is_some() {
            return self.reply(chat, &query.from, &reply, None).await;
        }
        // The outcome replaces the message the button was under, so the button cannot be
        // pressed twice; if Telegram will not edit it (too old), the outcome is sent anew.
        match self.edit(chat.id, message.id(), &reply).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot edit the message under the button");
                self.send(chat.id, &reply).await
            }
        }
    }

    /// Answers a callback query so the client stops its spinner; a failure is only logged.
    async fn answer(&self, query: &CallbackQuery, text: &str) {
        self.answer_with(query, text, false).await;
    }

    /// Answers a callback query with a pop-up only the presser sees.
    async fn alert(&self, query: &CallbackQuery, text: &str) {
        self.answer_with(query, text, true).await;
    }

    async fn answer_with(&self, query: &CallbackQuery, text: &str, alert: bool) {
        if let Err(e) = self
            .bot
            .answer_callback_query(query.id.clone())
            .text(text)
            .show_alert(alert)
            .await
        {
            tracing::warn!(error = %TelegramError::from(e), "cannot answer a button press");
        }
    }

    /// Replaces a message the bot sent with `reply` (text and buttons).
    async fn edit(
        &self,
        chat: ChatId,
        message: teloxide::types::MessageId,
        reply: &Reply,
    ) -> Result<(), TelegramError> {
        self.bot
            .edit_message_text(chat, message, reply.to_telegram_html())
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard(reply).unwrap_or_default())
            .await?;
        Ok(())
    }

    /// The person and chat as the core knows them. Admin rights are asked of Telegram only
    /// when the command needs them (`command` None = a button press, which always may).
    async fn actor(
        &self,
        from: &User,
        chat: &Chat,
        kind: ChatKind,
        command: Option<&Command>,
    ) -> Result<Actor, TelegramError> {
        let now = Utc::now();
        let store = self.app.store();
        let name = from.full_name();
        let user = store
            .upsert_user(
                ChatPlatform::Telegram,
                &from.id.0.to_string(),
                Some(&name),
                now,
            )
            .await?;
        let title = chat.title();
        let stored = store
            .upsert_chat(
                ChatPlatform::Telegram,
                &chat.id.0.to_string(),
                kind,
                title,
                now,
            )
            .await?;
        let needs_admin = match command {
            None => true,
            Some(command) => matches!(
                command,
                Command::Cancel { .. }
                    | Command::Edit { .. }
                    | Command::PostNow { .. }
                    | Command::Connect { .. }
                    | Command::Disconnect { .. }
            ),
        };
        // In a private chat the person is the whole team.
        let is_admin = if kind == ChatKind::Private {
            true
        } else if needs_admin {
            match self.bot.get_chat_member(chat.id, from.id).await {
                Ok(member) => member.is_privileged(),
                Err(e) => {
                    tracing::warn!(error = %TelegramError::from(e), "cannot read admin rights");
                    false
                }
            }
        } else {
            false
        };
        Ok(Actor {
            user: user.id,
            chat: stored.id,
            is_admin,
        })
    }

    /// Sends `reply` where it belongs: a `private` reply written in a group goes to the
    /// person's private chat; if Telegram refuses (they never pressed Start), the group is
    /// told how to fix it.
    async fn reply(
        &self,
        chat: &Chat,
        from: &User,
        reply: &Reply,
        command: Option<&Command>,
    ) -> Result<(), TelegramError> {
        if !reply.private || chat.is_private() {
            return self.send(chat.id, reply).await;
        }
        let private = ChatId(i64::try_from(from.id.0).unwrap_or(i64::MAX));
        match self.send(private, reply).await {
            Ok(()) if matches!(command, Some(Command::Connect { .. })) => {
                self.send(chat.id, &Reply::connect_link_sent()).await
            }
            Ok(()) => {
                self.send_plain(chat.id, "I answered you in a private message.")
                    .await
            }
            Err(TelegramError::Forbidden { .. }) => {
                let text = format!(
                    "{}, I cannot message you privately yet: open a private chat with @{} and press Start, then ask again.",
                    from.first_name, self.username
                );
                self.send_plain(chat.id, &text).await
            }
            Err(e) => Err(e),
        }
    }

    /// Points everything kept for the group `from` at the supergroup `to` it became.
    async fn follow_migration(&self, from: ChatId, to: ChatId) {
        let store = self.app.store();
        match store
            .migrate_chat(
                ChatPlatform::Telegram,
                &from.0.to_string(),
                &to.0.to_string(),
            )
            .await
        {
            Ok(true) => tracing::info!(from = from.0, to = to.0, "group became a supergroup"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %autopost::telemetry::chain(&e), from = from.0, to = to.0, "cannot follow a group to its supergroup");
            }
        }
    }

    /// One reply as HTML with its buttons, or as a document with a caption; sent again to
    /// the supergroup if the group was upgraded meanwhile.
    async fn send(&self, chat: ChatId, reply: &Reply) -> Result<(), TelegramError> {
        match self.send_once(chat, reply).await {
            Err(TelegramError::Migrated(to)) => {
                self.follow_migration(chat, ChatId(to)).await;
                self.send_once(ChatId(to), reply).await
            }
            other => other,
        }
    }

    async fn send_once(&self, chat: ChatId, reply: &Reply) -> Result<(), TelegramError> {
        let keyboard = keyboard(reply);
        if let Some(file) = &reply.file {
            let document =
                InputFile::memory(Bytes::from(file.bytes.clone())).file_name(file.name.clone());
            let mut request = self
                .bot
                .send_document(chat, document)
                .caption(reply.to_telegram_html_within(commands::TELEGRAM_CAPTION_LIMIT))
                .parse_mode(ParseMode::Html);
            if let Some(keyboard) = keyboard {
                request = request.reply_markup(keyboard);
            }
            request.await?;
            return Ok(());
        }
        let mut request = self
            .bot
            .send_message(chat, reply.to_telegram_html())
            .parse_mode(ParseMode::Html);
        if let Some(keyboard) = keyboard {
            request = request.reply_markup(keyboard);
        }
        request.await?;
        Ok(())
    }

    async fn send_plain(&self, chat: ChatId, text: &str) -> Result<(), TelegramError> {
        match self
            .bot
            .send_message(chat, text)
            .await
            .map_err(TelegramError::from)
        {
            Err(TelegramError::Migrated(to)) => {
                self.follow_migration(chat, ChatId(to)).await;
                self.bot.send_message(ChatId(to), text).await?;
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Downloads a file from Telegram's own file URL, refusing it early when its announced
    /// size is over the limit and stopping the read as soon as it passes the limit.
    async fn download(&self, file: &FileId, announced: u32) -> Result<Bytes, TelegramError> {
        let limit = MAX_INPUT_BYTES;
        if u64::from(announced) > limit {
            return Err(TelegramError::TooLarge {
                bytes: u64::from(announced),
                limit,
            });
        }
        let file = self.bot.get_file(file.clone()).await?;
        if u64::from(file.meta.size) > limit {
            return Err(TelegramError::TooLarge {
                bytes: u64::from(file.meta.size),
                limit,
            });
        }
        let Some(config) = self.app.config().telegram.as_ref() else {
            return Err(TelegramError::Refused {
                description: "the Telegram bot is not configured".to_owned(),
            });
        };
        let url = format!(
            "{}/file/bot{}/{}",
            config.api_url.as_str().trim_end_matches('/'),
            config.token.expose(),
            file.path.trim_start_matches('/')
        );
        let unreachable = |e: &(dyn std::error::Error + 'static)| TelegramError::Unreachable {
            detail: scrub(&autopost::telemetry::chain(e)),
        };
        let mut response = self
            .bot
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e.without_url()))?;
        if !response.status().is_success() {
            return Err(TelegramError::Refused {
                description: format!("file download answered {}", response.status()),
            });
        }
        if let Some(length) = response.content_length()
            && length > limit
        {
            return Err(TelegramError::TooLarge {
                bytes: length,
                limit,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable(&e.without_url()))?
        {
            let read = (bytes.len() + chunk.len()) as u64;
            if read > limit {
                return Err(TelegramError::TooLarge { bytes: read, limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(bytes))
    }

    /// Sends the stored notifications meant for Telegram chats: the backlog at start, then
    /// whenever one is stored; after a failed send, again after `RETRY_NOTIFICATIONS`.
    async fn deliver_notifications(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut stored = self.app.store().watch_notifications();
        while !*shutdown.borrow() {
            // Marks everything stored so far as seen: what follows wakes the next round.
            stored.borrow_and_update();
            let retry = match self.deliver_backlog().await {
                Backlog::Delivered => None,
                Backlog::More => continue,
                Backlog::Failed(asked) => {
                    Some(asked.map_or(self.options.notification_retry, |wait| {
                        wait.max(self.options.notification_retry)
                    }))
                }
            };
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                changed = stored.changed() => if changed.is_err() { break },
                () = sleep_or_never(retry) => {}
            }
        }
    }

    async fn deliver_backlog(&self) -> Backlog {
        let store = self.app.store();
        let pending = match store
            .undelivered_notifications_on(ChatPlatform::Telegram, NOTIFICATION_PAGE)
            .await
        {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!(error = %autopost::telemetry::chain(&e), "cannot read notifications");
                return Backlog::Failed(None);
            }
        };
        let full_page = pending.len() >= NOTIFICATION_PAGE as usize;
        for (stored, remote) in pending {
            let notification = &stored.notification;
            let Ok(chat_id) = remote.parse::<i64>() else {
                tracing::warn!(
                    notification = stored.id,
                    "notification for a chat id Telegram cannot have; dropped"
                );
                if let Err(e) = store
                    .mark_notification_delivered(stored.id, Utc::now())
                    .await
                {
                    tracing::error!(error = %autopost::telemetry::chain(&e), "cannot mark a notification delivered");
                }
                continue;
            };
            let text = match &notification.link {
                Some(link) => format!("{}\n{link}", notification.text),
                None => notification.text.clone(),
            };
            match self.send_plain(ChatId(chat_id), &text).await {
                // Forbidden will never work (the bot was removed or blocked): drop it.
                Ok(()) | Err(TelegramError::Forbidden { .. }) => {
                    if let Err(e) = store
                        .mark_notification_delivered(stored.id, Utc::now())
                        .await
                    {
                        tracing::error!(error = %autopost::telemetry::chain(&e), "cannot mark a notification delivered");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, chat_id, "cannot deliver a notification; will retry");
                    let asked = match e {
                        TelegramError::RetryAfter(wait) => Some(wait),
                        _ => None,
                    };
                    return Backlog::Failed(asked); // keep the order
                }
            }
        }
        if full_page {
            Backlog::More
        } else {
            Backlog::Delivered
        }
    }
}

/// The reply's buttons as one row of an inline keyboard; `None` without buttons.
fn keyboard(reply: &Reply) -> Option<InlineKeyboardMarkup> {
    (!reply.buttons.is_empty()).then(|| {
        InlineKeyboardMarkup::new([reply
            .buttons
            .iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.callback_data()))
            .collect::<Vec<_>>()])
    })
}

/// Updates handled at once; more wait at Telegram (polling) or in the webhook queue.
const MAX_IN_FLIGHT: usize = 256;

/// Waits until at least one handler slot is free; returns how many are.
async fn wait_for_slots(slots: &Semaphore) -> usize {
    if slots.available_permits() == 0 {
        // Dropped at once: this only waits for a handler to finish.
        let _ = slots.acquire().await;
    }
    slots.available_permits().max(1)
}

/// How a round of notification delivery ended.
enum Backlog {
    /// Nothing is left.
    Delivered,
    /// A full page went out; there may be more.
    More,
    /// Reading or sending failed; try again later (not before Telegram's Retry-After).
    Failed(Option<Duration>),
}

/// Notifications read per round.
const NOTIFICATION_PAGE: u32 = 200;

async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// The file id and announced size of the picture in a message: the largest photo size, or
/// an image document.
fn image_of(message: &Message) -> Option<(FileId, u32)> {
    if let Some(sizes) = message.photo() {
        return sizes
            .iter()
            .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file.size))
            .map(|p| (p.file.id.clone(), p.file.size));
    }
    let document = message.document()?;
    document
        .mime_type
        .as_ref()
        .is_some_and(|m| m.essence_str().starts_with("image/"))
        .then(|| (document.file.id.clone(), document.file.size))
}

/// The first line of a reply as plain text, short enough for a callback answer.
fn short_text(reply: &Reply) -> String {
    let line = reply
        .text
        .iter()
        .map(|commands::Block::Line(spans)| {
            spans
                .iter()
                .map(|span| match span {
                    commands::Span::Plain(t)
                    | commands::Span::Bold(t)
                    | commands::Span::Code(t) => t.as_str(),
                    commands::Span::Link { text, .. } => text.as_str(),
                })
                .collect::<String>()
        })
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| "Done.".to_owned());
    let mut short: String = line.chars().take(190).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use autopost::crypto::Secret;
    use autopost::domain::{OAuthProvider, Provider};
    use autopost::sim::SimServer;
    use autopost::sim::meta::{self as simmeta, SimMeta, SimMetaConfig};
    use autopost::sim::telegram::{
        self as simtg, Failure, MemberStatus, SimChat, SimMessage, SimTelegram, SimTelegramConfig,
        SimUser,
    };
    use autopost::sim::x::{self as simx, SimX, SimXConfig, SimXUser};
    use autopost::store::{NewGrant, NewLinkedAccount};

    const TOKEN: &str = "123456:ABC-test-do-not-leak";
    const BOT: &str = "autopost_bot";
    const WAIT: Duration = Duration::from_secs(5);

    /// A valid 1x1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    const WEBHOOK_SECRET: &str = "hook-secret_42";

    struct Fixture {
        _dir: tempfile::TempDir,
        _servers: (SimServer, SimServer, SimServer),
        x: SimX,
        meta: SimMeta,
        tg: SimTelegram,
        app: Arc<App>,
        /// autopost's own web server.
        base: url::Url,
        stop: watch::Sender<bool>,
        served: tokio::task::JoinHandle<()>,
    }

    async fn fixture() -> Fixture {
        fixture_with(false).await
    }

    /// The whole app as `autopost run` starts it (web server, scheduler, token upkeep, the
    /// bot as its front end), against simulated X and Telegram; `webhook` sets
    /// AUTOPOST_TELEGRAM_WEBHOOK_SECRET.
    async fn fixture_with(webhook: bool) -> Fixture {
        let (x, x_server) = simx::start(SimXConfig::public("client")).await.unwrap();
        x.insert_grant(SimXUser::new("2244994945", "team"), "tok", Some("ref"));
        let (meta, meta_server) = simmeta::start(SimMetaConfig::new("app", "secret"))
            .await
            .unwrap();
        meta.insert_user_token("meta-user");
        meta.insert_page_token("5550001", "page-token");
        let (tg, tg_server) = simtg::start(SimTelegramConfig::new(TOKEN, BOT))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let data = dir.path().display().to_string();
        let x_url = x_server.url().to_string();
        let tg_url = tg_server.url().to_string();
        let meta_url = meta_server.url().to_string();
        let public = base.to_string();
        let mut vars = vec![
            ("AUTOPOST_DATA_DIR", data.as_str()),
            ("AUTOPOST_PUBLIC_URL", public.as_str()),
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_X_API_URL", x_url.as_str()),
            ("AUTOPOST_META_APP_ID", "app"),
            ("AUTOPOST_META_APP_SECRET", "secret"),
            ("AUTOPOST_META_GRAPH_URL", meta_url.as_str()),
            ("AUTOPOST_META_DIALOG_URL", meta_url.as_str()),
            ("AUTOPOST_TELEGRAM_TOKEN", TOKEN),
            ("AUTOPOST_TELEGRAM_API_URL", tg_url.as_str()),
        ];
        if webhook {
            vars.push(("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET));
        }
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let config = autopost::config::load(Some(&empty), |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        let app = Arc::new(App::open(config).await.unwrap());
        let options = Options {
            poll_timeout: Duration::from_secs(1),
            album_quiet: Duration::from_millis(300),
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            allowance: Allowance::default(),
            notification_retry: Duration::from_millis(100),
        };
        let bot = TelegramBot::start_with(app.clone(), options).await.unwrap();
        let shown = format!("{bot:?}");
        assert!(
            !shown.contains("ABC-test") && shown.contains(BOT),
            "Debug shows the username, never the token: {shown}"
        );
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let served = tokio::spawn(app.clone().serve(listener, shutdown, move |stopped| {
            vec![("telegram", tokio::spawn(bot.run(stopped)))]
        }));
        let served = tokio::spawn(async move { served.await.unwrap().unwrap() });
        Fixture {
            _dir: dir,
            _servers: (x_server, meta_server, tg_server),
            x,
            meta,
            tg,
            app,
            base,
            stop,
            served,
        }
    }

    impl Fixture {
        /// Links the simulated X account to the Telegram chat `chat`, owned by `owner`.
        async fn link_x(&self, chat: i64, kind: ChatKind, owner: i64) {
            let grant = |owner| NewGrant {
                owner,
                provider: OAuthProvider::X,
                remote_user_id: "2244994945",
                scopes: "",
                access_token: Secret::new("tok"),
                refresh_token: Some(Secret::new("ref")),
                expires_at: None,
            };
            let team = NewLinkedAccount {
                provider: Provider::X,
                remote_id: "2244994945".to_owned(),
                display_name: "@team".to_owned(),
                access_token: None,
            };
            self.link(chat, kind, owner, grant, vec![team]).await;
        }

        /// Links the simulated Facebook Page `Alice's Bakery` and its Instagram account to the
        /// Telegram chat `chat`, owned by `owner`.
        async fn link_meta(&self, chat: i64, kind: ChatKind, owner: i64) {
            let grant = |owner| NewGrant {
                owner,
                provider: OAuthProvider::Meta,
                remote_user_id: "10158000000000001",
                scopes: "pages_manage_posts",
                access_token: Secret::new("meta-user"),
                refresh_token: None,
                expires_at: None,
            };
            let page = |provider, remote_id: &str, name: &str| NewLinkedAccount {
                provider,
                remote_id: remote_id.to_owned(),
                display_name: name.to_owned(),
                access_token: Some(Secret::new("page-token")),
            };
            let accounts = vec![
                page(Provider::FacebookPage, "5550001", "Alice's Bakery"),
                page(Provider::Instagram, "17841400000000001", "@alices_bakery"),
            ];
            self.link(chat, kind, owner, grant, accounts).await;
        }

        /// Stores a grant of `owner` (as `grant` builds it for their user id) and links its
        /// `accounts` to the Telegram chat `chat`.
        async fn link(
            &self,
            chat: i64,
            kind: ChatKind,
            owner: i64,
            grant: impl FnOnce(autopost::domain::UserId) -> NewGrant<'static>,
            accounts: Vec<NewLinkedAccount>,
        ) {
            let now = Utc::now();
            let store = self.app.store();
            let user = store
                .upsert_user(ChatPlatform::Telegram, &owner.to_string(), None, now)
                .await
                .unwrap();
            let chat = store
                .upsert_chat(ChatPlatform::Telegram, &chat.to_string(), kind, None, now)
                .await
                .unwrap();
            store
                .save_linked_grant(grant(user.id), accounts, chat.id, now)
                .await
                .unwrap();
        }

        async fn queue_len(&self, chat: i64) -> usize {
            let chat = self
                .app
                .store()
                .upsert_chat(
                    ChatPlatform::Telegram,
                    &chat.to_string(),
                    if chat > 0 {
                        ChatKind::Private
                    } else {
                        ChatKind::Group
                    },
                    None,
                    Utc::now(),
                )
                .await
                .unwrap();
            self.app.queue(chat.id).await.unwrap().len()
        }

        /// Messages sent to `chat`, waiting until at least `n` arrived.
        async fn messages_to(&self, chat: i64, n: usize) -> Vec<String> {
            let deadline = Instant::now() + WAIT;
            loop {
                let texts: Vec<String> = self
                    .tg
                    .sent_messages()
                    .into_iter()
                    .filter(|m| m.chat_id == chat)
                    .map(|m| m.text)
                    .collect();
                if texts.len() >= n || Instant::now() >= deadline {
                    return texts;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        async fn shutdown(self) {
            let _ = self.stop.send(true);
            tokio::time::timeout(WAIT, self.served)
                .await
                .expect("the app and the bot stop promptly on shutdown")
                .unwrap();
        }
    }

    fn bob() -> SimUser {
        SimUser::new(1001, "Bob")
    }

    #[tokio::test]
    async fn start_publishes_every_verb_as_a_command() {
        let f = fixture().await;
        let calls = f.tg.commands();
        let names: Vec<_> = calls[0]
            .commands
            .iter()
            .map(|c| c.command.as_str())
            .collect();
        for verb in [
            "start",
            "help",
            "post",
            "queue",
            "cancel",
            "edit",
            "postnow",
            "history",
            "connect",
            "accounts",
            "disconnect",
            "timezone",
            "export",
            "deleteme",
        ] {
            assert!(names.contains(&verb), "{verb} missing from {names:?}");
        }
        f.shutdown().await;
    }

    #[tokio::test]
    async fn a_private_photo_with_a_caption_is_published_with_its_image_and_notified() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let file = f.tg.add_file(PNG.to_vec(), None);
        f.tg.push_photo(
            &SimChat::private(&bob),
            &bob,
            &file,
            Some("in 2 seconds | hi"),
        );
        let confirmation = f.messages_to(bob.id, 1).await;
        assert!(
            confirmation[0].contains("@team"),
            "confirmed with targets: {confirmation:?}"
        );
        let tweets = f.x.wait_for_tweets(1, Duration::from_secs(8)).await;
        assert_eq!(tweets.len(), 1);
        assert_eq!(tweets[0].text, "hi");
        assert_eq!(tweets[0].media_ids.len(), 1);
        assert_eq!(f.tg.downloads().len(), 1);
        let notified = f.messages_to(bob.id, 2).await;
        assert_eq!(
            notified.len(),
            2,
            "the published notification reaches the chat"
        );
        assert!(
            notified[1].contains(&tweets[0].id),
            "with the link: {notified:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.x.tweets().len(), 1, "exactly one tweet");
        f.shutdown().await;
    }

    #[tokio::test]
    async fn two_members_of_a_group_share_one_queue() {
        let f = fixture().await;
        let group = SimChat::group(-500, "team");
        let (alice, bob) = (SimUser::new(1, "Alice"), SimUser::new(2, "Bob"));
        f.link_x(group.id, ChatKind::Group, alice.id).await;
        f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | from alice");
        f.messages_to(group.id, 1).await;
        f.tg.push_group_text(
            &group,
            &bob,
            &format!("/post@{BOT} tomorrow 10am | from bob"),
        );
        f.messages_to(group.id, 2).await;
        f.tg.push_group_text(&group, &bob, "/queue");
        let texts = f.messages_to(group.id, 3).await;
        let queue = &texts[2];
        assert!(
            queue.contains("from alice") && queue.contains("from bob"),
            "{queue}"
        );
        assert_eq!(f.queue_len(group.id).await, 2);
        f.tg.push_group_text(&group, &bob, "just chatting about lunch");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            f.messages_to(group.id, 3).await.len(),
            3,
            "plain talk is ignored"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn only_the_author_or_an_admin_may_cancel_and_the_cancel_button_is_answered() {
        let f = fixture().await;
        let group = SimChat::group(-600, "team");
        let (alice, bob, carol) = (
            SimUser::new(11, "Alice"),
            SimUser::new(12, "Bob"),
            SimUser::new(13, "Carol"),
        );
        f.link_x(group.id, ChatKind::Group, alice.id).await;
        f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | first");
        f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | second");
        f.messages_to(group.id, 2).await;
        let ids: Vec<i64> = {
            let chat = f
                .app
                .store()
                .upsert_chat(
                    ChatPlatform::Telegram,
                    "-600",
                    ChatKind::Group,
                    None,
                    Utc::now(),
                )
                .await
                .unwrap();
            f.app
                .queue(chat.id)
                .await
                .unwrap()
                .iter()
                .map(|p| p.post.0)
                .collect()
        };
        assert_eq!(ids.len(), 2);
        f.tg.push_group_text(&group, &bob, &format!("/cancel {}", ids[0]));
        let refused = f.messages_to(group.id, 3).await;
        assert!(refused[2].contains("admin"), "{}", refused[2]);
        assert_eq!(f.queue_len(group.id).await, 2);
        f.tg.set_member_status(group.id, carol.id, MemberStatus::Administrator);
        f.tg.push_group_text(&group, &carol, &format!("/cancel {}", ids[0]));
        f.messages_to(group.id, 4).await;
        assert_eq!(f.queue_len(group.id).await, 1);
        // The button under the confirmation: Bob may not, and only he hears so.
        let sent = f.tg.sent_messages();
        let under = sent[1].message_id;
        let data = commands::ButtonAction::Cancel(autopost::domain::PostId(ids[1])).callback_data();
        f.tg.push_callback(&bob, group.id, under, &data);
        let answered = f.tg.wait_for_answered_callbacks(1, WAIT).await;
        assert!(answered[0].show_alert, "a refusal pops up for the presser");
        assert!(
            answered[0]
                .text
                .as_deref()
                .is_some_and(|t| t.contains("admin"))
        );
        assert_eq!(f.queue_len(group.id).await, 1);
        assert!(f.tg.edited_messages().is_empty(), "the confirmation stays");
        // Its author may: the confirmation becomes the outcome, without buttons.
        f.tg.push_callback(&alice, group.id, under, &data);
        let answered = f.tg.wait_for_answered_callbacks(2, WAIT).await;
        assert!(!answered[1].show_alert);
        assert!(answered[1].text.as_deref().is_some_and(|t| !t.is_empty()));
        let deadline = Instant::now() + WAIT;
        while f.tg.edited_messages().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let edited = f.tg.edited_messages();
        assert_eq!(edited.len(), 1);
        assert_eq!(edited[0].message_id, under);
        assert!(edited[0].text.contains("Cancelled post"), "{edited:?}");
        let no_buttons = edited[0]
            .reply_markup
            .as_ref()
            .is_none_or(|m| m["inline_keyboard"].as_array().is_some_and(Vec::is_empty));
        assert!(no_buttons, "{edited:?}");
        assert_eq!(f.queue_len(group.id).await, 0);
        assert_eq!(f.tg.sent_messages().len(), 4, "no new message for a button");
        // A forged or stale button is still answered.
        f.tg.push_callback(&bob, group.id, under, "junk");
        assert_eq!(f.tg.wait_for_answered_callbacks(3, WAIT).await.len(), 3);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn bad_input_in_a_private_chat_gets_helpful_replies_and_queues_nothing() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        f.tg.push_private_text(&bob, "/post yesterday 9am | hi");
        let past = f.messages_to(bob.id, 1).await;
        assert!(past[0].contains("passed"), "{past:?}");
        f.tg.push_private_text(&bob, &format!("in 1 hour | {}", "a".repeat(300)));
        let long = f.messages_to(bob.id, 2).await;
        assert!(long[1].contains("280"), "{long:?}");
        let file = f.tg.add_file(PNG.to_vec(), None);
        f.tg.push_photo(
            &SimChat::private(&bob),
            &bob,
            &file,
            Some("tomorrow 9am hello"),
        );
        let no_bar = f.messages_to(bob.id, 3).await;
        assert!(no_bar[2].contains('|'), "{no_bar:?}");
        f.tg.push_private_text(&bob, "/post someday soon | hi");
        let unknown = f.messages_to(bob.id, 4).await;
        assert!(
            unknown[3].contains("tomorrow 9am"),
            "an example of a time: {unknown:?}"
        );
        f.tg.push_photo(&SimChat::private(&bob), &bob, &file, Some("Launch day!"));
        let no_time = f.messages_to(bob.id, 5).await;
        assert!(
            no_time[4].contains("WHEN | TEXT") || no_time[4].contains('|'),
            "{no_time:?}"
        );
        assert_eq!(f.queue_len(bob.id).await, 0);
        assert!(
            f.tg.downloads().is_empty(),
            "nothing downloaded for a refused post"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn an_album_of_three_photos_becomes_one_post_with_three_images() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let files: Vec<_> = (0..3).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
        f.tg.push_album(
            &SimChat::private(&bob),
            &bob,
            &files,
            Some("in 1 second | three pictures"),
        );
        let tweets = f.x.wait_for_tweets(1, Duration::from_secs(8)).await;
        assert_eq!(tweets.len(), 1);
        assert_eq!(tweets[0].media_ids.len(), 3);
        assert_eq!(tweets[0].text, "three pictures");
        assert_eq!(f.tg.downloads().len(), 3);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn an_album_becomes_one_instagram_carousel_and_one_facebook_multi_photo_post() {
        let f = fixture().await;
        let bob = bob();
        f.link_meta(bob.id, ChatKind::Private, bob.id).await;
        let files: Vec<_> = (0..3).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
        f.tg.push_album(
            &SimChat::private(&bob),
            &bob,
            &files,
            Some("in 1 second | three cakes"),
        );
        let confirmation = f.messages_to(bob.id, 1).await;
        assert!(
            confirmation[0].contains("Alice's Bakery")
                && confirmation[0].contains("@alices_bakery"),
            "both targets confirmed: {confirmation:?}"
        );
        // Both targets publish, then each sends its notification.
        let notified = f.messages_to(bob.id, 3).await;
        assert_eq!(notified.len(), 3, "two notifications: {notified:?}");
        let feed = f.meta.feed_posts();
        assert_eq!(feed.len(), 1, "one Facebook post: {feed:?}");
        assert_eq!(feed[0].message.as_deref(), Some("three cakes"));
        assert_eq!(feed[0].photo_ids.len(), 3, "with the three photos");
        let unattached = f.meta.photos().iter().filter(|p| p.published).count();
        assert_eq!(unattached, 0, "no photo posted on its own");
        let posts = f.meta.ig_media();
        assert_eq!(posts.len(), 1, "one Instagram post: {posts:?}");
        let containers = f.meta.containers();
        let carousel = containers
            .iter()
            .find(|c| c.id == posts[0].container_id)
            .unwrap();
        assert_eq!(carousel.children.len(), 3, "a carousel of three");
        assert_eq!(carousel.caption.as_deref(), Some("three cakes"));
        for child in &carousel.children {
            let item = containers.iter().find(|c| &c.id == child).unwrap();
            assert!(item.is_carousel_item);
            let fetched = item.fetched.as_ref().expect("Instagram fetched the image");
            assert!(fetched.starts_with(&[0xFF, 0xD8]), "as a JPEG");
        }
        assert_eq!(f.tg.downloads().len(), 3, "each part downloaded once");
        f.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_mode_registers_the_hook_and_handles_updates_with_the_right_secret() {
        let f = fixture_with(true).await;
        let hook = f.tg.webhook().expect("setWebhook was called");
        let url = f.base.join("telegram/webhook").unwrap();
        assert_eq!(hook.url, url.as_str());
        assert_eq!(hook.secret_token.as_deref(), Some(WEBHOOK_SECRET));
        assert_eq!(
            hook.allowed_updates,
            Some(vec!["message".to_owned(), "callback_query".to_owned()])
        );
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let id = f.tg.push_private_text(&bob, "tomorrow 9am | by webhook");
        let update = f.tg.update(id).unwrap();
        let status =
            f.tg.deliver_webhook(&url, update.clone(), Some(WEBHOOK_SECRET))
                .await;
        assert_eq!(status, 200);
        let replies = f.messages_to(bob.id, 1).await;
        assert!(replies[0].contains("@team"), "confirmed: {replies:?}");
        assert_eq!(f.queue_len(bob.id).await, 1);
        // Telegram resends when unsure; the second delivery changes nothing.
        let again =
            f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
                .await;
        assert_eq!(again, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.queue_len(bob.id).await, 1);
        assert_eq!(f.tg.sent_messages().len(), 1);
        assert_eq!(
            f.tg.requests("getUpdates"),
            0,
            "no polling beside the webhook"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_requests_without_the_right_secret_get_401_and_change_nothing() {
        let f = fixture_with(true).await;
        let url = f.base.join("telegram/webhook").unwrap();
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let id = f.tg.push_private_text(&bob, "tomorrow 9am | forged");
        let update = f.tg.update(id).unwrap();
        for secret in [None, Some("wrong"), Some(""), Some("hook-secret_4")] {
            let status = f.tg.deliver_webhook(&url, update.clone(), secret).await;
            assert_eq!(status, 401, "secret {secret:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.queue_len(bob.id).await, 0);
        assert!(f.tg.sent_messages().is_empty(), "nothing answered");
        // The refused update was not marked as seen: the genuine delivery still works.
        let status =
            f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
                .await;
        assert_eq!(status, 200);
        assert_eq!(f.messages_to(bob.id, 1).await.len(), 1);
        assert_eq!(f.queue_len(bob.id).await, 1);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn the_webhook_route_does_not_exist_while_polling() {
        let f = fixture().await;
        let url = f.base.join("telegram/webhook").unwrap();
        let bob = bob();
        let id = f.tg.push_private_text(&bob, "/help");
        let update = f.tg.update(id).unwrap();
        let status =
            f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
                .await;
        assert_eq!(status, 404);
        assert!(f.tg.webhook().is_none());
        f.shutdown().await;
    }

    #[tokio::test]
    async fn a_group_upgraded_to_a_supergroup_keeps_its_queue_and_accounts() {
        let f = fixture().await;
        let group = SimChat::group(-500, "team");
        let alice = SimUser::new(1, "Alice");
        f.link_x(group.id, ChatKind::Group, alice.id).await;
        f.tg.add_chat(&SimChat::supergroup(-100_500, "team"));
        f.tg.fail_next(
            "sendMessage",
            Failure::MigratedToSupergroup { chat_id: -100_500 },
        );
        f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | still here");
        let replies = f.messages_to(-100_500, 1).await;
        assert!(
            replies[0].contains("@team"),
            "answered in the supergroup: {replies:?}"
        );
        assert_eq!(f.queue_len(-100_500).await, 1, "the queue moved along");
        // The service message that follows finds the move already done.
        f.tg.push_raw(serde_json::json!({
            "message": {
                "message_id": 77,
                "date": 1_700_000_000,
                "chat": {"id": -500, "type": "group", "title": "team"},
                "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
                "migrate_to_chat_id": -100_500
            }
        }));
        f.tg.push_group_text(
            &SimChat::supergroup(-100_500, "team"),
            &alice,
            "/post tomorrow 10am | and more",
        );
        f.messages_to(-100_500, 2).await;
        assert_eq!(f.queue_len(-100_500).await, 2);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn the_upgrade_service_message_moves_the_group_to_its_supergroup() {
        let f = fixture().await;
        let alice = SimUser::new(1, "Alice");
        f.link_x(-600, ChatKind::Group, alice.id).await;
        let group = f
            .app
            .store()
            .upsert_chat(
                ChatPlatform::Telegram,
                "-600",
                ChatKind::Group,
                None,
                Utc::now(),
            )
            .await
            .unwrap();
        let supergroup = SimChat::supergroup(-100_600, "team");
        f.tg.add_chat(&supergroup);
        f.tg.push_raw(serde_json::json!({
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": -100_600, "type": "supergroup", "title": "team"},
                "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
                "migrate_from_chat_id": -600
            }
        }));
        // Updates are handled concurrently: let the service message land first.
        let deadline = Instant::now() + WAIT;
        while f.app.store().chat(group.id).await.unwrap().remote_id != "-100600" {
            assert!(Instant::now() < deadline, "the upgrade was never handled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        f.tg.push_group_text(&supergroup, &alice, "/accounts");
        let replies = f.messages_to(-100_600, 1).await;
        assert!(
            replies[0].contains("@team"),
            "the accounts came along: {replies:?}"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn an_album_still_gathering_at_shutdown_is_handled_before_the_bot_stops() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let files: Vec<_> = (0..2).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
        f.tg.push_album(
            &SimChat::private(&bob),
            &bob,
            &files,
            Some("tomorrow 9am | two pictures"),
        );
        let deadline = Instant::now() + WAIT;
        while f.tg.pending_updates() > 0 {
            assert!(Instant::now() < deadline, "the bot never took the album");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Well inside the 300 ms quiet time.
        let tg = f.tg.clone();
        f.shutdown().await;
        let confirmations: Vec<_> = tg
            .sent_messages()
            .into_iter()
            .filter(|m| m.chat_id == bob.id)
            .collect();
        assert_eq!(confirmations.len(), 1, "the album was answered once");
        assert!(confirmations[0].text.contains("@team"));
        assert_eq!(tg.downloads().len(), 2);
    }

    #[tokio::test]
    async fn only_a_group_admin_gets_a_link_to_connect_an_account_to_the_group() {
        let f = fixture().await;
        let group = SimChat::group(-800, "team");
        let (member, admin) = (SimUser::new(81, "Mo"), SimUser::new(82, "Ada"));
        f.tg.set_member_status(group.id, admin.id, MemberStatus::Administrator);
        for person in [&member, &admin] {
            f.tg.push_private_text(person, "/start");
            f.messages_to(person.id, 1).await;
        }
        f.tg.push_group_text(&group, &member, "/connect x");
        let refused = f.messages_to(group.id, 1).await;
        assert!(
            refused[0].contains("Only a group administrator"),
            "{refused:?}"
        );
        assert_eq!(f.messages_to(member.id, 2).await.len(), 1, "no link sent");
        f.tg.push_group_text(&group, &admin, "/connect x");
        let group_says = f.messages_to(group.id, 2).await;
        assert!(group_says[1].contains("private message"), "{group_says:?}");
        let private = f.messages_to(admin.id, 2).await;
        assert!(private[1].contains("/oauth/x/start"), "{private:?}");
        f.shutdown().await;
    }

    #[tokio::test]
    async fn a_notification_from_outside_the_scheduler_is_delivered_at_once_and_retried() {
        let f = fixture().await;
        let bob = bob();
        f.tg.push_private_text(&bob, "/start");
        f.messages_to(bob.id, 1).await;
        let now = Utc::now();
        let chat = f
            .app
            .store()
            .upsert_chat(
                ChatPlatform::Telegram,
                &bob.id.to_string(),
                ChatKind::Private,
                None,
                now,
            )
            .await
            .unwrap();
        let note = |text: &str| autopost::store::Notification {
            chat: Some(chat.id),
            user: None,
            kind: autopost::store::NotificationKind::AccountLinked,
            text: text.to_owned(),
            link: None,
        };
        // As the OAuth callback stores it: no scheduler event follows.
        f.app
            .store()
            .enqueue_notification(&note("Linked @team"), now)
            .await
            .unwrap();
        let first = f.messages_to(bob.id, 2).await;
        assert_eq!(first[1..], ["Linked @team"]);
        // Flood control: the notification waits as long as Telegram asks, then goes out.
        f.tg.fail_next("sendMessage", Failure::TooManyRequests { retry_after: 1 });
        let asked_at = Instant::now();
        f.app
            .store()
            .enqueue_notification(&note("Linked @other"), now)
            .await
            .unwrap();
        let both = f.messages_to(bob.id, 3).await;
        assert_eq!(both[1..], ["Linked @team", "Linked @other"]);
        assert!(
            asked_at.elapsed() >= Duration::from_millis(900),
            "Retry-After honoured"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn a_redelivered_update_is_handled_once() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let id = f.tg.push_private_text(&bob, "/post tomorrow 9am | once");
        f.messages_to(bob.id, 1).await;
        assert!(f.tg.redeliver(id));
        f.tg.push_private_text(&bob, "/queue");
        let texts = f.messages_to(bob.id, 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(f.messages_to(bob.id, 2).await.len(), 2, "{texts:?}");
        assert_eq!(f.queue_len(bob.id).await, 1);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn an_oversized_image_is_refused_before_download() {
        let f = fixture().await;
        let bob = bob();
        f.link_x(bob.id, ChatKind::Private, bob.id).await;
        let file = f.tg.add_file(PNG.to_vec(), Some(MAX_INPUT_BYTES + 1));
        f.tg.push_message(
            SimMessage::document(&SimChat::private(&bob), &bob, &file, "big.png", "image/png")
                .caption("tomorrow 9am | big"),
        );
        let texts = f.messages_to(bob.id, 1).await;
        assert!(texts[0].contains("limit"), "{texts:?}");
        assert!(f.tg.downloads().is_empty());
        assert_eq!(f.queue_len(bob.id).await, 0);
        f.shutdown().await;
    }

    #[tokio::test]
    async fn a_private_reply_in_a_group_asks_to_press_start_when_refused() {
        let f = fixture().await;
        let group = SimChat::group(-700, "team");
        let stranger = SimUser::new(77, "Dana");
        f.tg.push_group_text(&group, &stranger, "/export");
        let texts = f.messages_to(group.id, 1).await;
        assert!(
            texts[0].contains(&format!("@{BOT}")) && texts[0].contains("Start"),
            "{texts:?}"
        );
        assert!(f.tg.documents().is_empty());
        // Once they pressed Start, the export goes to their private chat as a file, and the
        // group only hears where the answer went.
        f.tg.push_private_text(&stranger, "/start");
        f.messages_to(stranger.id, 1).await;
        f.tg.push_group_text(&group, &stranger, "/export");
        let deadline = Instant::now() + WAIT;
        while f.tg.requests("sendDocument") == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(f.tg.requests("sendDocument"), 1);
        let deadline = Instant::now() + WAIT;
        while f.tg.documents().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let documents = f.tg.documents();
        assert_eq!(documents.len(), 1, "the export file arrived");
        assert_eq!(documents[0].chat_id, stranger.id, "privately");
        let export = String::from_utf8_lossy(&documents[0].bytes);
        assert!(
            export.contains(&format!("\"remote_id\": \"{}\"", stranger.id)),
            "{export}"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn polling_honours_retry_after_and_goes_on() {
        let f = fixture().await;
        let bob = bob();
        f.tg.fail_next("getUpdates", Failure::TooManyRequests { retry_after: 1 });
        let pushed = Instant::now();
        f.tg.push_private_text(&bob, "/help");
        let texts = f.messages_to(bob.id, 1).await;
        assert_eq!(texts.len(), 1, "answered after the failures");
        assert!(
            pushed.elapsed() >= Duration::from_secs(1),
            "waited retry_after"
        );
        f.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_is_prompt_even_while_teloxide_waits_after_a_server_error() {
        // teloxide sleeps 10 s inside any call answered with a 5xx before returning it.
        let f = fixture().await;
        f.tg.fail_next("getUpdates", Failure::ServerError);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        f.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn urls_are_scrubbed_from_error_text() {
        let text =
            "error sending request for url (http://127.0.0.1:1/bot123:secret/getMe): refused";
        let clean = scrub(text);
        assert!(
            !clean.contains("secret") && !clean.contains("http"),
            "{clean}"
        );
        assert!(clean.contains("refused"));
    }
}
