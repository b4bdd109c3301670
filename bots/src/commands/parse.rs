//! Chat text into a `Command`: verbs, `/verb@Bot` addressing, `WHEN | TEXT`, post ids, platforms
//! and time zones. Pure: the time phrase itself is left to the core's `timeparse`.

use std::fmt;

use autopost::domain::{OAuthProvider, PostId, Provider};
use chrono_tz::Tz;

/// What a chat message asks autopost to do (SPEC section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start`: what autopost does, the privacy notice, examples.
    Start,
    /// `/help`: the same, as a reference.
    Help,
    /// `/post WHEN | TEXT`, or in a private chat the plain message `WHEN | TEXT`.
    Post {
        /// The time phrase, trimmed and non-empty, for the core to read.
        when: String,
        /// The post's text, trimmed and non-empty; may contain `|` and line breaks.
        text: String,
    },
    /// `/queue`: the chat's pending posts.
    Queue,
    /// `/cancel ID`.
    Cancel {
        /// The post.
        post: PostId,
    },
    /// `/edit ID WHEN | TEXT`.
    Edit {
        /// The post.
        post: PostId,
        /// The new time phrase.
        when: String,
        /// The new text.
        text: String,
    },
    /// `/postnow ID`.
    PostNow {
        /// The post.
        post: PostId,
    },
    /// `/history`: recent outcomes with links.
    History,
    /// `/connect x|facebook|instagram`: a private one-time link that starts OAuth.
    Connect {
        /// Where to link an account.
        platform: ConnectTarget,
    },
    /// `/accounts`: the chat's linked accounts.
    Accounts,
    /// `/disconnect ACCOUNT`: unlink and revoke.
    Disconnect {
        /// The account as typed (a name or @handle); the runner matches it against `/accounts`.
        account: String,
    },
    /// `/timezone [ZONE]`.
    TimeZone {
        /// The new zone; `None` asks for the current one.
        zone: Option<Tz>,
    },
    /// `/export`: the user's data as a JSON file, privately.
    Export,
    /// `/deleteme`: erase the user, after a confirmation button.
    DeleteMe,
}

/// The platform a `/connect` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectTarget {
    /// An X account.
    X,
    /// Facebook Pages.
    Facebook,
    /// Instagram business accounts (linked through Meta, with their Facebook Page).
    Instagram,
}

impl ConnectTarget {
    /// Whose OAuth round trip links this kind of account.
    pub fn oauth_provider(self) -> OAuthProvider {
        match self {
            ConnectTarget::X => OAuthProvider::X,
            ConnectTarget::Facebook | ConnectTarget::Instagram => OAuthProvider::Meta,
        }
    }

    /// The kind of account it links.
    pub fn provider(self) -> Provider {
        match self {
            ConnectTarget::X => Provider::X,
            ConnectTarget::Facebook => Provider::FacebookPage,
            ConnectTarget::Instagram => Provider::Instagram,
        }
    }

    /// A human name: `X`, `Facebook`, `Instagram`.
    pub fn label(self) -> &'static str {
        match self {
            ConnectTarget::X => "X",
            ConnectTarget::Facebook => "Facebook",
            ConnectTarget::Instagram => "Instagram",
        }
    }
}

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

