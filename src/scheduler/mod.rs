//! The scheduler: claims due targets from the store in due order, publishes each on its
//! platform within concurrency bounds and rate-limit windows, and records every outcome.
//! It never sends a target twice: a target is `publishing` in the database before any
//! request, retries happen only when nothing can have been created, and an attempt whose
//! answer was lost is reconciled against the account's recent posts.

mod decision;
mod thread;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use url::Url;

use crate::domain::{AccountState, Provider, TargetId};
use crate::instance::{Departure, Instance};
use crate::media::MediaFiles;
use crate::oauth::provider_label;
use crate::platforms::redact::Redactor;
use crate::platforms::{
    AccountRef, Media, Platform, Platforms, PostContent, PublishError, Published,
};
use crate::store::{ClaimLimits, DueTarget, Notification, Store, StoreError};
use crate::tokens::{RefreshOutcome, TokenKeeper};
use decision::{Answer, Attempt, Decision, Verdict, after_lookup, decide};

/// Bounds and timings. The defaults suit a single small server.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Attempts before a target fails for good.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, with up to 50% random jitter.
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Wait after a lost answer (or a restart) before reading the account's posts: a request
    /// cut off may still be finishing at the platform.
    pub reconcile_grace: Duration,
    /// Targets this instance publishes at once, in all.
    pub max_in_flight: usize,
    /// Targets being published at once per platform, over every instance: twice one
    /// instance's `max_in_flight`, so that a second instance adds throughput while a fleet
    /// still cannot flood a platform.
    pub per_platform: usize,
    /// Targets being published at once per account, over every instance.
    pub per_account: usize,
    /// How long a media link handed to a platform works.
    pub media_link_ttl: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(15 * 60),
            reconcile_grace: Duration::from_secs(2),
            max_in_flight: 64,
            per_platform: 128,
            per_account: 2,
            media_link_ttl: Duration::from_secs(3600),
        }
    }
}

/// What one attempt at one target ended as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Live, with the platform's id.
    Published(Published),
    /// Back in the queue for the given time (nothing was created).
    Retry(DateTime<Utc>),
    /// Given up with this reason.
    Failed(String),
    /// Could not learn whether it went through; the author is told.
    Unknown,
    /// This instance lost its lease before sending: nothing was sent or written, and the
    /// instance taking its work over reconciles the target.
    Abandoned,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Targets claimed and started.
    pub started: usize,
    /// When the next queued target is due, if any.
    pub next_due: Option<DateTime<Utc>>,
    /// Due targets left queued because their account or platform was at its bound.
    pub held_back: usize,
}

/// What the run loop has done so far, published after every tick: a test or a bench waits
/// for a tick that started nothing with nothing in flight instead of sleeping and hoping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Ticks finished since the run began.
    pub ticks: u64,
    /// Targets the last tick claimed and started.
    pub last_started: usize,
    /// Publishes (and reconciliations) still running after the last tick.
    pub in_flight: usize,
}

impl Progress {
    /// Nothing was due at the last tick and nothing is being published.
    pub fn is_idle(&self) -> bool {
        self.last_started == 0 && self.in_flight == 0
    }
}

/// Publishes due posts. Share it behind an `Arc`.
pub struct Scheduler {
    /// The store acting for this instance: claims record it as the owner, and outcome
    /// writes change only targets it still owns.
    store: Store,
    instance: Instance,
    platforms: Platforms,
    media: MediaFiles,
    public_url: Url,
    tokens: Arc<TokenKeeper>,
    config: SchedulerConfig,
    wake: Notify,
    /// This instance's publishing slots. The per-account and per-platform bounds hold over
    /// every instance, so the claim enforces them in the database, not here.
    in_flight: Arc<Semaphore>,
    /// Look-ups at the platforms made at once while reconciling (a departed instance may
    /// leave hundreds of targets).
    lookups: Semaphore,
    /// Targets this scheduler is publishing or reconciling: a target this instance owns and
    /// is not handling was adopted, and is reconciled.
    handling: Arc<Mutex<HashSet<TargetId>>>,
    /// Subscribed when the scheduler is made, so that no departure announced before the run
    /// loop starts is missed.
    departures: Mutex<Option<broadcast::Receiver<Departure>>>,
    events: broadcast::Sender<Notification>,
    progress: watch::Sender<Progress>,
}

