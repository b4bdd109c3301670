//! The simulated Discord behaves as Discord documents: signed deliveries verify against the
//! advertised key (and the deliberately bad ones do not), command definitions and messages are
//! refused with Discord's 400 bodies, an interaction takes one initial response within 3 s and
//! @original only after it, buckets run out with 429 and Discord's headers, the CDN serves
//! signed links, and a real serenity 0.12.5 client connects to the gateway and receives a
//! dispatched slash command as `Interaction::Command`, then answers it through the REST routes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopost_sim::SimServer;
use autopost_sim::discord::{
    self as simdc, CommandScope, EPHEMERAL, Failure, LOADING, RateLimit, ResponseVia, Route,
    Signing, SimDiscord, SimDiscordConfig, SimDiscordUser, SimMember, intents,
};
use autopost_sim::world::PATIENCE;
use axum::http::HeaderMap;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use url::Url;

/// A request an endpoint received.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A simulated Discord, an HTTP client, and a stand-in interactions endpoint that records what
/// it receives and answers as `answer` says.
struct Fixture {
    sim: SimDiscord,
    server: SimServer,
    http: reqwest::Client,
    endpoint: Url,
    received: Arc<Mutex<Vec<Received>>>,
    _endpoint_server: SimServer,
}

impl Fixture {
    async fn new() -> Self {
        Self::answering(|payload| {
            if payload["type"] == 1 {
                (200, Some(json!({ "type": 1 })))
            } else {
                (202, None)
            }
        })
        .await
    }

    /// An endpoint answering each payload with a status and an optional JSON body.
    async fn answering(answer: fn(&Value) -> (u16, Option<Value>)) -> Self {
        let (sim, server) = simdc::start(SimDiscordConfig::random()).await.unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let route = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                use axum::response::IntoResponse;
                seen.lock().unwrap().push(Received {
                    headers,
                    body: body.to_vec(),
                });
                let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, json) = answer(&payload);
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                match json {
                    Some(json) => (status, axum::Json(json)).into_response(),
                    None => status.into_response(),
                }
            }
        });
        let endpoint_server = SimServer::spawn(axum::Router::new().route("/interactions", route))
            .await
            .unwrap();
        let endpoint = endpoint_server.url().join("interactions").unwrap();
        Self {
            sim,
            server,
            http: reqwest::Client::new(),
            endpoint,
            received,
            _endpoint_server: endpoint_server,
        }
    }

    fn api(&self, path: &str) -> Url {
        self.server
            .url()
            .join(&format!("api/v10/{}", path.trim_start_matches('/')))
            .unwrap()
    }

    fn bot(&self) -> String {
        format!("Bot {}", self.sim.bot_token().expose())
    }

    /// Sends `method path` with the bot token and a JSON body; returns status, headers, JSON.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, self.api(path))
            .header("Authorization", self.bot());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let text = answer.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// A slash command by an ordinary member, delivered to the endpoint (which answers 202):
    /// registered at the simulated Discord. Returns its id and token.
    async fn delivered_command(&self) -> (u64, String) {
        let payload = self.sim.slash_command("post").string("text", "hi").build();
        let delivery = self.sim.deliver(&self.endpoint, &payload).await.unwrap();
        assert_eq!(delivery.status, 202);
        ids(&payload)
    }

    /// `POST /interactions/{id}/{token}/callback` with `body`.
    async fn respond(
        &self,
        id: u64,
        token: &str,
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let path = self.callback(id, token);
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    fn callback(&self, id: u64, token: &str) -> String {
        format!("interactions/{id}/{token}/callback")
    }

    fn original(&self, token: &str) -> String {
        format!(
            "webhooks/{}/{token}/messages/@original",
            self.sim.application_id()
        )
    }
}

