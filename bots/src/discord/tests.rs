//! The Discord front end end to end: the whole app with this front end, against the
//! simulated Discord (signed interactions to the real endpoint, its gateway and REST API) and
//! X. Tests wait for facts (an answer at the simulated Discord, the front end's count of
//! answered interactions, the scheduler falling quiet), never for time.

use std::time::Instant;

use autopost::images::MAX_INPUT_BYTES;
use autopost_sim::discord::{
    Failure, Route, Signing, SimDiscord, SimDiscordConfig, SimDiscordUser, SimMember,
};
use autopost_sim::telegram::{SimChat, SimUser};
use autopost_sim::world::{PATIENCE, X_CLIENT_ID};
use autopost_sim::x::{SimXConfig, SimXUser};
use autopost_sim::{PNG_1X1 as PNG, World, WorldBuilder};
use serde_json::Value;
use tokio::sync::watch;

use super::*;

/// The whole app with the Discord front end (and, if asked, the Telegram one) against a
/// simulated Discord and a simulated X whose consenting user is `@team`.
struct Fixture {
    world: World,
    /// The front end's count of answered interactions.
    answered: watch::Receiver<u64>,
    /// In the simulated server: Alice administers it, Bob is a member, Mo moderates.
    alice: SimMember,
    bob: SimMember,
    mo: SimMember,
}

async fn fixture() -> Fixture {
    Fixture::start(
        World::builder(),
        SimDiscordConfig::random(),
        Options::default(),
    )
    .await
}

impl Fixture {
    async fn start(builder: WorldBuilder, discord: SimDiscordConfig, options: Options) -> Self {
        let mut x = SimXConfig::public(X_CLIENT_ID);
        x.user = SimXUser::new("2244994945", "team");
        let (counter, answered) = std::sync::mpsc::channel();
        let world = builder
            .x_with(x)
            .discord_with(discord)
            .front_end(move |app| {
                let token = app
                    .config()
                    .discord
                    .as_ref()
                    .and_then(|d| d.token.as_ref())
                    .map(|t| t.expose().to_owned());
                let front_end = DiscordFrontEnd::new(app, options).ok().flatten()?;
                let shown = format!("{front_end:?}");
                if let Some(token) = token {
                    assert!(!shown.contains(&token), "no token in Debug: {shown}");
                }
                let _ = counter.send(front_end.answered());
                Some(front_end)
            })
            .start()
            .await
            .unwrap();
        let answered = answered.recv().unwrap();
        // The consent gate has its own tests; these people already agreed.
        world
            .agree(&["discord:501", "discord:502", "discord:503"])
            .await
            .unwrap();
        Self {
            world,
            answered,
            alice: SimMember::new(SimDiscordUser::new(501, "alice")).admin(),
            bob: SimMember::new(SimDiscordUser::new(502, "bob")),
            mo: SimMember::new(SimDiscordUser::new(503, "mo")).moderator(),
        }
    }

    fn sim(&self) -> &SimDiscord {
        self.world.discord()
    }

    fn channel(&self) -> u64 {
        self.sim().guild().channel_id
    }

    /// Delivers a signed interaction to autopost's endpoint.
    async fn send(&self, payload: &Value) -> autopost_sim::discord::Delivery {
        self.sim()
            .deliver(&self.world.discord_interactions_url(), payload)
            .await
            .unwrap()
    }

    /// A slash command in the server's channel by `member`, delivered; the inline answer.
    async fn command(&self, member: &SimMember, payload: Value) -> Value {
        let _ = member;
        let delivery = self.send(&payload).await;
        assert_eq!(delivery.status, 200, "{}", delivery.text);
        delivery.body.unwrap()
    }

    /// Links `@team` on X to the server's channel, as Alice, through the real round trip.
    async fn link_x(&self) {
        self.world
            .link_x(
                &format!("discord:{}", self.channel()),
                &format!("discord:{}", self.alice.user.id),
            )
            .await
            .unwrap();
    }

    /// The channel's queue.
    async fn queue(&self) -> Vec<autopost::posting::QueuedPost> {
        let actor = self
            .world
            .actor(
                &format!("discord:{}", self.channel()),
                &format!("discord:{}", self.alice.user.id),
            )
            .await
            .unwrap();
        self.world.app().queue(actor.chat).await.unwrap()
    }

    /// Waits until the front end has answered `n` interactions in all.
    async fn settle(&self, n: u64) {
        let mut answered = self.answered.clone();
        tokio::time::timeout(PATIENCE, answered.wait_for(|a| *a >= n))
            .await
            .expect("every interaction is answered")
            .unwrap();
    }

    /// A `/post` by `member` in the channel.
    fn post(&self, member: &SimMember, when: &str, text: &str) -> Value {
        self.post_with(member, when, text, None)
    }

    /// A `/post` by `member` in the channel, with a picture if given.
    fn post_with(
        &self,
        member: &SimMember,
        when: &str,
        text: &str,
        picture: Option<&autopost_sim::discord::SimAttachment>,
    ) -> Value {
        let mut post = self
            .sim()
            .slash_command("post")
            .in_guild(&self.sim().guild(), member)
            .string("when", when)
            .string("text", text);
        if let Some(picture) = picture {
            post = post.attachment("image1", picture);
        }
        post.build()
    }
}

/// The content of an answer of type 4 (or 7).
fn content(answer: &Value) -> &str {
    answer["data"]["content"].as_str().unwrap_or_default()
}