/// How long the run loop waits at most on PostgreSQL, where other instances add and free
/// work: wake-ups arrive as notifications, and this bounds the delay when one is lost.
const POLL: Duration = Duration::from_secs(1);

/// A target marked as handled by this scheduler until dropped.
struct Handling {
    set: Arc<Mutex<HashSet<TargetId>>>,
    target: TargetId,
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.target);
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler for `instance` over the store and the configured platforms.
    pub fn new(
        store: Store,
        instance: Instance,
        platforms: Platforms,
        media: MediaFiles,
        public_url: Url,
        tokens: Arc<TokenKeeper>,
        config: SchedulerConfig,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            store: store.owned_by(instance.id()),
            departures: Mutex::new(Some(instance.departures())),
            instance,
            platforms,
            media,
            public_url,
            tokens,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            lookups: Semaphore::new(config.max_in_flight.max(1)),
            handling: Arc::new(Mutex::new(HashSet::new())),
            config,
            wake: Notify::new(),
            events,
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// The run loop's progress, updated after every tick.
    pub fn watch_progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Wakes the run loop at once: a post was added that may be due before its next wake-up.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Notifications as they happen. They are also stored until a front end marks them
    /// delivered, so a subscriber that was down reads the backlog from the store.
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.events.subscribe()
    }

    /// Claims as many due targets as there are free slots (within the bounds per account and
    /// per platform over every instance) and starts publishing them on `tasks`; returns how
    /// many started and when the next one is due.
    pub async fn tick(
        self: &Arc<Self>,
        now: DateTime<Utc>,
        tasks: &mut JoinSet<()>,
    ) -> Result<Tick, StoreError> {
        let free = u32::try_from(self.in_flight.available_permits()).unwrap_or(u32::MAX);
        let claim = if free == 0 || !self.instance.alive() {
            crate::store::Claim::default()
        } else {
            let limits = ClaimLimits {
                most: free,
                per_account: u32::try_from(self.config.per_account).unwrap_or(u32::MAX),
                per_platform: u32::try_from(self.config.per_platform).unwrap_or(u32::MAX),
            };
            self.store.claim(now, limits).await?
        };
        let started = claim.targets.len();
        for target in claim.targets {
            let handling = self.handle(target.id);
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                // Cannot happen: we claimed no more than the free permits, and only ticks
                // take them. Should it ever, the target is reconciled once this instance
                // looks at what it owns again.
                tracing::error!(target = %target.id, "no free publishing slot for a claimed target");
                continue;
            };
            let scheduler = Arc::clone(self);
            let span = tracing::info_span!(
                "post",
                post_id = %target.post,
                target = %target.id,
                platform = %target.provider,
                attempt = target.attempts
            );
            tasks.spawn(
                async move {
                    let _permit = permit;
                    let _handling = handling;
                    scheduler.publish(target).await;
                }
                .instrument(span),
            );
        }
        Ok(Tick {
            started,
            next_due: self.store.next_due_at().await?,
            held_back: claim.held_back,
        })
    }

    /// Marks `target` as handled here until the guard drops.
    fn handle(&self, target: TargetId) -> Handling {
        self.handling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(target);
        Handling {
            set: Arc::clone(&self.handling),
            target,
        }
    }

    /// Adopts the `publishing` targets no live instance owns (on SQLite: every one an
    /// earlier run left), and returns every target this instance owns and is not handling:
    /// those, and those a departed peer's take-over gave it. Each is marked as handled.
    async fn left_in_flight(&self) -> Result<Vec<(DueTarget, Handling)>, StoreError> {
        let adopted = self.store.adopt_orphans(self.instance.id()).await?;
        if !adopted.is_empty() {
            tracing::warn!(
                adopted = adopted.len(),
                "adopted posts left in flight by an instance that is gone"
            );
        }
        let owned = self.store.owned_in_flight().await?;
        let mut left = Vec::new();
        for target in owned {
            let already = self
                .handling
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&target.id);
            if !already {
                let handling = self.handle(target.id);
                left.push((target, handling));
            }
        }
        if !left.is_empty() {
            tracing::info!(count = left.len(), "reconciling posts left in flight");
        }
        Ok(left)
    }

    /// Starts reconciling, each on its own task on `tasks`, what [`Self::left_in_flight`]
    /// finds.
    async fn take_over(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<usize, StoreError> {
        let left = self.left_in_flight().await?;
        let count = left.len();
        for (target, handling) in left {
            let scheduler = Arc::clone(self);
            let span = tracing::info_span!(
                "reconcile",
                post_id = %target.post,
                target = %target.id,
                platform = %target.provider
            );
            tasks.spawn(
                async move {
                    let _handling = handling;
                    if let Err(e) = scheduler.reconcile_target(&target).await {
                        tracing::error!(error = %crate::telemetry::chain(&e), "reconciliation failed");
                    }
                }
                .instrument(span),
            );
        }
        Ok(count)
    }

    /// Runs until `shutdown` turns true: reconciles what earlier runs (or departed instances)
    /// left in flight, then sleeps until the next due time (or a wake-up), publishes, and
    /// repeats; whenever a peer departs, reconciles what it left. On shutdown it claims
    /// nothing more and waits for the publishes in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        let mut departures = self
            .departures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| self.instance.departures());
        // What this run claims is marked as handled before the next look at what this
        // instance owns, and both happen on this loop: a target this run claims is never
        // mistaken for one a crash left behind.
        if let Err(e) = self.take_over(&mut tasks).await {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot read posts left in flight");
        }
        let mut hints = match self.store.due_hints().await {
            Ok(hints) => hints,
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::chain(&e), "cannot listen for due posts; polling");
                None
            }
        };
        let shared = self.store.backend() == crate::store::Backend::Postgres;
        let mut departed = false;
        loop {
            if std::mem::take(&mut departed)
                && let Err(e) = self.take_over(&mut tasks).await
            {
                tracing::error!(error = %crate::telemetry::chain(&e), "cannot take over a departed instance's posts");
            }
            while tasks.try_join_next().is_some() {}
            let now = Utc::now();
            let ticked = self.tick(now, &mut tasks).await;
            // Finished tasks are counted out first, so that "idle" means nothing is running.
            while tasks.try_join_next().is_some() {}
            let started = ticked.as_ref().map_or(0, |tick| tick.started);
            self.progress.send_modify(|p| {
                p.ticks += 1;
                p.last_started = started;
                p.in_flight = tasks.len();
            });
            let wait = match ticked {
                Ok(tick) if tick.started > 0 && self.in_flight.available_permits() == 0 => {
                    // Every slot is busy: wait for one to free up (or a wake-up).
                    Some(Duration::from_millis(5))
                }
                Ok(tick) if tick.started == 0 && tick.held_back > 0 => {
                    // Due work waits for a slot of its account or platform: a target that
                    // finishes here, or a notification from the instance where one did.
                    Some(POLL)
                }
                Ok(tick) => tick
                    .next_due
                    .map(|due| (due - now).to_std().unwrap_or(Duration::ZERO)),
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "claiming due posts failed");
                    Some(POLL)
                }
            };
            // Other instances add work this one hears of only by notification: poll too.
            let wait = if shared {
                Some(wait.map_or(POLL, |w| w.min(POLL)))
            } else {
                wait
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            let hint = async {
                match hints.as_mut() {
                    Some(hints) => {
                        if let Err(e) = hints.next().await {
                            tracing::warn!(error = %crate::telemetry::chain(&e), "listening for due posts failed; polling");
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = self.wake.notified() => {}
                () = hint => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                departure = departures.recv() => match departure {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => departed = true,
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!(
            in_flight = tasks.len(),
            "scheduler stopping; draining publishes"
        );
        while tasks.join_next().await.is_some() {}
    }

    /// Publishes one claimed target and records the outcome.
    pub async fn publish(&self, target: DueTarget) -> Outcome {
        let outcome = match self.attempt(&target).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // The store failed: the target stays `publishing` and is reconciled at the
                // next start rather than guessed at now.
                tracing::error!(error = %crate::telemetry::chain(&e), "cannot record a publishing outcome");
                return Outcome::Unknown;
            }
        };
        if let Err(e) = self.notify(&target, &outcome).await {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot queue a notification");
        }
        outcome
    }

    /// One attempt at `target`: the checks before sending, the publish call, then the effects
    /// of what [`decide`] makes of the answer (store writes, a token refresh, reconciliation).
    async fn attempt(&self, target: &DueTarget) -> Result<Outcome, StoreError> {
        let now = Utc::now();
        if target.account_state == AccountState::Revoked {
            return self.fail_revoked(target, now).await;
        }
        let Some(platform) = self.platforms.for_provider(target.provider) else {
            let reason = format!(
                "{} is not configured on this autopost any more",
                provider_label(target.provider)
            );
            self.store.mark_failed(target.id, &reason, now).await?;
            return Ok(Outcome::Failed(reason));
        };
        // Respect the window the platform reported instead of sending into a certain 429.
        if let Some(reset) =
            spent_until(platform.as_ref(), &target.account_remote_id).filter(|r| *r > now)
        {
            self.store
                .defer(
                    target.id,
                    reset,
                    "waiting for the platform's rate-limit window",
                    now,
                )
                .await?;
            return Ok(Outcome::Retry(reset));
        }
        let media = self.load_media(target, now).await?;
        let content = PostContent {
            text: &target.body,
            media: &media,
            reply_to: None,
        };
        let parts = self.store.parts_of_target(target.id).await?;
        if !parts.is_empty() {
            return self
                .attempt_thread(target, platform.as_ref(), &media, parts)
                .await;
        }

        let mut refreshed = false;
        loop {
            let token = match self.store.account_access_token(target.account).await {
                Ok(token) => token,
                // Revoked (or erased) since it was claimed: its token is gone.
                Err(StoreError::NotFound { .. }) => {
                    return self.fail_revoked(target, Utc::now()).await;
                }
                Err(e) => return Err(e),
            };
            let account = AccountRef {
                remote_id: &target.account_remote_id,
                token: &token,
            };
            if !self.may_send() {
                return Ok(Outcome::Abandoned);
            }
            let Some(published) = self
                .fenced_publish(platform.as_ref(), account, content)
                .await
            else {
                return Ok(Outcome::Abandoned);
            };
            let answer = answer_of(
                target.provider,
                self.without_secrets(target, published).await?,
            );
            let now = Utc::now();
            self.share_window(target, platform.as_ref(), &answer, now)
                .await;
            let (decision, now) = match self.decide(target, answer, refreshed, now) {
                Decision::RefreshToken => {
                    refreshed = true;
                    let refresh = self
                        .tokens
                        .refresh_rejected(
                            target.grant,
                            target.provider.oauth_provider(),
                            &token,
                            now,
                        )
                        .await?;
                    // A fresh token publishes again; a failed refresh is decided like an answer.
                    let answer = match refresh {
                        RefreshOutcome::Refreshed | RefreshOutcome::AlreadyFresh => continue,
                        RefreshOutcome::NeedsReconnect => Answer::GrantRevoked,
                        RefreshOutcome::Postponed => Answer::RefreshPostponed,
                    };
                    let now = Utc::now();
                    (self.decide(target, answer, refreshed, now), now)
                }
                decision => (decision, now),
            };
            return match decision {
                Decision::End(verdict) => {
                    let outcome = self.settle(target, verdict, now).await?;
                    if let Outcome::Published(_) = &outcome {
                        // The platform's post id stays in the database: in a log line it
                        // would lead to the author's account.
                        tracing::info!("published");
                    }
                    Ok(outcome)
                }
                Decision::Reconcile => {
                    self.reconcile_one(target, platform.as_ref(), content, true)
                        .await
                }
                // Only an `Unauthorized` answer asks for a refresh, and it is made above, once:
                // a second refusal is a verdict.
                Decision::RefreshToken => self.settle(target, Verdict::Reconnect, now).await,
            };
        }
    }

    /// Fails a target whose account was revoked (disconnected, or its owner removed
    /// autopost at the platform): no token is left and waiting will not bring one back, so
    /// it is not retried. Linking the account again and pressing Retry sends it.
    async fn fail_revoked(
        &self,
        target: &DueTarget,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let reason = revoked_reason(target);
        tracing::info!("the account was revoked; not publishing");
        self.store.mark_failed(target.id, &reason, now).await?;
        Ok(Outcome::Failed(reason))
    }

    /// A failed publish with every secret of the target's grant taken out of the platform's
    /// words, before they are logged, stored as the target's reason or sent to the chat. (The
    /// client already took out what the request carried; a platform may echo more.)
    async fn without_secrets<T>(
        &self,
        target: &DueTarget,
        result: Result<T, PublishError>,
    ) -> Result<Result<T, PublishError>, StoreError> {
        let Err(error) = result else {
            return Ok(result);
        };
        let secrets = self.store.grant_secrets(target.grant).await?;
        Ok(Err(error.redacted(&Redactor::new().with_all(&secrets))))
    }

    /// [`decide`] with this scheduler's bounds and a fresh random jitter.
    fn decide(
        &self,
        target: &DueTarget,
        answer: Answer,
        refreshed: bool,
        now: DateTime<Utc>,
    ) -> Decision {
        let attempt = Attempt {
            number: target.attempts,
            refreshed,
            platform: provider_label(target.provider),
        };
        decide(answer, attempt, &self.config, now, OsRng.next_u32())
    }

    /// Records how an attempt ended; a retry also wakes the run loop.
    async fn settle(
        &self,
        target: &DueTarget,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        Ok(match verdict {
            Verdict::Published(published) => {
                self.store
                    .mark_published(
                        target.id,
                        &published.remote_id,
                        published.url.as_ref().map(Url::as_str),
                        now,
                    )
                    .await?;
                Outcome::Published(published)
            }
            Verdict::Retry { at, reason } => {
                self.store.requeue(target.id, at, &reason, now).await?;
                self.wake();
                Outcome::Retry(at)
            }
            Verdict::Failed(reason) => {
                self.store.mark_failed(target.id, &reason, now).await?;
                Outcome::Failed(reason)
            }
            Verdict::Reconnect => {
                let reason = reconnect_reason(target);
                self.store.mark_failed(target.id, &reason, now).await?;
                Outcome::Failed(reason)
            }
            Verdict::Unknown(reason) => {
                self.store.mark_unknown(target.id, &reason, now).await?;
                Outcome::Unknown
            }
        })
    }

    /// After a lost answer: wait for the platform to settle, then look for the post. Found →
    /// published; confirmed absent → send once more (if `may_resend`); no way to tell →
    /// `unknown`, and the author is told.
    async fn reconcile_one(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        content: PostContent<'_>,
        may_resend: bool,
    ) -> Result<Outcome, StoreError> {
        tokio::time::sleep(self.config.reconcile_grace).await;
        let token = self.store.account_access_token(target.account).await?;
        let account = AccountRef {
            remote_id: &target.account_remote_id,
            token: &token,
        };
        let lookup = {
            let _turn = self.lookups.acquire().await;
            platform.find_recent(account, content).await
        };
        let now = Utc::now();
        let verdict = after_lookup(lookup, may_resend, now);
        if let Verdict::Retry { .. } = verdict {
            tracing::info!("reconciled: the post is absent; sending once more");
        }
        let outcome = self.settle(target, verdict, now).await?;
        if let Outcome::Published(_) = &outcome {
            tracing::info!("reconciled: the post exists");
        }
        Ok(outcome)
    }

    /// Reconciles every target left `publishing` by an earlier run (a crash or kill -9) or
    /// by a departed instance, all at once: never resent blindly. Returns how many were
    /// examined.
    pub async fn reconcile_in_flight(self: &Arc<Self>) -> Result<usize, StoreError> {
        let left = self.left_in_flight().await?;
        let count = left.len();
        let mut reconciling = JoinSet::new();
        for (target, handling) in left {
            let scheduler = Arc::clone(self);
            reconciling.spawn(async move {
                let _handling = handling;
                scheduler.reconcile_target(&target).await
            });
        }
        while let Some(done) = reconciling.join_next().await {
            if let Ok(Err(e)) = done {
                return Err(e);
            }
        }
        Ok(count)
    }

    /// Reconciles one target this instance owns and was left `publishing`, and tells the
    /// chat how it ended.
    async fn reconcile_target(&self, target: &DueTarget) -> Result<(), StoreError> {
        let now = Utc::now();
        let outcome = match self.platforms.for_provider(target.provider) {
            // No token is left to look with: whether it went out cannot be learned.
            Some(_) if target.account_state == AccountState::Revoked => {
                self.store
                    .mark_unknown(
                        target.id,
                        "the account was revoked before autopost could check whether the post went out",
                        now,
                    )
                    .await?;
                Outcome::Unknown
            }
            Some(platform) => {
                let parts = self.store.parts_of_target(target.id).await?;
                if parts.is_empty() {
                    let media = self.load_media(target, now).await?;
                    let content = PostContent {
                        text: &target.body,
                        media: &media,
                        reply_to: None,
                    };
                    self.reconcile_one(target, platform.as_ref(), content, true)
                        .await?
                } else {
                    self.reconcile_thread(target, platform.as_ref(), parts)
                        .await?
                }
            }
            None => {
                self.store
                    .mark_unknown(target.id, "the platform is no longer configured", now)
                    .await?;
                Outcome::Unknown
            }
        };
        if let Err(e) = self.notify(target, &outcome).await {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot queue a notification");
        }
        Ok(())
    }

    /// Whether this instance may still send: it holds its lease. One that lost it sends
    /// nothing and leaves its targets as they are, for the instance taking over.
    fn may_send(&self) -> bool {
        let alive = self.instance.alive();
        if !alive {
            tracing::warn!("this instance lost its lease; not sending");
        }
        alive
    }

    /// `platform.publish`, given up (`None`) as soon as the lease goes: X and Instagram send
    /// several requests for one post (images first), and none may leave once a peer may be
    /// taking the target over. Whatever was sent already is the survivor's to reconcile.
    async fn fenced_publish(
        &self,
        platform: &dyn Platform,
        account: AccountRef<'_>,
        content: PostContent<'_>,
    ) -> Option<Result<Published, PublishError>> {
        tokio::select! {
            biased;
            () = self.instance.gone() => {
                tracing::warn!("this instance lost its lease while sending; stopping");
                None
            }
            published = platform.publish(account, content) => Some(published),
        }
    }

    /// Shares a spent rate-limit window with every instance: after `answer`, or when the
    /// platform's last answer left nothing in the account's window.
    async fn share_window(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        answer: &Answer,
        now: DateTime<Utc>,
    ) {
        let reset = match answer {
            Answer::RateLimited { reset_at } => Some(reset_at.unwrap_or_else(|| {
                now + chrono::Duration::from_std(crate::platforms::DEFAULT_RATE_LIMIT_WAIT)
                    .unwrap_or_default()
            })),
            _ => spent_until(platform, &target.account_remote_id),
        };
        let Some(reset) = reset.filter(|r| *r > now) else {
            return;
        };
        if let Err(e) = self
            .store
            .close_rate_window(target.provider, &target.account_remote_id, reset)
            .await
        {
            tracing::warn!(error = %crate::telemetry::chain(&e), "cannot share a rate-limit window");
        }
    }

    async fn load_media(
        &self,
        target: &DueTarget,
        now: DateTime<Utc>,
    ) -> Result<Vec<Media>, StoreError> {
        let files = self.store.media_of_post(target.post).await?;
        let expires =
            now + chrono::Duration::from_std(self.config.media_link_ttl).unwrap_or_default();
        let mut media = Vec::with_capacity(files.len());
        for file in files {
            let bytes = match self.media.read_media(file.id, &file.file_name).await {
                Ok(bytes) => bytes,
                // The database did not answer: the target is retried or reconciled like any
                // store failure, rather than published without its image.
                Err(crate::media::MediaError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "stored image is missing");
                    bytes::Bytes::new()
                }
            };
            media.push(Media {
                content_type: file.content_type,
                bytes,
                public_url: Some(self.media.link(&self.public_url, file.id, expires)),
            });
        }
        Ok(media)
    }

    /// Tells the chat that `target`'s post changed once the target finished: the post's
    /// status message is rendered again from its current view (one message per post, edited
    /// in place, rather than one per target). A retry changes nothing the author must act on.
    async fn notify(&self, target: &DueTarget, outcome: &Outcome) -> Result<(), StoreError> {
        if let Outcome::Retry(_) | Outcome::Abandoned = outcome {
            return Ok(());
        }
        let notification = Notification::post_changed(target.chat, target.post);
        self.store
            .enqueue_notification_grouped(&notification, Utc::now())
            .await?;
        // Nobody listening is fine: the notification waits in the store.
        let _ = self.events.send(notification);
        Ok(())
    }
}

/// What the decision needs of a publish result. What the platform said is logged here, once.
/// A failure that created nothing is worded for `/queue` ("X was unavailable (HTTP 503)").
fn answer_of(provider: Provider, result: Result<Published, PublishError>) -> Answer {
    let platform = provider_label(provider);
    match result {
        Ok(published) => Answer::Published(published),
        Err(PublishError::Unauthorized { .. }) => Answer::Unauthorized,
        Err(PublishError::RateLimited { reset_at }) => Answer::RateLimited { reset_at },
        Err(e @ PublishError::Unreachable(_)) => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "publish failed; nothing was created");
            Answer::NothingCreated {
                reason: format!("{platform} could not be reached"),
            }
        }
        Err(PublishError::ServerError { status, message }) => {
            let reason = format!("{platform} was unavailable (HTTP {status}: {message})");
            tracing::warn!(error = %reason, "publish failed; nothing was created");
            Answer::NothingCreated { reason }
        }
        Err(PublishError::Rejected { reason }) => {
            tracing::info!(reason = %reason, "the platform rejected the post");
            Answer::Rejected { reason }
        }
        Err(e @ PublishError::Ambiguous { .. }) => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "no answer to a publish; reconciling");
            Answer::Ambiguous
        }
    }
}

/// The command that links an account of this kind again.
fn connect_command(provider: Provider) -> &'static str {
    match provider {
        Provider::X => "/connect x",
        Provider::FacebookPage => "/connect facebook",
        Provider::Instagram => "/connect instagram",
    }
}

/// Why a target failed when its account was revoked, with the command that mends it.
fn revoked_reason(target: &DueTarget) -> String {
    format!(
        "autopost no longer has access to {} {}: the account was disconnected or its owner removed autopost's access; link it again with {}, then press Retry",
        provider_label(target.provider),
        target.account_name,
        connect_command(target.provider)
    )
}

/// Why a target failed when its account's grant is dead, with the command that mends it.
fn reconnect_reason(target: &DueTarget) -> String {
    let command = connect_command(target.provider);
    format!(
        "{} no longer accepts autopost's access to {}; reconnect it with {command}",
        provider_label(target.provider),
        target.account_name
    )
}

/// When the account's window reopens, if the platform's last answer left nothing in it.
fn spent_until(platform: &dyn Platform, account_remote_id: &str) -> Option<DateTime<Utc>> {
    platform
        .rate_limit(account_remote_id)
        .filter(|limit| limit.remaining == Some(0))
        .and_then(|limit| limit.reset_at)
}
