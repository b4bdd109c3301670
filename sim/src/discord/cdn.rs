//! The simulated Discord CDN: files users upload and the bot sends, served at signed, expiring
//! links (`/attachments/{channel}/{id}/{filename}?ex=…&is=…&hm=…`) as Discord's are since 2024,
//! with every download recorded. <https://discord.com/developers/docs/reference#signed-attachment-cdn-urls>

use std::collections::HashMap;
use std::io::Cursor;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{Duration as ChronoDuration, Utc};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use super::records::Download;
use crate::wire::{form_pairs, hex};

/// How long a link works, as Discord's (about a day).
const LINK_LIFETIME_HOURS: i64 = 24;
/// What the CDN says for an unknown, unsigned or expired link.
const GONE: &str = "This content is no longer available.";

/// A file a user uploaded, as an ATTACHMENT option refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAttachment {
    /// Its attachment id (the option's value).
    pub id: u64,
    /// The channel it was uploaded in.
    pub channel_id: u64,
    /// Its file name, as Discord rewrote it (spaces and odd characters become `_`).
    pub filename: String,
    /// Its MIME type, if the uploader's client gave one.
    pub content_type: Option<String>,
    /// The size interactions report; the real length unless a test lies.
    pub size: u64,
    /// Pixel width, for images.
    pub width: Option<u32>,
    /// Pixel height, for images.
    pub height: Option<u32>,
    /// The signed, expiring CDN link.
    pub url: String,
}

impl SimAttachment {
    /// The same attachment reporting another size (to fake a file over a limit without
    /// allocating it).
    pub fn with_reported_size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// As `data.resolved.attachments` carries it.
    pub(crate) fn to_json(&self) -> Value {
        let mut json = json!({
            "id": self.id.to_string(),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "ephemeral": true,
        });
        if let Some(content_type) = &self.content_type {
            json["content_type"] = content_type.as_str().into();
        }
        if let (Some(w), Some(h)) = (self.width, self.height) {
            json["width"] = w.into();
            json["height"] = h.into();
        }
        json
    }
}

struct StoredFile {
    channel_id: u64,
    filename: String,
    content_type: Option<String>,
    bytes: Bytes,
    expired: bool,
}

/// Every file the CDN serves, and every request for one.
pub(crate) struct Cdn {
    secret: [u8; 32],
    files: HashMap<u64, StoredFile>,
    downloads: Vec<Download>,
}

