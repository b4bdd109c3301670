//! The verbs of SPEC section 4, one file each, and the table that defines every verb once:
//! its name, arguments, who may run it, help line and example. The parser's verb list,
//! Telegram's command menu, `/help` and Discord's command definitions all come from
//! [`VERBS`]; each file also parses its arguments, runs the verb on the `App` and words
//! its answer.

pub mod accounts;
pub mod cancel;
pub mod connect;
pub mod deleteme;
pub mod disconnect;
pub mod edit;
pub mod export;
pub mod help;
pub mod history;
pub mod import;
pub(crate) mod pick_time;
pub mod post;
pub mod postnow;
pub mod queue;
pub mod start;
pub mod timezone;

use autopost::domain::PostId;
use autopost::front_end::Privilege;
use chrono_tz::Tz;

use super::args::{NamedArgs, ParseError};

pub use connect::ConnectTarget;
pub use import::Document;

/// Every verb, in the order menus and `/help` show them.
pub const VERBS: &[&Verb] = &[
    &start::VERB,
    &help::VERB,
    &post::VERB,
    &import::VERB,
    &queue::VERB,
    &cancel::VERB,
    &edit::VERB,
    &postnow::VERB,
    &history::VERB,
    &connect::VERB,
    &accounts::VERB,
    &disconnect::VERB,
    &timezone::VERB,
    &export::VERB,
    &deleteme::VERB,
];

/// How a verb reads arguments given by name.
pub type ParseNamed = fn(&NamedArgs) -> Result<Command, ParseError>;

/// One verb, defined once.
#[derive(Debug)]
pub struct Verb {
    /// What follows the `/`, lower case: `post`.
    pub name: &'static str,
    /// How it is written, with its arguments: `/post WHEN | TEXT`.
    pub usage: &'static str,
    /// Its arguments, for Discord's options and the help.
    pub args: &'static [Arg],
    /// Who may run it.
    pub who: Who,
    /// What it does, in a few words starting in lower case (the menu capitalises it).
    pub summary: &'static str,
    /// A complete example, when the verb takes arguments.
    pub example: Option<&'static str>,
    /// More lines `/help` shows under it; `backticks` mark what to type.
    pub notes: &'static [&'static str],
    /// Whether `/help` lists it (`/start` and `/help` themselves are not listed).
    pub in_help: bool,
    /// Whether the images sent with it are for it (a front end fetches them only then).
    pub takes_images: bool,
    /// Whether it reads a file sent with it (a front end fetches it only then).
    pub takes_file: bool,
    /// Whether it always answers only the person who asked (a link, a file, a question about
    /// their data): a front end that must answer before the work is done can say so early.
    pub answers_privately: bool,
    /// Whether it works before the person agreed to the privacy policy: only those that
    /// explain autopost or exercise a right over one's data (`/start`, `/help`, `/export`,
    /// `/deleteme`).
    pub before_consent: bool,
    /// Reads the text after the verb. Verbs without arguments ignore any, so that `/queue
    /// please` still shows the queue and `/start` may carry Telegram's deep-link payload.
    pub parse: fn(&str) -> Result<Command, ParseError>,
    /// Reads arguments given by name, where one text of [`Verb::parse`] would not do (several
    /// arguments); see [`Verb::read`].
    pub parse_named: Option<ParseNamed>,
}

impl Verb {
    /// A verb anyone may run, without arguments, listed in `/help`; the methods below say
    /// more. `usage` starts with `/name`.
    pub const fn new(
        name: &'static str,
        usage: &'static str,
        summary: &'static str,
        parse: fn(&str) -> Result<Command, ParseError>,
    ) -> Verb {
        Verb {
            name,
            usage,
            args: &[],
            who: Who::Anyone,
            summary,
            example: None,
            notes: &[],
            in_help: true,
            takes_images: false,
            takes_file: false,
            answers_privately: false,
            before_consent: false,
            parse,
            parse_named: None,
        }
    }

    /// Reading its arguments by name with `parse_named`.
    pub const fn named(self, parse_named: ParseNamed) -> Verb {
        Verb {
            parse_named: Some(parse_named),
            ..self
        }
    }

    /// The command that arguments given by name ask for: through `parse_named` where the verb
    /// has one, else its one argument (if any) read as the text form would carry it.
    pub fn read(&self, named: &NamedArgs) -> Result<Command, ParseError> {
        if let Some(parse_named) = self.parse_named {
            return parse_named(named);
        }
        let text = self
            .args
            .first()
            .and_then(|arg| named.text(arg.name))
            .unwrap_or_default();
        (self.parse)(text.trim())
    }

