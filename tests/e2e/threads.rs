//! X threads against the simulated X: a text too long for one post is accepted as a thread,
//! published part by part, each replying to the one before; a refused part stops the rest
//! and is named; a 503 resumes at the part that failed; a crash mid-thread is reconciled part
//! by part, so that no part is ever sent twice.

use std::sync::Arc;
use std::time::Duration;

use autopost::domain::{AccountId, Actor, PostId, TargetState};
use autopost::posting::{Accepted, Draft};
use autopost::scheduler::{Scheduler, SchedulerConfig};
use autopost::store::{Store, ThreadPart};
use autopost_sim::World;
use autopost_sim::world::PATIENCE;
use autopost_sim::x::{Endpoint, Failure, RecordedTweet, SimX, SimXUser};
use chrono::Utc;

/// Six sentences of 103 characters: two fit in one X post, so three parts.
fn long_text() -> String {
    (1..=6)
        .map(|i| format!("Part {i} says: {}.", ["word"; 18].join(" ")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// autopost open but not serving, with one linked X account; each test runs a scheduler of
/// its own with short waits.
struct Fixture {
    world: World,
    store: Store,
    author: Actor,
    account: AccountId,
}

impl Fixture {
    async fn new() -> Self {
        let world = World::builder().x().open().await.unwrap();
        let author = world.actor("telegram:-1", "telegram:42").await.unwrap();
        let expires = Some(Utc::now() + chrono::Duration::hours(2));
        let seeded = world
            .seed_x_account(&author, &SimXUser::new("1001", "alice"), expires)
            .await
            .unwrap();
        Self {
            store: world.store().await.unwrap(),
            world,
            author,
            account: seeded.account,
        }
    }

    fn sim(&self) -> &SimX {
        self.world.x()
    }

    fn scheduler(&self) -> Arc<Scheduler> {
        let app = self.world.app();
        Arc::new(Scheduler::new(
            self.store.clone(),
            app.instance().clone(),
            app.platforms().clone(),
            app.media().clone(),
            self.world.url().clone(),
            app.tokens().clone(),
            SchedulerConfig {
                base_backoff: Duration::from_millis(50),
                reconcile_grace: Duration::from_millis(50),
                ..SchedulerConfig::default()
            },
        ))
    }

    async fn post(&self, text: &str, when: &str) -> Accepted {
        let draft = Draft {
            when: when.to_owned(),
            text: text.to_owned(),
            ..Draft::default()
        };
        self.world
            .app()
            .create_post(&self.author, draft, Utc::now())
            .await
            .unwrap()
    }

    async fn state(&self, post: PostId) -> TargetState {
        self.store.targets_of_post(post).await.unwrap()[0].1
    }

    async fn parts(&self, post: PostId) -> Vec<ThreadPart> {
        let mut threads = self.store.threads_of_post(post).await.unwrap();
        assert_eq!(threads.len(), 1, "one thread: {threads:?}");
        assert_eq!(threads[0].0, self.account);
        threads.remove(0).1
    }

    /// Runs a scheduler until `done` holds, then stops it and lets it drain.
    async fn run_until(&self, what: &str, done: impl AsyncFnMut() -> bool) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.scheduler().run(stopped));
        self.world.wait_until(what, done).await.unwrap();
        stop.send(true).unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the scheduler drains and stops")
            .unwrap();
    }

    async fn run_until_final(&self, post: PostId) {
        self.run_until("the thread to finish", async || {
            self.state(post).await.is_final()
        })
        .await;
    }
}

/// The tweets form one chain in order: each replies to the one before, the first to none.
fn assert_chained(tweets: &[RecordedTweet]) {
    assert_eq!(tweets[0].reply_to, None);
    for pair in tweets.windows(2) {
        assert_eq!(pair[1].reply_to.as_deref(), Some(pair[0].id.as_str()));
    }
}

#[tokio::test]
async fn a_long_text_becomes_a_thread_of_three_whose_parts_reply_in_order() {
    let f = Fixture::new().await;
    let text = long_text();
    let accepted = f.post(&text, "now").await;
    assert_eq!(accepted.targets[0].parts, 3);
    assert!(accepted.targets[0].length > 280);
    f.run_until_final(accepted.post).await;

    assert_eq!(f.state(accepted.post).await, TargetState::Published);
    let tweets = f.sim().tweets();
    assert_eq!(tweets.len(), 3);
    assert_chained(&tweets);
    let words: Vec<&str> = tweets.iter().flat_map(|t| t.text.split(' ')).collect();
    assert_eq!(words.join(" "), text, "the parts, in order, are the text");
    // The target's link is the thread's first post; every part's id is kept.
    let target = &f.store.targets_of_post(accepted.post).await.unwrap()[0];
    assert_eq!(target.2.as_deref(), Some(tweets[0].id.as_str()));
    let parts = f.parts(accepted.post).await;
    let ids: Vec<Option<&str>> = parts.iter().map(|p| p.remote_id.as_deref()).collect();
    let sent: Vec<Option<&str>> = tweets.iter().map(|t| Some(t.id.as_str())).collect();
    assert_eq!(ids, sent);
}

#[tokio::test]
async fn numbered_parts_are_asked_for_with_a_last_line_and_an_edit_splits_again() {
    let f = Fixture::new().await;
    let accepted = f
        .post(&format!("{}\n1/n", long_text()), "tomorrow 9am")
        .await;
    let bodies: Vec<String> = f
        .parts(accepted.post)
        .await
        .into_iter()
        .map(|p| p.body)
        .collect();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[0].starts_with("1/3 Part 1 says"), "{bodies:?}");
    assert!(bodies[2].starts_with("3/3 Part 5 says"), "{bodies:?}");
    assert!(bodies.iter().all(|b| !b.contains("1/n")));

    // A shorter text leaves no thread; a longer one has more parts, none numbered.
    let app = f.world.app();
    let short = app
        .edit_post(
            &f.author,
            accepted.post,
            "tomorrow 9am",
            "short now",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(short.targets[0].parts, 1);
    assert!(
        f.store
            .threads_of_post(accepted.post)
            .await
            .unwrap()
            .is_empty()
    );
    let longer = format!("{} {}", long_text(), long_text());
    let edited = app
        .edit_post(
            &f.author,
            accepted.post,
            "tomorrow 9am",
            &longer,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(edited.targets[0].parts, 6);
    let parts = f.parts(accepted.post).await;
    assert_eq!(parts.len(), 6);
    assert!(parts[0].body.starts_with("Part 1 says"));
}

#[tokio::test]
async fn a_refused_second_part_stops_the_thread_and_the_reason_names_it() {
    let f = Fixture::new().await;
    f.sim().fail_call(Endpoint::Tweets, 2, Failure::Refused);
    let accepted = f.post(&long_text(), "now").await;
    f.run_until_final(accepted.post).await;

    assert_eq!(f.state(accepted.post).await, TargetState::Failed);
    let tweets = f.sim().tweets();
    assert_eq!(tweets.len(), 1, "part 1 only");
    assert_eq!(
        f.sim().requests(Endpoint::Tweets),
        2,
        "part 3 was never sent"
    );
    let parts = f.parts(accepted.post).await;
    assert_eq!(parts[0].remote_id.as_deref(), Some(tweets[0].id.as_str()));
    assert!(parts[1..].iter().all(|p| p.remote_id.is_none()));
    let history = f.store.history(f.author.chat, 10).await.unwrap();
    let reason = history[0].error.clone().unwrap();
    assert!(
        reason.starts_with("part 2 of 3 was refused: X did not permit this post"),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            "part 1 is live: https://x.com/i/web/status/{}",
            tweets[0].id
        )),
        "{reason}"
    );
    // The status message shows the failure with that reason.
    let view = f
        .store
        .post_view(accepted.post)
        .await
        .unwrap()
        .expect("the post");
    assert!(
        view.targets[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("part 2 of 3 was refused")),
        "{view:?}"
    );
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.notification.post == Some(accepted.post))
    );
}

