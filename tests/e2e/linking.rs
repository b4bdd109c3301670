//! Linking accounts over real HTTP: autopost's start link, the simulated platform's consent
//! page, autopost's callback; tokens sealed in the database, identities stored, accounts
//! linked to the chat. Every bad state ends on an error page with nothing stored.

use std::collections::HashMap;

use autopost::app::App;
use autopost::domain::{ChatId, ChatKind, ChatPlatform, OAuthProvider, Provider, UserId};
use autopost::oauth::Linker;
use autopost::platforms::{AccountRef, Media, Platform, Platforms, PostContent};
use autopost::store::{NewMedia, NewPost, NotificationKind, Store};
use autopost_sim::SimServer;
use autopost_sim::meta::{self as simmeta, SimMeta, SimMetaConfig};
use autopost_sim::x::{self as simx, SimX, SimXConfig};
use bytes::Bytes;
use chrono::{Duration, Utc};
use url::Url;

use crate::helpers::{TestDir, contains};

const X_CLIENT: &str = "autopost-x-client";
const META_APP: &str = "424242";
const META_SECRET: &str = "MetaAppSecret-77aa-do-not-leak";

/// autopost serving on a free port, with simulated X and Meta behind it.
struct Linking {
    dir: TestDir,
    base: Url,
    store: Store,
    linker: Linker,
    platforms: Platforms,
    media: autopost::media::MediaFiles,
    x: SimX,
    meta: SimMeta,
    _servers: (SimServer, SimServer),
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    user: UserId,
    chat: ChatId,
}

impl Linking {
    async fn spawn() -> Self {
        let (x, x_server) = simx::start(SimXConfig::public(X_CLIENT)).await.unwrap();
        let (meta, meta_server) = simmeta::start(SimMetaConfig::new(META_APP, META_SECRET))
            .await
            .unwrap();
        // Bind first, so that the public URL (and so the OAuth redirect) names the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: Url = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let dir = TestDir::new();
        let x_url = x_server.url().to_string();
        let x_authorize = simx::authorize_url(&x_server.url()).to_string();
        let meta_url = meta_server.url().to_string();
        let config = dir.config(&[
            ("AUTOPOST_PUBLIC_URL", base.as_str()),
            ("AUTOPOST_X_CLIENT_ID", X_CLIENT),
            ("AUTOPOST_X_API_URL", &x_url),
            ("AUTOPOST_X_AUTHORIZE_URL", &x_authorize),
            ("AUTOPOST_META_APP_ID", META_APP),
            ("AUTOPOST_META_APP_SECRET", META_SECRET),
            ("AUTOPOST_META_GRAPH_URL", &meta_url),
            ("AUTOPOST_META_DIALOG_URL", &meta_url),
        ]);
        let app = App::open(config).await.unwrap();
        let store = app.store().clone();
        let now = Utc::now();
        let user = store
            .upsert_user(ChatPlatform::Telegram, "42", Some("alice"), now)
            .await
            .unwrap()
            .id;
        let chat = store
            .upsert_chat(
                ChatPlatform::Telegram,
                "-1001",
                ChatKind::Group,
                Some("team"),
                now,
            )
            .await
            .unwrap()
            .id;
        let linker = app.linker().clone();
        let platforms = app.platforms().clone();
        let media = app.media().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(std::sync::Arc::new(app).serve(
            listener,
            async {
                let _ = stopped.await;
            },
            Vec::new(),
        ));
        Self {
            dir,
            base,
            store,
            linker,
            platforms,
            media,
            x,
            meta,
            _servers: (x_server, meta_server),
            stop: Some(stop),
            user,
            chat,
        }
    }

    async fn start_link(&self, provider: OAuthProvider) -> Url {
        self.linker
            .start_link(provider, self.user, self.chat, Utc::now())
            .await
            .unwrap()
    }

    /// Follows redirects by hand from `url` until a page answers; returns its status and
    /// body, and every URL visited.
    async fn browse(&self, url: Url) -> (u16, String, Vec<Url>) {
        let client = autopost::platforms::http::client().unwrap();
        let mut visited = vec![url.clone()];
        let mut next = url;
        for _ in 0..5 {
            let answer = client.get(next.clone()).send().await.unwrap();
            if answer.status().is_redirection() {
                let location = answer.headers()["location"].to_str().unwrap();
                next = next.join(location).unwrap();
                visited.push(next.clone());
                continue;
            }
            let status = answer.status().as_u16();
            return (status, answer.text().await.unwrap(), visited);
        }
        panic!("redirect loop: {visited:?}");
    }

