//! The one HTTP client every platform shares, the classification of transport errors and
//! unreadable answers, and the request pieces X and Meta build alike.
//! URLs are stripped from errors: Telegram's carry the bot token, Meta's `access_token=`.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

use super::{Media, PublishError, RateLimit};
use crate::crypto::Secret;

/// Connecting must be quick; a create call may legitimately take a while (media processing).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Platform words longer than this are cut: they end up in chat replies and logs.
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

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
            // With its causes: reqwest's own words ("error sending request") say nothing of
            // what happened. The URL, which may hold a token, is already gone.
            detail: crate::telemetry::chain(&error),
        }
    }
}

/// Whether a request can make something public: decides what a lost answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// A call that creates a live post (X `POST /2/tweets`; Meta `/feed`, published `/photos`,
    /// `media_publish`): a lost answer may hide a live post.
    Create,
    /// Work before anything is public (X media upload; Meta unpublished photos and Instagram
    /// containers): nothing is public until a later create call, so a lost answer cannot hide
    /// a post and is safe to retry.
    Prepare,
    /// Reads (`/2/users/me`, timelines, Graph nodes): nothing changes at the platform.
    Read,
}

/// A request that got no usable answer. A lost answer to a [`Stage::Prepare`] call (an X media
/// upload, an unpublished photo, a container) cannot hide a post, so it counts as unsent:
/// `Unreachable`, safe to retry. Anything else is classified by [`classify_send_error`].
pub(crate) fn transport_error(error: reqwest::Error, stage: Stage) -> PublishError {
    match stage {
        Stage::Prepare => PublishError::Unreachable(error.without_url()),
        Stage::Create | Stage::Read => classify_send_error(error),
    }
}

/// A successful answer from `platform` ("X", "Meta") whose body we cannot read: only a create
/// call leaves the outcome unknown.
pub(crate) fn unreadable(
    platform: &str,
    status: StatusCode,
    stage: Stage,
    what: &str,
    error: &serde_json::Error,
) -> PublishError {
    match stage {
        Stage::Create => PublishError::Ambiguous {
            detail: format!("{platform} answered {status} with an unreadable {what} body: {error}"),
        },
        Stage::Prepare | Stage::Read => PublishError::ServerError {
            status: status.as_u16(),
            message: format!("unreadable {what} answer: {error}"),
        },
    }
}

/// Sends `request` and returns the answer's status, headers and body, whatever the status;
/// a lost answer is classified for `stage` by [`transport_error`].
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    stage: Stage,
) -> Result<(StatusCode, HeaderMap, Bytes), PublishError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(e, stage))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(e, stage))?;
    Ok((status, headers, body))
}

/// `base` with `segments` appended, each percent-encoded; its query and fragment are dropped.
pub(crate) fn endpoint<'a>(base: &Url, segments: impl IntoIterator<Item = &'a str>) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Config only accepts http(s) URLs, which can always be a base.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// `Bearer <token>`: the one place a user token leaves as text, for an `Authorization` header.
pub(crate) fn bearer(token: &Secret) -> String {
    format!("Bearer {}", token.expose())
}

/// "HTTP 502 Bad Gateway": what an answer says when its body does not say more.
pub(crate) fn status_words(status: StatusCode) -> String {
    format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

/// The platform's `words` cut to [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn cut(words: &str) -> String {
    words.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// `media` as a multipart file part named `image`, typed with its content type.
pub(crate) fn image_part(media: &Media) -> Result<reqwest::multipart::Part, PublishError> {
    reqwest::multipart::Part::stream(media.bytes.clone())
        .file_name("image")
        .mime_str(&media.content_type)
        .map_err(|_| PublishError::Rejected {
            reason: format!("`{}` is not a valid image type", media.content_type),
        })
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
    async fn a_cut_connection_is_ambiguous_and_keeps_its_cause_but_not_the_url() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Read the request, then hang up without a word.
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
        });
        // A URL that carries a token, as Telegram's do.
        let url = format!("http://127.0.0.1:{port}/bot123:SECRET/getMe");
        let classified = classify_send_error(client().unwrap().get(url).send().await.unwrap_err());
        let PublishError::Ambiguous { detail } = &classified else {
            panic!("{classified:?}");
        };
        assert!(detail.contains(": "), "the cause is kept: {detail}");
        let shown = format!("{classified} {classified:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
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