#[tokio::test]
async fn a_503_on_the_second_part_is_retried_from_that_part_and_no_part_twice() {
    let f = Fixture::new().await;
    f.sim().fail_call(Endpoint::Tweets, 2, Failure::ServerError);
    let accepted = f.post(&long_text(), "now").await;
    f.run_until_final(accepted.post).await;

    assert_eq!(f.state(accepted.post).await, TargetState::Published);
    let tweets = f.sim().tweets();
    assert_eq!(tweets.len(), 3, "exactly three posts");
    assert_chained(&tweets);
    assert!(tweets[1].text.starts_with("Part 3 says"));
    assert_eq!(
        f.sim().requests(Endpoint::Tweets),
        4,
        "part 1, part 2 refused with 503, part 2, part 3"
    );
}

/// A thread whose second part is in flight when the run dies: `failure` decides whether
/// X created it. The next run reconciles and finishes the thread with exactly three posts.
async fn a_crash_mid_thread_is_reconciled(failure: Failure, created: bool) {
    let f = Fixture::new().await;
    f.sim().fail_call(Endpoint::Tweets, 2, failure);
    let accepted = f.post(&long_text(), "now").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first_run = tokio::spawn(f.scheduler().run(stopped));
    f.world
        .wait_until("part 2 to reach X", async || {
            f.sim().requests(Endpoint::Tweets) == 2
        })
        .await
        .unwrap();
    // kill -9: the run and its request vanish before the answer.
    first_run.abort();
    let _ = first_run.await;
    drop(stop);
    assert_eq!(f.state(accepted.post).await, TargetState::Publishing);
    assert_eq!(f.sim().tweets().len(), usize::from(created) + 1);

    let restarted = f.scheduler();
    assert_eq!(restarted.reconcile_in_flight().await.unwrap(), 1);
    f.run_until_final(accepted.post).await;
    assert_eq!(f.state(accepted.post).await, TargetState::Published);
    let tweets = f.sim().tweets();
    assert_eq!(tweets.len(), 3, "exactly three posts: {tweets:#?}");
    assert_chained(&tweets);
    let expected_requests = if created { 3 } else { 4 };
    assert_eq!(f.sim().requests(Endpoint::Tweets), expected_requests);
}

