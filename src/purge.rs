//! The retention purge: removes by age what the privacy policy says autopost keeps only for
//! a while. Run by `autopost run` at start-up and then hourly; `App::purge` takes the
//! instant to judge ages by, so that tests choose it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::app::App;
use crate::instance::Role;
use crate::store::StoreError;

/// How often the purge runs after the one at start-up.
pub const PURGE_EVERY: StdDuration = StdDuration::from_secs(3600);

/// How long a delivered notification is kept: long enough to look into a complaint about a
/// message, short enough that it is not a second history.
pub const NOTIFICATIONS_KEPT: Duration = Duration::days(3);

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Finished posts whose images were removed (the posts stay in `/history`).
    pub posts_stripped: usize,
    /// Image rows removed with them.
    pub media_rows: usize,
    /// Image files removed from disk (a file several posts share goes with the last).
    pub media_files: usize,
    /// Finished posts removed after the history period, with their targets and images.
    pub posts_removed: usize,
    /// OAuth states expired (used ones go at their expiry too).
    pub oauth_states: usize,
    /// Notifications delivered more than [`NOTIFICATIONS_KEPT`] ago.
    pub notifications: usize,
    /// Handled update ids older than the redelivery window.
    pub update_ids: usize,
    /// Revocations given up after 30 days without reaching the platform.
    pub revocations_abandoned: usize,
    /// Drafts (posts waiting for a suggested time to be picked) past their hour, with their
    /// images.
    pub drafts: usize,
}

impl PurgeReport {
    fn removed_anything(&self) -> bool {
        *self != PurgeReport::default()
    }
}

/// Why a purge stopped. What it removed before is removed; the next run does the rest.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The database failed.
    #[error("the retention purge could not finish")]
    Store(#[from] StoreError),
}

impl App {
    /// Removes what is past its retention at `now`: the images of posts finished more than
    /// `AUTOPOST_MEDIA_RETENTION_DAYS` ago (0: all finished posts'), posts finished more
    /// than `AUTOPOST_HISTORY_RETENTION_DAYS` ago, expired OAuth states (used or not),
    /// notifications delivered more than 3 days ago, old update ids, revocations pending
    /// for 30 days (their chats told) and drafts past their hour. Then empties the write-ahead log, so that what was
    /// removed is in no file.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<PurgeReport, PurgeError> {
        let config = self.config();
        let store = self.store();
        let mut report = PurgeReport::default();

        let media = store
            .remove_finished_media(now - days(config.media_retention_days), now)
            .await?;
        report.posts_stripped = media.posts;
        report.media_rows = media.rows;
        report.media_files = self.remove_unused_files(media.unused_files).await;

        let posts = store
            .remove_finished_posts(now - days(config.history_retention_days))
            .await?;
        report.posts_removed = posts.posts;
        report.media_files += self.remove_unused_files(posts.unused_files).await;

        report.oauth_states = store.remove_spent_oauth_states(now).await?;
        report.notifications = store
            .remove_delivered_notifications(now - NOTIFICATIONS_KEPT)
            .await?;
        report.update_ids = store.forget_old_update_ids(now).await?;
        report.revocations_abandoned = self.abandon_revocations(now).await?;
        report.drafts = store.remove_expired_drafts(now).await?;

        if report.removed_anything() {
            self.empty_write_ahead_log().await;
        }
        tracing::info!(
            posts_stripped = report.posts_stripped,
            media_rows = report.media_rows,
            media_files = report.media_files,
            posts_removed = report.posts_removed,
            oauth_states = report.oauth_states,
            notifications = report.notifications,
            update_ids = report.update_ids,
            revocations_abandoned = report.revocations_abandoned,
            drafts = report.drafts,
            "retention purge done"
        );
        Ok(report)
    }

    /// Purges at once, then every [`PURGE_EVERY`], until `stop` turns true; on one instance
    /// at a time (the one playing [`Role::Purge`]), so that instances never purge together.
    pub(crate) async fn run_purge(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.instance().hold(Role::Purge, &mut stop).await {
            return;
        }
        loop {
            if let Err(e) = self.purge(Utc::now()).await {
                tracing::error!(error = %crate::telemetry::chain(&e), "retention purge failed; trying again at the next round");
            }
            tokio::select! {
                () = tokio::time::sleep(PURGE_EVERY) => {}
                () = crate::front_end::stopped(&mut stop) => return,
            }
        }
    }
}

fn days(count: u32) -> Duration {
    Duration::days(i64::from(count))
}
