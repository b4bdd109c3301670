//! Pictures people send: which file of a message is the image, and its download through
//! the configured Bot API server with the size limit enforced while reading.

use super::*;
use crate::download::{ReadError, read_within_limit};

impl Inner {
    /// Downloads a file from Telegram's own file URL, refusing it early when its announced
    /// size is over the limit and stopping the read as soon as it passes the limit.
    pub(super) async fn download(
        &self,
        file: &FileId,
        announced: u32,
    ) -> Result<Bytes, TelegramError> {
        let limit = MAX_INPUT_BYTES;
        if u64::from(announced) > limit {
            return Err(TelegramError::TooLarge {
                bytes: u64::from(announced),
                limit,
            });
        }
        let file = self.bot.get_file(file.clone()).await?;
        if u64::from(file.meta.size) > limit {
            return Err(TelegramError::TooLarge {
                bytes: u64::from(file.meta.size),
                limit,
            });
        }
        let Some(config) = self.app.config().telegram.as_ref() else {
            return Err(TelegramError::Refused {
                description: "the Telegram bot is not configured".to_owned(),
            });
        };
        let url = format!(
            "{}/file/bot{}/{}",
            config.api_url.as_str().trim_end_matches('/'),
            config.token.expose(),
            file.path.trim_start_matches('/')
        );
        let unreachable = |e: &(dyn std::error::Error + 'static)| TelegramError::Unreachable {
            detail: scrub(&autopost::telemetry::chain(e)),
        };
        let response = self
            .bot
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e.without_url()))?;
        if !response.status().is_success() {
            return Err(TelegramError::Refused {
                description: format!("file download answered {}", response.status()),
            });
        }
        read_within_limit(response).await.map_err(|e| match e {
            ReadError::TooLarge { bytes } => TelegramError::TooLarge { bytes, limit },
            ReadError::Failed(e) => unreachable(&e),
        })
    }
}

/// A file sent as a document, as a message announces it.
pub(super) struct DocumentRef {
    pub file: FileId,
    pub size: u32,
    pub name: String,
    pub mime: Option<String>,
}

/// The document of a message, whatever its type (the verb that reads it judges that).
pub(super) fn document_of(message: &Message) -> Option<DocumentRef> {
    let document = message.document()?;
    Some(DocumentRef {
        file: document.file.id.clone(),
        size: document.file.size,
        name: document.file_name.clone().unwrap_or_default(),
        mime: document
            .mime_type
            .as_ref()
            .map(|m| m.essence_str().to_owned()),
    })
}

/// The file id and announced size of the picture in a message: the largest photo size, or
/// an image document.
pub(super) fn image_of(message: &Message) -> Option<(FileId, u32)> {
    if let Some(sizes) = message.photo() {
        return sizes
            .iter()
            .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file.size))
            .map(|p| (p.file.id.clone(), p.file.size));
    }
    let document = message.document()?;
    document
        .mime_type
        .as_ref()
        .is_some_and(|m| m.essence_str().starts_with("image/"))
        .then(|| (document.file.id.clone(), document.file.size))
}
