//! OAuth grants, the accounts they give access to, and which chats each account posts for.
//! Tokens are sealed with the row's identity before they reach SQL.

use chrono::{DateTime, Utc};

use super::audit::AuditKind;
use super::db::{Tx, query, query_as, query_scalar};

use super::chats::found;
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::crypto::{Aad, Secret};
use crate::domain::{AccountId, AccountState, ChatId, GrantId, OAuthProvider, Provider, UserId};

/// What an OAuth exchange produced, to be stored for `owner`.
#[derive(Debug)]
pub struct NewGrant<'a> {
    /// Who authorized.
    pub owner: UserId,
    /// At which platform.
    pub provider: OAuthProvider,
    /// Their user id at the platform.
    pub remote_user_id: &'a str,
    /// Scopes the platform granted, space-separated.
    pub scopes: &'a str,
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, if the platform issued one.
    pub refresh_token: Option<Secret>,
    /// When the access token lapses, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The tokens of a grant, opened.
#[derive(Debug)]
pub struct GrantTokens {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, if any.
    pub refresh_token: Option<Secret>,
    /// When the access token lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A grant whose access token lapses soon, for the refresh task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringGrant {
    /// The grant.
    pub id: GrantId,
    /// X or Meta.
    pub provider: OAuthProvider,
    /// Who gave it.
    pub owner: UserId,
    /// When its access token lapses.
    pub expires_at: DateTime<Utc>,
}

/// One account a grant gives access to.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// The grant behind it.
    pub grant: GrantId,
    /// What kind of account.
    pub provider: Provider,
    /// Its id at the platform.
    pub remote_id: &'a str,
    /// Its name or @handle.
    pub display_name: &'a str,
    /// Its own token (a Facebook Page token); `None` uses the grant's.
    pub access_token: Option<Secret>,
}

/// One account an OAuth round trip reached, to be linked to the chat that asked.
#[derive(Debug)]
pub struct NewLinkedAccount {
    /// What kind of account.
    pub provider: Provider,
    /// Its id at the platform.
    pub remote_id: String,
    /// Its name or @handle.
    pub display_name: String,
    /// Its own token (a Page token); `None` uses the grant's.
    pub access_token: Option<Secret>,
}

/// An account as a chat sees it. Holds no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// Our id.
    pub id: AccountId,
    /// What kind of account.
    pub provider: Provider,
    /// Its id at the platform.
    pub remote_id: String,
    /// Its name or @handle.
    pub display_name: String,
    /// Whether it can be used.
    pub state: AccountState,
    /// Who linked it through OAuth.
    pub owner: UserId,
}

struct LinkedRow {
    id: i64,
    provider: String,
    remote_id: String,
    display_name: String,
    state: String,
    owner_id: i64,
}

super::db::named_record!(LinkedRow {
    id,
    provider,
    remote_id,
    display_name,
    state,
    owner_id
});

impl TryFrom<LinkedRow> for LinkedAccount {
    type Error = StoreError;
    fn try_from(row: LinkedRow) -> Result<Self, StoreError> {
        Ok(LinkedAccount {
            id: AccountId(row.id),
            provider: parse_stored(&row.provider, "provider")?,
            remote_id: row.remote_id,
            display_name: row.display_name,
            state: parse_stored(&row.state, "account state")?,
            owner: UserId(row.owner_id),
        })
    }
}

fn grant_aad(id: GrantId, column: &str) -> Aad {
    Aad::new("grants", id.0, column)
}

fn account_aad(id: AccountId) -> Aad {
    Aad::new("accounts", id.0, "access_token")
}

/// X refresh tokens are single-use: an empty one must never replace the stored one.
fn usable(token: Option<Secret>) -> Option<Secret> {
    token.filter(|t| !t.is_empty())
}

