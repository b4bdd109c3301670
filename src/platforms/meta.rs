//! Meta Graph API: Facebook Login (dialog, code exchange, long-lived user token, Page tokens),
//! publishing to Facebook Pages and to Instagram business accounts, revocation, and the
//! classification of Graph errors, which arrive as codes in the body rather than as statuses.
//! Knows tokens and account ids, never chats or the store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::Mac;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;
use url::Url;

use super::http::{self, Stage, exchange, image_part, retry_after, unreadable};
use super::{
    AccountRef, AuthError, Limits, Lookup, Media, Platform, PostContent, PublishError, Published,
    RateLimit, Refreshed,
};
use crate::config::MetaConfig;
use crate::crypto::Secret;
use crate::domain::Provider;

/// The permissions the login dialog asks for, comma-separated as the dialog expects: exactly
/// those the privacy policy names.
/// <https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow>
pub const SCOPES: &str = "pages_manage_posts,pages_read_engagement,pages_show_list,instagram_basic,instagram_content_publish";

/// What a Facebook Page post may contain. 4 MB is the size Meta asks photos to stay under
/// (larger ones fail with subcode 1366046).
/// <https://developers.facebook.com/docs/graph-api/photo-uploads>
const FACEBOOK_LIMITS: Limits = Limits {
    max_text: 63_206,
    max_images: 10,
    requires_image: false,
    max_image_bytes: 4 * 1024 * 1024,
    image_types: &[
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/bmp",
        "image/tiff",
    ],
    max_hashtags: None,
};

/// What an Instagram post may contain: JPEG only, a caption of 2,200 characters with at most
/// 30 hashtags, carousels of up to 10.
/// <https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media>
const INSTAGRAM_LIMITS: Limits = Limits {
    max_text: 2_200,
    max_images: 10,
    requires_image: true,
    max_image_bytes: 8 * 1024 * 1024,
    image_types: &["image/jpeg"],
    max_hashtags: Some(30),
};

/// Platform words longer than this are cut: they end up in chat replies and logs.
const MAX_MESSAGE_CHARS: usize = 300;

/// `/me/accounts` pages followed at most: a bound against a `next` link that never ends.
const MAX_ACCOUNT_PAGES: usize = 50;

/// How long to wait for an Instagram container to become FINISHED before publishing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerWait {
    /// Status checks at most (the first one is immediate).
    pub polls: u32,
    /// Pause between two checks.
    pub interval: Duration,
}

impl Default for ContainerWait {
    /// 30 checks 2 seconds apart: images are usually FINISHED within seconds, and a publish
    /// run should not stall on one account for more than about a minute.
    fn default() -> Self {
        Self {
            polls: 30,
            interval: Duration::from_secs(2),
        }
    }
}

/// The Graph API client Facebook Pages, Instagram and account linking share.
pub struct GraphClient {
    http: reqwest::Client,
    app_id: String,
    app_secret: Secret,
    graph_url: Url,
    dialog_url: Url,
    api_version: String,
    container_wait: ContainerWait,
    /// Last usage Meta reported per account (Page id or Instagram user id).
    rate_limits: Mutex<HashMap<String, RateLimit>>,
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

/// A Facebook user token from the code exchange or the long-lived exchange.
#[derive(Debug)] // fine: the token is a `Secret`
pub struct UserToken {
    /// The user access token.
    pub access_token: Secret,
    /// When it lapses: about an hour for a short-lived token, 60 days for a long-lived one.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The Facebook user a token belongs to, from `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetaUser {
    /// The app-scoped user id.
    pub id: String,
    /// The display name.
    pub name: String,
}

/// A Page the user let autopost use, with its Page token and linked Instagram account.
#[derive(Debug)] // fine: the token is a `Secret`
pub struct PageGrant {
    /// The Page id.
    pub id: String,
    /// The Page name.
    pub name: String,
    /// The Page access token; from a long-lived user token it does not expire.
    pub access_token: Secret,
    /// The Instagram business account linked to the Page, if any.
    pub instagram: Option<InstagramAccount>,
}

/// An Instagram business or creator account linked to a Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstagramAccount {
    /// The Instagram user id (`instagram_business_account.id`).
    pub id: String,
    /// The @username, without `@`.
    pub username: String,
}

/// One Graph request before it is sent: the token it carries and the account it counts against.
struct Call<'a> {
    request: reqwest::RequestBuilder,
    token: Option<&'a Secret>,
    account: Option<&'a str>,
    stage: Stage,
}

