//! The Telegram front end end to end: the whole app with the bot, in a world of simulated
//! X, Meta and Telegram. Tests wait for facts (a reply, the bot's count of updates taken, the
//! scheduler falling quiet), never for time.

use autopost::domain::{OAuthProvider, PostId};
use autopost_sim::meta::{SimMetaConfig, SimMetaUser, SimPage};
use autopost_sim::telegram::{
    Failure, MemberStatus, SimChat, SimMessage, SimTelegramConfig, SimUser,
};
use autopost_sim::world::{META_APP_ID, PATIENCE, X_CLIENT_ID};
use autopost_sim::x::{SimXConfig, SimXUser};
use autopost_sim::{PNG_1X1 as PNG, World, WorldBuilder};

use super::*;
use crate::commands::ButtonAction;
use tokio::time::Instant;

const TOKEN: &str = "123456:ABC-test-do-not-leak";
const BOT: &str = "autopost_bot";
const WEBHOOK_SECRET: &str = "hook-secret_42";
/// Everyone who writes to the bot in these tests; the consent gate has its own tests.
const AGREED: &[&str] = &[
    "telegram:1",
    "telegram:2",
    "telegram:11",
    "telegram:12",
    "telegram:13",
    "telegram:77",
    "telegram:81",
    "telegram:82",
    "telegram:1001",
];

/// Shorter waits than production, so that the tests stay brisk.
fn options() -> Options {
    Options {
        poll_timeout: Duration::from_secs(1),
        album_quiet: Duration::from_millis(300),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        allowance: Allowance::default(),
        notification_retry: Duration::from_millis(100),
    }
}

/// The whole app as `autopost run` starts it, with this bot as its front end, against a
/// simulated X whose consenting user is `@team`, a simulated Meta user with one Page
/// (`Alice's Bakery`, Instagram `@alices_bakery`), and the simulated Telegram.
struct Fixture {
    world: World,
    /// The bot's count of updates taken and done with.
    taken: watch::Receiver<u64>,
}

async fn fixture() -> Fixture {
    Fixture::start(World::builder(), options(), |_| {}).await
}

async fn webhook_fixture() -> Fixture {
    Fixture::start(
        World::builder().telegram_webhook(WEBHOOK_SECRET),
        options(),
        |_| {},
    )
    .await
}

impl Fixture {
    /// Opens the world from `builder`, lets `prepare` set up the simulations before the bot
    /// connects, then serves and waits until the bot is connected.
    async fn start(builder: WorldBuilder, options: Options, prepare: impl FnOnce(&World)) -> Self {
        let mut x = SimXConfig::public(X_CLIENT_ID);
        x.user = SimXUser::new("2244994945", "team");
        let mut meta = SimMetaConfig::new(META_APP_ID, "meta-app-secret");
        meta.user = SimMetaUser {
            id: "10158000000000001".to_owned(),
            name: "Alice".to_owned(),
            pages: vec![
                SimPage::new("5550001", "Alice's Bakery")
                    .with_instagram("17841400000000001", "alices_bakery"),
            ],
        };
        let (counter, taken) = std::sync::mpsc::channel();
        let mut world = builder
            .x_with(x)
            .meta_with(meta)
            .telegram_with(SimTelegramConfig::new(TOKEN, BOT))
            .front_end(move |app| {
                let bot = TelegramFrontEnd::new(app, options)?;
                let shown = format!("{bot:?}");
                assert!(!shown.contains("ABC-test"), "Debug shows no token: {shown}");
                let _ = counter.send(bot.taken_updates());
                Some(bot)
            })
            .open()
            .await
            .unwrap();
        prepare(&world);
        // The consent gate has its own tests; the people these tests use already agreed.
        world.agree(AGREED).await.unwrap();
        world.serve().unwrap();
        let taken = taken.recv().unwrap();
        // Connected once the command menu is published, the last step of starting.
        let tg = world.telegram().clone();
        world
            .wait_until("the bot to connect", async || !tg.commands().is_empty())
            .await
            .unwrap();
        Self { world, taken }
    }

    fn tg(&self) -> &autopost_sim::telegram::SimTelegram {
        self.world.telegram()
    }

    /// Links the simulated X account `@team` to the Telegram chat `chat` through the real
    /// OAuth round trip, as `owner`; returns once the chat was told. The chat is one the bot
    /// may write to (in a private chat: the person pressed Start).
    async fn link_x(&self, chat: &SimChat, owner: &SimUser) {
        self.link(OAuthProvider::X, chat, owner).await;
    }

    /// Links the simulated Page and its Instagram account to `chat`, as [`Fixture::link_x`].
    async fn link_meta(&self, chat: &SimChat, owner: &SimUser) {
        self.link(OAuthProvider::Meta, chat, owner).await;
    }

    async fn link(&self, provider: OAuthProvider, chat: &SimChat, owner: &SimUser) {
        self.tg().add_chat(chat);
        let before = linked_notices(self.tg(), chat.id).len();
        self.world
            .link(
                provider,
                &format!("telegram:{}", chat.id),
                &format!("telegram:{}", owner.id),
            )
            .await
            .unwrap();
        self.wait_for_linked(chat.id, before).await;
    }

    /// Waits until the chat was told of one more link than `before`.
    async fn wait_for_linked(&self, chat: i64, before: usize) {
        let tg = self.tg().clone();
        self.world
            .wait_until("the chat to be told of the link", async || {
                linked_notices(&tg, chat).len() > before
            })
            .await
            .unwrap();
    }

    /// The pending posts of the Telegram chat `chat`, as `person` sees them.
    async fn queue(&self, chat: i64, person: i64) -> Vec<autopost::posting::QueuedPost> {
        let actor = self
            .world
            .actor(&format!("telegram:{chat}"), &format!("telegram:{person}"))
            .await
            .unwrap();
        self.world.app().queue(actor.chat).await.unwrap()
    }

    /// What the bot said in `chat`, once at least `n` messages arrived; the "Linked …"
    /// notices of linking are left out.
    async fn messages_to(&self, chat: i64, n: usize) -> Vec<String> {
        let tg = self.tg().clone();
        let said = move || -> Vec<String> {
            tg.sent_messages()
                .into_iter()
                .filter(|m| m.chat_id == chat && !m.text.starts_with("Linked "))
                .map(|m| m.text)
                .collect()
        };
        let _ = self
            .world
            .wait_until("the bot's messages", async || said().len() >= n)
            .await;
        said()
    }

    /// `from` sends an album of `pictures` PNGs to the bot privately, captioned `caption`.
    fn push_album(&self, from: &SimUser, pictures: usize, caption: &str) {
        let files: Vec<_> = (0..pictures)
            .map(|_| self.tg().add_file(PNG.to_vec(), None))
            .collect();
        self.tg()
            .push_album(&SimChat::private(from), from, &files, Some(caption));
    }

    /// Waits until the bot has taken and finished `updates` updates in all.
    async fn settle(&self, updates: u64) {
        let mut taken = self.taken.clone();
        tokio::time::timeout(PATIENCE, taken.wait_for(|taken| *taken >= updates))
            .await
            .expect("the bot takes every update")
            .unwrap();
    }

    async fn shutdown(mut self) {
        self.world.shutdown().await.unwrap();
    }
}

/// What the chat was told of links made to it ("Linked …").
fn linked_notices(tg: &autopost_sim::telegram::SimTelegram, chat: i64) -> Vec<String> {
    tg.sent_messages()
        .into_iter()
        .filter(|m| m.chat_id == chat && m.text.starts_with("Linked "))
        .map(|m| m.text)
        .collect()
}

fn bob() -> SimUser {
    SimUser::new(1001, "Bob")
}

#[tokio::test]
async fn start_publishes_every_verb_as_a_command_with_its_usage() {
    let f = fixture().await;
    let calls = f.tg().commands();
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
    let post = calls[0]
        .commands
        .iter()
        .find(|c| c.command == "post")
        .unwrap();
    assert!(
        post.description.ends_with("/post WHEN | TEXT"),
        "{}",
        post.description
    );
    f.shutdown().await;
}

#[tokio::test]
async fn a_private_photo_with_a_caption_is_published_with_its_image_and_notified() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let file = f.tg().add_file(PNG.to_vec(), None);
    f.tg().push_photo(
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
    let x = f.world.x();
    let tweets = x.wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "hi");
    assert_eq!(tweets[0].media_ids.len(), 1);
    assert_eq!(f.tg().downloads().len(), 1);
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
    f.world.wait_for_quiet().await.unwrap();
    assert_eq!(x.tweets().len(), 1, "exactly one tweet");
    f.shutdown().await;
}

