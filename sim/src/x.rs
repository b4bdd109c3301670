//! Simulated X: OAuth 2.0 with PKCE, rotating refresh tokens, revoke, `/2/users/me`, media
//! upload, `POST /2/tweets` and user timelines, checked as strictly as X checks them, with
//! rate-limit headers, inspection for tests and injected failures. Never used in production.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::SimServer;
use super::wire::{form_pairs, parse_multipart, random_token};
use autopost::platforms::x::text::weighted_length;

/// X's answer to a second post with the same text.
pub const DUPLICATE_DETAIL: &str = "You are not allowed to create a Tweet with duplicate content.";
/// X's answer to a reply to a post that does not exist (or was deleted).
pub const REPLY_GONE_DETAIL: &str =
    "You attempted to reply to a Tweet that is deleted or not visible to you.";
/// X's answer to a post it refuses for the account (permissions, policy).
pub const NOT_PERMITTED_DETAIL: &str = "You are not permitted to perform this action.";
/// X's answer to text over 280 weighted characters.
pub const TOO_LONG_DETAIL: &str = "Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.";

/// An authorization code must be exchanged within this time.
const CODE_LIFETIME: Duration = Duration::from_secs(30);
/// Access tokens live two hours, as at X.
const ACCESS_LIFETIME_SECS: u64 = 7200;
/// Largest image X takes.
const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Rate-limit windows are 15 minutes.
const WINDOW_SECS: i64 = 15 * 60;
/// Scopes X knows; a request for any other is refused on the consent page.
const KNOWN_SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "tweet.moderate.write",
    "users.read",
    "follows.read",
    "follows.write",
    "offline.access",
    "space.read",
    "mute.read",
    "mute.write",
    "like.read",
    "like.write",
    "list.read",
    "list.write",
    "block.read",
    "block.write",
    "bookmark.read",
    "bookmark.write",
    "media.write",
    "dm.read",
    "dm.write",
];

/// The user the consent page logs in and approves for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimXUser {
    /// Numeric X user id.
    pub id: String,
    /// Handle without `@`.
    pub username: String,
    /// Display name.
    pub name: String,
}

impl SimXUser {
    /// A user with this id and handle; the display name is derived from the handle.
    pub fn new(id: impl Into<String>, username: impl Into<String>) -> Self {
        let username = username.into();
        Self {
            id: id.into(),
            name: format!("Sim {username}"),
            username,
        }
    }
}

/// How the simulated X is registered and who consents.
#[derive(Debug, Clone)]
pub struct SimXConfig {
    /// The OAuth client id the app must use.
    pub client_id: String,
    /// `Some` for a confidential client (Basic auth required), `None` for a public one.
    pub client_secret: Option<String>,
    /// Who the consent page approves for, until [`SimX::set_consenting_user`].
    pub user: SimXUser,
    /// Allowed callback URLs (exact match); empty accepts any.
    pub redirect_uris: Vec<String>,
    /// Answer 429 once a window's quota is used up; off for load tests.
    pub enforce_rate_limits: bool,
}

impl SimXConfig {
    /// A public PKCE client with a default user `2244994945` / `sim_alice`.
    pub fn public(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            user: SimXUser::new("2244994945", "sim_alice"),
            redirect_uris: Vec::new(),
            enforce_rate_limits: true,
        }
    }

    /// A confidential client that must authenticate with `Basic base64(id:secret)`.
    pub fn confidential(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_secret: Some(client_secret.into()),
            ..Self::public(client_id)
        }
    }
}

/// An endpoint, for failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /2/oauth2/token` (code exchange and refresh).
    Token,
    /// `POST /2/oauth2/revoke`.
    Revoke,
    /// `GET /2/users/me`.
    UsersMe,
    /// `POST /2/media/upload`.
    MediaUpload,
    /// `POST /2/tweets`.
    Tweets,
    /// `GET /2/users/:id/tweets`.
    UserTweets,
}

impl Endpoint {
    /// X's published per-user limit per 15 minutes.
    fn limit(self) -> u64 {
        match self {
            Endpoint::Tweets => 100,
            Endpoint::MediaUpload => 500,
            Endpoint::UsersMe => 75,
            Endpoint::UserTweets => 900,
            Endpoint::Token | Endpoint::Revoke => 1000,
        }
    }
}

/// A failure to answer the next request to an endpoint with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `x-rate-limit-remaining: 0` and a reset this far ahead; nothing is done.
    RateLimited {
        /// Seconds until the reported reset.
        reset_in_secs: u64,
    },
    /// 503 with a problem body; nothing is done.
    ServerError,
    /// The request is carried out, then answered only after this delay (a post may exist
    /// although the client gave up waiting).
    Slow(Duration),
    /// 400 `invalid_request` "Value passed for the token was invalid.", as X answers a token
    /// call with a token it no longer knows (revoked from X's side, or long expired);
    /// nothing is done.
    InvalidToken,
    /// 400 with a problem whose detail repeats every credential the request carried (bearer
    /// token, client secret, code, verifier, refresh token, token to revoke), as a careless
    /// API or proxy might; nothing is done.
    EchoCredentials,
    /// 403 [`NOT_PERMITTED_DETAIL`], a definite refusal; nothing is done.
    Refused,
    /// No answer ever and nothing done: the request hangs until the client gives up or dies.
    Hang,
}

/// A post X accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTweet {
    /// The post id.
    pub id: String,
    /// The X user who posted it.
    pub author_id: String,
    /// Its text, as sent.
    pub text: String,
    /// The attached media ids, in order.
    pub media_ids: Vec<String>,
    /// The post it replies to (`reply.in_reply_to_tweet_id`), as in a thread.
    pub reply_to: Option<String>,
    /// When the request arrived (before any simulated latency): for lateness measurements.
    pub received_at: DateTime<Utc>,
}