impl GraphClient {
    /// Builds the client from its configuration and the shared HTTP client
    /// ([`super::http::client`]), which must not follow redirects.
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
            rate_limits: Mutex::new(HashMap::new()),
        }
    }

    /// The same client with another bound on waiting for Instagram containers (tests use a
    /// short one).
    pub fn with_container_wait(mut self, wait: ContainerWait) -> Self {
        self.container_wait = wait;
        self
    }

    /// The login dialog to send the user to; Meta redirects back to `redirect_uri` with `code`
    /// and `state`. <https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow>
    pub fn dialog_url(&self, redirect_uri: &Url, state: &str) -> Url {
        let mut url = self.dialog_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        // Config only accepts http(s) URLs, which can always be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend([self.api_version.as_str(), "dialog", "oauth"]);
        }
        url.query_pairs_mut()
            .append_pair("client_id", &self.app_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state)
            .append_pair("scope", SCOPES)
            .append_pair("response_type", "code");
        url
    }

    /// Exchanges the code from the login callback for a short-lived user token. A refused
    /// code (used, expired, another `redirect_uri`) is [`AuthError::Revoked`].
    #[instrument(skip_all, fields(provider = "meta"))]
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &Url,
    ) -> Result<UserToken, AuthError> {
        self.token_request(&[("redirect_uri", redirect_uri.as_str()), ("code", code)])
            .await
    }

    /// Exchanges a user token for a long-lived one (about 60 days). Meta has no refresh token:
    /// a still-valid long-lived token is exchanged the same way.
    /// <https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived>
    #[instrument(skip_all, fields(provider = "meta"))]
    pub async fn long_lived(&self, short: &Secret) -> Result<UserToken, AuthError> {
        self.token_request(&[
            ("grant_type", "fb_exchange_token"),
            ("fb_exchange_token", short.expose()),
        ])
        .await
    }

    /// The user a token belongs to (`GET /me?fields=id,name`), to name the grant.
    #[instrument(skip_all, fields(provider = "meta"))]
    pub async fn me(&self, user_token: &Secret) -> Result<MetaUser, PublishError> {
        let request = self
            .request(Method::GET, &["me"], Some(user_token))
            .query(&[("fields", "id,name")]);
        let (status, body) = self
            .send(self.call(request, user_token, Stage::Read))
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| unreadable("Meta", status, Stage::Read, "user", &e))
    }

    /// Every Page the user shared with autopost, with its Page token and the username of its
    /// linked Instagram account. Follows `paging.next` to the end.
    /// <https://developers.facebook.com/docs/pages-api/getting-started>
    #[instrument(skip_all, fields(provider = "meta"))]
    pub async fn pages(&self, user_token: &Secret) -> Result<Vec<PageGrant>, PublishError> {
        #[derive(Deserialize)]
        struct IgRef {
            id: String,
        }
        #[derive(Deserialize)]
        struct Page {
            id: String,
            name: String,
            access_token: String,
            instagram_business_account: Option<IgRef>,
        }
        #[derive(Deserialize)]
        struct Paging {
            next: Option<String>,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Vec<Page>,
            paging: Option<Paging>,
        }
        let mut grants = Vec::new();
        let mut next = Some(
            self.request(Method::GET, &["me", "accounts"], Some(user_token))
                .query(&[("fields", "id,name,access_token,instagram_business_account")]),
        );
        let mut followed = 0;
        while let Some(request) = next.take() {
            followed += 1;
            let (status, body) = self
                .send(self.call(request, user_token, Stage::Read))
                .await?;
            let answer: Answer = serde_json::from_slice(&body)
                .map_err(|e| unreadable("Meta", status, Stage::Read, "page list", &e))?;
            for page in answer.data {
                let access_token = Secret::new(page.access_token);
                let instagram = match page.instagram_business_account {
                    Some(ig) => match self.instagram_username(&ig.id, &access_token).await {
                        Ok(username) => Some(InstagramAccount {
                            id: ig.id,
                            username,
                        }),
                        // A person may untick the Instagram permissions in the dialog: the
                        // Page still links, its Instagram account does not.
                        Err(PublishError::Rejected { .. }) => {
                            tracing::warn!(page = %page.id, "instagram account not readable; not linked");
                            None
                        }
                        Err(other) => return Err(other),
                    },
                    None => None,
                };
                grants.push(PageGrant {
                    id: page.id,
                    name: page.name,
                    access_token,
                    instagram,
                });
            }
            let link = answer.paging.and_then(|p| p.next);
            if let Some(link) = link.filter(|_| followed < MAX_ACCOUNT_PAGES) {
                next = Some(self.follow(&link, user_token)?);
            }
        }
        Ok(grants)
    }

    /// A `paging.next` link as a request. Meta puts the token in that link's query: it is
    /// taken out and sent in the header like everywhere else, and a link to another host is
    /// refused so that the token never goes anywhere but the configured Graph API.
    fn follow(&self, link: &str, token: &Secret) -> Result<reqwest::RequestBuilder, PublishError> {
        let refused = || PublishError::ServerError {
            status: 200,
            message: "the page list links to an unexpected address".to_owned(),
        };
        let mut url = Url::parse(link).map_err(|_| refused())?;
        if url.origin() != self.graph_url.origin() {
            return Err(refused());
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
        Ok(self.authorized(self.http.get(url), Some(token)))
    }

    /// The @username of an Instagram account (`GET /{ig-id}?fields=username`).
    async fn instagram_username(
        &self,
        ig_id: &str,
        token: &Secret,
    ) -> Result<String, PublishError> {
        #[derive(Deserialize)]
        struct Answer {
            username: String,
        }
        let request = self
            .request(Method::GET, &[ig_id], Some(token))
            .query(&[("fields", "username")]);
        let (status, body) = self.send(self.call(request, token, Stage::Read)).await?;
        serde_json::from_slice::<Answer>(&body)
            .map(|a| a.username)
            .map_err(|e| unreadable("Meta", status, Stage::Read, "Instagram account", &e))
    }

    /// `DELETE /me/permissions` with the user token: removes the app from the user's account,
    /// which kills every token it issued. A token Meta already refuses is
    /// [`AuthError::Revoked`]: nothing is left to revoke.
    /// <https://developers.facebook.com/docs/graph-api/reference/user/permissions/>
    #[instrument(skip_all, fields(provider = "meta"))]
    pub async fn revoke_user(&self, user_token: &Secret) -> Result<(), AuthError> {
        let request = self.request(Method::DELETE, &["me", "permissions"], Some(user_token));
        let (status, body) = self
            .send(self.call(request, user_token, Stage::Read))
            .await
            .map_err(auth_error)?;
        // The documented answer is `true`; `{"success":true}` is what Meta is seen to send.
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(v) if v.get("success") == Some(&Value::Bool(true)) => Ok(()),
            _ => Err(AuthError::Transient(PublishError::ServerError {
                status: status.as_u16(),
                message: "Meta did not confirm the revocation".to_owned(),
            })),
        }
    }

    /// `{graph_url}/{api_version}/{segments…}`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let version = std::iter::once(self.api_version.as_str());
        http::endpoint(&self.graph_url, version.chain(segments.iter().copied()))
    }

    /// A request to `segments`, carrying `token` if given.
    fn request(
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
    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        match token {
            Some(token) => request
                .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
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

    fn call<'a>(
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
        }
    }

    /// Sends a call and returns the status and body of a successful answer; classifies
    /// everything else. Meta sends errors as `{"error":{…}}` under 200 as well as 4xx/5xx,
    /// so the body is checked whatever the status.
    async fn send(&self, call: Call<'_>) -> Result<(StatusCode, Bytes), PublishError> {
        let result =
            exchange(call.request, call.stage)
                .await
                .and_then(|(status, headers, body)| {
                    if let Some(account) = call.account {
                        self.record_usage(account, &headers, Utc::now());
                    }
                    match classify_answer(status, &headers, &body, call.token, Utc::now()) {
                        Some(error) => Err(error),
                        None => Ok((status, body)),
                    }
                });
        if let (Some(account), Err(PublishError::RateLimited { reset_at })) =
            (call.account, &result)
        {
            // A throttled answer gates the next publish on this account whatever its headers said.
            self.store_rate_limit(
                account,
                RateLimit {
                    remaining: Some(0),
                    reset_at: *reset_at,
                },
            );
        }
        result
    }

    /// Remembers the usage Meta reported in `X-App-Usage` / `X-Business-Use-Case-Usage`.
    fn record_usage(&self, account: &str, headers: &HeaderMap, now: DateTime<Utc>) {
        if let Some(limit) = usage_headers(headers, now) {
            self.store_rate_limit(account, limit);
        }
    }

    fn store_rate_limit(&self, account: &str, limit: RateLimit) {
        self.rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account.to_owned(), limit);
    }

    fn rate_limit(&self, account: &str) -> Option<RateLimit> {
        self.rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .copied()
    }

    /// `GET /oauth/access_token` with our app credentials. Meta documents these as query
    /// parameters on a GET; the URL never reaches an error or a log (`without_url`).
    async fn token_request(&self, params: &[(&str, &str)]) -> Result<UserToken, AuthError> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: Option<i64>,
        }
        let request = self
            .request(Method::GET, &["oauth", "access_token"], None)
            .query(&[
                ("client_id", self.app_id.as_str()),
                ("client_secret", self.app_secret.expose()),
            ])
            .query(params);
        let call = Call {
            request,
            token: None,
            account: None,
            stage: Stage::Read,
        };
        let (status, body) = self.send(call).await.map_err(auth_error)?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            // serde's message names a field or a position, never a value.
            AuthError::Transient(unreadable("Meta", status, Stage::Read, "token", &e))
        })?;
        if answer.access_token.is_empty() {
            return Err(AuthError::Transient(PublishError::ServerError {
                status: status.as_u16(),
                message: "the token answer holds no access token".to_owned(),
            }));
        }
        Ok(UserToken {
            access_token: Secret::new(answer.access_token),
            expires_at: answer
                .expires_in
                .filter(|s| *s > 0)
                .and_then(|s| Utc::now().checked_add_signed(chrono::Duration::seconds(s))),
        })
    }

    /// POSTs `body` to `segments` for `account`, and reads the `id` (and `post_id`) of what
    /// was made.
    async fn create(
        &self,
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
        let call = Call {
            request,
            token: Some(account.token),
            account: Some(account.remote_id),
            stage,
        };
        let (status, body) = self.send(call).await?;
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
    async fn read(
        &self,
        account: AccountRef<'_>,
        segments: &[&str],
        fields: &str,
        stage: Stage,
    ) -> Result<Value, PublishError> {
        let request = self
            .request(Method::GET, segments, Some(account.token))
            .query(&[("fields", fields)]);
        let call = Call {
            request,
            token: Some(account.token),
            account: Some(account.remote_id),
            stage,
        };
        let (status, body) = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|_| PublishError::ServerError {
            status: status.as_u16(),
            message: "unreadable answer".to_owned(),
        })
    }
}

