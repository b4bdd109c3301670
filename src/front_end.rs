//! The contract between the core and a chat front end. A front end is a name, the routes it
//! brings to the one web server and a task that runs until the stop signal; it translates
//! platform events into the chat-neutral calls here (who is acting, which updates are new,
//! what to deliver, where a chat went) and the posting and privacy calls. The core knows no
//! chat platform's types, and the rules stay here, not in the front ends.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::app::App;
use crate::domain::{ChatKind, ChatPlatform};
use crate::posting::Actor;
use crate::store::StoreError;

/// A running front end's task, as `App::serve` spawns it.
pub type FrontEndTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A chat front end (Telegram, Discord): started and stopped by `App::serve`.
pub trait FrontEnd: Send {
    /// A short name for logs: `telegram`, `discord`.
    fn name(&self) -> &'static str;

    /// Routes it serves on the app's web server (a webhook, an interactions endpoint),
    /// merged into the one router before it starts serving. Taken once; `None` when it
    /// needs none, so that its paths answer 404.
    fn routes(&mut self) -> Option<axum::Router> {
        None
    }

    /// Runs until `stop` turns true, then finishes what it accepted before returning.
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> FrontEndTask;
}

/// A person as their chat platform knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    /// Where.
    pub platform: ChatPlatform,
    /// The platform's id for them (a Telegram user id, a Discord user id).
    pub id: &'a str,
    /// How they are called, for `/queue`'s author column.
    pub name: Option<&'a str>,
}

/// A chat as its platform knows it: one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// Where.
    pub platform: ChatPlatform,
    /// The platform's id for the chat (a Telegram chat id, a Discord channel id).
    pub id: &'a str,
    /// A one-to-one chat with the bot, or a group whose members share the queue.
    pub kind: ChatKind,
    /// The group's name, if it has one.
    pub title: Option<&'a str>,
}

/// How a front end learns whether the person administers the chat (Telegram: the member's
/// status; Discord: the Manage Messages permission). Asked only when a verb needs it, since
/// it may cost a request to the platform.
#[async_trait::async_trait]
pub trait AdminRights: Send + Sync {
    /// Whether the person may change others' posts and link accounts in this chat. An answer
    /// the platform would not give counts as no.
    async fn is_admin(&self) -> bool;
}

/// Why a chat-neutral call failed: the database did. The front end answers "something went
/// wrong" with a reference and logs the chain under it.
#[derive(Debug, thiserror::Error)]
pub enum FrontEndError {
    /// The database failed; try again later.
    #[error("autopost's database failed")]
    Store(#[from] StoreError),
}

/// A stored notification on its way to one chat of a front end's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Pass back to [`App::mark_delivered`].
    pub id: i64,
    /// The platform's id of the chat to send it to (or of the person, in a private chat).
    pub chat: String,
    /// One human sentence.
    pub text: String,
    /// A link to the live post or the fix, if any.
    pub link: Option<String>,
}

impl App {
    /// The person and chat as the core knows them, recorded on first contact. `rights` is
    /// asked only when given (the verb needs admin rights); in a private chat the person is
    /// the whole team and administers it.
    pub async fn actor(
        &self,
        person: Person<'_>,
        place: Place<'_>,
        rights: Option<&dyn AdminRights>,
        now: DateTime<Utc>,
    ) -> Result<Actor, FrontEndError> {
        let store = self.store();
        let user = store
            .upsert_user(person.platform, person.id, person.name, now)
            .await?;
        let chat = store
            .upsert_chat(place.platform, place.id, place.kind, place.title, now)
            .await?;
        let is_admin = match (place.kind, rights) {
            (ChatKind::Private, _) => true,
            (_, Some(rights)) => rights.is_admin().await,
            (_, None) => false,
        };
        Ok(Actor {
            user: user.id,
            chat: chat.id,
            is_admin,
        })
    }

    /// Records a batch of platform update (or interaction) ids as seen, in one write, and
    /// returns those never seen before, each once. Platforms redeliver when unsure; acting
    /// only on these makes every update count once.
    pub async fn first_deliveries(
        &self,
        platform: ChatPlatform,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, FrontEndError> {
        Ok(self
            .store()
            .first_deliveries(platform.as_str(), ids, now)
            .await?)
    }

    /// Changes whenever a notification is stored, whoever stored it (scheduler, OAuth
    /// callback, token upkeep): a front end waits on it to deliver at once.
    pub fn watch_notifications(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store().watch_notifications()
    }

    /// The oldest undelivered notifications for chats on `platform`, oldest first.
    pub async fn undelivered(
        &self,
        platform: ChatPlatform,
        limit: u32,
    ) -> Result<Vec<Outgoing>, FrontEndError> {
        let pending = self
            .store()
            .undelivered_notifications_on(platform, limit)
            .await?;
        Ok(pending
            .into_iter()
            .map(|(stored, chat)| Outgoing {
                id: stored.id,
                chat,
                text: stored.notification.text,
                link: stored.notification.link,
            })
            .collect())
    }

    /// Marks a notification as delivered (or as undeliverable for good): it is not sent again.
    pub async fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<(), FrontEndError> {
        Ok(self.store().mark_notification_delivered(id, now).await?)
    }

    /// Points everything kept for the chat `from` (queue, accounts, notifications, pending
    /// links) at `to`, as when a Telegram group becomes a supergroup; merges into `to` if it
    /// was seen already. False when there was nothing to move.
    pub async fn move_chat(
        &self,
        platform: ChatPlatform,
        from: &str,
        to: &str,
    ) -> Result<bool, FrontEndError> {
        Ok(self.store().migrate_chat(platform, from, to).await?)
    }
}
