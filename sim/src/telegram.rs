//! Simulated Telegram Bot API: `/bot<token>/<method>` with the real envelope, long-polled
//! `getUpdates` with offsets, messages, inline keyboards and callbacks, files, commands, member
//! statuses and webhooks, checked as Telegram checks them, with updates pushed and answers
//! inspected by tests and injected failures. Never used in production; never logs the token.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, Cursor};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;
use url::Url;

use super::SimServer;
use super::wire::{form_pairs, parse_multipart, random_token};
use autopost::crypto::Secret;

/// Longest message text, in characters after entity parsing.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest caption, in characters after entity parsing.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Longest `callback_data` of an inline button, in bytes.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;
/// Telegram's limit on the bot's description (`setMyDescription`), shown in an empty chat.
/// <https://core.telegram.org/bots/api#setmydescription>
pub const MAX_DESCRIPTION_CHARS: usize = 512;
/// Telegram's limit on the bot's short description (`setMyShortDescription`), shown on its
/// profile and in shared links. <https://core.telegram.org/bots/api#setmyshortdescription>
pub const MAX_SHORT_DESCRIPTION_CHARS: usize = 120;
/// Largest file `getFile` hands out a download path for (the cloud Bot API's limit).
pub const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;
/// The header Telegram puts the webhook's secret token in.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// Largest request body taken (Telegram's upload limit for bots).
const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;
/// Update kinds Telegram leaves out unless `allowed_updates` names them.
const OPT_IN_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];
/// Tags Telegram's HTML parse mode knows. <https://core.telegram.org/bots/api#html-style>
const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
];
/// The methods served, as Telegram spells them; others answer 404 like an unknown method.
const METHODS: &[&str] = &[
    "getMe",
    "getWebhookInfo",
    "setWebhook",
    "deleteWebhook",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "sendDocument",
    "answerCallbackQuery",
    "getFile",
    "getChat",
    "getChatMember",
    "getChatAdministrators",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "setMyDescription",
    "getMyDescription",
    "setMyShortDescription",
    "getMyShortDescription",
];

/// How the simulated bot is registered at @BotFather.
#[derive(Debug)]
pub struct SimTelegramConfig {
    /// The bot token (`<bot id>:<secret>`); the only one accepted in URLs.
    pub token: Secret,
    /// The bot's @username, without `@`.
    pub username: String,
    /// The bot's display name.
    pub first_name: String,
}

impl SimTelegramConfig {
    /// A bot with this token and username; the display name is derived from the username.
    pub fn new(token: impl Into<Box<str>>, username: impl Into<String>) -> Self {
        let username = username.into();
        Self {
            token: Secret::new(token),
            first_name: format!("Sim {username}"),
            username,
        }
    }

    /// The bot's user id: the digits before `:` in its token, as at Telegram.
    fn bot_id(&self) -> i64 {
        self.token
            .expose()
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or(1)
    }
}

/// A Telegram user who talks to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The user id (positive).
    pub id: i64,
    /// Whether the user is a bot.
    pub is_bot: bool,
    /// Given name.
    pub first_name: String,
    /// @username without `@`, if the user has one.
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    pub language_code: Option<String>,
}

impl SimUser {
    /// A human user with an English client and a username derived from the name.
    pub fn new(id: i64, first_name: impl Into<String>) -> Self {
        let first_name = first_name.into();
        Self {
            id,
            is_bot: false,
            username: Some(first_name.to_lowercase().replace(' ', "_")),
            first_name,
            language_code: Some("en".to_owned()),
        }
    }

    fn to_json(&self) -> Value {
        let mut user =
            json!({ "id": self.id, "is_bot": self.is_bot, "first_name": self.first_name });
        if let Some(username) = &self.username {
            user["username"] = username.as_str().into();
        }
        if let Some(language) = &self.language_code {
            user["language_code"] = language.as_str().into();
        }
        user
    }
}

/// The kind of a chat, as in `chat.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    /// A one-to-one chat with a user; its id is the user's.
    Private,
    /// A basic group (negative id).
    Group,
    /// A supergroup (id `-100…`).
    Supergroup,
    /// A channel (id `-100…`).
    Channel,
}

impl ChatType {
    fn as_str(self) -> &'static str {
        match self {
            ChatType::Private => "private",
            ChatType::Group => "group",
            ChatType::Supergroup => "supergroup",
            ChatType::Channel => "channel",
        }
    }
}

/// A chat the bot is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimChat {
    /// The chat id: a user id for private chats, negative for groups.
    pub id: i64,
    /// Its kind.
    pub kind: ChatType,
    /// Title of a group or channel.
    pub title: Option<String>,
    /// First name of the user of a private chat.
    pub first_name: Option<String>,
    /// Public @username, if any.
    pub username: Option<String>,
}

impl SimChat {
    /// The private chat with `user`.
    pub fn private(user: &SimUser) -> Self {
        Self {
            id: user.id,
            kind: ChatType::Private,
            title: None,
            first_name: Some(user.first_name.clone()),
            username: user.username.clone(),
        }
    }

    /// A supergroup; `id` should look like Telegram's (`-100…`).
    pub fn supergroup(id: i64, title: impl Into<String>) -> Self {
        Self {
            id,
            kind: ChatType::Supergroup,
            title: Some(title.into()),
            first_name: None,
            username: None,
        }
    }

    /// A basic group (negative id).
    pub fn group(id: i64, title: impl Into<String>) -> Self {
        Self {
            kind: ChatType::Group,
            ..Self::supergroup(id, title)
        }
    }

    fn to_json(&self) -> Value {
        let mut chat = json!({ "id": self.id, "type": self.kind.as_str() });
        if let Some(title) = &self.title {
            chat["title"] = title.as_str().into();
        }
        if let Some(first_name) = &self.first_name {
            chat["first_name"] = first_name.as_str().into();
        }
        if let Some(username) = &self.username {
            chat["username"] = username.as_str().into();
        }
        chat
    }
}

/// A file registered with [`SimTelegram::add_file`], as messages refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Opaque id to pass to `getFile`.
    pub file_id: String,
    /// Stable id that cannot download the file.
    pub file_unique_id: String,
}

/// A chat member's status, as `getChatMember` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// The owner of the group.
    Creator,
    /// A group administrator.
    Administrator,
    /// An ordinary member (the default).
    Member,
    /// A member with restrictions.
    Restricted,
    /// Not in the chat (anymore).
    Left,
    /// Banned from the chat.
    Kicked,
}

impl MemberStatus {
    fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Creator => "creator",
            MemberStatus::Administrator => "administrator",
            MemberStatus::Member => "member",
            MemberStatus::Restricted => "restricted",
            MemberStatus::Left => "left",
            MemberStatus::Kicked => "kicked",
        }
    }
}

/// A message a user sends, built up before [`SimTelegram::push_message`].
#[derive(Debug, Clone)]
pub struct SimMessage {
    chat: SimChat,
    from: Option<SimUser>,
    text: Option<String>,
    caption: Option<String>,
    photo: Option<FileRef>,
    document: Option<(FileRef, String, String)>,
    media_group_id: Option<String>,
    reply_to: Option<i64>,
    forwarded_from: Option<SimUser>,
    reply_to_update: Option<Value>,
}

impl SimMessage {
    fn empty(chat: &SimChat, from: &SimUser) -> Self {
        Self {
            chat: chat.clone(),
            from: Some(from.clone()),
            text: None,
            caption: None,
            photo: None,
            document: None,
            media_group_id: None,
            forwarded_from: None,
            reply_to_update: None,
            reply_to: None,
        }
    }

    /// A text message from `from` in `chat`.
    pub fn text(chat: &SimChat, from: &SimUser, text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::empty(chat, from)
        }
    }

    /// A compressed photo of a registered file, delivered as sizes in ascending order (the
    /// registered file is the largest; smaller sizes are distinct thumbnail files).
    pub fn photo(chat: &SimChat, from: &SimUser, file: &FileRef) -> Self {
        Self {
            photo: Some(file.clone()),
            ..Self::empty(chat, from)
        }
    }

    /// A file sent "as a document" (uncompressed), with its name and MIME type.
    pub fn document(
        chat: &SimChat,
        from: &SimUser,
        file: &FileRef,
        file_name: impl Into<String>,
        mime_type: impl Into<String>,
    ) -> Self {
        Self {
            document: Some((file.clone(), file_name.into(), mime_type.into())),
            ..Self::empty(chat, from)
        }
    }

    /// The same message with a caption (for photos and documents).
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// The same message as one part of an album.
    pub fn media_group(mut self, media_group_id: impl Into<String>) -> Self {
        self.media_group_id = Some(media_group_id.into());
        self
    }

    /// The same message as a reply to the message `message_id` of its chat (Telegram then
    /// carries that message, as it is now, in `reply_to_message`).
    pub fn reply_to(mut self, message_id: i64) -> Self {
        self.reply_to = Some(message_id);
        self
    }

    /// The same message forwarded by its sender from `origin`'s message: Telegram keeps the
    /// text (and its command entities) and adds `forward_origin`.
    pub fn forwarded_from(mut self, origin: &SimUser) -> Self {
        self.forwarded_from = Some(origin.clone());
        self
    }

    /// The same message as a reply to `message` (the `message` object of an update, as
    /// [`SimTelegram::update`] returns it).
    pub fn reply_to_update(mut self, message: Value) -> Self {
        self.reply_to_update = Some(message);
        self
    }

    /// The same message without `from`, as in channels.
    pub fn anonymous(mut self) -> Self {
        self.from = None;
        self
    }
}

/// A failure to answer the next call of a method with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after`; nothing is done.
    TooManyRequests {
        /// Seconds the bot must wait.
        retry_after: u64,
    },
    /// 500 with the envelope; nothing is done.
    ServerError,
    /// 502 with an HTML page from the front proxy, not JSON; nothing is done.
    BadGateway,
    /// 400 with `parameters.migrate_to_chat_id`: the group became this supergroup.
    MigratedToSupergroup {
        /// The supergroup's id, to use from now on.
        chat_id: i64,
    },
    /// The call is carried out, then answered only after this delay.
    Slow(Duration),
}

