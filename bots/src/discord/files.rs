//! Images people attach to `/post` (and `/import`'s file): fetched only from the URL Discord gave in the
//! interaction (an https URL on Discord's CDN; in tests, the configured API base), only if
//! Discord calls them images, and never more than the size limit: refused at once when the
//! announced size is over it, and the download stopped as soon as it passes it.

use autopost::images::{ImageError, MAX_INPUT_BYTES};
use bytes::Bytes;
use url::Url;

use super::wire::Attachment;
use crate::download::{ReadError, read_within_limit};

/// The hosts Discord serves attachments from.
const CDN_HOSTS: &[&str] = &["cdn.discordapp.com", "media.discordapp.net"];

/// Why an attachment was not fetched.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The person can fix it (not an image, too large, not from Discord): said as is.
    #[error("{0}")]
    Refused(String),
    /// The download failed; sending it again may work.
    #[error("cannot download the attachment")]
    Unreachable(#[source] reqwest::Error),
}

/// Downloads `attachment` within the limits.
pub async fn download(
    http: &reqwest::Client,
    api_url: Option<&Url>,
    attachment: &Attachment,
) -> Result<Bytes, FileError> {
    let limit = MAX_INPUT_BYTES;
    let is_image = attachment
        .content_type
        .as_deref()
        .is_some_and(|mime| mime.trim().to_ascii_lowercase().starts_with("image/"));
    if !is_image {
        return Err(FileError::Refused(format!(
            "`{}` is not an image; attach a JPEG, PNG, GIF or WebP picture",
            attachment.filename
        )));
    }
    if attachment.size > limit {
        return Err(FileError::Refused(
            ImageError::TooLarge {
                bytes: attachment.size,
                limit,
            }
            .to_string(),
        ));
    }
    download_file(http, api_url, attachment).await
}

/// Downloads `attachment` whatever its type (`/import` judges its file itself), within the
/// image limit.
pub async fn download_file(
    http: &reqwest::Client,
    api_url: Option<&Url>,
    attachment: &Attachment,
) -> Result<Bytes, FileError> {
    let limit = MAX_INPUT_BYTES;
    let url = Url::parse(&attachment.url)
        .ok()
        .filter(|url| from_discord(url, api_url))
        .ok_or_else(|| {
            FileError::Refused("that attachment does not come from Discord".to_owned())
        })?;
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| FileError::Unreachable(e.without_url()))?
        .error_for_status()
        .map_err(|e| FileError::Unreachable(e.without_url()))?;
    read_within_limit(response).await.map_err(|e| match e {
        ReadError::TooLarge { bytes } => {
            FileError::Refused(ImageError::TooLarge { bytes, limit }.to_string())
        }
        ReadError::Failed(e) => FileError::Unreachable(e),
    })
}

/// Whether `url` is Discord's: https on its CDN, or under the configured API base (a
/// simulated Discord in tests and the demo).
fn from_discord(url: &Url, api_url: Option<&Url>) -> bool {
    let on_cdn =
        url.scheme() == "https" && url.host_str().is_some_and(|host| CDN_HOSTS.contains(&host));
    let under_base = api_url.is_some_and(|base| {
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    });
    on_cdn || under_base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_discords_own_hosts_serve_attachments() {
        let base = Url::parse("http://127.0.0.1:4000/").unwrap();
        let ok = |u: &str| from_discord(&Url::parse(u).unwrap(), Some(&base));
        assert!(ok("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1"));
        assert!(ok("https://media.discordapp.net/attachments/1/2/a.png"));
        assert!(ok("http://127.0.0.1:4000/attachments/1/2/a.png"));
        assert!(
            !ok("http://cdn.discordapp.com/attachments/1/2/a.png"),
            "not https"
        );
        assert!(!ok("https://cdn.discordapp.com.evil.example/a.png"));
        assert!(
            !ok("http://127.0.0.1:4001/attachments/a.png"),
            "another port"
        );
        assert!(!ok("https://example.com/a.png"));
        assert!(!from_discord(
            &Url::parse("http://127.0.0.1:4000/a.png").unwrap(),
            None
        ));
    }
}
