//! A body as it reaches `POST /telegram/webhook` (or one update of `getUpdates`), read as the
//! bot reads it (`autopost_bots::telegram::read_update`): the route's `update_id` check, the
//! whole update, the message's chat, sender, text and pictures, and the command in the text.
//! The seeds in `fuzz/seeds/telegram_update/` are real updates, to start from depth.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = autopost_bots::telegram::read_update(body, "autopost_bot");
});
