//! This process as one of the instances sharing a database. On SQLite there is one (the
//! data dir's lock sees to it): it plays every role and its lease never runs out. On
//! PostgreSQL each instance holds a lease: a dedicated session with a session-level lock,
//! and a heartbeat that moves its `lease_until` forward every [`HEARTBEAT`]. Peers watch
//! each other: an instance whose session is gone (killed) or whose lease ran out (frozen;
//! its sessions are then ended for it) has departed, and exactly one survivor takes over
//! its work. An instance that cannot renew its lease stops sending and exits: another is
//! taking its work over.
//!
//! Roles that must run on one instance at a time (the Telegram poller, the Discord gateway,
//! the notification senders, the purge) are session-level locks on the lease session, so a
//! role moves as soon as its holder dies.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Mutex, broadcast, watch};

use crate::domain::TargetId;
use crate::store::{LeaseSession, Store, StoreError};

/// How often an instance renews its lease and looks at its peers.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a lease lasts past its last renewal. A frozen instance is taken over this long
/// after its last heartbeat; it stops sending on its own once this has passed without a
/// renewal (its clock runs on when it wakes), before any peer takes over.
pub const LEASE: Duration = Duration::from_secs(10);

/// An instance's timings: [`HEARTBEAT`] and [`LEASE`] unless a test shortens them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceOptions {
    /// How often the lease is renewed and peers are looked at.
    pub heartbeat: Duration,
    /// How long a lease lasts past its last renewal; several heartbeats, so that one slow
    /// renewal does not lose it.
    pub lease: Duration,
}

impl Default for InstanceOptions {
    fn default() -> Self {
        Self {
            heartbeat: HEARTBEAT,
            lease: LEASE,
        }
    }
}

/// How often [`Instance::gone`] looks at the lease's age.
const GONE_CHECK: Duration = Duration::from_millis(50);

/// How long a role waits between attempts to take it while another instance plays it.
const ROLE_RETRY: Duration = Duration::from_millis(500);

/// Work that only one instance may do at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Telegram's `getUpdates` (it allows one consumer).
    TelegramPoller,
    /// The Discord gateway connection.
    DiscordGateway,
    /// Sending stored notifications to Telegram chats.
    TelegramNotifier,
    /// Sending stored notifications to Discord channels.
    DiscordNotifier,
    /// Refreshing tokens before they expire.
    TokenUpkeep,
    /// The retention purge.
    Purge,
    /// Revocations at the platforms that wait to be retried.
    Revocations,
}

impl Role {
    /// The role's stable name (lock key and `roles` row).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TelegramPoller => "telegram-poller",
            Role::DiscordGateway => "discord-gateway",
            Role::TelegramNotifier => "telegram-notifier",
            Role::DiscordNotifier => "discord-notifier",
            Role::TokenUpkeep => "token-upkeep",
            Role::Purge => "purge",
            Role::Revocations => "revocations",
        }
    }
}

/// A peer that departed, and the targets it left `publishing` that this instance adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// The departed instance (or `None` for targets whose owner was no instance at all).
    pub instance: Option<String>,
    /// Targets now this instance's, to reconcile (SPEC §6) before anything else is sent
    /// for them.
    pub adopted: Vec<TargetId>,
}

/// This process's place among the instances. Cheap to clone.
#[derive(Clone)]
pub struct Instance {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    name: String,
    options: InstanceOptions,
    store: Store,
    /// The lease session (PostgreSQL); `None` on SQLite.
    session: Option<Mutex<LeaseSession>>,
    /// The monotonic instant of the last renewal, as ms since `epoch`.
    renewed_mono: AtomicI64,
    epoch: Instant,
    lost: watch::Sender<bool>,
    departed: broadcast::Sender<Departure>,
    roles: Mutex<HashSet<Role>>,
}

