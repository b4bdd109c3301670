//! The scheduler against the simulated X: on time, in due order, exactly once; 429 resets
//! honoured, 5xx retried, permanent errors failed once, expired tokens refreshed, crashes
//! reconciled instead of resent.

use std::sync::Arc;
use std::time::Duration;

use autopost::domain::Actor;
use autopost::domain::{AccountId, PostId, TargetState};
use autopost::posting::PostingError;
use autopost::scheduler::{Outcome, Scheduler, SchedulerConfig};
use autopost::store::{NewPost, NotificationKind, Store};
use autopost_sim::World;
use autopost_sim::world::{PATIENCE, wait_for_quiet};
use autopost_sim::x::{Endpoint, Failure, SimX, SimXUser};
use chrono::{DateTime, Utc};

/// Users of the simulated X, one account each.
const USERS: [(&str, &str); 3] = [("1001", "alice"), ("1002", "bob"), ("1003", "carol")];

/// autopost open but not serving, so that each test runs a scheduler of its own (with short
/// waits, or tight bounds) over a group with three linked X accounts.
struct Fixture {
    world: World,
    store: Store,
    author: Actor,
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
        let world = World::builder().x().open().await.unwrap();
        let author = world.actor("telegram:-1", "telegram:42").await.unwrap();
        let expires = Some(Utc::now() + chrono::Duration::hours(2));
        let mut accounts = Vec::new();
        for (id, name) in USERS {
            let user = SimXUser::new(id, name);
            let seeded = world.seed_x_account(&author, &user, expires).await.unwrap();
            accounts.push(seeded.account);
        }
        Self {
            store: world.store().await.unwrap(),
            world,
            author,
            accounts,
        }
    }

    fn sim(&self) -> &SimX {
        self.world.x()
    }

    fn scheduler(&self, config: SchedulerConfig) -> Arc<Scheduler> {
        let app = self.world.app();
        Arc::new(Scheduler::new(
            self.store.clone(),
            app.instance().clone(),
            app.platforms().clone(),
            app.media().clone(),
            self.world.url().clone(),
            app.tokens().clone(),
            config,
        ))
    }

    async fn post(&self, text: &str, due_at: DateTime<Utc>, accounts: &[AccountId]) -> PostId {
        self.store
            .insert_post(
                NewPost {
                    chat: self.author.chat,
                    author: self.author.user,
                    body: text.to_owned(),
                    due_at,
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: accounts.to_vec(),
                    variants: Vec::new(),
                    media: vec![],
                    threads: vec![],
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

    /// Runs the scheduler until `done` holds, then stops it and lets it drain.
    async fn run_until(
        &self,
        scheduler: Arc<Scheduler>,
        what: &str,
        done: impl AsyncFnMut() -> bool,
    ) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(scheduler.run(stopped));
        self.world.wait_until(what, done).await.unwrap();
        stop.send(true).unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the scheduler drains and stops")
            .unwrap();
    }

    /// Runs the scheduler until a tick after its start found nothing due and nothing in flight.
    async fn run_until_quiet(&self, scheduler: Arc<Scheduler>) {
        let watched = scheduler.clone();
        self.run_until(scheduler, "the scheduler to fall quiet", async || {
            wait_for_quiet(&watched).await.is_ok()
        })
        .await;
    }

    /// Runs the scheduler until `n` posts reached X.
    async fn run_until_tweets(&self, scheduler: Arc<Scheduler>, n: usize) {
        let what = format!("{n} posts at X");
        self.run_until(scheduler, &what, async || self.sim().tweets().len() == n)
            .await;
    }
}

#[tokio::test]
async fn a_due_post_reaches_every_linked_account_exactly_once_and_the_chat_is_told() {
    let f = Fixture::new().await;
    let post = f.post("launch day", Utc::now(), &f.accounts).await;
    let scheduler = f.scheduler(fast());
    let mut events = scheduler.subscribe();
    f.run_until_tweets(scheduler, 3).await;
    let tweets = f.sim().tweets();
    let mut authors: Vec<&str> = tweets.iter().map(|t| t.author_id.as_str()).collect();
    authors.sort_unstable();
    assert_eq!(authors, ["1001", "1002", "1003"]);
    assert!(tweets.iter().all(|t| t.text == "launch day"));
    assert_eq!(f.states(post).await, vec![TargetState::Published; 3]);
    let targets = f.store.targets_of_post(post).await.unwrap();
    for (_, _, remote) in &targets {
        assert!(tweets.iter().any(|t| Some(&t.id) == remote.as_ref()));
    }
    // Each finished target tells the chat the post changed: its one status message is
    // rendered again from the post's view, which links each live post.
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(notes.len(), 3);
    assert!(notes.iter().all(|n| {
        n.notification.kind == NotificationKind::PostChanged && n.notification.post == Some(post)
    }));
    let view = f.store.post_view(post).await.unwrap().unwrap();
    assert!(
        view.targets
            .iter()
            .all(|t| t.url.as_deref().is_some_and(|u| u.contains("x.com")))
    );
    let live = events.try_recv().unwrap();
    assert_eq!(live.kind, NotificationKind::PostChanged);
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
    f.run_until_tweets(scheduler, 3).await;
    let texts: Vec<String> = f.sim().tweets().into_iter().map(|t| t.text).collect();
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
    // Asleep: it has looked, found nothing due for five hours, and sends nothing.
    wait_for_quiet(&scheduler).await.unwrap();
    f.post("now", Utc::now(), &f.accounts[..1]).await;
    scheduler.wake();
    let tweets = f.sim().wait_for_tweets(1, PATIENCE).await;
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "now");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_429_waits_for_the_reported_reset_instead_of_resending_early() {
    let f = Fixture::new().await;
    f.sim()
        .fail_next(Endpoint::Tweets, Failure::RateLimited { reset_in_secs: 2 });
    let started = std::time::Instant::now();
    let post = f.post("throttled", Utc::now(), &f.accounts[..1]).await;
    f.run_until_tweets(f.scheduler(fast()), 1).await;
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
    f.sim().fail_next(Endpoint::Tweets, Failure::ServerError);
    f.sim().fail_next(Endpoint::Tweets, Failure::ServerError);
    let post = f.post("retry me", Utc::now(), &f.accounts[..1]).await;
    f.run_until_tweets(f.scheduler(fast()), 1).await;
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
}

#[tokio::test]
async fn failures_that_persist_stop_after_five_attempts_with_the_reason() {
    let f = Fixture::new().await;
    for _ in 0..6 {
        f.sim().fail_next(Endpoint::Tweets, Failure::ServerError);
    }
    let post = f.post("never", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), "the target to fail", async || {
        f.states(post).await == vec![TargetState::Failed]
    })
    .await;
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(notes.len(), 1, "retries tell nobody; the failure does");
    assert_eq!(notes[0].notification.post, Some(post));
    let view = f.store.post_view(post).await.unwrap().unwrap();
    let reason = view.targets[0].reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 5 attempts: X was unavailable (HTTP 503"),
        "{reason}"
    );
    assert_eq!(view.targets[0].attempts, 5);
    assert!(f.sim().tweets().is_empty());
}