    /// With these arguments, and an example of them (a verb with arguments always has one).
    pub const fn args(self, args: &'static [Arg], example: &'static str) -> Verb {
        Verb {
            args,
            example: Some(example),
            ..self
        }
    }

    /// Run only by these people.
    pub const fn who(self, who: Who) -> Verb {
        Verb { who, ..self }
    }

    /// With these lines under it in `/help`.
    pub const fn notes(self, notes: &'static [&'static str]) -> Verb {
        Verb { notes, ..self }
    }

    /// Taking the images sent with it.
    pub const fn with_images(self) -> Verb {
        Verb {
            takes_images: true,
            ..self
        }
    }

    /// Reading the file sent with it.
    pub const fn with_file(self) -> Verb {
        Verb {
            takes_file: true,
            ..self
        }
    }

    /// Answering only the person who asked.
    pub const fn private(self) -> Verb {
        Verb {
            answers_privately: true,
            ..self
        }
    }

    /// Working before the person agreed to the privacy policy.
    pub const fn before_consent(self) -> Verb {
        Verb {
            before_consent: true,
            ..self
        }
    }

    /// Left out of `/help` (`/start` and `/help` themselves).
    pub const fn unlisted(self) -> Verb {
        Verb {
            in_help: false,
            ..self
        }
    }

    /// Its example, or without one its usage: what a refusal suggests typing.
    pub fn example_or_usage(&self) -> &'static str {
        self.example.unwrap_or(self.usage)
    }

    /// The line of a command menu (Telegram's `setMyCommands`, at most 256 characters;
    /// Discord's description, at most 100): the summary as a sentence.
    pub fn description(&self) -> String {
        let mut chars = self.summary.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }
}

/// Who may run a verb. Admin rights are asked of the chat platform only for verbs that
/// can need them, since asking may cost a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone in the chat: a group's members share its queue.
    Anyone,
    /// The post's author, or a chat admin; the core decides which applies.
    AuthorOrAdmin,
    /// Whoever linked the account, or a chat admin; the core decides which applies.
    OwnerOrAdmin,
    /// Only a chat admin (in a private chat, the person is one). Refused with "only a group
    /// administrator can `{to}`".
    Admin {
        /// What the refusal says they cannot do.
        to: &'static str,
    },
}

impl Who {
    /// The privilege the runner must ask the front end about before running the verb, if
    /// any: changing posts for the author-or-admin verbs, managing accounts for the rest.
    pub fn privilege(self) -> Option<Privilege> {
        match self {
            Who::Anyone => None,
            Who::AuthorOrAdmin => Some(Privilege::ChangeOthersPosts),
            Who::OwnerOrAdmin | Who::Admin { .. } => Some(Privilege::ManageAccounts),
        }
    }
}

/// One argument of a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// Its name, lower case (Discord's option name).
    pub name: &'static str,
    /// What kind of value it is.
    pub kind: ArgKind,
    /// Whether the verb needs it.
    pub required: bool,
    /// What it is, in a few words (Discord's option description).
    pub about: &'static str,
}

impl Arg {
    /// An argument the verb needs.
    pub const fn required(name: &'static str, kind: ArgKind, about: &'static str) -> Arg {
        Arg {
            name,
            kind,
            required: true,
            about,
        }
    }

    /// An argument the verb can do without.
    pub const fn optional(name: &'static str, kind: ArgKind, about: &'static str) -> Arg {
        Arg {
            name,
            kind,
            required: false,
            about,
        }
    }
}

/// The post number `/cancel`, `/edit` and `/postnow` take.
pub const POST_NUMBER: Arg = Arg::required(
    "id",
    ArgKind::PostId,
    "the post's number, as /queue shows it",
);

/// The kinds of argument values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A time phrase: `tomorrow 9am`.
    When,
    /// A post's text.
    Text,
    /// A post's number, as `/queue` shows it.
    PostId,
    /// One of x, facebook, instagram.
    Platform,
    /// A linked account's name or @handle, as `/accounts` shows it.
    Account,
    /// An IANA time zone.
    Zone,
    /// Accounts the post goes to, by name or platform, comma-separated.
    Targets,
    /// An attached image (Discord ATTACHMENT options; Telegram takes the message's pictures).
    Image,
    /// An attached file (a Discord ATTACHMENT option; Telegram takes the message's document,
    /// or the one it replies to).
    File,
    /// One of a few fixed words (Discord lists them as the option's choices).
    Choice(&'static [Choice]),
}

