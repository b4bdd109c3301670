//! X (Twitter) API v2: OAuth 2.0 with PKCE (authorize URL, code exchange, refresh, revoke),
//! media upload and `POST /2/tweets`; `text` counts characters as X does. Knows tokens and
//! account ids, never chats or the store; every token becomes a `Secret` the moment it is parsed.

mod refusals;
pub mod text;

use std::fmt;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use tracing::instrument;
use url::Url;

use text::comparable_text;

use super::http::{
    self, Stage, bearer, cut, exchange, image_part, rate_limit_headers, retry_after, status_words,
    unreadable,
};
use super::rate_limits::RateLimits;
use super::redact::Redactor;
use super::{
    AccountRef, AuthError, Limits, Lookup, Platform, PostContent, PublishError, Published,
    RateLimit, Refreshed,
};
use crate::config::XConfig;
use crate::crypto::Secret;
use crate::domain::Provider;

/// The scopes autopost asks for: post text and images, read the account, and refresh.
/// <https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code>
pub const SCOPES: &str = "tweet.read tweet.write users.read media.write offline.access";

/// What every X post may contain. <https://docs.x.com/x-api/media/introduction>
const LIMITS: Limits = Limits {
    max_text: 280,
    max_images: 4,
    requires_image: false,
    max_image_bytes: 5 * 1024 * 1024,
    image_types: &["image/jpeg", "image/png", "image/gif", "image/webp"],
    max_hashtags: None,
};

/// Publishes to X on behalf of users who linked their account with OAuth 2.0.
pub struct XClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: Option<Secret>,
    api_url: Url,
    authorize_url: Url,
    /// Last quota X reported per account (X user id), from create-post answers and 429s.
    rate_limits: RateLimits,
}

impl fmt::Debug for XClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client id is public (it appears in every authorize URL); the secret is not shown.
        f.debug_struct("XClient")
            .field("client_id", &self.client_id)
            .field("confidential", &self.client_secret.is_some())
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// One of an account's recent posts, as reconciliation reads it.
struct RecentTweet {
    id: String,
    text: String,
    /// The post it replies to, if any.
    reply_to: Option<String>,
}

/// Tokens X issued for a user in a code exchange.
#[derive(Debug)] // fine: both tokens are `Secret`s
pub struct Tokens {
    /// Bearer token for API calls; lives 2 hours.
    pub access_token: Secret,
    /// Single-use refresh token; `None` when X sent none (no `offline.access`) or an empty one.
    pub refresh_token: Option<Secret>,
    /// When the access token lapses.
    pub expires_at: Option<DateTime<Utc>>,
    /// The scopes X granted, space-separated (may be fewer than asked for).
    pub scopes: String,
}

/// The X user a token belongs to, from `GET /2/users/me`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct XIdentity {
    /// X's numeric user id, as a string.
    pub id: String,
    /// The @handle, without `@`.
    pub username: String,
    /// The display name.
    pub name: String,
}