/// A text message the bot sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The chat it went to.
    pub chat_id: i64,
    /// Its id within the chat.
    pub message_id: i64,
    /// The text as sent (with any markup).
    pub text: String,
    /// `HTML`, `MarkdownV2`, `Markdown`, or none.
    pub parse_mode: Option<String>,
    /// The `reply_markup` as sent.
    pub reply_markup: Option<Value>,
    /// When the call arrived.
    pub received_at: DateTime<Utc>,
}

/// An edit the bot made to one of its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct EditedMessage {
    /// The chat of the message.
    pub chat_id: i64,
    /// The message edited.
    pub message_id: i64,
    /// Its text after the edit.
    pub text: String,
    /// The parse mode of the new text.
    pub parse_mode: Option<String>,
    /// Its `reply_markup` after the edit (`None` removes the keyboard).
    pub reply_markup: Option<Value>,
}

/// A document the bot uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct SentDocument {
    /// The chat it went to.
    pub chat_id: i64,
    /// Its message id.
    pub message_id: i64,
    /// The multipart file name.
    pub file_name: Option<String>,
    /// The file's content.
    pub bytes: Bytes,
    /// Its caption.
    pub caption: Option<String>,
}

/// An answer to a callback query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredCallback {
    /// The query answered.
    pub callback_query_id: String,
    /// The notification text, if any.
    pub text: Option<String>,
    /// Whether it shows as an alert rather than a toast.
    pub show_alert: bool,
}

/// One bot command in a `setMyCommands` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotCommand {
    /// The command without `/`.
    pub command: String,
    /// Its description.
    pub description: String,
}

/// One accepted `setMyCommands` call.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCommands {
    /// The `scope` object, if one was given.
    pub scope: Option<Value>,
    /// The `language_code`, if one was given.
    pub language_code: Option<String>,
    /// The commands, in order.
    pub commands: Vec<BotCommand>,
}

/// One accepted `setMyDescription` or `setMyShortDescription` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDescription {
    /// Whether it was the short description.
    pub short: bool,
    /// The `language_code`, if one was given.
    pub language_code: Option<String>,
    /// The text; empty removes it.
    pub text: String,
}

/// The webhook the bot registered with `setWebhook`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Where updates should go.
    pub url: String,
    /// What Telegram would send in [`SECRET_TOKEN_HEADER`].
    pub secret_token: Option<String>,
    /// Most simultaneous deliveries (default 40).
    pub max_connections: u32,
    /// Update kinds asked for, if given.
    pub allowed_updates: Option<Vec<String>>,
}

/// An update pushed by the test side, and when it became available to `getUpdates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushedUpdate {
    /// Its `update_id`.
    pub update_id: i64,
    /// The chat it was written in (messages and button presses), if any.
    pub chat_id: Option<i64>,
    /// When it was queued, on the monotonic clock.
    pub queued_at: std::time::Instant,
}

/// A pushed update paired with the bot's message that answered it, for latency measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateReply {
    /// The update.
    pub update_id: i64,
    /// Its chat.
    pub chat_id: i64,
    /// When it became available to `getUpdates`.
    pub queued_at: std::time::Instant,
    /// When the `sendMessage` paired with it arrived; `None` if its chat got fewer messages
    /// than it was sent updates.
    pub replied_at: Option<std::time::Instant>,
    /// The chat's next update was queued before this reply arrived, so the pairing by order
    /// may have swapped the two replies.
    pub ambiguous: bool,
}

/// Updates paired with replies: see [`SimTelegram::update_replies`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyPairing {
    /// Every pushed update that has a chat, in push order.
    pub pairs: Vec<UpdateReply>,
    /// Messages beyond one per update of their chat (or to chats no update came from).
    pub unpaired_messages: usize,
}

/// Pairs the k-th update pushed in a chat with the k-th message the bot sent to that chat.
/// Exact as long as a chat's replies come back in the order of its updates; `ambiguous`
/// marks where they could have crossed.
fn pair_replies(pushed: &[PushedUpdate], replies: &[(i64, std::time::Instant)]) -> ReplyPairing {
    let mut by_chat: HashMap<i64, VecDeque<std::time::Instant>> = HashMap::new();
    for (chat, at) in replies {
        by_chat.entry(*chat).or_default().push_back(*at);
    }
    let mut next_of_chat: HashMap<i64, usize> = HashMap::new();
    let mut pairs: Vec<UpdateReply> = Vec::with_capacity(pushed.len());
    for update in pushed {
        let Some(chat_id) = update.chat_id else {
            continue;
        };
        if let Some(&previous) = next_of_chat.get(&chat_id) {
            let earlier = &mut pairs[previous];
            earlier.ambiguous = earlier
                .replied_at
                .is_some_and(|replied| update.queued_at < replied);
        }
        next_of_chat.insert(chat_id, pairs.len());
        pairs.push(UpdateReply {
            update_id: update.update_id,
            chat_id,
            queued_at: update.queued_at,
            replied_at: by_chat.get_mut(&chat_id).and_then(VecDeque::pop_front),
            ambiguous: false,
        });
    }
    ReplyPairing {
        pairs,
        unpaired_messages: by_chat.values().map(VecDeque::len).sum(),
    }
}

/// The chat of a message or button-press update.
fn chat_of(update: &Value) -> Option<i64> {
    update
        .pointer("/message/chat/id")
        .or_else(|| update.pointer("/callback_query/message/chat/id"))
        .and_then(Value::as_i64)
}

/// Handle on a running simulated Bot API; clones share its state.
#[derive(Clone)]
pub struct SimTelegram {
    state: Arc<Mutex<SimState>>,
    /// Wakes long polls when an update is queued or another poll starts.
    updates_queued: Arc<Notify>,
    /// Delivers webhook posts.
    client: reqwest::Client,
}

impl fmt::Debug for SimTelegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state holds the token: show only what a test needs to read a failure.
        let state = self.lock();
        f.debug_struct("SimTelegram")
            .field("username", &state.config.username)
            .field("pending_updates", &state.queue.len())
            .field("sent_messages", &state.sent.len())
            .finish_non_exhaustive()
    }
}

/// How a `getUpdates` call ended, for tests that must tell an answer that came at once, one
/// that an event cut short and one that waited out its timeout, without timing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEnd {
    /// Answered at the first look: updates were waiting, the timeout was 0, or a webhook is set.
    Immediate,
    /// Waited, then answered before its timeout: an update came, or a newer poll or a
    /// webhook ended it.
    Woken,
    /// Waited out its whole timeout.
    TimedOut,
}

/// Counts a long poll as waiting until it answers or its caller hangs up.
struct Waiting(Arc<Mutex<SimState>>);

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.polls_waiting -= 1;
    }
}

/// A queued update; `forced` ones were redelivered and go out once whatever the offset.
struct Queued {
    id: i64,
    update: Value,
    forced: bool,
}

struct StoredFile {
    unique_id: String,
    bytes: Bytes,
    size: u64,
    path: String,
}

/// What the bot's message looks like now, for edits and callback presses.
struct BotMessage {
    text: String,
    reply_markup: Option<Value>,
    date: i64,
}

struct SimState {
    config: SimTelegramConfig,
    bot_id: i64,
    next_update_id: i64,
    queue: VecDeque<Queued>,
    history: HashMap<i64, Value>,
    poll_generation: u64,
    allowed_updates: Option<Vec<String>>,
    chats: HashMap<i64, SimChat>,
    users: HashMap<i64, SimUser>,
    blocked_by: HashSet<i64>,
    next_message_id: HashMap<i64, i64>,
    bot_messages: HashMap<(i64, i64), BotMessage>,
    sent: Vec<SentMessage>,
    edited: Vec<EditedMessage>,
    documents: Vec<SentDocument>,
    pending_callbacks: HashSet<String>,
    answered: Vec<AnsweredCallback>,
    command_calls: Vec<RecordedCommands>,
    commands: HashMap<String, Vec<BotCommand>>,
    descriptions: Vec<RecordedDescription>,
    webhook: Option<Webhook>,
    webhook_error: Option<(i64, String)>,
    files: HashMap<String, StoredFile>,
    paths: HashMap<String, String>,
    downloads: Vec<String>,
    members: HashMap<(i64, i64), MemberStatus>,
    failures: HashMap<&'static str, VecDeque<Failure>>,
    requests: HashMap<&'static str, usize>,
    unauthorized: usize,
    /// Every push, for latency measurements.
    pushed: Vec<PushedUpdate>,
    /// The chat and arrival of every accepted `sendMessage`, for latency measurements.
    replies: Vec<(i64, std::time::Instant)>,
    /// `getUpdates` calls waiting for an update now.
    polls_waiting: usize,
    /// How each `getUpdates` call ended, in order.
    poll_ends: Vec<PollEnd>,
}

/// Starts a simulated Bot API on a free loopback port. Point `AUTOPOST_TELEGRAM_API_URL` (or
/// teloxide's `Bot::set_api_url`) at the server's URL.
pub async fn start(config: SimTelegramConfig) -> io::Result<(SimTelegram, SimServer)> {
    let sim = SimTelegram::new(config);
    let server = SimServer::spawn(sim.router()).await?;
    Ok((sim, server))
}

/// `{"ok":true,"result":…}`.
fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": true, "result": result })),
    )
        .into_response()
}

