//! A browser that follows redirects by hand, so that every hop of an OAuth round trip (our
//! start link, the simulated consent page, our callback) can be seen and checked.

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

/// Opens `url` as a browser would, following redirects by hand until a page answers.
pub async fn browse(url: Url) -> Result<Page, WorldError> {
    let client =
        autopost::platforms::http::client().map_err(|e| WorldError::Http(e.without_url()))?;
    let mut hops = Vec::new();
    let mut next = url;
    while hops.len() < MAX_HOPS {
        // Only the path goes into an error: the query carries one-time states and codes.
        let failed = |source: reqwest::Error, at: &Url| WorldError::Browse {
            path: at.path().to_owned(),
            source: source.without_url(),
        };
        let answer = client
            .get(next.clone())
            .send()
            .await
            .map_err(|e| failed(e, &next))?;
        let status = answer.status();
        hops.push(Hop {
            url: next.clone(),
            status: status.as_u16(),
        });
        if status.is_redirection() {
            let location = answer
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| next.join(location).ok())
                .ok_or_else(|| WorldError::BadRedirect {
                    path: next.path().to_owned(),
                })?;
            next = location;
            continue;
        }
        let body = answer.text().await.map_err(|e| failed(e, &next))?;
        return Ok(Page {
            hops,
            status: status.as_u16(),
            body,
        });
    }
    Err(WorldError::BadRedirect {
        path: next.path().to_owned(),
    })
}