impl XClient {
    /// Builds the client from its configuration and the shared HTTP client
    /// ([`super::http::client`]), which must not follow redirects.
    pub fn new(config: &XConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            client_id: config.client_id.clone(),
            // A copy, not a read: the client needs its own, and `Secret` is deliberately not Clone.
            client_secret: config
                .client_secret
                .as_ref()
                .map(|s| Secret::new(s.expose())),
            api_url: config.api_url.clone(),
            authorize_url: config.authorize_url.clone(),
            rate_limits: RateLimits::default(),
        }
    }

    /// The consent page URL to send the user to; X redirects back to `redirect_uri` with
    /// `code` and `state`. <https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token>
    pub fn authorize_url(&self, redirect_uri: &Url, state: &str, code_challenge: &str) -> Url {
        let mut url = self.authorize_url.clone();
        // `query_pairs_mut` encodes a space as `+`; X documents `%20`, so the scope is
        // appended already encoded, and the rest through the serializer.
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        let scope = SCOPES.replace(' ', "%20");
        url.set_query(Some(&format!("{}&scope={scope}", query.finish())));
        url
    }

    /// Exchanges the authorization code from the callback for tokens. Must happen within
    /// 30 seconds of consent. A refused code or verifier is [`AuthError::Revoked`].
    #[instrument(skip_all, fields(provider = "x"))]
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &Secret,
        redirect_uri: &Url,
    ) -> Result<Tokens, AuthError> {
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", code_verifier.expose()),
        ];
        let answer = self.token_request(&["2", "oauth2", "token"], form).await?;
        let tokens = parse_token_answer(&answer)?;
        tracing::debug!(scopes = %tokens.scopes, "x code exchanged");
        Ok(tokens)
    }

    /// The user the token acts for (`GET /2/users/me`), to name the linked account.
    #[instrument(skip_all, fields(provider = "x"))]
    pub async fn me(&self, token: &Secret) -> Result<XIdentity, PublishError> {
        #[derive(Deserialize)]
        struct Answer {
            data: XIdentity,
        }
        let request = self
            .http
            .get(self.endpoint(&["2", "users", "me"]))
            .header(AUTHORIZATION, bearer(token));
        let (status, _, body) = self.send(request, Stage::Read, token).await?;
        serde_json::from_slice::<Answer>(&body)
            .map(|a| a.data)
            .map_err(|e| unreadable("X", status, Stage::Read, "user", &e))
    }

    /// Up to `max` of the account's most recent posts, newest first, as `(id, text)`: what
    /// reconciliation compares against after a lost answer. X returns text with `&`, `<`, `>`
    /// escaped as HTML entities and links shortened to t.co, so compare with that in mind.
    #[instrument(skip_all, fields(provider = "x"))]
    pub async fn recent_posts(
        &self,
        account: AccountRef<'_>,
        max: usize,
    ) -> Result<Vec<(String, String)>, PublishError> {
        Ok(self
            .recent_tweets(account, max)
            .await?
            .into_iter()
            .map(|t| (t.id, t.text))
            .collect())
    }

    /// Like [`XClient::recent_posts`], with the post each one replies to: a thread's part is
    /// told from a post with the same words by what it answers.
    async fn recent_tweets(
        &self,
        account: AccountRef<'_>,
        max: usize,
    ) -> Result<Vec<RecentTweet>, PublishError> {
        #[derive(Deserialize)]
        struct Reference {
            #[serde(rename = "type")]
            kind: String,
            id: String,
        }
        #[derive(Deserialize)]
        struct Tweet {
            id: String,
            text: String,
            #[serde(default)]
            referenced_tweets: Vec<Reference>,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Vec<Tweet>,
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        // X accepts max_results between 5 and 100 only, and names what a post replies to
        // only when asked for `referenced_tweets`.
        let asked = max.clamp(5, 100).to_string();
        let request = self
            .http
            .get(self.endpoint(&["2", "users", account.remote_id, "tweets"]))
            .query(&[
                ("max_results", asked.as_str()),
                ("tweet.fields", "referenced_tweets"),
            ])
            .header(AUTHORIZATION, bearer(account.token));
        let (status, _, body) = self.send(request, Stage::Read, account.token).await?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| unreadable("X", status, Stage::Read, "timeline", &e))?;
        Ok(answer
            .data
            .into_iter()
            .take(max)
            .map(|t| RecentTweet {
                reply_to: t
                    .referenced_tweets
                    .into_iter()
                    .find(|r| r.kind == "replied_to")
                    .map(|r| r.id),
                id: t.id,
                text: t.text,
            })
            .collect())
    }

    /// `api_url` with `segments` appended, each percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        http::endpoint(&self.api_url, segments.iter().copied())
    }

    /// Sends `request` and returns the status, headers and body of a 2xx answer; classifies
    /// everything else. A lost answer is `Ambiguous` only where it may hide a created post.
    /// `token` is the bearer token the request carries: an error's words never repeat it.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        stage: Stage,
        token: &Secret,
    ) -> Result<(StatusCode, HeaderMap, Bytes), PublishError> {
        let (status, headers, body) = exchange(request, stage).await?;
        if status.is_success() {
            Ok((status, headers, body))
        } else {
            let secrets = self.secrets().with(token);
            Err(classify_answer(
                status,
                &headers,
                &body,
                &secrets,
                Utc::now(),
            ))
        }
    }

    /// The app's own secret, to take out of any words X sends back.
    fn secrets(&self) -> Redactor<'_> {
        Redactor::new().with_optional(self.client_secret.as_ref())
    }

    /// Uploads one image; returns X's media id.
    async fn upload(
        &self,
        account: AccountRef<'_>,
        media: &super::Media,
    ) -> Result<String, PublishError> {
        let part = image_part(media)?;
        let form = reqwest::multipart::Form::new()
            .part("media", part)
            .text("media_category", "tweet_image");
        let request = self
            .http
            .post(self.endpoint(&["2", "media", "upload"]))
            .header(AUTHORIZATION, bearer(account.token))
            .multipart(form);
        // Nothing is public before `POST /2/tweets`, so a lost upload answer is safe to retry.
        let result = self.send(request, Stage::Prepare, account.token).await;
        self.rate_limits.note_throttle(account.remote_id, &result);
        let (status, _, body) = result?;
        created_id(status, &body, Stage::Prepare, "media upload")
    }

    /// A form POST to the token or revoke endpoint with our client authentication:
    /// Basic for a confidential client, `client_id` in the body for a public one.
    async fn token_request(
        &self,
        path: &[&str],
        mut form: Vec<(&str, &str)>,
    ) -> Result<Bytes, AuthError> {
        let mut request = self.http.post(self.endpoint(path));
        match &self.client_secret {
            Some(secret) => {
                let pair = format!("{}:{}", self.client_id, secret.expose());
                request = request.header(AUTHORIZATION, format!("Basic {}", BASE64.encode(pair)));
            }
            None => form.push(("client_id", &self.client_id)),
        }
        // A token call creates no post: a lost answer is classified as a read's is.
        let (status, headers, body) = exchange(request.form(&form), Stage::Read)
            .await
            .map_err(AuthError::Transient)?;
        if status.is_success() {
            return Ok(body);
        }
        // The code, verifier, refresh token or token being revoked, and our client secret.
        let secrets = form
            .iter()
            .filter(|(name, _)| {
                matches!(*name, "code" | "code_verifier" | "refresh_token" | "token")
            })
            .fold(self.secrets(), |secrets, (_, value)| {
                secrets.with_value(value)
            });
        Err(classify_token_error(status, &headers, &body, &secrets))
    }
}

