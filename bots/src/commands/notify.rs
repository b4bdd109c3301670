//! Delivering the core's stored notifications ("Linked …", a post that changed) to one
//! platform's chats, through a [`Courier`] the front end implements: the backlog at start,
//! then whenever one is stored; in order, each marked delivered once sent, and after a failed
//! send tried again later, never before the platform's Retry-After. A post that changed is
//! shown by editing its messages: its one status message (sent the first time a target
//! finishes, and remembered) and its confirmations, rendered from its current view; several
//! changes of one post waiting together are delivered as one.

use std::collections::HashSet;
use std::time::Duration;

use autopost::app::App;
use autopost::domain::ChatPlatform;
use autopost::domain::PostId;
use autopost::front_end::{FrontEndError, Outgoing};
use autopost::posting::{MessageRole, PostMessage, PostView};
use chrono::Utc;
use tokio::sync::watch;

use super::reply::{Button, ButtonAction, Reply, Span, code, plain};

/// Notifications read per round.
const PAGE: u32 = 200;

/// How a front end sends one notification.
#[async_trait::async_trait]
pub trait Courier: Send + Sync {
    /// Sends `notice` to the platform's chat `chat` (an id as the platform writes it).
    async fn send(&self, chat: &str, notice: &Reply) -> Result<(), Undelivered>;

    /// Sends `reply` to `chat` and returns the platform's id of the message, to edit it later.
    async fn send_kept(&self, chat: &str, reply: &Reply) -> Result<String, Undelivered>;

    /// Replaces the bot's message `message` in `chat` with `reply` (text and buttons). An
    /// edit that changes nothing is a success; a message that is gone is
    /// [`Undelivered::Gone`].
    async fn edit(&self, chat: &str, message: &str, reply: &Reply) -> Result<(), Undelivered>;
}

/// Why a notification did not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// Try again later, not before this long if the platform said so.
    Later(Option<Duration>),
    /// It never will (the bot was removed or blocked, or the chat cannot exist): dropped.
    Never,
    /// The message to edit is gone (deleted, or too old to reach): forget it; a status
    /// message is sent anew.
    Gone,
}

/// How a round of delivery ended.
enum Round {
    /// Nothing is left.
    Delivered,
    /// A full page went out; there may be more.
    More,
    /// Reading or sending failed; try again after this long.
    Failed(Duration),
}

/// Delivers `platform`'s notifications through `courier` until `shutdown` turns true; after a
/// failure, waits `retry` (or longer, as the platform asks).
pub async fn deliver(
    app: &App,
    platform: ChatPlatform,
    courier: &dyn Courier,
    retry: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut stored = app.watch_notifications();
    while !*shutdown.borrow() {
        // Marks everything stored so far as seen: what follows wakes the next round.
        stored.borrow_and_update();
        let wait = match round(app, platform, courier, retry).await {
            Round::Delivered => None,
            Round::More => continue,
            Round::Failed(wait) => Some(wait),
        };
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = autopost::front_end::stopped(&mut shutdown) => break,
            changed = stored.changed() => if changed.is_err() { break },
            () = sleep => {}
        }
    }
}

async fn round(app: &App, platform: ChatPlatform, courier: &dyn Courier, retry: Duration) -> Round {
    let pending = match app.undelivered(platform, PAGE).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot read notifications");
            return Round::Failed(retry);
        }
    };
    let full_page = pending.len() >= PAGE as usize;
    // The posts shown this round: their view was read after every change in this page was
    // stored, so a second change of the same post is already on screen.
    let mut shown = HashSet::new();
    for outgoing in pending {
        let sent = match outgoing.post {
            Some(post) if !shown.insert(post) => Ok(()),
            Some(post) => show_post(app, courier, &outgoing.chat, post).await,
            None => {
                courier
                    .send(&outgoing.chat, &Reply::notice(&outgoing))
                    .await
            }
        };
        match sent {
            Ok(()) | Err(Undelivered::Never | Undelivered::Gone) => {
                if let Err(e) = app.mark_delivered(outgoing.id, Utc::now()).await {
                    tracing::error!(error = %autopost::telemetry::chain(&e), notification = outgoing.id, "cannot mark a notification delivered");
                }
            }
            Err(Undelivered::Later(asked)) => {
                tracing::warn!(
                    notification = outgoing.id,
                    "cannot deliver a notification; will retry"
                );
                // Stop here to keep the order.
                return Round::Failed(asked.map_or(retry, |asked| asked.max(retry)));
            }
        }
    }
    if full_page {
        Round::More
    } else {
        Round::Delivered
    }
}

