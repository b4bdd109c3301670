//! Recurrence rules: the days they fall on, the local time and the zone they keep. Pure types.
//! No I/O and no clock: every function takes the instant it reasons about, so it is testable.
//! A rule keeps its own zone so that "every Monday at 09:00" stays 09:00 across DST changes.

use std::fmt;

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

/// The zone a wall-clock time is read in: an IANA zone (which follows DST) or a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// An IANA zone such as `Europe/Berlin`, with its DST rules.
    Named(Tz),
    /// A fixed offset from UTC, as written `+05:30` or meant by an abbreviation such as `PST`.
    Offset(FixedOffset),
}

/// Where a local wall-clock time lands on the UTC time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalInstant {
    /// The local time exists once (or twice, at a fall-back change: this is the earlier one).
    Exists(DateTime<Utc>),
    /// The local time is skipped by a spring-forward change. `shifted` is where it would be
    /// with the offset in force before the change (RFC 5545's reading), e.g. 02:30 → 03:30.
    Gap {
        /// The instant read with the offset in force before the change.
        shifted: DateTime<Utc>,
    },
}

impl LocalInstant {
    /// The instant, moving a skipped local time forward by the length of the gap.
    pub fn or_shifted(self) -> DateTime<Utc> {
        match self {
            Self::Exists(at) | Self::Gap { shifted: at } => at,
        }
    }
}

impl Zone {
    /// The UTC zone.
    pub const UTC: Zone = Zone::Named(Tz::UTC);

    /// The wall-clock time in this zone at `at`; `None` only at the edges of chrono's range
    /// (chrono's own `naive_local` would panic there).
    pub fn local(&self, at: DateTime<Utc>) -> Option<NaiveDateTime> {
        let offset = TimeDelta::seconds(i64::from(self.offset_seconds_at(at)));
        at.naive_utc().checked_add_signed(offset)
    }

    /// Places a wall-clock time of this zone on the UTC time line. An ambiguous time (fall-back)
    /// takes the earlier instant. `None` only at the edges of chrono's representable range.
    pub fn instant(&self, local: NaiveDateTime) -> Option<LocalInstant> {
        let found = match self {
            Self::Named(tz) => utc_of(tz.from_local_datetime(&local)),
            Self::Offset(offset) => utc_of(offset.from_local_datetime(&local)),
        };
        match found {
            Some(at) => Some(LocalInstant::Exists(at)),
            None => {
                // A gap: read the time with the offset in force a day earlier, which is the
                // offset before the change (zones do not change twice within a day).
                let before = local.checked_sub_signed(TimeDelta::days(1))?;
                let offset = self.offset_seconds_at(before.and_utc());
                let shifted = local.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?;
                Some(LocalInstant::Gap {
                    shifted: shifted.and_utc(),
                })
            }
        }
    }

    /// Seconds east of UTC in force at `at`.
    pub fn offset_seconds_at(&self, at: DateTime<Utc>) -> i32 {
        use chrono::Offset;
        match self {
            Self::Named(tz) => tz
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc(),
            Self::Offset(offset) => offset.local_minus_utc(),
        }
    }

    /// The stable text of the zone: the IANA name, or `+HH:MM` for a fixed offset.
    fn storage_text(&self) -> String {
        match self {
            Self::Named(tz) => tz.name().to_owned(),
            Self::Offset(offset) => format_offset(offset.local_minus_utc(), ""),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(tz) => f.write_str(tz.name()),
            Self::Offset(offset) if offset.local_minus_utc() == 0 => f.write_str("UTC"),
            Self::Offset(offset) => f.write_str(&format_offset(offset.local_minus_utc(), "UTC")),
        }
    }
}

/// Earliest UTC instant of a local-time lookup, `None` inside a gap.
fn utc_of<T: TimeZone>(found: LocalResult<DateTime<T>>) -> Option<DateTime<Utc>> {
    match found {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => None,
    }
}

