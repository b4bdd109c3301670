//! The rules a post must meet on each target, checked when the post is accepted so that a
//! breach is refused in the chat, naming the target and the limit, instead of failing at
//! publish time. Pure: no I/O; the limits come from each platform's `Platform::limits()`.

use crate::domain::Provider;
use crate::images::{ACCEPTED_TYPES, human_size};
use crate::platforms::Limits;

/// What the rules need to know about one image, after [`crate::images::prepare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    /// The real MIME type, sniffed from the bytes.
    pub content_type: &'static str,
    /// The file's size.
    pub byte_len: u64,
}

/// Why a post cannot go to a target. Each message names the target kind and the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// Neither text nor an image.
    #[error("{} needs text or an image; this post has neither", target_name(*provider))]
    Empty {
        /// The target kind.
        provider: Provider,
    },
    /// The target publishes only posts with an image (Instagram).
    #[error("{} needs at least one image", target_name(*provider))]
    NeedsImage {
        /// The target kind.
        provider: Provider,
    },
    /// The text is longer than the target allows, in the target's own counting.
    #[error(
        "{} allows {} characters{}; this {} has {}",
        target_name(*provider),
        grouped(*limit),
        counting_note(*provider),
        text_noun(*provider),
        grouped(*length)
    )]
    TextTooLong {
        /// The target kind.
        provider: Provider,
        /// The most allowed.
        limit: usize,
        /// What this text counts as ([`text_length`]).
        length: usize,
    },
    /// More hashtags than the target allows.
    #[error(
        "{} allows at most {limit} hashtags; this {} has {count}",
        target_name(*provider),
        text_noun(*provider)
    )]
    TooManyHashtags {
        /// The target kind.
        provider: Provider,
        /// The most allowed.
        limit: usize,
        /// How many this text has ([`count_hashtags`]).
        count: usize,
    },
    /// More images than one post on the target can carry.
    #[error(
        "{} allows at most {limit} images; this post has {count}",
        target_name(*provider)
    )]
    TooManyImages {
        /// The target kind.
        provider: Provider,
        /// The most allowed.
        limit: usize,
        /// How many this post has.
        count: usize,
    },
    /// An image bigger than the target takes, that autopost will not shrink.
    #[error(
        "{} allows images up to {}; image {image} is {}",
        target_name(*provider),
        human_size(*limit),
        human_size(*bytes)
    )]
    ImageTooLarge {
        /// The target kind.
        provider: Provider,
        /// Which image, counting from 1 as the author does.
        image: usize,
        /// The target's limit.
        limit: u64,
        /// The image's size.
        bytes: u64,
    },
    /// An image of a type the target does not take and autopost cannot convert.
    #[error(
        "{} takes only {} images; image {image} is {}",
        target_name(*provider),
        type_list(accepted),
        type_name(content_type)
    )]
    UnsupportedImageType {
        /// The target kind.
        provider: Provider,
        /// Which image, counting from 1.
        image: usize,
        /// The image's type.
        content_type: &'static str,
        /// The types the target takes.
        accepted: &'static [&'static str],
    },
}

/// Checks `text` and `images` against what one target takes. `images` are the prepared
/// images; those [`must_convert`] selects are judged as the JPEG they will become
/// ([`crate::images::to_jpeg`] fits them to `limits.max_image_bytes`), all others as they are.
pub fn check(
    provider: Provider,
    limits: &Limits,
    text: &str,
    images: &[ImageFacts],
) -> Result<(), RuleViolation> {
    if limits.requires_image && images.is_empty() {
        return Err(RuleViolation::NeedsImage { provider });
    }
    if text.trim().is_empty() && images.is_empty() {
        return Err(RuleViolation::Empty { provider });
    }
    let length = text_length(provider, text);
    if length > limits.max_text {
        return Err(RuleViolation::TextTooLong {
            provider,
            limit: limits.max_text,
            length,
        });
    }
    if let Some(limit) = limits.max_hashtags {
        let count = count_hashtags(text);
        if count > limit {
            return Err(RuleViolation::TooManyHashtags {
                provider,
                limit,
                count,
            });
        }
    }
    if images.len() > limits.max_images {
        return Err(RuleViolation::TooManyImages {
            provider,
            limit: limits.max_images,
            count: images.len(),
        });
    }
    for (index, image) in images.iter().enumerate() {
        if must_convert(limits, image) {
            continue;
        }
        if !limits.image_types.contains(&image.content_type) {
            return Err(RuleViolation::UnsupportedImageType {
                provider,
                image: index + 1,
                content_type: image.content_type,
                accepted: limits.image_types,
            });
        }
        if image.byte_len > limits.max_image_bytes {
            return Err(RuleViolation::ImageTooLarge {
                provider,
                image: index + 1,
                limit: limits.max_image_bytes,
                bytes: image.byte_len,
            });
        }
    }
    Ok(())
}