/// Shows `post`'s current view in its messages in `chat`: edits its status message (sending
/// it the first time a target has an outcome, and remembering it) and its confirmations.
async fn show_post(
    app: &App,
    courier: &dyn Courier,
    chat: &str,
    post: PostId,
) -> Result<(), Undelivered> {
    let later = |e: FrontEndError| {
        tracing::error!(error = %autopost::telemetry::chain(&e), "cannot read a post to show");
        Undelivered::Later(None)
    };
    let Some(view) = app.post_view(post).await.map_err(later)? else {
        return Ok(());
    };
    let messages = app.post_messages(post).await.map_err(later)?;
    let status = messages.iter().find(|m| m.role == MessageRole::Status);
    if status.is_some() || view.has_outcomes() {
        let reply = Reply::post_status(&view);
        let edited = match status {
            Some(message) => courier.edit(&message.chat, &message.message, &reply).await,
            None => Err(Undelivered::Gone),
        };
        match edited {
            Ok(()) => {}
            Err(Undelivered::Gone) => {
                let id = courier.send_kept(chat, &reply).await?;
                let message = PostMessage {
                    role: MessageRole::Status,
                    chat: chat.to_owned(),
                    message: id,
                };
                app.remember_post_message(post, &message, Utc::now())
                    .await
                    .map_err(later)?;
            }
            Err(other) => return Err(other),
        }
    }
    // A series is confirmed once, under its id: that confirmation shows the occurrence still
    // to come (or, once none is, the one that changed).
    let (pending, series) = app.series_of(post).await.map_err(later)?;
    let shown = if pending == post {
        Some(view.clone())
    } else {
        app.post_view(pending).await.map_err(later)?
    }
    .unwrap_or_else(|| view.clone());
    let confirmation = confirmation_of(app, shown, series).await;
    let confirmations = if series == post {
        messages
    } else {
        app.post_messages(series).await.map_err(later)?
    };
    let post = series;
    for message in confirmations
        .iter()
        .filter(|m| m.role == MessageRole::Confirmation)
    {
        match courier
            .edit(&message.chat, &message.message, &confirmation)
            .await
        {
            Ok(()) => {}
            // Out of reach for good: its buttons re-check on every press anyway.
            Err(Undelivered::Gone | Undelivered::Never) => {
                if let Err(e) = app.forget_post_message(post, message).await {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot forget a message");
                }
            }
            Err(later @ Undelivered::Later(_)) => return Err(later),
        }
    }
    Ok(())
}

/// A post's confirmation brought up to date, headed with `series` (its own id, or its
/// series'): until anything of it goes out, in full (counts, toggles, Edit); after that, the
/// short outcome.
async fn confirmation_of(app: &App, mut view: PostView, series: PostId) -> Reply {
    match app.pending_confirmation(&view, Utc::now()).await {
        Ok(Some(mut accepted)) => {
            accepted.post = series;
            Reply::accepted(&accepted)
        }
        Ok(None) => {
            view.id = series;
            Reply::confirmation_view(&view)
        }
        Err(e) => {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot draw a post's confirmation");
            view.id = series;
            Reply::confirmation_view(&view)
        }
    }
}

impl Reply {
    /// A notification as a message: its sentence, its link, and a Retry button for a failure
    /// that can be tried again.
    pub fn notice(outgoing: &Outgoing) -> Reply {
        let mut lines = vec![vec![plain(outgoing.text.clone())]];
        if let Some(link) = &outgoing.link {
            lines.push(vec![Span::Link {
                text: link.clone(),
                url: link.clone(),
            }]);
        }
        let mut reply = Reply::lines(lines);
        if let Some(target) = outgoing.retry {
            reply.buttons = vec![vec![Button {
                label: "Retry".to_owned(),
                action: ButtonAction::Retry(target),
            }]];
        }
        reply
    }

    /// The answer to Retry.
    pub fn retrying(post: PostId) -> Reply {
        Reply::lines(vec![vec![
            plain("Trying post "),
            code(format!("#{post}")),
            plain(" again now; its status message shows how it goes."),
        ]])
    }
}
