//! WebP: RIFF chunks kept or dropped whole, the VP8X flags for EXIF and XMP cleared, the RIFF
//! size rewritten, and nothing after the RIFF container's end.
//! <https://developers.google.com/speed/webp/docs/riff_container>

use super::{ContainerError, Reader, Stripped, exif_payload};

/// The chunks kept: the extended header, the image data (lossy, lossless, alpha), animation,
/// and the ICC profile. `EXIF`, `XMP ` and unknown chunks go.
const KEPT: [&[u8; 4]; 7] = [
    b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];

/// VP8X flag bits (in its first byte) of what was removed.
const EXIF_FLAG: u8 = 0b0000_1000;
const XMP_FLAG: u8 = 0b0000_0100;
const ANIMATION_FLAG: u8 = 0b0000_0010;

pub(super) fn strip(bytes: &[u8]) -> Result<Stripped, ContainerError> {
    let mut input = Reader::new(bytes);
    if input.take(4, "the RIFF header")? != b"RIFF" {
        return Err(ContainerError::Malformed("no RIFF header"));
    }
    let riff_size = u32::from_le_bytes(input.array("the RIFF header")?) as usize;
    if input.take(4, "the RIFF header")? != b"WEBP" {
        return Err(ContainerError::Malformed("a RIFF file that is not WebP"));
    }
    let body_len = riff_size
        .checked_sub(4)
        .ok_or(ContainerError::Malformed("a RIFF size too small for WebP"))?;
    let body = input.take(body_len, "the RIFF container")?;

    let mut chunks = Reader::new(body);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    let mut exif = None;
    let mut animated = false;
    let mut image_data = false;
    while !chunks.is_empty() {
        let start = chunks.at();
        let fourcc: [u8; 4] = chunks.array("a chunk header")?;
        let size = u32::from_le_bytes(chunks.array("a chunk header")?) as usize;
        let data = chunks.take(size, "a chunk")?;
        // Chunks are padded to an even size.
        if size % 2 == 1 {
            chunks.skip(1, "a chunk's padding")?;
        }
        let end = chunks.at();
        if start == 0 && !matches!(&fourcc, b"VP8X" | b"VP8 " | b"VP8L") {
            return Err(ContainerError::Malformed("no image chunk first"));
        }
        match &fourcc {
            b"VP8X" => {
                let [flags, ..] = data else {
                    return Err(ContainerError::Malformed("an empty extended header"));
                };
                if data.len() < 10 {
                    return Err(ContainerError::Malformed("a short extended header"));
                }
                animated |= flags & ANIMATION_FLAG != 0;
                out.extend_from_slice(&body[start..start + 8]);
                out.push(flags & !(EXIF_FLAG | XMP_FLAG));
                out.extend_from_slice(&body[start + 9..end]);
                continue;
            }
            b"VP8 " | b"VP8L" => image_data = true,
            // Each frame holds its own image data.
            b"ANMF" => {
                animated = true;
                image_data = true;
            }
            b"ANIM" => animated = true,
            b"EXIF" if exif.is_none() => exif = Some(exif_payload(data)),
            _ => {}
        }
        if KEPT.contains(&&fourcc) {
            out.extend_from_slice(&body[start..end]);
        }
    }
    if !image_data {
        return Err(ContainerError::NoPictureData);
    }
    // The size counts everything after itself: `WEBP` and the chunks.
    let riff_size = u32::try_from(out.len() - 8)
        .map_err(|_| ContainerError::Malformed("a file too large for RIFF"))?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(Stripped {
        bytes: out,
        exif,
        animated,
    })
}
