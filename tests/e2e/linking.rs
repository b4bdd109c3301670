//! Linking accounts over real HTTP: autopost's start link, the simulated platform's consent
//! page, autopost's callback; tokens sealed in the database, identities stored, accounts
//! linked to the chat. Every bad state ends on an error page with nothing stored.

use std::collections::HashMap;

use autopost::domain::Provider;
use autopost::platforms::{AccountRef, Media, Platform, PostContent};
use autopost::posting::Draft;
use autopost::store::NotificationKind;
use autopost_sim::World;
use autopost_sim::world::{Browser, browse};
use chrono::{Duration, Utc};

use crate::helpers::{contains, db_bytes, jpeg};

/// The team's group and the person linking, as `autopost connect` names them.
const TEAM: &str = "telegram:-1001";
const ALICE: &str = "telegram:42";

/// autopost serving on a free port, with simulated X and Meta behind it.
async fn world() -> World {
    World::builder().x().meta().start().await.unwrap()
}

#[tokio::test]
async fn linking_x_stores_the_sealed_tokens_and_the_handle_and_the_token_publishes() {
    let mut world = world().await;
    let link = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let base = world.url().clone();
    assert!(
        link.as_str()
            .starts_with(&format!("{base}oauth/x/start?s="))
    );
    let page = browse(link).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Linked @sim_alice (X) to this chat"),
        "{}",
        page.body
    );
    // start → X consent (PKCE S256) → our callback.
    let visited = page.visited();
    let consent = visited[1];
    let query: HashMap<String, String> = consent.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], format!("{base}oauth/x/callback"));
    assert!(
        visited[2]
            .as_str()
            .starts_with(&format!("{base}oauth/x/callback?"))
    );
    assert!(
        !consent.as_str().contains("verifier"),
        "the verifier stays server-side"
    );

    let alice = world.actor(TEAM, ALICE).await.unwrap();
    let store = world.store().await.unwrap();
    let accounts = store.accounts_of_chat(alice.chat).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].provider, Provider::X);
    assert_eq!(accounts[0].display_name, "@sim_alice");
    assert_eq!(accounts[0].remote_id, "2244994945");
    assert_eq!(accounts[0].owner, alice.user);

    let token = store.account_access_token(accounts[0].id).await.unwrap();
    let x = world.app().platforms().x.clone().unwrap();
    let published = x
        .publish(
            AccountRef {
                remote_id: &accounts[0].remote_id,
                token: &token,
            },
            PostContent {
                text: "hello from autopost",
                media: &[],
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let tweets = world.x().tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "hello from autopost");
    assert_eq!(tweets[0].id, published.remote_id);

    world.shutdown().await.unwrap();
    let bytes = db_bytes(world.dir());
    assert!(
        !contains(&bytes, token.expose()),
        "the token is sealed at rest"
    );
    assert!(contains(&bytes, "@sim_alice"));
}

#[tokio::test]
async fn linking_meta_links_every_page_and_its_instagram_account() {
    let world = world().await;
    let link = world
        .app()
        .connect_link("meta", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let page = browse(link).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let visited = page.visited();
    assert!(
        visited[1].as_str().contains("/v27.0/dialog/oauth"),
        "{visited:?}"
    );
    assert!(
        page.body.contains("Alice&#39;s Bakery (Facebook Page)"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("@alices_shop (Instagram)"),
        "{}",
        page.body
    );

    let alice = world.actor(TEAM, ALICE).await.unwrap();
    let store = world.store().await.unwrap();
    let accounts = store.accounts_of_chat(alice.chat).await.unwrap();
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
    let token = store.account_access_token(cafe.id).await.unwrap();
    world
        .app()
        .platforms()
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
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let posts = world.meta().feed_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].page_id, "5550002");
    assert_eq!(posts[0].message.as_deref(), Some("fresh bread"));
    assert_eq!(world.meta().token_requests().long_lived_exchanges, 1);
}