#[tokio::test]
async fn a_failed_target_is_offered_for_retry_and_its_author_can_send_it_again() {
    let f = Fixture::new().await;
    for _ in 0..6 {
        f.sim().fail_next(Endpoint::Tweets, Failure::ServerError);
    }
    let post = f.post("try again", Utc::now(), &f.accounts[..1]).await;
    f.run_until(f.scheduler(fast()), "the target to fail", async || {
        f.states(post).await == vec![TargetState::Failed]
    })
    .await;
    let view = f.store.post_view(post).await.unwrap().unwrap();
    // The status message offers Retry for the failed target.
    let target = view.targets[0].id;
    // Someone else in the chat may not; the author may, and the post goes out once.
    let other = f.world.actor("telegram:-1", "telegram:43").await.unwrap();
    let refused = f.world.app().retry_target(&other, target, Utc::now()).await;
    assert!(matches!(refused, Err(PostingError::NotAllowed(p)) if p == post));
    assert_eq!(f.states(post).await, vec![TargetState::Failed]);
    let retried = f
        .world
        .app()
        .retry_target(&f.author, target, Utc::now())
        .await
        .unwrap();
    assert_eq!(retried, post);
    assert_eq!(f.states(post).await, vec![TargetState::Queued]);
    f.run_until_tweets(f.scheduler(fast()), 1).await;
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
    // A published target is not tried again.
    let again = f
        .world
        .app()
        .retry_target(&f.author, target, Utc::now())
        .await;
    assert!(matches!(again, Err(PostingError::NotRetryable)));
    assert_eq!(f.sim().tweets().len(), 1);
}

