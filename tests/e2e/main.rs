//! End-to-end tests of the core: the real App, a temp data dir, real HTTP on loopback.
//! One test binary; one file per feature.

// Helpers outside #[test] functions panic on purpose: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod discord_sim;
mod disk_full;
mod export;
mod helpers;
mod image_metadata;
mod import;
mod instances;
mod linking;
mod meta_callbacks;
mod meta_platform;
mod posting;
mod privacy;
mod retention;
mod scheduler;
mod secrets_at_rest;
mod secrets_never_leak;
mod security_log;
mod series;
mod shared_media;
mod telegram_sim;
mod threads;
mod token_upkeep;
mod web_server;
mod x_platform;
