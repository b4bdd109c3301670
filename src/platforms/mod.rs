//! Publishing to social platforms behind one trait. Clients know accounts and tokens, never
//! chats or the store; the scheduler decides what to do with each classified error.

pub mod http;
pub mod meta;
mod rate_limits;
pub mod redact;
pub mod x;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use url::Url;

use crate::config::Config;
use crate::crypto::Secret;
use crate::domain::Provider;

/// One image to publish.
#[derive(Clone)]
pub struct Media {
    /// MIME type such as `image/jpeg`.
    pub content_type: String,
    /// The file's bytes (for uploads: X, Facebook).
    pub bytes: Bytes,
    /// A signed, expiring public link to the same bytes on our own `/media/...` route
    /// (for platforms that fetch the image themselves: Instagram).
    pub public_url: Option<Url>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public URL carries a signature: keep it out of logs.
        f.debug_struct("Media")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// What to publish on one account.
#[derive(Debug, Clone, Copy)]
pub struct PostContent<'a> {
    /// The text or caption.
    pub text: &'a str,
    /// 0 to 10 images, in order.
    pub media: &'a [Media],
    /// The platform's id of the post this one answers: each part of an X thread after the
    /// first replies to the part before. Only X publishes threads; Meta ignores it.
    pub reply_to: Option<&'a str>,
}

/// The account to publish on, with the token that publishes there.
#[derive(Debug, Clone, Copy)]
pub struct AccountRef<'a> {
    /// The account's id at the platform (X user id, Page id, Instagram user id).
    pub remote_id: &'a str,
    /// The access token (X user token, Page token).
    pub token: &'a Secret,
}

/// A post that exists at the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The platform's id of the post: saved the instant the create call returns.
    pub remote_id: String,
    /// A link to the live post, if one can be built.
    pub url: Option<Url>,
}

/// Tokens the platform issued in a refresh.
#[derive(Debug)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: Secret,
    /// The new refresh token (X rotates them; single use). `None` keeps the stored one.
    pub refresh_token: Option<Secret>,
    /// When the new access token lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a platform accepts in one post. Checked when a post is accepted, not at publish time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest text, in the platform's own counting (X: weighted; others: characters).
    pub max_text: usize,
    /// Most images in one post.
    pub max_images: usize,
    /// Whether a post needs at least one image (Instagram).
    pub requires_image: bool,
    /// Largest image file.
    pub max_image_bytes: u64,
    /// Image types the platform takes as they are; others must be converted.
    pub image_types: &'static [&'static str],
    /// Most hashtags, where the platform limits them.
    pub max_hashtags: Option<usize>,
}

/// What the platform said about our remaining quota, from its response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Requests left in the current window.
    pub remaining: Option<u64>,
    /// When the window resets.
    pub reset_at: Option<DateTime<Utc>>,
}

/// Why a platform call failed, classified by what the caller may do next.
/// Exactly-once publishing depends on keeping `Unreachable` and `Ambiguous` apart.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Nothing reached the platform (connection refused, DNS, TLS): a retry is safe.
    #[error("the platform could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// The platform is throttling us: wait until the reset before sending again.
    #[error("rate limited by the platform{}", reset_at.map(|r| format!(" until {r}")).unwrap_or_default())]
    RateLimited {
        /// When sending may resume, if the platform said.
        reset_at: Option<DateTime<Utc>>,
    },
    /// The platform failed (5xx): it created nothing, so a retry is safe.
    #[error("the platform had an internal error ({status}): {message}")]
    ServerError {
        /// HTTP status.
        status: u16,
        /// The platform's words.
        message: String,
    },
    /// The token is expired or revoked: refresh once; if that fails, the owner must reconnect.
    #[error("the platform refused our token: {message}")]
    Unauthorized {
        /// The platform's words.
        message: String,
    },
    /// The platform refused the post itself (validation, duplicate content): do not retry.
    #[error("the platform rejected the post: {reason}")]
    Rejected {
        /// The platform's words, shown to the author.
        reason: String,
    },
    /// The request left us but no usable answer came back: the post may exist. Reconcile,
    /// never resend blindly.
    #[error("sent, but no usable answer from the platform: {detail}")]
    Ambiguous {
        /// What went wrong (timeout, cut connection, unreadable body).
        detail: String,
    },
}

