//! Simulated Meta: the login dialog, code and long-lived token exchanges, `/me/accounts` with
//! paging, Page feed and photo posts, Instagram containers (fetched over HTTP like Meta does),
//! status, `media_publish` with a daily quota, revocation, Graph-style errors in the body,
//! usage headers, the `signed_request` Meta posts to an app's deauthorize and data-deletion
//! callbacks, inspection for tests and injected failures. Never used in production.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use super::SimServer;
use super::wire::{form_pairs, parse_multipart, random_token};

/// The permissions the dialog insists on: exactly autopost's five.
const REQUIRED_SCOPES: &[&str] = &[
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_show_list",
    "instagram_basic",
    "instagram_content_publish",
];
/// A code must be exchanged within ten minutes, as at Meta.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// What Meta answers for a long-lived token (about 60 days).
pub const LONG_LIVED_EXPIRES_IN: u64 = 5_183_944;
/// A short-lived user token lasts about an hour.
const SHORT_LIVED_EXPIRES_IN: u64 = 3_600;
/// Facebook refuses photos over this size (subcode 1366046).
const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// Instagram refuses images over this size.
const MAX_IG_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// Longest Instagram caption, and most hashtags in one.
const MAX_CAPTION_CHARS: usize = 2_200;
const MAX_HASHTAGS: usize = 30;

/// An Instagram business account linked to a simulated Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInstagram {
    /// The Instagram user id.
    pub id: String,
    /// The @username, without `@`.
    pub username: String,
}

/// A Page the simulated user manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPage {
    /// The Page id.
    pub id: String,
    /// The Page name.
    pub name: String,
    /// Its Instagram business account, if one is linked.
    pub instagram: Option<SimInstagram>,
}

impl SimPage {
    /// A Page without Instagram.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            instagram: None,
        }
    }

    /// The same Page with an Instagram business account linked.
    pub fn with_instagram(mut self, id: impl Into<String>, username: impl Into<String>) -> Self {
        self.instagram = Some(SimInstagram {
            id: id.into(),
            username: username.into(),
        });
        self
    }
}

/// The Facebook user who logs in through the dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMetaUser {
    /// The app-scoped user id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The Pages the user shares with the app, in the order `/me/accounts` lists them.
    pub pages: Vec<SimPage>,
}

/// How the simulated Meta app is registered and who logs in.
#[derive(Debug, Clone)]
pub struct SimMetaConfig {
    /// The app id the client must use.
    pub app_id: String,
    /// The app secret for token exchanges and `appsecret_proof`.
    pub app_secret: String,
    /// The one Graph version served (such as `v27.0`); others are refused.
    pub api_version: String,
    /// Who logs in.
    pub user: SimMetaUser,
    /// How many status checks answer IN_PROGRESS before a container is FINISHED.
    pub container_polls: u32,
    /// Instagram posts allowed per account per 24 hours.
    pub daily_quota: u32,
    /// Pages per `/me/accounts` answer (Meta's default is 25; 2 makes tests page).
    pub page_size: usize,
}

impl SimMetaConfig {
    /// An app with this id and secret on `v27.0`, and a user `Sim Alice` with three Pages:
    /// `Alice's Bakery` (Instagram `@alices_bakery`), `Alice's Cafe` (no Instagram) and
    /// `Alice's Shop` (Instagram `@alices_shop`), so `/me/accounts` takes two answers.
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            api_version: "v27.0".to_owned(),
            user: SimMetaUser {
                id: "10158000000000001".to_owned(),
                name: "Sim Alice".to_owned(),
                pages: vec![
                    SimPage::new("5550001", "Alice's Bakery")
                        .with_instagram("17841400000000001", "alices_bakery"),
                    SimPage::new("5550002", "Alice's Cafe"),
                    SimPage::new("5550003", "Alice's Shop")
                        .with_instagram("17841400000000003", "alices_shop"),
                ],
            },
            container_polls: 1,
            daily_quota: 100,
            page_size: 2,
        }
    }
}

/// An endpoint, for failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /oauth/access_token` (code and long-lived exchanges).
    AccessToken,
    /// `GET /me`.
    Me,
    /// `GET /me/accounts`.
    Accounts,
    /// `GET /{page or instagram id}` (username, linked Instagram account).
    Node,
    /// `POST /{page}/feed`.
    Feed,
    /// `POST /{page}/photos`.
    Photos,
    /// `POST /{ig}/media`.
    Media,
    /// `GET /{container}?fields=status_code,status`.
    ContainerStatus,
    /// `POST /{ig}/media_publish`.
    MediaPublish,
    /// `GET /{media}?fields=permalink`.
    Permalink,
    /// `GET /{ig}/content_publishing_limit`.
    PublishingLimit,
    /// `DELETE /me/permissions`.
    Permissions,
    /// `GET /{page}/feed` and `GET /{ig}/media`: recent posts, newest first.
    Recent,
}

/// A failure to answer the next request to an endpoint with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Meta's throttling: HTTP 400 (codes 4, 17, 613) or 403 (32, 800xx) with the code in
    /// the body and `X-Business-Use-Case-Usage` at 100% with this estimate; nothing is done.
    Throttled {
        /// The Graph error code: 4, 17, 32, 613, 80001, 80002…
        code: u32,
        /// `estimated_time_to_regain_access`, in minutes.
        regain_minutes: u32,
    },
    /// HTTP 500 with a transient code-2 Graph error; nothing is done.
    ServerError,
    /// HTTP 502 with an HTML body, as a proxy in front of Meta answers; nothing is done.
    BadGateway,
    /// The request is carried out, then answered only after this delay (a post may exist
    /// although the client gave up waiting).
    Slow(Duration),
    /// HTTP 400 with a code-100 Graph error whose message repeats every credential the
    /// request carried (access token, app secret, code, token being exchanged), as a careless
    /// API or proxy might; nothing is done.
    EchoCredentials,
    /// HTTP 400 with Graph error 368, as Meta answers a post it blocks under its content
    /// rules ("temporarily blocked"); nothing is done.
    /// <https://developers.facebook.com/docs/graph-api/guides/error-handling>
    ContentBlocked,
}

/// A Page feed post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFeedPost {
    /// `{page}_{post}`.
    pub id: String,
    /// The Page it is on.
    pub page_id: String,
    /// Its text.
    pub message: Option<String>,
    /// The link it previews.
    pub link: Option<String>,
    /// The photos it shows, in order.
    pub photo_ids: Vec<String>,
}

/// A photo uploaded to a Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPhoto {
    /// The photo id.
    pub id: String,
    /// The Page it belongs to.
    pub page_id: String,
    /// The size of the uploaded (or fetched) file.
    pub bytes_len: usize,
    /// The file as uploaded (or fetched), for tests of what left autopost.
    pub bytes: Bytes,
    /// The type recognised from the file's first bytes.
    pub content_type: String,
    /// Whether it was published as its own post (`published=false` photos wait to be attached).
    pub published: bool,
    /// Its caption (`message` or `caption`).
    pub caption: Option<String>,
}

