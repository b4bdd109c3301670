//! Stored images: files under the data dir named by their content hash, and signed,
//! expiring `/media/{token}` links that platforms such as Instagram fetch.

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
    /// The link is malformed or its signature does not match.
    #[error("this media link is not valid")]
    BadLink,
    /// The link's lifetime is over.
    #[error("this media link has expired")]
    Expired,
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
}

/// The media directory and the key that signs links to it.
#[derive(Clone)]
pub struct MediaFiles {
    dir: PathBuf,
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

impl std::fmt::Debug for MediaFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFiles")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl MediaFiles {
    /// Media under `data_dir/media`, links signed with `signing_key`.
    pub fn new(data_dir: &Path, signing_key: [u8; 32]) -> Self {
        Self {
            dir: data_dir.join(MEDIA_DIR),
            signing_key,
            removals: Arc::default(),
        }
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
    pub async fn save(&self, bytes: &[u8], extension: &str) -> Result<SavedFile, MediaError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| MediaError::Io { path, source }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io(&self.dir))?;
        // People's images: owner-only, whatever the umask made of the directory.
        set_mode(&self.dir, PRIVATE_DIR).map_err(io(&self.dir))?;
        let sha256 = hex(&Sha256::digest(bytes));
        let file_name = format!("{sha256}.{extension}");
        let path = self.dir.join(&file_name);
        let written = tokio::fs::metadata(&path).await.is_err();
        if written {
            let temp = self.dir.join(format!(".{file_name}.partial"));
            tokio::fs::write(&temp, bytes).await.map_err(io(&temp))?;
            set_mode(&temp, PRIVATE_FILE).map_err(io(&temp))?;
            tokio::fs::rename(&temp, &path).await.map_err(io(&path))?;
        }
        Ok(SavedFile {
            file_name,
            sha256,
            byte_len: bytes.len() as u64,
            written,
        })
    }

    /// Reads a stored file.
    pub async fn read(&self, file_name: &str) -> Result<Bytes, MediaError> {
        // Names come from the store, but refuse anything that could leave the directory.
        if file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(MediaError::BadLink);
        }
        let path = self.dir.join(file_name);
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|source| MediaError::Io { path, source })
    }

    /// Removes a stored file; a file already gone is fine.
    pub async fn remove(&self, file_name: &str) -> Result<(), MediaError> {
        let path = self.dir.join(file_name);
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
        assert!(media.read(&a.file_name).await.is_err());
    }
}
