//! The life of an interaction's answer in the simulated Discord: registered when delivered, one
//! initial response within 3 s, then @original and follow-ups through its token for 15 minutes.
//! <https://discord.com/developers/docs/interactions/receiving-and-responding>

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::State;
use super::messages::{CHAT_INPUT_COMMAND, DEFAULT, NewMessage, Upload};
use super::records::{InitialResponse, MessageEdit, ResponseVia};
use super::rest::{Route, error, form_error, json_ok};
use super::rules::{self, EPHEMERAL, LOADING, MessageUse, Problems};

/// Interaction types. <https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type>
pub(crate) const PING: u8 = 1;
pub(crate) const APPLICATION_COMMAND: u8 = 2;
pub(crate) const MESSAGE_COMPONENT: u8 = 3;
pub(crate) const AUTOCOMPLETE: u8 = 4;
pub(crate) const MODAL_SUBMIT: u8 = 5;

/// An interaction Discord sent, as far as answering it goes.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) token: String,
    pub(crate) kind: u8,
    /// When it was delivered (or dispatched): the 3-second and 15-minute clocks start here.
    pub(crate) delivered: Instant,
    /// How much older a test made it look (kept apart: an `Instant` cannot go back past boot).
    pub(crate) backdated: Duration,
    pub(crate) channel_id: u64,
    /// The message a component sat on.
    pub(crate) message_id: Option<u64>,
    /// The callback type of its initial response, once one came.
    pub(crate) response: Option<u8>,
    /// Its @original message, once there is one.
    pub(crate) original: Option<u64>,
    /// Deferred (5) and not yet filled: the first follow-up replaces the "thinking" message.
    pub(crate) deferred_unfilled: bool,
}

impl Registered {
    /// How long ago it was delivered.
    pub(crate) fn age(&self) -> Duration {
        self.delivered.elapsed() + self.backdated
    }
}

/// A snowflake written as Discord writes it (a string), or as a number.
pub(crate) fn snowflake_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

fn unknown_interaction() -> Response {
    error(404, 10062, "Unknown interaction")
}

fn unknown_webhook() -> Response {
    error(404, 10015, "Unknown Webhook")
}

fn invalid_webhook_token() -> Response {
    error(401, 50027, "Invalid Webhook Token")
}

fn unknown_message() -> Response {
    error(404, 10008, "Unknown Message")
}

fn empty_message() -> Response {
    error(400, 50006, "Cannot send an empty message")
}

/// The callback types each interaction type may be answered with.
fn allowed_callbacks(kind: u8) -> &'static [u64] {
    match kind {
        PING => &[1],
        APPLICATION_COMMAND => &[4, 5, 9, 12],
        MESSAGE_COMPONENT => &[4, 5, 6, 7, 9],
        AUTOCOMPLETE => &[8],
        MODAL_SUBMIT => &[4, 5, 6, 7],
        _ => &[],
    }
}

impl State {
    /// Makes an interaction known from its payload, with its delivery time now; its channel and
    /// person become known too. Returns its id.
    pub(crate) fn register_interaction(&mut self, payload: &Value) -> Option<u64> {
        let id = snowflake_of(payload.get("id"))?;
        let token = payload.get("token")?.as_str()?.to_owned();
        let kind = u8::try_from(payload.get("type")?.as_u64()?).ok()?;
        let guild_id = snowflake_of(payload.get("guild_id"));
        let user = payload
            .pointer("/member/user")
            .or_else(|| payload.get("user"))
            .cloned();
        let user_id = snowflake_of(user.as_ref().and_then(|u| u.get("id")));
        if let (Some(user_id), Some(user)) = (user_id, user) {
            self.users.insert(user_id, user);
        }
        let channel_id = snowflake_of(payload.get("channel_id"))
            .or_else(|| snowflake_of(payload.pointer("/channel/id")))
            .unwrap_or(0);
        if channel_id != 0
            && self.channels.insert(channel_id)
            && guild_id.is_none()
            && let Some(user_id) = user_id
        {
            self.dm_channels.entry(user_id).or_insert(channel_id);
        }
        if let Some(guild_id) = guild_id {
            self.known_guilds.insert(guild_id);
        }
        self.tokens.insert(token.clone(), id);
        self.interactions.insert(
            id,
            Registered {
                token,
                kind,
                delivered: Instant::now(),
                backdated: Duration::ZERO,
                channel_id,
                message_id: snowflake_of(payload.pointer("/message/id")),
                response: None,
                original: None,
                deferred_unfilled: false,
            },
        );
        Some(id)
    }