/// `{"ok":false,"error_code":…,"description":…}` with that HTTP status, as Telegram answers.
fn error(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

fn bad_request(description: &str) -> Response {
    error(400, &format!("Bad Request: {description}"), None)
}

/// Telegram's answer to `getUpdates` while a webhook is set.
fn webhook_conflict() -> Response {
    error(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        None,
    )
}

fn not_found() -> Response {
    error(404, "Not Found", None)
}

fn unauthorized() -> Response {
    error(401, "Unauthorized", None)
}

/// The parameters of one call, merged from the query and the body as Telegram merges them.
struct Call {
    params: Map<String, Value>,
    /// Multipart file parts by name: file name and bytes.
    files: HashMap<String, (Option<String>, Bytes)>,
}

impl Call {
    fn str(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }

    /// An integer given as a JSON number or as text.
    fn int(&self, name: &str) -> Option<i64> {
        match self.params.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn bool(&self, name: &str) -> bool {
        match self.params.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            _ => false,
        }
    }

    /// A JSON-valued parameter, given inline (JSON bodies) or serialized (forms); `Err` when
    /// it is text that is not JSON.
    fn json(&self, name: &str) -> Result<Option<Value>, ()> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(drop),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

impl SimTelegram {
    /// A simulated Bot API that is not serving yet; see [`SimTelegram::router`] and [`start`].
    pub fn new(config: SimTelegramConfig) -> Self {
        let bot_id = config.bot_id();
        let state = SimState {
            config,
            bot_id,
            next_update_id: 100_000_001,
            queue: VecDeque::new(),
            history: HashMap::new(),
            poll_generation: 0,
            allowed_updates: None,
            chats: HashMap::new(),
            users: HashMap::new(),
            blocked_by: HashSet::new(),
            next_message_id: HashMap::new(),
            bot_messages: HashMap::new(),
            sent: Vec::new(),
            edited: Vec::new(),
            documents: Vec::new(),
            pending_callbacks: HashSet::new(),
            answered: Vec::new(),
            command_calls: Vec::new(),
            commands: HashMap::new(),
            descriptions: Vec::new(),
            webhook: None,
            webhook_error: None,
            files: HashMap::new(),
            paths: HashMap::new(),
            downloads: Vec::new(),
            members: HashMap::new(),
            failures: HashMap::new(),
            requests: HashMap::new(),
            unauthorized: 0,
            pushed: Vec::new(),
            replies: Vec::new(),
            polls_waiting: 0,
            poll_ends: Vec::new(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            updates_queued: Arc::new(Notify::new()),
            client: reqwest::Client::new(),
        }
    }

    /// The routes, to serve or to nest in another router.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(dispatch)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- test side: what users do ----

    /// Registers a downloadable file; `file_size_override` is what `getFile` and messages
    /// report instead of the real length (to fake a file over 20 MB without allocating it).
    pub fn add_file(&self, bytes: impl Into<Bytes>, file_size_override: Option<u64>) -> FileRef {
        let bytes = bytes.into();
        let size = file_size_override.unwrap_or(bytes.len() as u64);
        self.lock().add_file(bytes, size)
    }

    /// Makes a chat known without a message (the bot was added to it, or the user pressed
    /// Start earlier); the bot may then message it.
    pub fn add_chat(&self, chat: &SimChat) {
        self.lock().chats.insert(chat.id, chat.clone());
    }

    /// The user blocks the bot: messages to them get 403 from now on.
    pub fn block_bot(&self, user_id: i64) {
        self.lock().blocked_by.insert(user_id);
    }

    /// Sets what `getChatMember` answers for `user_id` in `chat_id` (default: member).
    pub fn set_member_status(&self, chat_id: i64, user_id: i64, status: MemberStatus) {
        self.lock().members.insert((chat_id, user_id), status);
    }

    /// Queues a message from a user; returns its update id.
    pub fn push_message(&self, message: SimMessage) -> i64 {
        let update = self.lock().message_update(&message);
        self.push_raw(update)
    }

    /// A text message in the private chat with `from`.
    pub fn push_private_text(&self, from: &SimUser, text: &str) -> i64 {
        self.push_message(SimMessage::text(&SimChat::private(from), from, text))
    }

    /// A text message from `from` in a group chat.
    pub fn push_group_text(&self, chat: &SimChat, from: &SimUser, text: &str) -> i64 {
        self.push_message(SimMessage::text(chat, from, text))
    }

    /// A compressed photo of `file` with an optional caption.
    pub fn push_photo(
        &self,
        chat: &SimChat,
        from: &SimUser,
        file: &FileRef,
        caption: Option<&str>,
    ) -> i64 {
        let mut message = SimMessage::photo(chat, from, file);
        message.caption = caption.map(str::to_owned);
        self.push_message(message)
    }

    /// An image sent as a file, its MIME type recognised from its bytes.
    pub fn push_image_document(
        &self,
        chat: &SimChat,
        from: &SimUser,
        file: &FileRef,
        file_name: &str,
        caption: Option<&str>,
    ) -> i64 {
        let mime = self
            .lock()
            .files
            .get(&file.file_id)
            .map_or("application/octet-stream", |f| sniff(&f.bytes).1);
        let mut message = SimMessage::document(chat, from, file, file_name, mime);
        message.caption = caption.map(str::to_owned);
        self.push_message(message)
    }

    /// An album: one photo message per file sharing a fresh `media_group_id`, the caption on
    /// the first only, as Telegram delivers them; returns their update ids.
    pub fn push_album(
        &self,
        chat: &SimChat,
        from: &SimUser,
        files: &[FileRef],
        caption: Option<&str>,
    ) -> Vec<i64> {
        let group = self.lock().next_update_id.wrapping_mul(7_919).to_string();
        files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let mut message = SimMessage::photo(chat, from, file).media_group(group.clone());
                if i == 0 {
                    message.caption = caption.map(str::to_owned);
                }
                self.push_message(message)
            })
            .collect()
    }

    /// `from` presses an inline button carrying `data` under the bot's message `message_id`
    /// in `chat_id`; returns the update id. The query must then be answered once.
    pub fn push_callback(&self, from: &SimUser, chat_id: i64, message_id: i64, data: &str) -> i64 {
        let update = self.lock().callback_update(from, chat_id, message_id, data);
        self.push_raw(update)
    }

    /// Queues any update; an `update_id` is assigned unless it has one. Returns the id.
    pub fn push_raw(&self, mut update: Value) -> i64 {
        let id = {
            let mut state = self.lock();
            let id = match update.get("update_id").and_then(Value::as_i64) {
                Some(id) => id,
                None => state.next_update_id,
            };
            state.next_update_id = state.next_update_id.max(id + 1);
            update["update_id"] = id.into();
            state.history.insert(id, update.clone());
            let chat_id = chat_of(&update);
            state.enqueue(Queued {
                id,
                update,
                forced: false,
            });
            state.pushed.push(PushedUpdate {
                update_id: id,
                chat_id,
                queued_at: std::time::Instant::now(),
            });
            id
        };
        self.updates_queued.notify_waiters();
        id
    }

    /// Delivers a pushed update again with the same `update_id`, whatever offset the bot has
    /// confirmed, as when a bot restarts before confirming it. `false` if it was never pushed.
    pub fn redeliver(&self, update_id: i64) -> bool {
        let redelivered = {
            let mut state = self.lock();
            match state.history.get(&update_id).cloned() {
                Some(update) => {
                    state.enqueue(Queued {
                        id: update_id,
                        update,
                        forced: true,
                    });
                    true
                }
                None => false,
            }
        };
        self.updates_queued.notify_waiters();
        redelivered
    }

    /// A pushed update as it was queued, for [`SimTelegram::deliver_webhook`].
    pub fn update(&self, update_id: i64) -> Option<Value> {
        self.lock().history.get(&update_id).cloned()
    }

    /// POSTs `update` to a bot's webhook as Telegram does, with the secret header if given;
    /// returns the status, or 502 when nothing answered. A non-2xx answer is recorded as the
    /// webhook's last error in `getWebhookInfo`.
    pub async fn deliver_webhook(
        &self,
        url: &Url,
        update: Value,
        secret: Option<&str>,
    ) -> reqwest::StatusCode {
        let mut request = self
            .client
            .post(url.clone())
            .json(&update)
            .timeout(Duration::from_secs(10));
        if let Some(secret) = secret {
            request = request.header(SECRET_TOKEN_HEADER, secret);
        }
        let (status, problem) = match request.send().await {
            Ok(answer) => {
                let status = answer.status();
                let reason = status.canonical_reason().unwrap_or("");
                let problem = format!("Wrong response from the webhook: {status} {reason}");
                (status, (!status.is_success()).then_some(problem))
            }
            Err(_) => (
                reqwest::StatusCode::BAD_GATEWAY,
                Some("Connection refused".to_owned()),
            ),
        };
        if let Some(problem) = problem {
            self.lock().webhook_error = Some((Utc::now().timestamp(), problem));
        }
        status
    }

    // ---- test side: what came back ----

    /// Answers the next call of `method` with `failure` (queued: several calls stack).
    pub fn fail_next(&self, method: &str, failure: Failure) {
        let Some(method) = canonical(method) else {
            return;
        };
        self.lock()
            .failures
            .entry(method)
            .or_default()
            .push_back(failure);
    }

    /// Every text message the bot sent, oldest first.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// How many text messages the bot sent: cheap to poll, unlike [`SimTelegram::sent_messages`].
    pub fn sent_message_count(&self) -> usize {
        self.lock().sent.len()
    }

    /// Every update pushed (redeliveries aside), oldest first, with when it became available.
    pub fn pushed_updates(&self) -> Vec<PushedUpdate> {
        self.lock().pushed.clone()
    }

    /// Each pushed update with the message the bot sent to its chat in answer: the k-th
    /// update of a chat with its k-th message. For a latency measurement (queued to reply)
    /// whose updates each get exactly one message.
    pub fn update_replies(&self) -> ReplyPairing {
        let state = self.lock();
        pair_replies(&state.pushed, &state.replies)
    }

    /// Every edit the bot made, oldest first.
    pub fn edited_messages(&self) -> Vec<EditedMessage> {
        self.lock().edited.clone()
    }

    /// Every document the bot uploaded, oldest first.
    pub fn documents(&self) -> Vec<SentDocument> {
        self.lock().documents.clone()
    }

    /// Every callback answer, oldest first.
    pub fn answered_callbacks(&self) -> Vec<AnsweredCallback> {
        self.lock().answered.clone()
    }

    /// Every accepted `setMyCommands` call, oldest first.
    pub fn commands(&self) -> Vec<RecordedCommands> {
        self.lock().command_calls.clone()
    }

    /// Every accepted `setMyDescription` and `setMyShortDescription` call, oldest first.
    pub fn descriptions(&self) -> Vec<RecordedDescription> {
        self.lock().descriptions.clone()
    }

    /// The webhook set, if any.
    pub fn webhook(&self) -> Option<Webhook> {
        self.lock().webhook.clone()
    }

    /// The file paths downloaded, in order.
    pub fn downloads(&self) -> Vec<String> {
        self.lock().downloads.clone()
    }

    /// `getUpdates` calls waiting for an update now: a test pushes once the poll waits.
    pub fn waiting_polls(&self) -> usize {
        self.lock().polls_waiting
    }

    /// How each `getUpdates` call ended, oldest first.
    pub fn poll_ends(&self) -> Vec<PollEnd> {
        self.lock().poll_ends.clone()
    }

    /// Updates queued and not yet confirmed by an offset.
    pub fn pending_updates(&self) -> usize {
        self.lock().queue.len()
    }

    /// Calls of `method` (any case) with the right token, whatever their outcome.
    pub fn requests(&self, method: &str) -> usize {
        canonical(method).map_or(0, |m| self.lock().requests.get(m).copied().unwrap_or(0))
    }

    /// Calls per method, with the right token.
    pub fn request_counts(&self) -> HashMap<String, usize> {
        self.lock()
            .requests
            .iter()
            .map(|(m, n)| ((*m).to_owned(), *n))
            .collect()
    }

    /// Requests refused for a wrong token.
    pub fn unauthorized_requests(&self) -> usize {
        self.lock().unauthorized
    }

    /// Waits until the bot sent at least `n` messages or `timeout` passes; returns them
    /// either way.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        super::wait_for(n, timeout, || self.sent_messages()).await
    }

    /// Waits until at least `n` callback queries were answered or `timeout` passes.
    pub async fn wait_for_answered_callbacks(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<AnsweredCallback> {
        super::wait_for(n, timeout, || self.answered_callbacks()).await
    }

    // ---- the server side ----

    /// Counts the call, applies any injected failure, and lets the method answer.
    async fn serve(&self, method: &'static str, call: Call) -> Response {
        let failure = {
            let mut state = self.lock();
            *state.requests.entry(method).or_default() += 1;
            state.failures.get_mut(method).and_then(VecDeque::pop_front)
        };
        match failure {
            Some(Failure::TooManyRequests { retry_after }) => error(
                429,
                &format!("Too Many Requests: retry after {retry_after}"),
                Some(json!({ "retry_after": retry_after })),
            ),
            Some(Failure::ServerError) => error(500, "Internal Server Error", None),
            Some(Failure::BadGateway) => (
                StatusCode::BAD_GATEWAY,
                Html("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"),
            )
                .into_response(),
            Some(Failure::MigratedToSupergroup { chat_id }) => error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                Some(json!({ "migrate_to_chat_id": chat_id })),
            ),
            Some(Failure::Slow(delay)) => {
                // Carry the call out first: the bot may give up, but the effect stays.
                let response = self.handle(method, &call).await;
                tokio::time::sleep(delay).await;
                response
            }
            None => self.handle(method, &call).await,
        }
    }

    async fn handle(&self, method: &'static str, call: &Call) -> Response {
        if method == "getUpdates" {
            return self.get_updates(call).await;
        }
        if method == "setWebhook" {
            let response = self.lock().set_webhook(call);
            // A poll still waiting ends with 409, as at Telegram.
            self.updates_queued.notify_waiters();
            return response;
        }
        let mut state = self.lock();
        match method {
            "getMe" => ok(state.me()),
            "getWebhookInfo" => ok(state.webhook_info()),
            "deleteWebhook" => state.delete_webhook(call),
            "sendMessage" => state.send_message(call),
            "editMessageText" => state.edit_message(call, true),
            "editMessageReplyMarkup" => state.edit_message(call, false),
            "sendDocument" => state.send_document(call),
            "answerCallbackQuery" => state.answer_callback(call),
            "getFile" => state.get_file(call),
            "getChat" => state.get_chat(call),
            "getChatMember" => state.get_chat_member(call),
            "getChatAdministrators" => state.get_chat_administrators(call),
            "setMyCommands" => state.set_my_commands(call),
            "getMyCommands" => state.get_my_commands(call),
            "deleteMyCommands" => state.delete_my_commands(call),
            "setMyDescription" => state.set_my_description(call, false),
            "setMyShortDescription" => state.set_my_description(call, true),
            "getMyDescription" => state.get_my_description(call, false),
            "getMyShortDescription" => state.get_my_description(call, true),
            _ => not_found(),
        }
    }

    /// `getUpdates`: confirms lower ids, then answers at once if anything is queued, else
    /// waits up to `timeout` seconds for an update. A newer poll ends an older one with 409.
    async fn get_updates(&self, call: &Call) -> Response {
        let offset = call.int("offset");
        let limit = usize::try_from(call.int("limit").unwrap_or(100).clamp(1, 100)).unwrap_or(100);
        let timeout = u64::try_from(call.int("timeout").unwrap_or(0)).unwrap_or(0);
        let Ok(allowed) = call.json("allowed_updates") else {
            return bad_request("can't parse allowed updates");
        };
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let generation = {
            let mut state = self.lock();
            if state.webhook.is_some() {
                state.poll_ends.push(PollEnd::Immediate);
                return webhook_conflict();
            }
            if let Some(Value::Array(kinds)) = allowed {
                let kinds: Vec<String> = kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                // An empty list means "the default set", and the choice persists.
                state.allowed_updates = (!kinds.is_empty()).then_some(kinds);
            }
            state.confirm(offset);
            state.poll_generation += 1;
            state.poll_generation
        };
        // Ends an older poll still waiting: Telegram answers it 409.
        self.updates_queued.notify_waiters();
        let start_at = offset.filter(|o| *o > 0);
        let mut waiting: Option<Waiting> = None;
        loop {
            let mut queued = std::pin::pin!(self.updates_queued.notified());
            // Registered before looking, so that a push between the look and the wait wakes it.
            queued.as_mut().enable();
            {
                let mut state = self.lock();
                let answer = if state.webhook.is_some() {
                    Some(webhook_conflict())
                } else if state.poll_generation != generation {
                    Some(error(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                        None,
                    ))
                } else {
                    let batch = state.take_batch(start_at, limit);
                    (!batch.is_empty() || Instant::now() >= deadline)
                        .then(|| ok(Value::Array(batch)))
                };
                if let Some(answer) = answer {
                    let end = match waiting {
                        None => PollEnd::Immediate,
                        Some(_) if Instant::now() >= deadline => PollEnd::TimedOut,
                        Some(_) => PollEnd::Woken,
                    };
                    state.poll_ends.push(end);
                    drop(state);
                    return answer;
                }
                if waiting.is_none() {
                    state.polls_waiting += 1;
                    waiting = Some(Waiting(self.state.clone()));
                }
            }
            // On timeout the loop looks once more and answers with whatever is there.
            let _ = tokio::time::timeout_at(deadline, queued).await;
        }
    }

    /// `GET /file/bot<token>/<file_path>`.
    fn download(&self, path: &str) -> Response {
        let mut state = self.lock();
        let Some(file_id) = state.paths.get(path).cloned() else {
            return not_found();
        };
        let Some(bytes) = state.files.get(&file_id).map(|f| f.bytes.clone()) else {
            return not_found();
        };
        state.downloads.push(path.to_owned());
        let content_type = sniff(&bytes).1;
        (StatusCode::OK, [(CONTENT_TYPE, content_type)], bytes).into_response()
    }
}

