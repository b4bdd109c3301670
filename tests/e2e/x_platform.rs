//! The X client against the simulated X over real HTTP: OAuth with PKCE, publishing with and
//! without images, every classified failure, refresh rotation and revocation.

use std::time::Duration;

use autopost::config::XConfig;
use autopost::crypto::Secret;
use autopost::platforms::x::{SCOPES, Tokens, XClient};
use autopost::platforms::{AccountRef, AuthError, Media, Platform, PostContent, PublishError};
use autopost_sim::SimServer;
use autopost_sim::world::PATIENCE;
use autopost_sim::x::{self as simx, Endpoint, Failure, SimX, SimXConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use url::Url;

use crate::helpers::{STATE, code_from, jpeg_bytes, png_bytes, shown, text, upload, with_query};

fn png(len: usize) -> Media {
    upload("image/png", png_bytes(len))
}

fn jpeg(len: usize) -> Media {
    upload("image/jpeg", jpeg_bytes(len, 3))
}

const CLIENT_ID: &str = "autopost-test-client";
const CLIENT_SECRET: &str = "ClientSecret-5be1-do-not-leak";
const USER_ID: &str = "2244994945";

struct Fixture {
    sim: SimX,
    server: SimServer,
    client: XClient,
    redirect: Url,
}

impl Fixture {
    /// A public PKCE client against a simulated X that expects one.
    async fn public() -> Self {
        Self::with(SimXConfig::public(CLIENT_ID), None).await
    }

    async fn with(sim_config: SimXConfig, client_secret: Option<&str>) -> Self {
        let (sim, server) = simx::start(sim_config).await.unwrap();
        let client = x_client(
            &server,
            client_secret,
            autopost::platforms::http::client().unwrap(),
        );
        Self {
            sim,
            server,
            client,
            redirect: Url::parse("http://127.0.0.1:9/oauth/x/callback").unwrap(),
        }
    }

    /// The full round trip a user makes: consent page, redirect, code exchange.
    async fn link(&self) -> Tokens {
        let (verifier, challenge) = pkce();
        let code = self.consent(&challenge).await;
        self.client
            .exchange_code(&code, &verifier, &self.redirect)
            .await
            .unwrap()
    }

    /// Opens the consent page without following its redirect; returns the code.
    async fn consent(&self, challenge: &str) -> String {
        let url = self.client.authorize_url(&self.redirect, STATE, challenge);
        self.consent_at(url).await
    }

    async fn consent_at(&self, url: Url) -> String {
        code_from(url, &self.redirect).await
    }
}

fn x_client(server: &SimServer, client_secret: Option<&str>, http: reqwest::Client) -> XClient {
    let config = XConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: client_secret.map(Secret::new),
        api_url: server.url(),
        authorize_url: simx::authorize_url(&server.url()),
    };
    XClient::new(&config, http)
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (Secret, String) {
    let verifier = format!("verifier-{}", "k".repeat(50));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

fn account(token: &Secret) -> AccountRef<'_> {
    AccountRef {
        remote_id: USER_ID,
        token,
    }
}

#[tokio::test]
async fn an_oauth_round_trip_links_the_simulated_user() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    assert_eq!(tokens.scopes, SCOPES);
    assert!(tokens.refresh_token.is_some());
    let lifetime = tokens.expires_at.unwrap() - Utc::now();
    assert!(lifetime > chrono::Duration::minutes(119), "{lifetime}");
    let me = fx.client.me(&tokens.access_token).await.unwrap();
    assert_eq!(me.id, USER_ID);
    assert_eq!(me.username, "sim_alice");
    assert_eq!(fx.sim.token_requests().code_exchanges, 1);
    assert!(!format!("{tokens:?}").contains(tokens.access_token.expose()));
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused() {
    let fx = Fixture::public().await;
    let (_, challenge) = pkce();
    let code = fx.consent(&challenge).await;
    let wrong = Secret::new("w".repeat(64));
    let err = fx
        .client
        .exchange_code(&code, &wrong, &fx.redirect)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
}

#[tokio::test]
async fn an_authorization_code_works_only_once() {
    let fx = Fixture::public().await;
    let (verifier, challenge) = pkce();
    let code = fx.consent(&challenge).await;
    fx.client
        .exchange_code(&code, &verifier, &fx.redirect)
        .await
        .unwrap();
    let again = fx
        .client
        .exchange_code(&code, &verifier, &fx.redirect)
        .await
        .unwrap_err();
    assert!(matches!(again, AuthError::Revoked { .. }), "{again:?}");
}

#[tokio::test]
async fn the_code_must_come_back_with_the_same_redirect_uri() {
    let fx = Fixture::public().await;
    let (verifier, challenge) = pkce();
    let code = fx.consent(&challenge).await;
    let elsewhere = Url::parse("http://127.0.0.1:9/other").unwrap();
    let err = fx
        .client
        .exchange_code(&code, &verifier, &elsewhere)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
}

#[tokio::test]
async fn the_consent_page_refuses_a_plain_challenge_or_an_unknown_client() {
    let fx = Fixture::public().await;
    let http = autopost::platforms::http::client().unwrap();
    let good = fx.client.authorize_url(&fx.redirect, "s", "challenge");
    for (param, value) in [
        ("code_challenge_method", "plain"),
        ("client_id", "someone-else"),
        ("response_type", "token"),
        ("state", ""),
    ] {
        let answer = http
            .get(with_query(&good, param, value))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{param}={value}");
    }
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic_and_without_it_is_refused() {
    let config = SimXConfig::confidential(CLIENT_ID, CLIENT_SECRET);
    let fx = Fixture::with(config, Some(CLIENT_SECRET)).await;
    let tokens = fx.link().await;
    fx.client.me(&tokens.access_token).await.unwrap();
    let refreshed = fx
        .client
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    fx.client.me(&refreshed.access_token).await.unwrap();

    // The same app without its secret, or with a wrong one: refused, but not as a dead
    // grant (the user's authorization is fine; our configuration is not).
    for secret in [None, Some("wrong-secret")] {
        let client = x_client(
            &fx.server,
            secret,
            autopost::platforms::http::client().unwrap(),
        );
        let (verifier, challenge) = pkce();
        let code = fx.consent(&challenge).await;
        let err = client
            .exchange_code(&code, &verifier, &fx.redirect)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::Transient(PublishError::Unauthorized { .. })),
            "{err:?}"
        );
        assert!(!shown(&err).contains(CLIENT_SECRET));
    }
}

