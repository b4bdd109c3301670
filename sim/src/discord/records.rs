//! What the simulated Discord keeps for tests to assert on: command sets, initial responses,
//! messages and their edits, files, downloads and gateway identifies. Plain data; the rules that
//! produce them live in `rest`, `responses` and `gateway`.

use std::time::Instant;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Route;
use super::rules::EPHEMERAL;

/// Where a set of application commands applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandScope {
    /// Every guild and DM (`/applications/{id}/commands`).
    Global,
    /// One guild (`/applications/{id}/guilds/{guild_id}/commands`).
    Guild(u64),
}

/// One accepted bulk overwrite.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOverwrite {
    /// Where it applies.
    pub scope: CommandScope,
    /// The commands as Discord returned them (with `id`, `application_id`, `version`).
    pub commands: Vec<Value>,
}

/// How an initial response reached Discord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseVia {
    /// `POST /interactions/{id}/{token}/callback`.
    Callback,
    /// The JSON answer to the signed HTTP delivery itself.
    Inline,
}

/// An accepted initial response to an interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialResponse {
    /// The interaction answered.
    pub interaction_id: u64,
    /// The callback type: 1 PONG, 4 message, 5 deferred message, 6 deferred update, 7 update,
    /// 8 autocomplete result, 9 modal.
    pub kind: u8,
    /// Its `data`, if any.
    pub data: Option<Value>,
    /// Files uploaded with it.
    pub files: Vec<SentFile>,
    /// How it came.
    pub via: ResponseVia,
    /// How long after the interaction was delivered it came.
    pub after: std::time::Duration,
}

impl InitialResponse {
    /// The `data.content`, if any.
    pub fn content(&self) -> Option<&str> {
        self.data.as_ref()?.get("content")?.as_str()
    }

    /// Whether it carries the EPHEMERAL flag.
    pub fn is_ephemeral(&self) -> bool {
        self.data
            .as_ref()
            .and_then(|d| d.get("flags"))
            .and_then(Value::as_u64)
            .is_some_and(|f| f & EPHEMERAL != 0)
    }
}

/// A file uploaded with a message (multipart `files[n]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SentFile {
    /// The attachment id Discord gave it.
    pub id: u64,
    /// Its file name.
    pub filename: String,
    /// Its part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// Its content.
    pub bytes: Bytes,
    /// Where the simulated CDN serves it.
    pub url: String,
}

/// A message the bot made (reply, follow-up or channel message) as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscordMessage {
    /// Its id.
    pub id: u64,
    /// Its channel.
    pub channel_id: u64,
    /// Its content.
    pub content: String,
    /// Its embeds as sent.
    pub embeds: Vec<Value>,
    /// Its components (action rows) as sent.
    pub components: Vec<Value>,
    /// Its flags (EPHEMERAL 64, LOADING 128 while a deferred reply thinks, …).
    pub flags: u64,
    /// The last `allowed_mentions` sent for it.
    pub allowed_mentions: Option<Value>,
    /// Its files.
    pub files: Vec<SentFile>,
    /// The interaction it answers, for replies and follow-ups.
    pub interaction_id: Option<u64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub edited_at: Option<DateTime<Utc>>,
}

impl DiscordMessage {
    /// Whether only the invoking user sees it.
    pub fn is_ephemeral(&self) -> bool {
        self.flags & EPHEMERAL != 0
    }

    /// Every `custom_id` on its buttons and selects, in order.
    pub fn custom_ids(&self) -> Vec<String> {
        fn walk(components: &[Value], out: &mut Vec<String>) {
            for component in components {
                if let Some(id) = component.get("custom_id").and_then(Value::as_str) {
                    out.push(id.to_owned());
                }
                if let Some(children) = component.get("components").and_then(Value::as_array) {
                    walk(children, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.components, &mut out);
        out
    }
}

/// An accepted edit of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEdit {
    /// Which route made it: [`Route::EditOriginalResponse`], [`Route::EditFollowup`],
    /// [`Route::EditMessage`], or [`Route::CreateInteractionResponse`] for an UPDATE_MESSAGE.
    pub route: Route,
    /// The body as sent.
    pub patch: Value,
    /// The message after the edit.
    pub message: DiscordMessage,
}

/// One request for a CDN file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The attachment asked for.
    pub attachment_id: u64,
    /// The file name in the path.
    pub filename: String,
    /// What the CDN answered: 200, or 404 for an unknown, unsigned or expired link.
    pub status: u16,
}

/// One Identify (op 2) the gateway received.
#[derive(Debug, Clone, PartialEq)]
pub struct Identify {
    /// Whether its token was the bot's (the token itself is not kept).
    pub token_accepted: bool,
    /// The intents bitfield asked for.
    pub intents: u64,
    /// `properties` (`os`, `browser`, `device`).
    pub properties: Value,
    /// Whether it asked for payload compression.
    pub compress: bool,
    /// `[shard_id, num_shards]`, if given.
    pub shard: Option<(u64, u64)>,
    /// The query of the connection's URL (`v=10`, …).
    pub query: String,
    /// When it came.
    pub at: Instant,
}

impl Identify {
    /// The privileged intents asked for (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT).
    pub fn privileged_intents(&self) -> u64 {
        self.intents & super::intents::PRIVILEGED
    }
}

/// Requests per route, refused ones included once their token was right.
pub(crate) type RouteCounts = std::collections::HashMap<Route, usize>;
