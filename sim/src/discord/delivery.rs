//! Delivering interactions to an HTTP endpoint as Discord does: signed with the app's Ed25519
//! key over `timestamp ‖ body` (or deliberately badly), the interaction registered as it leaves,
//! and a JSON answer taken as its initial response. <https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use rand_core::OsRng;
use serde_json::Value;
use url::Url;

use super::SimDiscord;
use super::records::ResponseVia;
use crate::wire::hex;

/// The header carrying the signature (hex).
pub const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
/// The header carrying the timestamp that was signed with the body.
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// How a delivery is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// With the app's key over `timestamp ‖ body`, timestamp now.
    Valid,
    /// Well formed, but by another key: what Discord sends to test an endpoint.
    Forged,
    /// Not a signature at all (not hex, wrong length).
    Malformed,
    /// No signature headers.
    Missing,
    /// Signed correctly, but with a timestamp six minutes old (a replay).
    Stale,
}

/// What an endpoint answered a delivery with.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The HTTP status.
    pub status: u16,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body parsed as JSON, if it was JSON.
    pub body: Option<Value>,
    /// The raw body.
    pub text: String,
    /// Discord's refusal (status and JSON) of an inline initial response (a 200 answer
    /// carrying `{"type":…}`) that broke the rules; `None` if it was taken or there was none.
    pub inline_refusal: Option<(u16, Value)>,
    /// How long the endpoint took.
    pub took: Duration,
}
impl SimDiscord {
    /// Delivers `payload` to an interactions endpoint as Discord does, correctly signed; see
    /// [`SimDiscord::deliver_signed`].
    pub async fn deliver(
        &self,
        endpoint: &Url,
        payload: &Value,
    ) -> Result<Delivery, reqwest::Error> {
        self.deliver_signed(endpoint, payload, Signing::Valid).await
    }

    /// POSTs `payload` with `X-Signature-Ed25519` and `X-Signature-Timestamp` made as `signing`
    /// says. The interaction is registered first (its 3-second clock starts), so the REST
    /// routes know it. A 200 answer carrying `{"type":…}` is taken as its initial response,
    /// checked like a callback.
    pub async fn deliver_signed(
        &self,
        endpoint: &Url,
        payload: &Value,
        signing: Signing,
    ) -> Result<Delivery, reqwest::Error> {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let key = {
            let mut state = self.lock();
            state.register_interaction(payload);
            state.config.signing_key.clone()
        };
        let mut request = self
            .client
            .post(endpoint.clone())
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                "Discord-Interactions/1.0 (+https://discord.com)",
            )
            .timeout(Duration::from_secs(10))
            .body(body.clone());
        for (name, value) in signature_headers(signing, &key, &body) {
            request = request.header(name, value);
        }
        let started = std::time::Instant::now();
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = answer.text().await?;
        let took = started.elapsed();
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let mut inline_refusal = None;
        if status == 200
            && let Some(response) = parsed.as_ref().filter(|b| b.get("type").is_some())
        {
            let id = payload.get("id").and_then(Value::as_str).unwrap_or("");
            let token = payload.get("token").and_then(Value::as_str).unwrap_or("");
            let is_json = content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json"));
            let taken = if is_json {
                self.lock()
                    .respond(id, token, response, Vec::new(), ResponseVia::Inline)
            } else {
                Err(Box::new(super::rest::error(
                    400,
                    50035,
                    "Invalid Form Body",
                )))
            };
            if let Err(refused) = taken {
                inline_refusal = Some(refusal_of(*refused).await);
            }
        }
        Ok(Delivery {
            status,
            content_type,
            body: parsed,
            text,
            inline_refusal,
            took,
        })
    }
}
/// The status and JSON of a refusal built for an HTTP answer.
async fn refusal_of(response: axum::response::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The signature headers for `body` as `signing` says.
fn signature_headers(
    signing: Signing,
    key: &SigningKey,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sign = |key: &SigningKey, timestamp: &str| {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex(&key.sign(&message).to_bytes())
    };
    match signing {
        Signing::Missing => Vec::new(),
        Signing::Valid => {
            let timestamp = now.to_string();
            vec![
                (SIGNATURE_HEADER, sign(key, &timestamp)),
                (TIMESTAMP_HEADER, timestamp),
            ]
        }
        Signing::Stale => {
            let timestamp = now.saturating_sub(6 * 60).to_string();
            vec![
                (SIGNATURE_HEADER, sign(key, &timestamp)),
                (TIMESTAMP_HEADER, timestamp),
            ]
        }
        Signing::Forged => {
            let timestamp = now.to_string();
            let other = SigningKey::generate(&mut OsRng);
            vec![
                (SIGNATURE_HEADER, sign(&other, &timestamp)),
                (TIMESTAMP_HEADER, timestamp),
            ]
        }
        Signing::Malformed => vec![
            (SIGNATURE_HEADER, "not-a-signature".to_owned()),
            (TIMESTAMP_HEADER, now.to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliberately_bad_signatures_are_bad_in_the_way_asked() {
        use ed25519_dalek::{Signature, Verifier};
        let key = SigningKey::generate(&mut OsRng);
        let body = b"{}";
        let verify = |headers: &[(&str, String)]| {
            let signature = headers
                .iter()
                .find(|(n, _)| *n == SIGNATURE_HEADER)?
                .1
                .clone();
            let timestamp = headers
                .iter()
                .find(|(n, _)| *n == TIMESTAMP_HEADER)?
                .1
                .clone();
            let bytes: Vec<u8> = (0..signature.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok())
                .collect::<Option<_>>()?;
            let signature = Signature::from_slice(&bytes).ok()?;
            let mut message = timestamp.into_bytes();
            message.extend_from_slice(body);
            Some(key.verifying_key().verify(&message, &signature).is_ok())
        };
        assert_eq!(
            verify(&signature_headers(Signing::Valid, &key, body)),
            Some(true)
        );
        assert_eq!(
            verify(&signature_headers(Signing::Stale, &key, body)),
            Some(true)
        );
        assert_eq!(
            verify(&signature_headers(Signing::Forged, &key, body)),
            Some(false)
        );
        assert_eq!(
            verify(&signature_headers(Signing::Malformed, &key, body)),
            None
        );
        assert!(signature_headers(Signing::Missing, &key, body).is_empty());
    }
}
