//! The privacy promises the bots expose: `/deleteme` (tokens revoked at the platforms, rows
//! erased at once, images removed) and `/disconnect` (unlink an account, revoking its token
//! once nothing uses it). `/export` is in [`crate::export`]; revoking itself, and retrying
//! it, is [`crate::revocation`]'s.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{AccountId, Actor, UserId};
use crate::oauth::provider_label;
use crate::revocation::Revocation;
use crate::store::{AuditKind, StoreError};
// What the privacy calls return, named here so that front ends need not know the store.
pub use crate::store::GrantUse;

/// Why a privacy request could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The account is not linked to this chat.
    #[error("that account is not linked to this chat; see /accounts")]
    NotLinked,
    /// Only the person who linked it or a chat admin may unlink an account.
    #[error("only the person who linked {0} or a chat admin can disconnect it")]
    NotAllowed(String),
    /// The database failed.
    #[error("autopost could not complete the request")]
    Store(#[from] StoreError),
}

/// What `/deleteme` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Erasure {
    /// Grants the platform confirmed revoking.
    pub revoked: usize,
    /// Grants with nothing left to revoke: revoked before, or already dead at the platform.
    pub already_revoked: usize,
    /// Grants the platform could not be told about (unreachable, 5xx, 429). Their tokens
    /// are erased here all the same; a sealed copy is kept only to retry the revocation,
    /// for at most 30 days.
    pub retrying: usize,
    /// Image files removed from disk.
    pub files_removed: usize,
}

/// What `/disconnect` did about autopost's access at the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnected {
    /// Nothing else used the access: the platform confirmed revoking it.
    Revoked,
    /// Nothing else used the access, and there was nothing left to revoke (revoked before,
    /// or the platform says it was already dead).
    AlreadyRevoked,
    /// Nothing else used the access, but the platform could not be reached: our copy is
    /// erased, revoking is retried, and the chat is told how that ends.
    WillRetry,
    /// The same authorization still serves these accounts (here or in other chats), so it
    /// was not revoked; disconnecting them too revokes it.
    Kept {
        /// What still uses it.
        still_serves: Vec<GrantUse>,
    },
}

impl From<Revocation> for Disconnected {
    fn from(revocation: Revocation) -> Self {
        match revocation {
            Revocation::Revoked => Disconnected::Revoked,
            Revocation::AlreadyRevoked => Disconnected::AlreadyRevoked,
            Revocation::WillRetry => Disconnected::WillRetry,
        }
    }
}

impl App {
    /// Revokes every token `user` granted at its platform, then erases them and everything
    /// of theirs in one transaction, removes their images from disk and empties the
    /// database's write-ahead log, so that none of it is left in any file while autopost
    /// keeps running. A token the platform could not be told about is retried for 30 days
    /// (sealed, with nothing that says whose it was).
    pub async fn erase_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Erasure, PrivacyError> {
        let mut erasure = Erasure::default();
        for (grant, provider) in self.store().grants_of_user(user).await? {
            match self
                .revoke_grant(grant, provider, Some(user), None, now)
                .await?
            {
                Revocation::Revoked => erasure.revoked += 1,
                Revocation::AlreadyRevoked => erasure.already_revoked += 1,
                Revocation::WillRetry => erasure.retrying += 1,
            }
        }
        let files = self.store().erase_user(user, now).await?;
        erasure.files_removed = self.remove_unused_files(files).await;
        self.empty_write_ahead_log().await;
        tracing::info!(
            revoked = erasure.revoked,
            already_revoked = erasure.already_revoked,
            retrying = erasure.retrying,
            files_removed = erasure.files_removed,
            "user erased"
        );
        Ok(erasure)
    }

    /// Unlinks an account from the actor's chat. Once nothing uses its grant any more, the
    /// token is revoked at the platform and erased here; the answer says which happened.
    pub async fn disconnect_account(
        &self,
        actor: &Actor,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Disconnected, PrivacyError> {
        let linked = self.store().accounts_of_chat(actor.chat).await?;
        let Some(found) = linked.iter().find(|a| a.id == account) else {
            return Err(PrivacyError::NotLinked);
        };
        if found.owner != actor.user && !actor.is_admin {
            return Err(PrivacyError::NotAllowed(found.display_name.clone()));
        }
        let unlinked = self.store().unlink_account(actor.chat, account).await?;
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
        let outcome = if unlinked.still_serves.is_empty() {
            let label = format!(
                "{} ({})",
                found.display_name,
                provider_label(found.provider)
            );
            self.revoke_grant(
                unlinked.grant,
                found.provider.oauth_provider(),
                Some(found.owner),
                Some((actor.chat, &label)),
                now,
            )
            .await?
            .into()
        } else {
            Disconnected::Kept {
                still_serves: unlinked.still_serves,
            }
        };
        self.empty_write_ahead_log().await;
        Ok(outcome)
    }

    /// Removes each of `files` that no image row names any more; returns how many went.
    /// Files are shared by content: each is checked again while no post is being saved.
    pub(crate) async fn remove_unused_files(&self, files: Vec<String>) -> usize {
        if files.is_empty() {
            return 0;
        }
        let _removing = self.media().removing().await;
        let mut removed = 0;
        for file in files {
            match self.store().media_file_in_use(&file).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "cannot check whether an image is still used; kept");
                    continue;
                }
            }
            match self.media().remove(&file).await {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "cannot remove an unused image")
                }
            }
        }
        removed
    }

    /// Empties the write-ahead log after rows were erased, so that their old content is in
    /// no file. Failing that, it moves at the next checkpoint; the operator is told.
    pub(crate) async fn empty_write_ahead_log(&self) {
        if let Err(e) = self.store().checkpoint_truncate().await {
            tracing::error!(
                error = %crate::telemetry::chain(&e),
                "erased rows may stay in the write-ahead log until the next checkpoint"
            );
        }
    }
}
