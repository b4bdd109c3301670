//! Simulated Discord: the REST API under `/api/v10` (commands, interaction responses, follow-ups,
//! channel messages, rate limits), a CDN for attachments, a WebSocket gateway, and signed
//! interaction deliveries, checked as Discord checks them, with records for tests and injected
//! failures. Never used in production; never shows the bot token or the signing key.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use autopost_sim::discord::{self, SimDiscordConfig, SimMember, SimDiscordUser};
//! let (sim, server) = discord::start(SimDiscordConfig::random()).await?;
//! let alice = SimMember::new(SimDiscordUser::new(42, "alice"));
//! let payload = sim
//!     .slash_command("post")
//!     .in_guild(&sim.guild(), &alice)
//!     .string("text", "hello")
//!     .build();
//! let endpoint = url::Url::parse("http://127.0.0.1:8080/discord/interactions").unwrap();
//! let delivery = sim.deliver(&endpoint, &payload).await.unwrap();
//! # let _ = (delivery, server); Ok(()) }
//! ```

mod cdn;
mod channels;
mod commands;
mod delivery;
mod gateway;
mod interactions;
mod messages;
mod ratelimit;
mod records;
mod responses;
mod rest;
mod rules;

pub use cdn::SimAttachment;
pub use delivery::{Delivery, SIGNATURE_HEADER, Signing, TIMESTAMP_HEADER};
pub use gateway::DispatchError;
pub use interactions::{InteractionBuilder, SimDiscordUser, SimGuild, SimMember};
pub use ratelimit::{Failure, RateLimit};
pub use records::{
    CommandOverwrite, CommandScope, DiscordMessage, Download, Identify, InitialResponse,
    MessageEdit, ResponseVia, SentFile,
};
pub use rest::Route;
pub use rules::{
    EPHEMERAL, IS_COMPONENTS_V2, LOADING, MAX_CHOICES, MAX_COMMANDS, MAX_CONTENT_CHARS,
    MAX_CUSTOM_ID_CHARS, MAX_EMBEDS, SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS,
};

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chrono::Utc;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

use super::SimServer;
use super::wire::{hex, random_token};
use autopost::crypto::Secret;
use messages::Stored;
use ratelimit::Buckets;
use records::RouteCounts;
use responses::Registered;

/// Gateway intent bits. <https://discord.com/developers/docs/events/gateway#gateway-intents>
pub mod intents {
    /// GUILDS.
    pub const GUILDS: u64 = 1 << 0;
    /// GUILD_MEMBERS (privileged).
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    /// GUILD_PRESENCES (privileged).
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    /// GUILD_MESSAGES.
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// DIRECT_MESSAGES.
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// MESSAGE_CONTENT (privileged).
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// The three intents an app must be approved for in the Developer Portal.
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
}

/// Permission bits, as `member.permissions` and `app_permissions` carry them (as strings).
/// <https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags>
pub mod permissions {
    /// ADMINISTRATOR: every permission, whatever the overwrites.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// MANAGE_GUILD.
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// ADD_REACTIONS.
    pub const ADD_REACTIONS: u64 = 1 << 6;
    /// VIEW_CHANNEL.
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    /// SEND_MESSAGES.
    pub const SEND_MESSAGES: u64 = 1 << 11;
    /// MANAGE_MESSAGES: what autopost asks of someone who cancels another's post.
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    /// EMBED_LINKS.
    pub const EMBED_LINKS: u64 = 1 << 14;
    /// ATTACH_FILES.
    pub const ATTACH_FILES: u64 = 1 << 15;
    /// READ_MESSAGE_HISTORY.
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    /// USE_APPLICATION_COMMANDS.
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    /// Every permission defined today (what Discord reports for an administrator).
    pub const ALL: u64 = (1 << 51) - 1;
    /// What an ordinary member has in an ordinary text channel.
    pub const MEMBER: u64 = VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_APPLICATION_COMMANDS;
}

/// The application id [`SimDiscordConfig::random`] registers.
pub const APPLICATION_ID: u64 = 1_300_000_000_000_000_001;
/// The bot's username in [`SimDiscordConfig::random`].
pub const BOT_USERNAME: &str = "autopost-sim";

