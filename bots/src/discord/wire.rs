//! Discord's interaction payloads as this front end reads them, and the response bodies it
//! writes (API v10). Reading is lenient: only what autopost uses is required, so a payload
//! with fields Discord adds later (or leaves out) still reads. Rendering escapes every piece
//! of user text (the `Reply` renderer does) and turns mentions off.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::commands::{Button, ButtonAction, DISCORD_TEXT_LIMIT, EditForm, Reply};

/// Interaction types. <https://discord.com/developers/docs/interactions/receiving-and-responding>
pub mod kind {
    /// A health check from Discord.
    pub const PING: u8 = 1;
    /// A slash command.
    pub const COMMAND: u8 = 2;
    /// A button press.
    pub const COMPONENT: u8 = 3;
    /// Typing in an option with autocomplete.
    pub const AUTOCOMPLETE: u8 = 4;
    /// A modal's form sent back.
    pub const MODAL_SUBMIT: u8 = 5;
}

/// Callback (response) types.
pub mod callback {
    /// Answers a PING.
    pub const PONG: u8 = 1;
    /// A message in answer.
    pub const MESSAGE: u8 = 4;
    /// "Thinking…": the message follows by editing the original response.
    pub const DEFER_MESSAGE: u8 = 5;
    /// A button press acknowledged; the message it was on is edited later.
    pub const DEFER_UPDATE: u8 = 6;
    /// The message the button was on, replaced.
    pub const UPDATE: u8 = 7;
    /// Autocomplete choices.
    pub const CHOICES: u8 = 8;
    /// A form (modal) to fill in; only as the first answer.
    pub const MODAL: u8 = 9;
}

/// Only the person who asked sees the message.
pub const EPHEMERAL: u64 = 1 << 6;

/// Option types. <https://discord.com/developers/docs/interactions/application-commands>
pub mod option {
    /// Text.
    pub const STRING: u8 = 3;
    /// A whole number.
    pub const INTEGER: u8 = 4;
    /// An uploaded file.
    pub const ATTACHMENT: u8 = 11;
}

/// Permission bits read from `member.permissions`.
/// <https://discord.com/developers/docs/topics/permissions>
pub mod permission {
    /// Everything.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// Manage Channels.
    pub const MANAGE_CHANNELS: u64 = 1 << 4;
    /// Manage Server.
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// Manage Messages.
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
}

/// An interaction, as much of it as autopost reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    /// Its id (a snowflake): de-duplication is by this.
    pub id: String,
    /// One of [`kind`].
    #[serde(rename = "type")]
    pub kind: u8,
    /// The token that answers it (valid 15 minutes). Never logged.
    #[serde(default)]
    pub token: String,
    /// The application it is for; follow-ups and edits go to its webhook.
    #[serde(default)]
    pub application_id: Option<String>,
    /// What was invoked.
    #[serde(default)]
    pub data: Option<Data>,
    /// The server, absent in a DM.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The channel.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The channel, in newer payloads.
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    /// The member, in a server.
    #[serde(default)]
    pub member: Option<Member>,
    /// The user, in a DM.
    #[serde(default)]
    pub user: Option<User>,
    /// The language the person's client is set to (`en-US`, `de`); absent in PINGs.
    #[serde(default)]
    pub locale: Option<String>,
}

/// A channel, by id and name.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelRef {
    /// Its id.
    pub id: String,
    /// Its name, for a server channel.
    #[serde(default)]
    pub name: Option<String>,
}

/// A server member as an interaction carries it.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    /// The person.
    #[serde(default)]
    pub user: Option<User>,
    /// Their effective permissions in the channel, as a decimal bit field.
    #[serde(default)]
    pub permissions: Option<String>,
}

/// A Discord user.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Their id.
    pub id: String,
    /// Their unique username.
    #[serde(default)]
    pub username: String,
    /// Their display name, if set.
    #[serde(default)]
    pub global_name: Option<String>,
}

/// The invoked command, or the pressed component.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Data {
    /// The command's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its options.
    #[serde(default)]
    pub options: Vec<DataOption>,
    /// Objects the options refer to (attachments).
    #[serde(default)]
    pub resolved: Option<Resolved>,
    /// The pressed button's `custom_id`, or the submitted modal's.
    #[serde(default)]
    pub custom_id: Option<String>,
    /// A submitted modal's rows, each holding one text input with its value.
    #[serde(default)]
    pub components: Vec<Row>,
}

/// An action row of a submitted modal.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Row {
    /// Its inputs.
    #[serde(default)]
    pub components: Vec<Input>,
}

