//! A post as chat messages show it (its text, images, time and each target's outcome), read
//! by one query, and the chat messages that show it (confirmations, the status message), so
//! that front ends edit them in place as the post changes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::db::query;
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{ChatId, PostId, Provider, TargetId, TargetState};

/// Where a post stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    /// Some target may still go out.
    Scheduled,
    /// Every target finished.
    Done,
    /// Cancelled before every target went out.
    Cancelled,
}

/// One target of a post as a status message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetView {
    /// The target (for a Retry button).
    pub id: TargetId,
    /// What kind of account.
    pub provider: Provider,
    /// The account's name.
    pub account_name: String,
    /// Where it stands.
    pub state: TargetState,
    /// The live post, once published.
    pub url: Option<String>,
    /// Why it failed, or why its last attempt did not go through.
    pub reason: Option<String>,
    /// When a queued target that was tried already is tried again.
    pub retry_at: Option<DateTime<Utc>>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// A post as its confirmation and status message show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostView {
    /// The post.
    pub id: PostId,
    /// The chat whose queue it is in.
    pub chat: ChatId,
    /// Its text.
    pub text: String,
    /// How many images it carries.
    pub images: usize,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// The zone its time was read in.
    pub zone: Tz,
    /// Where it stands as a whole.
    pub state: PostState,
    /// Each target, in the order they were made.
    pub targets: Vec<TargetView>,
}

impl PostView {
    /// Whether any target has finished (published, failed or unknown).
    pub fn has_outcomes(&self) -> bool {
        self.targets.iter().any(|t| {
            matches!(
                t.state,
                TargetState::Published | TargetState::Failed | TargetState::Unknown
            )
        })
    }
}

/// Which message of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRole {
    /// The answer that accepted (or edited) it, with its buttons.
    Confirmation,
    /// The one message that shows each target's outcome.
    Status,
}

impl MessageRole {
    fn as_str(self) -> &'static str {
        match self {
            MessageRole::Confirmation => "confirmation",
            MessageRole::Status => "status",
        }
    }
}

/// A chat message that shows a post, as its platform names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMessage {
    /// Which message it is.
    pub role: MessageRole,
    /// The platform's id of the chat.
    pub chat: String,
    /// The platform's id of the message.
    pub message: String,
}