/// `+05:30`, `-08:00`, with an optional prefix such as `UTC`.
fn format_offset(seconds: i32, prefix: &str) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{prefix}{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A set of days of the week, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DaySet(u8);

/// Two-letter codes as in RFC 5545 `BYDAY`, in `Weekday::num_days_from_monday` order.
const DAY_CODES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl DaySet {
    /// No day at all (not a valid rule on its own).
    pub const EMPTY: DaySet = DaySet(0);
    /// All seven days.
    pub const EVERY_DAY: DaySet = DaySet(0b111_1111);
    /// Monday to Friday.
    pub const WEEKDAYS: DaySet = DaySet(0b001_1111);
    /// Saturday and Sunday.
    pub const WEEKENDS: DaySet = DaySet(0b110_0000);

    /// This set with `day` added.
    pub const fn with(self, day: Weekday) -> DaySet {
        DaySet(self.0 | 1 << day.num_days_from_monday())
    }

    /// Whether `day` is in the set.
    pub const fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether the set has no day.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0u8..7)
            .filter(move |i| self.0 & (1 << i) != 0)
            .filter_map(|i| Weekday::try_from(i).ok())
    }
}

/// A post that repeats on some days of the week at one wall-clock time in one zone,
/// until cancelled. Built by `timeparse` from phrases such as `every monday 9am`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    days: DaySet,
    time: NaiveTime,
    zone: Zone,
}

/// Why a stored recurrence could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceParseError {
    /// Not the `v1 DAYS HH:MM ZONE` shape `to_storage` writes.
    #[error("stored recurrence `{0}` is not of the form `v1 MO,TU 09:00 Europe/Berlin`")]
    Malformed(String),
    /// The day list is empty, repeats a day or has an unknown code.
    #[error("stored recurrence has a bad day list `{0}`; expected codes such as `MO,WE,FR`")]
    BadDays(String),
    /// The time of day is not `HH:MM` or `HH:MM:SS`.
    #[error("stored recurrence has a bad time of day `{0}`; expected `HH:MM` or `HH:MM:SS`")]
    BadTime(String),
    /// The zone is neither a known IANA name nor a `+HH:MM` offset.
    #[error("stored recurrence has an unknown zone `{0}`; expected an IANA name or `+HH:MM`")]
    BadZone(String),
}

/// The version tag of the storage form, so that a later format can be told apart.
const STORAGE_VERSION: &str = "v1";

impl Recurrence {
    /// A rule for `days` at `time` (whole seconds; any fraction is dropped) in `zone`.
    /// `None` when `days` is empty, since such a rule would never occur.
    pub fn new(days: DaySet, time: NaiveTime, zone: Zone) -> Option<Self> {
        if days.is_empty() {
            return None;
        }
        let time = time.with_nanosecond(0).unwrap_or(time);
        Some(Self { days, time, zone })
    }

    /// The days of the week the rule fires on.
    pub fn days(&self) -> DaySet {
        self.days
    }

    /// The wall-clock time of each occurrence, in the rule's zone.
    pub fn time(&self) -> NaiveTime {
        self.time
    }

    /// The zone the wall-clock time is read in.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// First occurrence strictly after `after` (DST-correct, in the rule's zone).
    ///
    /// An occurrence at a fall-back time happens once, at the earlier instant; one inside a
    /// spring-forward gap moves forward by the gap's length (as RFC 5545 and java.time do), so a
    /// daily 02:30 post still goes out on the night the clocks jump. `None` only past year 262143.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.zone.local(after)?.date();
        // Eight days always reach a matching day after the start day: the set is never empty.
        for ahead in 0..=8u64 {
            let date = start.checked_add_days(Days::new(ahead))?;
            if !self.days.contains(date.weekday()) {
                continue;
            }
            let at = self.zone.instant(date.and_time(self.time))?.or_shifted();
            if at > after {
                return Some(at);
            }
        }
        None
    }

    /// A compact, stable text form for storage, such as `v1 MO,WE 09:00 Europe/Berlin`.
    pub fn to_storage(&self) -> String {
        let days: Vec<&str> = self
            .days
            .iter()
            .map(|d| DAY_CODES[d.num_days_from_monday() as usize])
            .collect();
        format!(
            "{STORAGE_VERSION} {} {} {}",
            days.join(","),
            clock_text(self.time),
            self.zone.storage_text()
        )
    }

    /// Reads back what `to_storage` wrote.
    pub fn from_storage(s: &str) -> Result<Self, RecurrenceParseError> {
        let malformed = || RecurrenceParseError::Malformed(s.to_owned());
        let mut parts = s.split(' ');
        let (Some(version), Some(days), Some(time), Some(zone), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed());
        };
        if version != STORAGE_VERSION {
            return Err(malformed());
        }
        let days = parse_days(days).ok_or_else(|| RecurrenceParseError::BadDays(days.into()))?;
        let time = parse_clock(time).ok_or_else(|| RecurrenceParseError::BadTime(time.into()))?;
        let zone = parse_zone(zone).ok_or_else(|| RecurrenceParseError::BadZone(zone.into()))?;
        Self::new(days, time, zone).ok_or_else(malformed)
    }
}

