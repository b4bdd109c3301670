//! Several instances on one PostgreSQL database behave as one product (issue 13): an OAuth
//! round trip started on one finishes on another, once; an instance whose lease is gone sends
//! nothing and the survivor publishes its work once; two schedulers share a queue without a
//! post twice or an account over its bound; a Telegram webhook update that reaches two
//! instances is handled once, and a post made through one is cancelled through the other.
//! Each test returns early (the test cluster said why) where PostgreSQL is not installed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use autopost::domain::{ChatPlatform, TargetState};
use autopost::posting::Draft;
use autopost::store::NewPost;
use autopost_bots::telegram::{Options, TelegramFrontEnd};
use autopost_sim::World;
use autopost_sim::WorldError;
use autopost_sim::telegram::{SimChat, SimUser};
use autopost_sim::world::{Browser, PATIENCE, X_CLIENT_ID};
use autopost_sim::x::{Endpoint, SimXConfig, SimXUser};
use chrono::Utc;
use url::Url;

use crate::helpers::jpeg;

/// A world on a fresh PostgreSQL database with the simulated X; `None` without PostgreSQL.
async fn shared_x_world() -> Option<World> {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let world = World::builder().x_with(x).postgres().open().await.unwrap();
    world.is_shared().then_some(world)
}

fn same_port(a: &Url, b: &Url) -> bool {
    a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

#[tokio::test]
async fn an_oauth_round_trip_started_on_one_instance_finishes_on_another_once() {
    let Some(mut a) = shared_x_world().await else {
        return;
    };
    a.serve().unwrap();
    let mut b = a.another_instance().await.unwrap();
    b.serve().unwrap();
    let start = a
        .app()
        .connect_link("x", "telegram:-1", "telegram:1", Utc::now())
        .await
        .unwrap();

    // The person's browser goes through A's start page and X's consent page; the callback,
    // addressed to the one public URL, reaches B (as a balancer may send it).
    let mut browser = Browser::new().unwrap();
    let mut next = start.clone();
    let mut left_autopost = false;
    let callback = loop {
        if left_autopost && same_port(&next, a.url()) {
            break next;
        }
        left_autopost |= !same_port(&next, a.url());
        let step = browser.step(&next).await.unwrap();
        next = step
            .location
            .or(step.next)
            .unwrap_or_else(|| panic!("the round trip stopped at {}", next.path()));
    };
    let mut at_b = callback.clone();
    at_b.set_port(b.own_url().port()).unwrap();
    let page = browser.open(at_b).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);

    let actor = a.actor("telegram:-1", "telegram:1").await.unwrap();
    let store = a.store().await.unwrap();
    let linked = store.accounts_of_chat(actor.chat).await.unwrap();
    assert_eq!(linked.len(), 1, "linked once: {linked:?}");
    assert_eq!(a.x().token_requests().code_exchanges, 1);

    // The same callback again, now at A: the state was used, whichever instance used it.
    let replay = browser.open(callback).await.unwrap();
    assert_ne!(replay.status, 200);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert_eq!(store.accounts_of_chat(actor.chat).await.unwrap().len(), 1);
    assert_eq!(a.x().token_requests().code_exchanges, 1);

    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_instance_whose_lease_is_gone_sends_nothing_and_the_survivor_publishes_once() {
    let Some(mut a) = shared_x_world().await else {
        return;
    };
    let author = a.actor("telegram:-1", "telegram:1").await.unwrap();
    let user = SimXUser::new("2244994945", "team");
    let expires = Some(Utc::now() + chrono::Duration::hours(2));
    a.seed_x_account(&author, &user, expires).await.unwrap();
    let x = a.x().clone();
    a.serve().unwrap();
    let mut b = a.another_instance().await.unwrap();
    let store = a.store().await.unwrap();

    // A claims the post and starts uploading its image; X takes its time answering, and
    // meanwhile A's lease goes (its sessions ended, as a peer does to a frozen instance).
    x.set_latency(Duration::from_millis(2500));
    let post = a
        .app()
        .create_post(
            &author,
            Draft {
                when: "now".to_owned(),
                text: "fresh loaves".to_owned(),
                images: vec![jpeg(40, 30)],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .post;
    a.wait_until("A to upload the image", async || {
        x.requests(Endpoint::MediaUpload) == 1
    })
    .await
    .unwrap();
    x.set_latency(Duration::ZERO);
    let a_id = a.app().instance().id().to_owned();
    let owned = store.owned_by(&a_id).owned_in_flight().await.unwrap();
    assert_eq!(owned.len(), 1, "A owns the target it is sending");
    assert!(store.end_sessions_of(&a_id).await.unwrap() >= 1);
    b.serve().unwrap();

    let mut lost = a.app().instance().lost();
    tokio::time::timeout(PATIENCE, lost.wait_for(|lost| *lost))
        .await
        .expect("A finds its lease gone")
        .unwrap();
    // A stops once its publish drained: whatever it was going to send, it has sent.
    match a.shutdown().await {
        Err(WorldError::Served(autopost::app::AppError::LeaseLost)) => {}
        other => panic!("A exits because its lease is gone: {other:?}"),
    }
    // A's shutdown closed its white-box store too.
    let store = b.store().await.unwrap();
    b.wait_until("the survivor to publish", async || {
        store
            .targets_of_post(post)
            .await
            .unwrap()
            .iter()
            .all(|(_, state, _)| *state == TargetState::Published)
    })
    .await
    .unwrap();

    let tweets = x.tweets();
    assert_eq!(tweets.len(), 1, "{tweets:?}");
    assert_eq!(x.requests(Endpoint::Tweets), 1, "one create in all");
    // The survivor found nothing at X and uploaded the image again (A gave its upload up
    // when its lease went): the one post carries the survivor's upload.
    assert_eq!(
        x.requests(Endpoint::MediaUpload),
        2,
        "A's upload and the survivor's"
    );
    let media = x.media();
    assert_eq!(tweets[0].media_ids, vec![media.last().unwrap().id.clone()]);
    b.shutdown().await.unwrap();
}

/// How many targets each account has `publishing` right now, the most seen so far per
/// account kept in `most`.
async fn sample_publishing(store: &autopost::store::Store, most: &mut HashMap<i64, usize>) {
    let mut now: HashMap<i64, usize> = HashMap::new();
    for target in store.in_flight_targets().await.unwrap() {
        *now.entry(target.account.0).or_default() += 1;
    }
    for (account, count) in now {
        let seen = most.entry(account).or_default();
        *seen = (*seen).max(count);
    }
}

#[tokio::test]
async fn two_schedulers_publish_a_shared_queue_once_each_within_the_account_bound() {
    const ACCOUNTS: usize = 20;
    const POSTS: usize = 200;
    /// `SchedulerConfig::default().per_account`, over every instance.
    const PER_ACCOUNT: usize = 2;
    let Some(mut a) = shared_x_world().await else {
        return;
    };
    let author = a.actor("telegram:-1", "telegram:1").await.unwrap();
    let expires = Some(Utc::now() + chrono::Duration::hours(2));
    let mut accounts = Vec::new();
    for n in 0..ACCOUNTS {
        let user = SimXUser::new(format!("{}", 5000 + n), format!("user{n}"));
        accounts.push(a.seed_x_account(&author, &user, expires).await.unwrap());
    }
    let store = a.store().await.unwrap();
    let start = Utc::now() + chrono::Duration::seconds(1);
    let posts: Vec<NewPost> = (0..POSTS)
        .map(|n| NewPost {
            chat: author.chat,
            author: author.user,
            body: format!("post number {n}"),
            due_at: start + chrono::Duration::milliseconds(10 * n as i64),
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets: vec![accounts[n % ACCOUNTS].account],
            variants: Vec::new(),
            media: vec![],
            threads: vec![],
        })
        .collect();
    store.insert_posts(posts, Utc::now()).await.unwrap();
    let x = a.x().clone();
    // Each request takes a while, so that both instances have several in flight at once.
    x.set_latency(Duration::from_millis(30));

    let mut b = a.another_instance().await.unwrap();
    a.serve().unwrap();
    b.serve().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut most = HashMap::new();
            while !done.load(Ordering::SeqCst) {
                sample_publishing(&store, &mut most).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let published = AtomicUsize::new(0);
    a.wait_until("every post published", async || {
        let count = store.count_targets(TargetState::Published).await.unwrap();
        published.store(count as usize, Ordering::SeqCst);
        count as usize == POSTS
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {} published", published.load(Ordering::SeqCst)));
    done.store(true, Ordering::SeqCst);
    let most = sampler.await.unwrap();

    let tweets = x.tweets();
    assert_eq!(tweets.len(), POSTS, "each post once");
    let mut texts: Vec<&str> = tweets.iter().map(|t| t.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), POSTS, "no post twice");
    assert_eq!(
        x.requests(Endpoint::Tweets) as usize,
        POSTS,
        "no create resent"
    );
    let over: Vec<_> = most.iter().filter(|(_, n)| **n > PER_ACCOUNT).collect();
    assert!(over.is_empty(), "accounts over the bound: {over:?}");
    // At X: a request holds its account's slot at least for the latency, so three of one
    // account arriving within it were in flight together.
    let mut by_author: HashMap<&str, Vec<_>> = HashMap::new();
    for tweet in &tweets {
        by_author
            .entry(tweet.author_id.as_str())
            .or_default()
            .push(tweet.received_at);
    }
    for (author, mut times) in by_author {
        times.sort_unstable();
        for window in times.windows(PER_ACCOUNT + 1) {
            let spread = window[PER_ACCOUNT] - window[0];
            assert!(
                spread >= chrono::Duration::milliseconds(30),
                "{author}: {} requests within {spread}",
                PER_ACCOUNT + 1
            );
        }
    }
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

const WEBHOOK_SECRET: &str = "hook-secret_13";

fn bot_options() -> Options {
    Options {
        poll_timeout: Duration::from_secs(1),
        notification_retry: Duration::from_millis(100),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_webhook_update_sent_to_two_instances_is_handled_once_and_either_cancels() {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let mut a = World::builder()
        .x_with(x)
        .telegram_webhook(WEBHOOK_SECRET)
        .postgres()
        .front_end(|app| TelegramFrontEnd::new(app, bot_options()))
        .open()
        .await
        .unwrap();
    if !a.is_shared() {
        return;
    }
    a.agree(&["telegram:1001"]).await.unwrap();
    a.serve().unwrap();
    let mut b = a
        .another_instance()
        .await
        .unwrap()
        .with_front_end(|app| TelegramFrontEnd::new(app, bot_options()));
    b.serve().unwrap();
    let tg = a.telegram().clone();
    a.wait_until("the bots to connect", async || tg.webhook().is_some())
        .await
        .unwrap();
    let bob = SimUser::new(1001, "Bob");
    tg.add_chat(&SimChat::private(&bob));
    a.link_x("telegram:1001", "telegram:1001").await.unwrap();

    let hook = |world: &World| world.own_url().join("telegram/webhook").unwrap();
    let id = tg.push_private_text(&bob, "tomorrow 9am | one post, two instances");
    let update = tg.update(id).unwrap();
    for world in [&a, &b] {
        let status = tg
            .deliver_webhook(&hook(world), update.clone(), Some(WEBHOOK_SECRET))
            .await;
        assert_eq!(status, 200);
    }
    let store = a.store().await.unwrap();
    let actor = a.actor("telegram:1001", "telegram:1001").await.unwrap();
    let (app_a, app_b) = (a.app().clone(), b.app().clone());
    a.wait_until(
        "both instances to have handled what they took",
        async || {
            app_a
                .deliveries_waiting(ChatPlatform::Telegram)
                .await
                .unwrap()
                == 0
                && app_b
                    .deliveries_waiting(ChatPlatform::Telegram)
                    .await
                    .unwrap()
                    == 0
                && !store.queued_posts(actor.chat).await.unwrap().is_empty()
        },
    )
    .await
    .unwrap();
    let queued = store.queued_posts(actor.chat).await.unwrap();
    assert_eq!(queued.len(), 1, "one post: {queued:?}");
    let post = queued[0].post;
    let cancel = format!("cancel:{}", post.0);
    let confirmations: Vec<_> = tg
        .sent_messages()
        .into_iter()
        .filter(|m| {
            m.chat_id == bob.id
                && m.reply_markup
                    .as_ref()
                    .is_some_and(|k| k.to_string().contains(&cancel))
        })
        .collect();
    assert_eq!(confirmations.len(), 1, "confirmed once: {confirmations:#?}");

    // Made through A; its Cancel button pressed, and the press delivered to B.
    let press = tg.push_callback(&bob, bob.id, confirmations[0].message_id, &cancel);
    let status = tg
        .deliver_webhook(&hook(&b), tg.update(press).unwrap(), Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(status, 200);
    a.wait_until("the post cancelled", async || {
        store
            .targets_of_post(post)
            .await
            .unwrap()
            .iter()
            .all(|(_, state, _)| *state == TargetState::Cancelled)
    })
    .await
    .unwrap();
    a.wait_until("the press answered", async || {
        tg.answered_callbacks().len() == 1
    })
    .await
    .unwrap();
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
