//! Meta's deauthorize and data-deletion callbacks as calls: each verifies the
//! `signed_request` with the app secret before anything changes, then revokes (the person
//! removed the app) or erases (the person asked for deletion) what autopost holds for that
//! Meta user, tells the chats that lose accounts, and answers what Meta expects. The Meta
//! user id is never logged. The web routes only translate HTTP to these calls.
//! <https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback>

use std::collections::BTreeMap;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use chrono::{DateTime, Utc};
use url::Url;

use crate::config::MetaConfig;
use crate::domain::{ChatId, Provider};
use crate::oauth::{join_words, provider_label};
use crate::platforms::meta::{SignedRequestError, SignedRequestVerifier};
use crate::store::{
    DeletionRequest, DeletionSummary, Notification, NotificationKind, RevokedAccount, Store,
    StoreError,
};

/// Bytes of randomness in a confirmation code: 128 bits cannot be guessed, so the code alone
/// guards the status page.
const CODE_BYTES: usize = 16;

/// Why a callback was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum MetaCallbackError {
    /// The `signed_request` is missing, malformed or not signed with the app secret:
    /// nothing was changed. Answer 400.
    #[error("the signed_request was refused")]
    Refused(#[from] SignedRequestError),
    /// The database failed; Meta retries a callback that did not succeed.
    #[error("autopost could not carry out the callback")]
    Store(#[from] StoreError),
}

/// What a deauthorize callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deauthorized {
    /// Grants revoked (0 when autopost held none, or they were revoked already).
    pub grants: usize,
    /// Accounts that can no longer post.
    pub accounts: usize,
    /// Chats told.
    pub chats: usize,
}

/// What Meta is answered after a data-deletion request: where the person can check it, and
/// the code Meta shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionReceipt {
    /// The human-readable status page.
    pub url: Url,
    /// The confirmation code (32 hex characters).
    pub confirmation_code: String,
    /// What was erased.
    pub summary: DeletionSummary,
}

/// Carries out Meta's callbacks for one Meta app. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetaCallbacks {
    verifier: SignedRequestVerifier,
    store: Store,
    public_url: Url,
}

impl MetaCallbacks {
    /// Callbacks for the app in `config`, answering with links under `public_url`.
    pub fn new(config: &MetaConfig, store: Store, public_url: Url) -> Self {
        Self {
            verifier: SignedRequestVerifier::new(&config.app_secret),
            store,
            public_url,
        }
    }

    /// The person removed the app in their Facebook settings: every grant they gave is
    /// marked revoked with its tokens erased, so their accounts' queued posts fail instead of
    /// publishing, and each chat those accounts posted for is told.
    pub async fn deauthorize(
        &self,
        signed_request: &str,
        now: DateTime<Utc>,
    ) -> Result<Deauthorized, MetaCallbackError> {
        let request = self.verifier.verify(signed_request)?;
        let revoked = self.store.revoke_meta_user(&request.user_id, now).await?;
        let by_chat = accounts_by_chat(&revoked.accounts);
        for (chat, accounts) in &by_chat {
            self.tell(
                *chat,
                NotificationKind::AccessRemoved,
                access_removed(accounts),
                now,
            )
            .await;
        }
        let done = Deauthorized {
            grants: revoked.grants,
            accounts: revoked.accounts.len(),
            chats: by_chat.len(),
        };
        tracing::info!(
            grants = done.grants,
            accounts = done.accounts,
            chats = done.chats,
            "Meta deauthorize callback: access revoked"
        );
        Ok(done)
    }

    /// The person asked Meta to have their data deleted: everything autopost holds for that
    /// Meta user is erased in one transaction and the WAL emptied, the chats that lose
    /// accounts are told (without naming them), and the request is recorded with a fresh
    /// confirmation code for its status page. A person autopost never knew gets a code too.
    pub async fn delete_data(
        &self,
        signed_request: &str,
        now: DateTime<Utc>,
    ) -> Result<DeletionReceipt, MetaCallbackError> {
        let request = self.verifier.verify(signed_request)?;
        let code = confirmation_code();
        let erased = self
            .store
            .erase_meta_user(&request.user_id, &code, now)
            .await?;
        for (chat, accounts) in &erased.chats {
            self.tell(
                *chat,
                NotificationKind::AccountsErased,
                accounts_erased(*accounts),
                now,
            )
            .await;
        }
        // The erased rows' old pages stay in the WAL until it is emptied. The erasure is
        // committed either way, so a failure here must not cost Meta its answer (a retry
        // would get a code saying nothing was held): the next checkpoint empties it.
        if let Err(e) = self.store.checkpoint_truncate().await {
            tracing::error!(error = %crate::telemetry::chain(&e), "cannot empty the WAL after a Meta data deletion");
        }
        tracing::info!(
            accounts = erased.summary.accounts(),
            chats = erased.chats.len(),
            "Meta data-deletion callback: data erased"
        );
        Ok(DeletionReceipt {
            url: deletion_status_url(&self.public_url, &code),
            confirmation_code: code,
            summary: erased.summary,
        })
    }

