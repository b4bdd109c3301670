//! PNG: chunks kept or dropped whole (with their checksums, so kept ones stay valid), and
//! nothing after `IEND`. <https://www.w3.org/TR/png-3/#5Chunk-layout>

use super::{ContainerError, Reader, Stripped, exif_payload};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1A\n";

/// The ancillary chunks kept: transparency, colour, gamma, HDR levels, background, pixel size,
/// and APNG's animation. Every other ancillary chunk goes: `eXIf`, `tEXt`, `zTXt`, `iTXt`,
/// `tIME`, and any private one, since an unknown chunk may carry anything. Critical chunks
/// (capitalised names) are always kept: a decoder must understand them or refuse the file.
const KEPT_ANCILLARY: [&[u8; 4]; 16] = [
    b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"bKGD",
    b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
];

pub(super) fn strip(bytes: &[u8]) -> Result<Stripped, ContainerError> {
    let mut input = Reader::new(bytes);
    if input.take(SIGNATURE.len(), "the signature")? != SIGNATURE {
        return Err(ContainerError::Malformed("no PNG signature"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    let mut exif = None;
    let mut animated = false;
    let mut image_data = false;
    loop {
        let start = input.at();
        let length = u32::from_be_bytes(input.array("a chunk header")?);
        let kind: [u8; 4] = input.array("a chunk header")?;
        // The standard caps a chunk at 2^31 - 1 bytes, which also keeps the cast lossless.
        if length > 0x7FFF_FFFF {
            return Err(ContainerError::Malformed("a chunk longer than PNG allows"));
        }
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(ContainerError::Malformed("a chunk with an invalid name"));
        }
        if start == SIGNATURE.len() && &kind != b"IHDR" {
            return Err(ContainerError::Malformed("no header chunk first"));
        }
        let data = input.take(length as usize, "a chunk")?;
        input.skip(4, "a chunk's checksum")?;
        match &kind {
            b"IDAT" => image_data = true,
            b"acTL" => animated = true,
            b"eXIf" if exif.is_none() => exif = Some(exif_payload(data)),
            _ => {}
        }
        if kind[0].is_ascii_uppercase() || KEPT_ANCILLARY.contains(&&kind) {
            out.extend_from_slice(&bytes[start..input.at()]);
        }
        if &kind == b"IEND" {
            break;
        }
    }
    if !image_data {
        return Err(ContainerError::NoPictureData);
    }
    Ok(Stripped {
        bytes: out,
        exif,
        animated,
    })
}
