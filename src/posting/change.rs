//! Changing a pending post: edit, cancel, send now, and trying a failed target again; the
//! author or a chat admin only. A series is named by its id and changed through its pending
//! occurrence, so an edit reaches every later occurrence and a cancel stops the series.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::variants::Composed;
use super::{Accepted, PostingError, resolve_when, text, thread};
use crate::app::App;
use crate::domain::{AccountId, Actor, PostId, TargetId, TargetState};
use crate::images::PreparedImage;
use crate::recurrence::Recurrence;
use crate::rules::ImageFacts;
use crate::store::{Cancelled, EditablePost, LinkedAccount, NewMedia, PostUpdate, Updated};

/// What an edit changes; a part left `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct PostChange {
    /// A new time phrase.
    pub when: Option<String>,
    /// A new text.
    pub text: Option<String>,
    /// New images, replacing all the post's images.
    pub images: Option<Vec<Bytes>>,
}

impl PostChange {
    /// Whether it changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.when.is_none() && self.text.is_none() && self.images.is_none()
    }
}

/// A post's time and text as an edit form shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditValues {
    /// The time as a phrase in the viewer's zone (`2026-12-24 18:00`), or the repeat rule.
    pub when: String,
    /// The text.
    pub text: String,
}

impl App {
    /// The current time and text of a post the actor may edit (a series': its pending
    /// occurrence's), to prefill an edit form.
    pub async fn post_for_edit(
        &self,
        actor: &Actor,
        post: PostId,
    ) -> Result<EditValues, PostingError> {
        let (occurrence, _) = self.store().series_occurrence(post).await?;
        let current = self.authorize_edit(actor, occurrence, post).await?;
        let when = match current.recurrence.as_deref().map(Recurrence::from_storage) {
            Some(Ok(rule)) => rule.to_string(),
            _ => {
                let zone = self.zone_of(actor).await?;
                current
                    .due_at
                    .with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            }
        };
        Ok(EditValues {
            when,
            text: current.body,
        })
    }

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
        let change = PostChange {
            when: Some(when.to_owned()),
            text: Some(text.to_owned()),
            images: None,
        };
        self.change_post(actor, post, change, now).await
    }

    /// Changes the parts of a post that `change` names, with the same checks as a new post
    /// (every target's rules, against the post as it will be); nothing changes when one
    /// fails. `post` may name a series: its pending occurrence changes. A post that finished
    /// with failed targets sends those again, changed; the published ones stay as they are.
    pub async fn change_post(
        &self,
        actor: &Actor,
        post: PostId,
        change: PostChange,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        if change.is_empty() {
            return Err(PostingError::NothingToChange(post));
        }
        let (occurrence, series) = self.store().series_occurrence(post).await?;
        let current = self.authorize_edit(actor, occurrence, post).await?;
        // A final `1/n` line asks for a numbered X thread; no network publishes it.
        let (body, numbered) = match &change.text {
            Some(text) => thread::take_numbering_request(&text::clean(text)?),
            None => (current.body.clone(), false),
        };
        let zone = self.zone_of(actor).await?;
        let (due, recurrence) = match &change.when {
            Some(when) => {
                let (due_at, recurrence) = resolve_when(when, now, zone)?;
                (Some(due_at), recurrence)
            }
            None => {
                let recurrence = current
                    .recurrence
                    .as_deref()
                    .map(Recurrence::from_storage)
                    .transpose()
                    .map_err(|e| {
                        crate::store::StoreError::Corrupt(format!(
                            "recurrence of post {occurrence}: {e}"
                        ))
                    })?;
                (None, recurrence)
            }
        };
        let accounts = self.accounts_to_send(actor, occurrence).await?;
        let prepared = match &change.images {
            Some(raw) => Some(self.prepare_images(raw, &accounts)?),
            None if current.media_removed => return Err(PostingError::ImagesRemoved(series)),
            None => None,
        };
        let facts = match &prepared {
            Some(images) => images
                .iter()
                .map(|i| ImageFacts {
                    content_type: i.content_type,
                    byte_len: i.bytes.len() as u64,
                })
                .collect(),
            None => self.stored_image_facts(occurrence).await?,
        };
        // Targets with their network's own text keep it; the others take the new text.
        let variants = self
            .store()
            .composed_post(occurrence)
            .await?
            .map(|p| p.variants)
            .unwrap_or_default();
        let composed = Composed {
            main: body.clone(),
            variants,
        };
        let targets = self.check_facts(&accounts, &composed, &facts, numbered)?;
        // A new text is split again; its parts replace those of the targets it sends.
        let threads = change
            .text
            .is_some()
            .then(|| self.threads_of(&accounts, &composed, numbered));
        // From the first file written until the rows name them, no purge may remove a file
        // this post shares with another.
        let saving = self.media().saving().await;
        let (media, written) = match &prepared {
            Some(images) => {
                let (media, written) = self.save_images(images).await?;
                (Some(media), written)
            }
            None => (None, Vec::new()),
        };
        let update = PostUpdate {
            body: change.text.is_some().then(|| body.clone()),
            due: due.map(|due_at| (due_at, recurrence.as_ref().map(Recurrence::to_storage))),
            media,
            threads,
        };
        let updated = self.store().update_post(occurrence, &update, now).await;
        drop(saving);
        let old_files = match updated {
            Ok(Updated::Changed { old_files, .. }) => old_files,
            Ok(Updated::Started) => {
                self.remove_unused_files(written).await;
                return Err(PostingError::AlreadyStarted(series));
            }
            Err(e) => {
                self.remove_unused_files(written).await;
                return Err(e.into());
            }
        };
        self.remove_unused_files(old_files).await;
        self.scheduler().wake();
        self.post_changed(actor.chat, occurrence, now).await;
        tracing::info!(post = %occurrence, "post changed");
        Ok(Accepted {
            post: series,
            due_at: due.unwrap_or(current.due_at.max(now)),
            zone,
            recurrence,
            targets,
            body,
            images: facts.len(),
            accounts: self.usable_accounts(actor.chat).await?,
            notices: Vec::new(),
            at: now,
        })
    }

    /// The accounts of a post's targets that an edit sends: queued and failed ones, still
    /// linked to the chat.
    async fn accounts_to_send(
        &self,
        actor: &Actor,
        post: PostId,
    ) -> Result<Vec<LinkedAccount>, PostingError> {
        let linked = self.store().accounts_of_chat(actor.chat).await?;
        let open: Vec<AccountId> = self
            .store()
            .targets_of_post(post)
            .await?
            .into_iter()
            .filter(|(_, state, _)| matches!(state, TargetState::Queued | TargetState::Failed))
            .map(|(account, _, _)| account)
            .collect();
        Ok(linked
            .into_iter()
            .filter(|a| open.contains(&a.id))
            .collect())
    }

    /// Saves checked images as files; returns their rows and the files newly written (to
    /// remove again if the rows are not stored). Call holding the media `saving` guard.
    pub(super) async fn save_images(
        &self,
        images: &[PreparedImage],
    ) -> Result<(Vec<NewMedia>, Vec<String>), PostingError> {
        let mut media = Vec::with_capacity(images.len());
        let mut written = Vec::new();
        for image in images {
            let extension = image.content_type.rsplit('/').next().unwrap_or("bin");
            let saved = match self.media().save(&image.bytes, extension).await {
                Ok(saved) => saved,
                Err(e) => {
                    self.remove_files(&written).await;
                    return Err(e.into());
                }
            };
            if saved.written {
                written.push(saved.file_name.clone());
            }
            media.push(NewMedia {
                content_type: image.content_type.to_owned(),
                byte_len: saved.byte_len,
                width: Some(image.width),
                height: Some(image.height),
                sha256: saved.sha256,
                file_name: saved.file_name,
                blob: saved.blob,
            });
        }
        Ok((media, written))
    }

    /// Cancels a pending post; targets already being sent finish, none is retried.
    pub async fn cancel_post(
        &self,
        actor: &Actor,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<Cancelled, PostingError> {
        let (occurrence, series) = self.store().series_occurrence(post).await?;
        self.authorize(actor, occurrence, post).await?;
        let mut cancelled = self.store().cancel_post(occurrence, now).await?;
        self.post_changed(actor.chat, occurrence, now).await;
        // Cancelling a series also stops an extra occurrence Post now added that has not
        // gone out yet.
        for extra in self
            .store()
            .other_scheduled_occurrences(series, occurrence)
            .await?
        {
            let more = self.store().cancel_post(extra, now).await?;
            cancelled.cancelled += more.cancelled;
            cancelled.in_flight += more.in_flight;
            cancelled.finished += more.finished;
            self.post_changed(actor.chat, extra, now).await;
        }
        Ok(cancelled)
    }

    /// Sends a pending post at once; for a series, an extra occurrence now, the next one
    /// still due at its time.
    pub async fn post_now(
        &self,
        actor: &Actor,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<usize, PostingError> {
        let (occurrence, _) = self.store().series_occurrence(post).await?;
        self.authorize(actor, occurrence, post).await?;
        let count = self.store().post_now(occurrence, now).await?;
        self.scheduler().wake();
        self.post_changed(actor.chat, occurrence, now).await;
        Ok(count)
    }

    /// Tries a failed target again, now: its author or a chat admin only. Returns its post
    /// (its series, for an occurrence of one).
    pub async fn retry_target(
        &self,
        actor: &Actor,
        target: TargetId,
        now: DateTime<Utc>,
    ) -> Result<PostId, PostingError> {
        let Some((occurrence, chat, author)) = self.store().target_owner(target).await? else {
            return Err(PostingError::NotRetryable);
        };
        // People know an occurrence of a series by the series' id.
        let (_, post) = self.store().series_occurrence(occurrence).await?;
        if chat != actor.chat {
            return Err(PostingError::NotRetryable);
        }
        if author != actor.user && !actor.is_admin {
            return Err(PostingError::NotAllowed(post));
        }
        if !self.store().retry_failed_target(target, now).await? {
            if self.store().media_removed(occurrence).await? {
                return Err(PostingError::ImagesRemoved(post));
            }
            return Err(PostingError::NotRetryable);
        }
        self.scheduler().wake();
        self.post_changed(chat, occurrence, now).await;
        Ok(post)
    }

    /// Whether the actor may change `occurrence` (named `asked` by them).
    pub(super) async fn authorize(
        &self,
        actor: &Actor,
        occurrence: PostId,
        asked: PostId,
    ) -> Result<(), PostingError> {
        match self.store().pending_post(occurrence).await? {
            Some((chat, _)) if chat != actor.chat => Err(PostingError::NotFound(asked)),
            Some((_, author)) if author == actor.user || actor.is_admin => Ok(()),
            Some(_) => Err(PostingError::NotAllowed(asked)),
            None => Err(PostingError::NotFound(asked)),
        }
    }

    /// As [`App::authorize`], for an edit, which may also send a finished post's failed
    /// targets again; returns the post as it is.
    async fn authorize_edit(
        &self,
        actor: &Actor,
        occurrence: PostId,
        asked: PostId,
    ) -> Result<EditablePost, PostingError> {
        match self.store().editable_post(occurrence).await? {
            Some(post) if post.chat != actor.chat => Err(PostingError::NotFound(asked)),
            Some(post) if post.author == actor.user || actor.is_admin => Ok(post),
            Some(_) => Err(PostingError::NotAllowed(asked)),
            None => Err(PostingError::NotFound(asked)),
        }
    }
}