impl Inner {
    fn new(
        id: String,
        name: String,
        options: InstanceOptions,
        store: Store,
        session: Option<LeaseSession>,
        epoch: Instant,
    ) -> Self {
        Self {
            id,
            name,
            options,
            store,
            session: session.map(Mutex::new),
            renewed_mono: AtomicI64::new(0),
            epoch,
            lost: watch::Sender::new(false),
            departed: broadcast::channel(64).0,
            roles: Mutex::new(HashSet::new()),
        }
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// Joins the instances of `store`'s database under a fresh id: registers the lease and,
    /// on PostgreSQL, opens the lease session. Call [`Instance::run`] to keep the lease.
    pub async fn join(store: Store) -> Result<Self, StoreError> {
        Self::join_as(store, new_id(), default_name()).await
    }

    /// [`Instance::join`] with a given id and name (the id names the store's sessions too).
    pub async fn join_as(store: Store, id: String, name: String) -> Result<Self, StoreError> {
        Self::join_with(store, id, name, InstanceOptions::default()).await
    }

    /// [`Instance::join_as`] with given timings (tests).
    pub async fn join_with(
        store: Store,
        id: String,
        name: String,
        options: InstanceOptions,
    ) -> Result<Self, StoreError> {
        let session = store.open_lease_session(&id).await?;
        // The lease counts from before it was registered: by the database's clock it starts
        // later, so this instance stops sending before any peer may take over.
        let epoch = Instant::now();
        store.register_instance(&id, &name, options.lease).await?;
        if session.is_none() {
            store.forget_other_instances(&id).await?;
        }
        Ok(Self {
            inner: Arc::new(Inner::new(id, name, options, store, session, epoch)),
        })
    }

    /// An instance that does not join: for the operator's commands that run beside a
    /// serving instance (`export`, `erase`, …) and publish nothing. It holds no lease and
    /// plays no role.
    pub fn detached(store: Store) -> Self {
        Self {
            inner: Arc::new(Inner::new(
                format!("detached-{}", new_id()),
                "operator command".to_owned(),
                InstanceOptions::default(),
                store,
                None,
                Instant::now(),
            )),
        }
    }

    /// This instance's id (recorded as the owner of the targets it claims).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Host and process id, for logs.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether this instance shares its database with others (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.inner.session.is_some()
    }

    /// Whether the lease is certainly still this instance's: renewed less than a lease ago
    /// by the monotonic clock, and never lost. Checked before every send: a frozen process
    /// that wakes finds it false and sends nothing more.
    pub fn alive(&self) -> bool {
        if *self.inner.lost.borrow() {
            return false;
        }
        if self.inner.session.is_none() {
            return true;
        }
        let since = self.inner.epoch.elapsed().as_millis() as i64
            - self.inner.renewed_mono.load(Ordering::SeqCst);
        since < self.inner.options.lease.as_millis() as i64
    }

    /// Resolves once [`Instance::alive`] turns false (never on SQLite): a platform call of
    /// several requests (an image upload, then the post) raced against it stops between them
    /// when the lease goes, instead of sending the rest for a target a peer is taking over.
    pub async fn gone(&self) {
        if self.inner.session.is_none() {
            return std::future::pending().await;
        }
        let mut lost = self.lost();
        while self.alive() {
            // The lease also runs out without a word (a frozen process that wakes): look
            // again well within a heartbeat.
            tokio::select! {
                _ = lost.wait_for(|lost| *lost) => {}
                () = tokio::time::sleep(GONE_CHECK) => {}
            }
        }
    }

