//! The scheduler against the simulated X: on time, in due order, exactly once; 429 resets
//! honoured, 5xx retried, permanent errors failed once, expired tokens refreshed, crashes
//! reconciled instead of resent.

use std::sync::Arc;
use std::time::Duration;

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{
    AccountId, ChatId, ChatKind, ChatPlatform, OAuthProvider, PostId, Provider, TargetState, UserId,
};
use autopost::scheduler::{Outcome, Scheduler, SchedulerConfig};
use autopost::store::{NewGrant, NewLinkedAccount, NewPost, NotificationKind, Store};
use autopost_sim::SimServer;
use autopost_sim::x::{self as simx, Endpoint, Failure, SimX, SimXConfig, SimXUser};
use chrono::{DateTime, Utc};

use crate::helpers::TestDir;

/// Users of the simulated X, one account each.
const USERS: [(&str, &str); 3] = [("1001", "alice"), ("1002", "bob"), ("1003", "carol")];

struct Fixture {
    _dir: TestDir,
    _server: SimServer,
    sim: SimX,
    store: Store,
    app: App,
    chat: ChatId,
    author: UserId,
    accounts: Vec<AccountId>,
}

fn fast() -> SchedulerConfig {
    SchedulerConfig {
        base_backoff: Duration::from_millis(50),
        reconcile_grace: Duration::from_millis(50),
        ..SchedulerConfig::default()
    }
}

impl Fixture {
    async fn new() -> Self {
        let (sim, server) = simx::start(SimXConfig::public("client")).await.unwrap();
        let dir = TestDir::new();
        let base = server.url().to_string();
        let app = App::open(dir.config(&[
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_X_API_URL", &base),
        ]))
        .await
        .unwrap();
        let store = app.store().clone();
        let now = Utc::now();
        let author = store
            .upsert_user(ChatPlatform::Telegram, "42", Some("author"), now)
            .await
            .unwrap()
            .id;
        let chat = store
            .upsert_chat(ChatPlatform::Telegram, "-1", ChatKind::Group, None, now)
            .await
            .unwrap()
            .id;
        let mut accounts = Vec::new();
        for (id, name) in USERS {
            let access = format!("access-{id}");
            let refresh = format!("refresh-{id}");
            sim.insert_grant(SimXUser::new(id, name), &access, Some(&refresh));
            let (_, linked) = store
                .save_linked_grant(
                    NewGrant {
                        owner: author,
                        provider: OAuthProvider::X,
                        remote_user_id: id,
                        scopes: "tweet.read tweet.write users.read media.write offline.access",
                        access_token: Secret::new(access),
                        refresh_token: Some(Secret::new(refresh)),
                        expires_at: Some(now + chrono::Duration::hours(2)),
                    },
                    vec![NewLinkedAccount {
                        provider: Provider::X,
                        remote_id: id.to_owned(),
                        display_name: format!("@{name}"),
                        access_token: None,
                    }],
                    chat,
                    now,
                )
                .await
                .unwrap();
            accounts.extend(linked);
        }
        Self {
            _dir: dir,
            _server: server,
            sim,
            store,
            app,
            chat,
            author,
            accounts,
        }
    }

    fn scheduler(&self, config: SchedulerConfig) -> Arc<Scheduler> {
        Arc::new(Scheduler::new(
            self.store.clone(),
            self.app.platforms().clone(),
            self.app.media().clone(),
            "http://127.0.0.1:9".parse().unwrap(),
            self.app.tokens().clone(),
            config,
        ))
    }

    async fn post(&self, text: &str, due_at: DateTime<Utc>, accounts: &[AccountId]) -> PostId {
        self.store
            .insert_post(
                NewPost {
                    chat: self.chat,
                    author: self.author,
                    body: text.to_owned(),
                    due_at,
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts.to_vec(),
                    media: vec![],
                },
                Utc::now(),
            )
            .await
            .unwrap()
    }

    async fn states(&self, post: PostId) -> Vec<TargetState> {
        self.store
            .targets_of_post(post)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s, _)| s)
            .collect()
    }

    /// Runs the scheduler until `done` holds or the deadline passes.
    async fn run_until<F, Fut>(&self, scheduler: Arc<Scheduler>, done: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(scheduler.run(stopped));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the scheduler drains and stops")
            .unwrap();
    }
}

#[tokio::test]
async fn a_due_post_reaches_every_linked_account_exactly_once_and_the_chat_is_told() {
    let f = Fixture::new().await;
    let post = f.post("launch day", Utc::now(), &f.accounts).await;
    let scheduler = f.scheduler(fast());
    let mut events = scheduler.subscribe();
    f.run_until(scheduler, || async { f.sim.tweets().len() == 3 })
        .await;
    let tweets = f.sim.tweets();
    let mut authors: Vec<&str> = tweets.iter().map(|t| t.author_id.as_str()).collect();
    authors.sort_unstable();
    assert_eq!(authors, ["1001", "1002", "1003"]);
    assert!(tweets.iter().all(|t| t.text == "launch day"));
    assert_eq!(f.states(post).await, vec![TargetState::Published; 3]);
    let targets = f.store.targets_of_post(post).await.unwrap();
    for (_, _, remote) in &targets {
        assert!(tweets.iter().any(|t| Some(&t.id) == remote.as_ref()));
    }
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(notes.len(), 3);
    assert!(
        notes
            .iter()
            .all(|n| n.notification.kind == NotificationKind::Published)
    );
    assert!(
        notes[0]
            .notification
            .link
            .as_deref()
            .unwrap()
            .contains("x.com")
    );
    let live = events.try_recv().unwrap();
    assert_eq!(live.kind, NotificationKind::Published);
}