impl SimState {
    fn me(&self) -> Value {
        json!({
            "id": self.bot_id,
            "is_bot": true,
            "first_name": self.config.first_name,
            "username": self.config.username,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
        })
    }

    fn add_file(&mut self, bytes: Bytes, size: u64) -> FileRef {
        let file_id = random_token("BQACAgIAAxkBAAI");
        let unique_id = random_token("AgAD").chars().take(16).collect::<String>();
        let n = self.files.len() + 1;
        let (folder, ext) = match sniff(&bytes).0 {
            Some(ext) => ("photos", format!(".{ext}")),
            None => ("documents", String::new()),
        };
        let path = format!("{folder}/file_{n}{ext}");
        self.paths.insert(path.clone(), file_id.clone());
        self.files.insert(
            file_id.clone(),
            StoredFile {
                unique_id: unique_id.clone(),
                bytes,
                size,
                path,
            },
        );
        FileRef {
            file_id,
            file_unique_id: unique_id,
        }
    }

    fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let next = self.next_message_id.entry(chat_id).or_insert(1);
        let id = *next;
        *next += 1;
        id
    }

    fn bot_user(&self) -> Value {
        json!({
            "id": self.bot_id,
            "is_bot": true,
            "first_name": self.config.first_name,
            "username": self.config.username,
        })
    }

    fn chat_json(&self, chat_id: i64) -> Value {
        match self.chats.get(&chat_id) {
            Some(chat) => chat.to_json(),
            None => {
                json!({ "id": chat_id, "type": if chat_id > 0 { "private" } else { "supergroup" } })
            }
        }
    }

    fn user_json(&self, user_id: i64) -> Value {
        match self.users.get(&user_id) {
            Some(user) => user.to_json(),
            None => {
                json!({ "id": user_id, "is_bot": false, "first_name": format!("User {user_id}") })
            }
        }
    }

    /// Adds a queued update in update-id order.
    fn enqueue(&mut self, queued: Queued) {
        // New updates come last almost always: look from the back, so a long queue stays cheap.
        let at = self
            .queue
            .iter()
            .rposition(|q| q.id <= queued.id)
            .map_or(0, |p| p + 1);
        self.queue.insert(at, queued);
    }

    /// Forgets updates below a positive offset; a negative one keeps only the last `-offset`.
    fn confirm(&mut self, offset: Option<i64>) {
        match offset {
            Some(o) if o > 0 => {
                // The queue is in update-id order, so only a prefix can be below the offset:
                // a long backlog costs nothing per poll.
                let below = self.queue.partition_point(|q| q.id < o);
                let forced: Vec<Queued> = self.queue.drain(..below).filter(|q| q.forced).collect();
                for queued in forced.into_iter().rev() {
                    self.queue.push_front(queued);
                }
            }
            Some(o) if o < 0 => {
                let keep = usize::try_from(o.unsigned_abs()).unwrap_or(usize::MAX);
                let drop = self.queue.len().saturating_sub(keep);
                self.queue.drain(..drop);
            }
            _ => {}
        }
    }

    fn is_allowed(&self, update: &Value) -> bool {
        let Some(kind) = update
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "update_id"))
        else {
            return true;
        };
        match &self.allowed_updates {
            Some(kinds) => kinds.iter().any(|k| k == kind),
            None => !OPT_IN_UPDATES.contains(&kind.as_str()),
        }
    }

    /// Up to `limit` updates from `start_at`; drops updates of kinds not asked for, and
    /// redelivered ones once they are out.
    fn take_batch(&mut self, start_at: Option<i64>, limit: usize) -> Vec<Value> {
        // Stops at `limit`, so a poll costs the same whatever the backlog behind it; kinds
        // not asked for further back are dropped when a later poll reaches them.
        let mut batch = Vec::new();
        let mut at = 0;
        while at < self.queue.len() && batch.len() < limit {
            let queued = &self.queue[at];
            let allowed = self.is_allowed(&queued.update);
            let forced = queued.forced;
            let due = forced || start_at.is_none_or(|o| queued.id >= o);
            if allowed && due {
                batch.push(queued.update.clone());
            }
            if !allowed || (due && forced) {
                self.queue.remove(at);
            } else {
                at += 1;
            }
        }
        batch
    }

    /// The message replied to, as `reply_to_message` carries it: one the bot sent (with its
    /// visible text after any edit, and its inline keyboard), else a bare stand-in.
    fn replied_message(&self, chat_id: i64, message_id: i64) -> Value {
        let mut message = json!({
            "message_id": message_id,
            "chat": self.chat_json(chat_id),
            "date": Utc::now().timestamp(),
        });
        let sent = self
            .sent
            .iter()
            .rev()
            .find(|m| m.chat_id == chat_id && m.message_id == message_id);
        if let Some(sent) = sent {
            let edited = self
                .edited
                .iter()
                .rev()
                .find(|e| e.chat_id == chat_id && e.message_id == message_id);
            let (text, mode) = match edited {
                Some(edit) => (edit.text.as_str(), edit.parse_mode.as_deref()),
                None => (sent.text.as_str(), sent.parse_mode.as_deref()),
            };
            message["from"] = self.bot_user();
            message["date"] = sent.received_at.timestamp().into();
            message["text"] = visible_text(text, mode).into();
            if let Some(keyboard) = self
                .bot_messages
                .get(&(chat_id, message_id))
                .and_then(|m| m.reply_markup.as_ref())
            {
                message["reply_markup"] = keyboard.clone();
            }
        }
        message
    }

    fn message_update(&mut self, message: &SimMessage) -> Value {
        let chat = &message.chat;
        self.chats.insert(chat.id, chat.clone());
        let message_id = self.next_message_id(chat.id);
        let mut json = json!({
            "message_id": message_id,
            "date": Utc::now().timestamp(),
            "chat": chat.to_json(),
        });
        if let Some(from) = &message.from {
            self.users.insert(from.id, from.clone());
            json["from"] = from.to_json();
        } else if chat.kind != ChatType::Private {
            json["sender_chat"] = chat.to_json();
        }
        if let Some(text) = &message.text {
            json["text"] = text.as_str().into();
            if let Some(entities) = command_entities(text) {
                json["entities"] = entities;
            }
        }
        if let Some(caption) = &message.caption {
            json["caption"] = caption.as_str().into();
            if let Some(entities) = command_entities(caption) {
                json["caption_entities"] = entities;
            }
        }
        if let Some(group) = &message.media_group_id {
            json["media_group_id"] = group.as_str().into();
        }
        if let Some(replied) = message.reply_to {
            json["reply_to_message"] = self.replied_message(chat.id, replied);
        }
        if let Some(origin) = &message.forwarded_from {
            // Forwarded a moment ago from a message written earlier.
            json["forward_origin"] = json!({
                "type": "user",
                "date": Utc::now().timestamp() - 3_600,
                "sender_user": origin.to_json(),
            });
        }
        if let Some(replied) = &message.reply_to_update {
            // Telegram does not nest replies further.
            let mut replied = replied.clone();
            if let Some(object) = replied.as_object_mut() {
                object.remove("reply_to_message");
            }
            json["reply_to_message"] = replied;
        }
        if let Some(file) = &message.photo {
            json["photo"] = self.photo_sizes(file);
        }
        if let Some((file, name, mime)) = &message.document {
            let size = self.files.get(&file.file_id).map_or(0, |f| f.size);
            json["document"] = json!({
                "file_id": file.file_id,
                "file_unique_id": file.file_unique_id,
                "file_name": name,
                "mime_type": mime,
                "file_size": size,
            });
        }
        json!({ "message": json })
    }

    /// The sizes of a photo, ascending: thumbnails as distinct files, then `file` itself.
    fn photo_sizes(&mut self, file: &FileRef) -> Value {
        let (bytes, size) = self
            .files
            .get(&file.file_id)
            .map_or((Bytes::new(), 0), |f| (f.bytes.clone(), f.size));
        let (width, height) = image::ImageReader::new(Cursor::new(&bytes[..]))
            .with_guessed_format()
            .ok()
            .and_then(|r| r.into_dimensions().ok())
            .unwrap_or((1280, 960));
        let mut sizes = Vec::new();
        for side in [90u32, 320] {
            let longest = width.max(height);
            if longest <= side {
                continue;
            }
            let scale = |d: u32| (u64::from(d) * u64::from(side) / u64::from(longest)).max(1);
            let thumb = Bytes::from(format!("thumbnail {side}px of {}", file.file_id));
            let thumb_len = thumb.len() as u64;
            let thumb_ref = self.add_file(thumb, thumb_len);
            sizes.push(json!({
                "file_id": thumb_ref.file_id,
                "file_unique_id": thumb_ref.file_unique_id,
                "width": scale(width),
                "height": scale(height),
                "file_size": thumb_len,
            }));
        }
        sizes.push(json!({
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "width": width,
            "height": height,
            "file_size": size,
        }));
        Value::Array(sizes)
    }

    fn callback_update(
        &mut self,
        from: &SimUser,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> Value {
        self.users.insert(from.id, from.clone());
        let mut message = json!({
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": self.chat_json(chat_id),
            "date": Utc::now().timestamp(),
        });
        if let Some(sent) = self.bot_messages.get(&(chat_id, message_id)) {
            message["date"] = sent.date.into();
            message["text"] = sent.text.as_str().into();
            if let Some(markup) = &sent.reply_markup {
                message["reply_markup"] = markup.clone();
            }
        }
        let id = format!(
            "{}{:08}",
            self.bot_id.unsigned_abs(),
            self.history.len() + 1
        );
        self.pending_callbacks.insert(id.clone());
        json!({ "callback_query": {
            "id": id,
            "from": from.to_json(),
            "message": message,
            "chat_instance": format!("-{}", chat_id.unsigned_abs().wrapping_mul(31)),
            "data": data,
        }})
    }

    fn webhook_info(&self) -> Value {
        let mut info = json!({
            "url": self.webhook.as_ref().map_or("", |w| w.url.as_str()),
            "has_custom_certificate": false,
            "pending_update_count": self.queue.len(),
        });
        if let Some(webhook) = &self.webhook {
            info["max_connections"] = webhook.max_connections.into();
            if let Some(kinds) = &webhook.allowed_updates {
                info["allowed_updates"] = json!(kinds);
            }
        }
        if let Some((date, message)) = &self.webhook_error {
            info["last_error_date"] = (*date).into();
            info["last_error_message"] = message.as_str().into();
        }
        info
    }

    fn set_webhook(&mut self, call: &Call) -> Response {
        let url = call.str("url").unwrap_or("");
        if url.is_empty() {
            return self.delete_webhook(call);
        }
        // Loopback http is accepted on purpose: tests and the demo have no TLS.
        match Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
            _ => {
                return bad_request(
                    "bad webhook: Failed to resolve host: Name or service not known",
                );
            }
        }
        let secret_token = call.str("secret_token").map(str::to_owned);
        if let Some(secret) = &secret_token {
            let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if secret.is_empty() || secret.len() > 256 || !secret.chars().all(allowed) {
                return bad_request("secret token contains unallowed characters");
            }
        }
        let max_connections = call.int("max_connections").unwrap_or(40);
        if !(1..=100).contains(&max_connections) {
            return bad_request("max_connections must be between 1 and 100");
        }
        let Ok(allowed) = call.json("allowed_updates") else {
            return bad_request("can't parse allowed updates");
        };
        let allowed_updates = allowed.and_then(|v| {
            v.as_array().map(|kinds| {
                kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        });
        if call.bool("drop_pending_updates") {
            self.queue.clear();
        }
        self.webhook = Some(Webhook {
            url: url.to_owned(),
            secret_token,
            max_connections: u32::try_from(max_connections).unwrap_or(40),
            allowed_updates,
        });
        ok_with_description("Webhook was set")
    }

    fn delete_webhook(&mut self, call: &Call) -> Response {
        if call.bool("drop_pending_updates") {
            self.queue.clear();
        }
        self.webhook_error = None;
        match self.webhook.take() {
            Some(_) => ok_with_description("Webhook was deleted"),
            None => ok_with_description("Webhook is already deleted"),
        }
    }

    /// The chat a bot may write to, or Telegram's refusal.
    fn writable_chat(&self, call: &Call) -> Result<i64, Box<Response>> {
        let Some(chat_id) = call.int("chat_id") else {
            return Err(Box::new(match call.str("chat_id") {
                Some(s) if !s.is_empty() => bad_request("chat not found"),
                _ => bad_request("chat_id is empty"),
            }));
        };
        if chat_id > 0 && self.blocked_by.contains(&chat_id) {
            return Err(Box::new(error(
                403,
                "Forbidden: bot was blocked by the user",
                None,
            )));
        }
        if !self.chats.contains_key(&chat_id) {
            return Err(Box::new(if chat_id > 0 {
                error(
                    403,
                    "Forbidden: bot can't initiate conversation with a user",
                    None,
                )
            } else {
                bad_request("chat not found")
            }));
        }
        Ok(chat_id)
    }

    fn send_message(&mut self, call: &Call) -> Response {
        let chat_id = match self.writable_chat(call) {
            Ok(id) => id,
            Err(refused) => return *refused,
        };
        let text = call.str("text").unwrap_or("").to_owned();
        let parse_mode = call.str("parse_mode").filter(|m| !m.is_empty());
        if let Err(refused) = check_text(&text, parse_mode, MAX_TEXT_CHARS, "message is too long") {
            return *refused;
        }
        let reply_markup = match checked_markup(call) {
            Ok(markup) => markup,
            Err(refused) => return *refused,
        };
        let message_id = self.next_message_id(chat_id);
        let date = Utc::now();
        let inline = reply_markup
            .clone()
            .filter(|m| m.get("inline_keyboard").is_some());
        self.bot_messages.insert(
            (chat_id, message_id),
            BotMessage {
                text: text.clone(),
                reply_markup: inline.clone(),
                date: date.timestamp(),
            },
        );
        self.sent.push(SentMessage {
            chat_id,
            message_id,
            text: text.clone(),
            parse_mode: parse_mode.map(str::to_owned),
            reply_markup,
            received_at: date,
        });
        self.replies.push((chat_id, std::time::Instant::now()));
        let mut message = json!({
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": self.chat_json(chat_id),
            "date": date.timestamp(),
            "text": visible_text(&text, parse_mode),
        });
        if let Some(markup) = inline {
            message["reply_markup"] = markup;
        }
        ok(message)
    }

    /// `editMessageText` (`with_text`) or `editMessageReplyMarkup` on a message the bot sent.
    fn edit_message(&mut self, call: &Call, with_text: bool) -> Response {
        if call.str("inline_message_id").is_some() {
            return bad_request("MESSAGE_ID_INVALID");
        }
        let (Some(chat_id), Some(message_id)) = (call.int("chat_id"), call.int("message_id"))
        else {
            return bad_request("message to edit not found");
        };
        let parse_mode = call.str("parse_mode").filter(|m| !m.is_empty());
        let reply_markup = match checked_markup(call) {
            Ok(markup) => markup,
            Err(refused) => return *refused,
        };
        let Some(current) = self.bot_messages.get_mut(&(chat_id, message_id)) else {
            return bad_request("message to edit not found");
        };
        let text = if with_text {
            let text = call.str("text").unwrap_or("").to_owned();
            if let Err(refused) =
                check_text(&text, parse_mode, MAX_TEXT_CHARS, "message is too long")
            {
                return *refused;
            }
            text
        } else {
            current.text.clone()
        };
        if text == current.text && reply_markup == current.reply_markup {
            return bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            );
        }
        current.text = text.clone();
        current.reply_markup = reply_markup.clone();
        let date = current.date;
        self.edited.push(EditedMessage {
            chat_id,
            message_id,
            text: text.clone(),
            parse_mode: parse_mode.map(str::to_owned),
            reply_markup: reply_markup.clone(),
        });
        let mut message = json!({
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": self.chat_json(chat_id),
            "date": date,
            "edit_date": Utc::now().timestamp(),
            "text": visible_text(&text, parse_mode),
        });
        if let Some(markup) = reply_markup {
            message["reply_markup"] = markup;
        }
        ok(message)
    }

    fn send_document(&mut self, call: &Call) -> Response {
        let chat_id = match self.writable_chat(call) {
            Ok(id) => id,
            Err(refused) => return *refused,
        };
        let (file_name, bytes) = match (call.files.get("document"), call.str("document")) {
            (Some((name, bytes)), _) => (name.clone(), bytes.clone()),
            // `attach://<name>` points at another multipart part, as teloxide uploads.
            (None, Some(reference)) if reference.starts_with("attach://") => {
                match call.files.get(&reference["attach://".len()..]) {
                    Some((name, bytes)) => (name.clone(), bytes.clone()),
                    None => return bad_request("wrong file identifier/HTTP URL specified"),
                }
            }
            (None, Some(file_id)) => match self.files.get(file_id) {
                Some(file) => (None, file.bytes.clone()),
                None => return bad_request("wrong file identifier/HTTP URL specified"),
            },
            (None, None) => return bad_request("there is no document in the request"),
        };
        if bytes.is_empty() {
            return bad_request("file must be non-empty");
        }
        let caption = call.str("caption").filter(|c| !c.is_empty());
        let parse_mode = call.str("parse_mode").filter(|m| !m.is_empty());
        if let Some(caption) = caption
            && let Err(refused) = check_caption(caption, parse_mode)
        {
            return *refused;
        }
        let size = bytes.len() as u64;
        let file = self.add_file(bytes.clone(), size);
        let message_id = self.next_message_id(chat_id);
        self.documents.push(SentDocument {
            chat_id,
            message_id,
            file_name: file_name.clone(),
            bytes: bytes.clone(),
            caption: caption.map(str::to_owned),
        });
        let mut document = json!({
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "mime_type": sniff(&bytes).1,
            "file_size": size,
        });
        if let Some(name) = file_name {
            document["file_name"] = name.into();
        }
        let mut message = json!({
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": self.chat_json(chat_id),
            "date": Utc::now().timestamp(),
            "document": document,
        });
        if let Some(caption) = caption {
            message["caption"] = visible_text(caption, parse_mode).into();
        }
        ok(message)
    }

    fn answer_callback(&mut self, call: &Call) -> Response {
        let id = call.str("callback_query_id").unwrap_or("").to_owned();
        if !self.pending_callbacks.remove(&id) {
            return bad_request(
                "query is too old and response timeout expired or query ID is invalid",
            );
        }
        let text = call
            .str("text")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            self.pending_callbacks.insert(id);
            return bad_request("MESSAGE_TOO_LONG");
        }
        self.answered.push(AnsweredCallback {
            callback_query_id: id,
            text,
            show_alert: call.bool("show_alert"),
        });
        ok(Value::Bool(true))
    }

    fn get_file(&self, call: &Call) -> Response {
        let file_id = call.str("file_id").unwrap_or("");
        let Some(file) = self.files.get(file_id) else {
            return bad_request("invalid file_id");
        };
        if file.size > MAX_DOWNLOAD_BYTES {
            return bad_request("file is too big");
        }
        ok(json!({
            "file_id": file_id,
            "file_unique_id": file.unique_id,
            "file_size": file.size,
            "file_path": file.path,
        }))
    }

    fn get_chat(&self, call: &Call) -> Response {
        let Some(chat) = call.int("chat_id").and_then(|id| self.chats.get(&id)) else {
            return bad_request("chat not found");
        };
        let mut info = chat.to_json();
        // Required fields of ChatFullInfo (Bot API 7.3+), so that clients can deserialize it.
        info["accent_color_id"] = 0.into();
        info["max_reaction_count"] = 11.into();
        info["accepted_gift_types"] = json!({
            "unlimited_gifts": false, "limited_gifts": false,
            "unique_gifts": false, "premium_subscription": false,
        });
        ok(info)
    }

    fn member_json(&self, chat_id: i64, user_id: i64) -> Value {
        let status = self
            .members
            .get(&(chat_id, user_id))
            .copied()
            .unwrap_or(MemberStatus::Member);
        let mut member = json!({ "status": status.as_str(), "user": self.user_json(user_id) });
        let rights = [
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_promote_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
            "can_manage_topics",
        ];
        let permissions = [
            "can_send_messages",
            "can_send_audios",
            "can_send_documents",
            "can_send_photos",
            "can_send_videos",
            "can_send_video_notes",
            "can_send_voice_notes",
            "can_send_polls",
            "can_send_other_messages",
            "can_add_web_page_previews",
            "can_change_info",
            "can_invite_users",
            "can_pin_messages",
            "can_manage_topics",
        ];
        match status {
            MemberStatus::Creator => member["is_anonymous"] = false.into(),
            MemberStatus::Administrator => {
                member["is_anonymous"] = false.into();
                member["can_be_edited"] = false.into();
                for right in rights {
                    member[right] = true.into();
                }
            }
            MemberStatus::Restricted => {
                member["is_member"] = true.into();
                member["until_date"] = 0.into();
                for permission in permissions {
                    member[permission] = false.into();
                }
            }
            MemberStatus::Kicked => member["until_date"] = 0.into(),
            MemberStatus::Member | MemberStatus::Left => {}
        }
        member
    }

    fn get_chat_member(&self, call: &Call) -> Response {
        let Some(chat_id) = call.int("chat_id").filter(|id| self.chats.contains_key(id)) else {
            return bad_request("chat not found");
        };
        let Some(user_id) = call.int("user_id") else {
            return bad_request("user not found");
        };
        ok(self.member_json(chat_id, user_id))
    }

    fn get_chat_administrators(&self, call: &Call) -> Response {
        let Some(chat_id) = call.int("chat_id").filter(|id| self.chats.contains_key(id)) else {
            return bad_request("chat not found");
        };
        let mut admins: Vec<i64> = self
            .members
            .iter()
            .filter(|((chat, _), status)| {
                *chat == chat_id
                    && matches!(status, MemberStatus::Creator | MemberStatus::Administrator)
            })
            .map(|((_, user), _)| *user)
            .collect();
        admins.sort_unstable();
        ok(Value::Array(
            admins
                .into_iter()
                .map(|user| self.member_json(chat_id, user))
                .collect(),
        ))
    }

    fn set_my_commands(&mut self, call: &Call) -> Response {
        let Ok(Some(Value::Array(list))) = call.json("commands") else {
            return bad_request("can't parse commands JSON object");
        };
        if list.len() > 100 {
            return bad_request("too many commands specified");
        }
        let mut commands = Vec::with_capacity(list.len());
        for item in &list {
            let command = item.get("command").and_then(Value::as_str).unwrap_or("");
            let description = item
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Err(problem) = check_command(command, description) {
                return bad_request(problem);
            }
            commands.push(BotCommand {
                command: command.to_owned(),
                description: description.to_owned(),
            });
        }
        let Ok(scope) = call.json("scope") else {
            return bad_request("can't parse BotCommandScope JSON object");
        };
        let language_code = call.str("language_code").filter(|l| !l.is_empty());
        self.commands
            .insert(command_key(scope.as_ref(), language_code), commands.clone());
        self.command_calls.push(RecordedCommands {
            scope,
            language_code: language_code.map(str::to_owned),
            commands,
        });
        ok(Value::Bool(true))
    }

    fn get_my_commands(&self, call: &Call) -> Response {
        let scope = call.json("scope").ok().flatten();
        let key = command_key(scope.as_ref(), call.str("language_code"));
        let commands = self.commands.get(&key).map_or(Vec::new(), |list| {
            list.iter()
                .map(|c| json!({ "command": c.command, "description": c.description }))
                .collect()
        });
        ok(Value::Array(commands))
    }

    /// `setMyDescription{description?, language_code?}` or `setMyShortDescription{short_description?,
    /// language_code?}`: at most 512 or 120 characters; empty or absent removes it.
    fn set_my_description(&mut self, call: &Call, short: bool) -> Response {
        let (field, limit, refusal) = if short {
            (
                "short_description",
                MAX_SHORT_DESCRIPTION_CHARS,
                "short description is too long",
            )
        } else {
            (
                "description",
                MAX_DESCRIPTION_CHARS,
                "description is too long",
            )
        };
        let text = call.str(field).unwrap_or("").to_owned();
        if text.chars().count() > limit {
            return bad_request(refusal);
        }
        let language_code = call.str("language_code").filter(|l| !l.is_empty());
        self.descriptions.push(RecordedDescription {
            short,
            language_code: language_code.map(str::to_owned),
            text,
        });
        ok(Value::Bool(true))
    }

    /// The description in force for a language (falling back to the one for all), as
    /// `{"description": …}` or `{"short_description": …}`.
    fn get_my_description(&self, call: &Call, short: bool) -> Response {
        let language = call.str("language_code").filter(|l| !l.is_empty());
        let latest = |language: Option<&str>| {
            self.descriptions
                .iter()
                .rev()
                .find(|d| d.short == short && d.language_code.as_deref() == language)
                .map(|d| d.text.clone())
        };
        let text = latest(language)
            .filter(|t| !t.is_empty())
            .or_else(|| latest(None))
            .unwrap_or_default();
        let field = if short {
            "short_description"
        } else {
            "description"
        };
        ok(json!({ field: text }))
    }

    fn delete_my_commands(&mut self, call: &Call) -> Response {
        let scope = call.json("scope").ok().flatten();
        let key = command_key(scope.as_ref(), call.str("language_code"));
        self.commands.remove(&key);
        ok(Value::Bool(true))
    }
}

