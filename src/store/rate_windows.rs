//! Rate-limit windows shared by every instance: when a platform says an account's window is
//! spent (a 429, or a last answer with nothing remaining), the reset is recorded here, and
//! claims on any instance hold that account's targets back until it (see
//! [`Store::claim`](super::Store::claim)), so no instance sends into a known 429.

use chrono::{DateTime, Utc};

use super::db::{query, query_scalar};
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::Provider;

impl Store {
    /// Records that `provider` accepts nothing more from account `account_remote_id` until
    /// `reset_at`. A later reset already known wins.
    pub async fn close_rate_window(
        &self,
        provider: Provider,
        account_remote_id: &str,
        reset_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO rate_windows (provider, account_remote_id, reset_at) VALUES (?, ?, ?)
             ON CONFLICT (provider, account_remote_id) DO UPDATE SET reset_at =
                 CASE WHEN excluded.reset_at > rate_windows.reset_at
                      THEN excluded.reset_at ELSE rate_windows.reset_at END",
        )
        .bind(provider.as_str())
        .bind(account_remote_id)
        .bind(to_millis(reset_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the account's window reopens, if it is closed at `now`.
    pub async fn rate_window(
        &self,
        provider: Provider,
        account_remote_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let reset: Option<i64> = query_scalar(
            "SELECT reset_at FROM rate_windows
             WHERE provider = ? AND account_remote_id = ? AND reset_at > ?",
        )
        .bind(provider.as_str())
        .bind(account_remote_id)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?;
        reset.map(from_millis).transpose()
    }
}