/// A request body for [`GraphClient::create`].
enum Body {
    Form(Vec<(&'static str, String)>),
    Multipart(reqwest::multipart::Form),
}

/// What a create call answers: `{"id"}`, and for a published photo also `{"post_id"}`.
#[derive(Deserialize)]
struct Created {
    id: String,
    post_id: Option<String>,
}

/// Publishes to Facebook Pages with Page tokens.
#[derive(Clone)]
pub struct FacebookPages {
    graph: Arc<GraphClient>,
}

impl fmt::Debug for FacebookPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacebookPages")
            .field("graph", &self.graph)
            .finish()
    }
}

impl FacebookPages {
    /// Publishes through `graph`, shared with Instagram and account linking.
    pub fn new(graph: Arc<GraphClient>) -> Self {
        Self { graph }
    }

    /// Uploads one photo as multipart `source`; returns what Meta made.
    async fn upload_photo(
        &self,
        account: AccountRef<'_>,
        media: &Media,
        message: Option<&str>,
        published: bool,
    ) -> Result<Created, PublishError> {
        let part = image_part(media)?;
        let mut form = reqwest::multipart::Form::new().part("source", part);
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            form = form.text("message", message.to_owned());
        }
        if !published {
            form = form.text("published", "false");
        }
        let stage = if published {
            Stage::Create
        } else {
            Stage::Prepare
        };
        self.graph
            .create(
                account,
                &[account.remote_id, "photos"],
                Body::Multipart(form),
                stage,
                "photo",
            )
            .await
    }
}

