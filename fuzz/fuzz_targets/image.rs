//! A file sent as a picture, through all of the core's image acceptance
//! (`autopost::images::prepare`): sniffing, the metadata walkers of JPEG, PNG, GIF and WebP,
//! the full decode under the memory cap, and turning it upright. Besides panics it reports a
//! prepared image that a second preparation would refuse or change (metadata left behind).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(prepared) = autopost::images::prepare(bytes) {
        let again =
            autopost::images::prepare(&prepared.bytes).expect("a prepared image is accepted again");
        assert_eq!(
            again.bytes, prepared.bytes,
            "preparing twice changes nothing"
        );
    }
});
