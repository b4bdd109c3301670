//! Consent to the privacy policy: the age confirmation and agreement that open autopost to
//! a person, and each newer version they were told about. Every change is also a row of
//! `consents`, the history an export shows.

use chrono::{DateTime, Utc};

use super::db::{query, query_as};
use super::{Store, StoreError, to_millis};
use crate::domain::UserId;
use crate::store::AuditKind;

/// What a person did about a policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAction {
    /// Confirmed they are 18 or older and agreed to it.
    Agreed,
    /// Were told that it replaced the version they had agreed to.
    Notified,
}

impl ConsentAction {
    fn as_str(self) -> &'static str {
        match self {
            ConsentAction::Agreed => "agreed",
            ConsentAction::Notified => "notified",
        }
    }
}

impl Store {
    /// Records `action` for `version` in one transaction: the person's standing, the
    /// history row and, for an agreement, the audit event. The age confirmation keeps its
    /// first date; the version never goes down.
    pub async fn record_consent(
        &self,
        user: UserId,
        version: u32,
        action: ConsentAction,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = to_millis(now);
        let mut tx = self.pool.begin_write().await?;
        let confirmed_at = (action == ConsentAction::Agreed).then_some(at);
        let done = query(
            "UPDATE users SET
                 adult_confirmed_at = COALESCE(adult_confirmed_at, ?1),
                 accepted_policy_version = CASE
                     WHEN COALESCE(accepted_policy_version, 0) > ?2 THEN accepted_policy_version
                     ELSE ?2
                 END
             WHERE id = ?3",
        )
        .bind(confirmed_at)
        .bind(i64::from(version))
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "user" });
        }
        query("INSERT INTO consents (user_id, policy_version, action, at) VALUES (?, ?, ?, ?)")
            .bind(user.0)
            .bind(i64::from(version))
            .bind(action.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        if action == ConsentAction::Agreed {
            query("INSERT INTO audit_events (at, user_id, kind, detail) VALUES (?, ?, ?, ?)")
                .bind(at)
                .bind(user.0)
                .bind(AuditKind::PolicyAgreed.as_str())
                .bind(format!(
                    "agreed to policy version {version}, confirmed 18 or older"
                ))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The consent history of `user`, oldest first: `(version, action, at)`.
    pub async fn consents_of(
        &self,
        user: UserId,
    ) -> Result<Vec<(u32, String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(i64, String, i64)> = query_as(
            "SELECT policy_version, action, at FROM consents WHERE user_id = ? ORDER BY id",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(version, action, at)| {
                let version = u32::try_from(version)
                    .map_err(|_| StoreError::Corrupt(format!("policy version {version}")))?;
                Ok((version, action, super::from_millis(at)?))
            })
            .collect()
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::ChatPlatform;

    #[tokio::test]
    async fn agreeing_confirms_the_age_once_and_notices_only_raise_the_version() {
        let (store, _dir) = temp_store().await;
        let first = Utc::now();
        let alice = store
            .upsert_user(ChatPlatform::Telegram, "42", Some("alice"), first)
            .await
            .unwrap();
        assert_eq!(alice.adult_confirmed_at, None);
        store
            .record_consent(alice.id, 1, ConsentAction::Agreed, first)
            .await
            .unwrap();
        let later = first + chrono::Duration::days(30);
        store
            .record_consent(alice.id, 2, ConsentAction::Notified, later)
            .await
            .unwrap();
        store
            .record_consent(alice.id, 1, ConsentAction::Agreed, later)
            .await
            .unwrap();
        let user = store.user(alice.id).await.unwrap();
        assert_eq!(
            user.adult_confirmed_at.map(|t| t.timestamp_millis()),
            Some(first.timestamp_millis())
        );
        assert_eq!(user.accepted_policy_version, Some(2));
        let history: Vec<(u32, String)> = store
            .consents_of(alice.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(v, a, _)| (v, a))
            .collect();
        assert_eq!(
            history,
            vec![
                (1, "agreed".to_owned()),
                (2, "notified".to_owned()),
                (1, "agreed".to_owned())
            ]
        );
        let agreed = store.audit_events(Some(alice.id)).await.unwrap();
        assert_eq!(agreed.len(), 2);
        assert!(agreed.iter().all(|e| e.kind == AuditKind::PolicyAgreed));
        assert!(matches!(
            store
                .record_consent(UserId(999), 1, ConsentAction::Agreed, later)
                .await,
            Err(StoreError::NotFound { what: "user" })
        ));
        assert!(store.consents_of(UserId(999)).await.unwrap().is_empty());
    }
}