fn is_ephemeral(answer: &Value) -> bool {
    answer["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0
}

#[tokio::test]
async fn a_ping_is_answered_and_badly_signed_requests_get_401_and_change_nothing() {
    let f = fixture().await;
    let ping = f.send(&f.sim().ping()).await;
    assert_eq!(ping.status, 200);
    assert_eq!(ping.body, Some(serde_json::json!({"type": 1})));
    assert!(ping.content_type.unwrap().starts_with("application/json"));
    f.link_x().await;
    let post = f.post(&f.bob, "tomorrow 9am", "signed?");
    for signing in [
        Signing::Forged,
        Signing::Malformed,
        Signing::Missing,
        Signing::Stale,
    ] {
        let refused = f
            .sim()
            .deliver_signed(&f.world.discord_interactions_url(), &post, signing)
            .await
            .unwrap();
        assert_eq!(refused.status, 401, "{signing:?}");
    }
    assert!(f.queue().await.is_empty(), "nothing queued");
    assert!(f.sim().initial_responses().iter().all(|r| r.kind == 1));
    // The genuine delivery of the same interaction still works: nothing recorded it.
    let answer = f.command(&f.bob, post).await;
    assert!(content(&answer).contains("@team"), "{answer}");
    assert_eq!(f.queue().await.len(), 1);
}

#[tokio::test]
async fn a_post_with_an_image_is_confirmed_then_published_once_and_the_channel_is_told() {
    let f = fixture().await;
    f.link_x().await;
    let picture = f
        .sim()
        .add_attachment("cake.png", "image/png", PNG.to_vec());
    let payload = f.post_with(&f.bob, "in 2 seconds", "hello from discord", Some(&picture));
    let answer = f.command(&f.bob, payload).await;
    assert_eq!(answer["type"], 4);
    assert!(!is_ephemeral(&answer), "the team sees the confirmation");
    assert!(content(&answer).contains("@team"), "{answer}");
    let buttons = &answer["data"]["components"][0]["components"];
    assert_eq!(buttons[0]["custom_id"].as_str().unwrap(), "cancel:1");
    assert_eq!(
        answer["data"]["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    assert_eq!(f.sim().downloads().len(), 1);
    let x = f.world.x();
    let tweets = x.wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets[0].text, "hello from discord");
    assert_eq!(tweets[0].media_ids.len(), 1);
    let told = f
        .world
        .wait_until("the channel to be told", async || {
            f.sim()
                .channel_messages()
                .iter()
                .any(|m| m.channel_id == f.channel() && m.content.contains(&tweets[0].id))
        })
        .await;
    assert!(told.is_ok(), "{:?}", f.sim().channel_messages());
    f.world.wait_for_quiet().await.unwrap();
    assert_eq!(x.tweets().len(), 1, "exactly once");
}

#[tokio::test]
async fn a_replayed_interaction_is_answered_but_run_once() {
    let f = fixture().await;
    f.link_x().await;
    let post = f.post(&f.bob, "tomorrow 9am", "once only");
    let first = f.command(&f.bob, post.clone()).await;
    assert!(content(&first).contains("Scheduled"), "{first}");
    let again = f.send(&post).await;
    assert_eq!(again.status, 200);
    let again = again.body.unwrap();
    assert!(
        is_ephemeral(&again) && content(&again).contains("already"),
        "{again}"
    );
    assert_eq!(f.queue().await.len(), 1);
}

#[tokio::test]
async fn cancelling_anothers_post_needs_manage_messages_and_the_button_replaces_its_message() {
    let f = fixture().await;
    f.link_x().await;
    let confirmation = f
        .command(&f.alice, f.post(&f.alice, "tomorrow 9am", "alice's"))
        .await;
    assert!(content(&confirmation).contains("Scheduled"));
    let id = f.queue().await[0].post.0;
    let cancel = f
        .sim()
        .slash_command("cancel")
        .in_guild(&f.sim().guild(), &f.bob)
        .integer("id", id)
        .build();
    let refused = f.command(&f.bob, cancel).await;
    assert!(is_ephemeral(&refused), "{refused}");
    assert!(content(&refused).contains("admin"), "{refused}");
    assert_eq!(f.queue().await.len(), 1);
    // Bob presses the Cancel button under the confirmation: refused, for him alone.
    let message = f.sim().initial_responses()[0].interaction_id;
    let message = f.sim().original_response(message).unwrap().id;
    let press = |member: &SimMember| {
        f.sim()
            .button_press(&format!("cancel:{id}"), message)
            .in_guild(&f.sim().guild(), member)
            .build()
    };
    let refused = f.command(&f.bob, press(&f.bob)).await;
    assert_eq!(refused["type"], 4);
    assert!(is_ephemeral(&refused));
    assert_eq!(f.queue().await.len(), 1);
    // A moderator may: the confirmation becomes the outcome, without buttons.
    let done = f.command(&f.mo, press(&f.mo)).await;
    assert_eq!(done["type"], 7, "{done}");
    assert!(content(&done).contains("Cancelled post"), "{done}");
    assert_eq!(done["data"]["components"], serde_json::json!([]));
    assert!(f.queue().await.is_empty());
}

#[tokio::test]
async fn linking_in_a_server_needs_manage_server_and_the_link_is_ephemeral() {
    let f = fixture().await;
    let connect = |member: &SimMember| {
        f.sim()
            .slash_command("connect")
            .in_guild(&f.sim().guild(), member)
            .string("platform", "x")
            .build()
    };
    let refused = f.command(&f.bob, connect(&f.bob)).await;
    assert!(is_ephemeral(&refused));
    assert!(
        content(&refused).contains("Only a group administrator"),
        "{refused}"
    );
    let link = f.command(&f.alice, connect(&f.alice)).await;
    assert!(is_ephemeral(&link), "{link}");
    assert!(content(&link).contains("/oauth/x/start"), "{link}");
}

#[tokio::test]
async fn autocomplete_shows_what_a_time_means_and_offers_posts_accounts_and_zones() {
    let f = fixture().await;
    f.link_x().await;
    f.command(&f.alice, f.post(&f.alice, "tomorrow 9am", "first post"))
        .await;
    let choices = |answer: &Value| -> Vec<(String, Value)> {
        assert_eq!(answer["type"], 8, "{answer}");
        answer["data"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_owned(), c["value"].clone()))
            .collect()
    };
    let ask = |command: &str, option: &str, typed: &str| {
        f.sim()
            .autocomplete(command)
            .in_guild(&f.sim().guild(), &f.alice)
            .focused(option, typed)
            .build()
    };
    let when = choices(
        &f.command(&f.alice, ask("post", "when", "tomorrow 9am"))
            .await,
    );
    assert_eq!(when.len(), 1);
    assert!(
        when[0].0.starts_with("tomorrow 9am → ") && when[0].0.contains("UTC"),
        "{when:?}"
    );
    assert_eq!(when[0].1, "tomorrow 9am");
    let past = choices(
        &f.command(&f.alice, ask("post", "when", "yesterday 9am"))
            .await,
    );
    assert!(past[0].0.contains('✗'), "why it is refused: {past:?}");
    let to = choices(&f.command(&f.alice, ask("post", "to", "te")).await);
    assert_eq!(to[0].1, "@team", "{to:?}");
    let posts = choices(&f.command(&f.alice, ask("cancel", "id", "")).await);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].1, 1);
    assert!(posts[0].0.contains("first post"), "{posts:?}");
    let zones = choices(&f.command(&f.alice, ask("timezone", "zone", "berl")).await);
    assert!(zones.iter().any(|(_, v)| v == "Europe/Berlin"), "{zones:?}");
}

