//! The parts of X threads (`target_parts`): stored with the post, replaced with its text,
//! copied to a series' next occurrence, and each part's remote id recorded the instant X
//! answers, so that a thread resumes at its first unsent part and never sends one twice.

use chrono::{DateTime, Utc};

use super::db::{Record, Tx, query};
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
        let rows = query(
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
        let rows = query(
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
        query(
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

fn part_row(row: &Record) -> ThreadPart {
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
    tx: &mut Tx,
    post: PostId,
    threads: &[(AccountId, Vec<String>)],
) -> Result<(), StoreError> {
    query("DELETE FROM target_parts WHERE target_id IN (SELECT id FROM targets WHERE post_id = ?)")
        .bind(post.0)
        .execute(&mut **tx)
        .await?;
    for (account, parts) in threads {
        add_parts(tx, post, *account, parts).await?;
    }
    Ok(())
}

/// Stores the thread parts of `account`'s target of `post`. Inside the post's transaction.
pub(super) async fn add_parts(
    tx: &mut Tx,
    post: PostId,
    account: AccountId,
    parts: &[String],
) -> Result<(), StoreError> {
    for (position, body) in parts.iter().enumerate() {
        query(
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
    Ok(())
}

/// Gives a series' next occurrence (`to`, whose targets exist) the parts of `from`, unsent.
pub(super) async fn copy_parts(tx: &mut Tx, from: PostId, to: PostId) -> Result<(), StoreError> {
    query(
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

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::crypto::Secret;
    use crate::domain::{OAuthProvider, Provider, TargetState};
    use crate::recurrence::Recurrence;
    use crate::store::test_support::telegram_user_and_chat;
    use crate::store::{NewGrant, NewLinkedAccount, NewPost};

    fn thread(account: AccountId, parts: &[&str]) -> Vec<(AccountId, Vec<String>)> {
        vec![(account, parts.iter().map(|p| (*p).to_owned()).collect())]
    }

    fn bodies(parts: &[ThreadPart]) -> Vec<&str> {
        parts.iter().map(|p| p.body.as_str()).collect()
    }

    #[tokio::test]
    async fn parts_are_stored_recorded_once_replaced_on_edit_and_copied_unsent_to_the_next_occurrence()
     {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        let (_, accounts) = store
            .save_linked_grant(
                NewGrant {
                    owner: user.id,
                    provider: OAuthProvider::X,
                    remote_user_id: "u",
                    scopes: "",
                    access_token: Secret::new("t"),
                    refresh_token: None,
                    expires_at: None,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: "x1".to_owned(),
                    display_name: "@alice".to_owned(),
                    access_token: None,
                }],
                chat.id,
                now,
            )
            .await
            .unwrap();
        let account = accounts[0];
        let rule = Recurrence::from_storage("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC").unwrap();
        let post = store
            .insert_post(
                NewPost {
                    chat: chat.id,
                    author: user.id,
                    body: "one two three".to_owned(),
                    due_at: now,
                    recurrence: Some(rule.to_storage()),
                    time_zone: chrono_tz::UTC,
                    targets: vec![account],
                    media: vec![],
                    variants: vec![],
                    threads: thread(account, &["one", "two three"]),
                },
                now,
            )
            .await
            .unwrap();
        let stored = store.threads_of_post(post).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(bodies(&stored[0].1), ["one", "two three"]);

        // An edit before anything went out replaces the parts with the post's text.
        let update = super::super::PostUpdate {
            body: Some("a b c".to_owned()),
            due: Some((now, Some(rule.to_storage()))),
            media: None,
            threads: Some(thread(account, &["a", "b", "c"])),
        };
        assert!(matches!(
            store.update_post(post, &update, now).await.unwrap(),
            super::super::Updated::Changed { .. }
        ));
        assert_eq!(
            bodies(&store.threads_of_post(post).await.unwrap()[0].1),
            ["a", "b", "c"]
        );

        // Claimed: the first part's id is kept once, whatever comes later.
        let claimed = store.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let target = claimed[0].id;
        store
            .record_part(
                target,
                0,
                "111",
                Some("https://x.com/i/web/status/111"),
                now,
            )
            .await
            .unwrap();
        store
            .record_part(target, 0, "999", None, now)
            .await
            .unwrap();
        let parts = store.parts_of_target(target).await.unwrap();
        assert_eq!(parts[0].remote_id.as_deref(), Some("111"));
        assert_eq!(
            parts[0].remote_url.as_deref(),
            Some("https://x.com/i/web/status/111")
        );
        assert!(parts[1..].iter().all(|p| p.remote_id.is_none()));

        // The series' next occurrence has the same parts, none sent.
        let (next, series) = store.series_occurrence(post).await.unwrap();
        assert_eq!(series, post);
        assert_ne!(next, post);
        let copied = store.threads_of_post(next).await.unwrap();
        assert_eq!(copied[0].0, account);
        assert_eq!(bodies(&copied[0].1), ["a", "b", "c"]);
        assert!(copied[0].1.iter().all(|p| p.remote_id.is_none()));
        let states = store.targets_of_post(next).await.unwrap();
        assert_eq!(states[0].1, TargetState::Queued);
    }
}