#[tokio::test]
async fn a_crash_after_x_created_the_second_part_finds_it_and_sends_only_the_third() {
    a_crash_mid_thread_is_reconciled(Failure::Slow(Duration::from_secs(30)), true).await;
}

#[tokio::test]
async fn a_crash_before_x_created_the_second_part_confirms_it_absent_and_sends_it_once() {
    a_crash_mid_thread_is_reconciled(Failure::Hang, false).await;
}

#[tokio::test]
async fn a_lost_part_that_cannot_be_looked_for_is_unknown_and_the_author_is_told_which() {
    let f = Fixture::new().await;
    f.sim()
        .fail_call(Endpoint::Tweets, 2, Failure::Slow(Duration::from_secs(30)));
    let accepted = f.post(&long_text(), "now").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first_run = tokio::spawn(f.scheduler().run(stopped));
    f.world
        .wait_until("part 2 to reach X", async || f.sim().tweets().len() == 2)
        .await
        .unwrap();
    first_run.abort();
    let _ = first_run.await;
    drop(stop);
    // The account's posts cannot be read: whether part 2 went out cannot be learned.
    f.sim()
        .fail_next(Endpoint::UserTweets, Failure::ServerError);
    assert_eq!(f.scheduler().reconcile_in_flight().await.unwrap(), 1);
    assert_eq!(f.state(accepted.post).await, TargetState::Unknown);
    let history = f.store.history(f.author.chat, 10).await.unwrap();
    let reason = history[0].error.clone().unwrap();
    assert!(reason.starts_with("part 2 of 3: "), "{reason}");
    assert!(reason.contains("part 1 is live"), "{reason}");
    // The author is told: the post's status message is drawn again.
    let notes = f.store.undelivered_notifications(10).await.unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.notification.post == Some(accepted.post)),
        "{notes:?}"
    );
    // Nothing was sent again: part 3 waits for the author.
    assert_eq!(f.sim().requests(Endpoint::Tweets), 2);
    let parts = f.parts(accepted.post).await;
    assert!(parts[0].remote_id.is_some() && parts[1].remote_id.is_none());
}