#[async_trait]
impl Platform for FacebookPages {
    fn provider(&self) -> Provider {
        Provider::FacebookPage
    }

    fn limits(&self) -> &Limits {
        &FACEBOOK_LIMITS
    }

    #[instrument(skip_all, fields(provider = "facebook", account = %account.remote_id, images = post.media.len()))]
    async fn publish(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Published, PublishError> {
        let post_id = match post.media {
            [] => {
                if post.text.trim().is_empty() {
                    return Err(PublishError::Rejected {
                        reason: "a Facebook post needs text or an image".to_owned(),
                    });
                }
                let mut params = vec![("message", post.text.to_owned())];
                // Meta shows a preview card for `link`; the first link in the text is the one
                // the author most likely means.
                if let Some(link) = first_link(post.text) {
                    params.push(("link", link.to_string()));
                }
                let created = self
                    .graph
                    .create(
                        account,
                        &[account.remote_id, "feed"],
                        Body::Form(params),
                        Stage::Create,
                        "post",
                    )
                    .await?;
                created.id
            }
            [one] => {
                let created = self
                    .upload_photo(account, one, Some(post.text), true)
                    .await?;
                // `post_id` is the feed story that shows the photo; the photo id alone
                // also opens it, so it stands in when Meta sends no `post_id`.
                created.post_id.unwrap_or(created.id)
            }
            several => {
                // Unpublished photos first, then one feed post that attaches them all: a
                // failure before the feed post leaves nothing public.
                let mut ids = Vec::with_capacity(several.len());
                for media in several {
                    ids.push(self.upload_photo(account, media, None, false).await?.id);
                }
                tracing::debug!(uploaded = ids.len(), "facebook photos uploaded unpublished");
                let attached: Vec<Value> = ids
                    .iter()
                    .map(|id| serde_json::json!({ "media_fbid": id }))
                    .collect();
                let mut params = vec![("attached_media", Value::Array(attached).to_string())];
                if !post.text.is_empty() {
                    params.push(("message", post.text.to_owned()));
                }
                let created = self
                    .graph
                    .create(
                        account,
                        &[account.remote_id, "feed"],
                        Body::Form(params),
                        Stage::Create,
                        "post",
                    )
                    .await?;
                created.id
            }
        };
        let url = Url::parse(&format!("https://www.facebook.com/{post_id}")).ok();
        tracing::debug!(remote_id = %post_id, "facebook post created");
        Ok(Published {
            remote_id: post_id,
            url,
        })
    }

    /// Meta has no refresh token: a still-valid long-lived user token is exchanged for a new
    /// one. Page tokens made from a long-lived user token do not expire, so only the grant's
    /// user token goes through here.
    #[instrument(skip_all, fields(provider = "facebook"))]
    async fn refresh(&self, refresh_token: &Secret) -> Result<Refreshed, AuthError> {
        refresh_user_token(&self.graph, refresh_token).await
    }

    #[instrument(skip_all, fields(provider = "facebook"))]
    async fn revoke(&self, token: &Secret) -> Result<(), AuthError> {
        self.graph.revoke_user(token).await
    }

    fn rate_limit(&self, account_remote_id: &str) -> Option<RateLimit> {
        self.graph.rate_limit(account_remote_id)
    }

    /// Reads the Page's recent posts and matches on the message.
    async fn find_recent(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Lookup, PublishError> {
        let value = self
            .graph
            .read(
                account,
                &[account.remote_id, "feed"],
                "id,message",
                Stage::Read,
            )
            .await?;
        Ok(match_recent(&value, "message", post.text, |id| {
            Url::parse(&format!("https://www.facebook.com/{id}")).ok()
        }))
    }
}

/// Finds the first listed post whose `field` equals `text` (whitespace-trimmed): Absent when
/// the list was read and none matches.
fn match_recent(
    value: &Value,
    field: &str,
    text: &str,
    url_of: impl Fn(&str) -> Option<Url>,
) -> Lookup {
    let wanted = text.trim();
    let found = value
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|item| item.get(field).and_then(Value::as_str).map(str::trim) == Some(wanted));
    match found.and_then(|item| item.get("id").and_then(Value::as_str)) {
        Some(id) => Lookup::Found(Published {
            url: item_permalink(found).or_else(|| url_of(id)),
            remote_id: id.to_owned(),
        }),
        None => Lookup::Absent,
    }
}

fn item_permalink(item: Option<&Value>) -> Option<Url> {
    item?
        .get("permalink")?
        .as_str()
        .and_then(|p| Url::parse(p).ok())
}

/// Publishes to Instagram business accounts through containers, with the token of the Page
/// the account is linked to.
#[derive(Clone)]
pub struct Instagram {
    graph: Arc<GraphClient>,
}

impl fmt::Debug for Instagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instagram")
            .field("graph", &self.graph)
            .finish()
    }
}

