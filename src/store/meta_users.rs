//! What autopost holds about one Meta user, found by the app-scoped id Meta's callbacks name
//! (the `remote_user_id` of their grants): revoked with tokens erased when they remove the
//! app, erased whole when they ask for deletion, and the record each deletion request leaves
//! for its status page, which holds counts only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::AuditKind;
use super::db::{Tx, query, query_scalar};
use super::privacy::revoke_rows;
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{AccountId, ChatId, GrantId, Provider, UserId};

/// An account whose access the Meta user removed, with the chats it posted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAccount {
    /// The account.
    pub id: AccountId,
    /// A Facebook Page or an Instagram account.
    pub provider: Provider,
    /// Its name or @handle, for telling its chats.
    pub display_name: String,
    /// The chats it posted for.
    pub chats: Vec<ChatId>,
}

/// What revoking a Meta user's grants did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaRevocation {
    /// The people who had linked the Meta user's accounts (usually one).
    pub owners: Vec<UserId>,
    /// Grants revoked now (those revoked before are left as they were).
    pub grants: usize,
    /// Their accounts, now revoked.
    pub accounts: Vec<RevokedAccount>,
}

/// What a data-deletion request erased: counts only, so that neither the stored record nor
/// the status page says anything about the person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionSummary {
    /// Authorizations (with their tokens).
    pub grants: u64,
    /// Facebook Pages.
    pub facebook_pages: u64,
    /// Instagram accounts.
    pub instagram_accounts: u64,
    /// Links between those accounts and chats.
    pub chat_links: u64,
    /// Posts' entries for those accounts: queued ones and the record of published ones.
    pub targets: u64,
    /// Chat notifications that named those accounts.
    pub notifications: u64,
    /// Security-log entries about those accounts.
    pub audit_events: u64,
}

impl DeletionSummary {
    /// Whether autopost held nothing for the person.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// All linked accounts, of both kinds.
    pub fn accounts(&self) -> u64 {
        self.facebook_pages + self.instagram_accounts
    }
}

/// What erasing a Meta user did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaErasure {
    /// The counts recorded with the deletion request.
    pub summary: DeletionSummary,
    /// The people who had linked the Meta user's accounts.
    pub owners: Vec<UserId>,
    /// Each chat that lost accounts, with how many.
    pub chats: Vec<(ChatId, usize)>,
}

/// A recorded deletion request, for its status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRequest {
    /// When the request came.
    pub requested_at: DateTime<Utc>,
    /// When the erasure was done.
    pub completed_at: Option<DateTime<Utc>>,
    /// What was erased.
    pub summary: DeletionSummary,
}

/// A grant of the Meta user and who gave it.
struct MetaGrant {
    id: GrantId,
    owner: UserId,
}

/// Every grant given for the Meta user `meta_user` (any state unless `active_only`), oldest
/// first.
async fn grants_of(
    tx: &mut Tx,
    meta_user: &str,
    active_only: bool,
) -> Result<Vec<MetaGrant>, StoreError> {
    let rows = query(
        "SELECT id, owner_id FROM grants
         WHERE platform = 'meta' AND remote_user_id = ? AND (? = 0 OR state != 'revoked')
         ORDER BY id",
    )
    .bind(meta_user)
    .bind(active_only)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .iter()
        .map(|r| MetaGrant {
            id: GrantId(r.get("id")),
            owner: UserId(r.get("owner_id")),
        })
        .collect())
}

/// The accounts of `grant` with the chats each posts for.
async fn accounts_of(
    tx: &mut Tx,
    grant: GrantId,
) -> Result<Vec<(RevokedAccount, String)>, StoreError> {
    let rows = query(
        "SELECT id, provider, remote_id, display_name FROM accounts WHERE grant_id = ? ORDER BY id",
    )
    .bind(grant.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = AccountId(row.get("id"));
        let chats: Vec<i64> =
            query_scalar("SELECT chat_id FROM chat_accounts WHERE account_id = ? ORDER BY chat_id")
                .bind(id.0)
                .fetch_all(&mut **tx)
                .await?;
        accounts.push((
            RevokedAccount {
                id,
                provider: parse_stored(row.get::<&str, _>("provider"), "provider")?,
                display_name: row.get("display_name"),
                chats: chats.into_iter().map(ChatId).collect(),
            },
            row.get("remote_id"),
        ));
    }
    Ok(accounts)
}