#[tokio::test]
async fn two_members_of_a_group_share_one_queue() {
    let f = fixture().await;
    let group = SimChat::group(-500, "team");
    let (alice, bob) = (SimUser::new(1, "Alice"), SimUser::new(2, "Bob"));
    f.link_x(&group, &alice).await;
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | from alice");
    f.messages_to(group.id, 1).await;
    f.tg().push_group_text(
        &group,
        &bob,
        &format!("/post@{BOT} tomorrow 10am | from bob"),
    );
    f.messages_to(group.id, 2).await;
    f.tg().push_group_text(&group, &bob, "/queue");
    let texts = f.messages_to(group.id, 3).await;
    let queue = &texts[2];
    assert!(
        queue.contains("from alice") && queue.contains("from bob"),
        "{queue}"
    );
    assert_eq!(f.queue(group.id, bob.id).await.len(), 2);
    f.tg()
        .push_group_text(&group, &bob, "just chatting about lunch");
    f.settle(4).await;
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
    f.link_x(&group, &alice).await;
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | first");
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | second");
    f.messages_to(group.id, 2).await;
    let ids: Vec<i64> = f
        .queue(group.id, alice.id)
        .await
        .iter()
        .map(|p| p.post.0)
        .collect();
    assert_eq!(ids.len(), 2);
    f.tg()
        .push_group_text(&group, &bob, &format!("/cancel {}", ids[0]));
    let refused = f.messages_to(group.id, 3).await;
    assert!(refused[2].contains("admin"), "{}", refused[2]);
    assert_eq!(f.queue(group.id, bob.id).await.len(), 2);
    f.tg()
        .set_member_status(group.id, carol.id, MemberStatus::Administrator);
    f.tg()
        .push_group_text(&group, &carol, &format!("/cancel {}", ids[0]));
    f.messages_to(group.id, 4).await;
    assert_eq!(f.queue(group.id, carol.id).await.len(), 1);
    // The button under the second confirmation: Bob may not, and only he hears so.
    let data = ButtonAction::Cancel(PostId(ids[1])).callback_data();
    let under = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| {
            m.reply_markup
                .as_ref()
                .is_some_and(|keyboard| keyboard.to_string().contains(&format!("\"{data}\"")))
        })
        .expect("the second post's confirmation carries its Cancel button")
        .message_id;
    f.tg().push_callback(&bob, group.id, under, &data);
    let answered = f.tg().wait_for_answered_callbacks(1, PATIENCE).await;
    assert!(answered[0].show_alert, "a refusal pops up for the presser");
    assert!(
        answered[0]
            .text
            .as_deref()
            .is_some_and(|t| t.contains("admin"))
    );
    assert_eq!(f.queue(group.id, bob.id).await.len(), 1);
    let edits_of = |message: i64| -> Vec<autopost_sim::telegram::EditedMessage> {
        f.tg()
            .edited_messages()
            .into_iter()
            .filter(|e| e.message_id == message)
            .collect()
    };
    assert!(edits_of(under).is_empty(), "the confirmation stays");
    // The first post was cancelled with /cancel: its confirmation was brought up to date,
    // without the buttons that would act on a post that is gone.
    let first = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.text.contains("Scheduled post") && m.text.contains(&format!("#{}", ids[0])))
        .expect("the first post's confirmation")
        .message_id;
    let tg = f.tg().clone();
    f.world
        .wait_until("the first confirmation to be edited", async || {
            tg.edited_messages().iter().any(|e| e.message_id == first)
        })
        .await
        .unwrap();
    let no_buttons = |edit: &autopost_sim::telegram::EditedMessage| {
        edit.reply_markup
            .as_ref()
            .is_none_or(|m| m["inline_keyboard"].as_array().is_some_and(Vec::is_empty))
    };
    let stale = edits_of(first);
    assert!(stale[0].text.contains("Cancelled post"), "{stale:?}");
    assert!(no_buttons(&stale[0]), "{stale:?}");
    // Its author may: the confirmation becomes the outcome, without buttons.
    f.tg().push_callback(&alice, group.id, under, &data);
    let answered = f.tg().wait_for_answered_callbacks(2, PATIENCE).await;
    assert!(!answered[1].show_alert);
    assert!(answered[1].text.as_deref().is_some_and(|t| !t.is_empty()));
    let tg = f.tg().clone();
    f.world
        .wait_until("the confirmation to be edited", async || {
            tg.edited_messages().iter().any(|e| e.message_id == under)
        })
        .await
        .unwrap();
    let edited = edits_of(under);
    assert!(
        edited
            .iter()
            .all(|e| e.text.contains("Cancelled post") && no_buttons(e)),
        "{edited:?}"
    );
    assert_eq!(f.queue(group.id, alice.id).await.len(), 0);
    assert_eq!(
        f.messages_to(group.id, 4).await.len(),
        4,
        "no new message for a button"
    );
    // A forged or stale button is still answered.
    f.tg().push_callback(&bob, group.id, under, "junk");
    assert_eq!(
        f.tg().wait_for_answered_callbacks(3, PATIENCE).await.len(),
        3
    );
    f.shutdown().await;
}

#[tokio::test]
async fn bad_input_in_a_private_chat_gets_helpful_replies_and_queues_nothing() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    f.tg().push_private_text(&bob, "/post yesterday 9am | hi");
    let past = f.messages_to(bob.id, 1).await;
    assert!(past[0].contains("passed"), "{past:?}");
    f.tg().push_private_text(&bob, "in 1 hour | \u{200B}");
    let invisible = f.messages_to(bob.id, 2).await;
    assert!(invisible[1].contains("invisible"), "{invisible:?}");
    let file = f.tg().add_file(PNG.to_vec(), None);
    f.tg().push_photo(
        &SimChat::private(&bob),
        &bob,
        &file,
        Some("tomorrow 9am hello"),
    );
    let no_bar = f.messages_to(bob.id, 3).await;
    assert!(no_bar[2].contains('|'), "{no_bar:?}");
    f.tg().push_private_text(&bob, "/post someday soon | hi");
    let unknown = f.messages_to(bob.id, 4).await;
    assert!(
        unknown[3].contains("tomorrow 9am"),
        "an example of a time: {unknown:?}"
    );
    f.tg()
        .push_photo(&SimChat::private(&bob), &bob, &file, Some("Launch day!"));
    let no_time = f.messages_to(bob.id, 5).await;
    assert!(
        no_time[4].contains("WHEN | TEXT") || no_time[4].contains('|'),
        "{no_time:?}"
    );
    assert!(f.queue(bob.id, bob.id).await.is_empty());
    assert!(
        f.tg().downloads().is_empty(),
        "nothing downloaded for a refused post"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn post_text_loses_control_characters_and_an_invisible_one_is_refused() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    // Zero-width and format characters survive the splitter's trim; the core refuses them.
    f.tg()
        .push_private_text(&bob, "/post tomorrow 9am | \u{200B}\u{FEFF}\u{2060}");
    let refused = f.messages_to(bob.id, 1).await;
    assert!(
        refused[0].contains("only invisible characters"),
        "{refused:?}"
    );
    assert!(f.queue(bob.id, bob.id).await.is_empty(), "nothing queued");
    f.tg()
        .push_private_text(&bob, "/post tomorrow 9am | hello\u{0}\u{7} world\u{202E}");
    let accepted = f.messages_to(bob.id, 2).await;
    assert!(accepted[1].contains("@team"), "{accepted:?}");
    let queue = f.queue(bob.id, bob.id).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].body, "hello world");
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_of_three_photos_becomes_one_post_with_three_images() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    f.push_album(&bob, 3, "in 1 second | three pictures");
    let tweets = f.world.x().wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].media_ids.len(), 3);
    assert_eq!(tweets[0].text, "three pictures");
    assert_eq!(f.tg().downloads().len(), 3);
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_becomes_one_instagram_carousel_and_one_facebook_multi_photo_post() {
    let f = fixture().await;
    let bob = bob();
    f.link_meta(&SimChat::private(&bob), &bob).await;
    f.push_album(&bob, 3, "in 1 second | three cakes");
    let confirmation = f.messages_to(bob.id, 1).await;
    assert!(
        confirmation[0].contains("Alice's Bakery") && confirmation[0].contains("@alices_bakery"),
        "both targets confirmed: {confirmation:?}"
    );
    // Both targets publish; one status message shows them, edited as each finishes.
    let tg = f.tg().clone();
    f.world
        .wait_until("both outcomes on the status message", async || {
            let status = tg
                .sent_messages()
                .into_iter()
                .find(|m| m.chat_id == bob.id && m.text.starts_with("<b>Post </b>"));
            status.is_some_and(|status| {
                let current = tg
                    .edited_messages()
                    .into_iter()
                    .rfind(|e| e.message_id == status.message_id)
                    .map_or(status.text, |e| e.text);
                current.matches("✅").count() == 2
            })
        })
        .await
        .unwrap();
    let notified = f.messages_to(bob.id, 2).await;
    assert_eq!(notified.len(), 2, "one status message: {notified:?}");
    let meta = f.world.meta();
    let feed = meta.feed_posts();
    assert_eq!(feed.len(), 1, "one Facebook post: {feed:?}");
    assert_eq!(feed[0].message.as_deref(), Some("three cakes"));
    assert_eq!(feed[0].photo_ids.len(), 3, "with the three photos");
    let unattached = meta.photos().iter().filter(|p| p.published).count();
    assert_eq!(unattached, 0, "no photo posted on its own");
    let posts = meta.ig_media();
    assert_eq!(posts.len(), 1, "one Instagram post: {posts:?}");
    let containers = meta.containers();
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
    assert_eq!(f.tg().downloads().len(), 3, "each part downloaded once");
    f.shutdown().await;
}

