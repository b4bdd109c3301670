//! `/import`'s core: CSV rows checked as `/post` checks them, queued all in one transaction
//! or none, image URLs fetched (from private addresses only when the operator allows it),
//! and the imported posts reaching the platforms with their images.

use autopost::domain::{Actor, TargetState};
use autopost::import::{Imported, RowProblem};
use autopost_sim::World;
use autopost_sim::image_host::ImageHost;
use autopost_sim::meta::{SimMetaConfig, SimPage};
use bytes::Bytes;
use chrono::Utc;
use sqlx::sqlite::SqlitePoolOptions;

use crate::helpers::db_path;

struct Team {
    world: World,
    alice: Actor,
}

/// A group with X and the Page `Alice's Bakery` (and its Instagram account, if asked) linked;
/// image URLs on loopback allowed when `allow_private`.
async fn team(with_instagram: bool, allow_private: bool) -> Team {
    let mut bakery = SimPage::new("5550001", "Alice's Bakery");
    if with_instagram {
        bakery = bakery.with_instagram("17841400000000001", "alices_bakery");
    }
    let mut meta = SimMetaConfig::new(autopost_sim::world::META_APP_ID, "secret");
    meta.user.pages = vec![bakery];
    let mut builder = World::builder().x().meta_with(meta);
    if allow_private {
        builder = builder.var("AUTOPOST_IMPORT_PRIVATE_URLS", "true");
    }
    let world = builder.start().await.unwrap();
    world.link_x("telegram:-100", "telegram:1").await.unwrap();
    let alice = world
        .link_meta("telegram:-100", "telegram:1")
        .await
        .unwrap()
        .actor;
    Team { world, alice }
}

