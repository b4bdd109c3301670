//! The time parser (`autopost::timeparse::parse`) on any text, at any moment from 1970 to
//! 2100, in zones with and without daylight saving. Besides panics it reports an accepted
//! one-off time in the past.
#![no_main]

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

const ZONES: [Tz; 6] = [
    Tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Adelaide,
    chrono_tz::Pacific::Chatham,
];

// The first 8 bytes choose the moment, the next one the zone; the rest is the phrase.
fuzz_target!(|data: &[u8]| {
    let Some((head, phrase)) = data.split_first_chunk::<9>() else {
        return;
    };
    let Ok(phrase) = std::str::from_utf8(phrase) else {
        return;
    };
    let mut seconds = [0; 8];
    seconds.copy_from_slice(&head[..8]);
    let seconds = i64::from_le_bytes(seconds).rem_euclid(4_102_444_800);
    let Some(now) = DateTime::<Utc>::from_timestamp(seconds, 0) else {
        return;
    };
    let zone = ZONES[usize::from(head[8]) % ZONES.len()];
    if let Ok(autopost::timeparse::When::Once(at)) = autopost::timeparse::parse(phrase, now, zone) {
        assert!(
            at >= now,
            "{phrase:?} at {now} in {zone} gave the past {at}"
        );
    }
});