/// A `POST /2/tweets` request as it arrived, whatever became of it: a client that sends the
/// same post twice shows here even though X refuses the second as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAttempt {
    /// The X user whose live token it carried (`None`: no live token).
    pub author_id: Option<String>,
    /// The `text` of its body, if the body had one.
    pub text: Option<String>,
    /// When it arrived, before any simulated latency.
    pub arrived_at: DateTime<Utc>,
    /// The status it was answered with; `None` while it is being answered, or when the
    /// client went away before the answer (the effect may still have happened).
    pub status: Option<u16>,
}

/// An image X accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMedia {
    /// The media id.
    pub id: String,
    /// The X user who uploaded it.
    pub owner_id: String,
    /// Size of the uploaded file.
    pub bytes_len: usize,
    /// The file as uploaded, for tests of what left autopost (its metadata, say).
    pub bytes: Bytes,
    /// The type recognised from the file's first bytes.
    pub content_type: String,
}

/// How many requests reached the token and revoke endpoints, whatever their outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenRequests {
    /// `grant_type=authorization_code`.
    pub code_exchanges: usize,
    /// `grant_type=refresh_token`.
    pub refreshes: usize,
    /// `POST /2/oauth2/revoke`.
    pub revocations: usize,
}

/// Handle on a running simulated X; clones share its state.
#[derive(Clone)]
pub struct SimX {
    state: Arc<Mutex<SimState>>,
}

impl fmt::Debug for SimX {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state holds live tokens: show only counts.
        let state = self.lock();
        f.debug_struct("SimX")
            .field("client_id", &state.config.client_id)
            .field("tweets", &state.tweets.len())
            .field("media", &state.media.len())
            .finish_non_exhaustive()
    }
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    user: SimXUser,
    issued: Instant,
    used: bool,
}

struct AccessToken {
    user: SimXUser,
    scope: String,
    grant: u64,
    expires: Instant,
    dead: bool,
}

struct RefreshToken {
    user: SimXUser,
    scope: String,
    grant: u64,
    dead: bool,
}

struct Window {
    start: i64,
    used: u64,
}

struct SimState {
    config: SimXConfig,
    consenting: SimXUser,
    users: HashMap<String, SimXUser>,
    codes: HashMap<String, Code>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    next_grant: u64,
    next_id: u64,
    tweets: Vec<RecordedTweet>,
    media: Vec<RecordedMedia>,
    revoked: Vec<String>,
    token_requests: TokenRequests,
    failures: HashMap<Endpoint, VecDeque<Failure>>,
    /// Failures for one numbered request to an endpoint (see [`SimX::fail_call`]).
    planned: HashMap<(Endpoint, u64), Failure>,
    /// Requests that reached each endpoint so far.
    arrivals: HashMap<Endpoint, u64>,
    latency: Duration,
    /// When the request being handled arrived.
    arrived: DateTime<Utc>,
    /// Requests being answered now, and the most seen at once, per endpoint.
    in_flight: HashMap<Endpoint, (usize, usize)>,
    /// The same per X user (known by the bearer token the request carried), every endpoint
    /// together: what a client's per-account bound must keep down.
    per_account: HashMap<String, (usize, usize)>,
    /// Every post creation request, in order of arrival.
    creates: Vec<CreateAttempt>,
    empty_refresh_tokens: bool,
    windows: HashMap<(Endpoint, String), Window>,
}

/// Starts a simulated X on a free loopback port. Point `AUTOPOST_X_API_URL` at the server's
/// URL and `AUTOPOST_X_AUTHORIZE_URL` at [`authorize_url`].
pub async fn start(config: SimXConfig) -> io::Result<(SimX, SimServer)> {
    let sim = SimX::new(config);
    let server = SimServer::spawn(sim.router()).await?;
    Ok((sim, server))
}

/// The consent page of a simulated X served at `base`.
pub fn authorize_url(base: &Url) -> Url {
    let mut url = base.clone();
    url.set_path("/i/oauth2/authorize");
    url
}

