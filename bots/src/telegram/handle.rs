//! One update: a message (or a whole album) or a button press becomes the person, the chat
//! and the command parsed once, goes to `commands`, and its `Reply` goes to `outbox`.

use autopost::front_end::{AdminRights, Person, Place, Privilege};
use teloxide::types::UserId;

use super::decode::{Said, chat_kind, said};
use super::files::{DocumentRef, image_of};
use super::*;
use crate::commands::{Command, Incoming};

impl Inner {
    /// One update, already known to be new.
    pub(super) async fn on_update(self: Arc<Self>, update: Update) {
        let result = match update.kind {
            UpdateKind::Message(message) => {
                self.name_in_logs(message.chat.id, message.from.as_ref().map(|u| u.id));
                // Telegram announces an upgrade in both chats; the first one moves the data.
                let migration = match (message.migrate_to_chat_id(), message.migrate_from_chat_id())
                {
                    (Some(to), _) => Some((message.chat.id, *to)),
                    (None, Some(from)) => Some((*from, message.chat.id)),
                    (None, None) => None,
                };
                if let Some((from, to)) = migration {
                    self.follow_migration(from, to).await;
                    return;
                }
                match message.media_group_id() {
                    Some(group) => {
                        let group = group.0.clone();
                        self.album_part(group, update.id.0.to_string(), message)
                            .await
                    }
                    None => self.on_message(vec![message]).await,
                }
            }
            UpdateKind::CallbackQuery(query) => {
                if let Some(message) = &query.message {
                    self.name_in_logs(message.chat().id, Some(query.from.id));
                }
                self.on_callback(query).await
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "update not answered");
        }
    }

    /// Names the update's chat and person in its span, by pseudonym only: a log line
    /// carries no Telegram id.
    fn name_in_logs(&self, chat: ChatId, from: Option<UserId>) {
        let names = self.app.log_ids();
        let span = tracing::Span::current();
        let chat = names.chat(ChatPlatform::Telegram, &chat.0.to_string());
        span.record("chat", tracing::field::display(&chat));
        if let Some(from) = from {
            let person = names.person(ChatPlatform::Telegram, &from.0.to_string());
            span.record("user", tracing::field::display(&person));
        }
    }

    /// One message, or all parts of an album (oldest first).
    pub(super) async fn on_message(&self, mut parts: Vec<Message>) -> Result<(), TelegramError> {
        parts.sort_by_key(|m| m.id.0);
        // Channels, anonymous group admins and bots are not for autopost.
        let Some(Said {
            chat,
            kind,
            from,
            text,
            files,
            document,
        }) = said(&parts)
        else {
            return Ok(());
        };
        let is_private = kind == ChatKind::Private;
        // A reply to our Edit question, or pictures replying to a post's confirmation.
        let by_reply = parts
            .first()
            .and_then(|m| m.reply_to_message())
            .filter(|replied| {
                replied.from.as_ref().is_some_and(|u| {
                    u.is_bot
                        && u.username
                            .as_deref()
                            .is_some_and(|name| name.eq_ignore_ascii_case(&self.username))
                })
            })
            .and_then(|replied| replied.text())
            .and_then(|replied| commands::edit_by_reply(replied, text, !files.is_empty()));
        let command = match by_reply {
            Some(command) => command,
            None => match self.command_of(text, is_private, chat, &files).await? {
                Some(command) => command,
                None => return Ok(()),
            },
        };
        self.run_message(chat, kind, &from, command, &files, document)
            .await
    }

    /// What a message's text asks for, `None` when nothing (ordinary group talk, or a
    /// picture without a caption in a private chat, which is answered with a hint).
    async fn command_of(
        &self,
        text: Option<&str>,
        is_private: bool,
        chat: &Chat,
        files: &[(teloxide::types::FileId, u32)],
    ) -> Result<Option<Result<Command, commands::ParseError>>, TelegramError> {
        let Some(text) = text else {
            if is_private && !files.is_empty() {
                let hint = Reply::error(
                    "to post this picture, give it a caption `WHEN | TEXT`, such as `tomorrow 9am | hello`",
                );
                self.send(chat.id, &hint).await?;
            }
            return Ok(None);
        };
        let context = ParseContext {
            bot_username: Some(&self.username),
            is_private,
        };
        // Parsed once, first: ordinary group talk costs no database write, download or admin
        // check.
        Ok(match commands::parse(text, context) {
            Ok(None) => None,
            Ok(Some(command)) => Some(Ok(command)),
            Err(e) => Some(Err(e)),
        })
    }

