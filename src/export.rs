//! A person's data handed over: every row that refers to them
//! ([`crate::store::UserExport`], one section per table), as JSON, or as a zip with
//! `export.json` and their post images as files. The store never selects a token, so
//! neither form can hold one. Every export is recorded in the security log with the
//! person and who asked.

use std::io::{Seek, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::app::App;
use crate::domain::UserId;
use crate::media::MediaError;
use crate::store::{AuditKind, StoreError};

/// The name of the data inside an export zip.
pub const ARCHIVE_JSON: &str = "export.json";

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The zip would not fit where it is going (a chat's file limit). Nothing was exported.
    #[error("the export with images is about {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// Its size, or the size it was heading for.
        size: u64,
        /// The most allowed.
        limit: u64,
    },
    /// The data could not be turned into JSON.
    #[error("autopost could not write the export as JSON")]
    Json(#[source] serde_json::Error),
    /// The zip could not be written.
    #[error("autopost could not write the export zip")]
    Archive(#[source] zip::result::ZipError),
    /// A stored image could not be read.
    #[error("autopost could not read an image for the export")]
    Media(#[source] MediaError),
    /// The database failed (or the person does not exist).
    #[error("autopost could not read the data to export")]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Archive(zip::result::ZipError::Io(e))
    }
}

/// Who asked for an export: the security log tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The person, with `/export` in chat.
    Person,
    /// The operator, with `autopost export`, on the person's request.
    Operator,
}

impl Requester {
    fn audit(self, images: bool) -> (AuditKind, &'static str) {
        match (self, images) {
            (Requester::Person, false) => (AuditKind::DataExported, "data exported (JSON)"),
            (Requester::Person, true) => (AuditKind::DataExported, "data exported with images"),
            (Requester::Operator, false) => (
                AuditKind::OperatorExport,
                "the operator exported the data (JSON)",
            ),
            (Requester::Operator, true) => (
                AuditKind::OperatorExport,
                "the operator exported the data with images",
            ),
        }
    }
}

impl App {
    /// All of `user`'s data as pretty JSON, without any secret: `/export`.
    pub async fn export_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ExportError> {
        self.export_json(user, Requester::Person, now).await
    }

    /// All of `user`'s data with their images, as a zip in memory: `/export images`. A zip
    /// heading past `limit` bytes (the chat's file limit) is refused before the images are
    /// read, with [`ExportError::TooLarge`]; nothing is recorded then.
    pub async fn export_user_archive(
        &self,
        user: UserId,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ExportError> {
        let written = self
            .export_archive(
                user,
                Requester::Person,
                std::io::Cursor::new(Vec::new()),
                Some(limit),
                now,
            )
            .await?;
        Ok(written.into_inner())
    }

    /// The JSON export, recorded as asked by `requester`.
    pub async fn export_json(
        &self,
        user: UserId,
        requester: Requester,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ExportError> {
        let export = self.store().export_user(user).await?;
        let json = serde_json::to_vec_pretty(&export).map_err(ExportError::Json)?;
        self.record_export(user, requester, false, now).await?;
        Ok(json)
    }

    /// The zip export written into `writer`, recorded as asked by `requester`: images first
    /// (stored as they are: they are compressed already), then `export.json` (deflated),
    /// whose media rows name each image's path in the zip. An image whose file the
    /// retention purge removed meanwhile is listed without a path. With a `limit`, a zip
    /// heading past it stops before the images are read.
    pub async fn export_archive<W: Write + Seek + Send>(
        &self,
        user: UserId,
        requester: Requester,
        writer: W,
        limit: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<W, ExportError> {
        let mut export = self.store().export_user(user).await?;
        if let Some(limit) = limit {
            let images: u64 = export
                .media
                .iter()
                .map(|m| u64::try_from(m.byte_len).unwrap_or(0))
                .sum();
            let json = serde_json::to_vec(&export).map_err(ExportError::Json)?;
            let size = images + json.len() as u64;
            if size > limit {
                return Err(ExportError::TooLarge { size, limit });
            }
        }
        let stamp = zip_time(now);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(stamp)
            .unix_permissions(0o600);
        let deflated = stored.compression_method(zip::CompressionMethod::Deflated);
        let mut zip = zip::ZipWriter::new(writer);
        for media in &mut export.media {
            let bytes = match self.media().read_media(media.id, &media.stored_as).await {
                Ok(bytes) => bytes,
                Err(e) if e.is_missing() => {
                    tracing::warn!(media = %media.id, "an exported image is no longer stored");
                    continue;
                }
                Err(e) => return Err(ExportError::Media(e)),
            };
            let name = format!(
                "images/{}-{}.{}",
                media.post_id,
                media.position + 1,
                extension(&media.content_type, &media.stored_as)
            );
            zip.start_file(name.as_str(), stored)
                .map_err(ExportError::Archive)?;
            zip.write_all(&bytes)?;
            media.file = Some(name);
        }
        let json = serde_json::to_vec_pretty(&export).map_err(ExportError::Json)?;
        zip.start_file(ARCHIVE_JSON, deflated)
            .map_err(ExportError::Archive)?;
        zip.write_all(&json)?;
        let mut writer = zip.finish().map_err(ExportError::Archive)?;
        if let Some(limit) = limit {
            // The estimate above left out the zip's own headers.
            let size = writer.stream_position()?;
            if size > limit {
                return Err(ExportError::TooLarge { size, limit });
            }
        }
        self.record_export(user, requester, true, now).await?;
        Ok(writer)
    }

    async fn record_export(
        &self,
        user: UserId,
        requester: Requester,
        images: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (kind, detail) = requester.audit(images);
        self.store()
            .record_audit(kind, Some(user), None, detail, now)
            .await
    }
}

/// The file extension for an image in the zip: from its type, else as it is stored.
fn extension<'a>(content_type: &str, stored_as: &'a str) -> &'a str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => stored_as.rsplit_once('.').map_or("bin", |(_, ext)| ext),
    }
}

/// `now` as a zip timestamp (zip counts from 1980, in two-second steps).
fn zip_time(now: DateTime<Utc>) -> zip::DateTime {
    let parts = (
        u16::try_from(now.year()).unwrap_or(1980),
        u8::try_from(now.month()).unwrap_or(1),
        u8::try_from(now.day()).unwrap_or(1),
        u8::try_from(now.hour()).unwrap_or(0),
        u8::try_from(now.minute()).unwrap_or(0),
        u8::try_from(now.second()).unwrap_or(0),
    );
    zip::DateTime::from_date_and_time(parts.0, parts.1, parts.2, parts.3, parts.4, parts.5)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_named_for_their_type() {
        assert_eq!(extension("image/jpeg", "ab.jpeg"), "jpg");
        assert_eq!(extension("image/png", "ab.png"), "png");
        assert_eq!(extension("image/tiff", "ab.tif"), "tif");
        assert_eq!(extension("application/x", "nodot"), "bin");
    }

    #[test]
    fn zip_times_keep_the_date_and_fall_back_outside_the_zip_range() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:20:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let stamp = zip_time(at);
        assert_eq!(
            (stamp.year(), stamp.month(), stamp.day(), stamp.hour()),
            (2026, 12, 1, 10)
        );
        let early = DateTime::parse_from_rfc3339("1970-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(zip_time(early), zip::DateTime::default());
    }
}