impl SimX {
    /// A simulated X that is not serving yet; see [`SimX::router`] and [`start`].
    pub fn new(config: SimXConfig) -> Self {
        let user = config.user.clone();
        let state = SimState {
            consenting: user.clone(),
            users: HashMap::from([(user.id.clone(), user)]),
            config,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            next_grant: 1,
            next_id: 1,
            tweets: Vec::new(),
            media: Vec::new(),
            revoked: Vec::new(),
            token_requests: TokenRequests::default(),
            failures: HashMap::new(),
            planned: HashMap::new(),
            arrivals: HashMap::new(),
            latency: Duration::ZERO,
            arrived: Utc::now(),
            in_flight: HashMap::new(),
            per_account: HashMap::new(),
            creates: Vec::new(),
            empty_refresh_tokens: false,
            windows: HashMap::new(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The routes, to serve or to nest in another router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/i/oauth2/authorize", get(authorize))
            .route("/2/oauth2/token", post(token))
            .route("/2/oauth2/revoke", post(revoke))
            .route("/2/users/me", get(users_me))
            .route("/2/users/{id}/tweets", get(user_tweets))
            .route("/2/media/upload", post(media_upload))
            .route("/2/tweets", post(create_tweet))
            // Room for an image over X's 5 MB, so that the size check answers as X would.
            .layer(DefaultBodyLimit::max(2 * MAX_IMAGE_BYTES))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Who the consent page approves for from now on.
    pub fn set_consenting_user(&self, user: SimXUser) {
        let mut state = self.lock();
        state.users.insert(user.id.clone(), user.clone());
        state.consenting = user;
    }

    /// Makes the given tokens live for `user`, as if an OAuth round trip had issued them
    /// (for tests that seed an account directly).
    pub fn insert_grant(&self, user: SimXUser, access_token: &str, refresh_token: Option<&str>) {
        let mut state = self.lock();
        let scope = autopost::platforms::x::SCOPES.to_owned();
        let grant = state.next_grant;
        state.next_grant += 1;
        state.users.insert(user.id.clone(), user.clone());
        state.access.insert(
            access_token.to_owned(),
            AccessToken {
                user: user.clone(),
                scope: scope.clone(),
                grant,
                expires: Instant::now() + Duration::from_secs(ACCESS_LIFETIME_SECS),
                dead: false,
            },
        );
        if let Some(refresh) = refresh_token {
            state.refresh.insert(
                refresh.to_owned(),
                RefreshToken {
                    user,
                    scope,
                    grant,
                    dead: false,
                },
            );
        }
    }

    /// Answers the next request to `endpoint` with `failure` (queued: several calls stack).
    pub fn fail_next(&self, endpoint: Endpoint, failure: Failure) {
        self.lock()
            .failures
            .entry(endpoint)
            .or_default()
            .push_back(failure);
    }

    /// Answers the `nth` request to `endpoint` from now on (1 = the next) with `failure`,
    /// and only that one: a test makes, say, the second part of a thread fail. Comes before
    /// failures queued with [`SimX::fail_next`].
    pub fn fail_call(&self, endpoint: Endpoint, nth: u64, failure: Failure) {
        let mut state = self.lock();
        let seen = state.arrivals.get(&endpoint).copied().unwrap_or(0);
        state.planned.insert((endpoint, seen + nth.max(1)), failure);
    }

    /// How many requests reached `endpoint`, whatever their outcome (a hanging one counts).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.lock().arrivals.get(&endpoint).copied().unwrap_or(0)
    }

    /// Every live access token now gets 401, as after two hours; refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        for token in self.lock().access.values_mut() {
            token.dead = true;
        }
    }

    /// Delays every answer by `latency` (load tests).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Token answers carry `"refresh_token": ""` instead of a working one, as some X
    /// answers have been seen to: the client must keep the refresh token it already has.
    pub fn set_empty_refresh_tokens(&self, on: bool) {
        self.lock().empty_refresh_tokens = on;
    }

    /// Every post accepted so far, oldest first.
    pub fn tweets(&self) -> Vec<RecordedTweet> {
        self.lock().tweets.clone()
    }

    /// How many posts were accepted so far: cheaper than [`SimX::tweets`] for a bench that
    /// counts often.
    pub fn tweet_count(&self) -> usize {
        self.lock().tweets.len()
    }

    /// Every image accepted so far, oldest first.
    pub fn media(&self) -> Vec<RecordedMedia> {
        self.lock().media.clone()
    }

    /// The token values sent to the revoke endpoint, in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.lock().revoked.clone()
    }

    /// How many token and revoke requests arrived.
    pub fn token_requests(&self) -> TokenRequests {
        self.lock().token_requests
    }

    /// The most requests to `endpoint` that were being answered at the same moment.
    pub fn max_concurrent(&self, endpoint: Endpoint) -> usize {
        self.lock().in_flight.get(&endpoint).map_or(0, |c| c.1)
    }

    /// The X user who had the most requests being answered at the same moment, and how many
    /// (`None` before any request with a live token).
    pub fn max_concurrent_per_account(&self) -> Option<(String, usize)> {
        self.lock()
            .per_account
            .iter()
            .map(|(user, counts)| (user.clone(), counts.1))
            .max_by_key(|(_, most)| *most)
    }

    /// Every `POST /2/tweets` request so far, in order of arrival, answered or not.
    pub fn create_attempts(&self) -> Vec<CreateAttempt> {
        self.lock().creates.clone()
    }

    /// Waits until at least `n` posts exist or `timeout` passes; returns the posts either way.
    pub async fn wait_for_tweets(&self, n: usize, timeout: Duration) -> Vec<RecordedTweet> {
        super::wait_for(n, timeout, || self.tweets()).await
    }

    /// Applies latency and any injected failure, then lets `handle` answer. `carried` is what
    /// the request carried that [`Failure::EchoCredentials`] repeats.
    async fn serve(
        &self,
        endpoint: Endpoint,
        carried: Vec<String>,
        handle: impl FnOnce(&mut SimState) -> Response,
    ) -> Response {
        let arrived = Utc::now();
        let (failure, latency, _answering) = {
            let mut state = self.lock();
            let arrival = {
                let count = state.arrivals.entry(endpoint).or_default();
                *count += 1;
                *count
            };
            let failure = match state.planned.remove(&(endpoint, arrival)) {
                Some(planned) => Some(planned),
                None => state
                    .failures
                    .get_mut(&endpoint)
                    .and_then(VecDeque::pop_front),
            };
            let counts = state.in_flight.entry(endpoint).or_default();
            counts.0 += 1;
            counts.1 = counts.1.max(counts.0);
            let account = state.holder_of(&carried);
            if let Some(account) = &account {
                let counts = state.per_account.entry(account.clone()).or_default();
                counts.0 += 1;
                counts.1 = counts.1.max(counts.0);
            }
            let answering = Answering {
                sim: self.clone(),
                endpoint,
                account,
            };
            (failure, state.latency, answering)
        };
        self.answer(endpoint, failure, latency, arrived, carried, handle)
            .await
    }

    async fn answer(
        &self,
        endpoint: Endpoint,
        failure: Option<Failure>,
        latency: Duration,
        arrived: DateTime<Utc>,
        carried: Vec<String>,
        handle: impl FnOnce(&mut SimState) -> Response,
    ) -> Response {
        let handle = |state: &mut SimState| {
            state.arrived = arrived;
            handle(state)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match failure {
            Some(Failure::RateLimited { reset_in_secs }) => {
                let reset = Utc::now().timestamp() + i64::try_from(reset_in_secs).unwrap_or(0);
                Meter::exhausted(endpoint, reset).apply(too_many_requests())
            }
            Some(Failure::ServerError) => {
                let meter = Meter {
                    limit: endpoint.limit(),
                    remaining: endpoint.limit(),
                    reset: Utc::now().timestamp() + WINDOW_SECS,
                };
                meter.apply(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "Service Unavailable",
                    "about:blank",
                ))
            }
            Some(Failure::InvalidToken) => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Value passed for the token was invalid.",
            ),
            Some(Failure::Slow(delay)) => {
                // Carry the request out first: the client may give up, but the effect stays.
                let response = handle(&mut self.lock());
                tokio::time::sleep(delay).await;
                response
            }
            Some(Failure::Refused) => problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                NOT_PERMITTED_DETAIL,
                "about:blank",
            ),
            Some(Failure::Hang) => std::future::pending().await,
            Some(Failure::EchoCredentials) => problem(
                StatusCode::BAD_REQUEST,
                "Invalid Request",
                &format!("These credentials were not accepted: {}", carried.join(" ")),
                "https://api.x.com/2/problems/invalid-request",
            ),
            None => handle(&mut self.lock()),
        }
    }
}