    /// `POST /interactions/{id}/{token}/callback`, or the JSON a delivery was answered with:
    /// the one initial response. `Err` carries Discord's refusal.
    pub(crate) fn respond(
        &mut self,
        interaction: &str,
        token: &str,
        body: &Value,
        uploads: Vec<Upload>,
        via: ResponseVia,
    ) -> Result<(), Box<Response>> {
        let id = interaction.parse::<u64>().ok();
        let Some((id, registered)) = id
            .and_then(|id| self.interactions.get(&id).map(|r| (id, r.clone())))
            .filter(|(_, r)| r.token == token)
        else {
            return Err(Box::new(unknown_interaction()));
        };
        if registered.response.is_some() {
            return Err(Box::new(error(
                400,
                40060,
                "Interaction has already been acknowledged.",
            )));
        }
        let after = registered.age();
        if after > self.config.response_deadline {
            return Err(Box::new(unknown_interaction()));
        }
        let kind = match body.get("type") {
            None | Some(Value::Null) => {
                let missing =
                    Problems::one(&["type"], "BASE_TYPE_REQUIRED", "This field is required");
                return Err(Box::new(form_error(missing)));
            }
            Some(v) => v.as_u64(),
        };
        let Some(kind) = kind.filter(|k| allowed_callbacks(registered.kind).contains(k)) else {
            return Err(Box::new(form_error(invalid_type(registered.kind))));
        };
        let data = body.get("data").filter(|d| !d.is_null());
        let empty = Value::Object(serde_json::Map::new());
        let data_or_empty = data.unwrap_or(&empty);
        let found = match kind {
            4 | 7 => rules::check_message(data_or_empty, MessageUse::Interaction),
            5 => check_deferred(data_or_empty),
            8 => rules::check_autocomplete_result(data_or_empty),
            9 => rules::check_modal(data_or_empty),
            _ => Problems::default(),
        };
        if !found.is_empty() {
            return Err(Box::new(form_error(found.under("data"))));
        }
        if kind == 4 && rules::is_empty_message(data_or_empty, uploads.len()) {
            return Err(Box::new(empty_message()));
        }
        let recorded_files;
        let original = match kind {
            4 | 5 => {
                let loading = kind == 5;
                let flags_body;
                let body_for_message = if loading {
                    // The "thinking" message keeps only EPHEMERAL from the deferral.
                    let ephemeral = data_or_empty
                        .get("flags")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                        & EPHEMERAL;
                    flags_body = serde_json::json!({ "flags": ephemeral });
                    &flags_body
                } else {
                    data_or_empty
                };
                let message = self.create_message(NewMessage {
                    channel_id: registered.channel_id,
                    body: body_for_message,
                    uploads: if loading { Vec::new() } else { uploads },
                    interaction_id: Some(id),
                    kind: if registered.kind == APPLICATION_COMMAND {
                        CHAT_INPUT_COMMAND
                    } else {
                        DEFAULT
                    },
                    webhook: true,
                    extra_flags: if loading { LOADING } else { 0 },
                });
                recorded_files = message.files.clone();
                Some(message.id)
            }
            6 => {
                recorded_files = Vec::new();
                registered.message_id
            }
            7 => {
                let edited = registered
                    .message_id
                    .and_then(|m| self.edit_message(m, data_or_empty, uploads));
                recorded_files = edited.as_ref().map(|m| m.files.clone()).unwrap_or_default();
                if let Some(message) = edited {
                    self.edits.push(MessageEdit {
                        route: Route::CreateInteractionResponse,
                        patch: data_or_empty.clone(),
                        message,
                    });
                }
                registered.message_id
            }
            _ => {
                recorded_files = Vec::new();
                None
            }
        };
        if let Some(entry) = self.interactions.get_mut(&id) {
            entry.response = u8::try_from(kind).ok();
            entry.original = original;
            entry.deferred_unfilled = kind == 5;
        }
        self.responses.push(InitialResponse {
            interaction_id: id,
            kind: u8::try_from(kind).unwrap_or(0),
            data: data.cloned(),
            files: recorded_files,
            via,
            after,
        });
        Ok(())
    }

    /// The interaction a webhook route's application id and token name, if the token works.
    fn webhook_interaction(
        &self,
        application: &str,
        token: &str,
    ) -> Result<(u64, Registered), Box<Response>> {
        if application.parse::<u64>().ok() != Some(self.config.application_id) {
            return Err(Box::new(unknown_webhook()));
        }
        let Some(id) = self.tokens.get(token).copied() else {
            return Err(Box::new(invalid_webhook_token()));
        };
        let Some(registered) = self.interactions.get(&id) else {
            return Err(Box::new(invalid_webhook_token()));
        };
        if registered.age() > self.config.token_lifetime {
            return Err(Box::new(invalid_webhook_token()));
        }
        Ok((id, registered.clone()))
    }

