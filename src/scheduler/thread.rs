//! Publishing an X thread: its parts in order, each replying to the one before, each part's
//! id saved the instant X answers. A retry or a restart resumes at the first part without an
//! id, after looking for it at X when its answer was lost; a part is never sent twice. A
//! refused part stops the rest, and the reason names it and what is already live.

use chrono::Utc;
use url::Url;

use super::decision::{Answer, Decision, Verdict, after_lookup};
use super::{Outcome, Scheduler, answer_of, revoked_reason};
use crate::platforms::{AccountRef, Media, Platform, PostContent, Published};
use crate::store::{DueTarget, StoreError, ThreadPart};
use crate::tokens::RefreshOutcome;

/// How looking for a part whose answer was lost ended.
enum PartLookup {
    /// It is live, and now recorded.
    Found,
    /// The attempt ends so.
    End(Verdict),
}

impl Scheduler {
    /// Publishes the unsent parts of `target`'s thread in order and records the outcome.
    pub(super) async fn attempt_thread(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        media: &[Media],
        mut parts: Vec<ThreadPart>,
    ) -> Result<Outcome, StoreError> {
        loop {
            let Some(index) = first_unsent(&parts) else {
                tracing::info!(parts = parts.len(), "published");
                return self.settle(target, whole(&parts), Utc::now()).await;
            };
            let body = parts[index].body.clone();
            let reply_to = previous_id(&parts, index);
            let content = PostContent {
                text: &body,
                // X takes images with text in one post: they go with the first part.
                media: if index == 0 { media } else { &[] },
                reply_to: reply_to.as_deref(),
            };
            let Some((decision, refused)) = self.send_part(target, platform, content).await? else {
                // This instance lost its lease: the instance taking over resumes the thread.
                return Ok(Outcome::Abandoned);
            };
            let verdict = match decision {
                Decision::End(Verdict::Published(published)) => {
                    self.record(target, &mut parts, index, &published).await?;
                    continue;
                }
                Decision::End(verdict) => verdict,
                Decision::Reconcile => {
                    tokio::time::sleep(self.config.reconcile_grace).await;
                    match self
                        .look_for_part(target, platform, &mut parts, index)
                        .await?
                    {
                        PartLookup::Found => continue,
                        PartLookup::End(verdict) => verdict,
                    }
                }
                // `send_part` makes the one refresh itself.
                Decision::RefreshToken => Verdict::Reconnect,
            };
            let verdict = about_part(verdict, target, &parts, index, refused);
            return self.settle(target, verdict, Utc::now()).await;
        }
    }

    /// Reconciles a thread left `publishing` by an earlier run: the first part without an
    /// id may or may not exist. Found → recorded, and the rest queued at once; confirmed
    /// absent → queued at once to send it; no way to tell → `unknown`. Parts already
    /// recorded are neither looked for nor sent again.
    pub(super) async fn reconcile_thread(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        mut parts: Vec<ThreadPart>,
    ) -> Result<Outcome, StoreError> {
        let Some(index) = first_unsent(&parts) else {
            return self.settle(target, whole(&parts), Utc::now()).await;
        };
        tokio::time::sleep(self.config.reconcile_grace).await;
        let verdict = match self
            .look_for_part(target, platform, &mut parts, index)
            .await?
        {
            PartLookup::Found if first_unsent(&parts).is_none() => whole(&parts),
            PartLookup::Found => {
                tracing::info!(
                    part = index + 1,
                    "reconciled: the part exists; resuming the thread"
                );
                Verdict::Retry {
                    at: Utc::now(),
                    reason: format!("resuming the thread at part {}", index + 2),
                }
            }
            PartLookup::End(verdict) => about_part(verdict, target, &parts, index, false),
        };
        self.settle(target, verdict, Utc::now()).await
    }

    /// Looks for part `index` among the account's recent posts, by its words and the part it
    /// replies to, and records it when found.
    async fn look_for_part(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        parts: &mut [ThreadPart],
        index: usize,
    ) -> Result<PartLookup, StoreError> {
        let token = self.store.account_access_token(target.account).await?;
        let account = AccountRef {
            remote_id: &target.account_remote_id,
            token: &token,
        };
        let body = parts[index].body.clone();
        let reply_to = previous_id(parts, index);
        let content = PostContent {
            text: &body,
            media: &[],
            reply_to: reply_to.as_deref(),
        };
        let lookup = {
            let _turn = self.lookups.acquire().await;
            platform.find_recent(account, content).await
        };
        Ok(match after_lookup(lookup, true, Utc::now()) {
            Verdict::Published(published) => {
                self.record(target, parts, index, &published).await?;
                PartLookup::Found
            }
            verdict => PartLookup::End(verdict),
        })
    }