#[tokio::test]
async fn attachments_over_the_limit_or_not_images_are_refused_and_nothing_is_queued() {
    let f = fixture().await;
    f.link_x().await;
    let huge = f
        .sim()
        .add_attachment("huge.png", "image/png", PNG.to_vec())
        .with_reported_size(MAX_INPUT_BYTES + 1);
    let text = f
        .sim()
        .add_attachment("notes.txt", "text/plain", b"hello".to_vec());
    for (file, why) in [(huge, "limit"), (text, "not an image")] {
        let payload = f.post_with(&f.bob, "tomorrow 9am", "with a file", Some(&file));
        let refused = f.command(&f.bob, payload).await;
        assert!(is_ephemeral(&refused), "{refused}");
        assert!(content(&refused).contains(why), "{why}: {refused}");
    }
    assert!(f.sim().downloads().is_empty(), "nothing fetched");
    assert!(f.queue().await.is_empty());
}

#[tokio::test]
async fn every_command_answers_and_private_answers_are_ephemeral() {
    // Alice sends more commands than the production allowance lets through at once.
    let options = Options {
        allowance: autopost::throttle::Allowance {
            burst: 100,
            per_second: 100.0,
        },
        ..Options::default()
    };
    let f = Fixture::start(World::builder(), SimDiscordConfig::random(), options).await;
    f.link_x().await;
    let guild = f.sim().guild();
    let run = |name: &str| f.sim().slash_command(name).in_guild(&guild, &f.alice);
    let help = f.command(&f.alice, run("help").build()).await;
    assert!(content(&help).contains("/post WHEN \\| TEXT"), "{help}");
    // /start is the short first screen; its buttons are the first steps.
    let start = f.command(&f.alice, run("start").build()).await;
    assert!(content(&start).contains("/help"), "{start}");
    assert_eq!(
        start["data"]["components"][0]["components"][0]["custom_id"], "connect:x",
        "{start}"
    );
    f.command(&f.alice, f.post(&f.alice, "tomorrow 9am", "queued"))
        .await;
    let queue = f.command(&f.alice, run("queue").build()).await;
    let card = queue["data"]["embeds"][0]["description"].as_str().unwrap();
    assert!(card.contains("queued"), "{queue}");
    assert_eq!(
        queue["data"]["components"][0]["components"][1]["custom_id"],
        "postnow:1"
    );
    let history = f.command(&f.alice, run("history").build()).await;
    assert!(
        content(&history).contains("Nothing has been published"),
        "{history}"
    );
    let accounts = f.command(&f.alice, run("accounts").build()).await;
    assert!(content(&accounts).contains("@team"));
    let zone = f
        .command(
            &f.alice,
            run("timezone").string("zone", "Europe/Berlin").build(),
        )
        .await;
    assert!(content(&zone).contains("Europe/Berlin"), "{zone}");
    let edit = f
        .command(
            &f.alice,
            run("edit")
                .integer("id", 1)
                .string("when", "friday 5pm")
                .string("text", "changed")
                .build(),
        )
        .await;
    assert!(content(&edit).contains("Changed post"), "{edit}");
    let now = f
        .command(&f.alice, run("postnow").integer("id", 1).build())
        .await;
    assert!(content(&now).contains("Sending post"), "{now}");
    // The export is a file, for the person alone: it goes with the callback.
    let export = run("export").build();
    let id: u64 = export["id"].as_str().unwrap().parse().unwrap();
    let delivered = f.send(&export).await;
    assert_eq!(delivered.status, 202, "{}", delivered.text);
    let answer = f.sim().initial_response(id).unwrap();
    assert!(answer.is_ephemeral(), "{answer:?}");
    assert_eq!(answer.files.len(), 1, "{answer:?}");
    // With its images it is a zip, sent the same way.
    let export = run("export").string("what", "images").build();
    let id: u64 = export["id"].as_str().unwrap().parse().unwrap();
    let delivered = f.send(&export).await;
    assert_eq!(delivered.status, 202, "{}", delivered.text);
    let answer = f.sim().initial_response(id).unwrap();
    assert!(answer.is_ephemeral(), "{answer:?}");
    assert_eq!(answer.files.len(), 1, "{answer:?}");
    assert_eq!(answer.files[0].filename, "autopost-export.zip");
    assert!(answer.files[0].bytes.starts_with(b"PK"), "{answer:?}");
    let deleteme = f
        .sim()
        .slash_command("deleteme")
        .in_guild(&guild, &f.bob)
        .build();
    let asked: u64 = deleteme["id"].as_str().unwrap().parse().unwrap();
    let ask = f.command(&f.bob, deleteme).await;
    assert!(is_ephemeral(&ask), "{ask}");
    let question = f.sim().original_response(asked).unwrap().id;
    let confirm = f
        .sim()
        .button_press("deleteme:confirm", question)
        .in_guild(&guild, &f.bob)
        .build();
    let erased = f.command(&f.bob, confirm).await;
    assert_eq!(erased["type"], 7, "{erased}");
    assert!(content(&erased).contains("erased"), "{erased}");
    let disconnect = f
        .command(
            &f.alice,
            run("disconnect").string("account", "@team").build(),
        )
        .await;
    assert!(
        content(&disconnect).contains("Disconnected \\@team"),
        "{disconnect}"
    );
}

