//! Recurring posts as a series with one id, and edits that change the part meant: a series
//! edited once runs three times under its id with the edited text; Post now adds an
//! occurrence without using up the next; a cancel stops the series; an edit of a post whose
//! targets failed sends those again and leaves the published ones alone.

use std::sync::Arc;
use std::time::Duration;

use autopost::domain::{AccountId, Actor, PostId, Provider, TargetState};
use autopost::posting::{Draft, PostChange, PostingError};
use autopost::scheduler::{Scheduler, SchedulerConfig};
use autopost::store::{NewPost, Store};
use autopost_sim::World;
use autopost_sim::world::PATIENCE;
use autopost_sim::x::SimXUser;
use chrono::Utc;

use crate::helpers::jpeg;

const TEAM: &str = "telegram:-1";
const ALICE: &str = "telegram:1";

/// A serving autopost (its own scheduler running) with the simulated Meta user's Pages
/// linked to the team; the series goes to one Page with a picture (Facebook refuses a
/// repeated text-only status, not a repeated photo post).
struct Team {
    world: World,
    store: Store,
    alice: Actor,
    page: AccountId,
}

async fn team() -> Team {
    let world = World::builder().meta().start().await.unwrap();
    let linked = world.link_meta(TEAM, ALICE).await.unwrap();
    let page = linked
        .accounts
        .iter()
        .find(|a| a.provider == Provider::FacebookPage)
        .unwrap()
        .id;
    Team {
        store: world.store().await.unwrap(),
        alice: linked.actor,
        world,
        page,
    }
}

impl Team {
    /// A daily series at 09:00, to the Page, with a picture; its id.
    async fn series(&self, text: &str) -> PostId {
        self.world
            .app()
            .create_post(
                &self.alice,
                Draft {
                    when: "every day at 09:00".to_owned(),
                    text: text.to_owned(),
                    images: vec![jpeg(64, 48)],
                    targets: Some(vec![self.page]),
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .post
    }

    /// Photo posts on the Page with `text`.
    fn published(&self, text: &str) -> usize {
        self.world
            .meta()
            .feed_posts()
            .iter()
            .filter(|p| p.message.as_deref() == Some(text))
            .count()
    }

    /// Runs the series' pending occurrence now (as if its day had come) and waits until
    /// `total` posts with `text` are on the Page; returns the occurrence.
    async fn run_next(&self, series: PostId, text: &str, total: usize) -> PostId {
        let (pending, named) = self.store.series_occurrence(series).await.unwrap();
        assert_eq!(named, series);
        self.store.make_due_at(pending, Utc::now()).await.unwrap();
        self.world.app().scheduler().wake();
        self.world
            .wait_until(&format!("{total} posts on the Page"), async || {
                self.published(text) == total
            })
            .await
            .unwrap();
        pending
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
}

#[tokio::test]
async fn a_series_edited_once_and_run_three_times_keeps_its_id_and_posts_the_edit_each_time() {
    let t = team().await;
    let app = t.world.app();
    let series = t.series("fresh bread").await;
    let edited = app
        .change_post(
            &t.alice,
            series,
            PostChange {
                text: Some("fresh bread, now with rye".to_owned()),
                ..PostChange::default()
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(edited.post, series);
    assert!(edited.recurrence.is_some(), "still a series");
    let mut occurrences = Vec::new();
    for n in 1..=3 {
        occurrences.push(t.run_next(series, "fresh bread, now with rye", n).await);
        // The queue shows the series under its id, with its rule, due at its next 09:00.
        let queue = app.queue(t.alice.chat).await.unwrap();
        let pending: Vec<_> = queue.iter().filter(|q| q.recurrence.is_some()).collect();
        assert_eq!(pending.len(), 1, "{queue:?}");
        assert_eq!(pending[0].post, series);
        assert_eq!(pending[0].body, "fresh bread, now with rye");
    }
    occurrences.dedup();
    assert_eq!(occurrences.len(), 3, "three occurrences, each its own");
    t.world
        .wait_until("each occurrence published", async || {
            let mut all = true;
            for occurrence in &occurrences {
                all &= t.states(*occurrence).await == vec![TargetState::Published];
            }
            all
        })
        .await
        .unwrap();
    assert_eq!(t.published("fresh bread"), 0, "the old text never went out");
    assert_eq!(t.published("fresh bread, now with rye"), 3);
    // History and notifications name the series.
    let history = app.history(t.alice.chat, 10).await.unwrap();
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|h| h.post == series), "{history:?}");
    // Each occurrence has its own status message: one "post changed" notice per outcome,
    // stored just after the outcome itself.
    let changed = async || {
        let notes = t.store.undelivered_notifications(20).await.unwrap();
        notes
            .iter()
            .filter(|n| n.notification.kind == autopost::store::NotificationKind::PostChanged)
            .filter_map(|n| n.notification.post)
            .collect::<std::collections::BTreeSet<_>>()
    };
    t.world
        .wait_until("a notice for each occurrence", async || {
            changed().await.len() >= 3
        })
        .await
        .unwrap();
    assert_eq!(changed().await.len(), 3);
}

#[tokio::test]
async fn post_now_on_a_series_adds_an_occurrence_and_the_next_stays_due() {
    let t = team().await;
    let series = t.series("daily special").await;
    let (pending, _) = t.store.series_occurrence(series).await.unwrap();
    let queue = t.world.app().queue(t.alice.chat).await.unwrap();
    let due = queue[0].due_at;
    let sent = t
        .world
        .app()
        .post_now(&t.alice, series, Utc::now())
        .await
        .unwrap();
    assert_eq!(sent, 1);
    t.world
        .wait_until("the extra occurrence on the Page", async || {
            t.published("daily special") == 1
        })
        .await
        .unwrap();
    // The scheduled occurrence is the same one, still due at its time, untouched.
    assert_eq!(
        t.store.series_occurrence(series).await.unwrap(),
        (pending, series)
    );
    assert_eq!(t.states(pending).await, vec![TargetState::Queued]);
    let queue = t.world.app().queue(t.alice.chat).await.unwrap();
    let next: Vec<_> = queue.iter().filter(|q| q.recurrence.is_some()).collect();
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].post, next[0].due_at), (series, due));
    // And it still runs when its time comes: a second post, not a third.
    t.run_next(series, "daily special", 2).await;
}

