//! autopost core: everything the chat front ends and the binary share.
//!
//! # Layout
//!
//! Dependencies point down this list, never up:
//!
//! 1. `app` opens everything from a [`config::Config`] and serves (web server, scheduler,
//!    token upkeep, the front ends handed in). The calls a front end makes are `impl App`
//!    blocks next to the rules they keep: [`posting`] (create, edit, cancel, queue,
//!    history), [`import`] (many posts from a CSV file, all or none), [`privacy`] (erase, disconnect; [`revocation`] revokes at the platforms
//!    and retries), [`export`] (a person's data as JSON or a zip with their images),
//!    [`purge`] (retention), [`people`] (time zone, policy consent) and [`chats`] (who is
//!    acting, updates seen before, notifications to deliver, chats that moved);
//!    [`front_end`] holds the types of that contract. [`operator`] holds the operator's
//!    calls (`autopost export`, `erase`, `audit`). `doctor` checks an installation without
//!    changing it; `key_files` decides which master key file opens the database.
//! 2. `web` (axum routes: health, OAuth callbacks, media links, privacy page, Meta's
//!    callbacks; front ends merge their own routes in), `scheduler` (claims due targets, publishes, retries,
//!    reconciles; `scheduler::decision` is the pure verdict on each answer), `tokens`
//!    (refresh and reconnection), `oauth` (linking accounts) and `meta_callbacks` (Meta's
//!    deauthorize and data-deletion callbacks).
//! 3. `rules` and `images` (what each network accepts), `media` (stored images and signed
//!    links), `platforms` (HTTP clients of X, Facebook Pages and Instagram behind one trait;
//!    they know no chats and no store).
//! 4. `store`: the only SQL. Typed functions over SQLite, one file per group of tables;
//!    secrets are sealed here and nowhere else; a multi-row change is one transaction
//!    inside one store function, and transactions never leave it.
//! 5. Leaves: `timeparse` and `recurrence` (pure time), `domain` (ids and names), `crypto`
//!    (`Secret`, the master key, sealing), `config`, `data_dir` (modes and the lock),
//!    `telemetry`, `throttle`, `output`.
//!
//! # Rules a reader needs
//!
//! - Only `store` runs SQL; only `config` reads the environment; only `output` writes to
//!   stdout.
//! - Log lines name people, chats and grants only by [`log_ids`] pseudonyms, never by a
//!   platform's id or a row id that leads to a person.
//! - A credential is a [`crypto::Secret`] from the moment it is parsed; `expose()` is called
//!   only where a header, URL or cipher input is built, and URLs carrying tokens never reach
//!   an error or a log line.
//! - Each layer has one `thiserror` enum; a logged error carries its whole chain
//!   ([`telemetry::chain`]). No `anyhow` under `src/`.
//! - Chat front ends (the `autopost-bots` crate) only translate: they never touch the store,
//!   tokens or rules, and reach the core through the calls above.
//!
//! # Where new things plug in
//!
//! - A social network: a client in `platforms/` implementing `platforms::Platform` (publish,
//!   refresh, revoke, limits, rate limit, find recent posts), built in
//!   `Platforms::from_config`; its OAuth in `oauth`; its limits in `rules`.
//! - A chat platform: a module of the bots crate that implements [`front_end::FrontEnd`]
//!   (its routes and its task) and [`front_end::AdminRights`], and hands parsed commands to
//!   the shared command layer; nothing in this crate changes.
//! - Tests and demos: `autopost_sim::World` runs this app against simulated platforms.

// The chat-neutral calls of front ends: actors, updates seen, notifications, chat moves.
pub mod chats;
// Recording platform update ids as seen, concurrent callers committed together.
mod deliveries;
// This process among the instances sharing a database: its lease and the roles it plays.
pub mod instance;
// The data directory: created or tightened to owner-only modes, locked for one instance.
pub mod data_dir;
// Configuration read once from defaults, autopost.toml and AUTOPOST_* variables.
pub mod config;
// Posts held for an hour while their author picks a suggested time for a vague phrase.
pub mod drafts;
// Domain nouns every layer shares: ids, providers, chat platforms.
pub mod domain;
// `autopost doctor`: read-only checks of configuration, key and database.
pub mod doctor;
// Secrets, the master key, and sealing tokens at rest with AES-256-GCM.
pub mod crypto;
// A person's data handed over: every row that refers to them, as JSON or a zip with images.
pub mod export;
// The contract with chat front ends: their routes and task, and the chat-neutral calls.
pub mod front_end;
// The master key's files: which one opens the database; finishing an interrupted rotation.
pub mod key_files;
// Images people send: real format sniffed, bombs refused, metadata removed, decoded in full,
// JPEG re-encoding to a byte budget.
pub mod images;
// Pseudonyms for log lines: people, chats and grants as keyed hashes, never as their ids.
pub mod log_ids;
// Stored images and signed, expiring links to them.
pub mod media;
// Meta's deauthorize and data-deletion callbacks: verified, then revoke or erase that Meta user.
pub mod meta_callbacks;
// Output for the CLI's own commands: the one place that writes to stdout.
pub mod output;
// A person's settings and the privacy-policy notice they are due.
pub mod people;
// Linking accounts: OAuth states, PKCE, code exchange, storing and linking.
pub mod oauth;
// The operator's tools by PLATFORM:ID: a person's export and erasure, the security log.
pub mod operator;
// The posting API the bots call: create, edit, cancel, post now, queue, history.
pub mod posting;
// Erasure and disconnection: the privacy promises as calls.
pub mod privacy;
// `/import`: posts from a CSV file, every row checked, all queued or none; image URLs fetched
// only from public addresses.
pub mod import;
// Publishing to X, Facebook Pages and Instagram behind one trait.
pub mod platforms;
// The retention purge: finished posts' images and history, spent states, old notifications.
pub mod purge;
// Recurrence rules, the days they fall on and the zone they keep: pure types, not the scheduler.
pub mod recurrence;
// Revoking access at the platforms at once, and retrying what could not be revoked yet.
pub mod revocation;
// Per-target post rules checked at acceptance: text length, hashtags, image count, type, size.
pub mod rules;
// Claims due targets, publishes within bounds, retries safely, reconciles the uncertain.
pub mod scheduler;
// The only SQL: the SQLite store behind typed functions.
pub mod store;
// tracing set-up: readable or JSON lines, filtered by AUTOPOST_LOG.
pub mod telemetry;
// A throw-away PostgreSQL server on loopback for the tests of every crate.
#[cfg(any(test, feature = "test-cluster"))]
pub mod test_cluster;
// Token upkeep: refresh before expiry; mark grants the platform refuses for reconnection.
pub mod tokens;
// Per-user command rate limiting: one person's flood does not slow the others.
pub mod throttle;
// English time phrases into UTC instants or recurrence rules.
pub mod timeparse;
// The embedded web server: health, OAuth callbacks, media links, the privacy page, and the
// routes front ends bring.
pub mod web;
// The App: built from Config, owns the store and the key; opens, serves and closes.
pub mod app;
