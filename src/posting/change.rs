//! Changing a pending post: edit, cancel, send now, and trying a failed target again; the
//! author or a chat admin only.

use chrono::{DateTime, Utc};

use super::{Accepted, PostingError, resolve_when, text};
use crate::app::App;
use crate::domain::{AccountId, Actor, PostId, TargetId};
use crate::images;
use crate::recurrence::Recurrence;
use crate::rules::ImageFacts;
use crate::store::{Cancelled, LinkedAccount};

impl App {
    /// Changes a pending post's time and text (images and accounts stay), with the same
    /// checks as a new post.
    pub async fn edit_post(
        &self,
        actor: &Actor,
        post: PostId,
        when: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let cleaned = text::clean(text)?;
        let text = cleaned.as_str();
        self.authorize(actor, post).await?;
        let zone = self.zone_of(actor).await?;
        let (due_at, recurrence) = resolve_when(when, now, zone)?;
        let linked = self.store().accounts_of_chat(actor.chat).await?;
        let target_ids: Vec<AccountId> = self
            .store()
            .targets_of_post(post)
            .await?
            .into_iter()
            .map(|(account, _, _)| account)
            .collect();
        let accounts: Vec<LinkedAccount> = linked
            .into_iter()
            .filter(|a| target_ids.contains(&a.id))
            .collect();
        let images: Vec<ImageFacts> = self
            .store()
            .media_of_post(post)
            .await?
            .iter()
            .map(|m| ImageFacts {
                content_type: images::ACCEPTED_TYPES
                    .iter()
                    .copied()
                    .find(|t| *t == m.content_type)
                    .unwrap_or("image/jpeg"),
                byte_len: m.byte_len,
            })
            .collect();
        let targets = self.check_facts(&accounts, text, &images)?;
        let changed = self
            .store()
            .reschedule_post(
                post,
                text,
                due_at,
                recurrence.as_ref().map(Recurrence::to_storage),
                now,
            )
            .await?;
        if !changed {
            return Err(PostingError::AlreadyStarted(post));
        }
        self.scheduler().wake();
        self.post_changed(actor.chat, post, now).await;
        Ok(Accepted {
            post,
            due_at,
            zone,
            recurrence,
            targets,
        })
    }

    /// Cancels a pending post; targets already being sent finish, none is retried.
    pub async fn cancel_post(
        &self,
        actor: &Actor,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<Cancelled, PostingError> {
        self.authorize(actor, post).await?;
        let cancelled = self.store().cancel_post(post, now).await?;
        self.post_changed(actor.chat, post, now).await;
        Ok(cancelled)
    }

    /// Sends a pending post at once.
    pub async fn post_now(
        &self,
        actor: &Actor,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<usize, PostingError> {
        self.authorize(actor, post).await?;
        let count = self.store().make_due_now(post, now).await?;
        self.scheduler().wake();
        self.post_changed(actor.chat, post, now).await;
        Ok(count)
    }

    /// Tries a failed target again, now: its author or a chat admin only. Returns its post.
    pub async fn retry_target(
        &self,
        actor: &Actor,
        target: TargetId,
        now: DateTime<Utc>,
    ) -> Result<PostId, PostingError> {
        let Some((post, chat, author)) = self.store().target_owner(target).await? else {
            return Err(PostingError::NotRetryable);
        };
        if chat != actor.chat {
            return Err(PostingError::NotRetryable);
        }
        if author != actor.user && !actor.is_admin {
            return Err(PostingError::NotAllowed(post));
        }
        if !self.store().retry_failed_target(target, now).await? {
            if self.store().media_removed(post).await? {
                return Err(PostingError::ImagesRemoved(post));
            }
            return Err(PostingError::NotRetryable);
        }
        self.scheduler().wake();
        self.post_changed(chat, post, now).await;
        Ok(post)
    }

    pub(super) async fn authorize(&self, actor: &Actor, post: PostId) -> Result<(), PostingError> {
        match self.store().pending_post(post).await? {
            Some((chat, _)) if chat != actor.chat => Err(PostingError::NotFound(post)),
            Some((_, author)) if author == actor.user || actor.is_admin => Ok(()),
            Some(_) => Err(PostingError::NotAllowed(post)),
            None => Err(PostingError::NotFound(post)),
        }
    }
}
