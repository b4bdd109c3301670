//! `/export [images]`: everything autopost keeps about the person, sent privately: a JSON
//! file, or with `images` a zip holding that JSON and the pictures of their posts. A zip
//! larger than the chat lets a bot send is refused with where to get it instead.

use autopost::domain::ChatPlatform;
use autopost::export::ExportError;

use super::{Arg, ArgKind, Choice, Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, ReplyFile, code, plain};

/// What `/export` may send; Discord lists these as the option's choices.
const CONTENTS: &[Choice] = &[
    Choice {
        label: "your data (JSON)",
        value: "data",
    },
    Choice {
        label: "your data and your images (zip)",
        value: "images",
    },
];

/// `/export`.
pub const VERB: Verb = Verb::new(
    "export",
    "/export [images]",
    "your data as a file, sent privately",
    parse,
)
.args(
    &[Arg::optional(
        "what",
        ArgKind::Choice(CONTENTS),
        "data alone (JSON), or with your images (zip)",
    )],
    "/export images",
)
.private()
.before_consent();

/// The most a bot may send as one file: 50 MB on Telegram
/// (<https://core.telegram.org/bots/api#senddocument>), 10 MiB on Discord without server
/// boosts (<https://discord.com/developers/docs/reference#uploading-files>).
pub fn file_limit(platform: ChatPlatform) -> u64 {
    match platform {
        ChatPlatform::Telegram => 50 * 1000 * 1000,
        ChatPlatform::Discord => 10 * 1024 * 1024,
    }
}

fn parse(args: &str) -> Result<Command, ParseError> {
    match args.to_ascii_lowercase().as_str() {
        "" | "data" | "json" => Ok(Command::Export { images: false }),
        "images" | "image" | "pictures" | "zip" => Ok(Command::Export { images: true }),
        _ => Err(ParseError::UnknownExport {
            given: args.to_owned(),
        }),
    }
}

/// Exports the person's data, with their images when asked.
pub(crate) async fn run(ctx: &Context<'_>, images: bool) -> Reply {
    if !images {
        return match ctx.app.export_user(ctx.actor.user, ctx.now).await {
            Ok(json) => Reply::export(json),
            Err(e) => internal(&e),
        };
    }
    let limit = file_limit(ctx.platform);
    match ctx
        .app
        .export_user_archive(ctx.actor.user, limit, ctx.now)
        .await
    {
        Ok(zip) => Reply::export_archive(zip),
        Err(ExportError::TooLarge { size, limit }) => Reply::export_too_large(size, limit),
        Err(e) => internal(&e),
    }
}

impl Reply {
    /// `/export`: the user's data as a JSON file, privately.
    pub fn export(json: Vec<u8>) -> Reply {
        Reply::export_file(
            "Here is everything autopost keeps about you (no tokens or keys). Send /export images to have your pictures too.",
            ReplyFile {
                name: "autopost-export.json".to_owned(),
                bytes: json,
                mime: "application/json",
            },
        )
    }

    /// `/export images`: the zip of the data and the images, privately.
    pub fn export_archive(zip: Vec<u8>) -> Reply {
        Reply::export_file(
            "Here is everything autopost keeps about you (no tokens or keys): export.json, and your pictures in images/.",
            ReplyFile {
                name: "autopost-export.zip".to_owned(),
                bytes: zip,
                mime: "application/zip",
            },
        )
    }

    fn export_file(text: &str, file: ReplyFile) -> Reply {
        let mut reply = Reply::lines(vec![vec![plain(text)]]).privately();
        reply.file = Some(file);
        reply
    }

    /// `/export images` when the zip would pass the chat's file limit.
    pub fn export_too_large(size: u64, limit: u64) -> Reply {
        let mb = |bytes: u64| bytes.div_ceil(1_000_000);
        Reply::lines(vec![
            vec![plain(format!(
                "Your data with your images comes to about {} MB, more than this chat lets a bot send ({} MB).",
                mb(size),
                limit / 1_000_000
            ))],
            vec![
                plain("Send "),
                code("/export"),
                plain(
                    " for your data without the images, or ask the operator of this autopost for the whole export: they can make it with ",
                ),
                code("autopost export --images"),
                plain("."),
            ],
        ])
        .privately()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_a_private_json_file_or_zip() {
        let export = Reply::export(b"{}".to_vec());
        assert!(export.private);
        let file = export.file.unwrap();
        assert_eq!(
            (file.name.as_str(), file.mime),
            ("autopost-export.json", "application/json")
        );
        let zip = Reply::export_archive(b"PK".to_vec());
        assert!(zip.private);
        let file = zip.file.unwrap();
        assert_eq!(
            (file.name.as_str(), file.mime),
            ("autopost-export.zip", "application/zip")
        );
    }

    #[test]
    fn images_is_the_only_word_that_asks_for_the_zip() {
        assert_eq!(parse(""), Ok(Command::Export { images: false }));
        assert_eq!(parse("data"), Ok(Command::Export { images: false }));
        assert_eq!(parse("Images"), Ok(Command::Export { images: true }));
        let refused = parse("everything").unwrap_err().to_string();
        assert!(
            refused.contains("`/export images`") && refused.contains("`everything`"),
            "{refused}"
        );
    }

    #[test]
    fn a_zip_too_large_for_the_chat_sends_people_to_the_operator() {
        let reply = Reply::export_too_large(63_200_000, file_limit(ChatPlatform::Telegram));
        assert!(reply.private && reply.file.is_none());
        let text = reply.to_telegram_html();
        assert!(text.contains("about 64 MB"), "{text}");
        assert!(text.contains("(50 MB)"), "{text}");
        assert!(text.contains("ask the operator"), "{text}");
        assert!(text.contains("autopost export --images"), "{text}");
    }
}
