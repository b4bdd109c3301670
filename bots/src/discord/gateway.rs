//! The gateway: serenity's WebSocket client with the bot token, asking for no intents
//! (interactions come regardless, and no privileged intent is needed). Each interaction is
//! handed, as Discord's JSON, to the same handler the endpoint uses; its first answer goes to
//! the callback URL. serenity's own HTTP client is used only to find the gateway, through the
//! configured API base (which it honours only with its rate limiter off; our REST client keeps
//! the limits for everything else).

use std::sync::Arc;

use autopost::front_end::stopped;
use serenity::client::{ClientBuilder, Context, EventHandler};
use serenity::http::HttpBuilder;
use serenity::model::application::Interaction;
use serenity::model::gateway::{GatewayIntents, Ready};
use tokio::sync::watch;

use super::handle::{Inner, Way};
use super::wire;

/// Hands interactions from the gateway to the handler.
struct Handler(Arc<Inner>);

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, "Discord gateway connected");
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        // Back to Discord's JSON, read as the endpoint reads it: one handler for both.
        // serenity writes the variant's fields without its `type`: it is put back.
        let kind = match &interaction {
            Interaction::Ping(_) => wire::kind::PING,
            Interaction::Command(_) => wire::kind::COMMAND,
            Interaction::Component(_) => wire::kind::COMPONENT,
            Interaction::Autocomplete(_) => wire::kind::AUTOCOMPLETE,
            _ => 0,
        };
        let read = serde_json::to_value(&interaction).and_then(|mut json| {
            json["type"] = kind.into();
            serde_json::from_value::<wire::Interaction>(json)
        });
        match read {
            Ok(interaction) => {
                let inner = self.0.clone();
                tokio::spawn(async move {
                    inner.answer(interaction, Way::Gateway).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "Discord interaction from the gateway unreadable");
            }
        }
    }
}

/// Connects and runs until `stop` turns true; reconnecting is serenity's.
pub async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let (Some(token), Some(api_url)) = (inner.gateway_token(), inner.api_url()) else {
        return;
    };
    let http = HttpBuilder::new(token.expose())
        .proxy(api_url.as_str().trim_end_matches('/'))
        .ratelimiter_disabled(true)
        .build();
    let built = ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .event_handler(Handler(inner.clone()))
        .await;
    let mut client = match built {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot set up the Discord gateway");
            return;
        }
    };
    let shards = client.shard_manager.clone();
    tokio::select! {
        started = client.start() => {
            if let Err(e) = started {
                tracing::error!(error = %autopost::telemetry::chain(&e), "the Discord gateway stopped");
            }
        }
        () = stopped(&mut stop) => {
            shards.shutdown_all().await;
        }
    }
}