/// An Instagram container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimContainer {
    /// The container id.
    pub id: String,
    /// The Instagram account it belongs to.
    pub ig_id: String,
    /// The image URL Meta was given (`None` for a carousel).
    pub image_url: Option<String>,
    /// The bytes fetched from `image_url`.
    pub fetched: Option<Bytes>,
    /// The `Content-Type` the image was served with.
    pub fetched_content_type: Option<String>,
    /// The caption.
    pub caption: Option<String>,
    /// Whether it is a carousel item.
    pub is_carousel_item: bool,
    /// A carousel's children, in order.
    pub children: Vec<String>,
    /// Status checks so far.
    pub status_checks: u32,
    /// `IN_PROGRESS`, `FINISHED`, `ERROR` or `PUBLISHED`.
    pub status_code: String,
}

/// A published Instagram post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimIgMedia {
    /// The media id.
    pub id: String,
    /// The Instagram account.
    pub ig_id: String,
    /// The container it was published from.
    pub container_id: String,
    /// The caption.
    pub caption: Option<String>,
    /// The public link.
    pub permalink: String,
}

/// How many requests reached the token and revocation endpoints, whatever their outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimTokenRequests {
    /// Code exchanges.
    pub code_exchanges: usize,
    /// `grant_type=fb_exchange_token`.
    pub long_lived_exchanges: usize,
    /// `DELETE /me/permissions`.
    pub revocations: usize,
}

/// Handle on a running simulated Meta; clones share its state.
#[derive(Clone)]
pub struct SimMeta {
    state: Arc<Mutex<SimState>>,
    /// Fetches Instagram `image_url`s, as Meta's crawler does.
    fetcher: reqwest::Client,
}

impl fmt::Debug for SimMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state holds live tokens: show only counts.
        let state = self.lock();
        f.debug_struct("SimMeta")
            .field("app_id", &state.config.app_id)
            .field("feed_posts", &state.feed.len())
            .field("ig_media", &state.ig_media.len())
            .finish_non_exhaustive()
    }
}

struct Code {
    redirect_uri: String,
    issued: Instant,
    used: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum TokenKind {
    User,
    Page(String),
}

struct Token {
    kind: TokenKind,
    /// The 190 subcode a dead token answers with (463 expired, 458 app removed).
    dead: Option<i64>,
}

enum ContainerState {
    InProgress { checks_left: u32 },
    Finished,
    Error(String),
    Published,
}

struct Container {
    record: SimContainer,
    state: ContainerState,
}

struct SimState {
    config: SimMetaConfig,
    codes: HashMap<String, Code>,
    tokens: HashMap<String, Token>,
    next_id: u64,
    feed: Vec<SimFeedPost>,
    photos: Vec<SimPhoto>,
    /// Unpublished photos already attached to a post.
    attached: HashSet<String>,
    containers: Vec<Container>,
    ig_media: Vec<(SimIgMedia, Instant)>,
    revoked: bool,
    /// Requests that carried `access_token` in their URL.
    tokens_in_url: usize,
    token_requests: SimTokenRequests,
    failures: HashMap<Endpoint, VecDeque<Failure>>,
    usage_percent: u32,
    container_error: Option<String>,
}

/// Starts a simulated Meta on a free loopback port. Point both `AUTOPOST_META_GRAPH_URL` and
/// `AUTOPOST_META_DIALOG_URL` at the server's URL.
pub async fn start(config: SimMetaConfig) -> io::Result<(SimMeta, SimServer)> {
    let sim = SimMeta::new(config);
    let server = SimServer::spawn(sim.router()).await?;
    Ok((sim, server))
}

/// A Graph error answer. <https://developers.facebook.com/docs/graph-api/guides/error-handling>
fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AsimMetaTrace",
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = sub.into();
    }
    if matches!(code, 1 | 2 | 4 | 17 | 32 | 613) || (80_000..=80_014).contains(&code) {
        error["is_transient"] = true.into();
    }
    (status, axum::Json(json!({ "error": error }))).into_response()
}

fn bad_request(code: i64, subcode: Option<i64>, message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, code, subcode, message)
}

fn ok(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

/// Meta's answer for an id that does not exist or may not be seen with this token.
fn no_such_object(id: &str) -> Response {
    bad_request(
        100,
        Some(33),
        &format!(
            "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        ),
    )
}

/// hex(HMAC-SHA256(app secret, token)), as the client must send it.
fn appsecret_proof(secret: &str, token: &str) -> String {
    // HMAC accepts a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request, its parameters merged from the query and the body as Graph merges them.
struct Request {
    method: Method,
    segments: Vec<String>,
    params: HashMap<String, String>,
    /// Multipart file parts by name.
    files: HashMap<String, Bytes>,
    headers: HeaderMap,
}

impl Request {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The access token from `Authorization: Bearer|OAuth …` or an `access_token` parameter.
    fn token(&self) -> Option<String> {
        let header = self
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("OAuth "))
            })
            .map(str::to_owned);
        header.or_else(|| self.param("access_token").map(str::to_owned))
    }
}

impl SimMeta {
    /// A simulated Meta that is not serving yet; see [`SimMeta::router`] and [`start`].
    pub fn new(config: SimMetaConfig) -> Self {
        let state = SimState {
            config,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            next_id: 1,
            feed: Vec::new(),
            photos: Vec::new(),
            attached: HashSet::new(),
            containers: Vec::new(),
            ig_media: Vec::new(),
            revoked: false,
            tokens_in_url: 0,
            token_requests: SimTokenRequests::default(),
            failures: HashMap::new(),
            usage_percent: 1,
            container_error: None,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            fetcher: reqwest::Client::new(),
        }
    }