    /// Runs a message's command, with its pictures when the verb takes them, and answers.
    async fn run_message(
        &self,
        chat: &Chat,
        kind: ChatKind,
        from: &User,
        command: Result<Command, commands::ParseError>,
        files: &[(teloxide::types::FileId, u32)],
        document: Option<DocumentRef>,
    ) -> Result<(), TelegramError> {
        // The verb a refused private answer resumes with, through the deep link.
        let resume = command.as_ref().ok().map(|c| c.verb().name);
        let mut images = Vec::new();
        if command.as_ref().is_ok_and(|c| c.verb().takes_images) {
            for (file, size) in files {
                match self.download(file, *size).await {
                    Ok(bytes) => images.push(bytes),
                    Err(TelegramError::TooLarge { bytes, limit }) => {
                        let reply =
                            Reply::error(&ImageError::TooLarge { bytes, limit }.to_string());
                        return self.reply(chat, from, &reply, resume).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot download an image");
                        let reply = Reply::error(
                            "I could not fetch your image from Telegram; please send it again",
                        );
                        return self.reply(chat, from, &reply, resume).await;
                    }
                }
            }
        }
        let mut file = None;
        if let (true, Some(document)) = (
            command.as_ref().is_ok_and(|c| c.verb().takes_file),
            document,
        ) {
            // A file the verb will refuse anyway (not CSV, too large) is not fetched.
            let mut announced = commands::Document::announced(
                document.name,
                document.mime,
                u64::from(document.size),
            );
            if announced.worth_fetching() {
                match self.download(&document.file, document.size).await {
                    Ok(bytes) => announced.bytes = bytes,
                    Err(e) => {
                        tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot download a document");
                        let reply = Reply::error(
                            "I could not fetch your file from Telegram; please send it again",
                        );
                        return self.reply(chat, from, &reply, resume).await;
                    }
                }
            }
            file = Some(announced);
        }
        let (user_id, chat_id, name) = (
            from.id.0.to_string(),
            chat.id.0.to_string(),
            from.full_name(),
        );
        let incoming = Incoming {
            person: person(&user_id, &name, from.language_code.as_deref()),
            place: place(&chat_id, kind, chat),
            command,
            images,
            document: file,
        };
        let rights = Membership {
            bot: &self.bot,
            chat: chat.id,
            user: from.id,
        };
        let reply = self.commands.on_message(incoming, &rights).await;
        self.reply(chat, from, &reply, resume).await
    }

