//! Simulated platforms: stateful local servers that behave like X, Meta, Telegram and Discord
//! closely enough to test the real clients over real HTTP (and a WebSocket gateway), and to run
//! `autopost demo` offline; the world that runs autopost against them; the benches built on it.
//! Never used in production.

pub mod bench;
pub mod discord;
pub mod fleet;
pub mod image_host;
mod logs;
pub mod meta;
pub mod telegram;
mod wire;
pub mod world;
pub mod x;

pub use logs::CapturedLogs;

/// A valid 1×1 PNG, for tests that send a picture through a chat.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
pub use world::{World, WorldBuilder, WorldError};

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use url::Url;

/// A simulated platform serving on a loopback port until dropped.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Other listeners of the same platform (Discord's gateway), stopped with it.
    companions: Vec<oneshot::Sender<()>>,
}

impl SimServer {
    /// Binds 127.0.0.1 on a free port, then serves `router` in the background.
    pub async fn spawn(router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "simulated platform stopped");
            }
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            companions: Vec::new(),
        })
    }

    /// Stops another listener of the same platform when this server stops.
    pub(crate) fn stop_with(&mut self, companion: oneshot::Sender<()>) {
        self.companions.push(companion);
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base to configure as the platform's URL.
    pub fn url(&self) -> Url {
        // A socket address always forms a valid http URL.
        Url::parse(&format!("http://{}", self.addr)).unwrap_or_else(|_| unreachable!())
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for companion in self.companions.drain(..) {
            let _ = companion.send(());
        }
    }
}

/// Polls `snapshot` until it holds at least `n` items or `timeout` passes; returns the last
/// snapshot either way, so a test can assert on what did arrive.
pub(crate) async fn wait_for<T>(
    n: usize,
    timeout: Duration,
    snapshot: impl Fn() -> Vec<T>,
) -> Vec<T> {
    // Timing out is not an error here: the caller asserts on what it got.
    let _ = world::wait_until("items", timeout, async || snapshot().len() >= n).await;
    snapshot()
}
