//! The Meta clients against the simulated Graph API over real HTTP: login dialog, code and
//! long-lived exchanges, Pages with paging and Instagram accounts, Facebook text, link and
//! photo posts, Instagram single images and carousels fetched from our own link, every
//! classified failure, refresh and revocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use autopost::config::MetaConfig;
use autopost::crypto::Secret;
use autopost::platforms::meta::{
    ContainerWait, FacebookPages, GraphClient, Instagram, PageGrant, UserToken,
};
use autopost::platforms::{AccountRef, AuthError, Media, Platform, PostContent, PublishError};
use autopost_sim::SimServer;
use autopost_sim::meta::{self as simmeta, Endpoint, Failure, SimMeta, SimMetaConfig};
use autopost_sim::world::PATIENCE;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use bytes::Bytes;
use chrono::Utc;
use url::Url;

use crate::helpers::{STATE, code_from, jpeg_bytes, png_bytes, shown, text, upload, with_query};

const APP_ID: &str = "sim-app-4321";
const APP_SECRET: &str = "AppSecret-71c2-do-not-leak";
const BAKERY: &str = "5550001";
const BAKERY_IG: &str = "17841400000000001";

struct Fixture {
    sim: SimMeta,
    server: SimServer,
    graph: Arc<GraphClient>,
    facebook: FacebookPages,
    instagram: Instagram,
    redirect: Url,
}

impl Fixture {
    async fn new() -> Self {
        let (sim, server) = simmeta::start(SimMetaConfig::new(APP_ID, APP_SECRET))
            .await
            .unwrap();
        let graph = Arc::new(graph_client(
            &server.url(),
            autopost::platforms::http::client().unwrap(),
        ));
        Self {
            sim,
            server,
            facebook: FacebookPages::new(graph.clone()),
            instagram: Instagram::new(graph.clone()),
            graph,
            redirect: Url::parse("http://127.0.0.1:9/oauth/meta/callback").unwrap(),
        }
    }

    /// A client against the same simulated Meta that gives up waiting for an answer after
    /// half a second, for calls the simulation answers slowly on purpose. Only those calls
    /// use it, so a busy machine cannot make the others time out.
    fn impatient(&self) -> Arc<GraphClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Arc::new(graph_client(&self.server.url(), http))
    }

    /// Opens the login dialog without following its redirect; returns the code.
    async fn code(&self) -> String {
        let url = self.graph.dialog_url(&self.redirect, STATE);
        code_from(url, &self.redirect).await
    }

    /// The whole linking chain: dialog, code, short-lived, long-lived, Pages.
    async fn link(&self) -> (UserToken, Vec<PageGrant>) {
        let code = self.code().await;
        let short = self
            .graph
            .exchange_code(&code, &self.redirect)
            .await
            .unwrap();
        let long = self.graph.long_lived(&short.access_token).await.unwrap();
        let pages = self.graph.pages(&long.access_token).await.unwrap();
        (long, pages)
    }

    /// The Page token of the Bakery, as linking stores it.
    async fn bakery_token(&self) -> Secret {
        let (_, pages) = self.link().await;
        let page = pages.into_iter().find(|p| p.id == BAKERY).unwrap();
        page.access_token
    }
}

fn graph_client(base: &Url, http: reqwest::Client) -> GraphClient {
    let config = MetaConfig {
        app_id: APP_ID.to_owned(),
        app_secret: Secret::new(APP_SECRET),
        graph_url: base.clone(),
        dialog_url: base.clone(),
        api_version: "v27.0".to_owned(),
    };
    GraphClient::new(&config, http).with_container_wait(ContainerWait {
        polls: 5,
        interval: Duration::from_millis(10),
    })
}

fn page(token: &Secret) -> AccountRef<'_> {
    AccountRef {
        remote_id: BAKERY,
        token,
    }
}

fn ig(token: &Secret) -> AccountRef<'_> {
    AccountRef {
        remote_id: BAKERY_IG,
        token,
    }
}

/// Serves images at `/media/{name}` the way autopost's own media route will, so that the
/// simulated Instagram has something to fetch.
struct ImageHost {
    server: SimServer,
}