    /// Saves a live part's id at once, before anything else can fail.
    async fn record(
        &self,
        target: &DueTarget,
        parts: &mut [ThreadPart],
        index: usize,
        published: &Published,
    ) -> Result<(), StoreError> {
        let url = published.url.as_ref().map(Url::as_str);
        self.store
            .record_part(target.id, index, &published.remote_id, url, Utc::now())
            .await?;
        parts[index].remote_id = Some(published.remote_id.clone());
        parts[index].remote_url = url.map(str::to_owned);
        tracing::debug!(part = index + 1, "thread part published");
        Ok(())
    }

    /// One publish call for one part, with the one token refresh a refused token earns;
    /// returns what to do next and whether the platform refused the part itself, or `None`
    /// when this instance lost its lease and sent nothing.
    async fn send_part(
        &self,
        target: &DueTarget,
        platform: &dyn Platform,
        content: PostContent<'_>,
    ) -> Result<Option<(Decision, bool)>, StoreError> {
        let mut refreshed = false;
        loop {
            let token = match self.store.account_access_token(target.account).await {
                Ok(token) => token,
                Err(StoreError::NotFound { .. }) => {
                    let revoked = Verdict::Failed(revoked_reason(target));
                    return Ok(Some((Decision::End(revoked), false)));
                }
                Err(e) => return Err(e),
            };
            let account = AccountRef {
                remote_id: &target.account_remote_id,
                token: &token,
            };
            if !self.may_send() {
                return Ok(None);
            }
            let Some(published) = self.fenced_publish(platform, account, content).await else {
                return Ok(None);
            };
            let answer = answer_of(
                target.provider,
                self.without_secrets(target, published).await?,
            );
            let refused = matches!(answer, Answer::Rejected { .. });
            let now = Utc::now();
            self.share_window(target, platform, &answer, now).await;
            let decision = self.decide(target, answer, refreshed, now);
            let Decision::RefreshToken = decision else {
                return Ok(Some((decision, refused)));
            };
            refreshed = true;
            let refresh = self
                .tokens
                .refresh_rejected(target.grant, target.provider.oauth_provider(), &token, now)
                .await?;
            let answer = match refresh {
                RefreshOutcome::Refreshed | RefreshOutcome::AlreadyFresh => continue,
                RefreshOutcome::NeedsReconnect => Answer::GrantRevoked,
                RefreshOutcome::Postponed => Answer::RefreshPostponed,
            };
            let decision = match self.decide(target, answer, refreshed, Utc::now()) {
                Decision::RefreshToken => Decision::End(Verdict::Reconnect),
                decision => decision,
            };
            return Ok(Some((decision, false)));
        }
    }
}

/// The position of the first part not yet live.
fn first_unsent(parts: &[ThreadPart]) -> Option<usize> {
    parts.iter().position(|p| p.remote_id.is_none())
}

/// The id of the part before `index`, which part `index` replies to.
fn previous_id(parts: &[ThreadPart], index: usize) -> Option<String> {
    index
        .checked_sub(1)
        .and_then(|i| parts.get(i))
        .and_then(|p| p.remote_id.clone())
}

/// A thread whose every part is live: published, at its first part's id and link.
fn whole(parts: &[ThreadPart]) -> Verdict {
    let first = parts.first();
    Verdict::Published(Published {
        remote_id: first.and_then(|p| p.remote_id.clone()).unwrap_or_default(),
        url: first
            .and_then(|p| p.remote_url.as_deref())
            .and_then(|u| Url::parse(u).ok()),
    })
}

/// How an attempt that ended at part `index` is told: a failure names the part and what
/// is already live, so that the author knows what readers see.
fn about_part(
    verdict: Verdict,
    target: &DueTarget,
    parts: &[ThreadPart],
    index: usize,
    refused: bool,
) -> Verdict {
    let total = parts.len();
    let part = format!("part {} of {total}", index + 1);
    let live = match (index, parts.first().and_then(|p| p.remote_url.as_deref())) {
        (0, _) => String::new(),
        (1, Some(url)) => format!("; part 1 is live: {url}"),
        (1, None) => "; part 1 is live".to_owned(),
        (n, Some(url)) => format!("; parts 1 to {n} are live, starting at {url}"),
        (n, None) => format!("; parts 1 to {n} are live"),
    };
    match verdict {
        Verdict::Failed(reason) if refused => {
            Verdict::Failed(format!("{part} was refused: {reason}{live}"))
        }
        Verdict::Failed(reason) => Verdict::Failed(format!("{part} failed: {reason}{live}")),
        Verdict::Reconnect if index > 0 => Verdict::Failed(format!(
            "{part} was not sent: {}{live}",
            super::reconnect_reason(target)
        )),
        Verdict::Unknown(reason) => Verdict::Unknown(format!("{part}: {reason}{live}")),
        verdict => verdict,
    }
}
