//! Meta's `signed_request`, which the deauthorize and data-deletion callbacks carry:
//! `base64url(signature).base64url(payload)`, the signature being HMAC-SHA256 of the payload
//! part exactly as sent, keyed with the app secret. Verified before anything in it is read;
//! any input gets an answer, never a panic.
//! <https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback>

use std::fmt;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use hmac::Mac;
use serde_json::Value;

use crate::crypto::Secret;

/// Longest `signed_request` read. Meta's are a few hundred characters; the cap keeps a
/// hostile caller from making us decode and hash megabytes.
pub const MAX_SIGNED_REQUEST_LEN: usize = 4096;

/// The only algorithm Meta signs with (compared without regard to case).
const ALGORITHM: &str = "HMAC-SHA256";

/// Longest app-scoped user id accepted (Meta's are about 17 digits).
const MAX_USER_ID_LEN: usize = 64;

/// base64url as Meta writes it (no padding), also accepting canonical padding. Trailing
/// bits must be zero, so one text decodes to one byte string and back.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a verified `signed_request` says.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped id of the Meta user the callback is about: the `remote_user_id` of
    /// their grants. Personal data: never log it.
    pub user_id: String,
    /// When Meta issued the request, if it said.
    pub issued_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The user id identifies a person; a Debug line may end up in a log.
        f.debug_struct("SignedRequest")
            .field("user_id", &"[hidden]")
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Why a `signed_request` was refused. Nothing in it was acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    /// Longer than [`MAX_SIGNED_REQUEST_LEN`].
    #[error("signed_request is longer than {MAX_SIGNED_REQUEST_LEN} characters")]
    TooLong,
    /// Not two base64url parts joined by one dot.
    #[error("signed_request is not two base64url parts joined by a dot")]
    Malformed,
    /// The signature is not the app's HMAC-SHA256 of the payload.
    #[error("the signature of signed_request does not match")]
    BadSignature,
    /// The payload is signed but is not a JSON object.
    #[error("the payload of signed_request is not a JSON object")]
    NotJson,
    /// The payload names another algorithm than HMAC-SHA256, or none.
    #[error("signed_request is not signed with HMAC-SHA256")]
    WrongAlgorithm,
    /// The payload has no usable `user_id`.
    #[error("signed_request names no user_id")]
    NoUserId,
}

/// Checks `signed_request`s against one app secret.
#[derive(Clone)]
pub struct SignedRequestVerifier {
    /// The HMAC already keyed with the app secret; cloned for each request.
    mac: hmac::Hmac<sha2::Sha256>,
}

impl fmt::Debug for SignedRequestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedRequestVerifier([redacted])")
    }
}

impl SignedRequestVerifier {
    /// A verifier for requests signed with `app_secret`.
    pub fn new(app_secret: &Secret) -> Self {
        Self {
            // The secret becomes HMAC key material here and is not kept in the clear.
            mac: crate::crypto::hmac_sha256(app_secret.expose().as_bytes()),
        }
    }

    /// Verifies the signature (in constant time) before reading the payload, then checks
    /// the algorithm and reads the user id.
    pub fn verify(&self, signed_request: &str) -> Result<SignedRequest, SignedRequestError> {
        if signed_request.len() > MAX_SIGNED_REQUEST_LEN {
            return Err(SignedRequestError::TooLong);
        }
        let (signature, payload) = signed_request
            .split_once('.')
            .ok_or(SignedRequestError::Malformed)?;
        let signature = BASE64URL
            .decode(signature)
            .map_err(|_| SignedRequestError::Malformed)?;
        // Decoded first so that a payload with stray characters is malformed, not merely
        // unsigned; the HMAC is still taken over the text as sent, as Meta signs it.
        let json = BASE64URL
            .decode(payload)
            .map_err(|_| SignedRequestError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| SignedRequestError::BadSignature)?;
        read_payload(&json)
    }
}

