//! Stored images and signed, expiring `/media/{token}` links that platforms such as
//! Instagram fetch. With SQLite (one instance) an image is a file under the data dir named by
//! its content hash; in the shared mode (PostgreSQL, several instances) its bytes are kept in
//! the database beside its row, where every instance can read them (see
//! [`crate::store::media_blobs`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};
use url::Url;

use crate::config::public_link;
use crate::data_dir::{PRIVATE_DIR, PRIVATE_FILE, set_mode};
use crate::domain::MediaId;
use crate::store::{Backend, Store, StoreError};

/// The directory under the data dir that holds stored images.
pub const MEDIA_DIR: &str = "media";

/// Bytes of the signature kept in a link: 128 bits are plenty against forgery.
const SIGNATURE_LEN: usize = 16;
const PAYLOAD_LEN: usize = 16;

/// Why a media file or link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The media directory or file could not be written or read.
    #[error("cannot access stored media {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database holds no bytes for the image (the shared mode).
    #[error("the stored image {name} is not in the database")]
    Missing {
        /// The image's file name.
        name: String,
    },
    /// The database could not be read (the shared mode).
    #[error("cannot read a stored image from the database")]
    Store(#[source] StoreError),
    /// The link is malformed or its signature does not match.
    #[error("this media link is not valid")]
    BadLink,
    /// The link's lifetime is over.
    #[error("this media link has expired")]
    Expired,
}

impl MediaError {
    /// Whether the image is simply gone (removed by the purge, say), rather than unreadable.
    pub fn is_missing(&self) -> bool {
        match self {
            MediaError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            MediaError::Missing { .. } => true,
            _ => false,
        }
    }
}

/// A file written by [`MediaFiles::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFile {
    /// Name under the media directory.
    pub file_name: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub byte_len: u64,
    /// Whether this call wrote the file (it was not stored before): the caller removes such a
    /// file again when what it was for could not be stored.
    pub written: bool,
    /// In the shared mode nothing is written yet: these are the bytes to store with the
    /// image's row ([`crate::store::NewMedia::blob`]), in its transaction.
    pub blob: Option<Bytes>,
}

/// Where the images are: the media directory and the key that signs links to them.
#[derive(Clone)]
pub struct MediaFiles {
    place: Place,
    signing_key: [u8; 32],
    /// Files are shared by content, so a file the store just found unused may be about to
    /// be named again by a post being saved: savers hold this shared from `save` until their
    /// rows are stored, removers hold it exclusively while they check and remove.
    removals: Arc<RwLock<()>>,
}

/// Held while a post names files it saved: no file is removed meanwhile.
pub type SavingGuard = OwnedRwLockReadGuard<()>;

/// Held while files found unused are checked once more and removed.
pub type RemovalGuard = OwnedRwLockWriteGuard<()>;

/// Where image bytes live.
#[derive(Clone)]
enum Place {
    /// Files in this directory (SQLite: one instance, one machine).
    Files(PathBuf),
    /// Rows of `media_blobs` (the shared mode): a directory would have to be shared by every
    /// instance's machine, and backed up and kept consistent with the database apart from it.
    Database(Store),
}

impl std::fmt::Debug for MediaFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("MediaFiles");
        match &self.place {
            Place::Files(dir) => out.field("dir", dir),
            Place::Database(_) => out.field("in", &"database"),
        };
        out.finish_non_exhaustive()
    }
}

impl MediaFiles {
    /// Media under `data_dir/media`, links signed with `signing_key`.
    pub fn new(data_dir: &Path, signing_key: [u8; 32]) -> Self {
        Self::at(Place::Files(data_dir.join(MEDIA_DIR)), signing_key)
    }

    /// Media in `store`'s database, links signed with `signing_key`.
    pub fn in_database(store: Store, signing_key: [u8; 32]) -> Self {
        Self::at(Place::Database(store), signing_key)
    }

    /// Where the store's engine keeps images: files under `data_dir` with SQLite, the
    /// database itself with PostgreSQL (the shared mode).
    pub fn for_store(data_dir: &Path, store: &Store, signing_key: [u8; 32]) -> Self {
        match store.backend() {
            Backend::Sqlite => Self::new(data_dir, signing_key),
            Backend::Postgres => Self::in_database(store.clone(), signing_key),
        }
    }

