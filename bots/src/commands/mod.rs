//! Chat-neutral verbs: chat text into a `Command`, and the `Reply` model with its Telegram and
//! Discord renderers, and the runner that executes a command on the `App`.
#![allow(dead_code, unused_imports)] // wired into the Telegram front end by the next change

mod parse;
mod reply;
mod run;

pub use parse::{Command, ConnectTarget, ParseContext, ParseError, PostForm, parse};
pub use reply::{
    Block, Button, ButtonAction, CALLBACK_DATA_LIMIT, DISCORD_TEXT_LIMIT, Reply, ReplyFile, Span,
    TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT,
};
pub use run::{on_button, on_message, run};
