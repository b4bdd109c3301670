//! Things front ends must tell people, kept until a front end confirms delivery so that a
//! restart loses none.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::db::{Conn, Record, query, query_scalar};
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::{ChatId, ChatPlatform, PostId, TargetId, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// An account was linked to a chat.
    AccountLinked,
    /// An account's token stopped working; its owner must `/connect` again.
    AccountNeedsReconnect,
    /// A target was published.
    Published,
    /// A target failed for good.
    Failed,
    /// An attempt's outcome could not be learned.
    Unknown,
    /// An account's owner removed autopost at the platform (Meta's deauthorize callback):
    /// the account can no longer post for the chat.
    AccessRemoved,
    /// An account's owner asked the platform to have their data deleted (Meta's
    /// data-deletion callback): the account was erased from the chat.
    AccountsErased,
    /// A revocation the platform could not be reached for at first went through later.
    AccessRevoked,
    /// A revocation was given up after 30 days of the platform being unreachable.
    RevocationAbandoned,
    /// A post changed (a target finished, or it was edited, cancelled or sent now): the
    /// messages that show it are rendered again from its current view. Several for one post
    /// are delivered as one.
    PostChanged,
}

/// A message for a chat (and, where it concerns one person, for that user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The chat to tell, if any.
    pub chat: Option<ChatId>,
    /// The person it concerns, if any.
    pub user: Option<UserId>,
    /// What happened.
    pub kind: NotificationKind,
    /// One human sentence, ready to show.
    pub text: String,
    /// A link to the live post or the fix, if any.
    pub link: Option<String>,
    /// The target it is about, for a failure that can be tried again.
    #[serde(default)]
    pub target: Option<TargetId>,
    /// The post it is about, for [`NotificationKind::PostChanged`].
    #[serde(default)]
    pub post: Option<PostId>,
}

impl Notification {
    /// `post`, of `chat`, changed: its messages must show its current view.
    pub fn post_changed(chat: ChatId, post: PostId) -> Notification {
        Notification {
            chat: Some(chat),
            user: None,
            kind: NotificationKind::PostChanged,
            text: String::new(),
            link: None,
            target: None,
            post: Some(post),
        }
    }

    /// A message for `chat` alone, about no person and no target.
    pub fn to_chat(chat: ChatId, kind: NotificationKind, text: String) -> Notification {
        Notification {
            chat: Some(chat),
            user: None,
            kind,
            text,
            link: None,
            target: None,
            post: None,
        }
    }
}

/// A notification with its id, for marking it delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    /// Its row.
    pub id: i64,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// What to say.
    pub notification: Notification,
}

/// How long a handled update id is kept: platforms redeliver within minutes, so a day is
/// ample, and an id older than that names nothing anyone needs.
const UPDATE_IDS_KEPT_MS: i64 = 86_400_000;

#[derive(Serialize, Deserialize)]
struct Payload {
    kind: NotificationKind,
    text: String,
    link: Option<String>,
    /// Absent in notifications stored before targets were kept.
    #[serde(default)]
    target: Option<TargetId>,
    /// Absent in notifications about no post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    post: Option<PostId>,
}

impl Store {
    /// Records a notification; returns its id.
    pub async fn enqueue_notification(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let id = insert_notification(&mut conn, notification, now).await?;
        self.notification_stored();
        Ok(id)
    }

    /// Stores a notification of the scheduler's, committed together with the outcomes
    /// written at the same moment (see [`super::grouped`]).
    pub async fn enqueue_notification_grouped(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.grouped()
            .apply(super::grouped::Write::Notify {
                notification: notification.clone(),
                now,
            })
            .await?;
        self.notification_stored();
        Ok(())
    }