    /// Turns true once the lease is lost: the process must stop and exit.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.inner.lost.subscribe()
    }

    /// Departures this instance took over (each announced to one survivor only, after its
    /// targets became this instance's in the same transaction that removed the peer).
    pub fn departures(&self) -> broadcast::Receiver<Departure> {
        self.inner.departed.subscribe()
    }

    /// Waits until this instance plays `role` (at once on SQLite) or `stop` turns true
    /// (`false`). The role stays this instance's until it exits or calls
    /// [`Instance::give_up`].
    pub async fn hold(&self, role: Role, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            if *stop.borrow() || !self.alive() {
                return false;
            }
            match self.try_hold(role).await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::chain(&e), role = role.as_str(), "cannot ask for a role");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(ROLE_RETRY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn try_hold(&self, role: Role) -> Result<bool, StoreError> {
        let mut roles = self.inner.roles.lock().await;
        if roles.contains(&role) {
            return Ok(true);
        }
        let taken = match &self.inner.session {
            Some(session) => session.lock().await.try_role(role.as_str()).await?,
            None => true,
        };
        if taken {
            roles.insert(role);
            self.inner
                .store
                .record_role(role.as_str(), Some(&self.inner.id), Utc::now())
                .await?;
            tracing::info!(role = role.as_str(), "this instance now plays the role");
        }
        Ok(taken)
    }

    /// Gives `role` up, so that another instance may take it.
    pub async fn give_up(&self, role: Role) -> Result<(), StoreError> {
        let mut roles = self.inner.roles.lock().await;
        if roles.remove(&role)
            && let Some(session) = &self.inner.session
        {
            session.lock().await.release_role(role.as_str()).await?;
            self.inner
                .store
                .record_role(role.as_str(), None, Utc::now())
                .await?;
        }
        Ok(())
    }

    /// Keeps the lease until `stop` turns true: renews it every [`HEARTBEAT`] and looks for
    /// departed peers. A renewal that fails, or finds the row gone, loses the lease.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if self.inner.session.is_none() {
            // One process on SQLite: nothing to renew, no peers.
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
        // Renewed at once: serving may start a while after joining. Nothing was sent
        // meanwhile if the lease ran out (every send checks `alive`), and a peer that took
        // over removed the row or ended the session, which this renewal then finds.
        if let Err(reason) = self.renew().await {
            self.lose(&reason);
            return;
        }
        let mut every = tokio::time::interval(self.inner.options.heartbeat);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
            if !self.alive() {
                // Frozen, or the database did not answer, for a whole lease: a peer may be
                // taking over this instance's work already.
                self.lose("the lease ran out before it could be renewed");
                return;
            }
            if let Err(reason) = self.renew().await {
                self.lose(&reason);
                return;
            }
            if let Err(e) = self.watch_peers().await {
                tracing::warn!(error = %crate::telemetry::chain(&e), "cannot look at the other instances");
            }
        }
        if let Err(e) = self.inner.store.forget_instance(&self.inner.id).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "cannot remove this instance's lease");
        }
    }

    async fn renew(&self) -> Result<(), String> {
        let Some(session) = &self.inner.session else {
            return Ok(());
        };
        let started = self.inner.epoch.elapsed().as_millis() as i64;
        let renewed = session
            .lock()
            .await
            .renew(&self.inner.id, self.inner.options.lease)
            .await;
        match renewed {
            Ok(true) => {
                // The lease counts from when the renewal was sent, not when it returned: by
                // the database's clock it started later still, so this instance stops
                // sending before any peer may take over.
                self.inner.renewed_mono.store(started, Ordering::SeqCst);
                Ok(())
            }
            Ok(false) => Err("another instance took this one's work over".to_owned()),
            // The session may be gone, and with it the lock that tells peers this instance
            // lives: they may be taking its work over already, so it stops at once.
            Err(e) => Err(format!(
                "the lease could not be renewed: {}",
                crate::telemetry::chain(&e)
            )),
        }
    }

    fn lose(&self, reason: &str) {
        tracing::error!(
            reason,
            "this instance lost its lease; it stops sending and exits"
        );
        self.inner.lost.send_replace(true);
    }

    /// Finds peers that are gone (session closed) or frozen past their lease (their
    /// sessions are ended), removes their rows and announces each departure once. Removing
    /// the row is the claim: of two survivors, only the one whose delete took the row
    /// announces it.
    async fn watch_peers(&self) -> Result<(), StoreError> {
        let Some(session) = &self.inner.session else {
            return Ok(());
        };
        for peer in self.inner.store.peers(&self.inner.id).await? {
            if peer.expired {
                let ended = self.inner.store.end_sessions_of(&peer.id).await?;
                tracing::warn!(peer = %peer.name, sessions = ended, "an instance's lease ran out; its sessions were ended");
            }
            let gone = session.lock().await.is_gone(&peer.id).await?;
            if !gone {
                continue;
            }
            if let Some(adopted) = self
                .inner
                .store
                .claim_departure(&peer.id, &self.inner.id)
                .await?
            {
                tracing::warn!(peer = %peer.name, adopted = adopted.len(), "an instance departed; taking its work over");
                let _ = self.inner.departed.send(Departure {
                    instance: Some(peer.id),
                    adopted,
                });
            }
        }
        let orphans = self.inner.store.adopt_orphans(&self.inner.id).await?;
        if !orphans.is_empty() {
            tracing::warn!(
                adopted = orphans.len(),
                "adopted targets whose instance is gone"
            );
            let _ = self.inner.departed.send(Departure {
                instance: None,
                adopted: orphans,
            });
        }
        Ok(())
    }
}

