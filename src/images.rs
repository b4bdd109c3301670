//! Preparing images people send: the real format sniffed from the bytes, hard limits set
//! before anything is decoded (so a decompression bomb is refused, not expanded), metadata
//! (EXIF with GPS, XMP, IPTC, comments) removed and the picture turned upright, the whole
//! picture decoded before it is accepted, and JPEG re-encoding to a byte budget for platforms
//! that take nothing else. Pure: no files, no network.

mod metadata;

use std::fmt;
use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::error::LimitErrorKind;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits, Rgb, RgbImage,
};

pub use metadata::ContainerError;

/// Largest file accepted, checked before a single header byte is parsed: every platform's
/// own limit is lower, so anything bigger is a mistake or an attack.
pub const MAX_INPUT_BYTES: u64 = 20 * 1024 * 1024;

/// Longest side accepted, in pixels. Above every platform's useful resolution, below the size
/// where one decode costs hundreds of megabytes.
pub const MAX_DIMENSION: u32 = 8192;

/// Most memory one decode may allocate: an 8192 × 8192 RGBA image fits exactly.
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// The image types [`prepare`] accepts, and therefore the ones [`to_jpeg`] can convert.
pub const ACCEPTED_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// JPEG qualities tried at each size, best first: most photos fit at the first.
const JPEG_QUALITIES: [u8; 2] = [85, 65];

/// Times [`to_jpeg`] scales an image down before giving up, bounding its work.
const MAX_SCALE_STEPS: usize = 6;

/// Below this longest side a picture is no longer worth posting, so shrinking stops.
const MIN_SIDE: u32 = 256;

/// The quality a JPEG is re-encoded at when its pixels are turned upright: the original's own
/// quality is unknown, and at 90 the loss of one more generation is hard to see.
const UPRIGHT_JPEG_QUALITY: u8 = 90;

/// An image that was read in full and can be published.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedImage {
    /// The file to publish, without metadata: the bytes as sent less the metadata segments,
    /// or re-encoded when the pixels had to be turned upright.
    pub bytes: Bytes,
    /// The real MIME type, from the bytes themselves: one of [`ACCEPTED_TYPES`].
    pub content_type: &'static str,
    /// Width as displayed (after the EXIF orientation of a phone photo).
    pub width: u32,
    /// Height as displayed.
    pub height: u32,
}

