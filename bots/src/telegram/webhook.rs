//! `POST /telegram/webhook`, the route this front end brings to the app's web server when
//! `AUTOPOST_TELEGRAM_WEBHOOK_SECRET` is set: Telegram delivers updates here instead of
//! answering `getUpdates`. The route checks the secret header, checks that the body is an
//! update at all, records it in the database (so that, behind a load balancer, another
//! instance handles it if this one dies after answering), and queues the raw JSON for
//! `intake`.
//!
//! Telegram redelivers an update whose answer is not 2xx, so a full queue answers 503 (try
//! again later) and intake skips `update_id`s it has already seen. Requests without the right
//! secret get 401 before the body is even looked at: Telegram sends no signature, only this
//! shared secret, so it is the whole authentication.

use std::fmt;
use std::sync::Arc;

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::ChatPlatform;
use autopost::store::StoreError;
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
    app: Arc<App>,
    inbox: mpsc::Sender<Bytes>,
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook").finish_non_exhaustive()
    }
}

/// The route, accepting updates that carry `secret` into `app`'s database and `inbox`.
pub fn routes(secret: &Secret, app: Arc<App>, inbox: mpsc::Sender<Bytes>) -> axum::Router {
    let hook = Hook {
        secret: Arc::new(Secret::new(secret.expose())),
        app,
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
    // A place in the queue first: a full queue answers 503 before anything is written.
    let place = match hook.inbox.try_reserve() {
        Ok(place) => place,
        Err(mpsc::error::TrySendError::Full(())) => {
            tracing::warn!(
                update_id,
                "Telegram updates arrive faster than they are handled; asked to resend"
            );
            return busy();
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            tracing::warn!(
                update_id,
                "Telegram update arrived while the bot is stopped"
            );
            return busy();
        }
    };
    // Recorded before the 200: Telegram will not send it again, and an instance dying now
    // must not lose it.
    let recorded = hook
        .app
        .accept_delivery(
            ChatPlatform::Telegram,
            &update_id.to_string(),
            &body,
            None,
            chrono::Utc::now(),
        )
        .await;
    match recorded {
        // `false`: sent again while the first copy waits; intake skips the second copy as
        // seen, as it skips every redelivery.
        Ok(_) => {
            place.send(body);
            StatusCode::OK.into_response()
        }
        // Nothing can be written: intake tells the person it was not taken, as in polling.
        Err(e) if StoreError::is_storage_full_in(&e) => {
            place.send(body);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %autopost::telemetry::chain(&e), update_id, "cannot record a Telegram update; asked to resend");
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
