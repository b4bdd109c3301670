//! Data minimisation for pictures (privacy policy, SPEC §9): a photo sent straight from a phone
//! as a Telegram file keeps no EXIF (with its GPS position), XMP or comment, neither on disk nor
//! on its way to X, Facebook and Instagram; and a photo without metadata keeps its picture data
//! byte for byte. The Telegram front end, the scheduler and the platforms are the real ones,
//! against the simulated platforms.

use std::time::Duration;

use autopost::domain::TargetState;
use autopost_bots::telegram::{Options, TelegramFrontEnd};
use autopost_sim::World;
use autopost_sim::meta::{SimMetaConfig, SimMetaUser, SimPage};
use autopost_sim::telegram::{SimChat, SimUser};
use autopost_sim::world::{META_APP_ID, X_CLIENT_ID};
use autopost_sim::x::{SimXConfig, SimXUser};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

/// The GPS latitude rationals (52/1, 31/1, 1234/100) in the photo's EXIF.
const GPS_LATITUDE: &[u8] = &[
    0, 0, 0, 52, 0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 1, 0, 0, 0x04, 0xD2, 0, 0, 0, 100,
];

/// What only the metadata holds: finding any of it after autopost means it leaked.
const MARKERS: [&[u8]; 5] = [
    b"Exif",
    GPS_LATITUDE,
    b"GPS-secret-xmp",
    b"camera-serial-comment",
    b"after-the-end",
];

/// A person in a private chat with the bot, with the team's X account and the bakery's
/// Facebook Page and Instagram account linked to it.
struct Phone {
    world: World,
    person: SimUser,
}

async fn phone() -> Phone {
    let mut x = SimXConfig::public(X_CLIENT_ID);
    x.user = SimXUser::new("2244994945", "team");
    let mut meta = SimMetaConfig::new(META_APP_ID, "meta-app-secret");
    meta.user = SimMetaUser {
        id: "10158000000000001".to_owned(),
        name: "Alice".to_owned(),
        pages: vec![
            SimPage::new("5550001", "Alice's Bakery")
                .with_instagram("17841400000000001", "alices_bakery"),
        ],
    };
    let options = Options {
        poll_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let world = World::builder()
        .x_with(x)
        .meta_with(meta)
        .telegram()
        .front_end(move |app| TelegramFrontEnd::new(app, options))
        .start()
        .await
        .unwrap();
    let tg = world.telegram().clone();
    world
        .wait_until("the bot to connect", async || !tg.commands().is_empty())
        .await
        .unwrap();
    let person = SimUser::new(1001, "Bob");
    tg.add_chat(&SimChat::private(&person));
    world
        .link_x("telegram:1001", "telegram:1001")
        .await
        .unwrap();
    world
        .link_meta("telegram:1001", "telegram:1001")
        .await
        .unwrap();
    // The consent gate has its own tests; Bob agreed long ago.
    world.agree(&["telegram:1001"]).await.unwrap();
    Phone { world, person }
}

impl Phone {
    /// Sends `jpeg` as a file (not a compressed photo) captioned `now | …`, waits until the
    /// post is published on its three targets, and returns what reached each place: the
    /// stored file, X's upload, the Facebook Page's upload and the file Instagram fetched.
    async fn send_and_publish(&self, jpeg: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let tg = self.world.telegram();
        let file = tg.add_file(jpeg.to_vec(), None);
        tg.push_image_document(
            &SimChat::private(&self.person),
            &self.person,
            &file,
            "IMG_0001.jpg",
            Some("now | sunset over the bakery"),
        );
        let app = self.world.app().clone();
        let chat = self
            .world
            .actor("telegram:1001", "telegram:1001")
            .await
            .unwrap()
            .chat;
        self.world
            .wait_until("the post on X, Facebook and Instagram", async || {
                let history = app.history(chat, 10).await.unwrap();
                history.len() == 3 && history.iter().all(|h| h.state == TargetState::Published)
            })
            .await
            .unwrap();

        let media_dir = self.world.dir().join("media");
        let stored: Vec<Vec<u8>> = std::fs::read_dir(&media_dir)
            .unwrap()
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        assert_eq!(stored.len(), 1, "one stored file");
        let x = self.world.x().media();
        assert_eq!(x.len(), 1, "one upload to X");
        let photos = self.world.meta().photos();
        assert_eq!(photos.len(), 1, "one Facebook photo");
        let containers = self.world.meta().containers();
        assert_eq!(containers.len(), 1, "one Instagram container");
        vec![
            ("the data dir", stored[0].clone()),
            ("X", x[0].bytes.to_vec()),
            ("Facebook", photos[0].bytes.to_vec()),
            ("Instagram", containers[0].fetched.clone().unwrap().to_vec()),
        ]
    }
}

fn noise(width: u32, height: u32) -> RgbImage {
    let mut state: u32 = 0x2545_F491;
    RgbImage::from_fn(width, height, |_, _| {
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        };
        Rgb([next(), next(), next()])
    })
}

