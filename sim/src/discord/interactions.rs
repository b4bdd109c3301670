//! What the test side sends as Discord: people, guilds and members, and interaction payloads
//! with every field serenity's models require (slash commands in a guild or a DM, autocomplete,
//! button presses, PING). Their signed delivery is `delivery`'s.
//! <https://discord.com/developers/docs/interactions/receiving-and-responding>

use serde_json::{Map, Value, json};

use super::cdn::SimAttachment;
use super::permissions;
use super::responses::{APPLICATION_COMMAND, AUTOCOMPLETE, MESSAGE_COMPONENT, MODAL_SUBMIT, PING};
use super::{CommandScope, SimDiscord, State};
use crate::wire::random_token;

/// The largest upload interactions report as allowed (`attachment_size_limit`, 10 MiB).
const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;

/// A Discord user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDiscordUser {
    /// The user id (a snowflake).
    pub id: u64,
    /// The unique username.
    pub username: String,
    /// The display name, if set.
    pub global_name: Option<String>,
    /// The client's locale (`en-US`, …).
    pub locale: String,
}

impl SimDiscordUser {
    /// A person with this id and username, an English client and a display name from the name.
    pub fn new(id: u64, username: impl Into<String>) -> Self {
        let username = username.into();
        let mut chars = username.chars();
        let global_name = chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect());
        Self {
            id,
            username,
            global_name,
            locale: "en-US".to_owned(),
        }
    }

    /// As Discord writes users.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "username": self.username,
            "global_name": self.global_name,
            "avatar": null,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": null,
            "collectibles": null,
            "primary_guild": null,
            "clan": null,
        })
    }
}

/// A guild (server) with one text channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGuild {
    /// The guild id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its text channel (`#general`).
    pub channel_id: u64,
    /// Its preferred locale.
    pub locale: String,
}

impl SimGuild {
    /// A guild with this id, name and text channel.
    pub fn new(id: u64, name: impl Into<String>, channel_id: u64) -> Self {
        Self {
            id,
            name: name.into(),
            channel_id,
            locale: "en-US".to_owned(),
        }
    }
}

/// A user as a member of a guild, with their effective permissions in its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMember {
    /// The person.
    pub user: SimDiscordUser,
    /// Effective permissions in the channel (`member.permissions`).
    pub permissions: u64,
    /// Role ids.
    pub roles: Vec<u64>,
    /// The guild nickname, if any.
    pub nick: Option<String>,
}

impl SimMember {
    /// An ordinary member ([`permissions::MEMBER`], no roles).
    pub fn new(user: SimDiscordUser) -> Self {
        Self {
            user,
            permissions: permissions::MEMBER,
            roles: Vec::new(),
            nick: None,
        }
    }

    /// The same member with these effective permissions.
    pub fn with_permissions(mut self, permissions: u64) -> Self {
        self.permissions = permissions;
        self
    }

    /// The same member as an administrator: Discord then reports every permission.
    pub fn admin(self) -> Self {
        self.with_permissions(permissions::ALL)
    }

    /// The same member with MANAGE_MESSAGES added (a moderator).
    pub fn moderator(mut self) -> Self {
        self.permissions |= permissions::MANAGE_MESSAGES;
        self
    }

    /// The same member with these roles.
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = u64>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    fn to_json(&self) -> Value {
        json!({
            "user": self.user.to_json(),
            "nick": self.nick,
            "avatar": null,
            "banner": null,
            "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "permissions": self.permissions.to_string(),
            "communication_disabled_until": null,
            "unusual_dm_activity_until": null,
            "avatar_decoration_data": null,
        })
    }
}

/// Where an interaction happens.
#[derive(Debug, Clone)]
enum Place {
    Guild(SimGuild, SimMember),
    Dm(SimDiscordUser),
}

/// Builds one interaction payload; see [`SimDiscord::slash_command`] and its siblings.
#[must_use]
#[derive(Debug)]
pub struct InteractionBuilder<'a> {
    sim: &'a SimDiscord,
    kind: u8,
    name: String,
    place: Option<Place>,
    options: Vec<Value>,
    attachments: Map<String, Value>,
    custom_id: Option<String>,
    component_type: u8,
    values: Option<Vec<String>>,
    message_id: Option<u64>,
    fields: Vec<(String, String)>,
}

impl<'a> InteractionBuilder<'a> {
    fn new(sim: &'a SimDiscord, kind: u8, name: &str) -> Self {
        Self {
            sim,
            kind,
            name: name.to_owned(),
            place: None,
            options: Vec::new(),
            attachments: Map::new(),
            custom_id: None,
            component_type: 2,
            values: None,
            message_id: None,
            fields: Vec::new(),
        }
    }

