//! Places a read phrase on the UTC time line, as said at `now` in the author's zone (SPEC
//! section 5, rules 1–5): next occurrences, pinned days, calendar steps, DST gaps and overlaps.

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};
use chrono_tz::Tz;

use super::english;
use super::grammar::{Clock, Day, Offset, Phrase};
use super::{TimeError, When};
use crate::recurrence::{LocalInstant, Recurrence, Zone};

/// How far ahead a post may be scheduled: far enough for any real plan, near enough that
/// arithmetic never leaves chrono's range.
const HORIZON_DAYS: i64 = 36_525;
/// The same horizon in months.
const HORIZON_MONTHS: i64 = 1_200;

/// Resolves `phrase` (written as `said`), said at `now` by someone in `author`'s zone.
pub(super) fn resolve(
    phrase: &Phrase,
    said: &str,
    now: DateTime<Utc>,
    author: Tz,
) -> Result<When, TimeError> {
    if phrase.past {
        return Err(TimeError::InThePast);
    }
    if phrase.now {
        return Ok(When::Once(now));
    }
    let home = Zone::Named(author);
    // A zone named in the phrase sets the zone of the time of day; the day stays the author's.
    let clock_zone = phrase.zone.unwrap_or(home);
    if let Some(days) = phrase.repeat {
        let clock = phrase.time.ok_or(TimeError::NeedsTimeOfDay)?;
        let rule =
            Recurrence::new(days, clock.time, clock_zone).ok_or(TimeError::NeedsTimeOfDay)?;
        return Ok(When::Recurring(rule));
    }
    let today = home.local(now).ok_or(TimeError::TooFarAhead)?.date();
    let at = match (phrase.offset, phrase.day, phrase.time) {
        (Some(offset), None, None) => after_offset(now, home, offset)?,
        (Some(offset), None, Some(clock)) => {
            let date = shift_date(today, offset)?;
            settle(clock_zone, date, clock.time, now)?
        }
        (None, Some(day), Some(clock)) => on_day(phrase, day, clock, today, clock_zone, now)?,
        (None, Some(_), None) => return Err(TimeError::NeedsTimeOfDay),
        (None, None, Some(clock)) => next_time(clock_zone, clock.time, now)?,
        (None, None, None) | (Some(_), Some(_), _) => {
            // Only a zone, or only fillers (`on the`): no moment was named.
            return Err(TimeError::Unparseable {
                near: super::near(said.trim()),
            });
        }
    };
    if at.signed_duration_since(now) > TimeDelta::days(HORIZON_DAYS) {
        return Err(TimeError::TooFarAhead);
    }
    Ok(When::Once(at))
}

/// `in 90 minutes`, `in 3 days`: calendar parts keep the local wall-clock time (rule 5), then
/// elapsed seconds are added.
fn after_offset(
    now: DateTime<Utc>,
    home: Zone,
    offset: Offset,
) -> Result<DateTime<Utc>, TimeError> {
    check_offset_horizon(offset)?;
    let mut at = now;
    if offset.days != 0 || offset.months != 0 {
        let local = home.local(now).ok_or(TimeError::TooFarAhead)?;
        let date = shift_date(local.date(), offset)?;
        let target = date.and_time(local.time());
        at = match home.instant(target).ok_or(TimeError::TooFarAhead)? {
            LocalInstant::Exists(at) => at,
            LocalInstant::Gap { shifted } => return Err(nonexistent(home, target, shifted)),
        };
    }
    at.checked_add_signed(TimeDelta::seconds(offset.seconds))
        .ok_or(TimeError::TooFarAhead)
}

fn check_offset_horizon(offset: Offset) -> Result<(), TimeError> {
    let too_far = offset.too_far
        || offset.months > HORIZON_MONTHS
        || offset.days > HORIZON_DAYS
        || offset.seconds > HORIZON_DAYS * 86_400;
    if too_far {
        Err(TimeError::TooFarAhead)
    } else {
        Ok(())
    }
}

/// `date` moved by the calendar parts of `offset` (a month after January 31 is the last day
/// of February, as chrono-english and java.time do).
fn shift_date(date: NaiveDate, offset: Offset) -> Result<NaiveDate, TimeError> {
    check_offset_horizon(offset)?;
    let months = u32::try_from(offset.months).map_err(|_| TimeError::TooFarAhead)?;
    let days = u64::try_from(offset.days).map_err(|_| TimeError::TooFarAhead)?;
    date.checked_add_months(Months::new(months))
        .and_then(|d| d.checked_add_days(Days::new(days)))
        .ok_or(TimeError::TooFarAhead)
}

