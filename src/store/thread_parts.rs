//! The parts of X threads (`target_parts`): stored with the post, replaced with its text,
//! copied to a series' next occurrence, and each part's remote id recorded the instant X
//! answers, so that a thread resumes at its first unsent part and never sends one twice.

use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, Transaction};

use super::{Store, StoreError, to_millis};
use crate::domain::{AccountId, PostId, TargetId};

/// One part of a thread, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPart {
    /// 0 for the first part.
    pub position: usize,
    /// What the part says, numbering included.
    pub body: String,
    /// The platform's id, once the part is live.
    pub remote_id: Option<String>,
    /// Its link, once live.
    pub remote_url: Option<String>,
}

impl Store {
    /// A target's thread parts in order; empty for a target that is one post.
    pub async fn parts_of_target(&self, target: TargetId) -> Result<Vec<ThreadPart>, StoreError> {
        let rows = sqlx::query(
            "SELECT position, body, remote_id, remote_url FROM target_parts
             WHERE target_id = ? ORDER BY position",
        )
        .bind(target.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(part_row).collect())
    }

    /// The thread of each of a post's targets that has one, by account, parts in order.
    pub async fn threads_of_post(
        &self,
        post: PostId,
    ) -> Result<Vec<(AccountId, Vec<ThreadPart>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.account_id, p.position, p.body, p.remote_id, p.remote_url
             FROM target_parts p JOIN targets t ON t.id = p.target_id
             WHERE t.post_id = ? ORDER BY t.id, p.position",
        )
        .bind(post.0)
        .fetch_all(&self.pool)
        .await?;
        let mut threads: Vec<(AccountId, Vec<ThreadPart>)> = Vec::new();
        for row in &rows {
            let account = AccountId(row.get("account_id"));
            let part = part_row(row);
            match threads.last_mut() {
                Some((last, parts)) if *last == account => parts.push(part),
                _ => threads.push((account, vec![part])),
            }
        }
        Ok(threads)
    }

    /// Records that a part is live. Called the instant its create call returns (or
    /// reconciliation finds it), whatever state the target is in: the part exists at the
    /// platform, and forgetting it would send it again. A part already recorded keeps its id.
    pub async fn record_part(
        &self,
        target: TargetId,
        position: usize,
        remote_id: &str,
        url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE target_parts SET remote_id = ?, remote_url = ?, published_at = ?
             WHERE target_id = ? AND position = ? AND remote_id IS NULL",
        )
        .bind(remote_id)
        .bind(url)
        .bind(to_millis(now))
        .bind(target.0)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn part_row(row: &sqlx::sqlite::SqliteRow) -> ThreadPart {
    ThreadPart {
        position: usize::try_from(row.get::<i64, _>("position")).unwrap_or(0),
        body: row.get("body"),
        remote_id: row.get("remote_id"),
        remote_url: row.get("remote_url"),
    }
}

/// Stores the thread parts of `post`'s targets, replacing any: for each account in
/// `threads`, the parts of that account's target. Inside the post's own transaction.
pub(super) async fn replace_parts(
    tx: &mut Transaction<'_, Sqlite>,
    post: PostId,
    threads: &[(AccountId, Vec<String>)],
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM target_parts WHERE target_id IN (SELECT id FROM targets WHERE post_id = ?)",
    )
    .bind(post.0)
    .execute(&mut **tx)
    .await?;
    for (account, parts) in threads {
        for (position, body) in parts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO target_parts (target_id, position, body)
                 SELECT id, ?, ? FROM targets WHERE post_id = ? AND account_id = ?",
            )
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(body)
            .bind(post.0)
            .bind(account.0)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Gives a series' next occurrence (`to`, whose targets exist) the parts of `from`, unsent.
pub(super) async fn copy_parts(
    tx: &mut Transaction<'_, Sqlite>,
    from: PostId,
    to: PostId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO target_parts (target_id, position, body)
         SELECT new.id, p.position, p.body FROM target_parts p
         JOIN targets old ON old.id = p.target_id
         JOIN targets new ON new.post_id = ? AND new.account_id = old.account_id
         WHERE old.post_id = ?",
    )
    .bind(to.0)
    .bind(from.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
