//! Reads tokens into slots (day, time of day, zone, offset, repetition) and refuses any token it
//! cannot place, so a phrase parses completely or not at all. Checks dates and clock times here;
//! what they mean relative to "now" is `resolve`'s job.

use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeDelta, Weekday};
use chrono_tz::Tz;

use super::english::{self, Step};
use super::lexer::Tok;
use super::words;
use super::zones::{self, ZoneWord};
use super::{TimeError, near};
use crate::recurrence::{DaySet, Zone};

/// Counts longer than this many digits are refused as too far ahead without computing them.
const MAX_COUNT_DIGITS: usize = 12;

/// Everything a phrase said, before it is placed on the time line.
#[derive(Debug, Default)]
pub(super) struct Phrase {
    /// `now`.
    pub(super) now: bool,
    /// The phrase points backwards: `yesterday`, `last friday`, `3 days ago`.
    pub(super) past: bool,
    /// `in 2h`, `3 days from now`.
    pub(super) offset: Option<Offset>,
    /// The day, when named.
    pub(super) day: Option<Day>,
    /// A weekday said next to a date (`friday dec 25`), to be checked against it.
    pub(super) said_weekday: Option<Weekday>,
    /// The time of day.
    pub(super) time: Option<Clock>,
    /// A zone named in the phrase; it sets the zone of the time of day.
    pub(super) zone: Option<Zone>,
    /// The days of a repeating post.
    pub(super) repeat: Option<DaySet>,
    /// A part of the day (`tomorrow morning`): vague, so answered with suggestions.
    pub(super) part: Option<DayPart>,
    /// A bare hour after a day without am/pm or a colon (`monday 9`): vague.
    pub(super) vague_hour: Option<u32>,
    /// `next week`: vague.
    pub(super) next_week: bool,
    /// A four-digit number that may be a year or a time (`2030`): vague.
    pub(super) year_or_time: Option<NaiveTime>,
    /// The zone as written, so that suggestions keep it.
    pub(super) zone_text: Option<String>,
}

/// A part of the day, and the hours offered for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DayPart {
    Morning,
    Afternoon,
    Evening,
    Night,
}

impl DayPart {
    fn from_word(word: &str) -> Option<DayPart> {
        Some(match word {
            "morning" => DayPart::Morning,
            "afternoon" => DayPart::Afternoon,
            "evening" => DayPart::Evening,
            "night" => DayPart::Night,
            _ => return None,
        })
    }

    /// Whole hours people usually mean by it.
    pub(super) fn hours(self) -> [u32; 3] {
        match self {
            DayPart::Morning => [8, 9, 10],
            DayPart::Afternoon => [13, 15, 17],
            DayPart::Evening => [18, 19, 20],
            DayPart::Night => [20, 21, 22],
        }
    }

    /// Whether an hour said without am/pm in this part (`evening at 8`) is after noon.
    pub(super) fn is_after_noon(self) -> bool {
        !matches!(self, DayPart::Morning)
    }
}

/// A relative offset, split the way SPEC rule 5 treats its parts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offset {
    /// Elapsed seconds (seconds, minutes, hours).
    pub(super) seconds: i64,
    /// Calendar days (days, weeks).
    pub(super) days: i64,
    /// Calendar months (months, years).
    pub(super) months: i64,
    /// A count too large to compute: refused as too far ahead.
    pub(super) too_far: bool,
}

/// A named day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Day {
    Today,
    /// Today, with `at N` (N ≤ 11) read as N pm.
    Tonight,
    Tomorrow,
    AfterTomorrow,
    /// The first such weekday after today.
    Weekday(Weekday),
    /// A date with its year.
    On(NaiveDate),
    /// A date without a year: its next occurrence.
    Yearly {
        month: u32,
        day: u32,
    },
    /// A day of the month without a month (`the 3rd`): its next occurrence.
    OfMonth(u32),
}

/// A time of day as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Clock {
    /// The 24-hour time.
    pub(super) time: NaiveTime,
    /// Whether am/pm (or `noon`/`midnight`) fixed the half of the day; if not, `tonight at 8`
    /// may still mean 20:00.
    pub(super) has_meridiem: bool,
}

/// Reads `toks` (from `phrase`, said by someone in `author`'s zone) into a `Phrase`.
pub(super) fn read(toks: &[Tok<'_>], author: Tz, phrase: &str) -> Result<Phrase, TimeError> {
    let mut reader = Reader {
        toks,
        pos: 0,
        author,
        month_first: zones::uses_month_first_dates(author),
        out: Phrase::default(),
    };
    reader.read_all()?;
    reader.check_combination(phrase)?;
    Ok(reader.out)
}

struct Reader<'t, 'a> {
    toks: &'t [Tok<'a>],
    pos: usize,
    author: Tz,
    month_first: bool,
    out: Phrase,
}

