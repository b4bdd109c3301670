//! The simulated Discord's HTTP side: routes under `/api/v10` recognised as Discord names them,
//! bot-token checks, request bodies (JSON or multipart with `payload_json`), rate-limit buckets
//! and injected failures around every route, and the routes that need no interaction: commands,
//! channel messages, DMs, gateway discovery and who the bot is. Interaction answers are `responses`'.

use std::collections::VecDeque;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as Extract};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::messages::Upload;
use super::ratelimit::{Buckets, Failure, too_many_requests};
use super::records::{CommandScope, ResponseVia};
use super::rules::{self, Problems};
use super::{SimDiscord, State};
use crate::wire::parse_multipart;

/// Largest request body taken (Discord's upload limit for bots without boosts, with room).
const MAX_BODY_BYTES: usize = 25 * 1024 * 1024 + 64 * 1024;
/// The API version served.
const API: &str = "/api/v10";

/// A REST route, as Discord's documentation names it: for failure injection and request counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /applications/{application_id}/commands`.
    ListGlobalCommands,
    /// `PUT /applications/{application_id}/commands` (bulk overwrite).
    OverwriteGlobalCommands,
    /// `GET /applications/{application_id}/guilds/{guild_id}/commands`.
    ListGuildCommands,
    /// `PUT /applications/{application_id}/guilds/{guild_id}/commands` (bulk overwrite).
    OverwriteGuildCommands,
    /// `POST /interactions/{interaction_id}/{interaction_token}/callback`.
    CreateInteractionResponse,
    /// `GET /webhooks/{application_id}/{interaction_token}/messages/@original`.
    GetOriginalResponse,
    /// `PATCH /webhooks/{application_id}/{interaction_token}/messages/@original`.
    EditOriginalResponse,
    /// `DELETE /webhooks/{application_id}/{interaction_token}/messages/@original`.
    DeleteOriginalResponse,
    /// `POST /webhooks/{application_id}/{interaction_token}`.
    CreateFollowup,
    /// `PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}`.
    EditFollowup,
    /// `POST /channels/{channel_id}/messages`.
    CreateMessage,
    /// `PATCH /channels/{channel_id}/messages/{message_id}`.
    EditMessage,
    /// `POST /users/@me/channels` (open a DM).
    CreateDm,
    /// `GET /gateway`.
    GetGateway,
    /// `GET /gateway/bot`.
    GetGatewayBot,
    /// `GET /oauth2/applications/@me`.
    GetCurrentApplication,
    /// `GET /users/@me`.
    GetCurrentUser,
    /// `GET /attachments/{channel_id}/{attachment_id}/{filename}` on the CDN.
    DownloadAttachment,
}

impl Route {
    /// The method and path template, as rate-limit buckets are keyed.
    pub fn template(self) -> &'static str {
        match self {
            Route::ListGlobalCommands => "GET /applications/{application_id}/commands",
            Route::OverwriteGlobalCommands => "PUT /applications/{application_id}/commands",
            Route::ListGuildCommands => {
                "GET /applications/{application_id}/guilds/{guild_id}/commands"
            }
            Route::OverwriteGuildCommands => {
                "PUT /applications/{application_id}/guilds/{guild_id}/commands"
            }
            Route::CreateInteractionResponse => {
                "POST /interactions/{interaction_id}/{interaction_token}/callback"
            }
            Route::GetOriginalResponse => {
                "GET /webhooks/{application_id}/{interaction_token}/messages/@original"
            }
            Route::EditOriginalResponse => {
                "PATCH /webhooks/{application_id}/{interaction_token}/messages/@original"
            }
            Route::DeleteOriginalResponse => {
                "DELETE /webhooks/{application_id}/{interaction_token}/messages/@original"
            }
            Route::CreateFollowup => "POST /webhooks/{application_id}/{interaction_token}",
            Route::EditFollowup => {
                "PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}"
            }
            Route::CreateMessage => "POST /channels/{channel_id}/messages",
            Route::EditMessage => "PATCH /channels/{channel_id}/messages/{message_id}",
            Route::CreateDm => "POST /users/@me/channels",
            Route::GetGateway => "GET /gateway",
            Route::GetGatewayBot => "GET /gateway/bot",
            Route::GetCurrentApplication => "GET /oauth2/applications/@me",
            Route::GetCurrentUser => "GET /users/@me",
            Route::DownloadAttachment => "GET /attachments/{channel_id}/{attachment_id}/{filename}",
        }
    }

    /// Whether the route needs `Authorization: Bot <token>` (interaction and webhook routes
    /// carry their token in the path; `GET /gateway` and the CDN need none).
    pub fn needs_bot_token(self) -> bool {
        !matches!(
            self,
            Route::CreateInteractionResponse
                | Route::GetOriginalResponse
                | Route::EditOriginalResponse
                | Route::DeleteOriginalResponse
                | Route::CreateFollowup
                | Route::EditFollowup
                | Route::GetGateway
                | Route::DownloadAttachment
        )
    }
}