impl Store {
    /// Stores (or replaces the tokens of) the grant `owner` gave at a platform, in one
    /// transaction: the row first, so that its id can bind the sealed tokens to it.
    pub async fn save_grant(
        &self,
        grant: NewGrant<'_>,
        now: DateTime<Utc>,
    ) -> Result<GrantId, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let id = self.insert_grant(&mut tx, grant, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn insert_grant(
        &self,
        tx: &mut Tx,
        grant: NewGrant<'_>,
        now: DateTime<Utc>,
    ) -> Result<GrantId, StoreError> {
        let id: i64 = query_scalar(
            "INSERT INTO grants (owner_id, platform, remote_user_id, scopes, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (owner_id, platform, remote_user_id)
                 DO UPDATE SET scopes = excluded.scopes, state = 'active'
             RETURNING id",
        )
        .bind(grant.owner.0)
        .bind(grant.provider.as_str())
        .bind(grant.remote_user_id)
        .bind(grant.scopes)
        .bind(to_millis(now))
        .fetch_one(&mut **tx)
        .await?;
        let id = GrantId(id);
        let access = self.seal(&grant.access_token, &grant_aad(id, "access_token"));
        let refresh =
            usable(grant.refresh_token).map(|t| self.seal(&t, &grant_aad(id, "refresh_token")));
        query(
            "UPDATE grants SET access_token = ?, refresh_token = COALESCE(?, refresh_token),
                 token_expires_at = ?, refreshed_at = ? WHERE id = ?",
        )
        .bind(access)
        .bind(refresh)
        .bind(grant.expires_at.map(to_millis))
        .bind(to_millis(now))
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Stores what one OAuth round trip produced in one transaction: the grant, every
    /// account it reaches, their links to `chat`, and an audit event per account. Either
    /// all of it is stored or none.
    pub async fn save_linked_grant(
        &self,
        grant: NewGrant<'_>,
        accounts: Vec<NewLinkedAccount>,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<(GrantId, Vec<AccountId>), StoreError> {
        let owner = grant.owner;
        let mut tx = self.pool.begin_write().await?;
        let grant_id = self.insert_grant(&mut tx, grant, now).await?;
        let mut ids = Vec::with_capacity(accounts.len());
        for account in accounts {
            let name = account.display_name;
            let id = self
                .insert_account(
                    &mut tx,
                    NewAccount {
                        grant: grant_id,
                        provider: account.provider,
                        remote_id: &account.remote_id,
                        display_name: &name,
                        access_token: account.access_token,
                    },
                    now,
                )
                .await?;
            query(
                "INSERT INTO chat_accounts (chat_id, account_id, linked_by, linked_at)
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(chat.0)
            .bind(id.0)
            .bind(owner.0)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            query(
                "INSERT INTO audit_events (at, user_id, account_id, kind, detail) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(to_millis(now))
            .bind(owner.0)
            .bind(id.0)
            .bind(AuditKind::AccountLinked.as_str())
            .bind(format!("{} {name} linked to chat {chat}", account.provider))
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok((grant_id, ids))
    }

    /// Active grants whose access token lapses before `before`, soonest first.
    pub async fn grants_expiring_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<ExpiringGrant>, StoreError> {
        let rows = query(
            "SELECT id, platform, owner_id, token_expires_at FROM grants
             WHERE state = 'active' AND token_expires_at IS NOT NULL AND token_expires_at < ?
             ORDER BY token_expires_at",
        )
        .bind(to_millis(before))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiringGrant {
                    id: GrantId(row.get("id")),
                    provider: parse_stored(row.get::<&str, _>("platform"), "OAuth provider")?,
                    owner: UserId(row.get("owner_id")),
                    expires_at: from_millis(row.get("token_expires_at"))?,
                })
            })
            .collect()
    }

    /// Marks a grant and its accounts as needing `/connect` again; returns the chats its
    /// accounts post for, so that they can be told. The tokens are kept: a later
    /// successful refresh or reconnect replaces them.
    pub async fn mark_grant_needs_reconnect(&self, id: GrantId) -> Result<Vec<ChatId>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        query("UPDATE grants SET state = 'needs_reconnect' WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        query(
            "UPDATE accounts SET state = 'needs_reconnect' WHERE grant_id = ? AND state = 'active'",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let chats: Vec<i64> = query_scalar(
            "SELECT DISTINCT l.chat_id FROM chat_accounts l JOIN accounts a ON a.id = l.account_id
             WHERE a.grant_id = ? ORDER BY l.chat_id",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(chats.into_iter().map(ChatId).collect())
    }

    /// The grant's state.
    pub async fn grant_state(&self, id: GrantId) -> Result<AccountState, StoreError> {
        let state: Option<String> = query_scalar("SELECT state FROM grants WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        parse_stored(
            &state.ok_or(StoreError::NotFound { what: "grant" })?,
            "account state",
        )
    }

    /// The grant's tokens, opened.
    pub async fn grant_tokens(&self, id: GrantId) -> Result<GrantTokens, StoreError> {
        let row =
            query("SELECT access_token, refresh_token, token_expires_at FROM grants WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound { what: "grant" })?;
        let access: Option<Vec<u8>> = row.get("access_token");
        let refresh: Option<Vec<u8>> = row.get("refresh_token");
        let expires: Option<i64> = row.get("token_expires_at");
        Ok(GrantTokens {
            access_token: self.open_sealed(
                &access.ok_or(StoreError::NotFound {
                    what: "access token",
                })?,
                &grant_aad(id, "access_token"),
            )?,
            refresh_token: refresh
                .map(|r| self.open_sealed(&r, &grant_aad(id, "refresh_token")))
                .transpose()?,
            expires_at: expires.map(from_millis).transpose()?,
        })
    }

    /// Every secret of a grant: its access and refresh tokens and its accounts' own tokens
    /// (Page tokens), for taking out of whatever a platform says about it. A revoked grant
    /// has none left.
    pub async fn grant_secrets(&self, id: GrantId) -> Result<Vec<Secret>, StoreError> {
        let mut secrets = Vec::new();
        let grant = query("SELECT access_token, refresh_token FROM grants WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = grant {
            for column in ["access_token", "refresh_token"] {
                if let Some(sealed) = row.get::<Option<Vec<u8>>, _>(column) {
                    secrets.push(self.open_sealed(&sealed, &grant_aad(id, column))?);
                }
            }
        }
        let accounts = query(
            "SELECT id, access_token FROM accounts WHERE grant_id = ? AND access_token IS NOT NULL",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        for row in accounts {
            let sealed: Vec<u8> = row.get("access_token");
            secrets.push(self.open_sealed(&sealed, &account_aad(AccountId(row.get("id"))))?);
        }
        Ok(secrets)
    }

    /// Saves refreshed tokens atomically. A missing or empty refresh token keeps the stored one.
    pub async fn update_grant_tokens(
        &self,
        id: GrantId,
        access_token: &Secret,
        refresh_token: Option<Secret>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let access = self.seal(access_token, &grant_aad(id, "access_token"));
        let refresh = usable(refresh_token).map(|t| self.seal(&t, &grant_aad(id, "refresh_token")));
        // One transaction: the new pair is saved whole, and the accounts come back to life
        // with it, before anyone uses the new token.
        let mut tx = self.pool.begin_write().await?;
        let done = query(
            "UPDATE grants SET access_token = ?, refresh_token = COALESCE(?, refresh_token),
                 token_expires_at = ?, refreshed_at = ?, state = 'active' WHERE id = ?",
        )
        .bind(access)
        .bind(refresh)
        .bind(expires_at.map(to_millis))
        .bind(to_millis(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        found(done.rows_affected(), "grant")?;
        query(
            "UPDATE accounts SET state = 'active' WHERE grant_id = ? AND state = 'needs_reconnect'",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores an account reached through a grant (or refreshes its name and token).
    pub async fn save_account(
        &self,
        account: NewAccount<'_>,
        now: DateTime<Utc>,
    ) -> Result<AccountId, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let id = self.insert_account(&mut tx, account, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn insert_account(
        &self,
        tx: &mut Tx,
        account: NewAccount<'_>,
        now: DateTime<Utc>,
    ) -> Result<AccountId, StoreError> {
        let id: i64 = query_scalar(
            "INSERT INTO accounts (grant_id, provider, remote_id, display_name, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (grant_id, provider, remote_id)
                 DO UPDATE SET display_name = excluded.display_name, state = 'active'
             RETURNING id",
        )
        .bind(account.grant.0)
        .bind(account.provider.as_str())
        .bind(account.remote_id)
        .bind(account.display_name)
        .bind(to_millis(now))
        .fetch_one(&mut **tx)
        .await?;
        let id = AccountId(id);
        let sealed = account
            .access_token
            .map(|t| self.seal(&t, &account_aad(id)));
        query("UPDATE accounts SET access_token = ? WHERE id = ?")
            .bind(sealed)
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
        Ok(id)
    }

    /// The token that publishes to this account: its own, else its grant's.
    pub async fn account_access_token(&self, id: AccountId) -> Result<Secret, StoreError> {
        let row = query("SELECT access_token, grant_id FROM accounts WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound { what: "account" })?;
        let own: Option<Vec<u8>> = row.get("access_token");
        match own {
            Some(sealed) => self.open_sealed(&sealed, &account_aad(id)),
            None => Ok(self
                .grant_tokens(GrantId(row.get("grant_id")))
                .await?
                .access_token),
        }
    }

    /// Lets `account` publish for `chat`. Linking twice is harmless.
    pub async fn link_account(
        &self,
        chat: ChatId,
        account: AccountId,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO chat_accounts (chat_id, account_id, linked_by, linked_at)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(chat.0)
        .bind(account.0)
        .bind(by.0)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The accounts that publish for `chat`, in the order they were linked.
    pub async fn accounts_of_chat(&self, chat: ChatId) -> Result<Vec<LinkedAccount>, StoreError> {
        let rows: Vec<LinkedRow> = query_as(
            "SELECT a.id, a.provider, a.remote_id, a.display_name, a.state, g.owner_id
             FROM chat_accounts l
             JOIN accounts a ON a.id = l.account_id
             JOIN grants g ON g.id = a.grant_id
             WHERE l.chat_id = ? ORDER BY l.linked_at, a.id",
        )
        .bind(chat.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::domain::{ChatKind, ChatPlatform};

    async fn owner(store: &Store) -> UserId {
        store
            .upsert_user(ChatPlatform::Telegram, "1", Some("alice"), Utc::now())
            .await
            .unwrap()
            .id
    }

    fn x_grant(owner: UserId, refresh: Option<&str>) -> NewGrant<'static> {
        NewGrant {
            owner,
            provider: OAuthProvider::X,
            remote_user_id: "2244994945",
            scopes: "tweet.read tweet.write",
            access_token: Secret::new("access-1"),
            refresh_token: refresh.map(Secret::new),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn grant_tokens_round_trip_and_an_empty_refresh_token_never_overwrites() {
        let (store, _dir) = temp_store().await;
        let owner = owner(&store).await;
        let now = Utc::now();
        let grant = store
            .save_grant(x_grant(owner, Some("refresh-1")), now)
            .await
            .unwrap();
        let tokens = store.grant_tokens(grant).await.unwrap();
        assert_eq!(tokens.access_token.expose(), "access-1");
        assert_eq!(tokens.refresh_token.unwrap().expose(), "refresh-1");

        store
            .update_grant_tokens(
                grant,
                &Secret::new("access-2"),
                Some(Secret::new("")),
                None,
                now,
            )
            .await
            .unwrap();
        store
            .update_grant_tokens(grant, &Secret::new("access-3"), None, None, now)
            .await
            .unwrap();
        let tokens = store.grant_tokens(grant).await.unwrap();
        assert_eq!(tokens.access_token.expose(), "access-3");
        assert_eq!(tokens.refresh_token.unwrap().expose(), "refresh-1");

        let again = store.save_grant(x_grant(owner, None), now).await.unwrap();
        assert_eq!(again, grant, "re-linking the same X user updates the grant");
        assert_eq!(
            store
                .grant_tokens(grant)
                .await
                .unwrap()
                .refresh_token
                .unwrap()
                .expose(),
            "refresh-1"
        );
    }

    #[tokio::test]
    async fn accounts_use_their_own_token_or_their_grants_and_link_to_chats() {
        let (store, _dir) = temp_store().await;
        let owner = owner(&store).await;
        let now = Utc::now();
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "-5", ChatKind::Group, None, now)
            .await
            .unwrap();
        let grant = store.save_grant(x_grant(owner, None), now).await.unwrap();
        let x = store
            .save_account(
                NewAccount {
                    grant,
                    provider: Provider::X,
                    remote_id: "2244994945",
                    display_name: "@alice",
                    access_token: None,
                },
                now,
            )
            .await
            .unwrap();
        let page = store
            .save_account(
                NewAccount {
                    grant,
                    provider: Provider::FacebookPage,
                    remote_id: "123",
                    display_name: "Alice's Bakery",
                    access_token: Some(Secret::new("page-token")),
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            store.account_access_token(x).await.unwrap().expose(),
            "access-1"
        );
        assert_eq!(
            store.account_access_token(page).await.unwrap().expose(),
            "page-token"
        );
        store.link_account(chat.id, x, owner, now).await.unwrap();
        store.link_account(chat.id, page, owner, now).await.unwrap();
        store.link_account(chat.id, x, owner, now).await.unwrap();
        let linked = store.accounts_of_chat(chat.id).await.unwrap();
        assert_eq!(linked.len(), 2);
        assert_eq!(linked[0].display_name, "@alice");
        assert_eq!(linked[1].provider, Provider::FacebookPage);
        assert_eq!(linked[1].owner, owner);
        assert_eq!(linked[1].state, AccountState::Active);
        assert!(matches!(
            store.account_access_token(AccountId(999)).await,
            Err(StoreError::NotFound { what: "account" })
        ));
    }

    #[tokio::test]
    async fn grants_about_to_expire_are_found_and_a_refused_one_needs_reconnecting() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, group, accounts) =
            crate::store::test_support::group_with_two_pages(&store, now).await;
        let meta = store.grants_of_user(author).await.unwrap()[0].0;
        let soon = now + chrono::Duration::minutes(5);
        let x = store
            .save_grant(
                NewGrant {
                    expires_at: Some(soon),
                    ..x_grant(author, Some("refresh-1"))
                },
                now,
            )
            .await
            .unwrap();
        let expiring = store
            .grants_expiring_before(now + chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(expiring.len(), 1, "a grant without an expiry never expires");
        assert_eq!(
            (expiring[0].id, expiring[0].provider, expiring[0].owner),
            (x, OAuthProvider::X, author)
        );
        assert_eq!(expiring[0].expires_at.timestamp_millis(), soon.timestamp_millis());
        assert!(store.grants_expiring_before(now).await.unwrap().is_empty());

        assert_eq!(store.mark_grant_needs_reconnect(meta).await.unwrap(), [group]);
        assert_eq!(store.grant_state(meta).await.unwrap(), AccountState::NeedsReconnect);
        assert!(
            store
                .accounts_of_chat(group)
                .await
                .unwrap()
                .iter()
                .all(|a| a.state == AccountState::NeedsReconnect)
        );
        assert_eq!(store.grant_secrets(meta).await.unwrap().len(), 3);
        store
            .update_grant_tokens(meta, &Secret::new("t2"), None, None, now)
            .await
            .unwrap();
        assert_eq!(store.grant_state(meta).await.unwrap(), AccountState::Active);
        assert_eq!(accounts.len(), 2);
    }
}
