//! The posting API the bots call: rules checked per target when a post is accepted, nothing
//! stored on refusal, team rules for changing posts, and the post reaching the platforms.

use std::time::Duration;

use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{ChatKind, ChatPlatform, OAuthProvider, Provider, TargetState, UserId};
use autopost::posting::{Actor, Draft, PostingError};
use autopost::store::{NewGrant, NewLinkedAccount};
use autopost_sim::SimServer;
use autopost_sim::meta::{self as simmeta, SimMeta, SimMetaConfig};
use autopost_sim::x::{self as simx, SimX, SimXConfig, SimXUser};
use bytes::Bytes;
use chrono::{Datelike, Utc, Weekday};

use crate::helpers::TestDir;

struct Team {
    dir: TestDir,
    _servers: (SimServer, SimServer),
    x: SimX,
    meta: SimMeta,
    app: App,
    alice: Actor,
    bob: Actor,
    admin: Actor,
}

async fn team(with_instagram: bool) -> Team {
    let (x, x_server) = simx::start(SimXConfig::public("client")).await.unwrap();
    let (meta, meta_server) = simmeta::start(SimMetaConfig::new("app", "secret"))
        .await
        .unwrap();
    x.insert_grant(
        SimXUser::new("2244994945", "team"),
        "x-access",
        Some("x-refresh"),
    );
    meta.insert_user_token("meta-user");
    meta.insert_page_token("5550001", "page-token");
    let dir = TestDir::new();
    let (xu, mu) = (x_server.url().to_string(), meta_server.url().to_string());
    let app = App::open(dir.config(&[
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_X_API_URL", &xu),
        ("AUTOPOST_META_APP_ID", "app"),
        ("AUTOPOST_META_APP_SECRET", "secret"),
        ("AUTOPOST_META_GRAPH_URL", &mu),
        ("AUTOPOST_META_DIALOG_URL", &mu),
    ]))
    .await
    .unwrap();
    let store = app.store().clone();
    let now = Utc::now();
    let mut users = Vec::new();
    for (id, name) in [("1", "alice"), ("2", "bob"), ("3", "admin")] {
        users.push(
            store
                .upsert_user(ChatPlatform::Telegram, id, Some(name), now)
                .await
                .unwrap()
                .id,
        );
    }
    let chat = store
        .upsert_chat(
            ChatPlatform::Telegram,
            "-100",
            ChatKind::Group,
            Some("team"),
            now,
        )
        .await
        .unwrap()
        .id;
    store
        .save_linked_grant(
            NewGrant {
                owner: users[0],
                provider: OAuthProvider::X,
                remote_user_id: "2244994945",
                scopes: "tweet.read tweet.write users.read media.write offline.access",
                access_token: Secret::new("x-access"),
                refresh_token: Some(Secret::new("x-refresh")),
                expires_at: Some(now + chrono::Duration::hours(2)),
            },
            vec![NewLinkedAccount {
                provider: Provider::X,
                remote_id: "2244994945".to_owned(),
                display_name: "@team".to_owned(),
                access_token: None,
            }],
            chat,
            now,
        )
        .await
        .unwrap();
    let mut meta_accounts = vec![NewLinkedAccount {
        provider: Provider::FacebookPage,
        remote_id: "5550001".to_owned(),
        display_name: "Alice's Bakery".to_owned(),
        access_token: Some(Secret::new("page-token")),
    }];
    if with_instagram {
        meta_accounts.push(NewLinkedAccount {
            provider: Provider::Instagram,
            remote_id: "17841400000000001".to_owned(),
            display_name: "@alices_bakery".to_owned(),
            access_token: Some(Secret::new("page-token")),
        });
    }
    store
        .save_linked_grant(
            NewGrant {
                owner: users[0],
                provider: OAuthProvider::Meta,
                remote_user_id: "10158000000000001",
                scopes: "pages_manage_posts",
                access_token: Secret::new("meta-user"),
                refresh_token: None,
                expires_at: None,
            },
            meta_accounts,
            chat,
            now,
        )
        .await
        .unwrap();
    let actor = |user: UserId, is_admin| Actor {
        user,
        chat,
        is_admin,
    };
    Team {
        dir,
        _servers: (x_server, meta_server),
        x,
        meta,
        alice: actor(users[0], false),
        bob: actor(users[1], false),
        admin: actor(users[2], true),
        app,
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
        assert!(self.app.queue(self.alice.chat).await.unwrap().is_empty());
        assert!(
            !self.dir.path().join("media").exists()
                || std::fs::read_dir(self.dir.path().join("media"))
                    .unwrap()
                    .count()
                    == 0,
            "no image kept"
        );
    }
}

