//! Each walker against fixtures made with the `image` crate plus hand-inserted metadata:
//! what is personal goes, what decoding and colour need stays, and the pixel data is the
//! same bytes. Then damaged files, and arbitrary bytes, which must never panic.

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat, Rgb, RgbImage};
use proptest::prelude::*;

use super::{ContainerError, strip};

/// Bytes that only the inserted metadata contains: finding one after stripping is a leak.
pub(crate) const SECRETS: [&[u8]; 7] = [
    b"Exif",
    GPS_LATITUDE,
    b"secret-xmp",
    b"secret-iptc",
    b"secret-comment",
    b"secret-vendor",
    b"secret-after-end",
];

/// The GPS latitude rationals (52/1, 31/1, 1234/100) of [`exif_with_gps`].
pub(crate) const GPS_LATITUDE: &[u8] = &[
    0, 0, 0, 52, 0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 1, 0, 0, 0x04, 0xD2, 0, 0, 0, 100,
];

/// A big-endian EXIF (TIFF) block as phones write one: IFD0 with the orientation and a
/// pointer to a GPS IFD holding the latitude.
pub(crate) fn exif_with_gps(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    // IFD0 at 8: two entries (12 bytes each), then the next-IFD offset.
    tiff.extend_from_slice(&[0, 2]);
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // GPSInfo (LONG) pointing at the GPS IFD at 8 + 2 + 24 + 4 = 38.
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    // GPS IFD at 38: LatitudeRef "N", Latitude (3 RATIONAL at 38 + 2 + 24 + 4 = 68).
    tiff.extend_from_slice(&[0, 2]);
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(GPS_LATITUDE);
    tiff
}

/// Noise, so that the encoders produce real picture data.
pub(crate) fn noise(width: u32, height: u32) -> RgbImage {
    let mut state: u32 = 0x9E37_79B9;
    RgbImage::from_fn(width, height, |_, _| {
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        };
        Rgb([next(), next(), next()])
    })
}

pub(crate) fn plain_jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A JPEG segment: marker, length, body.
pub(crate) fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `plain` (an encoder's JPEG: SOI, JFIF APP0, tables, one scan, EOI) with `segments` put
/// right after its APP0.
pub(crate) fn jpeg_with(plain: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    assert_eq!(&plain[2..4], &[0xFF, 0xE0], "the encoder writes JFIF first");
    let app0_end = 4 + usize::from(u16::from_be_bytes([plain[4], plain[5]]));
    let mut out = plain[..app0_end].to_vec();
    for segment in segments {
        out.extend_from_slice(segment);
    }
    out.extend_from_slice(&plain[app0_end..]);
    out
}

/// A phone photo: `plain` with EXIF (GPS, `orientation`), XMP, IPTC, a comment, MPF, a vendor
/// APP segment, the kept ICC and Adobe segments, a comment after the scan, and a second
/// image's worth of bytes after the end marker.
pub(crate) fn phone_jpeg(plain: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_with_gps(orientation));
    let mut with = jpeg_with(
        plain,
        &[
            segment(0xE1, &exif),
            segment(
                0xE1,
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret-xmp</x:xmpmeta>",
            ),
            segment(
                0xED,
                b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x0Bsecret-iptc",
            ),
            segment(0xFE, b"secret-comment"),
            segment(0xE2, b"MPF\0MM\0*secret-vendor"),
            segment(0xEC, b"Ducky\0secret-vendor"),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01not-a-real-profile"),
            segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        ],
    );
    // Before the end marker: a comment after the scan.
    let end = with.len() - 2;
    with.splice(end..end, segment(0xFE, b"secret-comment"));
    with.extend_from_slice(b"\xFF\xD8secret-after-end\xFF\xD9");
    with
}

/// The entropy-coded data of a single-scan JPEG: from the end of the SOS header to the next
/// marker.
pub(crate) fn scan_data(jpeg: &[u8]) -> &[u8] {
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let mut end = start;
    while jpeg[end] != 0xFF || matches!(jpeg[end + 1], 0x00 | 0xD0..=0xD7) {
        end += 1;
    }
    &jpeg[start..end]
}

fn assert_no_secrets(name: &str, bytes: &[u8]) {
    for secret in SECRETS {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "{name}: {:?} survived",
            String::from_utf8_lossy(secret)
        );
    }
}

fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes)
        .unwrap()
        .into_rgba8()
        .into_raw()
}

pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk with its checksum.
pub(crate) fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn plain_png(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// `plain` with `chunks` put right after IHDR, and `trailer` after IEND.
fn png_with(plain: &[u8], chunks: &[Vec<u8>], trailer: &[u8]) -> Vec<u8> {
    let ihdr_end = 8 + 8 + 13 + 4;
    let mut out = plain[..ihdr_end].to_vec();
    for chunk in chunks {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&plain[ihdr_end..]);
    out.extend_from_slice(trailer);
    out
}

/// Every chunk of a PNG up to IEND, as (name, whole chunk bytes).
fn png_chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while chunks
        .last()
        .is_none_or(|c: &([u8; 4], Vec<u8>)| &c.0 != b"IEND")
    {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        chunks.push((kind, png[at..at + 12 + len].to_vec()));
        at += 12 + len;
    }
    chunks
}

#[test]
fn a_jpeg_loses_exif_xmp_iptc_comments_and_trailers_but_keeps_colour_and_pixels() {
    let plain = plain_jpeg(&noise(40, 24));
    let phone = phone_jpeg(&plain, 1);
    let stripped = strip(&phone, ImageFormat::Jpeg).unwrap();

    assert_no_secrets("jpeg", &stripped.bytes);
    assert!(contains(&stripped.bytes, b"JFIF\0"), "JFIF kept");
    assert!(contains(&stripped.bytes, b"ICC_PROFILE\0"), "ICC kept");
    assert!(contains(&stripped.bytes, b"Adobe"), "Adobe kept");
    assert_eq!(scan_data(&stripped.bytes), scan_data(&plain));
    assert!(stripped.bytes.ends_with(&[0xFF, 0xD9]));
    assert_eq!(pixels(&stripped.bytes), pixels(&plain));
    assert_eq!(
        stripped.exif,
        Some(exif_with_gps(1)),
        "handed over for orientation"
    );
    assert!(!stripped.animated);
}

#[test]
fn a_jpeg_without_metadata_comes_out_byte_for_byte() {
    let plain = plain_jpeg(&noise(17, 9));
    let stripped = strip(&plain, ImageFormat::Jpeg).unwrap();
    assert_eq!(stripped.bytes, plain);
    assert_eq!(stripped.exif, None);
}

#[test]
fn a_png_loses_text_time_exif_and_private_chunks_but_keeps_colour_and_pixels() {
    let plain = plain_png(&noise(20, 12));
    let mut exif = exif_with_gps(1);
    exif.splice(0..0, *b"Exif\0\0"); // some writers prefix it, as in JPEG
    let png = png_with(
        &plain,
        &[
            chunk(b"gAMA", &45_455_u32.to_be_bytes()),
            chunk(b"eXIf", &exif),
            chunk(b"tEXt", b"Comment\0secret-comment"),
            chunk(b"zTXt", b"Author\0\0secret-vendor"),
            chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0secret-xmp"),
            chunk(b"tIME", &[0x07, 0xE8, 1, 2, 3, 4, 5]),
            chunk(b"prVt", b"secret-iptc"),
            chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
        ],
        b"secret-after-end",
    );
    let stripped = strip(&png, ImageFormat::Png).unwrap();

    assert_no_secrets("png", &stripped.bytes);
    let kinds: Vec<[u8; 4]> = png_chunks(&stripped.bytes).iter().map(|c| c.0).collect();
    let expected: Vec<[u8; 4]> = png_chunks(&png)
        .iter()
        .map(|c| c.0)
        .filter(|k| [b"IHDR", b"gAMA", b"pHYs", b"IDAT", b"IEND"].contains(&k))
        .collect();
    assert_eq!(kinds, expected);
    assert!(!contains(&stripped.bytes, b"tIME"));
    let idat = |png: &[u8]| -> Vec<Vec<u8>> {
        png_chunks(png)
            .into_iter()
            .filter(|c| &c.0 == b"IDAT")
            .map(|c| c.1)
            .collect()
    };
    assert_eq!(idat(&stripped.bytes), idat(&plain));
    assert_eq!(pixels(&stripped.bytes), pixels(&plain));
    assert_eq!(stripped.exif, Some(exif_with_gps(1)), "prefix removed");
}

