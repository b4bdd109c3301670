//! Reading a picture someone attached from the platform that stores it, never holding more
//! than the size limit: refused on an announced length over it, and the read stopped as soon
//! as it passes it. Telegram and Discord announce sizes that may be missing or wrong, so the
//! bytes that arrive are what counts.

use autopost::images::MAX_INPUT_BYTES;
use bytes::Bytes;

/// Why a download's body was not read to the end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The body is, or grew, larger than [`MAX_INPUT_BYTES`]; `bytes` is how far it got.
    #[error("the file has more than {limit} bytes (at least {bytes})", limit = MAX_INPUT_BYTES)]
    TooLarge {
        /// The announced length, or the bytes read when the limit was passed.
        bytes: u64,
    },
    /// The connection failed while reading (the URL left out: it may carry a token).
    #[error("the download failed")]
    Failed(#[source] reqwest::Error),
}

/// Reads `response`'s body within [`MAX_INPUT_BYTES`].
pub(crate) async fn read_within_limit(mut response: reqwest::Response) -> Result<Bytes, ReadError> {
    if let Some(length) = response.content_length()
        && length > MAX_INPUT_BYTES
    {
        return Err(ReadError::TooLarge { bytes: length });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Failed(e.without_url()))?
    {
        let read = (bytes.len() + chunk.len()) as u64;
        if read > MAX_INPUT_BYTES {
            return Err(ReadError::TooLarge { bytes: read });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}
