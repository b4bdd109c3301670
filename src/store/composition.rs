//! What a post is composed of after it was accepted: its per-network texts, its targets
//! changed before anything of it goes out, and the texts already queued or sent on an
//! account (X refuses a duplicate). Target changes run in `BEGIN IMMEDIATE` transactions, as
//! claims do, so a target is never added or removed under a claim.

use chrono::{DateTime, Utc};

use super::db::{Tx, query, query_scalar};
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{AccountId, ChatId, PostId, Provider, TargetState, UserId};

/// A stored post as its confirmation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedPost {
    /// The post.
    pub id: PostId,
    /// Its chat.
    pub chat: ChatId,
    /// Who wrote it.
    pub author: UserId,
    /// The main text.
    pub body: String,
    /// Each network's own text, where one was written.
    pub variants: Vec<(Provider, String)>,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The recurrence rule's storage form.
    pub recurrence: Option<String>,
    /// Each target's account and state, in the order they were added.
    pub targets: Vec<(AccountId, TargetState)>,
}

impl ComposedPost {
    /// The text a target on `provider` publishes: the network's own, else the main text.
    pub fn text_for(&self, provider: Provider) -> &str {
        self.variants
            .iter()
            .find(|(p, _)| *p == provider)
            .map_or(self.body.as_str(), |(_, text)| text.as_str())
    }
}

/// What adding or removing a target did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChange {
    /// Done.
    Changed,
    /// Nothing changed: a target of the post has started going out (or the post is over).
    Started,
    /// Nothing changed: it was the post's last target.
    LastTarget,
    /// Nothing changed: the account already was (or was not) a target.
    Unchanged,
}

/// A target on an account whose text is the one asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameText {
    /// Its post.
    pub post: PostId,
    /// Queued or publishing (`None`), or when it was published.
    pub published_at: Option<DateTime<Utc>>,
}

impl Store {
    /// A post with its texts and targets; `None` when there is no such post.
    pub async fn composed_post(&self, post: PostId) -> Result<Option<ComposedPost>, StoreError> {
        let Some(row) = query(
            "SELECT id, chat_id, author_id, body, due_at, recurrence FROM posts WHERE id = ?",
        )
        .bind(post.0)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let variants =
            query("SELECT provider, body FROM post_variants WHERE post_id = ? ORDER BY provider")
                .bind(post.0)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        parse_stored(r.get::<&str, _>("provider"), "provider")?,
                        r.get("body"),
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        let targets = query("SELECT account_id, state FROM targets WHERE post_id = ? ORDER BY id")
            .bind(post.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    AccountId(r.get("account_id")),
                    parse_stored(r.get::<&str, _>("state"), "target state")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(ComposedPost {
            id: PostId(row.get("id")),
            chat: ChatId(row.get("chat_id")),
            author: UserId(row.get("author_id")),
            body: row.get("body"),
            variants,
            due_at: from_millis(row.get("due_at"))?,
            recurrence: row.get("recurrence"),
            targets,
        }))
    }