/// How the simulated application is registered in the Developer Portal, and how the simulated
/// Discord behaves.
pub struct SimDiscordConfig {
    /// The application (client) id; also the bot user's id, as for every modern app.
    pub application_id: u64,
    /// The bot token: the only one bot routes and the gateway accept.
    pub token: Secret,
    /// The key interactions are signed with; its public half is the app's "public key".
    pub signing_key: SigningKey,
    /// The bot user's name.
    pub bot_username: String,
    /// The guild the bot is in, with one text channel.
    pub guild: SimGuild,
    /// The limit of every REST bucket.
    pub rate_limit: RateLimit,
    /// The `heartbeat_interval` of the gateway's Hello.
    pub heartbeat_interval: Duration,
    /// How long after delivery an initial response is taken (Discord: 3 s).
    pub response_deadline: Duration,
    /// How long an interaction token works for @original and follow-ups (Discord: 15 min).
    pub token_lifetime: Duration,
    /// Privileged intents approved in the Developer Portal; asking for others closes the
    /// gateway with 4014.
    pub privileged_intents: u64,
    /// Whether the world hands autopost the bot token (`AUTOPOST_DISCORD_TOKEN`): the gateway bot.
    pub gateway: bool,
    /// Whether the world hands autopost the public key (`AUTOPOST_DISCORD_PUBLIC_KEY`): the
    /// HTTP interactions endpoint.
    pub endpoint: bool,
}

impl fmt::Debug for SimDiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token and the signing key stay out.
        f.debug_struct("SimDiscordConfig")
            .field("application_id", &self.application_id)
            .field("bot_username", &self.bot_username)
            .field("guild", &self.guild)
            .field("gateway", &self.gateway)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SimDiscordConfig {
    /// An application with this id and bot token, a fresh signing key, and Discord's timings.
    pub fn new(application_id: u64, token: impl Into<Box<str>>) -> Self {
        Self {
            application_id,
            token: Secret::new(token),
            signing_key: SigningKey::generate(&mut OsRng),
            bot_username: BOT_USERNAME.to_owned(),
            guild: SimGuild::new(application_id + 1, "autopost sim", application_id + 2),
            rate_limit: RateLimit::default(),
            heartbeat_interval: Duration::from_millis(41_250),
            response_deadline: Duration::from_secs(3),
            token_lifetime: Duration::from_secs(15 * 60),
            privileged_intents: 0,
            gateway: true,
            endpoint: true,
        }
    }

    /// [`APPLICATION_ID`] with a fresh random bot token shaped like Discord's
    /// (`base64(id).xxxxxx.secret`) and a fresh signing key.
    pub fn random() -> Self {
        let id = STANDARD_NO_PAD.encode(APPLICATION_ID.to_string());
        let stamp: String = random_token("").chars().take(6).collect();
        let token = format!("{id}.{stamp}.{}", random_token(""));
        Self::new(APPLICATION_ID, token)
    }

    /// The world leaves the token out: autopost runs only the HTTP interactions endpoint.
    pub fn endpoint_only(mut self) -> Self {
        self.gateway = false;
        self.endpoint = true;
        self
    }

    /// The world leaves the public key out: autopost runs only the gateway bot.
    pub fn gateway_only(mut self) -> Self {
        self.gateway = true;
        self.endpoint = false;
        self
    }

    /// The public key as the Developer Portal shows it: 64 hex digits.
    pub fn public_key_hex(&self) -> String {
        hex(self.signing_key.verifying_key().as_bytes())
    }
}

pub(crate) struct State {
    pub(crate) config: SimDiscordConfig,
    /// The REST base, `http://127.0.0.1:PORT/`.
    pub(crate) base: Url,
    /// The gateway, `ws://127.0.0.1:PORT`.
    pub(crate) gateway_url: Url,
    last_snowflake: u64,
    pub(crate) guilds: Vec<SimGuild>,
    pub(crate) known_guilds: HashSet<u64>,
    /// Channels the bot can post in: guild text channels and DMs.
    pub(crate) channels: HashSet<u64>,
    /// Users seen in interactions, as Discord writes them.
    pub(crate) users: HashMap<u64, Value>,
    pub(crate) dm_channels: HashMap<u64, u64>,
    pub(crate) command_sets: HashMap<CommandScope, Vec<Value>>,
    pub(crate) overwrites: Vec<CommandOverwrite>,
    pub(crate) interactions: HashMap<u64, Registered>,
    pub(crate) tokens: HashMap<String, u64>,
    pub(crate) responses: Vec<InitialResponse>,
    pub(crate) messages: HashMap<u64, Stored>,
    pub(crate) followups: Vec<DiscordMessage>,
    pub(crate) channel_messages: Vec<DiscordMessage>,
    pub(crate) edits: Vec<MessageEdit>,
    pub(crate) deleted: Vec<u64>,
    pub(crate) cdn: cdn::Cdn,
    pub(crate) buckets: Buckets,
    pub(crate) failures: HashMap<Route, VecDeque<Failure>>,
    pub(crate) requests: RouteCounts,
    pub(crate) unauthorized: usize,
    pub(crate) gateway: gateway::Gateway,
}

