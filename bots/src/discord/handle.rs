//! The one handler both ways in hand interactions to. A slash command becomes the person, the
//! channel and the verb's command read from its options; a button press goes to `commands`
//! as one; autocomplete asks `commands` for suggestions. The first answer goes back within
//! `answer_within` (inline, or as the callback); longer work is deferred and the original
//! response edited when it is done. An interaction seen before is answered, not run again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{ChatKind, ChatPlatform};
use autopost::front_end::{AdminRights, Person, Place, Privilege};
use autopost::store::Inbound;
use chrono::Utc;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Options;
use super::files::{self, FileError};
use super::rest::{Body, Call, Rest, RestError};
use super::wire::{self, Interaction, kind, option, permission};
use crate::commands::{
    ArgValue, ButtonAction, Command, Commands, Document, Incoming, NamedArgs, ParseError, Reply,
    VERBS, Verb,
};

/// How an interaction came in, and so how its first answer goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `POST /discord/interactions`: the answer is the HTTP response (or 202 after the
    /// callback was posted).
    Endpoint,
    /// The gateway: the answer is posted to the callback URL.
    Gateway,
}

/// What a command or button press came to.
enum Outcome {
    /// A command's answer: a new message (ephemeral when private or a refusal).
    Message(Reply),
    /// A button press done: the message it was on becomes this.
    Update(Reply),
    /// A button press refused (or stale): only the presser hears why.
    Refused(Reply),
    /// A button press answered with a form (the Edit button's modal).
    Form(Reply),
}

/// What the handler shares.
pub(super) struct Inner {
    app: Arc<App>,
    commands: Commands,
    rest: Rest,
    /// For attachment downloads.
    http: reqwest::Client,
    options: Options,
    /// Counts answered interactions: the quiescence signal tests wait on.
    answered: watch::Sender<u64>,
    /// Deferred answers still being finished, awaited at shutdown.
    pending: Mutex<Vec<JoinHandle<()>>>,
    /// Confirmations sent as interaction responses, by interaction id: the webhook path that
    /// edits them and when their token was issued. Only the interaction's token can edit an
    /// interaction response (Discord's channel-message edit does not apply to them), and it
    /// lives 15 minutes, so it is kept in memory only and never stored; after that, or a
    /// restart, the confirmation stays as it was (its buttons re-check on every press).
    confirmations: Mutex<HashMap<String, (String, Instant)>>,
}

/// How long Discord waits for an interaction's first answer.
const FIRST_ANSWER_WITHIN: Duration = Duration::from_millis(2500);

/// How long an interaction token edits its response: 15 minutes, less a margin.
/// <https://discord.com/developers/docs/interactions/receiving-and-responding#followup-messages>
const INTERACTION_TOKEN_LIFE: Duration = Duration::from_secs(14 * 60);