    /// Adds `account` as a target of a scheduled post, due with the post, unless one of its
    /// targets has started going out.
    pub async fn add_target(
        &self,
        post: PostId,
        account: AccountId,
        parts: &[String],
        now: DateTime<Utc>,
    ) -> Result<TargetChange, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        if has_started(&mut tx, post).await? {
            return Ok(TargetChange::Started);
        }
        let added = query(
            "INSERT INTO targets (post_id, account_id, due_at, updated_at)
             SELECT id, ?, due_at, ? FROM posts WHERE id = ?
             ON CONFLICT (post_id, account_id) DO NOTHING",
        )
        .bind(account.0)
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added > 0 && !parts.is_empty() {
            super::thread_parts::add_parts(&mut tx, post, account, parts).await?;
        }
        tx.commit().await?;
        Ok(if added == 0 {
            TargetChange::Unchanged
        } else {
            TargetChange::Changed
        })
    }

    /// Removes `account`'s target from a scheduled post, unless one of its targets has
    /// started going out or it is the last one. The row goes, so the scheduler never sees it.
    pub async fn remove_target(
        &self,
        post: PostId,
        account: AccountId,
    ) -> Result<TargetChange, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        if has_started(&mut tx, post).await? {
            return Ok(TargetChange::Started);
        }
        let accounts: Vec<i64> = query_scalar("SELECT account_id FROM targets WHERE post_id = ?")
            .bind(post.0)
            .fetch_all(&mut *tx)
            .await?;
        if !accounts.contains(&account.0) {
            return Ok(TargetChange::Unchanged);
        }
        if accounts.len() == 1 {
            return Ok(TargetChange::LastTarget);
        }
        query("DELETE FROM targets WHERE post_id = ? AND account_id = ?")
            .bind(post.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TargetChange::Changed)
    }

    /// Targets on `account` whose text is `text` after trimming: those queued or publishing
    /// in `chat`, and those published since `since` (anywhere: X compares the account's
    /// timeline).
    pub async fn same_text_on_account(
        &self,
        chat: ChatId,
        account: AccountId,
        text: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<SameText>, StoreError> {
        let rows = query(
            "SELECT t.post_id, t.state, t.published_at,
                    COALESCE(v.body, p.body) AS text
             FROM targets t
             JOIN posts p ON p.id = t.post_id
             JOIN accounts a ON a.id = t.account_id
             LEFT JOIN post_variants v ON v.post_id = t.post_id AND v.provider = a.provider
             WHERE t.account_id = ?
               AND ((t.state IN ('queued', 'publishing') AND p.chat_id = ?)
                    OR (t.state = 'published' AND t.published_at >= ?))
             ORDER BY t.post_id",
        )
        .bind(account.0)
        .bind(chat.0)
        .bind(to_millis(since))
        .fetch_all(&self.pool)
        .await?;
        let wanted = text.trim();
        let mut same = Vec::new();
        for row in &rows {
            if row.get::<&str, _>("text").trim() != wanted {
                continue;
            }
            let state: TargetState = parse_stored(row.get::<&str, _>("state"), "target state")?;
            let published_at = match state {
                TargetState::Published => row
                    .get::<Option<i64>, _>("published_at")
                    .map(from_millis)
                    .transpose()?,
                _ => None,
            };
            same.push(SameText {
                post: PostId(row.get("post_id")),
                published_at,
            });
        }
        Ok(same)
    }
}