impl<'a> Reader<'_, 'a> {
    fn peek(&self, ahead: usize) -> Option<Tok<'a>> {
        self.toks.get(self.pos + ahead).copied()
    }

    fn word(&self, ahead: usize) -> Option<&'a str> {
        match self.peek(ahead) {
            Some(Tok::Word(word)) => Some(word),
            _ => None,
        }
    }

    fn num(&self, ahead: usize) -> Option<(&'a str, u64)> {
        match self.peek(ahead) {
            Some(Tok::Num { text, value }) => Some((text, value)),
            _ => None,
        }
    }

    fn sym(&self, ahead: usize) -> Option<u8> {
        match self.peek(ahead) {
            Some(Tok::Sym(byte)) => Some(byte),
            _ => None,
        }
    }

    /// The text of `len` tokens from `ahead`, joined without spaces (`26:00`, `14pm`).
    fn text(&self, ahead: usize, len: usize) -> String {
        let from = (self.pos + ahead).min(self.toks.len());
        let to = (from + len).min(self.toks.len());
        self.toks[from..to].iter().map(Tok::text).collect()
    }

    /// Refusal naming the token at `ahead` (or the last one, at the end of the phrase).
    fn unparseable(&self, ahead: usize) -> TimeError {
        let index = (self.pos + ahead).min(self.toks.len().saturating_sub(1));
        let text = self.toks.get(index).map(Tok::text).unwrap_or_default();
        TimeError::Unparseable { near: near(&text) }
    }

    fn read_all(&mut self) -> Result<(), TimeError> {
        while let Some(tok) = self.peek(0) {
            let start = self.pos;
            let had_zone = self.out.zone.is_some();
            self.read_token(tok)?;
            if !had_zone && self.out.zone.is_some() {
                let written: Vec<String> = self.toks[start..self.pos.min(self.toks.len())]
                    .iter()
                    .map(Tok::text)
                    .collect();
                self.out.zone_text = Some(written.concat());
            }
        }
        Ok(())
    }

    fn read_token(&mut self, tok: Tok<'a>) -> Result<(), TimeError> {
        match tok {
            Tok::Word(word) => self.read_word(word),
            Tok::Num { .. } => self.read_number(),
            Tok::ZoneName(name) => {
                let tz = zones::iana(name).ok_or_else(|| self.unparseable(0))?;
                self.pos += 1;
                self.set_zone(Zone::Named(tz))
            }
            Tok::Sym(b'@') => {
                self.pos += 1;
                self.read_time_after_at()
            }
            Tok::Sym(b'+' | b'-') => {
                let zone = self.read_signed_offset()?;
                self.set_zone(zone)
            }
            // A sentence may end with a full stop or an exclamation mark.
            Tok::Sym(b'.' | b'!') if self.pos + 1 == self.toks.len() => {
                self.pos += 1;
                Ok(())
            }
            Tok::Sym(_) => Err(self.unparseable(0)),
        }
    }

    fn read_word(&mut self, word: &'a str) -> Result<(), TimeError> {
        match word {
            "now" => {
                self.pos += 1;
                if self.out.now {
                    return Err(self.unparseable(0));
                }
                self.out.now = true;
                Ok(())
            }
            "in" => {
                self.pos += 1;
                self.read_offsets(true)
            }
            "at" => {
                self.pos += 1;
                self.read_time_after_at()
            }
            "on" | "the" => {
                self.pos += 1;
                Ok(())
            }
            "today" => self.take_day(Day::Today),
            "tonight" => self.take_day(Day::Tonight),
            "yesterday" => {
                self.pos += 1;
                self.out.past = true;
                Ok(())
            }
            w if words::is_tomorrow(w) => self.take_day(Day::Tomorrow),
            "day"
                if self.word(1) == Some("after")
                    && self.word(2).is_some_and(words::is_tomorrow) =>
            {
                self.pos += 2;
                self.take_day(Day::AfterTomorrow)
            }
            "this" if self.word(1).and_then(DayPart::from_word).is_some() => {
                // `this evening` is today's.
                self.take_day(Day::Today)
            }
            "next" if self.word(1) == Some("week") => {
                self.pos += 2;
                if self.out.next_week {
                    return Err(self.unparseable(0));
                }
                self.out.next_week = true;
                Ok(())
            }
            "this" | "next" | "coming" => {
                let Some(day) = self.word(1).and_then(words::weekday) else {
                    return Err(self.unparseable(1));
                };
                self.pos += 1;
                self.take_weekday(day)
            }
            w if DayPart::from_word(w).is_some() => {
                if self.out.part.is_some() {
                    return Err(self.unparseable(0));
                }
                self.out.part = DayPart::from_word(w);
                self.pos += 1;
                Ok(())
            }
            "last" | "past" | "previous" => {
                let names_a_past = self.word(1).is_some_and(|w| {
                    words::weekday(w).is_some()
                        || matches!(w, "week" | "night" | "month" | "year" | "weekend")
                });
                if !names_a_past {
                    return Err(self.unparseable(1));
                }
                self.pos += 2;
                self.out.past = true;
                Ok(())
            }
            "every" | "each" => {
                self.pos += 1;
                self.read_every()
            }
            "daily" | "everyday" => {
                self.pos += 1;
                self.set_repeat(DaySet::EVERY_DAY)
            }
            "weekdays" => {
                self.pos += 1;
                self.set_repeat(DaySet::WEEKDAYS)
            }
            "weekends" => {
                self.pos += 1;
                self.set_repeat(DaySet::WEEKENDS)
            }
            w if words::is_unsupported_repeat(w) && w.ends_with("ly") => {
                Err(TimeError::UnsupportedRepeat)
            }
            "noon" | "midday" | "midnight" => self.read_clock_required(false),
            "half" | "quarter" if matches!(self.word(1), Some("past" | "to")) => {
                self.read_clock_required(false)
            }
            w if words::weekday(w).is_some() => {
                let day = words::weekday(w).ok_or_else(|| self.unparseable(0))?;
                self.take_weekday(day)
            }
            w if words::plural_weekday(w).is_some() => {
                let days = self.read_weekday_list()?;
                self.set_repeat(days)
            }
            w if words::month(w).is_some() => self.read_month_first_date(),
            w => self.read_zone_word(w),
        }
    }

    fn read_zone_word(&mut self, word: &'a str) -> Result<(), TimeError> {
        let named = match zones::word(word, self.author) {
            Some(named) => named,
            // A one-word IANA name such as `Japan` or `Singapore`.
            None => ZoneWord::Zone(Zone::Named(
                zones::iana(word).ok_or_else(|| self.unparseable(0))?,
            )),
        };
        let zone = match named {
            ZoneWord::Zone(zone) => zone,
            ZoneWord::Ambiguous { example } => {
                return Err(TimeError::AmbiguousZone {
                    abbreviation: word.to_ascii_uppercase(),
                    example: example.to_owned(),
                });
            }
        };
        self.pos += 1;
        // `UTC+5`, `GMT-03:00`: the offset is from UTC, with the sign as written.
        let zone = if matches!(word, "utc" | "gmt") && matches!(self.sym(0), Some(b'+' | b'-')) {
            self.read_signed_offset()?
        } else {
            zone
        };
        self.set_zone(zone)
    }

    fn read_number(&mut self) -> Result<(), TimeError> {
        let Some((digits, value)) = self.num(0) else {
            return Err(self.unparseable(0));
        };
        let sentence_end = self.pos + 2 == self.toks.len();
        match self.sym(1) {
            Some(sep @ (b'-' | b'/')) if digits.len() == 4 => {
                return self.read_year_first_date(sep);
            }
            Some(b'/') => return self.read_numeric_date(b'/'),
            // `tomorrow 1730.`: the full stop ends the sentence.
            Some(b'.') if digits.len() == 4 && sentence_end => {}
            Some(b'.') => {
                if self.word(3).and_then(words::meridiem).is_some() || self.dotted_time_here() {
                    return self.read_clock_required(false);
                }
                if self.sym(3) == Some(b'.') && self.num(4).is_some() {
                    return self.read_numeric_date(b'.');
                }
                // `24.12` or `9.05` alone could be a date or a time: refuse rather than guess.
                return Err(TimeError::Unparseable {
                    near: near(&self.text(0, 3)),
                });
            }
            Some(b':') => return self.read_clock_required(false),
            _ => {}
        }
        match self.word(1) {
            Some(w) if words::meridiem(w).is_some() || matches!(w, "noon" | "midnight") => {
                self.read_clock_required(false)
            }
            Some(w) if words::is_ordinal_suffix(w) || words::month(w).is_some() || w == "of" => {
                self.read_day_first_date()
            }
            Some(w) if words::unit(w).is_some() => self.read_offsets(false),
            _ if digits.len() == 4 && self.four_digits_are_a_time(value) => {
                self.read_clock_required(true)
            }
            // `2030` alone: the year, or 20:30? Asked, not guessed.
            _ if digits.len() == 4 && self.out.year_or_time.is_none() => {
                let time = u32::try_from(value)
                    .ok()
                    .and_then(|v| NaiveTime::from_hms_opt(v / 100, v % 100, 0));
                let Some(time) = time else {
                    return Err(self.unparseable(0));
                };
                self.out.year_or_time = Some(time);
                self.pos += 1;
                Ok(())
            }
            // `monday 9`: nine in the morning or in the evening? Asked, not guessed.
            _ if digits.len() <= 2
                && value <= 23
                && self.out.day.is_some()
                && self.out.time.is_none()
                && self.out.vague_hour.is_none() =>
            {
                self.out.vague_hour = u32::try_from(value).ok();
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.unparseable(0)),
        }
    }

    /// Whether a four-digit number alone is a 24-hour clock time (`0930`, `2130`) rather than a
    /// year: below 2000 or from 2100 it is (such years are past or too far ahead); `2000` to
    /// `2059` only next to a day that cannot carry a year (`tomorrow 2030`), since `2030`
    /// alone may well mean the year.
    fn four_digits_are_a_time(&self, value: u64) -> bool {
        !(2000..2100).contains(&value) || self.names_a_day_without_year(true)
    }

    /// Whether the phrase names a day that no date can follow: `today`, `tonight`,
    /// `tomorrow`, and with `weekdays` also a weekday.
    fn names_a_day_without_year(&self, weekdays: bool) -> bool {
        self.toks.iter().any(|tok| match tok {
            Tok::Word(w) => {
                matches!(*w, "today" | "tonight")
                    || words::is_tomorrow(w)
                    || (weekdays && words::weekday(w).is_some())
            }
            _ => false,
        })
    }

    /// Whether `H.MM` here is a time of day (`17.30`): only when it cannot be a day and month
    /// (`9.05` could be 9 May), unless the phrase already names a day without a date
    /// (`tomorrow 9.05`).
    fn dotted_time_here(&self) -> bool {
        let (Some((h_digits, hour)), Some(b'.'), Some((m_digits, minute))) =
            (self.num(0), self.sym(1), self.num(2))
        else {
            return false;
        };
        let a_date_follows = self.sym(3) == Some(b'.') && self.num(4).is_some();
        h_digits.len() <= 2
            && hour <= 23
            && m_digits.len() == 2
            && minute <= 59
            && !a_date_follows
            && (minute > 12 || self.names_a_day_without_year(false))
    }

    // ----- times of day -----

    fn read_time_after_at(&mut self) -> Result<(), TimeError> {
        match self.read_clock(true)? {
            Some(clock) => self.set_time(clock),
            None => Err(TimeError::Unparseable {
                near: near(&format!("at {}", self.text(0, 1))),
            }),
        }
    }

    fn read_clock_required(&mut self, allow_bare_hour: bool) -> Result<(), TimeError> {
        match self.read_clock(allow_bare_hour)? {
            Some(clock) => self.set_time(clock),
            None => Err(self.unparseable(0)),
        }
    }

    /// Reads `9am`, `9:30`, `21:30:15`, `6.30pm`, `noon`, `12 midnight`, and after `at` a bare
    /// hour (`at 8`, 24-hour). `Ok(None)` when no time starts here.
    fn read_clock(&mut self, allow_bare_hour: bool) -> Result<Option<Clock>, TimeError> {
        let explicit = |hour, has_meridiem| {
            NaiveTime::from_hms_opt(hour, 0, 0).map(|time| Clock { time, has_meridiem })
        };
        let past_or_to = match (self.word(0), self.word(1)) {
            (Some("half"), Some("past")) => Some(30),
            (Some("quarter"), Some("past")) => Some(15),
            (Some("quarter"), Some("to")) => Some(-15),
            _ => None,
        };
        if let Some(minutes) = past_or_to {
            return self.read_past_or_to(minutes).map(Some);
        }
        match self.word(0) {
            Some("noon" | "midday") => {
                self.pos += 1;
                return Ok(explicit(12, true));
            }
            Some("midnight") => {
                self.pos += 1;
                return Ok(explicit(0, true));
            }
            _ => {}
        }
        let Some((hour_digits, hour)) = self.num(0) else {
            return Ok(None);
        };
        // `12 noon`, `12 midnight`
        if hour == 12 && hour_digits.len() <= 2 {
            match self.word(1) {
                Some("noon") => {
                    self.pos += 2;
                    return Ok(explicit(12, true));
                }
                Some("midnight") => {
                    self.pos += 2;
                    return Ok(explicit(0, true));
                }
                _ => {}
            }
        }
        // `0930`, `at 1400`: a four-digit 24-hour time.
        if hour_digits.len() == 4 && self.sym(1) != Some(b':') {
            let meridiem = self.word(1).and_then(words::meridiem);
            if !allow_bare_hour && meridiem.is_none() {
                return Ok(None);
            }
            let len = 1 + usize::from(meridiem.is_some());
            let clock = clock(2, hour / 100, hour % 100, 0, meridiem).ok_or_else(|| {
                TimeError::ImpossibleTime {
                    time: near(&self.text(0, len)),
                }
            })?;
            self.pos += len;
            return Ok(Some(clock));
        }
        let mut len = 1;
        let mut minute = 0;
        let mut second = 0;
        let mut well_formed = true;
        match (self.sym(1), self.num(2)) {
            (Some(b':'), Some((digits, value))) => {
                well_formed &= digits.len() == 2;
                minute = value;
                len = 3;
                if self.sym(3) == Some(b':') {
                    let Some((digits, value)) = self.num(4) else {
                        return Err(TimeError::Unparseable {
                            near: near(&self.text(0, 4)),
                        });
                    };
                    well_formed &= digits.len() == 2;
                    second = value;
                    len = 5;
                    // Fractions of a second (`18:00:00.000Z`) are dropped.
                    if self.sym(5) == Some(b'.') && self.num(6).is_some() {
                        len = 7;
                    }
                }
            }
            (Some(b':'), _) => {
                return Err(TimeError::Unparseable {
                    near: near(&self.text(0, 2)),
                });
            }
            (Some(b'.'), Some((digits, value)))
                if self.word(3).and_then(words::meridiem).is_some()
                    || self.dotted_time_here()
                    || (allow_bare_hour
                        && !(self.sym(3) == Some(b'.') && self.num(4).is_some())) =>
            {
                well_formed &= digits.len() == 2;
                minute = value;
                len = 3;
            }
            _ => {}
        }
        let meridiem = self.word(len).and_then(words::meridiem);
        if meridiem.is_some() {
            len += 1;
        } else if len == 1 && !allow_bare_hour {
            return Ok(None);
        }
        let clock = well_formed
            .then(|| clock(hour_digits.len(), hour, minute, second, meridiem))
            .flatten()
            .ok_or_else(|| TimeError::ImpossibleTime {
                time: near(&self.text(0, len)),
            })?;
        self.pos += len;
        Ok(Some(clock))
    }

    /// `half past 10`, `quarter past 9`, `quarter to 5pm`: an hour (24-hour without am/pm, as
    /// any time of day) and minutes before or after it, within the same day.
    fn read_past_or_to(&mut self, minutes: i64) -> Result<Clock, TimeError> {
        let said = |reader: &Self| TimeError::Unparseable {
            near: near(&reader.text(0, 3)),
        };
        let names_an_hour = matches!(self.num(2), Some((digits, _)) if digits.len() <= 2)
            && !matches!(self.sym(3), Some(b':' | b'.'))
            || matches!(self.word(2), Some("noon" | "midday" | "midnight"));
        if !names_an_hour {
            return Err(said(self));
        }
        let start = self.pos;
        self.pos += 2;
        let Some(hour) = self.read_clock(true)? else {
            self.pos = start;
            return Err(said(self));
        };
        let shifted = hour
            .time
            .overflowing_add_signed(TimeDelta::minutes(minutes));
        if shifted.1 != 0 {
            // `quarter to midnight` would be on the day before the one named.
            self.pos = start;
            return Err(said(self));
        }
        Ok(Clock {
            time: shifted.0,
            has_meridiem: hour.has_meridiem,
        })
    }

    // ----- dates -----

    /// `2026-12-24` (ISO, optionally followed by `T18:00`) or `2026/12/24`.
    fn read_year_first_date(&mut self, sep: u8) -> Result<(), TimeError> {
        let (Some((_, year)), Some((_, month)), Some(s), Some((_, day))) =
            (self.num(0), self.num(2), self.sym(3), self.num(4))
        else {
            return Err(TimeError::Unparseable {
                near: near(&self.text(0, 5)),
            });
        };
        if s != sep {
            return Err(TimeError::Unparseable {
                near: near(&self.text(0, 5)),
            });
        }
        let date = exact_date(year, month, day).ok_or_else(|| TimeError::ImpossibleDate {
            date: self.text(0, 5),
        })?;
        self.pos += 5;
        self.take_date(Day::On(date))?;
        if self.word(0) == Some("t") {
            self.pos += 1;
            self.read_clock_required(false)?;
        }
        Ok(())
    }

    /// `24/12`, `12/24`, `24/12/2026`, `24.12.2026`: day-first unless a part above 12 says
    /// otherwise, or the author lives in a US zone (SPEC rule 6).
    fn read_numeric_date(&mut self, sep: u8) -> Result<(), TimeError> {
        let (Some((a_digits, a)), Some((b_digits, b))) = (self.num(0), self.num(2)) else {
            return Err(self.unparseable(0));
        };
        if a_digits.len() > 2 || b_digits.len() > 2 {
            return Err(TimeError::Unparseable {
                near: near(&self.text(0, 3)),
            });
        }
        let mut len = 3;
        let mut year = None;
        if self.sym(3) == Some(sep) {
            let Some((y_digits, y)) = self.num(4) else {
                return Err(TimeError::Unparseable {
                    near: near(&self.text(0, 4)),
                });
            };
            year = Some(match y_digits.len() {
                4 => y,
                2 => 2000 + y,
                _ => {
                    return Err(TimeError::Unparseable {
                        near: near(&self.text(0, 5)),
                    });
                }
            });
            len = 5;
        } else if sep == b'.' {
            return Err(self.unparseable(0));
        }
        let written = self.text(0, len);
        let (day, month) = if a > 12 && b > 12 {
            return Err(TimeError::ImpossibleDate { date: written });
        } else if a > 12 {
            (a, b)
        } else if b > 12 || self.month_first {
            (b, a)
        } else {
            (a, b)
        };
        let date = match year {
            Some(year) => Day::On(
                exact_date(year, month, day).ok_or(TimeError::ImpossibleDate { date: written })?,
            ),
            None => yearly(month, day).ok_or(TimeError::ImpossibleDate { date: written })?,
        };
        self.pos += len;
        self.take_date(date)
    }

    /// `dec 24`, `december 24th`, `dec 24 2026`.
    fn read_month_first_date(&mut self) -> Result<(), TimeError> {
        let month = self.word(0).and_then(words::month);
        let (Some(month), Some((digits, day))) = (month, self.num(1)) else {
            // A month alone (`in december`) names no day.
            return Err(self.unparseable(0));
        };
        if digits.len() > 2 {
            return Err(self.unparseable(1));
        }
        let mut len = 2;
        if self.word(len).is_some_and(words::is_ordinal_suffix) {
            len += 1;
        }
        self.finish_named_month_date(month, day, len)
    }

    /// `24 dec`, `24th of december`, `24 december 2026`.
    fn read_day_first_date(&mut self) -> Result<(), TimeError> {
        let Some((digits, day)) = self.num(0) else {
            return Err(self.unparseable(0));
        };
        if digits.len() > 2 {
            return Err(self.unparseable(0));
        }
        let mut len = 1;
        if self.word(len).is_some_and(words::is_ordinal_suffix) {
            len += 1;
        }
        if self.word(len) == Some("of") {
            len += 1;
        }
        let Some(month) = self.word(len).and_then(words::month) else {
            // `the 3rd`: the next 3rd of a month. Only with its suffix: a bare `3` is no day.
            if len == 2 {
                let day = u32::try_from(day)
                    .ok()
                    .filter(|day| (1..=31).contains(day))
                    .ok_or_else(|| TimeError::ImpossibleDate {
                        date: self.text(0, 2),
                    })?;
                self.pos += len;
                return self.take_date(Day::OfMonth(day));
            }
            return Err(self.unparseable(len));
        };
        self.finish_named_month_date(month, day, len + 1)
    }

    /// Reads an optional four-digit year after a day and month name spanning `len` tokens.
    fn finish_named_month_date(
        &mut self,
        month: u32,
        day: u64,
        len: usize,
    ) -> Result<(), TimeError> {
        let mut len = len;
        let year = match self.num(len) {
            // A four-digit number not followed by `:` is a year (`dec 24 2026 18:00`).
            // `dec 24 0930` is a time: years starting 0 or 1 are long past.
            Some((digits, year))
                if digits.len() == 4
                    && self.sym(len + 1) != Some(b':')
                    && !digits.starts_with(['0', '1']) =>
            {
                len += 1;
                Some(year)
            }
            _ => None,
        };
        let month_name = words::month_name(month).unwrap_or("?");
        let date = match year {
            Some(year) => Day::On(exact_date(year, u64::from(month), day).ok_or_else(|| {
                TimeError::ImpossibleDate {
                    date: format!("{month_name} {day}, {year}"),
                }
            })?),
            None => yearly(u64::from(month), day).ok_or_else(|| TimeError::ImpossibleDate {
                date: format!("{month_name} {day}"),
            })?,
        };
        self.pos += len;
        self.take_date(date)
    }

    // ----- offsets and repetition -----

    /// `2h`, `90 minutes`, `1 hour 30 minutes`, `a week and 2 days`. With `lead_in` the phrase
    /// said `in …`; otherwise it must end `from now` (or `ago`, which is the past).
    fn read_offsets(&mut self, lead_in: bool) -> Result<(), TimeError> {
        let mut offset = Offset::default();
        let mut pairs = 0;
        let mut last_unit = None;
        loop {
            // `an hour and a half`: half of the unit just said.
            if pairs > 0
                && self.word(0) == Some("and")
                && self.word(1) == Some("a")
                && self.word(2) == Some("half")
            {
                let half = last_unit.and_then(english::step).and_then(half_of);
                let Some(step) = half else {
                    return Err(self.unparseable(2));
                };
                add_step(&mut offset, Some(1), step);
                self.pos += 3;
                break;
            }
            let skip = usize::from(pairs > 0 && self.word(0) == Some("and"));
            // `half an hour`: half of one unit.
            if self.word(skip) == Some("half") && matches!(self.word(skip + 1), Some("a" | "an")) {
                let unit = self.word(skip + 2).and_then(words::unit);
                let Some(step) = unit.and_then(english::step).and_then(half_of) else {
                    return Err(self.unparseable(skip));
                };
                last_unit = unit;
                add_step(&mut offset, Some(1), step);
                self.pos += skip + 3;
                pairs += 1;
                continue;
            }
            let count = match self.peek(skip) {
                Some(Tok::Num { text, value }) if text.len() <= MAX_COUNT_DIGITS => Some(value),
                Some(Tok::Num { .. }) => None,
                Some(Tok::Word(w)) => match words::number(w) {
                    Some(n) => Some(n),
                    None => break,
                },
                _ => break,
            };
            // A fortnight is two weeks.
            let (unit, times) = match self.word(skip + 1) {
                Some("fortnight" | "fortnights") => (Some(english::Unit::Week), 2),
                other => (other.and_then(words::unit), 1),
            };
            let Some(unit) = unit else {
                if pairs == 0 {
                    // `in six glorps`: name the word that is not a unit.
                    return Err(self.unparseable(skip + 1));
                }
                break;
            };
            let step = english::step(unit).ok_or_else(|| self.unparseable(skip + 1))?;
            add_step(&mut offset, count.and_then(|n| n.checked_mul(times)), step);
            // Half a fortnight is not a unit anyone says; `and a half` after it is refused.
            last_unit = (times == 1).then_some(unit);
            self.pos += skip + 2;
            pairs += 1;
        }
        if pairs == 0 {
            return Err(TimeError::Unparseable {
                near: near(&format!("in {}", self.text(0, 1))),
            });
        }
        if lead_in {
            if self.word(0) == Some("ago") {
                return Err(self.unparseable(0));
            }
        } else {
            match (self.word(0), self.word(1)) {
                (Some("from"), Some("now")) => self.pos += 2,
                (Some("ago"), _) => {
                    self.pos += 1;
                    self.out.past = true;
                    return Ok(());
                }
                _ => return Err(self.unparseable(0)),
            }
        }
        if self.out.offset.is_some() {
            return Err(self.unparseable(0));
        }
        self.out.offset = Some(offset);
        Ok(())
    }

    /// After `every`: `day`, `weekday`, `weekend`, or weekdays (`monday and thursday`).
    fn read_every(&mut self) -> Result<(), TimeError> {
        let days = match self.word(0) {
            Some("day") => DaySet::EVERY_DAY,
            Some("weekday" | "weekdays") => DaySet::WEEKDAYS,
            Some("weekend" | "weekends") => DaySet::WEEKENDS,
            Some(w) if words::weekday(w).is_some() || words::plural_weekday(w).is_some() => {
                let days = self.read_weekday_list()?;
                return self.set_repeat(days);
            }
            Some(w) if words::is_unsupported_repeat(w) || words::number(w).is_some() => {
                return Err(TimeError::UnsupportedRepeat);
            }
            None if self.num(0).is_some() => return Err(TimeError::UnsupportedRepeat),
            _ => return Err(self.unparseable(0)),
        };
        self.pos += 1;
        self.set_repeat(days)
    }

    /// `monday`, `mon and thu`, `mondays, wednesdays and fridays`.
    fn read_weekday_list(&mut self) -> Result<DaySet, TimeError> {
        let day_at = |reader: &Self, ahead| {
            reader
                .word(ahead)
                .and_then(|w| words::weekday(w).or_else(|| words::plural_weekday(w)))
        };
        let mut days = DaySet::EMPTY;
        while let Some(day) = day_at(self, 0) {
            if days.contains(day) {
                return Err(self.unparseable(0));
            }
            days = days.with(day);
            self.pos += 1;
            if self.word(0) == Some("and") && day_at(self, 1).is_some() {
                self.pos += 1;
            }
        }
        Ok(days)
    }

    /// `+05:30`, `-0800`, `+5`: an offset from UTC of at most 14 hours.
    fn read_signed_offset(&mut self) -> Result<Zone, TimeError> {
        let bad = |reader: &Self, len| TimeError::Unparseable {
            near: near(&reader.text(0, len)),
        };
        let sign = if self.sym(0) == Some(b'-') { -1 } else { 1 };
        let Some((digits, value)) = self.num(1) else {
            return Err(bad(self, 2));
        };
        let (hours, minutes, len) = match digits.len() {
            1 | 2 if self.sym(2) == Some(b':') => match self.num(3) {
                Some((m_digits, m)) if m_digits.len() == 2 => (value, m, 4),
                _ => return Err(bad(self, 4)),
            },
            1 | 2 => (value, 0, 2),
            4 => (value / 100, value % 100, 2),
            _ => return Err(bad(self, 2)),
        };
        if hours > 14 || minutes > 59 || hours * 60 + minutes > 14 * 60 {
            return Err(bad(self, len));
        }
        let seconds = i32::try_from((hours * 60 + minutes) * 60).map_err(|_| bad(self, len))?;
        let offset = FixedOffset::east_opt(sign * seconds).ok_or_else(|| bad(self, len))?;
        self.pos += len;
        Ok(if seconds == 0 {
            Zone::UTC
        } else {
            Zone::Offset(offset)
        })
    }

    // ----- slots: each may be filled once -----

    fn take_day(&mut self, day: Day) -> Result<(), TimeError> {
        if self.out.day.is_some() {
            return Err(self.unparseable(0));
        }
        self.pos += 1;
        self.out.day = Some(day);
        Ok(())
    }

    /// A weekday next to a date is kept to check the date against; otherwise it is the day.
    fn take_weekday(&mut self, weekday: Weekday) -> Result<(), TimeError> {
        match self.out.day {
            None => self.out.day = Some(Day::Weekday(weekday)),
            Some(Day::On(_) | Day::Yearly { .. }) if self.out.said_weekday.is_none() => {
                self.out.said_weekday = Some(weekday);
            }
            Some(_) => return Err(self.unparseable(0)),
        }
        self.pos += 1;
        Ok(())
    }

    /// Called after the date's tokens are consumed.
    fn take_date(&mut self, date: Day) -> Result<(), TimeError> {
        match self.out.day {
            None => {}
            Some(Day::Weekday(weekday)) if self.out.said_weekday.is_none() => {
                self.out.said_weekday = Some(weekday);
            }
            Some(_) => return Err(self.unparseable(0)),
        }
        self.out.day = Some(date);
        Ok(())
    }

    fn set_time(&mut self, clock: Clock) -> Result<(), TimeError> {
        if self.out.time.is_some() {
            return Err(self.unparseable(0));
        }
        self.out.time = Some(clock);
        Ok(())
    }

    fn set_zone(&mut self, zone: Zone) -> Result<(), TimeError> {
        if self.out.zone.is_some() {
            return Err(self.unparseable(0));
        }
        self.out.zone = Some(zone);
        Ok(())
    }

    fn set_repeat(&mut self, days: DaySet) -> Result<(), TimeError> {
        if self.out.repeat.is_some() || days.is_empty() {
            return Err(self.unparseable(0));
        }
        self.out.repeat = Some(days);
        Ok(())
    }

    /// Refuses slot combinations that say two different things (`now` plus a time,
    /// `in 2 hours at 9am`, `every monday tomorrow`).
    fn check_combination(&self, phrase: &str) -> Result<(), TimeError> {
        let p = &self.out;
        let whole = || TimeError::Unparseable {
            near: near(phrase.trim()),
        };
        let said_anything = p.now
            || p.past
            || p.offset.is_some()
            || p.day.is_some()
            || p.time.is_some()
            || p.zone.is_some()
            || p.repeat.is_some();
        let now_and_more = p.now
            && (p.past
                || p.offset.is_some()
                || p.day.is_some()
                || p.time.is_some()
                || p.zone.is_some()
                || p.repeat.is_some());
        let repeat_and_day =
            p.repeat.is_some() && (p.day.is_some() || p.offset.is_some() || p.past);
        let offset_and_day = p.offset.is_some() && p.day.is_some();
        // Hours are elapsed time: `in 2 hours at 9am` says two different instants.
        let elapsed_and_time = p.offset.is_some_and(|o| o.seconds != 0) && p.time.is_some();
        let zone_without_time = p.zone.is_some() && p.time.is_none() && p.offset.is_some();
        // The vague forms stand for a day and a time of their own: nothing else may be said.
        let next_week_and_more = p.next_week
            && (p.day.is_some()
                || p.time.is_some()
                || p.offset.is_some()
                || p.repeat.is_some()
                || p.part.is_some()
                || p.vague_hour.is_some());
        let part_misplaced = p.part.is_some()
            && ((p.day.is_none() && !p.past)
                || p.offset.is_some()
                || p.repeat.is_some()
                || p.vague_hour.is_some());
        let hour_and_time = p.vague_hour.is_some() && (p.time.is_some() || p.repeat.is_some());
        let year_or_time_and_more = p.year_or_time.is_some()
            && (p.day.is_some()
                || p.time.is_some()
                || p.offset.is_some()
                || p.repeat.is_some()
                || p.part.is_some()
                || p.next_week);
        let said_anything =
            said_anything || p.next_week || p.part.is_some() || p.year_or_time.is_some();
        if !said_anything
            || next_week_and_more
            || part_misplaced
            || hour_and_time
            || year_or_time_and_more
            || now_and_more
            || repeat_and_day
            || offset_and_day
            || elapsed_and_time
            || zone_without_time
        {
            return Err(whole());
        }
        Ok(())
    }
}