/// `{"message": …, "code": …}` with that status, as Discord answers errors.
pub(crate) fn error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({ "message": message, "code": code })),
    )
        .into_response()
}

/// 400 `Invalid Form Body` (50035) with the error tree of `problems`.
pub(crate) fn form_error(problems: Problems) -> Response {
    let body = rules::invalid_form_body(&problems.into_vec());
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// 200 with a JSON body.
pub(crate) fn json_ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub(crate) fn missing_access() -> Response {
    error(403, 50001, "Missing Access")
}

/// The routes, to serve.
pub(crate) fn router(sim: SimDiscord) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sim)
}

/// A recognised request: the route and its path variables, in order.
struct Matched {
    route: Route,
    vars: Vec<String>,
}

/// The route of `method` and the path below `/api/v10`; `Err` with 404 or 405.
fn recognise(method: &Method, path: &str) -> Result<Matched, Box<Response>> {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let m = method.clone();
    let found: Option<(Route, Vec<&str>)> = match segments.as_slice() {
        ["applications", app, "commands"] => match m {
            Method::GET => Some((Route::ListGlobalCommands, vec![*app])),
            Method::PUT => Some((Route::OverwriteGlobalCommands, vec![*app])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["applications", app, "guilds", guild, "commands"] => match m {
            Method::GET => Some((Route::ListGuildCommands, vec![*app, *guild])),
            Method::PUT => Some((Route::OverwriteGuildCommands, vec![*app, *guild])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["interactions", id, token, "callback"] => match m {
            Method::POST => Some((Route::CreateInteractionResponse, vec![*id, *token])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["webhooks", app, token] => match m {
            Method::POST => Some((Route::CreateFollowup, vec![*app, *token])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["webhooks", app, token, "messages", "@original"] => match m {
            Method::GET => Some((Route::GetOriginalResponse, vec![*app, *token])),
            Method::PATCH => Some((Route::EditOriginalResponse, vec![*app, *token])),
            Method::DELETE => Some((Route::DeleteOriginalResponse, vec![*app, *token])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["webhooks", app, token, "messages", message] => match m {
            Method::PATCH => Some((Route::EditFollowup, vec![*app, *token, *message])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["channels", channel, "messages"] => match m {
            Method::POST => Some((Route::CreateMessage, vec![*channel])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["channels", channel, "messages", message] => match m {
            Method::PATCH => Some((Route::EditMessage, vec![*channel, *message])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["users", "@me", "channels"] => match m {
            Method::POST => Some((Route::CreateDm, vec![])),
            _ => return Err(Box::new(method_not_allowed())),
        },
        ["users", "@me"] => (m == Method::GET).then(|| (Route::GetCurrentUser, vec![])),
        ["gateway"] => (m == Method::GET).then(|| (Route::GetGateway, vec![])),
        ["gateway", "bot"] => (m == Method::GET).then(|| (Route::GetGatewayBot, vec![])),
        ["oauth2", "applications", "@me"] => {
            (m == Method::GET).then(|| (Route::GetCurrentApplication, vec![]))
        }
        _ => return Err(Box::new(error(404, 0, "404: Not Found"))),
    };
    match found {
        Some((route, vars)) => Ok(Matched {
            route,
            vars: vars.into_iter().map(str::to_owned).collect(),
        }),
        None => Err(Box::new(method_not_allowed())),
    }
}

fn method_not_allowed() -> Response {
    error(405, 0, "405: Method Not Allowed")
}

/// The names of a route's path variables that must be snowflakes, by position.
fn snowflake_vars(route: Route) -> &'static [(usize, &'static str)] {
    match route {
        Route::ListGlobalCommands | Route::OverwriteGlobalCommands => &[(0, "application_id")],
        Route::ListGuildCommands | Route::OverwriteGuildCommands => {
            &[(0, "application_id"), (1, "guild_id")]
        }
        Route::CreateInteractionResponse => &[(0, "interaction_id")],
        Route::GetOriginalResponse
        | Route::EditOriginalResponse
        | Route::DeleteOriginalResponse
        | Route::CreateFollowup => &[(0, "webhook_id")],
        Route::EditFollowup => &[(0, "webhook_id"), (2, "message_id")],
        Route::CreateMessage => &[(0, "channel_id")],
        Route::EditMessage => &[(0, "channel_id"), (1, "message_id")],
        _ => &[],
    }
}

/// Discord refuses a path variable that is not a snowflake with 50035.
fn check_snowflakes(matched: &Matched) -> Result<(), Box<Response>> {
    for (position, name) in snowflake_vars(matched.route) {
        let value = matched.vars.get(*position).map_or("", String::as_str);
        if value.parse::<u64>().is_err() {
            return Err(Box::new(form_error(Problems::one(
                &[name],
                "NUMBER_TYPE_COERCE",
                format!("Value \"{value}\" is not snowflake."),
            ))));
        }
    }
    Ok(())
}

/// The major parameter of a bot route's bucket.
fn major(matched: &Matched) -> &str {
    match matched.route {
        Route::ListGuildCommands | Route::OverwriteGuildCommands => &matched.vars[1],
        Route::CreateMessage | Route::EditMessage => &matched.vars[0],
        _ => "",
    }
}

/// A request body: JSON, or multipart with `payload_json` (and plain fields) plus `files[n]`.
fn read_body(headers: &HeaderMap, body: &Bytes) -> Result<(Value, Vec<Upload>), Box<Response>> {
    if body.is_empty() {
        return Ok((Value::Null, Vec::new()));
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let lower = content_type.to_ascii_lowercase();
    let invalid_json = || Box::new(error(400, 50109, "The request body contains invalid JSON."));
    if lower.starts_with("application/json") {
        return serde_json::from_slice(body)
            .map(|json| (json, Vec::new()))
            .map_err(|_| invalid_json());
    }
    if lower.starts_with("multipart/form-data") {
        let Some(parts) = parse_multipart(content_type, body) else {
            return Err(Box::new(error(400, 50035, "Invalid Form Body")));
        };
        let mut fields = Map::new();
        let mut payload = None;
        let mut uploads = Vec::new();
        for part in parts {
            if part.is_file {
                uploads.push(Upload {
                    filename: part.filename.unwrap_or_else(|| part.name.clone()),
                    content_type: part.content_type,
                    bytes: body.slice_ref(part.data),
                });
            } else if part.name == "payload_json" {
                payload =
                    Some(serde_json::from_slice::<Value>(part.data).map_err(|_| invalid_json())?);
            } else {
                let text = String::from_utf8_lossy(part.data).into_owned();
                fields.insert(part.name, Value::String(text));
            }
        }
        let mut json = payload.unwrap_or(Value::Object(Map::new()));
        if let Value::Object(map) = &mut json {
            for (key, value) in fields {
                map.entry(key).or_insert(value);
            }
        }
        return Ok((json, uploads));
    }
    Err(Box::new(form_error(Problems::one(
        &[],
        "CONTENT_TYPE_INVALID",
        "Expected \"Content-Type\" header to be one of {'application/json', 'multipart/form-data'}.",
    ))))
}

/// Every request: the CDN, or a route under `/api/v10`.
async fn dispatch(
    Extract(sim): Extract<SimDiscord>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/attachments/") {
        let rest = rest.to_owned();
        let query = uri.query().map(str::to_owned);
        return sim
            .serve(Route::DownloadAttachment, "", move |state| {
                state.cdn.download(&rest, query.as_deref())
            })
            .await;
    }
    let Some(api_path) = path.strip_prefix(API) else {
        return error(404, 0, "404: Not Found");
    };
    let matched = match recognise(&method, api_path) {
        Ok(matched) => matched,
        Err(refused) => return *refused,
    };
    if matched.route.needs_bot_token() && !sim.is_bot(&headers) {
        sim.lock().unauthorized += 1;
        return error(401, 0, "401: Unauthorized");
    }
    if let Err(refused) = check_snowflakes(&matched) {
        sim.lock().count(matched.route);
        return *refused;
    }
    let query = uri.query().unwrap_or_default().to_owned();
    let major = major(&matched).to_owned();
    sim.serve(matched.route, &major, move |state| {
        let (json, uploads) = match read_body(&headers, &body) {
            Ok(read) => read,
            Err(refused) => return *refused,
        };
        state.handle(&method, &matched, &query, &json, uploads)
    })
    .await
}

impl SimDiscord {
    /// Whether the request carries `Authorization: Bot <the bot token>`.
    fn is_bot(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(token) = value.strip_prefix("Bot ") else {
            return false;
        };
        self.lock().config.token.matches(token.trim())
    }

    /// Counts the request, applies an injected failure and the route's bucket, then lets
    /// `handle` answer under the lock.
    async fn serve(
        &self,
        route: Route,
        major: &str,
        handle: impl FnOnce(&mut State) -> Response,
    ) -> Response {
        let (mut response, delay) = {
            let mut state = self.lock();
            state.count(route);
            let limit = state.config.rate_limit;
            let failure = state.failures.get_mut(&route).and_then(VecDeque::pop_front);
            let delay = match failure {
                Some(Failure::RateLimited {
                    retry_after_ms,
                    global,
                }) => {
                    let wait = std::time::Duration::from_millis(retry_after_ms);
                    let quota = Buckets::forced(route.template(), limit, wait);
                    return too_many_requests(Some(&quota), wait, global);
                }
                Some(Failure::ServerError) => return error(500, 0, "500: Internal Server Error"),
                Some(Failure::Slow(delay)) => Some(delay),
                None => None,
            };
            let quota = if route.needs_bot_token() {
                match state
                    .buckets
                    .take(route.template(), major, limit, Instant::now())
                {
                    Ok(quota) => Some(quota),
                    Err((quota, wait)) => return too_many_requests(Some(&quota), wait, false),
                }
            } else {
                None
            };
            let mut response = handle(&mut state);
            if let Some(quota) = quota {
                quota.write(response.headers_mut());
            }
            (response, delay)
        };
        if let Some(delay) = delay {
            // Carried out already: the client may give up, but the effect stays.
            tokio::time::sleep(delay).await;
        }
        if response.status() == StatusCode::NO_CONTENT {
            response.headers_mut().remove(CONTENT_TYPE);
        }
        response
    }
}

impl State {
    pub(crate) fn count(&mut self, route: Route) {
        *self.requests.entry(route).or_default() += 1;
    }

    fn handle(
        &mut self,
        method: &Method,
        matched: &Matched,
        query: &str,
        body: &Value,
        uploads: Vec<Upload>,
    ) -> Response {
        let var = |i: usize| matched.vars.get(i).map_or("", String::as_str);
        match matched.route {
            Route::ListGlobalCommands => self.list_commands(var(0), CommandScope::Global),
            Route::OverwriteGlobalCommands => {
                self.overwrite_commands(var(0), CommandScope::Global, body)
            }
            Route::ListGuildCommands | Route::OverwriteGuildCommands => {
                let guild = var(1).parse().unwrap_or(0);
                if !self.known_guilds.contains(&guild) {
                    return missing_access();
                }
                if matched.route == Route::ListGuildCommands {
                    self.list_commands(var(0), CommandScope::Guild(guild))
                } else {
                    self.overwrite_commands(var(0), CommandScope::Guild(guild), body)
                }
            }
            Route::CreateInteractionResponse => {
                let with_response = query.split('&').any(|p| p == "with_response=true");
                match self.respond(var(0), var(1), body, uploads, ResponseVia::Callback) {
                    Ok(()) if with_response => self.callback_answer(var(0)),
                    Ok(()) => StatusCode::NO_CONTENT.into_response(),
                    Err(refused) => *refused,
                }
            }
            Route::GetOriginalResponse
            | Route::EditOriginalResponse
            | Route::DeleteOriginalResponse => self.original(method, var(0), var(1), body, uploads),
            Route::CreateFollowup => self.create_followup(var(0), var(1), body, uploads),
            Route::EditFollowup => self.edit_followup(var(0), var(1), var(2), body, uploads),
            Route::CreateMessage => self.create_channel_message(var(0), body, uploads),
            Route::EditMessage => self.edit_channel_message(var(0), var(1), body, uploads),
            Route::CreateDm => self.open_dm(body),
            Route::GetGateway => json_ok(json!({ "url": self.gateway_address() })),
            Route::GetGatewayBot => json_ok(json!({
                "url": self.gateway_address(),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000usize.saturating_sub(self.gateway.identifies.len()),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            })),
            Route::GetCurrentApplication => json_ok(self.application_json()),
            Route::GetCurrentUser => {
                let mut user = self.bot_user();
                user["verified"] = true.into();
                user["mfa_enabled"] = false.into();
                user["email"] = Value::Null;
                user["locale"] = "en-US".into();
                json_ok(user)
            }
            Route::DownloadAttachment => error(404, 0, "404: Not Found"),
        }
    }

    /// The gateway URL without the trailing slash, as Discord writes it (`wss://gateway.discord.gg`).
    fn gateway_address(&self) -> String {
        self.gateway_url.as_str().trim_end_matches('/').to_owned()
    }

    /// What `GET /oauth2/applications/@me` answers: enough for serenity's `CurrentApplicationInfo`.
    fn application_json(&self) -> Value {
        let id = self.config.application_id;
        json!({
            "id": id.to_string(),
            "name": self.config.bot_username,
            "icon": null,
            "description": "",
            "summary": "",
            "type": null,
            "hook": true,
            "bot_public": true,
            "bot_require_code_grant": false,
            "verify_key": self.config.public_key_hex(),
            "owner": SimOwner::json(id),
            "team": null,
            "flags": gateway_flags(self.config.privileged_intents),
            "bot": self.bot_user(),
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": null,
            "role_connections_verification_url": null,
            "approximate_guild_count": self.guilds.len(),
        })
    }

    /// The interaction callback's answer with `?with_response=true`.
    fn callback_answer(&self, interaction: &str) -> Response {
        let id = interaction.parse::<u64>().unwrap_or(0);
        let Some(registered) = self.interactions.get(&id) else {
            return StatusCode::NO_CONTENT.into_response();
        };
        let message = registered.original.and_then(|m| self.message_json(m));
        let mut resource = json!({ "type": registered.response });
        if let Some(message) = &message {
            resource["message"] = message.clone();
        }
        json_ok(json!({
            "interaction": {
                "id": id.to_string(),
                "type": registered.kind,
                "response_message_id": registered.original.map(|m| m.to_string()),
                "response_message_loading": registered.response == Some(5),
                "response_message_ephemeral": message
                    .as_ref()
                    .and_then(|m| m["flags"].as_u64())
                    .is_some_and(|f| f & rules::EPHEMERAL != 0),
            },
            "resource": resource,
        }))
    }
}

/// The made-up owner of the simulated application.
struct SimOwner;

impl SimOwner {
    fn json(application_id: u64) -> Value {
        json!({
            "id": (application_id + 3).to_string(),
            "username": "autopost-owner",
            "global_name": "Owner",
            "avatar": null,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
        })
    }
}

/// Application flags for the privileged intents approved (the LIMITED variants, as for a bot in
/// fewer than 100 guilds), plus APPLICATION_COMMAND_BADGE.
pub(crate) fn gateway_flags(privileged: u64) -> u64 {
    use super::intents::{GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT};
    let mut flags = 1 << 23;
    if privileged & GUILD_PRESENCES != 0 {
        flags |= 1 << 13;
    }
    if privileged & GUILD_MEMBERS != 0 {
        flags |= 1 << 15;
    }
    if privileged & MESSAGE_CONTENT != 0 {
        flags |= 1 << 19;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_recognised_as_discord_names_them() {
        let cases = [
            (
                Method::PUT,
                "/applications/1/commands",
                Route::OverwriteGlobalCommands,
            ),
            (
                Method::GET,
                "/applications/1/guilds/2/commands",
                Route::ListGuildCommands,
            ),
            (
                Method::POST,
                "/interactions/3/tok/callback",
                Route::CreateInteractionResponse,
            ),
            (
                Method::PATCH,
                "/webhooks/1/tok/messages/@original",
                Route::EditOriginalResponse,
            ),
            (
                Method::PATCH,
                "/webhooks/1/tok/messages/9",
                Route::EditFollowup,
            ),
            (Method::POST, "/webhooks/1/tok", Route::CreateFollowup),
            (Method::POST, "/channels/5/messages", Route::CreateMessage),
            (Method::GET, "/gateway/bot", Route::GetGatewayBot),
            (
                Method::GET,
                "/oauth2/applications/@me",
                Route::GetCurrentApplication,
            ),
        ];
        for (method, path, route) in cases {
            assert_eq!(
                recognise(&method, path).map(|m| m.route).ok(),
                Some(route),
                "{method} {path}"
            );
        }
        assert_eq!(
            recognise(&Method::DELETE, "/channels/5/messages")
                .err()
                .map(|r| r.status()),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            recognise(&Method::GET, "/guilds/5")
                .err()
                .map(|r| r.status()),
            Some(StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn the_application_and_the_bot_read_as_serenitys_models() {
        let sim = SimDiscord::new(super::super::SimDiscordConfig::random());
        let state = sim.lock();
        let info: serenity::model::application::CurrentApplicationInfo =
            serde_json::from_value(state.application_json()).unwrap();
        assert_eq!(info.verify_key, state.config.public_key_hex());
        let user: serenity::model::user::CurrentUser =
            serde_json::from_value(state.bot_user()).unwrap();
        assert!(user.bot);
    }

    #[test]
    fn bot_routes_need_the_token_and_interaction_routes_do_not() {
        assert!(Route::CreateMessage.needs_bot_token());
        assert!(Route::OverwriteGuildCommands.needs_bot_token());
        assert!(!Route::CreateInteractionResponse.needs_bot_token());
        assert!(!Route::EditOriginalResponse.needs_bot_token());
        assert!(!Route::GetGateway.needs_bot_token());
    }
}
