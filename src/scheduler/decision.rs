//! What happens to a target after one publish call, decided from the answer alone: pure (no
//! store, clock or network), so that every row of the retry rules is a unit test. Retries
//! only when nothing can have been created; a lost answer is reconciled, never resent blindly.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SchedulerConfig;
use crate::platforms::{DEFAULT_RATE_LIMIT_WAIT, Lookup, PublishError, Published};

/// What the platform answered to a publish call, or to the token refresh a refused token led
/// to: as much as the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The post is live, with the platform's id.
    Published(Published),
    /// Throttled: sending may resume at the reset, if the platform said when.
    RateLimited {
        /// When the window reopens.
        reset_at: Option<DateTime<Utc>>,
    },
    /// The platform failed or could not be reached before anything was created.
    NothingCreated {
        /// The error and its causes, for the author and the log.
        reason: String,
    },
    /// The platform refused the post itself (content, duplicate, media, permission).
    Rejected {
        /// The platform's words.
        reason: String,
    },
    /// The platform refused our token.
    Unauthorized,
    /// The request left but no usable answer came back: the post may exist.
    Ambiguous,
    /// After a refused token: the refresh failed for now (the grant may still be good).
    RefreshPostponed,
    /// After a refused token: the platform refused the refresh for good.
    GrantRevoked,
}

/// Where the target stands when the answer comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// Attempts made so far, this one included.
    pub(crate) number: u32,
    /// Whether the token was already refreshed during this attempt.
    pub(crate) refreshed: bool,
    /// The platform's name, for the reason a retry shows in `/queue`.
    pub(crate) platform: &'static str,
}

/// What to do next with the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The attempt ends here, as the verdict says.
    End(Verdict),
    /// Refresh the token, then publish again within the same attempt (once).
    RefreshToken,
    /// Look for the post among the account's recent ones before anything else.
    Reconcile,
}

/// How an attempt ends: each is one store write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Record the post as live: its id is saved at once.
    Published(Published),
    /// Queue it again for `at`: nothing was created.
    Retry {
        /// When to send again.
        at: DateTime<Utc>,
        /// Why, kept as the target's last error.
        reason: String,
    },
    /// Give up with this reason, shown to the author.
    Failed(String),
    /// Give up: the platform no longer accepts the account's grant; the owner must reconnect.
    Reconnect,
    /// Record that the outcome cannot be learned; the author is told.
    Unknown(String),
}

/// The reason recorded when reconciliation cannot tell whether a post went out.
const CANNOT_CHECK: &str =
    "the platform did not answer and autopost cannot check whether the post went out";

/// The decision after a publish call. `jitter` is any random value: it spreads retries of many
/// targets (up to half the backoff on top of it).
pub(crate) fn decide(
    answer: Answer,
    attempt: Attempt,
    config: &SchedulerConfig,
    now: DateTime<Utc>,
    jitter: u32,
) -> Decision {
    let retry_or_fail = |reason: &str, at: Option<DateTime<Utc>>| {
        if attempt.number >= config.max_attempts {
            return Decision::End(Verdict::Failed(format!(
                "gave up after {} attempts: {reason}",
                attempt.number
            )));
        }
        Decision::End(Verdict::Retry {
            at: at.unwrap_or_else(|| now + backoff(config, attempt.number, jitter)),
            reason: reason.to_owned(),
        })
    };
    match answer {
        Answer::Published(published) => Decision::End(Verdict::Published(published)),
        // Refresh once; a token refused again right after a refresh will not get better.
        Answer::Unauthorized if !attempt.refreshed => Decision::RefreshToken,
        Answer::Unauthorized | Answer::GrantRevoked => Decision::End(Verdict::Reconnect),
        Answer::RefreshPostponed => retry_or_fail("the token could not be refreshed yet", None),
        Answer::RateLimited { reset_at } => {
            // The platform's reset wins over our backoff.
            let at = reset_at.unwrap_or_else(|| {
                now + chrono::Duration::from_std(DEFAULT_RATE_LIMIT_WAIT).unwrap_or_default()
            });
            let reason = format!("{} asked autopost to slow down", attempt.platform);
            retry_or_fail(&reason, Some(at))
        }
        Answer::NothingCreated { reason } => retry_or_fail(&reason, None),
        Answer::Rejected { reason } => Decision::End(Verdict::Failed(reason)),
        Answer::Ambiguous => Decision::Reconcile,
    }
}

