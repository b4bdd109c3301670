//! Publishing to Facebook Pages with Page tokens: a text post on `/feed` (its first link as
//! the preview), one photo on `/photos`, several as unpublished photos attached to one feed
//! post, so that a failure half-way leaves nothing public.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tracing::instrument;
use url::Url;

use super::RecentPosts;
use super::graph::{Body, Created, GraphClient};
use super::login::refresh_user_token;
use super::refusals::Network;
use crate::crypto::Secret;
use crate::domain::Provider;
use crate::platforms::http::{Stage, image_part};
use crate::platforms::{
    AccountRef, AuthError, Limits, Lookup, Media, Platform, PostContent, PublishError, Published,
    RateLimit, Refreshed,
};

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

/// A Page's recent posts, matched on their message.
const RECENT_POSTS: RecentPosts = RecentPosts {
    edge: "feed",
    fields: "id,message",
    text_field: "message",
    network: Network::Facebook,
};

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
                Network::Facebook,
                account,
                &[account.remote_id, "photos"],
                Body::Multipart(form),
                stage,
                "photo",
            )
            .await
    }

    /// Creates a live post on the Page's feed (`POST /{page}/feed`); returns its id.
    async fn post_to_feed(
        &self,
        account: AccountRef<'_>,
        params: Vec<(&'static str, String)>,
    ) -> Result<String, PublishError> {
        self.graph
            .create(
                Network::Facebook,
                account,
                &[account.remote_id, "feed"],
                Body::Form(params),
                Stage::Create,
                "post",
            )
            .await
            .map(|created| created.id)
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

    #[instrument(skip_all, fields(provider = "facebook", images = post.media.len()))]
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
                self.post_to_feed(account, params).await?
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
                self.post_to_feed(account, params).await?
            }
        };
        let url = post_url(&post_id);
        tracing::debug!("facebook post created");
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
        RECENT_POSTS
            .find(&self.graph, account, post.text, post_url)
            .await
    }
}

/// The public link of a Page post.
fn post_url(id: &str) -> Option<Url> {
    Url::parse(&format!("https://www.facebook.com/{id}")).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
