//! What the bot sends: replies (privately when they must be), edits under pressed buttons,
//! and the core's notifications (as the `Courier` of `commands`' delivery loop); follows a
//! group to the supergroup it became.

use super::*;
use crate::commands::{Courier, Undelivered};

impl Inner {
    /// Replaces a message the bot sent with `reply` (text and buttons).
    pub(super) async fn edit(
        &self,
        chat: ChatId,
        message: teloxide::types::MessageId,
        reply: &Reply,
    ) -> Result<(), TelegramError> {
        self.bot
            .edit_message_text(chat, message, reply.to_telegram_html())
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard(reply).unwrap_or_default())
            .await?;
        Ok(())
    }

    /// Sends `reply` where it belongs: a `private` reply written in a group goes to the
    /// person's private chat; if Telegram refuses (they never pressed Start), the group gets
    /// a link that opens the private chat, starting it with `resume` (the verb asked for).
    pub(super) async fn reply(
        &self,
        chat: &Chat,
        from: &User,
        reply: &Reply,
        resume: Option<&str>,
    ) -> Result<(), TelegramError> {
        if !reply.private || chat.is_private() {
            return self.send(chat.id, reply).await;
        }
        let private = ChatId(i64::try_from(from.id.0).unwrap_or(i64::MAX));
        match self.send(private, reply).await {
            Ok(()) => {
                let note = reply
                    .private_note
                    .unwrap_or("I answered you in a private message.");
                self.send_plain(chat.id, note).await
            }
            // They never opened the private chat (or blocked the bot): a link that opens it,
            // whose Start carries what they asked for, so that `/start` can carry on.
            Err(TelegramError::Forbidden { .. }) => {
                let link = format!(
                    "https://t.me/{}?start={}",
                    self.username,
                    resume.unwrap_or("private")
                );
                let invite = Reply::open_private_chat(&from.first_name, &link);
                self.send(chat.id, &invite).await
            }
            Err(e) => Err(e),
        }
    }

    /// Points everything kept for the group `from` at the supergroup `to` it became.
    pub(super) async fn follow_migration(&self, from: ChatId, to: ChatId) {
        match self
            .app
            .move_chat(
                ChatPlatform::Telegram,
                &from.0.to_string(),
                &to.0.to_string(),
            )
            .await
        {
            Ok(true) => {
                tracing::info!(from = %self.log_chat(from), to = %self.log_chat(to), "group became a supergroup");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %autopost::telemetry::chain(&e), from = %self.log_chat(from), to = %self.log_chat(to), "cannot follow a group to its supergroup");
            }
        }
    }

    /// The chat's pseudonym for a log line.
    fn log_chat(&self, chat: ChatId) -> autopost::log_ids::LogId {
        self.app
            .log_ids()
            .chat(ChatPlatform::Telegram, &chat.0.to_string())
    }

    /// One reply as HTML with its buttons, or as a document with a caption; sent again to
    /// the supergroup if the group was upgraded meanwhile.
    pub(super) async fn send(&self, chat: ChatId, reply: &Reply) -> Result<(), TelegramError> {
        self.following_upgrade(chat, |chat| self.send_once(chat, reply))
            .await
    }

    /// Runs `call` on `chat`; if the group has become a supergroup meanwhile, follows it there
    /// and runs `call` once more on the new id.
    async fn following_upgrade<F, Fut>(&self, chat: ChatId, call: F) -> Result<(), TelegramError>
    where
        F: Fn(ChatId) -> Fut,
        Fut: std::future::Future<Output = Result<(), TelegramError>>,
    {
        match call(chat).await {
            Err(TelegramError::Migrated(to)) => {
                self.follow_migration(chat, ChatId(to)).await;
                call(ChatId(to)).await
            }
            other => other,
        }
    }

    pub(super) async fn send_once(&self, chat: ChatId, reply: &Reply) -> Result<(), TelegramError> {
        let keyboard = keyboard(reply);
        if let Some(file) = &reply.file {
            let document =
                InputFile::memory(Bytes::from(file.bytes.clone())).file_name(file.name.clone());
            let mut request = self
                .bot
                .send_document(chat, document)
                .caption(reply.to_telegram_html_within(commands::TELEGRAM_CAPTION_LIMIT))
                .parse_mode(ParseMode::Html);
            if let Some(keyboard) = keyboard {
                request = request.reply_markup(keyboard);
            }
            request.await?;
            return Ok(());
        }
        let mut request = self
            .bot
            .send_message(chat, reply.to_telegram_html())
            .parse_mode(ParseMode::Html);
        if let Some(keyboard) = keyboard {
            request = request.reply_markup(keyboard);
        }
        let sent = request.await?;
        if let Some(post) = reply.shows {
            self.remember_confirmation(post, chat, sent.id).await;
        }
        Ok(())
    }

    /// Sends `reply` as a question answered by replying to it: Telegram opens the reply
    /// field at once (a forced reply), with an example in it.
    pub(super) async fn ask(&self, chat: ChatId, reply: &Reply) -> Result<(), TelegramError> {
        self.following_upgrade(chat, |chat| async move {
            let force = teloxide::types::ForceReply::new()
                .input_field_placeholder(Some("tomorrow 9am | new text".to_owned()));
            self.bot
                .send_message(chat, reply.to_telegram_html())
                .parse_mode(ParseMode::Html)
                .reply_markup(force)
                .await?;
            Ok(())
        })
        .await
    }

    /// Remembers that the message `message` in `chat` confirms `post`, so that it is edited
    /// when the post changes. The reply went out already: failing to remember only leaves it
    /// stale (its buttons re-check on every press), so it is logged.
    async fn remember_confirmation(
        &self,
        post: autopost::domain::PostId,
        chat: ChatId,
        message: teloxide::types::MessageId,
    ) {
        let shown = autopost::posting::PostMessage {
            role: autopost::posting::MessageRole::Confirmation,
            chat: chat.0.to_string(),
            message: message.0.to_string(),
        };
        if let Err(e) = self
            .app
            .remember_post_message(post, &shown, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot remember a confirmation");
        }
    }

    pub(super) async fn send_plain(&self, chat: ChatId, text: &str) -> Result<(), TelegramError> {
        self.following_upgrade(chat, |chat| async move {
            self.bot.send_message(chat, text).await?;
            Ok(())
        })
        .await
    }
}