impl fmt::Display for Recurrence {
    /// Human form for confirmations: "every Monday at 09:00 (Europe/Berlin)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.days {
            DaySet::EVERY_DAY => "day".to_owned(),
            DaySet::WEEKDAYS => "weekday (Monday to Friday)".to_owned(),
            days => {
                let names: Vec<&str> = days
                    .iter()
                    .map(|d| DAY_NAMES[d.num_days_from_monday() as usize])
                    .collect();
                match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} and {last}", rest.join(", "))
                    }
                    _ => names.concat(),
                }
            }
        };
        write!(
            f,
            "every {when} at {} ({})",
            clock_text(self.time),
            self.zone
        )
    }
}

/// `09:00`, or `09:00:30` when there are seconds.
fn clock_text(time: NaiveTime) -> String {
    if time.second() == 0 {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

fn parse_days(text: &str) -> Option<DaySet> {
    let mut days = DaySet::EMPTY;
    for code in text.split(',') {
        let index = DAY_CODES.iter().position(|c| *c == code)?;
        let day = Weekday::try_from(u8::try_from(index).ok()?).ok()?;
        if days.contains(day) {
            return None;
        }
        days = days.with(day);
    }
    (!days.is_empty()).then_some(days)
}

fn parse_clock(text: &str) -> Option<NaiveTime> {
    let format = match text.len() {
        5 => "%H:%M",
        8 => "%H:%M:%S",
        _ => return None,
    };
    NaiveTime::parse_from_str(text, format).ok()
}

fn parse_zone(text: &str) -> Option<Zone> {
    let Some(rest) = text.strip_prefix(['+', '-']) else {
        return text.parse::<Tz>().ok().map(Zone::Named);
    };
    let (hours, minutes) = rest.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    let seconds = if text.starts_with('-') {
        -seconds
    } else {
        seconds
    };
    FixedOffset::east_opt(seconds).map(Zone::Offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Australia, Europe};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn rule(days: DaySet, hh: u32, mm: u32, zone: Zone) -> Recurrence {
        Recurrence::new(days, NaiveTime::from_hms_opt(hh, mm, 0).unwrap(), zone).unwrap()
    }

    fn monday() -> DaySet {
        DaySet::EMPTY.with(Weekday::Mon)
    }

    /// Walks the first `n` occurrences after `from`.
    fn occurrences(rule: &Recurrence, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            at = rule.next_after(at).unwrap();
            out.push(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        }
        out
    }

    #[test]
    fn every_monday_in_berlin_keeps_nine_oclock_across_the_spring_change() {
        let rule = rule(monday(), 9, 0, Zone::Named(Europe::Berlin));
        assert_eq!(
            occurrences(&rule, "2026-03-20T12:00:00Z", 3),
            [
                "2026-03-23T08:00:00Z", // CET, UTC+1
                "2026-03-30T07:00:00Z", // CEST, UTC+2 after 2026-03-29
                "2026-04-06T07:00:00Z",
            ]
        );
    }

    #[test]
    fn every_monday_in_berlin_keeps_nine_oclock_across_the_autumn_change() {
        let rule = rule(monday(), 9, 0, Zone::Named(Europe::Berlin));
        assert_eq!(
            occurrences(&rule, "2026-10-20T00:00:00Z", 2),
            ["2026-10-26T08:00:00Z", "2026-11-02T08:00:00Z"]
        );
    }

    #[test]
    fn weekdays_skip_saturday_and_sunday() {
        let rule = rule(DaySet::WEEKDAYS, 8, 0, Zone::Named(America::New_York));
        // Thursday 2026-03-05 noon local; New York springs forward on Sunday 2026-03-08.
        assert_eq!(
            occurrences(&rule, "2026-03-05T17:00:00Z", 4),
            [
                "2026-03-06T13:00:00Z", // Friday, EST
                "2026-03-09T12:00:00Z", // Monday, EDT
                "2026-03-10T12:00:00Z",
                "2026-03-11T12:00:00Z",
            ]
        );
    }

    #[test]
    fn the_next_occurrence_is_strictly_after_the_given_instant() {
        let rule = rule(DaySet::EVERY_DAY, 18, 0, Zone::UTC);
        assert_eq!(
            occurrences(&rule, "2026-05-01T18:00:00Z", 1),
            ["2026-05-02T18:00:00Z"]
        );
        assert_eq!(
            occurrences(&rule, "2026-05-01T17:59:59Z", 1),
            ["2026-05-01T18:00:00Z"]
        );
    }

    #[test]
    fn an_occurrence_inside_a_spring_gap_moves_forward_by_the_gap() {
        let rule = rule(DaySet::EVERY_DAY, 2, 30, Zone::Named(Europe::Berlin));
        assert_eq!(
            occurrences(&rule, "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]
        );
    }

    #[test]
    fn an_occurrence_at_an_ambiguous_fall_back_time_happens_once_at_the_earlier_instant() {
        let rule = rule(DaySet::EVERY_DAY, 2, 30, Zone::Named(Europe::Berlin));
        assert_eq!(
            occurrences(&rule, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn sydney_rules_follow_the_southern_changes() {
        let rule = rule(monday(), 9, 0, Zone::Named(Australia::Sydney));
        // AEDT (+11) until 2026-04-05, AEST (+10) after it; AEDT again from 2026-10-04.
        assert_eq!(
            occurrences(&rule, "2026-03-29T00:00:00Z", 2),
            ["2026-03-29T22:00:00Z", "2026-04-05T23:00:00Z"]
        );
        assert_eq!(
            occurrences(&rule, "2026-09-27T00:00:00Z", 2),
            ["2026-09-27T23:00:00Z", "2026-10-04T22:00:00Z"]
        );
    }

    #[test]
    fn fixed_offset_rules_ignore_daylight_saving() {
        let rule = rule(
            DaySet::EMPTY.with(Weekday::Fri),
            17,
            0,
            Zone::Offset(FixedOffset::east_opt(-8 * 3600).unwrap()),
        );
        assert_eq!(
            occurrences(&rule, "2026-07-01T00:00:00Z", 1),
            ["2026-07-04T01:00:00Z"]
        );
    }

    #[test]
    fn storage_forms_round_trip() {
        let rules = [
            rule(monday(), 9, 0, Zone::Named(Europe::Berlin)),
            rule(DaySet::WEEKDAYS, 8, 0, Zone::Named(America::New_York)),
            rule(DaySet::EVERY_DAY, 18, 0, Zone::UTC),
            rule(DaySet::WEEKENDS, 23, 59, Zone::Named(Asia::Kolkata)),
            rule(
                DaySet::EMPTY.with(Weekday::Wed).with(Weekday::Sun),
                6,
                5,
                Zone::Offset(FixedOffset::east_opt(5 * 3600 + 1800).unwrap()),
            ),
            rule(
                DaySet::EMPTY.with(Weekday::Tue),
                0,
                0,
                Zone::Offset(FixedOffset::east_opt(-8 * 3600).unwrap()),
            ),
            Recurrence::new(
                monday(),
                NaiveTime::from_hms_opt(9, 0, 30).unwrap(),
                Zone::Named(Australia::Sydney),
            )
            .unwrap(),
        ];
        for rule in rules {
            let stored = rule.to_storage();
            assert_eq!(Recurrence::from_storage(&stored), Ok(rule), "{stored}");
        }
    }

    #[test]
    fn storage_forms_are_the_documented_text() {
        let table = [
            (
                rule(monday(), 9, 0, Zone::Named(Europe::Berlin)),
                "v1 MO 09:00 Europe/Berlin",
            ),
            (
                rule(DaySet::WEEKDAYS, 8, 0, Zone::UTC),
                "v1 MO,TU,WE,TH,FR 08:00 UTC",
            ),
            (
                rule(
                    DaySet::WEEKENDS,
                    10,
                    0,
                    Zone::Offset(FixedOffset::east_opt(-(5 * 3600 + 1800)).unwrap()),
                ),
                "v1 SA,SU 10:00 -05:30",
            ),
        ];
        for (rule, text) in table {
            assert_eq!(rule.to_storage(), text);
        }
    }

    #[test]
    fn bad_storage_forms_are_refused_with_the_part_that_is_wrong() {
        use RecurrenceParseError as E;
        let table = [
            ("", "Malformed"),
            ("v1 MO 09:00", "Malformed"),
            ("v2 MO 09:00 UTC", "Malformed"),
            ("v1 MO 09:00 UTC extra", "Malformed"),
            ("v1  09:00 UTC", "BadDays"),
            ("v1 MO,MO 09:00 UTC", "BadDays"),
            ("v1 XX 09:00 UTC", "BadDays"),
            ("v1 MO 25:00 UTC", "BadTime"),
            ("v1 MO 9:00 UTC", "BadTime"),
            ("v1 MO 09:00 Mars/Olympus", "BadZone"),
            ("v1 MO 09:00 +5:30", "BadZone"),
            ("v1 MO 09:00 +99:00", "BadZone"),
        ];
        for (text, want) in table {
            let got = match Recurrence::from_storage(text) {
                Err(E::Malformed(_)) => "Malformed",
                Err(E::BadDays(_)) => "BadDays",
                Err(E::BadTime(_)) => "BadTime",
                Err(E::BadZone(_)) => "BadZone",
                Ok(_) => "Ok",
            };
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn display_reads_as_a_sentence() {
        let table = [
            (
                rule(monday(), 9, 0, Zone::Named(Europe::Berlin)),
                "every Monday at 09:00 (Europe/Berlin)",
            ),
            (
                rule(DaySet::WEEKDAYS, 8, 0, Zone::Named(America::New_York)),
                "every weekday (Monday to Friday) at 08:00 (America/New_York)",
            ),
            (
                rule(DaySet::EVERY_DAY, 18, 0, Zone::UTC),
                "every day at 18:00 (UTC)",
            ),
            (
                rule(DaySet::WEEKENDS, 10, 30, Zone::Named(Asia::Kolkata)),
                "every Saturday and Sunday at 10:30 (Asia/Kolkata)",
            ),
            (
                rule(
                    DaySet::EMPTY
                        .with(Weekday::Mon)
                        .with(Weekday::Wed)
                        .with(Weekday::Fri),
                    17,
                    0,
                    Zone::Offset(FixedOffset::east_opt(-8 * 3600).unwrap()),
                ),
                "every Monday, Wednesday and Friday at 17:00 (UTC-08:00)",
            ),
        ];
        for (rule, text) in table {
            assert_eq!(rule.to_string(), text);
        }
    }

    #[test]
    fn a_rule_needs_at_least_one_day() {
        assert_eq!(
            Recurrence::new(DaySet::EMPTY, NaiveTime::MIN, Zone::UTC),
            None
        );
    }

    #[test]
    fn next_after_at_the_end_of_time_gives_none_instead_of_panicking() {
        let rule = rule(DaySet::EVERY_DAY, 9, 0, Zone::Named(Europe::Berlin));
        assert_eq!(rule.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert!(rule.next_after(DateTime::<Utc>::MIN_UTC).is_some());
    }
}
