//! The fixed English vocabulary of time phrases: weekdays, months, units, number words.
//! Exact matches only: a word that merely resembles one (`funday`, `glorps`) is not guessed at.

use chrono::Weekday;

use super::english::Unit;

/// `monday`, `mon`, `tues`… as a weekday.
pub(super) fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" | "weds" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// `mondays`, `fridays`…: only meaningful for a repeating post.
pub(super) fn plural_weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "mondays" => Weekday::Mon,
        "tuesdays" => Weekday::Tue,
        "wednesdays" => Weekday::Wed,
        "thursdays" => Weekday::Thu,
        "fridays" => Weekday::Fri,
        "saturdays" => Weekday::Sat,
        "sundays" => Weekday::Sun,
        _ => return None,
    })
}

/// `dec`, `december`… as a month number 1–12.
pub(super) fn month(word: &str) -> Option<u32> {
    Some(match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// English month name for messages, `None` outside 1–12.
pub(super) fn month_name(month: u32) -> Option<&'static str> {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES
        .get(usize::try_from(month.checked_sub(1)?).ok()?)
        .copied()
}

/// Duration units. `m` is minutes (as in `5m`); months need `mo` or longer.
pub(super) fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "s" | "sec" | "secs" | "second" | "seconds" => Unit::Second,
        "m" | "min" | "mins" | "minute" | "minutes" => Unit::Minute,
        "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hour,
        "d" | "day" | "days" => Unit::Day,
        "w" | "wk" | "wks" | "week" | "weeks" => Unit::Week,
        "mo" | "mos" | "mth" | "mths" | "month" | "months" => Unit::Month,
        "y" | "yr" | "yrs" | "year" | "years" => Unit::Year,
        _ => return None,
    })
}

/// Counts written as words, for `in an hour` or `in two days`.
pub(super) fn number(word: &str) -> Option<u64> {
    Some(match word {
        "a" | "an" | "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        _ => return None,
    })
}

/// `am` → `Some(false)`, `pm` → `Some(true)`.
pub(super) fn meridiem(word: &str) -> Option<bool> {
    match word {
        "am" => Some(false),
        "pm" => Some(true),
        _ => None,
    }
}

/// `st`, `nd`, `rd`, `th` after a day of the month.
pub(super) fn is_ordinal_suffix(word: &str) -> bool {
    matches!(word, "st" | "nd" | "rd" | "th")
}

/// Spellings of "tomorrow" people type in chat.
pub(super) fn is_tomorrow(word: &str) -> bool {
    matches!(
        word,
        "tomorrow" | "tmrw" | "tmr" | "tmw" | "tomorow" | "tommorow"
    )
}

/// Repetitions autopost cannot express (it repeats on days of the week at one time).
pub(super) fn is_unsupported_repeat(word: &str) -> bool {
    matches!(
        word,
        "hourly"
            | "weekly"
            | "biweekly"
            | "fortnightly"
            | "monthly"
            | "yearly"
            | "annually"
            | "other"
            | "second"
            | "minute"
            | "hour"
            | "week"
            | "fortnight"
            | "month"
            | "year"
            | "morning"
            | "afternoon"
            | "evening"
            | "night"
    )
}
