//! Wake-ups across instances on PostgreSQL: a trigger (migrations_pg/0015) notifies
//! `autopost_due` when targets become due sooner or a `publishing` target finishes, and each
//! scheduler listens. A hint only: a notification lost while the listening session
//! reconnects delays a claim until the scheduler's next poll, and never loses one.

use sqlx::postgres::PgListener;

use super::db::Pool;
use super::{Store, StoreError};

/// The channel the trigger notifies.
const CHANNEL: &str = "autopost_due";

/// A session listening for due work.
pub struct DueHints {
    listener: PgListener,
}

impl std::fmt::Debug for DueHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueHints").finish_non_exhaustive()
    }
}

impl Store {
    /// Starts listening for due work: `None` on SQLite, where the one instance wakes itself.
    pub async fn due_hints(&self) -> Result<Option<DueHints>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(DueHints { listener }))
    }
}

impl DueHints {
    /// Waits for the next hint. A reconnect counts as one (notifications sent meanwhile
    /// are lost); an error is returned for the caller to log and wait on.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.listener.try_recv().await?;
        // Several notifications waiting mean the same thing: look once.
        while self.listener.next_buffered().is_some() {}
        Ok(())
    }
}
