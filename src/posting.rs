//! The front-end-neutral posting API the bots call: create, edit, cancel, post now, list the
//! queue and the history. Every rule is checked per target when a post is accepted; nothing
//! is stored when one fails.

mod text;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::app::App;
use crate::domain::{AccountId, AccountState, Actor, ChatId, PostId, TargetId};
use crate::images::{self, ImageError, PreparedImage};
use crate::media::MediaError;
use crate::oauth::provider_label;
use crate::recurrence::Recurrence;
use crate::rules::{self, ImageFacts, RuleViolation};
use crate::store::{NewMedia, NewPost, StoreError};
// What the posting calls return, named here so that front ends need not know the store.
pub use crate::store::{Cancelled, HistoryEntry, LinkedAccount};
use crate::timeparse::{self, TimeError, When};
pub use text::TextError;

/// A post as written in a chat.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The time phrase (`tomorrow 9am`, `every monday 9am`, `now`).
    pub when: String,
    /// The text.
    pub text: String,
    /// Attached images, as received.
    pub images: Vec<Bytes>,
    /// Only these accounts; `None` means every account linked to the chat.
    pub targets: Option<Vec<AccountId>>,
}

/// One target of an accepted post, for the confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSummary {
    /// The account.
    pub account: LinkedAccount,
    /// The text's length in that platform's counting.
    pub length: usize,
    /// The platform's limit.
    pub limit: usize,
}

/// What was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The new post.
    pub post: PostId,
    /// When it (first) goes out.
    pub due_at: DateTime<Utc>,
    /// The zone the time was read in, for showing it back.
    pub zone: Tz,
    /// The repeat rule, for a recurring post.
    pub recurrence: Option<Recurrence>,
    /// Each target with its character count.
    pub targets: Vec<TargetSummary>,
}

/// Why a posting request was refused. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PostingError {
    /// The time phrase was refused.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// The text shows nothing.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The chat has no usable account.
    #[error(
        "no account is linked to this chat yet; link one with /connect x, /connect facebook or /connect instagram"
    )]
    NoAccounts,
    /// A chosen target is not linked to this chat.
    #[error("that account is not linked to this chat; see /accounts")]
    UnknownTarget,
    /// A target named in the post is not one of the chat's accounts.
    #[error("no account called `{name}` is linked to this chat; see /accounts for the names")]
    UnknownTargetName {
        /// The name as given.
        name: String,
    },
    /// A target's platform is switched off.
    #[error("{platform} is not set up on this autopost, so {account} cannot post")]
    PlatformOff {
        /// The platform.
        platform: &'static str,
        /// The account.
        account: String,
    },
    /// A target's token was refused; its owner must link it again.
    #[error("{account} needs to be linked again; its owner can use /connect")]
    NeedsReconnect {
        /// The account.
        account: String,
    },
    /// A rule of a target is broken.
    #[error("{0}")]
    Rule(RuleViolation),
    /// An image cannot be used.
    #[error("image {index}: {source}")]
    Image {
        /// 1-based position.
        index: usize,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// No such post in this chat's queue.
    #[error("there is no pending post {0} in this chat; see /queue")]
    NotFound(PostId),
    /// Only the author or a chat admin may change a post.
    #[error("only the author of post {0} or a chat admin can change it")]
    NotAllowed(PostId),
    /// The target is not one that failed (it went out, is pending, or was cancelled).
    #[error("only a post that failed can be tried again; see /history")]
    NotRetryable,
    /// The post's images were removed after the retention period, so it cannot go out again
    /// as it was written.
    #[error(
        "post {0} finished long enough ago that its images were removed; send it again with /post"
    )]
    ImagesRemoved(PostId),
    /// The post has started going out.
    #[error("post {0} is already being published and can no longer be edited")]
    AlreadyStarted(PostId),
    /// Images could not be stored.
    #[error("autopost could not store the images")]
    Media(#[from] MediaError),
    /// The database failed.
    #[error("autopost could not save the post")]
    Store(#[from] StoreError),
}

impl PostingError {
    /// Whether the person can fix this themselves (shown as is), or it is an internal fault
    /// (logged with its chain and shown as "something went wrong").
    pub fn is_user_error(&self) -> bool {
        !matches!(self, PostingError::Media(_) | PostingError::Store(_))
    }
}

/// A pending post, for `/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPost {
    /// The post.
    pub post: PostId,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Its text.
    pub body: String,
    /// Who wrote it.
    pub author: String,
    /// The accounts it goes to.
    pub targets: Vec<String>,
}

