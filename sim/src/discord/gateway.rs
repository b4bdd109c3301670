//! The simulated Discord gateway: a WebSocket on its own loopback port speaking API v10 JSON —
//! Hello, Identify (token, intents and shard checked, with Discord's close codes), Ready,
//! heartbeats, Resume with replay, and dispatches the test sends (`INTERACTION_CREATE`), zlib
//! compressed when Identify asks. <https://discord.com/developers/docs/events/gateway>

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::intents::PRIVILEGED;
use super::records::Identify;
use super::rest::gateway_flags;
use super::{SimDiscord, State};
use crate::wire::random_token;

/// Every intent bit Discord defines today (0–25, some unused): others close with 4013.
const KNOWN_INTENTS: u64 = (1 << 26) - 1;

/// Why an event could not be dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No client has identified on the gateway (wait with `wait_for_ready_sessions`).
    #[error("no gateway session: nothing has identified yet")]
    NoSession,
    /// The payload has no `id`, `token` or `type`.
    #[error("the payload is not an interaction (no id, token or type)")]
    NotAnInteraction,
}

/// What a connection's writer sends.
#[derive(Debug)]
enum Outgoing {
    /// A payload, zlib-compressed into a binary frame when the session asked for it.
    Payload { json: Value, compress: bool },
    /// A close frame with Discord's code; the connection ends.
    Close(u16, &'static str),
}

/// A connection's way to its writer.
#[derive(Debug)]
struct Link {
    connection: u64,
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// An identified session: its sequence, every dispatch (for Resume), its live connection.
#[derive(Debug)]
struct Session {
    seq: u64,
    log: Vec<Value>,
    link: Option<Link>,
    compress: bool,
    created: Instant,
}

/// The gateway's state, inside the simulated Discord's.
#[derive(Debug, Default)]
pub(crate) struct Gateway {
    pub(crate) identifies: Vec<Identify>,
    pub(crate) heartbeats: usize,
    pub(crate) resumed: Vec<String>,
    sessions: HashMap<String, Session>,
    connections: u64,
}

impl Gateway {
    /// Sessions with a connection now.
    pub(crate) fn live_sessions(&self) -> usize {
        self.sessions.values().filter(|s| s.link.is_some()).count()
    }

    /// Sends a dispatch (op 0) in `session_id`, logging it for a later Resume; returns its `s`.
    fn dispatch(&mut self, session_id: &str, event: &str, data: Value) -> Option<u64> {
        let session = self.sessions.get_mut(session_id)?;
        session.seq += 1;
        let payload = json!({ "op": 0, "s": session.seq, "t": event, "d": data });
        session.log.push(payload.clone());
        if let Some(link) = &session.link {
            let _ = link.tx.send(Outgoing::Payload {
                json: payload,
                compress: session.compress,
            });
        }
        Some(session.seq)
    }

    /// Where a dispatch goes: every live session, else the newest one (to be replayed on Resume).
    fn targets(&self) -> Vec<String> {
        let live: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.link.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        if !live.is_empty() {
            return live;
        }
        self.sessions
            .iter()
            .max_by_key(|(_, s)| s.created)
            .map(|(id, _)| vec![id.clone()])
            .unwrap_or_default()
    }

    /// Sends `outgoing` (made fresh for each) to every live connection; returns how many.
    fn to_live(&self, outgoing: impl Fn() -> Outgoing) -> usize {
        self.sessions
            .values()
            .filter_map(|s| s.link.as_ref())
            .filter(|link| link.tx.send(outgoing()).is_ok())
            .count()
    }
}

impl SimDiscord {
    /// Sends `payload` to the gateway client as an `INTERACTION_CREATE` dispatch with the next
    /// sequence number, registering the interaction (its 3-second clock starts). Returns `s`.
    pub fn dispatch_interaction(&self, payload: &Value) -> Result<u64, DispatchError> {
        let mut state = self.lock();
        let targets = state.gateway.targets();
        if targets.is_empty() {
            return Err(DispatchError::NoSession);
        }
        state
            .register_interaction(payload)
            .ok_or(DispatchError::NotAnInteraction)?;
        let mut last = None;
        for session in targets {
            last = state
                .gateway
                .dispatch(&session, "INTERACTION_CREATE", payload.clone())
                .or(last);
        }
        last.ok_or(DispatchError::NoSession)
    }