#[tokio::test]
async fn due_posts_go_out_in_due_order_and_future_ones_wait() {
    let f = Fixture::new().await;
    let now = Utc::now();
    let alice = &f.accounts[..1];
    f.post("third", now - chrono::Duration::seconds(1), alice)
        .await;
    f.post("first", now - chrono::Duration::seconds(3), alice)
        .await;
    f.post("second", now - chrono::Duration::seconds(2), alice)
        .await;
    let later = f
        .post("later", now + chrono::Duration::hours(1), alice)
        .await;
    let scheduler = f.scheduler(SchedulerConfig {
        max_in_flight: 1,
        ..fast()
    });
    f.run_until(scheduler, || async { f.sim.tweets().len() == 3 })
        .await;
    let texts: Vec<String> = f.sim.tweets().into_iter().map(|t| t.text).collect();
    assert_eq!(texts, ["first", "second", "third"]);
    assert_eq!(f.states(later).await, vec![TargetState::Queued]);
}

#[tokio::test]
async fn a_post_added_while_the_scheduler_sleeps_wakes_it_at_once() {
    let f = Fixture::new().await;
    f.post(
        "far future",
        Utc::now() + chrono::Duration::hours(5),
        &f.accounts[..1],
    )
    .await;
    let scheduler = f.scheduler(fast());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler.clone().run(stopped));
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.post("now", Utc::now(), &f.accounts[..1]).await;
    scheduler.wake();
    let tweets = f.sim.wait_for_tweets(1, Duration::from_secs(3)).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "now");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_429_waits_for_the_reported_reset_instead_of_resending_early() {
    let f = Fixture::new().await;
    f.sim
        .fail_next(Endpoint::Tweets, Failure::RateLimited { reset_in_secs: 2 });
    let started = std::time::Instant::now();
    let post = f.post("throttled", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async { f.sim.tweets().len() == 1 })
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "sent again only after the reset ({:?})",
        started.elapsed()
    );
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff_and_then_succeeds() {
    let f = Fixture::new().await;
    f.sim.fail_next(Endpoint::Tweets, Failure::ServerError);
    f.sim.fail_next(Endpoint::Tweets, Failure::ServerError);
    let post = f.post("retry me", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async { f.sim.tweets().len() == 1 })
        .await;
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
}

#[tokio::test]
async fn failures_that_persist_stop_after_five_attempts_with_the_reason() {
    let f = Fixture::new().await;
    for _ in 0..6 {
        f.sim.fail_next(Endpoint::Tweets, Failure::ServerError);
    }
    let post = f.post("never", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async {
        f.states(post).await == vec![TargetState::Failed]
    })
    .await;
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .notification
            .text
            .contains("gave up after 5 attempts"),
        "{}",
        notes[0].notification.text
    );
    assert!(f.sim.tweets().is_empty());
}