    /// Tells `chat`. The revocation or erasure is committed already and a retried callback
    /// finds nothing left to do, so a notice that cannot be stored is logged, not failed on.
    async fn tell(&self, chat: ChatId, kind: NotificationKind, text: String, now: DateTime<Utc>) {
        let stored = self
            .store
            .enqueue_notification(&Notification::to_chat(chat, kind, text), now)
            .await;
        if let Err(e) = stored {
            tracing::error!(error = %crate::telemetry::chain(&e), chat = %chat, "cannot tell a chat of a Meta callback");
        }
    }
}

/// The deletion request with confirmation code `code`, for its status page; `None` for a
/// code that was never issued (or is not shaped like one, which is not looked up).
pub async fn deletion_status(
    store: &Store,
    code: &str,
) -> Result<Option<DeletionRequest>, StoreError> {
    if !is_confirmation_code(code) {
        return Ok(None);
    }
    store.deletion_request(code).await
}

/// `{public_url}/meta/deletion/{code}`: where a data-deletion request's status is shown.
pub fn deletion_status_url(public_url: &Url, code: &str) -> Url {
    crate::config::public_link(public_url, &["meta", "deletion", code])
}

/// A fresh confirmation code: 16 random bytes as lowercase hex (Meta asks for alphanumeric).
fn confirmation_code() -> String {
    let mut bytes = [0u8; CODE_BYTES];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_confirmation_code(code: &str) -> bool {
    code.len() == CODE_BYTES * 2
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The revoked accounts grouped by the chats they posted for, in chat order.
fn accounts_by_chat(accounts: &[RevokedAccount]) -> BTreeMap<ChatId, Vec<&RevokedAccount>> {
    let mut by_chat: BTreeMap<ChatId, Vec<&RevokedAccount>> = BTreeMap::new();
    for account in accounts {
        for chat in &account.chats {
            by_chat.entry(*chat).or_default().push(account);
        }
    }
    by_chat
}

/// What a chat is told when its accounts' owner removed autopost at Meta.
fn access_removed(accounts: &[&RevokedAccount]) -> String {
    let names: Vec<String> = accounts
        .iter()
        .map(|a| format!("{} ({})", a.display_name, provider_label(a.provider)))
        .collect();
    let command = if accounts.iter().all(|a| a.provider == Provider::Instagram) {
        "/connect instagram"
    } else {
        "/connect facebook"
    };
    let pronoun = if accounts.len() == 1 { "it" } else { "them" };
    format!(
        "{} can no longer post for this chat: their owner removed autopost in their Facebook settings. \
         Queued posts will not be published there; to post there again, link {pronoun} with {command}",
        join_words(&names)
    )
}

/// What a chat is told when accounts were erased at their owner's request; the accounts are
/// not named, since their names were erased too.
fn accounts_erased(count: usize) -> String {
    let accounts = if count == 1 {
        "1 Facebook or Instagram account".to_owned()
    } else {
        format!("{count} Facebook or Instagram accounts")
    };
    format!(
        "At their owner's request through Facebook, autopost erased {accounts} that posted for this chat, \
         with their queued posts and publishing history; posts to this chat's other accounts are unchanged"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountId;

    fn account(provider: Provider, name: &str) -> RevokedAccount {
        RevokedAccount {
            id: AccountId(1),
            provider,
            display_name: name.to_owned(),
            chats: vec![ChatId(1)],
        }
    }

    #[test]
    fn confirmation_codes_are_random_hex_and_only_that_shape_is_looked_up() {
        let (a, b) = (confirmation_code(), confirmation_code());
        assert_ne!(a, b);
        assert!(is_confirmation_code(&a), "{a}");
        assert!(!is_confirmation_code(&a.to_uppercase()));
        assert!(!is_confirmation_code(&a[1..]));
        assert!(!is_confirmation_code("' OR 1=1 --"));
        let url = deletion_status_url(&Url::parse("https://autopost.example/base/").unwrap(), &a);
        assert_eq!(
            url.as_str(),
            format!("https://autopost.example/base/meta/deletion/{a}")
        );
    }

    #[test]
    fn chats_are_told_which_accounts_lost_access_and_how_to_link_them_again() {
        let page = account(Provider::FacebookPage, "Alice's Bakery");
        let ig = account(Provider::Instagram, "@alices_bakery");
        assert_eq!(
            access_removed(&[&page, &ig]),
            "Alice's Bakery (Facebook Page) and @alices_bakery (Instagram) can no longer post for this chat: \
             their owner removed autopost in their Facebook settings. Queued posts will not be published there; \
             to post there again, link them with /connect facebook"
        );
        assert!(access_removed(&[&ig]).ends_with("link it with /connect instagram"));
        assert!(accounts_erased(2).contains("erased 2 Facebook or Instagram accounts"));
        assert!(accounts_erased(1).contains("erased 1 Facebook or Instagram account that"));
    }
}