impl PublishError {
    /// Whether sending again cannot create a duplicate.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PublishError::Unreachable(_)
                | PublishError::RateLimited { .. }
                | PublishError::ServerError { .. }
        )
    }
}

/// Why a token refresh or revocation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The platform says the grant is dead (`invalid_grant`, code 190): the owner must reconnect.
    #[error("the platform no longer accepts this authorization: {message}")]
    Revoked {
        /// The platform's words.
        message: String,
    },
    /// A network blip or platform failure: try again later; the grant may still be good.
    #[error("the token request failed")]
    Transient(#[source] PublishError),
    /// This platform has no refresh (e.g. a Page token that never expires).
    #[error("this account's token cannot be refreshed")]
    NotRefreshable,
}

/// What an account's recent posts say about a post we may have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A post with the same content is there.
    Found(Published),
    /// The recent posts were read and none has this content.
    Absent,
    /// This platform offers no way to check.
    CannotCheck,
}

/// One social platform: X, a Facebook Page, an Instagram account.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Which kind of account this publishes to.
    fn provider(&self) -> Provider;

    /// What one post may contain.
    fn limits(&self) -> &Limits;

    /// Publishes `post` on `account`: uploads media, then creates the post.
    async fn publish(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Published, PublishError>;

    /// Exchanges a refresh token (or, for Meta, a long-lived token) for fresh tokens.
    async fn refresh(&self, refresh_token: &Secret) -> Result<Refreshed, AuthError>;

    /// Revokes `token` at the platform, so that autopost can no longer act for the user.
    async fn revoke(&self, token: &Secret) -> Result<(), AuthError>;

    /// The rate-limit state the platform last reported for `account`, if known.
    fn rate_limit(&self, account_remote_id: &str) -> Option<RateLimit>;

    /// Looks for `post` among the account's recent posts, matching on content and on the
    /// post it replies to (never on "the newest post"), to learn whether an attempt whose
    /// answer was lost went through.
    async fn find_recent(
        &self,
        account: AccountRef<'_>,
        post: PostContent<'_>,
    ) -> Result<Lookup, PublishError> {
        let _ = (account, post);
        Ok(Lookup::CannotCheck)
    }
}

/// The clients of every configured platform, sharing one HTTP client.
#[derive(Debug, Clone, Default)]
pub struct Platforms {
    /// X, if configured.
    pub x: Option<Arc<x::XClient>>,
    /// The Graph API client behind Facebook and Instagram, if Meta is configured.
    pub graph: Option<Arc<meta::GraphClient>>,
    /// Facebook Pages, if Meta is configured.
    pub facebook: Option<Arc<meta::FacebookPages>>,
    /// Instagram, if Meta is configured.
    pub instagram: Option<Arc<meta::Instagram>>,
}

impl Platforms {
    /// Builds a client for each platform the configuration turns on.
    pub fn from_config(config: &Config, http_client: &reqwest::Client) -> Self {
        let graph = config
            .meta
            .as_ref()
            .map(|m| Arc::new(meta::GraphClient::new(m, http_client.clone())));
        Self {
            x: config
                .x
                .as_ref()
                .map(|c| Arc::new(x::XClient::new(c, http_client.clone()))),
            facebook: graph
                .as_ref()
                .map(|g| Arc::new(meta::FacebookPages::new(g.clone()))),
            instagram: graph
                .as_ref()
                .map(|g| Arc::new(meta::Instagram::new(g.clone()))),
            graph,
        }
    }

    /// The client that publishes to this kind of account, if that platform is on.
    pub fn for_provider(&self, provider: Provider) -> Option<Arc<dyn Platform>> {
        match provider {
            Provider::X => self.x.clone().map(|p| p as Arc<dyn Platform>),
            Provider::FacebookPage => self.facebook.clone().map(|p| p as Arc<dyn Platform>),
            Provider::Instagram => self.instagram.clone().map(|p| p as Arc<dyn Platform>),
        }
    }
}

/// How long to wait after a throttled answer when the platform gave no reset time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
