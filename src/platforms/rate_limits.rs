//! The rate-limit state each platform client last heard, per account: what lets the
//! scheduler hold a publish back instead of sending into a certain 429. Memory only; a
//! restart forgets it and the platform's next answer teaches it again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{PublishError, RateLimit};

/// The last [`RateLimit`] reported for each account (X user id, Page id, Instagram user id).
#[derive(Debug, Default)]
pub(crate) struct RateLimits(Mutex<HashMap<String, RateLimit>>);

impl RateLimits {
    /// Remembers what the platform reported for `account`. A report that says nothing (no
    /// usable header) keeps what was known.
    pub(crate) fn record(&self, account: &str, limit: RateLimit) {
        if limit == RateLimit::default() {
            return;
        }
        // A poisoned map only means a thread panicked mid-insert; the map is still usable.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account.to_owned(), limit);
    }

    /// Records a throttled answer, whichever call it came from: it gates the next publish on
    /// this account whatever the headers said.
    pub(crate) fn note_throttle<T>(&self, account: &str, result: &Result<T, PublishError>) {
        if let Err(PublishError::RateLimited { reset_at }) = result {
            self.record(
                account,
                RateLimit {
                    remaining: Some(0),
                    reset_at: *reset_at,
                },
            );
        }
    }

    /// What was last reported for `account`, if anything.
    pub(crate) fn get(&self, account: &str) -> Option<RateLimit> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_closes_the_window_and_an_empty_report_keeps_it() {
        let limits = RateLimits::default();
        assert_eq!(limits.get("1"), None);
        limits.note_throttle::<()>("1", &Err(PublishError::RateLimited { reset_at: None }));
        let closed = RateLimit {
            remaining: Some(0),
            reset_at: None,
        };
        assert_eq!(limits.get("1"), Some(closed));
        limits.record("1", RateLimit::default());
        assert_eq!(limits.get("1"), Some(closed));
        limits.note_throttle::<()>("1", &Ok(()));
        assert_eq!(limits.get("1"), Some(closed));
        assert_eq!(limits.get("2"), None);
    }
}
