//! The demo's photo: a small JPEG drawn in memory (a sunrise over a bakery-blue sky), so the
//! demo needs no file on disk and exercises the real image checks.

use anyhow::Context;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

/// Width and height of the photo: 16:9, inside every platform's aspect-ratio limits.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;

/// The photo as JPEG bytes.
pub fn launch_photo() -> anyhow::Result<Vec<u8>> {
    let sun = (f64::from(WIDTH) * 0.7, f64::from(HEIGHT) * 0.62);
    let picture = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let horizon = f64::from(HEIGHT) * 0.72;
        if fy > horizon {
            // Ground: a warm brown, darker towards the bottom.
            let shade = 1.0 - (fy - horizon) / (f64::from(HEIGHT) - horizon) * 0.4;
            return Rgb([
                channel(120.0 * shade),
                channel(78.0 * shade),
                channel(46.0 * shade),
            ]);
        }
        let distance = ((fx - sun.0).powi(2) + (fy - sun.1).powi(2)).sqrt();
        if distance < 48.0 {
            return Rgb([255, 214, 92]);
        }
        // Sky: blue at the top to orange at the horizon, with a glow around the sun.
        let t = fy / horizon;
        let glow = (1.0 - (distance / 260.0)).max(0.0) * 60.0;
        Rgb([
            channel(60.0 + 190.0 * t + glow),
            channel(110.0 + 70.0 * t + glow * 0.6),
            channel(200.0 - 110.0 * t),
        ])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&picture)
        .context("cannot draw the demo photo")?;
    Ok(jpeg)
}

/// A colour channel from a computed value, clamped to 0..=255.
fn channel(value: f64) -> u8 {
    value.clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_photo_is_a_jpeg_the_core_accepts() {
        let bytes = launch_photo().unwrap();
        let prepared = autopost::images::prepare(&bytes).unwrap();
        assert_eq!(prepared.content_type, "image/jpeg");
        assert_eq!((prepared.width, prepared.height), (WIDTH, HEIGHT));
        assert!(bytes.len() < 100 * 1024, "small: {} bytes", bytes.len());
    }
}
