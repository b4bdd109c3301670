//! Revoking at the storage level: a grant marked revoked with its tokens erased, and, in the
//! same transaction, the tokens the platform has not confirmed revoking yet kept sealed in
//! `pending_revocations` (the row's identity as associated data) for retries.

use chrono::{DateTime, Utc};

use super::db::{query, query_scalar};
use super::notifications::insert_notification;
use super::privacy::revoke_rows;
use super::{Notification, Store, StoreError, from_millis, parse_stored, to_millis};
use crate::crypto::{Aad, Secret};
use crate::domain::{ChatId, GrantId, OAuthProvider, UserId};

/// A `pending_revocations` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevocationId(pub i64);

/// A token the platform has not confirmed revoking, opened for another try.
#[derive(Debug)]
pub struct PendingRevocation {
    /// Its row.
    pub id: RevocationId,
    /// Where the token works.
    pub provider: OAuthProvider,
    /// The token.
    pub token: Secret,
    /// The chat that asked, to be told the outcome, while it exists.
    pub chat: Option<ChatId>,
    /// What the chat calls the access ("@alice (X)"); empty once its owner was erased.
    pub label: String,
    /// Tries made after the first.
    pub attempts: u32,
}

/// A revocation given up on: whom to tell, and what about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AbandonedRevocation {
    /// Where the token worked.
    pub provider: OAuthProvider,
    /// The chat that asked, if it still exists.
    pub chat: Option<ChatId>,
    /// What the chat calls the access; empty once its owner was erased.
    pub label: String,
}

fn token_aad(id: i64) -> Aad {
    Aad::new("pending_revocations", id, "token")
}

