//! Where images live in each mode: files in the data dir with SQLite, rows of the database in
//! the shared mode (PostgreSQL), where every instance can read them. On each engine a post's
//! image reaches X (the scheduler reads it), Instagram (which fetches the signed media link
//! from the web server) and the export zip byte for byte; the purge and the erasure remove it.

use std::io::Read;

use autopost::domain::{Actor, TargetState};
use autopost::posting::Draft;
use autopost::store::{Backend, Store};
use autopost_sim::World;
use autopost_sim::meta::{SimMetaConfig, SimMetaUser, SimPage};
use autopost_sim::world::{META_APP_ID, X_CLIENT_ID};
use autopost_sim::x::{SimXConfig, SimXUser};
use bytes::Bytes;
use chrono::{Duration, Utc};

use crate::helpers::jpeg;

/// autopost serving with X, a Facebook Page and its Instagram account linked to a group.
struct Fixture {
    world: World,
    author: Actor,
}

/// `None` when PostgreSQL is asked for and not installed (the test cluster has said so).
async fn fixture(engine: Backend) -> Option<Fixture> {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let mut meta = SimMetaConfig::new(META_APP_ID, "meta-app-secret");
    meta.user = SimMetaUser {
        id: "10158000000000001".to_owned(),
        name: "Alice".to_owned(),
        pages: vec![
            SimPage::new("5550001", "Alice's Bakery")
                .with_instagram("17841400000000001", "alices_bakery"),
        ],
    };
    let mut builder = World::builder().x_with(x).meta_with(meta);
    if engine == Backend::Postgres {
        let cluster = autopost::test_cluster::cluster()?;
        let url = cluster.fresh_database().await;
        builder = builder.var("AUTOPOST_DATABASE_URL", &url);
    }
    let world = builder.start().await.unwrap();
    let author = world
        .link_x("telegram:-1", "telegram:1")
        .await
        .unwrap()
        .actor;
    world.link_meta("telegram:-1", "telegram:1").await.unwrap();
    Some(Fixture { world, author })
}

impl Fixture {
    async fn post(&self, when: &str, image: Bytes) -> autopost::domain::PostId {
        self.world
            .app()
            .create_post(
                &self.author,
                Draft {
                    when: when.to_owned(),
                    text: "fresh loaves".to_owned(),
                    images: vec![image],
                    targets: None,
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .post
    }

    async fn store(&self) -> Store {
        self.world.store().await.unwrap()
    }

    /// The image files in the data dir.
    fn files(&self) -> usize {
        std::fs::read_dir(self.world.dir().join("media")).map_or(0, Iterator::count)
    }

    /// Where the images are: (files in the data dir, images whose bytes the database holds).
    async fn stored(&self) -> (usize, u64) {
        let census = self.store().await.media_blob_census().await.unwrap();
        (self.files(), census.in_database)
    }
}

async fn images_reach_every_reader_and_go_with_purge_and_erasure(engine: Backend) {
    let Some(f) = fixture(engine).await else {
        return;
    };
    let app = f.world.app().clone();
    assert_eq!(
        app.media().in_the_database(),
        engine == Backend::Postgres,
        "the shared mode keeps images in the database"
    );
    let published = f.post("now", jpeg(40, 30)).await;
    let chat = f.author.chat;
    f.world
        .wait_until("the post on X, Facebook and Instagram", async || {
            let history = app.history(chat, 10).await.unwrap();
            history.len() == 3 && history.iter().all(|h| h.state == TargetState::Published)
        })
        .await
        .unwrap();
    let store = f.store().await;
    let file = store.media_of_post(published).await.unwrap().remove(0);
    let stored = app
        .media()
        .read_media(file.id, &file.file_name)
        .await
        .unwrap();
    assert_eq!(app.media().read(&file.file_name).await.unwrap(), stored);
    match engine {
        Backend::Sqlite => assert_eq!(f.stored().await, (1, 0), "a file, nothing in the database"),
        Backend::Postgres => {
            assert_eq!(f.stored().await, (0, 1), "in the database, no file");
            assert_eq!(
                store.media_blob(file.id).await.unwrap().as_deref(),
                Some(&stored[..])
            );
        }
    }
    let x = f.world.x().media();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].bytes, stored, "the scheduler read the image for X");
    let containers = f.world.meta().containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(
        containers[0].fetched.as_ref(),
        Some(&stored),
        "Instagram fetched it from the media link"
    );

    let zip = app
        .export_user_archive(f.author.user, 50_000_000, Utc::now())
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let name = format!("images/{}-1.jpg", published.0);
    let mut exported = Vec::new();
    archive
        .by_name(&name)
        .unwrap()
        .read_to_end(&mut exported)
        .unwrap();
    assert_eq!(exported, stored, "the export holds the image");

    // A queued post keeps its image through the purge; the published one's goes.
    let queued = f.post("tomorrow 9am", jpeg(20, 20)).await;
    let (files, blobs) = f.stored().await;
    assert_eq!(files as u64 + blobs, 2);
    let report = app.purge(Utc::now() + Duration::days(8)).await.unwrap();
    assert_eq!(report.media_rows, 1, "{report:?}");
    assert!(store.media_of_post(published).await.unwrap().is_empty());
    assert_eq!(store.media_of_post(queued).await.unwrap().len(), 1);
    assert_eq!(
        f.stored().await,
        match engine {
            Backend::Sqlite => (1, 0),
            Backend::Postgres => (0, 1),
        },
        "the purged image is gone, the queued one kept"
    );

    app.erase_user(f.author.user, Utc::now()).await.unwrap();
    assert_eq!(f.stored().await, (0, 0), "the erasure took the last image");
}

#[tokio::test]
async fn on_sqlite_images_are_files_read_by_every_path_and_removed_by_purge_and_erasure() {
    images_reach_every_reader_and_go_with_purge_and_erasure(Backend::Sqlite).await;
}

#[tokio::test]
async fn in_the_shared_mode_images_are_rows_read_by_every_path_and_removed_by_purge_and_erasure() {
    images_reach_every_reader_and_go_with_purge_and_erasure(Backend::Postgres).await;
}