impl App {
    /// The zone a person's times are read and shown in: theirs, else the chat's, else the
    /// configured default.
    pub async fn zone_of(&self, actor: &Actor) -> Result<Tz, StoreError> {
        let user = self.store().user(actor.user).await?;
        if let Some(zone) = user.time_zone {
            return Ok(zone);
        }
        let chat = self.store().chat(actor.chat).await?;
        Ok(chat.time_zone.unwrap_or(self.config().default_time_zone))
    }

    /// Accepts a post for the actor's chat after checking its text, the time and every
    /// target's rules; stores it with its images (metadata removed) and wakes the scheduler.
    pub async fn create_post(
        &self,
        actor: &Actor,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Accepted, PostingError> {
        let body = text::clean(&draft.text)?;
        let zone = self.zone_of(actor).await?;
        let (due_at, recurrence) = resolve_when(&draft.when, now, zone)?;
        let accounts = self
            .choose_targets(actor.chat, draft.targets.as_deref())
            .await?;
        let images = self.prepare_images(&draft.images, &accounts)?;
        let targets = self.check_targets(&accounts, &body, &images)?;

        // From the first file written until the post's rows name them, no purge or erasure
        // may remove a file this post shares with an older one.
        let saving = self.media().saving().await;
        let mut media = Vec::with_capacity(images.len());
        let mut written = Vec::new();
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
        let inserted = self
            .store()
            .insert_post(
                NewPost {
                    chat: actor.chat,
                    author: actor.user,
                    body,
                    due_at,
                    recurrence: recurrence.as_ref().map(Recurrence::to_storage),
                    time_zone: zone,
                    targets: accounts.iter().map(|a| a.id).collect(),
                    media,
                },
                now,
            )
            .await;
        let post = match inserted {
            Ok(post) => post,
            Err(e) => {
                // Nothing half-stored: the images written for a post that was not saved (a
                // full disk, say) go again.
                self.remove_files(&written).await;
                return Err(e.into());
            }
        };
        drop(saving);
        self.scheduler().wake();
        tracing::info!(post = %post, targets = targets.len(), "post accepted");
        Ok(Accepted {
            post,
            due_at,
            zone,
            recurrence,
            targets,
        })
    }

    /// Removes image files written for a post that could not be stored.
    async fn remove_files(&self, names: &[String]) {
        for name in names {
            if let Err(e) = self.media().remove(name).await {
                tracing::warn!(error = %crate::telemetry::chain(&e), "cannot remove an image of a post that was not stored");
            }
        }
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
        Ok(self.store().cancel_post(post, now).await?)
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
        Ok(post)
    }

    /// The chat's pending posts, soonest first.
    pub async fn queue(&self, chat: ChatId) -> Result<Vec<QueuedPost>, PostingError> {
        Ok(self
            .store()
            .queued_posts(chat)
            .await?
            .into_iter()
            .map(|row| QueuedPost {
                post: row.post,
                due_at: row.due_at,
                body: row.body,
                author: row.author,
                targets: row.targets,
            })
            .collect())
    }

    /// The chat's recent outcomes, newest first.
    pub async fn history(
        &self,
        chat: ChatId,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, PostingError> {
        Ok(self.store().history(chat, limit).await?)
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

    /// The accounts linked to the chat, for `/accounts` and for naming targets.
    pub async fn accounts(&self, chat: ChatId) -> Result<Vec<LinkedAccount>, PostingError> {
        Ok(self.store().accounts_of_chat(chat).await?)
    }

    async fn authorize(&self, actor: &Actor, post: PostId) -> Result<(), PostingError> {
        match self.store().pending_post(post).await? {
            Some((chat, _)) if chat != actor.chat => Err(PostingError::NotFound(post)),
            Some((_, author)) if author == actor.user || actor.is_admin => Ok(()),
            Some(_) => Err(PostingError::NotAllowed(post)),
            None => Err(PostingError::NotFound(post)),
        }
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

    fn check_facts(
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

/// The first due time and, for a recurring phrase, its rule.
fn resolve_when(
    phrase: &str,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<(DateTime<Utc>, Option<Recurrence>), PostingError> {
    match timeparse::parse(phrase, now, zone)? {
        When::Once(at) => Ok((at, None)),
        When::Recurring(rule) => {
            let first = rule.next_after(now).ok_or(TimeError::TooFarAhead)?;
            Ok((first, Some(rule)))
        }
    }
}
