//! The scheduler: claims due targets from the store in due order, publishes each on its
//! platform within concurrency bounds and rate-limit windows, and records every outcome.
//! It never sends a target twice: a target is `publishing` in the database before any
//! request, retries happen only when nothing can have been created, and an attempt whose
//! answer was lost is reconciled against the account's recent posts.

mod decision;
mod thread;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use url::Url;

use crate::domain::{AccountId, AccountState, Provider};
use crate::media::MediaFiles;
use crate::oauth::provider_label;
use crate::platforms::redact::Redactor;
use crate::platforms::{
    AccountRef, Media, Platform, Platforms, PostContent, PublishError, Published,
};
use crate::store::{DueTarget, Notification, Store, StoreError};
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
    /// Targets being published at once, in all.
    pub max_in_flight: usize,
    /// Targets being published at once per platform.
    pub per_platform: usize,
    /// Targets being published at once per account.
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
            per_platform: 32,
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
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Targets claimed and started.
    pub started: usize,
    /// When the next queued target is due, if any.
    pub next_due: Option<DateTime<Utc>>,
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
    store: Store,
    platforms: Platforms,
    media: MediaFiles,
    public_url: Url,
    tokens: Arc<TokenKeeper>,
    config: SchedulerConfig,
    wake: Notify,
    in_flight: Arc<Semaphore>,
    platform_slots: HashMap<Provider, Arc<Semaphore>>,
    account_slots: Mutex<HashMap<AccountId, Arc<Semaphore>>>,
    events: broadcast::Sender<Notification>,
    progress: watch::Sender<Progress>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over the store and the configured platforms.
    pub fn new(
        store: Store,
        platforms: Platforms,
        media: MediaFiles,
        public_url: Url,
        tokens: Arc<TokenKeeper>,
        config: SchedulerConfig,
    ) -> Self {
        let platform_slots = Provider::ALL
            .iter()
            .map(|p| (*p, Arc::new(Semaphore::new(config.per_platform))))
            .collect();
        let (events, _) = broadcast::channel(1024);
        Self {
            store,
            platforms,
            media,
            public_url,
            tokens,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            wake: Notify::new(),
            platform_slots,
            account_slots: Mutex::new(HashMap::new()),
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

    /// Claims as many due targets as there are free slots and starts publishing them on
    /// `tasks`; returns how many started and when the next one is due.
    pub async fn tick(
        self: &Arc<Self>,
        now: DateTime<Utc>,
        tasks: &mut JoinSet<()>,
    ) -> Result<Tick, StoreError> {
        let free = u32::try_from(self.in_flight.available_permits()).unwrap_or(u32::MAX);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            self.store.claim_due(now, free).await?
        };
        let started = claimed.len();
        for target in claimed {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                // Cannot happen: we claimed no more than the free permits, and only ticks
                // take them. Should it ever, the target is reconciled at the next start.
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
                    scheduler.publish(target).await;
                }
                .instrument(span),
            );
        }
        Ok(Tick {
            started,
            next_due: self.store.next_due_at().await?,
        })
    }

    /// Runs until `shutdown` turns true: reconciles what a previous run left in flight, then
    /// sleeps until the next due time (or a wake-up), publishes, and repeats. On shutdown it
    /// claims nothing more and waits for the publishes in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        // Only what was in flight before this run claims anything is stale: a target this
        // run claims must never be mistaken for one a crash left behind.
        match self.store.in_flight_targets().await {
            Ok(stale) if !stale.is_empty() => {
                let reconciler = Arc::clone(&self);
                tasks.spawn(async move {
                    if let Err(e) = reconciler.reconcile(stale).await {
                        tracing::error!(error = %crate::telemetry::chain(&e), "reconciliation failed");
                    }
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %crate::telemetry::chain(&e), "cannot read posts left in flight");
            }
        }
        loop {
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
                Ok(tick) => tick
                    .next_due
                    .map(|due| (due - now).to_std().unwrap_or(Duration::ZERO)),
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "claiming due posts failed");
                    Some(Duration::from_secs(1))
                }
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
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

    fn account_slot(&self, account: AccountId) -> Arc<Semaphore> {
        // A poisoned map only means a thread panicked mid-insert; the map is still usable.
        let mut slots = self
            .account_slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots
            .entry(account)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_account)))
            .clone()
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
        if let Some(limit) = platform.rate_limit(&target.account_remote_id)
            && limit.remaining == Some(0)
            && let Some(reset) = limit.reset_at.filter(|r| *r > now)
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
        let platform_slot = self.platform_slots.get(&target.provider).cloned();
        let _platform_permit = match &platform_slot {
            Some(slot) => slot.clone().acquire_owned().await.ok(),
            None => None,
        };
        let _account_permit = self.account_slot(target.account).acquire_owned().await.ok();
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
            let published = platform.publish(account, content).await;
            let answer = answer_of(
                target.provider,
                self.without_secrets(target, published).await?,
            );
            let now = Utc::now();
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
        let lookup = platform.find_recent(account, content).await;
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

    /// Reconciles every target left `publishing` by an earlier run (a crash or kill -9):
    /// never resent blindly. Returns how many were examined.
    pub async fn reconcile_in_flight(&self) -> Result<usize, StoreError> {
        let targets = self.store.in_flight_targets().await?;
        self.reconcile(targets).await
    }

    /// Reconciles `targets`, each left `publishing` by an earlier run.
    async fn reconcile(&self, targets: Vec<DueTarget>) -> Result<usize, StoreError> {
        if targets.is_empty() {
            return Ok(0);
        }
        tracing::info!(count = targets.len(), "reconciling posts left in flight");
        for target in &targets {
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
        }
        Ok(targets.len())
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
            let bytes = match self.media.read(&file.file_name).await {
                Ok(bytes) => bytes,
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
        if let Outcome::Retry(_) = outcome {
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
