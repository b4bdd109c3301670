//! Per-user command rate limiting (SPEC §8): a token bucket per person, so that a flood from
//! one user is refused quickly while everyone else is served as usual.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::UserId;

/// How many commands a person may send in a burst, and how fast the allowance refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    /// Commands that may arrive at once.
    pub burst: u32,
    /// Commands regained per second.
    pub per_second: f64,
}

impl Default for Allowance {
    /// 10 at once, then one every 2 seconds: generous for people, tight for scripts.
    fn default() -> Self {
        Self {
            burst: 10,
            per_second: 0.5,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets for every person who sent a command recently.
#[derive(Debug)]
pub struct Throttle {
    allowance: Allowance,
    buckets: Mutex<HashMap<UserId, Bucket>>,
}

impl Throttle {
    /// A throttle granting `allowance` to each person.
    pub fn new(allowance: Allowance) -> Self {
        Self {
            allowance,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one command from `user`'s allowance at `now`: `Ok` if it may run, else how long
    /// until it would.
    pub fn admit(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        // A poisoned map only means a thread panicked mid-update; buckets are still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let burst = f64::from(self.allowance.burst);
        let rate = self.allowance.per_second;
        // Forget people whose allowance has refilled, so the map does not grow forever.
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(user).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - bucket.tokens) / rate.max(f64::MIN_POSITIVE),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_from_one_user_is_refused_while_others_are_served() {
        let throttle = Throttle::new(Allowance {
            burst: 3,
            per_second: 1.0,
        });
        let now = Instant::now();
        let (flooder, other) = (UserId(1), UserId(2));
        for _ in 0..3 {
            assert!(throttle.admit(flooder, now).is_ok());
        }
        let wait = throttle.admit(flooder, now).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(throttle.admit(other, now).is_ok(), "others are not slowed");
        assert!(
            throttle
                .admit(flooder, now + Duration::from_millis(1_100))
                .is_ok()
        );
        assert!(
            throttle
                .admit(flooder, now + Duration::from_millis(1_100))
                .is_err()
        );
    }
}
