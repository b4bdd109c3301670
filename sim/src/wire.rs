//! What the simulated platforms read off and put on the wire alike: form and multipart bodies,
//! and the random tokens they hand out. Knows no platform's rules; those stay in each platform's
//! own module.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};

/// Lowercase hexadecimal, as Discord writes keys and signatures.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A random, URL-safe token with a recognisable prefix.
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The pairs of an `application/x-www-form-urlencoded` body or query; a repeated key keeps its
/// last value.
pub(crate) fn form_pairs(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// One part of a multipart body.
pub(crate) struct Part<'a> {
    /// The `name` of its `Content-Disposition`.
    pub(crate) name: String,
    /// Whether the part carries a `filename` (a file upload rather than a field).
    pub(crate) is_file: bool,
    /// The plain `filename` of its `Content-Disposition`, if it has one.
    pub(crate) filename: Option<String>,
    /// Its own `Content-Type`, if it has one.
    pub(crate) content_type: Option<String>,
    /// The bytes between its headers and the next boundary.
    pub(crate) data: &'a [u8],
}

/// The first position of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Splits a `multipart/form-data` body into named parts; `None` if it is not one (another
/// content type, no boundary, or a part without a name or an end).
pub(crate) fn parse_multipart<'a>(content_type: &str, body: &'a [u8]) -> Option<Vec<Part<'a>>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let next_part = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2)? == b"--" {
            return Some(parts);
        }
        let headers_start = at + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)?;
        let headers = std::str::from_utf8(&body[headers_start..headers_end]).ok()?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = disposition
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("name="))
            .next()?
            .trim_matches('"')
            .to_owned();
        let is_file = disposition
            .split(';')
            .any(|p| p.trim().starts_with("filename="));
        let filename = disposition
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("filename="))
            .next()
            .map(|name| name.trim_matches('"').to_owned());
        let content_type = headers.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        });
        let data_start = headers_end + 4;
        let data_end = find(body, next_part.as_bytes(), data_start)?;
        parts.push(Part {
            name,
            is_file,
            filename,
            content_type,
            data: &body[data_start..data_end],
        });
        at = data_end + next_part.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_splits_into_named_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ\r\nContent-Disposition: form-data; name=\"media_category\"\r\n\r\ntweet_image\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "media");
        assert_eq!(parts[0].data, b"\x89PNG");
        assert_eq!(parts[0].filename.as_deref(), Some("a"));
        assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].filename, None);
        assert_eq!(parts[1].name, "media_category");
        assert_eq!(parts[1].data, b"tweet_image");
        assert!(parse_multipart("application/json", body).is_none());
    }

    #[test]
    fn a_multipart_body_splits_into_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"source\"; filename=\"a\"\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8\xFF\r\n--XyZ\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "source");
        assert!(parts[0].is_file);
        assert_eq!(parts[0].data, b"\xFF\xD8\xFF");
        assert_eq!(parts[1].name, "message");
        assert!(!parts[1].is_file);
        assert_eq!(parts[1].data, b"hello");
    }
}