/// The core's notifications, as plain messages to their chats; a post's status message and
/// confirmations, edited in place.
#[async_trait::async_trait]
impl Courier for Inner {
    async fn send(&self, chat: &str, notice: &Reply) -> Result<(), Undelivered> {
        let chat_id = self.courier_chat(chat)?;
        self.send(chat_id, notice)
            .await
            .map_err(|e| self.undelivered(chat_id, e))
    }

    async fn send_kept(&self, chat: &str, reply: &Reply) -> Result<String, Undelivered> {
        let chat_id = self.courier_chat(chat)?;
        let mut request = self
            .bot
            .send_message(chat_id, reply.to_telegram_html())
            .parse_mode(ParseMode::Html);
        if let Some(keyboard) = keyboard(reply) {
            request = request.reply_markup(keyboard);
        }
        match request.await {
            Ok(sent) => Ok(sent.id.0.to_string()),
            Err(e) => Err(self.undelivered(chat_id, TelegramError::from(e))),
        }
    }

    async fn edit(&self, chat: &str, message: &str, reply: &Reply) -> Result<(), Undelivered> {
        let chat_id = self.courier_chat(chat)?;
        let Ok(message_id) = message.parse::<i32>() else {
            return Err(Undelivered::Gone);
        };
        match self
            .edit(chat_id, teloxide::types::MessageId(message_id), reply)
            .await
        {
            Ok(()) => Ok(()),
            Err(TelegramError::Refused { description }) => {
                let description = description.to_lowercase();
                if description.contains("message is not modified") {
                    // The message already shows this: nothing to do.
                    Ok(())
                } else if description.contains("message to edit not found")
                    || description.contains("message can't be edited")
                    || description.contains("message_id_invalid")
                {
                    Err(Undelivered::Gone)
                } else {
                    tracing::warn!(chat = %self.log_chat(chat_id), "Telegram refused to edit a message; it stays as it is");
                    Err(Undelivered::Never)
                }
            }
            Err(e) => Err(self.undelivered(chat_id, e)),
        }
    }
}

impl Inner {
    /// A chat id from the core's text, or why a notification for it is dropped.
    fn courier_chat(&self, chat: &str) -> Result<ChatId, Undelivered> {
        chat.parse::<i64>().map(ChatId).map_err(|_| {
            tracing::warn!("notification for a chat id Telegram cannot have; dropped");
            Undelivered::Never
        })
    }

    /// What a failed send means for the delivery loop.
    fn undelivered(&self, chat: ChatId, error: TelegramError) -> Undelivered {
        match error {
            // It will never work: the bot was removed or blocked.
            TelegramError::Forbidden { .. } => Undelivered::Never,
            TelegramError::RetryAfter(wait) => Undelivered::Later(Some(wait)),
            e => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), chat = %self.log_chat(chat), "cannot deliver a notification");
                Undelivered::Later(None)
            }
        }
    }
}

/// The reply's buttons as an inline keyboard, row by row; `None` without buttons.
pub(super) fn keyboard(reply: &Reply) -> Option<InlineKeyboardMarkup> {
    let rows: Vec<Vec<InlineKeyboardButton>> = reply
        .buttons
        .iter()
        .filter(|row| !row.is_empty())
        .map(|row| {
            row.iter()
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.callback_data()))
                .collect()
        })
        .collect();
    (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows))
}