#[tokio::test]
async fn a_public_client_sending_a_secret_to_a_public_app_is_refused() {
    let fx = Fixture::with(SimXConfig::public(CLIENT_ID), Some(CLIENT_SECRET)).await;
    let (verifier, challenge) = pkce();
    let code = fx.consent(&challenge).await;
    let err = fx
        .client
        .exchange_code(&code, &verifier, &fx.redirect)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn a_text_post_reaches_x_with_a_link_to_it() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let published = fx
        .client
        .publish(account(&tokens.access_token), text("launch day"))
        .await
        .unwrap();
    let tweets = fx.sim.wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "launch day");
    assert_eq!(tweets[0].author_id, USER_ID);
    assert!(tweets[0].media_ids.is_empty());
    assert_eq!(published.remote_id, tweets[0].id);
    assert_eq!(
        published.url.unwrap().as_str(),
        format!("https://x.com/i/web/status/{}", tweets[0].id)
    );
    let limit = fx.client.rate_limit(USER_ID).unwrap();
    assert_eq!(limit.remaining, Some(99));
    assert!(limit.reset_at.unwrap() > Utc::now());
}

#[tokio::test]
async fn a_post_with_two_images_uploads_both_then_attaches_them_in_order() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let images = [png(1500), jpeg(70_000)];
    fx.client
        .publish(
            account(&tokens.access_token),
            PostContent {
                text: "two pictures",
                media: &images,
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let media = fx.sim.media();
    assert_eq!(media.len(), 2);
    assert_eq!(
        media
            .iter()
            .map(|m| (m.bytes_len, m.content_type.as_str(), m.owner_id.as_str()))
            .collect::<Vec<_>>(),
        [
            (1500, "image/png", USER_ID),
            (70_000, "image/jpeg", USER_ID)
        ]
    );
    let tweets = fx.sim.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "two pictures");
    assert_eq!(
        tweets[0].media_ids,
        media.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_image_over_5_mb_or_of_an_unknown_type_is_rejected_and_nothing_is_posted() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let too_big = [png(5 * 1024 * 1024 + 1)];
    let not_an_image = [Media {
        content_type: "image/png".to_owned(),
        bytes: Bytes::from_static(b"%PDF-1.7 definitely not a png"),
        public_url: None,
    }];
    for images in [&too_big[..], &not_an_image[..]] {
        let err = fx
            .client
            .publish(
                account(&tokens.access_token),
                PostContent {
                    text: "with a bad image",
                    media: images,
                    reply_to: None,
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, PublishError::Rejected { .. }), "{err:?}");
    }
    assert!(fx.sim.tweets().is_empty());
    assert!(fx.sim.media().is_empty());
}

#[tokio::test]
async fn text_over_280_weighted_characters_is_rejected_by_x() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let err = fx
        .client
        .publish(account(&tokens.access_token), text(&"日".repeat(141)))
        .await
        .unwrap_err();
    let PublishError::Rejected { reason } = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.starts_with("X refused the text as too long (Your Tweet text is too long."),
        "{reason}"
    );
    fx.client
        .publish(account(&tokens.access_token), text(&"日".repeat(140)))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_same_text_twice_is_rejected_once_with_x_own_words() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    fx.client
        .publish(account(&tokens.access_token), text("same words"))
        .await
        .unwrap();
    let err = fx
        .client
        .publish(account(&tokens.access_token), text("same words"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let PublishError::Rejected { reason } = err else {
        panic!("{err:?}")
    };
    assert!(reason.contains(simx::DUPLICATE_DETAIL), "{reason}");
    assert!(reason.contains("change the text with Edit"), "{reason}");
    assert_eq!(fx.sim.tweets().len(), 1);
}

#[tokio::test]
async fn a_429_is_rate_limited_until_the_reported_reset_and_posts_nothing() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    fx.sim.fail_next(
        Endpoint::Tweets,
        Failure::RateLimited { reset_in_secs: 120 },
    );
    let before = Utc::now();
    let err = fx
        .client
        .publish(account(&tokens.access_token), text("throttled"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let PublishError::RateLimited {
        reset_at: Some(reset_at),
    } = err
    else {
        panic!("{err:?}")
    };
    let ahead = reset_at - before;
    assert!(
        ahead > chrono::Duration::seconds(115) && ahead <= chrono::Duration::seconds(121),
        "{ahead}"
    );
    let limit = fx.client.rate_limit(USER_ID).unwrap();
    assert_eq!(limit.remaining, Some(0));
    assert_eq!(limit.reset_at, Some(reset_at));
    assert!(fx.sim.tweets().is_empty());

    fx.client
        .publish(account(&tokens.access_token), text("throttled"))
        .await
        .unwrap();
    assert_eq!(fx.sim.tweets().len(), 1);
}

#[tokio::test]
async fn a_429_on_an_image_upload_is_rate_limited_too() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    fx.sim.fail_next(
        Endpoint::MediaUpload,
        Failure::RateLimited { reset_in_secs: 60 },
    );
    let err = fx
        .client
        .publish(
            account(&tokens.access_token),
            PostContent {
                text: "x",
                media: &[png(100)],
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::RateLimited { reset_at: Some(_) }),
        "{err:?}"
    );
    assert!(fx.sim.tweets().is_empty());
}

#[tokio::test]
async fn a_503_is_a_retryable_server_error() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    fx.sim.fail_next(Endpoint::Tweets, Failure::ServerError);
    let err = fx
        .client
        .publish(account(&tokens.access_token), text("later"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let PublishError::ServerError { status, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(status, 503);
    assert_eq!(message, "Service Unavailable");
    assert!(fx.sim.tweets().is_empty());
}

#[tokio::test]
async fn a_503_from_the_token_endpoint_is_transient_and_keeps_the_refresh_token_alive() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let refresh = tokens.refresh_token.unwrap();
    fx.sim.fail_next(Endpoint::Token, Failure::ServerError);
    let err = fx.client.refresh(&refresh).await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Transient(PublishError::ServerError { status: 503, .. })
        ),
        "{err:?}"
    );
    fx.client.refresh(&refresh).await.unwrap();
}

