//! Accepting a new post: the time, the targets, the images and every target's rules, checked
//! before anything is stored.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Accepted, Draft, PostingError, TargetSummary, resolve_when, text};
use crate::app::App;
use crate::domain::{AccountId, AccountState, Actor, ChatId};
use crate::images::{self, PreparedImage};
use crate::oauth::provider_label;
use crate::recurrence::Recurrence;
use crate::rules::{self, ImageFacts};
use crate::store::{LinkedAccount, NewMedia, NewPost};

/// A post that passed every check of [`App::create_post`] and is not stored yet.
#[derive(Debug)]
pub struct Checked {
    /// The cleaned text.
    pub body: String,
    /// The zone the time was read in.
    pub zone: chrono_tz::Tz,
    /// When it (first) goes out.
    pub due_at: DateTime<Utc>,
    /// The repeat rule, for a recurring post.
    pub recurrence: Option<Recurrence>,
    /// The accounts it goes to.
    pub accounts: Vec<LinkedAccount>,
    /// The images, decoded and converted where a target needs it.
    pub images: Vec<PreparedImage>,
    /// Each target with its character count.
    pub targets: Vec<TargetSummary>,
}

impl App {
    /// Accepts a post for the actor's chat after checking its text, the time and every
    /// target's rules; stores it with its images (metadata removed) and wakes the scheduler.
    pub async fn create_post(
        &self,
        actor: &Actor,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let checked = self.check_post(actor, draft, now).await?;
        self.store_post(actor, checked, now).await
    }

    /// Every check of [`App::create_post`], storing nothing: the text, the time, the targets
    /// and their rules, the images decoded (and converted where a target needs it).
    pub async fn check_post(
        &self,
        actor: &Actor,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Checked, PostingError> {
        let body = text::clean(&draft.text)?;
        let zone = self.zone_of(actor).await?;
        let (due_at, recurrence) = resolve_when(&draft.when, now, zone)?;
        let accounts = self
            .choose_targets(actor.chat, draft.targets.as_deref())
            .await?;
        let images = self.prepare_images(&draft.images, &accounts)?;
        let targets = self.check_targets(&accounts, &body, &images)?;
        Ok(Checked {
            body,
            zone,
            due_at,
            recurrence,
            accounts,
            images,
            targets,
        })
    }

    /// Stores a checked post with its images and wakes the scheduler.
    pub async fn store_post(
        &self,
        actor: &Actor,
        checked: Checked,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let mut accepted = self.store_posts(actor, vec![checked], now).await?;
        accepted
            .pop()
            .ok_or(PostingError::Store(crate::store::StoreError::NotFound {
                what: "post",
            }))
    }

    /// Stores checked posts (an import) with their images in one transaction, all or none,
    /// and wakes the scheduler; in the order given.
    pub async fn store_posts(
        &self,
        actor: &Actor,
        posts: Vec<Checked>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, PostingError> {
        // From the first file written until the posts' rows name them, no purge or erasure
        // may remove a file these posts share with older ones.
        let saving = self.media().saving().await;
        let mut written = Vec::new();
        let mut rows = Vec::with_capacity(posts.len());
        let mut accepted = Vec::with_capacity(posts.len());
        for checked in posts {
            let Checked {
                body,
                zone,
                due_at,
                recurrence,
                accounts,
                images,
                targets,
            } = checked;
            let mut media = Vec::with_capacity(images.len());
            for image in &images {
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
                });
            }
            rows.push(NewPost {
                chat: actor.chat,
                author: actor.user,
                body,
                due_at,
                recurrence: recurrence.as_ref().map(Recurrence::to_storage),
                time_zone: zone,
                targets: accounts.iter().map(|a| a.id).collect(),
                media,
            });
            // Each becomes an `Accepted` once the store has given it its id.
            accepted.push(move |post| Accepted {
                post,
                due_at,
                zone,
                recurrence,
                targets,
            });
        }
        let ids = match self.store().insert_posts(rows, now).await {
            Ok(ids) => ids,
            Err(e) => {
                // Nothing half-stored: the images written for posts that were not saved (a
                // full disk, say) go again.
                self.remove_files(&written).await;
                return Err(e.into());
            }
        };
        drop(saving);
        self.scheduler().wake();
        let accepted: Vec<Accepted> = accepted
            .into_iter()
            .zip(ids)
            .map(|(accept, post)| accept(post))
            .collect();
        for post in &accepted {
            tracing::info!(post = %post.post, targets = post.targets.len(), "post accepted");
        }
        Ok(accepted)
    }

    /// Removes image files written for a post that could not be stored.
    async fn remove_files(&self, names: &[String]) {
        for name in names {
            if let Err(e) = self.media().remove(name).await {
                tracing::warn!(error = %crate::telemetry::chain(&e), "cannot remove an image of a post that was not stored");
            }
        }
    }

