//! `/oauth/{provider}/start` and `/oauth/{provider}/callback`: the browser side of linking.
//! Query strings hold codes and states, so nothing here logs a URI.

use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::callback_query::{CallbackQuery, QueryError};
use super::{WebState, pages};
use crate::domain::OAuthProvider;
use crate::oauth::OAuthError;

/// Sends the browser on to the platform's consent page for a valid start link.
pub async fn start(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Incomplete> {
    let (provider, s) = provider_and(
        &provider,
        &query,
        "s",
        "This link is missing its code; ask the bot for a new one with /connect.",
    )?;
    Ok(
        match state.linker.consent_url(provider, s, Utc::now()).await {
            Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response(),
            Err(e) => failure(&e),
        },
    )
}

/// Completes linking when the platform sends the browser back.
pub async fn callback(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Incomplete> {
    let provider = provider
        .parse::<OAuthProvider>()
        .map_err(|_| Incomplete::UnknownProvider)?;
    let answer = CallbackQuery::parse(query.as_deref()).map_err(Incomplete::Query)?;
    let code = answer.outcome.as_deref().map_err(String::clone);
    Ok(
        match state
            .linker
            .complete(provider, &answer.state, code, Utc::now())
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
        },
    )
}

/// A start link or callback that cannot be acted on: no state is looked up for it.
pub enum Incomplete {
    /// The path names no platform autopost links.
    UnknownProvider,
    /// The query lacks the state; says what to do about it.
    Missing(&'static str),
    /// The callback's query is missing its state or is malformed.
    Query(QueryError),
}

impl IntoResponse for Incomplete {
    fn into_response(self) -> Response {
        match self {
            Incomplete::UnknownProvider => pages::problem(
                StatusCode::NOT_FOUND,
                "Unknown platform",
                "autopost links X and Meta (Facebook, Instagram) accounts only.",
            ),
            Incomplete::Missing(what_to_do) => {
                pages::problem(StatusCode::BAD_REQUEST, "Link incomplete", what_to_do)
            }
            Incomplete::Query(error) => pages::problem(
                StatusCode::BAD_REQUEST,
                "Link incomplete",
                &error.to_string(),
            ),
        }
    }
}

/// The platform named in the path, and the state in the query parameter `key`; `missing`
/// says what to do when it is absent.
fn provider_and<'q>(
    provider: &str,
    query: &'q HashMap<String, String>,
    key: &str,
    missing: &'static str,
) -> Result<(OAuthProvider, &'q str), Incomplete> {
    let provider = provider
        .parse::<OAuthProvider>()
        .map_err(|_| Incomplete::UnknownProvider)?;
    let value = query.get(key).ok_or(Incomplete::Missing(missing))?;
    Ok((provider, value))
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
