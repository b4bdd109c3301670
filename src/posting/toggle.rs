//! Choosing a pending post's targets after it was accepted (the confirmation's ✅/☐ buttons),
//! while nothing of it has gone out, and the confirmation of a stored post, rebuilt for each
//! change. The author or a chat admin only, checked on every press.

use chrono::{DateTime, Utc};

use super::create::{left_out, refusal, thread_parts};
use super::variants::Composed;
use super::{Accepted, PostingError, TargetSummary};
use crate::app::App;
use crate::domain::{AccountId, AccountState, Actor, ChatId, PostId, TargetState};
use crate::images;
use crate::recurrence::Recurrence;
use crate::rules::{self, ImageFacts};
use crate::store::{ComposedPost, LinkedAccount, PostState, PostView, TargetChange};

impl App {
    /// Adds `account` as a target of a pending post, or removes it, before anything of the
    /// post has gone out; answers the post's confirmation as it now stands. Adding an account
    /// that cannot take the post is refused with the reason; removing the last target too.
    pub async fn toggle_target(
        &self,
        actor: &Actor,
        post: PostId,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        // A series is toggled through its occurrence still to come.
        let asked = post;
        let (post, _) = self.store().series_occurrence(asked).await?;
        self.authorize(actor, post, asked).await?;
        let stored = self.stored_post(actor, post).await?;
        let change = if stored.targets.iter().any(|(id, _)| *id == account) {
            self.store().remove_target(post, account).await?
        } else {
            let accounts = self.usable_accounts(actor.chat).await?;
            let chosen = accounts
                .iter()
                .find(|a| a.id == account)
                .ok_or(PostingError::NotLinked)?;
            let images = self.stored_image_facts(post).await?;
            let texts = composed(&stored);
            let (text, own) = texts.text_for(chosen.provider);
            self.judge(chosen, text, own, false, &images)
                .map_err(|unfit| refusal(chosen, own, unfit, true))?;
            // A text too long for one post there goes out as a thread, as at accept time.
            let parts = self
                .threads_of(std::slice::from_ref(chosen), &texts, false)
                .into_iter()
                .next()
                .map(|(_, parts)| parts)
                .unwrap_or_default();
            self.store().add_target(post, account, &parts, now).await?
        };
        match change {
            TargetChange::Changed | TargetChange::Unchanged => {}
            TargetChange::Started => return Err(PostingError::AlreadyStarted(post)),
            TargetChange::LastTarget => return Err(PostingError::LastTarget(post)),
        }
        self.scheduler().wake();
        self.post_changed(actor.chat, post, now).await;
        tracing::info!(post = %post, account = %account, "targets changed");
        let mut accepted = self.confirmation_of(actor, post, now).await?;
        // Shown under the id the person knows (a series', for an occurrence of one).
        accepted.post = asked;
        Ok(accepted)
    }

    /// A stored post's confirmation as the actor sees it: its targets with their counts, the
    /// chat's accounts for the toggles, and why the others cannot take it.
    pub async fn confirmation_of(
        &self,
        actor: &Actor,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let stored = self.stored_post(actor, post).await?;
        let zone = self.zone_of(actor).await?;
        self.confirmation_in(actor.chat, stored, zone, now).await
    }

    /// The full confirmation of a post nothing of which has started going out (its toggles
    /// still act), for bringing its message up to date after a change; `None` once a target
    /// has started or finished, when the short outcome view takes over.
    pub async fn pending_confirmation(
        &self,
        view: &PostView,
        now: DateTime<Utc>,
    ) -> Result<Option<Accepted>, PostingError> {
        let untouched = view.state == PostState::Scheduled
            && view.targets.iter().all(|t| t.state == TargetState::Queued);
        if !untouched {
            return Ok(None);
        }
        match self.store().composed_post(view.id).await? {
            Some(stored) if stored.chat == view.chat => Ok(Some(
                self.confirmation_in(view.chat, stored, view.zone, now)
                    .await?,
            )),
            _ => Ok(None),
        }
    }

    async fn confirmation_in(
        &self,
        chat: ChatId,
        stored: ComposedPost,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let post = stored.id;
        let recurrence = stored.recurrence.as_deref().and_then(|rule| {
            Recurrence::from_storage(rule)
                .inspect_err(|e| tracing::warn!(post = %post, error = %e, "unreadable recurrence"))
                .ok()
        });
        let accounts = self.usable_accounts(chat).await?;
        let linked = self.store().accounts_of_chat(chat).await?;
        let images = self.stored_image_facts(post).await?;
        let texts = composed(&stored);
        let targets = stored
            .targets
            .iter()
            .filter_map(|(id, _)| linked.iter().find(|a| a.id == *id))
            .map(|account| {
                let (text, own) = texts.text_for(account.provider);
                self.summary_of(account, text, own)
            })
            .collect();
        let notices = accounts
            .iter()
            .filter(|a| !stored.targets.iter().any(|(id, _)| *id == a.id))
            .filter_map(|account| {
                let (text, own) = texts.text_for(account.provider);
                self.judge(account, text, own, false, &images)
                    .err()
                    .map(|unfit| left_out(account, &unfit))
            })
            .collect();
        Ok(Accepted {
            post,
            due_at: stored.due_at,
            zone,
            recurrence,
            targets,
            body: stored.body,
            images: images.len(),
            accounts,
            notices,
            at: now,
        })
    }

    /// The chat's accounts that can be chosen as targets: all but the disconnected.
    pub(super) async fn usable_accounts(
        &self,
        chat: ChatId,
    ) -> Result<Vec<LinkedAccount>, PostingError> {
        let mut accounts = self.store().accounts_of_chat(chat).await?;
        accounts.retain(|a| a.state != AccountState::Revoked);
        Ok(accounts)
    }

    /// A post of the actor's chat.
    async fn stored_post(&self, actor: &Actor, post: PostId) -> Result<ComposedPost, PostingError> {
        match self.store().composed_post(post).await? {
            Some(stored) if stored.chat == actor.chat => Ok(stored),
            _ => Err(PostingError::NotFound(post)),
        }
    }

    /// What the rules see of a stored post's images (stored as a type the target takes).
    pub(super) async fn stored_image_facts(
        &self,
        post: PostId,
    ) -> Result<Vec<ImageFacts>, PostingError> {
        Ok(self
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
            .collect())
    }

    /// A target's count against its platform's limit (0 when the platform is off).
    fn summary_of(&self, account: &LinkedAccount, text: &str, own_text: bool) -> TargetSummary {
        let platform = self.platforms().for_provider(account.provider);
        let limit = platform.as_ref().map_or(0, |p| p.limits().max_text);
        let parts = platform
            .as_ref()
            .and_then(|p| thread_parts(account.provider, p.limits(), text, false))
            .map_or(1, |parts| parts.len());
        TargetSummary {
            account: account.clone(),
            length: rules::text_length(account.provider, text),
            limit,
            own_text,
            parts,
        }
    }
}

fn composed(stored: &ComposedPost) -> Composed {
    Composed {
        main: stored.body.clone(),
        variants: stored.variants.clone(),
    }
}