impl Instagram {
    /// Publishes through `graph`, shared with Facebook Pages and account linking.
    pub fn new(graph: Arc<GraphClient>) -> Self {
        Self { graph }
    }

    /// How many posts the account published through the API in the last 24 hours, and how
    /// many it may: Meta's documented figure has changed (25, 50, 100), so it is read at run time.
    /// <https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit>
    #[instrument(skip_all, fields(provider = "instagram", account = %account.remote_id))]
    pub async fn publishing_quota(
        &self,
        account: AccountRef<'_>,
    ) -> Result<(u32, u32), PublishError> {
        #[derive(Deserialize)]
        struct Config {
            quota_total: u32,
        }
        #[derive(Deserialize)]
        struct Usage {
            #[serde(default)]
            quota_usage: u32,
            config: Config,
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Vec<Usage>,
        }
        let value = self
            .graph
            .read(
                account,
                &[account.remote_id, "content_publishing_limit"],
                "quota_usage,config",
                Stage::Read,
            )
            .await?;
        let unreadable = || PublishError::ServerError {
            status: 200,
            message: "unreadable publishing limit".to_owned(),
        };
        let answer: Answer = serde_json::from_value(value).map_err(|_| unreadable())?;
        let usage = answer.data.into_iter().next().ok_or_else(unreadable)?;
        Ok((usage.quota_usage, usage.config.quota_total))
    }