    async fn linked(&self) -> Vec<autopost::store::LinkedAccount> {
        self.store.accounts_of_chat(self.chat).await.unwrap()
    }
}

impl Drop for Linking {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[tokio::test]
async fn linking_x_stores_the_sealed_tokens_and_the_handle_and_the_token_publishes() {
    let t = Linking::spawn().await;
    let link = t.start_link(OAuthProvider::X).await;
    assert!(
        link.as_str()
            .starts_with(&format!("{}oauth/x/start?s=", t.base))
    );
    let (status, page, visited) = t.browse(link).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Linked @sim_alice (X) to this chat"),
        "{page}"
    );
    // start → X consent (PKCE S256) → our callback.
    let consent = &visited[1];
    let query: HashMap<String, String> = consent.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], format!("{}oauth/x/callback", t.base));
    assert!(
        visited[2]
            .as_str()
            .starts_with(&format!("{}oauth/x/callback?", t.base))
    );
    assert!(
        !consent.as_str().contains("verifier"),
        "the verifier stays server-side"
    );

    let accounts = t.linked().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].provider, Provider::X);
    assert_eq!(accounts[0].display_name, "@sim_alice");
    assert_eq!(accounts[0].remote_id, "2244994945");
    assert_eq!(accounts[0].owner, t.user);

    let token = t.store.account_access_token(accounts[0].id).await.unwrap();
    let x = t.platforms.x.as_ref().unwrap();
    let published = x
        .publish(
            AccountRef {
                remote_id: &accounts[0].remote_id,
                token: &token,
            },
            PostContent {
                text: "hello from autopost",
                media: &[],
            },
        )
        .await
        .unwrap();
    let tweets = t.x.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "hello from autopost");
    assert_eq!(tweets[0].id, published.remote_id);

    t.store.close().await;
    let bytes = t.dir.db_bytes();
    assert!(
        !contains(&bytes, token.expose()),
        "the token is sealed at rest"
    );
    assert!(contains(&bytes, "@sim_alice"));
}

#[tokio::test]
async fn linking_meta_links_every_page_and_its_instagram_account() {
    let t = Linking::spawn().await;
    let (status, page, visited) = t.browse(t.start_link(OAuthProvider::Meta).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        visited[1].as_str().contains("/v27.0/dialog/oauth"),
        "{visited:?}"
    );
    assert!(
        page.contains("Alice&#39;s Bakery (Facebook Page)"),
        "{page}"
    );
    assert!(page.contains("@alices_shop (Instagram)"), "{page}");

    let accounts = t.linked().await;
    let names: Vec<(Provider, &str)> = accounts
        .iter()
        .map(|a| (a.provider, a.display_name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (Provider::FacebookPage, "Alice's Bakery"),
            (Provider::Instagram, "@alices_bakery"),
            (Provider::FacebookPage, "Alice's Cafe"),
            (Provider::FacebookPage, "Alice's Shop"),
            (Provider::Instagram, "@alices_shop"),
        ]
    );
    // Each Page publishes with its own Page token, as Meta requires.
    let cafe = &accounts[2];
    let token = t.store.account_access_token(cafe.id).await.unwrap();
    t.platforms
        .facebook
        .as_ref()
        .unwrap()
        .publish(
            AccountRef {
                remote_id: &cafe.remote_id,
                token: &token,
            },
            PostContent {
                text: "fresh bread",
                media: &[],
            },
        )
        .await
        .unwrap();
    let posts = t.meta.feed_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].page_id, "5550002");
    assert_eq!(posts[0].message.as_deref(), Some("fresh bread"));
    assert_eq!(t.meta.token_requests().long_lived_exchanges, 1);
}