    /// `GET|PATCH|DELETE /webhooks/{app}/{token}/messages/@original`.
    pub(crate) fn original(
        &mut self,
        method: &Method,
        application: &str,
        token: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let (id, registered) = match self.webhook_interaction(application, token) {
            Ok(found) => found,
            Err(refused) => return *refused,
        };
        // Before an initial response there is no webhook message to work on.
        let Some(message_id) = registered
            .original
            .filter(|_| registered.response.is_some())
        else {
            return unknown_webhook();
        };
        let Some(stored) = self.messages.get(&message_id) else {
            return unknown_message();
        };
        match *method {
            Method::GET => self.message_answer(message_id),
            Method::DELETE => {
                self.messages.remove(&message_id);
                self.deleted.push(message_id);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => {
                let found = rules::check_message(body, MessageUse::Edit);
                if !found.is_empty() {
                    return form_error(found);
                }
                let loading = stored.message.flags & LOADING != 0;
                if loading && rules::is_empty_message(body, uploads.len()) {
                    return empty_message();
                }
                let Some(message) = self.edit_message(message_id, body, uploads) else {
                    return unknown_message();
                };
                if let Some(entry) = self.interactions.get_mut(&id) {
                    entry.deferred_unfilled = false;
                }
                self.edits.push(MessageEdit {
                    route: Route::EditOriginalResponse,
                    patch: body.clone(),
                    message,
                });
                self.message_answer(message_id)
            }
        }
    }

    /// `POST /webhooks/{app}/{token}`: a follow-up message. After a deferred response, the first
    /// one fills the "thinking" message instead, keeping its EPHEMERAL flag.
    pub(crate) fn create_followup(
        &mut self,
        application: &str,
        token: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let (id, registered) = match self.webhook_interaction(application, token) {
            Ok(found) => found,
            Err(refused) => return *refused,
        };
        if !matches!(registered.response, Some(4..=7)) {
            return unknown_webhook();
        }
        let found = rules::check_message(body, MessageUse::Interaction);
        if !found.is_empty() {
            return form_error(found);
        }
        if rules::is_empty_message(body, uploads.len()) {
            return empty_message();
        }
        let filling = registered
            .original
            .filter(|_| registered.deferred_unfilled)
            .filter(|m| {
                self.messages
                    .get(m)
                    .is_some_and(|s| s.message.flags & LOADING != 0)
            });
        let message = match filling {
            Some(original) => {
                if let Some(entry) = self.interactions.get_mut(&id) {
                    entry.deferred_unfilled = false;
                }
                self.edit_message(original, body, uploads)
            }
            None => Some(self.create_message(NewMessage {
                channel_id: registered.channel_id,
                body,
                uploads,
                interaction_id: Some(id),
                kind: if registered.kind == APPLICATION_COMMAND {
                    CHAT_INPUT_COMMAND
                } else {
                    DEFAULT
                },
                webhook: true,
                extra_flags: 0,
            })),
        };
        let Some(message) = message else {
            return unknown_message();
        };
        let message_id = message.id;
        self.followups.push(message);
        self.message_answer(message_id)
    }

    /// `PATCH /webhooks/{app}/{token}/messages/{id}`: edits a message of this interaction.
    pub(crate) fn edit_followup(
        &mut self,
        application: &str,
        token: &str,
        message: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let (id, _) = match self.webhook_interaction(application, token) {
            Ok(found) => found,
            Err(refused) => return *refused,
        };
        let Some(message_id) = message.parse::<u64>().ok().filter(|m| {
            self.messages
                .get(m)
                .is_some_and(|s| s.message.interaction_id == Some(id))
        }) else {
            return unknown_message();
        };
        let found = rules::check_message(body, MessageUse::Edit);
        if !found.is_empty() {
            return form_error(found);
        }
        let Some(message) = self.edit_message(message_id, body, uploads) else {
            return unknown_message();
        };
        self.edits.push(MessageEdit {
            route: Route::EditFollowup,
            patch: body.clone(),
            message,
        });
        self.message_answer(message_id)
    }

    /// 200 with the message object, as message routes answer.
    pub(crate) fn message_answer(&self, message_id: u64) -> Response {
        match self.message_json(message_id) {
            Some(json) => json_ok(json),
            None => unknown_message(),
        }
    }
}

/// Discord's refusal of a callback type the interaction cannot take.
fn invalid_type(interaction_kind: u8) -> Problems {
    let allowed: Vec<String> = allowed_callbacks(interaction_kind)
        .iter()
        .map(u64::to_string)
        .collect();
    Problems::one(
        &["type"],
        "INTERACTION_RESPONSE_TYPE_INVALID",
        format!(
            "Interaction response type is invalid for this interaction; one of {{{}}}",
            allowed.join(", ")
        ),
    )
}

/// A deferred response may carry no flag but EPHEMERAL.
fn check_deferred(data: &Value) -> Problems {
    let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0);
    if flags & !EPHEMERAL == 0 {
        return Problems::default();
    }
    Problems::one(
        &["flags"],
        "MESSAGE_FLAGS_INVALID",
        "Only the EPHEMERAL flag may be set on a deferred response",
    )
}