#[tokio::test]
async fn instagram_fetches_the_jpeg_from_our_signed_media_link_which_then_expires() {
    let world = world().await;
    let linked = world.link_meta(TEAM, ALICE).await.unwrap();
    let ig = linked
        .accounts
        .iter()
        .find(|a| a.provider == Provider::Instagram)
        .unwrap();
    let store = world.store().await.unwrap();
    let token = store.account_access_token(ig.id).await.unwrap();

    let jpeg = jpeg(64, 48);
    let post = world
        .app()
        .create_post(
            &linked.actor,
            Draft {
                when: "in 1 hour".to_owned(),
                text: "new loaf".to_owned(),
                images: vec![jpeg.clone()],
                targets: Some(vec![ig.id]),
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .post;
    let media_id = store.media_of_post(post).await.unwrap()[0].id;
    let base = world.url();
    let media = world.app().media();
    let link = media.link(base, media_id, Utc::now() + Duration::minutes(10));
    let instagram = world.app().platforms().instagram.clone().unwrap();
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
                    bytes: jpeg.clone(),
                    public_url: Some(link.clone()),
                }],
                reply_to: None,
            },
        )
        .await
        .unwrap();
    let containers = world.meta().containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image_url.as_deref(), Some(link.as_str()));
    assert!(link.as_str().starts_with(&format!("{base}media/")));
    assert_eq!(containers[0].fetched.as_deref(), Some(&jpeg[..]));
    assert_eq!(
        containers[0].fetched_content_type.as_deref(),
        Some("image/jpeg")
    );
    assert_eq!(world.meta().ig_media().len(), 1);

    let expired = media.link(base, media_id, Utc::now() - Duration::seconds(1));
    let page = browse(expired).await.unwrap();
    assert_eq!(page.status, 410, "the link stops working once it expires");
}

#[tokio::test]
async fn a_used_unknown_expired_or_foreign_state_stores_nothing() {
    let world = world().await;
    let app = world.app();
    let base = world.url();
    let page = browse(
        app.connect_link("x", TEAM, ALICE, Utc::now())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(page.status, 200);
    let callback = page.visited().last().copied().unwrap().clone();
    let alice = world.actor(TEAM, ALICE).await.unwrap();
    let store = world.store().await.unwrap();
    assert_eq!(store.accounts_of_chat(alice.chat).await.unwrap().len(), 1);

    let page = browse(callback).await.unwrap();
    assert_eq!(page.status, 400);
    assert!(page.body.contains("already used"), "{}", page.body);

    let unknown = base.join("oauth/x/callback?code=abc&state=forged").unwrap();
    let page = browse(unknown).await.unwrap();
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not valid"), "{}", page.body);
    let forged = base.join("oauth/x/start?s=forged").unwrap();
    assert_eq!(browse(forged).await.unwrap().status, 400);

    let old = app
        .connect_link("x", TEAM, ALICE, Utc::now() - Duration::minutes(11))
        .await
        .unwrap();
    let page = browse(old).await.unwrap();
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expired"), "{}", page.body);

    let state_of = |link: url::Url| {
        link.query_pairs()
            .find(|(k, _)| k == "s")
            .unwrap()
            .1
            .into_owned()
    };
    // The browser that opened a Meta start link brings that state back to X's callback.
    let meta_link = app
        .connect_link("meta", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let meta_state = state_of(meta_link.clone());
    let mut browser = Browser::new().unwrap();
    assert_eq!(browser.step(&meta_link).await.unwrap().status, 200);
    let foreign = base
        .join(&format!("oauth/x/callback?code=abc&state={meta_state}"))
        .unwrap();
    let page = browser.open(foreign).await.unwrap();
    assert_eq!(page.status, 400);
    assert!(page.body.contains("another platform"), "{}", page.body);

    let link = app
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let state = state_of(link.clone());
    assert_eq!(browser.step(&link).await.unwrap().status, 200);
    let denied = base
        .join(&format!(
            "oauth/x/callback?error=access_denied&state={state}"
        ))
        .unwrap();
    let page = browser.open(denied).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("did not grant access"), "{}", page.body);

    let myspace = base.join("oauth/myspace/start?s=x").unwrap();
    assert_eq!(browse(myspace).await.unwrap().status, 404);

    assert_eq!(
        store.accounts_of_chat(alice.chat).await.unwrap().len(),
        1,
        "only the first round trip linked"
    );
    assert_eq!(world.x().token_requests().code_exchanges, 1);
    let notes = store.undelivered_notifications(10).await.unwrap();
    let linked: Vec<_> = notes
        .iter()
        .filter(|n| n.notification.kind == NotificationKind::AccountLinked)
        .collect();
    assert_eq!(linked.len(), 1);
    assert_eq!(
        linked[0].notification.text,
        "Linked @sim_alice (X) to this chat"
    );
    assert_eq!(linked[0].notification.chat, Some(alice.chat));
    let audit = store.audit_events(Some(alice.user)).await.unwrap();
    assert_eq!(audit.len(), 1);
}

#[tokio::test]
async fn a_platform_without_credentials_is_off_and_says_so() {
    let world = World::builder().open().await.unwrap();
    let err = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "X is not set up on this autopost; ask its operator to configure it"
    );
}