impl ImageHost {
    async fn serve(images: &[(&str, &str, Bytes)]) -> Self {
        let files: HashMap<String, (String, Bytes)> = images
            .iter()
            .map(|(name, kind, bytes)| ((*name).to_owned(), ((*kind).to_owned(), bytes.clone())))
            .collect();
        let router = axum::Router::new()
            .route("/media/{name}", axum::routing::get(image))
            .with_state(Arc::new(files));
        Self {
            server: SimServer::spawn(router).await.unwrap(),
        }
    }

    /// An image for Instagram: the bytes plus the public link to the same bytes.
    fn media(&self, name: &str, content_type: &str, bytes: Bytes) -> Media {
        Media {
            content_type: content_type.to_owned(),
            bytes,
            public_url: Some(self.link(name)),
        }
    }

    fn link(&self, name: &str) -> Url {
        self.server.url().join(&format!("/media/{name}")).unwrap()
    }
}

async fn image(
    State(files): State<Arc<HashMap<String, (String, Bytes)>>>,
    Path(name): Path<String>,
) -> axum::response::Response {
    match files.get(&name) {
        Some((kind, bytes)) => ([(CONTENT_TYPE, kind.clone())], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A Page as (id, name, Instagram (id, username)).
type PageSummary<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);

#[tokio::test]
async fn a_meta_login_yields_a_long_lived_token_and_every_page_with_its_instagram_account() {
    let fx = Fixture::new().await;
    let code = fx.code().await;
    let short = fx.graph.exchange_code(&code, &fx.redirect).await.unwrap();
    let short_life = short.expires_at.unwrap() - Utc::now();
    assert!(short_life <= chrono::Duration::hours(1), "{short_life}");
    let long = fx.graph.long_lived(&short.access_token).await.unwrap();
    let long_life = long.expires_at.unwrap() - Utc::now();
    assert!(long_life > chrono::Duration::days(59), "{long_life}");
    assert_ne!(long.access_token.expose(), short.access_token.expose());

    let me = fx.graph.me(&long.access_token).await.unwrap();
    assert_eq!(me.name, "Sim Alice");
    // Three Pages at two per answer: all of them means `paging.next` was followed.
    let pages = fx.graph.pages(&long.access_token).await.unwrap();
    let summary: Vec<PageSummary> = pages
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                p.name.as_str(),
                p.instagram
                    .as_ref()
                    .map(|i| (i.id.as_str(), i.username.as_str())),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "5550001",
                "Alice's Bakery",
                Some(("17841400000000001", "alices_bakery"))
            ),
            ("5550002", "Alice's Cafe", None),
            (
                "5550003",
                "Alice's Shop",
                Some(("17841400000000003", "alices_shop"))
            ),
        ]
    );
    assert!(pages.iter().all(|p| !p.access_token.is_empty()));
    let requests = fx.sim.token_requests();
    assert_eq!(requests.code_exchanges, 1);
    assert_eq!(requests.long_lived_exchanges, 1);
    // The `next` link Meta sends carries the token in its query; the client moves it to the header.
    assert_eq!(fx.sim.requests_with_token_in_url(), 0);
}

#[tokio::test]
async fn the_simulated_graph_refuses_a_call_without_a_valid_appsecret_proof() {
    let fx = Fixture::new().await;
    let (long, _) = fx.link().await;
    let http = autopost::platforms::http::client().unwrap();
    let me = fx
        .graph
        .dialog_url(&fx.redirect, "s")
        .join("/v27.0/me")
        .unwrap();
    for proof in [None, Some("00ff")] {
        let mut request = http.get(me.clone()).bearer_auth(long.access_token.expose());
        if let Some(proof) = proof {
            request = request.query(&[("appsecret_proof", proof)]);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 400);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], 100, "{body}");
    }
    fx.graph.me(&long.access_token).await.unwrap();
}

