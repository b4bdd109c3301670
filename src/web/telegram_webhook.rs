//! `POST /telegram/webhook`: when `AUTOPOST_TELEGRAM_WEBHOOK_SECRET` is set, Telegram delivers
//! updates here instead of answering `getUpdates`. The core does not know Telegram's types:
//! it checks the secret header, checks that the body is an update at all, and hands the raw
//! JSON to the Telegram front end through a bounded queue.
//!
//! Telegram redelivers an update whose answer is not 2xx, so a full queue answers 503 (try
//! again later) and the front end skips `update_id`s it has already seen. Requests without
//! the right secret get 401 before the body is even looked at: Telegram sends no signature,
//! only this shared secret, so it is the whole authentication.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::WebState;
use crate::crypto::Secret;

/// The header Telegram repeats the `secret_token` of `setWebhook` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Updates accepted but not yet taken by the front end. Telegram keeps at most
/// `max_connections` (40 by default) requests open, so this is many seconds of backlog.
pub const INBOX_CAPACITY: usize = 4096;

/// The queue between the web server and the Telegram front end; one per App.
#[derive(Debug)]
pub struct TelegramInbox {
    sender: mpsc::Sender<Bytes>,
    receiver: Mutex<Option<mpsc::Receiver<Bytes>>>,
}

impl Default for TelegramInbox {
    fn default() -> Self {
        Self::new()
    }
}

impl TelegramInbox {
    /// An empty queue of [`INBOX_CAPACITY`].
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel(INBOX_CAPACITY);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// The receiving end, once: a second front end would steal updates from the first.
    pub fn take(&self) -> Option<mpsc::Receiver<Bytes>> {
        self.receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub(crate) fn sender(&self) -> mpsc::Sender<Bytes> {
        self.sender.clone()
    }
}

/// What the route needs: the expected secret and where accepted updates go.
#[derive(Clone)]
pub struct TelegramWebhook {
    secret: Arc<Secret>,
    inbox: mpsc::Sender<Bytes>,
}

impl TelegramWebhook {
    /// Accepts updates carrying `secret` into `inbox`.
    pub fn new(secret: &Secret, inbox: &TelegramInbox) -> Self {
        Self {
            secret: Arc::new(Secret::new(secret.expose())),
            inbox: inbox.sender(),
        }
    }
}

impl fmt::Debug for TelegramWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramWebhook").finish_non_exhaustive()
    }
}

/// The least a body must be to count as an update.
#[derive(serde::Deserialize)]
struct UpdateId {
    update_id: i64,
}

/// The route. Answers with an empty body: Telegram reads only the status.
pub(super) async fn receive(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(webhook) = &state.telegram else {
        // Polling mode: nothing lives here.
        return StatusCode::NOT_FOUND.into_response();
    };
    let authentic = headers
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|candidate| webhook.secret.matches(candidate));
    if !authentic {
        tracing::warn!(
            header_present = headers.contains_key(SECRET_HEADER),
            "Telegram webhook request without the right secret refused"
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let update_id = match serde_json::from_slice::<UpdateId>(&body) {
        Ok(update) => update.update_id,
        Err(e) => {
            tracing::warn!(error = %e, "Telegram webhook body is not an update");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match webhook.inbox.try_send(body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                update_id,
                "Telegram updates arrive faster than they are handled; asked to resend"
            );
            busy()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            tracing::warn!(
                update_id,
                "Telegram update arrived while the bot is stopped"
            );
            busy()
        }
    }
}

fn busy() -> Response {
    let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