    fn at(place: Place, signing_key: [u8; 32]) -> Self {
        Self {
            place,
            signing_key,
            removals: Arc::default(),
        }
    }

    /// Whether image bytes are kept in the database rather than in files.
    pub fn in_the_database(&self) -> bool {
        matches!(self.place, Place::Database(_))
    }

    /// Take before [`MediaFiles::save`] and keep until the rows naming the files are stored.
    pub async fn saving(&self) -> SavingGuard {
        self.removals.clone().read_owned().await
    }

    /// Take before checking that a file is unused and removing it.
    pub async fn removing(&self) -> RemovalGuard {
        self.removals.clone().write_owned().await
    }

    /// Writes `bytes` (content-addressed, so the same image is stored once) and returns
    /// where. The file appears whole or not at all: written to a temp name, then renamed.
    /// In the shared mode nothing is written here: the bytes come back in
    /// [`SavedFile::blob`], for the store to keep with the image's row.
    pub async fn save(&self, bytes: &[u8], extension: &str) -> Result<SavedFile, MediaError> {
        let sha256 = hex(&Sha256::digest(bytes));
        let file_name = format!("{sha256}.{extension}");
        let dir = match &self.place {
            Place::Files(dir) => dir,
            Place::Database(_) => {
                return Ok(SavedFile {
                    file_name,
                    sha256,
                    byte_len: bytes.len() as u64,
                    written: false,
                    blob: Some(Bytes::copy_from_slice(bytes)),
                });
            }
        };
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| MediaError::Io { path, source }
        };
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        // People's images: owner-only, whatever the umask made of the directory.
        set_mode(dir, PRIVATE_DIR).map_err(io(dir))?;
        let path = dir.join(&file_name);
        let written = tokio::fs::metadata(&path).await.is_err();
        if written {
            let temp = dir.join(format!(".{file_name}.partial"));
            tokio::fs::write(&temp, bytes).await.map_err(io(&temp))?;
            set_mode(&temp, PRIVATE_FILE).map_err(io(&temp))?;
            tokio::fs::rename(&temp, &path).await.map_err(io(&path))?;
        }
        Ok(SavedFile {
            file_name,
            sha256,
            byte_len: bytes.len() as u64,
            written,
            blob: None,
        })
    }

    /// Reads a stored image by its file name.
    pub async fn read(&self, file_name: &str) -> Result<Bytes, MediaError> {
        match &self.place {
            Place::Files(dir) => read_file(dir, file_name).await,
            Place::Database(store) => found(store.media_blob_named(file_name).await, file_name),
        }
    }

    /// Reads stored image `media` (named `file_name`): in the shared mode by its row, which
    /// is the one lookup the database has an index for.
    pub async fn read_media(&self, media: MediaId, file_name: &str) -> Result<Bytes, MediaError> {
        match &self.place {
            Place::Files(dir) => read_file(dir, file_name).await,
            Place::Database(store) => found(store.media_blob(media).await, file_name),
        }
    }

    /// Removes a stored file; a file already gone is fine. In the shared mode there is
    /// nothing to do: the bytes went with their row.
    pub async fn remove(&self, file_name: &str) -> Result<(), MediaError> {
        let Place::Files(dir) = &self.place else {
            return Ok(());
        };
        let path = dir.join(file_name);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(MediaError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// A public link `{public_url}/media/{token}` to `media`, working until `expires_at`.
    pub fn link(&self, public_url: &Url, media: MediaId, expires_at: DateTime<Utc>) -> Url {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..8].copy_from_slice(&media.0.to_be_bytes());
        payload[8..].copy_from_slice(&expires_at.timestamp().to_be_bytes());
        let mut token = payload.to_vec();
        token.extend_from_slice(&self.sign(&payload));
        public_link(public_url, &["media", &URL_SAFE_NO_PAD.encode(token)])
    }

    /// The media a link token names, if its signature is ours and it has not expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<MediaId, MediaError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| MediaError::BadLink)?;
        if raw.len() != PAYLOAD_LEN + SIGNATURE_LEN {
            return Err(MediaError::BadLink);
        }
        let (payload, signature) = raw.split_at(PAYLOAD_LEN);
        let mut mac = self.mac();
        mac.update(payload);
        mac.verify_truncated_left(signature)
            .map_err(|_| MediaError::BadLink)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&payload[..8]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&payload[8..]);
        if i64::from_be_bytes(expires) <= now.timestamp() {
            return Err(MediaError::Expired);
        }
        Ok(MediaId(i64::from_be_bytes(id)))
    }

    fn mac(&self) -> Hmac<Sha256> {
        crate::crypto::hmac_sha256(&self.signing_key)
    }

    fn sign(&self, payload: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut mac = self.mac();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(&full[..SIGNATURE_LEN]);
        out
    }
}