/// A request being answered: counted out again when its answer is done, or when the client
/// went away and the server dropped the unfinished answer.
struct Answering {
    sim: SimX,
    endpoint: Endpoint,
    account: Option<String>,
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut state = self.sim.lock();
        if let Some(counts) = state.in_flight.get_mut(&self.endpoint) {
            counts.0 = counts.0.saturating_sub(1);
        }
        if let Some(counts) = self
            .account
            .as_ref()
            .and_then(|account| state.per_account.get_mut(account))
        {
            counts.0 = counts.0.saturating_sub(1);
        }
    }
}

/// The rate-limit headers of one answer.
struct Meter {
    limit: u64,
    remaining: u64,
    reset: i64,
}

impl Meter {
    /// An endpoint's window with nothing left until `reset`.
    fn exhausted(endpoint: Endpoint, reset: i64) -> Self {
        Meter {
            limit: endpoint.limit(),
            remaining: 0,
            reset,
        }
    }

    fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-rate-limit-limit", self.limit.to_string()),
            ("x-rate-limit-remaining", self.remaining.to_string()),
            ("x-rate-limit-reset", self.reset.to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// An RFC 7807 problem answer, as X v2 sends them.
/// The credentials a request carried: a bearer token, the secret of Basic client
/// authentication, and the secret fields of a token or revoke form.
fn carried(headers: &HeaderMap, form: Option<&HashMap<String, String>>) -> Vec<String> {
    let mut found = Vec::new();
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) {
        found.push(token.to_owned());
    }
    let basic = authorization
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| BASE64.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    if let Some((_, secret)) = basic.as_deref().and_then(|pair| pair.split_once(':')) {
        found.push(secret.to_owned());
    }
    for name in [
        "code",
        "code_verifier",
        "refresh_token",
        "token",
        "client_secret",
    ] {
        if let Some(value) = form.and_then(|form| form.get(name)) {
            found.push(value.clone());
        }
    }
    found
}

fn problem(status: StatusCode, title: &str, detail: &str, kind: &str) -> Response {
    let body = json!({ "title": title, "detail": detail, "type": kind, "status": status.as_u16() });
    (status, axum::Json(body)).into_response()
}

/// X's 429 problem, whether the window ran out or a failure was injected.
fn too_many_requests() -> Response {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Too Many Requests",
        "https://api.x.com/2/problems/rate-limit-exceeded",
    )
}

/// X's answer to a request whose parameters fail validation.
fn invalid_request(message: &str) -> Response {
    let body = json!({
        "errors": [{ "message": message }],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.x.com/2/problems/invalid-request",
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized",
        "about:blank",
    )
}

/// An OAuth error answer from the token endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status, axum::Json(body)).into_response()
}

impl SimState {
    /// Counts a request against `key`'s window; `None` when the window is used up.
    fn meter(&mut self, endpoint: Endpoint, key: &str) -> Option<Meter> {
        let now = Utc::now().timestamp();
        let limit = endpoint.limit();
        let window = self
            .windows
            .entry((endpoint, key.to_owned()))
            .or_insert(Window {
                start: now,
                used: 0,
            });
        if now >= window.start + WINDOW_SECS {
            *window = Window {
                start: now,
                used: 0,
            };
        }
        if window.used >= limit && self.config.enforce_rate_limits {
            return None;
        }
        window.used += 1;
        Some(Meter {
            limit,
            remaining: limit.saturating_sub(window.used),
            reset: window.start + WINDOW_SECS,
        })
    }

    /// Runs `handle` under `key`'s quota, or answers 429 when it is used up.
    fn metered(
        &mut self,
        endpoint: Endpoint,
        key: &str,
        handle: impl FnOnce(&mut Self) -> Response,
    ) -> Response {
        match self.meter(endpoint, key) {
            Some(meter) => meter.apply(handle(self)),
            None => {
                let reset = self
                    .windows
                    .get(&(endpoint, key.to_owned()))
                    .map_or(0, |w| w.start + WINDOW_SECS);
                Meter::exhausted(endpoint, reset).apply(too_many_requests())
            }
        }
    }

    /// The user id behind the request's bearer token, if it is one this X issued.
    fn bearer_user(&self, headers: &HeaderMap) -> Option<String> {
        self.holder_of(&carried(headers, None))
    }