/// Why a message could not be read as a command. Every `Display` is one sentence a chat user
/// understands, ending with what to type; backticks mark what to type literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `/verb` is not one of ours.
    UnknownCommand {
        /// The verb as typed, without `/` and `@Bot`.
        verb: String,
    },
    /// No `|` between the time and the text (or nothing at all after the verb).
    MissingSeparator {
        /// The form that was meant.
        form: PostForm,
    },
    /// Nothing before the `|`.
    EmptyWhen {
        /// The form that was meant.
        form: PostForm,
    },
    /// Nothing after the `|`.
    EmptyText {
        /// The form that was meant.
        form: PostForm,
    },
    /// `/cancel`, `/edit` or `/postnow` without a post id.
    MissingPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
    },
    /// What stands where the post id belongs is not one.
    BadPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
        /// What was typed.
        given: String,
    },
    /// `/connect` without a platform.
    MissingPlatform,
    /// `/connect` with a platform we do not know.
    UnknownPlatform {
        /// What was typed.
        given: String,
    },
    /// `/disconnect` without an account.
    MissingAccount,
    /// `/timezone` with a name that is no IANA zone.
    UnknownZone {
        /// What was typed.
        given: String,
    },
    /// `/timezone` with an abbreviation (`PST`): a fixed offset, or several zones' name.
    ZoneAbbreviation {
        /// What was typed, uppercased.
        given: String,
        /// A zone name it usually means.
        suggestion: &'static str,
    },
    /// A plain message without `|` in a private chat.
    NotAPost,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand { verb } => write!(
                f,
                "I don't know the command /{verb}; send /help to see what I can do"
            ),
            ParseError::MissingSeparator { form } => write!(
                f,
                "write when, then a | and the text, such as {}",
                form.example()
            ),
            ParseError::EmptyWhen { form } => write!(
                f,
                "say when to post before the |, such as {}",
                form.example()
            ),
            ParseError::EmptyText { form } => write!(
                f,
                "write the text of the post after the |, such as {}",
                form.example()
            ),
            ParseError::MissingPostId { verb } => write!(
                f,
                "say which post, by the number /queue shows, such as `{}`",
                id_example(verb)
            ),
            ParseError::BadPostId { verb, given } => write!(
                f,
                "`{given}` is not a post number; use the number /queue shows, such as `{}`",
                id_example(verb)
            ),
            ParseError::MissingPlatform => f.write_str(
                "say where to connect: `/connect x`, `/connect facebook` or `/connect instagram`",
            ),
            ParseError::UnknownPlatform { given } => write!(
                f,
                "I can't connect `{given}`; use `/connect x`, `/connect facebook` or `/connect instagram`"
            ),
            ParseError::MissingAccount => f.write_str(
                "say which account to disconnect, as /accounts lists it, such as `/disconnect @alice`",
            ),
            ParseError::UnknownZone { given } => write!(
                f,
                "`{given}` is not a time zone I know; use a zone name such as `/timezone Europe/Berlin`, `/timezone America/New_York` or `/timezone UTC`"
            ),
            ParseError::ZoneAbbreviation { given, suggestion } => write!(
                f,
                "`{given}` is an abbreviation, and a zone name keeps daylight saving right; use one such as `/timezone {suggestion}`"
            ),
            ParseError::NotAPost => f.write_str(
                "to schedule a post, send when, a | and the text, such as `tomorrow 9am | Launch day!` or `now | Hello`, or send /help to see every command",
            ),
        }
    }
}

impl std::error::Error for ParseError {}

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
    let command = match verb.as_str() {
        // Arguments of the argument-less verbs are ignored: `/start` carries Telegram's
        // deep-link payload, and `/queue please` should still show the queue.
        "start" => Command::Start,
        "help" => Command::Help,
        "queue" => Command::Queue,
        "history" => Command::History,
        "accounts" => Command::Accounts,
        "export" => Command::Export,
        "deleteme" => Command::DeleteMe,
        "post" => {
            let (when, text) = split_when_text(args, PostForm::Post)?;
            Command::Post { when, text }
        }
        "cancel" => Command::Cancel {
            post: only_post_id("cancel", args)?,
        },
        "postnow" => Command::PostNow {
            post: only_post_id("postnow", args)?,
        },
        "edit" => {
            let (id, rest) = match args.split_once(char::is_whitespace) {
                Some((id, rest)) => (id, rest.trim()),
                None => (args, ""),
            };
            let post = post_id("edit", id)?;
            let (when, text) = split_when_text(rest, PostForm::Edit)?;
            Command::Edit { post, when, text }
        }
        "connect" => Command::Connect {
            platform: connect_target(args)?,
        },
        "disconnect" if args.is_empty() => return Err(ParseError::MissingAccount),
        "disconnect" => Command::Disconnect {
            account: args.to_owned(),
        },
        "timezone" => Command::TimeZone {
            zone: if args.is_empty() {
                None
            } else {
                Some(time_zone(args)?)
            },
        },
        // In a group several bots may share a command list; only answer one that is ours by
        // name, so that other bots' commands do not draw an error from us.
        _ if !context.is_private && !addressed_to_us => return Ok(None),
        _ => return Err(ParseError::UnknownCommand { verb }),
    };
    Ok(Some(command))
}