/// The fields of a payload whose signature held.
fn read_payload(json: &[u8]) -> Result<SignedRequest, SignedRequestError> {
    let value: Value = serde_json::from_slice(json).map_err(|_| SignedRequestError::NotJson)?;
    let object = value.as_object().ok_or(SignedRequestError::NotJson)?;
    let algorithm = object.get("algorithm").and_then(Value::as_str);
    if !algorithm.is_some_and(|a| a.eq_ignore_ascii_case(ALGORITHM)) {
        return Err(SignedRequestError::WrongAlgorithm);
    }
    // Meta sends the id as a string; a number is read the same way rather than refused.
    let user_id = match object.get("user_id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) if id.is_u64() => id.to_string(),
        _ => return Err(SignedRequestError::NoUserId),
    };
    let plausible = !user_id.is_empty()
        && user_id.len() <= MAX_USER_ID_LEN
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !plausible {
        return Err(SignedRequestError::NoUserId);
    }
    let issued_at = object
        .get("issued_at")
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0));
    Ok(SignedRequest { user_id, issued_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{URL_SAFE as PADDED, URL_SAFE_NO_PAD};
    use proptest::prelude::*;
    use serde_json::json;

    const SECRET: &str = "app-secret-of-the-test";

    fn verifier() -> SignedRequestVerifier {
        SignedRequestVerifier::new(&Secret::new(SECRET))
    }

    /// Signs `payload` as Meta does (written here again, not taken from the code under test).
    fn sign_with(secret: &str, payload: &Value) -> String {
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signature}.{payload}")
    }

    fn sign(payload: &Value) -> String {
        sign_with(SECRET, payload)
    }

    fn meta_payload(user_id: &str) -> Value {
        json!({
            "algorithm": "HMAC-SHA256",
            "expires": 1_291_840_400,
            "issued_at": 1_291_836_800,
            "user_id": user_id,
        })
    }

    #[test]
    fn a_request_signed_with_the_app_secret_is_read() {
        let read = verifier()
            .verify(&sign(&meta_payload("10158000000000001")))
            .unwrap();
        assert_eq!(read.user_id, "10158000000000001");
        assert_eq!(
            read.issued_at,
            DateTime::from_timestamp(1_291_836_800, 0),
            "issued_at is read"
        );
        assert!(!format!("{read:?}").contains("10158"), "Debug hides the id");
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }

    #[test]
    fn padding_is_optional_and_the_algorithm_is_case_insensitive() {
        let payload = json!({ "algorithm": "hmac-sha256", "user_id": "421" });
        let unpadded = sign(&payload);
        let (signature, body) = unpadded.split_once('.').unwrap();
        // Re-encode both parts with padding, signing the padded payload text as sent.
        let padded_body = PADDED.encode(payload.to_string());
        assert!(padded_body.ends_with('='), "this payload needs padding");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(padded_body.as_bytes());
        let padded_sig = PADDED.encode(mac.finalize().into_bytes());
        for request in [
            unpadded.clone(),
            format!("{padded_sig}.{padded_body}"),
            format!(
                "{}.{body}",
                PADDED.encode(URL_SAFE_NO_PAD.decode(signature).unwrap())
            ),
        ] {
            assert_eq!(
                verifier().verify(&request).unwrap().user_id,
                "421",
                "{request}"
            );
        }
    }

    #[test]
    fn every_kind_of_bad_request_is_refused_with_its_reason() {
        use SignedRequestError::*;
        let v = verifier();
        let cases: Vec<(String, SignedRequestError)> = vec![
            (String::new(), Malformed),
            ("no-dot-here".to_owned(), Malformed),
            ("a.b.c".to_owned(), Malformed),
            ("!!!.e30".to_owned(), Malformed),
            ("e30.e30".to_owned(), BadSignature),
            ("x".repeat(MAX_SIGNED_REQUEST_LEN + 1), TooLong),
            (
                sign_with("another-secret", &meta_payload("1")),
                BadSignature,
            ),
            (
                sign(&json!({ "algorithm": "HMAC-SHA1", "user_id": "1" })),
                WrongAlgorithm,
            ),
            (sign(&json!({ "user_id": "1" })), WrongAlgorithm),
            (sign(&json!({ "algorithm": "HMAC-SHA256" })), NoUserId),
            (
                sign(&json!({ "algorithm": "HMAC-SHA256", "user_id": "" })),
                NoUserId,
            ),
            (
                sign(&json!({ "algorithm": "HMAC-SHA256", "user_id": "1 OR 1=1" })),
                NoUserId,
            ),
            (
                sign(&json!({ "algorithm": "HMAC-SHA256", "user_id": ["1"] })),
                NoUserId,
            ),
            (sign(&json!(["HMAC-SHA256"])), NotJson),
        ];
        for (request, expected) in cases {
            assert_eq!(v.verify(&request).unwrap_err(), expected, "{request:.60}");
        }
        let numeric = sign(&json!({ "algorithm": "HMAC-SHA256", "user_id": 77 }));
        assert_eq!(v.verify(&numeric).unwrap().user_id, "77");
        // A signed payload that is not JSON at all.
        let text = URL_SAFE_NO_PAD.encode("not json");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(v.verify(&format!("{sig}.{text}")).unwrap_err(), NotJson);
    }

    proptest! {
        // Bounded so that CI stays quick.
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_input_gets_an_answer_and_no_panic(input in ".{0,600}") {
            let _ = verifier().verify(&input);
        }

        #[test]
        fn dotted_base64_shaped_input_gets_an_answer_and_no_panic(
            input in "[A-Za-z0-9_=-]{0,90}\\.[A-Za-z0-9_=.-]{0,200}"
        ) {
            // Unsigned by us, so it can never pass.
            prop_assert!(verifier().verify(&input).is_err());
        }

        #[test]
        fn a_signed_payload_round_trips_and_any_one_byte_change_is_refused(
            user_id in "[0-9]{1,20}",
            issued_at in 0i64..4_000_000_000,
            extra in "[ -~]{0,40}",
            position in any::<prop::sample::Index>(),
            replacement in 0x20u8..0x7f,
        ) {
            let payload = json!({
                "algorithm": "HMAC-SHA256",
                "issued_at": issued_at,
                "user_id": user_id,
                "extra": extra,
            });
            let request = sign(&payload);
            let read = verifier().verify(&request).unwrap();
            prop_assert_eq!(&read.user_id, &user_id);
            prop_assert_eq!(read.issued_at, DateTime::from_timestamp(issued_at, 0));

            let mut bytes = request.into_bytes();
            let at = position.index(bytes.len());
            prop_assume!(bytes[at] != replacement);
            bytes[at] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(verifier().verify(&changed).is_err(), "{} was accepted", changed);
        }
    }
}