/// A RIFF chunk, padded to an even size.
fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = fourcc.to_vec();
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn riff(chunks: &[Vec<u8>], trailer: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&body);
    out.extend_from_slice(trailer);
    out
}

/// The VP8L chunk of a lossless WebP of `image`, with alpha.
fn vp8l_chunk(image: &RgbImage) -> Vec<u8> {
    let rgba = image::DynamicImage::ImageRgb8(image.clone()).into_rgba8();
    let mut simple = Vec::new();
    WebPEncoder::new_lossless(&mut simple)
        .write_image(
            rgba.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    assert_eq!(
        &simple[12..16],
        b"VP8L",
        "the encoder writes the simple format"
    );
    simple[12..].to_vec()
}

/// An extended WebP header with `flags` for a `width` × `height` canvas.
fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
    let mut data = vec![flags, 0, 0, 0];
    data.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    data.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    riff_chunk(b"VP8X", &data)
}

#[test]
fn a_webp_loses_exif_and_xmp_with_their_flags_and_its_riff_size_is_rewritten() {
    let image = noise(12, 8);
    let vp8l = vp8l_chunk(&image);
    let (alpha, exif_flag, xmp_flag) = (0x10, 0x08, 0x04);
    let webp = riff(
        &[
            vp8x(alpha | exif_flag | xmp_flag, 12, 8),
            vp8l.clone(),
            riff_chunk(b"EXIF", &exif_with_gps(1)),
            riff_chunk(b"XMP ", b"<x:xmpmeta>secret-xmp</x:xmpmeta>"),
            riff_chunk(b"ABCD", b"secret-vendor"),
        ],
        b"secret-after-end",
    );
    let stripped = strip(&webp, ImageFormat::WebP).unwrap();

    assert_no_secrets("webp", &stripped.bytes);
    assert_eq!(stripped.bytes, riff(&[vp8x(alpha, 12, 8), vp8l], b""));
    assert_eq!(
        u32::from_le_bytes(stripped.bytes[4..8].try_into().unwrap()) as usize,
        stripped.bytes.len() - 8
    );
    assert_eq!(pixels(&stripped.bytes), pixels(&webp));
    assert_eq!(stripped.exif, Some(exif_with_gps(1)));
    assert!(!stripped.animated);
}

/// A GIF extension block: introducer, label, `blocks` as sub-blocks, terminator.
fn gif_extension(label: u8, blocks: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0x21, label];
    for block in blocks {
        out.push(u8::try_from(block.len()).unwrap());
        out.extend_from_slice(block);
    }
    out.push(0);
    out
}

/// XMP as Adobe embeds it in GIF: the packet, then the 258-byte "magic trailer" that lets a
/// reader skipping sub-blocks land on the terminator wherever it starts.
fn gif_xmp() -> Vec<u8> {
    let mut out = vec![0x21, 0xFF, 11];
    out.extend_from_slice(b"XMP DataXMP");
    out.extend_from_slice(b"<x:xmpmeta>secret-xmp</x:xmpmeta>");
    out.push(1);
    out.extend((0..=255_u8).rev());
    out.push(0);
    out
}

#[test]
fn a_gif_loses_comments_and_xmp_but_keeps_looping_and_pixels() {
    let image = noise(10, 6);
    let rgba = image::DynamicImage::ImageRgb8(image).into_rgba8();
    let mut plain = Vec::new();
    GifEncoder::new(&mut plain)
        .write_image(rgba.as_raw(), 10, 6, ExtendedColorType::Rgba8)
        .unwrap();
    let table_len = if plain[10] & 0x80 != 0 {
        3 << ((plain[10] & 7) + 1)
    } else {
        0
    };
    let head = 13 + table_len;
    let looping = gif_extension(0xFF, &[b"NETSCAPE2.0", &[1, 0, 0]]);
    let mut gif = plain[..head].to_vec();
    gif.extend(gif_extension(0xFE, &[b"secret-comment"]));
    gif.extend(gif_xmp());
    gif.extend(&looping);
    gif.extend(gif_extension(0xFF, &[b"MGK8BIM0000", b"secret-iptc"]));
    gif.extend_from_slice(&plain[head..]);
    gif.extend_from_slice(b"secret-after-end");
    let stripped = strip(&gif, ImageFormat::Gif).unwrap();

    assert_no_secrets("gif", &stripped.bytes);
    let mut expected = plain[..head].to_vec();
    expected.extend(&looping);
    expected.extend_from_slice(&plain[head..]);
    assert_eq!(stripped.bytes, expected);
    assert_eq!(pixels(&stripped.bytes), pixels(&plain));
    assert!(!stripped.animated);
}

