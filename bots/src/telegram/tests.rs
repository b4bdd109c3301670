//! The Telegram front end end to end: the whole app with the bot, against simulated X, Meta
//! and Telegram.

use super::*;
use autopost::crypto::Secret;
use autopost::domain::{OAuthProvider, Provider};
use autopost::store::{NewGrant, NewLinkedAccount};
use autopost_sim::SimServer;
use autopost_sim::meta::{self as simmeta, SimMeta, SimMetaConfig};
use autopost_sim::telegram::{
    self as simtg, Failure, MemberStatus, SimChat, SimMessage, SimTelegram, SimTelegramConfig,
    SimUser,
};
use autopost_sim::x::{self as simx, SimX, SimXConfig, SimXUser};
use chrono::Utc;

const TOKEN: &str = "123456:ABC-test-do-not-leak";
const BOT: &str = "autopost_bot";
const WAIT: Duration = Duration::from_secs(5);

/// A valid 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

const WEBHOOK_SECRET: &str = "hook-secret_42";

struct Fixture {
    _dir: tempfile::TempDir,
    _servers: (SimServer, SimServer, SimServer),
    x: SimX,
    meta: SimMeta,
    tg: SimTelegram,
    app: Arc<App>,
    /// autopost's own web server.
    base: url::Url,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
}

async fn fixture() -> Fixture {
    fixture_with(false).await
}

async fn fixture_with(webhook: bool) -> Fixture {
    fixture_prepared(webhook, |_| {}).await
}

