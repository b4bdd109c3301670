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
    /// 60 at once, then 30 a minute (`AUTOPOST_COMMAND_BURST`, `AUTOPOST_COMMAND_RATE`).
    ///
    /// Sized from how commands arrive (see the tests below and the Telegram front end's
    /// burst test): a person who forwards or pastes a batch of posts sends them within a
    /// second or two, 30 to 50 in a row, and then stops; someone typing posts one by one sends
    /// at most a few a minute. A script sends hundreds a second and does not stop. A bucket of
    /// 60 takes a whole batch with room for the `/queue` that follows; refilling at one every
    /// 2 s lets a second batch through a minute or two later and keeps a script to a trickle.
    fn default() -> Self {
        Self {
            burst: 60,
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

    /// How many of `arrivals` (offsets from the first) one person's bucket admits.
    fn admitted(allowance: Allowance, arrivals: impl IntoIterator<Item = Duration>) -> usize {
        let throttle = Throttle::new(allowance);
        let start = Instant::now();
        arrivals
            .into_iter()
            .filter(|&at| throttle.admit(UserId(1), start + at).is_ok())
            .count()
    }

    /// Evenly spaced arrivals: `count` messages over `span`.
    fn spread(count: u32, span: Duration) -> Vec<Duration> {
        (0..count).map(|i| span * i / count.max(1)).collect()
    }

    #[test]
    fn the_default_takes_a_pasted_or_forwarded_batch_and_stops_a_script() {
        let allowance = Allowance::default();
        // Forwarding a selection of 50 messages: Telegram delivers them in one or two seconds
        // (the Telegram front end's burst test hands the bot 30 at once, the worst case).
        assert_eq!(admitted(allowance, spread(50, Duration::from_secs(2))), 50);
        // Pasting 30 posts one after another, a few seconds apart, then a second batch of 30
        // a minute later.
        let pasted = spread(30, Duration::from_secs(15)).into_iter().chain(
            spread(30, Duration::from_secs(15))
                .into_iter()
                .map(|at| at + Duration::from_secs(75)),
        );
        assert_eq!(admitted(allowance, pasted), 60);
        // Someone typing a post every 5 seconds for an hour is never held back.
        assert_eq!(
            admitted(allowance, spread(720, Duration::from_secs(3_600))),
            720
        );
        // A script at 300 a second for a minute: the burst, then one every 2 seconds.
        let script = admitted(allowance, spread(18_000, Duration::from_secs(60)));
        assert!((60..=91).contains(&script), "{script}");
    }

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
