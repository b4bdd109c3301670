//! Posts held while their author picks a time: a post refused only because its time phrase
//! was vague is kept as written (text as typed, `to` names, images) for an hour, so that one
//! tap on a suggested time sends it through the same checks as `/post`. Only its author may
//! use it, once.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::domain::{Actor, DraftId};
use crate::store::{DraftClaim, NewDraft, StoreError};
use crate::timeparse::{self, When};

/// How long a draft waits for its author to pick a time.
pub const DRAFT_KEPT: Duration = Duration::hours(1);

/// What a post held as a draft says, handed back when its author picks a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPost {
    /// The text exactly as typed.
    pub text: String,
    /// The `to` names as given (empty: every account).
    pub to: Vec<String>,
    /// The images as received.
    pub images: Vec<Bytes>,
}

/// A draft taken for one press: the post, and the phrase the press picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenDraft {
    /// The draft, to finish or release once the post was tried.
    pub id: DraftId,
    /// The picked phrase.
    pub when: String,
    /// The post as written.
    pub post: HeldPost,
}

/// Why a draft cannot be used. Each says what to do; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// Used, expired, or being used by another press.
    #[error("that suggestion was already used or has expired; send the post again")]
    Gone,
    /// The suggestion names a day relative to today (`tomorrow 09:00`), and today changed
    /// since it was offered: pressed now it would mean another day.
    #[error("that suggestion was for {meant}, and the day has changed since; send the post again")]
    DayChanged {
        /// What it meant when offered, in the author's zone.
        meant: String,
    },
    /// Someone else wrote the post.
    #[error("only the person who wrote that post can pick its time")]
    NotYours,
    /// The database failed.
    #[error("autopost could not keep the post")]
    Store(#[from] StoreError),
}

impl App {
    /// Holds `post` for `actor` for [`DRAFT_KEPT`], with the `suggestions` its buttons offer.
    pub async fn hold_draft(
        &self,
        actor: &Actor,
        post: &HeldPost,
        suggestions: &[String],
        now: DateTime<Utc>,
    ) -> Result<DraftId, DraftError> {
        let draft = NewDraft {
            author: actor.user,
            chat: actor.chat,
            body: &post.text,
            to: &post.to,
            suggestions,
            images: &post.images,
            expires_at: now + DRAFT_KEPT,
        };
        Ok(self.store().insert_draft(draft, now).await?)
    }

    /// Takes draft `id` with its suggestion number `choice` for `actor`. Someone else's
    /// draft, a used or expired one, or a choice it did not offer changes nothing. The taker
    /// must call [`App::finish_draft`] or [`App::release_draft`] once the post was tried.
    pub async fn take_draft(
        &self,
        actor: &Actor,
        id: DraftId,
        choice: usize,
        now: DateTime<Utc>,
    ) -> Result<TakenDraft, DraftError> {
        let draft = match self
            .store()
            .claim_draft(id, actor.user, actor.chat, now)
            .await?
        {
            DraftClaim::Claimed(draft) => draft,
            DraftClaim::NotYours => return Err(DraftError::NotYours),
            DraftClaim::Gone => return Err(DraftError::Gone),
        };
        let Some(when) = draft.suggestions.get(choice).cloned() else {
            // A forged button: the draft stays for the real ones.
            self.store().release_draft(id).await?;
            return Err(DraftError::Gone);
        };
        // `tomorrow 09:00` offered at 23:50 and pressed at 00:10 would be a day later than
        // the person chose: refuse rather than move it.
        let zone = self.zone_of(actor).await?;
        let offered = timeparse::parse(&when, draft.held_at, zone);
        if let (Ok(When::Once(meant)), Ok(When::Once(now_means))) =
            (&offered, timeparse::parse(&when, now, zone))
            && *meant != now_means
        {
            self.store().release_draft(id).await?;
            return Err(DraftError::DayChanged {
                meant: meant
                    .with_timezone(&zone)
                    .format("%a %-d %b %H:%M")
                    .to_string(),
            });
        }
        Ok(TakenDraft {
            id,
            when,
            post: HeldPost {
                text: draft.body,
                to: draft.to,
                images: draft.images,
            },
        })
    }

    /// The taken draft was posted: it goes, with its images.
    pub async fn finish_draft(&self, id: DraftId) -> Result<(), DraftError> {
        Ok(self.store().delete_draft(id).await?)
    }

    /// The post of a taken draft was refused: another suggestion may still be picked.
    pub async fn release_draft(&self, id: DraftId) -> Result<(), DraftError> {
        Ok(self.store().release_draft(id).await?)
    }
}