    /// Sends any dispatch event (`t`, `d`) to the gateway client; returns `s`.
    pub fn dispatch(&self, event: &str, data: Value) -> Result<u64, DispatchError> {
        let mut state = self.lock();
        let mut last = None;
        for session in state.gateway.targets() {
            last = state
                .gateway
                .dispatch(&session, event, data.clone())
                .or(last);
        }
        last.ok_or(DispatchError::NoSession)
    }

    /// Closes every live gateway connection with `code` (4000 "unknown error" makes a client
    /// resume; 4009 "session timed out" makes it identify again). Returns how many.
    pub fn drop_connections(&self, code: u16) -> usize {
        self.lock()
            .gateway
            .to_live(|| Outgoing::Close(code, "closed by the simulated Discord"))
    }

    /// Sends Reconnect (op 7) to every live connection, as Discord does before moving a session.
    pub fn request_reconnect(&self) -> usize {
        self.lock().gateway.to_live(|| Outgoing::Payload {
            json: json!({ "op": 7, "d": null, "s": null, "t": null }),
            compress: false,
        })
    }
}

/// Accepts gateway connections until `stopped`; then closes every connection.
pub(crate) async fn serve(sim: SimDiscord, listener: TcpListener, stopped: oneshot::Receiver<()>) {
    let (closing, _) = watch::channel(false);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => {
                let _ = closing.send(true);
                return;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(sim.clone(), stream, closing.subscribe()));
                }
                Err(e) => tracing::debug!(error = %e, "simulated gateway could not accept"),
            }
        }
    }
}

/// The text of a payload frame, zlib-compressed into a binary one if asked.
fn frame(json: &Value, compress: bool) -> Message {
    let text = json.to_string();
    if compress {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        if encoder.write_all(text.as_bytes()).is_ok()
            && let Ok(bytes) = encoder.finish()
        {
            return Message::Binary(bytes);
        }
    }
    Message::Text(text)
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// What a client frame leads to.
enum Next {
    Continue,
    Close(u16, &'static str),
}

/// One client: Hello, then frames both ways until either side closes or the server stops.
async fn connection(sim: SimDiscord, stream: TcpStream, mut closing: watch::Receiver<bool>) {
    let query = Arc::new(Mutex::new(String::new()));
    let seen = query.clone();
    // The error type is tungstenite's (a whole HTTP response); this callback never fails.
    #[allow(clippy::result_large_err)]
    let callback = move |request: &Request, response: Response| {
        *seen.lock().unwrap_or_else(PoisonError::into_inner) =
            request.uri().query().unwrap_or_default().to_owned();
        Ok(response)
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let query = query.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (connection_id, interval) = {
        let mut state = sim.lock();
        state.gateway.connections += 1;
        let interval =
            u64::try_from(state.config.heartbeat_interval.as_millis()).unwrap_or(u64::MAX);
        (state.gateway.connections, interval)
    };
    let hello = json!({
        "op": 10,
        "d": { "heartbeat_interval": interval, "_trace": ["[\"gateway-sim\"]"] },
        "s": null,
        "t": null,
    });
    if sink.send(frame(&hello, false)).await.is_err() {
        return;
    }
    let params = crate::wire::form_pairs(query.as_bytes());
    let refused = match (
        params.get("v").map(String::as_str),
        params.get("encoding").map(String::as_str),
    ) {
        (Some(v), _) if v != "10" => Some((4012, "Invalid API version.")),
        (_, Some(e)) if e != "json" => Some((4002, "Error while decoding payload.")),
        _ => None,
    };
    if let Some((code, reason)) = refused {
        let _ = sink.send(close_frame(code, reason)).await;
        return;
    }
    let mut session: Option<String> = None;
    loop {
        tokio::select! {
            incoming = source.next() => {
                let next = match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(text))) => {
                        let mut state = sim.lock();
                        on_text(&mut state, &text, &mut session, &tx, connection_id, &query)
                    }
                    Some(Ok(Message::Binary(_))) => Next::Close(4002, "Error while decoding payload."),
                    Some(Ok(_)) => Next::Continue,
                };
                if let Next::Close(code, reason) = next {
                    let _ = sink.send(close_frame(code, reason)).await;
                    break;
                }
            }
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Payload { json, compress }) => {
                    if sink.send(frame(&json, compress)).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let _ = sink.send(close_frame(code, reason)).await;
                    break;
                }
                None => break,
            },
            _ = closing.changed() => {
                let _ = sink.send(close_frame(1001, "going away")).await;
                break;
            }
        }
    }
    // The session stays resumable; only its link to this connection ends.
    let mut state = sim.lock();
    if let Some(live) = session.and_then(|id| state.gateway.sessions.get_mut(&id))
        && live
            .link
            .as_ref()
            .is_some_and(|l| l.connection == connection_id)
    {
        live.link = None;
    }
}