#[tokio::test]
async fn webhook_mode_registers_the_hook_and_handles_updates_with_the_right_secret() {
    let f = webhook_fixture().await;
    let hook = f.tg().webhook().expect("setWebhook was called");
    let url = f.world.url().join("telegram/webhook").unwrap();
    assert_eq!(hook.url, url.as_str());
    assert_eq!(hook.secret_token.as_deref(), Some(WEBHOOK_SECRET));
    assert_eq!(
        hook.allowed_updates,
        Some(vec!["message".to_owned(), "callback_query".to_owned()])
    );
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let id = f.tg().push_private_text(&bob, "tomorrow 9am | by webhook");
    let update = f.tg().update(id).unwrap();
    let status = f
        .tg()
        .deliver_webhook(&url, update.clone(), Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 200);
    let replies = f.messages_to(bob.id, 1).await;
    assert!(replies[0].contains("@team"), "confirmed: {replies:?}");
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 1);
    // Telegram resends when unsure; the second delivery changes nothing.
    let again = f
        .tg()
        .deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(again, 200);
    // A resend that arrives together with the first copy is handled once too.
    let id = f
        .tg()
        .push_private_text(&bob, "tomorrow 10am | twice at once");
    let twice = f.tg().update(id).unwrap();
    let (a, b) = tokio::join!(
        f.tg()
            .deliver_webhook(&url, twice.clone(), Some(WEBHOOK_SECRET)),
        f.tg().deliver_webhook(&url, twice, Some(WEBHOOK_SECRET)),
    );
    assert_eq!((a, b), (200.try_into().unwrap(), 200.try_into().unwrap()));
    f.settle(4).await;
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 2);
    assert_eq!(f.messages_to(bob.id, 2).await.len(), 2);
    assert_eq!(
        f.tg().requests("getUpdates"),
        0,
        "no polling beside the webhook"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn webhook_requests_without_the_right_secret_get_401_and_change_nothing() {
    let f = webhook_fixture().await;
    let url = f.world.url().join("telegram/webhook").unwrap();
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let id = f.tg().push_private_text(&bob, "tomorrow 9am | forged");
    let update = f.tg().update(id).unwrap();
    for secret in [None, Some("wrong"), Some(""), Some("hook-secret_4")] {
        let status = f.tg().deliver_webhook(&url, update.clone(), secret).await;
        assert_eq!(status, 401, "secret {secret:?}");
    }
    // The refused update was not marked as seen: the genuine delivery is the first the bot
    // takes, and it works.
    let status = f
        .tg()
        .deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 200);
    f.settle(1).await;
    assert_eq!(
        *f.taken.borrow(),
        1,
        "only the genuine delivery reached the bot"
    );
    assert_eq!(f.messages_to(bob.id, 1).await.len(), 1);
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 1);
    f.shutdown().await;
}

#[tokio::test]
async fn the_webhook_route_does_not_exist_while_polling() {
    let f = fixture().await;
    let url = f.world.url().join("telegram/webhook").unwrap();
    let bob = bob();
    let id = f.tg().push_private_text(&bob, "/help");
    let update = f.tg().update(id).unwrap();
    let status = f
        .tg()
        .deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 404);
    assert!(f.tg().webhook().is_none());
    f.shutdown().await;
}

#[tokio::test]
async fn a_group_upgraded_to_a_supergroup_keeps_its_queue_and_accounts() {
    let f = fixture().await;
    let group = SimChat::group(-500, "team");
    let alice = SimUser::new(1, "Alice");
    f.link_x(&group, &alice).await;
    f.tg().add_chat(&SimChat::supergroup(-100_500, "team"));
    f.tg().fail_next(
        "sendMessage",
        Failure::MigratedToSupergroup { chat_id: -100_500 },
    );
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | still here");
    let replies = f.messages_to(-100_500, 1).await;
    assert!(
        replies[0].contains("@team"),
        "answered in the supergroup: {replies:?}"
    );
    assert_eq!(
        f.queue(-100_500, alice.id).await.len(),
        1,
        "the queue moved along"
    );
    // The service message that follows finds the move already done.
    f.tg().push_raw(serde_json::json!({
        "message": {
            "message_id": 77,
            "date": 1_700_000_000,
            "chat": {"id": -500, "type": "group", "title": "team"},
            "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
            "migrate_to_chat_id": -100_500
        }
    }));
    f.tg().push_group_text(
        &SimChat::supergroup(-100_500, "team"),
        &alice,
        "/post tomorrow 10am | and more",
    );
    f.messages_to(-100_500, 2).await;
    assert_eq!(f.queue(-100_500, alice.id).await.len(), 2);
    f.shutdown().await;
}

#[tokio::test]
async fn the_upgrade_service_message_moves_the_group_to_its_supergroup() {
    let f = fixture().await;
    let alice = SimUser::new(1, "Alice");
    f.link_x(&SimChat::group(-600, "team"), &alice).await;
    let supergroup = SimChat::supergroup(-100_600, "team");
    f.tg().add_chat(&supergroup);
    f.tg().push_raw(serde_json::json!({
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": -100_600, "type": "supergroup", "title": "team"},
            "from": {"id": 1, "is_bot": false, "first_name": "Alice"},
            "migrate_from_chat_id": -600
        }
    }));
    // Updates are handled concurrently: let the service message be done with first.
    f.settle(1).await;
    f.tg().push_group_text(&supergroup, &alice, "/accounts");
    let replies = f.messages_to(-100_600, 1).await;
    assert!(
        replies[0].contains("@team"),
        "the accounts came along: {replies:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_still_gathering_at_shutdown_is_handled_before_the_bot_stops() {
    // Albums wait an hour for more parts here: only the shutdown can hand this one on.
    let patient = Options {
        album_quiet: Duration::from_secs(3600),
        ..options()
    };
    let f = Fixture::start(World::builder(), patient, |_| {}).await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    f.push_album(&bob, 2, "tomorrow 9am | two pictures");
    f.settle(2).await;
    assert!(f.messages_to(bob.id, 0).await.is_empty(), "still gathering");
    let tg = f.tg().clone();
    f.shutdown().await;
    let confirmations: Vec<_> = tg
        .sent_messages()
        .into_iter()
        .filter(|m| m.chat_id == bob.id && !m.text.starts_with("Linked "))
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
    f.tg()
        .set_member_status(group.id, admin.id, MemberStatus::Administrator);
    for person in [&member, &admin] {
        f.tg().push_private_text(person, "/start");
        f.messages_to(person.id, 1).await;
    }
    f.tg().push_group_text(&group, &member, "/connect x");
    let refused = f.messages_to(group.id, 1).await;
    assert!(
        refused[0].contains("Only a group administrator"),
        "{refused:?}"
    );
    f.tg().push_group_text(&group, &admin, "/connect x");
    let group_says = f.messages_to(group.id, 2).await;
    assert!(group_says[1].contains("private message"), "{group_says:?}");
    assert_eq!(f.messages_to(member.id, 1).await.len(), 1, "no link sent");
    let private = f.messages_to(admin.id, 2).await;
    assert!(private[1].contains("/oauth/x/start"), "{private:?}");
    f.shutdown().await;
}