impl Store {
    /// Marks a grant and its accounts revoked and erases their tokens; each of
    /// `unconfirmed` (tokens the platform could not be told about) is kept sealed for a retry
    /// at `retry_at`, on behalf of `owner`, with `chat` to tell and `label` to tell it with.
    /// One transaction: no moment exists with the tokens in neither place.
    #[allow(clippy::too_many_arguments)] // one row's columns; a struct would only rename them
    pub async fn revoke_grant_here(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        unconfirmed: &[Secret],
        owner: Option<UserId>,
        chat: Option<ChatId>,
        label: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        revoke_rows(&mut tx, grant).await?;
        for token in unconfirmed {
            // The row's id is its identity in the seal, so it exists first (with no token)
            // and is sealed second, before the transaction ends.
            let id: i64 = query_scalar(
                "INSERT INTO pending_revocations
                     (provider, token, grant_id, user_id, notify_chat_id, label, next_attempt_at,
                      created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(provider.as_str())
            .bind(Vec::<u8>::new())
            .bind(grant.0)
            .bind(owner.map(|u| u.0))
            .bind(chat.map(|c| c.0))
            .bind(label)
            .bind(to_millis(retry_at))
            .bind(to_millis(now))
            .fetch_one(&mut *tx)
            .await?;
            query("UPDATE pending_revocations SET token = ? WHERE id = ?")
                .bind(self.seal(token, &token_aad(id)))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revocations due by `now`, oldest first, at most `limit`, with their tokens opened.
    pub async fn due_revocations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingRevocation>, StoreError> {
        let rows = query(
            "SELECT id, provider, token, notify_chat_id, label, attempts FROM pending_revocations
             WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        )
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.get("id");
                Ok(PendingRevocation {
                    id: RevocationId(id),
                    provider: parse_stored(row.get::<&str, _>("provider"), "OAuth provider")?,
                    token: self.open_sealed(row.get::<&[u8], _>("token"), &token_aad(id))?,
                    chat: row.get::<Option<i64>, _>("notify_chat_id").map(ChatId),
                    label: row.get("label"),
                    attempts: u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// When the next pending revocation is due, if any is pending.
    pub async fn next_revocation_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = query_scalar("SELECT MIN(next_attempt_at) FROM pending_revocations")
            .fetch_one(&self.pool)
            .await?;
        at.map(from_millis).transpose()
    }

    /// How many revocations are pending (doctor, tests).
    pub async fn pending_revocation_count(&self) -> Result<usize, StoreError> {
        let count: i64 = query_scalar("SELECT COUNT(*) FROM pending_revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// The platform confirmed (or says the token was dead): the row and its sealed token
    /// go. The tokens one revocation left pending (X: access and refresh) are one matter to
    /// the chat, so `notice` is stored, in the same transaction, only when this was the last
    /// of them; returns whether it was.
    pub async fn settle_revocation(
        &self,
        id: RevocationId,
        notice: Option<&Notification>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let row = query(
            "DELETE FROM pending_revocations WHERE id = ?
             RETURNING provider, notify_chat_id, label, created_at",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Settled meanwhile (given up, or another round): nothing more to say.
            return Ok(false);
        };
        let siblings: i64 = query_scalar(
            "SELECT COUNT(*) FROM pending_revocations
             WHERE provider = ? AND notify_chat_id IS NOT DISTINCT FROM ? AND label = ? AND created_at = ?",
        )
        .bind(row.get::<&str, _>("provider"))
        .bind(row.get::<Option<i64>, _>("notify_chat_id"))
        .bind(row.get::<&str, _>("label"))
        .bind(row.get::<i64, _>("created_at"))
        .fetch_one(&mut *tx)
        .await?;
        let last = siblings == 0;
        let told = match notice {
            Some(notice) if last => {
                insert_notification(&mut tx, notice, now).await?;
                true
            }
            _ => false,
        };
        tx.commit().await?;
        if told {
            self.notification_stored();
        }
        Ok(last)
    }

    /// The platform could not be reached again: one more attempt counted, the next at `at`.
    pub async fn revocation_postponed(
        &self,
        id: RevocationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "UPDATE pending_revocations SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
        )
        .bind(to_millis(at))
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up on revocations created at or before `created_by` (the policy's 30 days):
    /// removes them, sealed tokens and all, and returns whom to tell, once per revocation
    /// (not per token).
    pub async fn abandon_revocations(
        &self,
        created_by: DateTime<Utc>,
    ) -> Result<Vec<AbandonedRevocation>, StoreError> {
        let rows = query(
            "DELETE FROM pending_revocations WHERE created_at <= ?
             RETURNING provider, notify_chat_id, label, created_at",
        )
        .bind(to_millis(created_by))
        .fetch_all(&self.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        let mut abandoned = Vec::new();
        for row in &rows {
            let given_up = AbandonedRevocation {
                provider: parse_stored(row.get::<&str, _>("provider"), "OAuth provider")?,
                chat: row.get::<Option<i64>, _>("notify_chat_id").map(ChatId),
                label: row.get("label"),
            };
            if seen.insert((given_up.clone(), row.get::<i64, _>("created_at"))) {
                abandoned.push(given_up);
            }
        }
        Ok(abandoned)
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::crypto::{MasterKey, Sealer};
    use crate::store::test_support::telegram_user_and_chat;
    use crate::store::{NewAccount, NewGrant};

    #[tokio::test]
    async fn an_unconfirmed_token_is_kept_sealed_for_its_row_retried_and_survives_a_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let key = MasterKey::generate();
        let copy = MasterKey::from_base64(key.to_base64().expose()).unwrap();
        let store = Store::open(&url, Sealer::new(key)).await.unwrap();
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        let grant = store
            .save_grant(
                NewGrant {
                    owner: user.id,
                    provider: OAuthProvider::X,
                    remote_user_id: "2244994945",
                    scopes: "tweet.write",
                    access_token: Secret::new("access-do-not-leak"),
                    refresh_token: Some(Secret::new("refresh-do-not-leak")),
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
        store
            .save_account(
                NewAccount {
                    grant,
                    provider: crate::domain::Provider::X,
                    remote_id: "2244994945",
                    display_name: "@alice",
                    access_token: None,
                },
                now,
            )
            .await
            .unwrap();
        let later = now + chrono::Duration::minutes(5);
        store
            .revoke_grant_here(
                grant,
                OAuthProvider::X,
                &[Secret::new("refresh-do-not-leak")],
                Some(user.id),
                Some(chat.id),
                "@alice (X)",
                later,
                now,
            )
            .await
            .unwrap();
        assert!(store.grant_tokens(grant).await.is_err(), "erased here");
        assert!(store.due_revocations(now, 10).await.unwrap().is_empty());
        assert_eq!(
            store.next_revocation_at().await.unwrap(),
            Some(later_ms(later))
        );

        // Under a new key, the sealed token still opens (rotate-key covers the column).
        let rotated = MasterKey::generate();
        let rotated_copy = MasterKey::from_base64(rotated.to_base64().expose()).unwrap();
        assert_eq!(
            store
                .reseal_all(&Sealer::rotating(copy, rotated), now)
                .await
                .unwrap(),
            1
        );
        store.close().await;
        let store = Store::open(&url, Sealer::new(rotated_copy)).await.unwrap();
        let due = store.due_revocations(later, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].token.expose(), "refresh-do-not-leak");
        assert_eq!(due[0].chat, Some(chat.id));
        assert_eq!(due[0].label, "@alice (X)");

        // A sealed token moved to another row does not open.
        query(
            "INSERT INTO pending_revocations (provider, token, label, next_attempt_at, created_at)
             SELECT provider, token, label, next_attempt_at, created_at FROM pending_revocations",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        assert!(matches!(
            store.due_revocations(later, 10).await,
            Err(StoreError::Crypto(_))
        ));
        query("DELETE FROM pending_revocations WHERE id != ?")
            .bind(due[0].id.0)
            .execute(&store.pool)
            .await
            .unwrap();

        store
            .revocation_postponed(due[0].id, later + chrono::Duration::minutes(10))
            .await
            .unwrap();
        assert!(store.due_revocations(later, 10).await.unwrap().is_empty());
        let again = store
            .due_revocations(later + chrono::Duration::minutes(10), 10)
            .await
            .unwrap();
        assert_eq!(again[0].attempts, 1);
        assert!(
            store
                .settle_revocation(again[0].id, None, later)
                .await
                .unwrap(),
            "the only token of its revocation"
        );
        assert_eq!(store.pending_revocation_count().await.unwrap(), 0);
    }

    fn later_ms(at: DateTime<Utc>) -> DateTime<Utc> {
        from_millis(to_millis(at)).unwrap()
    }

    #[tokio::test]
    async fn revocations_past_their_time_are_given_up_with_whom_to_tell() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        let grant = store
            .save_grant(
                NewGrant {
                    owner: user.id,
                    provider: OAuthProvider::Meta,
                    remote_user_id: "1015",
                    scopes: "",
                    access_token: Secret::new("meta-token"),
                    refresh_token: None,
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
        store
            .revoke_grant_here(
                grant,
                OAuthProvider::Meta,
                &[Secret::new("meta-token")],
                Some(user.id),
                Some(chat.id),
                "Alice's Bakery (Facebook Page)",
                now,
                now,
            )
            .await
            .unwrap();
        assert!(
            store
                .abandon_revocations(now - chrono::Duration::seconds(1))
                .await
                .unwrap()
                .is_empty()
        );
        let given_up = store.abandon_revocations(now).await.unwrap();
        assert_eq!(
            given_up,
            [AbandonedRevocation {
                provider: OAuthProvider::Meta,
                chat: Some(chat.id),
                label: "Alice's Bakery (Facebook Page)".to_owned(),
            }]
        );
        assert_eq!(store.pending_revocation_count().await.unwrap(), 0);
    }
}
