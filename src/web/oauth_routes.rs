//! `/oauth/{provider}/start` and `/oauth/{provider}/callback`: the browser side of linking.
//! Query strings hold codes and states, so nothing here logs a URI.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{WebState, pages};
use crate::domain::OAuthProvider;
use crate::oauth::OAuthError;

/// Sends the browser on to the platform's consent page for a valid start link.
pub async fn start(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Ok(provider) = provider.parse::<OAuthProvider>() else {
        return unknown_provider();
    };
    let Some(s) = query.get("s") else {
        return pages::problem(
            StatusCode::BAD_REQUEST,
            "Link incomplete",
            "This link is missing its code; ask the bot for a new one with /connect.",
        );
    };
    match state.linker.consent_url(provider, s, Utc::now()).await {
        Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response(),
        Err(e) => failure(&e),
    }
}

/// Completes linking when the platform sends the browser back.
pub async fn callback(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Ok(provider) = provider.parse::<OAuthProvider>() else {
        return unknown_provider();
    };
    let Some(oauth_state) = query.get("state") else {
        return pages::problem(
            StatusCode::BAD_REQUEST,
            "Link incomplete",
            "The platform sent no state back; ask the bot for a new link with /connect.",
        );
    };
    let code = match (query.get("code"), query.get("error")) {
        (Some(code), None) => Ok(code.as_str()),
        (_, Some(error)) => Err(query
            .get("error_description")
            .or(query.get("error_reason"))
            .map_or_else(|| error.clone(), |d| format!("{error}: {d}"))),
        (None, None) => Err("no code".to_owned()),
    };
    match state
        .linker
        .complete(provider, oauth_state, code, Utc::now())
        .await
    {
        Ok(linked) => pages::page(
            StatusCode::OK,
            "Connected",
            &format!(
                "<p>{}.</p><p class=\"muted\">You can close this tab and go back to the chat.</p>",
                pages::escape(&linked.summary())
            ),
        ),
        Err(e) => failure(&e),
    }
}

fn unknown_provider() -> Response {
    pages::problem(
        StatusCode::NOT_FOUND,
        "Unknown platform",
        "autopost links X and Meta (Facebook, Instagram) accounts only.",
    )
}

fn failure(error: &OAuthError) -> Response {
    let status = match error {
        OAuthError::State(_) | OAuthError::WrongProvider => StatusCode::BAD_REQUEST,
        OAuthError::ProviderOff { .. } => StatusCode::NOT_FOUND,
        OAuthError::Denied { .. } | OAuthError::NoPages => StatusCode::OK,
        OAuthError::Exchange(_) | OAuthError::Identity(_) => StatusCode::BAD_GATEWAY,
        OAuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let chain = crate::telemetry::chain(error);
    if status.is_server_error() {
        tracing::error!(error = %chain, "linking failed");
    } else {
        tracing::info!(error = %chain, "linking refused");
    }
    pages::problem(status, "Not connected", &capitalize(&error.to_string()))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>() + "."
    })
}
