//! Discord's REST API under `AUTOPOST_DISCORD_API_URL` (`/api/v10`), as this front end calls
//! it: interaction callbacks and edits (the interaction's token in the path, no bot
//! authorisation), channel messages and command registration (the bot token). It keeps
//! Discord's rate limits: each route's bucket as the headers describe it (no request while a
//! bucket is empty until it resets), the global limit, and a 429's `retry_after`.
//! <https://discord.com/developers/docs/topics/rate-limits>

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use autopost::crypto::Secret;
use reqwest::header::{AUTHORIZATION, HeaderMap, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

/// How Discord asks bots to name themselves.
const AGENT: &str = concat!(
    "DiscordBot (https://github.com/autopost/autopost, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// 429s answered before a call gives up.
const MOST_RETRIES: u32 = 3;

/// Longest wait for a rate limit before a call gives up rather than hold its caller.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Why a REST call failed. No variant carries a URL (interaction URLs hold tokens).
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Discord refused the call; the same call will not work.
    #[error("Discord refused the call ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Discord's message, or the body.
        message: String,
    },
    /// Discord asks to wait longer than a caller should (or kept answering 429).
    #[error("Discord asks to wait {0:?}")]
    RateLimited(Duration),
    /// Nothing usable came back; a retry may work.
    #[error("cannot reach Discord")]
    Unreachable(#[source] reqwest::Error),
    /// Discord failed (5xx).
    #[error("Discord failed ({0})")]
    ServerError(u16),
    /// The call needs the bot token (`AUTOPOST_DISCORD_TOKEN`) or the application id.
    #[error("Discord's bot token or application id is not configured")]
    NotConfigured,
}

impl RestError {
    /// Whether the channel or message is gone or not ours to write to: retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, RestError::Refused { status, .. } if *status != 429)
    }
}

/// A route's bucket, as the last answer described it.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u64,
    resets_at: Instant,
}

/// One call: its method, its path under `/api/v10`, and its bucket's key (the route with
/// its major parameter: a channel, a webhook, an interaction).
#[derive(Debug, Clone)]
pub struct Call {
    method: Method,
    path: String,
    bucket: String,
    bot: bool,
}

impl Call {
    /// A call the bot token authorises.
    pub fn bot(method: Method, path: String, bucket: String) -> Self {
        Self {
            method,
            path,
            bucket,
            bot: true,
        }
    }

    /// A call the interaction token in its path authorises.
    pub fn interaction(method: Method, path: String, bucket: String) -> Self {
        Self {
            method,
            path,
            bucket,
            bot: false,
        }
    }
}

/// What a call sends.
#[derive(Debug)]
pub enum Body {
    /// Nothing.
    Empty,
    /// A JSON body.
    Json(Value),
    /// A JSON payload with one file, as multipart.
    File {
        /// The message.
        payload: Value,
        /// The file's name.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
        /// Its media type.
        mime: &'static str,
    },
}

/// The REST client. Never formatted with its token.
pub struct Rest {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
    /// Buckets by route key.
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Until when every bot call waits (a global 429).
    global_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Rest {
    /// A client of the REST API at `api_url` (`https://discord.com`), with the bot token if
    /// there is one.
    pub fn new(http: reqwest::Client, api_url: &Url, token: Option<&Secret>) -> Self {
        let mut base = api_url.clone();
        if let Ok(mut path) = base.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v10"]);
        }
        Self {
            http,
            base,
            token: token.map(|t| Secret::new(t.expose())),
            buckets: Mutex::new(HashMap::new()),
            global_until: Mutex::new(None),
        }
    }

    /// Whether calls that need the bot token can be made.
    pub fn has_bot_token(&self) -> bool {
        self.token.is_some()
    }

