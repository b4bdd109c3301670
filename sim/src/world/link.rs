//! People, chats and linked accounts in a world: through the real OAuth round trip, or, where
//! a test needs an exact token or expiry (or a bench needs thousands), seeded in the store.

use autopost::crypto::Secret;
use autopost::domain::Actor;
use autopost::domain::{AccountId, ChatKind, ChatPlatform, GrantId, OAuthProvider, Provider};
use autopost::front_end::{Person, Place};
use autopost::store::{LinkedAccount, NewGrant, NewLinkedAccount, StoreError};
use chrono::{DateTime, Utc};

use super::{World, WorldError, browse};
use crate::x::SimXUser;

/// What one OAuth round trip linked, and who linked it where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccounts {
    /// The person who linked, in the chat the accounts now post for (not an admin).
    pub actor: Actor,
    /// The accounts the round trip added to the chat, in the order the chat lists them
    /// (none if they were linked already).
    pub accounts: Vec<LinkedAccount>,
}

/// An X account linked through the store, with the tokens that make it work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededAccount {
    /// The grant.
    pub grant: GrantId,
    /// The account, linked to the chat.
    pub account: AccountId,
    /// Its access token, live at the simulated X.
    pub access_token: String,
    /// Its refresh token, live at the simulated X.
    pub refresh_token: String,
}

impl World {
    /// The person `user` in `chat`, both named as `autopost connect` names them
    /// (`telegram:-1001`, `telegram:42`), recorded as seen if they were not yet.
    pub async fn actor(&self, chat: &str, user: &str) -> Result<Actor, WorldError> {
        let (chat_platform, chat_id) = parse_ref(chat)?;
        let (user_platform, user_id) = parse_ref(user)?;
        // As `App::connect_link` records them: a chat with the person's own id is private.
        let kind = if chat_id == user_id {
            ChatKind::Private
        } else {
            ChatKind::Group
        };
        let person = Person {
            platform: user_platform,
            id: user_id,
            name: None,
            language: None,
        };
        let place = Place {
            platform: chat_platform,
            id: chat_id,
            kind,
            title: None,
        };
        Ok(self.app().actor(person, place, None, Utc::now()).await?)
    }

    /// Each of `users` (`telegram:42`) confirmed their age and agreed to the privacy policy,
    /// as pressing the button under the notice records it: tests about other things start
    /// with people who already did.
    pub async fn agree<S: AsRef<str>>(&self, users: &[S]) -> Result<(), WorldError> {
        for user in users.iter().map(AsRef::as_ref) {
            let actor = self.actor(user, user).await?;
            self.app().agree_to_policy(&actor, Utc::now()).await?;
            // Agreeing in chat asks for the person's zone; theirs was asked then too.
            self.app().ask_time_zone_once(&actor, Utc::now()).await?;
        }
        Ok(())
    }

    /// Links the simulated X's consenting user to `chat` through the real round trip:
    /// `App::connect_link`, then autopost's start page, the simulated consent page and
    /// autopost's callback, redirects followed by hand. Needs a serving world.
    pub async fn link_x(&self, chat: &str, user: &str) -> Result<LinkedAccounts, WorldError> {
        self.link(OAuthProvider::X, chat, user).await
    }

    /// Links the simulated Meta user's Pages (and their Instagram accounts) to `chat`, as
    /// [`World::link_x`] does for X.
    pub async fn link_meta(&self, chat: &str, user: &str) -> Result<LinkedAccounts, WorldError> {
        self.link(OAuthProvider::Meta, chat, user).await
    }

    /// Links `provider`'s consenting user's accounts to `chat` through the real round trip:
    /// [`World::link_x`] and [`World::link_meta`] by the provider's name.
    pub async fn link(
        &self,
        provider: OAuthProvider,
        chat: &str,
        user: &str,
    ) -> Result<LinkedAccounts, WorldError> {
        if !self.is_serving() {
            return Err(WorldError::NotServing);
        }
        let start = self
            .app()
            .connect_link(provider.as_str(), chat, user, Utc::now())
            .await
            .map_err(WorldError::Connect)?;
        let actor = self.actor(chat, user).await?;
        let store = self.store().await?;
        let before = store.accounts_of_chat(actor.chat).await?;
        let page = browse(start).await?;
        if page.status != 200 {
            return Err(WorldError::LinkRefused {
                status: page.status,
                page: page.body,
            });
        }
        let accounts = store
            .accounts_of_chat(actor.chat)
            .await?
            .into_iter()
            .filter(|account| !before.iter().any(|b| b.id == account.id))
            .collect();
        Ok(LinkedAccounts { actor, accounts })
    }

    /// Links `user`'s X account to `actor`'s chat without the round trip: tokens
    /// `access-{id}` and `refresh-{id}` are made live at the simulated X and stored sealed as
    /// a completed link leaves them, the access token lapsing at `expires_at`. For tests that
    /// need an exact expiry, and benches that link thousands; prefer [`World::link_x`].
    pub async fn seed_x_account(
        &self,
        actor: &Actor,
        user: &SimXUser,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<SeededAccount, WorldError> {
        let access_token = format!("access-{}", user.id);
        let refresh_token = format!("refresh-{}", user.id);
        self.x()
            .insert_grant(user.clone(), &access_token, Some(&refresh_token));
        let (grant, accounts) = self
            .store()
            .await?
            .save_linked_grant(
                NewGrant {
                    owner: actor.user,
                    provider: OAuthProvider::X,
                    remote_user_id: &user.id,
                    scopes: autopost::platforms::x::SCOPES,
                    access_token: Secret::new(access_token.as_str()),
                    refresh_token: Some(Secret::new(refresh_token.as_str())),
                    expires_at,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: user.id.clone(),
                    display_name: format!("@{}", user.username),
                    access_token: None,
                }],
                actor.chat,
                Utc::now(),
            )
            .await?;
        // One account given, one id back; anything else is the store's fault.
        let [account] = accounts[..] else {
            return Err(WorldError::Store(StoreError::NotFound {
                what: "the seeded account",
            }));
        };
        Ok(SeededAccount {
            grant,
            account,
            access_token,
            refresh_token,
        })
    }
}

/// `telegram:-1001` → (Telegram, `-1001`).
fn parse_ref(name: &str) -> Result<(ChatPlatform, &str), WorldError> {
    let bad = || WorldError::BadName {
        name: name.to_owned(),
    };
    let (platform, id) = name.split_once(':').ok_or_else(bad)?;
    let platform = platform.parse().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((platform, id))
}
