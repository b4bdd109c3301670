//! The embedded web server (axum): `/healthz`, OAuth callbacks, media links, privacy pages,
//! Meta's callbacks and chat webhooks on one router. Spans carry route templates, never raw
//! URIs, because callbacks hold codes and states.

mod meta_routes;
// Public only for the fuzz targets (fuzz/): nothing outside the web server needs it.
#[doc(hidden)]
pub mod callback_query;
mod oauth_routes;
pub mod pages;
mod privacy;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::media::{MediaError, MediaFiles};
use crate::meta_callbacks::MetaCallbacks;
use crate::oauth::Linker;
use crate::store::{Store, StoreError};

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The database.
    pub store: Store,
    /// Where the operator's privacy policy file may be.
    pub data_dir: PathBuf,
    /// The policy version users accept.
    pub policy_version: u32,
    /// That version's date.
    pub policy_date: chrono::NaiveDate,
    /// Stored images and the key that signs links to them.
    pub media: MediaFiles,
    /// Runs OAuth round trips.
    pub linker: Linker,
    /// Carries out Meta's deauthorize and data-deletion callbacks; `None` when Meta is not
    /// set up, and the callbacks answer 404.
    pub meta_callbacks: Option<MetaCallbacks>,
}

/// Why the web server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr} (is another autopost running? set AUTOPOST_LISTEN)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the web server stopped unexpectedly")]
    Serve(#[source] std::io::Error),
}

/// Binds the listening socket. Port 0 picks a free port; ask the listener which.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, WebError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })
}

/// Every route autopost serves: the core's, and those the chat front ends bring (webhooks,
/// interaction endpoints), all traced alike.
pub fn router(state: WebState, front_ends: Vec<Router>) -> Router {
    let core = Router::new()
        .route("/healthz", get(healthz))
        .route("/privacy", get(privacy_page))
        .route("/media/{token}", get(media_file))
        .route("/oauth/{provider}/start", get(oauth_routes::start))
        .route("/oauth/{provider}/callback", get(oauth_routes::callback))
        .route(
            "/meta/deauthorize",
            post(meta_routes::deauthorize).layer(DefaultBodyLimit::max(meta_routes::MAX_BODY)),
        )
        .route(
            "/meta/data-deletion",
            post(meta_routes::data_deletion).layer(DefaultBodyLimit::max(meta_routes::MAX_BODY)),
        )
        .route("/meta/deletion/{code}", get(meta_routes::deletion_status))
        .with_state(state);
    front_ends
        .into_iter()
        .fold(core, Router::merge)
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(trace_route))
}

/// What autopost's pages may load: their own inline style, nothing else; no scripts, no
/// forms, no framing.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every answer carries: no type sniffing, and no `Referer` (a start page's URL holds
/// a one-time state, and the Continue link leaves for the platform); HTML pages also get a
/// content policy and may not be framed.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(WebError::Serve)
}

async fn trace_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let span = tracing::info_span!("http", method = %request.method(), route = %route);
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

/// Serves a stored image behind a signed, expiring link (Instagram fetches these).
async fn media_file(State(state): State<WebState>, Path(token): Path<String>) -> Response {
    let now = chrono::Utc::now();
    let id = match state.media.verify(&token, now) {
        Ok(id) => id,
        Err(MediaError::Expired) => {
            return pages::problem(
                StatusCode::GONE,
                "Link expired",
                "This image link has expired.",
            );
        }
        Err(_) => {
            return pages::problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no image here.",
            );
        }
    };
    let file = match state.store.media_file(id).await {
        Ok(file) => file,
        Err(StoreError::NotFound { .. }) => {
            return pages::problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "This image was removed.",
            );
        }
        Err(e) => {
            tracing::error!(error = %crate::telemetry::chain(&e), media = %id, "cannot look up media");
            return pages::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Try again later.",
            );
        }
    };
    match state.media.read_media(file.id, &file.file_name).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, file.content_type),
                (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.is_missing() => {
            tracing::warn!(error = %crate::telemetry::chain(&e), media = %id, "stored media file missing");
            pages::problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "This image was removed.",
            )
        }
        Err(e) => {
            // The database (shared mode) or the disk failed for now: the platform fetches
            // again, so it must not be told the image is gone.
            tracing::error!(error = %crate::telemetry::chain(&e), media = %id, "cannot read stored media");
            pages::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Try again later.",
            )
        }
    }
}

async fn privacy_page(State(state): State<WebState>) -> Response {
    privacy::render(&state.data_dir, state.policy_version, state.policy_date)
}

async fn healthz(State(state): State<WebState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %crate::telemetry::chain(&e), "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "database unavailable" })),
            )
        }
    }
}
