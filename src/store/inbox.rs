//! What front ends accepted and must not lose, shared by every instance: webhook updates and
//! interactions written before they are acknowledged (and claimed by the instance handling
//! them, so that a survivor takes over those of a dead one), the parts of Telegram albums
//! (which may reach different instances behind a load balancer), and the lock that lets one
//! instance at a time refresh a grant.

use chrono::{DateTime, Utc};

use super::db::{query, query_as, query_scalar};
use super::{Store, StoreError, to_millis};
use crate::crypto::{Aad, Secret};
use crate::domain::GrantId;

/// One accepted delivery waiting to be handled.
#[derive(Debug)]
pub struct Inbound {
    /// The row, for [`Store::finish_inbound`].
    pub id: i64,
    /// The platform's id of the update or interaction.
    pub delivery_id: String,
    /// The body as the platform sent it (a Discord interaction without its token).
    pub payload: Vec<u8>,
    /// The interaction's token, opened, when one was kept.
    pub token: Option<Secret>,
    /// Whether the first answer already went out (Discord: the deferral).
    pub answered: bool,
    /// When it was accepted.
    pub received_at: DateTime<Utc>,
}

/// Held while one grant is being refreshed: on PostgreSQL a transaction holding an advisory
/// lock keyed by the grant, so that no other instance refreshes it meanwhile; nothing on
/// SQLite, where one process runs and the keeper's own lock serialises.
pub struct GrantRefreshLock {
    held: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl std::fmt::Debug for GrantRefreshLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantRefreshLock")
            .field("held", &self.held.is_some())
            .finish()
    }
}

impl GrantRefreshLock {
    /// Lets the next instance refresh the grant.
    pub async fn release(self) {
        if let Some(held) = self.held {
            // A failed commit ends the transaction all the same, and with it the lock.
            let _ = held.commit().await;
        }
    }
}

/// An inbox row as claimed: id, delivery id, payload, sealed token, answered, received at.
type InboxRow = (i64, String, Vec<u8>, Option<Vec<u8>>, i64, i64);

fn token_aad(id: i64) -> Aad {
    Aad::new("inbox", id, "token")
}

