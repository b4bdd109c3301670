//! Places a read phrase on the UTC time line, as said at `now` in the author's zone (SPEC
//! section 5, rules 1–5): next occurrences, pinned days, calendar steps, DST gaps and overlaps.

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};
use chrono_tz::Tz;

use super::english;
use super::grammar::{Clock, Day, Offset, Phrase};
use super::{MOST_SUGGESTIONS, TimeError, When, words};
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
    suggest: bool,
) -> Result<When, TimeError> {
    if phrase.past {
        return Err(TimeError::InThePast);
    }
    if phrase.now {
        return Ok(When::Once(now));
    }
    if let Some(vague) = vague_candidates(phrase) {
        if !suggest {
            return Err(TimeError::Unparseable {
                near: super::near(said.trim()),
            });
        }
        return Err(suggestions(vague, said, now, author));
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
        Day::OfMonth(day) => return next_month_day(phrase, day, clock, today, zone, now),
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

/// A day of the month without a month (`the 3rd`) is its next occurrence: this month's if
/// still ahead, else the next month that has that day (the 31st skips April).
fn next_month_day(
    phrase: &Phrase,
    day: u32,
    clock: Clock,
    today: NaiveDate,
    zone: Zone,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimeError> {
    let first = today.with_day(1).ok_or(TimeError::TooFarAhead)?;
    for ahead in 0..=12 {
        let Some(month) = first.checked_add_months(Months::new(ahead)) else {
            break;
        };
        let Some(date) = english::calendar_date(month.year(), month.month(), day) else {
            continue;
        };
        let placed = zone
            .instant(date.and_time(clock.time))
            .ok_or(TimeError::TooFarAhead)?;
        if placed.or_shifted() <= now {
            continue;
        }
        check_said_weekday(phrase, date)?;
        return settle(zone, date, clock.time, now);
    }
    Err(TimeError::TooFarAhead)
}

/// What a vague phrase may mean: the day as a phrase and the times of day to offer on it.
struct Vague {
    day: String,
    times: Vec<NaiveTime>,
    /// `today` said without any time: when nothing today is still ahead, ask for a time
    /// rather than say the day has passed.
    bare_today: bool,
    zone_text: Option<String>,
}

/// The candidates of a vague phrase, or `None` when the phrase is exact (or wrong).
fn vague_candidates(phrase: &Phrase) -> Option<Vague> {
    let hours = |hours: &[u32]| -> Vec<NaiveTime> {
        hours
            .iter()
            .filter_map(|h| NaiveTime::from_hms_opt(*h, 0, 0))
            .collect()
    };
    let zone_text = phrase.zone_text.clone();
    if phrase.next_week {
        // Rule 4: `next monday` is the first Monday after today, which is always in the week
        // that starts next.
        return Some(Vague {
            day: "next monday".to_owned(),
            times: hours(&[9, 12]),
            bare_today: false,
            zone_text,
        });
    }
    if let Some(time) = phrase.year_or_time {
        return Some(Vague {
            day: String::new(),
            times: vec![time],
            bare_today: false,
            zone_text,
        });
    }
    if phrase.repeat.is_some() || phrase.offset.is_some() {
        return None;
    }
    let day = phrase.day?;
    let tonight = day == Day::Tonight;
    let (times, bare) = match (phrase.part, phrase.vague_hour, phrase.time) {
        // `friday evening at 8`: the part settles the half of the day, but the phrase is
        // still offered for a tap rather than taken.
        (Some(part), None, Some(clock)) => {
            let hour = clock.time.hour();
            let time = if part.is_after_noon() && !clock.has_meridiem && (1..=11).contains(&hour) {
                clock.time + TimeDelta::hours(12)
            } else {
                clock.time
            };
            (vec![time], false)
        }
        (Some(part), None, None) => (hours(&part.hours()), false),
        (None, Some(hour), None) => {
            let times = match hour {
                1..=11 if tonight => hours(&[hour + 12]),
                1..=11 => hours(&[hour, hour + 12]),
                12 => hours(&[12, 0]),
                _ => hours(&[hour]),
            };
            (times, false)
        }
        (None, None, None) if tonight => (hours(&[20, 21, 22]), true),
        (None, None, None) => (hours(&[9, 12, 17]), true),
        _ => return None,
    };
    let mut said = String::new();
    if let Some(weekday) = phrase.said_weekday {
        said.push_str(&weekday_name(weekday).to_ascii_lowercase());
        said.push(' ');
    }
    said.push_str(&day_phrase(day));
    Some(Vague {
        day: said,
        times,
        bare_today: bare && matches!(day, Day::Today | Day::Tonight),
        zone_text,
    })
}

/// A day as a phrase `parse` reads back to the same day.
fn day_phrase(day: Day) -> String {
    match day {
        Day::Today | Day::Tonight => "today".to_owned(),
        Day::Tomorrow => "tomorrow".to_owned(),
        Day::AfterTomorrow => "the day after tomorrow".to_owned(),
        Day::Weekday(weekday) => weekday_name(weekday).to_ascii_lowercase(),
        Day::On(date) => date.format("%Y-%m-%d").to_string(),
        Day::Yearly { month, day } => format!(
            "{} {day}",
            words::month_name(month)
                .unwrap_or_default()
                .to_ascii_lowercase()
        ),
        Day::OfMonth(day) => {
            let suffix = match (day % 10, day % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            format!("the {day}{suffix}")
        }
    }
}

/// The refusal of a vague phrase: its candidates that parse to a future instant, soonest
/// first. When none does, the reason the first one fails (or that the time has passed).
fn suggestions(vague: Vague, said: &str, now: DateTime<Utc>, author: Tz) -> TimeError {
    let mut found: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut first_error = None;
    for time in &vague.times {
        let mut candidate = format!("{} {}", vague.day, time.format("%H:%M"))
            .trim_start()
            .to_owned();
        if let Some(zone) = &vague.zone_text {
            candidate.push(' ');
            candidate.push_str(zone);
        }
        match super::parse_with(&candidate, now, author, false) {
            Ok(When::Once(at)) if at > now => {
                if !found.iter().any(|(seen, _)| *seen == at) {
                    found.push((at, candidate));
                }
            }
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if found.is_empty() {
        return match first_error {
            Some(e) if e != TimeError::InThePast => e,
            _ if vague.bare_today => TimeError::NeedsTimeOfDay,
            _ => TimeError::InThePast,
        };
    }
    found.sort_by_key(|(at, _)| *at);
    found.truncate(MOST_SUGGESTIONS);
    TimeError::Vague {
        said: super::near(&said.trim().replace('`', "'")),
        suggestions: found.into_iter().map(|(_, phrase)| phrase).collect(),
    }
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