/// The distinct owners of `grants`, in order.
fn owners_of(grants: &[MetaGrant]) -> Vec<UserId> {
    let mut owners: Vec<UserId> = grants.iter().map(|g| g.owner).collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

async fn insert_audit(
    tx: &mut Tx,
    kind: AuditKind,
    user: Option<UserId>,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    query("INSERT INTO audit_events (at, user_id, kind, detail) VALUES (?, ?, ?, ?)")
        .bind(to_millis(now))
        .bind(user.map(|u| u.0))
        .bind(kind.as_str())
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The Meta user `meta_user` removed the app: in one transaction, marks each of their
    /// grants not yet revoked (and its accounts) revoked with its tokens erased, and records
    /// a `meta_deauthorized` audit event for each person who had linked them (one without a
    /// person when autopost held no active grant). The id itself is stored nowhere new.
    pub async fn revoke_meta_user(
        &self,
        meta_user: &str,
        now: DateTime<Utc>,
    ) -> Result<MetaRevocation, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let grants = grants_of(&mut tx, meta_user, true).await?;
        let mut revoked = MetaRevocation {
            owners: owners_of(&grants),
            grants: grants.len(),
            accounts: Vec::new(),
        };
        for grant in &grants {
            revoked.accounts.extend(
                accounts_of(&mut tx, grant.id)
                    .await?
                    .into_iter()
                    .map(|(account, _)| account),
            );
            revoke_rows(&mut tx, grant.id).await?;
        }
        for owner in &revoked.owners {
            let theirs = grants.iter().filter(|g| g.owner == *owner).count();
            let accounts: i64 = query_scalar(
                "SELECT COUNT(*) FROM accounts a JOIN grants g ON g.id = a.grant_id
                 WHERE g.platform = 'meta' AND g.remote_user_id = ? AND g.owner_id = ?",
            )
            .bind(meta_user)
            .bind(owner.0)
            .fetch_one(&mut *tx)
            .await?;
            let detail = format!(
                "the app was removed at Meta: {theirs} grant(s) and {accounts} account(s) revoked, tokens erased"
            );
            insert_audit(
                &mut tx,
                AuditKind::MetaDeauthorized,
                Some(*owner),
                &detail,
                now,
            )
            .await?;
        }
        if grants.is_empty() {
            insert_audit(
                &mut tx,
                AuditKind::MetaDeauthorized,
                None,
                "the app was removed at Meta by someone with no active grant here",
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// The Meta user `meta_user` asked for their data to be deleted: in one transaction,
    /// erases their grants and accounts (and with them the accounts' chat links and
    /// targets), the audit events about those accounts and the notifications naming them;
    /// closes posts left with nothing to send; records the request under
    /// `confirmation_code` with what was erased, and a `meta_data_deletion` audit event for
    /// each person who had linked them (one without a person when nothing was held).
    pub async fn erase_meta_user(
        &self,
        meta_user: &str,
        confirmation_code: &str,
        now: DateTime<Utc>,
    ) -> Result<MetaErasure, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let grants = grants_of(&mut tx, meta_user, false).await?;
        let mut summary = DeletionSummary {
            grants: grants.len() as u64,
            ..DeletionSummary::default()
        };
        let mut chats: Vec<(ChatId, usize)> = Vec::new();
        let mut posts: Vec<i64> = Vec::new();
        for grant in &grants {
            for (account, remote_id) in accounts_of(&mut tx, grant.id).await? {
                match account.provider {
                    Provider::Instagram => summary.instagram_accounts += 1,
                    // A Meta grant reaches Pages and Instagram accounts only.
                    Provider::FacebookPage | Provider::X => summary.facebook_pages += 1,
                }
                summary.chat_links += account.chats.len() as u64;
                for chat in &account.chats {
                    match chats.iter_mut().find(|(c, _)| c == chat) {
                        Some((_, n)) => *n += 1,
                        None => chats.push((*chat, 1)),
                    }
                }
                let targets: Vec<i64> =
                    query_scalar("SELECT post_id FROM targets WHERE account_id = ?")
                        .bind(account.id.0)
                        .fetch_all(&mut *tx)
                        .await?;
                summary.targets += targets.len() as u64;
                posts.extend(targets);
                summary.audit_events += query("DELETE FROM audit_events WHERE account_id = ?")
                    .bind(account.id.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                summary.notifications +=
                    erase_notifications_naming(&mut tx, &[&account.display_name, &remote_id])
                        .await?;
            }
            // The person removed the app at Meta, so a token still waiting to be revoked is
            // dead there too: its sealed copy goes with everything else.
            query("DELETE FROM pending_revocations WHERE grant_id = ?")
                .bind(grant.id.0)
                .execute(&mut *tx)
                .await?;
            // Cascades to the accounts, their chat links and their targets.
            query("DELETE FROM grants WHERE id = ?")
                .bind(grant.id.0)
                .execute(&mut *tx)
                .await?;
        }
        posts.sort_unstable();
        posts.dedup();
        for post in posts {
            // A post with other accounts still pending goes on; one with nothing left pending
            // is closed, as `done` if other targets finished, or `cancelled` if it has no
            // target left at all (nothing of it remains for /history to show).
            query(
                "UPDATE posts SET updated_at = ?1,
                     state = CASE WHEN EXISTS (SELECT 1 FROM targets WHERE post_id = ?2)
                                  THEN 'done' ELSE 'cancelled' END
                 WHERE id = ?2 AND state = 'scheduled' AND NOT EXISTS (
                     SELECT 1 FROM targets WHERE post_id = ?2 AND state IN ('queued', 'publishing'))",
            )
            .bind(to_millis(now))
            .bind(post)
            .execute(&mut *tx)
            .await?;
        }
        let stored = serde_json::to_string(&summary)
            .map_err(|e| StoreError::Corrupt(format!("deletion summary: {e}")))?;
        query(
            "INSERT INTO deletion_requests (confirmation_code, source, summary, requested_at, completed_at)
             VALUES (?, 'meta', ?, ?, ?)",
        )
        .bind(confirmation_code)
        .bind(stored)
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        let owners = owners_of(&grants);
        let detail = format!(
            "Meta asked for a person's data to be deleted: {} grant(s), {} account(s), {} chat link(s), {} target(s) erased",
            summary.grants,
            summary.accounts(),
            summary.chat_links,
            summary.targets
        );
        for owner in &owners {
            insert_audit(
                &mut tx,
                AuditKind::MetaDataDeletion,
                Some(*owner),
                &detail,
                now,
            )
            .await?;
        }
        if owners.is_empty() {
            insert_audit(
                &mut tx,
                AuditKind::MetaDataDeletion,
                None,
                "Meta asked for a person's data to be deleted; autopost held none",
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(MetaErasure {
            summary,
            owners,
            chats,
        })
    }

    /// The deletion request recorded under `confirmation_code`, if any.
    pub async fn deletion_request(
        &self,
        confirmation_code: &str,
    ) -> Result<Option<DeletionRequest>, StoreError> {
        let Some(row) = query(
            "SELECT summary, requested_at, completed_at FROM deletion_requests
             WHERE confirmation_code = ?",
        )
        .bind(confirmation_code)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let summary = serde_json::from_str(row.get("summary"))
            .map_err(|e| StoreError::Corrupt(format!("deletion summary: {e}")))?;
        Ok(Some(DeletionRequest {
            requested_at: from_millis(row.get("requested_at"))?,
            completed_at: row
                .get::<Option<i64>, _>("completed_at")
                .map(from_millis)
                .transpose()?,
            summary,
        }))
    }
}

/// Deletes the notifications whose stored text contains any of `terms` (an account's name
/// and id), delivered or not; returns how many. The terms are matched as they appear inside
/// the stored JSON, escapes included.
async fn erase_notifications_naming(tx: &mut Tx, terms: &[&str]) -> Result<u64, StoreError> {
    let mut erased = 0;
    for term in terms {
        let Ok(quoted) = serde_json::to_string(term) else {
            continue;
        };
        // `"name"` → `name`, escaped as the payload holds it.
        let inner = &quoted[1..quoted.len() - 1];
        if inner.is_empty() {
            continue;
        }
        // `replace` finds a substring on both engines (SQLite has no `strpos`, PostgreSQL
        // no `instr`), and no character of the term is a wildcard, as in LIKE.
        erased += query("DELETE FROM notifications WHERE replace(payload, ?, '') != payload")
            .bind(inner)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(erased)
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::crypto::Secret;
    use crate::domain::{AccountState, ChatKind, ChatPlatform, OAuthProvider};
    use crate::store::test_support::telegram_user_and_chat;
    use crate::store::{NewGrant, NewLinkedAccount, NewPost, Notification, NotificationKind};

    const META_USER: &str = "10158000000000001";

    /// Links a Meta grant with a Page and its Instagram account to the user's private chat and
    /// a group, and queues a post to both in the group.
    async fn linked(store: &Store) -> (UserId, ChatId, ChatId, GrantId) {
        let now = Utc::now();
        let (user, private) = telegram_user_and_chat(store, now).await;
        let group = store
            .upsert_chat(ChatPlatform::Telegram, "-7", ChatKind::Group, None, now)
            .await
            .unwrap();
        let accounts = || {
            vec![
                NewLinkedAccount {
                    provider: Provider::FacebookPage,
                    remote_id: "5550001".to_owned(),
                    display_name: "Alice's \"Bakery\"".to_owned(),
                    access_token: Some(Secret::new("page-token")),
                },
                NewLinkedAccount {
                    provider: Provider::Instagram,
                    remote_id: "17841400000000001".to_owned(),
                    display_name: "@alices_bakery".to_owned(),
                    access_token: Some(Secret::new("page-token")),
                },
            ]
        };
        let grant = || NewGrant {
            owner: user.id,
            provider: OAuthProvider::Meta,
            remote_user_id: META_USER,
            scopes: "pages_manage_posts",
            access_token: Secret::new("user-token"),
            refresh_token: None,
            expires_at: None,
        };
        let (grant_id, ids) = store
            .save_linked_grant(grant(), accounts(), private.id, now)
            .await
            .unwrap();
        store
            .save_linked_grant(grant(), accounts(), group.id, now)
            .await
            .unwrap();
        store
            .insert_post(
                NewPost {
                    chat: group.id,
                    author: user.id,
                    body: "fresh bread".to_owned(),
                    due_at: now + chrono::Duration::hours(1),
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: ids,
                    variants: Vec::new(),
                    media: vec![],
                    threads: vec![],
                },
                now,
            )
            .await
            .unwrap();
        (user.id, private.id, group.id, grant_id)
    }

    #[tokio::test]
    async fn removing_the_app_revokes_every_grant_of_that_meta_user_once() {
        let (store, _dir) = temp_store().await;
        let (user, private, group, grant) = linked(&store).await;
        let now = Utc::now();
        let revoked = store.revoke_meta_user(META_USER, now).await.unwrap();
        assert_eq!(revoked.owners, [user]);
        assert_eq!(revoked.grants, 1);
        assert_eq!(revoked.accounts.len(), 2);
        assert_eq!(revoked.accounts[0].chats, [private, group]);
        assert_eq!(
            store.grant_state(grant).await.unwrap(),
            AccountState::Revoked
        );
        assert!(store.grant_tokens(grant).await.is_err(), "tokens erased");
        for account in store.accounts_of_chat(group).await.unwrap() {
            assert_eq!(account.state, AccountState::Revoked);
            assert!(store.account_access_token(account.id).await.is_err());
        }
        let again = store.revoke_meta_user(META_USER, now).await.unwrap();
        assert_eq!(again, MetaRevocation::default(), "nothing new to revoke");
        let kinds: Vec<_> = store
            .audit_events(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditKind::MetaDeauthorized)
            .map(|e| (e.user, e.detail.contains(META_USER)))
            .collect();
        assert_eq!(kinds, [(Some(user), false), (None, false)]);
    }

    #[tokio::test]
    async fn a_deletion_request_erases_the_meta_users_accounts_and_keeps_counts_only() {
        let (store, _dir) = temp_store().await;
        let (user, _private, group, _grant) = linked(&store).await;
        let now = Utc::now();
        let naming = |text: &str| Notification {
            chat: Some(group),
            user: None,
            kind: NotificationKind::Published,
            text: text.to_owned(),
            link: None,
            target: None,
            post: None,
        };
        store
            .enqueue_notification(&naming("Post 1 is live on Alice's \"Bakery\""), now)
            .await
            .unwrap();
        store
            .enqueue_notification(&naming("Post 2 is live on @someone_else"), now)
            .await
            .unwrap();
        let erased = store.erase_meta_user(META_USER, "c0de", now).await.unwrap();
        assert_eq!(
            erased.summary,
            DeletionSummary {
                grants: 1,
                facebook_pages: 1,
                instagram_accounts: 1,
                chat_links: 4,
                targets: 2,
                notifications: 1,
                audit_events: 4,
            }
        );
        assert_eq!(erased.owners, [user]);
        assert_eq!(erased.chats.len(), 2);
        assert!(store.accounts_of_chat(group).await.unwrap().is_empty());
        assert!(store.queued_posts(group).await.unwrap().is_empty());
        let left = store.undelivered_notifications(10).await.unwrap();
        assert_eq!(left.len(), 1, "only the unrelated notice is left");
        let request = store.deletion_request("c0de").await.unwrap().unwrap();
        assert_eq!(request.summary, erased.summary);
        assert_eq!(request.completed_at, Some(request.requested_at));
        assert!(store.deletion_request("other").await.unwrap().is_none());

        let nobody = store.erase_meta_user("999", "c0de2", now).await.unwrap();
        assert!(nobody.summary.is_empty());
        let events = store.audit_events(None).await.unwrap();
        let deletions: Vec<_> = events
            .iter()
            .filter(|e| e.kind == AuditKind::MetaDataDeletion)
            .map(|e| e.user)
            .collect();
        assert_eq!(deletions, [Some(user), None]);
        assert!(events.iter().all(|e| !e.detail.contains("Bakery")));
    }
}
