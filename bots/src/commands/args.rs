//! The argument forms verbs share (`WHEN | TEXT`, post numbers, arguments given by name as
//! Discord's options give them) and why reading a command can fail. Below the verbs: each
//! verb's parsers use these.

use autopost::domain::PostId;

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
    pub(crate) fn example(self) -> &'static str {
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
    /// `/post to` without an account after it.
    #[error(
        "say which accounts after `to`, by name or platform, such as `/post to x,facebook tomorrow 9am | Launch day!`"
    )]
    MissingTargets,
    /// `/cancel`, `/edit` or `/postnow` without a post id.
    #[error("say which post, by the number /queue shows, such as `{example}`")]
    MissingPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
        /// The verb's example.
        example: &'static str,
    },
    /// What stands where the post id belongs is not one.
    #[error("`{given}` is not a post number; use the number /queue shows, such as `{example}`")]
    BadPostId {
        /// The verb, e.g. `cancel`.
        verb: &'static str,
        /// The verb's example.
        example: &'static str,
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
        "`{given}` is not a time zone or city I know; give a zone name or a big city near you, such as `/timezone Europe/Berlin`, `/timezone Lisbon`, `/timezone new york` or `/timezone UTC`"
    )]
    UnknownZone {
        /// What was typed.
        given: String,
    },
    /// `/timezone` given both the person's zone and the chat's (Discord options).
    #[error("give either `zone` (yours) or `chat` (this chat's, for admins), not both")]
    TwoZones,
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
    /// `/export` with something other than `images`.
    #[error(
        "I can't export `{given}`; send `/export` for your data, or `/export images` for your data with your pictures as a zip"
    )]
    UnknownExport {
        /// What was typed.
        given: String,
    },
    /// A plain message without `|` in a private chat.
    #[error(
        "to schedule a post, send when, a | and the text, such as `tomorrow 9am | Launch day!` or `now | Hello`, or send /help to see every command"
    )]
    NotAPost,
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

/// The one post number that is all of `args`, for `verb` (whose example a refusal shows).
pub(crate) fn only_post_id(
    verb: &'static str,
    example: &'static str,
    args: &str,
) -> Result<PostId, ParseError> {
    if args.split_whitespace().nth(1).is_some() {
        return Err(ParseError::BadPostId {
            verb,
            example,
            given: args.to_owned(),
        });
    }
    post_id(verb, example, args)
}

/// `17` or `#17`: a positive number.
pub(crate) fn post_id(
    verb: &'static str,
    example: &'static str,
    token: &str,
) -> Result<PostId, ParseError> {
    if token.is_empty() {
        return Err(ParseError::MissingPostId { verb, example });
    }
    let digits = token.strip_prefix('#').unwrap_or(token);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(PostId(id)),
        _ => Err(ParseError::BadPostId {
            verb,
            example,
            given: token.to_owned(),
        }),
    }
}

/// `when` and `text` given by name, checked as [`split_when_text`] checks them: trimmed
/// and non-empty. A `|` in `when` is refused (it would read differently as a message).
pub(crate) fn when_and_text(
    named: &NamedArgs,
    form: PostForm,
) -> Result<(String, String), ParseError> {
    let when = named.text("when").unwrap_or_default();
    let text = named.text("text").unwrap_or_default();
    let (when, text) = (when.trim(), text.trim());
    if when.is_empty() || when.contains('|') {
        return Err(ParseError::EmptyWhen { form });
    }
    if text.is_empty() {
        return Err(ParseError::EmptyText { form });
    }
    Ok((when.to_owned(), text.to_owned()))
}

/// One value of an argument given by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// Text (Discord STRING options).
    Text(String),
    /// A whole number (Discord INTEGER options).
    Integer(i64),
}

impl ArgValue {
    /// The value as text, as a chat message would carry it.
    pub fn as_text(&self) -> String {
        match self {
            ArgValue::Text(text) => text.clone(),
            ArgValue::Integer(number) => number.to_string(),
        }
    }
}

/// Arguments given by name (Discord's slash-command options) rather than in one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedArgs(Vec<(String, ArgValue)>);

impl NamedArgs {
    /// These name and value pairs.
    pub fn new(values: Vec<(String, ArgValue)>) -> Self {
        Self(values)
    }

    /// The value called `name`, as text; `None` when it was not given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_text())
    }
}