#[tokio::test]
async fn slow_work_is_deferred_and_the_original_response_edited() {
    let options = Options {
        answer_within: Duration::ZERO,
        ..Options::default()
    };
    let f = Fixture::start(World::builder(), SimDiscordConfig::random(), options).await;
    let help = f
        .sim()
        .slash_command("help")
        .in_guild(&f.sim().guild(), &f.bob)
        .build();
    let id: u64 = help["id"].as_str().unwrap().parse().unwrap();
    let first = f.send(&help).await;
    assert_eq!(first.status, 202, "the callback was posted: {}", first.text);
    assert_eq!(f.sim().initial_response(id).unwrap().kind, 5);
    f.world
        .wait_until("the original response", async || {
            f.sim()
                .original_response(id)
                .is_some_and(|m| m.content.contains("Commands"))
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_gateway_hands_interactions_to_the_same_handler_without_privileged_intents() {
    let f = Fixture::start(
        World::builder(),
        SimDiscordConfig::random().gateway_only(),
        Options::default(),
    )
    .await;

    assert!(f.sim().wait_for_ready_sessions(1, PATIENCE).await >= 1);
    let identify = &f.sim().identifies()[0];
    assert_eq!(identify.privileged_intents(), 0);
    let help = f
        .sim()
        .slash_command("help")
        .in_guild(&f.sim().guild(), &f.bob)
        .build();
    let id: u64 = help["id"].as_str().unwrap().parse().unwrap();
    f.sim().dispatch_interaction(&help).unwrap();
    let answer = f
        .sim()
        .wait_for_initial_response(id, PATIENCE)
        .await
        .expect("answered through the callback");
    assert_eq!(answer.via, autopost_sim::discord::ResponseVia::Callback);
    assert!(answer.content().unwrap_or_default().contains("Commands"));
    f.settle(1).await;
}

#[tokio::test]
async fn register_overwrites_the_commands_in_one_call_and_they_then_match() {
    let f = fixture().await;
    let config = f.world.app().config().discord.as_ref().unwrap();
    let guild = f.sim().guild().id;
    assert!(!registered_matches(config, Some(guild)).await.unwrap());
    let registered = register(config, Some(guild)).await.unwrap();
    assert_eq!(registered.len(), crate::commands::VERBS.len());
    assert_eq!(f.sim().command_overwrites().len(), 1, "one bulk call");
    assert!(registered_matches(config, Some(guild)).await.unwrap());
}

#[tokio::test]
async fn the_same_post_from_discord_and_telegram_comes_to_the_same_in_the_core() {
    let f = Fixture::start(
        World::builder().telegram().front_end(|app| {
            crate::telegram::TelegramFrontEnd::new(app, crate::telegram::Options::default())
        }),
        SimDiscordConfig::random(),
        Options::default(),
    )
    .await;
    f.link_x().await;
    f.command(&f.bob, f.post(&f.bob, "2030-01-02 09:00", "same words"))
        .await;
    let group = SimChat::group(-42, "team");
    let carol = SimUser::new(7, "Carol");
    f.world.link_x("telegram:-42", "telegram:7").await.unwrap();
    f.world.agree(&["telegram:7"]).await.unwrap();
    f.world
        .telegram()
        .push_group_text(&group, &carol, "/post 2030-01-02 09:00 | same words");
    let telegram = f.world.actor("telegram:-42", "telegram:7").await.unwrap();
    f.world
        .wait_until("the Telegram post", async || {
            f.world.app().queue(telegram.chat).await.unwrap().len() == 1
        })
        .await
        .unwrap();
    let from_telegram = &f.world.app().queue(telegram.chat).await.unwrap()[0];
    let from_discord = &f.queue().await[0];
    assert_eq!(from_telegram.due_at, from_discord.due_at);
    assert_eq!(from_telegram.body, from_discord.body);
    assert_eq!(from_telegram.targets, from_discord.targets);
}

#[tokio::test]
async fn a_rate_limited_notification_waits_as_discord_asks_then_goes_out() {
    let f = fixture().await;
    f.sim().fail_next(
        Route::CreateMessage,
        Failure::RateLimited {
            retry_after_ms: 600,
            global: false,
        },
    );
    let asked = Instant::now();
    // Linking stores a "Linked …" notification for the channel.
    f.link_x().await;
    f.world
        .wait_until("the notification", async || {
            f.sim()
                .channel_messages()
                .iter()
                .any(|m| m.content.starts_with("Linked"))
        })
        .await
        .unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(550),
        "retry_after honoured"
    );
    assert_eq!(
        f.sim().requests(Route::CreateMessage),
        2,
        "one refused, one sent"
    );
}

/// The status messages of the channel (one per post), as they read now, their markdown
/// escapes taken out.
fn status_messages(f: &Fixture) -> Vec<autopost_sim::discord::DiscordMessage> {
    f.sim()
        .channel_messages()
        .into_iter()
        .filter(|m| m.content.starts_with("**Post **"))
        .filter_map(|m| f.sim().message(m.id))
        .map(|mut m| {
            m.content = m.content.replace('\\', "");
            m
        })
        .collect()
}

#[tokio::test]
async fn a_failure_shows_on_the_status_message_with_a_retry_button_that_sends_the_post_again() {
    let f = fixture().await;
    f.link_x().await;
    // X refuses a duplicate at once: the second post fails for good.
    f.command(&f.bob, f.post(&f.bob, "now", "same words")).await;
    f.world.x().wait_for_tweets(1, PATIENCE).await;
    f.command(&f.bob, f.post(&f.bob, "now", "same words")).await;
    let failed = || -> Vec<autopost_sim::discord::DiscordMessage> {
        status_messages(&f)
            .into_iter()
            .filter(|m| {
                m.content
                    .contains("❌ X @team · X refused this post as a duplicate")
            })
            .collect()
    };
    f.world
        .wait_until("the failure on the status message", async || {
            !failed().is_empty()
        })
        .await
        .unwrap();
    let notice = &failed()[0];
    let retry = notice
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("retry:"))
        .expect("a Retry button");
    assert!(notice.custom_ids().iter().any(|id| id.starts_with("edit:")));
    // Someone without Manage Messages may not retry Bob's post.
    let stranger = SimMember::new(SimDiscordUser::new(509, "stranger"));
    let press = |member: &SimMember| {
        f.sim()
            .button_press(&retry, notice.id)
            .in_guild(&f.sim().guild(), member)
            .build()
    };
    let refused = f.command(&stranger, press(&stranger)).await;
    assert!(is_ephemeral(&refused), "{refused}");
    // Bob may: only he hears it, and the status message keeps showing the post.
    let done = f.command(&f.bob, press(&f.bob)).await;
    assert!(is_ephemeral(&done), "{done}");
    assert!(content(&done).contains("again"), "{done}");
    // Sent again: X refuses the duplicate once more, on the same message, edited.
    let edited = || {
        f.sim()
            .edits()
            .iter()
            .filter(|e| e.message.id == notice.id && e.route == Route::EditMessage)
            .count()
    };
    let before = edited();
    f.world
        .wait_until("the status message edited after the retry", async || {
            edited() > before
        })
        .await
        .unwrap();
    assert_eq!(status_messages(&f).len(), 2, "one status message per post");
    assert_eq!(f.world.x().tweets().len(), 1);
}

#[tokio::test]
async fn one_status_message_per_post_is_edited_as_each_target_finishes_and_a_content_block_fails_at_once()
 {
    use autopost_sim::meta::{
        Endpoint as MetaEndpoint, Failure as MetaFailure, SimMetaConfig, SimPage,
    };
    let mut meta = SimMetaConfig::new(autopost_sim::world::META_APP_ID, "meta-secret");
    meta.user.pages = vec![SimPage::new("5550001", "Alice's Bakery")];
    let f = Fixture::start(
        World::builder().meta_with(meta),
        SimDiscordConfig::random(),
        Options::default(),
    )
    .await;
    f.link_x().await;
    f.world
        .link_meta(
            &format!("discord:{}", f.channel()),
            &format!("discord:{}", f.alice.user.id),
        )
        .await
        .unwrap();
    f.world
        .meta()
        .fail_next(MetaEndpoint::Feed, MetaFailure::ContentBlocked);
    let answer = f
        .command(&f.bob, f.post(&f.bob, "now", "fresh bread"))
        .await;
    assert!(content(&answer).contains("Scheduled post"), "{answer}");
    let both = || {
        status_messages(&f).into_iter().find(|m| {
            m.content.contains("✅ X @team")
                && m.content.contains("❌ Facebook Page Alice's Bakery")
        })
    };
    f.world
        .wait_until("both outcomes on the status message", async || {
            both().is_some()
        })
        .await
        .unwrap();
    let status = both().unwrap();
    assert!(
        status
            .content
            .contains("Facebook blocked this post under its content rules"),
        "{}",
        status.content
    );
    assert_eq!(status_messages(&f).len(), 1, "one status message");
    let retry = status
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("retry:"))
        .expect("a Retry button");
    let view = f
        .world
        .app()
        .post_view(autopost::domain::PostId(1))
        .await
        .unwrap()
        .unwrap();
    let facebook = view
        .targets
        .iter()
        .find(|t| t.provider == autopost::domain::Provider::FacebookPage)
        .unwrap();
    assert_eq!(facebook.attempts, 1, "refused at once, never retried");
    assert!(f.world.meta().feed_posts().is_empty());
    // Retried, Facebook publishes: the same message is edited to show it.
    let press = f
        .sim()
        .button_press(&retry, status.id)
        .in_guild(&f.sim().guild(), &f.bob)
        .build();
    f.command(&f.bob, press).await;
    f.world
        .wait_until("Facebook on the status message", async || {
            status_messages(&f)
                .iter()
                .any(|m| m.content.matches("✅").count() == 2)
        })
        .await
        .unwrap();
    assert_eq!(status_messages(&f).len(), 1, "still one status message");
    assert!(
        f.sim()
            .edits()
            .iter()
            .any(|e| e.message.id == status.id && e.route == Route::EditMessage),
        "edited in place"
    );
}

