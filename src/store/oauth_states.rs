//! Pending OAuth round trips: random, single-use, expiring, bound to the user and chat
//! that asked and to the browser that first opened the link. Only hashes of the state and of
//! the browser's cookie are stored; the PKCE verifier is sealed.

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::db::{query, query_scalar};
use super::{Store, StoreError, from_millis, parse_stored, to_millis};
use crate::crypto::{Aad, Secret};
use crate::domain::{ChatId, OAuthProvider, OAuthStateId, UserId};

/// A round trip about to start.
#[derive(Debug)]
pub struct NewOAuthState {
    /// SHA-256 of the random state value sent to the platform.
    pub state_hash: [u8; 32],
    /// Where the user is sent.
    pub provider: OAuthProvider,
    /// Who asked.
    pub user: UserId,
    /// The chat the linked accounts will post for.
    pub chat: ChatId,
    /// The PKCE verifier (X); kept server-side only.
    pub pkce_verifier: Option<Secret>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored round trip, read back.
#[derive(Debug)]
pub struct OAuthState {
    /// Its row.
    pub id: OAuthStateId,
    /// Where the user was sent.
    pub provider: OAuthProvider,
    /// Who asked.
    pub user: UserId,
    /// For which chat.
    pub chat: ChatId,
    /// The PKCE verifier, if any.
    pub pkce_verifier: Option<Secret>,
}

/// Why a state presented at the start link or callback is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    /// No such state: forged, mistyped, or erased.
    Unknown,
    /// The state was already used once.
    Used,
    /// The link is older than its lifetime.
    Expired,
    /// The link was first opened in another browser (it was forwarded, or copied).
    OpenedElsewhere,
    /// The callback came to a browser that did not open the start link (or without the
    /// cookie the start link set).
    NotThisBrowser,
}

/// What a check of a state does besides reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateUse<'a> {
    /// Reads only.
    Peek,
    /// The start link: binds the state to this browser (a hash of its cookie) if no browser
    /// opened it yet; refuses another browser.
    Open {
        /// SHA-256 of the browser's cookie.
        browser: &'a [u8; 32],
    },
    /// The callback: uses the state up, if the browser is the one that opened it.
    Consume {
        /// SHA-256 of the browser's cookie, if it sent one.
        browser: Option<&'a [u8; 32]>,
    },
}

fn verifier_aad(id: i64) -> Aad {
    Aad::new("oauth_states", id, "pkce_verifier")
}