    /// In `guild`'s text channel, by `member`.
    pub fn in_guild(mut self, guild: &SimGuild, member: &SimMember) -> Self {
        self.place = Some(Place::Guild(guild.clone(), member.clone()));
        self
    }

    /// In the bot's DM with `user` (no member, no guild).
    pub fn in_dm(mut self, user: &SimDiscordUser) -> Self {
        self.place = Some(Place::Dm(user.clone()));
        self
    }

    fn option(mut self, name: &str, kind: u8, value: Value) -> Self {
        self.options
            .push(json!({ "name": name, "type": kind, "value": value }));
        self
    }

    /// A STRING (3) option.
    pub fn string(self, name: &str, value: &str) -> Self {
        self.option(name, 3, value.into())
    }

    /// An INTEGER (4) option.
    pub fn integer(self, name: &str, value: i64) -> Self {
        self.option(name, 4, value.into())
    }

    /// A BOOLEAN (5) option.
    pub fn boolean(self, name: &str, value: bool) -> Self {
        self.option(name, 5, value.into())
    }

    /// A NUMBER (10) option.
    pub fn number(self, name: &str, value: f64) -> Self {
        self.option(name, 10, value.into())
    }

    /// An ATTACHMENT (11) option: its id as the value, the file in `data.resolved.attachments`.
    pub fn attachment(mut self, name: &str, attachment: &SimAttachment) -> Self {
        self.attachments
            .insert(attachment.id.to_string(), attachment.to_json());
        self.option(name, 11, attachment.id.to_string().into())
    }

    /// The option being typed, for an autocomplete interaction: a partial STRING value with
    /// `focused: true`.
    pub fn focused(self, name: &str, partial: &str) -> Self {
        self.focused_as(name, 3, partial)
    }

    /// The option being typed, of another type (INTEGER 4, NUMBER 10): Discord sends the
    /// partial input as text whatever the type.
    pub fn focused_as(mut self, name: &str, kind: u8, partial: &str) -> Self {
        self.options
            .push(json!({ "name": name, "type": kind, "value": partial, "focused": true }));
        self
    }

    /// For a string select: the values picked.
    pub fn values<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.values = Some(values.into_iter().map(Into::into).collect());
        self.component_type = 3;
        self
    }

    /// For a modal submit: a text input's value as the person left it.
    pub fn field(mut self, custom_id: &str, value: &str) -> Self {
        self.fields.push((custom_id.to_owned(), value.to_owned()));
        self
    }

    /// The payload, with a fresh interaction id and token. Without a place, it happens in the
    /// configured guild by an ordinary member.
    pub fn build(self) -> Value {
        let mut state = self.sim.lock();
        let place = self.place.clone().unwrap_or_else(|| {
            Place::Guild(
                state.config.guild.clone(),
                SimMember::new(SimDiscordUser::new(
                    state.config.application_id + 100,
                    "member",
                )),
            )
        });
        build_payload(&mut state, &self, &place)
    }
}

/// The `channel` object of an interaction.
fn channel_json(state: &mut State, place: &Place) -> (u64, Value) {
    match place {
        Place::Guild(guild, member) => {
            let channel = json!({
                "id": guild.channel_id.to_string(),
                "type": 0,
                "guild_id": guild.id.to_string(),
                "name": "general",
                "position": 0,
                "parent_id": null,
                "topic": null,
                "nsfw": false,
                "flags": 0,
                "last_message_id": null,
                "rate_limit_per_user": 0,
                "permissions": member.permissions.to_string(),
            });
            (guild.channel_id, channel)
        }
        Place::Dm(user) => {
            let id = state.dm_channel(user.id);
            let channel = json!({
                "id": id.to_string(),
                "type": 1,
                "flags": 0,
                "last_message_id": null,
                "recipients": [user.to_json()],
            });
            (id, channel)
        }
    }
}

/// The bot's permissions in a guild channel: what a bot invited with the usual scopes has.
fn app_permissions() -> u64 {
    permissions::MEMBER | permissions::MANAGE_MESSAGES
}

