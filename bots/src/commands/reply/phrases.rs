//! Wording shared by the verbs' answers: times in a zone, both zones at once, first words of
//! a post, plurals and account names.

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
