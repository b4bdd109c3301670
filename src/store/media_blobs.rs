//! Image bytes kept in the database (the shared mode), where every instance can read them.
//! Each image row has its own blob, written in the transaction that stores the row and gone
//! with it (`ON DELETE CASCADE`): a purge, an erasure or a replaced image removes the bytes
//! in the same commit, and no instance has to count who else still names a file. The price
//! is that the same image in two posts is stored twice. On SQLite images are files in the
//! data dir and this table stays empty.

use super::db::{Tx, query, query_scalar};
use super::{Store, StoreError};
use crate::domain::{MediaId, PostId};

/// How the database holds images, for `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobCensus {
    /// Image rows.
    pub images: u64,
    /// Image rows whose bytes are in the database.
    pub in_database: u64,
    /// Their total size.
    pub bytes: u64,
}

impl Store {
    /// The bytes of image `media`, if the database holds them.
    pub async fn media_blob(&self, media: MediaId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            query_scalar("SELECT bytes FROM media_blobs WHERE media_id = ?")
                .bind(media.0)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The bytes of the stored image file `file_name`, if the database holds them. Names are
    /// content hashes, so every row naming the file holds the same bytes: any one will do.
    pub async fn media_blob_named(&self, file_name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(query_scalar(
            "SELECT b.bytes FROM media m JOIN media_blobs b ON b.media_id = m.id
             WHERE m.file_name = ? LIMIT 1",
        )
        .bind(file_name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// How many images there are and how many of them (and how many bytes) the database holds.
    pub async fn media_blob_census(&self) -> Result<BlobCensus, StoreError> {
        let (images, in_database, bytes): (i64, i64, i64) = super::db::query_as(
            "SELECT (SELECT COUNT(*) FROM media),
                    (SELECT COUNT(*) FROM media_blobs),
                    (SELECT CAST(COALESCE(SUM(length(bytes)), 0) AS BIGINT) FROM media_blobs)",
        )
        .fetch_one(&self.pool)
        .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(BlobCensus {
            images: count(images),
            in_database: count(in_database),
            bytes: count(bytes),
        })
    }
}

/// Stores the bytes of the image row `media`, in the transaction that stores the row.
pub(super) async fn store_blob(tx: &mut Tx, media: i64, bytes: &[u8]) -> Result<(), StoreError> {
    query("INSERT INTO media_blobs (media_id, bytes) VALUES (?, ?)")
        .bind(media)
        .bind(bytes)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives the image rows of post `to`, just copied from post `from` position by position (a
/// series' next occurrence, an extra one), the bytes of `from`'s: each row owns its blob, so
/// the copy must not depend on the original's rows, which the purge removes first. Nothing
/// happens when `from`'s images are files (SQLite).
pub(super) async fn copy_blobs(tx: &mut Tx, from: PostId, to: PostId) -> Result<(), StoreError> {
    query(
        "INSERT INTO media_blobs (media_id, bytes)
         SELECT n.id, b.bytes FROM media n
         JOIN media o ON o.post_id = ? AND o.position = n.position
         JOIN media_blobs b ON b.media_id = o.id
         WHERE n.post_id = ?",
    )
    .bind(from.0)
    .bind(to.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use chrono::Utc;

    use crate::recurrence::Recurrence;
    use crate::store::db::{query, query_scalar};
    use crate::store::test_support::group_with_two_pages;
    use crate::store::{NewMedia, NewPost, Store};

    fn image(name: &str, bytes: &'static [u8]) -> NewMedia {
        NewMedia {
            content_type: "image/jpeg".to_owned(),
            byte_len: bytes.len() as u64,
            width: Some(1),
            height: Some(1),
            sha256: name.to_owned(),
            file_name: format!("{name}.jpg"),
            blob: Some(bytes::Bytes::from_static(bytes)),
        }
    }

    async fn blobs(store: &Store) -> Result<i64, sqlx::Error> {
        query_scalar("SELECT COUNT(*) FROM media_blobs")
            .fetch_one(&store.pool)
            .await
    }

    #[tokio::test]
    async fn blobs_are_stored_with_their_rows_copied_with_an_occurrence_and_go_with_their_row() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (author, chat, accounts) = group_with_two_pages(&store, now).await;
        let rule = Recurrence::from_storage("v1 MO,TU,WE,TH,FR,SA,SU 09:00 UTC").unwrap();
        let post = store
            .insert_post(
                NewPost {
                    chat,
                    author,
                    body: "daily bread".to_owned(),
                    due_at: now + chrono::Duration::hours(1),
                    recurrence: Some(rule.to_storage()),
                    time_zone: chrono_tz::UTC,
                    targets: accounts.clone(),
                    variants: vec![],
                    media: vec![image("a", b"first"), image("b", b"second")],
                    threads: vec![],
                },
                now,
            )
            .await
            .unwrap();
        let files = store.media_of_post(post).await.unwrap();
        assert_eq!(
            store.media_blob(files[1].id).await.unwrap().as_deref(),
            Some(&b"second"[..])
        );
        assert_eq!(
            store.media_blob_named("a.jpg").await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(store.media_blob_named("c.jpg").await.unwrap(), None);
        let census = store.media_blob_census().await.unwrap();
        assert_eq!((census.images, census.in_database, census.bytes), (2, 2, 11));

        // Post now on a series queues an extra occurrence with copies of the images.
        store.post_now(post, now).await.unwrap();
        let extra: i64 = query_scalar("SELECT id FROM posts WHERE id <> ?")
            .bind(post.0)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let copies = store
            .media_of_post(crate::domain::PostId(extra))
            .await
            .unwrap();
        assert_eq!(copies.len(), 2);
        assert_eq!(
            store.media_blob(copies[0].id).await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(blobs(&store).await.unwrap(), 4);

        // The original's rows go (as the purge removes them): the copies keep their bytes.
        query("DELETE FROM media WHERE post_id = ?")
            .bind(post.0)
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(blobs(&store).await.unwrap(), 2, "gone with their rows");
        assert_eq!(
            store.media_blob(copies[1].id).await.unwrap().as_deref(),
            Some(&b"second"[..])
        );
        query("DELETE FROM posts WHERE id = ?")
            .bind(extra)
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(blobs(&store).await.unwrap(), 0, "gone with their post");
    }
}