/// Whether a target of `post` has left the queue, or the post is no longer scheduled.
async fn has_started(tx: &mut Tx, post: PostId) -> Result<bool, StoreError> {
    let open: Option<i64> = query_scalar(
        "SELECT 1 FROM posts WHERE id = ? AND state = 'scheduled' AND NOT EXISTS (
             SELECT 1 FROM targets WHERE post_id = posts.id AND state != 'queued')",
    )
    .bind(post.0)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(open.is_none())
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use chrono::Duration;

    use super::*;
    use crate::store::NewPost;
    use crate::store::test_support::group_with_two_pages;

    /// A store with one chat and two Pages linked to it.
    async fn two_pages() -> (Store, tempfile::TempDir, ChatId, UserId, Vec<AccountId>) {
        let (store, dir) = temp_store().await;
        let (author, chat, accounts) = group_with_two_pages(&store, Utc::now()).await;
        (store, dir, chat, author, accounts)
    }

    fn post(chat: ChatId, author: UserId, body: &str, targets: Vec<AccountId>) -> NewPost {
        NewPost {
            chat,
            author,
            body: body.to_owned(),
            due_at: Utc::now() - Duration::seconds(1),
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets,
            variants: vec![(Provider::FacebookPage, "the page's own".to_owned())],
            threads: vec![],
            media: vec![],
        }
    }

    #[tokio::test]
    async fn targets_are_added_and_removed_until_one_is_claimed_and_never_the_last() {
        let (store, _dir, chat, author, accounts) = two_pages().await;
        let now = Utc::now();
        let id = store
            .insert_post(post(chat, author, "main", vec![accounts[0]]), now)
            .await
            .unwrap();
        assert_eq!(
            store.remove_target(id, accounts[0]).await.unwrap(),
            TargetChange::LastTarget
        );
        assert_eq!(
            store.add_target(id, accounts[1], &[], now).await.unwrap(),
            TargetChange::Changed
        );
        assert_eq!(
            store.add_target(id, accounts[1], &[], now).await.unwrap(),
            TargetChange::Unchanged
        );
        assert_eq!(
            store.remove_target(id, accounts[0]).await.unwrap(),
            TargetChange::Changed
        );
        let composed = store.composed_post(id).await.unwrap().unwrap();
        assert_eq!(composed.targets, vec![(accounts[1], TargetState::Queued)]);
        assert_eq!(composed.text_for(Provider::FacebookPage), "the page's own");
        assert_eq!(composed.text_for(Provider::X), "main");

        // The scheduler publishes the network's own text, and only the remaining target.
        let claimed = store.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].account, accounts[1]);
        assert_eq!(claimed[0].body, "the page's own");
        assert_eq!(
            store.add_target(id, accounts[0], &[], now).await.unwrap(),
            TargetChange::Started
        );
        assert_eq!(
            store.remove_target(id, accounts[1]).await.unwrap(),
            TargetChange::Started
        );
        assert_eq!(
            store.in_flight_targets().await.unwrap()[0].body,
            "the page's own"
        );
    }

    #[tokio::test]
    async fn the_same_text_is_found_queued_in_the_chat_or_published_since_then() {
        let (store, _dir, chat, author, accounts) = two_pages().await;
        let now = Utc::now();
        let mut queued = post(chat, author, "same", vec![accounts[0]]);
        queued.variants.clear();
        queued.due_at = now + Duration::hours(1);
        let queued = store.insert_post(queued, now).await.unwrap();
        let mut sent = post(chat, author, " same\n", vec![accounts[0]]);
        sent.variants.clear();
        let sent = store.insert_post(sent, now).await.unwrap();
        let claimed = store.claim_due(now, 10).await.unwrap();
        store
            .mark_published(claimed[0].id, "r1", None, now)
            .await
            .unwrap();
        let found = store
            .same_text_on_account(chat, accounts[0], "same ", now - Duration::days(7))
            .await
            .unwrap();
        assert_eq!(
            found,
            vec![
                SameText {
                    post: queued,
                    published_at: None
                },
                SameText {
                    post: sent,
                    published_at: Some(from_millis(to_millis(now)).unwrap())
                },
            ]
        );
        let later = store
            .same_text_on_account(chat, accounts[0], "same", now + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(later.len(), 1, "only the queued one: {later:?}");
        for other in ["Same", "sam"] {
            let found = store
                .same_text_on_account(chat, accounts[0], other, now - Duration::days(7))
                .await
                .unwrap();
            assert!(found.is_empty(), "{other}");
        }
        assert!(
            store
                .same_text_on_account(chat, accounts[1], "same", now - Duration::days(7))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_next_occurrence_of_a_series_keeps_each_networks_own_text() {
        let (store, _dir, chat, author, accounts) = two_pages().await;
        let now = Utc::now();
        let mut series = post(chat, author, "weekly", vec![accounts[0]]);
        series.recurrence = Some("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC".to_owned());
        let first = store.insert_post(series, now).await.unwrap();
        let claimed = store.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed[0].post, first);
        let next: i64 = query_scalar("SELECT MAX(id) FROM posts")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_ne!(next, first.0, "a next occurrence was queued");
        let next = store.composed_post(PostId(next)).await.unwrap().unwrap();
        assert_eq!(next.text_for(Provider::FacebookPage), "the page's own");
        assert_eq!(next.targets, vec![(accounts[0], TargetState::Queued)]);
    }
}