/// The token of an Identify or Resume, which serenity sends with its `Bot ` prefix.
fn token_matches(state: &State, token: Option<&str>) -> bool {
    token.is_some_and(|t| {
        let bare = t.strip_prefix("Bot ").unwrap_or(t);
        state.config.token.matches(bare)
    })
}

fn on_text(
    state: &mut State,
    text: &str,
    session: &mut Option<String>,
    tx: &mpsc::UnboundedSender<Outgoing>,
    connection: u64,
    query: &str,
) -> Next {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        return Next::Close(4002, "Error while decoding payload.");
    };
    let data = payload.get("d").cloned().unwrap_or(Value::Null);
    match payload.get("op").and_then(Value::as_u64) {
        Some(1) => {
            state.gateway.heartbeats += 1;
            let _ = tx.send(Outgoing::Payload {
                json: json!({ "op": 11, "d": null, "s": null, "t": null }),
                compress: false,
            });
            Next::Continue
        }
        Some(2) if session.is_some() => Next::Close(4005, "Already authenticated."),
        Some(2) => identify(state, &data, session, tx, connection, query),
        Some(6) => resume(state, &data, session, tx, connection),
        Some(3 | 4 | 8 | 31) if session.is_none() => Next::Close(4003, "Not authenticated."),
        Some(3 | 4 | 8 | 31) => Next::Continue,
        _ => Next::Close(4001, "Unknown opcode."),
    }
}

fn identify(
    state: &mut State,
    data: &Value,
    session: &mut Option<String>,
    tx: &mpsc::UnboundedSender<Outgoing>,
    connection: u64,
    query: &str,
) -> Next {
    let token_accepted = token_matches(state, data.get("token").and_then(Value::as_str));
    let intents = data.get("intents").and_then(Value::as_u64);
    let shard = data
        .get("shard")
        .and_then(Value::as_array)
        .and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
    let compress = data
        .get("compress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    state.gateway.identifies.push(Identify {
        token_accepted,
        intents: intents.unwrap_or(0),
        properties: data.get("properties").cloned().unwrap_or(Value::Null),
        compress,
        shard,
        query: query.to_owned(),
        at: Instant::now(),
    });
    if !token_accepted {
        return Next::Close(4004, "Authentication failed.");
    }
    let Some(intents) = intents.filter(|i| i & !KNOWN_INTENTS == 0) else {
        return Next::Close(4013, "Invalid intent(s).");
    };
    if intents & PRIVILEGED & !state.config.privileged_intents != 0 {
        return Next::Close(4014, "Disallowed intent(s).");
    }
    if shard.is_some_and(|(id, total)| total == 0 || id >= total) {
        return Next::Close(4010, "Invalid shard.");
    }
    let id = crate::wire::hex(random_token("").as_bytes())
        .chars()
        .take(32)
        .collect::<String>();
    state.gateway.sessions.insert(
        id.clone(),
        Session {
            seq: 0,
            log: Vec::new(),
            link: Some(Link {
                connection,
                tx: tx.clone(),
            }),
            compress,
            created: Instant::now(),
        },
    );
    *session = Some(id.clone());
    let ready = ready(state, &id, shard);
    state.gateway.dispatch(&id, "READY", ready);
    Next::Continue
}

