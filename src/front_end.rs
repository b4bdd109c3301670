//! What a chat front end is to the app: a name, the routes it brings to the one web server,
//! and a task that runs until the stop signal. The core knows no chat platform's types: a
//! front end translates, and everything it needs from the core is a chat-neutral call.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;

/// A running front end's task, as `App::serve` spawns it.
pub type FrontEndTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A chat front end (Telegram, Discord): started and stopped by `App::serve`.
pub trait FrontEnd: Send {
    /// A short name for logs: `telegram`, `discord`.
    fn name(&self) -> &'static str;

    /// Routes it serves on the app's web server (a webhook, an interactions endpoint),
    /// merged into the one router before it starts serving. Taken once; `None` when it
    /// needs none, so that its paths answer 404.
    fn routes(&mut self) -> Option<axum::Router> {
        None
    }

    /// Runs until `stop` turns true, then finishes what it accepted before returning.
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> FrontEndTask;
}