    /// The routes, to serve or to nest in another router. Graph paths are dispatched by hand:
    /// every one starts with a version segment and ids share the position of fixed names.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(graph)
            // Room for a photo over Meta's limits, so that the size checks answer as Meta would.
            .layer(DefaultBodyLimit::max(4 * MAX_IG_IMAGE_BYTES))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `token` a live long-lived user token of the simulated user (for tests that seed
    /// an account directly).
    pub fn insert_user_token(&self, token: &str) {
        self.lock().tokens.insert(
            token.to_owned(),
            Token {
                kind: TokenKind::User,
                dead: None,
            },
        );
    }

    /// Makes `token` a live Page token for `page_id`.
    pub fn insert_page_token(&self, page_id: &str, token: &str) {
        self.lock().tokens.insert(
            token.to_owned(),
            Token {
                kind: TokenKind::Page(page_id.to_owned()),
                dead: None,
            },
        );
    }

    /// Answers the next request to `endpoint` with `failure` (queued: several calls stack).
    pub fn fail_next(&self, endpoint: Endpoint, failure: Failure) {
        self.lock()
            .failures
            .entry(endpoint)
            .or_default()
            .push_back(failure);
    }

    /// Every token issued so far now answers code 190, subcode 463 (expired).
    pub fn expire_tokens(&self) {
        for token in self.lock().tokens.values_mut() {
            token.dead.get_or_insert(463);
        }
    }

    /// The simulated user's app-scoped id: the `user_id` of Meta's callbacks about them.
    pub fn user_id(&self) -> String {
        self.lock().config.user.id.clone()
    }

    /// What Meta posts as `signed_request` to the app's callbacks about the simulated user:
    /// `user_id`, `issued_at` now and `algorithm`, signed with the app secret.
    pub fn signed_request(&self) -> String {
        let (secret, user_id) = {
            let state = self.lock();
            (
                state.config.app_secret.clone(),
                state.config.user.id.clone(),
            )
        };
        let issued_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        sign_request(
            &secret,
            &json!({ "algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user_id }),
        )
    }

    /// The simulated user removes the app in their Facebook settings: every token issued so
    /// far answers code 190, subcode 458 (app not authorized) from now on, and what Meta
    /// then posts to the app's deauthorize callback is returned.
    pub fn remove_app(&self) -> String {
        for token in self.lock().tokens.values_mut() {
            token.dead.get_or_insert(458);
        }
        self.signed_request()
    }

    /// How many status checks new containers answer IN_PROGRESS before FINISHED.
    pub fn set_container_polls(&self, polls: u32) {
        self.lock().config.container_polls = polls;
    }

    /// New containers end in ERROR with this status text instead of FINISHED (`None` undoes it).
    pub fn set_container_error(&self, status: Option<&str>) {
        self.lock().container_error = status.map(str::to_owned);
    }

    /// Instagram posts allowed per account per 24 hours from now on.
    pub fn set_daily_quota(&self, quota: u32) {
        self.lock().config.daily_quota = quota;
    }

    /// The percentage the usage headers report (`call_count`); 100 means throttled next.
    pub fn set_usage_percent(&self, percent: u32) {
        self.lock().usage_percent = percent;
    }

    /// Every feed post so far (including those published photos made), oldest first.
    pub fn feed_posts(&self) -> Vec<SimFeedPost> {
        self.lock().feed.clone()
    }

    /// Every photo uploaded so far, oldest first.
    pub fn photos(&self) -> Vec<SimPhoto> {
        self.lock().photos.clone()
    }

    /// Every Instagram container so far, oldest first.
    pub fn containers(&self) -> Vec<SimContainer> {
        self.lock()
            .containers
            .iter()
            .map(|c| c.record.clone())
            .collect()
    }

    /// Every published Instagram post, oldest first.
    pub fn ig_media(&self) -> Vec<SimIgMedia> {
        self.lock()
            .ig_media
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// How many requests carried `access_token` in their URL (Meta accepts it there, but a
    /// URL ends up in logs and errors, so autopost must send it in a header).
    pub fn requests_with_token_in_url(&self) -> usize {
        self.lock().tokens_in_url
    }

    /// Whether the user removed the app (`DELETE /me/permissions`).
    pub fn is_revoked(&self) -> bool {
        self.lock().revoked
    }

    /// How many token and revocation requests arrived.
    pub fn token_requests(&self) -> SimTokenRequests {
        self.lock().token_requests
    }

    /// Waits until at least `n` feed posts exist or `timeout` passes; returns them either way.
    pub async fn wait_for_feed_posts(&self, n: usize, timeout: Duration) -> Vec<SimFeedPost> {
        super::wait_for(n, timeout, || self.feed_posts()).await
    }

    /// Waits until at least `n` Instagram posts exist or `timeout` passes; returns them either way.
    pub async fn wait_for_ig_media(&self, n: usize, timeout: Duration) -> Vec<SimIgMedia> {
        super::wait_for(n, timeout, || self.ig_media()).await
    }

    /// Answers one routed request, applying any injected failure.
    async fn serve(&self, endpoint: Endpoint, node: Option<String>, request: Request) -> Response {
        let failure = self
            .lock()
            .failures
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front);
        let mut response = match failure {
            Some(Failure::Throttled {
                code,
                regain_minutes,
            }) => {
                let mut response = throttled(code);
                let usage = json!({ node.clone().unwrap_or_default(): [{
                    "type": if endpoint_is_instagram(endpoint) { "instagram" } else { "pages" },
                    "call_count": 100, "total_cputime": 20, "total_time": 20,
                    "estimated_time_to_regain_access": regain_minutes,
                }]});
                if let Ok(value) = HeaderValue::from_str(&usage.to_string()) {
                    response
                        .headers_mut()
                        .insert("x-business-use-case-usage", value);
                }
                return response;
            }
            Some(Failure::ServerError) => {
                return graph_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    2,
                    None,
                    "An unexpected error has occurred. Please retry your request later.",
                );
            }
            Some(Failure::BadGateway) => {
                return (
                    StatusCode::BAD_GATEWAY,
                    Html("<html><body>502 Bad Gateway</body></html>"),
                )
                    .into_response();
            }
            Some(Failure::EchoCredentials) => {
                let mut carried: Vec<String> = request.token().into_iter().collect();
                for name in ["client_secret", "code", "fb_exchange_token"] {
                    carried.extend(request.param(name).map(str::to_owned));
                }
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    &format!(
                        "Invalid parameter: these credentials were not accepted: {}",
                        carried.join(" ")
                    ),
                );
            }
            Some(Failure::ContentBlocked) => {
                let mut error = json!({
                    "message": "It looks like you were misusing this feature by going too fast. \
                                You've been temporarily blocked from using it.",
                    "type": "OAuthException",
                    "code": 368,
                    "error_subcode": 1_390_008,
                    "error_user_title": "You Can't Use This Feature Right Now",
                    "fbtrace_id": "AsimMetaTrace",
                });
                error["is_transient"] = false.into();
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({ "error": error })),
                )
                    .into_response();
            }
            Some(Failure::Slow(delay)) => {
                // Carry the request out first: the client may give up, but the effect stays.
                let response = self.handle(endpoint, node.as_deref(), &request).await;
                tokio::time::sleep(delay).await;
                response
            }
            None => self.handle(endpoint, node.as_deref(), &request).await,
        };
        self.add_usage_headers(&mut response, endpoint, node.as_deref());
        response
    }

    /// `X-App-Usage` on every answer; `X-Business-Use-Case-Usage` on Page and Instagram calls.
    fn add_usage_headers(&self, response: &mut Response, endpoint: Endpoint, node: Option<&str>) {
        let percent = self.lock().usage_percent;
        let app = json!({ "call_count": percent, "total_cputime": 1, "total_time": 1 });
        if let Ok(value) = HeaderValue::from_str(&app.to_string()) {
            response.headers_mut().insert("x-app-usage", value);
        }
        if let Some(node) = node {
            let kind = if endpoint_is_instagram(endpoint) {
                "instagram"
            } else {
                "pages"
            };
            let usage = json!({ node: [{
                "type": kind, "call_count": percent, "total_cputime": 1, "total_time": 1,
                "estimated_time_to_regain_access": 0,
            }]});
            if let Ok(value) = HeaderValue::from_str(&usage.to_string()) {
                response
                    .headers_mut()
                    .insert("x-business-use-case-usage", value);
            }
        }
    }

    async fn handle(&self, endpoint: Endpoint, node: Option<&str>, request: &Request) -> Response {
        let node = node.unwrap_or_default();
        // The two that fetch images wait on the network, so they lock the state themselves;
        // the rest answer under one lock.
        match endpoint {
            Endpoint::Photos => return self.photos_upload(request, node).await,
            Endpoint::Media => return self.media(request, node).await,
            _ => {}
        }
        let mut state = self.lock();
        match endpoint {
            Endpoint::AccessToken => state.access_token(request),
            Endpoint::Me => state.me(request),
            Endpoint::Accounts => state.accounts(request),
            Endpoint::Node => state.node(request, node),
            Endpoint::Feed => state.feed(request, node),
            Endpoint::ContainerStatus => state.container_status(request, node),
            Endpoint::MediaPublish => state.media_publish(request, node),
            Endpoint::Permalink => state.permalink(request, node),
            Endpoint::PublishingLimit => state.publishing_limit(request, node),
            Endpoint::Permissions => state.revoke(request),
            Endpoint::Recent => state.recent(request, node),
            Endpoint::Photos | Endpoint::Media => unreachable!("answered above"),
        }
    }

    /// Fetches `url` as Meta's crawler would: the bytes and the `Content-Type`, or why not.
    async fn fetch(&self, url: &str) -> Result<(Bytes, Option<String>), ()> {
        let response = self
            .fetcher
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(drop)?;
        if !response.status().is_success() {
            return Err(());
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(drop)?;
        Ok((bytes, content_type))
    }

    /// `POST /{page}/photos`: multipart `source`, or `url` fetched like Meta does.
    async fn photos_upload(&self, request: &Request, page: &str) -> Response {
        if let Err(refused) = self.lock().page_token(request, page) {
            return *refused;
        }
        let bytes = match (request.files.get("source"), request.param("url")) {
            (Some(bytes), _) => bytes.clone(),
            (None, Some(url)) => match self.fetch(url).await {
                Ok((bytes, _)) => bytes,
                Err(()) => {
                    return bad_request(
                        100,
                        None,
                        "(#100) url should represent a valid URL to an image",
                    );
                }
            },
            (None, None) => return bad_request(324, None, "(#324) Requires upload file"),
        };
        let Some(content_type) = sniff_photo(&bytes) else {
            return bad_request(324, None, "(#324) Missing or invalid image file");
        };
        if bytes.len() > MAX_PHOTO_BYTES {
            return bad_request(
                100,
                Some(1_366_046),
                "Your photos couldn't be uploaded. Photos should be smaller than 4 MB and saved as JPG, PNG, GIF, TIFF, HEIF or WebP files.",
            );
        }
        let published = request.param("published") != Some("false");
        let caption = request
            .param("message")
            .or_else(|| request.param("caption"))
            .map(str::to_owned);
        let mut state = self.lock();
        let id = state.next_id(7_000_000_000);
        state.photos.push(SimPhoto {
            id: id.clone(),
            page_id: page.to_owned(),
            bytes_len: bytes.len(),
            bytes: bytes.clone(),
            content_type: content_type.to_owned(),
            published,
            caption: caption.clone(),
        });
        if !published {
            return ok(json!({ "id": id }));
        }
        let post_id = format!("{page}_{}", state.next_id(9_000_000_000));
        state.feed.push(SimFeedPost {
            id: post_id.clone(),
            page_id: page.to_owned(),
            message: caption,
            link: None,
            photo_ids: vec![id.clone()],
        });
        ok(json!({ "id": id, "post_id": post_id }))
    }

    /// `POST /{ig}/media`: a single image, a carousel item, or a carousel of earlier items.
    /// Like Meta, the image is fetched while the request waits.
    async fn media(&self, request: &Request, ig: &str) -> Response {
        if let Err(refused) = self.lock().instagram_token(request, ig) {
            return *refused;
        }
        let caption = request.param("caption").map(str::to_owned);
        if let Some(caption) = &caption {
            if caption.chars().count() > MAX_CAPTION_CHARS {
                return bad_request(
                    100,
                    Some(2_207_010),
                    "The caption is too long. Captions can have at most 2,200 characters.",
                );
            }
            if caption
                .split_whitespace()
                .filter(|w| w.starts_with('#'))
                .count()
                > MAX_HASHTAGS
            {
                return bad_request(
                    100,
                    Some(2_207_010),
                    "The caption has too many hashtags. Captions can have at most 30 hashtags.",
                );
            }
        }
        let is_carousel_item = request.param("is_carousel_item") == Some("true");
        if request.param("media_type") == Some("CAROUSEL") {
            return self.lock().carousel(request, ig, caption);
        }
        let Some(image_url) = request.param("image_url") else {
            return bad_request(100, None, "(#100) The parameter image_url is required.");
        };
        let Ok((bytes, content_type)) = self.fetch(image_url).await else {
            return bad_request(
                9004,
                Some(2_207_052),
                "Media download has failed. The media URI doesn't meet our requirements.",
            );
        };
        if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return bad_request(
                9004,
                Some(2_207_005),
                "The image format is not supported. Only JPEG images can be published.",
            );
        }
        if bytes.len() > MAX_IG_IMAGE_BYTES {
            return bad_request(
                9004,
                Some(2_207_004),
                "The image is too large to download. It should be less than 8 MB.",
            );
        }
        let mut state = self.lock();
        let id = state.new_container(SimContainer {
            id: String::new(),
            ig_id: ig.to_owned(),
            image_url: Some(image_url.to_owned()),
            fetched: Some(bytes),
            fetched_content_type: content_type,
            caption: caption.filter(|_| !is_carousel_item),
            is_carousel_item,
            children: Vec::new(),
            status_checks: 0,
            status_code: String::new(),
        });
        ok(json!({ "id": id }))
    }
}

