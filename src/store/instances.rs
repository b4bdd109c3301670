//! The instances sharing one database, as the database sees them: a row each with its
//! lease, and on PostgreSQL a dedicated session per instance that holds its session-level
//! advisory locks (its own liveness lock, and the roles only one instance may play at a
//! time). PostgreSQL releases a session's locks the moment its process dies, so a killed
//! instance is told apart from a live one without waiting for its lease to run out; a frozen
//! one keeps its session, so its lease decides, and its sessions are ended for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::db::{Pool, query, query_as, query_scalar};
use super::{Store, StoreError, to_millis};
use crate::domain::TargetId;

/// The prefix of every PostgreSQL session an instance opens (`application_name`), followed
/// by the instance id: how one instance finds another's sessions to end them.
pub const SESSION_PREFIX: &str = "autopost:";

/// Another instance's row, as a peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its id.
    pub id: String,
    /// Its name (host and pid), for logs.
    pub name: String,
    /// Until when its last heartbeat vouches for it (Unix ms).
    pub lease_until: i64,
    /// Whether that time has passed.
    pub expired: bool,
}

/// The dedicated PostgreSQL session of one instance: its liveness lock and its roles live
/// and die with it.
pub struct LeaseSession {
    conn: PgConnection,
}

impl std::fmt::Debug for LeaseSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseSession").finish_non_exhaustive()
    }
}

impl Store {
    /// Records this instance (or renews its row) with a lease of `lease` from now, by the
    /// database's clock (see [`Store::clock`]).
    pub async fn register_instance(
        &self,
        id: &str,
        name: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock().await?;
        query(
            "INSERT INTO instances (id, name, started_at, heartbeat_at, lease_until)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                                            lease_until = excluded.lease_until",
        )
        .bind(id)
        .bind(name)
        .bind(now)
        .bind(now)
        .bind(now.saturating_add(millis(lease)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Now in Unix ms by the clock every instance reads leases with: PostgreSQL's, so that
    /// hosts whose clocks disagree still agree on whose lease ran out; this process's on
    /// SQLite, where there are no peers.
    pub async fn clock(&self) -> Result<i64, StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => Ok(sqlx::query_scalar(DB_NOW_MS).fetch_one(pool).await?),
            Pool::Sqlite(_) => Ok(Utc::now().timestamp_millis()),
        }
    }

    /// Removes an instance's row (it stopped, or it died and its work was taken over).
    pub async fn forget_instance(&self, id: &str) -> Result<(), StoreError> {
        query("DELETE FROM instances WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes every instance row but `me`'s: on SQLite one process owns the file, so rows
    /// of earlier runs are leftovers of a crash.
    pub async fn forget_other_instances(&self, me: &str) -> Result<(), StoreError> {
        query("DELETE FROM instances WHERE id <> ?")
            .bind(me)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every instance but `me`, each with whether its lease ran out by [`Store::clock`].
    pub async fn peers(&self, me: &str) -> Result<Vec<Peer>, StoreError> {
        let rows: Vec<(String, String, i64)> =
            query_as("SELECT id, name, lease_until FROM instances WHERE id <> ? ORDER BY id")
                .bind(me)
                .fetch_all(&self.pool)
                .await?;
        let now = self.clock().await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, lease_until)| Peer {
                id,
                name,
                lease_until,
                expired: lease_until < now,
            })
            .collect())
    }

    /// Takes over departed instance `dead`'s work for `me`, once: in one transaction its row
    /// is removed and its `publishing` targets become `me`'s. `None` when another survivor
    /// got there first; else the targets adopted, which `me` must reconcile (SPEC §6).
    pub async fn claim_departure(
        &self,
        dead: &str,
        me: &str,
    ) -> Result<Option<Vec<TargetId>>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let removed = query("DELETE FROM instances WHERE id = ?")
            .bind(dead)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(None);
        }
        let adopted: Vec<i64> = query_scalar(
            "UPDATE targets SET owner = ? WHERE owner = ? AND state = 'publishing' RETURNING id",
        )
        .bind(me)
        .bind(dead)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(adopted.into_iter().map(TargetId).collect()))
    }

    /// Makes `me` the owner of `publishing` targets whose owner is no instance at all (a
    /// survivor died between taking a departure over and reconciling it; or, on SQLite, the
    /// previous run of this process). Returns them, to reconcile.
    pub async fn adopt_orphans(&self, me: &str) -> Result<Vec<TargetId>, StoreError> {
        let adopted: Vec<i64> = query_scalar(
            "UPDATE targets SET owner = ?
             WHERE state = 'publishing'
               AND (owner IS NULL OR owner NOT IN (SELECT id FROM instances))
             RETURNING id",
        )
        .bind(me)
        .fetch_all(&self.pool)
        .await?;
        Ok(adopted.into_iter().map(TargetId).collect())
    }

    /// Which instance plays each role now, for `doctor` and the logs.
    pub async fn role_holders(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(query_as("SELECT name, holder FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records that `holder` (or nobody) plays `role`.
    pub async fn record_role(
        &self,
        role: &str,
        holder: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO roles (name, holder, until) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until",
        )
        .bind(role)
        .bind(holder)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Opens this instance's dedicated session (PostgreSQL only; `None` on SQLite, where one
    /// process owns the file) and takes its liveness lock in it.
    pub async fn open_lease_session(&self, id: &str) -> Result<Option<LeaseSession>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let options = pool
            .connect_options()
            .as_ref()
            .clone()
            .application_name(&format!("{SESSION_PREFIX}{id}"));
        let mut conn = PgConnection::connect_with(&options).await?;
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
            .bind(liveness_key(id))
            .execute(&mut conn)
            .await?;
        Ok(Some(LeaseSession { conn }))
    }

    /// Ends every PostgreSQL session of instance `id` (one frozen past its lease): its locks
    /// and roles are released, and when it wakes its next statement fails, so it stops.
    pub async fn end_sessions_of(&self, id: &str) -> Result<u64, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(0);
        };
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()
               AND pid <> pg_backend_pid()",
        )
        .bind(format!("{SESSION_PREFIX}{id}"))
        .fetch_all(pool)
        .await?;
        Ok(ended.into_iter().filter(|e| *e).count() as u64)
    }
}