impl Inner {
    pub(super) fn new(
        app: Arc<App>,
        commands: Commands,
        rest: Rest,
        http: reqwest::Client,
        options: Options,
    ) -> Self {
        Self {
            app,
            commands,
            rest,
            http,
            options,
            answered: watch::Sender::new(0),
            pending: Mutex::new(Vec::new()),
            confirmations: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn app(&self) -> &App {
        &self.app
    }

    pub(super) fn options(&self) -> &Options {
        &self.options
    }

    pub(super) fn answered(&self) -> watch::Receiver<u64> {
        self.answered.subscribe()
    }

    /// The bot token, when the gateway is on.
    pub(super) fn gateway_token(&self) -> Option<&Secret> {
        self.app.config().discord.as_ref()?.token.as_ref()
    }

    /// Whether the interactions endpoint is on (interactions may wait in the inbox).
    pub(super) fn has_endpoint(&self) -> bool {
        self.app
            .config()
            .discord
            .as_ref()
            .is_some_and(|d| d.public_key.is_some())
    }

    /// Whether notifications can be sent (they need the bot token).
    pub(super) fn can_notify(&self) -> bool {
        self.rest.has_bot_token()
    }

    /// The REST API's base.
    pub(super) fn api_url(&self) -> Option<&url::Url> {
        self.app.config().discord.as_ref().map(|d| &d.api_url)
    }

    /// Posts `notice` in the channel `channel`, mentioning nobody; returns the message's id.
    pub(super) async fn send_to_channel(
        &self,
        channel: &str,
        notice: &Reply,
    ) -> Result<String, RestError> {
        if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RestError::Refused {
                status: 404,
                message: "no such channel".to_owned(),
            });
        }
        let call = Call::bot(
            Method::POST,
            format!("channels/{channel}/messages"),
            format!("channel:{channel}"),
        );
        let body = wire::message(notice, false);
        let sent = self.rest.send(&call, Body::Json(body)).await?;
        Ok(sent["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Replaces the bot's message `message` in `channel` with `reply` (bot token).
    pub(super) async fn edit_in_channel(
        &self,
        channel: &str,
        message: &str,
        reply: &Reply,
    ) -> Result<(), RestError> {
        let is_id = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        if !is_id(channel) || !is_id(message) {
            return Err(RestError::Refused {
                status: 404,
                message: "no such message".to_owned(),
            });
        }
        let call = Call::bot(
            Method::PATCH,
            format!("channels/{channel}/messages/{message}"),
            format!("channel:{channel}"),
        );
        let body = wire::message(reply, false);
        self.rest.send(&call, Body::Json(body)).await.map(|_| ())
    }

    /// Waits for the deferred answers still being finished.
    pub(super) async fn finish(&self) {
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for task in pending {
            if let Err(e) = task.await {
                tracing::error!(error = %autopost::telemetry::chain(&e), "a deferred Discord answer ended abnormally");
            }
        }
    }

    /// Records a command, button press or form from the endpoint in the inbox before it is
    /// answered: the payload without its token, and the token (a credential for 15
    /// minutes) sealed. If the database cannot take it, the handler's own first write fails
    /// too and the person hears so.
    pub(super) async fn accept(&self, interaction: &Interaction, body: &[u8]) {
        if !matches!(
            interaction.kind,
            kind::COMMAND | kind::COMPONENT | kind::MODAL_SUBMIT
        ) {
            return;
        }
        let payload = serde_json::from_slice::<Value>(body).and_then(|mut json| {
            if let Some(fields) = json.as_object_mut() {
                fields.remove("token");
            }
            serde_json::to_vec(&json)
        });
        let Ok(payload) = payload else {
            return;
        };
        let token = Secret::new(interaction.token.as_str());
        if let Err(e) = self
            .app
            .accept_delivery(
                ChatPlatform::Discord,
                &interaction.id,
                &payload,
                Some(&token),
                Utc::now(),
            )
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot record a Discord interaction before answering it");
        }
    }

    /// Until `stop`: every second, takes over interactions that instances which died
    /// accepted and did not finish.
    pub(super) async fn sweep(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                () = autopost::front_end::stopped(&mut stop) => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            match self
                .app
                .stranded_deliveries(ChatPlatform::Discord, 100, Utc::now())
                .await
            {
                Ok(stranded) => {
                    for inbound in stranded {
                        self.take_over(inbound).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot look for Discord interactions left behind");
                }
            }
        }
    }

    /// Answers one interaction that came in `way`. For the endpoint, `Some` is the HTTP
    /// response's body and `None` means the callback was posted (answer 202); the gateway
    /// always gets `None`.
    pub(super) async fn answer(
        self: &Arc<Self>,
        interaction: Interaction,
        way: Way,
    ) -> Option<Value> {
        let first = match interaction.kind {
            kind::PING => Some(wire::pong()),
            kind::AUTOCOMPLETE => Some(self.autocomplete(&interaction).await),
            kind::COMMAND | kind::COMPONENT | kind::MODAL_SUBMIT => {
                self.run(interaction.clone()).await
            }
            other => {
                tracing::debug!(kind = other, "interaction of a kind autopost does not use");
                Some(wire::response(
                    wire::callback::MESSAGE,
                    wire::message(&Reply::error("autopost does not handle this"), true),
                ))
            }
        };
        let first = match (way, first) {
            (Way::Endpoint, first) => first,
            (Way::Gateway, Some(body)) => {
                if let Err(e) = self.callback(&interaction, Body::Json(body)).await {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot answer a Discord interaction");
                }
                None
            }
            (Way::Gateway, None) => None,
        };
        self.answered.send_modify(|answered| *answered += 1);
        first
    }

    /// Posts the first answer to the interaction's callback URL.
    async fn callback(&self, interaction: &Interaction, body: Body) -> Result<(), RestError> {
        let call = Call::interaction(
            Method::POST,
            format!(
                "interactions/{}/{}/callback",
                interaction.id, interaction.token
            ),
            format!("interaction:{}", interaction.id),
        );
        self.rest.send(&call, body).await.map(|_| ())
    }

    /// A command or button press: run once, answered in time or deferred. Once answered
    /// for good it leaves the inbox the endpoint recorded it in; a deferred one stays, marked
    /// answered, until its answer is edited in, so that if this instance dies meanwhile the
    /// instance that takes it over tells the person.
    async fn run(self: &Arc<Self>, interaction: Interaction) -> Option<Value> {
        let id = interaction.id.clone();
        let (first, deferred) = self.run_once(interaction).await;
        if !deferred {
            self.forget_accepted(&id).await;
        }
        first
    }

    /// Takes an interaction out of the inbox; a failure only means another instance finds
    /// it there later, already answered.
    pub(super) async fn forget_accepted(&self, id: &str) {
        if let Err(e) = self.app.delivery_done(ChatPlatform::Discord, id).await {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot take an answered Discord interaction out of the inbox");
        }
    }

    /// [`Inner::run`]; `true` beside the first answer when the rest was deferred.
    async fn run_once(self: &Arc<Self>, interaction: Interaction) -> (Option<Value>, bool) {
        match self
            .app
            .first_deliveries(ChatPlatform::Discord, &[&interaction.id], Utc::now())
            .await
        {
            Ok(fresh) if fresh.is_empty() => {
                tracing::debug!("interaction already handled; answered, not run again");
                let reply = Reply::error("this was already handled");
                return (
                    Some(wire::response(
                        wire::callback::MESSAGE,
                        wire::message(&reply, true),
                    )),
                    false,
                );
            }
            Ok(_) => {}
            Err(e) => {
                let reply = crate::commands::internal(&e);
                return (
                    Some(wire::response(
                        wire::callback::MESSAGE,
                        wire::message(&reply, true),
                    )),
                    false,
                );
            }
        }
        // A modal's submit answers like a command; a button press edits its message.
        let is_component = interaction.kind == kind::COMPONENT;
        let private = !is_component && answers_privately(&interaction);
        let inner = self.clone();
        let request = interaction.clone();
        let mut work = tokio::spawn(async move { inner.work(&request).await });
        // No time to answer inline (a zero window) means always deferring, however quick
        // the work: a task on another thread may finish before a zero timeout is polled.
        let finished = if self.options.answer_within.is_zero() {
            None
        } else {
            tokio::time::timeout(self.options.answer_within, &mut work)
                .await
                .ok()
        };
        let work = match finished {
            Some(Ok(outcome)) => match outcome_file(&outcome) {
                None => {
                    self.remember_confirmation(&interaction, &outcome).await;
                    return (Some(first_answer(&outcome)), false);
                }
                // A file cannot ride on an inline answer: it goes with the callback.
                file @ Some(_) => {
                    let body = with_file(first_answer(&outcome), file);
                    if let Err(e) = self.callback(&interaction, body).await {
                        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot answer a Discord interaction with its file");
                    }
                    return (None, false);
                }
            },
            Some(Err(e)) => {
                let reply = crate::commands::internal(&e);
                return (
                    Some(wire::response(
                        wire::callback::MESSAGE,
                        wire::message(&reply, true),
                    )),
                    false,
                );
            }
            None => work,
        };
        // Longer work: "thinking…" now, the answer by editing the original response.
        let defer = if is_component {
            wire::defer_update()
        } else {
            wire::defer_message(private)
        };
        if let Err(e) = self.callback(&interaction, Body::Json(defer)).await {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot defer a Discord interaction");
            work.abort();
            return (None, false);
        }
        if let Err(e) = self
            .app
            .delivery_answered(ChatPlatform::Discord, &interaction.id)
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot note that a Discord interaction was deferred");
        }
        let inner = self.clone();
        let finishing = tokio::spawn(async move {
            let outcome = match work.await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::Message(crate::commands::internal(&e)),
            };
            inner.finish_deferred(&interaction, outcome, private).await;
            inner.forget_accepted(&interaction.id).await;
        });
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|task| !task.is_finished());
        pending.push(finishing);
        (None, true)
    }

    /// Interactions the endpoint of an instance that died accepted and did not finish:
    /// deferred ones get their answer edited in (through the interaction's token, which
    /// lives 15 minutes); one not answered at all is answered if Discord still waits for it,
    /// else Discord has already told the person it failed.
    pub(super) async fn take_over(self: &Arc<Self>, stranded: Inbound) {
        let read = serde_json::from_slice::<Value>(&stranded.payload).and_then(|mut json| {
            json["token"] = stranded
                .token
                .as_ref()
                .map_or(Value::Null, |t| Value::String(t.expose().to_owned()));
            serde_json::from_value::<Interaction>(json)
        });
        let interaction = match read {
            Ok(interaction) => interaction,
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "an interaction kept in the inbox is unreadable; dropped");
                self.forget_accepted(&stranded.delivery_id).await;
                return;
            }
        };
        let age = (Utc::now() - stranded.received_at)
            .to_std()
            .unwrap_or_default();
        if stranded.answered {
            // Its work began on the instance that died, and may or may not have finished:
            // doing it again could post twice, so the person is told to look.
            let reply = Reply::interrupted();
            let path = format!("{}/messages/@original", self.webhook(&interaction));
            let body = wire::message(&reply, false);
            if let Err(e) = self
                .send_to_webhook(&interaction, Method::PATCH, &path, &reply, body)
                .await
            {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot finish a Discord interaction another instance deferred");
            }
        } else if age < FIRST_ANSWER_WITHIN {
            self.answer(interaction, Way::Gateway).await;
        } else {
            tracing::warn!(
                "a Discord interaction accepted by an instance that died went unanswered; Discord told the person it failed"
            );
        }
        self.forget_accepted(&stranded.delivery_id).await;
    }

    /// Delivers a deferred outcome: edits the original response (or the message the button
    /// was on); a private answer after a public "thinking…" replaces it with a follow-up only
    /// the person sees.
    async fn finish_deferred(
        &self,
        interaction: &Interaction,
        outcome: Outcome,
        deferred_private: bool,
    ) {
        let webhook = self.webhook(interaction);
        let original = format!("{webhook}/messages/@original");
        // Where the answer goes: an edit of the original response (or of the message the
        // button was on), or a follow-up only the person sees.
        let (method, path, reply, ephemeral) = match outcome {
            Outcome::Update(reply) => (Method::PATCH, original, reply, false),
            Outcome::Refused(reply) => (Method::POST, webhook, reply, true),
            Outcome::Message(reply) if (reply.private || reply.refused) && !deferred_private => {
                let call = Call::interaction(
                    Method::DELETE,
                    original,
                    format!("webhook:{}", interaction.id),
                );
                if let Err(e) = self.rest.send(&call, Body::Empty).await {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot remove the public \"thinking\" message");
                }
                (Method::POST, webhook, reply, true)
            }
            Outcome::Message(reply) => {
                let private = reply.private || reply.refused;
                (Method::PATCH, original, reply, private)
            }
            // A form can only be the first answer; this one came too late.
            Outcome::Form(_) => (
                Method::POST,
                webhook,
                Reply::error("autopost was slow to open the form; press Edit again"),
                true,
            ),
        };
        let body = wire::message(&reply, ephemeral);
        let result = self
            .send_to_webhook(interaction, method.clone(), &path, &reply, body)
            .await;
        match result {
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot finish a deferred Discord answer");
            }
            Ok(()) if method == Method::PATCH && !ephemeral => {
                self.remember_confirmation(interaction, &Outcome::Message(reply))
                    .await;
            }
            Ok(()) => {}
        }
    }

    /// Remembers a public confirmation sent as the interaction's response (the row names
    /// the interaction; its token stays in memory), so that it is edited when its post
    /// changes.
    async fn remember_confirmation(&self, interaction: &Interaction, outcome: &Outcome) {
        let Outcome::Message(reply) = outcome else {
            return;
        };
        let (Some(post), false) = (reply.shows, reply.private || reply.refused) else {
            return;
        };
        let Some(channel) = interaction.channel() else {
            return;
        };
        let original = format!("{}/messages/@original", self.webhook(interaction));
        {
            let mut kept = self
                .confirmations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            kept.retain(|_, (_, issued)| issued.elapsed() < INTERACTION_TOKEN_LIFE);
            kept.insert(interaction.id.clone(), (original, Instant::now()));
        }
        let shown = autopost::posting::PostMessage {
            role: autopost::posting::MessageRole::Confirmation,
            chat: channel.to_owned(),
            message: format!("interaction:{}", interaction.id),
        };
        if let Err(e) = self
            .app
            .remember_post_message(post, &shown, Utc::now())
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot remember a confirmation");
        }
    }

    /// Edits a confirmation sent as the response to `interaction`; `Ok(false)` when its
    /// token is gone or expired.
    pub(super) async fn edit_confirmation(
        &self,
        interaction: &str,
        reply: &Reply,
    ) -> Result<bool, RestError> {
        let path = self
            .confirmations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(interaction)
            .filter(|(_, issued)| issued.elapsed() < INTERACTION_TOKEN_LIFE)
            .map(|(path, _)| path.clone());
        let Some(path) = path else {
            return Ok(false);
        };
        let call = Call::interaction(Method::PATCH, path, format!("webhook:{interaction}"));
        self.rest
            .send(&call, Body::Json(wire::message(reply, false)))
            .await
            .map(|_| true)
    }

    /// `webhooks/{application}/{token}`: where follow-ups and edits of an interaction go.
    fn webhook(&self, interaction: &Interaction) -> String {
        let application = interaction.application_id.clone().or_else(|| {
            self.app
                .config()
                .discord
                .as_ref()
                .and_then(|d| d.application_id)
                .map(|id| id.to_string())
        });
        format!(
            "webhooks/{}/{}",
            application.unwrap_or_default(),
            interaction.token
        )
    }

    async fn send_to_webhook(
        &self,
        interaction: &Interaction,
        method: Method,
        path: &str,
        reply: &Reply,
        body: Value,
    ) -> Result<(), RestError> {
        let call = Call::interaction(
            method,
            path.to_owned(),
            format!("webhook:{}", interaction.id),
        );
        self.rest
            .send(&call, with_file(body, reply.file.as_ref()))
            .await
            .map(|_| ())
    }

    /// The work of a command or a button press.
    async fn work(&self, interaction: &Interaction) -> Outcome {
        let Some((person, place)) = who_and_where(interaction) else {
            return Outcome::Refused(Reply::error("autopost cannot tell who or where this is"));
        };
        let rights = Rights(interaction.permissions());
        if interaction.kind == kind::COMPONENT {
            let data = interaction
                .data
                .as_ref()
                .and_then(|d| d.custom_id.as_deref())
                .unwrap_or_default();
            return match self
                .commands
                .on_button(person.person(), place.place(), data, &rights)
                .await
            {
                None => Outcome::Refused(Reply::error("this button no longer works")),
                // These go to the presser alone and leave the message as it was.
                Some(reply) if reply.refused || reply.beside || reply.aside => {
                    Outcome::Refused(reply)
                }
                Some(reply) if reply.edit_form.is_some() => Outcome::Form(reply),
                Some(reply) => Outcome::Update(reply),
            };
        }
        if interaction.kind == kind::MODAL_SUBMIT {
            let incoming = Incoming {
                person: person.person(),
                place: place.place(),
                command: read_form(interaction),
                images: Vec::new(),
                document: None,
            };
            return Outcome::Message(self.commands.on_message(incoming, &rights).await);
        }
        let (command, attachments) = read_command(interaction);
        let mut images = Vec::new();
        if command.as_ref().is_ok_and(|c| c.verb().takes_images) {
            for attachment in &attachments {
                match files::download(&self.http, self.api_url(), attachment).await {
                    Ok(bytes) => images.push(bytes),
                    Err(FileError::Refused(message)) => {
                        return Outcome::Message(Reply::error(&message));
                    }
                    Err(FileError::Unreachable(e)) => {
                        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot download a Discord attachment");
                        return Outcome::Message(Reply::error(
                            "I could not fetch your image from Discord; please attach it again",
                        ));
                    }
                }
            }
        }
        let mut document = None;
        if command.as_ref().is_ok_and(|c| c.verb().takes_file)
            && let Some(attachment) = attachments.first()
        {
            // A file the verb will refuse anyway (not CSV, too large) is not fetched.
            let mut announced = Document::announced(
                attachment.filename.clone(),
                attachment.content_type.clone(),
                attachment.size,
            );
            if announced.worth_fetching() {
                match files::download_file(&self.http, self.api_url(), attachment).await {
                    Ok(bytes) => announced.bytes = bytes,
                    Err(FileError::Refused(message)) => {
                        return Outcome::Message(Reply::error(&message));
                    }
                    Err(FileError::Unreachable(e)) => {
                        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot download a Discord attachment");
                        return Outcome::Message(Reply::error(
                            "I could not fetch your file from Discord; please attach it again",
                        ));
                    }
                }
            }
            document = Some(announced);
        }
        let incoming = Incoming {
            person: person.person(),
            place: place.place(),
            command,
            images,
            document,
        };
        Outcome::Message(self.commands.on_message(incoming, &rights).await)
    }

    /// Suggestions for the option being typed.
    async fn autocomplete(&self, interaction: &Interaction) -> Value {
        let suggestions = match (who_and_where(interaction), focused_kind(interaction)) {
            (Some((person, place)), Some((kind, typed))) => {
                self.commands
                    .suggest(person.person(), place.place(), kind, &typed)
                    .await
            }
            _ => Vec::new(),
        };
        wire::choices(
            suggestions
                .into_iter()
                .map(|s| {
                    let value = match s.value {
                        ArgValue::Text(text) => Value::String(text),
                        ArgValue::Integer(number) => Value::from(number),
                    };
                    (s.label, value)
                })
                .collect(),
        )
    }
}

