//! What a chat has queued, what went out, and which accounts post for it.

use super::{HistoryEntry, PostingError, QueuedPost};
use crate::app::App;
use crate::domain::ChatId;
use crate::recurrence::Recurrence;
use crate::store::{LinkedAccount, StoreError};

impl App {
    /// The chat's pending posts, soonest first.
    pub async fn queue(&self, chat: ChatId) -> Result<Vec<QueuedPost>, PostingError> {
        self.store()
            .queued_posts(chat)
            .await?
            .into_iter()
            .map(|row| {
                let recurrence = row
                    .recurrence
                    .as_deref()
                    .map(Recurrence::from_storage)
                    .transpose()
                    .map_err(|e| {
                        StoreError::Corrupt(format!("recurrence of post {}: {e}", row.post))
                    })?;
                Ok(QueuedPost {
                    post: row.post,
                    due_at: row.due_at,
                    body: row.body,
                    author: row.author,
                    targets: row.targets,
                    recurrence,
                    retrying: row.retrying,
                })
            })
            .collect()
    }

    /// The chat's recent outcomes, newest first.
    pub async fn history(
        &self,
        chat: ChatId,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, PostingError> {
        Ok(self.store().history(chat, limit).await?)
    }

    /// The accounts linked to the chat, for `/accounts` and for naming targets.
    pub async fn accounts(&self, chat: ChatId) -> Result<Vec<LinkedAccount>, PostingError> {
        Ok(self.store().accounts_of_chat(chat).await?)
    }
}