impl LeaseSession {
    /// Whether instance `id`'s session is gone: its liveness lock is free. Asked on this
    /// session, so the lock taken to find out is released again at once.
    pub async fn is_gone(&mut self, id: &str) -> Result<bool, StoreError> {
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(liveness_key(id))
            .fetch_one(&mut self.conn)
            .await?;
        if free {
            sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind(liveness_key(id))
                .execute(&mut self.conn)
                .await?;
        }
        Ok(free)
    }

    /// Takes `role` if no session holds it; `true` when this session now does.
    pub async fn try_role(&mut self, role: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(role_key(role))
                .fetch_one(&mut self.conn)
                .await?,
        )
    }

    /// Gives `role` up.
    pub async fn release_role(&mut self, role: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(role_key(role))
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Renews instance `id`'s lease for `lease` from now by the database's clock, on this
    /// session: a session that was ended is an error, and `false` means a peer removed the
    /// row (it took this instance's work over).
    pub async fn renew(&mut self, id: &str, lease: Duration) -> Result<bool, StoreError> {
        let renewed = sqlx::query(&format!(
            "UPDATE instances SET heartbeat_at = {DB_NOW_MS_EXPR}, lease_until = {DB_NOW_MS_EXPR} + $1
             WHERE id = $2"
        ))
        .bind(millis(lease))
        .bind(id)
        .execute(&mut self.conn)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Closes the session, releasing its locks at once.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// PostgreSQL's clock in Unix ms.
const DB_NOW_MS_EXPR: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
const DB_NOW_MS: &str = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn liveness_key(id: &str) -> String {
    format!("autopost instance {id}")
}

fn role_key(role: &str) -> String {
    format!("autopost role {role}")
}