fn build_payload(state: &mut State, builder: &InteractionBuilder<'_>, place: &Place) -> Value {
    let id = state.snowflake();
    let token = random_token("aW50ZXJhY3Rpb246");
    let application_id = state.config.application_id.to_string();
    if builder.kind == PING {
        return json!({
            "id": id.to_string(),
            "application_id": application_id,
            "type": PING,
            "token": token,
            "version": 1,
        });
    }
    let (channel_id, channel) = channel_json(state, place);
    let mut payload = json!({
        "id": id.to_string(),
        "application_id": application_id,
        "type": builder.kind,
        "channel_id": channel_id.to_string(),
        "channel": channel,
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    });
    match place {
        Place::Guild(guild, member) => {
            payload["guild_id"] = guild.id.to_string().into();
            payload["guild"] =
                json!({ "id": guild.id.to_string(), "locale": guild.locale, "features": [] });
            payload["guild_locale"] = guild.locale.as_str().into();
            payload["member"] = member.to_json();
            payload["locale"] = member.user.locale.as_str().into();
            payload["app_permissions"] = app_permissions().to_string().into();
            payload["authorizing_integration_owners"] = json!({ "0": guild.id.to_string() });
            payload["context"] = 0.into();
        }
        Place::Dm(user) => {
            payload["user"] = user.to_json();
            payload["locale"] = user.locale.as_str().into();
            // In a DM the bot may do what a DM allows.
            payload["app_permissions"] = (permissions::MEMBER
                & !permissions::USE_APPLICATION_COMMANDS)
                .to_string()
                .into();
            payload["authorizing_integration_owners"] = json!({ "0": "0" });
            payload["context"] = 1.into();
        }
    }
    let guild_id = match place {
        Place::Guild(guild, _) => Some(guild.id),
        Place::Dm(_) => None,
    };
    if builder.kind == MODAL_SUBMIT {
        // Each text input comes back in its own action row, with its value.
        let rows: Vec<Value> = builder
            .fields
            .iter()
            .map(|(custom_id, value)| {
                json!({ "type": 1, "components": [
                    { "type": 4, "custom_id": custom_id, "value": value }
                ] })
            })
            .collect();
        payload["data"] = json!({
            "custom_id": builder.custom_id.clone().unwrap_or_default(),
            "components": rows,
        });
        // A modal opened from a button carries that button's message.
        if let Some(message_id) = builder.message_id {
            payload["message"] = state
                .message_json(message_id)
                .unwrap_or_else(|| stand_in_message(state, message_id, channel_id));
        }
        return payload;
    }
    if builder.kind == MESSAGE_COMPONENT {
        let message_id = builder.message_id.unwrap_or(0);
        let mut data = json!({
            "custom_id": builder.custom_id.clone().unwrap_or_default(),
            "component_type": builder.component_type,
        });
        if let Some(values) = &builder.values {
            data["values"] = json!(values);
        }
        payload["data"] = data;
        payload["message"] = state
            .message_json(message_id)
            .unwrap_or_else(|| stand_in_message(state, message_id, channel_id));
        return payload;
    }
    // A command registered under that name keeps its id; else a fresh one.
    let command_id = [
        guild_id.map(CommandScope::Guild),
        Some(CommandScope::Global),
    ]
    .into_iter()
    .flatten()
    .find_map(|scope| {
        state.command_sets.get(&scope)?.iter().find_map(|c| {
            (c.get("name").and_then(Value::as_str) == Some(builder.name.as_str()))
                .then(|| c.get("id").and_then(Value::as_str).map(str::to_owned))
                .flatten()
        })
    })
    .unwrap_or_else(|| state.snowflake().to_string());
    let mut data = json!({
        "id": command_id,
        "name": builder.name,
        "type": 1,
    });
    if !builder.options.is_empty() {
        data["options"] = Value::Array(builder.options.clone());
    }
    if !builder.attachments.is_empty() {
        data["resolved"] = json!({ "attachments": builder.attachments });
    }
    if let Some(guild_id) = guild_id {
        data["guild_id"] = guild_id.to_string().into();
    }
    payload["data"] = data;
    payload
}

/// A button's message the simulated Discord does not know: an empty message by the bot.
fn stand_in_message(state: &State, message_id: u64, channel_id: u64) -> Value {
    json!({
        "id": message_id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": state.bot_user(),
        "content": "",
        "timestamp": "2025-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
    })
}
impl SimDiscord {
    /// A slash command (type 2, CHAT_INPUT) named `name`.
    pub fn slash_command(&self, name: &str) -> InteractionBuilder<'_> {
        InteractionBuilder::new(self, APPLICATION_COMMAND, name)
    }

    /// An autocomplete request (type 4) for command `name`; add the option being typed with
    /// [`InteractionBuilder::focused`].
    pub fn autocomplete(&self, name: &str) -> InteractionBuilder<'_> {
        InteractionBuilder::new(self, AUTOCOMPLETE, name)
    }

    /// A button press (type 3) on the bot's message `message_id` (its current state is sent as
    /// `message`; an empty stand-in if the message is unknown).
    pub fn button_press(&self, custom_id: &str, message_id: u64) -> InteractionBuilder<'_> {
        let mut builder = InteractionBuilder::new(self, MESSAGE_COMPONENT, "");
        builder.custom_id = Some(custom_id.to_owned());
        builder.message_id = Some(message_id);
        builder
    }

    /// A modal submit (type 5) of the modal `custom_id`, opened from a button on the bot's
    /// message `message_id` if any; add the inputs with [`InteractionBuilder::field`].
    pub fn modal_submit(&self, custom_id: &str, message_id: Option<u64>) -> InteractionBuilder<'_> {
        let mut builder = InteractionBuilder::new(self, MODAL_SUBMIT, "");
        builder.custom_id = Some(custom_id.to_owned());
        builder.message_id = message_id;
        builder
    }

    /// A PING (type 1), as Discord sends to check an endpoint.
    pub fn ping(&self) -> Value {
        InteractionBuilder::new(self, PING, "").build()
    }
}

