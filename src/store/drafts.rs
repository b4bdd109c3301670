//! Drafts: posts held for an hour while their author picks a suggested time. A draft is
//! claimed by one press at a time, released if that press was refused, deleted once posted.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::db::{query, query_scalar};
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::{ChatId, DraftId, UserId};

/// A draft to hold.
#[derive(Debug, Clone)]
pub struct NewDraft<'a> {
    /// Who wrote it.
    pub author: UserId,
    /// The chat whose queue it is for.
    pub chat: ChatId,
    /// The text exactly as typed.
    pub body: &'a str,
    /// The `to` names as given.
    pub to: &'a [String],
    /// The exact phrases offered, in button order.
    pub suggestions: &'a [String],
    /// The images as received.
    pub images: &'a [Bytes],
    /// When it stops being usable.
    pub expires_at: DateTime<Utc>,
}

/// A claimed draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDraft {
    /// The text as typed.
    pub body: String,
    /// The `to` names.
    pub to: Vec<String>,
    /// The phrases offered.
    pub suggestions: Vec<String>,
    /// The images, in order.
    pub images: Vec<Bytes>,
    /// When it was held (when its suggestions were worked out).
    pub held_at: DateTime<Utc>,
}

/// What claiming a draft found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftClaim {
    /// It is the presser's, unused and unexpired: now claimed for them.
    Claimed(StoredDraft),
    /// It is usable, but someone else wrote it; nothing changed.
    NotYours,
    /// Used, being used, expired, or never in this chat.
    Gone,
}

fn strings(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|_| StoreError::Corrupt("a draft's list".to_owned()))
}

