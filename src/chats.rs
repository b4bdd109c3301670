//! The chat-neutral calls every front end makes about people and chats: who is acting (with
//! admin rights asked only when needed), which platform updates are new, which notifications
//! wait for delivery, and where a chat went. The rules live here, not in the front ends.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::crypto::Secret;
use crate::domain::{Actor, ChatKind, ChatPlatform, Consent};
use crate::front_end::{AdminRights, FrontEndError, Outgoing, Person, Place, Privilege};
use crate::store::Inbound;

/// How long the instance that accepted a delivery has to handle it before another instance
/// may take it over although the first is alive (one that dies loses its claims at once).
/// Taking over a delivery being handled is harmless: update ids are recorded once.
pub const INBOX_CLAIM: Duration = Duration::from_secs(120);

fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

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

    /// Records a webhook delivery (a Telegram update, a Discord interaction with its token)
    /// before it is acknowledged, claimed by this instance: if this instance dies before it
    /// handled it, another one does ([`App::stranded_deliveries`]). False when it was
    /// recorded before and waits to be handled.
    pub async fn accept_delivery(
        &self,
        platform: ChatPlatform,
        id: &str,
        payload: &[u8],
        token: Option<&Secret>,
        now: DateTime<Utc>,
    ) -> Result<bool, FrontEndError> {
        Ok(self
            .store()
            .record_inbound(
                platform.as_str(),
                id,
                payload,
                token,
                self.instance().id(),
                now,
                after(now, INBOX_CLAIM),
            )
            .await?)
    }

    /// Claims, for this instance, accepted deliveries whose instance died (or did not handle
    /// them in time), oldest first: the caller handles them as if just received.
    pub async fn stranded_deliveries(
        &self,
        platform: ChatPlatform,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Inbound>, FrontEndError> {
        Ok(self
            .store()
            .claim_stranded_inbound(
                platform.as_str(),
                self.instance().id(),
                now,
                after(now, INBOX_CLAIM),
                limit,
            )
            .await?)
    }

    /// Whether an accepted delivery's handling began somewhere (it was recorded as seen): a
    /// stranded one that did must not be handled again, since what it made may be stored.
    pub async fn delivery_began(
        &self,
        platform: ChatPlatform,
        id: &str,
    ) -> Result<bool, FrontEndError> {
        Ok(self.store().delivery_seen(platform.as_str(), id).await?)
    }

    /// Notes that an accepted delivery's first answer went out (a deferred interaction).
    pub async fn delivery_answered(
        &self,
        platform: ChatPlatform,
        id: &str,
    ) -> Result<(), FrontEndError> {
        Ok(self
            .store()
            .mark_inbound_answered(platform.as_str(), id)
            .await?)
    }

    /// Forgets an accepted delivery: handled, or found handled before.
    pub async fn delivery_done(
        &self,
        platform: ChatPlatform,
        id: &str,
    ) -> Result<(), FrontEndError> {
        Ok(self.store().finish_inbound(platform.as_str(), id).await?)
    }

    /// How many accepted deliveries of `platform` wait to be handled.
    pub async fn deliveries_waiting(&self, platform: ChatPlatform) -> Result<i64, FrontEndError> {
        Ok(self.store().inbound_waiting(platform.as_str()).await?)
    }

    /// Keeps one part of an album (`album` names it within its chat) until the album is
    /// complete; parts may reach different instances.
    pub async fn keep_album_part(
        &self,
        album: &str,
        update_id: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), FrontEndError> {
        Ok(self
            .store()
            .add_album_part(album, update_id, payload, now)
            .await?)
    }

    /// When the newest part of `album` came; `None` once it was taken.
    pub async fn album_last_part(
        &self,
        album: &str,
    ) -> Result<Option<DateTime<Utc>>, FrontEndError> {
        Ok(self.store().album_last_part(album).await?)
    }

    /// Albums that had no new part for `quiet`: complete.
    pub async fn quiet_albums(
        &self,
        quiet: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, FrontEndError> {
        Ok(self.store().quiet_albums(before(now, quiet)).await?)
    }

    /// Takes `album`'s parts if it had no new part for `quiet` (or at once with a zero
    /// `quiet`); the caller handles it, and no other instance can. Empty when it is still
    /// gathering or was taken.
    pub async fn take_album(
        &self,
        album: &str,
        quiet: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Vec<u8>>, FrontEndError> {
        // A part stamped this very millisecond counts as quiet for a zero wait.
        let since = if quiet.is_zero() {
            now + chrono::Duration::milliseconds(1)
        } else {
            before(now, quiet)
        };
        Ok(self.store().take_album(album, since).await?)
    }
}

fn before(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| now.checked_sub_signed(wait))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