#[tokio::test]
async fn the_dialog_refuses_a_request_for_other_permissions_or_another_app() {
    let fx = Fixture::new().await;
    let http = autopost::platforms::http::client().unwrap();
    let good = fx.graph.dialog_url(&fx.redirect, "s");
    let with = |key: &str, value: &str| with_query(&good, key, value);
    for url in [
        with("scope", "pages_manage_posts,pages_show_list"),
        with(
            "scope",
            "pages_manage_posts,pages_read_engagement,pages_show_list,instagram_basic,instagram_content_publish,email",
        ),
        with("client_id", "someone-else"),
        with("state", ""),
    ] {
        let answer = http.get(url.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{url}");
    }
    let mut old = good.clone();
    old.set_path("/v9.0/dialog/oauth");
    assert_eq!(http.get(old).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn a_code_works_only_once_and_only_with_the_redirect_uri_it_was_issued_for() {
    let fx = Fixture::new().await;
    let code = fx.code().await;
    let elsewhere = Url::parse("http://127.0.0.1:9/other").unwrap();
    let err = fx.graph.exchange_code(&code, &elsewhere).await.unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");

    let code = fx.code().await;
    fx.graph.exchange_code(&code, &fx.redirect).await.unwrap();
    let again = fx
        .graph
        .exchange_code(&code, &fx.redirect)
        .await
        .unwrap_err();
    match again {
        AuthError::Revoked { message } => assert!(message.contains("has been used"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_text_post_reaches_the_page_feed() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let published = fx
        .facebook
        .publish(page(&token), text("Fresh bread at 8"))
        .await
        .unwrap();
    let posts = fx.sim.feed_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].id, published.remote_id);
    assert_eq!(posts[0].page_id, BAKERY);
    assert_eq!(posts[0].message.as_deref(), Some("Fresh bread at 8"));
    assert_eq!(posts[0].link, None);
    assert!(posts[0].photo_ids.is_empty());
    assert_eq!(
        published.url.unwrap().as_str(),
        format!("https://www.facebook.com/{}", published.remote_id)
    );
}

#[tokio::test]
async fn the_first_link_in_the_text_is_sent_as_the_posts_link() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let words = "New menu: https://example.com/menu?week=3. Also https://other.org";
    fx.facebook
        .publish(page(&token), text(words))
        .await
        .unwrap();
    let posts = fx.sim.feed_posts();
    assert_eq!(posts[0].message.as_deref(), Some(words));
    assert_eq!(
        posts[0].link.as_deref(),
        Some("https://example.com/menu?week=3")
    );
}

#[tokio::test]
async fn one_photo_is_published_with_its_caption_as_a_single_post() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let media = [upload("image/png", png_bytes(2048))];
    let published = fx
        .facebook
        .publish(
            page(&token),
            PostContent {
                text: "Our sourdough",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let photos = fx.sim.photos();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].bytes_len, 2048);
    assert_eq!(photos[0].content_type, "image/png");
    assert!(photos[0].published);
    assert_eq!(photos[0].caption.as_deref(), Some("Our sourdough"));
    let posts = fx.sim.feed_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].photo_ids, vec![photos[0].id.clone()]);
    assert_eq!(published.remote_id, posts[0].id);
}