/// `{"ok":true,"result":true,"description":…}`, as the webhook calls answer.
fn ok_with_description(description: &str) -> Response {
    let body = json!({ "ok": true, "result": true, "description": description });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Where commands for a scope and language are kept; no scope is the default scope.
fn command_key(scope: Option<&Value>, language_code: Option<&str>) -> String {
    let scope = scope
        .filter(|s| s.get("type").and_then(Value::as_str) != Some("default"))
        .map_or_else(String::new, Value::to_string);
    format!("{scope}|{}", language_code.unwrap_or(""))
}

/// The method Telegram means by `name` (method names are case-insensitive).
fn canonical(name: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(name))
}

/// A `bot_command` entity when `text` starts with one, with UTF-16 offsets as Telegram counts.
fn command_entities(text: &str) -> Option<Value> {
    if !text.starts_with('/') {
        return None;
    }
    let command = text.split_whitespace().next().unwrap_or("");
    let length = command.encode_utf16().count();
    Some(json!([{ "type": "bot_command", "offset": 0, "length": length }]))
}

/// A known file extension and the MIME type, from the first bytes.
fn sniff(bytes: &[u8]) -> (Option<&'static str>, &'static str) {
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        (Some("jpg"), "image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        (Some("png"), "image/png")
    } else if bytes.starts_with(b"GIF8") {
        (Some("gif"), "image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        (Some("webp"), "image/webp")
    } else {
        (None, "application/octet-stream")
    }
}

/// Checks a text against Telegram's rules: not empty, at most `max` characters after
/// parsing, and well-formed markup for the parse mode.
fn check_text(
    text: &str,
    parse_mode: Option<&str>,
    max: usize,
    too_long: &str,
) -> Result<(), Box<Response>> {
    let visible = match parse_mode {
        None => text.to_owned(),
        Some(mode) if mode.eq_ignore_ascii_case("html") => parse_html(text).map_err(|problem| {
            Box::new(bad_request(&format!("can't parse entities: {problem}")))
        })?,
        Some(mode)
            if mode.eq_ignore_ascii_case("markdownv2") || mode.eq_ignore_ascii_case("markdown") =>
        {
            text.to_owned()
        }
        Some(_) => return Err(Box::new(bad_request("unsupported parse_mode"))),
    };
    if visible.trim().is_empty() {
        return Err(Box::new(bad_request("message text is empty")));
    }
    if visible.chars().count() > max {
        return Err(Box::new(bad_request(too_long)));
    }
    Ok(())
}

fn check_caption(caption: &str, parse_mode: Option<&str>) -> Result<(), Box<Response>> {
    check_text(
        caption,
        parse_mode,
        MAX_CAPTION_CHARS,
        "message caption is too long",
    )
}

/// The text a reader sees: markup removed in HTML mode.
fn visible_text(text: &str, parse_mode: Option<&str>) -> String {
    match parse_mode {
        Some(mode) if mode.eq_ignore_ascii_case("html") => {
            parse_html(text).unwrap_or_else(|_| text.to_owned())
        }
        _ => text.to_owned(),
    }
}

/// Parses Telegram's HTML subset loosely: known tags only, properly nested and closed, the
/// `&lt;`-style entities decoded. Returns the visible text, or Telegram's complaint.
fn parse_html(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut visible = String::with_capacity(text.len());
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let after = &text[i + 1..];
                let closing = after.starts_with('/');
                let name: String = after
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
                    .to_ascii_lowercase();
                if !closing && !HTML_TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {i}"
                    ));
                }
                let Some(end) = after.find('>').map(|e| i + 1 + e) else {
                    return Err(format!("Unclosed start tag at byte offset {i}"));
                };
                if closing {
                    match open.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{top}>\", found \"</{name}>\""
                            ));
                        }
                        None => return Err(format!("Unexpected end tag at byte offset {i}")),
                    }
                } else {
                    open.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let rest = &text[i..];
                let decoded = rest.find(';').filter(|e| *e <= 10).and_then(|e| {
                    let name = &rest[1..e];
                    let c = match name {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        _ => name
                            .strip_prefix("#x")
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                            .and_then(char::from_u32),
                    };
                    c.map(|c| (c, e + 1))
                });
                // An unknown entity stays literal text, as Telegram keeps it.
                let (c, len) = decoded.unwrap_or(('&', 1));
                visible.push(c);
                i += len;
            }
            _ => {
                // `i` is at a char boundary: every branch advances by whole chars.
                let c = text[i..]
                    .chars()
                    .next()
                    .unwrap_or_else(|| unreachable!("i < len"));
                visible.push(c);
                i += c.len_utf8();
            }
        }
    }
    match open.pop() {
        Some(top) => Err(format!(
            "Can't find end tag corresponding to start tag \"{top}\""
        )),
        None => Ok(visible),
    }
}