fn json(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

impl Store {
    /// Holds a draft with its images, in one transaction.
    pub async fn insert_draft(
        &self,
        draft: NewDraft<'_>,
        now: DateTime<Utc>,
    ) -> Result<DraftId, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let id: i64 = query_scalar(
            "INSERT INTO drafts (author_id, chat_id, body, targets, suggestions, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(draft.author.0)
        .bind(draft.chat.0)
        .bind(draft.body)
        .bind(json(draft.to))
        .bind(json(draft.suggestions))
        .bind(to_millis(now))
        .bind(to_millis(draft.expires_at))
        .fetch_one(&mut *tx)
        .await?;
        for (position, image) in draft.images.iter().enumerate() {
            query("INSERT INTO draft_images (draft_id, position, bytes) VALUES (?, ?, ?)")
                .bind(id)
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(image.as_ref())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(DraftId(id))
    }

    /// Claims draft `id` of `chat` for `author` at `now`, unless it is used, claimed,
    /// expired or someone else's (which changes nothing).
    pub async fn claim_draft(
        &self,
        id: DraftId,
        author: UserId,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<DraftClaim, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let usable = query(
            "SELECT author_id, body, targets, suggestions, created_at FROM drafts
             WHERE id = ? AND chat_id = ? AND claimed_at IS NULL AND expires_at > ?",
        )
        .bind(id.0)
        .bind(chat.0)
        .bind(to_millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = usable else {
            return Ok(DraftClaim::Gone);
        };
        if row.get::<i64, _>("author_id") != author.0 {
            return Ok(DraftClaim::NotYours);
        }
        query("UPDATE drafts SET claimed_at = ? WHERE id = ?")
            .bind(to_millis(now))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let images: Vec<Vec<u8>> =
            query_scalar("SELECT bytes FROM draft_images WHERE draft_id = ? ORDER BY position")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let draft = StoredDraft {
            body: row.get("body"),
            to: strings(row.get("targets"))?,
            suggestions: strings(row.get("suggestions"))?,
            images: images.into_iter().map(Bytes::from).collect(),
            held_at: from_millis(row.get("created_at"))?,
        };
        tx.commit().await?;
        Ok(DraftClaim::Claimed(draft))
    }

    /// Makes a claimed draft usable again (the press it was claimed for was refused).
    pub async fn release_draft(&self, id: DraftId) -> Result<(), StoreError> {
        query("UPDATE drafts SET claimed_at = NULL WHERE id = ?")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a draft and its images (it was posted).
    pub async fn delete_draft(&self, id: DraftId) -> Result<(), StoreError> {
        query("DELETE FROM drafts WHERE id = ?")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes drafts expired at `now`, with their images; returns how many.
    pub async fn remove_expired_drafts(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let done = query("DELETE FROM drafts WHERE expires_at <= ?")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use chrono::Duration;

    use super::*;
    use crate::domain::{ChatKind, ChatPlatform};
    use crate::store::test_support::telegram_user_and_chat;

    async fn image_rows(store: &Store) -> i64 {
        query_scalar("SELECT COUNT(*) FROM draft_images")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_draft_is_claimed_once_by_its_author_and_goes_with_expiry_or_erasure() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (alice, chat) = telegram_user_and_chat(&store, now).await;
        let bob = store
            .upsert_user(ChatPlatform::Telegram, "2", None, now)
            .await
            .unwrap();
        let other_chat = store
            .upsert_chat(ChatPlatform::Telegram, "-5", ChatKind::Group, None, now)
            .await
            .unwrap();
        let to = vec!["x".to_owned()];
        let suggestions = vec!["tomorrow 09:00".to_owned(), "tomorrow 12:00".to_owned()];
        let images = vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")];
        let new = |expires_at| NewDraft {
            author: alice.id,
            chat: chat.id,
            body: "  as *typed*  ",
            to: &to,
            suggestions: &suggestions,
            images: &images,
            expires_at,
        };
        let id = store
            .insert_draft(new(now + Duration::hours(1)), now)
            .await
            .unwrap();

        assert_eq!(
            store.claim_draft(id, bob.id, chat.id, now).await.unwrap(),
            DraftClaim::NotYours
        );
        assert_eq!(
            store
                .claim_draft(id, alice.id, other_chat.id, now)
                .await
                .unwrap(),
            DraftClaim::Gone
        );
        let DraftClaim::Claimed(draft) =
            store.claim_draft(id, alice.id, chat.id, now).await.unwrap()
        else {
            panic!("not claimed");
        };
        assert_eq!(draft.body, "  as *typed*  ");
        assert_eq!(draft.to, to);
        assert_eq!(draft.suggestions, suggestions);
        assert_eq!(draft.images, images);
        // Claimed: a second press finds nothing until it is released.
        assert_eq!(
            store.claim_draft(id, alice.id, chat.id, now).await.unwrap(),
            DraftClaim::Gone
        );
        store.release_draft(id).await.unwrap();
        assert!(matches!(
            store.claim_draft(id, alice.id, chat.id, now).await.unwrap(),
            DraftClaim::Claimed(_)
        ));
        store.delete_draft(id).await.unwrap();
        assert_eq!(image_rows(&store).await, 0);

        // Expired: unusable at once, removed by the purge's call.
        let old = store.insert_draft(new(now), now).await.unwrap();
        assert_eq!(
            store
                .claim_draft(old, alice.id, chat.id, now)
                .await
                .unwrap(),
            DraftClaim::Gone
        );
        let kept = store
            .insert_draft(new(now + Duration::hours(1)), now)
            .await
            .unwrap();
        assert_eq!(store.remove_expired_drafts(now).await.unwrap(), 1);
        assert_eq!(image_rows(&store).await, 2);

        // Erasure takes the author's drafts and their images with them.
        store.erase_user(alice.id, now).await.unwrap();
        assert_eq!(
            store
                .claim_draft(kept, alice.id, chat.id, now)
                .await
                .unwrap(),
            DraftClaim::Gone
        );
        assert_eq!(image_rows(&store).await, 0);
        let drafts: i64 = query_scalar("SELECT COUNT(*) FROM drafts")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(drafts, 0);
    }
}