/// A time of day from its written parts, or `None` if no clock shows it (`26:00`, `14pm`).
fn clock(
    hour_digits: usize,
    hour: u64,
    minute: u64,
    second: u64,
    pm: Option<bool>,
) -> Option<Clock> {
    if hour_digits > 2 || minute > 59 || second > 59 {
        return None;
    }
    let hour = u32::try_from(hour).ok()?;
    let hour = match pm {
        // `12am` is 00:00 and `12pm` is 12:00; 1–11 am/pm as usual.
        Some(pm) if (1..=12).contains(&hour) => hour % 12 + if pm { 12 } else { 0 },
        Some(_) => return None,
        None if hour <= 23 => hour,
        None => return None,
    };
    let time = NaiveTime::from_hms_opt(
        hour,
        u32::try_from(minute).ok()?,
        u32::try_from(second).ok()?,
    )?;
    Some(Clock {
        time,
        has_meridiem: pm.is_some(),
    })
}

/// A date with its year, validated by chrono-english's calendar.
fn exact_date(year: u64, month: u64, day: u64) -> Option<NaiveDate> {
    english::calendar_date(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )
}

/// A date without a year, if some year has it (February 29 does, every four years).
fn yearly(month: u64, day: u64) -> Option<Day> {
    let month = u32::try_from(month).ok()?;
    let day = u32::try_from(day).ok()?;
    // 2028 is a leap year, so every day any year has is found in it.
    english::calendar_date(2028, month, day)?;
    Some(Day::Yearly { month, day })
}

/// Half of an exact step (`half an hour` is 30 minutes); calendar days and months have no
/// half that keeps the wall-clock time, so `half a day` is refused.
fn half_of(step: Step) -> Option<Step> {
    match step {
        Step::Exact(seconds) if seconds % 2 == 0 => Some(Step::Exact(seconds / 2)),
        _ => None,
    }
}

/// Adds `count` × `step` to `offset`; `None` counts and overflow mark it too far ahead.
fn add_step(offset: &mut Offset, count: Option<u64>, step: Step) {
    let Some(count) = count.and_then(|c| i64::try_from(c).ok()) else {
        offset.too_far = true;
        return;
    };
    let (slot, per) = match step {
        Step::Exact(seconds) => (&mut offset.seconds, seconds),
        Step::Days(days) => (&mut offset.days, days),
        Step::Months(months) => (&mut offset.months, months),
    };
    match count.checked_mul(per).and_then(|n| slot.checked_add(n)) {
        Some(total) => *slot = total,
        None => offset.too_far = true,
    }
}
