//! Linking accounts through OAuth: single-use states bound to the chat user who asked and to
//! the browser that first opens the link (a forwarded link links nobody's account to the
//! sender's chat), PKCE (S256) for X with the verifier kept server-side, and Meta's code →
//! long-lived token → Page tokens chain. Tokens are stored sealed and the accounts linked in
//! one transaction.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::public_link;
use crate::crypto::{Secret, random_token};
use crate::domain::{ChatId, ChatKind, ChatPlatform, OAuthProvider, Provider, UserId};
use crate::log_ids::LogIds;
use crate::platforms::meta::GraphClient;
use crate::platforms::x::XClient;
use crate::platforms::{AuthError, PublishError};
use crate::store::{
    Chat, NewGrant, NewLinkedAccount, NewOAuthState, Notification, NotificationKind, OAuthState,
    StateProblem, StateUse, Store, StoreError, User,
};

/// How long a start link works.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);

/// Why linking did not happen. Each says what the person can do.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The operator has not configured this platform.
    #[error("{} is not set up on this autopost; ask its operator to configure it", match provider {
        OAuthProvider::X => "X",
        OAuthProvider::Meta => "Facebook/Instagram",
    })]
    ProviderOff {
        /// The platform.
        provider: OAuthProvider,
    },
    /// The link is unknown, used or expired.
    #[error("{}", match .0 {
        StateProblem::Unknown => "this link is not valid; ask the bot for a new one with /connect",
        StateProblem::Used => "this link was already used; ask the bot for a new one with /connect",
        StateProblem::Expired => "this link has expired (links work for 10 minutes); ask the bot for a new one with /connect",
        StateProblem::OpenedElsewhere => "this link was already opened in another browser, and works only there; if someone forwarded it to you, do not go on: their chat would post with your account. Ask the bot for your own link with /connect",
        StateProblem::NotThisBrowser => "this sign-in did not start in this browser, so nothing was linked; open your /connect link in this browser, or ask the bot for a new one",
    })]
    State(StateProblem),
    /// A link made for one platform came back from another.
    #[error("this link was made for another platform; ask the bot for a new one with /connect")]
    WrongProvider,
    /// The person declined at the platform, or the platform sent no code.
    #[error("the platform did not grant access ({reason}); nothing was linked")]
    Denied {
        /// What the platform said.
        reason: String,
    },
    /// The code could not be exchanged for tokens.
    #[error("the platform did not accept the sign-in; try /connect again")]
    Exchange(#[source] AuthError),
    /// The account's identity or Pages could not be read.
    #[error("the platform did not tell us which account this is; try /connect again")]
    Identity(#[source] PublishError),
    /// The Meta user manages no Page autopost was allowed to use.
    #[error("no Facebook Page was shared with autopost; tick at least one Page when you connect")]
    NoPages,
    /// The database failed.
    #[error("autopost could not save the link")]
    Store(#[from] StoreError),
}

/// What one completed round trip linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// The chat the accounts now post for.
    pub chat: ChatId,
    /// Who linked them.
    pub user: UserId,
    /// The accounts, as (kind, display name).
    pub accounts: Vec<(Provider, String)>,
}

impl Linked {
    /// "Linked @alice (X) and Alice's Bakery (Facebook Page) to this chat".
    pub fn summary(&self) -> String {
        let names: Vec<String> = self
            .accounts
            .iter()
            .map(|(provider, name)| format!("{name} ({})", provider_label(*provider)))
            .collect();
        format!("Linked {} to this chat", join_words(&names))
    }
}

/// A human name for a kind of account.
pub fn provider_label(provider: Provider) -> &'static str {
    match provider {
        Provider::X => "X",
        Provider::FacebookPage => "Facebook Page",
        Provider::Instagram => "Instagram",
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Runs OAuth round trips for the platforms that are configured.
#[derive(Debug, Clone)]
pub struct Linker {
    store: Store,
    public_url: Url,
    x: Option<Arc<XClient>>,
    meta: Option<Arc<GraphClient>>,
    log_ids: LogIds,
}

impl Linker {
    /// A linker over the configured clients (`None` = platform off), naming people and
    /// chats in its log lines with `log_ids`.
    pub fn new(
        store: Store,
        public_url: Url,
        x: Option<Arc<XClient>>,
        meta: Option<Arc<GraphClient>>,
        log_ids: LogIds,
    ) -> Self {
        Self {
            store,
            public_url,
            x,
            meta,
            log_ids,
        }
    }

    fn ensure_on(&self, provider: OAuthProvider) -> Result<(), OAuthError> {
        let on = match provider {
            OAuthProvider::X => self.x.is_some(),
            OAuthProvider::Meta => self.meta.is_some(),
        };
        if on {
            Ok(())
        } else {
            Err(OAuthError::ProviderOff { provider })
        }
    }

    /// Where the platform sends the person back: `{public_url}/oauth/{provider}/callback`.
    pub fn redirect_uri(&self, provider: OAuthProvider) -> Url {
        self.route(provider, "callback")
    }

    fn route(&self, provider: OAuthProvider, step: &str) -> Url {
        public_link(&self.public_url, &["oauth", provider.as_str(), step])
    }

    /// Creates a single-use state for `user` in `chat` and returns the link that starts the
    /// round trip (`/oauth/{provider}/start?s=…`), to be sent to that person privately.
    pub async fn start_link(
        &self,
        provider: OAuthProvider,
        user: UserId,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<Url, OAuthError> {
        self.ensure_on(provider)?;
        let state = random_token();
        let pkce_verifier = (provider == OAuthProvider::X).then(random_token);
        self.store
            .create_oauth_state(
                NewOAuthState {
                    state_hash: state_hash(state.expose()),
                    provider,
                    user,
                    chat,
                    pkce_verifier,
                    expires_at: now + STATE_LIFETIME,
                },
                now,
            )
            .await?;
        let mut url = self.route(provider, "start");
        url.query_pairs_mut().append_pair("s", state.expose());
        Ok(url)
    }

    /// The round trip `state` belongs to, if it is valid and for `provider`; `how` binds it
    /// to a browser or uses it up in the same transaction that checks it.
    async fn pending(
        &self,
        provider: OAuthProvider,
        state: &str,
        how: StateUse<'_>,
        now: DateTime<Utc>,
    ) -> Result<OAuthState, OAuthError> {
        self.ensure_on(provider)?;
        let pending = self
            .store
            .check_oauth_state(&state_hash(state), how, now)
            .await?
            .map_err(OAuthError::State)?;
        if pending.provider != provider {
            return Err(OAuthError::WrongProvider);
        }
        Ok(pending)
    }

    /// For the start link: checks the state, binds it to this browser (the `browser` cookie
    /// it came with, or a new one), and says where the platform's consent page is (carrying the
    /// same state and, for X, the PKCE challenge) and whose chat the accounts will post for.
    pub async fn open_start(
        &self,
        provider: OAuthProvider,
        state: &str,
        browser: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Consent, OAuthError> {
        // A cookie of ours is reused, so that one browser may have several links open; anything
        // else gets a fresh one.
        let browser = browser
            .filter(|b| is_browser_cookie(b))
            .map_or_else(random_token, Secret::new);
        let hash = state_hash(browser.expose());
        let pending = self
            .pending(provider, state, StateUse::Open { browser: &hash }, now)
            .await?;
        let redirect = self.redirect_uri(provider);
        let url = match (provider, &self.x, &self.meta) {
            (OAuthProvider::X, Some(x), _) => {
                let verifier = pending
                    .pkce_verifier
                    .as_ref()
                    .ok_or(OAuthError::State(StateProblem::Unknown))?;
                x.authorize_url(&redirect, state, &pkce_challenge(verifier))
            }
            (OAuthProvider::Meta, _, Some(meta)) => meta.dialog_url(&redirect, state),
            _ => return Err(OAuthError::ProviderOff { provider }),
        };
        let chat = self.store.chat(pending.chat).await?;
        let user = self.store.user(pending.user).await?;
        Ok(Consent {
            url,
            chat: chat_words(&chat, &user),
            asked_by: person_words(&user),
            browser,
        })
    }

    /// For the callback: uses up the state (only in the browser that opened the start link:
    /// `browser` is its cookie), exchanges the code, reads who the accounts are,
    /// stores the tokens sealed, links the accounts to the chat, and queues a notification.
    /// Any failure before the final transaction stores nothing.
    pub async fn complete(
        &self,
        provider: OAuthProvider,
        state: &str,
        browser: Option<&str>,
        code: Result<&str, String>,
        now: DateTime<Utc>,
    ) -> Result<Linked, OAuthError> {
        let browser = browser.map(state_hash);
        let how = StateUse::Consume {
            browser: browser.as_ref(),
        };
        let pending = self.pending(provider, state, how, now).await?;
        let code = code.map_err(|reason| OAuthError::Denied { reason })?;
        let redirect = self.redirect_uri(provider);
        let granted = match (provider, &self.x, &self.meta) {
            (OAuthProvider::X, Some(x), _) => {
                grant_from_x(x, code, pending.pkce_verifier.as_ref(), &redirect).await?
            }
            (OAuthProvider::Meta, _, Some(meta)) => grant_from_meta(meta, code, &redirect).await?,
            _ => return Err(OAuthError::ProviderOff { provider }),
        };
        let linked = Linked {
            chat: pending.chat,
            user: pending.user,
            accounts: granted
                .accounts
                .iter()
                .map(|a| (a.provider, a.display_name.clone()))
                .collect(),
        };
        self.store
            .save_linked_grant(
                NewGrant {
                    owner: pending.user,
                    provider,
                    remote_user_id: &granted.remote_user_id,
                    scopes: &granted.scopes,
                    access_token: granted.access_token,
                    refresh_token: granted.refresh_token,
                    expires_at: granted.expires_at,
                },
                granted.accounts,
                pending.chat,
                now,
            )
            .await?;
        self.store
            .enqueue_notification(
                &Notification {
                    chat: Some(linked.chat),
                    user: Some(linked.user),
                    kind: NotificationKind::AccountLinked,
                    text: linked.summary(),
                    link: None,
                    target: None,
                    post: None,
                },
                now,
            )
            .await?;
        // Named as the front ends name them in their own lines, so that the two can be
        // followed together; a lookup that fails only leaves the names out.
        let chat = self.store.chat(linked.chat).await.ok();
        let user = self.store.user(linked.user).await.ok();
        tracing::info!(
            provider = %provider,
            chat = %chat.map_or_else(String::new, |c| self.log_ids.chat(c.platform, &c.remote_id).to_string()),
            user = %user.map_or_else(String::new, |u| self.log_ids.person(u.platform, &u.remote_id).to_string()),
            accounts = linked.accounts.len(),
            "accounts linked"
        );
        Ok(linked)
    }
}

/// What the start link shows before the browser goes on to the platform.
#[derive(Debug)]
pub struct Consent {
    /// The platform's consent page.
    pub url: Url,
    /// The chat the accounts will post for, in words ("the Telegram group “Team”").
    pub chat: String,
    /// Who asked for the link, in words.
    pub asked_by: String,
    /// The browser's cookie: set it (again) on the answer, for the callback to check.
    pub browser: Secret,
}

/// Whether `value` could be a cookie [`Linker::open_start`] set: the shape of
/// [`random_token`], nothing a page could smuggle in.
fn is_browser_cookie(value: &str) -> bool {
    (32..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// "the Telegram group “Team”", "Alice's private chat with the bot on Telegram".
fn chat_words(chat: &Chat, asker: &User) -> String {
    let platform = platform_name(chat.platform);
    match (chat.kind, &chat.title) {
        (ChatKind::Private, _) => format!(
            "{}'s private chat with the bot on {platform}",
            asker.display_name.as_deref().unwrap_or("the asker")
        ),
        (_, Some(title)) => format!("the {platform} group “{title}”"),
        (_, None) => format!("the {platform} chat {}", chat.remote_id),
    }
}

/// "Alice (Telegram user 42)".
fn person_words(user: &User) -> String {
    let platform = platform_name(user.platform);
    match &user.display_name {
        Some(name) => format!("{name} ({platform} user {})", user.remote_id),
        None => format!("{platform} user {}", user.remote_id),
    }
}

fn platform_name(platform: ChatPlatform) -> &'static str {
    match platform {
        ChatPlatform::Telegram => "Telegram",
        ChatPlatform::Discord => "Discord",
    }
}

/// What a platform granted in one round trip: the user's tokens and the accounts they reach.
/// Nothing of it is stored yet.
struct Granted {
    /// The user's id at the platform.
    remote_user_id: String,
    /// Scopes granted, space-separated.
    scopes: String,
    access_token: Secret,
    refresh_token: Option<Secret>,
    expires_at: Option<DateTime<Utc>>,
    /// The accounts to link, each with its own token where the platform issues one.
    accounts: Vec<NewLinkedAccount>,
}

/// X: the code and the PKCE verifier kept with the state → tokens → the user they act for,
/// who is the one account linked.
async fn grant_from_x(
    x: &XClient,
    code: &str,
    verifier: Option<&Secret>,
    redirect: &Url,
) -> Result<Granted, OAuthError> {
    // Every X state is made with a verifier; one without cannot be completed.
    let verifier = verifier.ok_or(OAuthError::State(StateProblem::Unknown))?;
    let tokens = x
        .exchange_code(code, verifier, redirect)
        .await
        .map_err(OAuthError::Exchange)?;
    let me = x
        .me(&tokens.access_token)
        .await
        .map_err(OAuthError::Identity)?;
    Ok(Granted {
        accounts: vec![NewLinkedAccount {
            provider: Provider::X,
            remote_id: me.id.clone(),
            display_name: format!("@{}", me.username),
            access_token: None,
        }],
        remote_user_id: me.id,
        scopes: tokens.scopes,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
    })
}

/// Meta: the code → a short-lived user token → a long-lived one → the user and the Pages
/// they shared, each linked with its Page token, and each Page's Instagram account with it.
async fn grant_from_meta(
    meta: &GraphClient,
    code: &str,
    redirect: &Url,
) -> Result<Granted, OAuthError> {
    let short = meta
        .exchange_code(code, redirect)
        .await
        .map_err(OAuthError::Exchange)?;
    let long = meta
        .long_lived(&short.access_token)
        .await
        .map_err(OAuthError::Exchange)?;
    let me = meta
        .me(&long.access_token)
        .await
        .map_err(OAuthError::Identity)?;
    let pages = meta
        .pages(&long.access_token)
        .await
        .map_err(OAuthError::Identity)?;
    if pages.is_empty() {
        return Err(OAuthError::NoPages);
    }
    let mut accounts = Vec::new();
    for page in &pages {
        accounts.push(NewLinkedAccount {
            provider: Provider::FacebookPage,
            remote_id: page.id.clone(),
            display_name: page.name.clone(),
            access_token: Some(Secret::new(page.access_token.expose())),
        });
        if let Some(ig) = &page.instagram {
            // Instagram calls are made with the token of the Page it hangs off.
            accounts.push(NewLinkedAccount {
                provider: Provider::Instagram,
                remote_id: ig.id.clone(),
                display_name: format!("@{}", ig.username),
                access_token: Some(Secret::new(page.access_token.expose())),
            });
        }
    }
    Ok(Granted {
        remote_user_id: me.id,
        // Stored space-separated, like X's, whatever separator the dialog uses.
        scopes: crate::platforms::meta::SCOPES.replace(',', " "),
        access_token: long.access_token,
        refresh_token: None,
        expires_at: long.expires_at,
        accounts,
    })
}

/// Only a hash of a state is stored, so a database leak does not yield live links.
fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

/// RFC 7636 S256: base64url(SHA-256(verifier)) without padding.
pub fn pkce_challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_matches_rfc_7636_appendix_b() {
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_summary_names_every_linked_account() {
        let linked = Linked {
            chat: ChatId(1),
            user: UserId(1),
            accounts: vec![
                (Provider::FacebookPage, "Bakery".to_owned()),
                (Provider::Instagram, "@bakery".to_owned()),
                (Provider::FacebookPage, "Cafe".to_owned()),
            ],
        };
        assert_eq!(
            linked.summary(),
            "Linked Bakery (Facebook Page), @bakery (Instagram) and Cafe (Facebook Page) to this chat"
        );
    }
}