#[tokio::test]
async fn an_accepted_post_shows_its_time_targets_and_counts() {
    let t = team(false).await;
    let now = Utc::now();
    let accepted = t
        .app
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
    let queue = t.app.queue(t.alice.chat).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].post, accepted.post);
}

#[tokio::test]
async fn a_refused_post_names_the_target_and_limit_and_stores_nothing() {
    let t = team(true).await;
    let now = Utc::now();
    let long = "a".repeat(281);
    // Targets are checked in the order they were linked: X first.
    let err = t
        .app
        .create_post(&t.alice, draft("tomorrow 9am", &long), now)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "X allows 280 characters (URLs count 23); this text has 281"
    );
    let err = t
        .app
        .create_post(&t.alice, draft("tomorrow 9am", "no picture"), now)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Instagram needs at least one image");
    let err = t
        .app
        .create_post(&t.alice, draft("yesterday 9am", "hi"), now)
        .await
        .unwrap_err();
    assert!(matches!(err, PostingError::Time(_)), "{err}");
    let mut header = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let err = t
        .app
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
        .app
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
    let media = t.app.store().media_of_post(accepted.post).await.unwrap();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].content_type, "image/jpeg");
    let bytes = t.app.media().read(&media[0].file_name).await.unwrap();
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
}

#[tokio::test]
async fn team_members_share_a_queue_but_only_the_author_or_an_admin_changes_a_post() {
    let t = team(false).await;
    let now = Utc::now();
    let post = t
        .app
        .create_post(&t.alice, draft("tomorrow 9am", "alice's"), now)
        .await
        .unwrap()
        .post;
    t.app
        .create_post(&t.bob, draft("tomorrow 10am", "bob's"), now)
        .await
        .unwrap();
    assert_eq!(t.app.queue(t.bob.chat).await.unwrap().len(), 2);

    let err = t.app.cancel_post(&t.bob, post, now).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("only the author of post {post} or a chat admin can change it")
    );
    let err = t
        .app
        .edit_post(&t.bob, post, "tomorrow 11am", "mine now", now)
        .await
        .unwrap_err();
    assert!(matches!(err, PostingError::NotAllowed(_)));

    let edited = t
        .app
        .edit_post(&t.alice, post, "in 3 hours", "alice's, edited", now)
        .await
        .unwrap();
    assert_eq!((edited.due_at - now).num_minutes(), 180);
    let cancelled = t.app.cancel_post(&t.admin, post, now).await.unwrap();
    assert_eq!(cancelled.cancelled, 2);
    let err = t.app.cancel_post(&t.admin, post, now).await.unwrap_err();
    assert!(matches!(err, PostingError::NotFound(_)));
    assert_eq!(t.app.queue(t.bob.chat).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_recurring_post_starts_at_its_next_occurrence() {
    let t = team(false).await;
    let accepted = t
        .app
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
    let now = Utc::now();
    let post = t
        .app
        .create_post(&t.alice, draft("tomorrow 9am", "right away"), now)
        .await
        .unwrap()
        .post;
    let scheduler = t.app.scheduler().clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler.run(stopped));
    assert_eq!(t.app.post_now(&t.alice, post, Utc::now()).await.unwrap(), 2);
    let tweets = t.x.wait_for_tweets(1, Duration::from_secs(5)).await;
    assert_eq!(tweets.len(), 1);
    let posts = t.meta.wait_for_feed_posts(1, Duration::from_secs(5)).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].message.as_deref(), Some("right away"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let states = t.app.store().targets_of_post(post).await.unwrap();
        if states.iter().all(|(_, s, _)| *s == TargetState::Published) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let history = t.app.history(t.alice.chat, 10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h.url.is_some()));
    stop.send(true).unwrap();
    task.await.unwrap();
}
