//! Retention at the storage level: what the purge removes by age. Finished posts' images
//! (the posts stay), finished posts themselves after the history period, spent OAuth states,
//! delivered notifications and old update ids. Each removal is one transaction; files are the
//! caller's to remove, and only those no remaining row names.

use chrono::{DateTime, Utc};

use super::db::{FromDatum, Mapped, Tx, query, query_scalar};
use super::{Store, StoreError, to_millis};
use crate::domain::PostId;

/// What [`Store::remove_finished_media`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedMedia {
    /// Posts that lost their images.
    pub posts: usize,
    /// Image rows removed.
    pub rows: usize,
    /// Files that no image row names any more: the caller removes them from disk.
    pub unused_files: Vec<String>,
}

/// What [`Store::remove_finished_posts`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedPosts {
    /// Posts removed, with their targets and images.
    pub posts: usize,
    /// Files that no image row names any more: the caller removes them from disk.
    pub unused_files: Vec<String>,
}

// A post is finished when it is `done` or `cancelled` and none of its targets is still
// queued or on its way: a cancelled post's in-flight target still needs its images, and a
// target left `publishing` by a crash needs them to be reconciled and maybe sent once more.
// `updated_at` of a finished post is when it finished; `posts_finished` indexes it.
const FINISHED_BY: &str = "p.state IN ('done', 'cancelled') AND p.updated_at <= ?
     AND NOT EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.id
                     AND t.state IN ('queued', 'publishing'))";

impl Store {
    /// Removes the image rows of posts finished at or before `finished_by` and marks those
    /// posts as having lost their images (they stay in `/history`). Only posts that still
    /// have images are looked at, so the work follows the images kept, not the history.
    pub async fn remove_finished_media(
        &self,
        finished_by: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RemovedMedia, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let posts: Vec<i64> = query_scalar(format!(
            "UPDATE posts SET media_removed_at = ? WHERE id IN (
                 SELECT DISTINCT p.id FROM media m JOIN posts p ON p.id = m.post_id
                 WHERE {FINISHED_BY})
             RETURNING id"
        ))
        .bind(to_millis(now))
        .bind(to_millis(finished_by))
        .fetch_all(&mut *tx)
        .await?;
        let mut files = Vec::new();
        for chunk in posts.chunks(IDS_PER_STATEMENT) {
            files.extend(
                bind_ids(
                    query_scalar::<String>(format!(
                        "DELETE FROM media WHERE post_id IN ({}) RETURNING file_name",
                        placeholders(chunk.len())
                    )),
                    chunk,
                )
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        let rows = files.len();
        let unused_files = unused(&mut tx, files).await?;
        tx.commit().await?;
        Ok(RemovedMedia {
            posts: posts.len(),
            rows,
            unused_files,
        })
    }

    /// Removes posts finished at or before `finished_by`, with their targets and images
    /// (`AUTOPOST_HISTORY_RETENTION_DAYS`).
    pub async fn remove_finished_posts(
        &self,
        finished_by: DateTime<Utc>,
    ) -> Result<RemovedPosts, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let posts: Vec<i64> = query_scalar(format!("SELECT p.id FROM posts p WHERE {FINISHED_BY}"))
            .bind(to_millis(finished_by))
            .fetch_all(&mut *tx)
            .await?;
        let mut files = Vec::new();
        for chunk in posts.chunks(IDS_PER_STATEMENT) {
            let list = placeholders(chunk.len());
            files.extend(
                bind_ids(
                    query_scalar::<String>(format!(
                        "SELECT file_name FROM media WHERE post_id IN ({list})"
                    )),
                    chunk,
                )
                .fetch_all(&mut *tx)
                .await?,
            );
            // Targets and images go with their post (ON DELETE CASCADE).
            let mut delete = query(format!("DELETE FROM posts WHERE id IN ({list})"));
            for id in chunk {
                delete = delete.bind(*id);
            }
            delete.execute(&mut *tx).await?;
        }
        let unused_files = unused(&mut tx, files).await?;
        tx.commit().await?;
        Ok(RemovedPosts {
            posts: posts.len(),
            unused_files,
        })
    }

    /// Removes OAuth states that have expired (ten minutes after the link was made, used or
    /// not): nothing can be done with them, and each names a person and a chat. A used one
    /// stays until then, so that opening its link again reads "already used", not "not valid".
    pub async fn remove_spent_oauth_states(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let done = query("DELETE FROM oauth_states WHERE expires_at <= ?")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(count(done.rows_affected()))
    }

    /// Removes notifications delivered at or before `delivered_by`.
    pub async fn remove_delivered_notifications(
        &self,
        delivered_by: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let done =
            query("DELETE FROM notifications WHERE delivered_at IS NOT NULL AND delivered_at <= ?")
                .bind(to_millis(delivered_by))
                .execute(&self.pool)
                .await?;
        Ok(count(done.rows_affected()))
    }