/// A `signed_request` as Meta writes it for an app's callbacks: base64url (no padding) of the
/// HMAC-SHA256 of the encoded payload keyed with `app_secret`, a dot, then the base64url of
/// `payload`'s JSON. Tests forge refused requests by passing another secret or payload.
/// <https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback>
pub fn sign_request(app_secret: &str, payload: &Value) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    // HMAC accepts a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signature}.{payload}")
}

fn endpoint_is_instagram(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Media
            | Endpoint::ContainerStatus
            | Endpoint::MediaPublish
            | Endpoint::Permalink
            | Endpoint::PublishingLimit
    )
}

/// Meta's answer to a throttled call.
fn throttled(code: u32) -> Response {
    let message = match code {
        4 => "(#4) Application request limit reached",
        17 => "(#17) User request limit reached",
        32 => "(#32) Page request limit reached",
        613 => "(#613) Calls to this api have exceeded the rate limit.",
        80_001 => {
            "(#80001) There have been too many calls to this Page account. Wait a bit and try again."
        }
        80_002 => {
            "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again."
        }
        _ => "Rate limit reached. Wait a bit and try again.",
    };
    let status = if matches!(code, 4 | 17 | 613) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::FORBIDDEN
    };
    graph_error(status, i64::from(code), None, message)
}