#[tokio::test]
async fn notifications_stored_outside_the_scheduler_are_delivered_at_once_and_retried() {
    let f = fixture().await;
    let bob = bob();
    f.tg().push_private_text(&bob, "/start");
    f.messages_to(bob.id, 1).await;
    // The OAuth callback stores the "Linked …" notice: no scheduler event follows it.
    f.link_x(&SimChat::private(&bob), &bob).await;
    assert_eq!(
        linked_notices(f.tg(), bob.id),
        ["Linked @team (X) to this chat"]
    );
    // Flood control: the notice waits as long as Telegram asks, then goes out.
    f.tg()
        .fail_next("sendMessage", Failure::TooManyRequests { retry_after: 1 });
    let asked_at = Instant::now();
    f.link_meta(&SimChat::private(&bob), &bob).await;
    assert!(
        asked_at.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert_eq!(
        linked_notices(f.tg(), bob.id),
        [
            "Linked @team (X) to this chat",
            "Linked Alice's Bakery (Facebook Page) and @alices_bakery (Instagram) to this chat"
        ]
    );
    f.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_update_is_handled_once() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let id = f.tg().push_private_text(&bob, "/post tomorrow 9am | once");
    f.messages_to(bob.id, 1).await;
    assert!(f.tg().redeliver(id));
    f.tg().push_private_text(&bob, "/queue");
    f.settle(3).await;
    let texts = f.messages_to(bob.id, 2).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 1);
    f.shutdown().await;
}

#[tokio::test]
async fn an_oversized_image_is_refused_before_download() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let file = f.tg().add_file(PNG.to_vec(), Some(MAX_INPUT_BYTES + 1));
    f.tg().push_message(
        SimMessage::document(&SimChat::private(&bob), &bob, &file, "big.png", "image/png")
            .caption("tomorrow 9am | big"),
    );
    let texts = f.messages_to(bob.id, 1).await;
    assert!(texts[0].contains("limit"), "{texts:?}");
    assert!(f.tg().downloads().is_empty());
    assert!(f.queue(bob.id, bob.id).await.is_empty());
    f.shutdown().await;
}

#[tokio::test]
async fn a_private_reply_refused_in_a_group_links_to_the_private_chat_whose_start_carries_on() {
    let f = fixture().await;
    let group = SimChat::group(-700, "team");
    let stranger = SimUser::new(77, "Dana");
    f.tg().push_group_text(&group, &stranger, "/export");
    let texts = f.messages_to(group.id, 1).await;
    assert!(
        texts[0].contains(&format!("href=\"https://t.me/{BOT}?start=export\""))
            && texts[0].contains("Dana")
            && texts[0].contains("Start"),
        "{texts:?}"
    );
    assert!(f.tg().documents().is_empty());
    assert_eq!(
        f.tg().requests("sendDocument"),
        1,
        "the file was offered to the private chat, which Telegram refused"
    );
    // The link opens the private chat; its Start button sends `/start export`, which carries
    // on with the export there.
    f.tg().push_private_text(&stranger, "/start export");
    let tg = f.tg().clone();
    f.world
        .wait_until("the export file", async || !tg.documents().is_empty())
        .await
        .unwrap();
    let documents = f.tg().documents();
    assert_eq!(documents.len(), 1, "the export file arrived");
    assert_eq!(documents[0].chat_id, stranger.id, "privately");
    let export = String::from_utf8_lossy(&documents[0].bytes);
    assert!(
        export.contains(&format!("\"remote_id\": \"{}\"", stranger.id)),
        "{export}"
    );
    // Asked again in the group, the answer goes privately and the group hears where.
    f.tg().push_group_text(&group, &stranger, "/export");
    let tg = f.tg().clone();
    f.world
        .wait_until("the second file", async || tg.documents().len() == 2)
        .await
        .unwrap();
    let group_says = f.messages_to(group.id, 2).await;
    assert!(group_says[1].contains("private message"), "{group_says:?}");
    // A command that must be asked again in the group says so when Start is pressed.
    f.tg().push_private_text(&stranger, "/start connect");
    let private = f.messages_to(stranger.id, 1).await;
    assert!(
        private[0].contains("<code>/connect</code> again in the group"),
        "{private:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn start_up_sets_the_description_and_short_description_within_telegrams_limits() {
    let f = fixture().await;
    let descriptions = f.tg().descriptions();
    assert_eq!(descriptions.len(), 2, "{descriptions:?}");
    let long = descriptions.iter().find(|d| !d.short).unwrap();
    let short = descriptions.iter().find(|d| d.short).unwrap();
    assert!(long.text.contains("/post") && long.text.chars().count() <= 512);
    assert!(
        !short.text.is_empty()
            && short.text.chars().count() <= autopost_sim::telegram::MAX_SHORT_DESCRIPTION_CHARS
    );
    assert_eq!(long.language_code, None, "for every language");
    f.shutdown().await;
}

#[tokio::test]
async fn export_images_sends_a_zip_of_the_data_and_the_pictures_privately() {
    let f = fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let file = f.tg().add_file(PNG.to_vec(), None);
    f.tg().push_photo(
        &SimChat::private(&bob),
        &bob,
        &file,
        Some("tomorrow 9am | hi"),
    );
    f.messages_to(bob.id, 1).await;
    f.tg().push_private_text(&bob, "/export images");
    let tg = f.tg().clone();
    f.world
        .wait_until("the export zip", async || !tg.documents().is_empty())
        .await
        .unwrap();
    let documents = f.tg().documents();
    assert_eq!(documents[0].chat_id, bob.id);
    assert_eq!(
        documents[0].file_name.as_deref(),
        Some("autopost-export.zip")
    );
    let zip = &documents[0].bytes;
    assert!(zip.starts_with(b"PK\x03\x04"), "a zip");
    let has = |name: &[u8]| zip.windows(name.len()).any(|w| w == name);
    assert!(
        has(b"export.json") && has(b"images/1-1."),
        "{:?}",
        documents[0]
    );
    assert!(
        documents[0]
            .caption
            .as_deref()
            .is_some_and(|c| c.contains("pictures")),
        "{:?}",
        documents[0].caption
    );
    f.tg().push_private_text(&bob, "/export everything");
    let refused = f.messages_to(bob.id, 2).await;
    assert!(refused[1].contains("/export images"), "{refused:?}");
    assert_eq!(f.tg().documents().len(), 1, "nothing sent for a bad word");
    f.shutdown().await;
}

#[tokio::test]
async fn polling_honours_retry_after_and_goes_on() {
    let started = Instant::now();
    let f = Fixture::start(World::builder(), options(), |world| {
        world
            .telegram()
            .fail_next("getUpdates", Failure::TooManyRequests { retry_after: 1 });
    })
    .await;
    let bob = bob();
    f.tg().push_private_text(&bob, "/help");
    let texts = f.messages_to(bob.id, 1).await;
    assert_eq!(texts.len(), 1, "answered after the failures");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited retry_after"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_while_teloxide_sleeps_after_a_server_error() {
    // teloxide sleeps 10 s inside any call answered with a 5xx before returning it; the
    // poller must not wait for that. A stop that waited would miss this 5 s deadline, which
    // is the behaviour under test rather than a measure of speed.
    let f = fixture().await;
    f.tg().fail_next("getUpdates", Failure::ServerError);
    let tg = f.tg().clone();
    let before = tg.requests("getUpdates");
    // The first getUpdates to arrive after the failure was armed is answered with it (one in
    // flight already was counted before).
    f.world
        .wait_until("the failing poll", async || {
            tg.requests("getUpdates") > before
        })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), f.shutdown())
        .await
        .expect("the bot stops without waiting out teloxide's 10 s");
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

#[tokio::test]
async fn a_newcomer_gets_the_notice_with_the_agreement_button_and_no_link_until_they_press_it() {
    let f = fixture().await;
    let dana = SimUser::new(5150, "Dana");
    let private = SimChat::private(&dana);
    f.tg().push_private_text(&dana, "/connect x");
    f.messages_to(private.id, 1).await;
    let notice = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.chat_id == private.id)
        .unwrap();
    assert!(notice.text.contains("18 or older"), "{}", notice.text);
    assert!(
        !notice.text.contains("/oauth/"),
        "no link before agreeing: {}",
        notice.text
    );
    let data = ButtonAction::AgreePolicy.callback_data();
    let keyboard = notice
        .reply_markup
        .clone()
        .expect("the notice carries a button");
    assert_eq!(
        keyboard["inline_keyboard"][0][0]["callback_data"],
        data.as_str()
    );
    assert_eq!(
        keyboard["inline_keyboard"][0][0]["text"],
        crate::commands::AGREE_LABEL
    );
    f.tg()
        .push_callback(&dana, private.id, notice.message_id, &data);
    f.tg().wait_for_answered_callbacks(1, PATIENCE).await;
    let thanks = f.messages_to(private.id, 2).await.remove(1);
    assert!(thanks.contains("Thank you"), "{thanks}");
    f.tg().push_private_text(&dana, "/connect x");
    let link = f.messages_to(private.id, 3).await.remove(2);
    assert!(link.contains("/oauth/x/start"), "{link}");
}