    /// Whether the purge removed the post's images.
    pub async fn media_removed(&self, post: PostId) -> Result<bool, StoreError> {
        let removed: Option<Option<i64>> =
            query_scalar("SELECT media_removed_at FROM posts WHERE id = ?")
                .bind(post.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(removed.flatten().is_some())
    }

    /// Whether a stored image file is still named by some image row.
    pub async fn media_file_in_use(&self, file_name: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = query_scalar("SELECT 1 FROM media WHERE file_name = ? LIMIT 1")
            .bind(file_name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// How many ids one statement names: a list of placeholders, as both engines read it alike,
/// kept far below SQLite's 32766 bound variables (and PostgreSQL's 65535).
const IDS_PER_STATEMENT: usize = 500;

/// `?, ?, …`, `n` times.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn bind_ids<T>(mut statement: Mapped<T>, ids: &[i64]) -> Mapped<T>
where
    T: for<'r> FromDatum<'r>,
{
    for id in ids {
        statement = statement.bind(*id);
    }
    statement
}

/// The distinct `files` no image row names any more.
async fn unused(tx: &mut Tx, mut files: Vec<String>) -> Result<Vec<String>, StoreError> {
    files.sort();
    files.dedup();
    let mut unused = Vec::new();
    for file in files {
        let still: Option<i64> = query_scalar("SELECT 1 FROM media WHERE file_name = ? LIMIT 1")
            .bind(&file)
            .fetch_optional(&mut **tx)
            .await?;
        if still.is_none() {
            unused.push(file);
        }
    }
    Ok(unused)
}

fn count(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use chrono::Duration;

    use super::*;
    use crate::crypto::Secret;
    use crate::domain::{AccountId, Provider};
    use crate::store::test_support::telegram_user_and_chat;
    use crate::store::{NewAccount, NewGrant, NewMedia, NewPost, StateUse};

    /// A user, their chat and one X account linked to it.
    async fn chat_with_account(store: &Store, now: DateTime<Utc>) -> (NewPostFor, AccountId) {
        let (user, chat) = telegram_user_and_chat(store, now).await;
        let grant = store
            .save_grant(
                NewGrant {
                    owner: user.id,
                    provider: crate::domain::OAuthProvider::X,
                    remote_user_id: "7",
                    scopes: "",
                    access_token: Secret::new("t"),
                    refresh_token: None,
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
        let account = store
            .save_account(
                NewAccount {
                    grant,
                    provider: Provider::X,
                    remote_id: "7",
                    display_name: "@seven",
                    access_token: None,
                },
                now,
            )
            .await
            .unwrap();
        (NewPostFor { user, chat }, account)
    }

    struct NewPostFor {
        user: crate::store::User,
        chat: crate::store::Chat,
    }

    impl NewPostFor {
        fn post(&self, account: AccountId, files: &[&str], now: DateTime<Utc>) -> NewPost {
            NewPost {
                chat: self.chat.id,
                author: self.user.id,
                body: "words".to_owned(),
                due_at: now,
                recurrence: None,
                time_zone: chrono_tz::UTC,
                targets: vec![account],
                variants: Vec::new(),
                media: files
                    .iter()
                    .map(|f| NewMedia {
                        content_type: "image/png".to_owned(),
                        byte_len: 1,
                        width: Some(1),
                        height: Some(1),
                        sha256: (*f).to_owned(),
                        file_name: (*f).to_owned(),
                        blob: None,
                    })
                    .collect(),
                threads: vec![],
            }
        }
    }

    #[tokio::test]
    async fn images_go_only_with_finished_posts_and_a_shared_file_only_with_its_last_row() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (to, account) = chat_with_account(&store, now).await;
        let cancelled = store
            .insert_post(to.post(account, &["a.png", "shared.png"], now), now)
            .await
            .unwrap();
        let pending = store
            .insert_post(to.post(account, &["shared.png"], now), now)
            .await
            .unwrap();
        store.cancel_post(cancelled, now).await.unwrap();

        // Finished just now: kept while the cutoff lies before that.
        let early = store
            .remove_finished_media(now - Duration::seconds(1), now)
            .await
            .unwrap();
        assert_eq!(early, RemovedMedia::default());

        let removed = store.remove_finished_media(now, now).await.unwrap();
        assert_eq!(removed.posts, 1);
        assert_eq!(removed.rows, 2);
        assert_eq!(
            removed.unused_files,
            ["a.png"],
            "the pending post keeps shared.png"
        );
        assert!(store.media_of_post(cancelled).await.unwrap().is_empty());
        assert!(store.media_removed(cancelled).await.unwrap());
        assert_eq!(store.media_of_post(pending).await.unwrap().len(), 1);
        assert!(!store.media_removed(pending).await.unwrap());
        assert!(store.media_file_in_use("shared.png").await.unwrap());

        // Once the other post is finished too, the shared file goes with it.
        store.cancel_post(pending, now).await.unwrap();
        let rest = store.remove_finished_media(now, now).await.unwrap();
        assert_eq!((rest.posts, rest.rows), (1, 1));
        assert_eq!(rest.unused_files, ["shared.png"]);
        assert!(!store.media_file_in_use("shared.png").await.unwrap());
    }

    #[tokio::test]
    async fn a_cancelled_post_with_a_target_still_on_its_way_keeps_its_images() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (to, account) = chat_with_account(&store, now).await;
        let post = store
            .insert_post(to.post(account, &["b.png"], now), now)
            .await
            .unwrap();
        let claimed = store.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "publishing");
        store.cancel_post(post, now).await.unwrap();
        let later = now + Duration::days(400);
        assert_eq!(
            store.remove_finished_media(later, later).await.unwrap(),
            RemovedMedia::default()
        );
        assert_eq!(
            store.remove_finished_posts(later).await.unwrap(),
            RemovedPosts::default()
        );
        store
            .mark_published(claimed[0].id, "99", None, now)
            .await
            .unwrap();
        let removed = store.remove_finished_posts(later).await.unwrap();
        assert_eq!(removed.posts, 1);
        assert_eq!(removed.unused_files, ["b.png"]);
        assert!(store.media_of_post(post).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn spent_states_and_old_delivered_notifications_go() {
        use crate::store::{NewOAuthState, Notification, NotificationKind};
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        for (hash, expires_at) in [([1u8; 32], now), ([2u8; 32], now + Duration::minutes(10))] {
            store
                .create_oauth_state(
                    NewOAuthState {
                        state_hash: hash,
                        provider: crate::domain::OAuthProvider::X,
                        user: user.id,
                        chat: chat.id,
                        pkce_verifier: None,
                        expires_at,
                    },
                    now,
                )
                .await
                .unwrap();
        }
        assert_eq!(store.remove_spent_oauth_states(now).await.unwrap(), 1);
        let browser = [9u8; 32];
        store
            .check_oauth_state(&[2u8; 32], StateUse::Open { browser: &browser }, now)
            .await
            .unwrap()
            .unwrap();
        store
            .check_oauth_state(
                &[2u8; 32],
                StateUse::Consume {
                    browser: Some(&browser),
                },
                now,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.remove_spent_oauth_states(now).await.unwrap(),
            0,
            "a used state stays until it expires, so a replayed link says it was used"
        );
        assert_eq!(
            store
                .remove_spent_oauth_states(now + Duration::minutes(10))
                .await
                .unwrap(),
            1,
            "used, then expired"
        );

        let note = Notification {
            chat: Some(chat.id),
            user: None,
            kind: NotificationKind::Published,
            text: "Post 1 is live".to_owned(),
            link: None,
            target: None,
            post: None,
        };
        let delivered = store.enqueue_notification(&note, now).await.unwrap();
        store.enqueue_notification(&note, now).await.unwrap();
        store
            .mark_notification_delivered(delivered, now)
            .await
            .unwrap();
        let before = now - Duration::seconds(1);
        assert_eq!(
            store.remove_delivered_notifications(before).await.unwrap(),
            0
        );
        assert_eq!(store.remove_delivered_notifications(now).await.unwrap(), 1);
        assert_eq!(
            store.undelivered_notifications(10).await.unwrap().len(),
            1,
            "an undelivered one stays whatever its age"
        );
    }

    #[tokio::test]
    async fn more_finished_posts_than_one_statement_names_all_go() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (to, account) = chat_with_account(&store, now).await;
        let many = 2 * IDS_PER_STATEMENT + 7;
        let names: Vec<String> = (0..many).map(|i| format!("{i}.png")).collect();
        let posts = names
            .iter()
            .map(|name| to.post(account, &[name.as_str()], now))
            .collect();
        store.insert_posts(posts, now).await.unwrap();
        for table in ["targets", "posts"] {
            query(format!("UPDATE {table} SET state = 'cancelled', updated_at = ?"))
                .bind(to_millis(now))
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let removed = store.remove_finished_media(now, now).await.unwrap();
        assert_eq!((removed.posts, removed.rows), (many, many));
        let mut unused = removed.unused_files;
        unused.sort();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(unused, expected);
        let removed = store.remove_finished_posts(now).await.unwrap();
        assert_eq!(removed.posts, many);
        assert!(removed.unused_files.is_empty(), "their images went before");
        let left: i64 = query_scalar("SELECT COUNT(*) FROM posts")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
