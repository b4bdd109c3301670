//! What the bot sends: replies (privately when they must be), edits under pressed buttons,
//! and the core's stored notifications; follows a group to the supergroup it became.

use super::*;

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
    /// person's private chat; if Telegram refuses (they never pressed Start), the group is
    /// told how to fix it.
    pub(super) async fn reply(
        &self,
        chat: &Chat,
        from: &User,
        reply: &Reply,
        command: Option<&Command>,
    ) -> Result<(), TelegramError> {
        if !reply.private || chat.is_private() {
            return self.send(chat.id, reply).await;
        }
        let private = ChatId(i64::try_from(from.id.0).unwrap_or(i64::MAX));
        match self.send(private, reply).await {
            Ok(()) if matches!(command, Some(Command::Connect { .. })) => {
                self.send(chat.id, &Reply::connect_link_sent()).await
            }
            Ok(()) => {
                self.send_plain(chat.id, "I answered you in a private message.")
                    .await
            }
            Err(TelegramError::Forbidden { .. }) => {
                let text = format!(
                    "{}, I cannot message you privately yet: open a private chat with @{} and press Start, then ask again.",
                    from.first_name, self.username
                );
                self.send_plain(chat.id, &text).await
            }
            Err(e) => Err(e),
        }
    }

    /// Points everything kept for the group `from` at the supergroup `to` it became.
    pub(super) async fn follow_migration(&self, from: ChatId, to: ChatId) {
        let store = self.app.store();
        match store
            .migrate_chat(
                ChatPlatform::Telegram,
                &from.0.to_string(),
                &to.0.to_string(),
            )
            .await
        {
            Ok(true) => tracing::info!(from = from.0, to = to.0, "group became a supergroup"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %autopost::telemetry::chain(&e), from = from.0, to = to.0, "cannot follow a group to its supergroup");
            }
        }
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
        request.await?;
        Ok(())
    }

    pub(super) async fn send_plain(&self, chat: ChatId, text: &str) -> Result<(), TelegramError> {
        self.following_upgrade(chat, |chat| async move {
            self.bot.send_message(chat, text).await?;
            Ok(())
        })
        .await
    }

    /// Sends the stored notifications meant for Telegram chats: the backlog at start, then
    /// whenever one is stored; after a failed send, again after `RETRY_NOTIFICATIONS`.
    pub(super) async fn deliver_notifications(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut stored = self.app.store().watch_notifications();
        while !*shutdown.borrow() {
            // Marks everything stored so far as seen: what follows wakes the next round.
            stored.borrow_and_update();
            let retry = match self.deliver_backlog().await {
                Backlog::Delivered => None,
                Backlog::More => continue,
                Backlog::Failed(asked) => {
                    Some(asked.map_or(self.options.notification_retry, |wait| {
                        wait.max(self.options.notification_retry)
                    }))
                }
            };
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                changed = stored.changed() => if changed.is_err() { break },
                () = sleep_or_never(retry) => {}
            }
        }
    }

    pub(super) async fn deliver_backlog(&self) -> Backlog {
        let store = self.app.store();
        let pending = match store
            .undelivered_notifications_on(ChatPlatform::Telegram, NOTIFICATION_PAGE)
            .await
        {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!(error = %autopost::telemetry::chain(&e), "cannot read notifications");
                return Backlog::Failed(None);
            }
        };
        let full_page = pending.len() >= NOTIFICATION_PAGE as usize;
        for (stored, remote) in pending {
            let notification = &stored.notification;
            let Ok(chat_id) = remote.parse::<i64>() else {
                tracing::warn!(
                    notification = stored.id,
                    "notification for a chat id Telegram cannot have; dropped"
                );
                if let Err(e) = store
                    .mark_notification_delivered(stored.id, Utc::now())
                    .await
                {
                    tracing::error!(error = %autopost::telemetry::chain(&e), "cannot mark a notification delivered");
                }
                continue;
            };
            let text = match &notification.link {
                Some(link) => format!("{}\n{link}", notification.text),
                None => notification.text.clone(),
            };
            match self.send_plain(ChatId(chat_id), &text).await {
                // Forbidden will never work (the bot was removed or blocked): drop it.
                Ok(()) | Err(TelegramError::Forbidden { .. }) => {
                    if let Err(e) = store
                        .mark_notification_delivered(stored.id, Utc::now())
                        .await
                    {
                        tracing::error!(error = %autopost::telemetry::chain(&e), "cannot mark a notification delivered");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, chat_id, "cannot deliver a notification; will retry");
                    let asked = match e {
                        TelegramError::RetryAfter(wait) => Some(wait),
                        _ => None,
                    };
                    return Backlog::Failed(asked); // keep the order
                }
            }
        }
        if full_page {
            Backlog::More
        } else {
            Backlog::Delivered
        }
    }
}

/// The reply's buttons as one row of an inline keyboard; `None` without buttons.
pub(super) fn keyboard(reply: &Reply) -> Option<InlineKeyboardMarkup> {
    (!reply.buttons.is_empty()).then(|| {
        InlineKeyboardMarkup::new([reply
            .buttons
            .iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.callback_data()))
            .collect::<Vec<_>>()])
    })
}

/// How a round of notification delivery ended.
pub(super) enum Backlog {
    /// Nothing is left.
    Delivered,
    /// A full page went out; there may be more.
    More,
    /// Reading or sending failed; try again later (not before Telegram's Retry-After).
    Failed(Option<Duration>),
}

/// Notifications read per round.
pub(super) const NOTIFICATION_PAGE: u32 = 200;

pub(super) async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
