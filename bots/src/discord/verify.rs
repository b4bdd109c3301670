//! Whether a request to `/discord/interactions` comes from Discord: an Ed25519 signature by
//! the application's key over the timestamp and the raw body, and a timestamp within five
//! minutes of now (an old request replayed is refused even with a good signature). Checked
//! before anything of the body is read; Discord sends deliberately bad signatures to see that
//! they are refused. <https://discord.com/developers/docs/interactions/overview>

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// The header with the hex signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header with the Unix timestamp (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// How far a request's timestamp may be from now, either way.
pub const LEEWAY_SECS: i64 = 5 * 60;

/// Why a request was refused (all answered 401; the reason is for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No signature or timestamp header.
    #[error("signature or timestamp missing")]
    Missing,
    /// The signature is not 64 bytes of hex, or the timestamp not a number.
    #[error("signature or timestamp malformed")]
    Malformed,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Wrong,
    /// The timestamp is more than five minutes from now.
    #[error("timestamp too far from now")]
    Stale,
}

/// Checks a request: `signature` and `timestamp` as the headers carry them (if at all),
/// `body` as received, `now` in Unix seconds.
pub fn check(
    key: &VerifyingKey,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(Refusal::Missing);
    };
    let bytes = decode_hex::<64>(signature.trim()).ok_or(Refusal::Malformed)?;
    let signature = Signature::from_bytes(&bytes);
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify(&signed, &signature)
        .map_err(|_| Refusal::Wrong)?;
    let at: i64 = timestamp.trim().parse().map_err(|_| Refusal::Malformed)?;
    if (now - at).abs() > LEEWAY_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// The application's public key from its 32 bytes; `None` if they are no Ed25519 point.
pub fn key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(bytes).ok()
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn signed(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        key.sign(&message)
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn only_a_fresh_request_signed_over_timestamp_and_body_passes() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = signing.verifying_key();
        let body = br#"{"type":1}"#;
        let now = 1_800_000_000;
        let ts = now.to_string();
        let good = signed(&signing, &ts, body);
        assert_eq!(check(&key, Some(&good), Some(&ts), body, now), Ok(()));
        assert_eq!(
            check(&key, None, Some(&ts), body, now),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(&key, Some(&good), None, body, now),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(&key, Some("zz"), Some(&ts), body, now),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            check(&key, Some(&good), Some(&ts), br#"{"type":2}"#, now),
            Err(Refusal::Wrong),
            "another body"
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            check(&key, Some(&signed(&other, &ts, body)), Some(&ts), body, now),
            Err(Refusal::Wrong),
            "another key"
        );
        let old = (now - LEEWAY_SECS - 1).to_string();
        assert_eq!(
            check(
                &key,
                Some(&signed(&signing, &old, body)),
                Some(&old),
                body,
                now
            ),
            Err(Refusal::Stale)
        );
        let soon = (now + LEEWAY_SECS).to_string();
        assert_eq!(
            check(
                &key,
                Some(&signed(&signing, &soon, body)),
                Some(&soon),
                body,
                now
            ),
            Ok(())
        );
    }
}
