//! The audit log of security events. Details never hold secrets.

use chrono::{DateTime, Utc};

use super::db::{query, query_as};
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::domain::{AccountId, GrantId, UserId};

macro_rules! named_audit_kinds {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// What happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AuditKind { $($(#[$doc])* $variant,)* }

        impl AuditKind {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(AuditKind::$variant => $text,)* }
            }
        }

        impl std::str::FromStr for AuditKind {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok(AuditKind::$variant),)* _ => Err(()) }
            }
        }
    };
}

named_audit_kinds! {
    /// An account was linked through OAuth.
    AccountLinked = "account_linked",
    /// A token was refreshed at the platform.
    TokenRefreshed = "token_refreshed",
    /// A token was revoked at the platform (disconnect, deletion, deauthorize).
    TokenRevoked = "token_revoked",
    /// A user exported their data.
    DataExported = "data_exported",
    /// A user was erased.
    UserDeleted = "user_deleted",
    /// Every stored secret was re-sealed under a new master key.
    KeyRotated = "key_rotated",
    /// A token refresh was refused by the platform (the account needs reconnecting).
    RefreshFailed = "refresh_failed",
    /// The platform could not be reached to revoke a token; it is retried later.
    RevokeFailed = "revoke_failed",
    /// The operator exported a person's data on request (`autopost export`).
    OperatorExport = "operator_export",
    /// The operator erased a person on request (`autopost erase`).
    OperatorErasure = "operator_erasure",
    /// Meta told autopost a person removed the app (deauthorize callback).
    MetaDeauthorized = "meta_deauthorized",
    /// Meta asked autopost to delete a person's data (data-deletion callback).
    MetaDataDeletion = "meta_data_deletion",
    /// A person agreed to the privacy policy and confirmed they are 18 or older.
    PolicyAgreed = "policy_agreed",
}

/// One recorded security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: AuditKind,
    /// Whose data it concerned, while they exist.
    pub user: Option<UserId>,
    /// Which account, while it exists.
    pub account: Option<AccountId>,
    /// Human detail without secrets (an account name, a key id).
    pub detail: String,
}

struct AuditRow {
    at: i64,
    kind: String,
    user_id: Option<i64>,
    account_id: Option<i64>,
    detail: String,
}

super::db::named_record!(AuditRow {
    at,
    kind,
    user_id,
    account_id,
    detail
});

impl Store {
    /// Appends a security event.
    pub async fn record_audit(
        &self,
        kind: AuditKind,
        user: Option<UserId>,
        account: Option<AccountId>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO audit_events (at, user_id, account_id, kind, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(to_millis(now))
        .bind(user.map(|u| u.0))
        .bind(account.map(|a| a.0))
        .bind(kind.as_str())
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every event, oldest first; `user` narrows to one person's.
    pub async fn audit_events(&self, user: Option<UserId>) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = query_as(
            "SELECT at, kind, user_id, account_id, detail FROM audit_events
             WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id",
        )
        .bind(user.map(|u| u.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditEvent {
                    at: from_millis(r.at)?,
                    kind: parse_stored(&r.kind, "audit kind")?,
                    user: r.user_id.map(UserId),
                    account: r.account_id.map(AccountId),
                    detail: r.detail,
                })
            })
            .collect()
    }
}

/// One event of the security log as the operator reads it: who and which account by name,
/// while they exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: AuditKind,
    /// The person as `PLATFORM:ID`, while they exist.
    pub user: Option<String>,
    /// The account's name, while it exists.
    pub account: Option<String>,
    /// Detail without secrets.
    pub detail: String,
}

struct LoggedRow {
    at: i64,
    kind: String,
    user_ref: Option<String>,
    account: Option<String>,
    detail: String,
}

super::db::named_record!(LoggedRow {
    at,
    kind,
    user_ref,
    account,
    detail
});

impl Store {
    /// Appends a security event about a grant, attributed to the person who gave it (none
    /// if the grant is gone).
    pub async fn record_grant_audit(
        &self,
        kind: AuditKind,
        grant: GrantId,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO audit_events (at, user_id, kind, detail)
             VALUES (?, (SELECT owner_id FROM grants WHERE id = ?), ?, ?)",
        )
        .bind(to_millis(now))
        .bind(grant.0)
        .bind(kind.as_str())
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The security log, oldest first: `user` narrows it to one person's events, `since` to
    /// those at or after an instant.
    pub async fn security_log(
        &self,
        user: Option<UserId>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let rows: Vec<LoggedRow> = query_as(
            "SELECT e.at, e.kind, u.platform || ':' || u.remote_id AS user_ref,
                    a.display_name AS account, e.detail
             FROM audit_events e
             LEFT JOIN users u ON u.id = e.user_id
             LEFT JOIN accounts a ON a.id = e.account_id
             WHERE (?1 IS NULL OR e.user_id = ?1) AND (?2 IS NULL OR e.at >= ?2)
             ORDER BY e.at, e.id",
        )
        .bind(user.map(|u| u.0))
        .bind(since.map(to_millis))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LoggedEvent {
                    at: from_millis(r.at)?,
                    kind: parse_stored(&r.kind, "audit kind")?,
                    user: r.user_ref,
                    account: r.account,
                    detail: r.detail,
                })
            })
            .collect()
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::ChatPlatform;
    use crate::store::test_support::group_with_two_pages;

    #[tokio::test]
    async fn the_security_log_names_people_and_accounts_while_they_exist() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, _chat, accounts) = group_with_two_pages(&store, now).await;
        let other = store
            .upsert_user(ChatPlatform::Discord, "77", None, now)
            .await
            .unwrap()
            .id;
        let grant = store.grants_of_user(author).await.unwrap()[0].0;
        let later = now + chrono::Duration::seconds(1);
        store
            .record_audit(AuditKind::TokenRefreshed, Some(author), Some(accounts[1]), "r", later)
            .await
            .unwrap();
        store
            .record_audit(AuditKind::DataExported, Some(other), None, "e", later)
            .await
            .unwrap();
        store
            .record_grant_audit(AuditKind::RevokeFailed, grant, "g", later)
            .await
            .unwrap();
        store
            .record_grant_audit(AuditKind::TokenRevoked, GrantId(999), "gone", later)
            .await
            .unwrap();

        let mine = store.audit_events(Some(author)).await.unwrap();
        assert_eq!(mine.len(), 4, "the two links, the refresh and the grant's event");
        assert!(mine.iter().all(|e| e.user == Some(author)));
        assert_eq!(store.audit_events(None).await.unwrap().len(), 6);

        let log = store.security_log(None, Some(later)).await.unwrap();
        let seen: Vec<_> = log
            .iter()
            .map(|e| (e.kind, e.user.as_deref(), e.account.as_deref(), e.detail.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (AuditKind::TokenRefreshed, Some("telegram:1"), Some("Page 2"), "r"),
                (AuditKind::DataExported, Some("discord:77"), None, "e"),
                (AuditKind::RevokeFailed, Some("telegram:1"), None, "g"),
                (AuditKind::TokenRevoked, None, None, "gone"),
            ]
        );
        let theirs = store.security_log(Some(other), None).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(store.security_log(None, None).await.unwrap().len(), 6);
    }
}