    pub(super) async fn on_callback(&self, query: CallbackQuery) -> Result<(), TelegramError> {
        let data = query.data.clone().unwrap_or_default();
        let Some(message) = &query.message else {
            self.answer(&query, "This button no longer works.").await;
            return Ok(());
        };
        let chat = message.chat();
        let kind = chat_kind(chat).unwrap_or(ChatKind::Group);
        let (user_id, chat_id, name) = (
            query.from.id.0.to_string(),
            chat.id.0.to_string(),
            query.from.full_name(),
        );
        let rights = Membership {
            bot: &self.bot,
            chat: chat.id,
            user: query.from.id,
        };
        let reply = self
            .commands
            .on_button(
                person(&user_id, &name, query.from.language_code.as_deref()),
                place(&chat_id, kind, chat),
                &data,
                &rights,
            )
            .await;
        let Some(reply) = reply else {
            self.answer(&query, "This button no longer works.").await;
            return Ok(());
        };
        if reply.edit_form.is_some() {
            // The question goes as a message of its own, to be answered by replying; the
            // message with the button stays as it is.
            self.answer(&query, "Reply to my message with the change.")
                .await;
            return self.ask(chat.id, &reply).await;
        }
        if reply.refused || reply.aside {
            // Only the presser hears it; the message stays as the others see it.
            self.alert(&query, &short_text(&reply)).await;
            return Ok(());
        }
        self.answer(&query, &short_text(&reply)).await;
        // In a group, the toast is answer enough for what concerns the presser alone.
        if reply.beside && !chat.is_private() {
            return Ok(());
        }
        if reply.private || reply.file.is_some() {
            return self.reply(chat, &query.from, &reply, None).await;
        }
        // The outcome replaces the message the button was under, so the button cannot be
        // pressed twice; if Telegram will not edit it (too old), the outcome is sent anew.
        match self.edit(chat.id, message.id(), &reply).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %autopost::telemetry::chain(&e), "cannot edit the message under the button");
                self.send(chat.id, &reply).await
            }
        }
    }

    /// Answers an update that could not even be recorded (the disk is full) with `reply`,
    /// if it was meant for autopost: a command, a post in a private chat, a button press.
    /// Group talk stays unanswered, as always.
    pub(super) async fn refuse_unstored(&self, update: Update, reply: &Reply) {
        let sent = match update.kind {
            UpdateKind::Message(message) => {
                let Some(kind) = chat_kind(&message.chat) else {
                    return;
                };
                if message.from.as_ref().is_none_or(|u| u.is_bot) {
                    return;
                }
                let is_private = kind == ChatKind::Private;
                let context = ParseContext {
                    bot_username: Some(&self.username),
                    is_private,
                };
                let meant_for_us = match message.text().or_else(|| message.caption()) {
                    Some(text) => !matches!(commands::parse(text, context), Ok(None)),
                    // An album's other parts carry no caption: one answer per album.
                    None => {
                        is_private
                            && message.media_group_id().is_none()
                            && image_of(&message).is_some()
                    }
                };
                if !meant_for_us {
                    return;
                }
                self.send(message.chat.id, reply).await
            }
            UpdateKind::CallbackQuery(query) => {
                self.alert(&query, &short_text(reply)).await;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot say that nothing was taken");
        }
    }

    /// Answers a callback query so the client stops its spinner; a failure is only logged.
    pub(super) async fn answer(&self, query: &CallbackQuery, text: &str) {
        self.answer_with(query, text, false).await;
    }

    /// Answers a callback query with a pop-up only the presser sees.
    pub(super) async fn alert(&self, query: &CallbackQuery, text: &str) {
        self.answer_with(query, text, true).await;
    }

    pub(super) async fn answer_with(&self, query: &CallbackQuery, text: &str, alert: bool) {
        if let Err(e) = self
            .bot
            .answer_callback_query(query.id.clone())
            .text(text)
            .show_alert(alert)
            .await
        {
            tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot answer a button press");
        }
    }
}

fn person<'a>(id: &'a str, name: &'a str, language: Option<&'a str>) -> Person<'a> {
    Person {
        platform: ChatPlatform::Telegram,
        id,
        name: Some(name),
        language,
    }
}

fn place<'a>(id: &'a str, kind: ChatKind, chat: &'a Chat) -> Place<'a> {
    Place {
        platform: ChatPlatform::Telegram,
        id,
        kind,
        title: chat.title(),
    }
}

/// Admin rights as Telegram tells them: the member's status in the group.
struct Membership<'a> {
    bot: &'a Bot,
    chat: ChatId,
    user: UserId,
}

#[async_trait::async_trait]
impl AdminRights for Membership<'_> {
    /// A Telegram group has one kind of administrator: it holds every privilege.
    async fn holds(&self, _: Privilege) -> bool {
        match self.bot.get_chat_member(self.chat, self.user).await {
            Ok(member) => member.is_privileged(),
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&TelegramError::from(e)), "cannot read admin rights");
                false
            }
        }
    }
}

/// The first line of a reply as plain text, short enough for a callback answer.
pub(super) fn short_text(reply: &Reply) -> String {
    let line = reply
        .text
        .iter()
        .map(|commands::Block::Line(spans)| {
            spans
                .iter()
                .map(|span| match span {
                    commands::Span::Plain(t)
                    | commands::Span::Bold(t)
                    | commands::Span::Code(t) => t.as_str(),
                    commands::Span::Link { text, .. } => text.as_str(),
                })
                .collect::<String>()
        })
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| "Done.".to_owned());
    let mut short: String = line.chars().take(190).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}
