//! Revoking autopost's access at the platforms, for `/disconnect` and `/deleteme`: at once,
//! and, for tokens the platform could not be told about (unreachable, 5xx, 429), again later
//! from `pending_revocations`, with growing pauses, until it confirms or 30 days pass. Our
//! own copy of the tokens is erased at once whatever the platform says.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::crypto::Secret;
use crate::domain::{ChatId, GrantId, OAuthProvider, Provider, UserId};
use crate::instance::Role;
use crate::platforms::{AuthError, Platform, PublishError};
use crate::store::{AuditKind, Notification, NotificationKind, PendingRevocation, StoreError};

/// The first retry of a revocation comes this long after the platform could not be reached;
/// each later one waits twice as long as the one before, up to [`LONGEST_PAUSE`].
pub const FIRST_RETRY: Duration = Duration::minutes(5);
/// The longest pause between two tries.
pub const LONGEST_PAUSE: Duration = Duration::hours(12);
/// How long a revocation is retried before it is given up: the policy keeps nothing of a
/// person longer than 30 days, not even a sealed token.
pub const GIVE_UP_AFTER: Duration = Duration::days(30);
/// Most pending revocations tried in one round.
const ROUND: u32 = 100;

/// What became of one grant's access at its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The platform confirmed the revocation.
    Revoked,
    /// There was nothing left to revoke: the grant was revoked before (nothing was sent), or
    /// the platform says its tokens were already dead (X: invalid token; Meta: error 190).
    AlreadyRevoked,
    /// The platform could not be reached for some token. Our copy is erased all the same; a
    /// sealed copy is kept only to try again, and the chat that asked is told the outcome.
    WillRetry,
}

/// What one round of retries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetriedRevocations {
    /// Tokens the platform now confirmed revoked (or dead).
    pub revoked: usize,
    /// Tokens it still could not be told about: tried again later.
    pub postponed: usize,
}

/// The name people know the platform by.
pub fn platform_name(provider: OAuthProvider) -> &'static str {
    match provider {
        OAuthProvider::X => "X",
        OAuthProvider::Meta => "Facebook/Instagram",
    }
}

/// What one revoke call said, in the terms that matter here.
enum Answer {
    Confirmed,
    AlreadyDead,
    /// Try later, not before `not_before` if the platform said so.
    Unreachable {
        not_before: Option<DateTime<Utc>>,
    },
}

impl App {
    /// Revokes a grant at its platform, then erases its tokens here whatever the answer: a
    /// platform that cannot be reached must not keep our copy alive. A token the platform
    /// could not be told about is kept sealed and retried after [`FIRST_RETRY`] (or the
    /// platform's rate-limit reset, if later); `tell` is the chat (and what it calls the
    /// access, "@alice (X)") to tell how that ends. A grant already revoked is skipped.
    /// Recorded in the audit log for `owner`.
    pub async fn revoke_grant(
        &self,
        grant: GrantId,
        provider: OAuthProvider,
        owner: Option<UserId>,
        tell: Option<(ChatId, &str)>,
        now: DateTime<Utc>,
    ) -> Result<Revocation, StoreError> {
        let log_id = self.log_ids().grant(grant);
        let tokens = match self.store().grant_tokens(grant).await {
            Ok(tokens) => tokens,
            // Revoked before (or never held a token): nothing to send, nothing to erase.
            Err(StoreError::NotFound { .. }) => return Ok(Revocation::AlreadyRevoked),
            Err(e) => return Err(e),
        };
        let platform = self.platform_of(provider);
        let mut confirmed = false;
        let mut unconfirmed: Vec<Secret> = Vec::new();
        let mut first_retry = now + FIRST_RETRY;
        // X: the refresh token is what keeps access alive; revoke it first.
        for token in tokens
            .refresh_token
            .into_iter()
            .chain([tokens.access_token])
        {
            match revoke(platform.as_deref(), provider, &token).await {
                Answer::Confirmed => confirmed = true,
                Answer::AlreadyDead => {}
                Answer::Unreachable { not_before } => {
                    unconfirmed.push(token);
                    first_retry = first_retry.max(not_before.unwrap_or(first_retry));
                }
            }
        }
        let outcome = match (unconfirmed.is_empty(), confirmed) {
            (false, _) => Revocation::WillRetry,
            (true, true) => Revocation::Revoked,
            (true, false) => Revocation::AlreadyRevoked,
        };
        let (chat, label) = tell.map_or((None, ""), |(chat, label)| (Some(chat), label));
        self.store()
            .revoke_grant_here(
                grant,
                provider,
                &unconfirmed,
                owner,
                chat,
                label,
                first_retry,
                now,
            )
            .await?;
        let (kind, detail) = match outcome {
            Revocation::Revoked => (AuditKind::TokenRevoked, "revoked at the platform"),
            Revocation::AlreadyRevoked => (
                AuditKind::TokenRevoked,
                "already dead at the platform; erased here",
            ),
            Revocation::WillRetry => (
                AuditKind::RevokeFailed,
                "erased here; the platform could not be reached, so revoking it there is retried",
            ),
        };
        self.store()
            .record_audit(
                kind,
                owner,
                None,
                &format!("{provider} grant {grant}: {detail}"),
                now,
            )
            .await?;
        tracing::info!(grant = %log_id, provider = %provider, outcome = ?outcome, "grant revoked");
        Ok(outcome)
    }

