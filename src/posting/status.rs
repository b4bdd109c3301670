//! The messages that show a post (its confirmations and its one status message): the view
//! they render, remembering and forgetting them, and telling the front ends that a post
//! changed so that none of them shows an outdated view.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{ChatId, PostId};
use crate::front_end::FrontEndError;
use crate::store::{Notification, PostMessage, PostView};

impl App {
    /// The post as its messages show it; `None` once it is gone.
    pub async fn post_view(&self, post: PostId) -> Result<Option<PostView>, FrontEndError> {
        Ok(self.store().post_view(post).await?)
    }

    /// The occurrence of `post`'s series still to come (else `post`) and the series' id
    /// (`post`'s own for a post that does not repeat).
    pub async fn series_of(&self, post: PostId) -> Result<(PostId, PostId), FrontEndError> {
        Ok(self.store().series_occurrence(post).await?)
    }

    /// The chat messages that show `post`, oldest first.
    pub async fn post_messages(&self, post: PostId) -> Result<Vec<PostMessage>, FrontEndError> {
        Ok(self.store().post_messages(post).await?)
    }

    /// Remembers a message a front end sent that shows `post`, so that it is edited as the
    /// post changes. A new status message replaces the old one.
    pub async fn remember_post_message(
        &self,
        post: PostId,
        message: &PostMessage,
        now: DateTime<Utc>,
    ) -> Result<(), FrontEndError> {
        Ok(self
            .store()
            .remember_post_message(post, message, now)
            .await?)
    }

    /// Forgets a message that can no longer be edited.
    pub async fn forget_post_message(
        &self,
        post: PostId,
        message: &PostMessage,
    ) -> Result<(), FrontEndError> {
        Ok(self.store().forget_post_message(post, message).await?)
    }

    /// Tells the front ends that `post` of `chat` changed (edited, cancelled, sent now,
    /// retried), so that its messages are rendered again. The change itself is done: failing
    /// to record this only leaves a message stale (its buttons re-check anyway), so it is
    /// logged, not returned.
    pub(crate) async fn post_changed(&self, chat: ChatId, post: PostId, now: DateTime<Utc>) {
        let notification = Notification::post_changed(chat, post);
        if let Err(e) = self.store().enqueue_notification(&notification, now).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "cannot record that a post changed");
        }
    }
}