/// Splits `WHEN | TEXT` at the first `|`; the text may contain more.
fn split_when_text(args: &str, form: PostForm) -> Result<(String, String), ParseError> {
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

fn only_post_id(verb: &'static str, args: &str) -> Result<PostId, ParseError> {
    if args.split_whitespace().nth(1).is_some() {
        return Err(ParseError::BadPostId {
            verb,
            given: args.to_owned(),
        });
    }
    post_id(verb, args)
}

/// `17` or `#17`: a positive number.
fn post_id(verb: &'static str, token: &str) -> Result<PostId, ParseError> {
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

fn connect_target(args: &str) -> Result<ConnectTarget, ParseError> {
    if args.is_empty() {
        return Err(ParseError::MissingPlatform);
    }
    match args.to_ascii_lowercase().as_str() {
        "x" | "twitter" => Ok(ConnectTarget::X),
        "facebook" | "fb" => Ok(ConnectTarget::Facebook),
        "instagram" | "ig" | "insta" => Ok(ConnectTarget::Instagram),
        _ => Err(ParseError::UnknownPlatform {
            given: args.to_owned(),
        }),
    }
}

/// Abbreviations people type for their zone, and the zone name they usually mean. Setting
/// one of these literally would pin a fixed offset (or not exist), so the user is asked to use
/// the name instead.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("mst", "America/Denver"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("hst", "Pacific/Honolulu"),
    ("akst", "America/Anchorage"),
    ("akdt", "America/Anchorage"),
    ("bst", "Europe/London"),
    ("wet", "Europe/Lisbon"),
    ("west", "Europe/Lisbon"),
    ("cet", "Europe/Berlin"),
    ("cest", "Europe/Berlin"),
    ("met", "Europe/Berlin"),
    ("eet", "Europe/Athens"),
    ("eest", "Europe/Athens"),
    ("msk", "Europe/Moscow"),
    ("ist", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("kst", "Asia/Seoul"),
    ("sgt", "Asia/Singapore"),
    ("hkt", "Asia/Hong_Kong"),
    ("aest", "Australia/Sydney"),
    ("aedt", "Australia/Sydney"),
    ("acst", "Australia/Adelaide"),
    ("awst", "Australia/Perth"),
    ("nzst", "Pacific/Auckland"),
    ("nzdt", "Pacific/Auckland"),
];

/// An IANA zone in any case, with spaces for underscores (`america/new york`), `UTC`/`GMT`/`Z`,
/// or a unique city (`berlin`, `new york`).
fn time_zone(args: &str) -> Result<Tz, ParseError> {
    let wanted = args.split_whitespace().collect::<Vec<_>>().join("_");
    let lower = wanted.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "utc" | "gmt" | "z" | "zulu" | "etc/utc" | "etc/gmt"
    ) {
        return Ok(Tz::UTC);
    }
    if let Some((_, suggestion)) = ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
        return Err(ParseError::ZoneAbbreviation {
            given: wanted.to_ascii_uppercase(),
            suggestion,
        });
    }
    let zones = chrono_tz::TZ_VARIANTS.iter();
    if let Some(tz) = zones
        .clone()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
    {
        return Ok(*tz);
    }
    if !wanted.contains('/') {
        let mut cities = zones.filter(|tz| {
            tz.name()
                .rsplit('/')
                .next()
                .is_some_and(|city| city.eq_ignore_ascii_case(&wanted))
        });
        if let (Some(tz), None) = (cities.next(), cities.next()) {
            return Ok(*tz);
        }
    }
    Err(ParseError::UnknownZone {
        given: args.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn connect_targets_map_to_their_oauth_provider() {
        assert_eq!(ConnectTarget::X.oauth_provider(), OAuthProvider::X);
        assert_eq!(
            ConnectTarget::Facebook.oauth_provider(),
            OAuthProvider::Meta
        );
        assert_eq!(ConnectTarget::Instagram.provider(), Provider::Instagram);
    }
}