#[tokio::test]
async fn cancelling_a_series_stops_every_later_occurrence() {
    let t = team().await;
    let series = t.series("weekly news").await;
    let first = t.run_next(series, "weekly news", 1).await;
    let cancelled = t
        .world
        .app()
        .cancel_post(&t.alice, series, Utc::now())
        .await
        .unwrap();
    assert_eq!(cancelled.cancelled, 1, "the pending occurrence");
    let queue = t.world.app().queue(t.alice.chat).await.unwrap();
    assert!(
        queue.iter().all(|q| q.recurrence.is_none()),
        "no occurrence left pending: {queue:?}"
    );
    assert_eq!(t.store.next_due_at().await.unwrap(), None);
    assert!(matches!(
        t.world.app().post_now(&t.alice, series, Utc::now()).await,
        Err(PostingError::NotFound(p)) if p == series
    ));
    // The occurrence that went out keeps its outcome.
    t.world
        .wait_until("the first occurrence's outcome", async || {
            t.states(first).await == vec![TargetState::Published]
        })
        .await
        .unwrap();
    assert_eq!(t.published("weekly news"), 1);
}

/// Three X accounts in an open world, each test running its own scheduler.
async fn x_team() -> (World, Store, Actor, Vec<AccountId>) {
    let world = World::builder().x().open().await.unwrap();
    let author = world.actor(TEAM, "telegram:42").await.unwrap();
    let expires = Some(Utc::now() + chrono::Duration::hours(2));
    let mut accounts = Vec::new();
    for (id, name) in [("1001", "alice"), ("1002", "bob")] {
        let seeded = world
            .seed_x_account(&author, &SimXUser::new(id, name), expires)
            .await
            .unwrap();
        accounts.push(seeded.account);
    }
    let store = world.store().await.unwrap();
    (world, store, author, accounts)
}

