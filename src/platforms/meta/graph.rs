//! The Graph API client that Facebook Pages, Instagram and account linking share: requests
//! carry the token in a header with its `appsecret_proof`, usage headers are remembered per
//! account, and errors are classified by the codes Meta puts in the body, whatever the status.

use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::Mac;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ContainerWait;
use super::refusals::{self, Network};
use crate::config::MetaConfig;
use crate::crypto::Secret;
use crate::platforms::http::{self, Stage, bearer, cut, exchange, retry_after, status_words};
use crate::platforms::rate_limits::RateLimits;
use crate::platforms::redact::Redactor;
use crate::platforms::{AccountRef, PublishError, RateLimit};

/// The Graph API client Facebook Pages, Instagram and account linking share.
pub struct GraphClient {
    pub(super) http: reqwest::Client,
    pub(super) app_id: String,
    pub(super) app_secret: Secret,
    pub(super) graph_url: Url,
    pub(super) dialog_url: Url,
    pub(super) api_version: String,
    pub(super) container_wait: ContainerWait,
    /// Last usage Meta reported per account (Page id or Instagram user id).
    rate_limits: RateLimits,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The app id is public (it is in every dialog URL); the app secret is not shown.
        f.debug_struct("GraphClient")
            .field("app_id", &self.app_id)
            .field("graph_url", &self.graph_url.as_str())
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// One Graph request before it is sent: the token it carries, the account it counts against,
/// and any other secret it carries (a token being exchanged) that an error could echo.
pub(super) struct Call<'a> {
    pub(super) request: reqwest::RequestBuilder,
    pub(super) token: Option<&'a Secret>,
    pub(super) account: Option<&'a str>,
    pub(super) stage: Stage,
    pub(super) also_secret: Option<&'a str>,
    /// The network named in a refusal's words.
    pub(super) network: Network,
}

