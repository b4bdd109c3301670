//! Master-key upkeep: re-sealing every stored secret under a new key in one transaction,
//! and checking that every secret opens.

use chrono::{DateTime, Utc};

use super::audit::AuditKind;
use super::db::{Pool, query};

use super::{KEY_CHECK_PLAIN, Store, StoreError, key_check_aad, table_exists, to_millis};
use crate::crypto::{Aad, Sealer, Secret};

/// Every column that holds a sealed secret, as (table, column). A new sealed column must be
/// added here, or rotation would leave it under the old key.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[
    ("grants", "access_token"),
    ("grants", "refresh_token"),
    ("accounts", "access_token"),
    ("oauth_states", "pkce_verifier"),
    ("pending_revocations", "token"),
    ("inbox", "token"),
];

impl Store {
    /// Re-seals every secret, opening with the old key and sealing with the new one that
    /// `rotating` holds, in one `BEGIN IMMEDIATE` transaction: either every secret moves to
    /// the new key or none does. Returns how many secrets were re-sealed.
    pub async fn reseal_all(
        &self,
        rotating: &Sealer,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let mut count = 0;
        for (table, column) in SEALED_COLUMNS {
            // Table and column names come from the constant above, never from input.
            let rows = query(format!(
                "SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL"
            ))
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let id: i64 = row.get("id");
                let sealed: Vec<u8> = row.get("sealed");
                let aad = Aad::new(table, id, column);
                let plain = rotating.open(&sealed, &aad)?;
                query(format!("UPDATE {table} SET {column} = ? WHERE id = ?"))
                    .bind(rotating.seal(&plain, &aad))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
        }
        query("UPDATE settings SET value = ? WHERE key = 'key_check'")
            .bind(rotating.seal(&Secret::new(KEY_CHECK_PLAIN), &key_check_aad()))
            .execute(&mut *tx)
            .await?;
        query("INSERT INTO audit_events (at, kind, detail) VALUES (?, ?, ?)")
            .bind(to_millis(now))
            .bind(AuditKind::KeyRotated.as_str())
            .bind(format!(
                "{count} secrets re-sealed under key {}",
                rotating.current_key_id()
            ))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(count)
    }

    /// Opens every stored secret with this store's key; returns how many there are.
    /// The rotation tests use it; `doctor` does the same through [`Store::inspect`].
    pub async fn verify_all_secrets(&self) -> Result<usize, StoreError> {
        open_every_secret(&self.pool, &self.sealer).await
    }
}

/// Opens every sealed value in the database with `sealer`; returns how many there are.
/// Tables that do not exist yet (a database before its first migration) hold none.
pub(super) async fn open_every_secret(pool: &Pool, sealer: &Sealer) -> Result<usize, StoreError> {
    let mut count = 0;
    for (table, column) in SEALED_COLUMNS {
        if !table_exists(pool, table).await? {
            continue;
        }
        let rows = query(format!(
            "SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL"
        ))
        .fetch_all(pool)
        .await?;
        for row in rows {
            let sealed: Vec<u8> = row.get("sealed");
            sealer.open(&sealed, &Aad::new(table, row.get("id"), column))?;
            count += 1;
        }
    }
    Ok(count)
}
