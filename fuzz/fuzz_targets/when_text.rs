//! Chat text through the command reader (`autopost_bots::commands::parse`) in every context:
//! a private chat (where a plain `WHEN | TEXT` is a post), a group, and Discord. This reaches
//! the `WHEN | TEXT` splitter both ways, and every verb's argument parser.
#![no_main]

use autopost_bots::commands::{ParseContext, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for (bot_username, is_private) in [
        (Some("AutopostBot"), true),
        (Some("AutopostBot"), false),
        (None, false),
    ] {
        let context = ParseContext {
            bot_username,
            is_private,
        };
        let _ = parse(text, context);
    }
});