async fn read_file(dir: &Path, file_name: &str) -> Result<Bytes, MediaError> {
    // Names come from the store, but refuse anything that could leave the directory.
    if file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        return Err(MediaError::BadLink);
    }
    let path = dir.join(file_name);
    tokio::fs::read(&path)
        .await
        .map(Bytes::from)
        .map_err(|source| MediaError::Io { path, source })
}

fn found(read: Result<Option<Vec<u8>>, StoreError>, name: &str) -> Result<Bytes, MediaError> {
    match read {
        Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
        Ok(None) => Err(MediaError::Missing {
            name: name.to_owned(),
        }),
        Err(e) => Err(MediaError::Store(e)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> MediaFiles {
        MediaFiles::new(dir, [9; 32])
    }

    #[test]
    fn a_link_verifies_until_it_expires_and_a_changed_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let media = files(dir.path());
        let now = Utc::now();
        let base: Url = "https://autopost.example/base/".parse().unwrap();
        let url = media.link(&base, MediaId(42), now + chrono::Duration::minutes(30));
        assert!(
            url.as_str()
                .starts_with("https://autopost.example/base/media/")
        );
        let token = url.path_segments().unwrap().next_back().unwrap().to_owned();
        assert_eq!(media.verify(&token, now).unwrap(), MediaId(42));
        assert!(matches!(
            media.verify(&token, now + chrono::Duration::minutes(31)),
            Err(MediaError::Expired)
        ));
        let mut forged = token.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            media.verify(std::str::from_utf8(&forged).unwrap(), now),
            Err(MediaError::BadLink)
        ));
        let other_key = MediaFiles::new(dir.path(), [8; 32]);
        assert!(matches!(
            other_key.verify(&token, now),
            Err(MediaError::BadLink)
        ));
        assert!(matches!(
            media.verify("short", now),
            Err(MediaError::BadLink)
        ));
    }

    #[tokio::test]
    async fn files_are_stored_once_by_content_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let media = files(dir.path());
        let a = media.save(b"jpeg bytes", "jpg").await.unwrap();
        let b = media.save(b"jpeg bytes", "jpg").await.unwrap();
        assert_eq!(a.file_name, b.file_name);
        assert!(a.written && !b.written, "written once");
        assert_eq!(a.byte_len, 10);
        assert_eq!(&media.read(&a.file_name).await.unwrap()[..], b"jpeg bytes");
        assert!(matches!(media.read("../x").await, Err(MediaError::BadLink)));
        media.remove(&a.file_name).await.unwrap();
        media.remove(&a.file_name).await.unwrap();
        assert!(media.read(&a.file_name).await.unwrap_err().is_missing());
        assert!(a.blob.is_none(), "a file holds the bytes");
    }

    #[tokio::test]
    async fn in_the_database_saving_writes_no_file_and_hands_the_bytes_to_the_row() {
        let (store, dir) = crate::store::test_support::temp_store().await;
        let media = MediaFiles::in_database(store, [9; 32]);
        assert!(media.in_the_database());
        let saved = media.save(b"png bytes", "png").await.unwrap();
        assert_eq!(saved.blob.as_deref(), Some(&b"png bytes"[..]));
        assert!(!saved.written, "nothing to remove if the row is not stored");
        assert!(!dir.path().join(MEDIA_DIR).exists());
        let error = media.read(&saved.file_name).await.unwrap_err();
        assert!(error.is_missing(), "{error}");
        assert!(
            media
                .read_media(MediaId(7), &saved.file_name)
                .await
                .unwrap_err()
                .is_missing()
        );
        media.remove(&saved.file_name).await.unwrap();
    }
}