#[tokio::test]
async fn meta_callbacks_are_told_in_the_chat_the_accounts_posted_for() {
    let f = fixture().await;
    let bob = bob();
    f.link_meta(&SimChat::private(&bob), &bob).await;
    let call_back = async |path: &str, signed_request: String| {
        reqwest::Client::new()
            .post(f.world.url().join(path).unwrap())
            .form(&[("signed_request", signed_request)])
            .send()
            .await
            .unwrap()
            .status()
    };
    // The person removes the app at Facebook; Meta calls back and the chat hears of it.
    let removed = f.world.meta().remove_app();
    assert_eq!(call_back("meta/deauthorize", removed).await, 200);
    assert_eq!(
        f.messages_to(bob.id, 1).await,
        [
            "Alice's Bakery (Facebook Page) and @alices_bakery (Instagram) can no longer post for \
             this chat: their owner removed autopost in their Facebook settings. Queued posts will \
             not be published there; to post there again, link them with /connect facebook"
        ]
    );
    // Then they ask for their data to be deleted.
    let deletion = f.world.meta().signed_request();
    assert_eq!(call_back("meta/data-deletion", deletion).await, 200);
    let said = f.messages_to(bob.id, 2).await;
    assert!(
        said[1].starts_with(
            "At their owner's request through Facebook, autopost erased 2 Facebook or Instagram \
             accounts that posted for this chat"
        ),
        "{said:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn while_the_disk_is_full_every_message_hears_it_was_not_taken_and_nothing_is_half_stored() {
    let logs = autopost_sim::CapturedLogs::default();
    let subscriber = logs
        .subscriber("warn", autopost::config::LogFormat::Text)
        .unwrap();
    // This test's runtime, and with it the whole app, runs on this one thread.
    let _logging = tracing::subscriber::set_default(subscriber);
    let options = Options {
        // One person sends many posts in a row here.
        allowance: Allowance {
            burst: 1_000,
            per_second: 1_000.0,
        },
        ..options()
    };
    let f = Fixture::start(World::builder().growth_switch(), options, |_| {}).await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let not_taken = "cannot store anything right now; your message was not taken";
    f.tg()
        .push_private_text(&bob, "/post tomorrow 9am | before the disk filled");
    let said = f.messages_to(bob.id, 1).await;
    assert!(said[0].contains("Scheduled"), "{said:?}");

    f.world.stop_database_growth();
    // Posts keep coming while the disk fills: each is taken whole or refused whole, and the
    // database's last free room is soon used up.
    let filler = "words to fill the disk with ".repeat(9);
    let mut refused = false;
    for n in 0..300 {
        let queued = f.queue(bob.id, bob.id).await.len();
        f.tg()
            .push_private_text(&bob, &format!("/post tomorrow 10am | {n} {filler}"));
        let said = f.messages_to(bob.id, n + 2).await;
        let answer = &said[n + 1];
        if answer.contains(not_taken) {
            assert_eq!(
                f.queue(bob.id, bob.id).await.len(),
                queued,
                "a refused post leaves no row"
            );
            refused = true;
            break;
        }
        assert!(answer.contains("Scheduled"), "{answer}");
    }
    assert!(refused, "the database filled up");

    // Once not even the update can be recorded, every message is still answered. Most of
    // the update log's room goes at once; the last of it to messages that keep coming.
    let app = f.world.app().clone();
    let long_id = "x".repeat(900);
    let mut recorded = 0;
    while app
        .first_deliveries(
            ChatPlatform::Telegram,
            &[&format!("{recorded}{long_id}")],
            chrono::Utc::now(),
        )
        .await
        .is_ok()
    {
        recorded += 1;
        assert!(recorded < 2_000, "the update log never filled");
    }
    let mut refused = false;
    for _ in 0..300 {
        let before = f.messages_to(bob.id, 0).await.len();
        // `/queue` writes nothing but its update id.
        f.tg().push_private_text(&bob, "/queue");
        let said = f.messages_to(bob.id, before + 1).await;
        if said.last().unwrap().contains(not_taken) {
            refused = true;
            break;
        }
    }
    assert!(refused, "the update log filled up");
    let before = f.messages_to(bob.id, 0).await.len();
    let logged = logs.text();
    let line = logged
        .lines()
        .find(|l| l.contains("free disk space"))
        .unwrap_or_else(|| panic!("no line for the operator: {logged}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(!logged.contains("Something went wrong"), "{logged}");

    // Space is freed: the same message is taken again.
    f.world.resume_database_growth();
    let queued = f.queue(bob.id, bob.id).await.len();
    f.tg()
        .push_private_text(&bob, "/post tomorrow 11am | after the disk was freed");
    let said = f.messages_to(bob.id, before + 1).await;
    assert!(said.last().unwrap().contains("Scheduled"), "{said:?}");
    assert_eq!(f.queue(bob.id, bob.id).await.len(), queued + 1);
    f.shutdown().await;
}

#[tokio::test]
async fn target_toggles_edit_the_confirmation_in_place_and_a_refusal_pops_up_for_the_presser() {
    let f = fixture().await;
    let group = SimChat::group(-650, "team");
    let (alice, bob) = (SimUser::new(11, "Alice"), SimUser::new(12, "Bob"));
    f.link_x(&group, &alice).await;
    f.link_meta(&group, &alice).await;
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | toggled");
    let confirmation = f.messages_to(group.id, 1).await;
    assert!(
        confirmation[0].contains("@alices_bakery (Instagram) left out"),
        "{}",
        confirmation[0]
    );
    let actor = f
        .world
        .actor(&format!("telegram:{}", group.id), "telegram:11")
        .await
        .unwrap();
    let accounts = f.world.app().accounts(actor.chat).await.unwrap();
    let id = |provider| accounts.iter().find(|a| a.provider == provider).unwrap().id;
    let post = f.queue(group.id, alice.id).await[0].post;
    let toggle = |provider| ButtonAction::ToggleTarget(post, id(provider)).callback_data();
    let under = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| {
            m.reply_markup.as_ref().is_some_and(|keyboard| {
                keyboard
                    .to_string()
                    .contains(&toggle(autopost::domain::Provider::X))
            })
        })
        .expect("the confirmation carries a toggle per account")
        .message_id;

    f.tg().push_callback(
        &bob,
        group.id,
        under,
        &toggle(autopost::domain::Provider::X),
    );
    let answered = f.tg().wait_for_answered_callbacks(1, PATIENCE).await;
    assert!(answered[0].show_alert, "only the presser hears the refusal");
    f.tg().push_callback(
        &alice,
        group.id,
        under,
        &toggle(autopost::domain::Provider::Instagram),
    );
    let answered = f.tg().wait_for_answered_callbacks(2, PATIENCE).await;
    assert!(answered[1].show_alert);
    assert!(
        answered[1]
            .text
            .as_deref()
            .is_some_and(|t| t.contains("needs at least one image")),
        "{answered:?}"
    );
    assert!(f.tg().edited_messages().is_empty(), "refusals leave it");

    f.tg().push_callback(
        &alice,
        group.id,
        under,
        &toggle(autopost::domain::Provider::X),
    );
    let tg = f.tg().clone();
    f.world
        .wait_until("the confirmation to be edited", async || {
            !tg.edited_messages().is_empty()
        })
        .await
        .unwrap();
    let edited = &f.tg().edited_messages()[0];
    assert_eq!(edited.message_id, under);
    assert!(!edited.text.contains("(X):"), "{}", edited.text);
    assert!(edited.text.contains("(Facebook Page):"), "{}", edited.text);
    let keyboard = edited.reply_markup.as_ref().unwrap().to_string();
    assert!(keyboard.contains("☐ @team (X)"), "{keyboard}");
    assert_eq!(
        f.queue(group.id, alice.id).await[0].targets,
        ["Alice's Bakery"]
    );
    f.shutdown().await;
}
/// The bot's message in `chat` carrying the button `data`.
fn message_with_button(tg: &autopost_sim::telegram::SimTelegram, chat: i64, data: &str) -> i64 {
    tg.sent_messages()
        .into_iter()
        .find(|m| {
            m.chat_id == chat
                && m.reply_markup
                    .as_ref()
                    .is_some_and(|keyboard| keyboard.to_string().contains(&format!("\"{data}\"")))
        })
        .expect("a message with that button")
        .message_id
}

#[tokio::test]
async fn the_edit_button_asks_for_a_reply_and_the_reply_edits_the_post() {
    let f = fixture().await;
    let group = SimChat::group(-700, "team");
    let (alice, bob) = (SimUser::new(11, "Alice"), SimUser::new(12, "Bob"));
    f.link_x(&group, &alice).await;
    f.tg()
        .push_group_text(&group, &alice, "/post tomorrow 9am | first words");
    f.messages_to(group.id, 1).await;
    let queued = f.queue(group.id, alice.id).await;
    let (id, due) = (queued[0].post, queued[0].due_at);
    let data = ButtonAction::Edit(id).callback_data();
    let confirmation = message_with_button(f.tg(), group.id, &data);
    f.tg().push_callback(&alice, group.id, confirmation, &data);
    let asked = f.messages_to(group.id, 2).await;
    assert!(
        asked[1].contains(&format!("for post <code>#{id}</code>")),
        "{asked:?}"
    );
    let prompt = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.chat_id == group.id && m.text.contains("Reply with a new time"))
        .unwrap();
    let markup = prompt.reply_markup.clone().unwrap();
    assert_eq!(markup["force_reply"], true, "{markup}");
    assert!(
        f.tg().edited_messages().is_empty(),
        "the confirmation stays"
    );
    // Bob replies too: he may not change Alice's post.
    f.tg()
        .push_message(SimMessage::text(&group, &bob, "| bob's words").reply_to(prompt.message_id));
    let refused = f.messages_to(group.id, 3).await;
    assert!(refused[2].contains("admin"), "{refused:?}");
    // Alice's reply changes the text only.
    f.tg().push_message(
        SimMessage::text(&group, &alice, "| changed words").reply_to(prompt.message_id),
    );
    let changed = f.messages_to(group.id, 4).await;
    assert!(
        changed[3].contains(&format!("Changed post </b><code>#{id}</code>")),
        "{changed:?}"
    );
    let queued = f.queue(group.id, alice.id).await;
    assert_eq!(
        (queued[0].post, queued[0].due_at, queued[0].body.as_str()),
        (id, due, "changed words")
    );
    f.shutdown().await;
}

/// A small JPEG, unlike the PNG the posts start with.
fn jpeg() -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_photo_replying_to_the_confirmation_replaces_the_posts_images() {
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    let png = f.tg().add_file(PNG.to_vec(), None);
    f.tg()
        .push_photo(&chat, &bob, &png, Some("tomorrow 9am | with a picture"));
    f.messages_to(bob.id, 1).await;
    let queued = f.queue(bob.id, bob.id).await;
    let id = queued[0].post;
    let store = f.world.store().await.unwrap();
    let types = async || -> Vec<String> {
        store
            .media_of_post(id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.content_type)
            .collect()
    };
    assert_eq!(types().await, ["image/png"]);
    let old = store.media_of_post(id).await.unwrap()[0].file_name.clone();
    let confirmation = message_with_button(f.tg(), bob.id, &ButtonAction::Edit(id).callback_data());
    // A photo without a caption, replying to the confirmation.
    let file = f.tg().add_file(jpeg(), None);
    f.tg()
        .push_message(SimMessage::photo(&chat, &bob, &file).reply_to(confirmation));
    let said = f.messages_to(bob.id, 2).await;
    assert!(
        said[1].contains(&format!("Changed post </b><code>#{id}</code>")),
        "{said:?}"
    );
    assert_eq!(types().await, ["image/jpeg"]);
    assert!(
        f.world.app().media().read(&old).await.is_err(),
        "the replaced picture, used by no other post, is removed"
    );
    let queued = f.queue(bob.id, bob.id).await;
    assert_eq!(queued[0].body, "with a picture", "the text stays");
    f.shutdown().await;
}

#[tokio::test]
async fn thirty_forwarded_posts_in_a_row_are_all_queued_while_a_flood_is_stopped() {
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    let before = f.messages_to(bob.id, 0).await.len();
    // Forwarding a selection of 30 posts: Telegram hands them over together, so they reach
    // the bot at once, the fastest a person can send them (here faster than any real
    // client, since they are all queued before the first is read).
    let origin = SimUser::new(77, "Carol");
    for n in 0..30 {
        let post = SimMessage::text(&chat, &bob, format!("tomorrow 9am | forwarded post {n}"))
            .forwarded_from(&origin);
        f.tg().push_message(post);
    }
    let said = f.messages_to(bob.id, before + 30).await;
    let answers = &said[before..];
    assert!(
        answers.iter().all(|a| a.contains("Scheduled post")),
        "{answers:?}"
    );
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 30);

    // A script sending 300 in a row gets the rest of the allowance, then is told to wait,
    // and nothing of what was refused is queued.
    let script = SimUser::new(81, "Script");
    let chat = SimChat::private(&script);
    f.link_x(&chat, &script).await;
    let before = f.messages_to(script.id, 0).await.len();
    for n in 0..300 {
        f.tg()
            .push_private_text(&script, &format!("tomorrow 9am | flood {n}"));
    }
    let said = f.messages_to(script.id, before + 300).await;
    let answers = &said[before..];
    let refused = answers
        .iter()
        .filter(|a| a.contains("faster than autopost takes them; wait"))
        .count();
    let queued = f.queue(script.id, script.id).await.len();
    assert_eq!(refused + queued, 300, "{answers:?}");
    let allowance = Allowance::default();
    assert!(
        queued >= allowance.burst as usize && queued < allowance.burst as usize + 30,
        "the burst and a little refill: {queued}"
    );
    // Bob, meanwhile, is still served.
    f.tg().push_private_text(&bob, "/queue");
    let said = f.messages_to(bob.id, before_len(&f, bob.id).await).await;
    assert!(!said.last().unwrap().contains("faster"), "{said:?}");
    f.shutdown().await;
}