/// How reconciling a post whose answer was lost ends, from the account's recent posts:
/// found → published; confirmed absent → sent once more (if `may_resend`), now; no way to
/// tell, or the check failed → unknown.
pub(crate) fn after_lookup(
    lookup: Result<Lookup, PublishError>,
    may_resend: bool,
    now: DateTime<Utc>,
) -> Verdict {
    match lookup {
        Ok(Lookup::Found(published)) => Verdict::Published(published),
        Ok(Lookup::Absent) if may_resend => Verdict::Retry {
            at: now,
            reason: "the earlier attempt did not arrive".to_owned(),
        },
        Ok(Lookup::Absent | Lookup::CannotCheck) | Err(_) => {
            Verdict::Unknown(CANNOT_CHECK.to_owned())
        }
    }
}

/// How long to wait before attempt `attempts + 1`: the base doubled per attempt made, capped,
/// plus up to half of that again from `jitter`.
fn backoff(config: &SchedulerConfig, attempts: u32, jitter: u32) -> chrono::Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let base = config
        .base_backoff
        .saturating_mul(1 << exponent)
        .min(config.max_backoff);
    let jitter_ms = u64::from(jitter) % (u64::try_from(base.as_millis() / 2).unwrap_or(0) + 1);
    chrono::Duration::from_std(base + Duration::from_millis(jitter_ms)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Published {
        Published {
            remote_id: "1790".to_owned(),
            url: None,
        }
    }

    fn first(number: u32) -> Attempt {
        Attempt {
            number,
            refreshed: false,
            platform: "X",
        }
    }

    fn after_refresh(number: u32) -> Attempt {
        Attempt {
            number,
            refreshed: true,
            platform: "X",
        }
    }

    fn retry(at: DateTime<Utc>, reason: &str) -> Verdict {
        Verdict::Retry {
            at,
            reason: reason.to_owned(),
        }
    }

    fn end(verdict: Verdict) -> Decision {
        Decision::End(verdict)
    }

    fn fail(reason: impl Into<String>) -> Decision {
        Decision::End(Verdict::Failed(reason.into()))
    }

    fn seconds(s: i64) -> chrono::Duration {
        chrono::Duration::seconds(s)
    }

    #[test]
    fn every_answer_leads_to_exactly_the_next_step_the_rules_name() {
        // Defaults: at most 5 attempts, backoff 2 s doubling per attempt, capped at 15 minutes.
        let config = SchedulerConfig::default();
        let now = Utc::now();
        let reset = now + seconds(900);
        let live = || Answer::Published(published());
        let limited = |reset_at| Answer::RateLimited { reset_at };
        let blip = "X was unavailable (HTTP 503: busy)";
        let nothing = || Answer::NothingCreated {
            reason: blip.to_owned(),
        };
        let refused = "the platform rejected the post: duplicate content";
        let rejected = || Answer::Rejected {
            reason: refused.to_owned(),
        };
        let throttled = "X asked autopost to slow down";
        let postponed = "the token could not be refreshed yet";
        let ms = chrono::Duration::milliseconds;
        // One row a line, so that the table reads as the rules do.
        #[rustfmt::skip]
        let rows: Vec<(&str, Answer, Attempt, u32, Decision)> = vec![
            // Published: the id is saved at once, whatever the attempt.
            ("published", live(), first(1), 0, end(Verdict::Published(published()))),
            ("published on the last attempt", live(), first(5), 0, end(Verdict::Published(published()))),
            ("published after a refresh", live(), after_refresh(2), 0, end(Verdict::Published(published()))),
            // 429: the platform's reset is honoured, else a minute; no backoff or jitter on top.
            ("rate limited until T", limited(Some(reset)), first(1), 999, end(retry(reset, throttled))),
            ("rate limited, no reset given", limited(None), first(2), 999, end(retry(now + seconds(60), throttled))),
            ("rate limited on the 4th attempt", limited(Some(reset)), first(4), 0, end(retry(reset, throttled))),
            ("rate limited on the 5th attempt", limited(Some(reset)), first(5), 0, fail(format!("gave up after 5 attempts: {throttled}"))),
            // 5xx or unreachable: nothing was created, so retry with backoff and jitter.
            ("server error, 1st attempt", nothing(), first(1), 0, end(retry(now + seconds(2), blip))),
            ("server error, 2nd attempt", nothing(), first(2), 0, end(retry(now + seconds(4), blip))),
            ("server error, 3rd attempt, jitter", nothing(), first(3), 1_001, end(retry(now + ms(9_001), blip))),
            // 2 s backoff: the jitter wraps at half of it (1 001 ms % 1 001 = 0).
            ("jitter is at most half the backoff", nothing(), first(1), 1_001, end(retry(now + seconds(2), blip))),
            ("server error, 4th attempt", nothing(), first(4), 0, end(retry(now + seconds(16), blip))),
            ("server error, 5th attempt", nothing(), first(5), 0, fail(format!("gave up after 5 attempts: {blip}"))),
            ("server error past the limit", nothing(), first(7), 0, fail(format!("gave up after 7 attempts: {blip}"))),
            // A definite refusal fails at once with the platform's words, never retried.
            ("rejected, 1st attempt", rejected(), first(1), 0, fail(refused)),
            ("rejected, 5th attempt", rejected(), first(5), 0, fail(refused)),
            // A refused token: refresh once, then ask for reconnection.
            ("unauthorized", Answer::Unauthorized, first(1), 0, Decision::RefreshToken),
            ("unauthorized on the 5th attempt", Answer::Unauthorized, first(5), 0, Decision::RefreshToken),
            ("unauthorized again after a refresh", Answer::Unauthorized, after_refresh(1), 0, end(Verdict::Reconnect)),
            ("refresh refused for good", Answer::GrantRevoked, after_refresh(1), 0, end(Verdict::Reconnect)),
            ("refresh failed for now", Answer::RefreshPostponed, after_refresh(1), 0, end(retry(now + seconds(2), postponed))),
            ("refresh failed for now, 5th attempt", Answer::RefreshPostponed, after_refresh(5), 0, fail(format!("gave up after 5 attempts: {postponed}"))),
            // A lost answer may hide a live post: reconcile, never resend blindly.
            ("ambiguous", Answer::Ambiguous, first(1), 0, Decision::Reconcile),
            ("ambiguous on the 5th attempt", Answer::Ambiguous, first(5), 0, Decision::Reconcile),
            ("ambiguous after a refresh", Answer::Ambiguous, after_refresh(3), 0, Decision::Reconcile),
        ];
        for (row, answer, attempt, jitter, expected) in rows {
            assert_eq!(
                decide(answer, attempt, &config, now, jitter),
                expected,
                "{row}"
            );
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap_and_jitter_adds_at_most_half() {
        let config = SchedulerConfig::default();
        let rows: &[(u32, u32, i64)] = &[
            (0, 0, 2_000),
            (1, 0, 2_000),
            (1, 1_000, 3_000),
            (1, 1_001, 2_000),
            (2, 0, 4_000),
            (6, 0, 64_000),
            (10, 0, 900_000),
            (10, 450_000, 1_350_000),
            (10, 450_001, 900_000),
            (u32::MAX, 0, 900_000),
        ];
        for &(attempts, jitter, millis) in rows {
            assert_eq!(
                backoff(&config, attempts, jitter),
                chrono::Duration::milliseconds(millis),
                "attempts {attempts}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn a_lost_answer_is_resolved_only_by_what_the_account_shows() {
        let now = Utc::now();
        let cannot = Verdict::Unknown(CANNOT_CHECK.to_owned());
        let found = || Ok(Lookup::Found(published()));
        let failed = PublishError::ServerError {
            status: 500,
            message: String::new(),
        };
        #[rustfmt::skip]
        let rows: Vec<(&str, Result<Lookup, PublishError>, bool, Verdict)> = vec![
            ("found", found(), true, Verdict::Published(published())),
            ("found, no resend allowed", found(), false, Verdict::Published(published())),
            ("confirmed absent", Ok(Lookup::Absent), true, retry(now, "the earlier attempt did not arrive")),
            ("absent, no resend allowed", Ok(Lookup::Absent), false, cannot.clone()),
            ("no way to check", Ok(Lookup::CannotCheck), true, cannot.clone()),
            ("the check failed", Err(failed), true, cannot.clone()),
        ];
        for (row, lookup, may_resend, expected) in rows {
            assert_eq!(after_lookup(lookup, may_resend, now), expected, "{row}");
        }
    }
}