fn plain_jpeg() -> Vec<u8> {
    let image = noise(320, 240);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(image.as_raw(), 320, 240, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `plain` as a phone saves it: after the JFIF segment an EXIF block (upright, with a GPS IFD
/// holding the latitude), XMP and a comment; after the end marker, more bytes (where phones
/// put a second image or a motion-photo video).
fn phone_photo(plain: &[u8]) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 2]);
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 1, 0, 0]); // Orientation 1
    exif.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPS IFD at 38
    exif.extend_from_slice(&[0, 0, 0, 0]);
    exif.extend_from_slice(&[0, 2]);
    exif.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]); // LatitudeRef N
    exif.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]); // Latitude at 68
    exif.extend_from_slice(&[0, 0, 0, 0]);
    exif.extend_from_slice(GPS_LATITUDE);
    let app0_end = 4 + usize::from(u16::from_be_bytes([plain[4], plain[5]]));
    [
        &plain[..app0_end],
        &segment(0xE1, &exif),
        &segment(
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPS-secret-xmp</x:xmpmeta>",
        ),
        &segment(0xFE, b"camera-serial-comment"),
        &plain[app0_end..],
        b"after-the-end",
    ]
    .concat()
}

/// A JPEG's entropy-coded data: from the end of its (only) scan header to the next marker.
fn picture_data(jpeg: &[u8]) -> &[u8] {
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let mut end = start;
    while jpeg[end] != 0xFF || matches!(jpeg[end + 1], 0x00 | 0xD0..=0xD7) {
        end += 1;
    }
    &jpeg[start..end]
}

#[tokio::test]
async fn a_photo_sent_as_a_file_reaches_disk_x_facebook_and_instagram_without_its_metadata() {
    let mut phone = phone().await;
    let plain = plain_jpeg();
    let sent = phone_photo(&plain);
    assert!(
        sent.windows(4).any(|w| w == b"Exif"),
        "the fixture has EXIF"
    );

    let received = phone.send_and_publish(&sent).await;
    for (place, bytes) in &received {
        assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "{place}: a JPEG");
        for marker in MARKERS {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker),
                "{place} holds {:?}",
                String::from_utf8_lossy(marker)
            );
        }
        assert_eq!(
            picture_data(bytes),
            picture_data(&plain),
            "{place}: the picture data is untouched"
        );
    }
    phone.world.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_photo_without_metadata_reaches_every_platform_byte_for_byte() {
    let mut phone = phone().await;
    let plain = plain_jpeg();
    let received = phone.send_and_publish(&plain).await;
    for (place, bytes) in &received {
        assert_eq!(
            picture_data(bytes),
            picture_data(&plain),
            "{place}: entropy-coded data"
        );
        assert!(bytes == &plain, "{place}: the whole file as sent");
    }
    phone.world.shutdown().await.unwrap();
}