/// Milliseconds of Discord's epoch (2015-01-01) since the Unix epoch.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

impl State {
    /// A fresh, increasing snowflake: milliseconds since Discord's epoch above 22 bits of counter.
    pub(crate) fn snowflake(&mut self) -> u64 {
        let ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(DISCORD_EPOCH_MS);
        let from_clock = ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_snowflake = from_clock.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    /// The bot user as Discord writes users.
    pub(crate) fn bot_user(&self) -> Value {
        json!({
            "id": self.config.application_id.to_string(),
            "username": self.config.bot_username,
            "global_name": null,
            "avatar": null,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
            "bot": true,
            "banner": null,
            "accent_color": null,
            "avatar_decoration_data": null,
        })
    }

    /// A user as Discord writes users: the one seen in an interaction, else a made-up one.
    pub(crate) fn user_json(&self, id: u64) -> Value {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| SimDiscordUser::new(id, format!("user{id}")).to_json())
    }

    /// Registers a guild and its text channel.
    fn add_guild(&mut self, guild: SimGuild) {
        self.known_guilds.insert(guild.id);
        self.channels.insert(guild.channel_id);
        self.guilds.push(guild);
    }

    /// The DM channel with `user_id`, made on first use.
    pub(crate) fn dm_channel(&mut self, user_id: u64) -> u64 {
        if let Some(id) = self.dm_channels.get(&user_id) {
            return *id;
        }
        let id = self.snowflake();
        self.dm_channels.insert(user_id, id);
        self.channels.insert(id);
        id
    }
}

/// Handle on a running simulated Discord; clones share its state.
#[derive(Clone)]
pub struct SimDiscord {
    state: Arc<Mutex<State>>,
    /// Delivers signed interactions.
    client: reqwest::Client,
}

impl fmt::Debug for SimDiscord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state holds the token and the signing key: show only what a test needs.
        let state = self.lock();
        f.debug_struct("SimDiscord")
            .field("application_id", &state.config.application_id)
            .field("base", &state.base.as_str())
            .field("gateway", &state.gateway_url.as_str())
            .field("interactions", &state.interactions.len())
            .field("initial_responses", &state.responses.len())
            .finish_non_exhaustive()
    }
}

/// Starts a simulated Discord: REST and CDN on one loopback port, the gateway on another (its URL
/// is what `GET /gateway` answers). Point `AUTOPOST_DISCORD_API_URL` (serenity's
/// `HttpBuilder::proxy`) at the server's URL; both stop when the server is dropped.
pub async fn start(config: SimDiscordConfig) -> io::Result<(SimDiscord, SimServer)> {
    let gateway_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let gateway_addr = gateway_listener.local_addr()?;
    let sim = SimDiscord::new(config);
    let mut server = SimServer::spawn(rest::router(sim.clone())).await?;
    {
        let mut state = sim.lock();
        state.base = server.url();
        // A socket address always forms a valid ws URL.
        state.gateway_url =
            Url::parse(&format!("ws://{gateway_addr}")).unwrap_or_else(|_| unreachable!());
    }
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(gateway::serve(sim.clone(), gateway_listener, stopped));
    server.stop_with(stop);
    Ok((sim, server))
}

impl SimDiscord {
    fn new(config: SimDiscordConfig) -> Self {
        let guild = config.guild.clone();
        // Replaced by `start` once the ports are bound.
        let placeholder = Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!());
        let mut state = State {
            config,
            base: placeholder.clone(),
            gateway_url: placeholder,
            last_snowflake: 0,
            guilds: Vec::new(),
            known_guilds: HashSet::new(),
            channels: HashSet::new(),
            users: HashMap::new(),
            dm_channels: HashMap::new(),
            command_sets: HashMap::new(),
            overwrites: Vec::new(),
            interactions: HashMap::new(),
            tokens: HashMap::new(),
            responses: Vec::new(),
            messages: HashMap::new(),
            followups: Vec::new(),
            channel_messages: Vec::new(),
            edits: Vec::new(),
            deleted: Vec::new(),
            cdn: cdn::Cdn::new(),
            buckets: Buckets::default(),
            failures: HashMap::new(),
            requests: HashMap::new(),
            unauthorized: 0,
            gateway: gateway::Gateway::default(),
        };
        state.add_guild(guild);
        Self {
            state: Arc::new(Mutex::new(state)),
            client: reqwest::Client::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- who the application is ----

    /// The application id (also the bot user's id).
    pub fn application_id(&self) -> u64 {
        self.lock().config.application_id
    }

    /// The bot token, for a test that configures a client by hand (serenity's `HttpBuilder`).
    pub fn bot_token(&self) -> Secret {
        Secret::new(self.lock().config.token.expose())
    }

    /// The public key autopost verifies interactions with, as 64 hex digits.
    pub fn public_key_hex(&self) -> String {
        self.lock().config.public_key_hex()
    }

    /// The public key, to verify a delivery's signature with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.lock().config.signing_key.verifying_key()
    }