/// The length of `text` as the target counts it, for limits and for confirmations: X weighs
/// characters (CJK and emoji 2, every link 23); Meta counts characters.
/// <https://docs.x.com/fundamentals/counting-characters>
pub fn text_length(provider: Provider, text: &str) -> usize {
    match provider {
        Provider::X => crate::platforms::x::text::weighted_length(text),
        Provider::FacebookPage | Provider::Instagram => text.chars().count(),
    }
}

/// Whether the target takes JPEG images only, so every other image is converted first.
/// <https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media>
pub fn needs_jpeg(provider: Provider) -> bool {
    match provider {
        Provider::Instagram => true,
        Provider::X | Provider::FacebookPage => false,
    }
}

/// Whether `image` must go through [`crate::images::to_jpeg`] with `limits.max_image_bytes`
/// before it is sent to this target: its type is not taken there, or it is too big; and the
/// target takes JPEG, and autopost can decode the image.
///
/// A GIF is converted only when its type is refused, never just to shrink it: the JPEG would
/// silently lose the animation, so an oversized GIF is refused instead and the author decides.
pub fn must_convert(limits: &Limits, image: &ImageFacts) -> bool {
    let convertible =
        ACCEPTED_TYPES.contains(&image.content_type) && limits.image_types.contains(&"image/jpeg");
    if !convertible {
        return false;
    }
    if !limits.image_types.contains(&image.content_type) {
        return true;
    }
    image.byte_len > limits.max_image_bytes && image.content_type != "image/gif"
}

/// The hashtags in `text` as Instagram finds them: `#` followed by a letter, digit or `_`,
/// not glued to the end of a word (`C#`, `a#b` are not tags). Repeats count each time, since
/// the platform's limit is on tags in the caption.
pub fn count_hashtags(text: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut count = 0;
    let mut previous: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' && !previous.is_some_and(is_word) && chars.peek().is_some_and(|&n| is_word(n)) {
            count += 1;
        }
        previous = Some(c);
    }
    count
}

/// The target kind as authors call it.
fn target_name(provider: Provider) -> &'static str {
    match provider {
        Provider::X => "X",
        Provider::FacebookPage => "Facebook",
        Provider::Instagram => "Instagram",
    }
}

/// What the target calls a post's text.
fn text_noun(provider: Provider) -> &'static str {
    match provider {
        Provider::Instagram => "caption",
        Provider::X | Provider::FacebookPage => "text",
    }
}

/// A reminder of the counting rule that surprises people, where there is one.
fn counting_note(provider: Provider) -> &'static str {
    match provider {
        // The link weight twitter-text uses (`transformedURLLength`).
        Provider::X => " (URLs count 23)",
        Provider::FacebookPage | Provider::Instagram => "",
    }
}

/// A count with thousands separators: "63,206".
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A MIME type as people name it: `image/jpeg` → "JPEG".
fn type_name(content_type: &str) -> String {
    content_type
        .strip_prefix("image/")
        .unwrap_or(content_type)
        .to_uppercase()
}

