//! Chat text into a `Command`: `/verb@Bot` addressing, the verb looked up in the table of
//! `verbs` (which reads its own arguments), the plain `WHEN | TEXT` of a private chat, and the
//! argument forms verbs share (`WHEN | TEXT`, post ids). Pure: the time phrase itself is left
//! to the core's `timeparse`.

use autopost::domain::PostId;

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

/// Which form a `WHEN | TEXT` belonged to, for the example in the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostForm {
    /// `/post WHEN | TEXT`.
    Post,
    /// `/edit ID WHEN | TEXT`.
    Edit,
    /// A plain private message `WHEN | TEXT`.
    Plain,
}

impl PostForm {
    fn example(self) -> &'static str {
        match self {
            PostForm::Post => "`/post tomorrow 9am | Launch day!` or `/post in 2h | Coffee break`",
            PostForm::Edit => "`/edit 17 tomorrow 9am | Launch day!`",
            PostForm::Plain => "`tomorrow 9am | Launch day!` or `now | Hello`",
        }
    }
}

/// Why a message could not be read as a command. Every message is one sentence a chat user
/// understands, ending with what to type; backticks mark what to type literally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `/verb` is not one of ours.
    #[error("I don't know the command /{verb}; send /help to see what I can do")]
    UnknownCommand {
        /// The verb as typed, without `/` and `@Bot`.
        verb: String,
    },
    /// No `|` between the time and the text (or nothing at all after the verb).
    #[error("write when, then a | and the text, such as {}", .form.example())]
    MissingSeparator {
        /// The form that was meant.
        form: PostForm,
    },
    /// Nothing before the `|`.
    #[error("say when to post before the |, such as {}", .form.example())]
    EmptyWhen {
        /// The form that was meant.
        form: PostForm,
    },
    /// Nothing after the `|`.
    #[error("write the text of the post after the |, such as {}", .form.example())]
    EmptyText {
        /// The form that was meant.
        form: PostForm,
    },
    /// `/cancel`, `/edit` or `/postnow` without a post id.
    #[error("say which post, by the number /queue shows, such as `{}`", id_example(.verb))]
    MissingPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
    },
    /// What stands where the post id belongs is not one.
    #[error(
        "`{given}` is not a post number; use the number /queue shows, such as `{}`",
        id_example(.verb)
    )]
    BadPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
        /// What was typed.
        given: String,
    },
    /// `/connect` without a platform.
    #[error("say where to connect: `/connect x`, `/connect facebook` or `/connect instagram`")]
    MissingPlatform,
    /// `/connect` with a platform we do not know.
    #[error(
        "I can't connect `{given}`; use `/connect x`, `/connect facebook` or `/connect instagram`"
    )]
    UnknownPlatform {
        /// What was typed.
        given: String,
    },
    /// `/disconnect` without an account.
    #[error("say which account to disconnect, as /accounts lists it, such as `/disconnect @alice`")]
    MissingAccount,
    /// `/timezone` with a name that is no IANA zone.
    #[error(
        "`{given}` is not a time zone I know; use a zone name such as `/timezone Europe/Berlin`, `/timezone America/New_York` or `/timezone UTC`"
    )]
    UnknownZone {
        /// What was typed.
        given: String,
    },
    /// `/timezone` with an abbreviation (`PST`): a fixed offset, or several zones' name.
    #[error(
        "`{given}` is an abbreviation, and a zone name keeps daylight saving right; use one such as `/timezone {suggestion}`"
    )]
    ZoneAbbreviation {
        /// What was typed, uppercased.
        given: String,
        /// A zone name it usually means.
        suggestion: &'static str,
    },
    /// A plain message without `|` in a private chat.
    #[error(
        "to schedule a post, send when, a | and the text, such as `tomorrow 9am | Launch day!` or `now | Hello`, or send /help to see every command"
    )]
    NotAPost,
}

fn id_example(verb: &str) -> &'static str {
    match verb {
        "edit" => "/edit 17 tomorrow 9am | New text",
        "postnow" => "/postnow 17",
        _ => "/cancel 17",
    }
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
        return Ok(Some(Command::Post { when, text }));
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

/// Splits `WHEN | TEXT` at the first `|`; the text may contain more.
pub(crate) fn split_when_text(args: &str, form: PostForm) -> Result<(String, String), ParseError> {
    let (when, text) = args
        .split_once('|')
        .ok_or(ParseError::MissingSeparator { form })?;
    let (when, text) = (when.trim(), text.trim());
    if when.is_empty() {
        return Err(ParseError::EmptyWhen { form });
    }
    if text.is_empty() {
        return Err(ParseError::EmptyText { form });
    }
    Ok((when.to_owned(), text.to_owned()))
}

pub(crate) fn only_post_id(verb: &'static str, args: &str) -> Result<PostId, ParseError> {
    if args.split_whitespace().nth(1).is_some() {
        return Err(ParseError::BadPostId {
            verb,
            given: args.to_owned(),
        });
    }
    post_id(verb, args)
}

/// `17` or `#17`: a positive number.
pub(crate) fn post_id(verb: &'static str, token: &str) -> Result<PostId, ParseError> {
    if token.is_empty() {
        return Err(ParseError::MissingPostId { verb });
    }
    let digits = token.strip_prefix('#').unwrap_or(token);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(PostId(id)),
        _ => Err(ParseError::BadPostId {
            verb,
            given: token.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

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
        })
    }

    #[test]
    fn every_verb_parses_in_any_case_with_extra_spaces_and_our_name() {
        let berlin = Some(chrono_tz::Europe::Berlin);
        let cases: &[(&str, Option<Command>)] = &[
            ("/start", Some(Command::Start)),
            ("/start deep-link-payload", Some(Command::Start)),
            ("/HELP", Some(Command::Help)),
            ("/help@AutopostBot", Some(Command::Help)),
            ("/help@autopostbot", Some(Command::Help)),
            ("  /queue  ", Some(Command::Queue)),
            ("/History", Some(Command::History)),
            ("/accounts", Some(Command::Accounts)),
            ("/export", Some(Command::Export)),
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
                    when: "friday 5pm".into(),
                    text: "New text | with pipe".into(),
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
            ("/cancel", GROUP, E::MissingPostId { verb: "cancel" }),
            (
                "/cancel abc",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "abc".into(),
                },
            ),
            (
                "/cancel 0",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "0".into(),
                },
            ),
            (
                "/cancel -3",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "-3".into(),
                },
            ),
            (
                "/cancel +3",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "+3".into(),
                },
            ),
            (
                "/cancel 17 18",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "17 18".into(),
                },
            ),
            (
                "/cancel 99999999999999999999",
                GROUP,
                E::BadPostId {
                    verb: "cancel",
                    given: "99999999999999999999".into(),
                },
            ),
            ("/postnow", GROUP, E::MissingPostId { verb: "postnow" }),
            ("/edit", GROUP, E::MissingPostId { verb: "edit" }),
            (
                "/edit tomorrow | x",
                GROUP,
                E::BadPostId {
                    verb: "edit",
                    given: "tomorrow".into(),
                },
            ),
            (
                "/edit 17",
                GROUP,
                E::MissingSeparator {
                    form: PostForm::Edit,
                },
            ),
            (
                "/edit 17 | x",
                GROUP,
                E::EmptyWhen {
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
            "/edit 3 now",
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
