//! What a picture says about the person who took it (EXIF with its GPS position and camera
//! serial, XMP, IPTC, comments, embedded thumbnails) is cut out of the container segment by
//! segment, so that the pixel data stays byte for byte as sent. Walking the container also
//! proves it whole: a file that ends early or holds no picture data is refused here, before
//! anything is decoded. Pure, and never panics on any input.
//!
//! Written by hand rather than with the `img-parts` crate: it keeps everything after a JPEG's
//! first scan as one opaque blob, so segments between progressive scans and the extra images
//! an MPF file appends after the end marker (each with its own EXIF and GPS) would survive;
//! it leaves WebP's XMP flag set; and it has no GIF. Each walker keeps what decoding and
//! colour need, by name, and drops everything else, so that an unknown vendor block cannot
//! carry personal data through.

mod gif;
mod jpeg;
mod png;
mod webp;

use image::ImageFormat;

/// A container with its metadata removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stripped {
    /// The file without metadata: the kept segments and the pixel data exactly as they were.
    pub bytes: Vec<u8>,
    /// The first EXIF block's TIFF data (from `II*\0` or `MM\0*`), for the orientation the
    /// picture is shown in; the caller turns the pixels upright, since the block is gone.
    pub exif: Option<Vec<u8>>,
    /// More than one frame (an animated GIF, PNG or WebP): turning it upright would mean
    /// re-encoding every frame, which autopost does not do.
    pub animated: bool,
}

/// Why a container cannot be read. The messages are for the log; a person is shown
/// [`super::ImageError`]'s sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    /// The file ends inside a segment or before its end marker.
    #[error("the file ends inside {0}")]
    Truncated(&'static str),
    /// The headers are there, but no picture data follows them.
    #[error("the file has headers but no picture data")]
    NoPictureData,
    /// The bytes break the format's structure.
    #[error("the file's structure is broken: {0}")]
    Malformed(&'static str),
}

impl ContainerError {
    /// Whether the file is cut short or empty of pixels (send the whole file again), rather
    /// than broken inside (save it again).
    pub fn is_incomplete(&self) -> bool {
        matches!(
            self,
            ContainerError::Truncated(_) | ContainerError::NoPictureData
        )
    }
}

/// Removes the metadata of a `format` container; see the module documentation for what is
/// kept. Only JPEG, PNG, GIF and WebP are read.
pub(crate) fn strip(bytes: &[u8], format: ImageFormat) -> Result<Stripped, ContainerError> {
    match format {
        ImageFormat::Jpeg => jpeg::strip(bytes),
        ImageFormat::Png => png::strip(bytes),
        ImageFormat::Gif => gif::strip(bytes),
        ImageFormat::WebP => webp::strip(bytes),
        _ => Err(ContainerError::Malformed(
            "not a JPEG, PNG, GIF or WebP file",
        )),
    }
}

/// The TIFF data of an EXIF block, without the `Exif\0\0` prefix that JPEG requires and some
/// PNG and WebP writers add as well.
fn exif_payload(block: &[u8]) -> Vec<u8> {
    block.strip_prefix(b"Exif\0\0").unwrap_or(block).to_vec()
}

/// Reads a container front to back. Every read names what it reads, so that a file that ends
/// early says where; no read can go past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// How far reading has come.
    fn at(&self) -> usize {
        self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Everything not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// The next `len` bytes.
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], ContainerError> {
        let taken = self
            .pos
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or(ContainerError::Truncated(what))?;
        self.pos += len;
        Ok(taken)
    }

    fn skip(&mut self, len: usize, what: &'static str) -> Result<(), ContainerError> {
        self.take(len, what).map(drop)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ContainerError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, ContainerError> {
        let [byte] = self.array(what)?;
        Ok(byte)
    }
}

#[cfg(test)]
pub(crate) mod tests;
