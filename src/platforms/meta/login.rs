//! Facebook Login: the dialog URL, code → short-lived → long-lived user token, the paged
//! `/me/accounts` list of Pages with their Page tokens and Instagram accounts, and revocation.
//! Tokens come back as `Secret`s; storing them is the caller's business.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;
use url::Url;

use super::graph::{Call, GraphClient};
use crate::crypto::Secret;
use crate::platforms::http::{Stage, unreadable};
use crate::platforms::{AuthError, PublishError, Refreshed};

/// The permissions the login dialog asks for, comma-separated as the dialog expects: exactly
/// those the privacy policy names.
/// <https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow>
pub const SCOPES: &str = "pages_manage_posts,pages_read_engagement,pages_show_list,instagram_basic,instagram_content_publish";

/// `/me/accounts` pages followed at most: a bound against a `next` link that never ends.
const MAX_ACCOUNT_PAGES: usize = 50;

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

impl GraphClient {
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
                            tracing::warn!(
                                "the Instagram account of a Page is not readable; not linked"
                            );
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
        // The token being exchanged (or the code) may come back in an error's words.
        let exchanged = params
            .iter()
            .find(|(name, _)| matches!(*name, "fb_exchange_token" | "code"))
            .map(|(_, value)| *value);
        let call = Call {
            request,
            token: None,
            account: None,
            stage: Stage::Read,
            also_secret: exchanged,
            network: super::refusals::Network::Facebook,
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
}

/// Exchanges a long-lived user token for a fresh one.
pub(super) async fn refresh_user_token(
    graph: &GraphClient,
    token: &Secret,
) -> Result<Refreshed, AuthError> {
    let fresh = graph.long_lived(token).await?;
    Ok(Refreshed {
        access_token: fresh.access_token,
        refresh_token: None,
        expires_at: fresh.expires_at,
    })
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::platforms::meta::tests::graph;

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
}
