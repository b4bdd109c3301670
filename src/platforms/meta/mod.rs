//! Meta Graph API: Facebook Login, publishing to Facebook Pages and to Instagram business
//! accounts, revocation, the classification of Graph errors, and the `signed_request` of
//! Meta's callbacks. Knows tokens and account ids, never chats or the store. `graph` holds
//! the client the other modules share.

mod facebook;
mod graph;
mod instagram;
mod login;
mod refusals;
mod signed_request;

use serde_json::Value;
use url::Url;

pub use facebook::FacebookPages;
pub use graph::GraphClient;
pub use instagram::{ContainerWait, Instagram};
pub use login::{InstagramAccount, MetaUser, PageGrant, SCOPES, UserToken};
pub use signed_request::{
    MAX_SIGNED_REQUEST_LEN, SignedRequest, SignedRequestError, SignedRequestVerifier,
};

use super::http::Stage;
use super::{AccountRef, Lookup, PublishError, Published};

/// Where Facebook and Instagram list an account's recent posts, and which field holds the
/// text that reconciliation matches on (never "the newest post").
struct RecentPosts {
    /// The edge under the account: `feed`, `media`.
    edge: &'static str,
    /// The fields to read of each item.
    fields: &'static str,
    /// The field holding the text or caption.
    text_field: &'static str,
    /// Whose posts they are.
    network: refusals::Network,
}

impl RecentPosts {
    /// Reads the account's recent posts and finds the one whose text is `text`; `url_of`
    /// builds its link when the item carries no `permalink`.
    async fn find(
        &self,
        graph: &GraphClient,
        account: AccountRef<'_>,
        text: &str,
        url_of: impl Fn(&str) -> Option<Url>,
    ) -> Result<Lookup, PublishError> {
        let value = graph
            .read(
                self.network,
                account,
                &[account.remote_id, self.edge],
                self.fields,
                Stage::Read,
            )
            .await?;
        Ok(match_recent(&value, self.text_field, text, url_of))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::config::MetaConfig;
    use crate::crypto::Secret;
    use crate::domain::Provider;
    use crate::platforms::Platform;

    /// A client against the real Graph API addresses; the modules' tests share it.
    pub(super) fn graph() -> GraphClient {
        let config = MetaConfig {
            app_id: "1234567890".to_owned(),
            app_secret: Secret::new("app-secret-do-not-leak"),
            graph_url: Url::parse("https://graph.facebook.com").unwrap(),
            dialog_url: Url::parse("https://www.facebook.com").unwrap(),
            api_version: "v27.0".to_owned(),
        };
        GraphClient::new(&config, reqwest::Client::new())
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