/// Host and process id.
pub fn default_name() -> String {
    format!(
        "{}:{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".to_owned()),
        std::process::id()
    )
}

/// A random instance id: 16 hex digits.
pub fn new_id() -> String {
    use aes_gcm::aead::{OsRng, rand_core::RngCore};
    format!("{:016x}", OsRng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MasterKey, Sealer};
    use crate::store::NewPost;
    use crate::store::test_support::group_with_two_pages;

    /// Short timings, so that a frozen instance is taken over in about a second.
    const FAST: InstanceOptions = InstanceOptions {
        heartbeat: Duration::from_millis(100),
        lease: Duration::from_millis(1000),
    };

    /// How long a test waits for a fact before it fails.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A fresh PostgreSQL database, or `None` (after the cluster's skip line) without one.
    async fn shared_store() -> Option<Store> {
        let cluster = crate::test_cluster::cluster()?;
        let url = cluster.fresh_database().await;
        Some(
            Store::open(&url, Sealer::new(MasterKey::generate()))
                .await
                .unwrap(),
        )
    }

    async fn join(store: &Store, id: &str) -> Instance {
        Instance::join_with(store.clone(), id.to_owned(), format!("test {id}"), FAST)
            .await
            .unwrap()
    }

    /// Two due posts to two pages, claimed by instance `owner`: its targets `publishing`.
    async fn publishing_for(store: &Store, owner: &str) -> Vec<TargetId> {
        let now = Utc::now();
        let (author, chat, accounts) = group_with_two_pages(store, now).await;
        store
            .insert_post(
                NewPost {
                    chat,
                    author,
                    body: "hello".to_owned(),
                    due_at: now,
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts,
                    variants: Vec::new(),
                    media: vec![],
                    threads: vec![],
                },
                now,
            )
            .await
            .unwrap();
        let mut ids: Vec<TargetId> = store
            .owned_by(owner)
            .claim_due(now, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort_by_key(|t| t.0);
        assert_eq!(ids.len(), 2);
        ids
    }

    async fn owned_by(store: &Store, owner: &str) -> Vec<TargetId> {
        let mut ids: Vec<TargetId> = store
            .owned_by(owner)
            .owned_in_flight()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort_by_key(|t| t.0);
        ids
    }

    async fn next_departure(rx: &mut broadcast::Receiver<Departure>) -> Departure {
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a departure in time")
            .unwrap()
    }

    #[tokio::test]
    async fn a_killed_instance_is_taken_over_once_by_one_of_two_survivors() {
        let Some(store) = shared_store().await else {
            return;
        };
        let (a, b, c) = (
            join(&store, "a").await,
            join(&store, "c").await,
            join(&store, "b").await,
        );
        let claimed = publishing_for(&store, a.id()).await;
        let (stop, stopped) = watch::channel(false);
        let killed = tokio::spawn(a.clone().run(stopped.clone()));
        let (mut to_b, mut to_c) = (b.departures(), c.departures());
        let runs = [
            tokio::spawn(b.clone().run(stopped.clone())),
            tokio::spawn(c.clone().run(stopped.clone())),
        ];
        // kill -9: the process stops and PostgreSQL closes its sessions.
        killed.abort();
        let _ = killed.await;
        store.end_sessions_of(a.id()).await.unwrap();
        let (taker, departure, other) = tokio::select! {
            d = next_departure(&mut to_b) => (b.id().to_owned(), d, &mut to_c),
            d = next_departure(&mut to_c) => (c.id().to_owned(), d, &mut to_b),
        };
        assert_eq!(departure.instance.as_deref(), Some("a"));
        let mut adopted = departure.adopted.clone();
        adopted.sort_by_key(|t| t.0);
        assert_eq!(adopted, claimed);
        assert_eq!(owned_by(&store, &taker).await, claimed);
        // The row is gone with the take-over, so the other survivor can never announce it.
        assert!(
            store
                .peers(&taker)
                .await
                .unwrap()
                .iter()
                .all(|p| p.id != "a")
        );
        assert!(matches!(
            other.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
        // The killed instance's late outcome changes nothing.
        store
            .owned_by("a")
            .mark_published(claimed[0], "late", None, Utc::now())
            .await
            .unwrap();
        assert_eq!(owned_by(&store, &taker).await, claimed);
        let _ = stop.send(true);
        for run in runs {
            run.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_frozen_instance_stops_sending_and_is_ended_and_taken_over_after_its_lease() {
        let Some(store) = shared_store().await else {
            return;
        };
        let (a, b) = (join(&store, "a").await, join(&store, "b").await);
        let claimed = publishing_for(&store, a.id()).await;
        let (stop, stopped) = watch::channel(false);
        let frozen = tokio::spawn(a.clone().run(stopped.clone()));
        let mut to_b = b.departures();
        let survivor = tokio::spawn(b.clone().run(stopped.clone()));
        assert!(a.alive());
        // SIGSTOP: no heartbeat any more, but its sessions stay open.
        frozen.abort();
        let _ = frozen.await;
        let departure = next_departure(&mut to_b).await;
        assert_eq!(departure.instance.as_deref(), Some("a"));
        assert_eq!(owned_by(&store, b.id()).await, claimed);
        // By its own clock the frozen instance's lease ran out before the take-over.
        assert!(!a.alive(), "a frozen instance must not send when it wakes");
        assert_eq!(
            store.end_sessions_of(a.id()).await.unwrap(),
            0,
            "the survivor ended the frozen instance's sessions"
        );
        let _ = stop.send(true);
        survivor.await.unwrap();
    }

    #[tokio::test]
    async fn an_instance_that_cannot_renew_its_lease_loses_it() {
        let Some(store) = shared_store().await else {
            return;
        };
        // Its session ended under it (the database restarted, or a peer ended it).
        let a = join(&store, "a").await;
        let (stop, stopped) = watch::channel(false);
        let run = tokio::spawn(a.clone().run(stopped.clone()));
        let mut lost = a.lost();
        store.end_sessions_of(a.id()).await.unwrap();
        tokio::time::timeout(PATIENCE, lost.wait_for(|l| *l))
            .await
            .expect("the lease is lost in time")
            .unwrap();
        assert!(!a.alive());
        run.await.unwrap();

        // Its row removed by a peer that took its work over.
        let b = join(&store, "b").await;
        let run = tokio::spawn(b.clone().run(stopped.clone()));
        let mut lost = b.lost();
        store.forget_instance(b.id()).await.unwrap();
        tokio::time::timeout(PATIENCE, lost.wait_for(|l| *l))
            .await
            .expect("the lease is lost in time")
            .unwrap();
        assert!(!b.alive());
        run.await.unwrap();
        let _ = stop.send(true);
    }

    #[tokio::test]
    async fn roles_move_when_their_holder_dies() {
        let Some(store) = shared_store().await else {
            return;
        };
        let (a, b) = (join(&store, "a").await, join(&store, "b").await);
        let (stop, mut stopped) = watch::channel(false);
        assert!(a.hold(Role::Purge, &mut stopped).await);
        assert!(!b.try_hold(Role::Purge).await.unwrap());
        store.end_sessions_of(a.id()).await.unwrap();
        let mut waiting = stopped.clone();
        tokio::time::timeout(PATIENCE, b.hold(Role::Purge, &mut waiting))
            .await
            .expect("the role moves in time");
        let _ = stop.send(true);
    }
}