#[cfg(test)]
mod tests {
    use serenity::model::application::{CommandDataOptionValue, Interaction, ResolvedValue};

    use super::super::{SimDiscordConfig, permissions};
    use super::*;

    fn sim() -> SimDiscord {
        SimDiscord::new(SimDiscordConfig::random())
    }

    fn parse(payload: &Value) -> Interaction {
        serde_json::from_value(payload.clone()).unwrap_or_else(|e| panic!("{e}: {payload:#}"))
    }

    #[test]
    fn a_guild_slash_command_deserializes_into_serenitys_command_interaction() {
        let sim = sim();
        let guild = sim.guild();
        let bob = SimMember::new(SimDiscordUser::new(42, "bob")).moderator();
        let photo = sim.add_attachment("a b.png", "image/png", b"not really a png".to_vec());
        let payload = sim
            .slash_command("post")
            .in_guild(&guild, &bob)
            .string("text", "hello")
            .integer("count", 3)
            .attachment("image1", &photo)
            .build();
        let Interaction::Command(command) = parse(&payload) else {
            panic!("not a command: {payload:#}");
        };
        assert_eq!(command.data.name, "post");
        assert_eq!(command.guild_id.map(|g| g.get()), Some(guild.id));
        assert_eq!(command.channel_id.get(), guild.channel_id);
        assert_eq!(command.user.id.get(), 42, "taken from the member");
        let member = command.member.as_ref().unwrap();
        let permissions = member.permissions.unwrap().bits();
        assert_ne!(permissions & permissions::MANAGE_MESSAGES, 0);
        let options = command.data.options();
        assert!(matches!(options[0].value, ResolvedValue::String("hello")));
        assert!(matches!(options[1].value, ResolvedValue::Integer(3)));
        let ResolvedValue::Attachment(attachment) = options[2].value else {
            panic!("unresolved attachment: {options:?}");
        };
        assert_eq!(attachment.filename, "a_b.png");
        assert_eq!(attachment.url, photo.url);
    }

    #[test]
    fn a_dm_slash_command_has_a_user_and_no_member() {
        let sim = sim();
        let carol = SimDiscordUser::new(7, "carol");
        let payload = sim.slash_command("help").in_dm(&carol).build();
        let Interaction::Command(command) = parse(&payload) else {
            panic!("not a command");
        };
        assert!(command.member.is_none() && command.guild_id.is_none());
        assert_eq!(command.user.name, "carol");
        assert_eq!(Some(command.channel_id.get()), sim.dm_channel(7));
    }

    #[test]
    fn an_autocomplete_carries_one_focused_option() {
        let sim = sim();
        let payload = sim
            .autocomplete("post")
            .string("text", "hi")
            .focused("to", "fa")
            .build();
        let Interaction::Autocomplete(command) = parse(&payload) else {
            panic!("not an autocomplete");
        };
        let focused = command.data.autocomplete().unwrap();
        assert_eq!((focused.name, focused.value), ("to", "fa"));
        assert!(matches!(
            command.data.options[0].value,
            CommandDataOptionValue::String(_)
        ));
    }

    #[test]
    fn a_button_press_and_a_ping_deserialize() {
        let sim = sim();
        let payload = sim.button_press("cancel:7", 99).build();
        let Interaction::Component(press) = parse(&payload) else {
            panic!("not a component");
        };
        assert_eq!(press.data.custom_id, "cancel:7");
        assert_eq!(press.message.id.get(), 99);
        let select = sim
            .button_press("targets", 99)
            .values(["x", "facebook"])
            .build();
        assert!(matches!(parse(&select), Interaction::Component(_)));
        assert!(matches!(parse(&sim.ping()), Interaction::Ping(_)));
    }

    #[test]
    fn a_command_registered_by_name_lends_its_id() {
        let sim = sim();
        let registered = json!([{ "id": "555", "name": "post" }]);
        sim.lock().command_sets.insert(
            CommandScope::Global,
            registered.as_array().cloned().unwrap(),
        );
        let payload = sim.slash_command("post").build();
        assert_eq!(payload["data"]["id"], "555");
    }
}
