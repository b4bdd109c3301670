//! Token upkeep: refreshes X tokens before they expire and Meta long-lived tokens before they
//! lapse, one refresh at a time per grant (across instances too: X refresh tokens are single
//! use). Only a definite "this grant is dead" from the
//! platform marks it for reconnection; a network blip is retried on the next round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::crypto::Secret;
use crate::domain::{GrantId, OAuthProvider};
use crate::instance::{Instance, Role};
use crate::log_ids::LogIds;
use crate::platforms::redact::Redactor;
use crate::platforms::{AuthError, Platform};
use crate::store::{AuditKind, Notification, NotificationKind, Store, StoreError};

/// How long before expiry each kind of token is refreshed. X access tokens live 2 hours;
/// Meta long-lived user tokens about 60 days.
fn refresh_margin(provider: OAuthProvider) -> Duration {
    match provider {
        OAuthProvider::X => Duration::minutes(10),
        OAuthProvider::Meta => Duration::days(7),
    }
}

/// The longest the upkeep task sleeps between rounds, so that tokens linked meanwhile are
/// picked up in time.
const MAX_SLEEP: StdDuration = StdDuration::from_secs(300);

/// What one refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens are stored.
    Refreshed,
    /// Another task refreshed the grant while this one waited.
    AlreadyFresh,
    /// The platform refused for good: the grant and its accounts need `/connect`.
    NeedsReconnect,
    /// A passing failure; the grant is left as it was and retried later.
    Postponed,
}

/// Keeps grants' tokens fresh.
pub struct TokenKeeper {
    store: Store,
    x: Option<Arc<dyn Platform>>,
    meta: Option<Arc<dyn Platform>>,
    locks: Mutex<HashMap<GrantId, Arc<tokio::sync::Mutex<()>>>>,
    log_ids: LogIds,
}

