//! The privacy promises the bots expose: `/export` (all of a person's data, no secrets),
//! `/deleteme` (tokens revoked at the platforms, rows erased at once, images removed) and
//! `/disconnect` (unlink an account, revoking its token once nothing uses it).

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::Actor;
use crate::domain::{AccountId, GrantId, OAuthProvider, Provider, UserId};
use crate::platforms::redact::Redactor;
use crate::store::{AuditKind, StoreError};

/// Why a privacy request could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The account is not linked to this chat.
    #[error("that account is not linked to this chat; see /accounts")]
    NotLinked,
    /// Only the person who linked it or a chat admin may unlink an account.
    #[error("only the person who linked {0} or a chat admin can disconnect it")]
    NotAllowed(String),
    /// The export could not be written.
    #[error("autopost could not prepare the export")]
    Export(#[source] serde_json::Error),
    /// The database failed.
    #[error("autopost could not complete the request")]
    Store(#[from] StoreError),
}

/// What `/deleteme` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Erasure {
    /// Grants revoked at their platform.
    pub revoked: usize,
    /// Grants the platform could not be told about (network failure); their tokens are
    /// erased here all the same.
    pub revoke_failed: usize,
    /// Image files removed from disk.
    pub files_removed: usize,
}

impl App {
    /// All of `user`'s data as pretty JSON, without any token; recorded in the audit log.
    pub async fn export_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, PrivacyError> {
        let export = self.store().export_user(user).await?;
        let json = serde_json::to_vec_pretty(&export).map_err(PrivacyError::Export)?;
        self.store()
            .record_audit(
                AuditKind::DataExported,
                Some(user),
                None,
                "data exported",
                now,
            )
            .await?;
        Ok(json)
    }

    /// Revokes every token `user` granted at its platform, then erases them and everything
    /// of theirs in one transaction and removes their images from disk.
    pub async fn erase_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Erasure, PrivacyError> {
        let mut erasure = Erasure::default();
        for (grant, provider) in self.store().grants_of_user(user).await? {
            if self.revoke_grant(grant, provider).await {
                erasure.revoked += 1;
            } else {
                erasure.revoke_failed += 1;
            }
        }
        let files = self.store().erase_user(user, now).await?;
        for file in files {
            match self.media().remove(&file).await {
                Ok(()) => erasure.files_removed += 1,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "cannot remove an erased user's image")
                }
            }
        }
        tracing::info!(
            revoked = erasure.revoked,
            revoke_failed = erasure.revoke_failed,
            "user erased"
        );
        Ok(erasure)
    }

    /// Unlinks an account from the actor's chat. Once no chat uses its grant any more, the
    /// token is revoked at the platform and erased here.
    pub async fn disconnect_account(
        &self,
        actor: &Actor,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<bool, PrivacyError> {
        let linked = self.store().accounts_of_chat(actor.chat).await?;
        let Some(found) = linked.iter().find(|a| a.id == account) else {
            return Err(PrivacyError::NotLinked);
        };
        if found.owner != actor.user && !actor.is_admin {
            return Err(PrivacyError::NotAllowed(found.display_name.clone()));
        }
        let (grant, remaining) = self.store().unlink_account(actor.chat, account).await?;
        let mut revoked = false;
        if remaining == 0 {
            revoked = self
                .revoke_grant(grant, found.provider.oauth_provider())
                .await;
        }
        self.store()
            .record_audit(
                AuditKind::TokenRevoked,
                Some(found.owner),
                Some(account),
                &format!(
                    "{} disconnected from chat {}",
                    found.display_name, actor.chat
                ),
                now,
            )
            .await?;
        Ok(revoked)
    }

    /// Tells the platform to revoke a grant's tokens, then erases them here whatever the
    /// answer: a platform that cannot be reached must not keep our copy alive. Returns
    /// whether the platform confirmed.
    async fn revoke_grant(&self, grant: GrantId, provider: OAuthProvider) -> bool {
        let platform = match provider {
            OAuthProvider::X => self.platforms().for_provider(Provider::X),
            OAuthProvider::Meta => self.platforms().for_provider(Provider::FacebookPage),
        };
        let mut confirmed = false;
        if let (Some(platform), Ok(tokens)) = (platform, self.store().grant_tokens(grant).await) {
            // X: the refresh token is what keeps access alive; revoke it first.
            if let Some(refresh) = &tokens.refresh_token {
                confirmed |= platform.revoke(refresh).await.is_ok();
            }
            match platform.revoke(&tokens.access_token).await {
                Ok(()) => confirmed = true,
                Err(e) if !confirmed => {
                    let secrets = Redactor::new()
                        .with(&tokens.access_token)
                        .with_optional(tokens.refresh_token.as_ref());
                    let e = e.redacted(&secrets);
                    tracing::warn!(grant = %grant, error = %crate::telemetry::chain(&e), "revocation at the platform failed");
                }
                Err(_) => {}
            }
        }
        if let Err(e) = self.store().mark_grant_revoked(grant).await {
            tracing::error!(grant = %grant, error = %crate::telemetry::chain(&e), "cannot erase revoked tokens");
        }
        if let Err(e) = self
            .store()
            .record_audit(
                AuditKind::TokenRevoked,
                None,
                None,
                &format!("{provider} grant {grant} revoked"),
                Utc::now(),
            )
            .await
        {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot record a revocation");
        }
        confirmed
    }
}
