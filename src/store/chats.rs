//! Users and chats: who talks to autopost, and the queues they share.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::db::{query, query_as, query_scalar};
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{ChatId, ChatKind, ChatPlatform, UserId};

/// A person on a chat platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Our id.
    pub id: UserId,
    /// Where they talk to us.
    pub platform: ChatPlatform,
    /// Their id on that platform.
    pub remote_id: String,
    /// Their name as last seen.
    pub display_name: Option<String>,
    /// Their chosen zone; `None` falls back to the chat's, then the configured default.
    pub time_zone: Option<Tz>,
    /// The newest privacy policy version they agreed to or were told about, if any.
    pub accepted_policy_version: Option<u32>,
    /// When they confirmed they are 18 or older and agreed to the policy.
    pub adult_confirmed_at: Option<DateTime<Utc>>,
    /// When we first saw them.
    pub created_at: DateTime<Utc>,
}

/// A chat, group or channel: one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Our id.
    pub id: ChatId,
    /// Where it lives.
    pub platform: ChatPlatform,
    /// Its id on that platform.
    pub remote_id: String,
    /// Private, group or channel.
    pub kind: ChatKind,
    /// Its title as last seen.
    pub title: Option<String>,
    /// The chat's default zone, if set.
    pub time_zone: Option<Tz>,
}

struct UserRow {
    id: i64,
    platform: String,
    remote_id: String,
    display_name: Option<String>,
    time_zone: Option<String>,
    accepted_policy_version: Option<i64>,
    adult_confirmed_at: Option<i64>,
    created_at: i64,
}

super::db::named_record!(UserRow {
    id,
    platform,
    remote_id,
    display_name,
    time_zone,
    accepted_policy_version,
    adult_confirmed_at,
    created_at
});

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId(row.id),
            platform: parse_stored(&row.platform, "chat platform")?,
            remote_id: row.remote_id,
            display_name: row.display_name,
            time_zone: row
                .time_zone
                .map(|tz| parse_stored(&tz, "time zone"))
                .transpose()?,
            accepted_policy_version: row
                .accepted_policy_version
                .map(|v| {
                    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("policy version {v}")))
                })
                .transpose()?,
            adult_confirmed_at: row.adult_confirmed_at.map(from_millis).transpose()?,
            created_at: from_millis(row.created_at)?,
        })
    }
}

struct ChatRow {
    id: i64,
    platform: String,
    remote_id: String,
    kind: String,
    title: Option<String>,
    time_zone: Option<String>,
}

super::db::named_record!(ChatRow {
    id,
    platform,
    remote_id,
    kind,
    title,
    time_zone
});

impl TryFrom<ChatRow> for Chat {
    type Error = StoreError;
    fn try_from(row: ChatRow) -> Result<Self, StoreError> {
        Ok(Chat {
            id: ChatId(row.id),
            platform: parse_stored(&row.platform, "chat platform")?,
            remote_id: row.remote_id,
            kind: parse_stored(&row.kind, "chat kind")?,
            title: row.title,
            time_zone: row
                .time_zone
                .map(|tz| parse_stored(&tz, "time zone"))
                .transpose()?,
        })
    }
}

const USER_COLUMNS: &str = "id, platform, remote_id, display_name, time_zone, \
     accepted_policy_version, adult_confirmed_at, created_at";

/// How stale `last_seen_at` may get before a returning person's message writes it again:
/// kept at this grain, most messages cost a read and no write (writes queue for SQLite's one
/// write lock).
const LAST_SEEN_GRAIN_MS: i64 = 10 * 60 * 1000;

struct SeenUserRow {
    user: UserRow,
    last_seen_at: i64,
}

impl super::db::FromRecord for SeenUserRow {
    fn from_record(r: &super::db::Record) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user: UserRow::from_record(r)?,
            last_seen_at: r.try_get("last_seen_at")?,
        })
    }
}