/// The person and the channel of an interaction, owned.
struct Who {
    id: String,
    name: String,
    language: Option<String>,
}

struct Where {
    id: String,
    kind: ChatKind,
    title: Option<String>,
}

impl Who {
    fn person(&self) -> Person<'_> {
        Person {
            platform: ChatPlatform::Discord,
            id: &self.id,
            name: Some(&self.name),
            language: self.language.as_deref(),
        }
    }
}

impl Where {
    fn place(&self) -> Place<'_> {
        Place {
            platform: ChatPlatform::Discord,
            id: &self.id,
            kind: self.kind,
            title: self.title.as_deref(),
        }
    }
}

/// A server channel is a team queue; a DM with the bot is a personal one.
fn who_and_where(interaction: &Interaction) -> Option<(Who, Where)> {
    let user = interaction.person()?;
    let channel = interaction.channel()?;
    let kind = if interaction.guild_id.is_some() {
        ChatKind::Group
    } else {
        ChatKind::Private
    };
    Some((
        Who {
            id: user.id.clone(),
            name: user.name().to_owned(),
            language: interaction.locale.clone(),
        },
        Where {
            id: channel.to_owned(),
            kind,
            title: interaction.channel.as_ref().and_then(|c| c.name.clone()),
        },
    ))
}

