//! The scheduler's side of posts: claiming due targets in due order, recording each outcome,
//! finding targets left in flight by a crash, and cancelling. Claim and cancel both run in
//! `BEGIN IMMEDIATE` transactions, so a post cancelled while being claimed is never sent.

use chrono::{DateTime, Utc};

use super::db::{Record, Tx, query, query_scalar};
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{
    AccountId, AccountState, ChatId, GrantId, PostId, Provider, TargetId, TargetState, UserId,
};
use crate::recurrence::Recurrence;

/// A target handed to the scheduler, with what publishing it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTarget {
    /// The target.
    pub id: TargetId,
    /// Its post (one occurrence, for a series).
    pub post: PostId,
    /// The id people know the post by: the series' first post, or the post itself.
    pub series: PostId,
    /// The account it publishes to.
    pub account: AccountId,
    /// The grant behind the account (for refreshing its token).
    pub grant: GrantId,
    /// What kind of account.
    pub provider: Provider,
    /// The account's id at the platform.
    pub account_remote_id: String,
    /// The account's name, for notifications.
    pub account_name: String,
    /// Whether the account can still be used: a revoked one must not publish.
    pub account_state: AccountState,
    /// The chat whose queue it is in.
    pub chat: ChatId,
    /// Who wrote the post.
    pub author: UserId,
    /// The text this target publishes: its network's own text, else the post's.
    pub body: String,
    /// Attempts made so far, this one included once claimed.
    pub attempts: u32,
    /// When it was due (or its retry was).
    pub due_at: DateTime<Utc>,
}

/// Where a `publishing` target goes next.
enum Finish<'a> {
    Published {
        remote_id: &'a str,
        url: Option<&'a str>,
    },
    /// Back to the queue for another attempt at this time.
    Retry(DateTime<Utc>),
    /// Back to the queue without counting the attempt (held back before sending).
    Deferred(DateTime<Utc>),
    Failed,
    Unknown,
}

/// A pending post, for `/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRow {
    /// The post, by the id people know it by (its series' id, for a series).
    pub post: PostId,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Its text.
    pub body: String,
    /// Who wrote it.
    pub author: String,
    /// The accounts it still goes to.
    pub targets: Vec<String>,
    /// The repeat rule's storage form, for the pending occurrence of a series.
    pub recurrence: Option<String>,
    /// Its targets waiting to be tried again, soonest first.
    pub retrying: Vec<Retrying>,
}

/// A target that was tried and waits for another attempt, for `/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrying {
    /// What kind of account.
    pub provider: Provider,
    /// The account's name.
    pub account_name: String,
    /// When it is tried again.
    pub at: DateTime<Utc>,
    /// Why the last attempt did not go through.
    pub reason: Option<String>,
}

/// One finished target, for `/history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The post, by the id people know it by (a series' occurrences share their series' id).
    pub post: PostId,
    /// Its text.
    pub body: String,
    /// Where it went.
    pub provider: Provider,
    /// The account's name.
    pub account_name: String,
    /// Published, failed or unknown.
    pub state: TargetState,
    /// The live post, once published.
    pub url: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it finished.
    pub at: DateTime<Utc>,
}

/// What cancelling a post did to its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled {
    /// Targets that will now never be sent.
    pub cancelled: usize,
    /// Targets already being sent when the cancel arrived: they finish as they will.
    pub in_flight: usize,
    /// Targets that had already finished.
    pub finished: usize,
}

const DUE_COLUMNS: &str =
    "t.id, t.post_id, COALESCE(p.series_id, p.id) AS series_id, t.account_id, a.grant_id,
     a.provider, a.remote_id AS account_remote_id,
     a.display_name AS account_name, a.state AS account_state, p.chat_id, p.author_id,
     COALESCE((SELECT v.body FROM post_variants v WHERE v.post_id = t.post_id AND v.provider = a.provider),
              p.body) AS body,
     t.attempts, t.due_at";