    /// Creates one image container (`POST /{ig}/media`); Meta fetches `image_url` right away.
    async fn container(
        &self,
        account: AccountRef<'_>,
        params: Vec<(&'static str, String)>,
    ) -> Result<String, PublishError> {
        self.graph
            .create(
                account,
                &[account.remote_id, "media"],
                Body::Form(params),
                Stage::Prepare,
                "container",
            )
            .await
            .map(|c| c.id)
    }

    /// Polls the container until it is FINISHED, within the configured bound.
    async fn wait_until_finished(
        &self,
        account: AccountRef<'_>,
        container: &str,
    ) -> Result<(), PublishError> {
        let wait = self.graph.container_wait;
        for poll in 0..wait.polls {
            if poll > 0 {
                tokio::time::sleep(wait.interval).await;
            }
            let status = self
                .graph
                .read(account, &[container], "status_code,status", Stage::Prepare)
                .await?;
            let code = status.get("status_code").and_then(Value::as_str);
            let words = status
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("no details");
            match code {
                Some("FINISHED") => return Ok(()),
                Some(code @ ("ERROR" | "EXPIRED")) => {
                    return Err(PublishError::Rejected {
                        reason: cut(&format!(
                            "Instagram could not prepare the image ({code}): {words}"
                        )),
                    });
                }
                // IN_PROGRESS, or a state this client does not know yet: keep waiting.
                _ => {}
            }
        }
        // Nothing is public before `media_publish`, so running out of patience cannot hide a
        // post: this is a retryable failure (a retry makes a fresh container; the old one
        // expires unpublished after 24 hours), not an ambiguous one.
        Err(PublishError::ServerError {
            status: 504,
            message: format!(
                "Instagram was still processing the media after {} checks",
                wait.polls
            ),
        })
    }

    /// The public link to a published post; `None` if Meta does not give it.
    async fn permalink(&self, account: AccountRef<'_>, media_id: &str) -> Option<Url> {
        let answer = self
            .graph
            .read(account, &[media_id], "permalink", Stage::Read)
            .await
            .ok()?;
        Url::parse(answer.get("permalink")?.as_str()?).ok()
    }
}

#[async_trait]
impl Platform for Instagram {
    fn provider(&self) -> Provider {
        Provider::Instagram
    }

    fn limits(&self) -> &Limits {
        &INSTAGRAM_LIMITS
    }

