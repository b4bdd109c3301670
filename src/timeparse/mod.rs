//! English time phrases into UTC instants or recurrence rules. Pure: no clock, no I/O.
//! (Being written by the timeparse helper; this placeholder keeps the crate building.)

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::schedule::Recurrence;

/// What a phrase means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Once(DateTime<Utc>),
    Recurring(Recurrence),
}

/// Why a phrase was refused.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    #[error("not parsed yet")]
    Unparseable,
}

/// Parses `phrase` as said at `now` by someone in `zone`.
pub fn parse(_phrase: &str, _now: DateTime<Utc>, _zone: Tz) -> Result<When, TimeError> {
    Err(TimeError::Unparseable)
}