impl GraphClient {
    /// Builds the client from its configuration and the shared HTTP client
    /// ([`crate::platforms::http::client`]), which must not follow redirects.
    pub fn new(config: &MetaConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            app_id: config.app_id.clone(),
            // A copy, not a read: the client needs its own, and `Secret` is deliberately not Clone.
            app_secret: Secret::new(config.app_secret.expose()),
            graph_url: config.graph_url.clone(),
            dialog_url: config.dialog_url.clone(),
            api_version: config.api_version.clone(),
            container_wait: ContainerWait::default(),
            rate_limits: RateLimits::default(),
        }
    }

    /// The same client with another bound on waiting for Instagram containers (tests use a
    /// short one).
    pub fn with_container_wait(mut self, wait: ContainerWait) -> Self {
        self.container_wait = wait;
        self
    }

    /// `{graph_url}/{api_version}/{segments…}`, each segment percent-encoded.
    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let version = std::iter::once(self.api_version.as_str());
        http::endpoint(&self.graph_url, version.chain(segments.iter().copied()))
    }

    /// A request to `segments`, carrying `token` if given.
    pub(super) fn request(
        &self,
        method: Method,
        segments: &[&str],
        token: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        self.authorized(self.http.request(method, self.endpoint(segments)), token)
    }

    /// Adds the token as a bearer header (never in the URL, which ends up in errors and
    /// access logs) and its `appsecret_proof`, which Meta requires when "Require App Secret"
    /// is on. <https://developers.facebook.com/docs/graph-api/guides/secure-requests>
    pub(super) fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        match token {
            Some(token) => request
                .header(AUTHORIZATION, bearer(token))
                .query(&[("appsecret_proof", self.appsecret_proof(token))]),
            None => request,
        }
    }

    /// hex(HMAC-SHA256(key = app secret, message = access token)).
    fn appsecret_proof(&self, token: &Secret) -> String {
        let mut mac = crate::crypto::hmac_sha256(self.app_secret.expose().as_bytes());
        mac.update(token.expose().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A call carrying `token` that counts against no account (reading the user's Pages).
    pub(super) fn call<'a>(
        &self,
        request: reqwest::RequestBuilder,
        token: &'a Secret,
        stage: Stage,
    ) -> Call<'a> {
        Call {
            request,
            token: Some(token),
            account: None,
            stage,
            also_secret: None,
            network: Network::Facebook,
        }
    }

    /// A call with `account`'s token whose usage and throttling count against that account.
    fn account_call<'a>(
        &self,
        request: reqwest::RequestBuilder,
        account: AccountRef<'a>,
        stage: Stage,
        network: Network,
    ) -> Call<'a> {
        Call {
            request,
            token: Some(account.token),
            account: Some(account.remote_id),
            stage,
            also_secret: None,
            network,
        }
    }

    /// Sends a call and returns the status and body of a successful answer; classifies
    /// everything else. Meta sends errors as `{"error":{…}}` under 200 as well as 4xx/5xx,
    /// so the body is checked whatever the status.
    pub(super) async fn send(&self, call: Call<'_>) -> Result<(StatusCode, Bytes), PublishError> {
        let result =
            exchange(call.request, call.stage)
                .await
                .and_then(|(status, headers, body)| {
                    if let (Some(account), Some(usage)) =
                        (call.account, usage_headers(&headers, Utc::now()))
                    {
                        // What `X-App-Usage` / `X-Business-Use-Case-Usage` say.
                        self.rate_limits.record(account, usage);
                    }
                    // Whatever the request carried comes out of the words of an error: the
                    // token, the app secret (token requests send it), a token exchanged.
                    let secrets = Redactor::new()
                        .with_optional(call.token)
                        .with(&self.app_secret)
                        .with_value(call.also_secret.unwrap_or_default());
                    let answer = (status, &headers, &body[..]);
                    match classify_answer(call.network, answer, &secrets, Utc::now()) {
                        Some(error) => Err(error),
                        None => Ok((status, body)),
                    }
                });
        if let Some(account) = call.account {
            self.rate_limits.note_throttle(account, &result);
        }
        result
    }

    /// The usage Meta last reported for `account` (a Page or an Instagram account).
    pub(super) fn rate_limit(&self, account: &str) -> Option<RateLimit> {
        self.rate_limits.get(account)
    }

    /// POSTs `body` to `segments` for `account`, and reads the `id` (and `post_id`) of what
    /// was made.
    pub(super) async fn create(
        &self,
        network: Network,
        account: AccountRef<'_>,
        segments: &[&str],
        body: Body,
        stage: Stage,
        what: &str,
    ) -> Result<Created, PublishError> {
        let request = self.request(Method::POST, segments, Some(account.token));
        let request = match body {
            Body::Form(params) => request.form(&params),
            Body::Multipart(form) => request.multipart(form),
        };
        let (status, body) = self
            .send(self.account_call(request, account, stage, network))
            .await?;
        match serde_json::from_slice::<Created>(&body) {
            Ok(created) if !created.id.is_empty() => Ok(created),
            // Only a lost id of a live post leaves the outcome unknown; an unpublished photo
            // or a container without an id is simply made again.
            _ if stage == Stage::Create => Err(PublishError::Ambiguous {
                detail: format!("Meta answered {status} without the id of the {what}"),
            }),
            _ => Err(PublishError::ServerError {
                status: status.as_u16(),
                message: format!("Meta answered without the id of the {what}"),
            }),
        }
    }

    /// A GET for `account` whose JSON answer is returned as a value.
    pub(super) async fn read(
        &self,
        network: Network,
        account: AccountRef<'_>,
        segments: &[&str],
        fields: &str,
        stage: Stage,
    ) -> Result<Value, PublishError> {
        let request = self
            .request(Method::GET, segments, Some(account.token))
            .query(&[("fields", fields)]);
        let (status, body) = self
            .send(self.account_call(request, account, stage, network))
            .await?;
        serde_json::from_slice(&body).map_err(|_| PublishError::ServerError {
            status: status.as_u16(),
            message: "unreadable answer".to_owned(),
        })
    }
}