fn due_target(row: &Record) -> Result<DueTarget, StoreError> {
    Ok(DueTarget {
        id: TargetId(row.get("id")),
        post: PostId(row.get("post_id")),
        series: PostId(row.get("series_id")),
        account: AccountId(row.get("account_id")),
        grant: GrantId(row.get("grant_id")),
        provider: parse_stored(row.get::<&str, _>("provider"), "provider")?,
        account_remote_id: row.get("account_remote_id"),
        account_name: row.get("account_name"),
        account_state: parse_stored(row.get::<&str, _>("account_state"), "account state")?,
        chat: ChatId(row.get("chat_id")),
        author: UserId(row.get("author_id")),
        body: row.get("body"),
        attempts: u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
        due_at: from_millis(row.get("due_at"))?,
    })
}

impl Store {
    /// Claims up to `limit` targets due by `now`, in due order, marking each `publishing`
    /// and counting the attempt before anything is sent: a crash from here on leaves
    /// `publishing` behind, which start-up reconciles instead of sending blindly. A
    /// recurring post's next occurrence is queued in the same transaction.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueTarget>, StoreError> {
        // Most wake-ups find nothing due yet (a post was queued for later): answer those
        // without the write lock, which every chat command also waits for. Nothing is
        // claimed, so the lock that claims share with cancels is not needed.
        let any_due: Option<i64> =
            query_scalar("SELECT 1 FROM targets WHERE state = 'queued' AND due_at <= ? LIMIT 1")
                .bind(to_millis(now))
                .fetch_optional(&self.pool)
                .await?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        // Reads the head of the partial index `targets_due` only.
        let rows = query(format!(
            "SELECT {DUE_COLUMNS} FROM targets t
             JOIN posts p ON p.id = t.post_id
             JOIN accounts a ON a.id = t.account_id
             WHERE t.state = 'queued' AND t.due_at <= ?
             ORDER BY t.due_at, t.id LIMIT ?"
        ))
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut target = due_target(row)?;
            target.attempts += 1;
            query(
                "UPDATE targets SET state = 'publishing', attempts = ?, updated_at = ? WHERE id = ?",
            )
            .bind(i64::from(target.attempts))
            .bind(to_millis(now))
            .bind(target.id.0)
            .execute(&mut *tx)
            .await?;
            claimed.push(target);
        }
        let mut posts: Vec<PostId> = claimed.iter().map(|t| t.post).collect();
        posts.dedup();
        for post in posts {
            enqueue_next_occurrence(&mut tx, post, now).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// When the earliest queued target is due, if any: the scheduler sleeps until then.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> =
            query_scalar("SELECT MIN(due_at) FROM targets WHERE state = 'queued'")
                .fetch_one(&self.pool)
                .await?;
        at.map(from_millis).transpose()
    }

    /// Targets left `publishing` (by a crash, or by a request whose answer was lost).
    pub async fn in_flight_targets(&self) -> Result<Vec<DueTarget>, StoreError> {
        let rows = query(format!(
            "SELECT {DUE_COLUMNS} FROM targets t
             JOIN posts p ON p.id = t.post_id
             JOIN accounts a ON a.id = t.account_id
             WHERE t.state = 'publishing' ORDER BY t.due_at, t.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(due_target).collect()
    }

    /// Records that the post exists at the platform. Called the instant the create call
    /// returns, so that the id is never lost.
    pub async fn mark_published(
        &self,
        target: TargetId,
        remote_id: &str,
        url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(target, Finish::Published { remote_id, url }, None, now)
            .await
    }

    /// Puts a target back in the queue for another attempt at `at` (nothing was created).
    pub async fn requeue(
        &self,
        target: TargetId,
        at: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(target, Finish::Retry(at), Some(reason), now)
            .await
    }

    /// Puts a target back in the queue until `at` without counting the attempt: it was held
    /// back (a rate-limit window) before anything was sent.
    pub async fn defer(
        &self,
        target: TargetId,
        at: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(target, Finish::Deferred(at), Some(reason), now)
            .await
    }

    /// Gives up on a target with the platform's reason.
    pub async fn mark_failed(
        &self,
        target: TargetId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(target, Finish::Failed, Some(reason), now).await
    }

    /// Records that an attempt's outcome cannot be learned.
    pub async fn mark_unknown(
        &self,
        target: TargetId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(target, Finish::Unknown, Some(reason), now)
            .await
    }

    /// Moves a `publishing` target on and, once none of its post's targets is left pending,
    /// closes the post, in one transaction (shared with other outcomes waiting to be written:
    /// see [`super::grouped`]). A target no longer `publishing` is left alone.
    async fn finish(
        &self,
        target: TargetId,
        finish: Finish<'_>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, published, due_at, refund) = match finish {
            Finish::Published { remote_id, url } => {
                (TargetState::Published, Some((remote_id, url)), None, 0)
            }
            Finish::Retry(at) => (TargetState::Queued, None, Some(at), 0),
            Finish::Deferred(at) => (TargetState::Queued, None, Some(at), 1),
            Finish::Failed => (TargetState::Failed, None, None, 0),
            Finish::Unknown => (TargetState::Unknown, None, None, 0),
        };
        let row = FinishRow {
            target,
            state,
            remote_id: published.map(|p| p.0.to_owned()),
            url: published.and_then(|p| p.1).map(str::to_owned),
            due_at,
            refund,
            reason: reason.map(str::to_owned),
            now,
        };
        self.grouped()
            .apply(super::grouped::Write::Finish(row))
            .await
    }

    /// Cancels a post: queued targets become `cancelled` in the same kind of transaction a
    /// claim takes, so the two cannot interleave; targets already in flight finish.
    pub async fn cancel_post(
        &self,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<Cancelled, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let exists: Option<i64> = query_scalar("SELECT id FROM posts WHERE id = ?")
            .bind(post.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "post" });
        }
        let cancelled = query(
            "UPDATE targets SET state = 'cancelled', updated_at = ? WHERE post_id = ? AND state = 'queued'",
        )
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let in_flight: i64 =
            query_scalar("SELECT COUNT(*) FROM targets WHERE post_id = ? AND state = 'publishing'")
                .bind(post.0)
                .fetch_one(&mut *tx)
                .await?;
        let total: i64 = query_scalar("SELECT COUNT(*) FROM targets WHERE post_id = ?")
            .bind(post.0)
            .fetch_one(&mut *tx)
            .await?;
        // A cancelled series stops repeating; in-flight targets finish as they will, but
        // none is retried.
        query(
            "UPDATE posts SET recurrence = NULL, state = 'cancelled', updated_at = ? WHERE id = ?",
        )
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let cancelled = usize::try_from(cancelled).unwrap_or(usize::MAX);
        let in_flight = usize::try_from(in_flight).unwrap_or(usize::MAX);
        Ok(Cancelled {
            cancelled,
            in_flight,
            finished: usize::try_from(total)
                .unwrap_or(usize::MAX)
                .saturating_sub(cancelled + in_flight),
        })
    }

    /// How many targets are in `state`, over the whole database (benchmarks, doctor).
    pub async fn count_targets(&self, state: TargetState) -> Result<u64, StoreError> {
        let count: i64 = query_scalar("SELECT COUNT(*) FROM targets WHERE state = ?")
            .bind(state.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The chat and author of a post still in its chat's queue (`None` when gone or over).
    pub async fn pending_post(&self, post: PostId) -> Result<Option<(ChatId, UserId)>, StoreError> {
        let row =
            query("SELECT chat_id, author_id FROM posts WHERE id = ? AND state = 'scheduled'")
                .bind(post.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| (ChatId(r.get("chat_id")), UserId(r.get("author_id")))))
    }

    /// The post a target belongs to, with the post's chat and author.
    pub async fn target_owner(
        &self,
        target: TargetId,
    ) -> Result<Option<(PostId, ChatId, UserId)>, StoreError> {
        let row = query(
            "SELECT t.post_id, p.chat_id, p.author_id
             FROM targets t JOIN posts p ON p.id = t.post_id WHERE t.id = ?",
        )
        .bind(target.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            (
                PostId(r.get("post_id")),
                ChatId(r.get("chat_id")),
                UserId(r.get("author_id")),
            )
        }))
    }

    /// Puts a failed target back in the queue, due `now`, with its attempts forgotten, and
    /// reopens its post; false (and nothing changed) unless it is failed and its post was
    /// neither cancelled nor stripped of its images by the retention purge. A failed target
    /// created nothing at the platform (a refusal, or only failures that surely created
    /// nothing), so sending it again cannot double it; a thread's parts that are live keep
    /// their ids, and the retry resumes after them.
    pub async fn retry_failed_target(
        &self,
        target: TargetId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let post: Option<i64> = query_scalar(
            "UPDATE targets SET state = 'queued', due_at = ?, attempts = 0, last_error = NULL,
                 updated_at = ?
             WHERE id = ? AND state = 'failed' AND EXISTS (
                 SELECT 1 FROM posts WHERE posts.id = targets.post_id AND posts.state != 'cancelled'
                 AND posts.media_removed_at IS NULL)
             RETURNING post_id",
        )
        .bind(to_millis(now))
        .bind(to_millis(now))
        .bind(target.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(post) = post else {
            return Ok(false);
        };
        query(
            "UPDATE posts SET state = 'scheduled', updated_at = ? WHERE id = ? AND state = 'done'",
        )
        .bind(to_millis(now))
        .bind(post)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The chat's most recent finished targets, newest first.
    pub async fn history(&self, chat: ChatId, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = query(
            "SELECT COALESCE(p.series_id, p.id) AS post_id, p.body, a.provider, a.display_name, t.state, t.remote_url, t.last_error, t.updated_at
             FROM targets t JOIN posts p ON p.id = t.post_id JOIN accounts a ON a.id = t.account_id
             WHERE p.chat_id = ? AND t.state IN ('published', 'failed', 'unknown')
             ORDER BY t.updated_at DESC, t.id DESC LIMIT ?",
        )
        .bind(chat.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    post: PostId(r.get("post_id")),
                    body: r.get("body"),
                    provider: parse_stored(r.get::<&str, _>("provider"), "provider")?,
                    account_name: r.get("display_name"),
                    state: parse_stored(r.get::<&str, _>("state"), "target state")?,
                    url: r.get("remote_url"),
                    error: r.get("last_error"),
                    at: from_millis(r.get("updated_at"))?,
                })
            })
            .collect()
    }

    /// Each target of a post with its state and, once published, the platform's id.
    pub async fn targets_of_post(
        &self,
        post: PostId,
    ) -> Result<Vec<(AccountId, TargetState, Option<String>)>, StoreError> {
        let rows =
            query("SELECT account_id, state, remote_id FROM targets WHERE post_id = ? ORDER BY id")
                .bind(post.0)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    AccountId(r.get("account_id")),
                    parse_stored(r.get::<&str, _>("state"), "target state")?,
                    r.get("remote_id"),
                ))
            })
            .collect()
    }

    /// The pending posts of a chat, soonest first, with author and target names, and the
    /// targets that wait for a retry.
    pub async fn queued_posts(&self, chat: ChatId) -> Result<Vec<QueuedRow>, StoreError> {
        let rows = query(
            "SELECT COALESCE(p.series_id, p.id) AS id, p.id AS row_id, p.due_at, p.body, p.recurrence,
                    COALESCE(u.display_name, u.remote_id) AS author,
                    (SELECT GROUP_CONCAT(a.display_name, char(10)) FROM targets t
                     JOIN accounts a ON a.id = t.account_id
                     WHERE t.post_id = p.id AND t.state IN ('queued', 'publishing')) AS targets
             FROM posts p JOIN users u ON u.id = p.author_id
             WHERE p.chat_id = ? AND p.state = 'scheduled' ORDER BY p.due_at, p.id",
        )
        .bind(chat.0)
        .fetch_all(&self.pool)
        .await?;
        let retries = query(
            "SELECT t.post_id, a.provider, a.display_name, t.due_at, t.last_error
             FROM targets t JOIN posts p ON p.id = t.post_id JOIN accounts a ON a.id = t.account_id
             WHERE p.chat_id = ? AND p.state = 'scheduled' AND t.state = 'queued' AND t.attempts > 0
             ORDER BY t.due_at, t.id",
        )
        .bind(chat.0)
        .fetch_all(&self.pool)
        .await?;
        let mut retrying: Vec<(PostId, Retrying)> = Vec::with_capacity(retries.len());
        for r in &retries {
            retrying.push((
                PostId(r.get("post_id")),
                Retrying {
                    provider: parse_stored(r.get::<&str, _>("provider"), "provider")?,
                    account_name: r.get("display_name"),
                    at: from_millis(r.get("due_at"))?,
                    reason: r.get("last_error"),
                },
            ));
        }
        rows.iter()
            .map(|r| {
                // A series is known by its id; its retries belong to this occurrence's row.
                let row = PostId(r.get("row_id"));
                Ok(QueuedRow {
                    post: PostId(r.get("id")),
                    due_at: from_millis(r.get("due_at"))?,
                    body: r.get("body"),
                    author: r.get("author"),
                    targets: r
                        .get::<Option<String>, _>("targets")
                        .map(|t| t.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    recurrence: r.get("recurrence"),
                    retrying: retrying
                        .iter()
                        .filter(|(of, _)| *of == row)
                        .map(|(_, retry)| retry.clone())
                        .collect(),
                })
            })
            .collect()
    }
}

