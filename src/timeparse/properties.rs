//! Property tests: any text at any moment in any zone gets an answer, never a panic; and
//! phrases generated from the grammar resolve to instants that obey the phrase's plain
//! meaning. Bounded case counts keep CI fast; `fuzz/` holds the long run.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::{TimeError, When, parse};

/// Zones with and without daylight saving, on both hemispheres, with half-hour offsets.
fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(vec![
        Tz::UTC,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::America::Sao_Paulo,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Australia::Adelaide,
        chrono_tz::Pacific::Chatham,
    ])
}

/// An instant between 1970 and 2100, to the second.
fn now() -> impl Strategy<Value = DateTime<Utc>> {
    (0_i64..4_102_444_800).prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap_or_default())
}

/// Text made of the words, digits and signs phrases use, so that generated text often
/// reaches deep into the grammar.
fn phrase_like() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "now",
        "in",
        "at",
        "@",
        "on",
        "the",
        "today",
        "tonight",
        "tomorrow",
        "day",
        "after",
        "next",
        "this",
        "every",
        "daily",
        "weekdays",
        "monday",
        "fri",
        "dec",
        "24th",
        "of",
        "2026",
        "2026-12-24",
        "24/12",
        "12.31.",
        "am",
        "pm",
        "a.m.",
        "noon",
        "midnight",
        "h",
        "hours",
        "minutes",
        "days",
        "weeks",
        "months",
        "years",
        "ago",
        "from",
        "and",
        "a",
        "utc",
        "gmt+5",
        "pst",
        "ist",
        "z",
        "+05:30",
        "-0800",
        "europe/berlin",
        "t",
        ":",
        ".",
        ",",
        "-",
        "9",
        "12",
        "23:59",
        "99",
        "0",
        "18446744073709551616",
        "0930",
        "2130",
        "17.30",
        "half",
        "past",
        "quarter",
        "to",
        "3rd",
        "fortnight",
        "week",
        "morning",
        "evening",
        "night",
    ]);
    prop::collection::vec(words, 0..7).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_at_any_moment_in_any_zone_gets_an_answer(
        text in prop_oneof![any::<String>(), phrase_like(), "[ -~]{0,40}"],
        now in now(),
        zone in zone(),
    ) {
        // An accepted one-off instant is never in the past: refusing beats guessing, but
        // accepting the past is a bug.
        if let Ok(When::Once(at)) = parse(&text, now, zone) {
            prop_assert!(at >= now, "{text:?} at {now} in {zone}: {at}");
        }
    }

    #[test]
    fn every_suggestion_for_a_vague_phrase_is_an_exact_future_phrase(
        text in phrase_like(),
        now in now(),
        zone in zone(),
    ) {
        if let Err(TimeError::Vague { suggestions, .. }) = parse(&text, now, zone) {
            prop_assert!(!suggestions.is_empty() && suggestions.len() <= super::MOST_SUGGESTIONS);
            for suggestion in &suggestions {
                match parse(suggestion, now, zone) {
                    Ok(When::Once(at)) => prop_assert!(at > now, "{suggestion} from {text:?}"),
                    other => prop_assert!(false, "{suggestion} from {text:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn an_offset_in_minutes_or_hours_is_exactly_that_far_ahead(
        amount in 1_i64..500_000,
        unit in prop::sample::select(vec![("minutes", 60_i64), ("min", 60), ("hours", 3600), ("h", 3600)]),
        now in now(),
        zone in zone(),
    ) {
        let phrase = format!("in {amount} {}", unit.0);
        prop_assert_eq!(
            parse(&phrase, now, zone),
            Ok(When::Once(now + Duration::seconds(amount * unit.1)))
        );
    }

    #[test]
    fn tomorrow_at_a_clock_time_is_that_time_on_the_next_local_day(
        hour in 0_u32..24,
        minute in 0_u32..60,
        now in now(),
        zone in zone(),
    ) {
        let phrase = format!("tomorrow {hour}:{minute:02}");
        let local_now = now.with_timezone(&zone);
        let Some(tomorrow) = local_now.date_naive().succ_opt() else {
            return Ok(());
        };
        let wanted = tomorrow.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default());
        match parse(&phrase, now, zone) {
            Ok(When::Once(at)) => {
                let local = at.with_timezone(&zone);
                prop_assert!(at > now, "{phrase} at {now}: {at}");
                prop_assert_eq!(local.naive_local(), wanted, "{} in {}", phrase, zone);
            }
            // Only a time the clocks skip may be refused.
            Err(TimeError::NonexistentLocalTime { .. }) => {
                prop_assert!(zone.from_local_datetime(&wanted).single().is_none(), "{wanted} exists in {zone}");
            }
            other => prop_assert!(false, "{phrase} at {now} in {zone}: {other:?}"),
        }
    }

    #[test]
    fn a_bare_clock_time_is_the_next_time_the_clock_shows_it(
        hour in 0_u32..24,
        minute in 0_u32..60,
        now in now(),
        zone in zone(),
    ) {
        let phrase = format!("{hour:02}:{minute:02}");
        match parse(&phrase, now, zone) {
            Ok(When::Once(at)) => {
                let local = at.with_timezone(&zone);
                prop_assert!(at > now, "{phrase} at {now}: {at}");
                // Within a day, give or take the hour a clock change moves.
                prop_assert!(at - now <= Duration::hours(25), "{phrase} at {now}: {at}");
                prop_assert_eq!((local.hour(), local.minute()), (hour, minute));
            }
            Err(TimeError::NonexistentLocalTime { .. }) => {}
            other => prop_assert!(false, "{phrase} at {now} in {zone}: {other:?}"),
        }
    }

    #[test]
    fn every_weekday_at_a_time_repeats_on_that_day_from_now_on(
        day in prop::sample::select(vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]),
        hour in 0_u32..24,
        minute in 0_u32..60,
        now in now(),
        zone in zone(),
    ) {
        let phrase = format!("every {day} {hour}:{minute:02}");
        let Ok(When::Recurring(rule)) = parse(&phrase, now, zone) else {
            return Err(TestCaseError::fail(format!("{phrase} refused at {now} in {zone}")));
        };
        let next = rule.next_after(now);
        prop_assert!(next.is_some());
        let next = next.unwrap_or(now);
        prop_assert!(next > now && next - now <= Duration::days(7) + Duration::hours(1));
        let local = next.with_timezone(&zone);
        // A time inside a spring-forward gap moves later by the gap, on the same day.
        prop_assert_eq!(local.weekday(), day, "{} at {}: {}", phrase, now, local);
    }
}
