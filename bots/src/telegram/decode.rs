//! Telegram's JSON into what the bot acts on, with no I/O: an update body decoded, and a
//! message (or an album's parts) read into its chat, sender, text and pictures. The handlers
//! use these, and [`read_update`] runs them with the command parser on any bytes for the fuzz
//! and property tests, so that whatever reaches the webhook is read by code that cannot panic.

use super::files::{DocumentRef, document_of, image_of};
use super::*;
use crate::commands::{Command, ParseError};

/// An update's body, as the webhook route receives it and intake handles it.
pub(super) fn update(body: &[u8]) -> Result<Update, serde_json::Error> {
    serde_json::from_slice(body)
}

/// What one message, or all parts of an album, says before anything is fetched or stored.
pub(super) struct Said<'m> {
    /// Where it was written.
    pub chat: &'m Chat,
    /// A private chat or a group.
    pub kind: ChatKind,
    /// Who wrote it: a person, never a bot.
    pub from: User,
    /// The text or caption, from whichever part carries one.
    pub text: Option<&'m str>,
    /// The pictures, with their announced sizes.
    pub files: Vec<(FileId, u32)>,
    /// A file sent as a document, or the one the message replies to (`/import` as a reply).
    pub document: Option<DocumentRef>,
}

/// Reads `parts` (sorted, oldest first). `None` when they are nothing for autopost: no part,
/// a channel, or no person to act as (anonymous group admins, channels, bots).
pub(super) fn said(parts: &[Message]) -> Option<Said<'_>> {
    let first = parts.first()?;
    let chat = &first.chat;
    let kind = chat_kind(chat)?;
    let from = first.from.clone().filter(|u| !u.is_bot)?;
    Some(Said {
        chat,
        kind,
        from,
        text: parts.iter().find_map(|m| m.text().or_else(|| m.caption())),
        files: parts.iter().filter_map(image_of).collect(),
        document: parts
            .iter()
            .find_map(document_of)
            .or_else(|| first.reply_to_message().and_then(document_of)),
    })
}

/// A Telegram chat as the core names chats; `None` for channels, which are not for autopost.
pub(super) fn chat_kind(chat: &Chat) -> Option<ChatKind> {
    if chat.is_private() {
        Some(ChatKind::Private)
    } else if chat.is_group() || chat.is_supergroup() {
        Some(ChatKind::Group)
    } else {
        None
    }
}

/// Reads `body` as the bot reads a webhook delivery addressed to `bot_username`: the route's
/// check for an `update_id`, the whole update, the message's chat, sender, text and pictures,
/// and the text parsed as a command. Returns the command read, if the update holds one for
/// autopost. Public for the fuzz targets and property tests only.
#[doc(hidden)]
pub fn read_update(body: &[u8], bot_username: &str) -> Option<Result<Command, ParseError>> {
    webhook::update_id(body).ok()?;
    let update = update(body).ok()?;
    match update.kind {
        UpdateKind::Message(message) => {
            // The same reads `on_update` makes before it hands the message on.
            let _ = (
                message.migrate_to_chat_id(),
                message.migrate_from_chat_id(),
                message.media_group_id(),
            );
            let said = said(std::slice::from_ref(&message))?;
            let context = ParseContext {
                bot_username: Some(bot_username),
                is_private: said.kind == ChatKind::Private,
            };
            commands::parse(said.text?, context).transpose()
        }
        UpdateKind::CallbackQuery(query) => {
            let _ = query.message.as_ref().map(|m| (m.chat().id, m.id()));
            let _ = query.from.full_name();
            None
        }
        _ => None,
    }
}
