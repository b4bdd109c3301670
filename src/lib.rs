//! autopost core: everything the chat front ends and the binary share.

// Configuration read once from defaults, autopost.toml and AUTOPOST_* variables.
pub mod config;
// Domain nouns every layer shares: ids, providers, chat platforms.
pub mod domain;
// `autopost doctor`: read-only checks of configuration, key and database.
pub mod doctor;
// Secrets, the master key, and sealing tokens at rest with AES-256-GCM.
pub mod crypto;
// What a chat front end is to the app: its routes and its task.
pub mod front_end;
// Images people send: real format sniffed, bombs refused, JPEG re-encoding to a byte budget.
pub mod images;
// Stored images and signed, expiring links to them.
pub mod media;
// Output for the CLI's own commands: the one place that writes to stdout.
pub mod output;
// A person's settings and the privacy-policy notice they are due.
pub mod people;
// Linking accounts: OAuth states, PKCE, code exchange, storing and linking.
pub mod oauth;
// The posting API the bots call: create, edit, cancel, post now, queue, history.
pub mod posting;
// Export, erasure and disconnection: the privacy promises as calls.
pub mod privacy;
// Publishing to X, Facebook Pages and Instagram behind one trait.
pub mod platforms;
// Recurrence rules, the days they fall on and the zone they keep: pure types, not the scheduler.
pub mod recurrence;
// Per-target post rules checked at acceptance: text length, hashtags, image count, type, size.
pub mod rules;
// Claims due targets, publishes within bounds, retries safely, reconciles the uncertain.
pub mod scheduler;
// The only SQL: the SQLite store behind typed functions.
pub mod store;
// tracing set-up: readable or JSON lines, filtered by AUTOPOST_LOG.
pub mod telemetry;
// Token upkeep: refresh before expiry; mark grants the platform refuses for reconnection.
pub mod tokens;
// Per-user command rate limiting: one person's flood does not slow the others.
pub mod throttle;
// English time phrases into UTC instants or recurrence rules.
pub mod timeparse;
// The embedded web server: health, and later OAuth callbacks, media and webhooks.
pub mod web;
// The App: built from Config, owns the store and the key; what the binary and bots call.
pub mod app;