/// How one `publishing` target moves on, owned, for [`super::grouped`].
#[derive(Debug)]
pub(super) struct FinishRow {
    pub(super) target: TargetId,
    pub(super) state: TargetState,
    pub(super) remote_id: Option<String>,
    pub(super) url: Option<String>,
    pub(super) due_at: Option<DateTime<Utc>>,
    /// 1 when the attempt is not counted (held back before sending).
    pub(super) refund: i64,
    pub(super) reason: Option<String>,
    pub(super) now: DateTime<Utc>,
}

/// Writes `row` in `tx`: the target moves on if it is still `publishing`; a retry of a post
/// cancelled meanwhile is not made; the post closes once none of its targets is pending.
pub(super) async fn finish_in(tx: &mut Tx, row: &FinishRow) -> Result<(), StoreError> {
    let post: Option<i64> = query_scalar(
        "UPDATE targets SET state = ?, remote_id = COALESCE(?, remote_id),
             remote_url = COALESCE(?, remote_url), last_error = ?,
             published_at = CASE WHEN ? = 'published' THEN ? ELSE published_at END,
             due_at = COALESCE(?, due_at), attempts = MAX(attempts - ?, 0), updated_at = ?
         WHERE id = ? AND state = 'publishing' RETURNING post_id",
    )
    .bind(row.state.as_str())
    .bind(row.remote_id.as_deref())
    .bind(row.url.as_deref())
    .bind(row.reason.as_deref())
    .bind(row.state.as_str())
    .bind(to_millis(row.now))
    .bind(row.due_at.map(to_millis))
    .bind(row.refund)
    .bind(to_millis(row.now))
    .bind(row.target.0)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(post) = post {
        // A retry of a post cancelled while its attempt was in flight is not made.
        query(
            "UPDATE targets SET state = 'cancelled' WHERE id = ? AND state = 'queued'
             AND EXISTS (SELECT 1 FROM posts WHERE id = ? AND state = 'cancelled')",
        )
        .bind(row.target.0)
        .bind(post)
        .execute(&mut **tx)
        .await?;
        close_post_if_done(tx, PostId(post), row.now).await?;
    }
    Ok(())
}

