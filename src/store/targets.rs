//! The scheduler's side of posts: claiming due targets in due order, recording each outcome,
//! finding targets left in flight by a crash, and cancelling. Claim and cancel both run in
//! `BEGIN IMMEDIATE` transactions, so a post cancelled while being claimed is never sent.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::db::{Backend, Record, Tx, query, query_as, query_scalar};
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

/// The name claims are recorded under by a store no instance joined through.
const UNNAMED_OWNER: &str = "local";

/// Candidate rows read per page while a claim looks past targets it must hold back.
const CLAIM_PAGE: i64 = 256;

/// The most candidate rows one claim reads: with every due target's account at its bound,
/// a claim still costs a bounded read, however long the backlog.
const CLAIM_SCAN_MOST: usize = 4096;

/// Ids bound in one `IN (…)` list at most (well below either engine's limit on binds).
const IDS_PER_STATEMENT: usize = 500;

/// The reason a target held back for a rate-limit window shows in `/queue`.
const WAITING_FOR_WINDOW: &str = "waiting for the platform's rate-limit window";

/// How much a claim may take. The bounds count every instance's `publishing` targets (the
/// claim reads them under the write lock, so they hold across instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Targets to claim at most (this instance's free publishing slots).
    pub most: u32,
    /// Targets `publishing` at once per account, over all instances.
    pub per_account: u32,
    /// Targets `publishing` at once per platform, over all instances.
    pub per_platform: u32,
}

impl ClaimLimits {
    /// Up to `most` targets, with no bound per account or platform.
    pub fn unbounded(most: u32) -> Self {
        Self {
            most,
            per_account: u32::MAX,
            per_platform: u32::MAX,
        }
    }
}

/// What one claim did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The targets now `publishing` for this store's instance, in due order.
    pub targets: Vec<DueTarget>,
    /// Due targets left queued because their account or platform was at its bound: they are
    /// claimed once a target of theirs finishes, on whichever instance.
    pub held_back: usize,
    /// Due targets moved to the end of their account's rate-limit window, uncounted.
    pub deferred: usize,
}

impl Store {
    /// This store acting for instance `owner`: its claims record `owner` on the targets, its
    /// outcome writes change only targets `owner` still holds, and its claims stop once
    /// `owner` is no longer a registered instance (another took its work over).
    pub fn owned_by(&self, owner: &str) -> Store {
        Store {
            owner: Some(Arc::from(owner)),
            ..self.clone()
        }
    }