#[tokio::test]
async fn a_cancelled_posts_confirmation_loses_its_buttons() {
    let f = fixture().await;
    f.link_x().await;
    let answer = f
        .command(&f.bob, f.post(&f.bob, "tomorrow 9am", "later"))
        .await;
    assert!(content(&answer).contains("Scheduled post"), "{answer}");
    let post = f.queue().await[0].post;
    let cancel = f
        .sim()
        .slash_command("cancel")
        .in_guild(&f.sim().guild(), &f.bob)
        .integer("id", post.0)
        .build();
    let cancelled = f.command(&f.bob, cancel).await;
    assert!(content(&cancelled).contains("Cancelled"), "{cancelled}");
    let confirmation_edited = || {
        f.sim().edits().into_iter().find(|e| {
            e.route == Route::EditOriginalResponse && e.message.content.contains("Cancelled post")
        })
    };
    f.world
        .wait_until("the confirmation to be edited", async || {
            confirmation_edited().is_some()
        })
        .await
        .unwrap();
    let edit = confirmation_edited().unwrap();
    assert!(edit.message.custom_ids().is_empty(), "{edit:?}");
}

#[tokio::test]
async fn while_the_disk_is_full_an_interaction_hears_it_was_not_taken_and_nothing_is_stored() {
    let options = Options {
        // One person sends many posts in a row here.
        allowance: autopost::throttle::Allowance {
            burst: 1_000,
            per_second: 1_000.0,
        },
        ..Options::default()
    };
    let f = Fixture::start(
        World::builder().growth_switch(),
        SimDiscordConfig::random(),
        options,
    )
    .await;
    f.link_x().await;
    let not_taken = "cannot store anything right now; your message was not taken";
    f.world.stop_database_growth();
    let mut refused = false;
    for n in 0..300 {
        let queued = f.queue().await.len();
        let text = format!(
            "post {n} while the disk fills, {}",
            "with words ".repeat(20)
        );
        let answer = f
            .command(&f.bob, f.post(&f.bob, "tomorrow 9am", &text))
            .await;
        if content(&answer).contains(not_taken) {
            assert!(is_ephemeral(&answer), "only the sender hears it: {answer}");
            assert_eq!(f.queue().await.len(), queued, "no row of the refused post");
            refused = true;
            break;
        }
        assert!(content(&answer).contains("@team"), "{answer}");
    }
    assert!(refused, "the database filled up");

    // Once not even the interaction's id can be recorded, it is still answered.
    let long_id = "d".repeat(900);
    let mut recorded = 0;
    while f
        .world
        .app()
        .first_deliveries(
            ChatPlatform::Discord,
            &[&format!("{recorded}{long_id}")],
            chrono::Utc::now(),
        )
        .await
        .is_ok()
    {
        recorded += 1;
        assert!(recorded < 2_000, "the interaction log never filled");
    }
    let mut refused = false;
    for _ in 0..300 {
        // `/queue` writes nothing but the interaction's id.
        let queue = f
            .sim()
            .slash_command("queue")
            .in_guild(&f.sim().guild(), &f.bob)
            .build();
        if content(&f.command(&f.bob, queue).await).contains(not_taken) {
            refused = true;
            break;
        }
    }
    assert!(refused, "the interaction log filled up");

    f.world.resume_database_growth();
    let answer = f
        .command(
            &f.bob,
            f.post(&f.bob, "tomorrow 9am", "after the disk was freed"),
        )
        .await;
    assert!(content(&answer).contains("@team"), "{answer}");
}