/// The photo type from a file's first bytes: the formats a Page accepts.
fn sniff_photo(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

impl SimState {
    fn next_id(&mut self, base: u64) -> String {
        self.next_id += 1;
        (base + self.next_id).to_string()
    }

    fn page(&self, id: &str) -> Option<&SimPage> {
        self.config.user.pages.iter().find(|p| p.id == id)
    }

    /// The Page an Instagram account is linked to.
    fn page_of_instagram(&self, ig: &str) -> Option<&SimPage> {
        self.config
            .user
            .pages
            .iter()
            .find(|p| p.instagram.as_ref().is_some_and(|i| i.id == ig))
    }

    /// The kind of a live token sent with its correct `appsecret_proof`.
    fn authenticate(&self, request: &Request) -> Result<TokenKind, Box<Response>> {
        let Some(token) = request.token() else {
            return Err(Box::new(bad_request(
                2500,
                None,
                "An active access token must be used to query information about the current user.",
            )));
        };
        let Some(known) = self.tokens.get(&token) else {
            return Err(Box::new(bad_request(
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            )));
        };
        match known.dead {
            Some(463) => {
                return Err(Box::new(bad_request(
                    190,
                    Some(463),
                    "Error validating access token: Session has expired.",
                )));
            }
            Some(sub) => {
                let message = format!(
                    "Error validating access token: The user has not authorized application {}.",
                    self.config.app_id
                );
                return Err(Box::new(bad_request(190, Some(sub), &message)));
            }
            None => {}
        }
        // "Require App Secret" is on, as it should be for a server-side app.
        match request.param("appsecret_proof") {
            None => Err(Box::new(bad_request(
                100,
                None,
                "API calls from the server require an appsecret_proof argument",
            ))),
            Some(proof) if proof != appsecret_proof(&self.config.app_secret, &token) => {
                Err(Box::new(bad_request(
                    100,
                    None,
                    "Invalid appsecret_proof provided in the API argument",
                )))
            }
            Some(_) => Ok(known.kind.clone()),
        }
    }

    /// Checks that the request carries the token of Page `page` itself.
    fn page_token(&self, request: &Request, page: &str) -> Result<(), Box<Response>> {
        if self.page(page).is_none() {
            return Err(Box::new(no_such_object(page)));
        }
        match self.authenticate(request)? {
            TokenKind::Page(id) if id == page => Ok(()),
            // Posting with a user token (or another Page's) is refused as at Meta: a Page
            // publishes as itself.
            _ => Err(Box::new(graph_error(
                StatusCode::FORBIDDEN,
                200,
                None,
                "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
            ))),
        }
    }

    /// Checks that the request may act for Instagram account `ig`: the token of its Page, or
    /// the user's own token.
    fn instagram_token(&self, request: &Request, ig: &str) -> Result<(), Box<Response>> {
        let Some(page) = self.page_of_instagram(ig).map(|p| p.id.clone()) else {
            return Err(Box::new(no_such_object(ig)));
        };
        match self.authenticate(request)? {
            TokenKind::User => Ok(()),
            TokenKind::Page(id) if id == page => Ok(()),
            TokenKind::Page(_) => Err(Box::new(no_such_object(ig))),
        }
    }

    fn issue(&mut self, kind: TokenKind, prefix: &str) -> String {
        let token = random_token(prefix);
        self.tokens
            .insert(token.clone(), Token { kind, dead: None });
        token
    }

    fn access_token(&mut self, request: &Request) -> Response {
        let long_lived = request.param("grant_type") == Some("fb_exchange_token");
        if long_lived {
            self.token_requests.long_lived_exchanges += 1;
        } else {
            self.token_requests.code_exchanges += 1;
        }
        if request.param("client_id") != Some(self.config.app_id.as_str()) {
            return bad_request(
                101,
                None,
                "Error validating application. Invalid application ID.",
            );
        }
        if request.param("client_secret") != Some(self.config.app_secret.as_str()) {
            return bad_request(1, None, "Error validating client secret.");
        }
        if long_lived {
            let Some(short) = request.param("fb_exchange_token") else {
                return bad_request(100, None, "Missing fb_exchange_token parameter");
            };
            match self.tokens.get(short) {
                Some(Token {
                    kind: TokenKind::User,
                    dead: None,
                }) => {}
                Some(Token {
                    dead: Some(sub), ..
                }) => {
                    let sub = *sub;
                    return bad_request(
                        190,
                        Some(sub),
                        "Error validating access token: Session has expired.",
                    );
                }
                _ => {
                    return bad_request(
                        190,
                        None,
                        "Invalid OAuth access token - Cannot parse access token",
                    );
                }
            }
            let token = self.issue(TokenKind::User, "simmeta-long-");
            return ok(json!({
                "access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN,
            }));
        }
        let Some(code_value) = request.param("code") else {
            return bad_request(100, None, "Missing authorization code");
        };
        let redirect = request.param("redirect_uri").unwrap_or_default().to_owned();
        let Some(code) = self.codes.get_mut(code_value) else {
            return bad_request(100, None, "Invalid verification code format.");
        };
        if code.used {
            return bad_request(100, Some(36_009), "This authorization code has been used.");
        }
        // Spent by any attempt: a code is single use.
        code.used = true;
        if code.issued.elapsed() > CODE_LIFETIME {
            return bad_request(100, Some(36_007), "This authorization code has expired.");
        }
        if code.redirect_uri != redirect {
            return bad_request(
                100,
                Some(36_008),
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            );
        }
        let token = self.issue(TokenKind::User, "simmeta-short-");
        ok(json!({
            "access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_EXPIRES_IN,
        }))
    }

    fn me(&self, request: &Request) -> Response {
        match self.authenticate(request) {
            Ok(TokenKind::User) => {
                let user = &self.config.user;
                ok(json!({ "id": user.id, "name": user.name }))
            }
            // With a Page token, `/me` is the Page.
            Ok(TokenKind::Page(id)) => match self.page(&id) {
                Some(page) => ok(json!({ "id": page.id, "name": page.name })),
                None => no_such_object(&id),
            },
            Err(refused) => *refused,
        }
    }

    /// `GET /me/accounts`: the user's Pages, `page_size` at a time, with a `next` link that,
    /// as at Meta, carries the access token in its query.
    fn accounts(&mut self, request: &Request) -> Response {
        match self.authenticate(request) {
            Ok(TokenKind::User) => {}
            Ok(TokenKind::Page(_)) => {
                return bad_request(
                    100,
                    None,
                    "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
                );
            }
            Err(refused) => return *refused,
        }
        let fields: Vec<&str> = request
            .param("fields")
            .unwrap_or("id,name,access_token")
            .split(',')
            .collect();
        let size = request
            .param("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(self.config.page_size)
            .clamp(1, 100);
        let start = request
            .param("after")
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        let pages: Vec<SimPage> = self
            .config
            .user
            .pages
            .iter()
            .skip(start)
            .take(size)
            .cloned()
            .collect();
        let total = self.config.user.pages.len();
        let mut data = Vec::new();
        for page in &pages {
            let mut entry = json!({ "id": page.id });
            if fields.contains(&"name") {
                entry["name"] = page.name.clone().into();
            }
            if fields.contains(&"access_token") {
                entry["access_token"] = self.page_token_for(&page.id).into();
            }
            if fields.contains(&"instagram_business_account")
                && let Some(ig) = &page.instagram
            {
                entry["instagram_business_account"] = json!({ "id": ig.id });
            }
            data.push(entry);
        }
        let cursor = |n: usize| URL_SAFE_NO_PAD.encode(n.to_string());
        let end = start + pages.len();
        let mut paging = json!({ "cursors": { "before": cursor(start), "after": cursor(end) } });
        if end < total {
            let host = request
                .headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("127.0.0.1");
            let token = request.token().unwrap_or_default();
            if let Ok(mut next) = Url::parse(&format!(
                "http://{host}/{}/me/accounts",
                self.config.api_version
            )) {
                next.query_pairs_mut()
                    .append_pair("access_token", &token)
                    .append_pair("fields", &fields.join(","))
                    .append_pair("limit", &size.to_string())
                    .append_pair("after", &cursor(end));
                paging["next"] = next.as_str().into();
            }
        }
        ok(json!({ "data": data, "paging": paging }))
    }

    /// The live Page token of `page`, issued on first use: from a long-lived user token a
    /// Page token does not expire, so one per Page is enough.
    fn page_token_for(&mut self, page: &str) -> String {
        let live = self.tokens.iter().find(|(_, t)| {
            t.dead.is_none() && matches!(&t.kind, TokenKind::Page(id) if id == page)
        });
        match live {
            Some((token, _)) => token.clone(),
            None => self.issue(TokenKind::Page(page.to_owned()), "simmeta-page-"),
        }
    }

    /// `GET /{id}` for a Page or an Instagram account.
    fn node(&self, request: &Request, id: &str) -> Response {
        let kind = match self.authenticate(request) {
            Ok(kind) => kind,
            Err(refused) => return *refused,
        };
        let fields: Vec<&str> = request.param("fields").unwrap_or("id").split(',').collect();
        if let Some(page) = self.page(id) {
            if matches!(&kind, TokenKind::Page(p) if p != id) {
                return no_such_object(id);
            }
            let mut answer = json!({ "id": page.id });
            if fields.contains(&"name") {
                answer["name"] = page.name.clone().into();
            }
            if fields.contains(&"instagram_business_account")
                && let Some(ig) = &page.instagram
            {
                answer["instagram_business_account"] = json!({ "id": ig.id });
            }
            return ok(answer);
        }
        if let Some(page) = self.page_of_instagram(id) {
            if matches!(&kind, TokenKind::Page(p) if *p != page.id) {
                return no_such_object(id);
            }
            let mut answer = json!({ "id": id });
            if let Some(ig) = &page.instagram
                && fields.contains(&"username")
            {
                answer["username"] = ig.username.clone().into();
            }
            return ok(answer);
        }
        no_such_object(id)
    }

    fn feed(&mut self, request: &Request, page: &str) -> Response {
        if let Err(refused) = self.page_token(request, page) {
            return *refused;
        }
        let message = request.param("message").map(str::to_owned);
        let link = request.param("link").map(str::to_owned);
        let mut photo_ids = Vec::new();
        if let Some(raw) = request.param("attached_media") {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
                return bad_request(100, None, "(#100) param attached_media must be an array.");
            };
            for (n, item) in items.iter().enumerate() {
                let id = item.get("media_fbid").and_then(Value::as_str);
                let usable = id.is_some_and(|id| {
                    !self.attached.contains(id)
                        && self
                            .photos
                            .iter()
                            .any(|p| p.id == id && p.page_id == page && !p.published)
                });
                match id {
                    Some(id) if usable => photo_ids.push(id.to_owned()),
                    _ => {
                        return bad_request(
                            100,
                            None,
                            &format!(
                                "(#100) param attached_media[{n}] must be a valid unpublished photo id."
                            ),
                        );
                    }
                }
            }
        }
        if message.is_none() && link.is_none() && photo_ids.is_empty() {
            return bad_request(100, None, "(#100) Missing message or attachment");
        }
        if let Some(link) = &link
            && Url::parse(link).is_err()
        {
            return bad_request(100, None, "(#100) link URL is not properly formatted");
        }
        let duplicate = photo_ids.is_empty()
            && message.is_some()
            && self.feed.iter().any(|p| {
                p.page_id == page
                    && p.message == message
                    && p.link == link
                    && p.photo_ids.is_empty()
            });
        if duplicate {
            return bad_request(506, None, "(#506) Duplicate status message");
        }
        self.attached.extend(photo_ids.iter().cloned());
        let id = format!("{page}_{}", self.next_id(9_000_000_000));
        self.feed.push(SimFeedPost {
            id: id.clone(),
            page_id: page.to_owned(),
            message,
            link,
            photo_ids,
        });
        ok(json!({ "id": id }))
    }

    fn new_container(&mut self, mut record: SimContainer) -> String {
        let id = self.next_id(17_900_000_000_000_000);
        record.id = id.clone();
        let state = if self.config.container_polls > 0 {
            ContainerState::InProgress {
                checks_left: self.config.container_polls,
            }
        } else {
            self.settled()
        };
        record.status_code = status_code(&state).to_owned();
        self.containers.push(Container { record, state });
        id
    }

    /// What a container turns into once processing ends.
    fn settled(&self) -> ContainerState {
        match &self.container_error {
            Some(status) => ContainerState::Error(status.clone()),
            None => ContainerState::Finished,
        }
    }

    fn carousel(&mut self, request: &Request, ig: &str, caption: Option<String>) -> Response {
        let children: Vec<String> = request
            .param("children")
            .unwrap_or_default()
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if !(2..=10).contains(&children.len()) {
            return bad_request(
                100,
                Some(2_207_018),
                "(#100) A carousel needs between 2 and 10 children.",
            );
        }
        let valid = children.iter().all(|child| {
            self.containers
                .iter()
                .any(|c| c.record.id == *child && c.record.ig_id == ig && c.record.is_carousel_item)
        });
        if !valid {
            return bad_request(
                100,
                None,
                "(#100) The children must be carousel item containers of this account.",
            );
        }
        let id = self.new_container(SimContainer {
            id: String::new(),
            ig_id: ig.to_owned(),
            image_url: None,
            fetched: None,
            fetched_content_type: None,
            caption,
            is_carousel_item: false,
            children,
            status_checks: 0,
            status_code: String::new(),
        });
        ok(json!({ "id": id }))
    }

    fn container_index(&self, id: &str) -> Option<usize> {
        self.containers.iter().position(|c| c.record.id == id)
    }

    fn container_status(&mut self, request: &Request, id: &str) -> Response {
        let Some(index) = self.container_index(id) else {
            return no_such_object(id);
        };
        let ig = self.containers[index].record.ig_id.clone();
        if let Err(refused) = self.instagram_token(request, &ig) {
            return *refused;
        }
        let settled = self.settled();
        let container = &mut self.containers[index];
        container.record.status_checks += 1;
        // Each check while in progress brings processing one step closer to its end.
        if let ContainerState::InProgress { checks_left } = &mut container.state {
            if *checks_left > 0 {
                *checks_left -= 1;
            } else {
                container.state = settled;
            }
        }
        let code = status_code(&container.state);
        container.record.status_code = code.to_owned();
        let status = match &container.state {
            ContainerState::InProgress { .. } => "In Progress".to_owned(),
            ContainerState::Finished => "Finished".to_owned(),
            ContainerState::Published => "Published".to_owned(),
            ContainerState::Error(words) => words.clone(),
        };
        ok(json!({ "status_code": code, "status": status, "id": id }))
    }

    fn media_publish(&mut self, request: &Request, ig: &str) -> Response {
        if let Err(refused) = self.instagram_token(request, ig) {
            return *refused;
        }
        let Some(creation_id) = request.param("creation_id").map(str::to_owned) else {
            return bad_request(100, None, "(#100) The parameter creation_id is required.");
        };
        let Some(index) = self
            .container_index(&creation_id)
            .filter(|i| self.containers[*i].record.ig_id == ig)
        else {
            return bad_request(
                100,
                None,
                "(#100) Param creation_id is not a valid container id.",
            );
        };
        if self.containers[index].record.is_carousel_item {
            return bad_request(
                100,
                None,
                "(#100) A carousel item cannot be published on its own.",
            );
        }
        match self.containers[index].state {
            ContainerState::Finished => {}
            ContainerState::Published => {
                return bad_request(
                    100,
                    Some(2_207_008),
                    "This media has already been published.",
                );
            }
            ContainerState::InProgress { .. } | ContainerState::Error(_) => {
                return bad_request(
                    9007,
                    Some(2_207_027),
                    "The media is not ready for publishing, please wait for a moment",
                );
            }
        }
        let day_ago = Instant::now().checked_sub(Duration::from_secs(86_400));
        let used = self
            .ig_media
            .iter()
            .filter(|(m, at)| m.ig_id == ig && day_ago.is_none_or(|d| *at > d))
            .count();
        if used >= usize::try_from(self.config.daily_quota).unwrap_or(usize::MAX) {
            let error = json!({
                "message": "Application request limit reached",
                "type": "OAuthException",
                "code": 4,
                "error_subcode": 2_207_042,
                "is_transient": true,
                "error_user_title": "Maximum number of posts reached",
                "error_user_msg": "The account has reached its daily publishing limit.",
                "fbtrace_id": "AsimMetaTrace",
            });
            return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": error }))).into_response();
        }
        let id = self.next_id(18_000_000_000_000_000);
        let container = &mut self.containers[index];
        container.state = ContainerState::Published;
        container.record.status_code = "PUBLISHED".to_owned();
        let caption = container.record.caption.clone();
        let permalink = format!("https://www.instagram.com/p/Sim{id}/");
        self.ig_media.push((
            SimIgMedia {
                id: id.clone(),
                ig_id: ig.to_owned(),
                container_id: creation_id,
                caption,
                permalink,
            },
            Instant::now(),
        ));
        ok(json!({ "id": id }))
    }

    /// Recent posts of a Page (`message`) or Instagram account (`caption`), newest first, as
    /// the Graph API lists them.
    fn recent(&self, request: &Request, node: &str) -> Response {
        if self.page(node).is_some() {
            if let Err(refused) = self.page_token(request, node) {
                return *refused;
            }
            let data: Vec<Value> = self
                .feed
                .iter()
                .rev()
                .filter(|p| p.page_id == node)
                .take(100)
                .map(|p| json!({ "id": p.id, "message": p.message }))
                .collect();
            return ok(json!({ "data": data }));
        }
        if let Err(refused) = self.instagram_token(request, node) {
            return *refused;
        }
        let data: Vec<Value> = self
            .ig_media
            .iter()
            .rev()
            .filter(|(m, _)| m.ig_id == node)
            .take(100)
            .map(|(m, _)| json!({ "id": m.id, "caption": m.caption, "permalink": m.permalink }))
            .collect();
        ok(json!({ "data": data }))
    }

    fn permalink(&self, request: &Request, id: &str) -> Response {
        let Some((media, _)) = self.ig_media.iter().find(|(m, _)| m.id == id) else {
            return no_such_object(id);
        };
        if let Err(refused) = self.instagram_token(request, &media.ig_id) {
            return *refused;
        }
        ok(json!({ "id": id, "permalink": media.permalink }))
    }

    fn publishing_limit(&self, request: &Request, ig: &str) -> Response {
        if let Err(refused) = self.instagram_token(request, ig) {
            return *refused;
        }
        let day_ago = Instant::now().checked_sub(Duration::from_secs(86_400));
        let used = self
            .ig_media
            .iter()
            .filter(|(m, at)| m.ig_id == ig && day_ago.is_none_or(|d| *at > d))
            .count();
        ok(json!({ "data": [{
            "quota_usage": used,
            "config": { "quota_total": self.config.daily_quota, "quota_duration": 86_400 },
        }]}))
    }

    /// `DELETE /me/permissions`: the user removes the app; every token it holds dies.
    fn revoke(&mut self, request: &Request) -> Response {
        self.token_requests.revocations += 1;
        match self.authenticate(request) {
            Ok(TokenKind::User) => {}
            Ok(TokenKind::Page(_)) => {
                return bad_request(
                    100,
                    None,
                    "(#100) Tried accessing nonexisting field (permissions) on node type (Page)",
                );
            }
            Err(refused) => return *refused,
        }
        self.revoked = true;
        for token in self.tokens.values_mut() {
            token.dead.get_or_insert(458);
        }
        ok(json!({ "success": true }))
    }
}

fn status_code(state: &ContainerState) -> &'static str {
    match state {
        ContainerState::InProgress { .. } => "IN_PROGRESS",
        ContainerState::Finished => "FINISHED",
        ContainerState::Error(_) => "ERROR",
        ContainerState::Published => "PUBLISHED",
    }
}