/// The `reply_markup` of a call, checked as Telegram checks inline keyboards.
fn checked_markup(call: &Call) -> Result<Option<Value>, Box<Response>> {
    let Ok(markup) = call.json("reply_markup") else {
        return Err(Box::new(bad_request(
            "can't parse reply keyboard markup JSON object",
        )));
    };
    if let Some(markup) = &markup {
        check_markup(markup).map_err(|problem| Box::new(bad_request(&problem)))?;
    }
    Ok(markup)
}

fn check_markup(markup: &Value) -> Result<(), String> {
    let Some(object) = markup.as_object() else {
        return Err("can't parse reply keyboard markup JSON object".to_owned());
    };
    let Some(keyboard) = object.get("inline_keyboard") else {
        // Reply keyboards, removal and force_reply are taken as they are.
        return Ok(());
    };
    let Some(rows) = keyboard.as_array() else {
        return Err(
            "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array".to_owned(),
        );
    };
    const ACTIONS: &[&str] = &[
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ];
    for row in rows {
        let Some(buttons) = row.as_array() else {
            return Err(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    .to_owned(),
            );
        };
        for button in buttons {
            if button.get("text").and_then(Value::as_str).is_none() {
                return Err(
                    "can't parse inline keyboard button: Field \"text\" must be of type String"
                        .to_owned(),
                );
            }
            if !ACTIONS.iter().any(|a| button.get(*a).is_some()) {
                return Err("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard".to_owned());
            }
            if let Some(data) = button.get("callback_data") {
                let len = data.as_str().map_or(0, str::len);
                if !(1..=MAX_CALLBACK_DATA_BYTES).contains(&len) {
                    return Err("BUTTON_DATA_INVALID".to_owned());
                }
            }
            if let Some(url) = button.get("url") {
                let text = url.as_str().unwrap_or("");
                let valid =
                    Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "tg"));
                if !valid {
                    return Err(format!(
                        "inline keyboard button URL '{text}' is invalid: Wrong HTTP URL"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Telegram's rules for one bot command. <https://core.telegram.org/bots/api#botcommand>
fn check_command(command: &str, description: &str) -> Result<(), &'static str> {
    let name_ok = (1..=32).contains(&command.len())
        && command
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err("BOT_COMMAND_INVALID");
    }
    if !(1..=256).contains(&description.chars().count()) {
        return Err("BOT_COMMAND_DESCRIPTION_INVALID");
    }
    Ok(())
}

/// The file name of the multipart part whose data is `data`, a slice of `body`.
fn part_file_name(body: &[u8], data: &[u8]) -> Option<String> {
    let offset = (data.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    let head = String::from_utf8_lossy(body.get(offset.saturating_sub(4096)..offset)?);
    let lower = head.to_ascii_lowercase();
    let at = lower.rfind("content-disposition:")?;
    let line = head[at..].lines().next()?;
    line.split(';').find_map(|p| {
        let p = p.trim();
        if let Some(encoded) = p.strip_prefix("filename*=") {
            let encoded = encoded.split_once("''").map_or(encoded, |(_, v)| v);
            return percent_decode(encoded);
        }
        p.strip_prefix("filename=")
            .map(|name| name.trim_matches('"').to_owned())
    })
}

fn percent_decode(segment: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// The parameters of a call from its query and body (JSON, urlencoded or multipart).
fn read_call(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<Call, Box<Response>> {
    let mut params: Map<String, Value> = form_pairs(uri.query().unwrap_or_default().as_bytes())
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut files = HashMap::new();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.is_empty() {
        // A GET or an empty POST: the query alone.
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            _ => return Err(Box::new(bad_request("can't parse JSON object"))),
        }
    } else if content_type.starts_with("multipart/form-data") {
        let raw_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(parts) = parse_multipart(raw_type, body) else {
            return Err(Box::new(bad_request(
                "can't parse multipart/form-data body",
            )));
        };
        for part in parts {
            if part.is_file {
                let name = part_file_name(body, part.data);
                files.insert(part.name, (name, body.slice_ref(part.data)));
            } else {
                let text = String::from_utf8_lossy(part.data).into_owned();
                params.insert(part.name, Value::String(text));
            }
        }
    } else {
        // Telegram reads urlencoded bodies whatever their declared type.
        params.extend(
            form_pairs(body)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v))),
        );
    }
    Ok(Call { params, files })
}

/// Every request: `/bot<token>/<method>` and `/file/bot<token>/<path>`.
async fn dispatch(
    State(sim): State<SimTelegram>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let (is_file, rest) = match (path.strip_prefix("/file/bot"), path.strip_prefix("/bot")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return not_found(),
    };
    let (token, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let token = percent_decode(token).unwrap_or_default();
    if !sim.lock().config.token.matches(&token) {
        sim.lock().unauthorized += 1;
        return unauthorized();
    }
    if is_file {
        let file_path = percent_decode(tail).unwrap_or_default();
        return sim.download(&file_path);
    }
    let Some(method) = canonical(tail) else {
        return not_found();
    };
    match read_call(&uri, &headers, &body) {
        Ok(call) => sim.serve(method, call).await,
        Err(refused) => *refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_checked_like_telegram() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("<b>bold</b> &amp; <i>it</i>", Ok("bold & it")),
            ("<a href=\"https://x.com\">link</a>", Ok("link")),
            ("<pre><code class=\"language-rust\">x</code></pre>", Ok("x")),
            ("a &unknown; b", Ok("a &unknown; b")),
            ("1 &lt; 2", Ok("1 < 2")),
            (
                "<b>open",
                Err("Can't find end tag corresponding to start tag \"b\""),
            ),
            (
                "<b><i>x</b></i>",
                Err("Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""),
            ),
            ("x</code>", Err("Unexpected end tag at byte offset 1")),
            (
                "line<br>break",
                Err("Unsupported start tag \"br\" at byte offset 4"),
            ),
            ("1 < 2", Err("Unsupported start tag \"\" at byte offset 2")),
            ("<b", Err("Unclosed start tag at byte offset 0")),
        ];
        for (input, expected) in cases {
            let got = parse_html(input);
            assert_eq!(
                got.as_deref(),
                expected.map_err(str::to_owned).as_deref(),
                "{input}"
            );
        }
    }

    #[test]
    fn inline_keyboards_are_checked_like_telegram() {
        let button = |b: Value| json!({ "inline_keyboard": [[b]] });
        assert!(check_markup(&button(json!({"text": "Go", "callback_data": "x"}))).is_ok());
        assert!(check_markup(&button(json!({"text": "Go", "url": "https://e.com"}))).is_ok());
        assert!(check_markup(&json!({"remove_keyboard": true})).is_ok());
        let long = "x".repeat(65);
        assert_eq!(
            check_markup(&button(json!({"text": "Go", "callback_data": long}))),
            Err("BUTTON_DATA_INVALID".to_owned())
        );
        // 64 bytes in 16 four-byte characters is the most allowed.
        let emoji = "🚀".repeat(16);
        assert!(check_markup(&button(json!({"text": "Go", "callback_data": emoji}))).is_ok());
        let emoji = "🚀".repeat(17);
        assert!(check_markup(&button(json!({"text": "Go", "callback_data": emoji}))).is_err());
        assert!(check_markup(&button(json!({"text": "Go"}))).is_err());
        assert!(check_markup(&button(json!({"text": "Go", "url": "javascript:x"}))).is_err());
    }

    #[test]
    fn bot_commands_are_checked_like_telegram() {
        assert!(check_command("post", "Schedule a post").is_ok());
        assert!(check_command("delete_me2", "x").is_ok());
        assert_eq!(check_command("Post", "x"), Err("BOT_COMMAND_INVALID"));
        assert_eq!(check_command("", "x"), Err("BOT_COMMAND_INVALID"));
        assert_eq!(
            check_command(&"a".repeat(33), "x"),
            Err("BOT_COMMAND_INVALID")
        );
        assert_eq!(
            check_command("post", ""),
            Err("BOT_COMMAND_DESCRIPTION_INVALID")
        );
        assert_eq!(
            check_command("post", &"d".repeat(257)),
            Err("BOT_COMMAND_DESCRIPTION_INVALID")
        );
    }

    #[test]
    fn method_names_are_case_insensitive() {
        assert_eq!(canonical("sendmessage"), Some("sendMessage"));
        assert_eq!(canonical("GETUPDATES"), Some("getUpdates"));
        assert_eq!(canonical("sendSticker"), None);
    }

    #[test]
    fn replies_pair_with_updates_in_order_per_chat() {
        let t0 = std::time::Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let pushed = |update_id, chat_id, ms| PushedUpdate {
            update_id,
            chat_id,
            queued_at: at(ms),
        };
        let updates = [
            pushed(1, Some(10), 0),
            pushed(2, Some(20), 1),
            pushed(3, Some(10), 2), // queued before the answer to 1: ambiguous
            pushed(4, None, 3),
            pushed(5, Some(20), 50),
            pushed(6, Some(30), 60), // never answered
        ];
        let replies = [
            (20, at(4)),
            (10, at(5)),
            (10, at(7)),
            (20, at(52)),
            (40, at(70)),
        ];
        let pairing = pair_replies(&updates, &replies);
        let seen: Vec<_> = pairing
            .pairs
            .iter()
            .map(|p| (p.update_id, p.replied_at, p.ambiguous))
            .collect();
        assert_eq!(
            seen,
            [
                (1, Some(at(5)), true),
                (2, Some(at(4)), false),
                (3, Some(at(7)), false),
                (5, Some(at(52)), false),
                (6, None, false),
            ]
        );
        assert_eq!(pairing.unpaired_messages, 1, "the message to chat 40");
    }

    #[test]
    fn a_poll_takes_at_most_its_limit_and_confirming_keeps_redeliveries() {
        let sim = SimTelegram::new(SimTelegramConfig::new("1:x", "bot"));
        let user = SimUser::new(7, "Ann");
        let ids: Vec<i64> = (0..5).map(|_| sim.push_private_text(&user, "hi")).collect();
        assert!(sim.redeliver(ids[0]));
        let mut state = sim.lock();
        state.confirm(Some(ids[2]));
        let batch = state.take_batch(Some(ids[2]), 2);
        let batch_ids: Vec<_> = batch.iter().map(|u| u["update_id"].as_i64()).collect();
        assert_eq!(
            batch_ids,
            [Some(ids[0]), Some(ids[2])],
            "the redelivery first"
        );
        let rest = state.take_batch(Some(ids[2]), 100);
        assert_eq!(rest.len(), 3, "the redelivery went out once");
        assert_eq!(state.queue.len(), 3, "unconfirmed updates stay queued");
    }

    #[test]
    fn a_command_entity_counts_utf16_units() {
        let entities = command_entities("/post now | hi").unwrap();
        assert_eq!(entities[0]["length"], 5);
        assert!(command_entities("hello").is_none());
    }
}
