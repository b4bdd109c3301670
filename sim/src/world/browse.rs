//! A browser that follows redirects by hand, keeps cookies and presses a page's Continue link,
//! so that every hop of an OAuth round trip (our start page, the simulated consent page, our
//! callback) can be seen and checked, and so that a round trip bound to the browser that
//! started it can be tried from another one.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use super::WorldError;

/// More hops than any round trip takes: a loop, not a flow.
const MAX_HOPS: usize = 6;

/// One request the browser made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// What it asked for.
    pub url: Url,
    /// The answer's status.
    pub status: u16,
}

/// Where a browse ended, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Every request, in order; the last one answered with this page.
    pub hops: Vec<Hop>,
    /// The page's status.
    pub status: u16,
    /// The page's text.
    pub body: String,
}

impl Page {
    /// The URL of every hop, in order.
    pub fn visited(&self) -> Vec<&Url> {
        self.hops.iter().map(|hop| &hop.url).collect()
    }
}

/// One answer, nothing followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its status.
    pub status: u16,
    /// Where a redirect points.
    pub location: Option<Url>,
    /// Where the page's Continue link (`<a id="continue" href=…>`) points, if it has one.
    pub next: Option<Url>,
    /// The page's text.
    pub body: String,
}

/// A cookie the browser keeps.
#[derive(Debug, Clone)]
struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
}

/// A browser of its own: its cookies are nobody else's, as a second person's browser (to
/// which a link was forwarded) would be.
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    cookies: Vec<Cookie>,
}

impl Browser {
    /// A browser with no cookies yet.
    pub fn new() -> Result<Self, WorldError> {
        let client =
            autopost::platforms::http::client().map_err(|e| WorldError::Http(e.without_url()))?;
        Ok(Self {
            client,
            cookies: Vec::new(),
        })
    }

    /// Opens `url` as a person would: follows redirects and presses a page's Continue link
    /// until a page without one answers.
    pub async fn open(&mut self, url: Url) -> Result<Page, WorldError> {
        let mut hops = Vec::new();
        let mut next = url;
        while hops.len() < MAX_HOPS {
            let step = self.step(&next).await?;
            hops.push(Hop {
                url: next.clone(),
                status: step.status,
            });
            match (step.location, step.next) {
                (Some(location), _) => next = location,
                (None, Some(link)) if step.status == 200 => next = link,
                _ => {
                    return Ok(Page {
                        hops,
                        status: step.status,
                        body: step.body,
                    });
                }
            }
        }
        Err(WorldError::BadRedirect {
            path: next.path().to_owned(),
        })
    }

    /// One request, with the cookies that belong to it; the cookies it sets are kept.
    pub async fn step(&mut self, url: &Url) -> Result<Step, WorldError> {
        // Only the path goes into an error: the query carries one-time states and codes.
        let failed = |source: reqwest::Error| WorldError::Browse {
            path: url.path().to_owned(),
            source: source.without_url(),
        };
        let mut request = self.client.get(url.clone());
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header(COOKIE, cookies);
        }
        let answer = request.send().await.map_err(failed)?;
        let status = answer.status();
        for set in answer.headers().get_all(SET_COOKIE) {
            if let Ok(set) = set.to_str() {
                self.keep(url, set);
            }
        }
        let location = if status.is_redirection() {
            let location = answer
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| WorldError::BadRedirect {
                    path: url.path().to_owned(),
                })?;
            Some(location)
        } else {
            None
        };
        let body = answer.text().await.map_err(failed)?;
        Ok(Step {
            status: status.as_u16(),
            location,
            next: continue_link(&body).and_then(|href| url.join(&href).ok()),
            body,
        })
    }

    /// `name=value; …` for the cookies whose host and path match `url`.
    fn cookie_header(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?;
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| c.host == host && path_matches(url.path(), &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps (or, with `Max-Age=0`, drops) the cookie a `Set-Cookie` value sets.
    fn keep(&mut self, url: &Url, set: &str) {
        let Some(host) = url.host_str() else { return };
        let mut parts = set.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let mut path = "/".to_owned();
        let mut expired = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" => path = val.to_owned(),
                "max-age" => expired = val.parse::<i64>().is_ok_and(|age| age <= 0),
                _ => {}
            }
        }
        self.cookies
            .retain(|c| !(c.host == host && c.path == path && c.name == name));
        if !expired {
            self.cookies.push(Cookie {
                host: host.to_owned(),
                path,
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
}

/// RFC 6265 path-match: the cookie's path is the request path or a directory of it.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/'))
}

/// The `href` of `<a id="continue" href="…">` in a page, unescaped.
fn continue_link(body: &str) -> Option<String> {
    let marker = "id=\"continue\" href=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(
        body[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Opens `url` in a fresh browser, as [`Browser::open`] does.
pub async fn browse(url: Url) -> Result<Page, WorldError> {
    Browser::new()?.open(url).await
}