async fn run_until(world: &World, store: &Store, what: &str, done: impl AsyncFnMut() -> bool) {
    let app = world.app();
    let scheduler = Arc::new(Scheduler::new(
        store.clone(),
        app.instance().clone(),
        app.platforms().clone(),
        app.media().clone(),
        world.url().clone(),
        app.tokens().clone(),
        SchedulerConfig {
            base_backoff: Duration::from_millis(50),
            reconcile_grace: Duration::from_millis(50),
            ..SchedulerConfig::default()
        },
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler.run(stopped));
    world.wait_until(what, done).await.unwrap();
    stop.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn editing_a_post_whose_target_failed_sends_that_one_again_and_leaves_the_published_alone() {
    let (world, store, author, accounts) = x_team().await;
    let states = async |post: PostId| -> Vec<TargetState> {
        store
            .targets_of_post(post)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s, _)| s)
            .collect()
    };
    let insert = async |text: &str, targets: &[AccountId]| {
        store
            .insert_post(
                NewPost {
                    chat: author.chat,
                    author: author.user,
                    body: text.to_owned(),
                    due_at: Utc::now(),
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: targets.to_vec(),
                    media: vec![],
                    variants: vec![],
                    threads: vec![],
                },
                Utc::now(),
            )
            .await
            .unwrap()
    };
    // alice already said it: X refuses the duplicate for her; bob's goes out.
    let first = insert("same words", &accounts[..1]).await;
    run_until(&world, &store, "alice's first post", async || {
        states(first).await == vec![TargetState::Published]
    })
    .await;
    let post = insert("same words", &accounts).await;
    run_until(&world, &store, "both targets to finish", async || {
        states(post).await.iter().all(|s| s.is_final())
    })
    .await;
    assert_eq!(
        states(post).await,
        vec![TargetState::Failed, TargetState::Published]
    );
    let bobs = store.targets_of_post(post).await.unwrap()[1].2.clone();

    // Someone else may not; the author changes the text only.
    let other = world.actor(TEAM, "telegram:43").await.unwrap();
    let change = PostChange {
        text: Some("other words".to_owned()),
        ..PostChange::default()
    };
    let refused = world
        .app()
        .change_post(&other, post, change.clone(), Utc::now())
        .await;
    assert!(matches!(refused, Err(PostingError::NotAllowed(p)) if p == post));
    assert_eq!(
        states(post).await,
        vec![TargetState::Failed, TargetState::Published]
    );
    let accepted = world
        .app()
        .change_post(&author, post, change, Utc::now())
        .await
        .unwrap();
    assert_eq!(accepted.post, post);
    assert_eq!(
        accepted.targets.len(),
        1,
        "only the failed target goes again"
    );
    assert_eq!(
        states(post).await,
        vec![TargetState::Queued, TargetState::Published]
    );
    run_until(&world, &store, "alice's target published", async || {
        states(post).await == vec![TargetState::Published, TargetState::Published]
    })
    .await;
    let tweets = world.x().tweets();
    let texts: Vec<(&str, &str)> = tweets
        .iter()
        .map(|t| (t.author_id.as_str(), t.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("1001", "same words"),
            ("1002", "same words"),
            ("1001", "other words")
        ],
        "bob's copy was neither sent again nor changed"
    );
    assert_eq!(store.targets_of_post(post).await.unwrap()[1].2, bobs);
    // Nothing is left to change once everything went out.
    let again = world
        .app()
        .change_post(
            &author,
            post,
            PostChange {
                text: Some("third".to_owned()),
                ..PostChange::default()
            },
            Utc::now(),
        )
        .await;
    assert!(matches!(again, Err(PostingError::NotFound(p)) if p == post));
}

#[tokio::test]
async fn cancelling_a_series_also_stops_an_extra_occurrence_not_yet_sent() {
    // Not serving: no scheduler takes the extra occurrence before the cancel.
    let (world, _store, author, accounts) = x_team().await;
    let app = world.app();
    let series = app
        .create_post(
            &author,
            Draft {
                when: "every day at 09:00".to_owned(),
                text: "soup of the day".to_owned(),
                images: Vec::new(),
                targets: Some(vec![accounts[0]]),
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .post;
    app.post_now(&author, series, Utc::now()).await.unwrap();
    assert_eq!(app.queue(author.chat).await.unwrap().len(), 2);
    let cancelled = app.cancel_post(&author, series, Utc::now()).await.unwrap();
    assert_eq!(
        cancelled.cancelled, 2,
        "the next occurrence and the extra one"
    );
    assert!(app.queue(author.chat).await.unwrap().is_empty());
}