impl Store {
    /// The post as chat messages show it; `None` if it is gone (erased, purged).
    pub async fn post_view(&self, post: PostId) -> Result<Option<PostView>, StoreError> {
        let rows = query(
            "SELECT p.chat_id, p.body, p.due_at, p.time_zone, p.state AS post_state,
                    (SELECT COUNT(*) FROM media m WHERE m.post_id = p.id) AS images,
                    t.id AS target_id, t.state AS target_state, t.attempts,
                    t.due_at AS target_due, t.remote_url, t.last_error,
                    a.provider, a.display_name
             FROM posts p
             LEFT JOIN targets t ON t.post_id = p.id
             LEFT JOIN accounts a ON a.id = t.account_id
             WHERE p.id = ? ORDER BY t.id",
        )
        .bind(post.0)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let state = match first.get::<&str, _>("post_state") {
            "scheduled" => PostState::Scheduled,
            "done" => PostState::Done,
            "cancelled" => PostState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("post state `{other}`"))),
        };
        let mut targets = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = row.get::<Option<i64>, _>("target_id") else {
                continue;
            };
            let state: TargetState =
                parse_stored(row.get::<&str, _>("target_state"), "target state")?;
            let attempts = u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(u32::MAX);
            let retry_at = (state == TargetState::Queued && attempts > 0)
                .then(|| from_millis(row.get("target_due")))
                .transpose()?;
            targets.push(TargetView {
                id: TargetId(id),
                provider: parse_stored(row.get::<&str, _>("provider"), "provider")?,
                account_name: row.get("display_name"),
                state,
                url: row.get("remote_url"),
                reason: row.get("last_error"),
                retry_at,
                attempts,
            });
        }
        Ok(Some(PostView {
            id: post,
            chat: ChatId(first.get("chat_id")),
            text: first.get("body"),
            images: usize::try_from(first.get::<i64, _>("images")).unwrap_or(0),
            due_at: from_millis(first.get("due_at"))?,
            zone: parse_stored(first.get::<&str, _>("time_zone"), "time zone")?,
            state,
            targets,
        }))
    }

    /// Remembers a chat message that shows `post`. A new status message replaces the old.
    pub async fn remember_post_message(
        &self,
        post: PostId,
        message: &PostMessage,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A status row replaces the post's old one through the one-status-per-post index; a
        // confirmation remembered again only moves its time.
        let conflict = match message.role {
            MessageRole::Status => {
                "ON CONFLICT (post_id) WHERE role = 'status' DO UPDATE SET
                     chat = excluded.chat, message = excluded.message,
                     created_at = excluded.created_at"
            }
            MessageRole::Confirmation => {
                "ON CONFLICT (post_id, role, chat, message) DO UPDATE SET
                     created_at = excluded.created_at"
            }
        };
        query(format!(
            "INSERT INTO post_messages (post_id, role, chat, message, created_at)
             SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM posts WHERE id = ?)
             {conflict}"
        ))
        .bind(post.0)
        .bind(message.role.as_str())
        .bind(&message.chat)
        .bind(&message.message)
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The chat messages that show `post`, oldest first.
    pub async fn post_messages(&self, post: PostId) -> Result<Vec<PostMessage>, StoreError> {
        let rows = query(
            "SELECT role, chat, message FROM post_messages WHERE post_id = ?
             ORDER BY created_at, role, chat, message",
        )
        .bind(post.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role = match r.get::<&str, _>("role") {
                    "status" => MessageRole::Status,
                    _ => MessageRole::Confirmation,
                };
                Ok(PostMessage {
                    role,
                    chat: r.get("chat"),
                    message: r.get("message"),
                })
            })
            .collect()
    }

    /// Forgets a message that can no longer be edited (deleted, or too old to reach).
    pub async fn forget_post_message(
        &self,
        post: PostId,
        message: &PostMessage,
    ) -> Result<(), StoreError> {
        query(
            "DELETE FROM post_messages WHERE post_id = ? AND role = ? AND chat = ? AND message = ?",
        )
        .bind(post.0)
        .bind(message.role.as_str())
        .bind(&message.chat)
        .bind(&message.message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::{ChatKind, ChatPlatform};

    #[tokio::test]
    async fn a_missing_post_has_no_view_and_remembers_no_message() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        assert_eq!(store.post_view(PostId(404)).await.unwrap(), None);
        let message = PostMessage {
            role: MessageRole::Status,
            chat: "9".to_owned(),
            message: "3".to_owned(),
        };
        store
            .remember_post_message(PostId(404), &message, now)
            .await
            .unwrap();
        assert!(store.post_messages(PostId(404)).await.unwrap().is_empty());
        // The chat exists; the post does not: nothing dangles.
        store
            .upsert_chat(ChatPlatform::Telegram, "9", ChatKind::Private, None, now)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_new_status_message_replaces_the_old_and_confirmations_are_kept_once() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, chat, accounts) =
            crate::store::test_support::group_with_two_pages(&store, now).await;
        let post = store
            .insert_post(
                crate::store::NewPost {
                    chat,
                    author,
                    body: "hello".to_owned(),
                    due_at: now + chrono::Duration::hours(1),
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts.clone(),
                    variants: vec![],
                    threads: vec![],
                    media: vec![],
                },
                now,
            )
            .await
            .unwrap();
        let message = |role, id: &str| PostMessage {
            role,
            chat: "-1".to_owned(),
            message: id.to_owned(),
        };
        let later = |ms| now + chrono::Duration::milliseconds(ms);
        for (m, at) in [
            (message(MessageRole::Confirmation, "10"), now),
            (message(MessageRole::Status, "11"), later(1)),
            (message(MessageRole::Confirmation, "12"), later(1)),
            (message(MessageRole::Status, "13"), later(2)),
            (message(MessageRole::Confirmation, "10"), later(3)),
        ] {
            store.remember_post_message(post, &m, at).await.unwrap();
        }
        assert_eq!(
            store.post_messages(post).await.unwrap(),
            [
                message(MessageRole::Confirmation, "12"),
                message(MessageRole::Status, "13"),
                message(MessageRole::Confirmation, "10"),
            ],
            "one status, the newest; a confirmation remembered again moves to its new time"
        );
        store
            .forget_post_message(post, &message(MessageRole::Status, "13"))
            .await
            .unwrap();
        for at in [later(4), later(5)] {
            store
                .remember_post_message(post, &message(MessageRole::Status, "14"), at)
                .await
                .unwrap();
        }
        let view = store.post_view(post).await.unwrap().unwrap();
        assert_eq!(view.state, PostState::Scheduled);
        assert_eq!(view.targets.len(), 2);
        assert_eq!(view.images, 0);
        assert_eq!(store.post_messages(post).await.unwrap().len(), 3);
    }
}
