//! English time phrases ("tomorrow 9am", "in 2h", "every monday 9am") into a UTC instant or a
//! recurrence rule, by SPEC section 5. Pure: no clock, no I/O, never the host's zone. Refuses
//! rather than guesses: a phrase parses completely or is refused with a reason and examples.

mod english;
mod grammar;
mod lexer;
mod resolve;
mod words;
mod zones;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::recurrence::Recurrence;

/// What a phrase means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// One instant.
    Once(DateTime<Utc>),
    /// A rule that repeats until cancelled; its first occurrence is `rule.next_after(now)`.
    Recurring(Recurrence),
}

/// Why a phrase was refused. `Display` is one sentence for the chat user: why, and phrases
/// that work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Nothing was said.
    #[error("say when to post, such as `now`, `in 2h`, `tomorrow 9am` or `friday 5pm`")]
    Empty,
    /// Some part of the phrase is not a time word; refusing beats guessing.
    #[error(
        "I can't read `{near}` as part of a time, and I won't guess; try `tomorrow 9am`, `in 2h`, `friday 5pm` or `dec 24 6pm`"
    )]
    Unparseable {
        /// The word (or phrase) where reading stopped.
        near: String,
    },
    /// The phrase names a moment that has passed (`yesterday`, `3 days ago`, `today 9am` at 10).
    #[error(
        "that time has already passed; pick one ahead, such as `in 2h`, `tomorrow 9am` or `friday 5pm`"
    )]
    InThePast,
    /// The calendar has no such day (`feb 30`, `april 31`, `24/13`).
    #[error(
        "{date} is not on the calendar; check the day and month, such as `dec 24 6pm` or `24/12 18:00`"
    )]
    ImpossibleDate {
        /// The date as written or read.
        date: String,
    },
    /// No clock shows that time (`26:00`, `14pm`, `9:75`).
    #[error("`{time}` is not a time of day; use 0-23 hours (`18:00`) or 1-12 with am/pm (`6pm`)")]
    ImpossibleTime {
        /// The time as written.
        time: String,
    },
    /// The local time is skipped when the clocks spring forward.
    #[error(
        "{local} does not exist in {zone} because the clocks jump forward then; pick another time, such as `{suggestion}`"
    )]
    NonexistentLocalTime {
        /// The skipped wall-clock time and its date.
        local: String,
        /// The zone it was read in.
        zone: String,
        /// What the clocks show at that moment instead.
        suggestion: String,
    },
    /// A phrase that is vague rather than wrong (`tomorrow morning`, `next week`, `monday 9`,
    /// `tomorrow`): exact phrases it may mean, each of which parses to a future instant.
    #[error("`{said}` could be more than one time; pick one, such as {}", or_list(.suggestions))]
    Vague {
        /// The phrase as written (without backticks), for the message.
        said: String,
        /// At most [`MOST_SUGGESTIONS`] phrases, soonest first.
        suggestions: Vec<String>,
    },
    /// A day was named without a time of day and no time that day is still ahead (`today` late
    /// at night), or a repetition without a time (`every monday`).
    #[error("add a time of day, such as `tomorrow 9am`, `friday at 17:00` or `every monday 9am`")]
    NeedsTimeOfDay,
    /// More than 100 years ahead (or a count too large to compute).
    #[error(
        "that is more than 100 years ahead; pick a nearer time, such as `in 3 days` or `dec 24 6pm`"
    )]
    TooFarAhead,
    /// An abbreviation several zones use (`IST`), not settled by the author's own zone.
    #[error(
        "`{abbreviation}` names more than one time zone; use a zone name or an offset, such as `{example}` or `+05:30`"
    )]
    AmbiguousZone {
        /// The abbreviation as written, uppercased.
        abbreviation: String,
        /// A zone name it may mean.
        example: String,
    },
    /// A repetition other than "on these weekdays at this time" (`every hour`, `monthly`).
    #[error(
        "I can repeat a post every day, on weekdays or on named days at one time of day, such as `every monday 9am`, `weekdays at 8am` or `daily 18:00`"
    )]
    UnsupportedRepeat,
    /// A weekday said next to a date that falls on another weekday (`friday dec 24 2026`).
    #[error(
        "{date} is a {actual}, not a {said}; drop the weekday or fix the date, such as `dec 24 6pm`"
    )]
    WeekdayMismatch {
        /// The date.
        date: String,
        /// The weekday said.
        said: String,
        /// The date's real weekday.
        actual: String,
    },
}

