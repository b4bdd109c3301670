//! GIF: blocks kept or dropped whole, image data untouched, nothing after the trailer.
//! <https://www.w3.org/Graphics/GIF/spec-gif89a.txt>

use super::{ContainerError, Reader, Stripped};

const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
const GRAPHIC_CONTROL: u8 = 0xF9;
const PLAIN_TEXT: u8 = 0x01;
const APPLICATION: u8 = 0xFF;

/// Application extensions kept, by identifier and authentication code: looping (Netscape's
/// and its twin) and the ICC profile. Comments go, and so do XMP (`XMP DataXMP`), the
/// Photoshop and IPTC blocks ImageMagick writes, and any other application's data.
const KEPT_APPLICATIONS: [&[u8; 11]; 3] = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"];

pub(super) fn strip(bytes: &[u8]) -> Result<Stripped, ContainerError> {
    let mut input = Reader::new(bytes);
    let version = input.take(6, "the header")?;
    if version != b"GIF87a" && version != b"GIF89a" {
        return Err(ContainerError::Malformed("no GIF header"));
    }
    let [.., packed, _, _] = input.array::<7>("the logical screen descriptor")?;
    input.skip(colour_table_len(packed), "the global colour table")?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..input.at()]);
    let mut frames = 0_usize;
    loop {
        let start = input.at();
        match input.byte("the trailer")? {
            TRAILER => {
                out.push(TRAILER);
                break;
            }
            IMAGE => {
                let [.., packed] = input.array::<9>("an image descriptor")?;
                input.skip(colour_table_len(packed), "a local colour table")?;
                input.skip(1, "an image's code size")?;
                sub_blocks(&mut input, "an image's data")?;
                frames += 1;
                out.extend_from_slice(&bytes[start..input.at()]);
            }
            EXTENSION => {
                let label = input.byte("an extension")?;
                let blocks_start = input.at();
                sub_blocks(&mut input, "an extension")?;
                let blocks = &bytes[blocks_start..input.at()];
                let keep = match label {
                    // Frame timing and transparency, and text drawn as part of the picture.
                    GRAPHIC_CONTROL | PLAIN_TEXT => true,
                    APPLICATION => blocks
                        .get(..12)
                        .and_then(|head| head.split_first())
                        .is_some_and(|(&len, id)| {
                            len == 11 && KEPT_APPLICATIONS.iter().any(|kept| kept[..] == *id)
                        }),
                    // Comments, and extensions no decoder knows.
                    _ => false,
                };
                if keep {
                    out.extend_from_slice(&bytes[start..input.at()]);
                }
            }
            _ => return Err(ContainerError::Malformed("an unknown block")),
        }
    }
    if frames == 0 {
        return Err(ContainerError::NoPictureData);
    }
    Ok(Stripped {
        bytes: out,
        exif: None,
        animated: frames > 1,
    })
}

/// Bytes of the colour table a packed field announces.
fn colour_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 0x07) + 1)
    }
}

/// Skips data sub-blocks up to their zero-length terminator.
fn sub_blocks(input: &mut Reader<'_>, what: &'static str) -> Result<(), ContainerError> {
    loop {
        let len = input.byte(what)?;
        if len == 0 {
            return Ok(());
        }
        input.skip(usize::from(len), what)?;
    }
}
