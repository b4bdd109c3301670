//! Group commit for the scheduler's outcome writes. Each finished attempt is one small
//! transaction; with SQLite's full sync every commit waits for the disk, so a burst of due
//! posts was bound by commits (about 900 a second) rather than by the platforms. Writes sent
//! here queue on one task, which applies all that are waiting in one transaction: one commit
//! for many outcomes. Each caller still learns its own result, and a batch that fails is
//! applied again one write at a time, so one bad write cannot fail the others.
//!
//! A write is durable when its caller's future resolves, as before. A crash before that
//! leaves the target `publishing`, which start-up reconciles (SPEC §6): batching changes when
//! an outcome is written, never whether a post is sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::db::{Pool, Tx};
use super::notifications::{Notification, insert_notification};
use super::targets::{FinishRow, finish_in};

/// Writes applied in one transaction at most: bounds how long one commit holds the lock.
const MOST: usize = 256;

/// One write of the scheduler's.
#[derive(Debug)]
pub(super) enum Write {
    /// A `publishing` target moved on.
    Finish(FinishRow),
    /// A notification to store.
    Notify {
        notification: Notification,
        now: DateTime<Utc>,
    },
}

struct Request {
    write: Write,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The sending side; the task ends once this is dropped (with the last `Store`).
#[derive(Debug, Clone)]
pub(super) struct Grouped {
    requests: mpsc::UnboundedSender<Request>,
    /// Transactions committed so far: fewer than the writes when grouping works (read by
    /// the store's tests).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Grouped {
    /// Starts the task that applies writes on `pool`.
    pub(super) fn start(pool: Pool) -> Self {
        let (requests, queue) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, queue, Arc::clone(&commits)));
        Self { requests, commits }
    }

    /// Transactions committed so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Applies `write` with whatever else is waiting; resolves once it is committed.
    pub(super) async fn apply(&self, write: Write) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.requests
            .send(Request { write, done })
            .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))?;
        result
            .await
            .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))?
    }
}

async fn run(pool: Pool, mut queue: mpsc::UnboundedReceiver<Request>, commits: Arc<AtomicU64>) {
    while let Some(first) = queue.recv().await {
        // Whatever arrived while the last commit waited for the disk goes in this one.
        let mut batch = vec![first];
        while batch.len() < MOST {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match apply_all(&pool, &batch, &commits).await {
            Ok(()) => {
                for request in batch {
                    let _ = request.done.send(Ok(()));
                }
            }
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %crate::telemetry::chain(&e), writes = batch.len(), "a group of outcome writes failed; applying them one by one");
                for request in batch {
                    let result = apply_all(&pool, std::slice::from_ref(&request), &commits).await;
                    let _ = request.done.send(result);
                }
            }
            Err(e) => {
                if let Some(request) = batch.pop() {
                    let _ = request.done.send(Err(e));
                }
            }
        }
    }
}

async fn apply_all(pool: &Pool, batch: &[Request], commits: &AtomicU64) -> Result<(), StoreError> {
    let mut tx = pool.begin_write().await?;
    for request in batch {
        apply(&mut tx, &request.write).await?;
    }
    tx.commit().await?;
    commits.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn apply(tx: &mut Tx, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Finish(row) => finish_in(tx, row).await,
        Write::Notify { notification, now } => {
            insert_notification(tx, notification, *now).await?;
            Ok(())
        }
    }
}