    /// Makes `call` with `body`, waiting out rate limits; returns the answer's JSON (`Null`
    /// for an empty one).
    pub async fn send(&self, call: &Call, body: Body) -> Result<Value, RestError> {
        let mut body = Some(body);
        for _ in 0..=MOST_RETRIES {
            self.wait_for_turn(call).await?;
            let request = self.request(call, body.as_ref().unwrap_or(&Body::Empty))?;
            let response = request
                .send()
                .await
                .map_err(|e| RestError::Unreachable(e.without_url()))?;
            let status = response.status();
            self.remember(&call.bucket, response.headers());
            let text = response
                .text()
                .await
                .map_err(|e| RestError::Unreachable(e.without_url()))?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                let (wait, global) = retry_after(&text);
                if wait > LONGEST_WAIT {
                    return Err(RestError::RateLimited(wait));
                }
                tracing::warn!(
                    bucket = %call.bucket,
                    wait_ms = wait.as_millis() as u64,
                    global,
                    "Discord rate limit; waiting"
                );
                let until = Instant::now() + wait;
                if global {
                    *self.global_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
                } else {
                    self.buckets
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            call.bucket.clone(),
                            Bucket {
                                remaining: 0,
                                resets_at: until,
                            },
                        );
                }
                continue;
            }
            if status.is_server_error() {
                return Err(RestError::ServerError(status.as_u16()));
            }
            if !status.is_success() {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                return Err(RestError::Refused {
                    status: status.as_u16(),
                    message,
                });
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        // `body` is reused across retries; the last 429 was not followed by a success.
        body.take();
        Err(RestError::RateLimited(Duration::ZERO))
    }

    fn request(&self, call: &Call, body: &Body) -> Result<reqwest::RequestBuilder, RestError> {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            call.path
        ));
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(USER_AGENT, AGENT);
        if call.bot {
            let token = self.token.as_ref().ok_or(RestError::NotConfigured)?;
            request = request.header(AUTHORIZATION, format!("Bot {}", token.expose()));
        }
        Ok(match body {
            Body::Empty => request,
            Body::Json(json) => request.json(json),
            Body::File {
                payload,
                name,
                bytes,
                mime,
            } => {
                let file = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(name.clone())
                    .mime_str(mime)
                    .map_err(|e| RestError::Unreachable(e.without_url()))?;
                let json = reqwest::multipart::Part::text(payload.to_string())
                    .mime_str("application/json")
                    .map_err(|e| RestError::Unreachable(e.without_url()))?;
                request.multipart(
                    reqwest::multipart::Form::new()
                        .part("payload_json", json)
                        .part("files[0]", file),
                )
            }
        })
    }

    /// Waits while the global limit or the call's bucket says to.
    async fn wait_for_turn(&self, call: &Call) -> Result<(), RestError> {
        let global = if call.bot {
            *self.global_until.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            // Interaction endpoints are exempt from the global limit.
            None
        };
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&call.bucket)
            .filter(|b| b.remaining == 0)
            .map(|b| b.resets_at);
        let until = [global, bucket].into_iter().flatten().max();
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                let wait = until - now;
                if wait > LONGEST_WAIT {
                    return Err(RestError::RateLimited(wait));
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }

    /// Records what the answer's rate-limit headers say about the call's bucket.
    fn remember(&self, bucket: &str, headers: &HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let (Some(remaining), Some(reset_after)) = (
            number("x-ratelimit-remaining"),
            number("x-ratelimit-reset-after"),
        ) else {
            return;
        };
        let resets_at = Instant::now() + Duration::from_secs_f64(reset_after.max(0.0));
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                bucket.to_owned(),
                Bucket {
                    remaining: remaining.max(0.0) as u64,
                    resets_at,
                },
            );
    }
}

/// How long a 429 asks to wait, and whether the limit is global.
fn retry_after(body: &str) -> (Duration, bool) {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let seconds = json["retry_after"].as_f64().unwrap_or(1.0).max(0.0);
    (
        Duration::from_secs_f64(seconds),
        json["global"].as_bool().unwrap_or(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_body_says_how_long_and_whether_global() {
        assert_eq!(
            retry_after(
                r#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#
            ),
            (Duration::from_millis(250), false)
        );
        assert_eq!(
            retry_after(r#"{"retry_after":2,"global":true}"#),
            (Duration::from_secs(2), true)
        );
        assert_eq!(retry_after("nonsense"), (Duration::from_secs(1), false));
    }

    #[test]
    fn the_api_base_is_the_configured_url_with_the_version() {
        let rest = Rest::new(
            reqwest::Client::new(),
            &Url::parse("http://127.0.0.1:9/").unwrap(),
            None,
        );
        assert_eq!(rest.base.as_str(), "http://127.0.0.1:9/api/v10");
        assert!(!format!("{rest:?}").contains("token"));
    }
}