impl std::fmt::Debug for TokenKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeeper")
            .field("x", &self.x.is_some())
            .field("meta", &self.meta.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenKeeper {
    /// A keeper refreshing through these platforms (`None` = that platform is off), naming
    /// grants in its log lines with `log_ids`.
    pub fn new(
        store: Store,
        x: Option<Arc<dyn Platform>>,
        meta: Option<Arc<dyn Platform>>,
        log_ids: LogIds,
    ) -> Self {
        Self {
            store,
            x,
            meta,
            locks: Mutex::new(HashMap::new()),
            log_ids,
        }
    }

    fn lock_for(&self, grant: GrantId) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another thread panicked mid-insert; the map is still usable.
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(grant).or_default().clone()
    }

    /// Refreshes one grant now unless another caller just did. X refresh tokens are single
    /// use, so callers for the same grant queue behind one lock and the new pair is stored
    /// before the lock is released.
    pub async fn refresh_grant(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        self.refresh(grant, provider, None, now).await
    }

    /// Refreshes a grant whose access token `rejected` the platform just refused, whatever
    /// its stored expiry says, unless another caller has replaced that token meanwhile.
    pub async fn refresh_rejected(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        rejected: &Secret,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        self.refresh(grant, provider, Some(rejected), now).await
    }

    async fn refresh(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        rejected: Option<&Secret>,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let lock = self.lock_for(grant);
        let _held = lock.lock().await;
        let platform = match provider {
            OAuthProvider::X => self.x.as_ref(),
            OAuthProvider::Meta => self.meta.as_ref(),
        };
        let Some(platform) = platform else {
            return Ok(RefreshOutcome::Postponed);
        };
        // Other instances refresh too (a publish that got 401 refreshes on the spot): one at a
        // time per grant across all of them, and the stored token is read only once this
        // instance's turn came, so that a refresh another one just made is used, not repeated.
        let held = self.store.lock_grant_refresh(grant).await?;
        let outcome = self
            .refresh_held(grant, provider, platform.as_ref(), rejected, now)
            .await;
        held.release().await;
        outcome
    }

    /// [`TokenKeeper::refresh`] once no other caller, here or on another instance, refreshes
    /// the grant.
    async fn refresh_held(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        platform: &dyn Platform,
        rejected: Option<&Secret>,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let tokens = self.store.grant_tokens(grant).await?;
        let fresh = match rejected {
            // Someone else already replaced the refused token while we waited for the lock.
            Some(rejected) => !tokens.access_token.matches(rejected.expose()),
            None => tokens
                .expires_at
                .is_some_and(|at| at > now + refresh_margin(provider)),
        };
        if fresh {
            return Ok(RefreshOutcome::AlreadyFresh);
        }
        // Meta has no refresh token: its long-lived token is exchanged for a new one.
        let credential = match (provider, &tokens.refresh_token) {
            (OAuthProvider::X, Some(refresh)) => refresh,
            (OAuthProvider::X, None) => {
                return self.give_up(grant, provider, now).await;
            }
            (OAuthProvider::Meta, _) => &tokens.access_token,
        };
        let refreshed = match platform.refresh(credential).await {
            Ok(fresh) => Ok(fresh),
            // Whatever the platform said loses every secret of the grant before it is logged.
            Err(e) => {
                Err(e.redacted(&Redactor::new().with_all(&self.store.grant_secrets(grant).await?)))
            }
        };
        match refreshed {
            Ok(fresh) => {
                self.store
                    .update_grant_tokens(
                        grant,
                        &fresh.access_token,
                        fresh.refresh_token,
                        fresh.expires_at,
                        now,
                    )
                    .await?;
                self.store
                    .record_grant_audit(
                        AuditKind::TokenRefreshed,
                        grant,
                        &format!("{provider} grant {grant} refreshed"),
                        now,
                    )
                    .await?;
                tracing::info!(grant = %self.log_ids.grant(grant), provider = %provider, "token refreshed");
                Ok(RefreshOutcome::Refreshed)
            }
            Err(AuthError::Revoked { .. }) => self.give_up(grant, provider, now).await,
            Err(AuthError::NotRefreshable) => Ok(RefreshOutcome::AlreadyFresh),
            Err(e @ AuthError::Transient(_)) => {
                tracing::warn!(
                    grant = %self.log_ids.grant(grant),
                    provider = %provider,
                    error = %crate::telemetry::chain(&e),
                    "token refresh failed; will retry"
                );
                Ok(RefreshOutcome::Postponed)
            }
        }
    }

    async fn give_up(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let chats = self.store.mark_grant_needs_reconnect(grant).await?;
        // The security log keeps who lost access, so the operator can answer "why did my
        // posts stop?" and the person sees it in their export.
        self.store
            .record_grant_audit(
                AuditKind::RefreshFailed,
                grant,
                &format!("{provider} grant {grant} refused by the platform; needs /connect"),
                now,
            )
            .await?;
        let command = match provider {
            OAuthProvider::X => "/connect x",
            OAuthProvider::Meta => "/connect facebook",
        };
        let platform = match provider {
            OAuthProvider::X => "X",
            OAuthProvider::Meta => "Facebook/Instagram",
        };
        for chat in chats {
            self.store
                .enqueue_notification(
                    &Notification {
                        chat: Some(chat),
                        user: None,
                        kind: NotificationKind::AccountNeedsReconnect,
                        text: format!(
                            "{platform} no longer accepts autopost's access for an account of this chat; \
                             its owner should use {command} to link it again"
                        ),
                        link: None,
                        target: None,
                        post: None,
                    },
                    now,
                )
                .await?;
        }
        tracing::warn!(grant = %self.log_ids.grant(grant), provider = %provider, "grant needs reconnecting");
        Ok(RefreshOutcome::NeedsReconnect)
    }

    /// Refreshes every grant whose token lapses within its margin; returns the outcomes.
    pub async fn sweep(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(GrantId, RefreshOutcome)>, StoreError> {
        let horizon =
            now + refresh_margin(OAuthProvider::Meta).max(refresh_margin(OAuthProvider::X));
        let mut outcomes = Vec::new();
        for grant in self.store.grants_expiring_before(horizon).await? {
            if grant.expires_at > now + refresh_margin(grant.provider) {
                continue;
            }
            let outcome = self.refresh_grant(grant.id, grant.provider, now).await?;
            outcomes.push((grant.id, outcome));
        }
        Ok(outcomes)
    }

    /// Sweeps until `shutdown` fires: after each round it sleeps until the next token is
    /// due for refresh, at most five minutes. Only while `instance` plays
    /// [`Role::TokenUpkeep`]: one instance sweeps, so instances do not race to refresh.
    pub async fn run(
        self: Arc<Self>,
        instance: Instance,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        if !instance.hold(Role::TokenUpkeep, &mut shutdown).await {
            return;
        }
        loop {
            let now = Utc::now();
            if let Err(e) = self.sweep(now).await {
                tracing::error!(error = %crate::telemetry::chain(&e), "token upkeep round failed");
            }
            let next = self.next_due(now).await.unwrap_or(MAX_SLEEP).min(MAX_SLEEP);
            tokio::select! {
                () = tokio::time::sleep(next) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn next_due(&self, now: DateTime<Utc>) -> Option<StdDuration> {
        let grants = self
            .store
            .grants_expiring_before(now + Duration::days(30))
            .await
            .ok()?;
        grants
            .iter()
            .map(|g| g.expires_at - refresh_margin(g.provider) - now)
            .min()
            .map(|d| {
                d.to_std()
                    .unwrap_or(StdDuration::ZERO)
                    .max(StdDuration::from_secs(1))
            })
    }
}
