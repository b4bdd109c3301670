//! The chat-neutral calls every front end makes about people and chats: who is acting (with
//! admin rights asked only when needed), which platform updates are new, which notifications
//! wait for delivery, and where a chat went. The rules live here, not in the front ends.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{Actor, ChatKind, ChatPlatform, Consent};
use crate::front_end::{AdminRights, FrontEndError, Outgoing, Person, Place, Privilege};

impl App {
    /// The person and chat as the core knows them, recorded on first contact. `needed` names
    /// the privilege the verb needs and whom to ask; without it nobody is asked. In a private
    /// chat the person is the whole team and holds every privilege.
    pub async fn actor(
        &self,
        person: Person<'_>,
        place: Place<'_>,
        needed: Option<(Privilege, &dyn AdminRights)>,
        now: DateTime<Utc>,
    ) -> Result<Actor, FrontEndError> {
        let store = self.store();
        let user = store
            .upsert_user(person.platform, person.id, person.name, now)
            .await?;
        let chat = store
            .upsert_chat(place.platform, place.id, place.kind, place.title, now)
            .await?;
        let is_admin = match (place.kind, needed) {
            (ChatKind::Private, _) => true,
            (_, Some((privilege, rights))) => rights.holds(privilege).await,
            (_, None) => false,
        };
        Ok(Actor {
            user: user.id,
            chat: chat.id,
            is_admin,
            consent: Consent {
                agreed: user.adult_confirmed_at.is_some(),
                policy_version: user.accepted_policy_version,
            },
        })
    }

    /// Records a batch of platform update (or interaction) ids as seen, durably, and returns
    /// those never seen before, each once. Platforms redeliver when unsure; acting only on
    /// these makes every update count once. Concurrent callers share commits.
    pub async fn first_deliveries(
        &self,
        platform: ChatPlatform,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, FrontEndError> {
        Ok(self.deliveries().first(platform.as_str(), ids, now).await?)
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
                retry: stored.notification.target,
                post: stored.notification.post,
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