    /// Wakes the front ends for a notification just committed.
    pub(super) fn notification_stored(&self) {
        self.shared
            .notifications
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Changes whenever a notification is stored: front ends wait on it to deliver at once.
    /// Several changes between two looks show as one; the store holds the backlog.
    pub fn watch_notifications(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.notifications.subscribe()
    }

    /// The oldest notifications not yet delivered.
    pub async fn undelivered_notifications(
        &self,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let rows = query(
            "SELECT id, chat_id, user_id, payload, created_at FROM notifications
             WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_notification).collect()
    }

    /// The oldest undelivered notifications that one chat platform's front end delivers,
    /// each with the platform's id of the chat (or, without a chat, of the person) to send
    /// it to. Filtering here keeps one front end's backlog from hiding the other's.
    pub async fn undelivered_notifications_on(
        &self,
        platform: ChatPlatform,
        limit: u32,
    ) -> Result<Vec<(StoredNotification, String)>, StoreError> {
        let rows = query(
            "SELECT n.id, n.chat_id, n.user_id, n.payload, n.created_at,
                    COALESCE(c.remote_id, u.remote_id) AS remote_id
             FROM notifications n
             LEFT JOIN chats c ON c.id = n.chat_id
             LEFT JOIN users u ON u.id = n.user_id
             WHERE n.delivered_at IS NULL AND COALESCE(c.platform, u.platform) = ?
             ORDER BY n.id LIMIT ?",
        )
        .bind(platform.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((stored_notification(row)?, row.get("remote_id"))))
            .collect()
    }

    /// Marks a notification as shown to its chat.
    pub async fn mark_notification_delivered(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query("UPDATE notifications SET delivered_at = ? WHERE id = ?")
            .bind(to_millis(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Inserts a notification on `conn` (a pool connection or a transaction's); the caller wakes
/// the front ends with [`Store::notification_stored`] once it is committed.
pub(super) async fn insert_notification(
    conn: &mut Conn,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let payload = serde_json::to_string(&Payload {
        kind: notification.kind,
        text: notification.text.clone(),
        link: notification.link.clone(),
        target: notification.target,
        post: notification.post,
    })
    .map_err(|e| StoreError::Corrupt(format!("notification payload: {e}")))?;
    Ok(query_scalar(
        "INSERT INTO notifications (chat_id, user_id, kind, payload, created_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(notification.chat.map(|c| c.0))
    .bind(notification.user.map(|u| u.0))
    .bind(
        serde_json::to_value(notification.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned)),
    )
    .bind(payload)
    .bind(to_millis(now))
    .fetch_one(&mut *conn)
    .await?)
}

fn stored_notification(row: &Record) -> Result<StoredNotification, StoreError> {
    let payload: Payload = serde_json::from_str(row.get("payload"))
        .map_err(|e| StoreError::Corrupt(format!("notification payload: {e}")))?;
    Ok(StoredNotification {
        id: row.get("id"),
        created_at: from_millis(row.get("created_at"))?,
        notification: Notification {
            chat: row.get::<Option<i64>, _>("chat_id").map(ChatId),
            user: row.get::<Option<i64>, _>("user_id").map(UserId),
            kind: payload.kind,
            text: payload.text,
            link: payload.link,
            target: payload.target,
            post: payload.post,
        },
    })
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::{ChatKind, ChatPlatform};

    #[tokio::test]
    async fn notifications_wait_until_delivered() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "9", ChatKind::Private, None, now)
            .await
            .unwrap();
        let note = Notification {
            chat: Some(chat.id),
            user: None,
            kind: NotificationKind::AccountLinked,
            text: "Linked @alice to this chat".to_owned(),
            link: None,
            target: None,
            post: None,
        };
        let id = store.enqueue_notification(&note, now).await.unwrap();
        let pending = store.undelivered_notifications(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].notification, note);
        store.mark_notification_delivered(id, now).await.unwrap();
        assert!(
            store
                .undelivered_notifications(10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn each_front_end_sees_only_its_own_notifications_with_where_to_send_them() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let discord = store
            .upsert_chat(ChatPlatform::Discord, "81234", ChatKind::Group, None, now)
            .await
            .unwrap();
        let telegram = store
            .upsert_chat(ChatPlatform::Telegram, "-100", ChatKind::Group, None, now)
            .await
            .unwrap();
        let person = store
            .upsert_user(ChatPlatform::Telegram, "42", None, now)
            .await
            .unwrap();
        let note = |chat: Option<ChatId>, user: Option<UserId>, text: &str| Notification {
            chat,
            user,
            kind: NotificationKind::Published,
            text: text.to_owned(),
            link: None,
            target: None,
            post: None,
        };
        // A Discord backlog bigger than the page must not hide Telegram's.
        for _ in 0..3 {
            store
                .enqueue_notification(&note(Some(discord.id), None, "discord"), now)
                .await
                .unwrap();
        }
        store
            .enqueue_notification(&note(Some(telegram.id), Some(person.id), "group"), now)
            .await
            .unwrap();
        store
            .enqueue_notification(&note(None, Some(person.id), "private"), now)
            .await
            .unwrap();
        let telegram_side = store
            .undelivered_notifications_on(ChatPlatform::Telegram, 2)
            .await
            .unwrap();
        let seen: Vec<_> = telegram_side
            .iter()
            .map(|(n, to)| (n.notification.text.as_str(), to.as_str()))
            .collect();
        assert_eq!(seen, [("group", "-100"), ("private", "42")]);
        let discord_side = store
            .undelivered_notifications_on(ChatPlatform::Discord, 10)
            .await
            .unwrap();
        assert_eq!(discord_side.len(), 3);
        assert!(discord_side.iter().all(|(_, to)| to == "81234"));
    }

    #[tokio::test]
    async fn a_redelivered_update_is_recognised() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        assert!(store.first_delivery("telegram", "1001", now).await.unwrap());
        assert!(!store.first_delivery("telegram", "1001", now).await.unwrap());
        let fresh = store
            .first_deliveries("telegram", &["1000", "1001", "1002", "1002"], now)
            .await
            .unwrap();
        assert_eq!(fresh, ["1000", "1002"], "only the unseen, each once");
        assert!(
            store
                .first_deliveries("telegram", &[], now)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.first_delivery("discord", "1001", now).await.unwrap());
    }

    #[tokio::test]
    async fn update_ids_are_forgotten_after_a_day() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let long_ago = now - chrono::Duration::days(2);
        assert!(
            store
                .first_delivery("telegram", "7", long_ago)
                .await
                .unwrap()
        );
        assert!(store.first_delivery("telegram", "8", now).await.unwrap());
        assert!(
            store.first_delivery("telegram", "7", now).await.unwrap(),
            "pruned, so new again"
        );
        assert!(!store.first_delivery("telegram", "8", now).await.unwrap());
    }
}

impl Store {
    /// Records that a chat update was handled; false if it already was (the platform
    /// redelivered it), so the caller acts on each update once.
    pub async fn first_delivery(
        &self,
        source: &str,
        update_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let fresh = self.first_deliveries(source, &[update_id], now).await?;
        Ok(!fresh.is_empty())
    }

    /// [`Store::first_delivery`] for a batch in one write: returns the ids not seen before
    /// (each once, even if listed twice). A poller gets updates in batches, and one commit
    /// per batch instead of per update keeps the disk out of the way.
    pub async fn first_deliveries(
        &self,
        source: &str,
        update_ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut fresh = Vec::with_capacity(update_ids.len());
        // SQLite binds at most 32,766 parameters per statement; three per row.
        for chunk in update_ids.chunks(1_000) {
            if chunk.is_empty() {
                continue;
            }
            let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO processed_updates (source, update_id, processed_at) VALUES {rows}
                 ON CONFLICT DO NOTHING RETURNING update_id"
            );
            let mut query = query_scalar::<String>(sql);
            for id in chunk {
                query = query.bind(source).bind(*id).bind(to_millis(now));
            }
            let _turn = self.write_turn().await;
            fresh.extend(query.fetch_all(&self.pool).await?);
        }
        self.prune_processed_updates(now).await?;
        Ok(fresh)
    }

    /// Whether update `update_id` of `source` was recorded as seen: its handling began.
    pub async fn delivery_seen(&self, source: &str, update_id: &str) -> Result<bool, StoreError> {
        let seen: Option<i64> =
            query_scalar("SELECT 1 FROM processed_updates WHERE source = ? AND update_id = ?")
                .bind(source)
                .bind(update_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(seen.is_some())
    }

    /// Forgets update ids handled more than [`UPDATE_IDS_KEPT_MS`] before `now`; returns how
    /// many. Deliveries prune this way as they go; the purge task does it too, for a front
    /// end that has gone quiet.
    pub async fn forget_old_update_ids(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let _turn = self.write_turn().await;
        let done = query("DELETE FROM processed_updates WHERE processed_at < ?")
            .bind(to_millis(now) - UPDATE_IDS_KEPT_MS)
            .execute(&self.pool)
            .await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    /// Pruning once a minute is plenty, and spares every batch a second write.
    async fn prune_processed_updates(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let last = self.shared.updates_pruned_at.load(Ordering::Relaxed);
        if to_millis(now) - last >= 60_000
            && self
                .shared
                .updates_pruned_at
                .compare_exchange(last, to_millis(now), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.forget_old_update_ids(now).await?;
        }
        Ok(())
    }
}
