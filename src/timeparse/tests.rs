//! Table-driven tests of `parse`: each phrase with a fixed `now` and zone, and the exact UTC
//! instant, recurrence storage form or refusal SPEC section 5 asks for.

use super::*;
use crate::recurrence::Recurrence;
use chrono::SecondsFormat;
use chrono_tz::{America, Asia, Australia, Europe};

/// What a phrase should give.
enum Want {
    /// This instant, RFC 3339 UTC.
    At(&'static str),
    /// A recurrence with this storage form.
    Every(&'static str),
    /// A refusal of this variant.
    Refused(&'static str),
}
use Want::{At, Every, Refused};

/// Phrases said at one moment in one zone.
struct Scene {
    zone: Tz,
    now: &'static str,
    rows: &'static [(&'static str, Want)],
}

fn variant(err: &TimeError) -> &'static str {
    match err {
        TimeError::Empty => "Empty",
        TimeError::Unparseable { .. } => "Unparseable",
        TimeError::InThePast => "InThePast",
        TimeError::ImpossibleDate { .. } => "ImpossibleDate",
        TimeError::ImpossibleTime { .. } => "ImpossibleTime",
        TimeError::NonexistentLocalTime { .. } => "NonexistentLocalTime",
        TimeError::NeedsTimeOfDay => "NeedsTimeOfDay",
        TimeError::TooFarAhead => "TooFarAhead",
        TimeError::AmbiguousZone { .. } => "AmbiguousZone",
        TimeError::UnsupportedRepeat => "UnsupportedRepeat",
        TimeError::WeekdayMismatch { .. } => "WeekdayMismatch",
        TimeError::Vague { .. } => "Vague",
    }
}

fn describe(result: &Result<When, TimeError>) -> String {
    match result {
        Ok(When::Once(at)) => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Ok(When::Recurring(rule)) => format!("every {}", rule.to_storage()),
        Err(err) => format!("refused {}", variant(err)),
    }
}