    /// The chat's accounts that `names` choose, in the chat's order: a name matches an
    /// account's name or @handle in any case, and a platform (`x`, `facebook`, `instagram`)
    /// matches all of the chat's accounts there. A name that matches nothing is refused.
    pub async fn resolve_targets(
        &self,
        chat: ChatId,
        names: &[String],
    ) -> Result<Vec<AccountId>, PostingError> {
        let linked = self.accounts(chat).await?;
        let usable: Vec<&LinkedAccount> = linked
            .iter()
            .filter(|a| a.state != AccountState::Revoked)
            .collect();
        let mut chosen = Vec::new();
        for name in names {
            let wanted = name.trim().trim_start_matches('@').to_lowercase();
            let matching: Vec<AccountId> = usable
                .iter()
                .filter(|a| {
                    a.display_name.trim_start_matches('@').to_lowercase() == wanted
                        || a.provider.word() == wanted
                })
                .map(|a| a.id)
                .collect();
            if matching.is_empty() {
                return Err(PostingError::UnknownTargetName {
                    name: name.trim().to_owned(),
                });
            }
            chosen.extend(matching);
        }
        Ok(usable
            .iter()
            .map(|a| a.id)
            .filter(|id| chosen.contains(id))
            .collect())
    }

    async fn choose_targets(
        &self,
        chat: ChatId,
        chosen: Option<&[AccountId]>,
    ) -> Result<Vec<LinkedAccount>, PostingError> {
        let linked = self.store().accounts_of_chat(chat).await?;
        let accounts: Vec<LinkedAccount> = match chosen {
            Some(ids) => {
                if ids.iter().any(|id| !linked.iter().any(|a| a.id == *id)) {
                    return Err(PostingError::UnknownTarget);
                }
                linked.into_iter().filter(|a| ids.contains(&a.id)).collect()
            }
            None => linked
                .into_iter()
                .filter(|a| a.state != AccountState::Revoked)
                .collect(),
        };
        if accounts.is_empty() {
            return Err(PostingError::NoAccounts);
        }
        for account in &accounts {
            if account.state == AccountState::NeedsReconnect {
                return Err(PostingError::NeedsReconnect {
                    account: account.display_name.clone(),
                });
            }
            if self.platforms().for_provider(account.provider).is_none() {
                return Err(PostingError::PlatformOff {
                    platform: provider_label(account.provider),
                    account: account.display_name.clone(),
                });
            }
        }
        Ok(accounts)
    }

    /// Decodes every image under limits and converts those some target cannot take as they
    /// are (Instagram needs JPEG) to a JPEG that fits the strictest such target.
    fn prepare_images(
        &self,
        raw: &[Bytes],
        accounts: &[LinkedAccount],
    ) -> Result<Vec<PreparedImage>, PostingError> {
        let mut prepared = Vec::with_capacity(raw.len());
        for (index, bytes) in raw.iter().enumerate() {
            let image_error = |source| PostingError::Image {
                index: index + 1,
                source,
            };
            let image = images::prepare(bytes).map_err(image_error)?;
            let facts = ImageFacts {
                content_type: image.content_type,
                byte_len: image.bytes.len() as u64,
            };
            let budget = accounts
                .iter()
                .filter_map(|a| self.platforms().for_provider(a.provider))
                .filter(|p| rules::must_convert(p.limits(), &facts))
                .map(|p| p.limits().max_image_bytes)
                .min();
            prepared.push(match budget {
                Some(budget) => images::to_jpeg(&image, budget).map_err(image_error)?,
                None => image,
            });
        }
        Ok(prepared)
    }

    fn check_targets(
        &self,
        accounts: &[LinkedAccount],
        text: &str,
        images: &[PreparedImage],
    ) -> Result<Vec<TargetSummary>, PostingError> {
        let facts: Vec<ImageFacts> = images
            .iter()
            .map(|i| ImageFacts {
                content_type: i.content_type,
                byte_len: i.bytes.len() as u64,
            })
            .collect();
        self.check_facts(accounts, text, &facts)
    }

    pub(super) fn check_facts(
        &self,
        accounts: &[LinkedAccount],
        text: &str,
        images: &[ImageFacts],
    ) -> Result<Vec<TargetSummary>, PostingError> {
        let mut summaries = Vec::with_capacity(accounts.len());
        for account in accounts {
            let platform = self
                .platforms()
                .for_provider(account.provider)
                .ok_or_else(|| PostingError::PlatformOff {
                    platform: provider_label(account.provider),
                    account: account.display_name.clone(),
                })?;
            let limits = platform.limits();
            rules::check(account.provider, limits, text, images).map_err(PostingError::Rule)?;
            summaries.push(TargetSummary {
                account: account.clone(),
                length: rules::text_length(account.provider, text),
                limit: limits.max_text,
            });
        }
        Ok(summaries)
    }
}
