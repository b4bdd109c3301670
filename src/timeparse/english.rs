//! What autopost takes from chrono-english 0.1.7 (pinned): duration-unit steps and calendar dates.
//! Fed raw chat text it guesses (`friday` = midnight, UK `next monday` = 7 extra days, `2 monkeys`
//! = 2 months) or panics (`12pm`), so the grammar is hand-written and hands it only canonical text.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_english::{Dialect, Interval, parse_date_string, parse_duration};

/// A duration unit the grammar recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    const ALL: [Unit; 7] = [
        Unit::Second,
        Unit::Minute,
        Unit::Hour,
        Unit::Day,
        Unit::Week,
        Unit::Month,
        Unit::Year,
    ];

    /// One of the unit, spelled the way chrono-english reads it unambiguously.
    fn canonical(self) -> &'static str {
        match self {
            Unit::Second => "1 second",
            Unit::Minute => "1 minute",
            Unit::Hour => "1 hour",
            Unit::Day => "1 day",
            Unit::Week => "1 week",
            Unit::Month => "1 month",
            Unit::Year => "1 year",
        }
    }
}

/// One unit's step. chrono-english's `Interval` draws exactly SPEC rule 5's line: seconds are
/// elapsed time, days and months are calendar steps that keep the wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Elapsed seconds.
    Exact(i64),
    /// Calendar days.
    Days(i64),
    /// Calendar months (a month after 31 January is the last day of February).
    Months(i64),
}

/// The step of one `unit`, asked of chrono-english once and remembered. We multiply by the
/// count ourselves, in checked `i64`: chrono-english multiplies in `i32`, which overflows
/// (and panics in debug builds) for counts such as `in 999999 hours`.
pub(super) fn step(unit: Unit) -> Option<Step> {
    static STEPS: OnceLock<[Option<Step>; 7]> = OnceLock::new();
    let steps = STEPS.get_or_init(|| Unit::ALL.map(ask_step));
    steps.get(unit as usize).copied().flatten()
}

fn ask_step(unit: Unit) -> Option<Step> {
    Some(match parse_duration(unit.canonical()).ok()? {
        Interval::Seconds(n) => Step::Exact(n.into()),
        Interval::Days(n) => Step::Days(n.into()),
        Interval::Months(n) => Step::Months(n.into()),
    })
}

/// The calendar date `year-month-day`, or `None` if the calendar has no such day (`2026-02-29`,
/// `2026-04-31`). The year is bounded to four digits so the text handed over is always ISO.
pub(super) fn calendar_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1000..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let iso = format!("{year:04}-{month:02}-{day:02}");
    let found = parse_date_string(&iso, DateTime::<Utc>::UNIX_EPOCH, Dialect::Uk)
        .ok()?
        .date_naive();
    // Belt and braces: accept only the very date we asked for.
    (found.year() == year && found.month() == month && found.day() == day).then_some(found)
}

#[cfg(test)]
mod tests {
    //! Pins the behaviour of chrono-english 0.1.7 that autopost relies on, and the behaviour that
    //! made us keep raw phrases away from it. A version bump that changes either fails here.
    use super::*;
    use chrono::{TimeZone, Timelike};

    #[test]
    fn each_unit_maps_to_the_step_rule_five_needs() {
        let table = [
            (Unit::Second, Step::Exact(1)),
            (Unit::Minute, Step::Exact(60)),
            (Unit::Hour, Step::Exact(3600)),
            (Unit::Day, Step::Days(1)),
            (Unit::Week, Step::Days(7)),
            (Unit::Month, Step::Months(1)),
            (Unit::Year, Step::Months(12)),
        ];
        for (unit, want) in table {
            assert_eq!(step(unit), Some(want), "{unit:?}");
        }
    }

    #[test]
    fn calendar_dates_follow_the_gregorian_calendar() {
        let table = [
            ((2026, 12, 24), Some("2026-12-24")),
            ((2028, 2, 29), Some("2028-02-29")),
            ((2026, 2, 29), None),
            ((2026, 2, 30), None),
            ((2026, 4, 31), None),
            ((2026, 13, 1), None),
            ((2026, 0, 1), None),
            ((2026, 1, 0), None),
            ((999, 1, 1), None),
            ((10_000, 1, 1), None),
        ];
        for ((y, m, d), want) in table {
            let got = calendar_date(y, m, d).map(|date| date.to_string());
            assert_eq!(got.as_deref(), want, "{y}-{m}-{d}");
        }
    }

    fn base() -> DateTime<Utc> {
        // Saturday 2026-03-28 20:00 UTC.
        Utc.with_ymd_and_hms(2026, 3, 28, 20, 0, 0).unwrap()
    }

    #[test]
    fn version_0_1_7_still_reads_bare_times_which_the_0_2_line_lost() {
        let at = parse_date_string("9am", base(), Dialect::Uk).unwrap();
        assert_eq!(
            (at.hour(), at.date_naive().to_string()),
            (9, "2026-03-28".into())
        );
    }

    #[test]
    fn raw_phrases_would_be_guessed_so_they_never_reach_chrono_english() {
        // A weekday with no time becomes midnight instead of asking for a time.
        let friday = parse_date_string("friday", base(), Dialect::Uk).unwrap();
        assert_eq!(friday.to_rfc3339(), "2026-04-03T00:00:00+00:00");
        // British `next monday` skips a week: SPEC rule 4 wants the first Monday after today.
        let next = parse_date_string("next monday", base(), Dialect::Uk).unwrap();
        assert_eq!(next.date_naive().to_string(), "2026-04-06");
        // Units are matched on three letters, so nonsense reads as months.
        assert_eq!(parse_duration("2 monkeys").unwrap(), Interval::Months(2));
        // A passed bare time stays today rather than moving to tomorrow.
        let passed = parse_date_string("9am", base(), Dialect::Uk).unwrap();
        assert!(passed < base());
    }

    #[test]
    fn twelve_pm_panics_inside_chrono_english() {
        // `12pm` becomes hour 24, which chrono rejects with a panic: why the grammar owns times.
        let outcome = std::panic::catch_unwind(|| parse_date_string("12pm", base(), Dialect::Uk));
        assert!(outcome.is_err());
    }
}