/// An error page of the login dialog; `reason` is always our own fixed text.
fn dialog_error(reason: &str) -> Response {
    let page = format!(
        "<!doctype html><title>Facebook</title><h1>Sorry, something went wrong.</h1><p>{reason}</p>"
    );
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

/// `GET /{ver}/dialog/oauth`: checks the request, consents for the user, and redirects back
/// with a single-use code.
fn dialog(state: &mut SimState, request: &Request) -> Response {
    let get = |name: &str| request.param(name).unwrap_or_default();
    if get("client_id") != state.config.app_id {
        return dialog_error("Invalid App ID: the app id is not known.");
    }
    if !matches!(request.param("response_type"), None | Some("code")) {
        return dialog_error("response_type must be code.");
    }
    if get("state").is_empty() {
        return dialog_error("state is required.");
    }
    let asked: HashSet<&str> = get("scope").split(',').map(str::trim).collect();
    let wanted: HashSet<&str> = REQUIRED_SCOPES.iter().copied().collect();
    if asked != wanted {
        return dialog_error("scope must name exactly the permissions this app was approved for.");
    }
    let redirect_uri = get("redirect_uri").to_owned();
    let Ok(mut redirect) = Url::parse(&redirect_uri) else {
        return dialog_error("URL Blocked: redirect_uri is missing or not a URL.");
    };
    let code = random_token("simmeta-code-");
    state.codes.insert(
        code.clone(),
        Code {
            redirect_uri,
            issued: Instant::now(),
            used: false,
        },
    );
    redirect
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", get("state"));
    match HeaderValue::from_str(redirect.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => dialog_error("redirect_uri cannot be redirected to."),
    }
}

/// Every Graph request: checks the version, merges the parameters, and dispatches.
async fn graph(
    State(sim): State<SimMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .filter_map(percent_decode)
        .collect();
    if segments.is_empty() {
        return no_such_object("");
    }
    let version = segments.remove(0);
    if version != sim.lock().config.api_version {
        return bad_request(
            2500,
            None,
            &format!("Unknown path components: /{version} is not a supported API version"),
        );
    }
    let mut params = form_pairs(uri.query().unwrap_or_default().as_bytes());
    if params.contains_key("access_token") {
        sim.lock().tokens_in_url += 1;
    }
    let mut files = HashMap::new();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        params.extend(form_pairs(&body));
    } else if content_type.starts_with("multipart/form-data") {
        let Some(parts) = parse_multipart(&content_type, &body) else {
            return bad_request(100, None, "(#100) The multipart body could not be read.");
        };
        for part in parts {
            if part.is_file {
                files.insert(part.name, body.slice_ref(part.data));
            } else {
                params.insert(part.name, String::from_utf8_lossy(part.data).into_owned());
            }
        }
    } else if content_type.starts_with("application/json")
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
    {
        for (key, value) in map {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            params.insert(key, text);
        }
    }
    let request = Request {
        method,
        segments,
        params,
        files,
        headers,
    };
    let path: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let routed = match (&request.method, path.as_slice()) {
        (&Method::GET, ["dialog", "oauth"]) => return dialog(&mut sim.lock(), &request),
        (&Method::GET | &Method::POST, ["oauth", "access_token"]) => {
            Some((Endpoint::AccessToken, None))
        }
        (&Method::GET, ["me"]) => Some((Endpoint::Me, None)),
        (&Method::GET, ["me", "accounts"]) => Some((Endpoint::Accounts, None)),
        (&Method::DELETE, ["me", "permissions"]) => Some((Endpoint::Permissions, None)),
        (&Method::GET, [id]) => {
            let state = sim.lock();
            let endpoint = if state.container_index(id).is_some() {
                Endpoint::ContainerStatus
            } else if state.ig_media.iter().any(|(m, _)| m.id == *id) {
                Endpoint::Permalink
            } else {
                Endpoint::Node
            };
            Some((endpoint, Some((*id).to_owned())))
        }
        (&Method::POST, [id, "feed"]) => Some((Endpoint::Feed, Some((*id).to_owned()))),
        (&Method::POST, [id, "photos"]) => Some((Endpoint::Photos, Some((*id).to_owned()))),
        (&Method::POST, [id, "media"]) => Some((Endpoint::Media, Some((*id).to_owned()))),
        (&Method::POST, [id, "media_publish"]) => {
            Some((Endpoint::MediaPublish, Some((*id).to_owned())))
        }
        (&Method::GET, [id, "feed" | "media"]) => Some((Endpoint::Recent, Some((*id).to_owned()))),
        (&Method::GET, [id, "content_publishing_limit"]) => {
            Some((Endpoint::PublishingLimit, Some((*id).to_owned())))
        }
        _ => None,
    };
    match routed {
        Some((endpoint, node)) => sim.serve(endpoint, node, request).await,
        None => bad_request(
            100,
            Some(33),
            "Unsupported request - method type or path is not supported.",
        ),
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_are_recognised_by_their_first_bytes() {
        assert_eq!(sniff_photo(b"\xFF\xD8\xFF\xE0"), Some("image/jpeg"));
        assert_eq!(sniff_photo(b"\x89PNG\r\n\x1a\n"), Some("image/png"));
        assert_eq!(sniff_photo(b"GIF89a"), Some("image/gif"));
        assert_eq!(sniff_photo(b"BM...."), Some("image/bmp"));
        assert_eq!(sniff_photo(b"II*\0"), Some("image/tiff"));
        assert_eq!(sniff_photo(b"%PDF-1.7"), None);
    }

    #[test]
    fn the_proof_matches_the_clients() {
        assert_eq!(appsecret_proof("k", "t").len(), 64);
        assert_ne!(appsecret_proof("k", "t"), appsecret_proof("k", "u"));
    }
}
