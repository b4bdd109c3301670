//! `POST /telegram/webhook`, the route this front end brings to the app's web server when
//! `AUTOPOST_TELEGRAM_WEBHOOK_SECRET` is set: Telegram delivers updates here instead of
//! answering `getUpdates`. The route checks the secret header, checks that the body is an
//! update at all, and queues the raw JSON for `intake`.
//!
//! Telegram redelivers an update whose answer is not 2xx, so a full queue answers 503 (try
//! again later) and intake skips `update_id`s it has already seen. Requests without the right
//! secret get 401 before the body is even looked at: Telegram sends no signature, only this
//! shared secret, so it is the whole authentication.

use std::fmt;
use std::sync::Arc;

use autopost::crypto::Secret;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use tokio::sync::mpsc;

/// The path Telegram posts to.
pub const PATH: &str = "/telegram/webhook";

/// The header Telegram repeats the `secret_token` of `setWebhook` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Updates accepted but not yet taken by intake. Telegram keeps at most `max_connections`
/// (40 by default) requests open, so this is many seconds of backlog.
pub const INBOX_CAPACITY: usize = 4096;

/// The queue between the route and intake: the route holds the sender, intake the receiver.
pub fn inbox() -> (mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>) {
    mpsc::channel(INBOX_CAPACITY)
}

/// What the route needs: the expected secret and where accepted updates go.
#[derive(Clone)]
struct Hook {
    secret: Arc<Secret>,
    inbox: mpsc::Sender<Bytes>,
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook").finish_non_exhaustive()
    }
}

/// The route, accepting updates that carry `secret` into `inbox`.
pub fn routes(secret: &Secret, inbox: mpsc::Sender<Bytes>) -> axum::Router {
    let hook = Hook {
        secret: Arc::new(Secret::new(secret.expose())),
        inbox,
    };
    axum::Router::new()
        .route(PATH, post(receive))
        .with_state(hook)
}

/// The least a body must be to count as an update.
#[derive(serde::Deserialize)]
struct UpdateId {
    update_id: i64,
}

/// The `update_id` of a body, or why it is not an update at all.
pub(super) fn update_id(body: &[u8]) -> Result<i64, serde_json::Error> {
    serde_json::from_slice::<UpdateId>(body).map(|update| update.update_id)
}

/// Answers with an empty body: Telegram reads only the status.
async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    let authentic = headers
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|candidate| hook.secret.matches(candidate));
    if !authentic {
        tracing::warn!(
            header_present = headers.contains_key(SECRET_HEADER),
            "Telegram webhook request without the right secret refused"
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let update_id = match update_id(&body) {
        Ok(update_id) => update_id,
        Err(e) => {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "Telegram webhook body is not an update");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match hook.inbox.try_send(body) {
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