/// A text input of a submitted modal.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Input {
    /// Which input.
    #[serde(default)]
    pub custom_id: String,
    /// What the person left in it.
    #[serde(default)]
    pub value: Option<String>,
}

impl Data {
    /// The value a submitted modal's input `custom_id` holds.
    pub fn field(&self, custom_id: &str) -> Option<&str> {
        self.components
            .iter()
            .flat_map(|row| &row.components)
            .find(|input| input.custom_id == custom_id)
            .and_then(|input| input.value.as_deref())
    }
}

/// One option as given.
#[derive(Debug, Clone, Deserialize)]
pub struct DataOption {
    /// Its name.
    pub name: String,
    /// One of [`option`].
    #[serde(rename = "type")]
    pub kind: u8,
    /// Its value: text, a number, or an attachment's id.
    #[serde(default)]
    pub value: Option<Value>,
    /// The option being typed in (autocomplete).
    #[serde(default)]
    pub focused: bool,
}

/// What options refer to.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resolved {
    /// Attachments by id.
    #[serde(default)]
    pub attachments: HashMap<String, Attachment>,
}

/// An uploaded file, as Discord announces it.
#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    /// Its name.
    #[serde(default)]
    pub filename: String,
    /// Its media type, if Discord knows it.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Where to fetch it (a signed, expiring CDN URL).
    pub url: String,
}

impl Interaction {
    /// The channel it came from.
    pub fn channel(&self) -> Option<&str> {
        self.channel_id
            .as_deref()
            .or(self.channel.as_ref().map(|c| c.id.as_str()))
    }

    /// The person: the member's user in a server, the user in a DM.
    pub fn person(&self) -> Option<&User> {
        self.member
            .as_ref()
            .and_then(|m| m.user.as_ref())
            .or(self.user.as_ref())
    }

    /// The member's permission bits; none in a DM or when unreadable.
    pub fn permissions(&self) -> u64 {
        self.member
            .as_ref()
            .and_then(|m| m.permissions.as_deref())
            .and_then(|bits| bits.parse().ok())
            .unwrap_or(0)
    }

    /// The options given, or none.
    pub fn options(&self) -> &[DataOption] {
        self.data.as_ref().map_or(&[], |d| d.options.as_slice())
    }

    /// The attachment an ATTACHMENT option names.
    pub fn attachment(&self, option: &DataOption) -> Option<&Attachment> {
        let id = option.value.as_ref()?;
        let id = id
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some(id.to_string()))?;
        self.data.as_ref()?.resolved.as_ref()?.attachments.get(&id)
    }
}

impl User {
    /// How they are called.
    pub fn name(&self) -> &str {
        self.global_name
            .as_deref()
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.username)
    }
}

/// A response body of `kind` with `data`.
pub fn response(kind: u8, data: Value) -> Value {
    json!({ "type": kind, "data": data })
}

/// `{"type": 1}`.
pub fn pong() -> Value {
    json!({ "type": callback::PONG })
}

/// "Thinking…" for a command, seen only by its author when `ephemeral`.
pub fn defer_message(ephemeral: bool) -> Value {
    let flags = if ephemeral { EPHEMERAL } else { 0 };
    json!({ "type": callback::DEFER_MESSAGE, "data": { "flags": flags } })
}

/// The Edit form as a modal: `edit:{post}`, with a one-line time and a paragraph text, each
/// prefilled with the post's current value (cut to Discord's 4000 characters).
pub fn edit_modal(form: &EditForm) -> Value {
    let input = |custom_id: &str, label: &str, style: u8, value: &str| {
        json!({ "type": 1, "components": [{
            "type": 4,
            "custom_id": custom_id,
            "label": label,
            "style": style,
            "required": false,
            "value": value.chars().take(MODAL_VALUE_LIMIT).collect::<String>(),
        }] })
    };
    json!({
        "type": callback::MODAL,
        "data": {
            "custom_id": ButtonAction::Edit(form.post).callback_data(),
            "title": format!("Edit post #{}", form.post),
            "components": [
                input(MODAL_WHEN, "When (a new time, or leave it)", 1, &form.when),
                input(MODAL_TEXT, "Text", 2, &form.text),
            ],
        },
    })
}

/// The modal's inputs.
pub const MODAL_WHEN: &str = "when";
/// The modal's text input.
pub const MODAL_TEXT: &str = "text";
/// Discord's limit on a text input's value.
const MODAL_VALUE_LIMIT: usize = 4000;