#[tokio::test]
async fn instagram_fetches_the_jpeg_from_our_signed_media_link_which_then_expires() {
    let t = Linking::spawn().await;
    t.browse(t.start_link(OAuthProvider::Meta).await).await;
    let accounts = t.linked().await;
    let ig = accounts
        .iter()
        .find(|a| a.provider == Provider::Instagram)
        .unwrap();
    let token = t.store.account_access_token(ig.id).await.unwrap();

    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[7u8; 500], &[0xFF, 0xD9]].concat();
    let saved = t.media.save(&jpeg, "jpg").await.unwrap();
    let post = t
        .store
        .insert_post(
            NewPost {
                chat: t.chat,
                author: t.user,
                body: "new loaf".to_owned(),
                due_at: Utc::now(),
                recurrence: None,
                time_zone: chrono_tz::UTC,
                targets: vec![ig.id],
                media: vec![NewMedia {
                    content_type: "image/jpeg".to_owned(),
                    byte_len: saved.byte_len,
                    width: None,
                    height: None,
                    sha256: saved.sha256.clone(),
                    file_name: saved.file_name.clone(),
                }],
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let media_id = t.store.media_of_post(post).await.unwrap()[0].id;
    let link = t
        .media
        .link(&t.base, media_id, Utc::now() + Duration::minutes(10));
    let instagram = t.platforms.instagram.as_ref().unwrap();
    instagram
        .publish(
            AccountRef {
                remote_id: &ig.remote_id,
                token: &token,
            },
            PostContent {
                text: "new loaf",
                media: &[Media {
                    content_type: "image/jpeg".to_owned(),
                    bytes: Bytes::from(jpeg.clone()),
                    public_url: Some(link.clone()),
                }],
            },
        )
        .await
        .unwrap();
    let containers = t.meta.containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image_url.as_deref(), Some(link.as_str()));
    assert!(link.as_str().starts_with(&format!("{}media/", t.base)));
    assert_eq!(containers[0].fetched.as_deref(), Some(&jpeg[..]));
    assert_eq!(
        containers[0].fetched_content_type.as_deref(),
        Some("image/jpeg")
    );
    assert_eq!(t.meta.ig_media().len(), 1);

    let expired = t
        .media
        .link(&t.base, media_id, Utc::now() - Duration::seconds(1));
    let (status, _, _) = t.browse(expired).await;
    assert_eq!(status, 410, "the link stops working once it expires");
}

#[tokio::test]
async fn a_used_unknown_expired_or_foreign_state_stores_nothing() {
    let t = Linking::spawn().await;
    let (status, _, visited) = t.browse(t.start_link(OAuthProvider::X).await).await;
    assert_eq!(status, 200);
    let callback = visited.last().unwrap().clone();
    assert_eq!(t.linked().await.len(), 1);

    let (status, page, _) = t.browse(callback).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");

    let unknown = t
        .base
        .join("oauth/x/callback?code=abc&state=forged")
        .unwrap();
    let (status, page, _) = t.browse(unknown).await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid"), "{page}");
    let (status, _, _) = t
        .browse(t.base.join("oauth/x/start?s=forged").unwrap())
        .await;
    assert_eq!(status, 400);

    let old = t
        .linker
        .start_link(
            OAuthProvider::X,
            t.user,
            t.chat,
            Utc::now() - Duration::minutes(11),
        )
        .await
        .unwrap();
    let (status, page, _) = t.browse(old).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    let meta_link = t.start_link(OAuthProvider::Meta).await;
    let state = meta_link
        .query_pairs()
        .find(|(k, _)| k == "s")
        .unwrap()
        .1
        .into_owned();
    let foreign = t
        .base
        .join(&format!("oauth/x/callback?code=abc&state={state}"))
        .unwrap();
    let (status, page, _) = t.browse(foreign).await;
    assert_eq!(status, 400);
    assert!(page.contains("another platform"), "{page}");

    let denied_link = t.start_link(OAuthProvider::X).await;
    let state = denied_link
        .query_pairs()
        .find(|(k, _)| k == "s")
        .unwrap()
        .1
        .into_owned();
    let denied = t
        .base
        .join(&format!(
            "oauth/x/callback?error=access_denied&state={state}"
        ))
        .unwrap();
    let (status, page, _) = t.browse(denied).await;
    assert_eq!(status, 200);
    assert!(page.contains("did not grant access"), "{page}");

    let (status, _, _) = t
        .browse(t.base.join("oauth/myspace/start?s=x").unwrap())
        .await;
    assert_eq!(status, 404);

    assert_eq!(
        t.linked().await.len(),
        1,
        "only the first round trip linked"
    );
    assert_eq!(t.x.token_requests().code_exchanges, 1);
    let notes = t.store.undelivered_notifications(10).await.unwrap();
    let linked: Vec<_> = notes
        .iter()
        .filter(|n| n.notification.kind == NotificationKind::AccountLinked)
        .collect();
    assert_eq!(linked.len(), 1);
    assert_eq!(
        linked[0].notification.text,
        "Linked @sim_alice (X) to this chat"
    );
    assert_eq!(linked[0].notification.chat, Some(t.chat));
    let audit = t.store.audit_events(Some(t.user)).await.unwrap();
    assert_eq!(audit.len(), 1);
}

#[tokio::test]
async fn a_platform_without_credentials_is_off_and_says_so() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    let err = app
        .linker()
        .start_link(OAuthProvider::X, UserId(1), ChatId(1), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "X is not set up on this autopost; ask its operator to configure it"
    );
}