fn png(side: u32) -> Bytes {
    let image = image::RgbaImage::from_pixel(side, side, image::Rgba([200, 10, 10, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    Bytes::from(out.into_inner())
}

impl Team {
    /// Rows of the posts table and image files kept: what a refused import must leave as
    /// they were.
    async fn stored(&self) -> (i64, usize) {
        let url = format!("sqlite://{}", db_path(self.world.dir()).display());
        let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
        let posts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        let media = self.world.dir().join("media");
        let files = if media.exists() {
            std::fs::read_dir(&media).unwrap().count()
        } else {
            0
        };
        (posts, files)
    }
}

#[tokio::test]
async fn a_valid_file_queues_every_row_and_the_images_reach_the_platforms() {
    let host = ImageHost::start().await.unwrap();
    let cake = host.add("/cake.png", png(400), "image/png");
    let moved = host.redirect("/old-cake.png", &cake);
    let t = team(false, true).await;
    let app = t.world.app();
    let file = format!(
        "when,text,targets,images\n\
         tomorrow 9am,\"Hello, world\",x,\n\
         in 2h,Fresh bread,Alice's Bakery; x,{cake}\n\
         now,Cake is out,,{moved}\n"
    );
    let imported = app
        .import_posts(&t.alice, file.as_bytes(), Utc::now())
        .await
        .unwrap();
    let Imported::Queued(rows) = imported else {
        panic!("refused: {imported:?}");
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    let targets: Vec<usize> = rows.iter().map(|r| r.accepted.targets.len()).collect();
    assert_eq!(targets, [1, 2, 2], "x alone; both by name; the default");
    assert!(rows[0].accepted.post < rows[1].accepted.post);
    assert_eq!(host.fetched(), ["/cake.png", "/old-cake.png", "/cake.png"]);
    assert_eq!(t.stored().await.0, 3);

    // The row due now goes out with its picture, on X and on the Page.
    t.world
        .wait_until("the imported post to be published", async || {
            let history = app.history(t.alice.chat, 10).await.unwrap();
            history
                .iter()
                .filter(|h| h.state == TargetState::Published)
                .count()
                == 2
        })
        .await
        .unwrap();
    let tweets = t.world.x().tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "Cake is out");
    assert_eq!(tweets[0].media_ids.len(), 1);
    assert_eq!(t.world.x().media().len(), 1);
    let photos = t.world.meta().photos();
    assert_eq!(photos.len(), 1, "{photos:?}");
    assert_eq!(photos[0].caption.as_deref(), Some("Cake is out"));
}

#[tokio::test]
async fn one_bad_row_queues_nothing_and_every_bad_row_is_named() {
    let host = ImageHost::start().await.unwrap();
    let cake = host.add("/cake.png", png(400), "image/png");
    let t = team(true, true).await;
    let app = t.world.app();
    let before = t.stored().await;
    let caption = "a".repeat(2_201);
    let file = format!(
        "when,text,targets,images\n\
         tomorrow 9am,fine on its own,x,\n\
         someday maybe,a time nobody can read,x,\n\
         tomorrow 9am,for a network not linked,mastodon,\n\
         tomorrow 9am,{caption},instagram,{cake}\n\
         tomorrow 9am,a picture that is not there,x,{missing}\n\
         tomorrow 9am,fine too,x facebook,{cake}\n",
        missing = host.url("/missing.png"),
    );
    let imported = app
        .import_posts(&t.alice, file.as_bytes(), Utc::now())
        .await
        .unwrap();
    let Imported::Refused(problems) = imported else {
        panic!("queued: {imported:?}");
    };
    let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 6], "{problems:?}");
    let reason = |line: u64| -> &str {
        &problems
            .iter()
            .find(|p: &&RowProblem| p.line == line)
            .unwrap()
            .reason
    };
    assert!(
        reason(4).contains("no account called `mastodon`"),
        "{}",
        reason(4)
    );
    assert!(
        reason(5).contains("Instagram allows 2,200 characters"),
        "{}",
        reason(5)
    );
    assert!(reason(6).contains("answered 404"), "{}", reason(6));
    assert_eq!(t.stored().await, before, "no post row and no image file");
    assert!(app.queue(t.alice.chat).await.unwrap().is_empty());
}

#[tokio::test]
async fn image_urls_on_private_addresses_are_refused_unless_the_operator_allows_them() {
    let host = ImageHost::start().await.unwrap();
    let cake = host.add("/cake.png", png(64), "image/png");
    let t = team(false, false).await;
    let file = format!("when,text,targets,images\ntomorrow 9am,cake,x,{cake}\n");
    let imported = t
        .world
        .app()
        .import_posts(&t.alice, file.as_bytes(), Utc::now())
        .await
        .unwrap();
    let Imported::Refused(problems) = imported else {
        panic!("queued: {imported:?}");
    };
    assert_eq!(problems[0].line, 2);
    assert!(
        problems[0].reason.contains("private network address"),
        "{problems:?}"
    );
    assert!(host.fetched().is_empty(), "never asked");
    assert_eq!(t.stored().await, (0, 0));
}

#[tokio::test]
async fn an_import_the_full_disk_refuses_leaves_no_row_and_no_image_behind() {
    let host = ImageHost::start().await.unwrap();
    let mut world = World::builder()
        .x()
        .growth_switch()
        .var("AUTOPOST_IMPORT_PRIVATE_URLS", "true")
        .start()
        .await
        .unwrap();
    let alice = world
        .link_x("telegram:-100", "telegram:1")
        .await
        .unwrap()
        .actor;
    let store = world.store().await.unwrap();
    world.stop_database_growth();
    let mut queued = Vec::new();
    let refusal = loop {
        assert!(queued.len() < 400, "the database never filled");
        // Five posts a file, each with a picture of its own, so each writes a file.
        let mut file = String::from("when,text,images\n");
        for _ in 0..5 {
            let n = queued.len() + file.lines().count();
            let url = host.add(&format!("/{n}.png"), png(16 + n as u32), "image/png");
            let filler = "words to fill the disk with ".repeat(8);
            file.push_str(&format!("tomorrow 9am,post {n} {filler},{url}\n"));
        }
        match world
            .app()
            .import_posts(&alice, file.as_bytes(), Utc::now())
            .await
        {
            Ok(Imported::Queued(rows)) => queued.extend(rows.iter().map(|r| r.accepted.post)),
            Ok(Imported::Refused(problems)) => panic!("{problems:?}"),
            Err(e) => break e,
        }
    };
    assert!(!refusal.is_user_error(), "{refusal:?}");
    assert!(
        autopost::store::StoreError::is_storage_full_in(&refusal),
        "{refusal:?}"
    );
    let pending = world.app().queue(alice.chat).await.unwrap();
    assert_eq!(pending.len(), queued.len(), "no row of the refused file");
    let mut kept = std::collections::BTreeSet::new();
    for post in &queued {
        for file in store.media_of_post(*post).await.unwrap() {
            kept.insert(file.file_name);
        }
    }
    let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(world.dir().join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(on_disk, kept, "only the images of stored posts are on disk");
    world.shutdown().await.unwrap();
}