impl Store {
    /// Records a new round trip.
    pub async fn create_oauth_state(
        &self,
        state: NewOAuthState,
        now: DateTime<Utc>,
    ) -> Result<OAuthStateId, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let id: i64 = query_scalar(
            "INSERT INTO oauth_states (state_hash, provider, user_id, chat_id, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&state.state_hash[..])
        .bind(state.provider.as_str())
        .bind(state.user.0)
        .bind(state.chat.0)
        .bind(to_millis(now))
        .bind(to_millis(state.expires_at))
        .fetch_one(&mut *tx)
        .await?;
        if let Some(verifier) = &state.pkce_verifier {
            query("UPDATE oauth_states SET pkce_verifier = ? WHERE id = ?")
                .bind(self.seal(verifier, &verifier_aad(id)))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // Expired round trips are worthless; clearing them here keeps the table small.
        query("DELETE FROM oauth_states WHERE expires_at < ?")
            .bind(to_millis(now) - 86_400_000)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(OAuthStateId(id))
    }

    /// Checks a state and, as `how` says, binds it to the browser that opens it or uses it
    /// up, in the same transaction, so that two browsers or two callbacks racing with one
    /// state cannot both succeed. A refusal changes nothing.
    pub async fn check_oauth_state(
        &self,
        state_hash: &[u8; 32],
        how: StateUse<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<OAuthState, StateProblem>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let row = query(
            "SELECT id, provider, user_id, chat_id, pkce_verifier, expires_at, used_at, browser_hash
             FROM oauth_states WHERE state_hash = ?",
        )
        .bind(&state_hash[..])
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(StateProblem::Unknown));
        };
        let id: i64 = row.get("id");
        if row.get::<Option<i64>, _>("used_at").is_some() {
            return Ok(Err(StateProblem::Used));
        }
        if from_millis(row.get("expires_at"))? <= now {
            return Ok(Err(StateProblem::Expired));
        }
        let bound: Option<Vec<u8>> = row.get("browser_hash");
        let same = |browser: &[u8; 32]| {
            bound
                .as_deref()
                .is_some_and(|bound| bool::from(bound.ct_eq(&browser[..])))
        };
        match how {
            StateUse::Peek => {}
            StateUse::Open { browser } => match &bound {
                None => {
                    query("UPDATE oauth_states SET browser_hash = ? WHERE id = ?")
                        .bind(&browser[..])
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some(_) if same(browser) => {}
                Some(_) => return Ok(Err(StateProblem::OpenedElsewhere)),
            },
            StateUse::Consume { browser } => {
                if !browser.is_some_and(same) {
                    return Ok(Err(StateProblem::NotThisBrowser));
                }
                query("UPDATE oauth_states SET used_at = ? WHERE id = ?")
                    .bind(to_millis(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let sealed: Option<Vec<u8>> = row.get("pkce_verifier");
        let state = OAuthState {
            id: OAuthStateId(id),
            provider: parse_stored(row.get::<&str, _>("provider"), "OAuth provider")?,
            user: UserId(row.get("user_id")),
            chat: ChatId(row.get("chat_id")),
            pkce_verifier: sealed
                .map(|s| self.open_sealed(&s, &verifier_aad(id)))
                .transpose()?,
        };
        tx.commit().await?;
        Ok(Ok(state))
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::store::test_support::telegram_user_and_chat;

    #[tokio::test]
    async fn a_state_is_single_use_and_expires() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        let hash = [7u8; 32];
        store
            .create_oauth_state(
                NewOAuthState {
                    state_hash: hash,
                    provider: OAuthProvider::X,
                    user: user.id,
                    chat: chat.id,
                    pkce_verifier: Some(Secret::new("verifier-abc")),
                    expires_at: now + chrono::Duration::minutes(10),
                },
                now,
            )
            .await
            .unwrap();
        let peek = store
            .check_oauth_state(&hash, StateUse::Peek, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(peek.pkce_verifier.unwrap().expose(), "verifier-abc");
        let (browser, other) = ([1u8; 32], [2u8; 32]);
        let check = |how| store.check_oauth_state(&hash, how, now);
        assert_eq!(
            check(StateUse::Consume {
                browser: Some(&browser)
            })
            .await
            .unwrap()
            .unwrap_err(),
            StateProblem::NotThisBrowser,
            "no browser opened it yet"
        );
        check(StateUse::Open { browser: &browser })
            .await
            .unwrap()
            .unwrap();
        check(StateUse::Open { browser: &browser })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            check(StateUse::Open { browser: &other })
                .await
                .unwrap()
                .unwrap_err(),
            StateProblem::OpenedElsewhere
        );
        for stranger in [None, Some(&other)] {
            assert_eq!(
                check(StateUse::Consume { browser: stranger })
                    .await
                    .unwrap()
                    .unwrap_err(),
                StateProblem::NotThisBrowser
            );
        }
        let later = now + chrono::Duration::minutes(11);
        assert_eq!(
            store
                .check_oauth_state(
                    &hash,
                    StateUse::Consume {
                        browser: Some(&browser)
                    },
                    later
                )
                .await
                .unwrap()
                .unwrap_err(),
            StateProblem::Expired
        );
        let used = store
            .check_oauth_state(
                &hash,
                StateUse::Consume {
                    browser: Some(&browser),
                },
                now,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(used.provider, OAuthProvider::X);
        assert_eq!(used.user, user.id);
        assert_eq!(
            store
                .check_oauth_state(
                    &hash,
                    StateUse::Consume {
                        browser: Some(&browser)
                    },
                    now
                )
                .await
                .unwrap()
                .unwrap_err(),
            StateProblem::Used
        );
        assert_eq!(
            store
                .check_oauth_state(&[0; 32], StateUse::Peek, now)
                .await
                .unwrap()
                .unwrap_err(),
            StateProblem::Unknown
        );
    }
}