/// The verb a command interaction names.
fn verb_of(interaction: &Interaction) -> Option<&'static Verb> {
    let name = interaction.data.as_ref()?.name.as_deref()?;
    VERBS.iter().copied().find(|verb| verb.name == name)
}

/// Whether the command's answer is for its author alone (decided before the work is done,
/// when the answer must be deferred).
fn answers_privately(interaction: &Interaction) -> bool {
    verb_of(interaction).is_some_and(|verb| verb.answers_privately)
}

/// The command a slash command asks for, from its options, and its attachments.
fn read_command(
    interaction: &Interaction,
) -> (Result<Command, ParseError>, Vec<&wire::Attachment>) {
    let Some(verb) = verb_of(interaction) else {
        let name = interaction
            .data
            .as_ref()
            .and_then(|d| d.name.clone())
            .unwrap_or_default();
        return (Err(ParseError::UnknownCommand { verb: name }), Vec::new());
    };
    let mut named = Vec::new();
    let mut attachments = Vec::new();
    for option in interaction.options() {
        match (option.kind, &option.value) {
            (option::ATTACHMENT, _) => attachments.extend(interaction.attachment(option)),
            (_, Some(Value::String(text))) => {
                named.push((option.name.clone(), ArgValue::Text(text.clone())));
            }
            (_, Some(Value::Number(number))) => {
                let value = number
                    .as_i64()
                    .map_or_else(|| ArgValue::Text(number.to_string()), ArgValue::Integer);
                named.push((option.name.clone(), value));
            }
            _ => {}
        }
    }
    (verb.read(&NamedArgs::new(named)), attachments)
}

