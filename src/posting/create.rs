//! Accepting a new post: the time, the targets, the images and every target's rules, checked
//! before anything is stored.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::variants::{Composed, split_variants};
use super::{Accepted, Draft, Notice, PostingError, TargetSummary, resolve_when, text, thread};
use crate::app::App;
use crate::domain::{AccountId, AccountState, Actor, ChatId, Provider};
use crate::images::{self, PreparedImage};
use crate::oauth::provider_label;
use crate::platforms::Limits;
use crate::recurrence::Recurrence;
use crate::rules::{self, ImageFacts, RuleViolation};
use crate::store::{LinkedAccount, NewPost};

/// A post that passed every check of [`App::create_post`] and is not stored yet.
#[derive(Debug)]
pub struct Checked {
    /// The cleaned main text.
    pub body: String,
    /// Each network's own text, where one was written.
    pub variants: Vec<(Provider, String)>,
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
    /// The chat's usable accounts, for the confirmation's toggles.
    pub chat_accounts: Vec<LinkedAccount>,
    /// Accounts left out, unused texts, duplicate warnings.
    pub notices: Vec<Notice>,
    /// The parts of each account's thread, where the text is too long for one post there.
    pub threads: Vec<(AccountId, Vec<String>)>,
}

/// Why one account cannot take a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unfit {
    /// Its token was refused; its owner must link it again.
    Reconnect,
    /// It was disconnected.
    Revoked,
    /// Its platform is not set up on this autopost.
    PlatformOff,
    /// A rule of its platform.
    Rule(RuleViolation),
}