/// A named day at a time of day. Day words pin the day (rule 3): a passed `today 9am` is
/// refused, not moved.
fn on_day(
    phrase: &Phrase,
    day: Day,
    clock: Clock,
    today: NaiveDate,
    zone: Zone,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimeError> {
    let add = |n: u64| {
        today
            .checked_add_days(Days::new(n))
            .ok_or(TimeError::TooFarAhead)
    };
    let date = match day {
        Day::Today => today,
        Day::Tonight => {
            // `tonight at 8` is 20:00: an hour up to 11 without am/pm is in the evening.
            let hour = clock.time.hour();
            let time = if !clock.has_meridiem && (1..=11).contains(&hour) {
                clock.time + TimeDelta::hours(12)
            } else {
                clock.time
            };
            return settle(zone, today, time, now);
        }
        Day::Tomorrow => add(1)?,
        Day::AfterTomorrow => add(2)?,
        Day::Weekday(weekday) => {
            // The first such day after today: said on a Friday, `friday` is in 7 days.
            let ahead =
                (7 + weekday.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
            add(u64::from(if ahead == 0 { 7 } else { ahead }))?
        }
        Day::On(date) => date,
        Day::Yearly { month, day } => {
            return next_yearly(phrase, month, day, clock, today, zone, now);
        }
    };
    check_said_weekday(phrase, date)?;
    settle(zone, date, clock.time, now)
}

/// A date without a year is its next occurrence (rule 6): this year's if still ahead, else the
/// next year that has it (February 29 waits for a leap year).
fn next_yearly(
    phrase: &Phrase,
    month: u32,
    day: u32,
    clock: Clock,
    today: NaiveDate,
    zone: Zone,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimeError> {
    for year in today.year()..=today.year() + 8 {
        let Some(date) = english::calendar_date(year, month, day) else {
            continue;
        };
        let local = date.and_time(clock.time);
        let placed = zone.instant(local).ok_or(TimeError::TooFarAhead)?;
        if placed.or_shifted() <= now {
            continue;
        }
        check_said_weekday(phrase, date)?;
        return settle(zone, date, clock.time, now);
    }
    Err(TimeError::TooFarAhead)
}

/// `friday dec 25`: the weekday must be the date's.
fn check_said_weekday(phrase: &Phrase, date: NaiveDate) -> Result<(), TimeError> {
    match phrase.said_weekday {
        Some(said) if said != date.weekday() => Err(TimeError::WeekdayMismatch {
            date: date.format("%B %-d, %Y").to_string(),
            said: weekday_name(said).to_owned(),
            actual: weekday_name(date.weekday()).to_owned(),
        }),
        _ => Ok(()),
    }
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "Monday",
        Tue => "Tuesday",
        Wed => "Wednesday",
        Thu => "Thursday",
        Fri => "Friday",
        Sat => "Saturday",
        Sun => "Sunday",
    }
}

/// A bare time is its next occurrence (rule 2): today if still ahead, else tomorrow.
fn next_time(zone: Zone, time: NaiveTime, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let today = zone.local(now).ok_or(TimeError::TooFarAhead)?.date();
    let local = today.and_time(time);
    match zone.instant(local).ok_or(TimeError::TooFarAhead)? {
        LocalInstant::Exists(at) if at > now => return Ok(at),
        LocalInstant::Gap { shifted } if shifted > now => {
            return Err(nonexistent(zone, local, shifted));
        }
        _ => {}
    }
    let tomorrow = today
        .checked_add_days(Days::new(1))
        .ok_or(TimeError::TooFarAhead)?;
    settle(zone, tomorrow, time, now)
}

/// `date` at `time` in `zone`, which must still be ahead of `now` and must exist (rule 1).
fn settle(
    zone: Zone,
    date: NaiveDate,
    time: NaiveTime,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimeError> {
    let local = date.and_time(time);
    match zone.instant(local).ok_or(TimeError::TooFarAhead)? {
        LocalInstant::Exists(at) if at > now => Ok(at),
        LocalInstant::Gap { shifted } if shifted > now => Err(nonexistent(zone, local, shifted)),
        _ => Err(TimeError::InThePast),
    }
}

/// Refusal for a local time skipped by a spring-forward change, suggesting the time the
/// clocks show at the same instant (02:30 → 03:30).
fn nonexistent(zone: Zone, local: NaiveDateTime, shifted: DateTime<Utc>) -> TimeError {
    let suggestion = zone
        .local(shifted)
        .map(|at| at.format("%H:%M").to_string())
        .unwrap_or_default();
    TimeError::NonexistentLocalTime {
        local: local.format("%H:%M on %Y-%m-%d").to_string(),
        zone: zone.to_string(),
        suggestion,
    }
}