    /// Where the gateway listens (`ws://127.0.0.1:PORT`), as `GET /gateway` reports it.
    pub fn gateway_url(&self) -> Url {
        self.lock().gateway_url.clone()
    }

    /// The REST base (`http://127.0.0.1:PORT/`); the API is under `api/v10`.
    pub fn base_url(&self) -> Url {
        self.lock().base.clone()
    }

    /// The guild of the configuration, which the bot is in.
    pub fn guild(&self) -> SimGuild {
        self.lock().config.guild.clone()
    }

    /// Adds another guild the bot is in, with one text channel; returns it.
    pub fn add_guild(&self, name: &str) -> SimGuild {
        let mut state = self.lock();
        let id = state.snowflake();
        let channel_id = state.snowflake();
        let guild = SimGuild::new(id, name, channel_id);
        state.add_guild(guild.clone());
        guild
    }

    /// The DM channel between the bot and `user_id`, if one was opened (by an interaction in a
    /// DM or by `POST /users/@me/channels`).
    pub fn dm_channel(&self, user_id: u64) -> Option<u64> {
        self.lock().dm_channels.get(&user_id).copied()
    }

    // ---- what the test changes ----

    /// Answers the next request of `route` with `failure` (queued: several stack).
    pub fn fail_next(&self, route: Route, failure: Failure) {
        self.lock()
            .failures
            .entry(route)
            .or_default()
            .push_back(failure);
    }

