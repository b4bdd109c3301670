//! The chat-neutral layer every front end shares. A front end parses a message once
//! ([`parse`]), hands the [`Command`] to [`Commands`], and renders the [`Reply`]; it delivers
//! the core's notifications with [`notify::deliver`]. Each verb is defined once, in the
//! table of [`verbs`]: the parser, `/help`, Telegram's menu and Discord's command definitions
//! all come from it.

mod args;
#[cfg(test)]
mod compose_tests;
mod consent;
mod context;
mod notify;
mod outcomes;
mod parse;
#[cfg(test)]
mod properties;
mod reply;
mod runner;
mod suggest;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod verbs;
mod zones;

pub use args::{ArgValue, NamedArgs, ParseError, PostForm};
pub use consent::AGREE_LABEL;
pub use context::internal;
pub use notify::{Courier, Undelivered, deliver as deliver_notifications};
pub use parse::{ParseContext, parse};
pub use reply::{
    Block, Button, ButtonAction, CALLBACK_DATA_LIMIT, CANNOT_STORE, DISCORD_TEXT_LIMIT, EditForm,
    Reply, ReplyFile, Span, TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT,
};
pub use runner::{Commands, Incoming};
pub use suggest::Suggestion;
pub use verbs::edit::edit_by_reply;
pub use verbs::{Arg, ArgKind, Command, ConnectTarget, Document, VERBS, Verb, Who};
