//! JPEG: marker segments kept or dropped one by one, the entropy-coded data of every scan
//! copied untouched, and nothing after the end-of-image marker (where MPF files keep further
//! images with their own EXIF, and phones a motion-photo video).
//! <https://www.w3.org/Graphics/JPEG/itu-t81.pdf>, annex B.

use super::{ContainerError, Reader, Stripped, exif_payload};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const TEM: u8 = 0x01;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const DHT: u8 = 0xC4;
const JPG: u8 = 0xC8;
const DAC: u8 = 0xCC;

pub(super) fn strip(bytes: &[u8]) -> Result<Stripped, ContainerError> {
    let mut input = Reader::new(bytes);
    if input.array("the start marker")? != [0xFF, SOI] {
        return Err(ContainerError::Malformed("no JPEG start marker"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut exif = None;
    let mut frame = false;
    let mut scans_with_data = 0_usize;
    loop {
        match next_marker(&mut input)? {
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                break;
            }
            SOI => return Err(ContainerError::Malformed("a second start marker")),
            0x00 => return Err(ContainerError::Malformed("a stuffed byte outside a scan")),
            // Markers without a length: restart markers are only meaningful inside a scan,
            // and TEM carries nothing; neither is needed to decode.
            TEM | 0xD0..=0xD7 => {}
            marker => {
                let start = input.at() - 2;
                let length = usize::from(u16::from_be_bytes(input.array("a segment length")?));
                let body_len = length.checked_sub(2).ok_or(ContainerError::Malformed(
                    "a segment shorter than its length field",
                ))?;
                let body = input.take(body_len, "a segment")?;
                if marker == APP1 && exif.is_none() && body.starts_with(b"Exif\0\0") {
                    exif = Some(exif_payload(body));
                }
                if keeps(marker, body) {
                    out.extend_from_slice(&bytes[start..input.at()]);
                }
                if is_frame_header(marker) {
                    frame = true;
                }
                if marker == SOS {
                    if !frame {
                        return Err(ContainerError::Malformed("a scan before the frame header"));
                    }
                    let data = entropy_coded(&mut input)?;
                    if !data.is_empty() {
                        scans_with_data += 1;
                    }
                    out.extend_from_slice(data);
                }
            }
        }
    }
    if !frame || scans_with_data == 0 {
        return Err(ContainerError::NoPictureData);
    }
    Ok(Stripped {
        bytes: out,
        exif,
        animated: false,
    })
}

/// Whether a segment is needed to decode the picture or show its colours. Everything else
/// goes: APP1 (EXIF, XMP and extended XMP), APP13 (Photoshop IRB with IPTC), COM, MPF in APP2
/// (its offsets point at the images cut off after the end marker), JFXX thumbnails in APP0,
/// vendor blocks in the other APPn, and reserved markers no decoder here reads.
fn keeps(marker: u8, body: &[u8]) -> bool {
    match marker {
        APP0 => body.starts_with(b"JFIF\0"),
        APP2 => body.starts_with(b"ICC_PROFILE\0"),
        // Adobe's colour transform flag: CMYK and YCCK pictures decode wrongly without it.
        APP14 => body.starts_with(b"Adobe"),
        // Frame headers, Huffman and arithmetic tables, quantisation tables, DNL, restart
        // interval, the hierarchical markers, and scan headers.
        0xC0..=0xCF | 0xDA..=0xDF => marker != JPG,
        _ => false,
    }
}

/// SOF0–SOF15, without DHT, JPG and DAC, which share the range.
fn is_frame_header(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, DHT | JPG | DAC)
}

/// The next marker's code. Stray bytes before it are skipped (and so dropped), as libjpeg
/// does with a warning; fill bytes `0xFF` before a marker are allowed by the standard.
fn next_marker(input: &mut Reader<'_>) -> Result<u8, ContainerError> {
    while input.byte("the end marker")? != 0xFF {}
    loop {
        let code = input.byte("the end marker")?;
        if code != 0xFF {
            return Ok(code);
        }
    }
}

/// A scan's entropy-coded data: up to the first marker that is neither a stuffed zero nor a
/// restart marker. A file that ends inside it is cut off.
fn entropy_coded<'a>(input: &mut Reader<'a>) -> Result<&'a [u8], ContainerError> {
    const WHAT: &str = "the picture data";
    let rest = input.rest();
    let mut from = 0;
    loop {
        let found = rest
            .get(from..)
            .and_then(|tail| tail.iter().position(|&b| b == 0xFF))
            .ok_or(ContainerError::Truncated(WHAT))?;
        let at = from + found;
        match rest.get(at + 1) {
            None => return Err(ContainerError::Truncated(WHAT)),
            Some(0x00 | 0xD0..=0xD7) => from = at + 2,
            // A fill byte: the marker starts at the next 0xFF.
            Some(0xFF) => from = at + 1,
            Some(_) => {
                input.skip(at, WHAT)?;
                return Ok(&rest[..at]);
            }
        }
    }
}
