//! Publishing to Instagram business accounts: image containers that Meta fetches from our
//! signed public links, a wait until each is FINISHED, then `media_publish`; carousels; and
//! the daily publishing quota, read at run time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;
use url::Url;

use super::RecentPosts;
use super::graph::{Body, GraphClient};
use super::login::refresh_user_token;
use super::refusals::Network;
use crate::crypto::Secret;
use crate::domain::Provider;
use crate::platforms::http::{Stage, cut};
use crate::platforms::redact::Redactor;
use crate::platforms::{
    AccountRef, AuthError, Limits, Lookup, Platform, PostContent, PublishError, Published,
    RateLimit, Refreshed,
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

/// An account's recent media, matched on their caption; each carries its own permalink.
const RECENT_POSTS: RecentPosts = RecentPosts {
    edge: "media",
    fields: "id,caption,permalink",
    text_field: "caption",
    network: Network::Instagram,
};

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
    #[instrument(skip_all, fields(provider = "instagram"))]
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
                Network::Instagram,
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
                Network::Instagram,
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
                .read(
                    Network::Instagram,
                    account,
                    &[container],
                    "status_code,status",
                    Stage::Prepare,
                )
                .await?;
            let code = status.get("status_code").and_then(Value::as_str);
            let words = status
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("no details");
            match code {
                Some("FINISHED") => return Ok(()),
                Some("ERROR") => {
                    // Platform words: the token taken out before they are cut.
                    let words = Redactor::new().with(account.token).redact(words);
                    return Err(PublishError::Rejected {
                        reason: container_refused(&cut(&words)),
                    });
                }
                // Unpublished for 24 hours: nothing is public, and a new attempt makes a new
                // container, so this is a passing fault rather than a refusal.
                Some("EXPIRED") => {
                    return Err(PublishError::ServerError {
                        status: 504,
                        message: "Instagram's prepared upload expired before it was published"
                            .to_owned(),
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
            .read(
                Network::Instagram,
                account,
                &[media_id],
                "permalink",
                Stage::Read,
            )
            .await
            .ok()?;
        Url::parse(answer.get("permalink")?.as_str()?).ok()
    }
}

/// What the author reads when Instagram could not prepare the media (container status
/// `ERROR`; `words` carries Meta's status and subcode), with what to do next.
fn container_refused(words: &str) -> String {
    format!(
        "Instagram could not use the image (container ERROR: {words}); use Edit with a JPEG \
         between 4:5 (portrait) and 1.91:1 (landscape), or press Retry"
    )
}

#[async_trait]
impl Platform for Instagram {
    fn provider(&self) -> Provider {
        Provider::Instagram
    }

    fn limits(&self) -> &Limits {
        &INSTAGRAM_LIMITS
    }

    #[instrument(skip_all, fields(provider = "instagram", images = post.media.len()))]
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
                Network::Instagram,
                account,
                &[account.remote_id, "media_publish"],
                Body::Form(vec![("creation_id", container)]),
                Stage::Create,
                "post",
            )
            .await?;
        let url = self.permalink(account, &published.id).await;
        tracing::debug!("instagram post published");
        Ok(Published {
            remote_id: published.id,
            url,
        })
    }

    /// See [`super::FacebookPages::refresh`]: the grant's long-lived user token is exchanged anew.
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
        RECENT_POSTS
            .find(&self.graph, account, post.text, |_| None)
            .await
    }
}