fn wanted(want: &Want) -> String {
    match want {
        At(at) => (*at).to_owned(),
        Every(stored) => format!("every {stored}"),
        Refused(name) => format!("refused {name}"),
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

const SCENES: &[Scene] = &[
    // Saturday 21:00 CET, the evening before Berlin springs forward (2026-03-29 02:00 → 03:00).
    Scene {
        zone: Europe::Berlin,
        now: "2026-03-28T20:00:00Z",
        rows: &[
            ("now", At("2026-03-28T20:00:00Z")),
            ("NOW", At("2026-03-28T20:00:00Z")),
            ("tomorrow 9am", At("2026-03-29T07:00:00Z")),
            ("tmrw 9am", At("2026-03-29T07:00:00Z")),
            ("  Tomorrow   9AM  ", At("2026-03-29T07:00:00Z")),
            ("tomorrow @ 9am", At("2026-03-29T07:00:00Z")),
            ("tomorrow at 9 a.m.", At("2026-03-29T07:00:00Z")),
            ("tomorrow 9am.", At("2026-03-29T07:00:00Z")),
            ("tomorrow 1:59", At("2026-03-29T00:59:00Z")),
            ("tomorrow 3:30", At("2026-03-29T01:30:00Z")),
            ("tomorrow 2:30", Refused("NonexistentLocalTime")),
            ("tomorrow 02:30", Refused("NonexistentLocalTime")),
            ("tomorrow 2:30am", Refused("NonexistentLocalTime")),
            ("2:30", Refused("NonexistentLocalTime")),
            ("yesterday 9am", Refused("InThePast")),
            ("yesterday", Refused("InThePast")),
            ("feb 30 10am", Refused("ImpossibleDate")),
            ("april 31", Refused("ImpossibleDate")),
            ("april 31 10am", Refused("ImpossibleDate")),
            ("26:00", Refused("ImpossibleTime")),
            ("14pm", Refused("ImpossibleTime")),
            ("tomorrow 9:75", Refused("ImpossibleTime")),
            ("in 90 minutes", At("2026-03-28T21:30:00Z")),
            ("in 2h", At("2026-03-28T22:00:00Z")),
            ("in 30 seconds", At("2026-03-28T20:00:30Z")),
            ("in six hours", At("2026-03-29T02:00:00Z")),
            ("in 24 hours", At("2026-03-29T20:00:00Z")),
            ("in 1 day", At("2026-03-29T19:00:00Z")),
            ("in 3 days", At("2026-03-31T19:00:00Z")),
            ("in 2 weeks", At("2026-04-11T19:00:00Z")),
            ("in 1 month", At("2026-04-28T19:00:00Z")),
            ("in 3 days at 9am", At("2026-03-31T07:00:00Z")),
            ("9am", At("2026-03-29T07:00:00Z")),
            ("21:30", At("2026-03-28T20:30:00Z")),
            ("21:00", At("2026-03-29T19:00:00Z")),
            ("noon", At("2026-03-29T10:00:00Z")),
            ("midnight", At("2026-03-28T23:00:00Z")),
            ("12am", At("2026-03-28T23:00:00Z")),
            ("12pm", At("2026-03-29T10:00:00Z")),
            ("today 5pm", Refused("InThePast")),
            ("today 10pm", At("2026-03-28T21:00:00Z")),
            ("tonight at 8", Refused("InThePast")),
            ("tonight at 11", At("2026-03-28T22:00:00Z")),
            ("tonight @ 10:30", At("2026-03-28T21:30:00Z")),
            ("sunday 9am", At("2026-03-29T07:00:00Z")),
            ("saturday 9am", At("2026-04-04T07:00:00Z")),
            ("this saturday 9am", At("2026-04-04T07:00:00Z")),
            ("next saturday 9am", At("2026-04-04T07:00:00Z")),
            ("friday 5pm", At("2026-04-03T15:00:00Z")),
            ("on wed at noon", At("2026-04-01T10:00:00Z")),
            ("next monday 09:00", At("2026-03-30T07:00:00Z")),
            ("last tuesday", Refused("InThePast")),
            ("3 days ago", Refused("InThePast")),
            ("tomorrow", Refused("Vague")),
            ("friday", Refused("Vague")),
            ("next funday at 5pm", Refused("Unparseable")),
            ("in six glorps", Refused("Unparseable")),
            ("dec 24 6pm", At("2026-12-24T17:00:00Z")),
            ("24 dec 18:00", At("2026-12-24T17:00:00Z")),
            ("december 24th at 6pm", At("2026-12-24T17:00:00Z")),
            ("2026-12-24 18:00", At("2026-12-24T17:00:00Z")),
            ("2026-12-24T18:00", At("2026-12-24T17:00:00Z")),
            ("24/12 18:00", At("2026-12-24T17:00:00Z")),
            ("12/24 6pm", At("2026-12-24T17:00:00Z")),
            ("24.12.2026 18:00", At("2026-12-24T17:00:00Z")),
            ("24/12/2026 18:00", At("2026-12-24T17:00:00Z")),
            ("24/12/26 18:00", At("2026-12-24T17:00:00Z")),
            ("5/4 10am", At("2026-04-05T08:00:00Z")),
            ("jan 5 10am", At("2027-01-05T09:00:00Z")),
            ("march 28 10pm", At("2026-03-28T21:00:00Z")),
            ("march 28 10am", At("2027-03-28T08:00:00Z")),
            ("feb 29 10am", At("2028-02-29T09:00:00Z")),
            ("2026-02-29 10:00", Refused("ImpossibleDate")),
            ("2025-12-24 18:00", Refused("InThePast")),
            ("2026-03-01 10:00", Refused("InThePast")),
            ("friday dec 25 6pm", At("2026-12-25T17:00:00Z")),
            ("monday dec 25 6pm", Refused("WeekdayMismatch")),
            ("9am UTC", At("2026-03-29T09:00:00Z")),
            ("6pm PST", At("2026-03-29T02:00:00Z")),
            ("18:00 Europe/Berlin", At("2026-03-29T16:00:00Z")),
            ("10:00 +05:30", At("2026-03-29T04:30:00Z")),
            ("10:00Z", At("2026-03-29T10:00:00Z")),
            ("9am ET", At("2026-03-29T13:00:00Z")),
            ("tomorrow 9am UTC", At("2026-03-29T09:00:00Z")),
            ("tomorrow 9am IST", Refused("AmbiguousZone")),
            ("in 99999999999 days", Refused("TooFarAhead")),
            ("in 999999999999999999999 days", Refused("TooFarAhead")),
            ("in 200 years", Refused("TooFarAhead")),
            ("3000-01-01 10:00", Refused("TooFarAhead")),
            ("in 2 hours at 9am", Refused("Unparseable")),
            ("now 9am", Refused("Unparseable")),
            // Issue 12: four-digit and dotted times, on either side of the spring change.
            ("at 0930", At("2026-03-29T07:30:00Z")),
            ("0930", At("2026-03-29T07:30:00Z")),
            ("@0930", At("2026-03-29T07:30:00Z")),
            ("tomorrow at 1400", At("2026-03-29T12:00:00Z")),
            ("tomorrow 1400", At("2026-03-29T12:00:00Z")),
            ("tomorrow 1730.", At("2026-03-29T15:30:00Z")),
            ("2130", At("2026-03-28T20:30:00Z")),
            ("tomorrow 0230", Refused("NonexistentLocalTime")),
            ("at 0230", Refused("NonexistentLocalTime")),
            ("2460", Refused("ImpossibleTime")),
            ("at 2460", Refused("ImpossibleTime")),
            ("0975", Refused("ImpossibleTime")),
            ("tomorrow at 0975", Refused("ImpossibleTime")),
            ("0930pm", At("2026-03-28T20:30:00Z")),
            ("1400pm", Refused("ImpossibleTime")),
            ("17.30", At("2026-03-29T15:30:00Z")),
            ("tomorrow 17.30", At("2026-03-29T15:30:00Z")),
            ("tomorrow 9.05", At("2026-03-29T07:05:00Z")),
            ("at 9.05", At("2026-03-29T07:05:00Z")),
            ("9.05", Refused("Unparseable")),
            ("12.11", Refused("Unparseable")),
            ("9.75", Refused("Unparseable")),
            ("24.12.2026 18.30", At("2026-12-24T17:30:00Z")),
            // Half past, quarter past, quarter to: 24-hour unless am/pm or `tonight` says.
            ("half past 10", At("2026-03-29T08:30:00Z")),
            ("quarter to 5", At("2026-03-29T02:45:00Z")),
            ("quarter to 5pm", At("2026-03-29T14:45:00Z")),
            ("quarter past 9", At("2026-03-29T07:15:00Z")),
            ("quarter past 9pm", At("2026-03-28T20:15:00Z")),
            ("tonight at half past 9", At("2026-03-28T20:30:00Z")),
            ("tomorrow at quarter to 3", Refused("NonexistentLocalTime")),
            ("half past", Refused("Unparseable")),
            ("half past 10:30", Refused("Unparseable")),
            ("quarter to midnight", Refused("Unparseable")),
            ("quarter past 25", Refused("ImpossibleTime")),
            // Offsets in halves and fortnights.
            ("in an hour and a half", At("2026-03-28T21:30:00Z")),
            ("in half an hour", At("2026-03-28T20:30:00Z")),
            ("in a fortnight", At("2026-04-11T19:00:00Z")),
            ("in 2 fortnights", At("2026-04-25T19:00:00Z")),
            ("in a day and a half", Refused("Unparseable")),
            ("in half a day", Refused("Unparseable")),
            ("in a fortnight and a half", Refused("Unparseable")),
            // Days of the month.
            ("the 3rd at 11am", At("2026-04-03T09:00:00Z")),
            ("on the 21st 9am", At("2026-04-21T07:00:00Z")),
            ("the 28th at 10pm", At("2026-03-28T21:00:00Z")),
            ("the 28th at 9pm", At("2026-04-28T19:00:00Z")),
            ("the 31st at 9am", At("2026-03-31T07:00:00Z")),
            ("29th 2:30", Refused("NonexistentLocalTime")),
            ("24th dec 6pm", At("2026-12-24T17:00:00Z")),
            ("dec 24 1800", At("2026-12-24T17:00:00Z")),
            ("dec 24 at 2030", At("2026-12-24T19:30:00Z")),
            ("the 32nd at 9am", Refused("ImpossibleDate")),
            ("the 0th at 9am", Refused("ImpossibleDate")),
            ("the 3 at 11am", Refused("Unparseable")),
            // Vague rather than wrong: suggestions.
            ("tomorrow morning", Refused("Vague")),
            ("tomorrow night", Refused("Vague")),
            ("friday morning", Refused("Vague")),
            ("friday evening at 8", Refused("Vague")),
            ("monday 9", Refused("Vague")),
            ("the 3rd", Refused("Vague")),
            ("2026-12-24", Refused("Vague")),
            ("tonight", Refused("Vague")),
            ("this evening", Refused("InThePast")),
            ("this afternoon", Refused("InThePast")),
            ("today", Refused("NeedsTimeOfDay")),
            ("next week 9am", Refused("Unparseable")),
            ("morning", Refused("Unparseable")),
            ("tomorrow morning evening", Refused("Unparseable")),
            ("every monday morning", Refused("Unparseable")),
            ("in 2 days morning", Refused("Unparseable")),
            ("every monday 9am", Every("v1 MO 09:00 Europe/Berlin")),
            (
                "every weekday at 8am",
                Every("v1 MO,TU,WE,TH,FR 08:00 Europe/Berlin"),
            ),
            (
                "weekdays at 8am",
                Every("v1 MO,TU,WE,TH,FR 08:00 Europe/Berlin"),
            ),
            (
                "every day at 18:00",
                Every("v1 MO,TU,WE,TH,FR,SA,SU 18:00 Europe/Berlin"),
            ),
            (
                "daily 9am",
                Every("v1 MO,TU,WE,TH,FR,SA,SU 09:00 Europe/Berlin"),
            ),
            ("every friday at 5pm UTC", Every("v1 FR 17:00 UTC")),
            ("every monday", Refused("NeedsTimeOfDay")),
            ("every hour", Refused("UnsupportedRepeat")),
            ("", Refused("Empty")),
            ("   ", Refused("Empty")),
        ],
    },
    // Friday 11:00 CET, two days before the spring change: calendar days keep 11:00.
    Scene {
        zone: Europe::Berlin,
        now: "2026-03-27T10:00:00Z",
        rows: &[
            ("in 3 days", At("2026-03-30T09:00:00Z")),
            ("in 72 hours", At("2026-03-30T10:00:00Z")),
            ("friday 5pm", At("2026-04-03T15:00:00Z")),
            ("next friday 5pm", At("2026-04-03T15:00:00Z")),
            ("today 5pm", At("2026-03-27T16:00:00Z")),
            ("today 9am", Refused("InThePast")),
            ("tonight at 8", At("2026-03-27T19:00:00Z")),
            ("tonight at 8pm", At("2026-03-27T19:00:00Z")),
            ("tonight at 21:30", At("2026-03-27T20:30:00Z")),
            ("tonight", Refused("Vague")),
        ],
    },
    // Saturday 14:00 CEST, the day before Berlin falls back (2026-10-25 03:00 → 02:00).
    Scene {
        zone: Europe::Berlin,
        now: "2026-10-24T12:00:00Z",
        rows: &[
            ("2026-10-25 02:30", At("2026-10-25T00:30:00Z")),
            ("tomorrow 2:30", At("2026-10-25T00:30:00Z")),
            ("2026-10-25 02:30 CET", At("2026-10-25T01:30:00Z")),
            ("2026-10-25 02:30 CEST", At("2026-10-25T00:30:00Z")),
            ("tomorrow 1:59", At("2026-10-24T23:59:00Z")),
            ("tomorrow 3:00", At("2026-10-25T02:00:00Z")),
            ("tomorrow 9am", At("2026-10-25T08:00:00Z")),
            ("in 1 day", At("2026-10-25T13:00:00Z")),
            ("in 24 hours", At("2026-10-25T12:00:00Z")),
            ("every sunday at 2:30", Every("v1 SU 02:30 Europe/Berlin")),
        ],
    },
    // Saturday 10:00 EST, the day before New York springs forward (2026-03-08 02:00 → 03:00).
    Scene {
        zone: America::New_York,
        now: "2026-03-07T15:00:00Z",
        rows: &[
            ("tomorrow 9am", At("2026-03-08T13:00:00Z")),
            ("tomorrow 2:30", Refused("NonexistentLocalTime")),
            ("tomorrow 2:30am", Refused("NonexistentLocalTime")),
            ("tomorrow 3am", At("2026-03-08T07:00:00Z")),
            ("tomorrow 1:30am", At("2026-03-08T06:30:00Z")),
            ("in 1 day", At("2026-03-08T14:00:00Z")),
            ("in 24 hours", At("2026-03-08T15:00:00Z")),
            ("12/24 6pm", At("2026-12-24T23:00:00Z")),
            ("24/12 18:00", At("2026-12-24T23:00:00Z")),
            ("5/4 10am", At("2026-05-04T14:00:00Z")),
            ("4/5 10am", At("2026-04-05T14:00:00Z")),
            ("12/11/2026 9am", At("2026-12-11T14:00:00Z")),
            ("9am PST", At("2026-03-07T17:00:00Z")),
            ("9am ET", At("2026-03-08T13:00:00Z")),
            ("noon", At("2026-03-07T17:00:00Z")),
            ("tonight at 8", At("2026-03-08T01:00:00Z")),
            ("monday 9am", At("2026-03-09T13:00:00Z")),
            (
                "weekdays at 8am",
                Every("v1 MO,TU,WE,TH,FR 08:00 America/New_York"),
            ),
            ("every friday at 5pm UTC", Every("v1 FR 17:00 UTC")),
            ("6pm CST", At("2026-03-08T00:00:00Z")),
            ("9am PT", At("2026-03-07T17:00:00Z")),
        ],
    },
    // Saturday 12:00 EDT, the day before New York falls back (2026-11-01 02:00 → 01:00).
    Scene {
        zone: America::New_York,
        now: "2026-10-31T16:00:00Z",
        rows: &[
            ("tomorrow 1:30am", At("2026-11-01T05:30:00Z")),
            ("tomorrow 1:30am EST", At("2026-11-01T06:30:00Z")),
            ("tomorrow 1:30am EDT", At("2026-11-01T05:30:00Z")),
            ("tomorrow 9am", At("2026-11-01T14:00:00Z")),
            ("in 1 day", At("2026-11-01T17:00:00Z")),
            ("in 24 hours", At("2026-11-01T16:00:00Z")),
            ("11/1 9am", At("2026-11-01T14:00:00Z")),
            ("sunday 9am", At("2026-11-01T14:00:00Z")),
        ],
    },
    // Monday 12:00 in Kolkata (UTC+05:30 all year).
    Scene {
        zone: Asia::Kolkata,
        now: "2026-06-15T06:30:00Z",
        rows: &[
            ("tomorrow 9am", At("2026-06-16T03:30:00Z")),
            ("9am", At("2026-06-16T03:30:00Z")),
            ("5pm", At("2026-06-15T11:30:00Z")),
            ("6pm IST", At("2026-06-15T12:30:00Z")),
            ("friday 5pm", At("2026-06-19T11:30:00Z")),
            ("in 90 minutes", At("2026-06-15T08:00:00Z")),
            ("24/12 18:00", At("2026-12-24T12:30:00Z")),
            ("12/24 6pm", At("2026-12-24T12:30:00Z")),
            ("05/06 10am", At("2027-06-05T04:30:00Z")),
            ("10:00 +05:30", At("2026-06-16T04:30:00Z")),
            (
                "every day at 18:00",
                Every("v1 MO,TU,WE,TH,FR,SA,SU 18:00 Asia/Kolkata"),
            ),
            ("monday 9am", At("2026-06-22T03:30:00Z")),
            ("next monday 9am", At("2026-06-22T03:30:00Z")),
            ("today 11am", Refused("InThePast")),
            ("today 12:00", Refused("InThePast")),
            ("today 12:01", At("2026-06-15T06:31:00Z")),
            ("midnight", At("2026-06-15T18:30:00Z")),
            ("9am Europe/London", At("2026-06-15T08:00:00Z")),
        ],
    },
    // Saturday 10:00 AEDT, the day before Sydney falls back (2026-04-05 03:00 → 02:00).
    Scene {
        zone: Australia::Sydney,
        now: "2026-04-03T23:00:00Z",
        rows: &[
            ("tomorrow 2:30am", At("2026-04-04T15:30:00Z")),
            ("tomorrow 9am", At("2026-04-04T23:00:00Z")),
            ("in 1 day", At("2026-04-05T00:00:00Z")),
            ("in 24 hours", At("2026-04-04T23:00:00Z")),
            ("in 3 days", At("2026-04-07T00:00:00Z")),
            ("tonight at 8", At("2026-04-04T09:00:00Z")),
            ("sunday 9am", At("2026-04-04T23:00:00Z")),
            ("every monday 9am", Every("v1 MO 09:00 Australia/Sydney")),
            ("24/12 18:00", At("2026-12-24T07:00:00Z")),
            ("9am AEST", At("2026-04-04T23:00:00Z")),
        ],
    },
    // Saturday 09:00 AEST, the day before Sydney springs forward (2026-10-04 02:00 → 03:00).
    Scene {
        zone: Australia::Sydney,
        now: "2026-10-02T23:00:00Z",
        rows: &[
            ("tomorrow 2:30am", Refused("NonexistentLocalTime")),
            ("tomorrow 9am", At("2026-10-03T22:00:00Z")),
            ("in 1 day", At("2026-10-03T22:00:00Z")),
            ("in 24 hours", At("2026-10-03T23:00:00Z")),
            ("tomorrow 1:59am", At("2026-10-03T15:59:00Z")),
            ("tomorrow 3am", At("2026-10-03T16:00:00Z")),
        ],
    },
    // Saturday noon UTC on the last day of January (month arithmetic clamps).
    Scene {
        zone: Tz::UTC,
        now: "2026-01-31T12:00:00Z",
        rows: &[
            ("in 1 month", At("2026-02-28T12:00:00Z")),
            ("in 2 months", At("2026-03-31T12:00:00Z")),
            ("in 1 year", At("2027-01-31T12:00:00Z")),
            ("in a week", At("2026-02-07T12:00:00Z")),
            ("in an hour", At("2026-01-31T13:00:00Z")),
            ("in 1h 30m", At("2026-01-31T13:30:00Z")),
            ("in 1h30m", At("2026-01-31T13:30:00Z")),
            ("in 2 hours and 30 minutes", At("2026-01-31T14:30:00Z")),
            ("in 1 day 2 hours", At("2026-02-01T14:00:00Z")),
            ("2 hours from now", At("2026-01-31T14:00:00Z")),
            ("in 0 minutes", At("2026-01-31T12:00:00Z")),
            ("jan 5 10am", At("2027-01-05T10:00:00Z")),
            ("jan 31 10am", At("2027-01-31T10:00:00Z")),
            ("jan 31 1pm", At("2026-01-31T13:00:00Z")),
            ("9 a.m.", At("2026-02-01T09:00:00Z")),
            ("6.30pm", At("2026-01-31T18:30:00Z")),
            ("21:30:15", At("2026-01-31T21:30:15Z")),
            ("tomorrow at 8", At("2026-02-01T08:00:00Z")),
            ("tomorrow at 20", At("2026-02-01T20:00:00Z")),
            ("at 13", At("2026-01-31T13:00:00Z")),
            ("12 noon", At("2026-02-01T12:00:00Z")),
            ("day after tomorrow 9am", At("2026-02-02T09:00:00Z")),
            ("the day after tomorrow at 9am", At("2026-02-02T09:00:00Z")),
            ("2026-12-24T18:00:00Z", At("2026-12-24T18:00:00Z")),
            ("2026-12-24T18:00:00.000Z", At("2026-12-24T18:00:00Z")),
            ("2026-12-24T18:00+01:00", At("2026-12-24T17:00:00Z")),
            ("2026-12-24 18:00 -05:00", At("2026-12-24T23:00:00Z")),
            ("2026/12/24 18:00", At("2026-12-24T18:00:00Z")),
            ("10:00 UTC+5", At("2026-02-01T05:00:00Z")),
            ("10:00 GMT-0330", At("2026-01-31T13:30:00Z")),
            ("24th of december at 6pm", At("2026-12-24T18:00:00Z")),
            ("the 24th of december at 6pm", At("2026-12-24T18:00:00Z")),
            ("december 24, 2026 6pm", At("2026-12-24T18:00:00Z")),
            ("24 december 2026 18:00", At("2026-12-24T18:00:00Z")),
            ("Monday 9am", At("2026-02-02T09:00:00Z")),
            ("tomorrow 9pm", At("2026-02-01T21:00:00Z")),
            ("in 2 weeks", At("2026-02-14T12:00:00Z")),
            ("9am japan", At("2026-02-01T00:00:00Z")),
            ("9am Asia/Tokyo", At("2026-02-01T00:00:00Z")),
            ("9AM ASIA/TOKYO", At("2026-02-01T00:00:00Z")),
            ("9am JST", At("2026-02-01T00:00:00Z")),
            ("mondays and thursdays at 9am", Every("v1 MO,TH 09:00 UTC")),
            (
                "every mon, wed and fri at 9am",
                Every("v1 MO,WE,FR 09:00 UTC"),
            ),
            ("every weekend at 10:00", Every("v1 SA,SU 10:00 UTC")),
            ("on weekdays @ 7:30", Every("v1 MO,TU,WE,TH,FR 07:30 UTC")),
            ("every tuesday at 10:00 +05:30", Every("v1 TU 10:00 +05:30")),
            ("every friday 5pm PST", Every("v1 FR 17:00 -08:00")),
            ("every 2 days at 9am", Refused("UnsupportedRepeat")),
            ("every other day at 9am", Refused("UnsupportedRepeat")),
            ("monthly", Refused("UnsupportedRepeat")),
            ("every funday 9am", Refused("Unparseable")),
            ("every monday tomorrow 9am", Refused("Unparseable")),
            ("in 1.5 hours", Refused("Unparseable")),
            ("24.12 18:00", Refused("Unparseable")),
            ("tomorrow 9am 🎉", Refused("Unparseable")),
            ("9am utc utc", Refused("Unparseable")),
            ("tomorrow friday 9am", Refused("Unparseable")),
            ("tomorrow 8", Refused("Vague")),
            ("next week", Refused("Vague")),
            ("in december", Refused("Unparseable")),
            ("9am Mars/Phobos", Refused("Unparseable")),
            ("at", Refused("Unparseable")),
            ("on the", Refused("Unparseable")),
            ("utc", Refused("Unparseable")),
            ("-3h", Refused("Unparseable")),
            ("in -3 days", Refused("Unparseable")),
            ("in 3 days ago", Refused("Unparseable")),
            ("in 2h UTC", Refused("Unparseable")),
            ("24/13 10am", Refused("ImpossibleDate")),
            ("0am", Refused("ImpossibleTime")),
            ("24:00", Refused("ImpossibleTime")),
            ("13pm", Refused("ImpossibleTime")),
            ("9:5", Refused("ImpossibleTime")),
            ("dec 24", Refused("Vague")),
            ("today UTC", Refused("Vague")),
            ("last week", Refused("InThePast")),
            ("2 hours ago", Refused("InThePast")),
            ("last friday at 5pm", Refused("InThePast")),
            ("at 9 tomorrow", At("2026-02-01T09:00:00Z")),
            ("2030", Refused("Vague")),
            ("2026", Refused("Vague")),
            ("2060", Refused("Unparseable")),
            ("2030 2030", Refused("Unparseable")),
            ("2030 at 9am", Refused("Unparseable")),
            ("tomorrow 2030", At("2026-02-01T20:30:00Z")),
            ("friday 2030", At("2026-02-06T20:30:00Z")),
            ("dec 24 2030 6pm", At("2030-12-24T18:00:00Z")),
            ("12.30", At("2026-01-31T12:30:00Z")),
            ("half past noon", At("2026-01-31T12:30:00Z")),
            ("quarter past midnight", At("2026-02-01T00:15:00Z")),
            ("every monday at 0930", Every("v1 MO 09:30 UTC")),
            ("this evening", Refused("Vague")),
            ("the 31st at 9am", At("2026-03-31T09:00:00Z")),
        ],
    },
];

#[test]
fn every_phrase_in_the_table_resolves_as_section_5_says() {
    let mut failures = Vec::new();
    for scene in SCENES {
        let now = utc(scene.now);
        for (phrase, want) in scene.rows {
            let got = describe(&parse(phrase, now, scene.zone));
            if got != wanted(want) {
                failures.push(format!(
                    "{:?} at {} in {}: got {got}, want {}",
                    phrase,
                    scene.now,
                    scene.zone,
                    wanted(want)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_covers_at_least_150_phrases_in_five_zones() {
    let rows: usize = SCENES.iter().map(|s| s.rows.len()).sum();
    assert!(rows >= 150, "only {rows} phrases");
    let mut zones: Vec<Tz> = SCENES.iter().map(|s| s.zone).collect();
    zones.sort_by_key(|z| z.name());
    zones.dedup();
    assert_eq!(zones.len(), 5);
}

#[test]
fn every_monday_9am_in_berlin_is_8_utc_before_the_spring_change_and_7_after() {
    let now = utc("2026-03-20T12:00:00Z");
    let Ok(When::Recurring(rule)) = parse("every monday 9am", now, Europe::Berlin) else {
        panic!("not a recurrence");
    };
    let first = rule.next_after(now).unwrap();
    let second = rule.next_after(first).unwrap();
    assert_eq!(first, utc("2026-03-23T08:00:00Z"));
    assert_eq!(second, utc("2026-03-30T07:00:00Z"));
}

#[test]
fn weekdays_at_8am_skip_the_weekend() {
    // Friday 2026-03-27 12:00 in Berlin.
    let now = utc("2026-03-27T11:00:00Z");
    let Ok(When::Recurring(rule)) = parse("weekdays at 8am", now, Europe::Berlin) else {
        panic!("not a recurrence");
    };
    let next = rule.next_after(now).unwrap();
    assert_eq!(next, utc("2026-03-30T06:00:00Z")); // Monday, CEST
}

#[test]
fn a_recurrence_keeps_the_zone_named_in_the_phrase() {
    let now = utc("2026-03-27T11:00:00Z");
    let Ok(When::Recurring(rule)) = parse("every friday at 5pm UTC", now, Europe::Berlin) else {
        panic!("not a recurrence");
    };
    assert_eq!(rule.next_after(now), Some(utc("2026-03-27T17:00:00Z")));
    assert_eq!(rule.to_string(), "every Friday at 17:00 (UTC)");
}

#[test]
fn parsed_recurrences_round_trip_through_storage_and_read_well() {
    let now = utc("2026-03-28T20:00:00Z");
    let table = [
        ("every monday 9am", "every Monday at 09:00 (Europe/Berlin)"),
        (
            "weekdays at 8am",
            "every weekday (Monday to Friday) at 08:00 (Europe/Berlin)",
        ),
        ("every day at 18:00", "every day at 18:00 (Europe/Berlin)"),
        ("daily 9am", "every day at 09:00 (Europe/Berlin)"),
        (
            "every mon and thu 10:00 +05:30",
            "every Monday and Thursday at 10:00 (UTC+05:30)",
        ),
    ];
    for (phrase, shown) in table {
        let Ok(When::Recurring(rule)) = parse(phrase, now, Europe::Berlin) else {
            panic!("{phrase} is not a recurrence");
        };
        assert_eq!(rule.to_string(), shown);
        assert_eq!(
            Recurrence::from_storage(&rule.to_storage()).as_ref(),
            Ok(&rule)
        );
    }
}

#[test]
fn refusals_name_the_word_that_could_not_be_read() {
    let now = utc("2026-03-28T20:00:00Z");
    let table = [
        ("next funday at 5pm", "funday"),
        ("in six glorps", "glorps"),
        ("tomorrow 9am 🎉", "🎉"),
        ("friday 5pm please", "please"),
    ];
    for (phrase, word) in table {
        assert_eq!(
            parse(phrase, now, Europe::Berlin),
            Err(TimeError::Unparseable { near: word.into() }),
            "{phrase}"
        );
    }
}

#[test]
fn every_refusal_is_one_sentence_with_examples_that_work() {
    let now = utc("2026-01-31T12:00:00Z");
    let errors = [
        TimeError::Empty,
        TimeError::Unparseable {
            near: "glorps".into(),
        },
        TimeError::InThePast,
        TimeError::ImpossibleDate {
            date: "February 30".into(),
        },
        TimeError::ImpossibleTime {
            time: "26:00".into(),
        },
        TimeError::NonexistentLocalTime {
            local: "02:30 on 2026-03-29".into(),
            zone: "Europe/Berlin".into(),
            suggestion: "03:30".into(),
        },
        TimeError::NeedsTimeOfDay,
        TimeError::TooFarAhead,
        TimeError::AmbiguousZone {
            abbreviation: "IST".into(),
            example: "Asia/Kolkata".into(),
        },
        TimeError::UnsupportedRepeat,
        TimeError::WeekdayMismatch {
            date: "December 25, 2026".into(),
            said: "Monday".into(),
            actual: "Friday".into(),
        },
        TimeError::Vague {
            said: "tomorrow morning".into(),
            suggestions: vec![
                "tomorrow 08:00".into(),
                "tomorrow 09:00".into(),
                "tomorrow 10:00".into(),
            ],
        },
    ];
    for err in errors {
        let text = err.to_string();
        assert!(!text.contains('\n') && !text.contains(". "), "{text}");
        // Every quoted example that is a phrase must itself parse (in the future, in UTC).
        let examples: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
        assert!(!examples.is_empty(), "no example in: {text}");
        for example in examples {
            let quoted_input = [
                "glorps",
                "26:00",
                "IST",
                "Asia/Kolkata",
                "+05:30",
                "tomorrow morning",
            ];
            if quoted_input.contains(&example) {
                continue;
            }
            assert!(
                parse(example, now, Tz::UTC).is_ok(),
                "example `{example}` in {text:?} does not parse"
            );
        }
    }
}

#[test]
fn a_dst_gap_refusal_says_what_the_clocks_show_instead() {
    let now = utc("2026-03-28T20:00:00Z");
    assert_eq!(
        parse("tomorrow 2:30", now, Europe::Berlin),
        Err(TimeError::NonexistentLocalTime {
            local: "02:30 on 2026-03-29".into(),
            zone: "Europe/Berlin".into(),
            suggestion: "03:30".into(),
        })
    );
}

#[test]
fn nothing_panics_on_garbage_unicode_or_huge_numbers() {
    let now = utc("2026-03-28T20:00:00Z");
    let long = "9".repeat(10_000);
    let many_words = "tomorrow ".repeat(500);
    let garbage: Vec<&str> = vec![
        "",
        " ",
        "\0",
        "\u{7f}",
        "\t\n\r",
        "🎉🎉🎉",
        "明天早上九点",
        "zítra v 9",
        "ｔｏｍｏｒｒｏｗ ９ａｍ",
        "tomorrow\u{200b}9am",
        "in 99999999999 days",
        "in 18446744073709551615 seconds",
        "in 18446744073709551616 seconds",
        "in 9223372036854775807 seconds",
        "in 2147483648 hours",
        "in 596524 hours",
        "in 99999 years",
        "in 99999999 months",
        "9999-12-31 23:59",
        "0000-01-01 00:00",
        "99999-01-01 10:00",
        "2026-99-99 99:99",
        "2026--12",
        "2026-12-",
        "-",
        "+",
        "+99:99",
        "10:00 +14:01",
        "10:00 -9999",
        "@",
        "@@@@",
        ":",
        "::::",
        "9:",
        "9::",
        "9:00:",
        "9:00:00.",
        "/",
        "//",
        "24/",
        "24/12/",
        "24/12/123",
        "24.12.",
        "...",
        "a.m.",
        "p.m",
        "12 a.m.",
        "at at at",
        "every",
        "every every monday",
        "every monday every monday",
        "mondays mondays",
        "in",
        "in in 2h",
        "in a",
        "and",
        "in 2 hours and",
        "day after",
        "the day after tomorrow",
        "next",
        "last",
        "this",
        "tonight at 0",
        "tonight at 12",
        "tonight at 99",
        "12345678901234567890:00",
        "9am 999999999999",
        "dec 99999999999999999999",
        "99999999999999999999 dec",
        "99999999999999999999th of december",
        "Europe/",
        "/Berlin",
        "a/b/c/d",
        "utc+",
        "utc+99",
        "gmt-",
        "Z Z",
        "T",
        "2026-12-24T",
        "2026-12-24T25:00",
        "friday dec 25",
        "december 32 10am",
        "feb 29 10am UTC",
        "every monday 9am Europe/Berlin +05:30",
        &long,
        &many_words,
    ];
    for zone in [
        Europe::Berlin,
        America::New_York,
        Asia::Kolkata,
        Australia::Sydney,
        Tz::UTC,
    ] {
        for now in [now, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for phrase in &garbage {
                let _ = parse(phrase, now, zone);
            }
        }
    }
}

/// A small exhaustive search: every sequence of up to three words from a vocabulary that
/// covers each grammar branch. Nothing may panic, and no accepted one-off phrase may lie in
/// the past (refusing beats guessing, but accepting the past is a bug).
#[test]
fn no_combination_of_up_to_three_words_panics_or_lands_in_the_past() {
    const WORDS: &[&str] = &[
        "now",
        "in",
        "at",
        "@",
        "on",
        "the",
        "today",
        "tonight",
        "tomorrow",
        "yesterday",
        "day",
        "after",
        "next",
        "last",
        "this",
        "every",
        "daily",
        "weekdays",
        "mondays",
        "friday",
        "dec",
        "24",
        "24th",
        "of",
        "2026",
        "2026-12-24",
        "2026-03-29",
        "24/12",
        "12/24",
        "0",
        "2",
        "8",
        "12",
        "13",
        "99",
        "9am",
        "12am",
        "12pm",
        "2:30",
        "02:30",
        "21:30",
        "26:00",
        "noon",
        "midnight",
        "h",
        "hours",
        "days",
        "months",
        "ago",
        "from",
        "and",
        "a",
        "utc",
        "pst",
        "et",
        "ist",
        "z",
        "+05:30",
        "-",
        "europe/berlin",
        "T",
        ".",
        "0930",
        "half",
        "past",
        "morning",
    ];
    let scenes = [
        (Europe::Berlin, "2026-03-28T20:00:00Z"),
        (Europe::Berlin, "2026-10-24T23:30:00Z"),
        (America::New_York, "2026-03-08T06:30:00Z"),
        (Australia::Sydney, "2026-04-04T15:00:00Z"),
    ];
    let mut accepted = 0;
    for (zone, now) in scenes {
        let now = utc(now);
        for a in WORDS {
            for b in WORDS {
                for c in WORDS {
                    let phrase = format!("{a} {b} {c}");
                    if let Ok(When::Once(at)) = parse(&phrase, now, zone) {
                        accepted += 1;
                        assert!(at >= now, "{phrase:?} at {now} in {zone} gave past {at}");
                    }
                }
            }
        }
    }
    assert!(accepted > 1000, "only {accepted} phrases accepted");
}

#[test]
fn sub_second_now_is_kept_for_exact_offsets_and_dropped_for_clock_times() {
    let now = utc("2026-01-31T12:00:00.250Z");
    assert_eq!(
        parse("in 2h", now, Tz::UTC),
        Ok(When::Once(utc("2026-01-31T14:00:00.250Z")))
    );
    assert_eq!(
        parse("5pm", now, Tz::UTC),
        Ok(When::Once(utc("2026-01-31T17:00:00Z")))
    );
}

/// The suggestions a vague phrase gets, said at `now` in `zone`, or its refusal.
fn suggested(phrase: &str, now: &str, zone: Tz) -> Result<Vec<String>, TimeError> {
    match parse(phrase, utc(now), zone) {
        Err(TimeError::Vague { suggestions, .. }) => Ok(suggestions),
        Err(other) => Err(other),
        Ok(when) => panic!("{phrase} was taken as {when:?}"),
    }
}

#[test]
fn vague_phrases_get_exact_suggestions_that_parse_to_future_instants() {
    // Saturday 2026-01-31 12:00 UTC.
    let now = "2026-01-31T12:00:00Z";
    let table: &[(&str, &[&str])] = &[
        (
            "tomorrow",
            &["tomorrow 09:00", "tomorrow 12:00", "tomorrow 17:00"],
        ),
        (
            "tomorrow morning",
            &["tomorrow 08:00", "tomorrow 09:00", "tomorrow 10:00"],
        ),
        (
            "Tomorrow  Night",
            &["tomorrow 20:00", "tomorrow 21:00", "tomorrow 22:00"],
        ),
        (
            "this afternoon",
            &["today 13:00", "today 15:00", "today 17:00"],
        ),
        (
            "this evening",
            &["today 18:00", "today 19:00", "today 20:00"],
        ),
        ("tonight", &["today 20:00", "today 21:00", "today 22:00"]),
        ("tonight 9", &["today 21:00"]),
        ("next week", &["next monday 09:00", "next monday 12:00"]),
        ("monday 9", &["monday 09:00", "monday 21:00"]),
        ("monday 12", &["monday 00:00", "monday 12:00"]),
        ("monday 15", &["monday 15:00"]),
        (
            "friday morning",
            &["friday 08:00", "friday 09:00", "friday 10:00"],
        ),
        ("friday evening at 8", &["friday 20:00"]),
        ("tomorrow morning at 9", &["tomorrow 09:00"]),
        (
            "dec 24",
            &[
                "december 24 09:00",
                "december 24 12:00",
                "december 24 17:00",
            ],
        ),
        (
            "friday dec 25",
            &[
                "friday december 25 09:00",
                "friday december 25 12:00",
                "friday december 25 17:00",
            ],
        ),
        (
            "the 3rd",
            &["the 3rd 09:00", "the 3rd 12:00", "the 3rd 17:00"],
        ),
        ("today", &["today 17:00"]),
        ("2030", &["20:30"]),
        ("2030 utc", &["20:30 utc"]),
        (
            "tomorrow utc+5",
            &[
                "tomorrow 09:00 utc+5",
                "tomorrow 12:00 utc+5",
                "tomorrow 17:00 utc+5",
            ],
        ),
    ];
    for (phrase, want) in table {
        let got = suggested(phrase, now, Tz::UTC);
        let want_owned: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, Ok(want_owned), "{phrase}");
        for suggestion in *want {
            match parse(suggestion, utc(now), Tz::UTC) {
                Ok(When::Once(at)) => assert!(at > utc(now), "{suggestion}"),
                other => panic!("{suggestion} from {phrase}: {other:?}"),
            }
        }
    }
    let message = parse("tomorrow morning", utc(now), Tz::UTC)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "`tomorrow morning` could be more than one time; pick one, such as `tomorrow 08:00`, `tomorrow 09:00` or `tomorrow 10:00`"
    );
}

#[test]
fn suggestions_skip_what_has_passed_or_the_clocks_skip_and_wrong_stays_wrong() {
    // Saturday 21:00 in Berlin, the evening before the spring change at 02:00.
    let berlin = "2026-03-28T20:00:00Z";
    assert_eq!(
        suggested("tonight", berlin, Europe::Berlin).as_deref(),
        Ok(&["today 22:00".to_owned()][..])
    );
    assert_eq!(
        suggested("tomorrow 2", berlin, Europe::Berlin).as_deref(),
        Ok(&["tomorrow 14:00".to_owned()][..]),
        "02:00 does not exist that night"
    );
    assert_eq!(
        suggested("this evening", berlin, Europe::Berlin),
        Err(TimeError::InThePast)
    );
    // A suggestion is checked like any phrase: a wrong weekday stays a refusal.
    assert!(matches!(
        suggested("monday dec 25", berlin, Europe::Berlin),
        Err(TimeError::WeekdayMismatch { .. })
    ));
    assert_eq!(
        suggested("yesterday morning", berlin, Europe::Berlin),
        Err(TimeError::InThePast)
    );
    assert_eq!(
        suggested("2025-12-24", berlin, Europe::Berlin),
        Err(TimeError::InThePast)
    );
    // Sunday morning in New York on the fall-back day: suggestions are in the author's zone.
    let new_york = "2026-11-01T05:30:00Z";
    let got = suggested("today", new_york, America::New_York).unwrap();
    assert_eq!(got, ["today 09:00", "today 12:00", "today 17:00"]);
    assert_eq!(
        parse(&got[0], utc(new_york), America::New_York),
        Ok(When::Once(utc("2026-11-01T14:00:00Z")))
    );
}
