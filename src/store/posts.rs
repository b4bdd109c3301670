//! Posts, their per-account targets and their images. Scheduling logic lives elsewhere;
//! these functions only keep the rows consistent, one transaction per change.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::db::{Record, Tx, query, query_scalar};
use super::{Store, StoreError, to_millis};
use crate::domain::{AccountId, ChatId, MediaId, PostId, Provider, UserId};

/// A post as accepted from a chat, with everything checked.
#[derive(Debug)]
pub struct NewPost {
    /// The queue it belongs to.
    pub chat: ChatId,
    /// Who wrote it.
    pub author: UserId,
    /// The text.
    pub body: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The recurrence rule's storage form, for a repeating post.
    pub recurrence: Option<String>,
    /// The author's zone, in which a recurrence is evaluated.
    pub time_zone: Tz,
    /// One target per account.
    pub targets: Vec<AccountId>,
    /// Each network's own text, where the author wrote one; its targets publish it instead
    /// of `body`.
    pub variants: Vec<(Provider, String)>,
    /// Images, in order, already saved as files.
    pub media: Vec<NewMedia>,
    /// The thread parts of targets whose text is too long for one post (X), by account;
    /// an account not listed publishes the body as one post.
    pub threads: Vec<(AccountId, Vec<String>)>,
}

/// An image file saved for a post.
#[derive(Debug, Clone)]
pub struct NewMedia {
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub byte_len: u64,
    /// Pixel width, when decoded.
    pub width: Option<u32>,
    /// Pixel height, when decoded.
    pub height: Option<u32>,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Name under the media directory.
    pub file_name: String,
    /// The bytes, stored with the row, when images are kept in the database (the shared
    /// mode); `None` when they are a file in the data dir.
    pub blob: Option<bytes::Bytes>,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// Its row.
    pub id: MediaId,
    /// MIME type.
    pub content_type: String,
    /// Name under the media directory.
    pub file_name: String,
    /// Size in bytes.
    pub byte_len: u64,
}

impl Store {
    /// Stores a post with its targets and images in one transaction.
    pub async fn insert_post(
        &self,
        post: NewPost,
        now: DateTime<Utc>,
    ) -> Result<PostId, StoreError> {
        let mut ids = self.insert_posts(vec![post], now).await?;
        ids.pop().ok_or(StoreError::NotFound { what: "post" })
    }

    /// Stores many posts in one transaction (imports, benchmarks): all or none.
    pub async fn insert_posts(
        &self,
        posts: Vec<NewPost>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PostId>, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_write().await?;
        let mut ids = Vec::with_capacity(posts.len());
        for post in posts {
            ids.push(insert_one(&mut tx, post, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A stored image by id.
    pub async fn media_file(&self, id: MediaId) -> Result<MediaFile, StoreError> {
        let row = query("SELECT id, content_type, file_name, byte_len FROM media WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound { what: "media" })?;
        Ok(media_row(&row))
    }

    /// A post's images, in order.
    pub async fn media_of_post(&self, post: PostId) -> Result<Vec<MediaFile>, StoreError> {
        let rows = query(
            "SELECT id, content_type, file_name, byte_len FROM media WHERE post_id = ? ORDER BY position",
        )
        .bind(post.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(media_row).collect())
    }
}

async fn insert_one(tx: &mut Tx, post: NewPost, now: DateTime<Utc>) -> Result<PostId, StoreError> {
    let id: i64 = query_scalar(
        "INSERT INTO posts (chat_id, author_id, body, due_at, recurrence, time_zone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
    )
    .bind(post.chat.0)
    .bind(post.author.0)
    .bind(&post.body)
    .bind(to_millis(post.due_at))
    .bind(&post.recurrence)
    .bind(post.time_zone.name())
    .bind(to_millis(now))
    .fetch_one(&mut **tx)
    .await?;
    for account in &post.targets {
        query("INSERT INTO targets (post_id, account_id, due_at, updated_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(account.0)
            .bind(to_millis(post.due_at))
            .bind(to_millis(now))
            .execute(&mut **tx)
            .await?;
    }
    for (provider, body) in &post.variants {
        query("INSERT INTO post_variants (post_id, provider, body) VALUES (?, ?, ?)")
            .bind(id)
            .bind(provider.as_str())
            .bind(body)
            .execute(&mut **tx)
            .await?;
    }
    if !post.threads.is_empty() {
        super::thread_parts::replace_parts(tx, PostId(id), &post.threads).await?;
    }
    insert_media(tx, PostId(id), &post.media, now).await?;
    Ok(PostId(id))
}

/// Stores a post's images, in order.
pub(super) async fn insert_media(
    tx: &mut Tx,
    post: PostId,
    media: &[NewMedia],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (position, media) in media.iter().enumerate() {
        let id: i64 = query_scalar(
            "INSERT INTO media (post_id, position, content_type, byte_len, width, height, sha256, file_name, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(post.0)
        .bind(position as i64)
        .bind(&media.content_type)
        .bind(i64::try_from(media.byte_len).unwrap_or(i64::MAX))
        .bind(media.width.map(i64::from))
        .bind(media.height.map(i64::from))
        .bind(&media.sha256)
        .bind(&media.file_name)
        .bind(to_millis(now))
        .fetch_one(&mut **tx)
        .await?;
        if let Some(bytes) = &media.blob {
            super::media_blobs::store_blob(tx, id, bytes).await?;
        }
    }
    Ok(())
}

fn media_row(row: &Record) -> MediaFile {
    MediaFile {
        id: MediaId(row.get("id")),
        content_type: row.get("content_type"),
        file_name: row.get("file_name"),
        byte_len: u64::try_from(row.get::<i64, _>("byte_len")).unwrap_or(0),
    }
}

#[cfg(test)]
crate::store::test_support::on_both_backends! {
    use super::*;
    use crate::store::test_support::telegram_user_and_chat;

    #[tokio::test]
    async fn a_post_is_stored_with_its_images_in_order() {
        let (store, _dir) = temp_store().await;
        let now = Utc::now();
        let (user, chat) = telegram_user_and_chat(&store, now).await;
        let media = |name: &str| NewMedia {
            content_type: "image/jpeg".to_owned(),
            byte_len: 3,
            width: Some(1),
            height: Some(1),
            sha256: name.to_owned(),
            file_name: format!("{name}.jpg"),
            blob: None,
        };
        let post = store
            .insert_post(
                NewPost {
                    chat: chat.id,
                    author: user.id,
                    body: "hello".to_owned(),
                    due_at: now,
                    recurrence: None,
                    time_zone: chrono_tz::UTC,
                    targets: vec![],
                    variants: Vec::new(),
                    media: vec![media("a"), media("b")],
                    threads: vec![],
                },
                now,
            )
            .await
            .unwrap();
        let files = store.media_of_post(post).await.unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].file_name, "b.jpg");
        assert_eq!(store.media_file(files[0].id).await.unwrap(), files[0]);
        assert!(matches!(
            store.media_file(MediaId(99)).await,
            Err(StoreError::NotFound { what: "media" })
        ));
    }
}