/// A file name as Discord stores it.
fn clean_filename(filename: &str) -> String {
    let cleaned: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// Width and height read from an image's header; `None` for anything else.
fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

impl Cdn {
    pub(crate) fn new() -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Self {
            secret,
            files: HashMap::new(),
            downloads: Vec::new(),
        }
    }

    fn signature(&self, path: &str, ex: &str, is: &str) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(path.as_bytes());
        mac.update(b"|");
        mac.update(ex.as_bytes());
        mac.update(b"|");
        mac.update(is.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Stores a file and returns it with its signed link under `base`.
    pub(crate) fn add(
        &mut self,
        base: &Url,
        channel_id: u64,
        id: u64,
        filename: &str,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> SimAttachment {
        let filename = clean_filename(filename);
        let path = format!("attachments/{channel_id}/{id}/{filename}");
        let now = Utc::now();
        let issued = format!("{:x}", now.timestamp());
        let expires = format!(
            "{:x}",
            (now + ChronoDuration::hours(LINK_LIFETIME_HOURS)).timestamp()
        );
        let hm = self.signature(&path, &expires, &issued);
        let url = format!("{base}{path}?ex={expires}&is={issued}&hm={hm}&");
        let (width, height) = match dimensions(&bytes) {
            Some((w, h)) => (Some(w), Some(h)),
            None => (None, None),
        };
        let attachment = SimAttachment {
            id,
            channel_id,
            filename: filename.clone(),
            content_type: content_type.map(str::to_owned),
            size: bytes.len() as u64,
            width,
            height,
            url,
        };
        self.files.insert(
            id,
            StoredFile {
                channel_id,
                filename,
                content_type: content_type.map(str::to_owned),
                bytes,
                expired: false,
            },
        );
        attachment
    }

    pub(crate) fn expire_all(&mut self) {
        for file in self.files.values_mut() {
            file.expired = true;
        }
    }

    pub(crate) fn downloads(&self) -> &[Download] {
        &self.downloads
    }

    /// `GET /attachments/{channel}/{id}/{filename}?ex&is&hm`: the bytes if the link is this
    /// file's, signed and not expired; 404 otherwise. Every request is recorded.
    pub(crate) fn download(&mut self, rest: &str, query: Option<&str>) -> Response {
        let parts: Vec<&str> = rest.split('/').collect();
        let (channel_id, id, filename) = match parts.as_slice() {
            [channel, id, filename] => (
                channel.parse::<u64>().ok(),
                id.parse::<u64>().ok(),
                (*filename).to_owned(),
            ),
            _ => (None, None, rest.to_owned()),
        };
        let pairs = form_pairs(query.unwrap_or_default().as_bytes());
        let served = (|| {
            let file = self.files.get(&id?)?;
            if Some(file.channel_id) != channel_id || file.filename != filename || file.expired {
                return None;
            }
            let (ex, is, hm) = (pairs.get("ex")?, pairs.get("is")?, pairs.get("hm")?);
            let path = format!("attachments/{}/{}/{}", file.channel_id, id?, file.filename);
            let expires = i64::from_str_radix(ex, 16).ok()?;
            let signed = self.signature(&path, ex, is) == *hm;
            (signed && expires > Utc::now().timestamp()).then(|| {
                let content_type = file
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                (content_type, file.bytes.clone())
            })
        })();
        let status = if served.is_some() { 200 } else { 404 };
        self.downloads.push(Download {
            attachment_id: id.unwrap_or(0),
            filename,
            status,
        });
        match served {
            Some((content_type, bytes)) => {
                (StatusCode::OK, [(CONTENT_TYPE, content_type)], bytes).into_response()
            }
            None => (StatusCode::NOT_FOUND, GONE).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:9/").unwrap()
    }

    fn rest_and_query(url: &str) -> (String, String) {
        let url = Url::parse(url).unwrap();
        let rest = url.path().trim_start_matches("/attachments/").to_owned();
        (rest, url.query().unwrap_or_default().to_owned())
    }

    #[tokio::test]
    async fn a_signed_link_serves_its_file_until_it_expires() {
        let mut cdn = Cdn::new();
        let attachment = cdn.add(
            &base(),
            5,
            77,
            "my photo.png",
            Some("image/png"),
            Bytes::from_static(b"abc"),
        );
        assert_eq!(attachment.filename, "my_photo.png");
        assert!(attachment.url.contains("?ex="), "{}", attachment.url);
        let (rest, query) = rest_and_query(&attachment.url);
        assert_eq!(cdn.download(&rest, Some(&query)).status(), 200);
        let tampered = query.replace("hm=", "hm=0");
        assert_eq!(cdn.download(&rest, Some(&tampered)).status(), 404);
        assert_eq!(cdn.download(&rest, None).status(), 404, "unsigned");
        cdn.expire_all();
        assert_eq!(cdn.download(&rest, Some(&query)).status(), 404);
        let statuses: Vec<u16> = cdn.downloads().iter().map(|d| d.status).collect();
        assert_eq!(statuses, [200, 404, 404, 404]);
    }

    #[test]
    fn an_image_reports_its_dimensions() {
        let mut png = Vec::new();
        image::RgbImage::new(3, 2)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let mut cdn = Cdn::new();
        let attachment = cdn.add(&base(), 1, 2, "a.png", Some("image/png"), Bytes::from(png));
        assert_eq!((attachment.width, attachment.height), (Some(3), Some(2)));
        let json = attachment.with_reported_size(30_000_000).to_json();
        assert_eq!(json["size"], 30_000_000);
        assert_eq!(json["width"], 3);
    }
}