    #[instrument(skip_all, fields(provider = "instagram", account = %account.remote_id, images = post.media.len()))]
    async fn publish(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Published, PublishError> {
        if post.media.is_empty() {
            return Err(PublishError::Rejected {
                reason: "an Instagram post needs at least one image".to_owned(),
            });
        }
        if post.media.len() > INSTAGRAM_LIMITS.max_images {
            return Err(PublishError::Rejected {
                reason: format!(
                    "an Instagram carousel holds at most {} images",
                    INSTAGRAM_LIMITS.max_images
                ),
            });
        }
        // Instagram fetches images itself; without a public link there is nothing to give it.
        let mut urls = Vec::with_capacity(post.media.len());
        for (n, media) in post.media.iter().enumerate() {
            let Some(url) = &media.public_url else {
                return Err(PublishError::Rejected {
                    reason: format!(
                        "image {} has no public link for Instagram to fetch; \
                         autopost's public URL must be set and reachable",
                        n + 1
                    ),
                });
            };
            urls.push(url.to_string());
        }
        let container = match urls.as_slice() {
            [one] => {
                let mut params = vec![("image_url", one.clone())];
                if !post.text.is_empty() {
                    params.push(("caption", post.text.to_owned()));
                }
                self.container(account, params).await?
            }
            several => {
                let mut children = Vec::with_capacity(several.len());
                for url in several {
                    let params = vec![
                        ("image_url", url.clone()),
                        ("is_carousel_item", "true".to_owned()),
                    ];
                    children.push(self.container(account, params).await?);
                }
                let mut params = vec![
                    ("media_type", "CAROUSEL".to_owned()),
                    ("children", children.join(",")),
                ];
                if !post.text.is_empty() {
                    params.push(("caption", post.text.to_owned()));
                }
                self.container(account, params).await?
            }
        };
        self.wait_until_finished(account, &container).await?;
        let published = self
            .graph
            .create(
                account,
                &[account.remote_id, "media_publish"],
                Body::Form(vec![("creation_id", container)]),
                Stage::Create,
                "post",
            )
            .await?;
        let url = self.permalink(account, &published.id).await;
        tracing::debug!(remote_id = %published.id, "instagram post published");
        Ok(Published {
            remote_id: published.id,
            url,
        })
    }

    /// See [`FacebookPages::refresh`]: the grant's long-lived user token is exchanged anew.
    #[instrument(skip_all, fields(provider = "instagram"))]
    async fn refresh(&self, refresh_token: &Secret) -> Result<Refreshed, AuthError> {
        refresh_user_token(&self.graph, refresh_token).await
    }

    #[instrument(skip_all, fields(provider = "instagram"))]
    async fn revoke(&self, token: &Secret) -> Result<(), AuthError> {
        self.graph.revoke_user(token).await
    }

    fn rate_limit(&self, account_remote_id: &str) -> Option<RateLimit> {
        self.graph.rate_limit(account_remote_id)
    }

    /// Reads the account's recent media and matches on the caption.
    async fn find_recent(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Lookup, PublishError> {
        let value = self
            .graph
            .read(
                account,
                &[account.remote_id, "media"],
                "id,caption,permalink",
                Stage::Read,
            )
            .await?;
        Ok(match_recent(&value, "caption", post.text, |_| None))
    }
}

/// Exchanges a long-lived user token for a fresh one.
async fn refresh_user_token(graph: &GraphClient, token: &Secret) -> Result<Refreshed, AuthError> {
    let fresh = graph.long_lived(token).await?;
    Ok(Refreshed {
        access_token: fresh.access_token,
        refresh_token: None,
        expires_at: fresh.expires_at,
    })
}

/// The first `http(s)://` link in `text`, without trailing sentence punctuation.
fn first_link(text: &str) -> Option<Url> {
    text.split_whitespace()
        .filter_map(|word| {
            let start = word.find("https://").or_else(|| word.find("http://"))?;
            let link = word[start..]
                .trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"', ')', ']', '…']);
            Url::parse(link).ok().filter(|u| u.host().is_some())
        })
        .next()
}

/// A token call that failed: only a refusal of the grant itself means "reconnect".
fn auth_error(error: PublishError) -> AuthError {
    match error {
        // 190 (dead token) and the code-100 family (a used, expired or mismatched code).
        PublishError::Unauthorized { message } | PublishError::Rejected { reason: message } => {
            AuthError::Revoked { message }
        }
        other => AuthError::Transient(other),
    }
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

/// Classifies an answer: `None` when it is a success. Graph errors are classified by their
/// code whatever the HTTP status, since Meta throttles with 400/403 and a code in the body.
fn classify_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    token: Option<&Secret>,
    now: DateTime<Utc>,
) -> Option<PublishError> {
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(body) else {
        if status.is_success() {
            return None;
        }
        let words = format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();
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
    let message = platform_words(&error, token);
    let code = error.code.unwrap_or(0);
    Some(match code {
        4 | 17 | 32 | 613 | 80_000..=80_014 => PublishError::RateLimited {
            reset_at: throttle_reset(headers, now),
        },
        // Temporarily blocked for policy reasons: the block lifts by itself, so wait, but it
        // is not a quota the usage headers describe.
        368 => PublishError::RateLimited {
            reset_at: throttle_reset(headers, now),
        },
        1 | 2 => PublishError::ServerError {
            status: status.as_u16(),
            message,
        },
        190 | 102 => PublishError::Unauthorized { message },
        10 | 200..=299 => PublishError::Rejected {
            reason: cut(&format!(
                "autopost lacks a permission on this account; reconnect and allow every \
                 permission asked for ({message})"
            )),
        },
        _ => PublishError::Rejected { reason: message },
    })
}

/// The platform's own words for an error, cut to a readable length, with any copy of the
/// token it was sent with taken out.
fn platform_words(error: &GraphError, token: Option<&Secret>) -> String {
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
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        words = words.replace(token.expose(), "[redacted]");
    }
    cut(&words)
}

fn cut(words: &str) -> String {
    words.chars().take(MAX_MESSAGE_CHARS).collect()
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

    fn graph() -> GraphClient {
        let config = MetaConfig {
            app_id: "1234567890".to_owned(),
            app_secret: Secret::new("app-secret-do-not-leak"),
            graph_url: Url::parse("https://graph.facebook.com").unwrap(),
            dialog_url: Url::parse("https://www.facebook.com").unwrap(),
            api_version: "v27.0".to_owned(),
        };
        GraphClient::new(&config, reqwest::Client::new())
    }

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
            StatusCode::from_u16(status).unwrap(),
            headers,
            body,
            None,
            Utc::now(),
        )
    }