#[tokio::test]
async fn the_start_page_says_whose_chat_and_who_asked_before_sending_the_browser_on() {
    let world = world().await;
    world.actor(TEAM, ALICE).await.unwrap();
    let link = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let mut browser = Browser::new().unwrap();
    let answer = browser.step(&link).await.unwrap();
    assert_eq!(
        answer.status, 200,
        "a page, not a redirect: {}",
        answer.body
    );
    assert!(answer.location.is_none());
    assert!(
        answer.body.contains("the Telegram chat -1001") && answer.body.contains("Telegram user 42"),
        "which chat and who asked: {}",
        answer.body
    );
    assert!(answer.body.contains("close this page"), "{}", answer.body);
    let consent = answer.next.expect("a Continue link");
    assert!(
        consent.as_str().starts_with(world.x_url().as_str()),
        "the link goes on to X: {consent}"
    );
    assert_eq!(world.x().token_requests().code_exchanges, 0, "nothing yet");
    let page = browser.open(consent).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Linked @sim_alice (X)"), "{}", page.body);
}

#[tokio::test]
async fn a_forwarded_start_link_is_refused_in_the_second_browser_and_links_nothing() {
    let world = world().await;
    let alice = world.actor(TEAM, ALICE).await.unwrap();
    let link = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let mut sender = Browser::new().unwrap();
    assert_eq!(sender.step(&link).await.unwrap().status, 200);
    // The same link, forwarded to someone else.
    let page = Browser::new().unwrap().open(link.clone()).await.unwrap();
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("already opened in another browser"),
        "{}",
        page.body
    );
    assert_eq!(page.hops.len(), 1, "never sent on to X");
    let store = world.store().await.unwrap();
    assert!(store.accounts_of_chat(alice.chat).await.unwrap().is_empty());
    // The browser that opened it first still can.
    let page = sender.open(link).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(store.accounts_of_chat(alice.chat).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_callback_without_the_start_browsers_cookie_is_refused_and_links_nothing() {
    let world = world().await;
    let alice = world.actor(TEAM, ALICE).await.unwrap();
    let link = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let mut owner = Browser::new().unwrap();
    let consent = owner.step(&link).await.unwrap().next.unwrap();
    // X approves and sends the browser back with a real code.
    let callback = owner.step(&consent).await.unwrap().location.unwrap();
    assert!(callback.path().ends_with("/oauth/x/callback"), "{callback}");

    // A browser with no cookie, and one with a cookie of its own (from another link).
    let mut stranger = Browser::new().unwrap();
    let other_link = world
        .app()
        .connect_link("x", "telegram:-2002", "telegram:77", Utc::now())
        .await
        .unwrap();
    assert_eq!(stranger.step(&other_link).await.unwrap().status, 200);
    for mut browser in [Browser::new().unwrap(), stranger] {
        let page = browser.open(callback.clone()).await.unwrap();
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(
            page.body.contains("did not start in this browser"),
            "{}",
            page.body
        );
    }
    let store = world.store().await.unwrap();
    assert!(store.accounts_of_chat(alice.chat).await.unwrap().is_empty());
    assert_eq!(
        world.x().token_requests().code_exchanges,
        0,
        "the code was never exchanged"
    );
    // The browser that started it completes it with the same code.
    let page = owner.open(callback).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(store.accounts_of_chat(alice.chat).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_browser_cookie_is_short_lived_http_only_same_site_and_scoped_to_oauth() {
    let world = world().await;
    let link = world
        .app()
        .connect_link("x", TEAM, ALICE, Utc::now())
        .await
        .unwrap();
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(link)
        .send()
        .await
        .unwrap();
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["Path=/oauth", "Max-Age=600", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure only behind an https public URL: {cookie}"
    );
    assert_eq!(answer.headers()["cache-control"], "no-store");
}