    /// Sets the limit of every REST bucket from now on (buckets already open keep their window).
    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.lock().config.rate_limit = limit;
    }

    /// Makes an interaction look delivered `by` earlier, so that a test reaches the 3-second
    /// and 15-minute limits without waiting. `false` if it is unknown.
    pub fn backdate(&self, interaction_id: u64, by: Duration) -> bool {
        let mut state = self.lock();
        let Some(registered) = state.interactions.get_mut(&interaction_id) else {
            return false;
        };
        registered.backdated += by;
        true
    }

    /// Registers a file a user uploads (an ATTACHMENT option); the CDN serves it at a signed,
    /// expiring URL. Set [`SimAttachment::size`] (or use [`SimAttachment::with_reported_size`])
    /// to make interactions report another size than the bytes have.
    pub fn add_attachment(
        &self,
        filename: &str,
        content_type: &str,
        bytes: impl Into<axum::body::Bytes>,
    ) -> SimAttachment {
        let mut state = self.lock();
        let channel_id = state.config.guild.channel_id;
        let id = state.snowflake();
        let base = state.base.clone();
        state.cdn.add(
            &base,
            channel_id,
            id,
            filename,
            Some(content_type),
            bytes.into(),
        )
    }

    /// Makes every CDN link handed out so far expire, as Discord's do after about a day.
    pub fn expire_attachment_links(&self) {
        self.lock().cdn.expire_all();
    }

    // ---- what came back ----

    /// The commands registered in `scope` now, as Discord returns them.
    pub fn commands(&self, scope: CommandScope) -> Vec<Value> {
        self.lock()
            .command_sets
            .get(&scope)
            .cloned()
            .unwrap_or_default()
    }

    /// Every accepted bulk overwrite, oldest first.
    pub fn command_overwrites(&self) -> Vec<CommandOverwrite> {
        self.lock().overwrites.clone()
    }

    /// Every accepted initial response, oldest first.
    pub fn initial_responses(&self) -> Vec<InitialResponse> {
        self.lock().responses.clone()
    }

    /// The initial response to one interaction, if it came.
    pub fn initial_response(&self, interaction_id: u64) -> Option<InitialResponse> {
        self.lock()
            .responses
            .iter()
            .find(|r| r.interaction_id == interaction_id)
            .cloned()
    }

    /// The @original message of an interaction as it stands, if there is one.
    pub fn original_response(&self, interaction_id: u64) -> Option<DiscordMessage> {
        let state = self.lock();
        let id = state.interactions.get(&interaction_id)?.original?;
        state.messages.get(&id).map(|m| m.message.clone())
    }

    /// Every follow-up message as it was sent, oldest first.
    pub fn followups(&self) -> Vec<DiscordMessage> {
        self.lock().followups.clone()
    }

    /// Every message the bot posted with `POST /channels/{id}/messages`, as sent, oldest first.
    pub fn channel_messages(&self) -> Vec<DiscordMessage> {
        self.lock().channel_messages.clone()
    }

    /// A message as it stands now, whatever made it; `None` if unknown or deleted.
    pub fn message(&self, message_id: u64) -> Option<DiscordMessage> {
        self.lock()
            .messages
            .get(&message_id)
            .map(|m| m.message.clone())
    }

    /// Every accepted edit, oldest first.
    pub fn edits(&self) -> Vec<MessageEdit> {
        self.lock().edits.clone()
    }

    /// The ids of messages deleted (only @original can be, here), oldest first.
    pub fn deleted_messages(&self) -> Vec<u64> {
        self.lock().deleted.clone()
    }

    /// Every CDN request, oldest first.
    pub fn downloads(&self) -> Vec<Download> {
        self.lock().cdn.downloads().to_vec()
    }

    /// Requests of `route`, counted once their token (if the route needs one) was right,
    /// whatever the outcome.
    pub fn requests(&self, route: Route) -> usize {
        self.lock().requests.get(&route).copied().unwrap_or(0)
    }

    /// Requests per route.
    pub fn request_counts(&self) -> HashMap<Route, usize> {
        self.lock().requests.clone()
    }

    /// Bot-route requests refused with 401 for a missing or wrong token.
    pub fn unauthorized_requests(&self) -> usize {
        self.lock().unauthorized
    }

    /// Every Identify the gateway received, oldest first.
    pub fn identifies(&self) -> Vec<Identify> {
        self.lock().gateway.identifies.clone()
    }

    /// Heartbeats (op 1) received, on every connection.
    pub fn heartbeats(&self) -> usize {
        self.lock().gateway.heartbeats
    }

    /// Sessions identified and connected now (one per running shard).
    pub fn ready_sessions(&self) -> usize {
        self.lock().gateway.live_sessions()
    }

    /// Successful Resumes (op 6), oldest first, as session ids.
    pub fn resumes(&self) -> Vec<String> {
        self.lock().gateway.resumed.clone()
    }

    // ---- waiting for facts ----

    /// Waits until the interaction got its initial response, or `timeout` passes.
    pub async fn wait_for_initial_response(
        &self,
        interaction_id: u64,
        timeout: Duration,
    ) -> Option<InitialResponse> {
        super::wait_for(1, timeout, || {
            self.initial_response(interaction_id).into_iter().collect()
        })
        .await
        .pop()
    }

    /// Waits until at least `n` initial responses came or `timeout` passes; returns them either way.
    pub async fn wait_for_initial_responses(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<InitialResponse> {
        super::wait_for(n, timeout, || self.initial_responses()).await
    }

    /// Waits until at least `n` follow-ups came or `timeout` passes; returns them either way.
    pub async fn wait_for_followups(&self, n: usize, timeout: Duration) -> Vec<DiscordMessage> {
        super::wait_for(n, timeout, || self.followups()).await
    }

    /// Waits until at least `n` channel messages came or `timeout` passes.
    pub async fn wait_for_channel_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<DiscordMessage> {
        super::wait_for(n, timeout, || self.channel_messages()).await
    }

    /// Waits until at least `n` edits came or `timeout` passes.
    pub async fn wait_for_edits(&self, n: usize, timeout: Duration) -> Vec<MessageEdit> {
        super::wait_for(n, timeout, || self.edits()).await
    }

    /// Waits until at least `n` bulk overwrites were accepted or `timeout` passes.
    pub async fn wait_for_command_overwrites(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<CommandOverwrite> {
        super::wait_for(n, timeout, || self.command_overwrites()).await
    }

    /// Waits until at least `n` Identifies came or `timeout` passes.
    pub async fn wait_for_identifies(&self, n: usize, timeout: Duration) -> Vec<Identify> {
        super::wait_for(n, timeout, || self.identifies()).await
    }

    /// Waits until at least `n` sessions are ready and connected, or `timeout` passes; returns
    /// how many are.
    pub async fn wait_for_ready_sessions(&self, n: usize, timeout: Duration) -> usize {
        let _ = crate::world::wait_until("gateway sessions", timeout, async || {
            self.ready_sessions() >= n
        })
        .await;
        self.ready_sessions()
    }
}