    #[test]
    fn the_dialog_url_asks_for_exactly_the_five_permissions() {
        let redirect = Url::parse("https://autopost.example/oauth/meta/callback").unwrap();
        let url = graph().dialog_url(&redirect, "state-1");
        assert!(
            url.as_str()
                .starts_with("https://www.facebook.com/v27.0/dialog/oauth?"),
            "{url}"
        );
        let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["client_id"], "1234567890");
        assert_eq!(pairs["redirect_uri"], redirect.as_str());
        assert_eq!(pairs["state"], "state-1");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(
            pairs["scope"],
            "pages_manage_posts,pages_read_engagement,pages_show_list,instagram_basic,instagram_content_publish"
        );
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
        for code in [4, 17, 32, 613, 80_001, 80_002, 80_014, 368] {
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
                    matches!(&got, PublishError::Rejected { reason } if reason.starts_with("words"))
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
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &body,
            Some(&token),
            Utc::now(),
        )
        .unwrap();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("EAAB-leaky-token"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn only_a_refused_grant_asks_for_reconnection() {
        assert!(matches!(
            auth_error(PublishError::Unauthorized {
                message: "expired".into()
            }),
            AuthError::Revoked { .. }
        ));
        assert!(matches!(
            auth_error(PublishError::Rejected {
                reason: "This authorization code has been used.".into()
            }),
            AuthError::Revoked { .. }
        ));
        assert!(matches!(
            auth_error(PublishError::RateLimited { reset_at: None }),
            AuthError::Transient(_)
        ));
        assert!(matches!(
            auth_error(PublishError::ServerError {
                status: 500,
                message: String::new()
            }),
            AuthError::Transient(_)
        ));
    }

    #[test]
    fn the_first_link_in_the_text_becomes_the_link_preview() {
        let cases: &[(&str, Option<&str>)] = &[
            ("no link here", None),
            (
                "read https://example.com/a?b=1. and http://other.org",
                Some("https://example.com/a?b=1"),
            ),
            ("(see http://a.io/x)", Some("http://a.io/x")),
            ("https:// broken", None),
            ("example.com alone", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                first_link(text).as_ref().map(Url::as_str),
                *expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn limits_follow_each_platform() {
        let graph = Arc::new(graph());
        let facebook = FacebookPages::new(graph.clone());
        let instagram = Instagram::new(graph);
        assert_eq!(facebook.limits().max_text, 63_206);
        assert_eq!(facebook.limits().max_images, 10);
        assert_eq!(facebook.limits().max_image_bytes, 4 * 1024 * 1024);
        assert!(facebook.limits().image_types.contains(&"image/tiff"));
        assert!(!facebook.limits().requires_image);
        assert_eq!(instagram.limits().max_text, 2_200);
        assert_eq!(instagram.limits().image_types, &["image/jpeg"]);
        assert!(instagram.limits().requires_image);
        assert_eq!(instagram.limits().max_hashtags, Some(30));
        assert_eq!(instagram.limits().max_image_bytes, 8 * 1024 * 1024);
        assert_eq!(facebook.provider(), Provider::FacebookPage);
        assert_eq!(instagram.provider(), Provider::Instagram);
    }

    #[test]
    fn debug_output_shows_no_app_secret() {
        let graph = Arc::new(graph());
        let shown = format!(
            "{graph:?} {:?} {:?}",
            FacebookPages::new(graph.clone()),
            Instagram::new(graph.clone())
        );
        assert!(!shown.contains("app-secret-do-not-leak"), "{shown}");
        assert!(shown.contains("1234567890"), "{shown}");
    }
}
