//! The posting API the bots call: rules checked per target when a post is accepted, nothing
//! stored on refusal, team rules for changing posts, and the post reaching the platforms.

use autopost::domain::Actor;
use autopost::domain::{Provider, TargetState};
use autopost::posting::{Draft, PostingError};
use autopost_sim::World;
use autopost_sim::meta::{SimMetaConfig, SimPage};
use bytes::Bytes;
use chrono::{Datelike, Utc, Weekday};

/// A team whose group has X and a Facebook Page linked (through the real round trips, X
/// first), optionally with the Page's Instagram account; three members, one an admin.
struct Team {
    world: World,
    alice: Actor,
    bob: Actor,
    admin: Actor,
}

async fn team(with_instagram: bool) -> Team {
    let mut bakery = SimPage::new("5550001", "Alice's Bakery");
    if with_instagram {
        bakery = bakery.with_instagram("17841400000000001", "alices_bakery");
    }
    let mut meta = SimMetaConfig::new(autopost_sim::world::META_APP_ID, "secret");
    meta.user.pages = vec![bakery];
    let world = World::builder().x().meta_with(meta).start().await.unwrap();
    world.link_x("telegram:-100", "telegram:1").await.unwrap();
    let alice = world
        .link_meta("telegram:-100", "telegram:1")
        .await
        .unwrap()
        .actor;
    let bob = world.actor("telegram:-100", "telegram:2").await.unwrap();
    let admin = world.actor("telegram:-100", "telegram:3").await.unwrap();
    Team {
        world,
        alice,
        bob,
        admin: Actor {
            is_admin: true,
            ..admin
        },
    }
}

fn draft(when: &str, text: &str) -> Draft {
    Draft {
        when: when.to_owned(),
        text: text.to_owned(),
        ..Draft::default()
    }
}

fn png(width: u32, height: u32) -> Bytes {
    let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 10, 10, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    Bytes::from(out.into_inner())
}

impl Team {
    async fn assert_nothing_stored(&self) {
        let app = self.world.app();
        assert!(app.queue(self.alice.chat).await.unwrap().is_empty());
        let media = self.world.dir().join("media");
        assert!(
            !media.exists() || std::fs::read_dir(&media).unwrap().count() == 0,
            "no image kept"
        );
    }
}

#[tokio::test]
async fn an_accepted_post_shows_its_time_targets_and_counts() {
    let t = team(false).await;
    let now = Utc::now();
    let accepted = t
        .world
        .app()
        .create_post(
            &t.alice,
            draft("in 2h", "Launch day! https://example.com/launch"),
            now,
        )
        .await
        .unwrap();
    assert_eq!((accepted.due_at - now).num_minutes(), 120);
    let counts: Vec<(Provider, usize, usize)> = accepted
        .targets
        .iter()
        .map(|s| (s.account.provider, s.length, s.limit))
        .collect();
    assert_eq!(
        counts,
        vec![
            (Provider::X, 12 + 23, 280),
            (Provider::FacebookPage, 12 + 26, 63206)
        ]
    );
    let queue = t.world.app().queue(t.alice.chat).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].post, accepted.post);
}

#[tokio::test]
async fn a_refused_post_names_the_target_and_limit_and_stores_nothing() {
    let t = team(true).await;
    let now = Utc::now();
    // Too long for X is a thread there, not a refusal; too long for Facebook is refused.
    let long = "a".repeat(63_207);
    let err = t
        .world
        .app()
        .create_post(&t.alice, draft("tomorrow 9am", &long), now)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Facebook allows 63,206 characters; this text has 63,207"
    );
    let err = t
        .world
        .app()
        .create_post(&t.alice, draft("tomorrow 9am", "no picture"), now)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Instagram needs at least one image");
    let err = t
        .world
        .app()
        .create_post(&t.alice, draft("yesterday 9am", "hi"), now)
        .await
        .unwrap_err();
    assert!(matches!(err, PostingError::Time(_)), "{err}");
    let mut header = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let err = t
        .world
        .app()
        .create_post(
            &t.alice,
            Draft {
                images: vec![png(4, 4), Bytes::from(header)],
                ..draft("tomorrow 9am", "bomb")
            },
            now,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("image 2: "), "{err}");
    t.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_png_is_stored_as_jpeg_when_instagram_is_a_target() {
    let t = team(true).await;
    let accepted = t
        .world
        .app()
        .create_post(
            &t.alice,
            Draft {
                images: vec![png(64, 48)],
                ..draft("in 1 hour", "new loaf #bread")
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let store = t.world.store().await.unwrap();
    let media = store.media_of_post(accepted.post).await.unwrap();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].content_type, "image/jpeg");
    let bytes = t
        .world
        .app()
        .media()
        .read(&media[0].file_name)
        .await
        .unwrap();
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
}