/// A request body for [`GraphClient::create`].
pub(super) enum Body {
    Form(Vec<(&'static str, String)>),
    Multipart(reqwest::multipart::Form),
}

/// What a create call answers: `{"id"}`, and for a published photo also `{"post_id"}`.
#[derive(Deserialize)]
pub(super) struct Created {
    pub(super) id: String,
    pub(super) post_id: Option<String>,
}

/// A Graph error body. <https://developers.facebook.com/docs/graph-api/guides/error-handling>
#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    code: Option<i64>,
    error_subcode: Option<i64>,
    error_user_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

/// Classifies an answer (status, headers, body): `None` when it is a success. Graph errors
/// are classified by their code whatever the HTTP status, since Meta throttles with 400/403
/// and a code in the body; what each code means is [`refusals::classify`].
fn classify_answer(
    network: Network,
    (status, headers, body): (StatusCode, &HeaderMap, &[u8]),
    secrets: &Redactor<'_>,
    now: DateTime<Utc>,
) -> Option<PublishError> {
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(body) else {
        if status.is_success() {
            return None;
        }
        let words = status_words(status);
        return Some(if status.is_server_error() {
            PublishError::ServerError {
                status: status.as_u16(),
                message: words,
            }
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            PublishError::RateLimited {
                reset_at: throttle_reset(headers, now),
            }
        } else if status == StatusCode::UNAUTHORIZED {
            PublishError::Unauthorized { message: words }
        } else {
            PublishError::Rejected { reason: words }
        });
    };
    let message = platform_words(&error, secrets);
    let code = error.code.unwrap_or(0);
    Some(
        match refusals::classify(network, code, error.error_subcode, &message) {
            refusals::Verdict::Throttled => PublishError::RateLimited {
                reset_at: throttle_reset(headers, now),
            },
            refusals::Verdict::Transient => PublishError::ServerError {
                status: status.as_u16(),
                message,
            },
            refusals::Verdict::TokenDead => PublishError::Unauthorized { message },
            // The words inside were cut already; the next step must survive.
            refusals::Verdict::Refused(reason) => PublishError::Rejected { reason },
        },
    )
}

/// The platform's own words for an error, with any secret the request carried taken out
/// (before they are cut to a readable length, so that no part of one is left).
fn platform_words(error: &GraphError, secrets: &Redactor<'_>) -> String {
    let mut words = match (&error.error_user_msg, error.message.as_str()) {
        (Some(user), message) if !user.is_empty() && !message.is_empty() => {
            format!("{message} ({user})")
        }
        (Some(user), _) if !user.is_empty() => user.clone(),
        (_, "") => "no details given".to_owned(),
        (_, message) => message.to_owned(),
    };
    if let Some(sub) = error.error_subcode {
        words.push_str(&format!(
            " [code {}, subcode {sub}]",
            error.code.unwrap_or(0)
        ));
    } else if let Some(code) = error.code {
        words.push_str(&format!(" [code {code}]"));
    }
    cut(&secrets.redact(&words))
}

/// When a throttled call may be retried: Meta's `estimated_time_to_regain_access` (minutes)
/// from `X-Business-Use-Case-Usage`, else `Retry-After`, else unknown.
fn throttle_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    buc_entries(headers)
        .iter()
        .filter_map(|e| e.get("estimated_time_to_regain_access")?.as_i64())
        .filter(|minutes| *minutes > 0)
        .max()
        .and_then(|minutes| now.checked_add_signed(chrono::Duration::minutes(minutes)))
        .or_else(|| retry_after(headers, now))
}

/// Every usage entry in `X-Business-Use-Case-Usage` (`{"<object id>":[{…}, …]}`).
fn buc_entries(headers: &HeaderMap) -> Vec<Value> {
    let Some(Value::Object(objects)) = header_json(headers, "x-business-use-case-usage") else {
        return Vec::new();
    };
    objects
        .into_iter()
        .filter_map(|(_, entries)| match entries {
            Value::Array(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .collect()
}

fn header_json(headers: &HeaderMap, name: &str) -> Option<Value> {
    serde_json::from_str(headers.get(name)?.to_str().ok()?).ok()
}

/// What `X-App-Usage` and `X-Business-Use-Case-Usage` say: Meta reports percentages of the
/// quota used (call count, CPU time, total time), so `remaining` is the percent left of the
/// most used one, and 0 once any reaches 100. `None` when neither header is there.
fn usage_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<RateLimit> {
    let mut entries = buc_entries(headers);
    if let Some(app) = header_json(headers, "x-app-usage") {
        entries.push(app);
    }
    if entries.is_empty() {
        return None;
    }
    let used = entries
        .iter()
        .flat_map(|e| {
            ["call_count", "total_cputime", "total_time"]
                .into_iter()
                .filter_map(|k| e.get(k).and_then(Value::as_u64))
        })
        .max()
        .unwrap_or(0);
    let reset_at = throttle_reset(headers, now);
    Some(RateLimit {
        remaining: Some(100u64.saturating_sub(used)),
        reset_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    use crate::platforms::meta::tests::graph;

    fn error_body(code: i64, subcode: Option<i64>, message: &str) -> Vec<u8> {
        let mut error = serde_json::json!({
            "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC",
        });
        if let Some(sub) = subcode {
            error["error_subcode"] = sub.into();
        }
        serde_json::json!({ "error": error })
            .to_string()
            .into_bytes()
    }

    fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<PublishError> {
        classify_answer(
            Network::Facebook,
            (StatusCode::from_u16(status).unwrap(), headers, body),
            &Redactor::new(),
            Utc::now(),
        )
    }

    #[test]
    fn endpoints_carry_the_version_and_encode_each_segment() {
        let mut g = graph();
        assert_eq!(
            g.endpoint(&["123", "feed"]).as_str(),
            "https://graph.facebook.com/v27.0/123/feed"
        );
        g.graph_url = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            g.endpoint(&["a/b", "photos"]).as_str(),
            "http://127.0.0.1:9/prefix/v27.0/a%2Fb/photos"
        );
    }

    #[test]
    fn the_appsecret_proof_is_the_hex_hmac_of_the_token() {
        // The HMAC-SHA256 example value from RFC 2104 implementations (key "key").
        let mut g = graph();
        g.app_secret = Secret::new("key");
        assert_eq!(
            g.appsecret_proof(&Secret::new("The quick brown fox jumps over the lazy dog")),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn throttling_codes_are_rate_limits_whatever_the_status() {
        let none = HeaderMap::new();
        for code in [4, 17, 32, 613, 80_001, 80_002, 80_014] {
            for status in [400, 403, 200] {
                assert!(
                    matches!(
                        classify(status, &none, &error_body(code, None, "slow down")),
                        Some(PublishError::RateLimited { reset_at: None })
                    ),
                    "code {code} status {status}"
                );
            }
        }
    }

    #[test]
    fn a_content_block_is_a_refusal_at_once_not_a_rate_limit() {
        let body = error_body(
            368,
            Some(1_390_008),
            "It looks like you were misusing this feature",
        );
        match classify(400, &HeaderMap::new(), &body) {
            Some(PublishError::Rejected { reason }) => {
                assert!(
                    reason.starts_with("Facebook blocked this post under its content rules"),
                    "{reason}"
                );
                assert!(reason.contains("code 368"), "{reason}");
                assert!(reason.contains("misusing this feature"), "{reason}");
                assert!(reason.contains("Edit"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_throttle_resets_when_meta_estimates_access_comes_back() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            throttle_reset(&headers, now),
            Some(now + chrono::Duration::seconds(30))
        );
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"5550001":[{"type":"pages","call_count":100,"total_cputime":3,"total_time":4,"estimated_time_to_regain_access":7}]}"#,
            ),
        );
        assert_eq!(
            throttle_reset(&headers, now),
            Some(now + chrono::Duration::minutes(7))
        );
        let limit = usage_headers(&headers, now).unwrap();
        assert_eq!(limit.remaining, Some(0));
        assert_eq!(limit.reset_at, Some(now + chrono::Duration::minutes(7)));
    }

    #[test]
    fn usage_headers_report_the_percent_left_of_the_most_used_quota() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        assert_eq!(usage_headers(&headers, now), None);
        headers.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":12,"total_cputime":40,"total_time":5}"#),
        );
        assert_eq!(
            usage_headers(&headers, now),
            Some(RateLimit {
                remaining: Some(60),
                reset_at: None
            })
        );
        headers.insert("x-app-usage", HeaderValue::from_static("not json"));
        assert_eq!(usage_headers(&headers, now), None);
    }

    #[test]
    fn graph_error_codes_are_classified_by_what_the_caller_can_do() {
        let none = HeaderMap::new();
        let cases: &[(i64, Option<i64>, &str)] = &[
            (1, None, "server"),
            (2, None, "server"),
            (190, Some(463), "auth"),
            (190, Some(460), "auth"),
            (190, None, "auth"),
            (102, None, "auth"),
            (10, None, "permission"),
            (200, None, "permission"),
            (299, None, "permission"),
            (506, None, "rejected"),
            (100, Some(33), "rejected"),
            (1_609_005, None, "rejected"),
        ];
        for (code, sub, kind) in cases {
            let got = classify(400, &none, &error_body(*code, *sub, "words")).unwrap();
            let ok = match *kind {
                "server" => matches!(got, PublishError::ServerError { .. }),
                "auth" => matches!(got, PublishError::Unauthorized { .. }),
                "permission" => {
                    matches!(&got, PublishError::Rejected { reason } if reason.contains("permission"))
                }
                _ => {
                    matches!(&got, PublishError::Rejected { reason } if reason.contains("(words"))
                }
            };
            assert!(ok, "code {code}: {got:?}");
        }
    }

    #[test]
    fn answers_without_a_graph_error_are_classified_by_status() {
        let none = HeaderMap::new();
        assert!(classify(200, &none, br#"{"id":"1"}"#).is_none());
        assert!(matches!(
            classify(502, &none, b"<html>bad gateway</html>"),
            Some(PublishError::ServerError { status: 502, .. })
        ));
        assert!(matches!(
            classify(404, &none, b"nope"),
            Some(PublishError::Rejected { .. })
        ));
        assert!(matches!(
            classify(429, &none, b""),
            Some(PublishError::RateLimited { .. })
        ));
    }

    #[test]
    fn a_token_echoed_in_an_error_is_taken_out() {
        let token = Secret::new("EAAB-leaky-token");
        let body = error_body(100, None, "Invalid parameter near EAAB-leaky-token");
        let error = classify_answer(
            Network::Facebook,
            (StatusCode::BAD_REQUEST, &HeaderMap::new(), &body),
            &Redactor::new().with(&token),
            Utc::now(),
        )
        .unwrap();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("EAAB-leaky-token"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