/// READY with every field serenity's `Ready` model requires (and a few more Discord sends).
fn ready(state: &State, session_id: &str, shard: Option<(u64, u64)>) -> Value {
    let mut user = state.bot_user();
    user["verified"] = true.into();
    user["mfa_enabled"] = false.into();
    user["email"] = Value::Null;
    let guilds: Vec<Value> = state
        .guilds
        .iter()
        .map(|g| json!({ "id": g.id.to_string(), "unavailable": true }))
        .collect();
    let mut ready = json!({
        "v": 10,
        "user": user,
        "user_settings": {},
        "guilds": guilds,
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": state.gateway_url.as_str().trim_end_matches('/'),
        "application": {
            "id": state.config.application_id.to_string(),
            "flags": gateway_flags(state.config.privileged_intents),
        },
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["rotterdam"],
        "auth": {},
        "_trace": ["[\"gateway-sim\"]"],
    });
    if let Some((id, total)) = shard {
        ready["shard"] = json!([id, total]);
    }
    ready
}

fn resume(
    state: &mut State,
    data: &Value,
    session: &mut Option<String>,
    tx: &mpsc::UnboundedSender<Outgoing>,
    connection: u64,
) -> Next {
    if !token_matches(state, data.get("token").and_then(Value::as_str)) {
        return Next::Close(4004, "Authentication failed.");
    }
    let id = data
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let seen = data.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let Some(resumed) = state.gateway.sessions.get_mut(&id) else {
        // Not resumable: the client must identify again.
        let _ = tx.send(Outgoing::Payload {
            json: json!({ "op": 9, "d": false, "s": null, "t": null }),
            compress: false,
        });
        return Next::Continue;
    };
    if seen > resumed.seq {
        return Next::Close(4007, "Invalid seq.");
    }
    if let Some(old) = resumed.link.take() {
        let _ = old
            .tx
            .send(Outgoing::Close(4000, "session resumed elsewhere"));
    }
    resumed.link = Some(Link {
        connection,
        tx: tx.clone(),
    });
    let missed: Vec<Value> = resumed
        .log
        .iter()
        .filter(|p| p.get("s").and_then(Value::as_u64).is_some_and(|s| s > seen))
        .cloned()
        .collect();
    for payload in missed {
        let _ = tx.send(Outgoing::Payload {
            json: payload,
            compress: resumed.compress,
        });
    }
    *session = Some(id.clone());
    state
        .gateway
        .dispatch(&id, "RESUMED", json!({ "_trace": ["[\"gateway-sim\"]"] }));
    state.gateway.resumed.push(id);
    Next::Continue
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::super::SimDiscordConfig;
    use super::*;

    #[test]
    fn ready_reads_as_serenitys_ready_event() {
        let sim = SimDiscord::new(SimDiscordConfig::random());
        let state = sim.lock();
        let payload =
            json!({ "op": 0, "s": 1, "t": "READY", "d": ready(&state, "abc", Some((0, 1))) });
        let event: serenity::model::event::GatewayEvent =
            serde_json::from_value(payload.clone()).unwrap_or_else(|e| panic!("{e}: {payload:#}"));
        let serenity::model::event::GatewayEvent::Dispatch(
            1,
            serenity::model::event::Event::Ready(ready),
        ) = event
        else {
            panic!("not a READY dispatch");
        };
        assert_eq!(ready.ready.session_id, "abc");
        assert_eq!(
            ready.ready.application.id.get(),
            state.config.application_id
        );
        assert_eq!(ready.ready.guilds.len(), 1);
    }

    #[test]
    fn a_compressed_frame_is_one_zlib_stream() {
        let payload = json!({ "op": 0, "s": 2, "t": "X", "d": { "k": "v" } });
        let Message::Binary(bytes) = frame(&payload, true) else {
            panic!("not binary");
        };
        let mut text = String::new();
        flate2::read::ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), payload);
        assert!(matches!(frame(&payload, false), Message::Text(_)));
    }
}
