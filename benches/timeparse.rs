//! Time-phrase parsing throughput (SPEC section 10: at least 100,000 phrases per second).
//! One iteration parses a realistic mix of chat phrases, refusals included; criterion reports
//! the rate in phrases (elements) per second.

use std::hint::black_box;

use autopost::timeparse;
use chrono::{DateTime, Utc};
use chrono_tz::{America, Asia, Australia, Europe, Tz};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What people type after `/post`, roughly in the proportions they type it: mostly relative
/// offsets and day + time, some dates and zones, a few repeats and mistakes.
const PHRASES: &[&str] = &[
    "now",
    "in 5 minutes",
    "in 90 minutes",
    "in 2h",
    "in 30 seconds",
    "in 3 days",
    "in 1 hour 30 minutes",
    "tomorrow 9am",
    "tmrw 9am",
    "Tomorrow at 10:30",
    "today 5pm",
    "tonight at 8",
    "friday 5pm",
    "on wed at noon",
    "next monday 09:00",
    "this friday at 6pm",
    "9am",
    "21:30",
    "noon",
    "dec 24 6pm",
    "december 24th at 6pm",
    "2026-12-24 18:00",
    "2026-12-24T18:00:00Z",
    "24/12 18:00",
    "12/24 6pm",
    "24.12.2026 18:00",
    "9am UTC",
    "6pm PST",
    "18:00 Europe/Berlin",
    "10:00 +05:30",
    "every monday 9am",
    "weekdays at 8am",
    "daily 18:00",
    "yesterday 9am",
    "next funday at 5pm",
    "feb 30 10am",
];

fn scenes() -> [(DateTime<Utc>, Tz); 5] {
    let now = DateTime::from_timestamp(1_774_728_000, 0).unwrap_or_default(); // 2026-03-28T20:00:00Z
    [
        (now, Europe::Berlin),
        (now, America::New_York),
        (now, Asia::Kolkata),
        (now, Australia::Sydney),
        (now, Tz::UTC),
    ]
}

fn parse_mix(c: &mut Criterion) {
    let scenes = scenes();
    let mut group = c.benchmark_group("timeparse");
    let per_iteration = PHRASES.len() * scenes.len();
    group.throughput(Throughput::Elements(per_iteration as u64));
    group.bench_function("mixed_phrases", |b| {
        b.iter(|| {
            for (now, zone) in scenes {
                for phrase in PHRASES {
                    let _ = black_box(timeparse::parse(black_box(phrase), now, zone));
                }
            }
        });
    });
    group.finish();
}

criterion_group!(benches, parse_mix);
criterion_main!(benches);
