//! Meta's `signed_request` (`SignedRequestVerifier::verify`), as the deauthorize and
//! data-deletion callbacks read it. The first byte picks the mode: raw text as an attacker
//! sends it, or the rest signed with the app secret as Meta would sign it, so the fuzzer also
//! reaches the payload reading behind the signature check. Besides panics it reports an
//! accepted request whose user id is not the shape the callbacks rely on.
#![no_main]

use autopost::crypto::Secret;
use autopost::platforms::meta::SignedRequestVerifier;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const APP_SECRET: &str = "fuzz-app-secret";

fn signed(payload: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()) else {
        return String::new();
    };
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signature}.{payload}")
}

fuzz_target!(|data: &[u8]| {
    let verifier = SignedRequestVerifier::new(&Secret::new(APP_SECRET));
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let request = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        signed(rest)
    };
    if let Ok(read) = verifier.verify(&request) {
        assert!(!read.user_id.is_empty() && read.user_id.len() <= 64);
        assert!(
            read.user_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }
});