    /// The user whose access token is among the credentials a request carried.
    fn holder_of(&self, carried: &[String]) -> Option<String> {
        carried
            .iter()
            .find_map(|credential| self.access.get(credential))
            .map(|access| access.user.id.clone())
    }

    /// The user behind a live bearer token that carries every scope in `needs`.
    fn authenticate(&self, headers: &HeaderMap, needs: &[&str]) -> Result<SimXUser, Box<Response>> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Box::new(unauthorized()))?;
        let access = self
            .access
            .get(token)
            .filter(|a| !a.dead && Instant::now() < a.expires)
            .ok_or_else(|| Box::new(unauthorized()))?;
        let granted: Vec<&str> = access.scope.split(' ').collect();
        if let Some(missing) = needs.iter().find(|s| !granted.contains(s)) {
            return Err(Box::new(problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!("Missing the `{missing}` scope for this endpoint."),
                "https://api.x.com/2/problems/client-forbidden",
            )));
        }
        Ok(access.user.clone())
    }

    /// Checks the client's authentication on the token and revoke endpoints: Basic with the
    /// right secret for a confidential client, `client_id` in the body for a public one.
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<(), Box<Response>> {
        let basic = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "));
        match &self.config.client_secret {
            Some(secret) => {
                let expected = BASE64.encode(format!("{}:{secret}", self.config.client_id));
                if basic != Some(expected.as_str()) {
                    return Err(Box::new(oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized_client",
                        "Missing valid authorization header",
                    )));
                }
            }
            None => {
                if basic.is_some() {
                    return Err(Box::new(oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized_client",
                        "This client has no secret; send client_id in the body",
                    )));
                }
                match form.get("client_id") {
                    None => {
                        return Err(Box::new(oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "Missing required parameter [client_id].",
                        )));
                    }
                    Some(id) if *id != self.config.client_id => {
                        return Err(Box::new(oauth_error(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized_client",
                            "Unknown client_id",
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Issues an access token (and a refresh token with `offline.access`) for `user`.
    fn issue(&mut self, user: SimXUser, scope: &str, grant: Option<u64>) -> Value {
        let grant = grant.unwrap_or_else(|| {
            self.next_grant += 1;
            self.next_grant
        });
        let access = random_token("simx-at-");
        self.access.insert(
            access.clone(),
            AccessToken {
                user: user.clone(),
                scope: scope.to_owned(),
                grant,
                expires: Instant::now() + Duration::from_secs(ACCESS_LIFETIME_SECS),
                dead: false,
            },
        );
        let mut answer = json!({
            "token_type": "bearer",
            "expires_in": ACCESS_LIFETIME_SECS,
            "access_token": access,
            "scope": scope,
        });
        if self.empty_refresh_tokens {
            answer["refresh_token"] = Value::String(String::new());
        } else if scope.split(' ').any(|s| s == "offline.access") {
            let refresh = random_token("simx-rt-");
            self.refresh.insert(
                refresh.clone(),
                RefreshToken {
                    user,
                    scope: scope.to_owned(),
                    grant,
                    dead: false,
                },
            );
            answer["refresh_token"] = Value::String(refresh);
        }
        answer
    }

    fn next_id(&mut self, base: u64) -> String {
        self.next_id += 1;
        (base + self.next_id).to_string()
    }

    fn exchange_code(&mut self, form: &HashMap<String, String>) -> Response {
        let mut missing = ["code", "redirect_uri", "code_verifier"]
            .into_iter()
            .filter(|p| form.get(*p).is_none_or(String::is_empty));
        if let Some(param) = missing.next() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Missing required parameter [{param}]."),
            );
        }
        let get = |name: &str| form.get(name).map_or("", String::as_str);
        let invalid = || {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Value passed for the authorization code was invalid.",
            )
        };
        let Some(code) = self.codes.get_mut(get("code")) else {
            return invalid();
        };
        // A code is spent by any attempt, as the spec requires of single-use codes.
        let fresh = !code.used && code.issued.elapsed() < CODE_LIFETIME;
        code.used = true;
        let verifier = get("code_verifier");
        let verifier_ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == code.challenge;
        if !fresh
            || code.client_id != self.config.client_id
            || code.redirect_uri != get("redirect_uri")
            || !verifier_ok
        {
            return invalid();
        }
        let (user, scope) = (code.user.clone(), code.scope.clone());
        (StatusCode::OK, axum::Json(self.issue(user, &scope, None))).into_response()
    }

    fn refresh(&mut self, form: &HashMap<String, String>) -> Response {
        let Some(presented) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter [refresh_token].",
            );
        };
        let keep_old = self.empty_refresh_tokens;
        let Some(old) = self.refresh.get_mut(presented).filter(|r| !r.dead) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Value passed for the token was invalid.",
            );
        };
        // Rotation: the presented refresh token is single use, unless no new one is handed
        // out (then the old one must go on working, or the grant would be lost).
        old.dead = !keep_old;
        let (user, scope, grant) = (old.user.clone(), old.scope.clone(), old.grant);
        (
            StatusCode::OK,
            axum::Json(self.issue(user, &scope, Some(grant))),
        )
            .into_response()
    }

    fn revoke(&mut self, form: &HashMap<String, String>) -> Response {
        let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter [token].",
            );
        };
        self.revoked.push(token.clone());
        // Revoking either token ends the whole grant, as disconnecting an app does at X.
        let grant = self
            .access
            .get(token)
            .map(|a| a.grant)
            .or_else(|| self.refresh.get(token).map(|r| r.grant));
        if let Some(grant) = grant {
            for a in self.access.values_mut().filter(|a| a.grant == grant) {
                a.dead = true;
            }
            for r in self.refresh.values_mut().filter(|r| r.grant == grant) {
                r.dead = true;
            }
        }
        // RFC 7009: an unknown token is answered 200 as well.
        (StatusCode::OK, axum::Json(json!({ "revoked": true }))).into_response()
    }

    fn upload(&mut self, user: &SimXUser, headers: &HeaderMap, body: &[u8]) -> Response {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(parts) = parse_multipart(content_type, body) else {
            return invalid_request("The request body must be multipart/form-data.");
        };
        let find = |name: &str| parts.iter().find(|p| p.name == name);
        let Some(media) = find("media") else {
            return invalid_request("The `media` field is required.");
        };
        let Some(category) = find("media_category") else {
            return invalid_request("The `media_category` field is required.");
        };
        let category = String::from_utf8_lossy(category.data);
        if !["tweet_image", "tweet_gif", "dm_image"].contains(&category.as_ref()) {
            return invalid_request("The `media_category` field is not a valid image category.");
        }
        if media.data.len() > MAX_IMAGE_BYTES {
            return invalid_request("File size exceeds 5242880 bytes.");
        }
        let Some((image_type, w, h)) = sniff_image(media.data) else {
            return invalid_request("Unsupported media type: not a JPEG, PNG, GIF or WEBP image.");
        };
        let id = self.next_id(1_880_000_000_000_000_000);
        self.media.push(RecordedMedia {
            id: id.clone(),
            owner_id: user.id.clone(),
            bytes_len: media.data.len(),
            bytes: Bytes::copy_from_slice(media.data),
            content_type: image_type.to_owned(),
        });
        let answer = json!({ "data": {
            "id": id,
            "media_key": format!("3_{id}"),
            "size": media.data.len(),
            "expires_after_secs": 86_400,
            "image": { "image_type": image_type, "w": w, "h": h },
        }});
        (StatusCode::OK, axum::Json(answer)).into_response()
    }

    fn create_tweet(&mut self, user: &SimXUser, headers: &HeaderMap, body: &[u8]) -> Response {
        let is_json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return invalid_request("The request body must be application/json.");
        }
        let request = match parse_tweet(body) {
            Ok(r) => r,
            Err(message) => return invalid_request(&message),
        };
        if let Some(replied) = &request.reply_to
            && !self.tweets.iter().any(|t| &t.id == replied)
        {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                REPLY_GONE_DETAIL,
                "about:blank",
            );
        }
        let has_media = request.media_ids.is_some();
        let media_ids = request.media_ids.unwrap_or_default();
        let text = request.text.unwrap_or_default();
        if text.is_empty() && media_ids.is_empty() {
            return invalid_request("A post needs `text` or `media`.");
        }
        if weighted_length(&text) > 280 {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                TOO_LONG_DETAIL,
                "about:blank",
            );
        }
        if has_media && !(1..=4).contains(&media_ids.len()) {
            return invalid_request("media.media_ids: size must be between 1 and 4");
        }
        let owned = |id: &String| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && self
                    .media
                    .iter()
                    .any(|m| &m.id == id && m.owner_id == user.id)
        };
        if !media_ids.iter().all(owned) {
            return invalid_request("Your media IDs are invalid.");
        }
        let duplicate = !text.is_empty()
            && self
                .tweets
                .iter()
                .any(|t| t.author_id == user.id && t.text == text);
        if duplicate {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                DUPLICATE_DETAIL,
                "about:blank",
            );
        }
        let id = self.next_id(1_900_000_000_000_000_000);
        self.tweets.push(RecordedTweet {
            id: id.clone(),
            author_id: user.id.clone(),
            text: text.clone(),
            media_ids,
            reply_to: request.reply_to,
            received_at: self.arrived,
        });
        let answer = json!({ "data": { "id": id, "text": text, "edit_history_post_ids": [id] } });
        (StatusCode::CREATED, axum::Json(answer)).into_response()
    }

    fn timeline(&self, author: &str, query: &HashMap<String, String>) -> Response {
        let max = match query.get("max_results").map(|m| m.parse::<usize>()) {
            None => 10,
            Some(Ok(n)) if (5..=100).contains(&n) => n,
            Some(_) => {
                return invalid_request(
                    "The `max_results` query parameter value must be between 5 and 100",
                );
            }
        };
        // As at X, what a post replies to is shown only when asked for.
        let references = query
            .get("tweet.fields")
            .is_some_and(|f| f.split(',').any(|f| f == "referenced_tweets"));
        let data: Vec<Value> = self
            .tweets
            .iter()
            .rev()
            .filter(|t| t.author_id == author)
            .take(max)
            .map(|t| {
                let mut tweet =
                    json!({ "id": t.id, "text": t.text, "edit_history_tweet_ids": [t.id] });
                if let (true, Some(replied)) = (references, &t.reply_to) {
                    tweet["referenced_tweets"] = json!([{ "type": "replied_to", "id": replied }]);
                }
                tweet
            })
            .collect();
        let mut answer = json!({ "meta": { "result_count": data.len() } });
        if let (Some(newest), Some(oldest)) = (data.first(), data.last()) {
            answer["meta"]["newest_id"] = newest["id"].clone();
            answer["meta"]["oldest_id"] = oldest["id"].clone();
            answer["data"] = Value::Array(data);
        }
        (StatusCode::OK, axum::Json(answer)).into_response()
    }
}