    /// Tries once more every pending revocation due by `now`. A confirmed one is removed and
    /// its chat told; one still unreachable waits twice as long as before (or until the
    /// platform's rate-limit reset, if later). Giving up after 30 days is the purge's.
    pub async fn retry_revocations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<RetriedRevocations, StoreError> {
        let mut report = RetriedRevocations::default();
        for pending in self.store().due_revocations(now, ROUND).await? {
            let platform = self.platform_of(pending.provider);
            match revoke(platform.as_deref(), pending.provider, &pending.token).await {
                Answer::Confirmed | Answer::AlreadyDead => {
                    self.confirmed_later(&pending, now).await?;
                    report.revoked += 1;
                }
                Answer::Unreachable { not_before } => {
                    let next =
                        (now + pause_after(pending.attempts + 1)).max(not_before.unwrap_or(now));
                    self.store().revocation_postponed(pending.id, next).await?;
                    report.postponed += 1;
                }
            }
        }
        if report != RetriedRevocations::default() {
            tracing::info!(
                revoked = report.revoked,
                postponed = report.postponed,
                "pending revocations retried"
            );
        }
        Ok(report)
    }

    /// Gives up on revocations pending since before `now` − 30 days and tells their chats,
    /// where those still exist; returns how many.
    pub(crate) async fn abandon_revocations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let abandoned = self
            .store()
            .abandon_revocations(now - GIVE_UP_AFTER)
            .await?;
        for given_up in &abandoned {
            let Some(chat) = given_up.chat else { continue };
            let platform = platform_name(given_up.provider);
            let what = if given_up.label.is_empty() {
                "an account".to_owned()
            } else {
                given_up.label.clone()
            };
            let text = format!(
                "autopost could not reach {platform} for 30 days to revoke its access to {what}, \
                 and has stopped trying. Its own copy of that access was erased when it was \
                 disconnected; to be sure, remove autopost from the connected apps in your \
                 {platform} settings."
            );
            self.tell(chat, NotificationKind::RevocationAbandoned, text, now)
                .await?;
        }
        if !abandoned.is_empty() {
            tracing::warn!(
                count = abandoned.len(),
                "revocations given up after 30 days without reaching the platform"
            );
        }
        Ok(abandoned.len())
    }

    /// Retries pending revocations until `stop` turns true: a round, then a sleep until the
    /// next one is due, at most [`FIRST_RETRY`] (so that one deferred meanwhile is not late).
    pub(crate) async fn run_revocations(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        // One instance retries (the one playing the role), so a revocation is not sent twice.
        if !self.instance().hold(Role::Revocations, &mut stop).await {
            return;
        }
        loop {
            let now = Utc::now();
            if let Err(e) = self.retry_revocations(now).await {
                tracing::error!(error = %crate::telemetry::chain(&e), "retrying revocations failed");
            }
            let next = match self.store().next_revocation_at().await {
                Ok(Some(at)) => (at - Utc::now()).min(FIRST_RETRY),
                Ok(None) => FIRST_RETRY,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "cannot read pending revocations");
                    FIRST_RETRY
                }
            };
            let sleep = next
                .to_std()
                .unwrap_or(StdDuration::ZERO)
                .max(StdDuration::from_secs(1));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = crate::front_end::stopped(&mut stop) => return,
            }
        }
    }

    /// The platform a grant's tokens work at, if it is configured.
    fn platform_of(&self, provider: OAuthProvider) -> Option<Arc<dyn Platform>> {
        match provider {
            OAuthProvider::X => self.platforms().for_provider(Provider::X),
            OAuthProvider::Meta => self.platforms().for_provider(Provider::FacebookPage),
        }
    }

    async fn confirmed_later(
        &self,
        pending: &PendingRevocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let platform = platform_name(pending.provider);
        let notice = pending.chat.map(|chat| {
            let text = if pending.label.is_empty() {
                format!("autopost's access is now revoked at {platform}.")
            } else {
                format!(
                    "autopost's access to {} is now revoked at {platform}.",
                    pending.label
                )
            };
            Notification::to_chat(chat, NotificationKind::AccessRevoked, text)
        });
        self.store()
            .settle_revocation(pending.id, notice.as_ref(), now)
            .await?;
        self.store()
            .record_audit(
                AuditKind::TokenRevoked,
                None,
                None,
                &format!(
                    "{} token revoked at the platform on try {}",
                    pending.provider,
                    pending.attempts + 2
                ),
                now,
            )
            .await
    }

    async fn tell(
        &self,
        chat: ChatId,
        kind: NotificationKind,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store()
            .enqueue_notification(&Notification::to_chat(chat, kind, text), now)
            .await
            .map(drop)
    }
}