#[tokio::test]
async fn the_edit_button_opens_a_prefilled_modal_whose_submit_edits_the_post() {
    let f = fixture().await;
    f.link_x().await;
    f.command(&f.alice, f.post(&f.alice, "tomorrow 9am", "first words"))
        .await;
    let queued = f.queue().await;
    let (id, due) = (queued[0].post.0, queued[0].due_at);
    let message = f.sim().initial_responses()[0].interaction_id;
    let message = f.sim().original_response(message).unwrap().id;
    let press = |member: &SimMember| {
        f.sim()
            .button_press(&format!("edit:{id}"), message)
            .in_guild(&f.sim().guild(), member)
            .build()
    };
    // Bob may not edit Alice's post: no form, only a refusal for him.
    let refused = f.command(&f.bob, press(&f.bob)).await;
    assert_eq!(refused["type"], 4, "{refused}");
    assert!(is_ephemeral(&refused) && content(&refused).contains("admin"));
    // Alice gets the modal, prefilled, which the simulated Discord takes.
    let press = press(&f.alice);
    let delivery = f.send(&press).await;
    assert_eq!(delivery.status, 200, "{}", delivery.text);
    assert_eq!(delivery.inline_refusal, None, "Discord takes the modal");
    let modal = delivery.body.unwrap();
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(modal["data"]["custom_id"], format!("edit:{id}"));
    let rows = modal["data"]["components"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let value = |row: usize| {
        rows[row]["components"][0]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (when, text) = (value(0), value(1));
    assert_eq!(text, "first words");
    assert_eq!(
        f.queue().await[0].body,
        "first words",
        "nothing changed yet"
    );
    // Submitted with the time as shown and a new text: only the text changes.
    let submit = f
        .sim()
        .modal_submit(&format!("edit:{id}"), Some(message))
        .in_guild(&f.sim().guild(), &f.alice)
        .field("when", &when)
        .field("text", "from the modal")
        .build();
    let answer = f.command(&f.alice, submit).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(content(&answer).contains("Changed post"), "{answer}");
    let queued = f.queue().await;
    assert_eq!(
        (queued[0].post.0, queued[0].due_at, queued[0].body.as_str()),
        (id, due, "from the modal")
    );
    // A bad time in the form is refused and changes nothing.
    let submit = f
        .sim()
        .modal_submit(&format!("edit:{id}"), Some(message))
        .in_guild(&f.sim().guild(), &f.alice)
        .field("when", "yesterday 9am")
        .field("text", "never")
        .build();
    let refused = f.command(&f.alice, submit).await;
    assert!(is_ephemeral(&refused), "{refused}");
    assert_eq!(f.queue().await[0].body, "from the modal");
}

#[tokio::test]
async fn edit_with_image_options_replaces_the_posts_images_and_keeps_the_rest() {
    let f = fixture().await;
    f.link_x().await;
    f.command(&f.alice, f.post(&f.alice, "tomorrow 9am", "no picture yet"))
        .await;
    let queued = f.queue().await;
    let (id, due) = (queued[0].post, queued[0].due_at);
    let store = f.world.store().await.unwrap();
    assert!(store.media_of_post(id).await.unwrap().is_empty());
    let pictures: Vec<_> = (0..2)
        .map(|i| {
            f.sim()
                .add_attachment(&format!("cake{i}.png"), "image/png", PNG.to_vec())
        })
        .collect();
    let edit = f
        .sim()
        .slash_command("edit")
        .in_guild(&f.sim().guild(), &f.alice)
        .integer("id", id.0)
        .attachment("image1", &pictures[0])
        .attachment("image2", &pictures[1])
        .build();
    let answer = f.command(&f.alice, edit).await;
    assert!(content(&answer).contains("Changed post"), "{answer}");
    assert_eq!(store.media_of_post(id).await.unwrap().len(), 2);
    let queued = f.queue().await;
    assert_eq!(
        (queued[0].due_at, queued[0].body.as_str()),
        (due, "no picture yet"),
        "time and text stay"
    );
}

#[tokio::test]
async fn import_takes_a_csv_attachment_and_refuses_other_files_and_oversized_ones() {
    let f = fixture().await;
    f.link_x().await;
    let import = |file: &autopost_sim::discord::SimAttachment| {
        f.sim()
            .slash_command("import")
            .in_guild(&f.sim().guild(), &f.bob)
            .attachment("file", file)
            .build()
    };
    let csv = f.sim().add_attachment(
        "posts.csv",
        "text/csv; charset=utf-8",
        b"when,text\ntomorrow 9am,first imported\ntomorrow 10am,\"second, imported\"\n".to_vec(),
    );
    let answer = f.command(&f.bob, import(&csv)).await;
    assert!(
        content(&answer).contains("Imported 2 posts, all queued"),
        "{answer}"
    );
    assert!(content(&answer).contains("line 3: `#2`"), "{answer}");
    assert_eq!(f.queue().await.len(), 2);
    let downloads = f.sim().downloads().len();

    let huge = f
        .sim()
        .add_attachment("big.csv", "text/csv", b"when,text\n".to_vec())
        .with_reported_size(300 * 1024);
    let picture = f
        .sim()
        .add_attachment("cake.png", "image/png", PNG.to_vec());
    for (file, why) in [
        (huge, "up to 262144 bytes"),
        (picture, "`cake.png` is not a CSV file"),
    ] {
        let refused = f.command(&f.bob, import(&file)).await;
        assert!(is_ephemeral(&refused), "{refused}");
        assert!(content(&refused).contains(why), "{why}: {refused}");
    }
    assert_eq!(f.sim().downloads().len(), downloads, "neither was fetched");
    assert_eq!(f.queue().await.len(), 2, "nothing more queued");
}

#[tokio::test]
async fn a_vague_time_gets_its_times_as_buttons_and_choices_and_only_its_author_may_pick() {
    let f = fixture().await;
    f.link_x().await;
    let asked = f
        .command(&f.alice, f.post(&f.alice, "next week", "weekly plan"))
        .await;
    assert!(is_ephemeral(&asked), "{asked}");
    assert!(content(&asked).contains("`next monday 09:00`"), "{asked}");
    let buttons = asked["data"]["components"][0]["components"]
        .as_array()
        .unwrap()
        .clone();
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["next monday 09:00?", "next monday 12:00?"]);
    let custom_id = buttons[0]["custom_id"].as_str().unwrap().to_owned();
    assert!(custom_id.starts_with("when:"), "{custom_id}");
    assert!(f.queue().await.is_empty());

    let interaction = f.sim().initial_responses().last().unwrap().interaction_id;
    let message = f.sim().original_response(interaction).unwrap().id;
    let press = |member: &SimMember| {
        f.sim()
            .button_press(&custom_id, message)
            .in_guild(&f.sim().guild(), member)
            .build()
    };
    let refused = f.command(&f.bob, press(&f.bob)).await;
    assert!(is_ephemeral(&refused), "{refused}");
    assert!(
        content(&refused).contains("Only the person who wrote"),
        "{refused}"
    );
    assert!(f.queue().await.is_empty());
    let done = f.command(&f.alice, press(&f.alice)).await;
    assert_eq!(done["type"], 7, "{done}");
    assert!(content(&done).contains("Scheduled post"), "{done}");
    let queue = f.queue().await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].body, "weekly plan");

    let choices = f
        .command(
            &f.alice,
            f.sim()
                .autocomplete("post")
                .in_guild(&f.sim().guild(), &f.alice)
                .focused("when", "tomorrow morning")
                .build(),
        )
        .await;
    let values: Vec<&str> = choices["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["tomorrow 08:00", "tomorrow 09:00", "tomorrow 10:00"]
    );
}