impl Store {
    /// Records delivery `delivery_id` of `source` before it is acknowledged, claimed by
    /// instance `me` until `until`. `token` (a Discord interaction token, a credential for 15
    /// minutes) is stored sealed. False when it was recorded already (the platform sent it
    /// again while the first copy waits): that copy will be handled.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_inbound(
        &self,
        source: &str,
        delivery_id: &str,
        payload: &[u8],
        token: Option<&Secret>,
        me: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        let id: Option<i64> = query_scalar(
            "INSERT INTO inbox (source, delivery_id, payload, received_at, claimed_by, claimed_until)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (source, delivery_id) DO NOTHING
             RETURNING id",
        )
        .bind(source)
        .bind(delivery_id)
        .bind(payload.to_vec())
        .bind(to_millis(now))
        .bind(me)
        .bind(to_millis(until))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        if let Some(token) = token {
            // Sealed under the row's id, as every sealed column is, so that a key rotation
            // re-seals it with the rest.
            query("UPDATE inbox SET token = ? WHERE id = ?")
                .bind(self.seal(token, &token_aad(id)))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims for `me`, until `until`, up to `limit` deliveries of `source` whose claimer is
    /// gone (no longer among the instances) or whose claim ran out, oldest first. One
    /// statement, so that of two instances sweeping at once each row goes to one.
    pub async fn claim_stranded_inbound(
        &self,
        source: &str,
        me: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Inbound>, StoreError> {
        let _turn = self.write_turn().await;
        let rows: Vec<InboxRow> = query_as(
            "UPDATE inbox SET claimed_by = ?, claimed_until = ?
             WHERE id IN (
                 SELECT id FROM inbox
                 WHERE source = ?
                   AND (claimed_until < ? OR claimed_by IS NULL
                        OR claimed_by NOT IN (SELECT id FROM instances))
                 ORDER BY id LIMIT ?)
             RETURNING id, delivery_id, payload, token, answered, received_at",
        )
        .bind(me)
        .bind(to_millis(until))
        .bind(source)
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (id, delivery_id, payload, token, answered, received_at) in rows {
            let token = token
                .map(|sealed| self.open_sealed(&sealed, &token_aad(id)))
                .transpose()?;
            claimed.push(Inbound {
                id,
                delivery_id,
                payload,
                token,
                answered: answered != 0,
                received_at: super::from_millis(received_at)?,
            });
        }
        claimed.sort_by_key(|inbound| inbound.id);
        Ok(claimed)
    }

    /// Notes that a delivery's first answer went out (a deferred Discord interaction): whoever
    /// finishes it edits that answer instead of answering again.
    pub async fn mark_inbound_answered(
        &self,
        source: &str,
        delivery_id: &str,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        query("UPDATE inbox SET answered = 1 WHERE source = ? AND delivery_id = ?")
            .bind(source)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a delivery that was handled (or found handled before).
    pub async fn finish_inbound(&self, source: &str, delivery_id: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        query("DELETE FROM inbox WHERE source = ? AND delivery_id = ?")
            .bind(source)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many deliveries of `source` wait in the inbox (tests, `doctor`).
    pub async fn inbound_waiting(&self, source: &str) -> Result<i64, StoreError> {
        Ok(query_scalar("SELECT COUNT(*) FROM inbox WHERE source = ?")
            .bind(source)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Keeps one part of album `album` (update `update_id`, as the platform sent it).
    pub async fn add_album_part(
        &self,
        album: &str,
        update_id: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        query(
            "INSERT INTO album_parts (album, update_id, payload, received_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (album, update_id) DO NOTHING",
        )
        .bind(album)
        .bind(update_id)
        .bind(payload.to_vec())
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the newest part of `album` came, `None` once the album was taken.
    pub async fn album_last_part(&self, album: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let last: Option<i64> =
            query_scalar("SELECT MAX(received_at) FROM album_parts WHERE album = ?")
                .bind(album)
                .fetch_one(&self.pool)
                .await?;
        last.map(super::from_millis).transpose()
    }

    /// Albums whose newest part came before `quiet_since`: complete, to be taken.
    pub async fn quiet_albums(
        &self,
        quiet_since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(query_scalar(
            "SELECT album FROM album_parts GROUP BY album HAVING MAX(received_at) < ? ORDER BY album",
        )
        .bind(to_millis(quiet_since))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes album `album`'s parts out if its newest part came before `quiet_since`: the
    /// caller handles it, and nobody else can, since the parts are gone. Empty when the album
    /// is still gathering or another instance took it.
    pub async fn take_album(
        &self,
        album: &str,
        quiet_since: DateTime<Utc>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        let last: Option<i64> =
            query_scalar("SELECT MAX(received_at) FROM album_parts WHERE album = ?")
                .bind(album)
                .fetch_one(&mut *tx)
                .await?;
        if last.is_none_or(|last| last >= to_millis(quiet_since)) {
            return Ok(Vec::new());
        }
        let parts: Vec<Vec<u8>> =
            query_scalar("DELETE FROM album_parts WHERE album = ? RETURNING payload")
                .bind(album)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(parts)
    }

    /// Waits until no other instance refreshes `grant`, and keeps it so until the lock is
    /// released (or dropped). X refresh tokens are single use: two instances refreshing one
    /// grant together would spend it twice, and the second would be refused.
    pub async fn lock_grant_refresh(&self, grant: GrantId) -> Result<GrantRefreshLock, StoreError> {
        let Some(pool) = self.pool.postgres() else {
            return Ok(GrantRefreshLock { held: None });
        };
        let mut tx = pool.begin().await?;
        // This transaction alone waits on the network (the platform's token endpoint) while
        // open: the store's idle-in-transaction limit would end it mid-refresh and free the
        // grant for a second refresh. A frozen holder is still ended with its lease.
        sqlx::query("SET LOCAL idle_in_transaction_session_timeout = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("autopost grant refresh {}", grant.0))
            .execute(&mut *tx)
            .await?;
        Ok(GrantRefreshLock { held: Some(tx) })
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::super::*;
    use chrono::Duration;

    #[tokio::test]
    async fn a_refresh_lock_is_not_ended_while_the_refresh_waits_on_the_platform() {
        let (store, _dir) = temp_store().await;
        let mut lock = store.lock_grant_refresh(crate::domain::GrantId(1)).await.unwrap();
        let Some(tx) = lock.held.as_mut() else {
            return;
        };
        let limit: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
            .fetch_one(&mut **tx)
            .await
            .unwrap();
        assert_eq!(limit, "0");
        lock.release().await;
    }

    #[tokio::test]
    async fn a_recorded_delivery_is_claimed_once_its_claimer_is_gone_and_then_finished() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        store
            .register_instance("alive", "a", std::time::Duration::from_secs(10))
            .await
            .unwrap();
        let token = Secret::new("interaction-token");
        assert!(
            store
                .record_inbound("discord", "1", b"{}", Some(&token), "alive", now, now + Duration::seconds(60))
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_inbound("discord", "1", b"{}", None, "alive", now, now + Duration::seconds(60))
                .await
                .unwrap(),
            "a second copy is not recorded again"
        );
        store
            .record_inbound("discord", "2", b"{\"x\":1}", None, "dead", now, now + Duration::seconds(60))
            .await
            .unwrap();
        let until = now + Duration::seconds(60);
        let claimed = store
            .claim_stranded_inbound("discord", "alive", now, until, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "only the dead instance's delivery: {claimed:?}");
        assert_eq!(claimed[0].delivery_id, "2");
        assert_eq!(claimed[0].payload, b"{\"x\":1}");
        assert!(
            store
                .claim_stranded_inbound("discord", "other", now, until, 10)
                .await
                .unwrap()
                .is_empty(),
            "claimed now by a live instance"
        );
        // Once the live instance's claim runs out, its delivery (with its token) is stranded too.
        let later = now + Duration::seconds(61);
        let claimed = store
            .claim_stranded_inbound("discord", "other", later, later + Duration::seconds(60), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].token.as_ref().map(Secret::expose), Some("interaction-token"));
        store.mark_inbound_answered("discord", "1").await.unwrap();
        store.finish_inbound("discord", "2").await.unwrap();
        assert_eq!(store.inbound_waiting("discord").await.unwrap(), 1);
        assert_eq!(store.inbound_waiting("telegram").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_album_is_taken_once_and_only_after_its_quiet_time() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        store.add_album_part("7:g", "10", b"a", now).await.unwrap();
        store
            .add_album_part("7:g", "11", b"b", now + Duration::milliseconds(100))
            .await
            .unwrap();
        store.add_album_part("7:g", "11", b"b", now).await.unwrap();
        // Cut-offs: the newest part must have come before them.
        let gathering = now + Duration::milliseconds(50);
        assert!(store.take_album("7:g", gathering).await.unwrap().is_empty());
        assert!(store.quiet_albums(gathering).await.unwrap().is_empty());
        let settled = now + Duration::milliseconds(101);
        assert_eq!(store.quiet_albums(settled).await.unwrap(), ["7:g"]);
        let mut parts = store.take_album("7:g", settled).await.unwrap();
        parts.sort();
        assert_eq!(parts, [b"a".to_vec(), b"b".to_vec()]);
        assert!(store.take_album("7:g", settled).await.unwrap().is_empty());
        assert_eq!(store.album_last_part("7:g").await.unwrap(), None);
    }
}

/// Two instances on one PostgreSQL database.
#[cfg(test)]
mod across_instances {
    use super::*;
    use crate::crypto::{MasterKey, Sealer};
    use chrono::Duration;

    async fn two_stores() -> Option<(Store, Store)> {
        let cluster = crate::test_cluster::cluster()?;
        let url = cluster.fresh_database().await;
        let key = MasterKey::generate().to_base64();
        let open = async |url: &str| {
            let key = MasterKey::from_base64(key.expose()).unwrap();
            Store::open(url, Sealer::new(key)).await.unwrap()
        };
        let a = open(&url).await;
        let b = open(&url).await;
        Some((a, b))
    }

    #[tokio::test]
    async fn the_same_update_id_received_by_two_instances_is_handled_by_one() {
        let Some((a, b)) = two_stores().await else {
            return;
        };
        let now = Utc::now();
        for round in 0..20 {
            let id = format!("{round}");
            let ids = [id.as_str()];
            let (first, second) = tokio::join!(
                a.first_deliveries("telegram", &ids, now),
                b.first_deliveries("telegram", &ids, now),
            );
            let fresh = first.unwrap().len() + second.unwrap().len();
            assert_eq!(fresh, 1, "update {round} counted once");
        }
    }

    #[tokio::test]
    async fn a_stranded_delivery_swept_by_two_instances_at_once_goes_to_one() {
        let Some((a, b)) = two_stores().await else {
            return;
        };
        let now = Utc::now();
        for me in ["a", "b"] {
            a.register_instance(me, me, std::time::Duration::from_secs(10))
                .await
                .unwrap();
        }
        for i in 0..50 {
            a.record_inbound(
                "telegram",
                &i.to_string(),
                b"{}",
                None,
                "dead",
                now,
                now + Duration::seconds(60),
            )
            .await
            .unwrap();
        }
        let until = now + Duration::seconds(60);
        let mut seen = Vec::new();
        loop {
            let (x, y) = tokio::join!(
                a.claim_stranded_inbound("telegram", "a", now, until, 7),
                b.claim_stranded_inbound("telegram", "b", now, until, 7),
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            if x.is_empty() && y.is_empty() {
                break;
            }
            seen.extend(x.into_iter().chain(y).map(|i| i.delivery_id));
        }
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!(before, seen.len(), "no delivery claimed twice");
        assert_eq!(seen.len(), 50);
    }

    #[tokio::test]
    async fn an_album_whose_parts_reached_two_instances_is_taken_whole_by_one() {
        let Some((a, b)) = two_stores().await else {
            return;
        };
        let now = Utc::now();
        a.add_album_part("1:g", "1", b"one", now).await.unwrap();
        b.add_album_part("1:g", "2", b"two", now).await.unwrap();
        let settled = now + Duration::seconds(1);
        let (x, y) = tokio::join!(a.take_album("1:g", settled), b.take_album("1:g", settled));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.is_empty() != y.is_empty(), "one takes it: {x:?} {y:?}");
        assert_eq!(x.len() + y.len(), 2);
    }

    #[tokio::test]
    async fn a_grant_refresh_lock_keeps_the_other_instance_waiting_until_released() {
        let Some((a, b)) = two_stores().await else {
            return;
        };
        let grant = GrantId(5);
        let held = a.lock_grant_refresh(grant).await.unwrap();
        let (took, mut taken) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(async move {
            let lock = b.lock_grant_refresh(grant).await.unwrap();
            let _ = took.send(());
            lock.release().await;
        });
        // Another grant is not held up.
        a.lock_grant_refresh(GrantId(6))
            .await
            .unwrap()
            .release()
            .await;
        assert!(taken.try_recv().is_err(), "b waits while a holds the grant");
        held.release().await;
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn a_role_moves_to_the_other_instance_when_its_holder_dies() {
        use crate::instance::{Instance, Role};
        let Some((a, b)) = two_stores().await else {
            return;
        };
        let first = Instance::join_as(a.clone(), "first".to_owned(), "a".to_owned())
            .await
            .unwrap();
        let second = Instance::join_as(b, "second".to_owned(), "b".to_owned())
            .await
            .unwrap();
        let (_stop, mut stopped) = tokio::sync::watch::channel(false);
        assert!(first.hold(Role::TelegramPoller, &mut stopped).await);
        let waiting = {
            let second = second.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move { second.hold(Role::TelegramPoller, &mut stopped).await })
        };
        let holders = a.role_holders().await.unwrap();
        assert!(
            holders.contains(&("telegram-poller".to_owned(), Some("first".to_owned()))),
            "{holders:?}"
        );
        // The process dies: its lease session closes with it, and the role's lock is free.
        drop(first);
        assert!(waiting.await.unwrap(), "the second instance took the role");
        let holders = a.role_holders().await.unwrap();
        assert!(
            holders.contains(&("telegram-poller".to_owned(), Some("second".to_owned()))),
            "{holders:?}"
        );
    }
}
