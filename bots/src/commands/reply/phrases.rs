//! Wording shared by the verbs' answers: times in a zone, both zones at once, how far off a
//! time is, first words of a post, plurals and account names.

use autopost::domain::Provider;
use autopost::oauth::provider_label;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// `Mon 30 Nov 09:00`.
pub(crate) fn local_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %H:%M")
        .to_string()
}

/// `Mon 30 Nov 09:00 (Europe/Berlin) · 08:00 UTC`; the UTC side repeats the date when it
/// differs. Both are shown so that an hour around a DST change is never in doubt.
pub(crate) fn both_zones(at: DateTime<Utc>, zone: Tz) -> String {
    let utc_date = at.date_naive();
    if zone == Tz::UTC || zone == Tz::Etc__UTC {
        return format!("{} UTC", local_time(at, Tz::UTC));
    }
    let utc = if at.with_timezone(&zone).date_naive() == utc_date {
        at.format("%H:%M").to_string()
    } else {
        local_time(at, Tz::UTC)
    };
    format!("{} ({}) · {utc} UTC", local_time(at, zone), zone.name())
}

/// `tomorrow 09:00 (Europe/Berlin) · 08:00 UTC`: [`both_zones`] with the local day said as
/// people say it when it is near `now` (today, tomorrow, a weekday within the week).
pub(crate) fn near_both_zones(at: DateTime<Utc>, zone: Tz, now: DateTime<Utc>) -> String {
    let full = both_zones(at, zone);
    let local = at.with_timezone(&zone);
    let days = (local.date_naive() - now.with_timezone(&zone).date_naive()).num_days();
    let day = match days {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        2..=6 => local.format("%A").to_string(),
        _ => return full,
    };
    // Only the local date is replaced: the UTC side still names its date when it differs.
    let date = local.format("%a %-d %b").to_string();
    full.replacen(&date, &day, 1)
}

/// How far ahead `at` is: `now`, `in 25 min`, `in 14 h`, `in 3 days`.
pub(crate) fn from_now(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (at - now).num_seconds().div_euclid(60);
    match span(minutes) {
        Some(span) => format!("in {span}"),
        None => "now".to_owned(),
    }
}

/// How long ago `at` was: `just now`, `25 min ago`, `3 h ago`, `2 days ago`.
pub(crate) fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - at).num_seconds().div_euclid(60);
    match span(minutes) {
        Some(span) => format!("{span} ago"),
        None => "just now".to_owned(),
    }
}

/// A span of minutes, rounded to the unit people use for it; `None` under a minute.
fn span(minutes: i64) -> Option<String> {
    if minutes < 1 {
        return None;
    }
    if minutes < 60 {
        return Some(format!("{minutes} min"));
    }
    let hours = (minutes + 30) / 60;
    if hours < 48 {
        return Some(format!("{hours} h"));
    }
    Some(plural(
        usize::try_from((hours + 12) / 24).unwrap_or(usize::MAX),
        "day",
        "days",
    ))
}

/// The first words of a post on one line, cut at a word near `max` characters.
pub(crate) fn first_words(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let at_word = match cut.rfind(' ') {
        Some(space) if space >= max / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

pub(crate) fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

pub(crate) fn account_name(name: &str, provider: Provider) -> String {
    format!("{name} ({})", provider_label(provider))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

    #[test]
    fn near_times_name_their_day_and_far_ones_their_date() {
        // Sunday 29 November 2026, 19:00 in Berlin.
        let now = utc(2026, 11, 29, 18, 0);
        let cases = [
            (
                utc(2026, 11, 29, 20, 0),
                "today 21:00 (Europe/Berlin) · 20:00 UTC",
            ),
            (
                utc(2026, 11, 30, 8, 0),
                "tomorrow 09:00 (Europe/Berlin) · 08:00 UTC",
            ),
            (
                utc(2026, 12, 4, 16, 0),
                "Friday 17:00 (Europe/Berlin) · 16:00 UTC",
            ),
            (
                utc(2026, 12, 6, 8, 0),
                "Sun 6 Dec 09:00 (Europe/Berlin) · 08:00 UTC",
            ),
            // Past midnight in Berlin, still the day before in UTC: the UTC date stays.
            (
                utc(2026, 11, 29, 23, 30),
                "tomorrow 00:30 (Europe/Berlin) · Sun 29 Nov 23:30 UTC",
            ),
        ];
        for (at, expected) in cases {
            assert_eq!(near_both_zones(at, Berlin, now), expected);
        }
        assert_eq!(
            near_both_zones(utc(2026, 11, 30, 8, 0), Tz::UTC, now),
            "tomorrow 08:00 UTC"
        );
    }

    #[test]
    fn spans_are_said_in_minutes_hours_or_days() {
        let now = utc(2026, 11, 29, 18, 0);
        let cases: &[(TimeDelta, &str, &str)] = &[
            (TimeDelta::seconds(20), "now", "just now"),
            (TimeDelta::minutes(1), "in 1 min", "1 min ago"),
            (TimeDelta::minutes(25), "in 25 min", "25 min ago"),
            (TimeDelta::minutes(59), "in 59 min", "59 min ago"),
            (TimeDelta::minutes(60), "in 1 h", "1 h ago"),
            (TimeDelta::minutes(14 * 60 + 10), "in 14 h", "14 h ago"),
            (TimeDelta::minutes(14 * 60 + 40), "in 15 h", "15 h ago"),
            (TimeDelta::hours(47), "in 47 h", "47 h ago"),
            (TimeDelta::hours(48), "in 2 days", "2 days ago"),
            (TimeDelta::hours(24 * 3 + 5), "in 3 days", "3 days ago"),
        ];
        for (delta, ahead, behind) in cases {
            assert_eq!(from_now(now + *delta, now), *ahead, "{delta}");
            assert_eq!(ago(now - *delta, now), *behind, "{delta}");
        }
        assert_eq!(from_now(now - TimeDelta::hours(1), now), "now");
    }
}
