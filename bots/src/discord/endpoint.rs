//! `POST /discord/interactions`, the route this front end brings to the app's web server when
//! `AUTOPOST_DISCORD_PUBLIC_KEY` is set. The signature and timestamp are checked before the
//! body is read (401 otherwise); PING answers `{"type":1}`; everything else goes to the one
//! handler, whose first answer is the response (or 202 once it posted the callback itself).
//! Commands and button presses are recorded in the database before they are answered, so
//! that behind a load balancer another instance finishes one whose instance died.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use ed25519_dalek::VerifyingKey;

use super::handle::{Inner, Way};
use super::verify::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::wire::Interaction;

/// The path Discord posts interactions to.
pub const PATH: &str = "/discord/interactions";

#[derive(Clone)]
struct Endpoint {
    key: VerifyingKey,
    inner: Arc<Inner>,
}

/// The route, checking requests against the application's public `key`.
pub fn routes(key: VerifyingKey, inner: Arc<Inner>) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(Endpoint { key, inner })
}

async fn receive(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(refusal) = verify::check(
        &endpoint.key,
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::warn!(reason = %refusal, "Discord interaction refused");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(interaction) => interaction,
        Err(e) => {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "Discord interaction unreadable");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    endpoint.inner.accept(&interaction, &body).await;
    match endpoint.inner.answer(interaction, Way::Endpoint).await {
        Some(answer) => Json(answer).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    }
}