/// How long X is taken to remember a text it refuses to take again. X does not say; a week
/// covers what people run into.
const DUPLICATE_MEMORY: chrono::TimeDelta = chrono::TimeDelta::days(7);

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

    /// Every check of [`App::create_post`], storing nothing: the text and its network lines,
    /// the time, the targets and their rules, the images decoded (and converted where a
    /// target needs it). With no targets named, an account that cannot take the post is left
    /// out with a notice; a named one, or a network's own text, that breaks a rule refuses
    /// the post.
    pub async fn check_post(
        &self,
        actor: &Actor,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<Checked, PostingError> {
        let cleaned = text::clean(&draft.text)?;
        // A final `1/n` line asks for a numbered X thread; no network publishes it.
        let (cleaned, numbered) = thread::take_numbering_request(&cleaned);
        let composed = split_variants(&cleaned)?;
        for (_, variant) in &composed.variants {
            text::clean(variant)?;
        }
        let zone = self.zone_of(actor).await?;
        let (due_at, recurrence) = resolve_when(&draft.when, now, zone)?;
        let linked = self.store().accounts_of_chat(actor.chat).await?;
        let chat_accounts: Vec<LinkedAccount> = linked
            .iter()
            .filter(|a| a.state != AccountState::Revoked)
            .cloned()
            .collect();
        let named = draft.targets.is_some();
        let candidates: Vec<LinkedAccount> = match draft.targets.as_deref() {
            Some(ids) => {
                if ids.iter().any(|id| !linked.iter().any(|a| a.id == *id)) {
                    return Err(PostingError::UnknownTarget);
                }
                linked.into_iter().filter(|a| ids.contains(&a.id)).collect()
            }
            None => chat_accounts.clone(),
        };
        if candidates.is_empty() {
            return Err(PostingError::NoAccounts);
        }
        let mut images = self.prepare_images(&draft.images, &candidates)?;
        let facts = facts_of(&images);
        let mut accounts = Vec::with_capacity(candidates.len());
        let mut targets = Vec::with_capacity(candidates.len());
        let mut notices = Vec::new();
        let mut reasons = Vec::new();
        for account in &candidates {
            let (text, own) = composed.text_for(account.provider);
            match self.judge(account, text, own, numbered, &facts) {
                Ok(summary) => {
                    accounts.push(account.clone());
                    targets.push(summary);
                }
                Err(unfit) => {
                    // A network's own text that breaks its rules was written for it: the
                    // author hears it. An image it lacks is no fault of that text.
                    let text_at_fault = matches!(
                        unfit,
                        Unfit::Rule(
                            RuleViolation::TextTooLong { .. }
                                | RuleViolation::TooManyHashtags { .. }
                        )
                    );
                    if named || (own && text_at_fault) || candidates.len() == 1 {
                        return Err(refusal(account, own, unfit, named));
                    }
                    reasons.push(format!(
                        "{} ({}): {}",
                        account.display_name,
                        provider_label(account.provider),
                        unfit_reason(account, &unfit)
                    ));
                    notices.push(left_out(account, &unfit));
                }
            }
        }
        if accounts.is_empty() {
            return Err(PostingError::NoTargetFits { reasons });
        }
        if !images.is_empty() && accounts.len() < candidates.len() {
            // Converted only for the accounts that take the post: an account left out must
            // not cost the others their PNG.
            images = self.prepare_images(&draft.images, &accounts)?;
        }
        for (provider, _) in &composed.variants {
            if !chat_accounts.iter().any(|a| a.provider == *provider) {
                notices.push(Notice::UnusedVariant {
                    provider: *provider,
                });
            }
        }
        notices.extend(self.duplicates(actor, &accounts, &composed, now).await?);
        let threads = self.threads_of(&accounts, &composed, numbered);
        Ok(Checked {
            body: composed.main,
            variants: composed.variants,
            zone,
            due_at,
            recurrence,
            accounts,
            images,
            targets,
            chat_accounts,
            notices,
            threads,
        })
    }

    /// A warning for each X target whose text is already queued in this chat or went out on
    /// that account lately: X refuses a duplicate, so the author hears it now rather than
    /// when it fails.
    async fn duplicates(
        &self,
        actor: &Actor,
        accounts: &[LinkedAccount],
        composed: &Composed,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notice>, PostingError> {
        let mut notices = Vec::new();
        for account in accounts.iter().filter(|a| a.provider == Provider::X) {
            let (text, _) = composed.text_for(account.provider);
            if text.trim().is_empty() {
                continue;
            }
            let same = self
                .store()
                .same_text_on_account(actor.chat, account.id, text, now - DUPLICATE_MEMORY)
                .await?;
            if let Some(queued) = same.iter().find(|s| s.published_at.is_none()) {
                notices.push(Notice::DuplicateQueued {
                    account: account.clone(),
                    post: queued.post,
                });
            } else if let Some(at) = same.iter().filter_map(|s| s.published_at).max() {
                notices.push(Notice::DuplicatePublished {
                    account: account.clone(),
                    at,
                });
            }
        }
        Ok(notices)
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
                variants,
                zone,
                due_at,
                recurrence,
                accounts,
                images,
                targets,
                chat_accounts,
                notices,
                threads,
            } = checked;
            let image_count = images.len();
            let media = match self.save_images(&images).await {
                Ok((media, newly)) => {
                    written.extend(newly);
                    media
                }
                Err(e) => {
                    // This post's own files went already; the earlier posts' go too.
                    self.remove_files(&written).await;
                    return Err(e);
                }
            };
            rows.push(NewPost {
                chat: actor.chat,
                author: actor.user,
                body: body.clone(),
                due_at,
                recurrence: recurrence.as_ref().map(Recurrence::to_storage),
                time_zone: zone,
                targets: accounts.iter().map(|a| a.id).collect(),
                variants,
                media,
                threads,
            });
            // Each becomes an `Accepted` once the store has given it its id.
            accepted.push(move |post| Accepted {
                post,
                due_at,
                zone,
                recurrence,
                targets,
                body,
                images: image_count,
                accounts: chat_accounts,
                notices,
                at: now,
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
    pub(super) async fn remove_files(&self, names: &[String]) {
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

    /// Decodes every image under limits and converts those some target cannot take as they
    /// are (Instagram needs JPEG) to a JPEG that fits the strictest such target.
    pub(super) fn prepare_images(
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

    /// Checks each account against its text (its network's own, else the main one) and the
    /// images; the first that cannot take it refuses all, as an edit must.
    pub(super) fn check_facts(
        &self,
        accounts: &[LinkedAccount],
        composed: &Composed,
        images: &[ImageFacts],
        numbered: bool,
    ) -> Result<Vec<TargetSummary>, PostingError> {
        let mut summaries = Vec::with_capacity(accounts.len());
        for account in accounts {
            let (text, own) = composed.text_for(account.provider);
            let summary = self
                .judge(account, text, own, numbered, images)
                .map_err(|unfit| refusal(account, own, unfit, false))?;
            summaries.push(summary);
        }
        Ok(summaries)
    }

    /// Whether `account` can take `text` with `images`, and its count if so.
    pub(super) fn judge(
        &self,
        account: &LinkedAccount,
        text: &str,
        own_text: bool,
        numbered: bool,
        images: &[ImageFacts],
    ) -> Result<TargetSummary, Unfit> {
        match account.state {
            AccountState::Active => {}
            AccountState::NeedsReconnect => return Err(Unfit::Reconnect),
            AccountState::Revoked => return Err(Unfit::Revoked),
        }
        let platform = self
            .platforms()
            .for_provider(account.provider)
            .ok_or(Unfit::PlatformOff)?;
        let limits = platform.limits();
        // A thread's images go with its first part: that is the post the rules judge.
        let parts = thread_parts(account.provider, limits, text, numbered);
        let first = parts
            .as_ref()
            .and_then(|p| p.first())
            .map_or(text, String::as_str);
        rules::check(account.provider, limits, first, images).map_err(Unfit::Rule)?;
        Ok(TargetSummary {
            account: account.clone(),
            length: rules::text_length(account.provider, text),
            limit: limits.max_text,
            own_text,
            parts: parts.map_or(1, |p| p.len()),
        })
    }

    /// The thread parts of each account where its text (its network's own, else the main
    /// one) is too long for one post, for [`crate::store::NewPost::threads`].
    pub(super) fn threads_of(
        &self,
        accounts: &[LinkedAccount],
        composed: &Composed,
        numbered: bool,
    ) -> Vec<(AccountId, Vec<String>)> {
        accounts
            .iter()
            .filter_map(|account| {
                let platform = self.platforms().for_provider(account.provider)?;
                let (text, _) = composed.text_for(account.provider);
                thread_parts(account.provider, platform.limits(), text, numbered)
                    .map(|parts| (account.id, parts))
            })
            .collect()
    }
}

/// What the rules see of prepared images.
pub(super) fn facts_of(images: &[PreparedImage]) -> Vec<ImageFacts> {
    images
        .iter()
        .map(|i| ImageFacts {
            content_type: i.content_type,
            byte_len: i.bytes.len() as u64,
        })
        .collect()
}

/// The refusal for an account that cannot take the post. `named`: the author chose it, so
/// the message names it; a network's own text is named too. Otherwise (the chat's only
/// account) the platform's rule alone says it.
pub(super) fn refusal(
    account: &LinkedAccount,
    own: bool,
    unfit: Unfit,
    named: bool,
) -> PostingError {
    let target = format!(
        "{} ({})",
        account.display_name,
        provider_label(account.provider)
    );
    match unfit {
        Unfit::Reconnect => PostingError::NeedsReconnect {
            account: account.display_name.clone(),
        },
        Unfit::Revoked => PostingError::NotLinked,
        Unfit::PlatformOff => PostingError::PlatformOff {
            platform: provider_label(account.provider),
            account: account.display_name.clone(),
        },
        Unfit::Rule(violation) if own || named => PostingError::TargetRule {
            target,
            own_text: own.then(|| account.provider.word()),
            violation,
        },
        Unfit::Rule(violation) => PostingError::Rule(violation),
    }
}

/// Why an account cannot take the post, as one sentence.
pub(super) fn unfit_reason(account: &LinkedAccount, unfit: &Unfit) -> String {
    match unfit {
        Unfit::Reconnect => "it needs to be linked again".to_owned(),
        Unfit::Revoked => "it was disconnected".to_owned(),
        Unfit::PlatformOff => format!(
            "{} is not set up on this autopost",
            provider_label(account.provider)
        ),
        Unfit::Rule(violation) => violation.to_string(),
    }
}

/// The notice for an account left out, with how to include it.
pub(super) fn left_out(account: &LinkedAccount, unfit: &Unfit) -> Notice {
    let word = account.provider.word();
    let hint = match unfit {
        Unfit::Reconnect => format!("its owner can link it again with `/connect {word}`"),
        Unfit::Revoked => "link it again with /connect".to_owned(),
        Unfit::PlatformOff => "ask the operator to set it up".to_owned(),
        Unfit::Rule(RuleViolation::NeedsImage { .. }) => {
            format!("attach one, or send `/post to {word} WHEN | TEXT` with an image")
        }
        Unfit::Rule(RuleViolation::Empty { .. }) => format!("add a `{word}:` line with its text"),
        Unfit::Rule(RuleViolation::TextTooLong { .. }) => {
            format!("add a shorter `{word}:` line")
        }
        Unfit::Rule(RuleViolation::TooManyHashtags { .. }) => {
            format!("add a `{word}:` line with fewer hashtags")
        }
        Unfit::Rule(RuleViolation::TooManyImages { limit, .. }) => {
            format!("send it at most {limit} images with `/post to {word} WHEN | TEXT`")
        }
        Unfit::Rule(
            RuleViolation::ImageTooLarge { .. } | RuleViolation::UnsupportedImageType { .. },
        ) => format!("send it images it takes with `/post to {word} WHEN | TEXT`"),
    };
    Notice::LeftOut {
        account: account.clone(),
        reason: unfit_reason(account, unfit),
        hint,
    }
}

/// The parts `text` goes out as on this kind of account, when it is too long for one post
/// there and the platform takes threads (X only): `None` means one post.
pub(super) fn thread_parts(
    provider: Provider,
    limits: &Limits,
    text: &str,
    numbered: bool,
) -> Option<Vec<String>> {
    if provider != Provider::X || rules::text_length(provider, text) <= limits.max_text {
        return None;
    }
    Some(thread::split(text, limits.max_text, numbered)).filter(|parts| parts.len() > 1)
}