/// The most suggestions a [`TimeError::Vague`] carries.
pub const MOST_SUGGESTIONS: usize = 4;

/// Parses `phrase` as said at `now` by someone whose zone is `zone` (SPEC section 5).
///
/// Understood, in any case, with extra spaces, `@` for "at" and commas ignored:
/// - `now`; offsets `in 90 minutes`, `in 2h`, `in 1h 30m`, `in a week and 2 days`,
///   `3 days from now` (seconds to hours are elapsed time; days, weeks, months and years are
///   calendar steps that keep the local wall-clock time);
/// - days: `today`, `tonight`, `tomorrow`/`tmrw`, `the day after tomorrow`, weekdays with an
///   optional `on`/`this`/`next`, `dec 24`, `24 dec`, `december 24th`, `24th of december`
///   (each with an optional year), ISO `2026-12-24` (also `T18:00`), `24/12`, `12/24`,
///   `24/12/2026`, `24.12.2026`; a date may carry its weekday (`friday dec 25`), which is checked;
/// - times: `9am`, `9:30 pm`, `9 a.m.`, `6.30pm`, `21:30`, `21:30:15`, `noon`, `midnight`,
///   `12 noon`, and after `at`/`@` a bare 24-hour hour (`at 8`; `tonight at 8` is 20:00);
/// - zones after or before the time: `UTC`, `GMT`, `Z`, abbreviations (`PST` = UTC-08:00 all
///   year), `ET`/`CT`/`MT`/`PT` (the US regions with their DST), IANA names in any case,
///   offsets `+05:30`, `-0800`, `UTC+5`;
/// - repetition: `every monday 9am`, `every mon and thu at 9`, `mondays at 9am`,
///   `every weekday`, `weekdays`, `every weekend`, `every day`, `daily`.
///
/// Also `0930`, `at 1400`, `17.30` (a dotted time only where it cannot be a day and month),
/// `the 3rd at 11am`, `half past 10`, `quarter to 5`, `in half an hour`,
/// `in an hour and a half` and `in a fortnight`.
///
/// Refused with a reason: the past, impossible dates and times, DST-gap times, anything more
/// than 100 years ahead, and any phrase with a word it cannot place. A vague phrase (a day
/// without a time, `tomorrow morning`, `this evening`, `next week`, `monday 9`) is refused as
/// [`TimeError::Vague`] with exact phrases to choose from.
pub fn parse(phrase: &str, now: DateTime<Utc>, zone: Tz) -> Result<When, TimeError> {
    parse_with(phrase, now, zone, true)
}

/// `parse`; with `suggest` false a vague phrase is simply unparseable, which is how each
/// suggestion is checked without suggesting again.
fn parse_with(
    phrase: &str,
    now: DateTime<Utc>,
    zone: Tz,
    suggest: bool,
) -> Result<When, TimeError> {
    let text = lexer::normalize(phrase)?;
    let tokens = lexer::lex(&text);
    if tokens.is_empty() {
        return Err(TimeError::Empty);
    }
    let read = grammar::read(&tokens, zone, phrase)?;
    resolve::resolve(&read, phrase, now, zone, suggest)
}

/// `` `a`, `b` or `c` ``.
fn or_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Text quoted back to the user, cut to a readable length and without control characters.
fn near(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}