fn ids(payload: &Value) -> (u64, String) {
    (
        payload["id"].as_str().unwrap().parse().unwrap(),
        payload["token"].as_str().unwrap().to_owned(),
    )
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether a received request's signature verifies with `key` over `timestamp ‖ body`.
fn verifies(key: &VerifyingKey, request: &Received) -> Option<bool> {
    let signature = request.headers.get("x-signature-ed25519")?.to_str().ok()?;
    let timestamp = request
        .headers
        .get("x-signature-timestamp")?
        .to_str()
        .ok()?;
    let signature = Signature::from_slice(&decode_hex(signature)?).ok()?;
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(&request.body);
    Some(key.verify(&message, &signature).is_ok())
}

fn error_code(body: &Value) -> Option<i64> {
    body["code"].as_i64()
}

#[tokio::test]
async fn deliveries_are_signed_with_the_advertised_key_and_bad_ones_are_bad() {
    let fx = Fixture::new().await;
    let key_bytes: [u8; 32] = decode_hex(&fx.sim.public_key_hex())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&key_bytes).unwrap();
    for signing in [
        Signing::Valid,
        Signing::Forged,
        Signing::Malformed,
        Signing::Missing,
        Signing::Stale,
    ] {
        let payload = fx.sim.ping();
        fx.sim
            .deliver_signed(&fx.endpoint, &payload, signing)
            .await
            .unwrap();
    }
    let received = fx.received.lock().unwrap().clone();
    let verdicts: Vec<Option<bool>> = received.iter().map(|r| verifies(&key, r)).collect();
    assert_eq!(
        verdicts,
        [Some(true), Some(false), None, None, Some(true)],
        "valid, forged, malformed, missing, stale"
    );
    let age = |r: &Received| {
        let stamp: u64 = r.headers["x-signature-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        now - stamp
    };
    assert!(age(&received[0]) < 60, "a fresh timestamp");
    assert!(age(&received[4]) >= 6 * 60, "a replayed one");
    assert_eq!(received[0].headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_pong_answered_inline_is_the_pings_initial_response() {
    let fx = Fixture::new().await;
    let ping = fx.sim.ping();
    let delivery = fx.sim.deliver(&fx.endpoint, &ping).await.unwrap();
    assert_eq!(
        (delivery.status, delivery.body.clone()),
        (200, Some(json!({ "type": 1 })))
    );
    assert_eq!(delivery.inline_refusal, None);
    let (id, _) = ids(&ping);
    let response = fx.sim.initial_response(id).unwrap();
    assert_eq!((response.kind, response.via), (1, ResponseVia::Inline));
}

#[tokio::test]
async fn an_inline_answer_is_checked_like_a_callback() {
    let fx = Fixture::answering(|payload| match payload["data"]["name"].as_str() {
        Some("long") => (
            200,
            Some(json!({ "type": 4, "data": { "content": "x".repeat(2001) } })),
        ),
        _ => (
            200,
            Some(json!({ "type": 4, "data": { "content": "queued", "flags": 64 } })),
        ),
    })
    .await;
    let good = fx.sim.slash_command("post").build();
    let delivery = fx.sim.deliver(&fx.endpoint, &good).await.unwrap();
    assert_eq!(delivery.inline_refusal, None);
    let response = fx.sim.initial_response(ids(&good).0).unwrap();
    assert_eq!(response.content(), Some("queued"));
    assert!(response.is_ephemeral());
    let original = fx.sim.original_response(ids(&good).0).unwrap();
    assert!(original.is_ephemeral());

    let long = fx.sim.slash_command("long").build();
    let delivery = fx.sim.deliver(&fx.endpoint, &long).await.unwrap();
    let (status, body) = delivery.inline_refusal.unwrap();
    assert_eq!((status, error_code(&body)), (400, Some(50035)));
    assert_eq!(
        body["errors"]["data"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(fx.sim.initial_response(ids(&long).0).is_none());
}

#[tokio::test]
async fn bad_command_definitions_are_refused_with_discords_400_bodies() {
    let fx = Fixture::new().await;
    let app = fx.sim.application_id();
    let options: Vec<Value> = (0..26)
        .map(|i| json!({ "type": 3, "name": format!("o{i}"), "description": "x" }))
        .collect();
    let bad = json!([
        { "name": "Post", "description": "Schedule a post" },
        { "name": "queue", "description": "d".repeat(101) },
        { "name": "edit", "description": "Edit", "options": [
            { "type": 3, "name": "text", "description": "x" },
            { "type": 4, "name": "id", "description": "x", "required": true },
        ]},
        { "name": "many", "description": "Many", "options": options },
        { "name": "to", "description": "To", "options": [
            { "type": 11, "name": "image", "description": "x", "autocomplete": true },
        ]},
    ]);
    let (status, _, body) = fx
        .call(
            reqwest::Method::PUT,
            &format!("applications/{app}/commands"),
            Some(bad),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, Some(50035)), "{body:#}");
    assert_eq!(body["message"], "Invalid Form Body");
    let errors = &body["errors"];
    assert_eq!(
        errors["0"]["name"]["_errors"][0]["code"],
        "APPLICATION_COMMAND_INVALID_NAME"
    );
    assert_eq!(
        errors["1"]["description"]["_errors"][0]["code"],
        "BASE_TYPE_BAD_LENGTH"
    );
    assert_eq!(
        errors["2"]["options"]["_errors"][0]["code"],
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
    );
    assert_eq!(
        errors["3"]["options"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(
        errors["4"]["options"]["0"]["autocomplete"]["_errors"].is_array(),
        "{errors:#}"
    );
    assert!(
        fx.sim.command_overwrites().is_empty(),
        "nothing was registered"
    );

    let good = json!([{ "name": "post", "description": "Schedule a post", "options": [
        { "type": 3, "name": "text", "description": "What to post", "required": true },
        { "type": 3, "name": "when", "description": "When", "autocomplete": true },
        { "type": 11, "name": "image1", "description": "An image" },
    ]}]);
    let guild = fx.sim.guild().id;
    let path = format!("applications/{app}/guilds/{guild}/commands");
    let (status, _, body) = fx.call(reqwest::Method::PUT, &path, Some(good)).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body[0]["name"], "post");
    assert!(body[0]["id"].as_str().unwrap().parse::<u64>().is_ok());
    let (status, _, listed) = fx.call(reqwest::Method::GET, &path, None).await;
    assert_eq!((status, &listed), (200, &body));
    assert_eq!(
        fx.sim.commands(CommandScope::Guild(guild)),
        body.as_array().unwrap().clone()
    );
    assert!(fx.sim.commands(CommandScope::Global).is_empty());
    let payload = fx.sim.slash_command("post").build();
    assert_eq!(
        payload["data"]["id"], body[0]["id"],
        "interactions name the registered id"
    );

    let stranger = format!("applications/{app}/guilds/42/commands");
    let (status, _, body) = fx.call(reqwest::Method::GET, &stranger, None).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, Some(50001)),
        "a guild the bot is not in"
    );
}

#[tokio::test]
async fn serenitys_command_builders_pass_the_checks() {
    use serenity::all::{
        ApplicationId, Command, CommandOptionType, CreateCommand, CreateCommandOption, HttpBuilder,
    };
    let fx = Fixture::new().await;
    let http = HttpBuilder::new(fx.sim.bot_token().expose())
        .proxy(fx.server.url().as_str())
        .ratelimiter_disabled(true)
        .application_id(ApplicationId::new(fx.sim.application_id()))
        .build();
    let post = CreateCommand::new("post")
        .description("Schedule a post")
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "text", "What to post")
                .required(true),
        )
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "when", "When")
                .set_autocomplete(true),
        )
        .add_option(CreateCommandOption::new(
            CommandOptionType::Attachment,
            "image1",
            "An image",
        ));
    let registered = Command::set_global_commands(&http, vec![post])
        .await
        .unwrap();
    assert_eq!(registered[0].name, "post");
    let bad = CreateCommand::new("Post").description("x");
    let err = Command::set_global_commands(&http, vec![bad])
        .await
        .unwrap_err();
    let serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response)) = err
    else {
        panic!("not Discord's refusal: {err:?}");
    };
    assert_eq!(response.error.code, 50035);
    assert_eq!(response.error.errors[0].path, "0.name");
    assert_eq!(fx.sim.requests(Route::OverwriteGlobalCommands), 2);
}