/// The pause before try number `attempt` + 1: [`FIRST_RETRY`] doubled per try, at most
/// [`LONGEST_PAUSE`].
fn pause_after(attempt: u32) -> Duration {
    let doublings = attempt.min(16);
    (FIRST_RETRY * 2i32.pow(doublings)).min(LONGEST_PAUSE)
}

/// One revoke call, classified. A platform that is not configured counts as unreachable:
/// the operator may turn it back on within the 30 days.
async fn revoke(
    platform: Option<&dyn Platform>,
    provider: OAuthProvider,
    token: &Secret,
) -> Answer {
    let Some(platform) = platform else {
        tracing::warn!(provider = %provider, "cannot revoke: the platform is not configured");
        return Answer::Unreachable { not_before: None };
    };
    match platform.revoke(token).await {
        Ok(()) => Answer::Confirmed,
        // The platform no longer knows the token: it cannot act for anyone any more.
        Err(AuthError::Revoked { .. } | AuthError::NotRefreshable) => Answer::AlreadyDead,
        Err(AuthError::Transient(e)) => {
            tracing::warn!(provider = %provider, error = %crate::telemetry::chain(&e), "revoking at the platform failed; will retry");
            let not_before = match e {
                PublishError::RateLimited { reset_at } => reset_at,
                _ => None,
            };
            Answer::Unreachable { not_before }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_five_minutes_up_to_twelve_hours() {
        assert_eq!(pause_after(0), Duration::minutes(5));
        assert_eq!(pause_after(1), Duration::minutes(10));
        assert_eq!(pause_after(3), Duration::minutes(40));
        assert_eq!(pause_after(8), Duration::hours(12));
        assert_eq!(pause_after(u32::MAX), Duration::hours(12));
    }
}
