//! Pure scheduling types: recurrence rules and their occurrences. No I/O.
//! (Being written by the timeparse helper; this placeholder keeps the crate building.)

/// A rule for a post that repeats until cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence;