/// "JPEG", "JPEG or PNG", "JPEG, PNG or GIF".
fn type_list(types: &[&str]) -> String {
    let names: Vec<String> = types.iter().map(|t| type_name(t)).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::config::{MetaConfig, XConfig};
    use crate::crypto::Secret;
    use crate::platforms::Platform;
    use crate::platforms::meta::{FacebookPages, GraphClient, Instagram};
    use crate::platforms::x::XClient;

    const MB: u64 = 1024 * 1024;

    /// The real limits, from the clients, so that these tests follow any change there.
    fn limits(provider: Provider) -> Limits {
        let http = reqwest::Client::new();
        match provider {
            Provider::X => {
                let config = XConfig {
                    client_id: "client".to_owned(),
                    client_secret: None,
                    api_url: Url::parse("https://api.x.com").unwrap(),
                    authorize_url: Url::parse("https://x.com/i/oauth2/authorize").unwrap(),
                };
                XClient::new(&config, http).limits().clone()
            }
            Provider::FacebookPage | Provider::Instagram => {
                let config = MetaConfig {
                    app_id: "1".to_owned(),
                    app_secret: Secret::new("secret"),
                    graph_url: Url::parse("https://graph.facebook.com").unwrap(),
                    dialog_url: Url::parse("https://www.facebook.com").unwrap(),
                    api_version: "v27.0".to_owned(),
                };
                let graph = std::sync::Arc::new(GraphClient::new(&config, http));
                if provider == Provider::Instagram {
                    Instagram::new(graph).limits().clone()
                } else {
                    FacebookPages::new(graph).limits().clone()
                }
            }
        }
    }

    fn jpeg(byte_len: u64) -> ImageFacts {
        ImageFacts {
            content_type: "image/jpeg",
            byte_len,
        }
    }

    fn of_type(content_type: &'static str, byte_len: u64) -> ImageFacts {
        ImageFacts {
            content_type,
            byte_len,
        }
    }

    fn jpegs(n: usize) -> Vec<ImageFacts> {
        vec![jpeg(MB); n]
    }

    fn hashtags(n: usize) -> String {
        (0..n)
            .map(|i| format!("#tag{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    struct Case {
        name: &'static str,
        provider: Provider,
        text: String,
        images: Vec<ImageFacts>,
        expected: Result<(), RuleViolation>,
    }

    fn case(
        name: &'static str,
        provider: Provider,
        text: impl Into<String>,
        images: Vec<ImageFacts>,
        expected: Result<(), RuleViolation>,
    ) -> Case {
        Case {
            name,
            provider,
            text: text.into(),
            images,
            expected,
        }
    }

    fn run(cases: Vec<Case>) {
        for c in cases {
            let limits = limits(c.provider);
            assert_eq!(
                check(c.provider, &limits, &c.text, &c.images),
                c.expected,
                "{}",
                c.name
            );
        }
    }

    const LONG_URL: &str = "https://example.com/a/very/long/path/that/goes/on/and/on?q=1";

    #[test]
    fn text_length_is_checked_at_each_targets_boundary_in_its_own_counting() {
        use Provider::*;
        let too_long = |provider, limit, length| {
            Err(RuleViolation::TextTooLong {
                provider,
                limit,
                length,
            })
        };
        run(vec![
            case("X exactly 280", X, "a".repeat(280), vec![], Ok(())),
            case("X 281", X, "a".repeat(281), vec![], too_long(X, 280, 281)),
            case(
                "X link counts 23 so 256 + space + link fits",
                X,
                format!("{} {LONG_URL}", "a".repeat(256)),
                vec![],
                Ok(()),
            ),
            case(
                "X 257 + space + link is one over",
                X,
                format!("{} {LONG_URL}", "a".repeat(257)),
                vec![],
                too_long(X, 280, 281),
            ),
            case("X 140 CJK weigh 280", X, "日".repeat(140), vec![], Ok(())),
            case(
                "X 141 CJK weigh 282",
                X,
                "日".repeat(141),
                vec![],
                too_long(X, 280, 282),
            ),
            case(
                "Instagram exactly 2200",
                Instagram,
                "a".repeat(2200),
                jpegs(1),
                Ok(()),
            ),
            case(
                "Instagram 2201",
                Instagram,
                "a".repeat(2201),
                jpegs(1),
                too_long(Instagram, 2200, 2201),
            ),
            case(
                "Instagram counts CJK as one each",
                Instagram,
                "日".repeat(2200),
                jpegs(1),
                Ok(()),
            ),
            case(
                "Facebook exactly 63206",
                FacebookPage,
                "a".repeat(63_206),
                vec![],
                Ok(()),
            ),
            case(
                "Facebook 63207",
                FacebookPage,
                "a".repeat(63_207),
                vec![],
                too_long(FacebookPage, 63_206, 63_207),
            ),
        ]);
    }

    #[test]
    fn image_count_and_presence_are_checked_per_target() {
        use Provider::*;
        let too_many = |provider, limit, count| {
            Err(RuleViolation::TooManyImages {
                provider,
                limit,
                count,
            })
        };
        run(vec![
            case("X 4 images", X, "hi", jpegs(4), Ok(())),
            case("X 5 images", X, "hi", jpegs(5), too_many(X, 4, 5)),
            case("Instagram 10 images", Instagram, "hi", jpegs(10), Ok(())),
            case(
                "Instagram 11 images",
                Instagram,
                "hi",
                jpegs(11),
                too_many(Instagram, 10, 11),
            ),
            case("Facebook 10 images", FacebookPage, "hi", jpegs(10), Ok(())),
            case(
                "Facebook 11 images",
                FacebookPage,
                "hi",
                jpegs(11),
                too_many(FacebookPage, 10, 11),
            ),
            case(
                "Instagram without an image",
                Instagram,
                "hi",
                vec![],
                Err(RuleViolation::NeedsImage {
                    provider: Instagram,
                }),
            ),
            case(
                "Instagram with neither text nor image still asks for the image",
                Instagram,
                "",
                vec![],
                Err(RuleViolation::NeedsImage {
                    provider: Instagram,
                }),
            ),
            case(
                "Instagram image without caption",
                Instagram,
                "",
                jpegs(1),
                Ok(()),
            ),
            case("X image without text", X, "", jpegs(1), Ok(())),
            case("X text without image", X, "hi", vec![], Ok(())),
            case(
                "X empty",
                X,
                "",
                vec![],
                Err(RuleViolation::Empty { provider: X }),
            ),
            case(
                "Facebook only whitespace",
                FacebookPage,
                " \n\t ",
                vec![],
                Err(RuleViolation::Empty {
                    provider: FacebookPage,
                }),
            ),
        ]);
    }

    #[test]
    fn hashtags_are_limited_where_the_target_limits_them() {
        use Provider::*;
        run(vec![
            case(
                "Instagram 30 hashtags",
                Instagram,
                hashtags(30),
                jpegs(1),
                Ok(()),
            ),
            case(
                "Instagram 31 hashtags",
                Instagram,
                hashtags(31),
                jpegs(1),
                Err(RuleViolation::TooManyHashtags {
                    provider: Instagram,
                    limit: 30,
                    count: 31,
                }),
            ),
            case(
                "Instagram 30 tags plus C# and an issue-like a#1",
                Instagram,
                format!("{} C# a#1", hashtags(30)),
                jpegs(1),
                Ok(()),
            ),
            case("X has no hashtag limit", X, hashtags(31), vec![], Ok(())),
            case(
                "Facebook has no hashtag limit",
                FacebookPage,
                hashtags(40),
                vec![],
                Ok(()),
            ),
        ]);
    }

    #[test]
    fn image_types_and_sizes_pass_when_taken_or_convertible_and_fail_otherwise() {
        use Provider::*;
        run(vec![
            case(
                "X JPEG of exactly 5 MB",
                X,
                "hi",
                vec![jpeg(5 * MB)],
                Ok(()),
            ),
            case(
                "X JPEG over 5 MB is re-encoded to fit",
                X,
                "hi",
                vec![jpeg(5 * MB + 1)],
                Ok(()),
            ),
            case(
                "X GIF over 5 MB is refused, not flattened",
                X,
                "hi",
                vec![of_type("image/gif", 6 * MB)],
                Err(RuleViolation::ImageTooLarge {
                    provider: X,
                    image: 1,
                    limit: 5 * MB,
                    bytes: 6 * MB,
                }),
            ),
            case(
                "X TIFF cannot be converted",
                X,
                "hi",
                vec![jpeg(MB), of_type("image/tiff", MB)],
                Err(RuleViolation::UnsupportedImageType {
                    provider: X,
                    image: 2,
                    content_type: "image/tiff",
                    accepted: limits(X).image_types,
                }),
            ),
            case(
                "Instagram PNG becomes JPEG",
                Instagram,
                "hi",
                vec![of_type("image/png", 12 * MB)],
                Ok(()),
            ),
            case(
                "Instagram GIF becomes JPEG",
                Instagram,
                "hi",
                vec![of_type("image/gif", MB)],
                Ok(()),
            ),
            case(
                "Instagram JPEG over 8 MB is re-encoded",
                Instagram,
                "hi",
                vec![jpeg(9 * MB)],
                Ok(()),
            ),
            case(
                "Facebook WEBP becomes JPEG",
                FacebookPage,
                "hi",
                vec![of_type("image/webp", MB)],
                Ok(()),
            ),
            case(
                "Facebook GIF over 4 MB is refused",
                FacebookPage,
                "hi",
                vec![of_type("image/gif", 4 * MB + 1)],
                Err(RuleViolation::ImageTooLarge {
                    provider: FacebookPage,
                    image: 1,
                    limit: 4 * MB,
                    bytes: 4 * MB + 1,
                }),
            ),
            case(
                "Facebook TIFF over 4 MB cannot be shrunk",
                FacebookPage,
                "hi",
                vec![of_type("image/tiff", 5 * MB)],
                Err(RuleViolation::ImageTooLarge {
                    provider: FacebookPage,
                    image: 1,
                    limit: 4 * MB,
                    bytes: 5 * MB,
                }),
            ),
        ]);
    }

    #[test]
    fn a_target_that_takes_no_jpeg_gets_nothing_converted() {
        let png_only = Limits {
            image_types: &["image/png"],
            ..limits(Provider::FacebookPage)
        };
        let cases: &[(ImageFacts, Result<(), RuleViolation>)] = &[
            (of_type("image/png", MB), Ok(())),
            (
                jpeg(MB),
                Err(RuleViolation::UnsupportedImageType {
                    provider: Provider::FacebookPage,
                    image: 1,
                    content_type: "image/jpeg",
                    accepted: &["image/png"],
                }),
            ),
            (
                of_type("image/png", 5 * MB),
                Err(RuleViolation::ImageTooLarge {
                    provider: Provider::FacebookPage,
                    image: 1,
                    limit: 4 * MB,
                    bytes: 5 * MB,
                }),
            ),
        ];
        for (image, expected) in cases {
            let got = check(Provider::FacebookPage, &png_only, "hi", &[*image]);
            assert_eq!(&got, expected, "{image:?}");
        }
    }

    #[test]
    fn must_convert_picks_refused_types_and_oversized_still_images() {
        let cases: &[(Provider, ImageFacts, bool)] = &[
            (Provider::Instagram, jpeg(MB), false),
            (Provider::Instagram, jpeg(8 * MB + 1), true),
            (Provider::Instagram, of_type("image/png", MB), true),
            (Provider::Instagram, of_type("image/gif", MB), true),
            (Provider::Instagram, of_type("image/webp", MB), true),
            (Provider::X, of_type("image/png", MB), false),
            (Provider::X, of_type("image/png", 6 * MB), true),
            (Provider::X, of_type("image/gif", 6 * MB), false),
            (Provider::X, of_type("image/tiff", MB), false),
            (Provider::FacebookPage, of_type("image/webp", MB), true),
            (Provider::FacebookPage, of_type("image/tiff", 5 * MB), false),
        ];
        for (provider, image, expected) in cases {
            assert_eq!(
                must_convert(&limits(*provider), image),
                *expected,
                "{provider} {image:?}"
            );
        }
    }

    #[test]
    fn only_instagram_needs_jpeg() {
        let cases = [
            (Provider::X, false),
            (Provider::FacebookPage, false),
            (Provider::Instagram, true),
        ];
        for (provider, expected) in cases {
            assert_eq!(needs_jpeg(provider), expected, "{provider}");
            // Agrees with what the platform client declares.
            assert_eq!(
                limits(provider).image_types == ["image/jpeg"],
                expected,
                "{provider}"
            );
        }
    }

    #[test]
    fn text_length_counts_the_way_each_target_does() {
        let cases: &[(Provider, &str, usize)] = &[
            (Provider::X, "hello", 5),
            (Provider::X, "日本", 4),
            (Provider::X, "👍🏽", 2),
            (Provider::X, LONG_URL, 23),
            (Provider::Instagram, "日本", 2),
            (Provider::Instagram, LONG_URL, LONG_URL.len()),
            (Provider::FacebookPage, "café", 4),
        ];
        for (provider, text, expected) in cases {
            assert_eq!(text_length(*provider, text), *expected, "{provider} {text}");
        }
    }

    #[test]
    fn hashtags_are_counted_as_instagram_finds_them() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("#one", 1),
            ("#one #two,#three.", 3),
            ("#same #same", 2),
            ("#", 0),
            ("# spaced", 0),
            ("C# and F#", 0),
            ("a#b", 0),
            ("##double", 1),
            ("(#inparens)", 1),
            ("#café #日本 #snake_case #2024", 4),
            ("line\n#start", 1),
        ];
        for (text, expected) in cases {
            assert_eq!(count_hashtags(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn violations_read_as_one_sentence_naming_the_target_and_limit() {
        let cases: &[(RuleViolation, &str)] = &[
            (
                RuleViolation::TextTooLong {
                    provider: Provider::X,
                    limit: 280,
                    length: 301,
                },
                "X allows 280 characters (URLs count 23); this text has 301",
            ),
            (
                RuleViolation::TextTooLong {
                    provider: Provider::Instagram,
                    limit: 2200,
                    length: 2201,
                },
                "Instagram allows 2,200 characters; this caption has 2,201",
            ),
            (
                RuleViolation::TextTooLong {
                    provider: Provider::FacebookPage,
                    limit: 63_206,
                    length: 100_000,
                },
                "Facebook allows 63,206 characters; this text has 100,000",
            ),
            (
                RuleViolation::NeedsImage {
                    provider: Provider::Instagram,
                },
                "Instagram needs at least one image",
            ),
            (
                RuleViolation::Empty {
                    provider: Provider::X,
                },
                "X needs text or an image; this post has neither",
            ),
            (
                RuleViolation::TooManyHashtags {
                    provider: Provider::Instagram,
                    limit: 30,
                    count: 31,
                },
                "Instagram allows at most 30 hashtags; this caption has 31",
            ),
            (
                RuleViolation::TooManyImages {
                    provider: Provider::X,
                    limit: 4,
                    count: 5,
                },
                "X allows at most 4 images; this post has 5",
            ),
            (
                RuleViolation::ImageTooLarge {
                    provider: Provider::FacebookPage,
                    image: 2,
                    limit: 4 * MB,
                    bytes: 5_557_452,
                },
                "Facebook allows images up to 4 MB; image 2 is 5.3 MB",
            ),
            (
                RuleViolation::UnsupportedImageType {
                    provider: Provider::X,
                    image: 1,
                    content_type: "image/tiff",
                    accepted: &["image/jpeg", "image/png", "image/gif", "image/webp"],
                },
                "X takes only JPEG, PNG, GIF or WEBP images; image 1 is TIFF",
            ),
            (
                RuleViolation::UnsupportedImageType {
                    provider: Provider::Instagram,
                    image: 3,
                    content_type: "image/tiff",
                    accepted: &["image/jpeg"],
                },
                "Instagram takes only JPEG images; image 3 is TIFF",
            ),
        ];
        for (violation, expected) in cases {
            assert_eq!(violation.to_string(), *expected);
        }
    }
}