#[tokio::test]
async fn an_expired_token_is_unauthorized_then_a_refresh_restores_publishing_and_retires_the_old_refresh_token()
 {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let old_refresh = tokens.refresh_token.unwrap();
    fx.sim.expire_access_tokens();
    let err = fx
        .client
        .publish(account(&tokens.access_token), text("after expiry"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_retryable());

    let refreshed = fx.client.refresh(&old_refresh).await.unwrap();
    let new_refresh = refreshed.refresh_token.unwrap();
    assert_ne!(new_refresh.expose(), old_refresh.expose());
    assert!(refreshed.expires_at.unwrap() > Utc::now() + chrono::Duration::minutes(119));
    fx.client
        .publish(account(&refreshed.access_token), text("after expiry"))
        .await
        .unwrap();
    assert_eq!(fx.sim.tweets().len(), 1);

    let reused = fx.client.refresh(&old_refresh).await.unwrap_err();
    assert!(matches!(reused, AuthError::Revoked { .. }), "{reused:?}");
    fx.client.refresh(&new_refresh).await.unwrap();
    assert_eq!(fx.sim.token_requests().refreshes, 3);
}

#[tokio::test]
async fn an_empty_refresh_token_in_the_answer_becomes_none_and_the_stored_one_keeps_working() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let stored = tokens.refresh_token.unwrap();
    fx.sim.set_empty_refresh_tokens(true);
    let refreshed = fx.client.refresh(&stored).await.unwrap();
    assert!(refreshed.refresh_token.is_none());
    fx.client.me(&refreshed.access_token).await.unwrap();
    fx.sim.set_empty_refresh_tokens(false);
    let again = fx.client.refresh(&stored).await.unwrap();
    assert!(again.refresh_token.is_some());
}