impl Store {
    /// Records that a person was seen, creating them on first contact; returns them.
    pub async fn upsert_user(
        &self,
        platform: ChatPlatform,
        remote_id: &str,
        display_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let seen: Option<SeenUserRow> = query_as(format!(
            "SELECT {USER_COLUMNS}, last_seen_at FROM users WHERE platform = ? AND remote_id = ?"
        ))
        .bind(platform.as_str())
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(seen) = seen
            && display_name.is_none_or(|name| seen.user.display_name.as_deref() == Some(name))
            && to_millis(now) - seen.last_seen_at < LAST_SEEN_GRAIN_MS
        {
            return seen.user.try_into();
        }
        let _turn = self.write_turn().await;
        let row: UserRow = query_as(
            "INSERT INTO users (platform, remote_id, display_name, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (platform, remote_id) DO UPDATE SET
                 display_name = COALESCE(excluded.display_name, users.display_name),
                 last_seen_at = excluded.last_seen_at
             RETURNING id, platform, remote_id, display_name, time_zone,
                       accepted_policy_version, adult_confirmed_at, created_at",
        )
        .bind(platform.as_str())
        .bind(remote_id)
        .bind(display_name)
        .bind(to_millis(now))
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let row: Option<UserRow> =
            query_as(format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or(StoreError::NotFound { what: "user" })?.try_into()
    }

    /// The person known by this id on this platform, without recording anyone: the
    /// operator's tools must not create the person they were asked about.
    pub async fn find_user(
        &self,
        platform: ChatPlatform,
        remote_id: &str,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = query_as(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE platform = ? AND remote_id = ?"
        ))
        .bind(platform.as_str())
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// Sets the zone the user's times are read and shown in.
    pub async fn set_user_time_zone(&self, id: UserId, zone: Tz) -> Result<(), StoreError> {
        let done = query("UPDATE users SET time_zone = ? WHERE id = ?")
            .bind(zone.name())
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected(), "user")
    }

    /// Records that the person is being asked for their time zone now, if they have none of
    /// their own and were never asked; true when the question is theirs to see. One statement,
    /// so two answers at once cannot both ask.
    pub async fn claim_time_zone_question(
        &self,
        id: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE users SET time_zone_asked_at = ?
             WHERE id = ? AND time_zone IS NULL AND time_zone_asked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the zone of a chat, used for its people who set none.
    pub async fn set_chat_time_zone(&self, id: ChatId, zone: Tz) -> Result<(), StoreError> {
        let done = query("UPDATE chats SET time_zone = ? WHERE id = ?")
            .bind(zone.name())
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected(), "chat")
    }