/// One of the fixed words a [`ArgKind::Choice`] argument takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// What a menu shows.
    pub label: &'static str,
    /// What is typed or sent.
    pub value: &'static str,
}

/// What a chat message asks autopost to do: a verb with its arguments read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start`: a first screen with buttons for the first steps.
    Start {
        /// The verb a group member was asked to open the private chat for, from Telegram's
        /// deep link (`/start export`): what to carry on with.
        resume: Option<&'static str>,
    },
    /// `/help`: the same, as a reference.
    Help,
    /// `/post WHEN | TEXT`, or in a private chat the plain message `WHEN | TEXT`.
    Post {
        /// The time phrase, trimmed and non-empty, for the core to read.
        when: String,
        /// The post's text, trimmed and non-empty; may contain `|` and line breaks.
        text: String,
        /// The accounts chosen by name or platform; empty means every account that can.
        to: Vec<String>,
    },
    /// `/import` with a CSV file: many posts, all queued or none.
    Import,
    /// `/queue`: the chat's pending posts.
    Queue,
    /// `/cancel ID`.
    Cancel {
        /// The post.
        post: PostId,
    },
    /// `/edit ID WHEN`, `/edit ID | TEXT` or `/edit ID WHEN | TEXT` (images sent with it
    /// replace the post's).
    Edit {
        /// The post.
        post: PostId,
        /// The new time phrase, if it changes.
        when: Option<String>,
        /// The new text, if it changes.
        text: Option<String>,
    },
    /// An Edit form sent back (Discord's modal): the time and text as the person left them.
    EditSubmitted {
        /// The post.
        post: PostId,
        /// The time field.
        when: String,
        /// The text field.
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
        /// The account as typed (a name or @handle); matched against `/accounts`.
        account: String,
    },
    /// `/timezone [ZONE]`.
    TimeZone {
        /// The new zone; `None` asks for the current one.
        zone: Option<Tz>,
    },
    /// `/timezone chat ZONE`: the chat's zone, for people who set none (admins).
    ChatTimeZone {
        /// The new zone.
        zone: Tz,
    },
    /// `/export [images]`: the user's data as a JSON file, or a zip with their images,
    /// privately.
    Export {
        /// Whether the images of their posts go with it (a zip).
        images: bool,
    },
    /// `/deleteme`: erase the user, after a confirmation button.
    DeleteMe,
}

impl Command {
    /// The verb this command is of.
    pub fn verb(&self) -> &'static Verb {
        match self {
            Command::Start { .. } => &start::VERB,
            Command::Help => &help::VERB,
            Command::Post { .. } => &post::VERB,
            Command::Import => &import::VERB,
            Command::Queue => &queue::VERB,
            Command::Cancel { .. } => &cancel::VERB,
            Command::Edit { .. } | Command::EditSubmitted { .. } => &edit::VERB,
            Command::PostNow { .. } => &postnow::VERB,
            Command::History => &history::VERB,
            Command::Connect { .. } => &connect::VERB,
            Command::Accounts => &accounts::VERB,
            Command::Disconnect { .. } => &disconnect::VERB,
            Command::TimeZone { .. } => &timezone::VERB,
            Command::ChatTimeZone { .. } => &timezone::CHAT_VERB,
            Command::Export { .. } => &export::VERB,
            Command::DeleteMe => &deleteme::VERB,
        }
    }
}

/// The verb called `name` (lower case), if it is ours.
pub fn find(name: &str) -> Option<&'static Verb> {
    VERBS.iter().copied().find(|verb| verb.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_is_in_the_table_once_under_its_own_name() {
        let mut names: Vec<&str> = VERBS.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 15);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VERBS.len(), "a name twice");
        for verb in VERBS {
            assert!(
                verb.usage.starts_with(&format!("/{}", verb.name)),
                "{verb:?}"
            );
            assert_eq!(find(verb.name).map(|v| v.name), Some(verb.name));
            assert!(
                verb.name.len() <= 32
                    && verb
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "a name Telegram and Discord accept: {}",
                verb.name
            );
            let description = verb.description();
            assert!(
                (1..=100).contains(&description.chars().count()),
                "a description Discord accepts: {description}"
            );
            assert_eq!(
                verb.args.is_empty(),
                verb.example.is_none(),
                "an example exactly when there are arguments: {}",
                verb.name
            );
            let texts = verb
                .args
                .iter()
                .filter(|arg| !matches!(arg.kind, ArgKind::Image | ArgKind::File))
                .count();
            assert!(
                texts <= 1 || verb.parse_named.is_some(),
                "several arguments are read by name by the verb itself: {}",
                verb.name
            );
        }
    }
}
