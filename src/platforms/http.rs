//! The one HTTP client every platform shares, and the classification of transport errors.
//! URLs are stripped from errors: Telegram's carry the bot token, Meta's `access_token=`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use super::{PublishError, RateLimit};

/// Connecting must be quick; a create call may legitimately take a while (media processing).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the shared client: timeouts, our user agent, and no redirects (a redirect could
/// carry an Authorization header or a token-bearing URL somewhere we did not choose).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("autopost/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Classifies a failed send: nothing left us (connect failed) is safe to retry; anything
/// later (timeout waiting for the answer, cut connection) may have created the post.
pub fn classify_send_error(error: reqwest::Error) -> PublishError {
    let error = error.without_url();
    if error.is_connect() {
        PublishError::Unreachable(error)
    } else {
        PublishError::Ambiguous {
            detail: error.to_string(),
        }
    }
}

/// Reads `x-rate-limit-remaining` / `x-rate-limit-reset` (Unix seconds), as X sends them.
pub fn rate_limit_headers(headers: &HeaderMap) -> RateLimit {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    RateLimit {
        remaining: number("x-rate-limit-remaining").and_then(|n| u64::try_from(n).ok()),
        reset_at: number("x-rate-limit-reset").and_then(|s| DateTime::from_timestamp(s, 0)),
    }
}

/// The instant a `Retry-After: <seconds>` header points to.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    now.checked_add_signed(chrono::Duration::seconds(i64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limit_headers_parse_and_bad_values_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-rate-limit-reset", HeaderValue::from_static("1790000000"));
        let limit = rate_limit_headers(&headers);
        assert_eq!(limit.remaining, Some(0));
        assert_eq!(limit.reset_at.unwrap().timestamp(), 1_790_000_000);
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("-3"));
        headers.insert("x-rate-limit-reset", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_headers(&headers), RateLimit::default());
    }

    #[test]
    fn retry_after_counts_from_now() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            retry_after(&headers, now),
            Some(now + chrono::Duration::seconds(30))
        );
        headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_never_shows_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = client()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/bot123:SECRET/getMe"))
            .send()
            .await
            .unwrap_err();
        let classified = classify_send_error(err);
        assert!(classified.is_retryable());
        let shown = format!(
            "{classified} {classified:?} {}",
            crate::telemetry::chain(&classified)
        );
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