    /// Records that a chat was seen, creating it on first contact; returns it.
    pub async fn upsert_chat(
        &self,
        platform: ChatPlatform,
        remote_id: &str,
        kind: ChatKind,
        title: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Chat, StoreError> {
        // Nearly every call is a chat already known as it is: a read, no write.
        let seen: Option<ChatRow> = query_as(
            "SELECT id, platform, remote_id, kind, title, time_zone FROM chats
             WHERE platform = ? AND remote_id = ?",
        )
        .bind(platform.as_str())
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(seen) = seen
            && seen.kind == kind.as_str()
            && title.is_none_or(|title| seen.title.as_deref() == Some(title))
        {
            return seen.try_into();
        }
        let _turn = self.write_turn().await;
        let row: ChatRow = query_as(
            "INSERT INTO chats (platform, remote_id, kind, title, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (platform, remote_id) DO UPDATE SET
                 kind = excluded.kind,
                 title = COALESCE(excluded.title, chats.title)
             RETURNING id, platform, remote_id, kind, title, time_zone",
        )
        .bind(platform.as_str())
        .bind(remote_id)
        .bind(kind.as_str())
        .bind(title)
        .bind(to_millis(now))
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    /// Follows a chat that the platform gave a new id (a Telegram group upgraded to a
    /// supergroup): everything kept for the old id belongs to the new one afterwards. If the
    /// new id was already seen, the old chat's queue, accounts and pending notifications move
    /// into it and the old row goes. Returns false when the old id is unknown (nothing to do,
    /// such as the second of the two service messages Telegram sends).
    pub async fn migrate_chat(
        &self,
        platform: ChatPlatform,
        old_remote_id: &str,
        new_remote_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let find = "SELECT id FROM chats WHERE platform = ? AND remote_id = ?";
        let old: Option<i64> = query_scalar(find)
            .bind(platform.as_str())
            .bind(old_remote_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old) = old else {
            return Ok(false);
        };
        let new: Option<i64> = query_scalar(find)
            .bind(platform.as_str())
            .bind(new_remote_id)
            .fetch_optional(&mut *tx)
            .await?;
        match new {
            None => {
                query("UPDATE chats SET remote_id = ?, kind = 'group' WHERE id = ?")
                    .bind(new_remote_id)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(new) => {
                query(
                    "INSERT INTO chat_accounts (chat_id, account_id, linked_by, linked_at)
                     SELECT ?1, account_id, linked_by, linked_at FROM chat_accounts WHERE chat_id = ?2
                     ON CONFLICT DO NOTHING",
                )
                .bind(new)
                .bind(old)
                .execute(&mut *tx)
                .await?;
                for table in ["posts", "notifications", "oauth_states"] {
                    query(format!(
                        "UPDATE {table} SET chat_id = ?1 WHERE chat_id = ?2"
                    ))
                    .bind(new)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                }
                query(
                    "UPDATE chats SET time_zone = COALESCE(time_zone,
                         (SELECT time_zone FROM chats WHERE id = ?2)) WHERE id = ?1",
                )
                .bind(new)
                .bind(old)
                .execute(&mut *tx)
                .await?;
                query("DELETE FROM chats WHERE id = ?")
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The chat with this id.
    pub async fn chat(&self, id: ChatId) -> Result<Chat, StoreError> {
        let row: Option<ChatRow> = query_as(
            "SELECT id, platform, remote_id, kind, title, time_zone FROM chats WHERE id = ?",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(StoreError::NotFound { what: "chat" })?.try_into()
    }
}

pub(super) fn found(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound { what })
    } else {
        Ok(())
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;

    #[tokio::test]
    async fn a_user_is_created_once_and_keeps_their_zone_and_consent() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let alice = store
            .upsert_user(ChatPlatform::Telegram, "42", Some("alice"), now)
            .await
            .unwrap();
        store
            .set_user_time_zone(alice.id, chrono_tz::Europe::Berlin)
            .await
            .unwrap();
        store
            .record_consent(alice.id, 2, crate::store::ConsentAction::Agreed, now)
            .await
            .unwrap();
        let again = store
            .upsert_user(ChatPlatform::Telegram, "42", None, now)
            .await
            .unwrap();
        assert_eq!(again.id, alice.id);
        assert_eq!(again.display_name.as_deref(), Some("alice"));
        assert_eq!(again.time_zone, Some(chrono_tz::Europe::Berlin));
        assert_eq!(again.accepted_policy_version, Some(2));
        assert!(again.adult_confirmed_at.is_some());
        let other = store
            .upsert_user(ChatPlatform::Discord, "42", None, now)
            .await
            .unwrap();
        assert_ne!(
            other.id, alice.id,
            "the same remote id on another platform is someone else"
        );
        assert!(matches!(
            store.set_user_time_zone(UserId(999), chrono_tz::UTC).await,
            Err(StoreError::NotFound { what: "user" })
        ));
    }

    #[tokio::test]
    async fn the_time_zone_question_is_claimed_once_and_never_by_someone_with_a_zone() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let new = store
            .upsert_user(ChatPlatform::Telegram, "1", None, now)
            .await
            .unwrap();
        assert!(store.claim_time_zone_question(new.id, now).await.unwrap());
        assert!(!store.claim_time_zone_question(new.id, now).await.unwrap());
        let zoned = store
            .upsert_user(ChatPlatform::Telegram, "2", None, now)
            .await
            .unwrap();
        store
            .set_user_time_zone(zoned.id, chrono_tz::Europe::Lisbon)
            .await
            .unwrap();
        assert!(!store.claim_time_zone_question(zoned.id, now).await.unwrap());
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "-5", ChatKind::Group, None, now)
            .await
            .unwrap();
        store
            .set_chat_time_zone(chat.id, chrono_tz::Asia::Tokyo)
            .await
            .unwrap();
        assert_eq!(
            store.chat(chat.id).await.unwrap().time_zone,
            Some(chrono_tz::Asia::Tokyo)
        );
        assert!(matches!(
            store.set_chat_time_zone(ChatId(999), chrono_tz::UTC).await,
            Err(StoreError::NotFound { what: "chat" })
        ));
    }

    /// A group with one linked X account and one pending notification.
    async fn group_with_an_account(store: &crate::store::Store, remote: &str) -> Chat {
        use crate::crypto::Secret;
        use crate::domain::{OAuthProvider, Provider};
        use crate::store::notifications::{Notification, NotificationKind};
        use crate::store::{NewGrant, NewLinkedAccount};
        let now = Utc::now();
        let owner = store
            .upsert_user(ChatPlatform::Telegram, "7", None, now)
            .await
            .unwrap();
        let chat = store
            .upsert_chat(
                ChatPlatform::Telegram,
                remote,
                ChatKind::Group,
                Some("team"),
                now,
            )
            .await
            .unwrap();
        store
            .save_linked_grant(
                NewGrant {
                    owner: owner.id,
                    provider: OAuthProvider::X,
                    remote_user_id: "2244994945",
                    scopes: "",
                    access_token: Secret::new("tok"),
                    refresh_token: None,
                    expires_at: None,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: "2244994945".to_owned(),
                    display_name: "@team".to_owned(),
                    access_token: None,
                }],
                chat.id,
                now,
            )
            .await
            .unwrap();
        let note = Notification {
            chat: Some(chat.id),
            user: None,
            kind: NotificationKind::Published,
            text: "published".to_owned(),
            link: None,
            target: None,
            post: None,
        };
        store.enqueue_notification(&note, now).await.unwrap();
        chat
    }

    #[tokio::test]
    async fn a_migrated_group_keeps_everything_under_its_new_id() {
        let (store, _dir) = temp_store().await;
        let old = group_with_an_account(&store, "-500").await;
        assert!(
            store
                .migrate_chat(ChatPlatform::Telegram, "-500", "-100500")
                .await
                .unwrap()
        );
        let moved = store.chat(old.id).await.unwrap();
        assert_eq!(moved.remote_id, "-100500");
        assert_eq!(store.accounts_of_chat(old.id).await.unwrap().len(), 1);
        // The second service message finds nothing left to move.
        assert!(
            !store
                .migrate_chat(ChatPlatform::Telegram, "-500", "-100500")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_migration_into_an_already_seen_supergroup_merges_into_it() {
        let (store, _dir) = temp_store().await;
        let old = group_with_an_account(&store, "-500").await;
        let now = Utc::now();
        let new = store
            .upsert_chat(
                ChatPlatform::Telegram,
                "-100500",
                ChatKind::Group,
                None,
                now,
            )
            .await
            .unwrap();
        assert!(
            store
                .migrate_chat(ChatPlatform::Telegram, "-500", "-100500")
                .await
                .unwrap()
        );
        assert!(matches!(
            store.chat(old.id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.accounts_of_chat(new.id).await.unwrap().len(), 1);
        let pending = store
            .undelivered_notifications_on(ChatPlatform::Telegram, 10)
            .await
            .unwrap();
        assert_eq!(pending.len(), 1, "the notification moved, not deleted");
        assert_eq!(pending[0].1, "-100500");
    }

    #[tokio::test]
    async fn seeing_someone_again_under_a_new_name_or_a_chat_under_a_new_title_updates_it() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let first = store
            .upsert_user(ChatPlatform::Telegram, "9", Some("Al"), now)
            .await
            .unwrap();
        let renamed = store
            .upsert_user(ChatPlatform::Telegram, "9", Some("Alice"), now)
            .await
            .unwrap();
        assert_eq!(renamed.id, first.id);
        assert_eq!(renamed.display_name.as_deref(), Some("Alice"));
        assert_eq!(store.user(first.id).await.unwrap(), renamed);
        let chat = store
            .upsert_chat(
                ChatPlatform::Telegram,
                "-9",
                ChatKind::Group,
                Some("a"),
                now,
            )
            .await
            .unwrap();
        let retitled = store
            .upsert_chat(
                ChatPlatform::Telegram,
                "-9",
                ChatKind::Group,
                Some("b"),
                now,
            )
            .await
            .unwrap();
        assert_eq!(retitled.id, chat.id);
        assert_eq!(retitled.title.as_deref(), Some("b"));
        assert_eq!(store.chat(chat.id).await.unwrap(), retitled);
    }

    #[tokio::test]
    async fn a_chat_is_one_row_per_platform_id() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let a = store
            .upsert_chat(
                ChatPlatform::Telegram,
                "-100",
                ChatKind::Group,
                Some("team"),
                now,
            )
            .await
            .unwrap();
        let b = store
            .upsert_chat(ChatPlatform::Telegram, "-100", ChatKind::Group, None, now)
            .await
            .unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(b.title.as_deref(), Some("team"));
        assert_eq!(store.chat(a.id).await.unwrap(), b);
    }
}
