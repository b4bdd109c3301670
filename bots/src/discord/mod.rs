//! The Discord front end: translation only. Interactions come in two ways, both to the same
//! handler: the gateway (serenity's WebSocket client, `AUTOPOST_DISCORD_TOKEN`, no privileged
//! intent) and `POST /discord/interactions`, a route this front end brings to the app's web
//! server when `AUTOPOST_DISCORD_PUBLIC_KEY` is set (Ed25519-verified before anything is read).
//! A slash command becomes the verb's command from its options, goes to `commands`, and the
//! `Reply` goes back as a message (ephemeral where it concerns one person); buttons replace
//! their message; autocomplete answers from `commands`' suggestions. The core's notifications
//! reach channels through the REST API with the bot token.
//!
//! Discord wants the first answer within 3 s: work that takes longer is deferred and the
//! original response edited when it is done. Interactions seen before are answered, never run
//! twice. Pieces: `wire` (payloads), `verify` (signatures), `handle` (the one handler), `rest`
//! (REST with rate limits), `files` (attachments), `definitions` (the commands Discord shows,
//! from the verb table), `endpoint` and `gateway` (the two ways in).

mod definitions;
mod endpoint;
mod files;
mod gateway;
mod handle;
mod rest;
#[cfg(test)]
mod tests;
mod verify;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use autopost::app::App;
use autopost::domain::ChatPlatform;
use autopost::front_end::{FrontEnd, FrontEndTask};
use autopost::instance::Role;
use autopost::throttle::Allowance;
use tokio::sync::watch;

use crate::commands::{self, Commands, Courier, Reply, Undelivered};

pub use definitions::{Registered, definitions, register, registered_matches};
pub use rest::RestError;

/// Timings of the front end; the defaults are the production values.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long an interaction's work may take before the answer is deferred; well inside
    /// Discord's 3 s for the first answer.
    pub answer_within: Duration,
    /// Per-user command allowance.
    pub allowance: Allowance,
    /// Wait before sending notifications again after Discord refused or failed one.
    pub notification_retry: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            answer_within: Duration::from_millis(1500),
            allowance: Allowance::default(),
            notification_retry: Duration::from_secs(5),
        }
    }
}

/// Why the Discord front end cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// `AUTOPOST_DISCORD_PUBLIC_KEY` is not an Ed25519 key.
    #[error("AUTOPOST_DISCORD_PUBLIC_KEY is not a valid Ed25519 public key")]
    BadPublicKey,
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot set up HTTPS")]
    HttpClient(#[source] reqwest::Error),
}

/// The Discord front end as `App::serve` runs it.
pub struct DiscordFrontEnd {
    inner: Arc<handle::Inner>,
    /// The interactions endpoint, until `routes` hands it out.
    endpoint: Option<axum::Router>,
}

impl std::fmt::Debug for DiscordFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordFrontEnd")
            .field("endpoint", &self.endpoint.is_some())
            .field("gateway", &self.inner.gateway_token().is_some())
            .finish_non_exhaustive()
    }
}

impl DiscordFrontEnd {
    /// The front end of `app`'s Discord configuration; `Ok(None)` when Discord is off.
    pub fn new(app: Arc<App>, options: Options) -> Result<Option<Self>, DiscordError> {
        let Some(config) = app.config().discord.as_ref() else {
            return Ok(None);
        };
        let key = match &config.public_key {
            Some(bytes) => Some(verify::key(bytes).ok_or(DiscordError::BadPublicKey)?),
            None => None,
        };
        let http = autopost::platforms::http::client().map_err(DiscordError::HttpClient)?;
        let rest = rest::Rest::new(http.clone(), &config.api_url, config.token.as_ref());
        let inner = Arc::new(handle::Inner::new(
            app.clone(),
            Commands::new(app.clone(), options.allowance),
            rest,
            http,
            options,
        ));
        let endpoint = key.map(|key| endpoint::routes(key, inner.clone()));
        Ok(Some(Self { inner, endpoint }))
    }

    /// How many interactions were answered (or found to be seen before): a count tests wait on
    /// instead of sleeping.
    pub fn answered(&self) -> watch::Receiver<u64> {
        self.inner.answered()
    }
}

