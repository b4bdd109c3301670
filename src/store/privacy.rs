//! The privacy promises at the storage level: a person erased at once, and accounts
//! unlinked with their tokens erased. Their export is in `export.rs`.

use chrono::{DateTime, Utc};

use super::db::{Conn, query, query_scalar};
use super::{Store, StoreError, parse_stored, to_millis};
use crate::domain::{AccountId, ChatId, GrantId, OAuthProvider, Provider, UserId};

/// What [`Store::unlink_account`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    /// The grant behind the unlinked account.
    pub grant: GrantId,
    /// The accounts the grant still posts as, and where; empty once nothing uses it.
    pub still_serves: Vec<GrantUse>,
}

/// One account a grant still serves after an unlink: named as its chats see it, with how
/// many chats, and no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantUse {
    /// What kind of account.
    pub provider: Provider,
    /// Its name or @handle.
    pub account: String,
    /// Whether it still posts for the chat that unlinked (another account of the same
    /// authorization, such as a Page's Instagram account).
    pub here: bool,
    /// How many other chats it posts for.
    pub other_chats: usize,
}

impl Store {
    /// The grants `user` gave, for revoking them before erasure.
    pub async fn grants_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<(GrantId, OAuthProvider)>, StoreError> {
        let rows = query("SELECT id, platform FROM grants WHERE owner_id = ? ORDER BY id")
            .bind(user.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    GrantId(r.get("id")),
                    parse_stored(r.get::<&str, _>("platform"), "OAuth provider")?,
                ))
            })
            .collect()
    }

    /// Erases `user` and everything of theirs at once, in one transaction: grants and their
    /// accounts (and so their links and targets), posts, private chats, pending OAuth
    /// states, notifications and their audit events. One anonymous audit event records that
    /// an erasure happened. Returns the image files no remaining post uses, for removal.
    pub async fn erase_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let row = query("SELECT platform, remote_id FROM users WHERE id = ?")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "user" })?;
        let (platform, remote_id): (String, String) = (row.get("platform"), row.get("remote_id"));
        let files: Vec<String> = query_scalar(
            "SELECT DISTINCT m.file_name FROM media m JOIN posts p ON p.id = m.post_id WHERE p.author_id = ?",
        )
        .bind(user.0)
        .fetch_all(&mut *tx)
        .await?;
        // A revocation still being retried keeps its sealed token (the policy's 30 days) but
        // nothing that says whose it was or whom to tell.
        query(
            "UPDATE pending_revocations SET label = '', notify_chat_id = NULL, user_id = NULL
             WHERE user_id = ?",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        query("DELETE FROM audit_events WHERE user_id = ?")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        query("DELETE FROM users WHERE id = ?")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        query("DELETE FROM chats WHERE platform = ? AND remote_id = ? AND kind = 'private'")
            .bind(&platform)
            .bind(&remote_id)
            .execute(&mut *tx)
            .await?;
        query("INSERT INTO audit_events (at, kind, detail) VALUES (?, 'user_deleted', 'a user was erased on request')")
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
        let mut unused = Vec::new();
        for file in files {
            let still: Option<i64> =
                query_scalar("SELECT 1 FROM media WHERE file_name = ? LIMIT 1")
                    .bind(&file)
                    .fetch_optional(&mut *tx)
                    .await?;
            if still.is_none() {
                unused.push(file);
            }
        }
        tx.commit().await?;
        Ok(unused)
    }

    /// Unlinks `account` from `chat`, and says what the account's grant still serves
    /// anywhere (nothing means nobody uses it any more).
    pub async fn unlink_account(
        &self,
        chat: ChatId,
        account: AccountId,
    ) -> Result<Unlinked, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let grant: i64 = query_scalar("SELECT grant_id FROM accounts WHERE id = ?")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "account" })?;
        query("DELETE FROM chat_accounts WHERE chat_id = ? AND account_id = ?")
            .bind(chat.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        // Queued posts for this chat no longer go to the unlinked account.
        query(
            "UPDATE targets SET state = 'cancelled' WHERE account_id = ? AND state = 'queued'
             AND post_id IN (SELECT id FROM posts WHERE chat_id = ?)",
        )
        .bind(account.0)
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        let rows = query(
            "SELECT a.provider, a.display_name,
                    COUNT(*) FILTER (WHERE l.chat_id = ?) AS here,
                    COUNT(*) FILTER (WHERE l.chat_id != ?) AS elsewhere
             FROM chat_accounts l JOIN accounts a ON a.id = l.account_id
             WHERE a.grant_id = ? GROUP BY a.id ORDER BY a.id",
        )
        .bind(chat.0)
        .bind(chat.0)
        .bind(grant)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let still_serves = rows
            .iter()
            .map(|row| {
                Ok(GrantUse {
                    provider: parse_stored(row.get::<&str, _>("provider"), "provider")?,
                    account: row.get("display_name"),
                    here: row.get::<i64, _>("here") > 0,
                    other_chats: usize::try_from(row.get::<i64, _>("elsewhere")).unwrap_or(0),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Unlinked {
            grant: GrantId(grant),
            still_serves,
        })
    }

    /// Marks a grant and its accounts revoked and erases their tokens.
    pub async fn mark_grant_revoked(&self, grant: GrantId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        revoke_rows(&mut tx, grant).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Within the caller's transaction: the grant and every account of it are revoked and their
/// tokens erased. Every way a grant ends (disconnect, erasure, Meta's deauthorize) goes
/// through here.
pub(super) async fn revoke_rows(conn: &mut Conn, grant: GrantId) -> Result<(), StoreError> {
    query(
        "UPDATE grants SET state = 'revoked', access_token = NULL, refresh_token = NULL WHERE id = ?",
    )
    .bind(grant.0)
    .execute(&mut *conn)
    .await?;
    query("UPDATE accounts SET state = 'revoked', access_token = NULL WHERE grant_id = ?")
        .bind(grant.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::{ChatKind, ChatPlatform, TargetState};
    use crate::store::test_support::group_with_two_pages;
    use crate::store::{AuditKind, NewMedia, NewPost};

    #[tokio::test]
    async fn an_unlink_says_what_the_grant_still_serves_and_an_erasure_leaves_nothing() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, group, accounts) = group_with_two_pages(&store, now).await;
        let other = store
            .upsert_chat(ChatPlatform::Telegram, "-2", ChatKind::Group, None, now)
            .await
            .unwrap()
            .id;
        store.link_account(other, accounts[0], author, now).await.unwrap();
        let post = store
            .insert_post(
                NewPost {
                    chat: group,
                    author,
                    body: "hi".to_owned(),
                    due_at: now + chrono::Duration::hours(1),
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts.clone(),
                    variants: vec![],
                    threads: vec![],
                    media: vec![NewMedia {
                        content_type: "image/png".to_owned(),
                        byte_len: 3,
                        width: None,
                        height: None,
                        sha256: "00".to_owned(),
                        file_name: "x.png".to_owned(),
                        blob: None,
                    }],
                },
                now,
            )
            .await
            .unwrap();
        let grants = store.grants_of_user(author).await.unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].1, OAuthProvider::Meta);

        let unlinked = store.unlink_account(group, accounts[0]).await.unwrap();
        assert_eq!(unlinked.grant, grants[0].0);
        assert_eq!(
            unlinked.still_serves,
            [
                GrantUse {
                    provider: Provider::FacebookPage,
                    account: "Page 1".to_owned(),
                    here: false,
                    other_chats: 1,
                },
                GrantUse {
                    provider: Provider::FacebookPage,
                    account: "Page 2".to_owned(),
                    here: true,
                    other_chats: 0,
                },
            ]
        );
        let targets = store.composed_post(post).await.unwrap().unwrap().targets;
        assert_eq!(
            targets,
            [
                (accounts[0], TargetState::Cancelled),
                (accounts[1], TargetState::Queued)
            ]
        );
        assert!(matches!(
            store.unlink_account(group, AccountId(999)).await,
            Err(StoreError::NotFound { what: "account" })
        ));

        assert_eq!(store.grant_secrets(grants[0].0).await.unwrap().len(), 3);
        store.mark_grant_revoked(grants[0].0).await.unwrap();
        assert!(store.grant_secrets(grants[0].0).await.unwrap().is_empty());
        assert_eq!(store.verify_all_secrets().await.unwrap(), 0);

        store
            .record_audit(AuditKind::DataExported, Some(author), None, "export", now)
            .await
            .unwrap();
        assert_eq!(store.erase_user(author, now).await.unwrap(), ["x.png"]);
        assert!(matches!(
            store.user(author).await,
            Err(StoreError::NotFound { what: "user" })
        ));
        assert!(store.grants_of_user(author).await.unwrap().is_empty());
        assert!(store.composed_post(post).await.unwrap().is_none());
        let left = store.audit_events(None).await.unwrap();
        assert!(left.iter().all(|e| e.user.is_none()));
        assert_eq!(
            left.last().map(|e| e.kind),
            Some(AuditKind::UserDeleted)
        );
        assert!(matches!(
            store.erase_user(author, now).await,
            Err(StoreError::NotFound { what: "user" })
        ));
    }
}
