//! Chat text into a `Command`: `/verb@Bot` addressing, the verb looked up in the table of
//! `verbs` (which reads its own arguments), and the plain `WHEN | TEXT` of a private chat.
//! Pure: the time phrase itself is left to the core's `timeparse`.

use super::args::{ParseError, PostForm, split_when_text};
use super::verbs::{self, Command};

/// Where the message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseContext<'a> {
    /// Our bot's username without `@` (Telegram); `None` where commands are not addressed
    /// (Discord), so that `/verb@Name` is taken as ours.
    pub bot_username: Option<&'a str>,
    /// A one-to-one chat with the bot: plain `WHEN | TEXT` messages are posts there.
    pub is_private: bool,
}

/// Reads one chat message (or an image's caption).
///
/// `Ok(None)` means the message is not for us: empty, a command addressed to another bot, an
/// unknown command in a group that was not addressed to us by name (other bots may own it), or
/// plain chat in a group. In a private chat, a plain `WHEN | TEXT` is a post and other plain
/// text is an error that explains how to post.
pub fn parse(text: &str, context: ParseContext<'_>) -> Result<Option<Command>, ParseError> {
    let text = text.trim();
    let Some(command) = text.strip_prefix('/') else {
        if !context.is_private || text.is_empty() {
            return Ok(None);
        }
        if !text.contains('|') {
            return Err(ParseError::NotAPost);
        }
        let (when, text) = split_when_text(text, PostForm::Plain)?;
        return Ok(Some(Command::Post {
            when,
            text,
            to: Vec::new(),
        }));
    };
    let (head, args) = match command.split_once(char::is_whitespace) {
        Some((head, args)) => (head, args.trim()),
        None => (command, ""),
    };
    let (verb, addressee) = match head.split_once('@') {
        Some((verb, addressee)) => (verb, Some(addressee)),
        None => (head, None),
    };
    let addressed_to_us = match (addressee, context.bot_username) {
        (Some(addressee), Some(ours)) => {
            if !addressee.eq_ignore_ascii_case(ours.trim_start_matches('@')) {
                return Ok(None);
            }
            true
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    let verb = verb.to_ascii_lowercase();
    match verbs::find(&verb) {
        Some(found) => (found.parse)(args).map(Some),
        // In a group several bots may share a command list; only answer one that is ours by
        // name, so that other bots' commands do not draw an error from us.
        None if !context.is_private && !addressed_to_us => Ok(None),
        None => Err(ParseError::UnknownCommand { verb }),
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use autopost::domain::PostId;

    use super::*;
    use crate::commands::verbs::ConnectTarget;

    const PRIVATE: ParseContext<'static> = ParseContext {
        bot_username: Some("AutopostBot"),
        is_private: true,
    };
    const GROUP: ParseContext<'static> = ParseContext {
        bot_username: Some("AutopostBot"),
        is_private: false,
    };
    const DISCORD: ParseContext<'static> = ParseContext {
        bot_username: None,
        is_private: false,
    };

    fn post(when: &str, text: &str) -> Option<Command> {
        Some(Command::Post {
            when: when.into(),
            text: text.into(),
            to: Vec::new(),
        })
    }

    #[test]
    fn every_verb_parses_in_any_case_with_extra_spaces_and_our_name() {
        let berlin = Some(chrono_tz::Europe::Berlin);
        let cases: &[(&str, Option<Command>)] = &[
            ("/start", Some(Command::Start { resume: None })),
            (
                "/start deep-link-payload",
                Some(Command::Start { resume: None }),
            ),
            (
                "/start export",
                Some(Command::Start {
                    resume: Some("export"),
                }),
            ),
            ("/HELP", Some(Command::Help)),
            ("/help@AutopostBot", Some(Command::Help)),
            ("/help@autopostbot", Some(Command::Help)),
            ("  /queue  ", Some(Command::Queue)),
            ("/History", Some(Command::History)),
            ("/accounts", Some(Command::Accounts)),
            ("/export", Some(Command::Export { images: false })),
            ("/export images", Some(Command::Export { images: true })),
            ("/deleteme", Some(Command::DeleteMe)),
            (
                "/post tomorrow 9am | Launch day!",
                post("tomorrow 9am", "Launch day!"),
            ),
            ("/POST@AutopostBot   now|hi", post("now", "hi")),
            (
                "/post\ntomorrow 9am\n| line one\nline two",
                post("tomorrow 9am", "line one\nline two"),
            ),
            ("/post in 2h | a | b || c", post("in 2h", "a | b || c")),
            ("/cancel 17", Some(Command::Cancel { post: PostId(17) })),
            ("/cancel   #17 ", Some(Command::Cancel { post: PostId(17) })),
            ("/postnow #4", Some(Command::PostNow { post: PostId(4) })),
            (
                "/edit #17 friday 5pm | New text | with pipe",
                Some(Command::Edit {
                    post: PostId(17),
                    when: Some("friday 5pm".into()),
                    text: Some("New text | with pipe".into()),
                }),
            ),
            (
                "/edit 17 tomorrow 9am",
                Some(Command::Edit {
                    post: PostId(17),
                    when: Some("tomorrow 9am".into()),
                    text: None,
                }),
            ),
            (
                "/edit 17 | only the text",
                Some(Command::Edit {
                    post: PostId(17),
                    when: None,
                    text: Some("only the text".into()),
                }),
            ),
            (
                "/connect x",
                Some(Command::Connect {
                    platform: ConnectTarget::X,
                }),
            ),
            (
                "/connect Twitter",
                Some(Command::Connect {
                    platform: ConnectTarget::X,
                }),
            ),
            (
                "/connect FACEBOOK",
                Some(Command::Connect {
                    platform: ConnectTarget::Facebook,
                }),
            ),
            (
                "/connect instagram",
                Some(Command::Connect {
                    platform: ConnectTarget::Instagram,
                }),
            ),
            (
                "/disconnect @alice",
                Some(Command::Disconnect {
                    account: "@alice".into(),
                }),
            ),
            (
                "/disconnect  Alice's Bakery ",
                Some(Command::Disconnect {
                    account: "Alice's Bakery".into(),
                }),
            ),
            ("/timezone", Some(Command::TimeZone { zone: None })),
            (
                "/timezone Europe/Berlin",
                Some(Command::TimeZone { zone: berlin }),
            ),
            (
                "/timezone europe/berlin",
                Some(Command::TimeZone { zone: berlin }),
            ),
            ("/timezone berlin", Some(Command::TimeZone { zone: berlin })),
            (
                "/timezone UTC",
                Some(Command::TimeZone {
                    zone: Some(Tz::UTC),
                }),
            ),
            (
                "/timezone gmt",
                Some(Command::TimeZone {
                    zone: Some(Tz::UTC),
                }),
            ),
            (
                "/timezone america/new york",
                Some(Command::TimeZone {
                    zone: Some(chrono_tz::America::New_York),
                }),
            ),
            (
                "/timezone New York",
                Some(Command::TimeZone {
                    zone: Some(chrono_tz::America::New_York),
                }),
            ),
        ];
        for (input, expected) in cases {
            for context in [PRIVATE, GROUP, DISCORD] {
                assert_eq!(
                    &parse(input, context),
                    &Ok(expected.clone()),
                    "{input:?} in {context:?}"
                );
            }
        }
    }

    #[test]
    fn messages_not_for_us_are_ignored() {
        let cases: &[(&str, ParseContext<'_>)] = &[
            ("", PRIVATE),
            ("   ", GROUP),
            ("/post@OtherBot now | hi", GROUP),
            ("/help@OtherBot", PRIVATE),
            ("hello everyone", GROUP),
            (
                "tomorrow 9am | plain text in a group is chat, not a post",
                GROUP,
            ),
            ("/weather", GROUP),
            ("/weather", DISCORD),
        ];
        for (input, context) in cases {
            assert_eq!(parse(input, *context), Ok(None), "{input:?} in {context:?}");
        }
    }

    #[test]
    fn a_plain_private_message_with_a_pipe_is_a_post() {
        assert_eq!(
            parse("tomorrow 9am | Launch day!", PRIVATE),
            Ok(post("tomorrow 9am", "Launch day!"))
        );
        assert_eq!(parse("  now|a|b ", PRIVATE), Ok(post("now", "a|b")));
    }

    #[test]
    fn refusals_name_the_problem() {
        use ParseError as E;
        let cases: &[(&str, ParseContext<'_>, ParseError)] = &[
            (
                "/weather",
                PRIVATE,
                E::UnknownCommand {
                    verb: "weather".into(),
                },
            ),
            (
                "/Weather@AutopostBot",
                GROUP,
                E::UnknownCommand {
                    verb: "weather".into(),
                },
            ),
            (
                "/post",
                GROUP,
                E::MissingSeparator {
                    form: PostForm::Post,
                },
            ),
            (
                "/post tomorrow 9am launch",
                GROUP,
                E::MissingSeparator {
                    form: PostForm::Post,
                },
            ),
            (
                "/post | launch",
                GROUP,
                E::EmptyWhen {
                    form: PostForm::Post,
                },
            ),
            (
                "/post tomorrow 9am |   ",
                GROUP,
                E::EmptyText {
                    form: PostForm::Post,
                },
            ),
            ("hello bot", PRIVATE, E::NotAPost),
            (
                " | hello",
                PRIVATE,
                E::EmptyWhen {
                    form: PostForm::Plain,
                },
            ),
            (
                "now |",
                PRIVATE,
                E::EmptyText {
                    form: PostForm::Plain,
                },
            ),
            (
                "/cancel",
                GROUP,
                E::MissingPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                },
            ),
            (
                "/cancel abc",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "abc".into(),
                },
            ),
            (
                "/cancel 0",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "0".into(),
                },
            ),
            (
                "/cancel -3",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "-3".into(),
                },
            ),
            (
                "/cancel +3",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "+3".into(),
                },
            ),
            (
                "/cancel 17 18",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "17 18".into(),
                },
            ),
            (
                "/cancel 99999999999999999999",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    example: "/cancel 17",
                    given: "99999999999999999999".into(),
                },
            ),
            (
                "/postnow",
                GROUP,
                E::MissingPostId {
                    verb: "postnow",
                    example: "/postnow 17",
                },
            ),
            (
                "/edit",
                GROUP,
                E::MissingPostId {
                    verb: "edit",
                    example: "/edit 17 friday 5pm | New text",
                },
            ),
            (
                "/edit tomorrow | x",
                GROUP,
                E::BadPostId {
                    verb: "edit",
                    example: "/edit 17 friday 5pm | New text",
                    given: "tomorrow".into(),
                },
            ),
            (
                "/edit 17 in 1h |",
                GROUP,
                E::EmptyText {
                    form: PostForm::Edit,
                },
            ),
            ("/connect", GROUP, E::MissingPlatform),
            (
                "/connect myspace",
                GROUP,
                E::UnknownPlatform {
                    given: "myspace".into(),
                },
            ),
            ("/disconnect", GROUP, E::MissingAccount),
            (
                "/timezone Mars/Olympus",
                GROUP,
                E::UnknownZone {
                    given: "Mars/Olympus".into(),
                },
            ),
            (
                "/timezone +05:30",
                GROUP,
                E::UnknownZone {
                    given: "+05:30".into(),
                },
            ),
            (
                "/timezone pst",
                GROUP,
                E::ZoneAbbreviation {
                    given: "PST".into(),
                    suggestion: "America/Los_Angeles",
                },
            ),
        ];
        for (input, context, expected) in cases {
            assert_eq!(&parse(input, *context), &Err(expected.clone()), "{input:?}");
        }
    }

    #[test]
    fn every_refusal_is_one_sentence_that_ends_with_what_to_type() {
        let errors = [
            "/weather",
            "/post",
            "/post | x",
            "/post now |",
            "/edit 3 now |",
            "hello",
            "/cancel",
            "/postnow x",
            "/edit",
            "/connect",
            "/connect myspace",
            "/disconnect",
            "/timezone Mars",
            "/timezone EST",
        ]
        .map(|input| parse(input, PRIVATE).unwrap_err().to_string());
        for message in errors {
            assert!(!message.contains(". "), "one sentence: {message}");
            assert!(
                message.ends_with('`') || message.ends_with("command") || message.ends_with("do"),
                "ends with what to type: {message}"
            );
            assert!(
                message.matches('`').count().is_multiple_of(2),
                "balanced backticks: {message}"
            );
        }
        assert_eq!(
            parse("/post tomorrow 9am", PRIVATE)
                .unwrap_err()
                .to_string(),
            "write when, then a | and the text, such as `/post tomorrow 9am | Launch day!` or `/post in 2h | Coffee break`"
        );
        assert!(
            parse("hi", PRIVATE)
                .unwrap_err()
                .to_string()
                .contains("`tomorrow 9am | Launch day!`")
        );
        assert!(
            parse("/connect", PRIVATE)
                .unwrap_err()
                .to_string()
                .contains("`/connect instagram`")
        );
        assert!(
            parse("/weather", PRIVATE)
                .unwrap_err()
                .to_string()
                .contains("/help")
        );
        assert!(
            parse("/timezone Mars", PRIVATE)
                .unwrap_err()
                .to_string()
                .contains("Europe/Berlin")
        );
    }
}
