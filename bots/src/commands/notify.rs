//! Delivering the core's stored notifications ("Linked …", "… is live on X", failures) to
//! one platform's chats, through a [`Courier`] the front end implements: the backlog at
//! start, then whenever one is stored; in order, each marked delivered once sent, and after
//! a failed send tried again later, never before the platform's Retry-After.

use std::time::Duration;

use autopost::app::App;
use autopost::domain::ChatPlatform;
use autopost::domain::PostId;
use autopost::front_end::Outgoing;
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
}

/// Why a notification did not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// Try again later, not before this long if the platform said so.
    Later(Option<Duration>),
    /// It never will (the bot was removed or blocked, or the chat cannot exist): dropped.
    Never,
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
    for outgoing in pending {
        match courier
            .send(&outgoing.chat, &Reply::notice(&outgoing))
            .await
        {
            Ok(()) | Err(Undelivered::Never) => {
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
            plain(" again now; /history shows the result."),
        ]])
    }
}