impl fmt::Debug for PreparedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Bytes` would print every byte of the file.
        f.debug_struct("PreparedImage")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Why an image cannot be used, named for what the sender can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bytes are not a picture at all (a document, a text, an empty file).
    #[error("this file is not a picture; send a JPEG, PNG, GIF or WEBP image")]
    NotAnImage,
    /// A picture in a format autopost does not read (TIFF, HEIC, ...).
    #[error("autopost cannot use {found} images; send it as a JPEG, PNG, GIF or WEBP image")]
    UnsupportedFormat {
        /// The format found in the bytes, as people name it ("HEIC").
        found: &'static str,
    },
    /// The file is bigger than allowed, or could not be made small enough.
    #[error("this image is {} and the limit is {}; send a smaller one", human_size(*bytes), human_size(*limit))]
    TooLarge {
        /// The file's size.
        bytes: u64,
        /// The size allowed.
        limit: u64,
    },
    /// The picture has more pixels than autopost will decode.
    #[error(
        "this image is {width} × {height} pixels, more than autopost can handle; \
         send one at most {MAX_DIMENSION} pixels on each side"
    )]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The file ends early, or has headers but no picture data.
    #[error("this image is cut off or has no picture in it; send the whole file again")]
    Incomplete(#[source] ContainerError),
    /// The file's structure (its segments or chunks) is broken.
    #[error("this image file is damaged; try saving it again")]
    Damaged(#[source] ContainerError),
    /// The file is truncated, damaged, or uses an encoding the decoder does not support.
    #[error("this image is damaged or uses an encoding autopost cannot read; try saving it again")]
    Corrupt(#[source] image::ImageError),
}

impl From<ContainerError> for ImageError {
    fn from(error: ContainerError) -> Self {
        if error.is_incomplete() {
            ImageError::Incomplete(error)
        } else {
            ImageError::Damaged(error)
        }
    }
}

/// Checks that `bytes` are a whole JPEG, PNG, GIF or WEBP picture of sane size, and returns it
/// without metadata (EXIF, XMP, IPTC, comments), upright, with its real type and size.
///
/// The container is walked first: metadata segments are cut out and the pixel data is kept
/// byte for byte, and a file that ends early or holds no picture data is refused. Then the
/// whole picture is decoded under hard limits, so nothing undecodable is accepted. A picture
/// whose EXIF orientation says to turn it is re-encoded upright in its own format, since the
/// orientation goes with the EXIF block (animations are left as they are: re-encoding would
/// keep only their first frame).
///
/// The file name and declared MIME type are never consulted: only the bytes.
pub fn prepare(bytes: &[u8]) -> Result<PreparedImage, ImageError> {
    let (format, content_type) = accepted_format(bytes)?;
    let stripped = metadata::strip(bytes, format)?;
    let orientation = stripped
        .exif
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let Decoded { mut image, icc } = decode(&stripped.bytes, format)?;
    let bytes = if orientation == Orientation::NoTransforms || stripped.animated {
        Bytes::from(stripped.bytes)
    } else {
        image.apply_orientation(orientation);
        Bytes::from(encode_as(&image, format, icc)?)
    };
    Ok(PreparedImage {
        bytes,
        content_type,
        width: image.width(),
        height: image.height(),
    })
}

/// Returns `image` as a JPEG of at most `max_bytes`: transparency flattened onto white, quality
/// lowered and then the picture scaled down until it fits. A JPEG that already fits is
/// returned as it is. Animated GIF and WEBP keep their first frame.
///
/// Instagram takes only JPEG, at most 8 MB; Facebook wants photos under 4 MB.
/// <https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media>
pub fn to_jpeg(image: &PreparedImage, max_bytes: u64) -> Result<PreparedImage, ImageError> {
    let original_len = byte_len(&image.bytes);
    if image.content_type == "image/jpeg" && original_len <= max_bytes {
        return Ok(image.clone());
    }
    // The fields are public, so these bytes may not have come from `prepare`: check again.
    let (format, _) = accepted_format(&image.bytes)?;
    let mut rgb = flatten_onto_white(decode(&image.bytes, format)?.image);
    for step in 0..=MAX_SCALE_STEPS {
        let mut smallest = u64::MAX;
        for quality in JPEG_QUALITIES {
            let encoded = encode_jpeg(&rgb, quality)?;
            let len = byte_len(&encoded);
            if len <= max_bytes {
                return Ok(PreparedImage {
                    bytes: Bytes::from(encoded),
                    content_type: "image/jpeg",
                    width: rgb.width(),
                    height: rgb.height(),
                });
            }
            smallest = smallest.min(len);
        }
        let (width, height) = rgb.dimensions();
        if step == MAX_SCALE_STEPS || width.max(height) <= MIN_SIDE {
            break;
        }
        // A JPEG's size grows about linearly with its pixel count, so aim the next size at the
        // budget, with a margin because small images compress a little worse per pixel.
        let scale = ((max_bytes as f64 / smallest as f64) * 0.8)
            .sqrt()
            .clamp(0.25, 0.8);
        let new_width = ((f64::from(width) * scale) as u32).max(1);
        let new_height = ((f64::from(height) * scale) as u32).max(1);
        rgb = image::imageops::resize(&rgb, new_width, new_height, FilterType::Triangle);
    }
    Err(ImageError::TooLarge {
        bytes: original_len,
        limit: max_bytes,
    })
}

/// A size as a chat user reads it: "4 MB", "5.3 MB", "120 KB". Sizes that are not whole
/// are rounded up, so that a file just over a limit never reads as equal to it.
pub(crate) fn human_size(bytes: u64) -> String {
    const KIB: u128 = 1024;
    const MIB: u128 = 1024 * 1024;
    let bytes = u128::from(bytes);
    if bytes < KIB {
        return format!("{bytes} bytes");
    }
    if bytes < MIB {
        return format!("{} KB", bytes.div_ceil(KIB));
    }
    if bytes.is_multiple_of(MIB) {
        return format!("{} MB", bytes / MIB);
    }
    let tenths = (bytes * 10).div_ceil(MIB);
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

/// The decoder format and MIME type of an accepted picture, or why it is refused.
fn accepted_format(bytes: &[u8]) -> Result<(ImageFormat, &'static str), ImageError> {
    let len = byte_len(bytes);
    if len > MAX_INPUT_BYTES {
        return Err(ImageError::TooLarge {
            bytes: len,
            limit: MAX_INPUT_BYTES,
        });
    }
    match sniff(bytes) {
        Sniffed::Accepted(format, content_type) => Ok((format, content_type)),
        Sniffed::Unsupported(found) => Err(ImageError::UnsupportedFormat { found }),
        Sniffed::Unknown => Err(ImageError::NotAnImage),
    }
}

/// What the first bytes of a file say it is.
enum Sniffed {
    /// A format autopost decodes.
    Accepted(ImageFormat, &'static str),
    /// A picture format people send that autopost does not decode, as they name it.
    Unsupported(&'static str),
    /// Not a recognisable picture.
    Unknown,
}

/// Reads the magic bytes. Only unambiguous signatures count: a two-letter one such as BMP's
/// "BM" would also match ordinary text, so it is checked together with its header size.
fn sniff(bytes: &[u8]) -> Sniffed {
    const ISO_MEDIA_BRANDS: &[(&[u8], &str)] = &[
        (b"avif", "AVIF"),
        (b"avis", "AVIF"),
        (b"heic", "HEIC"),
        (b"heix", "HEIC"),
        (b"heim", "HEIC"),
        (b"heis", "HEIC"),
        (b"hevc", "HEIC"),
        (b"mif1", "HEIF"),
        (b"msf1", "HEIF"),
    ];
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        return Sniffed::Accepted(ImageFormat::Jpeg, "image/jpeg");
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1A\n") {
        return Sniffed::Accepted(ImageFormat::Png, "image/png");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Sniffed::Accepted(ImageFormat::Gif, "image/gif");
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Sniffed::Accepted(ImageFormat::WebP, "image/webp");
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Sniffed::Unsupported("TIFF");
    }
    // BMP: "BM", then an info header of one of the documented sizes at offset 14.
    if bytes.len() >= 18
        && bytes.starts_with(b"BM")
        && [12, 40, 52, 56, 64, 108, 124].contains(&bytes[14])
    {
        return Sniffed::Unsupported("BMP");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if let Some((_, name)) = ISO_MEDIA_BRANDS.iter().find(|(b, _)| *b == brand) {
            return Sniffed::Unsupported(name);
        }
    }
    if bytes.starts_with(b"%PDF-") {
        return Sniffed::Unsupported("PDF");
    }
    Sniffed::Unknown
}

/// A decoded picture and the colour profile to keep if it is encoded again.
struct Decoded {
    image: DynamicImage,
    icc: Option<Vec<u8>>,
}

/// Decodes the whole picture under [`MAX_DIMENSION`] and [`MAX_DECODE_ALLOC`], checked against
/// the header before any pixel buffer exists, and turns it upright if the file still says how.
fn decode(bytes: &[u8], format: ImageFormat) -> Result<Decoded, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Width and height stay unlimited for this first step only so that the header can be read
    // and the refusal can name the declared size; the allocation cap already holds, and the
    // dimensions are checked before a pixel buffer is made.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(ImageError::Corrupt)?;

    let (width, height) = decoder.dimensions();
    let too_many_pixels = ImageError::TooManyPixels { width, height };
    if width == 0 || height == 0 {
        return Err(ImageError::NotAnImage);
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION || decoder.total_bytes() > MAX_DECODE_ALLOC {
        return Err(too_many_pixels);
    }
    decoder
        .set_limits(decode_limits())
        .map_err(|e| classify(e, too_many_pixels))?;
    // A missing or unreadable EXIF block just means the picture is already upright, and a
    // missing or unreadable profile means the colours are sRGB.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| {
        classify(
            e,
            ImageError::TooManyPixels {
                width: MAX_DIMENSION,
                height: MAX_DIMENSION,
            },
        )
    })?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc })
}

/// Encodes `image` in `format` again, keeping its colour profile: JPEG at
/// [`UPRIGHT_JPEG_QUALITY`], PNG and WebP losslessly (the WebP encoder has no lossy mode).
fn encode_as(
    image: &DynamicImage,
    format: ImageFormat,
    icc: Option<Vec<u8>>,
) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    // Only JPEG, PNG and WebP carry EXIF, so only they can need turning; a GIF never gets here.
    let written = match format {
        ImageFormat::Jpeg => {
            let mut encoder = JpegEncoder::new_with_quality(&mut out, UPRIGHT_JPEG_QUALITY);
            keep_profile(&mut encoder, icc);
            // JPEG has no alpha; a decoded JPEG is grey or colour.
            match image {
                DynamicImage::ImageLuma8(grey) => grey.write_with_encoder(encoder),
                other => other.to_rgb8().write_with_encoder(encoder),
            }
        }
        ImageFormat::WebP => {
            let mut encoder = WebPEncoder::new_lossless(&mut out);
            keep_profile(&mut encoder, icc);
            // The WebP encoder takes 8-bit samples only.
            match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => {
                    image.write_with_encoder(encoder)
                }
                other => other.to_rgba8().write_with_encoder(encoder),
            }
        }
        _ => {
            let mut encoder = PngEncoder::new(&mut out);
            keep_profile(&mut encoder, icc);
            image.write_with_encoder(encoder)
        }
    };
    // Writing to memory cannot run out of space; an error would be the encoder's own defect.
    written.map_err(ImageError::Corrupt)?;
    Ok(out)
}

/// Hands the colour profile to an encoder. An encoder that cannot embed one writes sRGB,
/// which is what most profiles describe anyway.
fn keep_profile(encoder: &mut impl ImageEncoder, icc: Option<Vec<u8>>) {
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc);
    }
}

/// The limits every decode runs under.
fn decode_limits() -> Limits {
    // `Limits` is non-exhaustive: it can only be built from a default and adjusted.
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

/// A limit breach is the sender's oversized picture; anything else is a damaged file.
fn classify(error: image::ImageError, too_many_pixels: ImageError) -> ImageError {
    match &error {
        image::ImageError::Limits(limit)
            if matches!(
                limit.kind(),
                LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory
            ) =>
        {
            too_many_pixels
        }
        _ => ImageError::Corrupt(error),
    }
}

/// Drops transparency the way a viewer shows it on a white page: JPEG has no alpha, and
/// dropping it bare would turn transparent areas black or into garbage colours.
fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u32::from(a);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([blend(r), blend(g), blend(b)])
    })
}

/// Encodes at one quality.
fn encode_jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    // Writing to memory cannot fail for lack of space, and the dimensions are at most
    // MAX_DIMENSION, inside JPEG's 65535; an error here would be the encoder's own defect.
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(rgb)
        .map_err(ImageError::Corrupt)?;
    Ok(out)
}

/// A slice length as the u64 the limits use (lossless on every supported target).
fn byte_len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {

    use image::codecs::gif::GifEncoder;
    use image::{ExtendedColorType, Rgba, RgbaImage};

    use super::metadata::tests::crc32;
    use super::*;

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        image.write_with_encoder(PngEncoder::new(&mut out)).unwrap();
        out
    }

    fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
        encode_jpeg(image, quality).unwrap()
    }

    /// Noise, so that neither PNG nor JPEG can compress it much.
    fn noise(width: u32, height: u32) -> RgbImage {
        let mut state: u32 = 0x1234_5678;
        RgbImage::from_fn(width, height, |_, _| {
            let mut next = || {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            };
            Rgb([next(), next(), next()])
        })
    }

    /// A PNG whose IHDR declares `width` × `height` followed by a few bytes of IDAT: a file
    /// that would expand to gigabytes if anything believed its header.
    fn png_declaring(width: u32, height: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        // Then deflate, no filter, no interlace.
        ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1A\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(
            &mut out,
            b"IDAT",
            &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn a_png_with_alpha_becomes_a_jpeg_flattened_onto_white() {
        // Left half fully transparent red, right half opaque blue.
        let rgba = RgbaImage::from_fn(32, 16, |x, _| {
            if x < 16 {
                Rgba([255, 0, 0, 0])
            } else {
                Rgba([0, 0, 255, 255])
            }
        });
        let prepared = prepare(&png(&DynamicImage::ImageRgba8(rgba))).unwrap();
        assert_eq!(prepared.content_type, "image/png");
        assert_eq!((prepared.width, prepared.height), (32, 16));

        let converted = to_jpeg(&prepared, 8 * 1024 * 1024).unwrap();
        assert_eq!(converted.content_type, "image/jpeg");
        assert!(converted.bytes.starts_with(b"\xFF\xD8\xFF"));
        assert_eq!((converted.width, converted.height), (32, 16));
        let back = image::load_from_memory(&converted.bytes)
            .unwrap()
            .into_rgb8();
        let [r, g, b] = back.get_pixel(4, 8).0;
        assert!(
            r > 240 && g > 240 && b > 240,
            "transparent became {r},{g},{b}"
        );
        let [r, g, b] = back.get_pixel(28, 8).0;
        assert!(
            r < 40 && g < 40 && b > 200,
            "opaque blue became {r},{g},{b}"
        );
    }

    #[test]
    fn a_header_declaring_too_many_pixels_is_refused_before_decoding() {
        // (width, height, bit depth, colour type): 2 is RGB, 6 is RGBA.
        let cases: &[(u32, u32, u8, u8)] = &[
            (100_000, 100_000, 8, 2),
            (MAX_DIMENSION + 1, 10, 8, 2),
            (10, 65_535, 8, 2),
            // Within the side limit, but 16-bit RGBA needs 512 MiB: over the allocation cap.
            (MAX_DIMENSION, MAX_DIMENSION, 16, 6),
        ];
        for &(width, height, bit_depth, color_type) in cases {
            let bytes = png_declaring(width, height, bit_depth, color_type);
            // Expanding 100000 × 100000 would need 30 GB: the header's own numbers refuse it,
            // which only the check before decoding reports as too many pixels.
            match prepare(&bytes) {
                Err(ImageError::TooManyPixels {
                    width: w,
                    height: h,
                }) => {
                    assert_eq!((w, h), (width, height));
                }
                other => panic!("{width}x{height}: {other:?}"),
            }
        }
    }

    #[test]
    fn bytes_that_are_not_a_picture_are_refused_by_what_they_are() {
        let mut heic = b"\0\0\0\x18ftypheic".to_vec();
        heic.extend_from_slice(&[0; 16]);
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&[40, 0, 0, 0]);
        let cases: &[(&str, &[u8], Option<&str>)] = &[
            ("empty", b"", None),
            ("text", b"hello, this is not a picture", None),
            ("text starting like BMP", b"BMW for sale, call me", None),
            ("garbage", &[0x00, 0x13, 0x37, 0xFE, 0xED, 0xFA, 0xCE], None),
            ("PDF", b"%PDF-1.7\n", Some("PDF")),
            ("TIFF", b"II*\0\x08\0\0\0", Some("TIFF")),
            ("HEIC", &heic, Some("HEIC")),
            ("BMP", &bmp, Some("BMP")),
        ];
        for (name, bytes, unsupported) in cases {
            match (prepare(bytes), unsupported) {
                (Err(ImageError::NotAnImage), None) => {}
                (Err(ImageError::UnsupportedFormat { found }), Some(expected)) => {
                    assert_eq!(found, *expected, "{name}");
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_damaged_or_cut_off_picture_is_refused_with_what_to_do() {
        let whole = png(&DynamicImage::ImageRgb8(noise(64, 64)));
        let bad_chunk_name = [&whole[..33], b"\0\0\0\0I@AT\0\0\0\0", &whole[33..]].concat();
        // A valid container whose IDAT inflates to nothing: only decoding finds it.
        let empty_pixels = png_declaring(16, 16, 8, 2);
        type Check = fn(&ImageError) -> bool;
        let cases: &[(&str, &[u8], Check)] = &[
            ("truncated PNG", &whole[..whole.len() / 2], |e| {
                matches!(e, ImageError::Incomplete(_))
            }),
            ("PNG signature only", b"\x89PNG\r\n\x1A\n", |e| {
                matches!(e, ImageError::Incomplete(_))
            }),
            ("JPEG marker only", b"\xFF\xD8\xFF\xE0garbage", |e| {
                matches!(e, ImageError::Incomplete(_))
            }),
            ("PNG chunk with a bad name", &bad_chunk_name, |e| {
                matches!(e, ImageError::Damaged(_))
            }),
            ("PNG without its pixels", &empty_pixels, |e| {
                matches!(e, ImageError::Corrupt(_))
            }),
        ];
        for (name, bytes, check) in cases {
            let result = prepare(bytes);
            assert!(
                result.as_ref().is_err_and(check),
                "{name}: {:?}",
                result.map(|p| p.bytes.len())
            );
        }
    }

    /// Each format's headers, complete and valid, with the picture data left out or cut.
    #[test]
    fn a_picture_that_is_only_headers_or_cut_short_is_refused_and_nothing_is_returned() {
        let jpeg_bytes = jpeg(&noise(32, 32), 90);
        let sos = jpeg_bytes
            .windows(2)
            .position(|w| w == [0xFF, 0xDA])
            .unwrap();
        let scan = sos
            + 2
            + usize::from(u16::from_be_bytes([
                jpeg_bytes[sos + 2],
                jpeg_bytes[sos + 3],
            ]));
        let png_bytes = png(&DynamicImage::ImageRgb8(noise(32, 32)));
        let mut webp_vp8x = b"RIFF\x16\0\0\0WEBPVP8X\x0A\0\0\0".to_vec();
        webp_vp8x.extend_from_slice(&[0, 0, 0, 0, 31, 0, 0, 31, 0, 0]);
        let cases: &[(&str, Vec<u8>)] = &[
            (
                "JPEG headers and end marker",
                [&jpeg_bytes[..scan], b"\xFF\xD9"].concat(),
            ),
            ("JPEG headers only", jpeg_bytes[..scan].to_vec()),
            (
                "JPEG cut inside the scan",
                jpeg_bytes[..(scan + jpeg_bytes.len()) / 2].to_vec(),
            ),
            (
                "JPEG without its end marker",
                jpeg_bytes[..jpeg_bytes.len() - 2].to_vec(),
            ),
            (
                "PNG header and end",
                [&png_bytes[..33], &png_bytes[png_bytes.len() - 12..]].concat(),
            ),
            (
                "GIF screen descriptor and trailer",
                b"GIF89a\x20\0\x20\0\0\0\0;".to_vec(),
            ),
            ("WebP extended header only", webp_vp8x),
        ];
        for (name, bytes) in cases {
            match prepare(bytes) {
                Err(error @ ImageError::Incomplete(_)) => assert_eq!(
                    error.to_string(),
                    "this image is cut off or has no picture in it; send the whole file again",
                    "{name}"
                ),
                other => panic!("{name}: {:?}", other.map(|p| p.bytes.len())),
            }
        }
    }

    #[test]
    fn a_phone_photo_keeps_its_pixels_and_loses_its_metadata() {
        let plain = jpeg(&noise(48, 32), 90);
        let phone = metadata::tests::phone_jpeg(&plain, 1);
        let prepared = prepare(&phone).unwrap();
        for secret in metadata::tests::SECRETS {
            assert!(
                !prepared.bytes.windows(secret.len()).any(|w| w == secret),
                "{:?} survived",
                String::from_utf8_lossy(secret)
            );
        }
        assert_eq!(
            metadata::tests::scan_data(&prepared.bytes),
            metadata::tests::scan_data(&plain),
            "the picture data is the same bytes"
        );
        assert_eq!((prepared.width, prepared.height), (48, 32));
        assert_eq!(prepared.content_type, "image/jpeg");
    }

    #[test]
    fn a_file_over_the_input_limit_is_refused_before_parsing() {
        let mut bytes = b"\x89PNG\r\n\x1A\n".to_vec();
        bytes.resize(usize::try_from(MAX_INPUT_BYTES).unwrap() + 1, 0);
        match prepare(&bytes) {
            Err(ImageError::TooLarge { bytes, limit }) => {
                assert_eq!((bytes, limit), (MAX_INPUT_BYTES + 1, MAX_INPUT_BYTES));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accepted_formats_are_kept_byte_for_byte() {
        let rgb = noise(24, 10);
        let rgba = DynamicImage::ImageRgb8(rgb.clone()).into_rgba8();
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .write_image(rgba.as_raw(), 24, 10, ExtendedColorType::Rgba8)
            .unwrap();
        let mut webp = Vec::new();
        WebPEncoder::new_lossless(&mut webp)
            .write_image(rgba.as_raw(), 24, 10, ExtendedColorType::Rgba8)
            .unwrap();
        let cases: &[(&str, Vec<u8>)] = &[
            ("image/gif", gif),
            ("image/webp", webp),
            ("image/png", png(&DynamicImage::ImageRgb8(rgb.clone()))),
            ("image/jpeg", jpeg(&rgb, 90)),
        ];
        for (content_type, bytes) in cases {
            let prepared = prepare(bytes).unwrap();
            assert_eq!(prepared.content_type, *content_type);
            assert_eq!(&prepared.bytes[..], &bytes[..], "{content_type}");
            assert_eq!(
                (prepared.width, prepared.height),
                (24, 10),
                "{content_type}"
            );
        }
    }

    #[test]
    fn a_jpeg_that_fits_the_budget_is_not_reencoded() {
        let bytes = jpeg(&noise(40, 30), 90);
        let prepared = prepare(&bytes).unwrap();
        let converted = to_jpeg(&prepared, byte_len(&bytes)).unwrap();
        assert_eq!(converted, prepared);
    }

    #[test]
    fn reencoding_lowers_quality_then_size_until_the_budget_is_met() {
        let original = prepare(&png(&DynamicImage::ImageRgb8(noise(512, 512)))).unwrap();
        let big_jpeg = prepare(&jpeg(&noise(512, 512), 100)).unwrap();
        // (source, budget, whether it must shrink): the first fits by quality alone.
        let cases: &[(&PreparedImage, u64, bool)] = &[
            (&original, 400_000, false),
            (&original, 60_000, true),
            (&big_jpeg, 30_000, true),
        ];
        for (source, budget, shrinks) in cases {
            let converted = to_jpeg(source, *budget).unwrap();
            assert_eq!(converted.content_type, "image/jpeg");
            assert!(
                byte_len(&converted.bytes) <= *budget,
                "{} > {budget}",
                converted.bytes.len()
            );
            let decoded = image::load_from_memory(&converted.bytes).unwrap();
            assert_eq!(
                (decoded.width(), decoded.height()),
                (converted.width, converted.height)
            );
            assert_eq!(converted.width < 512, *shrinks, "{budget}: {converted:?}");
            assert!(converted.width >= MIN_SIDE / 2, "{budget}: {converted:?}");
        }
    }

    #[test]
    fn a_budget_no_picture_can_meet_is_refused_as_too_large() {
        let prepared = prepare(&png(&DynamicImage::ImageRgb8(noise(300, 300)))).unwrap();
        match to_jpeg(&prepared, 200) {
            Err(ImageError::TooLarge { bytes, limit }) => {
                assert_eq!((bytes, limit), (byte_len(&prepared.bytes), 200));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A smooth picture, so that a lossy re-encode stays close to it.
    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    /// The average difference per sample: 0 for identical pixels.
    fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let total: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        total as f64 / a.as_raw().len() as f64
    }

    #[test]
    fn a_photo_turned_by_exif_is_reencoded_upright_without_the_exif() {
        // Orientation 6: "rotate 90° clockwise to display", as phones write it.
        let original = gradient(120, 50);
        let upright = image::imageops::rotate90(&original);
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&metadata::tests::exif_with_gps(6));
        let sent = metadata::tests::jpeg_with(
            &jpeg(&original, 95),
            &[metadata::tests::segment(0xE1, &exif)],
        );

        let prepared = prepare(&sent).unwrap();
        assert_eq!((prepared.width, prepared.height), (50, 120));
        assert!(!prepared.bytes.windows(4).any(|w| w == b"Exif"));
        assert_eq!(prepared.content_type, "image/jpeg");
        let decoded = image::load_from_memory(&prepared.bytes)
            .unwrap()
            .into_rgb8();
        assert!(
            mean_difference(&decoded, &upright) < 3.0,
            "turned, not mirrored"
        );

        // PNG and WebP are turned losslessly and stay in their format.
        let rgba = DynamicImage::ImageRgb8(original.clone()).into_rgba8();
        let mut webp = Vec::new();
        WebPEncoder::new_lossless(&mut webp)
            .write_image(rgba.as_raw(), 120, 50, ExtendedColorType::Rgba8)
            .unwrap();
        let exif_chunk = {
            let tiff = metadata::tests::exif_with_gps(6);
            let mut c = b"EXIF".to_vec();
            c.extend_from_slice(&u32::try_from(tiff.len()).unwrap().to_le_bytes());
            c.extend_from_slice(&tiff);
            c
        };
        let mut extended = b"RIFF\0\0\0\0WEBPVP8X\x0A\0\0\0".to_vec();
        extended.extend_from_slice(&[0x18, 0, 0, 0, 119, 0, 0, 49, 0, 0]);
        extended.extend_from_slice(&webp[12..]);
        extended.extend_from_slice(&exif_chunk);
        let riff_size = u32::try_from(extended.len() - 8).unwrap();
        extended[4..8].copy_from_slice(&riff_size.to_le_bytes());
        let png_turned = [
            &png(&DynamicImage::ImageRgb8(original.clone()))[..33],
            &metadata::tests::chunk(b"eXIf", &metadata::tests::exif_with_gps(6)),
            &png(&DynamicImage::ImageRgb8(original))[33..],
        ]
        .concat();
        for (content_type, sent) in [("image/png", png_turned), ("image/webp", extended)] {
            let prepared = prepare(&sent).unwrap();
            assert_eq!(prepared.content_type, content_type);
            assert_eq!(
                (prepared.width, prepared.height),
                (50, 120),
                "{content_type}"
            );
            let decoded = image::load_from_memory(&prepared.bytes)
                .unwrap()
                .into_rgb8();
            assert_eq!(decoded, upright, "{content_type}");
            let metadata::Stripped { exif, .. } = metadata::strip(
                &prepared.bytes,
                image::guess_format(&prepared.bytes).unwrap(),
            )
            .unwrap();
            assert_eq!(exif, None, "{content_type}: no EXIF left to turn it twice");
        }
    }

    #[test]
    fn errors_read_as_one_sentence_for_a_chat_user() {
        let cases: &[(ImageError, &str)] = &[
            (
                ImageError::NotAnImage,
                "this file is not a picture; send a JPEG, PNG, GIF or WEBP image",
            ),
            (
                ImageError::UnsupportedFormat { found: "HEIC" },
                "autopost cannot use HEIC images; send it as a JPEG, PNG, GIF or WEBP image",
            ),
            (
                ImageError::TooLarge {
                    bytes: 12 * 1024 * 1024 + 1,
                    limit: 8 * 1024 * 1024,
                },
                "this image is 12.1 MB and the limit is 8 MB; send a smaller one",
            ),
            (
                ImageError::TooManyPixels {
                    width: 100_000,
                    height: 100_000,
                },
                "this image is 100000 × 100000 pixels, more than autopost can handle; \
                 send one at most 8192 pixels on each side",
            ),
            (
                ImageError::from(ContainerError::Truncated("the picture data")),
                "this image is cut off or has no picture in it; send the whole file again",
            ),
            (
                ImageError::from(ContainerError::Malformed("a second start marker")),
                "this image file is damaged; try saving it again",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), *expected);
        }
    }

    #[test]
    fn sizes_read_in_the_unit_people_use_and_round_up() {
        let cases: &[(u64, &str)] = &[
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1 KB"),
            (1025, "2 KB"),
            (4 * 1024 * 1024, "4 MB"),
            (4 * 1024 * 1024 + 1, "4.1 MB"),
            (5_557_452, "5.3 MB"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(human_size(*bytes), *expected, "{bytes}");
        }
    }

    #[test]
    fn debug_output_shows_the_size_not_the_bytes() {
        let prepared = prepare(&jpeg(&noise(8, 8), 90)).unwrap();
        let shown = format!("{prepared:?}");
        assert!(shown.contains("image/jpeg") && shown.len() < 120, "{shown}");
    }
}
