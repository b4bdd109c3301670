//! The retention purge (`App::purge`) with a clock the tests choose: finished posts' images
//! go after `AUTOPOST_MEDIA_RETENTION_DAYS` (files on disk and rows, a shared file with its
//! last row) while the posts stay in `/history`; posts go after the history period; spent
//! OAuth states, delivered notifications and old update ids go; `autopost run` purges at
//! start-up.

use std::path::PathBuf;

use autopost::domain::{Actor, ChatPlatform, PostId, TargetState};
use autopost::posting::{Draft, PostingError};
use autopost::purge::PurgeReport;
use autopost_sim::World;
use autopost_sim::x::SimXUser;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use tokio::task::JoinSet;

use crate::helpers::jpeg;

/// autopost open (not serving, so that no purge runs but the test's) with an X account
/// linked to a group, and `vars` on top.
struct Fixture {
    world: World,
    author: Actor,
}

async fn fixture(vars: &[(&str, &str)]) -> Fixture {
    let mut builder = World::builder().x();
    for (name, value) in vars {
        builder = builder.var(name, value);
    }
    let world = builder.open().await.unwrap();
    let author = world.actor("telegram:-1", "telegram:42").await.unwrap();
    world
        .seed_x_account(&author, &SimXUser::new("2244994945", "team"), None)
        .await
        .unwrap();
    Fixture { world, author }
}

