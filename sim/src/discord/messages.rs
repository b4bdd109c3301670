//! The bot's messages in the simulated Discord: made from a checked body and its uploaded files,
//! edited in place, and written as the message object serenity's `Message` model reads. Whether
//! a body may be sent is for `rules`; who may send it is for `rest` and `responses`.

use axum::body::Bytes;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::State;
use super::records::{DiscordMessage, SentFile};
use super::rules::{LOADING, SUPPRESS_EMBEDS};

/// A file part of a multipart request (`files[n]`).
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) filename: String,
    pub(crate) content_type: Option<String>,
    pub(crate) bytes: Bytes,
}

/// Message types used here. <https://discord.com/developers/docs/resources/message#message-object-message-types>
pub(crate) const DEFAULT: u8 = 0;
/// A reply (`message_reference`).
pub(crate) const REPLY: u8 = 19;
/// The response to a slash command.
pub(crate) const CHAT_INPUT_COMMAND: u8 = 20;

/// A message as the simulated Discord keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) message: DiscordMessage,
    /// Its message type.
    pub(crate) kind: u8,
    /// Sent through an interaction's webhook (replies, follow-ups).
    pub(crate) webhook: bool,
}

/// How a new message comes to be.
pub(crate) struct NewMessage<'a> {
    pub(crate) channel_id: u64,
    pub(crate) body: &'a Value,
    pub(crate) uploads: Vec<Upload>,
    pub(crate) interaction_id: Option<u64>,
    pub(crate) kind: u8,
    pub(crate) webhook: bool,
    /// Flags Discord sets itself (LOADING), added to the body's.
    pub(crate) extra_flags: u64,
}

