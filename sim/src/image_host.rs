//! A web site serving pictures, for tests of features that fetch images by URL (`/import`):
//! files by path with their type, 404 otherwise, a path that redirects, and a record of what
//! was fetched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::SimServer;

#[derive(Default)]
struct Site {
    files: HashMap<String, (Bytes, &'static str)>,
    redirects: HashMap<String, String>,
    fetched: Vec<String>,
}

/// A simulated image host on a loopback port, serving until dropped.
pub struct ImageHost {
    server: SimServer,
    site: Arc<Mutex<Site>>,
}

impl ImageHost {
    /// Starts an empty site.
    pub async fn start() -> std::io::Result<Self> {
        let site = Arc::new(Mutex::new(Site::default()));
        let router = Router::new().fallback(serve).with_state(site.clone());
        let server = SimServer::spawn(router).await?;
        Ok(Self { server, site })
    }

    /// Serves `bytes` as `content_type` at `path` (starting with `/`); returns its URL.
    pub fn add(&self, path: &str, bytes: impl Into<Bytes>, content_type: &'static str) -> Url {
        self.lock()
            .files
            .insert(path.to_owned(), (bytes.into(), content_type));
        self.url(path)
    }

    /// Answers `path` with a redirect to `to`; returns its URL.
    pub fn redirect(&self, path: &str, to: &Url) -> Url {
        self.lock()
            .redirects
            .insert(path.to_owned(), to.to_string());
        self.url(path)
    }

    /// The URL of `path` on this site.
    pub fn url(&self, path: &str) -> Url {
        self.server
            .url()
            .join(path)
            .unwrap_or_else(|_| self.server.url())
    }

    /// The paths requested so far, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.lock().fetched.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Site> {
        self.site.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn serve(State(site): State<Arc<Mutex<Site>>>, uri: Uri) -> Response {
    let mut site = site.lock().unwrap_or_else(PoisonError::into_inner);
    let path = uri.path().to_owned();
    site.fetched.push(path.clone());
    if let Some(to) = site.redirects.get(&path) {
        return (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response();
    }
    match site.files.get(&path) {
        Some((bytes, content_type)) => {
            ([(header::CONTENT_TYPE, *content_type)], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