impl Fixture {
    async fn post(&self, when: &str, text: &str, images: Vec<Bytes>) -> PostId {
        self.world
            .app()
            .create_post(
                &self.author,
                Draft {
                    when: when.to_owned(),
                    text: text.to_owned(),
                    images,
                    targets: None,
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .post
    }

    /// Publishes everything due now through the app's scheduler and waits for each publish
    /// to finish.
    async fn publish_due(&self) {
        let mut tasks = JoinSet::new();
        self.world
            .app()
            .scheduler()
            .tick(Utc::now(), &mut tasks)
            .await
            .unwrap();
        while tasks.join_next().await.is_some() {}
    }

    async fn purge(&self, at: DateTime<Utc>) -> PurgeReport {
        self.world.app().purge(at).await.unwrap()
    }

    fn media_dir(&self) -> PathBuf {
        self.world.dir().join("media")
    }

    /// The image files on disk.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.media_dir())
            .map(|dir| {
                dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    async fn files_of(&self, post: PostId) -> Vec<String> {
        let store = self.world.store().await.unwrap();
        let mut names: Vec<String> = store
            .media_of_post(post)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.file_name)
            .collect();
        names.sort();
        names
    }

    async fn history_posts(&self) -> Vec<PostId> {
        self.world
            .app()
            .history(self.author.chat, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.post)
            .collect()
    }
}

#[tokio::test]
async fn with_retention_0_finished_posts_lose_their_images_at_the_next_purge_and_stay_in_history() {
    let f = fixture(&[("AUTOPOST_MEDIA_RETENTION_DAYS", "0")]).await;
    let shared = jpeg(8, 8);
    let published = f.post("now", "launch day", vec![shared.clone()]).await;
    let cancelled = f.post("tomorrow 9am", "never mind", vec![jpeg(9, 9)]).await;
    // Still queued, with the same picture as the published post: one file for both.
    let queued = f.post("tomorrow 10am", "again", vec![shared]).await;
    f.publish_due().await;
    assert_eq!(f.world.x().tweets().len(), 1);
    f.world
        .app()
        .cancel_post(&f.author, cancelled, Utc::now())
        .await
        .unwrap();
    let shared_file = f.files_of(published).await;
    let cancelled_file = f.files_of(cancelled).await;
    assert_eq!(shared_file, f.files_of(queued).await, "content-addressed");
    assert_eq!(f.files().len(), 2);

    let report = f.purge(Utc::now()).await;
    assert_eq!(report.posts_stripped, 2, "{report:?}");
    assert_eq!(report.media_rows, 2, "{report:?}");
    assert_eq!(
        report.media_files, 1,
        "the queued post still uses the shared file"
    );
    assert_eq!(f.files(), shared_file, "only the shared file is left");
    assert!(f.files_of(published).await.is_empty());
    assert!(f.files_of(cancelled).await.is_empty());
    assert_eq!(f.files_of(queued).await, shared_file);
    assert!(!f.files().contains(&cancelled_file[0]));

    // The posts stay: /history lists the published one, /queue the queued one.
    assert_eq!(f.history_posts().await, [published]);
    let queue = f.world.app().queue(f.author.chat).await.unwrap();
    assert_eq!(queue.iter().map(|q| q.post).collect::<Vec<_>>(), [queued]);

    // Nothing more to remove until the last post using the file is finished.
    assert_eq!(f.purge(Utc::now()).await.media_files, 0);
    f.world
        .app()
        .cancel_post(&f.author, queued, Utc::now())
        .await
        .unwrap();
    let report = f.purge(Utc::now()).await;
    assert_eq!(
        (report.media_rows, report.media_files),
        (1, 1),
        "{report:?}"
    );
    assert!(f.files().is_empty(), "{:?}", f.files());
}

#[tokio::test]
async fn with_the_default_seven_days_images_stay_a_week_and_posts_a_year() {
    let f = fixture(&[]).await;
    let before = Utc::now();
    let post = f.post("now", "launch day", vec![jpeg(8, 8)]).await;
    f.publish_due().await;
    let after = Utc::now();
    let file = f.files_of(post).await;
    assert_eq!(file.len(), 1);

    let report = f
        .purge(before + Duration::days(7) - Duration::seconds(1))
        .await;
    assert_eq!(report.media_rows, 0, "{report:?}");
    assert_eq!(f.files(), file, "kept for the week");

    let report = f.purge(after + Duration::days(7)).await;
    assert_eq!(
        (report.media_rows, report.media_files),
        (1, 1),
        "{report:?}"
    );
    assert!(f.files().is_empty());
    assert_eq!(f.history_posts().await, [post], "the post stays");

    let report = f
        .purge(before + Duration::days(365) - Duration::seconds(1))
        .await;
    assert_eq!(report.posts_removed, 0, "{report:?}");
    assert_eq!(f.history_posts().await, [post]);
    let report = f.purge(after + Duration::days(365)).await;
    assert_eq!(report.posts_removed, 1, "{report:?}");
    assert!(f.history_posts().await.is_empty(), "gone from /history");
    let store = f.world.store().await.unwrap();
    assert!(store.targets_of_post(post).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_post_whose_images_were_removed_is_not_tried_again_without_them() {
    let f = fixture(&[("AUTOPOST_MEDIA_RETENTION_DAYS", "0")]).await;
    f.post("now", "a picture", vec![jpeg(8, 8)]).await;
    f.publish_due().await;
    // X refuses the same text twice: the second post fails for good, and may be retried.
    let post = f.post("now", "a picture", vec![jpeg(9, 9)]).await;
    f.publish_due().await;
    let store = f.world.store().await.unwrap();
    let states: Vec<TargetState> = store
        .targets_of_post(post)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, state, _)| state)
        .collect();
    assert_eq!(states, [TargetState::Failed]);
    // The post's status message offers Retry for its failed target.
    let failed = f
        .world
        .app()
        .post_view(post)
        .await
        .unwrap()
        .expect("the post is there")
        .targets[0]
        .id;

    f.purge(Utc::now() + Duration::days(1)).await;
    assert!(f.files().is_empty());
    let err = f
        .world
        .app()
        .retry_target(&f.author, failed, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PostingError::ImagesRemoved(p) if p == post),
        "{err}"
    );
    assert!(err.to_string().contains("/post"), "{err}");
    assert_eq!(
        f.world.x().tweets().len(),
        1,
        "nothing went out without its picture"
    );
}

#[tokio::test]
async fn spent_oauth_states_old_notifications_and_update_ids_go() {
    let f = fixture(&[]).await;
    let app = f.world.app();
    let now = Utc::now();
    app.connect_link("x", "telegram:-1", "telegram:42", now)
        .await
        .unwrap();
    assert_eq!(f.purge(now).await.oauth_states, 0, "a live link stays");
    assert_eq!(
        f.purge(now + Duration::minutes(11)).await.oauth_states,
        1,
        "an expired one goes"
    );

    f.post("now", "launch day", vec![]).await;
    f.publish_due().await;
    let notices = app.undelivered(ChatPlatform::Telegram, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    let delivered_at = Utc::now();
    app.mark_delivered(notices[0].id, delivered_at)
        .await
        .unwrap();
    let report = f
        .purge(delivered_at + Duration::days(3) - Duration::seconds(1))
        .await;
    assert_eq!(report.notifications, 0, "{report:?}");
    let report = f.purge(delivered_at + Duration::days(3)).await;
    assert_eq!(report.notifications, 1, "{report:?}");

    let seen_at = Utc::now();
    let first = app
        .first_deliveries(ChatPlatform::Telegram, &["7001"], seen_at)
        .await
        .unwrap();
    assert_eq!(first, ["7001"]);
    assert_eq!(f.purge(seen_at + Duration::hours(23)).await.update_ids, 0);
    assert_eq!(f.purge(seen_at + Duration::hours(25)).await.update_ids, 1);
}

#[tokio::test]
async fn autopost_purges_at_start_up() {
    let mut f = fixture(&[("AUTOPOST_MEDIA_RETENTION_DAYS", "0")]).await;
    let post = f.post("tomorrow 9am", "never mind", vec![jpeg(8, 8)]).await;
    f.world
        .app()
        .cancel_post(&f.author, post, Utc::now())
        .await
        .unwrap();
    assert_eq!(f.files().len(), 1);
    f.world.serve().unwrap();
    let media_dir = f.media_dir();
    f.world
        .wait_until("the start-up purge to remove the image", async || {
            std::fs::read_dir(&media_dir).unwrap().next().is_none()
        })
        .await
        .unwrap();
    assert!(f.files_of(post).await.is_empty());
    f.world.shutdown().await.unwrap();
}