fn timestamp(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Embeds as Discord returns them: each with `type: rich` unless it says otherwise.
fn embeds_of(body: &Value) -> Option<Vec<Value>> {
    let embeds = body.get("embeds")?;
    Some(
        embeds
            .as_array()
            .map(|list| {
                list.iter()
                    .cloned()
                    .map(|mut embed| {
                        if embed.get("type").is_none() {
                            embed["type"] = "rich".into();
                        }
                        embed
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

impl State {
    /// Turns uploads into the message's files, each served by the CDN.
    fn files_of(&mut self, channel_id: u64, uploads: Vec<Upload>) -> Vec<SentFile> {
        let base = self.base.clone();
        uploads
            .into_iter()
            .map(|upload| {
                let id = self.snowflake();
                let attachment = self.cdn.add(
                    &base,
                    channel_id,
                    id,
                    &upload.filename,
                    upload.content_type.as_deref(),
                    upload.bytes.clone(),
                );
                SentFile {
                    id,
                    filename: attachment.filename,
                    content_type: upload.content_type,
                    bytes: upload.bytes,
                    url: attachment.url,
                }
            })
            .collect()
    }

    /// Stores a new message from a checked body; returns it.
    pub(crate) fn create_message(&mut self, new: NewMessage<'_>) -> DiscordMessage {
        let id = self.snowflake();
        let files = self.files_of(new.channel_id, new.uploads);
        let body = new.body;
        let message = DiscordMessage {
            id,
            channel_id: new.channel_id,
            content: body
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            embeds: embeds_of(body).unwrap_or_default(),
            components: body
                .get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            flags: body.get("flags").and_then(Value::as_u64).unwrap_or(0) | new.extra_flags,
            allowed_mentions: body
                .get("allowed_mentions")
                .cloned()
                .filter(|v| !v.is_null()),
            files,
            interaction_id: new.interaction_id,
            created_at: Utc::now(),
            edited_at: None,
        };
        self.messages.insert(
            id,
            Stored {
                message: message.clone(),
                kind: new.kind,
                webhook: new.webhook,
            },
        );
        message
    }

    /// Applies a checked edit body to a stored message; returns it after the edit. Fields left
    /// out stay; `attachments` (if given) lists the files to keep; a deferred reply stops
    /// loading once edited.
    pub(crate) fn edit_message(
        &mut self,
        id: u64,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Option<DiscordMessage> {
        let channel_id = self.messages.get(&id)?.message.channel_id;
        let new_files = self.files_of(channel_id, uploads);
        let stored = self.messages.get_mut(&id)?;
        let message = &mut stored.message;
        if let Some(content) = body.get("content") {
            message.content = content.as_str().unwrap_or("").to_owned();
        }
        if let Some(embeds) = embeds_of(body) {
            message.embeds = embeds;
        }
        if let Some(components) = body.get("components") {
            message.components = components.as_array().cloned().unwrap_or_default();
        }
        if let Some(flags) = body.get("flags").and_then(Value::as_u64) {
            // Only SUPPRESS_EMBEDS can change after a message is sent.
            message.flags = (message.flags & !SUPPRESS_EMBEDS) | (flags & SUPPRESS_EMBEDS);
        }
        if let Some(mentions) = body.get("allowed_mentions").filter(|v| !v.is_null()) {
            message.allowed_mentions = Some(mentions.clone());
        }
        if let Some(keep) = body.get("attachments").and_then(Value::as_array) {
            let kept: Vec<u64> = keep
                .iter()
                .filter_map(|a| a.get("id"))
                .filter_map(|id| match id {
                    Value::String(s) => s.parse().ok(),
                    other => other.as_u64(),
                })
                .collect();
            message.files.retain(|f| kept.contains(&f.id));
        }
        message.files.extend(new_files);
        message.flags &= !LOADING;
        message.edited_at = Some(Utc::now());
        Some(message.clone())
    }

    /// A stored message as Discord's API returns it.
    pub(crate) fn message_json(&self, id: u64) -> Option<Value> {
        let stored = self.messages.get(&id)?;
        let message = &stored.message;
        let attachments: Vec<Value> = message
            .files
            .iter()
            .map(|f| {
                json!({
                    "id": f.id.to_string(),
                    "filename": f.filename,
                    "size": f.bytes.len(),
                    "url": f.url,
                    "proxy_url": f.url,
                    "content_type": f.content_type,
                })
            })
            .collect();
        let mut json = json!({
            "id": message.id.to_string(),
            "channel_id": message.channel_id.to_string(),
            "author": self.bot_user(),
            "content": message.content,
            "timestamp": timestamp(message.created_at),
            "edited_timestamp": message.edited_at.map(timestamp),
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": message.embeds,
            "pinned": false,
            "type": stored.kind,
            "flags": message.flags,
            "components": message.components,
        });
        if stored.webhook {
            let app = self.config.application_id.to_string();
            json["webhook_id"] = app.clone().into();
            json["application_id"] = app.into();
        }
        Some(json)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SimDiscord, SimDiscordConfig};
    use super::*;

    #[test]
    fn a_stored_message_reads_as_serenitys_message() {
        let sim = SimDiscord::new(SimDiscordConfig::random());
        let mut state = sim.lock();
        let channel_id = state.config.guild.channel_id;
        let body = serde_json::json!({
            "content": "queued #7",
            "embeds": [{ "title": "Post 7", "color": 5814783 }],
            "components": [{ "type": 1, "components": [
                { "type": 2, "style": 4, "label": "Cancel", "custom_id": "cancel:7" },
                { "type": 2, "style": 5, "label": "Open", "url": "https://x.com/i/1" },
            ]}],
            "flags": 64,
        });
        let upload = Upload {
            filename: "export.json".to_owned(),
            content_type: Some("application/json".to_owned()),
            bytes: Bytes::from_static(b"{}"),
        };
        let message = state.create_message(NewMessage {
            channel_id,
            body: &body,
            uploads: vec![upload],
            interaction_id: Some(1),
            kind: CHAT_INPUT_COMMAND,
            webhook: true,
            extra_flags: 0,
        });
        assert_eq!(message.custom_ids(), ["cancel:7"]);
        assert!(message.is_ephemeral());
        let json = state.message_json(message.id).unwrap();
        let parsed: serenity::model::channel::Message =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}: {json:#}"));
        assert_eq!(parsed.content, "queued #7");
        assert_eq!(parsed.components[0].components.len(), 2);
        assert_eq!(parsed.attachments[0].filename, "export.json");
        assert_eq!(
            parsed.webhook_id.map(|w| w.get()),
            Some(state.config.application_id)
        );

        let edited = state
            .edit_message(
                message.id,
                &serde_json::json!({ "content": "cancelled", "components": [] }),
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            (edited.content.as_str(), edited.components.len()),
            ("cancelled", 0)
        );
        assert_eq!(
            edited.files.len(),
            1,
            "files stay unless `attachments` says otherwise"
        );
        assert!(edited.edited_at.is_some() && edited.is_ephemeral());
    }
}