#[tokio::test]
async fn a_rejected_post_fails_once_and_one_failing_account_does_not_fail_the_others() {
    let f = Fixture::new().await;
    // alice already has this text: X refuses a duplicate for her only.
    let first = f.post("same words", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async { f.sim.tweets().len() == 1 })
        .await;
    assert_eq!(f.states(first).await, vec![TargetState::Published]);
    let second = f.post("same words", Utc::now(), &f.accounts).await;
    f.run_until(f.scheduler(fast()), || async {
        f.states(second).await.iter().all(|s| s.is_final())
    })
    .await;
    assert_eq!(
        f.states(second).await,
        vec![
            TargetState::Failed,
            TargetState::Published,
            TargetState::Published
        ]
    );
    assert_eq!(f.sim.tweets().len(), 3, "bob and carol got it; alice once");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_post_goes_out() {
    let f = Fixture::new().await;
    f.sim.expire_access_tokens();
    let post = f.post("after refresh", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async { f.sim.tweets().len() == 1 })
        .await;
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
    assert_eq!(f.sim.token_requests().refreshes, 1);
}

#[tokio::test]
async fn cancelling_before_the_due_time_means_nothing_is_sent() {
    let f = Fixture::new().await;
    let post = f
        .post(
            "cancel me",
            Utc::now() + chrono::Duration::milliseconds(300),
            &f.accounts,
        )
        .await;
    let outcome = f.store.cancel_post(post, Utc::now()).await.unwrap();
    assert_eq!(outcome.cancelled, 3);
    let keep = f
        .post(
            "keep me",
            Utc::now() + chrono::Duration::milliseconds(400),
            &f.accounts[..1],
        )
        .await;
    f.run_until(f.scheduler(fast()), || async {
        f.states(keep).await == vec![TargetState::Published]
    })
    .await;
    let texts: Vec<String> = f.sim.tweets().into_iter().map(|t| t.text).collect();
    assert_eq!(texts, ["keep me"]);
    assert_eq!(f.states(post).await, vec![TargetState::Cancelled; 3]);
}

#[tokio::test]
async fn a_crash_before_the_request_left_is_confirmed_absent_and_sent_once() {
    let f = Fixture::new().await;
    let post = f
        .post("crash before send", Utc::now(), &f.accounts[..1])
        .await;
    // The first run claims (marks publishing) and dies before sending anything.
    assert_eq!(f.store.claim_due(Utc::now(), 10).await.unwrap().len(), 1);
    let scheduler = f.scheduler(fast());
    assert_eq!(scheduler.reconcile_in_flight().await.unwrap(), 1);
    assert_eq!(f.states(post).await, vec![TargetState::Queued]);
    f.run_until(scheduler, || async {
        f.states(post).await == vec![TargetState::Published]
    })
    .await;
    assert_eq!(f.sim.tweets().len(), 1);
}

#[tokio::test]
async fn a_crash_while_x_was_answering_leaves_exactly_one_copy_and_the_database_agrees() {
    let f = Fixture::new().await;
    // X creates the post at once but answers only after two seconds.
    f.sim
        .fail_next(Endpoint::Tweets, Failure::Slow(Duration::from_secs(2)));
    let post = f
        .post("crash mid-answer", Utc::now(), &f.accounts[..1])
        .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first_run = tokio::spawn(f.scheduler(fast()).run(stopped));
    let landed = f.sim.wait_for_tweets(1, Duration::from_secs(5)).await;
    assert_eq!(landed.len(), 1);
    // kill -9: the run and its request vanish before the answer.
    first_run.abort();
    let _ = first_run.await;
    drop(stop);
    assert_eq!(f.states(post).await, vec![TargetState::Publishing]);

    let restarted = f.scheduler(fast());
    assert_eq!(restarted.reconcile_in_flight().await.unwrap(), 1);
    let targets = f.store.targets_of_post(post).await.unwrap();
    assert_eq!(targets[0].1, TargetState::Published);
    assert_eq!(targets[0].2.as_deref(), Some(landed[0].id.as_str()));
    // And running on sends nothing more.
    f.run_until(restarted, || async { true }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.sim.tweets().len(), 1, "exactly one copy at X");
}

#[tokio::test]
async fn publishes_stay_within_the_platform_and_account_bounds() {
    let f = Fixture::new().await;
    f.sim.set_latency(Duration::from_millis(100));
    for i in 0..12 {
        f.post(&format!("bounded {i}"), Utc::now(), &[f.accounts[i % 3]])
            .await;
    }
    let scheduler = f.scheduler(SchedulerConfig {
        per_platform: 2,
        per_account: 1,
        ..fast()
    });
    f.run_until(scheduler, || async { f.sim.tweets().len() == 12 })
        .await;
    assert_eq!(
        f.sim.max_concurrent(Endpoint::Tweets),
        2,
        "concurrent, but never above the platform bound"
    );

    let g = Fixture::new().await;
    g.sim.set_latency(Duration::from_millis(50));
    for i in 0..4 {
        g.post(&format!("one account {i}"), Utc::now(), &g.accounts[..1])
            .await;
    }
    let scheduler = g.scheduler(SchedulerConfig {
        per_platform: 8,
        per_account: 1,
        ..fast()
    });
    g.run_until(scheduler, || async { g.sim.tweets().len() == 4 })
        .await;
    assert_eq!(
        g.sim.max_concurrent(Endpoint::Tweets),
        1,
        "one at a time per account"
    );
}

#[tokio::test]
async fn publishing_one_target_reports_its_outcome() {
    let f = Fixture::new().await;
    f.post("direct", Utc::now(), &f.accounts[..1]).await;
    let claimed = f.store.claim_due(Utc::now(), 1).await.unwrap();
    let outcome = f.scheduler(fast()).publish(claimed[0].clone()).await;
    assert!(matches!(outcome, Outcome::Published(_)), "{outcome:?}");
}

#[tokio::test]
async fn undelivered_notifications_survive_a_restart() {
    let f = Fixture::new().await;
    f.post("tell me", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), || async { f.sim.tweets().len() == 1 })
        .await;
    let before = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(before.len(), 1, "{before:#?}");
    f.store.close().await;
    let base = f._server.url().to_string();
    let reopened = App::open(f._dir.config(&[
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", &base),
    ]))
    .await
    .unwrap();
    let after = reopened
        .store()
        .undelivered_notifications(10)
        .await
        .unwrap();
    assert_eq!(after, before);
    reopened
        .store()
        .mark_notification_delivered(after[0].id, Utc::now())
        .await
        .unwrap();
    assert!(
        reopened
            .store()
            .undelivered_notifications(10)
            .await
            .unwrap()
            .is_empty()
    );
}
