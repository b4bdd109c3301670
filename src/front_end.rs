//! The contract between the core and a chat front end, as types. A front end is a name, the
//! routes it brings to the one web server and a task that runs until the stop signal; it
//! names people and chats as their platform does, answers whether someone administers a
//! chat, and translates platform events into the core's calls (`chats`, `posting`,
//! `privacy`, `people`). The core knows no chat platform's types.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;

use crate::domain::{ChatKind, ChatPlatform};
use crate::store::StoreError;

/// A running front end's task, as `App::serve` spawns it.
pub type FrontEndTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A chat front end (Telegram, Discord): started and stopped by `App::serve`.
pub trait FrontEnd: Send {
    /// A short name for logs: `telegram`, `discord`.
    fn name(&self) -> &'static str;

    /// Routes it serves on the app's web server (a webhook, an interactions endpoint),
    /// merged into the one router before it starts serving. Taken once; `None` when it
    /// needs none, so that its paths answer 404.
    fn routes(&mut self) -> Option<axum::Router> {
        None
    }

    /// Runs until `stop` turns true, then finishes what it accepted before returning.
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> FrontEndTask;
}

/// Resolves once `stop`, the signal [`FrontEnd::run`] was given, turns true, or its sender
/// is gone (which is a stop too).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A person as their chat platform knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    /// Where.
    pub platform: ChatPlatform,
    /// The platform's id for them (a Telegram user id, a Discord user id).
    pub id: &'a str,
    /// How they are called, for `/queue`'s author column.
    pub name: Option<&'a str>,
    /// The language their chat client reports (Telegram's `language_code`, Discord's
    /// `locale`: `de`, `en-GB`), from which likely time zones are offered.
    pub language: Option<&'a str>,
}

/// A chat as its platform knows it: one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// Where.
    pub platform: ChatPlatform,
    /// The platform's id for the chat (a Telegram chat id, a Discord channel id).
    pub id: &'a str,
    /// A one-to-one chat with the bot, or a group whose members share the queue.
    pub kind: ChatKind,
    /// The group's name, if it has one.
    pub title: Option<&'a str>,
}

/// What a person needs a chat's admin rights for. Platforms grant them separately: Discord
/// has Manage Messages for others' posts and Manage Server or Manage Channels for what posts
/// for the whole channel; a Telegram group has one kind of administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// Cancelling, editing or sending early a post someone else wrote.
    ChangeOthersPosts,
    /// Linking or unlinking accounts that post for everyone in the chat.
    ManageAccounts,
}

/// How a front end learns whether the person holds a privilege in the chat (Telegram: the
/// member's status; Discord: the permissions the interaction carries). Asked only when a
/// verb needs it, since it may cost a request to the platform.
#[async_trait::async_trait]
pub trait AdminRights: Send + Sync {
    /// Whether the person holds `privilege` in this chat. An answer the platform would not
    /// give counts as no.
    async fn holds(&self, privilege: Privilege) -> bool;
}

/// Why a chat-neutral call failed: the database did. The front end answers "something went
/// wrong" with a reference and logs the chain under it.
#[derive(Debug, thiserror::Error)]
pub enum FrontEndError {
    /// The database failed; try again later.
    #[error("autopost's database failed")]
    Store(#[from] StoreError),
}

/// A stored notification on its way to one chat of a front end's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Pass back to [`App::mark_delivered`].
    pub id: i64,
    /// The platform's id of the chat to send it to (or of the person, in a private chat).
    pub chat: String,
    /// One human sentence.
    pub text: String,
    /// A link to the live post or the fix, if any.
    pub link: Option<String>,
    /// A failed target the notice may offer to try again.
    pub retry: Option<crate::domain::TargetId>,
    /// A post that changed: render its messages again from its view
    /// ([`App::post_view`](crate::app::App::post_view)) instead of sending `text`.
    pub post: Option<crate::domain::PostId>,
}
