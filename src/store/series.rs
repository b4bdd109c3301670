//! Posts as people name them: a recurring post is a series whose later occurrences carry
//! `series_id` (the first post's id), and the verbs that change a post act on the series'
//! pending occurrence. Also the edit of a post's parts (time, text, images), which puts the
//! targets that failed back in the queue and leaves the published ones alone.

use chrono::{DateTime, Utc};

use super::db::{query, query_scalar};
use super::posts::{NewMedia, insert_media};
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::{AccountId, ChatId, PostId, UserId};

/// A post as an edit starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditablePost {
    /// The chat whose queue it is in.
    pub chat: ChatId,
    /// Who wrote it.
    pub author: UserId,
    /// Its text.
    pub body: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The repeat rule's storage form, for a series' pending occurrence.
    pub recurrence: Option<String>,
    /// Whether the retention purge removed its images.
    pub media_removed: bool,
}

/// What an edit changes; `None` keeps that part.
#[derive(Debug, Clone, Default)]
pub struct PostUpdate {
    /// The new text.
    pub body: Option<String>,
    /// The new time and repeat rule (storage form; `None` for a single post).
    pub due: Option<(DateTime<Utc>, Option<String>)>,
    /// The new images, already saved as files.
    pub media: Option<Vec<NewMedia>>,
    /// With a new text: the thread parts of each account it sends that needs a thread
    /// (replacing the parts of every target the edit sends).
    pub threads: Option<Vec<(AccountId, Vec<String>)>>,
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// Changed; the image files the post no longer names (to remove when unused).
    Changed {
        /// Targets that will go out with the change.
        targets: usize,
        /// Files of the replaced images.
        old_files: Vec<String>,
    },
    /// A target is being sent right now, or nothing is left to send: nothing changed.
    Started,
}

impl Store {
    /// The occurrence of `post`'s series that changes act on, and the series' id. For a
    /// series that is the pending occurrence (the one holding the rule); for any other post,
    /// the post itself. `post` may be the series' id or any of its occurrences'.
    pub async fn series_occurrence(&self, post: PostId) -> Result<(PostId, PostId), StoreError> {
        let series: Option<i64> =
            query_scalar("SELECT COALESCE(series_id, id) FROM posts WHERE id = ?")
                .bind(post.0)
                .fetch_optional(&self.pool)
                .await?;
        // The first occurrence may be gone (the retention purge) while its series runs on.
        let series = series.unwrap_or(post.0);
        let pending: Option<i64> = query_scalar(
            "SELECT id FROM posts WHERE (id = ?1 OR series_id = ?1) AND state = 'scheduled'
             AND recurrence IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(series)
        .fetch_optional(&self.pool)
        .await?;
        Ok((PostId(pending.unwrap_or(post.0)), PostId(series)))
    }

    /// The occurrences of `series` still in its queue other than `except`: the extra ones
    /// Post now added that have not gone out yet.
    pub async fn other_scheduled_occurrences(
        &self,
        series: PostId,
        except: PostId,
    ) -> Result<Vec<PostId>, StoreError> {
        let ids: Vec<i64> = query_scalar(
            "SELECT id FROM posts WHERE series_id = ?1 AND id != ?2 AND state = 'scheduled'
             ORDER BY id",
        )
        .bind(series.0)
        .bind(except.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(PostId).collect())
    }

    /// A post that an edit may change: still in its queue, or finished with a target that
    /// failed (which the edit sends again). `None` when gone, cancelled or all sent.
    pub async fn editable_post(&self, post: PostId) -> Result<Option<EditablePost>, StoreError> {
        let row = query(
            "SELECT chat_id, author_id, body, due_at, recurrence, media_removed_at FROM posts p
             WHERE id = ? AND (state = 'scheduled' OR (state = 'done' AND EXISTS (
                 SELECT 1 FROM targets t WHERE t.post_id = p.id AND t.state = 'failed')))",
        )
        .bind(post.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(EditablePost {
                chat: ChatId(r.get("chat_id")),
                author: UserId(r.get("author_id")),
                body: r.get("body"),
                due_at: from_millis(r.get("due_at"))?,
                recurrence: r.get("recurrence"),
                media_removed: r.get::<Option<i64>, _>("media_removed_at").is_some(),
            })
        })
        .transpose()
    }