    /// The instance this store claims for.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(UNNAMED_OWNER)
    }

    /// Claims up to `limit` targets due by `now` (no bound per account or platform): see
    /// [`Store::claim`].
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueTarget>, StoreError> {
        Ok(self
            .claim(now, ClaimLimits::unbounded(limit))
            .await?
            .targets)
    }

    /// Claims targets due by `now`, in due order, within `limits`, marking each `publishing`
    /// for this store's instance and counting the attempt before anything is sent: a crash
    /// from here on leaves `publishing` behind, which is reconciled instead of sent blindly.
    /// Targets whose account has an open rate-limit window (learned by any instance) move
    /// to its end without counting an attempt. A recurring post's next occurrence is queued
    /// in the same transaction.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        limits: ClaimLimits,
    ) -> Result<Claim, StoreError> {
        if limits.most == 0 {
            return Ok(Claim::default());
        }
        // Most wake-ups find nothing due yet (a post was queued for later): answer those
        // without the write lock, which every chat command also waits for. Nothing is
        // claimed, so the lock that claims share with cancels is not needed.
        let any_due: Option<i64> =
            query_scalar("SELECT 1 FROM targets WHERE state = 'queued' AND due_at <= ? LIMIT 1")
                .bind(to_millis(now))
                .fetch_optional(&self.pool)
                .await?;
        if any_due.is_none() {
            return Ok(Claim::default());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        if let Some(owner) = &self.owner {
            // An instance whose row a peer removed was taken over: it claims nothing more.
            let registered: Option<i64> = query_scalar("SELECT 1 FROM instances WHERE id = ?")
                .bind(&**owner)
                .fetch_optional(&mut *tx)
                .await?;
            if registered.is_none() {
                tracing::warn!("this instance was taken over by another; it claims nothing");
                return Ok(Claim::default());
            }
        }
        let mut busy = InFlight::read(&mut tx).await?;
        // A platform at its bound would only be scanned past, row by row, under the lock
        // every outcome write waits for: read the targets of the others only.
        let open: Vec<Provider> = Provider::ALL
            .iter()
            .copied()
            .filter(|p| busy.platform_has_room(*p, limits))
            .collect();
        if open.is_empty() {
            tx.commit().await?;
            return Ok(Claim::default());
        }
        let open_list = open
            .iter()
            .map(|p| format!("'{}'", p.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let lock = match self.pool.backend() {
            // Under the write lock no other claim runs; the row locks keep a statement that
            // skips that lock (none does today) from taking a claimed row.
            Backend::Postgres => " FOR UPDATE OF t SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Reads the partial index `targets_due` from its head, a page at a time.
        let page_sql = format!(
            "SELECT {DUE_COLUMNS}, w.reset_at AS window_reset FROM targets t
             JOIN posts p ON p.id = t.post_id
             JOIN accounts a ON a.id = t.account_id
             LEFT JOIN rate_windows w ON w.provider = a.provider AND w.account_remote_id = a.remote_id
             WHERE t.state = 'queued' AND t.due_at <= ? AND (t.due_at, t.id) > (?, ?)
               AND a.provider IN ({open_list})
             ORDER BY t.due_at, t.id LIMIT ?{lock}"
        );
        let mut claim = Claim::default();
        let mut deferrals: Vec<(TargetId, i64)> = Vec::new();
        let (mut after_due, mut after_id) = (i64::MIN, i64::MIN);
        let mut scanned = 0;
        let want = limits.most as usize;
        'pages: while claim.targets.len() < want && scanned < CLAIM_SCAN_MOST {
            let rows = query(page_sql.clone())
                .bind(to_millis(now))
                .bind(after_due)
                .bind(after_id)
                .bind(CLAIM_PAGE)
                .fetch_all(&mut *tx)
                .await?;
            let last_page = (rows.len() as i64) < CLAIM_PAGE;
            for row in &rows {
                scanned += 1;
                let target = due_target(row)?;
                (after_due, after_id) = (to_millis(target.due_at), target.id.0);
                let window: Option<i64> = row.get("window_reset");
                if let Some(reset) = window.filter(|r| *r > to_millis(now)) {
                    deferrals.push((target.id, reset));
                } else if busy.has_room(&target, limits) {
                    busy.add(&target);
                    claim.targets.push(target);
                    if claim.targets.len() == want {
                        break 'pages;
                    }
                } else {
                    claim.held_back += 1;
                    if !open.iter().any(|p| busy.platform_has_room(*p, limits)) {
                        break 'pages;
                    }
                }
            }
            if last_page {
                break;
            }
        }
        let owner = self.owner();
        let ids: Vec<i64> = claim.targets.iter().map(|t| t.id.0).collect();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE targets SET state = 'publishing', owner = ?, attempts = attempts + 1,
                     updated_at = ? WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut update = query(sql).bind(owner).bind(to_millis(now));
            for id in chunk {
                update = update.bind(*id);
            }
            update.execute(&mut *tx).await?;
        }
        for target in &mut claim.targets {
            target.attempts += 1;
        }
        for (target, reset) in &deferrals {
            query("UPDATE targets SET due_at = ?, last_error = ?, updated_at = ? WHERE id = ?")
                .bind(*reset)
                .bind(WAITING_FOR_WINDOW)
                .bind(to_millis(now))
                .bind(target.0)
                .execute(&mut *tx)
                .await?;
        }
        claim.deferred = deferrals.len();
        for post in recurring_posts(&mut tx, &claim.targets).await? {
            enqueue_next_occurrence(&mut tx, post, now).await?;
        }
        tx.commit().await?;
        Ok(claim)
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

    /// Targets `publishing` for this store's instance: what it claimed, and what it adopted
    /// from instances that departed.
    pub async fn owned_in_flight(&self) -> Result<Vec<DueTarget>, StoreError> {
        let rows = query(format!(
            "SELECT {DUE_COLUMNS} FROM targets t
             JOIN posts p ON p.id = t.post_id
             JOIN accounts a ON a.id = t.account_id
             WHERE t.state = 'publishing' AND t.owner = ? ORDER BY t.due_at, t.id"
        ))
        .bind(self.owner())
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
            owner: self
                .owner
                .clone()
                .unwrap_or_else(|| Arc::from(UNNAMED_OWNER)),
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
        let names = match self.pool.backend() {
            Backend::Sqlite => "GROUP_CONCAT(a.display_name, char(10))",
            Backend::Postgres => "string_agg(a.display_name, chr(10) ORDER BY t.id)",
        };
        let rows = query(format!(
            "SELECT COALESCE(p.series_id, p.id) AS id, p.id AS row_id, p.due_at, p.body, p.recurrence,
                    COALESCE(u.display_name, u.remote_id) AS author,
                    (SELECT {names} FROM targets t
                     JOIN accounts a ON a.id = t.account_id
                     WHERE t.post_id = p.id AND t.state IN ('queued', 'publishing')) AS targets
             FROM posts p JOIN users u ON u.id = p.author_id
             WHERE p.chat_id = ? AND p.state = 'scheduled' ORDER BY p.due_at, p.id"
        ))
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
    /// The instance writing it: only the target's owner may move it on.
    pub(super) owner: Arc<str>,
}

/// Writes `row` in `tx`: the target moves on if it is still `publishing` and still
/// `row.owner`'s (an instance that another took over writes nothing: the taker reconciles
/// the target); a retry of a post cancelled meanwhile is not made; the post closes once none
/// of its targets is pending.
pub(super) async fn finish_in(tx: &mut Tx, row: &FinishRow) -> Result<(), StoreError> {
    let post: Option<i64> = query_scalar(
        "UPDATE targets SET state = ?, remote_id = COALESCE(?, remote_id),
             remote_url = COALESCE(?, remote_url), last_error = ?,
             published_at = CASE WHEN ? = 'published' THEN ? ELSE published_at END,
             due_at = COALESCE(?, due_at),
             attempts = CASE WHEN attempts > ? THEN attempts - ? ELSE 0 END, updated_at = ?
         WHERE id = ? AND state = 'publishing' AND owner = ? RETURNING post_id",
    )
    .bind(row.state.as_str())
    .bind(row.remote_id.as_deref())
    .bind(row.url.as_deref())
    .bind(row.reason.as_deref())
    .bind(row.state.as_str())
    .bind(to_millis(row.now))
    .bind(row.due_at.map(to_millis))
    .bind(row.refund)
    .bind(row.refund)
    .bind(to_millis(row.now))
    .bind(row.target.0)
    .bind(&*row.owner)
    .fetch_optional(&mut **tx)
    .await?;
    if post.is_none() {
        let holder: Option<Option<String>> =
            query_scalar("SELECT owner FROM targets WHERE id = ? AND state = 'publishing'")
                .bind(row.target.0)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(holder) = holder {
            tracing::warn!(
                target = %row.target,
                holder = holder.as_deref().unwrap_or("none"),
                "another instance took this target over; this instance's outcome is not written"
            );
        }
    }
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

/// The targets `publishing` now, on every instance, by account and by platform.
struct InFlight {
    accounts: HashMap<AccountId, u32>,
    providers: HashMap<Provider, u32>,
}

impl InFlight {
    /// Reads them inside the claim's transaction (from the partial index `targets_in_flight`).
    async fn read(tx: &mut Tx) -> Result<Self, StoreError> {
        let rows: Vec<(i64, String, i64)> = query_as(
            "SELECT t.account_id, a.provider, COUNT(*) FROM targets t
             JOIN accounts a ON a.id = t.account_id
             WHERE t.state = 'publishing' GROUP BY t.account_id, a.provider",
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut busy = Self {
            accounts: HashMap::new(),
            providers: HashMap::new(),
        };
        for (account, provider, count) in rows {
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            let provider: Provider = parse_stored(&provider, "provider")?;
            busy.accounts.insert(AccountId(account), count);
            *busy.providers.entry(provider).or_default() += count;
        }
        Ok(busy)
    }

    fn has_room(&self, target: &DueTarget, limits: ClaimLimits) -> bool {
        let account = self.accounts.get(&target.account).copied().unwrap_or(0);
        let provider = self.providers.get(&target.provider).copied().unwrap_or(0);
        account < limits.per_account && provider < limits.per_platform
    }

    fn platform_has_room(&self, provider: Provider, limits: ClaimLimits) -> bool {
        self.providers.get(&provider).copied().unwrap_or(0) < limits.per_platform
    }

    fn add(&mut self, target: &DueTarget) {
        *self.accounts.entry(target.account).or_default() += 1;
        *self.providers.entry(target.provider).or_default() += 1;
    }
}

/// `?, ?, …` for `n` binds.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The posts of `targets` that repeat, each once.
async fn recurring_posts(tx: &mut Tx, targets: &[DueTarget]) -> Result<Vec<PostId>, StoreError> {
    let mut posts: Vec<i64> = targets.iter().map(|t| t.post.0).collect();
    posts.sort_unstable();
    posts.dedup();
    let mut recurring = Vec::new();
    for chunk in posts.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id FROM posts WHERE recurrence IS NOT NULL AND id IN ({}) ORDER BY id",
            placeholders(chunk.len())
        );
        let mut select = query_scalar::<i64>(sql);
        for post in chunk {
            select = select.bind(*post);
        }
        recurring.extend(select.fetch_all(&mut **tx).await?.into_iter().map(PostId));
    }
    Ok(recurring)
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
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::store::test_support::group_with_two_pages;
    use crate::store::db::Backend;
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

    /// Two stores on one database, as two instances ("one", "two") would hold them, over a
    /// fresh database of this engine.
    async fn two_instances(first: &Store, dir: &tempfile::TempDir) -> (Store, Store) {
        let url = match (first.backend(), crate::test_cluster::cluster()) {
            (Backend::Postgres, Some(cluster)) => cluster.fresh_database().await,
            _ => format!("sqlite://{}", dir.path().join("shared.db").display()),
        };
        let key = crate::crypto::MasterKey::generate();
        let one = Store::open(&url, crate::crypto::Sealer::new(key.clone()))
            .await
            .unwrap();
        let two = Store::open(&url, crate::crypto::Sealer::new(key)).await.unwrap();
        let lease = std::time::Duration::from_secs(600);
        one.register_instance("one", "test one", lease).await.unwrap();
        one.register_instance("two", "test two", lease).await.unwrap();
        (one.owned_by("one"), two.owned_by("two"))
    }

    async fn due_posts(store: &Store, count: usize, now: DateTime<Utc>) -> Vec<AccountId> {
        let (author, chat, accounts) = group_with_two_pages(store, now).await;
        for n in 0..count {
            store
                .insert_post(
                    NewPost {
                        chat,
                        author,
                        body: format!("post {n}"),
                        due_at: now - Duration::seconds(1),
                        recurrence: None,
                        time_zone: chrono_tz::UTC,
                        targets: accounts.clone(),
                        variants: Vec::new(),
                        media: vec![],
                        threads: vec![],
                    },
                    now,
                )
                .await
                .unwrap();
        }
        accounts
    }

    #[tokio::test]
    async fn a_claim_records_its_instance_and_only_that_instance_writes_the_outcome() {
        let (first, dir) = temp_store().await;
        let (one, two) = two_instances(&first, &dir).await;
        let now = Utc::now();
        due_posts(&one, 1, now).await;
        let claimed = one.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert_eq!(one.owned_in_flight().await.unwrap().len(), 2);
        assert!(two.owned_in_flight().await.unwrap().is_empty());
        // Another instance's outcome for them is refused and changes nothing.
        two.mark_published(claimed[0].id, "999", None, now).await.unwrap();
        two.requeue(claimed[1].id, now, "503", now).await.unwrap();
        assert_eq!(one.owned_in_flight().await.unwrap().len(), 2);
        // The owner's is written.
        one.mark_published(claimed[0].id, "1", None, now).await.unwrap();
        let states = one.targets_of_post(claimed[0].post).await.unwrap();
        assert_eq!(
            (states[0].1, states[0].2.as_deref(), states[1].1),
            (TargetState::Published, Some("1"), TargetState::Publishing)
        );
        // Once a peer takes "one" over, its targets are the taker's, and "one" claims no more.
        assert_eq!(
            two.claim_departure("one", "two").await.unwrap(),
            Some(vec![claimed[1].id])
        );
        assert_eq!(two.claim_departure("one", "two").await.unwrap(), None, "once");
        one.mark_failed(claimed[1].id, "late", now).await.unwrap();
        assert_eq!(two.owned_in_flight().await.unwrap()[0].id, claimed[1].id);
        due_posts(&two, 1, now).await;
        assert!(one.claim_due(now, 10).await.unwrap().is_empty());
        assert_eq!(two.claim_due(now, 10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bounds_per_account_hold_across_two_instances_claiming_at_once() {
        let (first, dir) = temp_store().await;
        let (one, two) = two_instances(&first, &dir).await;
        let now = Utc::now();
        due_posts(&one, 15, now).await;
        let limits = ClaimLimits {
            most: 3,
            per_account: 2,
            per_platform: 3,
        };
        let most_per_account = |store: Store| async move {
            let counts: Vec<i64> = query_scalar(
                "SELECT COUNT(*) FROM targets WHERE state = 'publishing' GROUP BY account_id",
            )
            .fetch_all(&store.pool)
            .await
            .unwrap();
            let platform: i64 = counts.iter().sum();
            (counts.into_iter().max().unwrap_or(0), platform)
        };
        let work = |store: Store| async move {
            let mut published = 0;
            let mut seen = (0, 0);
            while published < 15 {
                let claim = store.claim(Utc::now(), limits).await.unwrap();
                let (account, platform) = most_per_account(store.clone()).await;
                seen = (seen.0.max(account), seen.1.max(platform));
                for target in &claim.targets {
                    tokio::task::yield_now().await;
                    store
                        .mark_published(target.id, &format!("r{}", target.id), None, Utc::now())
                        .await
                        .unwrap();
                }
                published += claim.targets.len();
                if claim.targets.is_empty() {
                    tokio::task::yield_now().await;
                    if store.count_targets(TargetState::Queued).await.unwrap() == 0 {
                        break;
                    }
                }
            }
            seen
        };
        let (a, b) = tokio::join!(
            tokio::spawn(work(one.clone())),
            tokio::spawn(work(two.clone()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.0 <= 2 && b.0 <= 2, "per account: {a:?} {b:?}");
        assert!(a.1 <= 3 && b.1 <= 3, "per platform: {a:?} {b:?}");
        assert_eq!(one.count_targets(TargetState::Published).await.unwrap(), 30);
    }

    #[tokio::test]
    async fn a_platform_at_its_bound_is_not_read_past_row_by_row() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        due_posts(&store, 50, now).await;
        let limits = ClaimLimits {
            most: 10,
            per_account: 2,
            per_platform: 3,
        };
        let first = store.claim(now, limits).await.unwrap();
        assert_eq!(first.targets.len(), 3);
        // Every due target is a Facebook Page's, and Facebook is full: nothing is read.
        let second = store.claim(now, limits).await.unwrap();
        assert!(second.targets.is_empty());
        assert_eq!(second.held_back, 0, "no row was looked at");
        store
            .mark_published(first.targets[0].id, "r1", None, now)
            .await
            .unwrap();
        assert_eq!(store.claim(now, limits).await.unwrap().targets.len(), 1);
    }

    #[tokio::test]
    async fn a_rate_window_one_instance_learned_holds_the_others_claims_back_uncounted() {
        let (first, dir) = temp_store().await;
        let (one, two) = two_instances(&first, &dir).await;
        let now = Utc::now();
        due_posts(&one, 1, now).await;
        let reset = now + Duration::minutes(15);
        one.close_rate_window(Provider::FacebookPage, "p1", reset)
            .await
            .unwrap();
        // An earlier reset learned later does not reopen it.
        one.close_rate_window(Provider::FacebookPage, "p1", now + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(
            two.rate_window(Provider::FacebookPage, "p1", now)
                .await
                .unwrap()
                .map(|r| r.timestamp_millis()),
            Some(reset.timestamp_millis())
        );
        let claim = two.claim(now, ClaimLimits::unbounded(10)).await.unwrap();
        assert_eq!((claim.targets.len(), claim.deferred), (1, 1));
        assert_eq!(claim.targets[0].account_remote_id, "p2");
        let rows = two.queued_posts(claim.targets[0].chat).await.unwrap();
        assert_eq!(rows[0].retrying.len(), 0, "a held-back target counts no attempt");
        assert_eq!(
            two.next_due_at().await.unwrap().map(|d| d.timestamp_millis()),
            Some(reset.timestamp_millis())
        );
        assert_eq!(
            two.claim(reset, ClaimLimits::unbounded(10))
                .await
                .unwrap()
                .targets[0]
                .attempts,
            1
        );
    }
}