#[tokio::test]
async fn a_rejected_post_fails_once_and_one_failing_account_does_not_fail_the_others() {
    let f = Fixture::new().await;
    // alice already has this text: X refuses a duplicate for her only.
    let first = f.post("same words", Utc::now(), &f.accounts[..1]).await;
    f.run_until_tweets(f.scheduler(fast()), 1).await;
    assert_eq!(f.states(first).await, vec![TargetState::Published]);
    let second = f.post("same words", Utc::now(), &f.accounts).await;
    f.run_until(f.scheduler(fast()), "every target to finish", async || {
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
    assert_eq!(
        f.sim().tweets().len(),
        3,
        "bob and carol got it; alice once"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_post_goes_out() {
    let f = Fixture::new().await;
    f.sim().expire_access_tokens();
    let post = f.post("after refresh", Utc::now(), &f.accounts[..1]).await;
    f.run_until_tweets(f.scheduler(fast()), 1).await;
    assert_eq!(f.states(post).await, vec![TargetState::Published]);
    assert_eq!(f.sim().token_requests().refreshes, 1);
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
    f.run_until(f.scheduler(fast()), "the kept post to go out", async || {
        f.states(keep).await == vec![TargetState::Published]
    })
    .await;
    let texts: Vec<String> = f.sim().tweets().into_iter().map(|t| t.text).collect();
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
    f.run_until(scheduler, "the post to go out", async || {
        f.states(post).await == vec![TargetState::Published]
    })
    .await;
    assert_eq!(f.sim().tweets().len(), 1);
}

#[tokio::test]
async fn a_crash_while_x_was_answering_leaves_exactly_one_copy_and_the_database_agrees() {
    let f = Fixture::new().await;
    // X creates the post at once but answers only after two seconds.
    f.sim()
        .fail_next(Endpoint::Tweets, Failure::Slow(Duration::from_secs(2)));
    let post = f
        .post("crash mid-answer", Utc::now(), &f.accounts[..1])
        .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first_run = tokio::spawn(f.scheduler(fast()).run(stopped));
    let landed = f.sim().wait_for_tweets(1, PATIENCE).await;
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
    f.run_until_quiet(restarted).await;
    assert_eq!(f.sim().tweets().len(), 1, "exactly one copy at X");
}

#[tokio::test]
async fn publishes_stay_within_the_platform_and_account_bounds() {
    let f = Fixture::new().await;
    f.sim().set_latency(Duration::from_millis(100));
    for i in 0..12 {
        f.post(&format!("bounded {i}"), Utc::now(), &[f.accounts[i % 3]])
            .await;
    }
    let scheduler = f.scheduler(SchedulerConfig {
        per_platform: 2,
        per_account: 1,
        ..fast()
    });
    f.run_until_tweets(scheduler, 12).await;
    assert_eq!(
        f.sim().max_concurrent(Endpoint::Tweets),
        2,
        "concurrent, but never above the platform bound"
    );

    let g = Fixture::new().await;
    g.sim().set_latency(Duration::from_millis(50));
    for i in 0..4 {
        g.post(&format!("one account {i}"), Utc::now(), &g.accounts[..1])
            .await;
    }
    let scheduler = g.scheduler(SchedulerConfig {
        per_platform: 8,
        per_account: 1,
        ..fast()
    });
    g.run_until_tweets(scheduler, 4).await;
    assert_eq!(
        g.sim().max_concurrent(Endpoint::Tweets),
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
    let mut f = Fixture::new().await;
    f.post("tell me", Utc::now(), &f.accounts[..1]).await;
    f.run_until_tweets(f.scheduler(fast()), 1).await;
    let before = f.store.undelivered_notifications(10).await.unwrap();
    assert_eq!(before.len(), 1, "{before:#?}");
    // Everything closes; then the database opens again from the files left behind.
    f.world.shutdown().await.unwrap();
    let reopened = f.world.store().await.unwrap();
    let after = reopened.undelivered_notifications(10).await.unwrap();
    assert_eq!(after, before);
    reopened
        .mark_notification_delivered(after[0].id, Utc::now())
        .await
        .unwrap();
    assert!(
        reopened
            .undelivered_notifications(10)
            .await
            .unwrap()
            .is_empty()
    );
}
