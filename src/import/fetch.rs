//! Images an import names by URL. A chat user chooses these URLs and the server fetches
//! them, so only http(s), only public addresses (unless the operator allows private ones),
//! with the address checked once and then pinned for the connection, every redirect checked
//! the same way, a size cap enforced while reading, and a timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use url::Url;

/// Connecting must be quick; the whole fetch of one image is bounded too.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Redirects followed, each to an address checked like the first.
const MAX_REDIRECTS: usize = 3;

/// Why an image URL gave no image. Each says what to do; none echoes more than the URL the
/// person wrote.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an http or https URL.
    #[error("`{0}` is not an http:// or https:// image URL")]
    NotHttp(String),
    /// The host is on a loopback, private or link-local network.
    #[error("`{0}` points to a private network address; use a public image URL")]
    Private(String),
    /// The host name does not resolve.
    #[error("the host of `{0}` cannot be found; check the image URL")]
    UnknownHost(String),
    /// The server answered with an error.
    #[error("`{url}` answered {status}; check the image URL")]
    Status {
        /// The URL as written.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Too many redirects.
    #[error("`{0}` redirects too often; give the image's final address")]
    Redirects(String),
    /// Over the size limit.
    #[error("the image at `{url}` is over {limit} bytes")]
    TooLarge {
        /// The URL as written.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// No answer in time, or the connection failed.
    #[error("`{0}` could not be fetched (no answer in time, or the connection failed); try again")]
    Unreachable(String),
}

/// Fetches the image at `url` within `limit` bytes; `allow_private` lets loopback, private
/// and link-local hosts through.
pub async fn fetch(url: &Url, limit: u64, allow_private: bool) -> Result<Bytes, FetchError> {
    let shown = url.as_str().to_owned();
    let mut current = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = request(&current, &shown, allow_private).await?;
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| current.join(l).ok())
                .ok_or_else(|| FetchError::Status {
                    url: shown.clone(),
                    status: status.as_u16(),
                })?;
            current = next;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        return read(response, &shown, limit).await;
    }
    Err(FetchError::Redirects(shown))
}

/// One GET of `url`, connecting only to the addresses checked here.
async fn request(
    url: &Url,
    shown: &str,
    allow_private: bool,
) -> Result<reqwest::Response, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::NotHttp(shown.to_owned()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| FetchError::NotHttp(shown.to_owned()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| FetchError::NotHttp(shown.to_owned()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| FetchError::UnknownHost(shown.to_owned()))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(FetchError::UnknownHost(shown.to_owned()));
    }
    // Every address must be allowed: a name that also resolves inward is refused whole.
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(FetchError::Private(shown.to_owned()));
    }
    // Pinned to the addresses just checked, so a second lookup cannot lead elsewhere; no
    // proxy from the environment, no redirect followed without a check.
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve_to_addrs(bare, &addresses)
        .user_agent(concat!("autopost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| FetchError::Unreachable(shown.to_owned()))?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|_| FetchError::Unreachable(shown.to_owned()))
}

/// Reads the body, refused as soon as it passes `limit`.
async fn read(
    mut response: reqwest::Response,
    shown: &str,
    limit: u64,
) -> Result<Bytes, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: shown.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| FetchError::Unreachable(shown.to_owned()))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), unspecified, broadcast, multicast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, shared address space.
        || (a == 100 && (64..128).contains(&b))
        // 198.18.0.0/15, benchmarking.
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7, unique local.
        || (first & 0xfe00) == 0xfc00
        // fe80::/10, link-local.
        || (first & 0xffc0) == 0xfe80
        // 2001:db8::/32, documentation.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // ::/96 (IPv4-compatible, deprecated) and 64:ff9b::/96 (NAT64) can reach inside.
        || ip.segments()[..6].iter().all(|s| *s == 0)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for outside in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(outside.parse().unwrap()), "{outside}");
        }
    }

    #[tokio::test]
    async fn private_hosts_and_other_schemes_are_refused_before_any_request() {
        let limit = 1_000;
        for url in [
            "http://127.0.0.1:9/a.png",
            "http://[::1]:9/a.png",
            "http://localhost:9/a.png",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/a.png",
        ] {
            let error = fetch(&Url::parse(url).unwrap(), limit, false)
                .await
                .unwrap_err();
            assert!(matches!(error, FetchError::Private(_)), "{url}: {error}");
        }
        let error = fetch(
            &Url::parse("ftp://example.com/a.png").unwrap(),
            limit,
            false,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, FetchError::NotHttp(_)), "{error}");
        let error = fetch(&Url::parse("file:///etc/passwd").unwrap(), limit, true)
            .await
            .unwrap_err();
        assert!(matches!(error, FetchError::NotHttp(_)), "{error}");
    }
}
