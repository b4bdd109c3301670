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
