//! autopost's chat front ends: the chat-neutral command layer they share, and one translator
//! per chat platform. The `autopost` binary (main.rs) wires them to the core.
//!
//! A front end turns platform input into the core's chat-neutral calls and renders `Reply`
//! back; it never touches the store and never decides a rule. Adding a chat platform means
//! writing a module like `telegram`: a `FrontEnd` (its routes and its task), the translation
//! of its events into `commands::Incoming`, and a renderer of `commands::Reply`.

pub mod commands;
pub mod discord;
mod download;
pub mod telegram;