/// The whole app as `autopost run` starts it (web server, scheduler, token upkeep, the
/// bot as its front end), against simulated X and Telegram; `webhook` sets
/// AUTOPOST_TELEGRAM_WEBHOOK_SECRET.
async fn fixture_prepared(webhook: bool, prepare: impl FnOnce(&SimTelegram)) -> Fixture {
    let (x, x_server) = simx::start(SimXConfig::public("client")).await.unwrap();
    x.insert_grant(SimXUser::new("2244994945", "team"), "tok", Some("ref"));
    let (meta, meta_server) = simmeta::start(SimMetaConfig::new("app", "secret"))
        .await
        .unwrap();
    meta.insert_user_token("meta-user");
    meta.insert_page_token("5550001", "page-token");
    let (tg, tg_server) = simtg::start(SimTelegramConfig::new(TOKEN, BOT))
        .await
        .unwrap();
    prepare(&tg);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let data = dir.path().display().to_string();
    let x_url = x_server.url().to_string();
    let tg_url = tg_server.url().to_string();
    let meta_url = meta_server.url().to_string();
    let public = base.to_string();
    let mut vars = vec![
        ("AUTOPOST_DATA_DIR", data.as_str()),
        ("AUTOPOST_PUBLIC_URL", public.as_str()),
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", x_url.as_str()),
        ("AUTOPOST_META_APP_ID", "app"),
        ("AUTOPOST_META_APP_SECRET", "secret"),
        ("AUTOPOST_META_GRAPH_URL", meta_url.as_str()),
        ("AUTOPOST_META_DIALOG_URL", meta_url.as_str()),
        ("AUTOPOST_TELEGRAM_TOKEN", TOKEN),
        ("AUTOPOST_TELEGRAM_API_URL", tg_url.as_str()),
    ];
    if webhook {
        vars.push(("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET));
    }
    let config = autopost::config::from_variables(&vars).unwrap();
    let app = Arc::new(App::open(config).await.unwrap());
    let options = Options {
        poll_timeout: Duration::from_secs(1),
        album_quiet: Duration::from_millis(300),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        allowance: Allowance::default(),
        notification_retry: Duration::from_millis(100),
    };
    let bot = TelegramFrontEnd::new(app.clone(), options).unwrap();
    let shown = format!("{bot:?}");
    assert!(
        !shown.contains("ABC-test"),
        "Debug never shows the token: {shown}"
    );
    let (stop, mut stopped) = watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let front_ends: Vec<Box<dyn FrontEnd>> = vec![Box::new(bot)];
    let served = tokio::spawn(app.clone().serve(listener, shutdown, front_ends));
    // Connected once the command menu is published, the last step of starting.
    let deadline = Instant::now() + WAIT;
    while tg.commands().is_empty() {
        assert!(Instant::now() < deadline, "the bot never connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let served = tokio::spawn(async move { served.await.unwrap().unwrap() });
    Fixture {
        _dir: dir,
        _servers: (x_server, meta_server, tg_server),
        x,
        meta,
        tg,
        app,
        base,
        stop,
        served,
    }
}

impl Fixture {
    /// Links the simulated X account to the Telegram chat `chat`, owned by `owner`.
    async fn link_x(&self, chat: i64, kind: ChatKind, owner: i64) {
        let grant = |owner| NewGrant {
            owner,
            provider: OAuthProvider::X,
            remote_user_id: "2244994945",
            scopes: "",
            access_token: Secret::new("tok"),
            refresh_token: Some(Secret::new("ref")),
            expires_at: None,
        };
        let team = NewLinkedAccount {
            provider: Provider::X,
            remote_id: "2244994945".to_owned(),
            display_name: "@team".to_owned(),
            access_token: None,
        };
        self.link(chat, kind, owner, grant, vec![team]).await;
    }

    /// Links the simulated Facebook Page `Alice's Bakery` and its Instagram account to the
    /// Telegram chat `chat`, owned by `owner`.
    async fn link_meta(&self, chat: i64, kind: ChatKind, owner: i64) {
        let grant = |owner| NewGrant {
            owner,
            provider: OAuthProvider::Meta,
            remote_user_id: "10158000000000001",
            scopes: "pages_manage_posts",
            access_token: Secret::new("meta-user"),
            refresh_token: None,
            expires_at: None,
        };
        let page = |provider, remote_id: &str, name: &str| NewLinkedAccount {
            provider,
            remote_id: remote_id.to_owned(),
            display_name: name.to_owned(),
            access_token: Some(Secret::new("page-token")),
        };
        let accounts = vec![
            page(Provider::FacebookPage, "5550001", "Alice's Bakery"),
            page(Provider::Instagram, "17841400000000001", "@alices_bakery"),
        ];
        self.link(chat, kind, owner, grant, accounts).await;
    }

    /// Stores a grant of `owner` (as `grant` builds it for their user id) and links its
    /// `accounts` to the Telegram chat `chat`.
    async fn link(
        &self,
        chat: i64,
        kind: ChatKind,
        owner: i64,
        grant: impl FnOnce(autopost::domain::UserId) -> NewGrant<'static>,
        accounts: Vec<NewLinkedAccount>,
    ) {
        let now = Utc::now();
        let store = self.app.store();
        let user = store
            .upsert_user(ChatPlatform::Telegram, &owner.to_string(), None, now)
            .await
            .unwrap();
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, &chat.to_string(), kind, None, now)
            .await
            .unwrap();
        store
            .save_linked_grant(grant(user.id), accounts, chat.id, now)
            .await
            .unwrap();
    }

    async fn queue_len(&self, chat: i64) -> usize {
        let chat = self
            .app
            .store()
            .upsert_chat(
                ChatPlatform::Telegram,
                &chat.to_string(),
                if chat > 0 {
                    ChatKind::Private
                } else {
                    ChatKind::Group
                },
                None,
                Utc::now(),
            )
            .await
            .unwrap();
        self.app.queue(chat.id).await.unwrap().len()
    }

    /// Messages sent to `chat`, waiting until at least `n` arrived.
    async fn messages_to(&self, chat: i64, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts: Vec<String> = self
                .tg
                .sent_messages()
                .into_iter()
                .filter(|m| m.chat_id == chat)
                .map(|m| m.text)
                .collect();
            if texts.len() >= n || Instant::now() >= deadline {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.served)
            .await
            .expect("the app and the bot stop promptly on shutdown")
            .unwrap();
    }
}

fn bob() -> SimUser {
    SimUser::new(1001, "Bob")
}

#[tokio::test]
async fn start_publishes_every_verb_as_a_command() {
    let f = fixture().await;
    let calls = f.tg.commands();
    let names: Vec<_> = calls[0]
        .commands
        .iter()
        .map(|c| c.command.as_str())
        .collect();
    for verb in [
        "start",
        "help",
        "post",
        "queue",
        "cancel",
        "edit",
        "postnow",
        "history",
        "connect",
        "accounts",
        "disconnect",
        "timezone",
        "export",
        "deleteme",
    ] {
        assert!(names.contains(&verb), "{verb} missing from {names:?}");
    }
    f.shutdown().await;
}

#[tokio::test]
async fn a_private_photo_with_a_caption_is_published_with_its_image_and_notified() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let file = f.tg.add_file(PNG.to_vec(), None);
    f.tg.push_photo(
        &SimChat::private(&bob),
        &bob,
        &file,
        Some("in 2 seconds | hi"),
    );
    let confirmation = f.messages_to(bob.id, 1).await;
    assert!(
        confirmation[0].contains("@team"),
        "confirmed with targets: {confirmation:?}"
    );
    let tweets = f.x.wait_for_tweets(1, Duration::from_secs(8)).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "hi");
    assert_eq!(tweets[0].media_ids.len(), 1);
    assert_eq!(f.tg.downloads().len(), 1);
    let notified = f.messages_to(bob.id, 2).await;
    assert_eq!(
        notified.len(),
        2,
        "the published notification reaches the chat"
    );
    assert!(
        notified[1].contains(&tweets[0].id),
        "with the link: {notified:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.x.tweets().len(), 1, "exactly one tweet");
    f.shutdown().await;
}

#[tokio::test]
async fn two_members_of_a_group_share_one_queue() {
    let f = fixture().await;
    let group = SimChat::group(-500, "team");
    let (alice, bob) = (SimUser::new(1, "Alice"), SimUser::new(2, "Bob"));
    f.link_x(group.id, ChatKind::Group, alice.id).await;
    f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | from alice");
    f.messages_to(group.id, 1).await;
    f.tg.push_group_text(
        &group,
        &bob,
        &format!("/post@{BOT} tomorrow 10am | from bob"),
    );
    f.messages_to(group.id, 2).await;
    f.tg.push_group_text(&group, &bob, "/queue");
    let texts = f.messages_to(group.id, 3).await;
    let queue = &texts[2];
    assert!(
        queue.contains("from alice") && queue.contains("from bob"),
        "{queue}"
    );
    assert_eq!(f.queue_len(group.id).await, 2);
    f.tg.push_group_text(&group, &bob, "just chatting about lunch");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        f.messages_to(group.id, 3).await.len(),
        3,
        "plain talk is ignored"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn only_the_author_or_an_admin_may_cancel_and_the_cancel_button_is_answered() {
    let f = fixture().await;
    let group = SimChat::group(-600, "team");
    let (alice, bob, carol) = (
        SimUser::new(11, "Alice"),
        SimUser::new(12, "Bob"),
        SimUser::new(13, "Carol"),
    );
    f.link_x(group.id, ChatKind::Group, alice.id).await;
    f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | first");
    f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | second");
    f.messages_to(group.id, 2).await;
    let ids: Vec<i64> = {
        let chat = f
            .app
            .store()
            .upsert_chat(
                ChatPlatform::Telegram,
                "-600",
                ChatKind::Group,
                None,
                Utc::now(),
            )
            .await
            .unwrap();
        f.app
            .queue(chat.id)
            .await
            .unwrap()
            .iter()
            .map(|p| p.post.0)
            .collect()
    };
    assert_eq!(ids.len(), 2);
    f.tg.push_group_text(&group, &bob, &format!("/cancel {}", ids[0]));
    let refused = f.messages_to(group.id, 3).await;
    assert!(refused[2].contains("admin"), "{}", refused[2]);
    assert_eq!(f.queue_len(group.id).await, 2);
    f.tg.set_member_status(group.id, carol.id, MemberStatus::Administrator);
    f.tg.push_group_text(&group, &carol, &format!("/cancel {}", ids[0]));
    f.messages_to(group.id, 4).await;
    assert_eq!(f.queue_len(group.id).await, 1);
    // The button under the confirmation: Bob may not, and only he hears so.
    let sent = f.tg.sent_messages();
    let under = sent[1].message_id;
    let data = commands::ButtonAction::Cancel(autopost::domain::PostId(ids[1])).callback_data();
    f.tg.push_callback(&bob, group.id, under, &data);
    let answered = f.tg.wait_for_answered_callbacks(1, WAIT).await;
    assert!(answered[0].show_alert, "a refusal pops up for the presser");
    assert!(
        answered[0]
            .text
            .as_deref()
            .is_some_and(|t| t.contains("admin"))
    );
    assert_eq!(f.queue_len(group.id).await, 1);
    assert!(f.tg.edited_messages().is_empty(), "the confirmation stays");
    // Its author may: the confirmation becomes the outcome, without buttons.
    f.tg.push_callback(&alice, group.id, under, &data);
    let answered = f.tg.wait_for_answered_callbacks(2, WAIT).await;
    assert!(!answered[1].show_alert);
    assert!(answered[1].text.as_deref().is_some_and(|t| !t.is_empty()));
    let deadline = Instant::now() + WAIT;
    while f.tg.edited_messages().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let edited = f.tg.edited_messages();
    assert_eq!(edited.len(), 1);
    assert_eq!(edited[0].message_id, under);
    assert!(edited[0].text.contains("Cancelled post"), "{edited:?}");
    let no_buttons = edited[0]
        .reply_markup
        .as_ref()
        .is_none_or(|m| m["inline_keyboard"].as_array().is_some_and(Vec::is_empty));
    assert!(no_buttons, "{edited:?}");
    assert_eq!(f.queue_len(group.id).await, 0);
    assert_eq!(f.tg.sent_messages().len(), 4, "no new message for a button");
    // A forged or stale button is still answered.
    f.tg.push_callback(&bob, group.id, under, "junk");
    assert_eq!(f.tg.wait_for_answered_callbacks(3, WAIT).await.len(), 3);
    f.shutdown().await;
}

#[tokio::test]
async fn bad_input_in_a_private_chat_gets_helpful_replies_and_queues_nothing() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    f.tg.push_private_text(&bob, "/post yesterday 9am | hi");
    let past = f.messages_to(bob.id, 1).await;
    assert!(past[0].contains("passed"), "{past:?}");
    f.tg.push_private_text(&bob, &format!("in 1 hour | {}", "a".repeat(300)));
    let long = f.messages_to(bob.id, 2).await;
    assert!(long[1].contains("280"), "{long:?}");
    let file = f.tg.add_file(PNG.to_vec(), None);
    f.tg.push_photo(
        &SimChat::private(&bob),
        &bob,
        &file,
        Some("tomorrow 9am hello"),
    );
    let no_bar = f.messages_to(bob.id, 3).await;
    assert!(no_bar[2].contains('|'), "{no_bar:?}");
    f.tg.push_private_text(&bob, "/post someday soon | hi");
    let unknown = f.messages_to(bob.id, 4).await;
    assert!(
        unknown[3].contains("tomorrow 9am"),
        "an example of a time: {unknown:?}"
    );
    f.tg.push_photo(&SimChat::private(&bob), &bob, &file, Some("Launch day!"));
    let no_time = f.messages_to(bob.id, 5).await;
    assert!(
        no_time[4].contains("WHEN | TEXT") || no_time[4].contains('|'),
        "{no_time:?}"
    );
    assert_eq!(f.queue_len(bob.id).await, 0);
    assert!(
        f.tg.downloads().is_empty(),
        "nothing downloaded for a refused post"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_of_three_photos_becomes_one_post_with_three_images() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let files: Vec<_> = (0..3).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
    f.tg.push_album(
        &SimChat::private(&bob),
        &bob,
        &files,
        Some("in 1 second | three pictures"),
    );
    let tweets = f.x.wait_for_tweets(1, Duration::from_secs(8)).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].media_ids.len(), 3);
    assert_eq!(tweets[0].text, "three pictures");
    assert_eq!(f.tg.downloads().len(), 3);
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_becomes_one_instagram_carousel_and_one_facebook_multi_photo_post() {
    let f = fixture().await;
    let bob = bob();
    f.link_meta(bob.id, ChatKind::Private, bob.id).await;
    let files: Vec<_> = (0..3).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
    f.tg.push_album(
        &SimChat::private(&bob),
        &bob,
        &files,
        Some("in 1 second | three cakes"),
    );
    let confirmation = f.messages_to(bob.id, 1).await;
    assert!(
        confirmation[0].contains("Alice's Bakery") && confirmation[0].contains("@alices_bakery"),
        "both targets confirmed: {confirmation:?}"
    );
    // Both targets publish, then each sends its notification.
    let notified = f.messages_to(bob.id, 3).await;
    assert_eq!(notified.len(), 3, "two notifications: {notified:?}");
    let feed = f.meta.feed_posts();
    assert_eq!(feed.len(), 1, "one Facebook post: {feed:?}");
    assert_eq!(feed[0].message.as_deref(), Some("three cakes"));
    assert_eq!(feed[0].photo_ids.len(), 3, "with the three photos");
    let unattached = f.meta.photos().iter().filter(|p| p.published).count();
    assert_eq!(unattached, 0, "no photo posted on its own");
    let posts = f.meta.ig_media();
    assert_eq!(posts.len(), 1, "one Instagram post: {posts:?}");
    let containers = f.meta.containers();
    let carousel = containers
        .iter()
        .find(|c| c.id == posts[0].container_id)
        .unwrap();
    assert_eq!(carousel.children.len(), 3, "a carousel of three");
    assert_eq!(carousel.caption.as_deref(), Some("three cakes"));
    for child in &carousel.children {
        let item = containers.iter().find(|c| &c.id == child).unwrap();
        assert!(item.is_carousel_item);
        let fetched = item.fetched.as_ref().expect("Instagram fetched the image");
        assert!(fetched.starts_with(&[0xFF, 0xD8]), "as a JPEG");
    }
    assert_eq!(f.tg.downloads().len(), 3, "each part downloaded once");
    f.shutdown().await;
}

#[tokio::test]
async fn webhook_mode_registers_the_hook_and_handles_updates_with_the_right_secret() {
    let f = fixture_with(true).await;
    let hook = f.tg.webhook().expect("setWebhook was called");
    let url = f.base.join("telegram/webhook").unwrap();
    assert_eq!(hook.url, url.as_str());
    assert_eq!(hook.secret_token.as_deref(), Some(WEBHOOK_SECRET));
    assert_eq!(
        hook.allowed_updates,
        Some(vec!["message".to_owned(), "callback_query".to_owned()])
    );
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let id = f.tg.push_private_text(&bob, "tomorrow 9am | by webhook");
    let update = f.tg.update(id).unwrap();
    let status =
        f.tg.deliver_webhook(&url, update.clone(), Some(WEBHOOK_SECRET))
            .await;
    assert_eq!(status, 200);
    let replies = f.messages_to(bob.id, 1).await;
    assert!(replies[0].contains("@team"), "confirmed: {replies:?}");
    assert_eq!(f.queue_len(bob.id).await, 1);
    // Telegram resends when unsure; the second delivery changes nothing.
    let again =
        f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
            .await;
    assert_eq!(again, 200);
    // A resend that arrives together with the first copy is handled once too.
    let id =
        f.tg.push_private_text(&bob, "tomorrow 10am | twice at once");
    let twice = f.tg.update(id).unwrap();
    let (a, b) = tokio::join!(
        f.tg.deliver_webhook(&url, twice.clone(), Some(WEBHOOK_SECRET)),
        f.tg.deliver_webhook(&url, twice, Some(WEBHOOK_SECRET)),
    );
    assert_eq!((a, b), (200.try_into().unwrap(), 200.try_into().unwrap()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.queue_len(bob.id).await, 2);
    assert_eq!(f.tg.sent_messages().len(), 2);
    assert_eq!(
        f.tg.requests("getUpdates"),
        0,
        "no polling beside the webhook"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn webhook_requests_without_the_right_secret_get_401_and_change_nothing() {
    let f = fixture_with(true).await;
    let url = f.base.join("telegram/webhook").unwrap();
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let id = f.tg.push_private_text(&bob, "tomorrow 9am | forged");
    let update = f.tg.update(id).unwrap();
    for secret in [None, Some("wrong"), Some(""), Some("hook-secret_4")] {
        let status = f.tg.deliver_webhook(&url, update.clone(), secret).await;
        assert_eq!(status, 401, "secret {secret:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.queue_len(bob.id).await, 0);
    assert!(f.tg.sent_messages().is_empty(), "nothing answered");
    // The refused update was not marked as seen: the genuine delivery still works.
    let status =
        f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
            .await;
    assert_eq!(status, 200);
    assert_eq!(f.messages_to(bob.id, 1).await.len(), 1);
    assert_eq!(f.queue_len(bob.id).await, 1);
    f.shutdown().await;
}

#[tokio::test]
async fn the_webhook_route_does_not_exist_while_polling() {
    let f = fixture().await;
    let url = f.base.join("telegram/webhook").unwrap();
    let bob = bob();
    let id = f.tg.push_private_text(&bob, "/help");
    let update = f.tg.update(id).unwrap();
    let status =
        f.tg.deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
            .await;
    assert_eq!(status, 404);
    assert!(f.tg.webhook().is_none());
    f.shutdown().await;
}

#[tokio::test]
async fn a_group_upgraded_to_a_supergroup_keeps_its_queue_and_accounts() {
    let f = fixture().await;
    let group = SimChat::group(-500, "team");
    let alice = SimUser::new(1, "Alice");
    f.link_x(group.id, ChatKind::Group, alice.id).await;
    f.tg.add_chat(&SimChat::supergroup(-100_500, "team"));
    f.tg.fail_next(
        "sendMessage",
        Failure::MigratedToSupergroup { chat_id: -100_500 },
    );
    f.tg.push_group_text(&group, &alice, "/post tomorrow 9am | still here");
    let replies = f.messages_to(-100_500, 1).await;
    assert!(
        replies[0].contains("@team"),
        "answered in the supergroup: {replies:?}"
    );
    assert_eq!(f.queue_len(-100_500).await, 1, "the queue moved along");
    // The service message that follows finds the move already done.
    f.tg.push_raw(serde_json::json!({
        "message": {
            "message_id": 77,
            "date": 1_700_000_000,
            "chat": {"id": -500, "type": "group", "title": "team"},
            "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
            "migrate_to_chat_id": -100_500
        }
    }));
    f.tg.push_group_text(
        &SimChat::supergroup(-100_500, "team"),
        &alice,
        "/post tomorrow 10am | and more",
    );
    f.messages_to(-100_500, 2).await;
    assert_eq!(f.queue_len(-100_500).await, 2);
    f.shutdown().await;
}

#[tokio::test]
async fn the_upgrade_service_message_moves_the_group_to_its_supergroup() {
    let f = fixture().await;
    let alice = SimUser::new(1, "Alice");
    f.link_x(-600, ChatKind::Group, alice.id).await;
    let group = f
        .app
        .store()
        .upsert_chat(
            ChatPlatform::Telegram,
            "-600",
            ChatKind::Group,
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    let supergroup = SimChat::supergroup(-100_600, "team");
    f.tg.add_chat(&supergroup);
    f.tg.push_raw(serde_json::json!({
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": -100_600, "type": "supergroup", "title": "team"},
            "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
            "migrate_from_chat_id": -600
        }
    }));
    // Updates are handled concurrently: let the service message land first.
    let deadline = Instant::now() + WAIT;
    while f.app.store().chat(group.id).await.unwrap().remote_id != "-100600" {
        assert!(Instant::now() < deadline, "the upgrade was never handled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.tg.push_group_text(&supergroup, &alice, "/accounts");
    let replies = f.messages_to(-100_600, 1).await;
    assert!(
        replies[0].contains("@team"),
        "the accounts came along: {replies:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_still_gathering_at_shutdown_is_handled_before_the_bot_stops() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let files: Vec<_> = (0..2).map(|_| f.tg.add_file(PNG.to_vec(), None)).collect();
    f.tg.push_album(
        &SimChat::private(&bob),
        &bob,
        &files,
        Some("tomorrow 9am | two pictures"),
    );
    let deadline = Instant::now() + WAIT;
    while f.tg.pending_updates() > 0 {
        assert!(Instant::now() < deadline, "the bot never took the album");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Well inside the 300 ms quiet time.
    let tg = f.tg.clone();
    f.shutdown().await;
    let confirmations: Vec<_> = tg
        .sent_messages()
        .into_iter()
        .filter(|m| m.chat_id == bob.id)
        .collect();
    assert_eq!(confirmations.len(), 1, "the album was answered once");
    assert!(confirmations[0].text.contains("@team"));
    assert_eq!(tg.downloads().len(), 2);
}

#[tokio::test]
async fn only_a_group_admin_gets_a_link_to_connect_an_account_to_the_group() {
    let f = fixture().await;
    let group = SimChat::group(-800, "team");
    let (member, admin) = (SimUser::new(81, "Mo"), SimUser::new(82, "Ada"));
    f.tg.set_member_status(group.id, admin.id, MemberStatus::Administrator);
    for person in [&member, &admin] {
        f.tg.push_private_text(person, "/start");
        f.messages_to(person.id, 1).await;
    }
    f.tg.push_group_text(&group, &member, "/connect x");
    let refused = f.messages_to(group.id, 1).await;
    assert!(
        refused[0].contains("Only a group administrator"),
        "{refused:?}"
    );
    assert_eq!(f.messages_to(member.id, 2).await.len(), 1, "no link sent");
    f.tg.push_group_text(&group, &admin, "/connect x");
    let group_says = f.messages_to(group.id, 2).await;
    assert!(group_says[1].contains("private message"), "{group_says:?}");
    let private = f.messages_to(admin.id, 2).await;
    assert!(private[1].contains("/oauth/x/start"), "{private:?}");
    f.shutdown().await;
}

#[tokio::test]
async fn a_notification_from_outside_the_scheduler_is_delivered_at_once_and_retried() {
    let f = fixture().await;
    let bob = bob();
    f.tg.push_private_text(&bob, "/start");
    f.messages_to(bob.id, 1).await;
    let now = Utc::now();
    let chat = f
        .app
        .store()
        .upsert_chat(
            ChatPlatform::Telegram,
            &bob.id.to_string(),
            ChatKind::Private,
            None,
            now,
        )
        .await
        .unwrap();
    let note = |text: &str| autopost::store::Notification {
        chat: Some(chat.id),
        user: None,
        kind: autopost::store::NotificationKind::AccountLinked,
        text: text.to_owned(),
        link: None,
    };
    // As the OAuth callback stores it: no scheduler event follows.
    f.app
        .store()
        .enqueue_notification(&note("Linked @team"), now)
        .await
        .unwrap();
    let first = f.messages_to(bob.id, 2).await;
    assert_eq!(first[1..], ["Linked @team"]);
    // Flood control: the notification waits as long as Telegram asks, then goes out.
    f.tg.fail_next("sendMessage", Failure::TooManyRequests { retry_after: 1 });
    let asked_at = Instant::now();
    f.app
        .store()
        .enqueue_notification(&note("Linked @other"), now)
        .await
        .unwrap();
    let both = f.messages_to(bob.id, 3).await;
    assert_eq!(both[1..], ["Linked @team", "Linked @other"]);
    assert!(
        asked_at.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_update_is_handled_once() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let id = f.tg.push_private_text(&bob, "/post tomorrow 9am | once");
    f.messages_to(bob.id, 1).await;
    assert!(f.tg.redeliver(id));
    f.tg.push_private_text(&bob, "/queue");
    let texts = f.messages_to(bob.id, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.messages_to(bob.id, 2).await.len(), 2, "{texts:?}");
    assert_eq!(f.queue_len(bob.id).await, 1);
    f.shutdown().await;
}

#[tokio::test]
async fn an_oversized_image_is_refused_before_download() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(bob.id, ChatKind::Private, bob.id).await;
    let file = f.tg.add_file(PNG.to_vec(), Some(MAX_INPUT_BYTES + 1));
    f.tg.push_message(
        SimMessage::document(&SimChat::private(&bob), &bob, &file, "big.png", "image/png")
            .caption("tomorrow 9am | big"),
    );
    let texts = f.messages_to(bob.id, 1).await;
    assert!(texts[0].contains("limit"), "{texts:?}");
    assert!(f.tg.downloads().is_empty());
    assert_eq!(f.queue_len(bob.id).await, 0);
    f.shutdown().await;
}

#[tokio::test]
async fn a_private_reply_in_a_group_asks_to_press_start_when_refused() {
    let f = fixture().await;
    let group = SimChat::group(-700, "team");
    let stranger = SimUser::new(77, "Dana");
    f.tg.push_group_text(&group, &stranger, "/export");
    let texts = f.messages_to(group.id, 1).await;
    assert!(
        texts[0].contains(&format!("@{BOT}")) && texts[0].contains("Start"),
        "{texts:?}"
    );
    assert!(f.tg.documents().is_empty());
    // Once they pressed Start, the export goes to their private chat as a file, and the
    // group only hears where the answer went.
    f.tg.push_private_text(&stranger, "/start");
    f.messages_to(stranger.id, 1).await;
    f.tg.push_group_text(&group, &stranger, "/export");
    let deadline = Instant::now() + WAIT;
    while f.tg.requests("sendDocument") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.tg.requests("sendDocument"), 1);
    let deadline = Instant::now() + WAIT;
    while f.tg.documents().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let documents = f.tg.documents();
    assert_eq!(documents.len(), 1, "the export file arrived");
    assert_eq!(documents[0].chat_id, stranger.id, "privately");
    let export = String::from_utf8_lossy(&documents[0].bytes);
    assert!(
        export.contains(&format!("\"remote_id\": \"{}\"", stranger.id)),
        "{export}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn polling_honours_retry_after_and_goes_on() {
    let pushed = Instant::now();
    let f = fixture_prepared(false, |tg| {
        tg.fail_next("getUpdates", Failure::TooManyRequests { retry_after: 1 });
    })
    .await;
    let bob = bob();
    f.tg.push_private_text(&bob, "/help");
    let texts = f.messages_to(bob.id, 1).await;
    assert_eq!(texts.len(), 1, "answered after the failures");
    assert!(
        pushed.elapsed() >= Duration::from_secs(1),
        "waited retry_after"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_prompt_even_while_teloxide_waits_after_a_server_error() {
    // teloxide sleeps 10 s inside any call answered with a 5xx before returning it.
    let f = fixture().await;
    f.tg.fail_next("getUpdates", Failure::ServerError);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    f.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn urls_are_scrubbed_from_error_text() {
    let text = "error sending request for url (http://127.0.0.1:1/bot123:secret/getMe): refused";
    let clean = scrub(text);
    assert!(
        !clean.contains("secret") && !clean.contains("http"),
        "{clean}"
    );
    assert!(clean.contains("refused"));
}

#[test]
fn backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() {
    let options = Options {
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        ..Options::default()
    };
    let mut backoff = Backoff::new(&options);
    let waits: Vec<u64> = (0..4).map(|_| backoff.next().as_millis() as u64).collect();
    assert_eq!(waits, [100, 200, 300, 300]);
    backoff.reset();
    assert_eq!(backoff.next(), Duration::from_millis(100));
}