#[async_trait]
impl Platform for XClient {
    fn provider(&self) -> Provider {
        Provider::X
    }

    fn limits(&self) -> &Limits {
        &LIMITS
    }

    #[instrument(skip_all, fields(provider = "x", images = post.media.len()))]
    async fn publish(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Published, PublishError> {
        let mut media_ids = Vec::with_capacity(post.media.len());
        for media in post.media {
            media_ids.push(self.upload(account, media).await?);
        }
        tracing::debug!(uploaded = media_ids.len(), "x media uploaded");

        let mut body = serde_json::Map::new();
        // X requires text unless media is attached; an empty text with media is left out.
        if !post.text.is_empty() || media_ids.is_empty() {
            body.insert("text".into(), post.text.into());
        }
        if !media_ids.is_empty() {
            body.insert(
                "media".into(),
                serde_json::json!({ "media_ids": media_ids }),
            );
        }
        if let Some(previous) = post.reply_to {
            body.insert(
                "reply".into(),
                serde_json::json!({ "in_reply_to_tweet_id": previous }),
            );
        }
        let request = self
            .http
            .post(self.endpoint(&["2", "tweets"]))
            .header(AUTHORIZATION, bearer(account.token))
            .json(&body);
        let result = self.send(request, Stage::Create, account.token).await;
        self.rate_limits.note_throttle(account.remote_id, &result);
        let (status, headers, answer) = result?;
        self.rate_limits
            .record(account.remote_id, rate_limit_headers(&headers));
        let id = created_id(status, &answer, Stage::Create, "post")?;
        tracing::debug!("x post created");
        Ok(Published {
            url: status_url(&id),
            remote_id: id,
        })
    }

    #[instrument(skip_all, fields(provider = "x"))]
    async fn refresh(&self, refresh_token: &Secret) -> Result<Refreshed, AuthError> {
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let answer = self.token_request(&["2", "oauth2", "token"], form).await?;
        let tokens = parse_token_answer(&answer)?;
        Ok(Refreshed {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
        })
    }

    #[instrument(skip_all, fields(provider = "x"))]
    async fn revoke(&self, token: &Secret) -> Result<(), AuthError> {
        let form = vec![("token", token.expose())];
        self.token_request(&["2", "oauth2", "revoke"], form)
            .await
            .map(drop)
    }

    fn rate_limit(&self, account_remote_id: &str) -> Option<RateLimit> {
        self.rate_limits.get(account_remote_id)
    }

    /// Reads the account's 100 most recent posts and matches on the text as X shows it
    /// (HTML-escaped, links rewritten to t.co) and on the post it replies to (a thread's
    /// part), never on "the newest post".
    async fn find_recent(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Lookup, PublishError> {
        let wanted = comparable_text(post.text);
        let recent = self.recent_tweets(account, 100).await?;
        Ok(recent
            .into_iter()
            .find(|t| comparable_text(&t.text) == wanted && t.reply_to.as_deref() == post.reply_to)
            .map_or(Lookup::Absent, |RecentTweet { id, .. }| {
                Lookup::Found(Published {
                    url: status_url(&id),
                    remote_id: id,
                })
            }))
    }
}

/// The public link of a post.
fn status_url(id: &str) -> Option<Url> {
    Url::parse(&format!("https://x.com/i/web/status/{id}")).ok()
}

/// The id in what X answers to a create call (`POST /2/tweets`, a media upload):
/// `{"data":{"id":…}}`. An unreadable answer is classified for `stage`.
fn created_id(
    status: StatusCode,
    body: &[u8],
    stage: Stage,
    what: &str,
) -> Result<String, PublishError> {
    #[derive(Deserialize)]
    struct Data {
        id: String,
    }
    #[derive(Deserialize)]
    struct Answer {
        data: Data,
    }
    serde_json::from_slice::<Answer>(body)
        .map(|a| a.data.id)
        .map_err(|e| unreadable("X", status, stage, what, &e))
}

/// Classifies a non-2xx answer from an API endpoint; what each answer means is
/// [`refusals::classify`].
fn classify_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Redactor<'_>,
    now: DateTime<Utc>,
) -> PublishError {
    let message = platform_words(status, body, secrets);
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    let codes: Vec<i64> = problem.errors.iter().filter_map(|e| e.code).collect();
    let said = refusals::Said {
        kind: problem.kind.as_deref(),
        codes: &codes,
        words: &message,
    };
    match refusals::classify(status.as_u16(), said) {
        refusals::Verdict::Throttled => PublishError::RateLimited {
            reset_at: throttle_reset(headers, now),
        },
        refusals::Verdict::TokenDead => PublishError::Unauthorized { message },
        refusals::Verdict::Transient => PublishError::ServerError {
            status: status.as_u16(),
            message,
        },
        refusals::Verdict::Refused(reason) => PublishError::Rejected { reason },
    }
}

/// When a 429 ends. X sends a 429 for an exhausted 24-hour cap even while the 15-minute
/// window has requests left, so an exhausted daily cap's reset wins over the window's.
/// <https://docs.x.com/x-api/fundamentals/rate-limits>
fn throttle_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let number = |name: String| {
        headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let daily = ["x-user-limit-24hour", "x-app-limit-24hour"]
        .into_iter()
        .filter(|cap| number(format!("{cap}-remaining")) == Some(0))
        .filter_map(|cap| number(format!("{cap}-reset")))
        .filter_map(|s| DateTime::from_timestamp(s, 0))
        .max();
    daily
        .or(rate_limit_headers(headers).reset_at)
        .or_else(|| retry_after(headers, now))
}

/// An X error body: RFC 7807 problem (`detail`, `title`), the older `errors[]`, or an
/// OAuth error (`error`, `error_description`).
#[derive(Debug, Default, Deserialize)]
struct Problem {
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<ProblemItem>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProblemItem {
    message: Option<String>,
    code: Option<i64>,
}

/// The platform's own words for a failed answer, cut to a readable length, with any secret
/// the request carried taken out first (an echo of one must not reach a chat, a log or the
/// database, nor the first part of one survive the cut).
fn platform_words(status: StatusCode, body: &[u8], secrets: &Redactor<'_>) -> String {
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    let first_message = problem.errors.iter().find_map(|e| e.message.clone());
    let words = match (problem.detail, first_message) {
        (Some(detail), Some(message)) if detail != message => format!("{detail} ({message})"),
        (Some(detail), _) => detail,
        (None, Some(message)) => message,
        (None, None) => problem
            .error_description
            .or(problem.error)
            .or(problem.title)
            .unwrap_or_else(|| status_words(status)),
    };
    cut(&secrets.redact(&words))
}

/// Classifies a failed token or revoke call. Only a dead grant means "reconnect"
/// (`invalid_grant`; X also answers `invalid_request` for a spent code or token); a network
/// blip, 5xx, 429 or a refusal of our own client credentials leaves the grant standing.
fn classify_token_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Redactor<'_>,
) -> AuthError {
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    let message = platform_words(status, body, secrets);
    let dead_grant = status == StatusCode::BAD_REQUEST
        && matches!(
            problem.error.as_deref(),
            Some("invalid_grant" | "invalid_request")
        );
    if dead_grant {
        AuthError::Revoked { message }
    } else {
        AuthError::Transient(classify_answer(status, headers, body, secrets, Utc::now()))
    }
}

/// Reads a token answer; a missing or empty refresh token becomes `None`, never an empty
/// `Secret` that would overwrite the stored one.
fn parse_token_answer(body: &[u8]) -> Result<Tokens, AuthError> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        refresh_token: Option<String>,
        expires_in: Option<i64>,
        #[serde(default)]
        scope: String,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        // serde's message names a field or a position, never a value.
        AuthError::Transient(PublishError::ServerError {
            status: 200,
            message: format!("unreadable token answer: {e}"),
        })
    })?;
    if answer.access_token.is_empty() {
        return Err(AuthError::Transient(PublishError::ServerError {
            status: 200,
            message: "the token answer holds no access token".to_owned(),
        }));
    }
    Ok(Tokens {
        access_token: Secret::new(answer.access_token),
        refresh_token: answer
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_at: answer
            .expires_in
            .and_then(|s| Utc::now().checked_add_signed(chrono::Duration::seconds(s))),
        scopes: answer.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    use super::text::weighted_length;
    use crate::platforms::http::MAX_MESSAGE_CHARS;
    use std::collections::HashMap;

    #[test]
    fn the_limit_is_280_weighted() {
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        assert_eq!(weighted_length(&"日".repeat(140)), 280);
        assert_eq!(
            weighted_length(&format!("{} https://example.com", "a".repeat(256))),
            280
        );
        let client = client(None);
        assert_eq!(client.limits().max_text, 280);
        assert_eq!(client.limits().max_images, 4);
        assert_eq!(client.limits().max_image_bytes, 5 * 1024 * 1024);
        assert!(client.limits().image_types.contains(&"image/webp"));
    }

    fn client(secret: Option<&str>) -> XClient {
        let config = XConfig {
            client_id: "client-abc".to_owned(),
            client_secret: secret.map(Secret::new),
            api_url: Url::parse("https://api.x.com").unwrap(),
            authorize_url: Url::parse("https://x.com/i/oauth2/authorize").unwrap(),
        };
        XClient::new(&config, reqwest::Client::new())
    }

    #[test]
    fn the_authorize_url_carries_every_pkce_parameter_and_a_percent_encoded_scope() {
        let redirect = Url::parse("https://autopost.example/oauth/x/callback").unwrap();
        let url = client(None).authorize_url(&redirect, "state-1", "challenge-2");
        assert!(
            url.as_str()
                .starts_with("https://x.com/i/oauth2/authorize?")
        );
        assert!(
            url.as_str().contains(
                "scope=tweet.read%20tweet.write%20users.read%20media.write%20offline.access"
            ),
            "{url}"
        );
        let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "client-abc");
        assert_eq!(pairs["redirect_uri"], redirect.as_str());
        assert_eq!(pairs["state"], "state-1");
        assert_eq!(pairs["code_challenge"], "challenge-2");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["scope"], SCOPES);
    }

    #[test]
    fn endpoints_append_to_the_api_url_with_or_without_a_trailing_slash() {
        let mut c = client(None);
        assert_eq!(
            c.endpoint(&["2", "tweets"]).as_str(),
            "https://api.x.com/2/tweets"
        );
        c.api_url = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            c.endpoint(&["2", "users", "1/2", "tweets"]).as_str(),
            "http://127.0.0.1:9/prefix/2/users/1%2F2/tweets"
        );
    }

    #[test]
    fn debug_output_shows_no_client_secret() {
        let shown = format!("{:?}", client(Some("very-secret-value")));
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("confidential: true"), "{shown}");
    }

    #[test]
    fn answers_are_classified_by_what_the_caller_can_do() {
        let now = Utc::now();
        let none = HeaderMap::new();
        let duplicate = br#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#;
        match classify_answer(
            StatusCode::FORBIDDEN,
            &none,
            duplicate,
            &Redactor::new(),
            now,
        ) {
            PublishError::Rejected { reason } => assert_eq!(
                reason,
                "X refused this post as a duplicate of one already on the account (You are not \
                 allowed to create a Tweet with duplicate content.); change the text with Edit"
            ),
            other => panic!("{other:?}"),
        }
        let old_style =
            br#"{"errors":[{"code":186,"message":"Tweet needs to be a bit shorter."}]}"#;
        match classify_answer(
            StatusCode::BAD_REQUEST,
            &none,
            old_style,
            &Redactor::new(),
            now,
        ) {
            PublishError::Rejected { reason } => {
                assert_eq!(
                    reason,
                    "X refused the text as too long (Tweet needs to be a bit shorter.); shorten \
                     it with Edit"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_answer(
                StatusCode::UNAUTHORIZED,
                &none,
                b"{}",
                &Redactor::new(),
                now
            ),
            PublishError::Unauthorized { .. }
        ));
        let server = classify_answer(
            StatusCode::BAD_GATEWAY,
            &none,
            b"<html>",
            &Redactor::new(),
            now,
        );
        assert!(server.is_retryable());
        assert_eq!(
            server.to_string(),
            "the platform had an internal error (502): HTTP 502 Bad Gateway"
        );
        assert!(matches!(
            classify_answer(
                StatusCode::TOO_MANY_REQUESTS,
                &none,
                b"",
                &Redactor::new(),
                now
            ),
            PublishError::RateLimited { reset_at: None }
        ));
    }

    #[test]
    fn a_429_waits_for_the_exhausted_daily_cap_then_the_window_then_retry_after() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(
            throttle_reset(&headers, now),
            Some(now + chrono::Duration::seconds(30))
        );
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-rate-limit-reset", HeaderValue::from_static("1790000000"));
        assert_eq!(
            throttle_reset(&headers, now).map(|t| t.timestamp()),
            Some(1_790_000_000)
        );
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("12"));
        headers.insert(
            "x-user-limit-24hour-remaining",
            HeaderValue::from_static("0"),
        );
        headers.insert(
            "x-user-limit-24hour-reset",
            HeaderValue::from_static("1790050000"),
        );
        assert_eq!(
            throttle_reset(&headers, now).map(|t| t.timestamp()),
            Some(1_790_050_000)
        );
    }

    #[test]
    fn only_a_dead_grant_asks_for_reconnection() {
        let none = HeaderMap::new();
        let dead =
            br#"{"error":"invalid_grant","error_description":"Refresh token was already used"}"#;
        match classify_token_error(StatusCode::BAD_REQUEST, &none, dead, &Redactor::new()) {
            AuthError::Revoked { message } => assert_eq!(message, "Refresh token was already used"),
            other => panic!("{other:?}"),
        }
        let spent = br#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#;
        assert!(matches!(
            classify_token_error(StatusCode::BAD_REQUEST, &none, spent, &Redactor::new()),
            AuthError::Revoked { .. }
        ));
        for status in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::UNAUTHORIZED,
        ] {
            assert!(
                matches!(
                    classify_token_error(
                        status,
                        &none,
                        br#"{"error":"unauthorized_client"}"#,
                        &Redactor::new()
                    ),
                    AuthError::Transient(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_missing_or_empty_refresh_token_is_none_never_an_empty_secret() {
        for body in [
            r#"{"token_type":"bearer","expires_in":7200,"access_token":"a","scope":"tweet.read"}"#,
            r#"{"token_type":"bearer","expires_in":7200,"access_token":"a","refresh_token":""}"#,
            r#"{"token_type":"bearer","access_token":"a","refresh_token":null}"#,
        ] {
            let tokens = parse_token_answer(body.as_bytes()).unwrap();
            assert!(tokens.refresh_token.is_none(), "{body}");
        }
        let full = parse_token_answer(
            br#"{"token_type":"bearer","expires_in":7200,"access_token":"a","scope":"s","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!(full.refresh_token.unwrap().expose(), "r");
        let lapses = full.expires_at.unwrap() - Utc::now();
        assert!(lapses > chrono::Duration::seconds(7100), "{lapses}");
        assert!(matches!(
            parse_token_answer(br#"{"access_token":""}"#),
            Err(AuthError::Transient(_))
        ));
    }

    #[test]
    fn long_platform_words_are_cut() {
        let body = serde_json::json!({ "detail": "x".repeat(5000) }).to_string();
        assert_eq!(
            platform_words(StatusCode::BAD_REQUEST, body.as_bytes(), &Redactor::new())
                .chars()
                .count(),
            MAX_MESSAGE_CHARS
        );
    }
}