#[tokio::test]
async fn one_initial_response_is_taken_within_three_seconds() {
    let fx = Fixture::new().await;
    let (id, token) = fx.delivered_command().await;
    let reply = json!({ "type": 4, "data": { "content": "queued #1" } });
    let (status, _, _) = fx
        .call(
            reqwest::Method::POST,
            &fx.callback(id, &token),
            Some(reply.clone()),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            &fx.callback(id, &token),
            Some(reply.clone()),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, Some(40060)));
    assert_eq!(
        body["message"],
        "Interaction has already been acknowledged."
    );

    let (late, late_token) = fx.delivered_command().await;
    assert!(fx.sim.backdate(late, Duration::from_millis(3_100)));
    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            &fx.callback(late, &late_token),
            Some(reply.clone()),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, Some(10062)));
    assert_eq!(body["message"], "Unknown interaction");
    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            &fx.callback(id + 1, &token),
            Some(reply),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (404, Some(10062)),
        "an unknown interaction"
    );

    let responses = fx.sim.initial_responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        (
            responses[0].interaction_id,
            responses[0].kind,
            responses[0].via
        ),
        (id, 4, ResponseVia::Callback)
    );
    assert_eq!(responses[0].content(), Some("queued #1"));
}

#[tokio::test]
async fn callbacks_are_checked_against_the_interaction_and_discords_limits() {
    let fx = Fixture::new().await;
    let (id, token) = fx.delivered_command().await;
    let (status, _, body) = fx
        .respond(id, &token, json!({ "type": 8, "data": { "choices": [] } }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, Some(50035)),
        "autocomplete results answer only autocompletes"
    );
    let (status, _, body) = fx
        .respond(id, &token, json!({ "type": 5, "data": { "flags": 4 } }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["data"]["flags"]["_errors"][0]["code"],
        "MESSAGE_FLAGS_INVALID"
    );
    let (status, _, body) = fx
        .respond(id, &token, json!({ "type": 4, "data": { "content": "" } }))
        .await;
    assert_eq!((status, error_code(&body)), (400, Some(50006)));
    let row = |n: usize| {
        let buttons: Vec<Value> = (0..n)
            .map(|i| json!({ "type": 2, "style": 2, "label": "B", "custom_id": format!("b{i}") }))
            .collect();
        json!({ "type": 1, "components": buttons })
    };
    let (status, _, body) = fx
        .respond(
            id,
            &token,
            json!({ "type": 4, "data": { "content": "x", "components": [row(6)] } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["data"]["components"]["0"]["components"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    let (status, _, _) = fx
        .respond(
            id,
            &token,
            json!({ "type": 4, "data": { "content": "ok", "components": [row(5)] } }),
        )
        .await;
    assert_eq!(status, 204, "refusals did not use up the one response");

    let autocomplete = fx.sim.autocomplete("post").focused("to", "fa").build();
    fx.sim.deliver(&fx.endpoint, &autocomplete).await.unwrap();
    let (id, token) = ids(&autocomplete);
    let choices: Vec<Value> = (0..26)
        .map(|i| json!({ "name": format!("c{i}"), "value": format!("c{i}") }))
        .collect();
    let (status, _, body) = fx
        .respond(
            id,
            &token,
            json!({ "type": 8, "data": { "choices": choices } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["data"]["choices"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    let (status, _, _) = fx.respond(id, &token,
        json!({ "type": 8, "data": { "choices": [{ "name": "facebook", "value": "facebook" }] } }),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn original_needs_an_initial_response_and_a_live_token() {
    let fx = Fixture::new().await;
    let (id, token) = fx.delivered_command().await;
    let (status, _, body) = fx
        .call(reqwest::Method::GET, &fx.original(&token), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (404, Some(10015)),
        "before any response"
    );
    let (status, _, body) = fx
        .call(
            reqwest::Method::PATCH,
            &fx.original(&token),
            Some(json!({ "content": "x" })),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, Some(10015)));

    let defer = json!({ "type": 5, "data": { "flags": EPHEMERAL } });
    let (status, _, _) = fx
        .call(reqwest::Method::POST, &fx.callback(id, &token), Some(defer))
        .await;
    assert_eq!(status, 204);
    let (status, _, thinking) = fx
        .call(reqwest::Method::GET, &fx.original(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(thinking["flags"].as_u64(), Some(EPHEMERAL | LOADING));
    let (status, _, edited) = fx
        .call(
            reqwest::Method::PATCH,
            &fx.original(&token),
            Some(json!({ "content": "queued #2" })),
        )
        .await;
    assert_eq!(status, 200, "{edited:#}");
    assert_eq!(
        (edited["content"].as_str(), edited["flags"].as_u64()),
        (Some("queued #2"), Some(EPHEMERAL))
    );
    let edits = fx.sim.edits();
    assert_eq!(
        (edits.len(), edits[0].route),
        (1, Route::EditOriginalResponse)
    );
    assert_eq!(fx.sim.original_response(id).unwrap().content, "queued #2");

    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            &format!("webhooks/{}/{token}", fx.sim.application_id()),
            Some(json!({ "content": "more" })),
        )
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_ne!(
        body["id"], edited["id"],
        "a new message once @original is filled"
    );
    assert_eq!(fx.sim.followups().len(), 1);

    assert!(fx.sim.backdate(id, Duration::from_secs(15 * 60 + 1)));
    let (status, _, body) = fx
        .call(reqwest::Method::GET, &fx.original(&token), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (401, Some(50027)),
        "the token lives 15 minutes"
    );
    let (status, _, body) = fx
        .call(reqwest::Method::GET, &fx.original("not-a-token"), None)
        .await;
    assert_eq!((status, error_code(&body)), (401, Some(50027)));
}

#[tokio::test]
async fn the_first_followup_after_a_deferral_fills_the_thinking_message() {
    let fx = Fixture::new().await;
    let (id, token) = fx.delivered_command().await;
    let followup = format!("webhooks/{}/{token}", fx.sim.application_id());
    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            &followup,
            Some(json!({ "content": "early" })),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (404, Some(10015)),
        "no follow-up before the response"
    );
    fx.call(
        reqwest::Method::POST,
        &fx.callback(id, &token),
        Some(json!({ "type": 5 })),
    )
    .await;
    let (_, _, first) = fx
        .call(
            reqwest::Method::POST,
            &followup,
            Some(json!({ "content": "done" })),
        )
        .await;
    let original = fx.sim.original_response(id).unwrap();
    assert_eq!(first["id"].as_str(), Some(original.id.to_string().as_str()));
    assert_eq!(
        (original.content.as_str(), original.flags & LOADING),
        ("done", 0)
    );
    let (_, _, second) = fx
        .call(
            reqwest::Method::POST,
            &followup,
            Some(json!({ "content": "and more", "flags": EPHEMERAL })),
        )
        .await;
    assert_ne!(second["id"], first["id"]);
    let followups = fx.sim.wait_for_followups(2, PATIENCE).await;
    assert!(followups[1].is_ephemeral() && followups.iter().all(|m| m.interaction_id == Some(id)));
    let message_path = format!(
        "webhooks/{}/{token}/messages/{}",
        fx.sim.application_id(),
        second["id"].as_str().unwrap()
    );
    let (status, _, _) = fx
        .call(
            reqwest::Method::PATCH,
            &message_path,
            Some(json!({ "content": "edited" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fx.sim.edits().last().unwrap().route, Route::EditFollowup);
}

#[tokio::test]
async fn a_button_press_updates_its_message() {
    let fx = Fixture::new().await;
    let channel = fx.sim.guild().channel_id;
    let (status, _, posted) = fx
        .call(
            reqwest::Method::POST,
            &format!("channels/{channel}/messages"),
            Some(json!({
                "content": "post #3 queued",
                "components": [{ "type": 1, "components": [
                    { "type": 2, "style": 4, "label": "Cancel", "custom_id": "cancel:3" },
                ]}],
                "allowed_mentions": { "parse": [] },
            })),
        )
        .await;
    assert_eq!(status, 200, "{posted:#}");
    let message_id: u64 = posted["id"].as_str().unwrap().parse().unwrap();
    let sent = fx.sim.channel_messages();
    assert_eq!(sent[0].custom_ids(), ["cancel:3"]);
    assert_eq!(sent[0].allowed_mentions, Some(json!({ "parse": [] })));

    let press = fx.sim.button_press("cancel:3", message_id).build();
    assert_eq!(
        press["message"]["components"], posted["components"],
        "the press carries its message"
    );
    fx.sim.deliver(&fx.endpoint, &press).await.unwrap();
    let (id, token) = ids(&press);
    let update = json!({ "type": 7, "data": { "content": "post #3 cancelled", "components": [] } });
    let (status, _, _) = fx
        .call(
            reqwest::Method::POST,
            &fx.callback(id, &token),
            Some(update),
        )
        .await;
    assert_eq!(status, 204);
    let now = fx.sim.message(message_id).unwrap();
    assert_eq!(
        (now.content.as_str(), now.components.len()),
        ("post #3 cancelled", 0)
    );
    assert_eq!(fx.sim.edits()[0].route, Route::CreateInteractionResponse);

    let (status, _, body) = fx
        .call(
            reqwest::Method::PATCH,
            &format!("channels/{channel}/messages/{}", message_id + 1),
            Some(json!({ "content": "x" })),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, Some(10008)));
    let (status, _, body) = fx
        .call(
            reqwest::Method::POST,
            "channels/12345/messages",
            Some(json!({ "content": "x" })),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (404, Some(10003)),
        "a channel the bot cannot see"
    );
}

#[tokio::test]
async fn a_bucket_runs_out_with_a_429_and_discords_headers() {
    let fx = Fixture::new().await;
    fx.sim.set_rate_limit(RateLimit {
        limit: 2,
        window: Duration::from_secs(60),
    });
    let channel = fx.sim.guild().channel_id;
    let path = format!("channels/{channel}/messages");
    let message = || Some(json!({ "content": "hello" }));
    let (status, first, _) = fx.call(reqwest::Method::POST, &path, message()).await;
    assert_eq!(status, 200);
    assert_eq!(first["x-ratelimit-limit"], "2");
    assert_eq!(first["x-ratelimit-remaining"], "1");
    let after: f64 = first["x-ratelimit-reset-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > 0.0 && after <= 60.0, "{after}");
    let reset: f64 = first["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > 1.7e9, "epoch seconds: {reset}");
    let (_, second, _) = fx.call(reqwest::Method::POST, &path, message()).await;
    assert_eq!(second["x-ratelimit-remaining"], "0");
    assert_eq!(second["x-ratelimit-bucket"], first["x-ratelimit-bucket"]);
    let (status, limited, body) = fx.call(reqwest::Method::POST, &path, message()).await;
    assert_eq!(status, 429);
    assert_eq!(body["global"], false);
    let retry_after = body["retry_after"].as_f64().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 60.0, "{body}");
    assert_eq!(limited["x-ratelimit-scope"], "user");
    let whole: u64 = limited["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(whole as f64 >= retry_after, "Retry-After rounds up");
    assert_eq!(
        fx.sim.channel_messages().len(),
        2,
        "the refused one did nothing"
    );

    let (status, _, _) = fx.call(reqwest::Method::GET, "users/@me", None).await;
    assert_eq!(status, 200, "another route has its own bucket");

    fx.sim
        .fail_next(Route::CreateMessage, Failure::Slow(PATIENCE));
    let elsewhere = format!("channels/{}/messages", fx.sim.add_guild("other").channel_id);
    let gave_up = fx
        .http
        .post(fx.api(&elsewhere))
        .header("Authorization", fx.bot())
        .json(&json!({ "content": "slow" }))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up waiting");
    let sent = fx.sim.wait_for_channel_messages(3, PATIENCE).await;
    assert_eq!(
        sent[2].content, "slow",
        "a slow answer still did what was asked"
    );

    fx.sim.fail_next(
        Route::CreateDm,
        Failure::RateLimited {
            retry_after_ms: 1_500,
            global: true,
        },
    );
    let (status, headers, body) = fx
        .call(
            reqwest::Method::POST,
            "users/@me/channels",
            Some(json!({ "recipient_id": "42" })),
        )
        .await;
    assert_eq!(
        (
            status,
            body["global"].as_bool(),
            body["retry_after"].as_f64()
        ),
        (429, Some(true), Some(1.5))
    );
    assert_eq!(headers["x-ratelimit-global"], "true");
    assert_eq!(headers["x-ratelimit-scope"], "global");
    assert_eq!(headers["retry-after"], "2");
    fx.sim.fail_next(Route::CreateDm, Failure::ServerError);
    let (status, _, _) = fx
        .call(
            reqwest::Method::POST,
            "users/@me/channels",
            Some(json!({ "recipient_id": "42" })),
        )
        .await;
    assert_eq!(status, 500);
    let (status, _, dm) = fx
        .call(
            reqwest::Method::POST,
            "users/@me/channels",
            Some(json!({ "recipient_id": "42" })),
        )
        .await;
    assert_eq!((status, dm["type"].as_u64()), (200, Some(1)));
    assert_eq!(
        fx.sim.dm_channel(42).map(|c| c.to_string()),
        dm["id"].as_str().map(str::to_owned)
    );
    assert_eq!(fx.sim.requests(Route::CreateDm), 3);
}

#[tokio::test]
async fn bot_routes_refuse_a_missing_or_wrong_token() {
    let fx = Fixture::new().await;
    let url = fx.api("users/@me");
    for auth in [None, Some("Bot wrong"), Some("Bearer x")] {
        let mut request = fx.http.get(url.clone());
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body, json!({ "message": "401: Unauthorized", "code": 0 }));
    }
    assert_eq!(fx.sim.unauthorized_requests(), 3);
    assert_eq!(
        fx.sim.requests(Route::GetCurrentUser),
        0,
        "counted only with the token"
    );
    let gateway: Value = fx
        .http
        .get(fx.api("gateway"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        gateway["url"].as_str(),
        Some(fx.sim.gateway_url().as_str().trim_end_matches('/'))
    );
    let (status, _, bot) = fx.call(reqwest::Method::GET, "gateway/bot", None).await;
    assert_eq!((status, bot["shards"].as_u64()), (200, Some(1)));
    let debug = format!("{:?} {:?}", fx.sim, SimDiscordConfig::random());
    assert!(!debug.contains(fx.sim.bot_token().expose()), "{debug}");
}

#[tokio::test]
async fn attachments_download_from_signed_expiring_links() {
    let fx = Fixture::new().await;
    let photo = fx
        .sim
        .add_attachment("photo.jpg", "image/jpeg", b"\xFF\xD8\xFFjpeg".to_vec())
        .with_reported_size(30 * 1024 * 1024);
    let payload = fx
        .sim
        .slash_command("post")
        .attachment("image1", &photo)
        .build();
    let resolved = &payload["data"]["resolved"]["attachments"][photo.id.to_string()];
    assert_eq!(
        resolved["size"],
        30 * 1024 * 1024,
        "the lie is what interactions report"
    );
    let url = resolved["url"].as_str().unwrap();
    assert!(url.contains("?ex=") && url.contains("&hm="), "{url}");
    let answer = fx.http.get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "image/jpeg");
    assert_eq!(&answer.bytes().await.unwrap()[..], b"\xFF\xD8\xFFjpeg");
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(fx.http.get(unsigned).send().await.unwrap().status(), 404);
    fx.sim.expire_attachment_links();
    assert_eq!(fx.http.get(url).send().await.unwrap().status(), 404);
    let statuses: Vec<u16> = fx.sim.downloads().iter().map(|d| d.status).collect();
    assert_eq!(statuses, [200, 404, 404]);
}

// ---- a real serenity client on the simulated gateway ----

mod gateway {
    use serenity::all::{
        ClientBuilder, Context, CreateInteractionResponse, CreateInteractionResponseFollowup,
        CreateInteractionResponseMessage, EditInteractionResponse, EventHandler, GatewayIntents,
        HttpBuilder, Interaction, ResolvedValue,
    };
    use tokio::sync::mpsc;

    use super::*;

    struct Handler {
        seen: mpsc::UnboundedSender<Interaction>,
    }

    #[serenity::async_trait]
    impl EventHandler for Handler {
        async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
            let _ = self.seen.send(interaction);
        }
    }

    /// A serenity client pointed at the simulated Discord, started in the background.
    struct Bot {
        http: Arc<serenity::http::Http>,
        seen: mpsc::UnboundedReceiver<Interaction>,
        running: tokio::task::JoinHandle<Result<(), serenity::Error>>,
    }

    async fn start_bot(server: &SimServer, token: &str, intents: GatewayIntents) -> Bot {
        let http = HttpBuilder::new(token)
            .proxy(server.url().as_str())
            .ratelimiter_disabled(true)
            .build();
        let (tx, seen) = mpsc::unbounded_channel();
        let mut client = ClientBuilder::new_with_http(http, intents)
            .event_handler(Handler { seen: tx })
            .await
            .unwrap();
        let http = client.http.clone();
        let running = tokio::spawn(async move { client.start().await });
        Bot {
            http,
            seen,
            running,
        }
    }

    impl Bot {
        async fn next_interaction(&mut self) -> Interaction {
            tokio::time::timeout(PATIENCE, self.seen.recv())
                .await
                .expect("an interaction within the patience")
                .expect("the client is running")
        }
    }

    impl Drop for Bot {
        fn drop(&mut self) {
            self.running.abort();
        }
    }

    #[tokio::test]
    async fn a_serenity_client_receives_a_dispatched_slash_command_and_answers_it() {
        let (sim, server) = simdc::start(SimDiscordConfig::random()).await.unwrap();
        let mut bot = start_bot(&server, sim.bot_token().expose(), GatewayIntents::empty()).await;
        assert_eq!(sim.wait_for_ready_sessions(1, PATIENCE).await, 1);
        let identify = &sim.identifies()[0];
        assert!(identify.token_accepted);
        assert_eq!(identify.privileged_intents(), 0);
        assert!(
            identify.compress,
            "serenity asks for compression; READY went zlib'd"
        );
        assert_eq!(identify.properties["browser"], "serenity");
        assert_eq!(identify.query, "v=10");
        assert_eq!(sim.requests(Route::GetGateway), 1);

        let alice = SimMember::new(SimDiscordUser::new(4242, "alice")).moderator();
        let photo = sim.add_attachment("cat.png", "image/png", b"\x89PNG....".to_vec());
        let payload = sim
            .slash_command("post")
            .in_guild(&sim.guild(), &alice)
            .string("text", "launch day")
            .string("when", "now")
            .attachment("image1", &photo)
            .build();
        let seq = sim.dispatch_interaction(&payload).unwrap();
        assert!(seq >= 2, "READY came first");

        let Interaction::Command(command) = bot.next_interaction().await else {
            panic!("not a command");
        };
        assert_eq!(command.data.name, "post");
        assert_eq!(command.user.name, "alice");
        let options = command.data.options();
        assert!(matches!(
            options[0].value,
            ResolvedValue::String("launch day")
        ));
        let ResolvedValue::Attachment(attachment) = options[2].value else {
            panic!("the attachment did not resolve");
        };
        assert_eq!(attachment.url, photo.url);

        let reply = CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(true),
        );
        command.create_response(&bot.http, reply).await.unwrap();
        let edited = command
            .edit_response(
                &bot.http,
                EditInteractionResponse::new().content("queued #1"),
            )
            .await
            .expect("@original edits once serenity learnt the application id from READY");
        assert_eq!(edited.content, "queued #1");
        let followup = command
            .create_followup(
                &bot.http,
                CreateInteractionResponseFollowup::new().content("more"),
            )
            .await
            .unwrap();
        assert_eq!(followup.content, "more");
        let id = payload["id"].as_str().unwrap().parse().unwrap();
        let response = sim.initial_response(id).unwrap();
        assert_eq!((response.kind, response.is_ephemeral()), (5, true));
        assert_eq!(sim.original_response(id).unwrap().content, "queued #1");

        let again = command
            .create_response(&bot.http, CreateInteractionResponse::Acknowledge)
            .await
            .unwrap_err();
        assert!(
            format!("{again}").contains("already been acknowledged"),
            "{again}"
        );
    }

    #[tokio::test]
    async fn a_dropped_connection_resumes_and_keeps_its_dispatches() {
        let (sim, server) = simdc::start(SimDiscordConfig::random()).await.unwrap();
        let mut bot = start_bot(&server, sim.bot_token().expose(), GatewayIntents::empty()).await;
        assert_eq!(sim.wait_for_ready_sessions(1, PATIENCE).await, 1);
        assert_eq!(sim.drop_connections(4000), 1);
        autopost_sim::world::wait_until("a resume", PATIENCE, async || sim.resumes().len() == 1)
            .await
            .unwrap();
        let payload = sim.button_press("cancel:1", 77).build();
        sim.dispatch_interaction(&payload).unwrap();
        let Interaction::Component(press) = bot.next_interaction().await else {
            panic!("not a component press");
        };
        assert_eq!(press.data.custom_id, "cancel:1");
        assert_eq!(sim.identifies().len(), 1, "resumed, not identified again");
    }

    #[tokio::test]
    async fn a_wrong_token_or_a_privileged_intent_closes_the_gateway() {
        let (sim, server) = simdc::start(SimDiscordConfig::random()).await.unwrap();
        let mut wrong = start_bot(&server, "not.the.token", GatewayIntents::empty()).await;
        let ended = tokio::time::timeout(PATIENCE, &mut wrong.running)
            .await
            .unwrap()
            .unwrap();
        assert!(ended.is_err(), "{ended:?}");
        assert!(!sim.identifies()[0].token_accepted);

        let mut nosy = start_bot(
            &server,
            sim.bot_token().expose(),
            GatewayIntents::MESSAGE_CONTENT,
        )
        .await;
        let ended = tokio::time::timeout(PATIENCE, &mut nosy.running)
            .await
            .unwrap()
            .unwrap();
        assert!(ended.is_err(), "{ended:?}");
        let identify = &sim.identifies()[1];
        assert_eq!(identify.privileged_intents(), intents::MESSAGE_CONTENT);
        assert_eq!(sim.ready_sessions(), 0);
    }
}