/// A button press acknowledged; the message is edited when the work is done.
pub fn defer_update() -> Value {
    json!({ "type": callback::DEFER_UPDATE })
}

/// A reply as a Discord message: markdown content (or, for a card, an embed), its buttons in
/// action rows, no mentions, and the ephemeral flag when `ephemeral`.
pub fn message(reply: &Reply, ephemeral: bool) -> Value {
    let mut data = json!({
        "allowed_mentions": { "parse": [] },
        "components": components(&reply.buttons),
    });
    if reply.card {
        data["content"] = json!("");
        data["embeds"] = json!([{ "description": reply.to_markdown_within(EMBED_TEXT_LIMIT) }]);
    } else {
        data["content"] = json!(reply.to_markdown_within(DISCORD_TEXT_LIMIT));
        data["embeds"] = json!([]);
    }
    if ephemeral {
        data["flags"] = json!(EPHEMERAL);
    }
    data
}

/// Discord's limit on an embed's description.
const EMBED_TEXT_LIMIT: usize = 4096;
/// Discord's limits: five buttons a row, five rows a message.
const ROW_WIDTH: usize = 5;
const ROWS: usize = 5;

/// Buttons as action rows, at most five rows of five.
pub fn components(rows: &[Vec<Button>]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .filter(|row| !row.is_empty())
        .take(ROWS)
        .map(|row| {
            let buttons: Vec<Value> = row
                .iter()
                .take(ROW_WIDTH)
                .map(|button| {
                    json!({
                        "type": 2,
                        "style": style(button.action),
                        "label": button.label,
                        "custom_id": button.callback_data(),
                    })
                })
                .collect();
            json!({ "type": 1, "components": buttons })
        })
        .collect();
    Value::Array(rows)
}

/// Danger (red) for what cannot be undone, success (green) for agreeing, secondary (grey)
/// for the rest.
fn style(action: ButtonAction) -> u8 {
    match action {
        ButtonAction::Cancel(_) | ButtonAction::ConfirmDelete => 4,
        ButtonAction::AgreePolicy => 3,
        ButtonAction::PostNow(_)
        | ButtonAction::SetZone(_)
        | ButtonAction::AskZone
        | ButtonAction::Edit(_) => 2,
        ButtonAction::Retry(_)
        | ButtonAction::Connect(_)
        | ButtonAction::ToggleTarget(..)
        | ButtonAction::When { .. } => 1,
    }
}

/// Autocomplete choices: `(label, value)`.
pub fn choices(choices: Vec<(String, Value)>) -> Value {
    let choices: Vec<Value> = choices
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    json!({ "type": callback::CHOICES, "data": { "choices": choices } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_from_a_server_and_one_from_a_dm_read_with_only_what_autopost_needs() {
        let guild: Interaction = serde_json::from_value(json!({
            "id": "111", "type": 2, "token": "tok", "guild_id": "9", "channel_id": "7",
            "member": {"user": {"id": "5", "username": "ada", "global_name": "Ada"}, "permissions": "8192"},
            "data": {"name": "cancel", "options": [{"name": "id", "type": 4, "value": 17}]},
            "locale": "en-US", "something_new": {"a": 1}
        }))
        .unwrap();
        assert_eq!(guild.channel(), Some("7"));
        assert_eq!(guild.person().unwrap().name(), "Ada");
        assert_eq!(guild.permissions(), permission::MANAGE_MESSAGES);
        let dm: Interaction = serde_json::from_value(json!({
            "id": "112", "type": 2, "token": "tok", "channel": {"id": "8"},
            "user": {"id": "5", "username": "ada"}, "data": {"name": "queue"}
        }))
        .unwrap();
        assert_eq!(dm.channel(), Some("8"));
        assert_eq!(dm.person().unwrap().name(), "ada");
        assert_eq!(dm.permissions(), 0);
        assert!(dm.options().is_empty());
    }

    #[test]
    fn a_reply_becomes_a_message_without_mentions_and_with_its_buttons() {
        let mut reply = Reply::error("hello @everyone");
        reply.buttons = vec![vec![Button {
            label: "Cancel".into(),
            action: ButtonAction::Cancel(autopost::domain::PostId(3)),
        }]];
        let body = message(&reply, true);
        assert_eq!(body["flags"], EPHEMERAL);
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert!(body["content"].as_str().unwrap().contains("\\@everyone"));
        assert_eq!(
            body["components"][0]["components"][0]["custom_id"],
            "cancel:3"
        );
        assert_eq!(body["components"][0]["components"][0]["style"], 4);
    }
}