async fn close_post_if_done(
    tx: &mut Tx,
    post: PostId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    query(
        "UPDATE posts SET state = 'done', updated_at = ?
         WHERE id = ? AND state = 'scheduled' AND NOT EXISTS (
             SELECT 1 FROM targets WHERE post_id = ? AND state IN ('queued', 'publishing'))",
    )
    .bind(to_millis(now))
    .bind(post.0)
    .bind(post.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Once an occurrence of a recurring post is claimed, the series moves to a new post row
/// for its next occurrence (with the same text, images and accounts, and the series' id),
/// so that each occurrence keeps its own history and exactly one future occurrence is queued.
async fn enqueue_next_occurrence(
    tx: &mut Tx,
    post: PostId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = query("SELECT recurrence, due_at FROM posts WHERE id = ?")
        .bind(post.0)
        .fetch_one(&mut **tx)
        .await?;
    let Some(rule) = row.get::<Option<String>, _>("recurrence") else {
        return Ok(());
    };
    let rule = Recurrence::from_storage(&rule)
        .map_err(|e| StoreError::Corrupt(format!("recurrence of post {post}: {e}")))?;
    let due = from_millis(row.get("due_at"))?;
    query("UPDATE posts SET recurrence = NULL, updated_at = ? WHERE id = ?")
        .bind(to_millis(now))
        .bind(post.0)
        .execute(&mut **tx)
        .await?;
    let Some(next) = rule.next_after(due.max(now)) else {
        return Ok(());
    };
    // The next occurrence names the series' first post, so the series keeps its id.
    let next_post: i64 = query_scalar(
        "INSERT INTO posts (chat_id, author_id, body, due_at, recurrence, time_zone, created_at, updated_at, series_id)
         SELECT chat_id, author_id, body, ?, ?, time_zone, ?, ?, COALESCE(series_id, id)
         FROM posts WHERE id = ? RETURNING id",
    )
    .bind(to_millis(next))
    .bind(rule.to_storage())
    .bind(to_millis(now))
    .bind(to_millis(now))
    .bind(post.0)
    .fetch_one(&mut **tx)
    .await?;
    query(
        "INSERT INTO targets (post_id, account_id, due_at, updated_at)
         SELECT ?, account_id, ?, ? FROM targets WHERE post_id = ?",
    )
    .bind(next_post)
    .bind(to_millis(next))
    .bind(to_millis(now))
    .bind(post.0)
    .execute(&mut **tx)
    .await?;
    query(
        "INSERT INTO post_variants (post_id, provider, body)
         SELECT ?, provider, body FROM post_variants WHERE post_id = ?",
    )
    .bind(next_post)
    .bind(post.0)
    .execute(&mut **tx)
    .await?;
    query(
        "INSERT INTO media (post_id, position, content_type, byte_len, width, height, sha256, file_name, created_at)
         SELECT ?, position, content_type, byte_len, width, height, sha256, file_name, ? FROM media WHERE post_id = ?",
    )
    .bind(next_post)
    .bind(to_millis(now))
    .bind(post.0)
    .execute(&mut **tx)
    .await?;
    super::media_blobs::copy_blobs(tx, post, PostId(next_post)).await?;
    super::thread_parts::copy_parts(tx, post, PostId(next_post)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{group_with_two_pages, temp_store};
    use crate::store::{NewPost, Notification};
    use chrono::Duration;

    struct Queue {
        store: Store,
        _dir: tempfile::TempDir,
        chat: ChatId,
        author: UserId,
        accounts: Vec<AccountId>,
    }

    async fn queue() -> Queue {
        let (store, dir) = temp_store().await;
        let (author, chat, accounts) = group_with_two_pages(&store, Utc::now()).await;
        Queue {
            store,
            _dir: dir,
            chat,
            author,
            accounts,
        }
    }

    #[tokio::test]
    async fn outcomes_written_together_share_commits_and_a_bad_write_fails_alone() {
        let q = queue().await;
        let now = Utc::now();
        for n in 0..20 {
            q.post(&format!("post {n}"), now - Duration::seconds(1), None)
                .await;
        }
        let claimed = q.store.claim_due(now, 100).await.unwrap();
        assert_eq!(claimed.len(), 40);
        let publish = |targets: &[DueTarget]| {
            let mut writes = tokio::task::JoinSet::new();
            for target in targets {
                let (store, id) = (q.store.clone(), target.id);
                writes.spawn(async move {
                    store
                        .mark_published(id, &format!("r{id}"), None, Utc::now())
                        .await
                });
            }
            writes
        };
        // Twenty outcomes at once: fewer commits than writes.
        let mut writes = publish(&claimed[..20]);
        while let Some(written) = writes.join_next().await {
            written.unwrap().unwrap();
        }
        let commits = q.store.grouped().commits();
        assert!(commits < 20, "{commits} commits for 20 writes");
        // Twenty more with a notice for a chat that does not exist (a broken foreign key):
        // that one fails, alone.
        let mut writes = publish(&claimed[20..]);
        let store = q.store.clone();
        let bad = tokio::spawn(async move {
            let mut notice = Notification::post_changed(ChatId(999_999), PostId(1));
            notice.user = None;
            store
                .enqueue_notification_grouped(&notice, Utc::now())
                .await
        });
        while let Some(written) = writes.join_next().await {
            written.unwrap().unwrap();
        }
        assert!(bad.await.unwrap().is_err(), "the bad write fails");
        assert_eq!(
            q.store.count_targets(TargetState::Published).await.unwrap(),
            40,
            "every good write is kept"
        );
    }

    impl Queue {
        async fn post(
            &self,
            body: &str,
            due_at: DateTime<Utc>,
            recurrence: Option<String>,
        ) -> PostId {
            self.store
                .insert_post(
                    NewPost {
                        chat: self.chat,
                        author: self.author,
                        body: body.to_owned(),
                        due_at,
                        recurrence,
                        time_zone: chrono_tz::UTC,
                        targets: self.accounts.clone(),
                        variants: Vec::new(),
                        media: vec![],
                        threads: vec![],
                    },
                    Utc::now(),
                )
                .await
                .unwrap()
        }
    }

    #[tokio::test]
    async fn due_targets_are_claimed_once_in_due_order_and_marked_publishing() {
        let q = queue().await;
        let now = Utc::now();
        let later = q.post("later", now - Duration::seconds(1), None).await;
        let earlier = q.post("earlier", now - Duration::seconds(5), None).await;
        let future = q.post("future", now + Duration::hours(1), None).await;
        let claimed = q.store.claim_due(now, 3).await.unwrap();
        let order: Vec<(PostId, u32)> = claimed.iter().map(|t| (t.post, t.attempts)).collect();
        assert_eq!(order, vec![(earlier, 1), (earlier, 1), (later, 1)]);
        let rest = q.store.claim_due(now, 10).await.unwrap();
        assert_eq!(
            rest.len(),
            1,
            "the fourth target, and nothing claimed twice"
        );
        assert_eq!(rest[0].post, later);
        assert_eq!(
            q.store.next_due_at().await.unwrap().map(|d| d.timestamp()),
            Some((now + Duration::hours(1)).timestamp())
        );
        assert_eq!(q.store.in_flight_targets().await.unwrap().len(), 4);
        let states = q.store.targets_of_post(future).await.unwrap();
        assert!(states.iter().all(|(_, s, _)| *s == TargetState::Queued));
    }

    #[tokio::test]
    async fn outcomes_close_the_post_and_a_cancelled_post_is_never_claimed_or_retried() {
        let q = queue().await;
        let now = Utc::now();
        let post = q.post("hello", now, None).await;
        let claimed = q.store.claim_due(now, 1).await.unwrap();
        // One target in flight, one still queued: cancel stops the queued one only.
        let outcome = q.store.cancel_post(post, now).await.unwrap();
        assert_eq!(
            outcome,
            Cancelled {
                cancelled: 1,
                in_flight: 1,
                finished: 0
            }
        );
        assert!(q.store.claim_due(now, 10).await.unwrap().is_empty());
        // The in-flight attempt fails retryably: it is not queued again.
        q.store
            .requeue(claimed[0].id, now, "503", now)
            .await
            .unwrap();
        let states: Vec<TargetState> = q
            .store
            .targets_of_post(post)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s, _)| s)
            .collect();
        assert_eq!(states, vec![TargetState::Cancelled, TargetState::Cancelled]);
        assert!(matches!(
            q.store.cancel_post(PostId(999), now).await,
            Err(StoreError::NotFound { what: "post" })
        ));
    }

    #[tokio::test]
    async fn a_published_id_is_kept_and_a_finished_target_is_not_touched_again() {
        let q = queue().await;
        let now = Utc::now();
        let post = q.post("hello", now, None).await;
        let claimed = q.store.claim_due(now, 10).await.unwrap();
        q.store
            .mark_published(
                claimed[0].id,
                "123_456",
                Some("https://facebook.com/123_456"),
                now,
            )
            .await
            .unwrap();
        q.store
            .mark_failed(claimed[1].id, "rejected", now)
            .await
            .unwrap();
        // A late duplicate outcome does not overwrite the first.
        q.store
            .mark_failed(claimed[0].id, "late", now)
            .await
            .unwrap();
        let states = q.store.targets_of_post(post).await.unwrap();
        assert_eq!(states[0].1, TargetState::Published);
        assert_eq!(states[0].2.as_deref(), Some("123_456"));
        assert_eq!(states[1].1, TargetState::Failed);
        assert!(
            q.store.queued_posts(q.chat).await.unwrap().is_empty(),
            "the post is done"
        );
    }

    #[tokio::test]
    async fn claiming_a_recurring_post_queues_exactly_one_next_occurrence() {
        let q = queue().await;
        let rule = crate::recurrence::Recurrence::from_storage("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC")
            .unwrap();
        let due = DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        q.post("daily", due, Some(rule.to_storage())).await;
        let claimed = q.store.claim_due(due, 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let again = q.store.claim_due(due, 10).await.unwrap();
        assert_eq!(again.len(), 1, "the occurrence's other target");
        let queue = q.store.queued_posts(q.chat).await.unwrap();
        assert_eq!(queue.len(), 2, "the claimed occurrence and the next one");
        assert_eq!(queue[1].due_at.to_rfc3339(), "2026-06-02T09:00:00+00:00");
        assert_eq!(q.store.next_due_at().await.unwrap(), Some(queue[1].due_at));
    }

    #[tokio::test]
    async fn an_edit_waits_for_a_target_in_flight_and_then_changes_only_what_is_left_to_send() {
        use crate::store::{PostUpdate, Updated};
        let q = queue().await;
        let now = Utc::now();
        let post = q.post("hello", now, None).await;
        let claimed = q.store.claim_due(now, 1).await.unwrap();
        let update = PostUpdate {
            body: Some("changed".to_owned()),
            ..PostUpdate::default()
        };
        assert_eq!(
            q.store.update_post(post, &update, now).await.unwrap(),
            Updated::Started,
            "not while a target is being sent"
        );
        assert_eq!(q.store.queued_posts(q.chat).await.unwrap()[0].body, "hello");
        q.store
            .mark_published(claimed[0].id, "1", None, now)
            .await
            .unwrap();
        assert_eq!(
            q.store.update_post(post, &update, now).await.unwrap(),
            Updated::Changed {
                targets: 1,
                old_files: vec![]
            }
        );
        let states = q.store.targets_of_post(post).await.unwrap();
        assert_eq!(
            (states[0].1, states[0].2.as_deref(), states[1].1),
            (TargetState::Published, Some("1"), TargetState::Queued)
        );
        assert_eq!(
            q.store.queued_posts(q.chat).await.unwrap()[0].body,
            "changed"
        );
    }

    #[tokio::test]
    async fn a_series_keeps_its_id_and_post_now_adds_an_occurrence_beside_the_pending_one() {
        let q = queue().await;
        let rule = crate::recurrence::Recurrence::from_storage("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC")
            .unwrap();
        let due = DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let series = q.post("daily", due, Some(rule.to_storage())).await;
        assert_eq!(
            q.store.series_occurrence(series).await.unwrap(),
            (series, series)
        );
        q.store.claim_due(due, 10).await.unwrap();
        let (pending, named) = q.store.series_occurrence(series).await.unwrap();
        assert_ne!(pending, series);
        assert_eq!(named, series);
        // Named by the new occurrence's own id, it is still the series.
        assert_eq!(
            q.store.series_occurrence(pending).await.unwrap(),
            (pending, series)
        );
        assert_eq!(q.store.post_now(pending, due).await.unwrap(), 2);
        let claimed = q.store.claim_due(due, 10).await.unwrap();
        assert_eq!(claimed.len(), 2, "the extra occurrence, due now");
        assert!(
            claimed
                .iter()
                .all(|t| t.series == series && t.post != pending)
        );
        let queue = q.store.queued_posts(q.chat).await.unwrap();
        let next: Vec<_> = queue.iter().filter(|r| r.recurrence.is_some()).collect();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].post, series);
        assert_eq!(next[0].due_at.to_rfc3339(), "2026-06-02T09:00:00+00:00");
    }

    #[tokio::test]
    async fn a_weekly_post_keeps_its_local_time_across_the_spring_dst_change() {
        let q = queue().await;
        let rule =
            crate::recurrence::Recurrence::from_storage("v1 MO 09:00 Europe/Berlin").unwrap();
        // Monday 23 March 2026, 09:00 CET; Berlin moves to CEST on Sunday 29 March.
        let due = DateTime::parse_from_rfc3339("2026-03-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        q.post("weekly", due, Some(rule.to_storage())).await;
        assert_eq!(q.store.claim_due(due, 10).await.unwrap().len(), 2);
        let next = q.store.next_due_at().await.unwrap().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-03-30T07:00:00+00:00", "09:00 CEST");
        assert_eq!(q.store.claim_due(next, 10).await.unwrap().len(), 2);
        let after = q.store.next_due_at().await.unwrap().unwrap();
        assert_eq!(after.to_rfc3339(), "2026-04-06T07:00:00+00:00");
    }
}