/// Top-level keys of the `POST /2/tweets` schema, which has `additionalProperties: false`:
/// unknown keys are refused; keys autopost never sends are accepted and ignored.
const TWEET_KEYS: &[&str] = &[
    "text",
    "media",
    "reply",
    "quote_tweet_id",
    "poll",
    "reply_settings",
    "made_with_ai",
    "paid_partnership",
    "community_id",
    "edit_options",
    "nullcast",
    "for_super_followers_only",
    "direct_message_deep_link",
    "geo",
    "card_uri",
];

/// The parts of a post body the simulation acts on.
#[derive(Debug, PartialEq, Eq)]
struct CreateTweet {
    text: Option<String>,
    /// `None` when the body has no `media` object.
    media_ids: Option<Vec<String>>,
    /// `reply.in_reply_to_tweet_id`.
    reply_to: Option<String>,
}

/// Checks a post body against X's schema.
fn parse_tweet(body: &[u8]) -> Result<CreateTweet, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("The body must be a JSON object.".to_owned());
    };
    let not_allowed = |key: &str| {
        format!(
            "$.{key}: is not defined in the schema and the schema does not allow additional properties"
        )
    };
    if let Some(key) = map.keys().find(|k| !TWEET_KEYS.contains(&k.as_str())) {
        return Err(not_allowed(key));
    }
    let text = match map.get("text") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err("$.text: must be a string".to_owned()),
    };
    let media_ids = match map.get("media") {
        None => None,
        Some(Value::Object(media)) => {
            if let Some(key) = media
                .keys()
                .find(|k| !["media_ids", "tagged_user_ids"].contains(&k.as_str()))
            {
                return Err(not_allowed(&format!("media.{key}")));
            }
            let ids = media
                .get("media_ids")
                .and_then(Value::as_array)
                .ok_or("$.media.media_ids: is required and must be an array")?;
            let ids: Option<Vec<String>> = ids
                .iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect();
            Some(ids.ok_or("$.media.media_ids: every id must be a string")?)
        }
        Some(_) => return Err("$.media: must be an object".to_owned()),
    };
    let reply_to = match map.get("reply") {
        None => None,
        Some(Value::Object(reply)) => {
            if let Some(key) = reply
                .keys()
                .find(|k| !["in_reply_to_tweet_id", "exclude_reply_user_ids"].contains(&k.as_str()))
            {
                return Err(not_allowed(&format!("reply.{key}")));
            }
            let id = match reply.get("in_reply_to_tweet_id") {
                Some(Value::String(id)) => id,
                None => {
                    return Err(
                        "$.reply.in_reply_to_tweet_id: is missing but it is required".to_owned(),
                    );
                }
                Some(_) => return Err("$.reply.in_reply_to_tweet_id: must be a string".to_owned()),
            };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "$.reply.in_reply_to_tweet_id: `{id}` does not match ^[0-9]{{1,19}}$"
                ));
            }
            Some(id.clone())
        }
        Some(_) => return Err("$.reply: must be an object".to_owned()),
    };
    Ok(CreateTweet {
        text,
        media_ids,
        reply_to,
    })
}