#[test]
fn damaged_containers_are_refused_for_what_is_wrong() {
    use ContainerError::{Malformed, NoPictureData, Truncated};
    let jpeg = plain_jpeg(&noise(16, 16));
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let scan_start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let headers_then_end = [&jpeg[..scan_start], b"\xFF\xD9"].concat();
    let no_scan = [&jpeg[..sos], b"\xFF\xD9"].concat();
    let half_scan = jpeg[..(scan_start + jpeg.len()) / 2].to_vec();
    let png = plain_png(&noise(8, 8));
    let png_no_idat = [&png[..33], &chunk(b"IEND", b"")[..]].concat();
    let png_bad_name = [&png[..33], &chunk(b"ID@T", b"x")[..], &png[33..]].concat();
    let vp8l = vp8l_chunk(&noise(4, 4));
    let gif_header = b"GIF89a\x04\0\x04\0\0\0\0".to_vec();

    type Check = fn(&ContainerError) -> bool;
    let cases: Vec<(&str, ImageFormat, Vec<u8>, Check)> = vec![
        (
            "JPEG headers, empty scan",
            ImageFormat::Jpeg,
            headers_then_end,
            |e| *e == NoPictureData,
        ),
        ("JPEG without a scan", ImageFormat::Jpeg, no_scan, |e| {
            *e == NoPictureData
        }),
        (
            "JPEG cut inside the scan",
            ImageFormat::Jpeg,
            half_scan,
            |e| matches!(e, Truncated(_)),
        ),
        (
            "JPEG cut before the end marker",
            ImageFormat::Jpeg,
            jpeg[..jpeg.len() - 2].to_vec(),
            |e| matches!(e, Truncated(_)),
        ),
        (
            "JPEG segment past the end",
            ImageFormat::Jpeg,
            b"\xFF\xD8\xFF\xE1\x10\x00Exif".to_vec(),
            |e| matches!(e, Truncated(_)),
        ),
        (
            "JPEG segment length 1",
            ImageFormat::Jpeg,
            b"\xFF\xD8\xFF\xE1\x00\x01".to_vec(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "JPEG scan before frame",
            ImageFormat::Jpeg,
            b"\xFF\xD8\xFF\xDA\x00\x02\x12\xFF\xD9".to_vec(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "JPEG marker only",
            ImageFormat::Jpeg,
            b"\xFF\xD8\xFF".to_vec(),
            |e| matches!(e, Truncated(_)),
        ),
        ("PNG without IDAT", ImageFormat::Png, png_no_idat, |e| {
            *e == NoPictureData
        }),
        (
            "PNG without IEND",
            ImageFormat::Png,
            png[..png.len() - 12].to_vec(),
            |e| matches!(e, Truncated(_)),
        ),
        (
            "PNG cut in half",
            ImageFormat::Png,
            png[..png.len() / 2].to_vec(),
            |e| matches!(e, Truncated(_)),
        ),
        ("PNG bad chunk name", ImageFormat::Png, png_bad_name, |e| {
            matches!(e, Malformed(_))
        }),
        (
            "PNG text before IHDR",
            ImageFormat::Png,
            [&png[..8], &chunk(b"tEXt", b"a\0b")[..], &png[8..]].concat(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "PNG chunk over 2 GiB",
            ImageFormat::Png,
            [&png[..33], b"\xFF\xFF\xFF\xFFIDAT"].concat(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "WebP header only",
            ImageFormat::WebP,
            riff(&[vp8x(0, 4, 4)], b""),
            |e| *e == NoPictureData,
        ),
        (
            "WebP cut in half",
            ImageFormat::WebP,
            {
                let w = riff(std::slice::from_ref(&vp8l), b"");
                w[..w.len() / 2].to_vec()
            },
            |e| matches!(e, Truncated(_)),
        ),
        (
            "WebP chunk past the RIFF end",
            ImageFormat::WebP,
            {
                let mut w = riff(std::slice::from_ref(&vp8l), b"");
                w[16] = 0xFF;
                w
            },
            |e| matches!(e, Truncated(_)),
        ),
        (
            "WebP EXIF first",
            ImageFormat::WebP,
            riff(&[riff_chunk(b"EXIF", b"MM"), vp8l.clone()], b""),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "WebP short VP8X",
            ImageFormat::WebP,
            riff(&[riff_chunk(b"VP8X", &[0; 4]), vp8l], b""),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "WebP RIFF size 0",
            ImageFormat::WebP,
            b"RIFF\0\0\0\0WEBP".to_vec(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "GIF header and trailer",
            ImageFormat::Gif,
            [&gif_header[..], b";"].concat(),
            |e| *e == NoPictureData,
        ),
        (
            "GIF without trailer",
            ImageFormat::Gif,
            gif_header.clone(),
            |e| matches!(e, Truncated(_)),
        ),
        (
            "GIF unknown block",
            ImageFormat::Gif,
            [&gif_header[..], b"\x99;"].concat(),
            |e| matches!(e, Malformed(_)),
        ),
        (
            "GIF image data cut",
            ImageFormat::Gif,
            [&gif_header[..], b",\0\0\0\0\x04\0\x04\0\0\x02\x05ab"].concat(),
            |e| matches!(e, Truncated(_)),
        ),
    ];
    for (name, format, bytes, check) in cases {
        match strip(&bytes, format) {
            Err(error) => assert!(check(&error), "{name}: {error:?}"),
            Ok(stripped) => panic!("{name}: accepted as {} bytes", stripped.bytes.len()),
        }
    }
}

#[test]
fn errors_say_what_is_wrong_for_the_log() {
    assert_eq!(
        ContainerError::Truncated("the picture data").to_string(),
        "the file ends inside the picture data"
    );
    assert_eq!(
        ContainerError::NoPictureData.to_string(),
        "the file has headers but no picture data"
    );
    assert!(ContainerError::NoPictureData.is_incomplete());
    assert!(!ContainerError::Malformed("x").is_incomplete());
}

/// Valid files of each format with metadata, to mutate.
fn samples() -> Vec<(ImageFormat, Vec<u8>)> {
    let image = noise(9, 7);
    let rgba = image::DynamicImage::ImageRgb8(image.clone()).into_rgba8();
    let mut gif = Vec::new();
    GifEncoder::new(&mut gif)
        .write_image(rgba.as_raw(), 9, 7, ExtendedColorType::Rgba8)
        .unwrap();
    vec![
        (ImageFormat::Jpeg, phone_jpeg(&plain_jpeg(&image), 6)),
        (
            ImageFormat::Png,
            png_with(&plain_png(&image), &[chunk(b"tEXt", b"a\0b")], b""),
        ),
        (
            ImageFormat::WebP,
            riff(
                &[
                    vp8x(0x18, 9, 7),
                    vp8l_chunk(&image),
                    riff_chunk(b"EXIF", b"MM\0*"),
                ],
                b"",
            ),
        ),
        (ImageFormat::Gif, gif),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes, the walkers answer; and what they accept is already clean, so a
    /// second pass changes nothing.
    #[test]
    fn arbitrary_bytes_never_panic_and_stripping_twice_changes_nothing(
        format in prop::sample::select(vec![ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP]),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Ok(once) = strip(&bytes, format) {
            let twice = strip(&once.bytes, format).unwrap();
            prop_assert_eq!(twice.bytes, once.bytes);
        }
    }

    /// Real files with bytes changed, cut or inserted: never a panic, and an accepted result
    /// is stable.
    #[test]
    fn damaged_real_files_never_panic(
        sample in 0..4_usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3_u8), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (format, mut bytes) = samples().swap_remove(sample);
        for (at, byte, how) in edits {
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() * 3 / 4));
        if let Ok(once) = strip(&bytes, format) {
            let twice = strip(&once.bytes, format).unwrap();
            prop_assert_eq!(twice.bytes, once.bytes);
        }
    }
}
