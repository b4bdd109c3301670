//! Channel messages and DMs in the simulated Discord: the bot posts and edits its own messages
//! in channels it can see, and opens DMs. <https://discord.com/developers/docs/resources/message#create-message>

use axum::response::Response;
use serde_json::{Value, json};

use super::State;
use super::messages::{DEFAULT, NewMessage, REPLY, Upload};
use super::records::MessageEdit;
use super::responses::snowflake_of;
use super::rest::{Route, error, form_error, json_ok};
use super::rules::{self, MessageUse, Problems};

impl State {
    pub(crate) fn create_channel_message(
        &mut self,
        channel: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let channel_id = channel.parse::<u64>().unwrap_or(0);
        if !self.channels.contains(&channel_id) {
            return error(404, 10003, "Unknown Channel");
        }
        let problems = rules::check_message(body, MessageUse::Channel);
        if !problems.is_empty() {
            return form_error(problems);
        }
        if rules::is_empty_message(body, uploads.len()) {
            return error(400, 50006, "Cannot send an empty message");
        }
        let kind = if body.get("message_reference").is_some_and(|r| !r.is_null()) {
            REPLY
        } else {
            DEFAULT
        };
        let message = self.create_message(NewMessage {
            channel_id,
            body,
            uploads,
            interaction_id: None,
            kind,
            webhook: false,
            extra_flags: 0,
        });
        let id = message.id;
        self.channel_messages.push(message);
        self.message_answer(id)
    }

    pub(crate) fn edit_channel_message(
        &mut self,
        channel: &str,
        message: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let channel_id = channel.parse::<u64>().unwrap_or(0);
        let Some(message_id) = message.parse::<u64>().ok().filter(|m| {
            self.messages
                .get(m)
                .is_some_and(|s| s.message.channel_id == channel_id && !s.message.is_ephemeral())
        }) else {
            return error(404, 10008, "Unknown Message");
        };
        let problems = rules::check_message(body, MessageUse::Edit);
        if !problems.is_empty() {
            return form_error(problems);
        }
        let Some(edited) = self.edit_message(message_id, body, uploads) else {
            return error(404, 10008, "Unknown Message");
        };
        self.edits.push(MessageEdit {
            route: Route::EditMessage,
            patch: body.clone(),
            message: edited,
        });
        self.message_answer(message_id)
    }

    /// `POST /users/@me/channels {"recipient_id"}`: the DM channel with that user.
    pub(crate) fn open_dm(&mut self, body: &Value) -> Response {
        let Some(user_id) = snowflake_of(body.get("recipient_id")) else {
            return form_error(Problems::one(
                &["recipient_id"],
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ));
        };
        let channel_id = self.dm_channel(user_id);
        json_ok(json!({
            "id": channel_id.to_string(),
            "type": 1,
            "last_message_id": null,
            "flags": 0,
            "recipients": [self.user_json(user_id)],
        }))
    }
}