impl FrontEnd for DiscordFrontEnd {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn routes(&mut self) -> Option<axum::Router> {
        self.endpoint.take()
    }

    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> FrontEndTask {
        Box::pin(serve(self.inner, stop))
    }
}

/// Runs the gateway (with a bot token) and notification delivery until the stop; then waits
/// for the interactions still being answered.
async fn serve(inner: Arc<handle::Inner>, stop: watch::Receiver<bool>) {
    let gateway = inner.gateway_token().map(|_| {
        let inner = inner.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            // One gateway connection: the instance playing its role.
            if inner
                .app()
                .instance()
                .hold(Role::DiscordGateway, &mut stop)
                .await
            {
                gateway::run(inner, stop).await;
            }
        })
    });
    let sweeper = inner
        .has_endpoint()
        .then(|| tokio::spawn(inner.clone().sweep(stop.clone())));
    let mut stop = stop;
    if inner.can_notify()
        && inner
            .app()
            .instance()
            .hold(Role::DiscordNotifier, &mut stop)
            .await
    {
        let courier = Notifier(inner.clone());
        commands::deliver_notifications(
            inner.app(),
            ChatPlatform::Discord,
            &courier,
            inner.options().notification_retry,
            stop,
        )
        .await;
    } else {
        if !inner.can_notify() {
            tracing::warn!(
                "Discord notifications need the bot token (AUTOPOST_DISCORD_TOKEN); they wait in the database"
            );
        }
        autopost::front_end::stopped(&mut stop).await;
    }
    if let Some(gateway) = gateway
        && let Err(e) = gateway.await
    {
        tracing::error!(error = %autopost::telemetry::chain(&e), "Discord gateway task ended abnormally");
    }
    if let Some(sweeper) = sweeper
        && let Err(e) = sweeper.await
    {
        tracing::error!(error = %autopost::telemetry::chain(&e), "Discord sweeper ended abnormally");
    }
    inner.finish().await;
}

/// The core's notifications, as messages in the channel the post came from. A post's status
/// message is an ordinary channel message (the bot token edits it at any age); its
/// confirmation is the interaction's response, edited with the interaction's token while it
/// lives.
struct Notifier(Arc<handle::Inner>);

impl Notifier {
    fn undelivered(error: RestError) -> Undelivered {
        match error {
            RestError::RateLimited(wait) => Undelivered::Later(Some(wait)),
            e if e.is_permanent() => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "notification for a Discord channel autopost cannot write to; dropped");
                Undelivered::Never
            }
            e => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot deliver a notification to Discord");
                Undelivered::Later(None)
            }
        }
    }
}

#[async_trait::async_trait]
impl Courier for Notifier {
    async fn send(&self, chat: &str, notice: &Reply) -> Result<(), Undelivered> {
        self.0
            .send_to_channel(chat, notice)
            .await
            .map(drop)
            .map_err(Self::undelivered)
    }

    async fn send_kept(&self, chat: &str, reply: &Reply) -> Result<String, Undelivered> {
        match self.0.send_to_channel(chat, reply).await {
            Ok(id) if !id.is_empty() => Ok(id),
            // Sent, but its id did not come back: it cannot be edited, and sending another
            // would show the post twice.
            Ok(_) => Err(Undelivered::Never),
            Err(e) => Err(Self::undelivered(e)),
        }
    }

    async fn edit(&self, chat: &str, message: &str, reply: &Reply) -> Result<(), Undelivered> {
        let edited = match message.strip_prefix("interaction:") {
            Some(interaction) => match self.0.edit_confirmation(interaction, reply).await {
                Ok(true) => Ok(()),
                Ok(false) => return Err(Undelivered::Gone),
                Err(e) => Err(e),
            },
            None => self.0.edit_in_channel(chat, message, reply).await,
        };
        match edited {
            Ok(()) => Ok(()),
            // Unknown Message (deleted), or an interaction token Discord no longer takes.
            Err(RestError::Refused {
                status: 401 | 404, ..
            }) => Err(Undelivered::Gone),
            Err(e) => Err(Self::undelivered(e)),
        }
    }
}
