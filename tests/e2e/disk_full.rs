//! A full disk: the store tells it apart, and a post that cannot be stored leaves nothing of
//! itself behind, neither rows nor image files. (What people hear is tested with the chat
//! front ends; the switch that stops the database growing is the world's.)

use std::collections::BTreeSet;

use autopost::posting::Draft;
use autopost::store::StoreError;
use autopost_sim::World;
use chrono::Utc;

use crate::helpers::jpeg;

const TEAM: &str = "telegram:-1001";
const ALICE: &str = "telegram:42";

/// The names of the files in the world's media directory.
fn media_files(world: &World) -> BTreeSet<String> {
    std::fs::read_dir(world.dir().join("media"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_post_refused_for_a_full_disk_leaves_no_row_and_no_image_behind() {
    let mut world = World::builder().x().growth_switch().start().await.unwrap();
    let linked = world.link_x(TEAM, ALICE).await.unwrap();
    world.stop_database_growth();
    let store = world.store().await.unwrap();
    let mut accepted = Vec::new();
    let refusal = loop {
        assert!(accepted.len() < 200, "the database never filled");
        let n = u32::try_from(accepted.len()).unwrap();
        let draft = Draft {
            when: "tomorrow 9am".to_owned(),
            text: format!("post {n} while the disk fills up, with its own picture"),
            // A picture of its own for each post, so each writes a file.
            images: vec![jpeg(16 + n, 16)],
            targets: None,
        };
        match world
            .app()
            .create_post(&linked.actor, draft, Utc::now())
            .await
        {
            Ok(post) => accepted.push(post.post),
            Err(e) => break e,
        }
    };
    assert!(
        StoreError::is_storage_full_in(&refusal),
        "{refusal:?}: told apart from other database errors"
    );
    let queued = world.app().queue(linked.actor.chat).await.unwrap();
    assert_eq!(queued.len(), accepted.len(), "no row of the refused post");
    let mut kept = BTreeSet::new();
    for post in &accepted {
        for file in store.media_of_post(*post).await.unwrap() {
            kept.insert(file.file_name);
        }
    }
    assert_eq!(
        media_files(&world),
        kept,
        "only the images of stored posts are on disk"
    );
    world.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn images_and_database_files_are_owner_only_while_autopost_runs() {
    use std::os::unix::fs::PermissionsExt;
    let mut world = World::builder().x().start().await.unwrap();
    let linked = world.link_x(TEAM, ALICE).await.unwrap();
    world
        .app()
        .create_post(
            &linked.actor,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "with a picture".to_owned(),
                images: vec![jpeg(20, 20)],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = world.dir().to_owned();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("media")), 0o700);
    let images = media_files(&world);
    assert_eq!(images.len(), 1, "{images:?}");
    for image in images {
        assert_eq!(mode(&dir.join("media").join(&image)), 0o600, "{image}");
    }
    for file in [
        "autopost.db",
        "autopost.db-wal",
        "autopost.db-shm",
        "autopost.lock",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    world.shutdown().await.unwrap();
}