#[tokio::test]
async fn a_grant_without_offline_access_carries_no_refresh_token() {
    let fx = Fixture::public().await;
    let (verifier, challenge) = pkce();
    let mut url = fx.client.authorize_url(&fx.redirect, STATE, &challenge);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            let v = if k == "scope" {
                v.replace(" offline.access", "")
            } else {
                v
            };
            (k, v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let code = fx.consent_at(url).await;
    let tokens = fx
        .client
        .exchange_code(&code, &verifier, &fx.redirect)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_none());
    assert!(!tokens.scopes.contains("offline.access"));
}

#[tokio::test]
async fn revoking_a_token_ends_the_grant() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    fx.client.revoke(&tokens.access_token).await.unwrap();
    assert_eq!(
        fx.sim.revoked_tokens(),
        [tokens.access_token.expose().to_owned()]
    );
    assert_eq!(fx.sim.token_requests().revocations, 1);
    let err = fx.client.me(&tokens.access_token).await.unwrap_err();
    assert!(matches!(err, PublishError::Unauthorized { .. }), "{err:?}");
    let err = fx
        .client
        .publish(account(&tokens.access_token), text("after revoke"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unauthorized { .. }), "{err:?}");
    let err = fx
        .client
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
    assert!(fx.sim.tweets().is_empty());
}

#[tokio::test]
async fn a_slow_answer_past_the_client_timeout_is_ambiguous_and_the_post_can_be_found() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = x_client(&fx.server, None, impatient);
    fx.sim
        .fail_next(Endpoint::Tweets, Failure::Slow(Duration::from_secs(3)));
    let err = client
        .publish(account(&tokens.access_token), text("did it land?"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Ambiguous { .. }), "{err:?}");
    assert!(!err.is_retryable());

    // The post exists: reconciliation finds it among the account's recent posts.
    let tweets = fx.sim.wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    let recent = client
        .recent_posts(account(&tokens.access_token), 5)
        .await
        .unwrap();
    assert_eq!(recent, [(tweets[0].id.clone(), "did it land?".to_owned())]);
}

