//! Discord's REST rate limits as the simulated Discord applies them: a bucket per route and major
//! parameter, the `X-RateLimit-*` headers on every bot route, 429 bodies, and the failures a test
//! injects. <https://discord.com/developers/docs/topics/rate-limits>

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::wire::hex;

/// How many requests a bucket takes per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per window (`X-RateLimit-Limit`).
    pub limit: u32,
    /// How long until a bucket refills.
    pub window: Duration,
}

impl Default for RateLimit {
    /// 50 requests per second per bucket: Discord's global limit, so that only a test that lowers
    /// it meets a 429 from a bucket.
    fn default() -> Self {
        Self {
            limit: 50,
            window: Duration::from_secs(1),
        }
    }
}

/// A failure to answer the next request of a route with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `retry_after` (seconds, with decimals) in the body and `Retry-After`; with
    /// `global`, `X-RateLimit-Global: true` and scope `global`. Nothing is done.
    RateLimited {
        /// How long the client must wait, in milliseconds.
        retry_after_ms: u64,
        /// Whether the whole bot is limited rather than one bucket.
        global: bool,
    },
    /// 500 `{"message": "500: Internal Server Error", "code": 0}`; nothing is done.
    ServerError,
    /// The request is carried out, then answered only after this delay.
    Slow(Duration),
}

/// The `X-RateLimit-*` values of one answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quota {
    limit: u32,
    remaining: u32,
    reset_after: Duration,
    bucket: String,
}

impl Quota {
    /// Adds the bucket's headers to `headers`.
    pub(crate) fn write(&self, headers: &mut HeaderMap) {
        let reset_at = SystemTime::now() + self.reset_after;
        let reset = reset_at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let pairs = [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", format!("{reset:.3}")),
            (
                "x-ratelimit-reset-after",
                format!("{:.3}", self.reset_after.as_secs_f64()),
            ),
            ("x-ratelimit-bucket", self.bucket.clone()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

struct Bucket {
    used: u32,
    resets_at: Instant,
}

/// Every bucket seen, keyed by route template and major parameter.
#[derive(Default)]
pub(crate) struct Buckets {
    buckets: HashMap<(&'static str, String), Bucket>,
}

/// Discord's opaque bucket id: the same for every major parameter of one route.
fn bucket_hash(template: &str) -> String {
    let digest = Sha256::digest(template.as_bytes());
    hex(&digest[..16])
}

impl Buckets {
    /// Takes one request from the bucket of `template` and `major`: `Ok` with the quota left, or
    /// `Err` with the quota and how long until the bucket refills.
    pub(crate) fn take(
        &mut self,
        template: &'static str,
        major: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<Quota, (Quota, Duration)> {
        let bucket = self
            .buckets
            .entry((template, major.to_owned()))
            .or_insert(Bucket {
                used: 0,
                resets_at: now + limit.window,
            });
        if now >= bucket.resets_at {
            bucket.used = 0;
            bucket.resets_at = now + limit.window;
        }
        let reset_after = bucket.resets_at.saturating_duration_since(now);
        let quota = |remaining| Quota {
            limit: limit.limit,
            remaining,
            reset_after,
            bucket: bucket_hash(template),
        };
        if bucket.used >= limit.limit {
            return Err((quota(0), reset_after));
        }
        bucket.used += 1;
        Ok(quota(limit.limit - bucket.used))
    }

    /// The quota a forced 429 reports: the bucket emptied until `retry_after`.
    pub(crate) fn forced(template: &'static str, limit: RateLimit, retry_after: Duration) -> Quota {
        Quota {
            limit: limit.limit,
            remaining: 0,
            reset_after: retry_after,
            bucket: bucket_hash(template),
        }
    }
}

/// Discord's 429: JSON with `retry_after` in seconds, `Retry-After` in whole seconds (rounded
/// up), `X-RateLimit-Scope`, and the bucket's headers unless the limit is global.
pub(crate) fn too_many_requests(
    quota: Option<&Quota>,
    retry_after: Duration,
    global: bool,
) -> Response {
    let body = json!({
        "message": "You are being rate limited.",
        "retry_after": (retry_after.as_secs_f64() * 1000.0).round() / 1000.0,
        "global": global,
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    let whole_seconds = retry_after.as_millis().div_ceil(1000).max(1);
    if let Ok(value) = HeaderValue::from_str(&whole_seconds.to_string()) {
        headers.insert("retry-after", value);
    }
    let scope = if global { "global" } else { "user" };
    headers.insert("x-ratelimit-scope", HeaderValue::from_static(scope));
    if global {
        headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    } else if let Some(quota) = quota {
        quota.write(headers);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills_after_its_window() {
        let mut buckets = Buckets::default();
        let limit = RateLimit {
            limit: 2,
            window: Duration::from_secs(5),
        };
        let t0 = Instant::now();
        let first = buckets
            .take("POST /channels/{channel_id}/messages", "1", limit, t0)
            .unwrap();
        assert_eq!(first.remaining, 1);
        let second = buckets
            .take("POST /channels/{channel_id}/messages", "1", limit, t0)
            .unwrap();
        assert_eq!(second.remaining, 0);
        let (quota, wait) = buckets
            .take(
                "POST /channels/{channel_id}/messages",
                "1",
                limit,
                t0 + Duration::from_secs(1),
            )
            .unwrap_err();
        assert_eq!((quota.remaining, wait), (0, Duration::from_secs(4)));
        assert!(
            buckets
                .take("POST /channels/{channel_id}/messages", "2", limit, t0)
                .is_ok(),
            "another channel has its own bucket"
        );
        let later = buckets
            .take(
                "POST /channels/{channel_id}/messages",
                "1",
                limit,
                t0 + Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(later.remaining, 1, "refilled");
        assert_eq!(first.bucket, later.bucket);
        assert_ne!(
            first.bucket,
            bucket_hash("PATCH /channels/{channel_id}/messages/{message_id}")
        );
    }

    #[test]
    fn a_429_carries_discords_headers() {
        let quota = Buckets::forced(
            "GET /gateway/bot",
            RateLimit::default(),
            Duration::from_millis(1500),
        );
        let response = too_many_requests(Some(&quota), Duration::from_millis(1500), false);
        let headers = response.headers();
        assert_eq!(response.status(), 429);
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["x-ratelimit-scope"], "user");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["x-ratelimit-reset-after"], "1.500");
        let global = too_many_requests(None, Duration::from_millis(200), true);
        assert_eq!(global.headers()["x-ratelimit-global"], "true");
        assert_eq!(global.headers()["x-ratelimit-scope"], "global");
        assert_eq!(global.headers()["retry-after"], "1");
    }
}
