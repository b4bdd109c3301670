//! Recording platform update ids as seen (a front end acts only on ids never seen before),
//! with concurrent callers committed together: while one commit is on its way to disk, the
//! ids that arrive wait and go in the next one. A burst of Discord interactions (one request
//! each) then costs a few commits instead of one each, and every id is still on disk before
//! its caller acts on it.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, StoreError};

/// Most callers in one commit.
const MOST_AT_ONCE: usize = 512;

/// What a caller asks, and where the answer goes.
struct Request {
    source: &'static str,
    ids: Vec<String>,
    now: DateTime<Utc>,
    answer: oneshot::Sender<Result<Vec<String>, StoreError>>,
}

/// The log of seen update ids, shared by the app's front ends.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryLog {
    requests: mpsc::UnboundedSender<Request>,
}

impl DeliveryLog {
    /// Starts the task that commits requests for `store`; it ends with the last handle.
    pub(crate) fn start(store: Store) -> Self {
        let (requests, received) = mpsc::unbounded_channel();
        tokio::spawn(commit_batches(store, received));
        Self { requests }
    }

    /// Records `ids` of `source` as seen; returns those never seen before, each once.
    pub(crate) async fn first(
        &self,
        source: &'static str,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            source,
            ids: ids.iter().map(|id| (*id).to_owned()).collect(),
            now,
            answer,
        };
        if self.requests.send(request).is_err() {
            return Err(stopped());
        }
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Corrupt("the delivery log has stopped".to_owned())
}

async fn commit_batches(store: Store, mut received: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = received.recv().await {
        let mut batch = vec![first];
        while batch.len() < MOST_AT_ONCE {
            match received.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let mut by_source: BTreeMap<&'static str, Vec<Request>> = BTreeMap::new();
        for request in batch {
            by_source.entry(request.source).or_default().push(request);
        }
        for (source, requests) in by_source {
            commit(&store, source, requests).await;
        }
    }
}

/// One commit for the requests of one source; each caller gets its own new ids (an id two
/// callers sent goes to the first). If the commit fails, each request is tried on its own,
/// so that one failure reaches only its caller.
async fn commit(store: &Store, source: &'static str, requests: Vec<Request>) {
    let now = requests
        .iter()
        .map(|r| r.now)
        .max()
        .unwrap_or_else(Utc::now);
    let all: Vec<&str> = requests
        .iter()
        .flat_map(|r| r.ids.iter().map(String::as_str))
        .collect();
    match store.first_deliveries(source, &all, now).await {
        Ok(fresh) => {
            let mut fresh: HashSet<String> = fresh.into_iter().collect();
            for request in requests {
                let mine: Vec<String> = request
                    .ids
                    .into_iter()
                    .filter(|id| fresh.remove(id))
                    .collect();
                let _ = request.answer.send(Ok(mine));
            }
        }
        Err(e) if requests.len() > 1 => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "recording update ids together failed; one by one");
            for request in requests {
                let ids: Vec<&str> = request.ids.iter().map(String::as_str).collect();
                let answer = store.first_deliveries(source, &ids, request.now).await;
                let _ = request.answer.send(answer);
            }
        }
        Err(e) => {
            if let Some(request) = requests.into_iter().next() {
                let _ = request.answer.send(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MasterKey, Sealer};

    #[tokio::test]
    async fn concurrent_callers_each_get_their_new_ids_once_and_a_repeat_gets_none() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, Sealer::new(MasterKey::generate()))
            .await
            .unwrap();
        let log = DeliveryLog::start(store);
        let now = Utc::now();
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..20 {
            let log = log.clone();
            calls.spawn(async move {
                let id = format!("{}", i % 10);
                log.first("discord", &[id.as_str()], now).await.unwrap()
            });
        }
        let answers = calls.join_all().await;
        let fresh: usize = answers.iter().map(Vec::len).sum();
        assert_eq!(fresh, 10, "each of the ten ids counted once: {answers:?}");
        assert!(log.first("discord", &["3"], now).await.unwrap().is_empty());
        assert_eq!(log.first("telegram", &["3"], now).await.unwrap(), ["3"]);
    }
}