#[tokio::test]
async fn target_toggles_update_the_confirmation_and_a_refused_one_answers_the_presser_alone() {
    use autopost_sim::meta::{SimMetaConfig, SimPage};
    let mut meta = SimMetaConfig::new(autopost_sim::world::META_APP_ID, "meta-secret");
    meta.user.pages = vec![SimPage::new("5550001", "Alice's Bakery")];
    let f = Fixture::start(
        World::builder().meta_with(meta),
        SimDiscordConfig::random(),
        Options::default(),
    )
    .await;
    f.link_x().await;
    f.world
        .link_meta(
            &format!("discord:{}", f.channel()),
            &format!("discord:{}", f.alice.user.id),
        )
        .await
        .unwrap();
    let answer = f
        .command(
            &f.alice,
            f.post(&f.alice, "tomorrow 9am", "toggled on discord"),
        )
        .await;
    assert!(content(&answer).contains("Scheduled post"), "{answer}");
    let queued = f.queue().await;
    assert_eq!(queued[0].targets.len(), 2, "{queued:?}");
    let post = queued[0].post;
    let message = f.sim().initial_responses()[0].interaction_id;
    let message = f.sim().original_response(message).unwrap().id;
    let actor = f
        .world
        .actor(
            &format!("discord:{}", f.channel()),
            &format!("discord:{}", f.alice.user.id),
        )
        .await
        .unwrap();
    let accounts = f.world.app().accounts(actor.chat).await.unwrap();
    let toggle = |provider| {
        let account = accounts.iter().find(|a| a.provider == provider).unwrap().id;
        crate::commands::ButtonAction::ToggleTarget(post, account).callback_data()
    };
    let press = |member: &SimMember, data: &str| {
        f.sim()
            .button_press(data, message)
            .in_guild(&f.sim().guild(), member)
            .build()
    };
    // Bob is neither the author nor an admin: only he hears it, and nothing changes.
    let x = toggle(autopost::domain::Provider::X);
    let refused = f.command(&f.bob, press(&f.bob, &x)).await;
    assert!(is_ephemeral(&refused), "{refused}");
    assert_eq!(f.queue().await[0].targets.len(), 2, "nothing changed");
    // Alice takes X off: the confirmation is updated in place (type 7) and X is no target.
    let updated = f.command(&f.alice, press(&f.alice, &x)).await;
    assert_eq!(updated["type"], 7, "{updated}");
    assert!(!content(&updated).contains("(X\\):"), "{updated}");
    assert_eq!(f.queue().await[0].targets, ["Alice's Bakery"]);
    // The last target cannot go: cancel the post instead.
    let page = toggle(autopost::domain::Provider::FacebookPage);
    let refused = f.command(&f.alice, press(&f.alice, &page)).await;
    assert!(
        is_ephemeral(&refused) && content(&refused).contains("cancel"),
        "{refused}"
    );
    // X comes back.
    let updated = f.command(&f.alice, press(&f.alice, &x)).await;
    assert_eq!(updated["type"], 7, "{updated}");
    assert_eq!(f.queue().await[0].targets.len(), 2);
}