/// The image type from a file's first bytes, with its size where the header gives it
/// cheaply (PNG, GIF); X refuses anything that is not a JPEG, PNG, GIF or WEBP.
fn sniff_image(bytes: &[u8]) -> Option<(&'static str, u32, u32)> {
    let be32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", be32(16).unwrap_or(1), be32(20).unwrap_or(1)))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("image/gif", le16(6).unwrap_or(1), le16(8).unwrap_or(1)))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", 1, 1))
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(("image/webp", 1, 1))
    } else {
        None
    }
}

/// An error page of the consent screen; `reason` is always our own fixed text.
fn consent_error(reason: &str) -> Response {
    let page =
        format!("<!doctype html><title>X</title><h1>Something went wrong</h1><p>{reason}</p>");
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

async fn authorize(State(sim): State<SimX>, RawQuery(query): RawQuery) -> Response {
    let params = form_pairs(query.unwrap_or_default().as_bytes());
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let mut state = sim.lock();
    let checks: [(bool, &str); 7] = [
        (
            get("response_type") == "code",
            "response_type must be code.",
        ),
        (
            get("client_id") == state.config.client_id,
            "Unknown client_id.",
        ),
        (!get("state").is_empty(), "state is required."),
        (get("state").len() <= 500, "state is too long."),
        (
            get("code_challenge_method") == "S256",
            "code_challenge_method must be S256.",
        ),
        (
            !get("code_challenge").is_empty(),
            "code_challenge is required.",
        ),
        (
            get("scope").split(' ').all(|s| KNOWN_SCOPES.contains(&s)),
            "scope names an unknown scope.",
        ),
    ];
    if let Some((_, reason)) = checks.iter().find(|(ok, _)| !ok) {
        return consent_error(reason);
    }
    let Ok(mut redirect) = Url::parse(get("redirect_uri")) else {
        return consent_error("redirect_uri is missing or not a URL.");
    };
    let allowed = &state.config.redirect_uris;
    if !allowed.is_empty() && !allowed.iter().any(|u| u == get("redirect_uri")) {
        return consent_error("redirect_uri is not registered for this app.");
    }
    let code = random_token("simx-code-");
    let user = state.consenting.clone();
    let client_id = state.config.client_id.clone();
    state.codes.insert(
        code.clone(),
        Code {
            client_id,
            redirect_uri: get("redirect_uri").to_owned(),
            challenge: get("code_challenge").to_owned(),
            scope: get("scope").to_owned(),
            user,
            issued: Instant::now(),
            used: false,
        },
    );
    redirect
        .query_pairs_mut()
        .append_pair("state", get("state"))
        .append_pair("code", &code);
    match HeaderValue::from_str(redirect.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => consent_error("redirect_uri cannot be redirected to."),
    }
}

async fn token(State(sim): State<SimX>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_pairs(&body);
    sim.clone()
        .serve(Endpoint::Token, carried(&headers, Some(&form)), |state| {
            let client = state.config.client_id.clone();
            state.metered(Endpoint::Token, &client, |state| {
                let grant_type = form.get("grant_type").map_or("", String::as_str);
                match grant_type {
                    "authorization_code" => state.token_requests.code_exchanges += 1,
                    "refresh_token" => state.token_requests.refreshes += 1,
                    _ => {}
                }
                if let Err(refused) = state.authenticate_client(&headers, &form) {
                    return *refused;
                }
                match grant_type {
                    "authorization_code" => state.exchange_code(&form),
                    "refresh_token" => state.refresh(&form),
                    _ => oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported_grant_type",
                        "grant_type must be authorization_code or refresh_token",
                    ),
                }
            })
        })
        .await
}