#[tokio::test]
async fn three_photos_become_one_post_attaching_three_unpublished_photos() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let media = [
        upload("image/jpeg", jpeg_bytes(1000, 1)),
        upload("image/png", png_bytes(1001)),
        upload("image/jpeg", jpeg_bytes(1002, 3)),
    ];
    let published = fx
        .facebook
        .publish(
            page(&token),
            PostContent {
                text: "Three loaves",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let photos = fx.sim.photos();
    assert_eq!(
        photos
            .iter()
            .map(|p| (p.bytes_len, p.published))
            .collect::<Vec<_>>(),
        vec![(1000, false), (1001, false), (1002, false)]
    );
    let posts = fx.sim.feed_posts();
    assert_eq!(posts.len(), 1, "one post, not one per photo");
    assert_eq!(posts[0].id, published.remote_id);
    assert_eq!(posts[0].message.as_deref(), Some("Three loaves"));
    assert_eq!(
        posts[0].photo_ids,
        photos.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_user_token_cannot_post_to_a_page() {
    let fx = Fixture::new().await;
    let (long, _) = fx.link().await;
    let err = fx
        .facebook
        .publish(page(&long.access_token), text("as the user"))
        .await
        .unwrap_err();
    match err {
        PublishError::Rejected { reason } => {
            assert!(reason.contains("permission"), "{reason}");
            assert!(reason.contains("code 200"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(fx.sim.feed_posts().is_empty());
}

#[tokio::test]
async fn instagram_publishes_one_image_fetched_from_its_public_link() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let bytes = jpeg_bytes(4096, 9);
    let host = ImageHost::serve(&[("a.jpg", "image/jpeg", bytes.clone())]).await;
    let media = [host.media("a.jpg", "image/jpeg", bytes.clone())];
    let published = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "Morning bake #bread",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let containers = fx.sim.containers();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(
        container.image_url.as_deref(),
        Some(host.link("a.jpg").as_str())
    );
    assert_eq!(container.fetched.as_ref(), Some(&bytes));
    assert_eq!(
        container.fetched_content_type.as_deref(),
        Some("image/jpeg")
    );
    assert_eq!(container.caption.as_deref(), Some("Morning bake #bread"));
    assert!(container.status_checks >= 2, "published only after waiting");
    let posted = fx.sim.ig_media();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].id, published.remote_id);
    assert_eq!(posted[0].container_id, container.id);
    assert_eq!(published.url.unwrap().as_str(), posted[0].permalink);
}

#[tokio::test]
async fn instagram_publishes_three_images_as_one_carousel() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let images: Vec<(String, Bytes)> = (0..3u8)
        .map(|n| (format!("{n}.jpg"), jpeg_bytes(3000 + usize::from(n), n)))
        .collect();
    let served: Vec<(&str, &str, Bytes)> = images
        .iter()
        .map(|(name, bytes)| (name.as_str(), "image/jpeg", bytes.clone()))
        .collect();
    let host = ImageHost::serve(&served).await;
    let media: Vec<Media> = images
        .iter()
        .map(|(name, bytes)| host.media(name, "image/jpeg", bytes.clone()))
        .collect();
    fx.instagram
        .publish(
            ig(&token),
            PostContent {
                text: "Three loaves",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let containers = fx.sim.containers();
    assert_eq!(containers.len(), 4, "three items and the carousel");
    let (items, carousel) = containers.split_at(3);
    for (item, (name, bytes)) in items.iter().zip(&images) {
        assert!(item.is_carousel_item);
        assert_eq!(item.caption, None);
        assert_eq!(item.image_url.as_deref(), Some(host.link(name).as_str()));
        assert_eq!(item.fetched.as_ref(), Some(bytes));
    }
    let carousel = &carousel[0];
    assert_eq!(
        carousel.children,
        items.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(carousel.caption.as_deref(), Some("Three loaves"));
    let posted = fx.sim.ig_media();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].container_id, carousel.id);
}

#[tokio::test]
async fn instagram_refuses_a_png_and_nothing_is_published() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let bytes = png_bytes(2000);
    let host = ImageHost::serve(&[("a.png", "image/png", bytes.clone())]).await;
    let media = [host.media("a.png", "image/png", bytes)];
    let err = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "png",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    match err {
        PublishError::Rejected { reason } => assert!(reason.contains("JPEG"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(fx.sim.containers().is_empty());
    assert!(fx.sim.ig_media().is_empty());
}

#[tokio::test]
async fn an_image_instagram_cannot_fetch_is_rejected() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let host = ImageHost::serve(&[]).await;
    let media = [host.media("gone.jpg", "image/jpeg", jpeg_bytes(100, 0))];
    let err = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Rejected { .. }), "{err:?}");
}

#[tokio::test]
async fn instagram_needs_an_image_with_a_public_link_before_anything_is_sent() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let err = fx
        .instagram
        .publish(ig(&token), text("no image"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Rejected { .. }), "{err:?}");
    let media = [upload("image/jpeg", jpeg_bytes(100, 0))];
    let err = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "no link",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    match err {
        PublishError::Rejected { reason } => assert!(reason.contains("public link"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(fx.sim.containers().is_empty());
}

#[tokio::test]
async fn a_container_still_processing_after_the_bounded_wait_is_retryable_and_never_published() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    fx.sim.set_container_polls(1000);
    let bytes = jpeg_bytes(500, 1);
    let host = ImageHost::serve(&[("a.jpg", "image/jpeg", bytes.clone())]).await;
    let media = [host.media("a.jpg", "image/jpeg", bytes)];
    let err = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "slow",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::ServerError { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fx.sim.containers()[0].status_checks, 5);
    assert!(fx.sim.ig_media().is_empty());
}

#[tokio::test]
async fn a_container_that_ends_in_error_is_rejected_with_its_status() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    fx.sim
        .set_container_error(Some("Error: the aspect ratio is not supported (2207009)"));
    let bytes = jpeg_bytes(500, 1);
    let host = ImageHost::serve(&[("a.jpg", "image/jpeg", bytes.clone())]).await;
    let media = [host.media("a.jpg", "image/jpeg", bytes)];
    let err = fx
        .instagram
        .publish(
            ig(&token),
            PostContent {
                text: "",
                media: &media,
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    match err {
        PublishError::Rejected { reason } => {
            assert!(reason.contains("ERROR"), "{reason}");
            assert!(reason.contains("aspect ratio"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(fx.sim.ig_media().is_empty());
}

#[tokio::test]
async fn the_instagram_daily_quota_is_read_at_run_time_and_enforced() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    assert_eq!(
        fx.instagram.publishing_quota(ig(&token)).await.unwrap(),
        (0, 100)
    );
    fx.sim.set_daily_quota(1);
    let bytes = jpeg_bytes(500, 1);
    let host = ImageHost::serve(&[("a.jpg", "image/jpeg", bytes.clone())]).await;
    let media = [host.media("a.jpg", "image/jpeg", bytes)];
    let post = PostContent {
        text: "one",
        media: &media,
        reply_to: None,
    };
    fx.instagram.publish(ig(&token), post).await.unwrap();
    assert_eq!(
        fx.instagram.publishing_quota(ig(&token)).await.unwrap(),
        (1, 1)
    );
    let err = fx.instagram.publish(ig(&token), post).await.unwrap_err();
    assert!(matches!(err, PublishError::RateLimited { .. }), "{err:?}");
    assert_eq!(fx.sim.ig_media().len(), 1);
}

#[tokio::test]
async fn page_throttling_code_32_is_a_rate_limit_until_meta_says_access_returns() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    fx.sim.fail_next(
        Endpoint::Feed,
        Failure::Throttled {
            code: 32,
            regain_minutes: 5,
        },
    );
    let before = Utc::now();
    let err = fx
        .facebook
        .publish(page(&token), text("busy"))
        .await
        .unwrap_err();
    let PublishError::RateLimited {
        reset_at: Some(reset),
    } = err
    else {
        panic!("{err:?}");
    };
    let wait = reset - before;
    assert!(
        wait >= chrono::Duration::minutes(5) && wait < chrono::Duration::minutes(6),
        "{wait}"
    );
    let limit = fx.facebook.rate_limit(BAKERY).unwrap();
    assert_eq!(limit.remaining, Some(0));
    assert_eq!(limit.reset_at, Some(reset));
    assert!(fx.sim.feed_posts().is_empty());

    for code in [4, 17, 613, 80_001] {
        fx.sim.fail_next(
            Endpoint::Feed,
            Failure::Throttled {
                code,
                regain_minutes: 1,
            },
        );
        let err = fx
            .facebook
            .publish(page(&token), text("busy"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PublishError::RateLimited { .. }),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn usage_headers_are_recorded_per_account() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    fx.sim.set_usage_percent(40);
    fx.facebook
        .publish(page(&token), text("counted"))
        .await
        .unwrap();
    assert_eq!(fx.facebook.rate_limit(BAKERY).unwrap().remaining, Some(60));
    fx.sim.set_usage_percent(100);
    fx.facebook
        .publish(page(&token), text("counted again"))
        .await
        .unwrap();
    assert_eq!(fx.facebook.rate_limit(BAKERY).unwrap().remaining, Some(0));
    assert_eq!(fx.instagram.rate_limit(BAKERY_IG), None);
}

#[tokio::test]
async fn a_server_error_is_retryable_and_a_lost_answer_to_a_post_is_ambiguous() {
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    fx.sim.fail_next(Endpoint::Feed, Failure::ServerError);
    let err = fx
        .facebook
        .publish(page(&token), text("first"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::ServerError { .. }), "{err:?}");
    assert!(err.is_retryable());
    fx.sim.fail_next(Endpoint::Feed, Failure::BadGateway);
    let err = fx
        .facebook
        .publish(page(&token), text("first"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::ServerError { status: 502, .. }),
        "{err:?}"
    );

    fx.sim
        .fail_next(Endpoint::Feed, Failure::Slow(Duration::from_secs(3)));
    let err = FacebookPages::new(fx.impatient())
        .publish(page(&token), text("second"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Ambiguous { .. }), "{err:?}");
    assert!(!err.is_retryable());
    // The post exists although no answer came back: exactly why a retry must reconcile.
    let posts = fx.sim.wait_for_feed_posts(1, PATIENCE).await;
    assert_eq!(posts[0].message.as_deref(), Some("second"));
}

#[tokio::test]
async fn a_dead_token_is_unauthorized_and_its_refresh_asks_for_reconnection() {
    let fx = Fixture::new().await;
    let (long, pages) = fx.link().await;
    let token = &pages[0].access_token;
    fx.sim.expire_tokens();
    let err = fx
        .facebook
        .publish(page(token), text("late"))
        .await
        .unwrap_err();
    match &err {
        PublishError::Unauthorized { message } => assert!(message.contains("190"), "{message}"),
        other => panic!("{other:?}"),
    }
    let err = fx.facebook.refresh(&long.access_token).await.unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
}

#[tokio::test]
async fn a_long_lived_token_refreshes_into_a_new_one_and_a_blip_is_transient() {
    let fx = Fixture::new().await;
    let (long, _) = fx.link().await;
    let refreshed = fx.instagram.refresh(&long.access_token).await.unwrap();
    assert_ne!(refreshed.access_token.expose(), long.access_token.expose());
    assert!(refreshed.refresh_token.is_none());
    assert!(refreshed.expires_at.unwrap() > Utc::now() + chrono::Duration::days(59));
    fx.graph.me(&refreshed.access_token).await.unwrap();

    fx.sim
        .fail_next(Endpoint::AccessToken, Failure::ServerError);
    let err = fx.facebook.refresh(&long.access_token).await.unwrap_err();
    assert!(matches!(err, AuthError::Transient(_)), "{err:?}");
    fx.sim.fail_next(
        Endpoint::AccessToken,
        Failure::Throttled {
            code: 4,
            regain_minutes: 1,
        },
    );
    let err = fx.facebook.refresh(&long.access_token).await.unwrap_err();
    assert!(matches!(err, AuthError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn revoking_removes_the_app_and_every_token_stops_working() {
    let fx = Fixture::new().await;
    let (long, pages) = fx.link().await;
    fx.facebook.revoke(&long.access_token).await.unwrap();
    assert!(fx.sim.is_revoked());
    assert_eq!(fx.sim.token_requests().revocations, 1);
    let err = fx
        .facebook
        .publish(page(&pages[0].access_token), text("after"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unauthorized { .. }), "{err:?}");
    let again = fx.instagram.revoke(&long.access_token).await.unwrap_err();
    assert!(matches!(again, AuthError::Revoked { .. }), "{again:?}");
}

#[tokio::test]
async fn no_token_or_app_secret_appears_in_any_error() {
    let fx = Fixture::new().await;
    let impatient = fx.impatient();
    let (long, pages) = fx.link().await;
    let token = &pages[0].access_token;
    let mut errors: Vec<Box<dyn std::error::Error>> = Vec::new();

    fx.sim.fail_next(
        Endpoint::Feed,
        Failure::Throttled {
            code: 80_001,
            regain_minutes: 2,
        },
    );
    errors.push(Box::new(
        fx.facebook
            .publish(page(token), text("a"))
            .await
            .unwrap_err(),
    ));
    fx.sim
        .fail_next(Endpoint::Feed, Failure::Slow(Duration::from_secs(3)));
    errors.push(Box::new(
        FacebookPages::new(impatient.clone())
            .publish(page(token), text("b"))
            .await
            .unwrap_err(),
    ));
    fx.sim
        .fail_next(Endpoint::Accounts, Failure::Slow(Duration::from_secs(3)));
    errors.push(Box::new(
        impatient.pages(&long.access_token).await.unwrap_err(),
    ));
    errors.push(Box::new(
        fx.facebook
            .publish(page(&long.access_token), text("c"))
            .await
            .unwrap_err(),
    ));
    errors.push(Box::new(
        fx.graph
            .exchange_code("not-a-code", &fx.redirect)
            .await
            .unwrap_err(),
    ));
    fx.sim
        .fail_next(Endpoint::AccessToken, Failure::Slow(Duration::from_secs(3)));
    errors.push(Box::new(
        FacebookPages::new(impatient.clone())
            .refresh(&long.access_token)
            .await
            .unwrap_err(),
    ));
    fx.sim.expire_tokens();
    errors.push(Box::new(
        fx.facebook
            .publish(page(token), text("d"))
            .await
            .unwrap_err(),
    ));
    errors.push(Box::new(
        fx.facebook.refresh(&long.access_token).await.unwrap_err(),
    ));
    // Nothing listens here: the connection is refused before anything is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let offline = GraphClient::new(
        &MetaConfig {
            app_id: APP_ID.to_owned(),
            app_secret: Secret::new(APP_SECRET),
            graph_url: dead_url.clone(),
            dialog_url: dead_url,
            api_version: "v27.0".to_owned(),
        },
        autopost::platforms::http::client().unwrap(),
    );
    errors.push(Box::new(
        offline.long_lived(&long.access_token).await.unwrap_err(),
    ));
    let offline = FacebookPages::new(Arc::new(offline));
    let err = offline.publish(page(token), text("e")).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    errors.push(Box::new(err));

    let secrets = [
        long.access_token.expose(),
        token.expose(),
        pages[1].access_token.expose(),
        APP_SECRET,
    ];
    for error in &errors {
        let text = shown(error.as_ref());
        for secret in secrets {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(!text.contains("access_token="), "{text}");
        assert!(!text.contains("client_secret"), "{text}");
    }
    let debug = format!("{:?} {:?} {pages:?} {long:?}", fx.graph, fx.sim);
    for secret in secrets {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[tokio::test]
async fn a_lost_answer_is_reconciled_by_matching_recent_posts_on_content() {
    use autopost::platforms::Lookup;
    let fx = Fixture::new().await;
    let token = fx.bakery_token().await;
    let published = fx
        .facebook
        .publish(page(&token), text("Fresh bread at 8"))
        .await
        .unwrap();
    fx.facebook
        .publish(page(&token), text("A newer, different post"))
        .await
        .unwrap();
    // Matched on content, not on "the newest post".
    let found = fx
        .facebook
        .find_recent(page(&token), text("Fresh bread at 8"))
        .await
        .unwrap();
    let Lookup::Found(found) = found else {
        panic!("{found:?}")
    };
    assert_eq!(found.remote_id, published.remote_id);
    assert_eq!(
        fx.facebook
            .find_recent(page(&token), text("never sent"))
            .await
            .unwrap(),
        Lookup::Absent
    );

    let bytes = jpeg_bytes(2048, 3);
    let host = ImageHost::serve(&[("r.jpg", "image/jpeg", bytes.clone())]).await;
    let media = [host.media("r.jpg", "image/jpeg", bytes)];
    let post = PostContent {
        text: "Caption to find",
        media: &media,
        reply_to: None,
    };
    let live = fx.instagram.publish(ig(&token), post).await.unwrap();
    let Lookup::Found(found) = fx.instagram.find_recent(ig(&token), post).await.unwrap() else {
        panic!("the caption is found")
    };
    assert_eq!(found.remote_id, live.remote_id);
    assert_eq!(found.url, live.url);
    assert_eq!(
        fx.instagram
            .find_recent(ig(&token), text("other caption"))
            .await
            .unwrap(),
        Lookup::Absent
    );
}