#[tokio::test]
async fn team_members_share_a_queue_but_only_the_author_or_an_admin_changes_a_post() {
    let t = team(false).await;
    let now = Utc::now();
    let post = t
        .world
        .app()
        .create_post(&t.alice, draft("tomorrow 9am", "alice's"), now)
        .await
        .unwrap()
        .post;
    t.world
        .app()
        .create_post(&t.bob, draft("tomorrow 10am", "bob's"), now)
        .await
        .unwrap();
    assert_eq!(t.world.app().queue(t.bob.chat).await.unwrap().len(), 2);

    let err = t
        .world
        .app()
        .cancel_post(&t.bob, post, now)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("only the author of post {post} or a chat admin can change it")
    );
    let err = t
        .world
        .app()
        .edit_post(&t.bob, post, "tomorrow 11am", "mine now", now)
        .await
        .unwrap_err();
    assert!(matches!(err, PostingError::NotAllowed(_)));

    let edited = t
        .world
        .app()
        .edit_post(&t.alice, post, "in 3 hours", "alice's, edited", now)
        .await
        .unwrap();
    assert_eq!((edited.due_at - now).num_minutes(), 180);
    let cancelled = t
        .world
        .app()
        .cancel_post(&t.admin, post, now)
        .await
        .unwrap();
    assert_eq!(cancelled.cancelled, 2);
    let err = t
        .world
        .app()
        .cancel_post(&t.admin, post, now)
        .await
        .unwrap_err();
    assert!(matches!(err, PostingError::NotFound(_)));
    assert_eq!(t.world.app().queue(t.bob.chat).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_recurring_post_starts_at_its_next_occurrence() {
    let t = team(false).await;
    let accepted = t
        .world
        .app()
        .create_post(&t.alice, draft("every monday 9am", "weekly"), Utc::now())
        .await
        .unwrap();
    let rule = accepted.recurrence.unwrap();
    assert_eq!(rule.to_string(), "every Monday at 09:00 (UTC)");
    assert_eq!(accepted.due_at.weekday(), Weekday::Mon);
    assert!(accepted.due_at > Utc::now());
}

#[tokio::test]
async fn post_now_sends_it_through_the_running_scheduler_and_history_shows_it() {
    let t = team(false).await;
    let app = t.world.app();
    let now = Utc::now();
    let post = app
        .create_post(&t.alice, draft("tomorrow 9am", "right away"), now)
        .await
        .unwrap()
        .post;
    assert_eq!(app.post_now(&t.alice, post, Utc::now()).await.unwrap(), 2);
    t.world
        .wait_until("both targets to be published", async || {
            let history = app.history(t.alice.chat, 10).await.unwrap();
            history.len() == 2 && history.iter().all(|h| h.state == TargetState::Published)
        })
        .await
        .unwrap();
    let tweets = t.world.x().tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "right away");
    let posts = t.world.meta().feed_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message.as_deref(), Some("right away"));
    let history = app.history(t.alice.chat, 10).await.unwrap();
    assert!(history.iter().all(|h| h.url.is_some()));
    assert!(history.iter().all(|h| h.post == post));
}

#[tokio::test]
async fn control_characters_are_removed_and_an_invisible_text_is_refused_on_create_and_edit() {
    let t = team(false).await;
    let app = t.world.app();
    let now = Utc::now();
    let post = app
        .create_post(
            &t.alice,
            draft(
                "tomorrow 9am",
                "launch\0 day\u{1B}[2J\r\nsee paypal.com/\u{202E}gpj.exe",
            ),
            now,
        )
        .await
        .unwrap()
        .post;
    let stored = |queue: Vec<autopost::posting::QueuedPost>| queue[0].body.clone();
    assert_eq!(
        stored(app.queue(t.alice.chat).await.unwrap()),
        "launch day[2J\nsee paypal.com/gpj.exe"
    );

    for invisible in [" \u{200B}\u{FEFF}", "\u{2060}\u{200D}\t", "\0"] {
        let err = app
            .create_post(&t.alice, draft("tomorrow 10am", invisible), now)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the text of this post has only invisible characters (spaces, zero-width or \
             formatting characters); write something people can see",
            "{invisible:?}"
        );
        assert!(err.is_user_error());
        let err = app
            .edit_post(&t.alice, post, "tomorrow 11am", invisible, now)
            .await
            .unwrap_err();
        assert!(matches!(err, PostingError::Text(_)), "{err}");
    }
    let queue = app.queue(t.alice.chat).await.unwrap();
    assert_eq!(queue.len(), 1, "nothing created");
    assert_eq!(
        stored(queue),
        "launch day[2J\nsee paypal.com/gpj.exe",
        "nothing edited"
    );

    app.edit_post(&t.alice, post, "tomorrow 11am", "edited\u{7F} text\0", now)
        .await
        .unwrap();
    assert_eq!(
        stored(app.queue(t.alice.chat).await.unwrap()),
        "edited text"
    );
}