/// How many messages `chat` will have once the next answer arrives.
async fn before_len(f: &Fixture, chat: i64) -> usize {
    f.messages_to(chat, 0).await.len() + 1
}

#[tokio::test]
async fn a_csv_file_captioned_or_answered_with_import_queues_its_rows() {
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    let csv =
        "when,text,targets\ntomorrow 9am,first imported,x\ntomorrow 10am,second imported,@team\n";
    let file = f.tg().add_file(csv.as_bytes().to_vec(), None);
    let before = f.messages_to(bob.id, 0).await.len();
    f.tg().push_message(
        SimMessage::document(&chat, &bob, &file, "posts.csv", "text/csv").caption("/import"),
    );
    let said = f.messages_to(bob.id, before + 1).await;
    let report = said.last().unwrap();
    assert!(report.contains("Imported 2 posts, all queued"), "{report}");
    assert!(
        report.contains("line 2: <code>#") && report.contains("line 3: <code>#"),
        "{report}"
    );
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 2);

    // The same file sent without a caption, then `/import` as a reply to it.
    let sent = f.tg().push_message(SimMessage::document(
        &chat,
        &bob,
        &file,
        "posts.csv",
        "text/csv",
    ));
    let message = f.tg().update(sent).unwrap()["message"].clone();
    f.tg()
        .push_message(SimMessage::text(&chat, &bob, "/import").reply_to_update(message));
    let said = f.messages_to(bob.id, before + 2).await;
    assert!(
        said.last().unwrap().contains("Imported 2 posts"),
        "{said:?}"
    );
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 4);

    // A picture is not a CSV file, and `/import` alone has nothing to read.
    let picture = f.tg().add_file(PNG.to_vec(), None);
    f.tg()
        .push_image_document(&chat, &bob, &picture, "cake.png", Some("/import"));
    let said = f.messages_to(bob.id, before + 3).await;
    assert!(
        said.last()
            .unwrap()
            .contains("<code>cake.png</code> is not a CSV file"),
        "{said:?}"
    );
    f.tg().push_private_text(&bob, "/import");
    let said = f.messages_to(bob.id, before + 4).await;
    assert!(
        said.last()
            .unwrap()
            .contains("Send the CSV file with the caption /import"),
        "{said:?}"
    );
    assert_eq!(
        f.queue(bob.id, bob.id).await.len(),
        4,
        "nothing more queued"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn a_photo_with_a_vague_time_gets_one_tap_times_and_a_press_schedules_it_with_the_photo() {
    let f = fixture().await;
    let bob = bob();
    let private = SimChat::private(&bob);
    f.link_x(&private, &bob).await;
    let file = f.tg().add_file(PNG.to_vec(), None);
    f.tg().push_photo(
        &private,
        &bob,
        &file,
        Some("tomorrow morning | fresh bread"),
    );
    let asked = f.messages_to(bob.id, 1).await;
    assert!(asked[0].contains("tomorrow 09:00"), "{asked:?}");
    let message = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.chat_id == private.id && m.reply_markup.is_some())
        .expect("the answer carries the times as buttons");
    let keyboard = message.reply_markup.clone().unwrap();
    let buttons: Vec<(String, String)> = keyboard["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().clone())
        .map(|b| {
            (
                b["text"].as_str().unwrap().to_owned(),
                b["callback_data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let labels: Vec<&str> = buttons.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(
        labels,
        ["tomorrow 08:00?", "tomorrow 09:00?", "tomorrow 10:00?"]
    );
    assert!(f.queue(private.id, bob.id).await.is_empty());

    f.tg()
        .push_callback(&bob, private.id, message.message_id, &buttons[1].1);
    f.tg().wait_for_answered_callbacks(1, PATIENCE).await;
    let tg = f.tg().clone();
    f.world
        .wait_until("the question to become the confirmation", async || {
            !tg.edited_messages().is_empty()
        })
        .await
        .unwrap();
    let edited = f.tg().edited_messages();
    assert_eq!(edited[0].message_id, message.message_id);
    assert!(edited[0].text.contains("Scheduled post"), "{edited:?}");
    let queue = f.queue(private.id, bob.id).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].body, "fresh bread");
    let export = f
        .world
        .app()
        .export_user(
            f.world
                .actor(
                    &format!("telegram:{}", private.id),
                    &format!("telegram:{}", bob.id),
                )
                .await
                .unwrap()
                .user,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let export: serde_json::Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(
        export["media"].as_array().unwrap().len(),
        1,
        "with its photo"
    );
    assert_eq!(f.tg().downloads().len(), 1, "the photo was fetched once");

    // Pressed again (a stale keyboard): answered, and nothing more is queued.
    f.tg()
        .push_callback(&bob, private.id, message.message_id, &buttons[0].1);
    let answered = f.tg().wait_for_answered_callbacks(2, PATIENCE).await;
    assert!(answered[1].show_alert, "{answered:?}");
    assert_eq!(f.queue(private.id, bob.id).await.len(), 1);
    f.shutdown().await;
}

/// The one status message the bot sent for post `#id` in `chat`, as it reads now (after its
/// edits), with its keyboard; `None` before it was sent.
fn status_message(
    tg: &autopost_sim::telegram::SimTelegram,
    chat: i64,
    id: i64,
) -> Option<(i64, String, String)> {
    let heading = format!("<b>Post </b><code>#{id}</code>");
    let sent: Vec<_> = tg
        .sent_messages()
        .into_iter()
        .filter(|m| m.chat_id == chat && m.text.starts_with(&heading))
        .collect();
    assert!(sent.len() <= 1, "one status message per post: {sent:?}");
    let status = sent.into_iter().next()?;
    let markup = |m: Option<&serde_json::Value>| m.map(ToString::to_string).unwrap_or_default();
    let (text, keyboard) = match tg
        .edited_messages()
        .into_iter()
        .rfind(|e| e.chat_id == chat && e.message_id == status.message_id)
    {
        Some(edit) => (edit.text.clone(), markup(edit.reply_markup.as_ref())),
        None => (status.text.clone(), markup(status.reply_markup.as_ref())),
    };
    Some((status.message_id, text, keyboard))
}

#[tokio::test]
async fn a_content_block_on_facebook_fails_at_once_on_the_one_status_message_while_the_rest_publish()
 {
    use autopost_sim::meta::{Endpoint as MetaEndpoint, Failure as MetaFailure};
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    f.link_meta(&chat, &bob).await;
    f.world
        .meta()
        .fail_next(MetaEndpoint::Photos, MetaFailure::ContentBlocked);
    let file = f.tg().add_file(PNG.to_vec(), None);
    f.tg()
        .push_photo(&chat, &bob, &file, Some("now | cakes for everyone"));
    let tg = f.tg().clone();
    f.world
        .wait_until("every outcome on the status message", async || {
            status_message(&tg, bob.id, 1)
                .is_some_and(|(_, text, _)| text.matches("✅").count() == 2 && text.contains("❌"))
        })
        .await
        .unwrap();
    let (status, text, keyboard) = status_message(f.tg(), bob.id, 1).unwrap();
    assert!(
        text.contains(
            "❌ Facebook Page Alice's Bakery · Facebook blocked this post under its content rules"
        ),
        "{text}"
    );
    assert!(text.contains("code 368"), "{text}");
    assert!(text.contains("✅ X @team"), "{text}");
    assert!(text.contains("✅ Instagram @alices_bakery"), "{text}");
    assert!(keyboard.contains("\"edit:1\""), "{keyboard}");
    let retry = keyboard
        .split('"')
        .find(|part| part.starts_with("retry:"))
        .expect("a Retry button")
        .to_owned();
    // Refused at the first attempt and never queued again.
    let view = f.world.app().post_view(PostId(1)).await.unwrap().unwrap();
    let facebook = view
        .targets
        .iter()
        .find(|t| t.provider == autopost::domain::Provider::FacebookPage)
        .unwrap();
    assert_eq!(facebook.state, autopost::domain::TargetState::Failed);
    assert_eq!(facebook.attempts, 1);
    assert!(f.world.meta().feed_posts().is_empty());

    // Edit asks for the change as a message to reply to; Retry sends it again, and the same
    // message shows the outcome.
    f.tg().push_callback(&bob, bob.id, status, "edit:1");
    let answered = f.tg().wait_for_answered_callbacks(1, PATIENCE).await;
    assert_eq!(
        answered[0].text.as_deref(),
        Some("Reply to my message with the change."),
        "{answered:?}"
    );
    let question = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.chat_id == bob.id && m.text.contains("Reply with a new time"))
        .expect("the Edit question");
    assert_eq!(question.reply_markup.unwrap()["force_reply"], true);
    f.tg().push_callback(&bob, bob.id, status, &retry);
    f.tg().wait_for_answered_callbacks(2, PATIENCE).await;
    f.world
        .wait_until("Facebook on the status message", async || {
            status_message(&tg, bob.id, 1)
                .is_some_and(|(_, text, _)| text.matches("✅").count() == 3)
        })
        .await
        .unwrap();
    let (_, _, keyboard) = status_message(f.tg(), bob.id, 1).unwrap();
    assert!(!keyboard.contains("retry:"), "{keyboard}");
    let edits = f
        .tg()
        .edited_messages()
        .into_iter()
        .filter(|e| e.message_id == status)
        .count();
    assert!(edits >= 1, "the status message was edited, not sent again");
    // The confirmation was brought up to date: out, without Cancel or Post now.
    let confirmation = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| m.chat_id == bob.id && m.text.contains("Scheduled post"))
        .expect("the confirmation")
        .message_id;
    let went_out = || {
        tg.edited_messages()
            .into_iter()
            .rfind(|e| e.message_id == confirmation)
            .filter(|e| e.text.contains("went out") && e.text.contains("✅ 3 published"))
    };
    f.world
        .wait_until("the confirmation to show the outcome", async || {
            went_out().is_some()
        })
        .await
        .unwrap();
    let edit = went_out().unwrap();
    assert!(
        edit.reply_markup
            .as_ref()
            .is_none_or(|m| m["inline_keyboard"].as_array().is_some_and(Vec::is_empty)),
        "{edit:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn a_target_waiting_for_a_retry_shows_when_and_why_in_the_queue() {
    use autopost_sim::x::{Endpoint as XEndpoint, Failure as XFailure};
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    f.world
        .x()
        .fail_next(XEndpoint::Tweets, XFailure::ServerError);
    f.tg().push_private_text(&bob, "/post now | second try");
    // The confirmation first: the attempt may fail before it is sent.
    f.messages_to(bob.id, 1).await;
    let tg = f.tg().clone();
    let app = f.world.app().clone();
    f.world
        .wait_until("the target to wait for a retry", async || {
            app.post_view(PostId(1))
                .await
                .ok()
                .flatten()
                .is_some_and(|view| view.targets.iter().any(|t| t.retry_at.is_some()))
        })
        .await
        .unwrap();
    let before = tg.sent_messages().len();
    f.tg().push_private_text(&bob, "/queue");
    f.world
        .wait_until("the queue", async || tg.sent_messages().len() > before)
        .await
        .unwrap();
    let queue = tg.sent_messages()[before].text.clone();
    assert!(queue.contains("⏳ X @team: retrying at"), "{queue}");
    assert!(
        queue.contains("after X was unavailable (HTTP 503"),
        "{queue}"
    );
    let tweets = f.world.x().wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    f.shutdown().await;
}

#[tokio::test]
async fn a_series_confirmation_moves_on_to_the_next_occurrence_after_one_goes_out() {
    let f = fixture().await;
    let bob = bob();
    let chat = SimChat::private(&bob);
    f.link_x(&chat, &bob).await;
    f.tg()
        .push_private_text(&bob, "every day at 9am | the daily special");
    f.messages_to(bob.id, 1).await;
    let confirmation = f
        .tg()
        .sent_messages()
        .into_iter()
        .find(|m| {
            m.chat_id == bob.id && m.text.starts_with("<b>Scheduled post </b><code>#1</code>")
        })
        .expect("the confirmation")
        .message_id;
    // The first occurrence goes out now; the series moves on to tomorrow's.
    let store = f.world.store().await.unwrap();
    let (first, series) = store.series_occurrence(PostId(1)).await.unwrap();
    assert_eq!((first, series), (PostId(1), PostId(1)));
    store.make_due_at(first, chrono::Utc::now()).await.unwrap();
    f.world.app().scheduler().wake();
    let tg = f.tg().clone();
    f.world
        .wait_until("the first occurrence on its status message", async || {
            status_message(&tg, bob.id, 1).is_some_and(|(_, text, _)| text.contains("✅"))
        })
        .await
        .unwrap();
    let (next, _) = store.series_occurrence(PostId(1)).await.unwrap();
    assert_ne!(next, first, "the series has a next occurrence");
    f.world
        .wait_until("every notice delivered", async || {
            store
                .undelivered_notifications(10)
                .await
                .is_ok_and(|n| n.is_empty())
        })
        .await
        .unwrap();
    // The confirmation is the series': it shows the next occurrence (unchanged here, so
    // Telegram may not even need an edit), never "went out", and keeps its buttons.
    let edits: Vec<_> = f
        .tg()
        .edited_messages()
        .into_iter()
        .filter(|e| e.message_id == confirmation)
        .collect();
    assert!(
        edits.iter().all(
            |e| e.text.starts_with("<b>Scheduled post </b><code>#1</code>")
                && e.reply_markup
                    .as_ref()
                    .is_some_and(|k| k.to_string().contains("\"cancel:1\""))
        ),
        "{edits:#?}"
    );
    f.shutdown().await;
}

/// What a webhook's update looks like to the database: the update JSON.
fn update_body(update: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(update).unwrap()
}

#[tokio::test]
async fn a_webhook_update_is_in_the_database_before_it_is_acknowledged() {
    let world = World::builder()
        .telegram_with(SimTelegramConfig::new(TOKEN, BOT))
        .telegram_webhook(WEBHOOK_SECRET)
        .open()
        .await
        .unwrap();
    // The route alone, with an intake that takes nothing: what the 200 promises must
    // already be in the database, not only in this instance's memory.
    let (sender, _intake) = webhook::inbox();
    let router = webhook::routes(
        &autopost::crypto::Secret::new(WEBHOOK_SECRET),
        world.app().clone(),
        sender,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        webhook::PATH
    ))
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let bob = bob();
    let id = world
        .telegram()
        .push_private_text(&bob, "tomorrow 9am | kept");
    let update = world.telegram().update(id).unwrap();
    let status = world
        .telegram()
        .deliver_webhook(&url, update.clone(), Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 200);
    let app = world.app();
    assert_eq!(
        app.deliveries_waiting(ChatPlatform::Telegram)
            .await
            .unwrap(),
        1
    );
    // Sent again while it waits: acknowledged, and kept once.
    let again = world
        .telegram()
        .deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(again, 200);
    assert_eq!(
        app.deliveries_waiting(ChatPlatform::Telegram)
            .await
            .unwrap(),
        1
    );
}

/// Puts update `id` in the inbox as accepted (answered 200) by an instance that died.
async fn strand(
    f: &Fixture,
    id: i64,
    update: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) {
    f.world
        .store()
        .await
        .unwrap()
        .record_inbound(
            "telegram",
            &id.to_string(),
            &update_body(update),
            None,
            "an-instance-that-died",
            now,
            now + chrono::Duration::minutes(2),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_update_accepted_by_an_instance_that_died_is_handled_once_by_another() {
    let f = webhook_fixture().await;
    let url = f.world.url().join("telegram/webhook").unwrap();
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let id = f.tg().push_private_text(&bob, "tomorrow 9am | left behind");
    let update = f.tg().update(id).unwrap();
    // Another instance accepted it (answered 200) and died before handling it.
    let now = chrono::Utc::now();
    strand(&f, id, &update, now).await;
    let replies = f.messages_to(bob.id, 1).await;
    assert!(replies[0].contains("@team"), "confirmed: {replies:?}");
    let app = f.world.app().clone();
    f.world
        .wait_until("the inbox to empty", async || {
            app.deliveries_waiting(ChatPlatform::Telegram)
                .await
                .unwrap()
                == 0
        })
        .await
        .unwrap();
    // Telegram, unsure, sends it here too: it is not handled again.
    let again = f
        .tg()
        .deliver_webhook(&url, update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(again, 200);
    f.settle(2).await;
    assert_eq!(f.queue(bob.id, bob.id).await.len(), 1);
    assert_eq!(f.messages_to(bob.id, 1).await.len(), 1);
    f.shutdown().await;
}

#[tokio::test]
async fn an_update_whose_instance_died_while_handling_it_is_answered_not_redone() {
    let f = webhook_fixture().await;
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let id = f
        .tg()
        .push_private_text(&bob, "tomorrow 9am | maybe stored");
    let update = f.tg().update(id).unwrap();
    // Another instance accepted it, began handling it (recorded it as seen) and died.
    let now = chrono::Utc::now();
    let app = f.world.app().clone();
    let began = app
        .first_deliveries(ChatPlatform::Telegram, &[id.to_string().as_str()], now)
        .await
        .unwrap();
    assert_eq!(began.len(), 1);
    strand(&f, id, &update, now).await;
    let replies = f.messages_to(bob.id, 1).await;
    assert!(
        replies[0].contains("restarted while it worked on this"),
        "told to look: {replies:?}"
    );
    f.world
        .wait_until("the inbox to empty", async || {
            app.deliveries_waiting(ChatPlatform::Telegram)
                .await
                .unwrap()
                == 0
        })
        .await
        .unwrap();
    assert!(f.queue(bob.id, bob.id).await.is_empty(), "not made again");
    f.shutdown().await;
}

#[tokio::test]
async fn an_album_whose_parts_reached_two_instances_is_published_as_one_post() {
    let f = webhook_fixture().await;
    let url = f.world.url().join("telegram/webhook").unwrap();
    let bob = bob();
    f.link_x(&SimChat::private(&bob), &bob).await;
    let files: Vec<_> = (0..2)
        .map(|_| f.tg().add_file(PNG.to_vec(), None))
        .collect();
    let ids = f.tg().push_album(
        &SimChat::private(&bob),
        &bob,
        &files,
        Some("in 1 second | split album"),
    );
    let first = f.tg().update(ids[0]).unwrap();
    let second = f.tg().update(ids[1]).unwrap();
    // The first part reached another instance, which kept it in the database.
    let group = first["message"]["media_group_id"].as_str().unwrap();
    f.world
        .store()
        .await
        .unwrap()
        .add_album_part(
            &format!("{}:{group}", bob.id),
            &ids[0].to_string(),
            &serde_json::to_vec(&first["message"]).unwrap(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // The second reaches this one.
    let status = f
        .tg()
        .deliver_webhook(&url, second, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 200);
    let tweets = f.world.x().wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].media_ids.len(), 2, "one post with both pictures");
    assert_eq!(tweets[0].text, "split album");
    f.shutdown().await;
}
