//! `/oauth/{provider}/start` and `/oauth/{provider}/callback`: the browser side of linking.
//! The start page says whose chat the accounts will post for and binds the round trip to the
//! browser with a cookie the callback must bring back. Query strings hold codes and states,
//! so nothing here logs a URI.

use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::callback_query::{CallbackQuery, QueryError};
use super::{WebState, pages};
use crate::domain::OAuthProvider;
use crate::oauth::{OAuthError, STATE_LIFETIME};
use crate::store::StateProblem;

/// The cookie that ties a round trip to the browser that opened its start link.
const BROWSER_COOKIE: &str = "autopost_browser";

/// Shows whose chat the accounts will post for and who asked, with a Continue link to the
/// platform's consent page; binds the link to this browser with a short-lived cookie (a
/// forwarded link then works for nobody else).
pub async fn start(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Incomplete> {
    let (provider, s) = provider_and(
        &provider,
        &query,
        "s",
        "This link is missing its code; ask the bot for a new one with /connect.",
    )?;
    let cookie = browser_cookie(&headers);
    let consent = match state
        .linker
        .open_start(provider, s, cookie.as_deref(), Utc::now())
        .await
    {
        Ok(consent) => consent,
        Err(e) => return Ok(failure(&e)),
    };
    let platform = platform_words(provider);
    let body = format!(
        "<p>You are about to let autopost post with your {platform} account{plural} for \
         <b>{chat}</b>.</p>\
         <p>This link was asked for by <b>{asked_by}</b>. If that is not you, close this page: \
         whoever sent you the link would post with your account.</p>\
         <p><a id=\"continue\" href=\"{url}\">Continue to {platform}</a></p>\
         <p class=\"muted\">The link works for 10 minutes, in this browser only.</p>",
        plural = if provider == OAuthProvider::Meta {
            "s"
        } else {
            ""
        },
        chat = pages::escape(&consent.chat),
        asked_by = pages::escape(&consent.asked_by),
        url = pages::escape(consent.url.as_str()),
    );
    let mut page = pages::page(StatusCode::OK, &format!("Connect {platform}"), &body);
    let cookie = set_cookie(
        &state.linker.redirect_uri(provider),
        consent.browser.expose(),
    );
    let headers = page.headers_mut();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    // A page that carries a one-time link is kept by no cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(page)
}

/// Completes linking when the platform sends the browser back: only in the browser that
/// opened the start link.
pub async fn callback(
    State(state): State<WebState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Incomplete> {
    let provider = provider
        .parse::<OAuthProvider>()
        .map_err(|_| Incomplete::UnknownProvider)?;
    let answer = CallbackQuery::parse(query.as_deref()).map_err(Incomplete::Query)?;
    let code = answer.outcome.as_deref().map_err(String::clone);
    let cookie = browser_cookie(&headers);
    Ok(
        match state
            .linker
            .complete(provider, &answer.state, cookie.as_deref(), code, Utc::now())
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

/// The browser cookie the request carries, if any.
fn browser_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value: only for the start links and callbacks, gone with the link after
/// 10 minutes, never readable by a script, sent on the platform's redirect back
/// (a top-level GET) but not on other sites' requests, and only over https where autopost is
/// reached by https.
fn set_cookie(callback: &url::Url, value: &str) -> String {
    // `…/oauth`, under whatever path AUTOPOST_PUBLIC_URL has: one cookie per browser serves
    // every link it opens, of either platform.
    let path = callback
        .path()
        .rsplitn(3, '/')
        .nth(2)
        .filter(|p| p.ends_with("/oauth"))
        .unwrap_or("/oauth");
    let secure = if callback.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{BROWSER_COOKIE}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        STATE_LIFETIME.num_seconds()
    )
}

/// The platform, as the page names it.
fn platform_words(provider: OAuthProvider) -> &'static str {
    match provider {
        OAuthProvider::X => "X",
        OAuthProvider::Meta => "Facebook and Instagram",
    }
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
        OAuthError::State(StateProblem::OpenedElsewhere | StateProblem::NotThisBrowser) => {
            StatusCode::FORBIDDEN
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_behind_https_and_scoped_to_the_oauth_routes() {
        let at = |url: &str| set_cookie(&url::Url::parse(url).unwrap(), "v");
        assert_eq!(
            at("https://autopost.example/oauth/x/callback"),
            "autopost_browser=v; Path=/oauth; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            at("http://127.0.0.1:8080/base/oauth/meta/callback"),
            "autopost_browser=v; Path=/base/oauth; Max-Age=600; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; autopost_browser=abc; b=2"),
        );
        assert_eq!(browser_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(browser_cookie(&HeaderMap::new()), None);
    }
}