#[tokio::test]
async fn a_slow_image_upload_is_safe_to_retry() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let client = x_client(&fx.server, None, impatient);
    fx.sim
        .fail_next(Endpoint::MediaUpload, Failure::Slow(Duration::from_secs(3)));
    let err = client
        .publish(
            account(&tokens.access_token),
            PostContent {
                text: "slow image",
                media: &[png(200)],
                reply_to: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(fx.sim.tweets().is_empty());
}

#[tokio::test]
async fn recent_posts_come_newest_first_and_only_from_that_account() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    for n in 1..=7 {
        fx.client
            .publish(account(&tokens.access_token), text(&format!("post {n}")))
            .await
            .unwrap();
    }
    let other = simx::SimXUser::new("99", "bob");
    fx.sim.insert_grant(other, "bob-token", None);
    let bob = Secret::new("bob-token");
    fx.client
        .publish(
            AccountRef {
                remote_id: "99",
                token: &bob,
            },
            text("bob's post"),
        )
        .await
        .unwrap();
    let recent = fx
        .client
        .recent_posts(account(&tokens.access_token), 3)
        .await
        .unwrap();
    let texts: Vec<&str> = recent.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["post 7", "post 6", "post 5"]);
    let all = fx
        .client
        .recent_posts(account(&tokens.access_token), 50)
        .await
        .unwrap();
    assert_eq!(all.len(), 7);
    assert!(
        fx.client
            .recent_posts(account(&tokens.access_token), 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_safe_to_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = XConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: None,
        api_url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        authorize_url: Url::parse(&format!("http://127.0.0.1:{port}/i/oauth2/authorize")).unwrap(),
    };
    let client = XClient::new(&config, autopost::platforms::http::client().unwrap());
    let token = Secret::new("AccessTok-unreachable-do-not-leak");
    let err = client
        .publish(account(&token), text("nobody home"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unreachable(_)), "{err:?}");
    assert!(err.is_retryable());
    let err = client.refresh(&token).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Transient(PublishError::Unreachable(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn no_token_or_secret_appears_in_any_error_or_debug_output() {
    let config = SimXConfig::confidential(CLIENT_ID, CLIENT_SECRET);
    let fx = Fixture::with(config, Some(CLIENT_SECRET)).await;
    let tokens = fx.link().await;
    let refresh = tokens.refresh_token.as_ref().unwrap();
    let secrets = [
        tokens.access_token.expose().to_owned(),
        refresh.expose().to_owned(),
        CLIENT_SECRET.to_owned(),
    ];
    let mut seen = vec![format!("{:?}", fx.client), format!("{tokens:?}")];

    fx.sim
        .fail_next(Endpoint::Tweets, Failure::RateLimited { reset_in_secs: 5 });
    fx.sim.fail_next(Endpoint::Tweets, Failure::ServerError);
    for _ in 0..2 {
        let err = fx
            .client
            .publish(account(&tokens.access_token), text("leak check"))
            .await
            .unwrap_err();
        seen.push(shown(&err));
    }
    fx.client
        .publish(account(&tokens.access_token), text("leak check"))
        .await
        .unwrap();
    let duplicate = fx
        .client
        .publish(account(&tokens.access_token), text("leak check"))
        .await
        .unwrap_err();
    seen.push(shown(&duplicate));

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let slow_client = x_client(&fx.server, Some(CLIENT_SECRET), impatient);
    fx.sim
        .fail_next(Endpoint::Tweets, Failure::Slow(Duration::from_secs(2)));
    let ambiguous = slow_client
        .publish(account(&tokens.access_token), text("slow leak check"))
        .await
        .unwrap_err();
    seen.push(shown(&ambiguous));

    let refreshed = fx.client.refresh(refresh).await.unwrap();
    seen.push(format!("{refreshed:?}"));
    let reused = fx.client.refresh(refresh).await.unwrap_err();
    seen.push(shown(&reused));
    fx.sim.expire_access_tokens();
    let expired = fx
        .client
        .publish(account(&refreshed.access_token), text("expired"))
        .await
        .unwrap_err();
    seen.push(shown(&expired));

    let text = seen.join("\n");
    for secret in secrets
        .iter()
        .chain([refreshed.access_token.expose().to_owned()].iter())
    {
        assert!(!text.contains(secret.as_str()), "{secret} leaked:\n{text}");
    }
    assert!(text.contains("duplicate content"), "{text}");
}

#[tokio::test]
async fn the_sim_throttles_a_user_once_the_window_quota_is_spent() {
    let fx = Fixture::public().await;
    let tokens = fx.link().await;
    for _ in 0..75 {
        fx.client.me(&tokens.access_token).await.unwrap();
    }
    let err = fx.client.me(&tokens.access_token).await.unwrap_err();
    let PublishError::RateLimited {
        reset_at: Some(reset_at),
    } = err
    else {
        panic!("{err:?}")
    };
    let ahead = reset_at - Utc::now();
    assert!(
        ahead > chrono::Duration::minutes(14) && ahead <= chrono::Duration::minutes(15),
        "{ahead}"
    );
    // Quotas are per endpoint: posting still works.
    fx.client
        .publish(account(&tokens.access_token), text("still allowed"))
        .await
        .unwrap();
}