/// The edit a submitted Edit modal asks for.
fn read_form(interaction: &Interaction) -> Result<Command, ParseError> {
    let data = interaction.data.clone().unwrap_or_default();
    let custom_id = data.custom_id.as_deref().unwrap_or_default();
    match ButtonAction::parse(custom_id) {
        Some(ButtonAction::Edit(post)) => Ok(Command::EditSubmitted {
            post,
            when: data.field(wire::MODAL_WHEN).unwrap_or_default().to_owned(),
            text: data.field(wire::MODAL_TEXT).unwrap_or_default().to_owned(),
        }),
        _ => Err(ParseError::UnknownCommand {
            verb: custom_id.to_owned(),
        }),
    }
}

/// The kind of the option being typed, and what was typed so far.
fn focused_kind(interaction: &Interaction) -> Option<(crate::commands::ArgKind, String)> {
    let verb = verb_of(interaction)?;
    let focused = interaction.options().iter().find(|o| o.focused)?;
    let arg = verb.args.iter().find(|arg| arg.name == focused.name)?;
    let typed = match &focused.value {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some((arg.kind, typed))
}

fn outcome_file(outcome: &Outcome) -> Option<&crate::commands::ReplyFile> {
    match outcome {
        Outcome::Message(reply)
        | Outcome::Update(reply)
        | Outcome::Refused(reply)
        | Outcome::Form(reply) => reply.file.as_ref(),
    }
}

/// A JSON payload, sent as multipart with the reply's file when it has one.
fn with_file(payload: Value, file: Option<&crate::commands::ReplyFile>) -> Body {
    match file {
        Some(file) => Body::File {
            payload,
            name: file.name.clone(),
            bytes: file.bytes.clone(),
            mime: file.mime,
        },
        None => Body::Json(payload),
    }
}

/// The first answer for an outcome ready in time.
fn first_answer(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Message(reply) => wire::response(
            wire::callback::MESSAGE,
            wire::message(reply, reply.private || reply.refused),
        ),
        Outcome::Update(reply) => {
            wire::response(wire::callback::UPDATE, wire::message(reply, false))
        }
        Outcome::Refused(reply) => {
            wire::response(wire::callback::MESSAGE, wire::message(reply, true))
        }
        Outcome::Form(reply) => match &reply.edit_form {
            Some(form) => wire::edit_modal(form),
            None => wire::response(wire::callback::MESSAGE, wire::message(reply, true)),
        },
    }
}

/// Admin rights as the interaction carries them: the member's effective permissions.
struct Rights(u64);

#[async_trait::async_trait]
impl AdminRights for Rights {
    async fn holds(&self, privilege: Privilege) -> bool {
        let needed = match privilege {
            Privilege::ChangeOthersPosts => permission::MANAGE_MESSAGES,
            Privilege::ManageAccounts => permission::MANAGE_GUILD | permission::MANAGE_CHANNELS,
        };
        self.0 & (needed | permission::ADMINISTRATOR) != 0
    }
}