    /// Changes the parts of a post `update` names, for the targets still to go out (queued)
    /// and those that failed, which go back in the queue with their attempts forgotten: at
    /// the new time, else at the queued ones' time or `now`. Published, unknown and
    /// cancelled targets are left as they are. Nothing changes while a target is being sent.
    pub async fn update_post(
        &self,
        post: PostId,
        update: &PostUpdate,
        now: DateTime<Utc>,
    ) -> Result<Updated, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        let row = query(
            "SELECT COUNT(*) FILTER (WHERE state = 'publishing') AS sending,
                    COUNT(*) FILTER (WHERE state IN ('queued', 'failed')) AS open
             FROM targets WHERE post_id = ?",
        )
        .bind(post.0)
        .fetch_one(&mut *tx)
        .await?;
        let sending: i64 = row.get::<Option<i64>, _>("sending").unwrap_or(0);
        let open: i64 = row.get::<Option<i64>, _>("open").unwrap_or(0);
        let state: Option<String> = query_scalar("SELECT state FROM posts WHERE id = ?")
            .bind(post.0)
            .fetch_optional(&mut *tx)
            .await?;
        if sending > 0 || open == 0 || state.as_deref().is_none_or(|s| s == "cancelled") {
            return Ok(Updated::Started);
        }
        if let Some(body) = &update.body {
            query("UPDATE posts SET body = ? WHERE id = ?")
                .bind(body)
                .bind(post.0)
                .execute(&mut *tx)
                .await?;
        }
        let failed_due = match &update.due {
            Some((due_at, recurrence)) => {
                query("UPDATE posts SET due_at = ?, recurrence = ? WHERE id = ?")
                    .bind(to_millis(*due_at))
                    .bind(recurrence)
                    .bind(post.0)
                    .execute(&mut *tx)
                    .await?;
                query("UPDATE targets SET due_at = ? WHERE post_id = ? AND state = 'queued'")
                    .bind(to_millis(*due_at))
                    .bind(post.0)
                    .execute(&mut *tx)
                    .await?;
                *due_at
            }
            None => now,
        };
        if let Some(threads) = &update.threads {
            query(
                "DELETE FROM target_parts WHERE target_id IN
                     (SELECT id FROM targets WHERE post_id = ? AND state IN ('queued', 'failed'))",
            )
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
            for (account, parts) in threads {
                super::thread_parts::add_parts(&mut tx, post, *account, parts).await?;
            }
        }
        query(
            "UPDATE targets SET state = 'queued', due_at = ?, attempts = 0, last_error = NULL,
                 updated_at = ?
             WHERE post_id = ? AND state = 'failed'",
        )
        .bind(to_millis(failed_due))
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&mut *tx)
        .await?;
        let mut old_files = Vec::new();
        if let Some(media) = &update.media {
            old_files = query_scalar("SELECT file_name FROM media WHERE post_id = ?")
                .bind(post.0)
                .fetch_all(&mut *tx)
                .await?;
            query("DELETE FROM media WHERE post_id = ?")
                .bind(post.0)
                .execute(&mut *tx)
                .await?;
            insert_media(&mut tx, post, media, now).await?;
            query("UPDATE posts SET media_removed_at = NULL WHERE id = ?")
                .bind(post.0)
                .execute(&mut *tx)
                .await?;
        }
        query("UPDATE posts SET state = 'scheduled', updated_at = ? WHERE id = ?")
            .bind(to_millis(now))
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Updated::Changed {
            targets: usize::try_from(open).unwrap_or(usize::MAX),
            old_files,
        })
    }

    /// Sends a pending post now; returns how many targets. For a series' pending occurrence
    /// an extra occurrence (its text, images and accounts) is queued due now, and the pending
    /// one stays due at its time: sending now does not use up the next one.
    pub async fn post_now(&self, post: PostId, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        let recurring: Option<Option<String>> =
            query_scalar("SELECT recurrence FROM posts WHERE id = ? AND state = 'scheduled'")
                .bind(post.0)
                .fetch_optional(&mut *tx)
                .await?;
        let done = if recurring.flatten().is_some() {
            let extra: i64 = query_scalar(
                "INSERT INTO posts (chat_id, author_id, body, due_at, recurrence, time_zone, created_at, updated_at, series_id)
                 SELECT chat_id, author_id, body, ?1, NULL, time_zone, ?1, ?1, COALESCE(series_id, id)
                 FROM posts WHERE id = ?2 RETURNING id",
            )
            .bind(to_millis(now))
            .bind(post.0)
            .fetch_one(&mut *tx)
            .await?;
            query(
                "INSERT INTO media (post_id, position, content_type, byte_len, width, height, sha256, file_name, created_at)
                 SELECT ?1, position, content_type, byte_len, width, height, sha256, file_name, ?2
                 FROM media WHERE post_id = ?3",
            )
            .bind(extra)
            .bind(to_millis(now))
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
            super::media_blobs::copy_blobs(&mut tx, post, PostId(extra)).await?;
            query(
                "INSERT INTO post_variants (post_id, provider, body)
                 SELECT ?, provider, body FROM post_variants WHERE post_id = ?",
            )
            .bind(extra)
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
            let targets = query(
                "INSERT INTO targets (post_id, account_id, due_at, updated_at)
                 SELECT ?1, account_id, ?2, ?2 FROM targets WHERE post_id = ?3 AND state = 'queued'",
            )
            .bind(extra)
            .bind(to_millis(now))
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
            // The extra occurrence goes out as the pending one would: its own texts, its
            // threads (unsent) too.
            super::thread_parts::copy_parts(&mut tx, post, PostId(extra)).await?;
            targets
        } else {
            query(
                "UPDATE targets SET due_at = ?1, updated_at = ?1 WHERE post_id = ?2 AND state = 'queued'",
            )
            .bind(to_millis(now))
            .bind(post.0)
            .execute(&mut *tx)
            .await?
        };
        tx.commit().await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    /// Makes a post's queued targets due at `at`, without the rule a Post now follows for a
    /// series: tests run a series' occurrences one after another this way, without waiting.
    pub async fn make_due_at(&self, post: PostId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        query("UPDATE posts SET due_at = ? WHERE id = ?")
            .bind(to_millis(at))
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
        query("UPDATE targets SET due_at = ? WHERE post_id = ? AND state = 'queued'")
            .bind(to_millis(at))
            .bind(post.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use chrono::Duration;

    use super::*;
    use crate::domain::Provider;
    use crate::store::NewPost;
    use crate::store::test_support::group_with_two_pages;

    fn image(name: &str) -> NewMedia {
        NewMedia {
            content_type: "image/png".to_owned(),
            byte_len: 3,
            width: Some(1),
            height: Some(1),
            sha256: "00".to_owned(),
            file_name: name.to_owned(),
            blob: None,
        }
    }

    #[tokio::test]
    async fn post_now_copies_a_series_occurrence_and_an_edit_waits_for_a_target_in_flight() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, chat, accounts) = group_with_two_pages(&store, now).await;
        let due = now + Duration::hours(5);
        let series = store
            .insert_post(
                NewPost {
                    chat,
                    author,
                    body: "weekly".to_owned(),
                    due_at: due,
                    recurrence: Some("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC".to_owned()),
                    time_zone: chrono_tz::UTC,
                    targets: accounts.clone(),
                    variants: vec![(Provider::FacebookPage, "the page's own".to_owned())],
                    threads: vec![(accounts[1], vec!["1/2".to_owned(), "2/2".to_owned()])],
                    media: vec![image("a.png")],
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(store.series_occurrence(series).await.unwrap(), (series, series));
        let editable = store.editable_post(series).await.unwrap().unwrap();
        assert_eq!((editable.body.as_str(), editable.media_removed), ("weekly", false));
        assert_eq!(editable.due_at.timestamp_millis(), due.timestamp_millis());

        assert_eq!(store.post_now(series, now).await.unwrap(), 2);
        let extra = store.other_scheduled_occurrences(series, series).await.unwrap();
        assert_eq!(extra.len(), 1);
        let extra = extra[0];
        assert_eq!(store.series_occurrence(extra).await.unwrap(), (series, series));
        let copy = store.composed_post(extra).await.unwrap().unwrap();
        assert_eq!(copy.recurrence, None, "the rule stays with the pending occurrence");
        assert_eq!(copy.text_for(Provider::FacebookPage), "the page's own");
        assert_eq!(copy.due_at.timestamp_millis(), now.timestamp_millis());
        assert_eq!(store.media_of_post(extra).await.unwrap()[0].file_name, "a.png");
        let threads = store.threads_of_post(extra).await.unwrap();
        assert_eq!(threads.len(), 1);
        assert_eq!(threads[0].1.len(), 2);

        let claimed = store.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|t| t.post == extra));
        let edit = PostUpdate {
            body: Some("changed".to_owned()),
            ..PostUpdate::default()
        };
        assert_eq!(store.update_post(extra, &edit, now).await.unwrap(), Updated::Started);
        let edit = PostUpdate {
            body: Some("changed".to_owned()),
            due: Some((due + Duration::hours(1), Some("v1 MO 10:00 UTC".to_owned()))),
            media: Some(vec![image("b.png")]),
            threads: None,
        };
        assert_eq!(
            store.update_post(series, &edit, now).await.unwrap(),
            Updated::Changed {
                targets: 2,
                old_files: vec!["a.png".to_owned()]
            }
        );
        let edited = store.editable_post(series).await.unwrap().unwrap();
        assert_eq!(edited.body, "changed");
        assert_eq!(edited.recurrence.as_deref(), Some("v1 MO 10:00 UTC"));
        assert_eq!(store.media_of_post(series).await.unwrap()[0].file_name, "b.png");

        store.make_due_at(series, now).await.unwrap();
        let claimed = store.claim_due(now, 10).await.unwrap();
        assert!(claimed.iter().all(|t| t.post == series));
        assert_eq!(claimed.len(), 2);
    }
}