async fn revoke(State(sim): State<SimX>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_pairs(&body);
    sim.clone()
        .serve(Endpoint::Revoke, carried(&headers, Some(&form)), |state| {
            let client = state.config.client_id.clone();
            state.metered(Endpoint::Revoke, &client, |state| {
                state.token_requests.revocations += 1;
                if let Err(refused) = state.authenticate_client(&headers, &form) {
                    return *refused;
                }
                state.revoke(&form)
            })
        })
        .await
}

/// Authenticates, then meters the request against the user's quota.
fn as_user(
    state: &mut SimState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    needs: &[&str],
    handle: impl FnOnce(&mut SimState, &SimXUser) -> Response,
) -> Response {
    match state.authenticate(headers, needs) {
        Ok(user) => state.metered(endpoint, &user.id.clone(), |state| handle(state, &user)),
        Err(refused) => state.metered(endpoint, "anonymous", |_| *refused),
    }
}

async fn users_me(State(sim): State<SimX>, headers: HeaderMap) -> Response {
    sim.clone()
        .serve(Endpoint::UsersMe, carried(&headers, None), |state| {
            as_user(
                state,
                Endpoint::UsersMe,
                &headers,
                &["tweet.read", "users.read"],
                |_, user| {
                    let answer = json!({ "data": {
                        "id": user.id, "name": user.name, "username": user.username,
                    }});
                    (StatusCode::OK, axum::Json(answer)).into_response()
                },
            )
        })
        .await
}

async fn user_tweets(
    State(sim): State<SimX>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = form_pairs(query.unwrap_or_default().as_bytes());
    sim.clone()
        .serve(Endpoint::UserTweets, carried(&headers, None), |state| {
            as_user(
                state,
                Endpoint::UserTweets,
                &headers,
                &["tweet.read", "users.read"],
                |state, _| state.timeline(&id, &query),
            )
        })
        .await
}

async fn media_upload(State(sim): State<SimX>, headers: HeaderMap, body: Bytes) -> Response {
    sim.clone()
        .serve(Endpoint::MediaUpload, carried(&headers, None), |state| {
            as_user(
                state,
                Endpoint::MediaUpload,
                &headers,
                &["media.write"],
                |state, user| state.upload(user, &headers, &body),
            )
        })
        .await
}

async fn create_tweet(State(sim): State<SimX>, headers: HeaderMap, body: Bytes) -> Response {
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("text").and_then(Value::as_str).map(str::to_owned));
    let attempt = {
        let mut state = sim.lock();
        let author_id = state.bearer_user(&headers);
        state.creates.push(CreateAttempt {
            author_id,
            text,
            arrived_at: Utc::now(),
            status: None,
        });
        state.creates.len() - 1
    };
    let response = sim
        .clone()
        .serve(Endpoint::Tweets, carried(&headers, None), |state| {
            as_user(
                state,
                Endpoint::Tweets,
                &headers,
                &["tweet.read", "tweet.write", "users.read"],
                |state, user| state.create_tweet(user, &headers, &body),
            )
        })
        .await;
    if let Some(recorded) = sim.lock().creates.get_mut(attempt) {
        recorded.status = Some(response.status().as_u16());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_first_bytes() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(sniff_image(&png), Some(("image/png", 3, 2)));
        assert_eq!(
            sniff_image(b"GIF89a\x05\x00\x04\x00"),
            Some(("image/gif", 5, 4))
        );
        assert_eq!(
            sniff_image(b"RIFF\0\0\0\0WEBPVP8 ").map(|s| s.0),
            Some("image/webp")
        );
        assert!(sniff_image(b"%PDF-1.7").is_none());
    }

    #[test]
    fn a_post_body_with_an_unknown_key_is_refused() {
        assert!(parse_tweet(br#"{"text":"a","colour":"red"}"#).is_err());
        assert!(parse_tweet(br#"{"text":"a","media":{"media_ids":[],"x":1}}"#).is_err());
        assert!(parse_tweet(br#"{"text":"a","media":{"media_ids":[1]}}"#).is_err());
        assert!(parse_tweet(br#"{"text":7}"#).is_err());
        assert_eq!(
            parse_tweet(br#"{"text":"a","media":{"media_ids":["1"]}}"#).unwrap(),
            CreateTweet {
                text: Some("a".to_owned()),
                media_ids: Some(vec!["1".to_owned()]),
                reply_to: None,
            }
        );
    }

    #[test]
    fn a_reply_names_the_post_it_answers_by_a_numeric_id() {
        assert_eq!(
            parse_tweet(br#"{"text":"b","reply":{"in_reply_to_tweet_id":"19"}}"#)
                .unwrap()
                .reply_to
                .as_deref(),
            Some("19")
        );
        for refused in [
            br#"{"text":"b","reply":{}}"#.as_slice(),
            br#"{"text":"b","reply":{"in_reply_to_tweet_id":19}}"#,
            br#"{"text":"b","reply":{"in_reply_to_tweet_id":"abc"}}"#,
            br#"{"text":"b","reply":{"in_reply_to_tweet_id":"1","colour":1}}"#,
            br#"{"text":"b","reply":"19"}"#,
        ] {
            assert!(
                parse_tweet(refused).is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }
}
