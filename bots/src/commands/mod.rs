//! Chat-neutral verbs: chat text into a `Command`, and the `Reply` model with its Telegram and
//! Discord renderers. Pure: running a command on the `App` belongs to the front ends' runner.
#![allow(dead_code, unused_imports)] // wired into the Telegram front end by the next change

mod parse;
mod reply;

pub use parse::{Command, ConnectTarget, ParseContext, ParseError, PostForm, parse};
pub use reply::{
    Block, Button, ButtonAction, CALLBACK_DATA_LIMIT, DISCORD_TEXT_LIMIT, Reply, ReplyFile, Span,
    TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT,
};
