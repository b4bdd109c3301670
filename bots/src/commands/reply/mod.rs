//! What autopost answers in chat, independent of the chat: lines of styled spans, buttons and
//! an optional file. `render` turns a reply into Telegram HTML or Discord markdown; what each
//! verb answers is worded in that verb's file. Pure: no I/O, no clock.

mod phrases;
mod render;

use autopost::domain::{AccountId, DraftId, PostId, TargetId};
use chrono_tz::Tz;

use super::verbs::ConnectTarget;

pub(crate) use phrases::{
    account_name, ago, both_zones, first_words, from_now, local_time, near_both_zones, plural,
};

/// Telegram's limit on one message's text.
/// <https://core.telegram.org/bots/api#sendmessage>
pub const TELEGRAM_TEXT_LIMIT: usize = 4096;
/// Telegram's limit on a file's caption.
pub const TELEGRAM_CAPTION_LIMIT: usize = 1024;
/// Discord's limit on one message's content.
/// <https://discord.com/developers/docs/resources/message#create-message>
pub const DISCORD_TEXT_LIMIT: usize = 2000;
/// Telegram's limit on a button's `callback_data` (Discord's `custom_id` allows 100).
/// <https://core.telegram.org/bots/api#inlinekeyboardbutton>
pub const CALLBACK_DATA_LIMIT: usize = 64;

/// One answer to one chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The text, one block per line.
    pub text: Vec<Block>,
    /// Buttons under the text, row by row.
    pub buttons: Vec<Vec<Button>>,
    /// A file to attach (the export).
    pub file: Option<ReplyFile>,
    /// Send only to the user who asked (Discord ephemeral / Telegram private chat).
    pub private: bool,
    /// Where a private reply answers a message in a group that everyone sees: what the group
    /// is told, if more than that the answer went privately.
    pub private_note: Option<&'static str>,
    /// A listing better shown as a card (a Discord embed) than as a message.
    pub card: bool,
    /// Nothing was done: the reply explains why. A front end answering a button press shows
    /// it to the presser alone and leaves the message with the button as it was.
    pub refused: bool,
    /// Answers a button press beside the message the button is under, which stays as it was
    /// (a zone chosen under a post's confirmation must not replace the confirmation).
    pub beside: bool,
    /// An Edit button's question: the front end asks it as a form (Discord's modal) or as a
    /// message to reply to (Telegram's forced reply, with this reply's text), and leaves the
    /// message with the button as it was.
    pub edit_form: Option<EditForm>,
    /// An answer to a button press for the presser alone that leaves the message as it was
    /// (a status message keeps showing its post; the change, if any, reaches it by an edit).
    pub aside: bool,
    /// The post this message shows (a confirmation): the front end remembers the message it
    /// sent, so that it is edited when the post changes and its buttons never act on an
    /// outdated view.
    pub shows: Option<PostId>,
}

/// What an Edit form asks for, with the post's current values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditForm {
    /// The post (its series' id, for a series).
    pub post: PostId,
    /// Its time in the viewer's zone, or its repeat rule.
    pub when: String,
    /// Its text.
    pub text: String,
}

/// A unit of text that is never split when the reply must be shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One line; an empty one is a blank line.
    Line(Vec<Span>),
}

/// A run of text with one style. Every string in it is raw text: renderers escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Ordinary text.
    Plain(String),
    /// Bold text.
    Bold(String),
    /// Monospace text: commands to type, ids.
    Code(String),
    /// A link; only `http` and `https` URLs become links, anything else is shown as text.
    Link {
        /// What the reader sees.
        text: String,
        /// Where it leads.
        url: String,
    },
}

/// A button under a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// What pressing it asks for.
    pub action: ButtonAction,
}

impl Button {
    /// The data the chat hands back when the button is pressed.
    pub fn callback_data(&self) -> String {
        self.action.callback_data()
    }
}

/// What a button press asks for. The runner re-checks permissions on every press: the data
/// comes back from the chat client and may be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// Cancel the post.
    Cancel(PostId),
    /// Send the post now.
    PostNow(PostId),
    /// Go ahead with `/deleteme`.
    ConfirmDelete,
    /// Try a failed target again.
    Retry(TargetId),
    /// "I agree — I am 18 or older", under the privacy notice.
    AgreePolicy,
    /// Set the presser's own time zone to this one.
    SetZone(Tz),
    /// Ask the presser which time zone they are in (the `/start` screen's button).
    AskZone,
    /// Start linking an account, as `/connect` does.
    Connect(ConnectTarget),
    /// Add the account as a target of the pending post, or remove it.
    ToggleTarget(PostId, AccountId),
    /// Change the post's time, text or images.
    Edit(PostId),
    /// Schedule a held post with its suggested time number `choice` (`/post` with a vague
    /// time).
    When {
        /// The held post.
        draft: DraftId,
        /// Which suggestion, from 0.
        choice: u8,
    },
}

impl ButtonAction {
    /// `cancel:17`, `postnow:17`, `retry:23`, `edit:17`, `deleteme:confirm`, `policy:agree`,
    /// `tg:17:4` (post, account) or `when:41:2` (draft, choice): at most 43 bytes, within
    /// both Telegram's 64 and Discord's 100.
    pub fn callback_data(&self) -> String {
        match self {
            ButtonAction::Cancel(post) => format!("cancel:{post}"),
            ButtonAction::PostNow(post) => format!("postnow:{post}"),
            ButtonAction::ConfirmDelete => "deleteme:confirm".to_owned(),
            ButtonAction::Retry(target) => format!("retry:{target}"),
            ButtonAction::AgreePolicy => "policy:agree".to_owned(),
            // The longest zone name has 32 bytes: within the limit.
            ButtonAction::SetZone(zone) => format!("zone:{}", zone.name()),
            ButtonAction::AskZone => "timezone:ask".to_owned(),
            ButtonAction::Connect(target) => format!("connect:{}", target.keyword()),
            ButtonAction::ToggleTarget(post, account) => format!("tg:{post}:{account}"),
            ButtonAction::Edit(post) => format!("edit:{post}"),
            ButtonAction::When { draft, choice } => format!("when:{draft}:{choice}"),
        }
    }

    /// The action `callback_data` wrote, or `None` for anything else (including a number
    /// written any other way, so that parsing and writing round-trip exactly).
    pub fn parse(data: &str) -> Option<ButtonAction> {
        match data {
            "deleteme:confirm" => return Some(ButtonAction::ConfirmDelete),
            "policy:agree" => return Some(ButtonAction::AgreePolicy),
            "timezone:ask" => return Some(ButtonAction::AskZone),
            _ => {}
        }
        let (kind, number) = data.split_once(':')?;
        match kind {
            "zone" => {
                let zone = number.parse::<Tz>().ok()?;
                return (zone.name() == number).then_some(ButtonAction::SetZone(zone));
            }
            "connect" => {
                return ConnectTarget::ALL
                    .into_iter()
                    .find(|target| target.keyword() == number)
                    .map(ButtonAction::Connect);
            }
            "tg" => {
                let (post, account) = number.split_once(':')?;
                return Some(ButtonAction::ToggleTarget(
                    PostId(canonical::<i64>(post)?),
                    AccountId(canonical::<i64>(account)?),
                ));
            }
            "when" => {
                let (draft, choice) = number.split_once(':')?;
                return Some(ButtonAction::When {
                    draft: DraftId(canonical::<i64>(draft)?),
                    choice: canonical::<u8>(choice)?,
                });
            }
            _ => {}
        }
        let id = canonical::<i64>(number)?;
        match kind {
            "cancel" => Some(ButtonAction::Cancel(PostId(id))),
            "postnow" => Some(ButtonAction::PostNow(PostId(id))),
            "retry" => Some(ButtonAction::Retry(TargetId(id))),
            "edit" => Some(ButtonAction::Edit(PostId(id))),
            _ => None,
        }
    }
}

/// `text` as a number, only if that number is written exactly so (no sign, no leading zero).
fn canonical<T: std::str::FromStr + ToString>(text: &str) -> Option<T> {
    let value = text.parse::<T>().ok()?;
    (value.to_string() == text).then_some(value)
}

/// A file sent with the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    /// The file name the user sees.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub mime: &'static str,
}

pub(crate) fn plain(text: impl Into<String>) -> Span {
    Span::Plain(text.into())
}

pub(crate) fn bold(text: impl Into<String>) -> Span {
    Span::Bold(text.into())
}

pub(crate) fn code(text: impl Into<String>) -> Span {
    Span::Code(text.into())
}

/// Text with `backticked` parts as code, as our error messages write what to type.
pub(crate) fn marked(text: &str) -> Vec<Span> {
    if !text.matches('`').count().is_multiple_of(2) {
        return vec![plain(text)];
    }
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { code(part) } else { plain(part) })
        .collect()
}

pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Reply {
    /// A reply of these lines.
    pub(crate) fn lines(lines: Vec<Vec<Span>>) -> Reply {
        Reply {
            text: lines.into_iter().map(Block::Line).collect(),
            ..Reply::default()
        }
    }

    /// The same reply, sent only to the person who asked.
    pub(crate) fn privately(mut self) -> Reply {
        self.private = true;
        self
    }

    /// A refusal the user can act on (a `ParseError`, a user `PostingError`), shown as is with
    /// its `backticked` parts as code.
    pub fn error(message: &str) -> Reply {
        let mut spans = vec![plain("⚠️ ")];
        spans.extend(marked(&sentence(message)));
        Reply::lines(vec![spans]).refusal()
    }

    /// The same reply, for the presser of a button alone, leaving the message as it was.
    pub(crate) fn aside(mut self) -> Reply {
        self.aside = true;
        self
    }

    /// The same reply, marked as a refusal: nothing was done.
    pub(crate) fn refusal(mut self) -> Reply {
        self.refused = true;
        self
    }

    /// The database cannot store anything (its disk is full): whatever the message asked was
    /// not done, and sending it again once the operator freed space works.
    pub fn cannot_store() -> Reply {
        Reply::error(CANNOT_STORE)
    }

    /// The instance handling a message died midway; another will not redo what may already
    /// be stored (a post sent twice is worse than asking to look).
    pub fn interrupted() -> Reply {
        Reply::error(
            "autopost restarted while it worked on this; look at /queue before trying again",
        )
    }

    /// An internal fault: no detail, only the reference the log keeps it under.
    pub fn internal_error(reference: &str) -> Reply {
        Reply::lines(vec![vec![
            plain("⚠️ Something went wrong on our side (ref "),
            code(reference),
            plain("); please try again in a minute."),
        ]])
        .refusal()
    }
}

/// What everyone hears while the database cannot grow.
pub const CANNOT_STORE: &str =
    "autopost cannot store anything right now; your message was not taken";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_show_what_to_type_as_code() {
        let reply = Reply::error("write when, such as `tomorrow 9am | Launch <day>!`");
        assert_eq!(
            reply.to_telegram_html(),
            "⚠️ Write when, such as <code>tomorrow 9am | Launch &lt;day&gt;!</code>"
        );
        assert_eq!(
            reply.to_markdown(),
            "⚠️ Write when, such as `tomorrow 9am | Launch <day>!`"
        );
        assert_eq!(
            Reply::error("odd ` tick").to_telegram_html(),
            "⚠️ Odd ` tick"
        );
        let internal = Reply::internal_error("4f2c").to_telegram_html();
        assert!(internal.contains("<code>4f2c</code>"));
    }

    #[test]
    fn callback_data_is_short_and_round_trips() {
        let actions = [
            ButtonAction::Cancel(PostId(17)),
            ButtonAction::PostNow(PostId(17)),
            ButtonAction::Cancel(PostId(i64::MAX)),
            ButtonAction::Retry(TargetId(23)),
            ButtonAction::Edit(PostId(i64::MIN)),
            ButtonAction::PostNow(PostId(i64::MIN)),
            ButtonAction::ConfirmDelete,
            ButtonAction::SetZone(chrono_tz::America::Argentina::ComodRivadavia),
            ButtonAction::SetZone(Tz::UTC),
            ButtonAction::AskZone,
            ButtonAction::Connect(ConnectTarget::X),
            ButtonAction::Connect(ConnectTarget::Facebook),
            ButtonAction::ToggleTarget(PostId(17), AccountId(4)),
            ButtonAction::ToggleTarget(PostId(i64::MIN), AccountId(i64::MIN)),
            ButtonAction::When {
                draft: DraftId(41),
                choice: 2,
            },
            ButtonAction::When {
                draft: DraftId(i64::MIN),
                choice: u8::MAX,
            },
        ];
        for action in actions {
            let data = action.callback_data();
            assert!(
                !data.is_empty() && data.len() <= CALLBACK_DATA_LIMIT,
                "{data}"
            );
            assert_eq!(ButtonAction::parse(&data), Some(action));
        }
        assert_eq!(
            ButtonAction::Cancel(PostId(17)).callback_data(),
            "cancel:17"
        );
        assert_eq!(
            ButtonAction::PostNow(PostId(17)).callback_data(),
            "postnow:17"
        );
        assert_eq!(
            ButtonAction::ConfirmDelete.callback_data(),
            "deleteme:confirm"
        );
        assert_eq!(
            ButtonAction::ToggleTarget(PostId(17), AccountId(4)).callback_data(),
            "tg:17:4"
        );
        assert_eq!(
            ButtonAction::When {
                draft: DraftId(41),
                choice: 2
            }
            .callback_data(),
            "when:41:2"
        );
        for refused in [
            "",
            "cancel",
            "cancel:",
            "cancel:abc",
            "cancel:017",
            "cancel:+17",
            "cancel: 17",
            "cancel:17:1",
            "CANCEL:17",
            "delete:17",
            "deleteme",
            "deleteme:yes",
            "postnow:1e3",
            "cancel:99999999999999999999",
            "zone:europe/berlin",
            "zone:Mars/Olympus",
            "zone:",
            "connect:myspace",
            "connect:X",
            "tg:17",
            "tg:17:",
            "tg::4",
            "tg:17:04",
            "tg:17:4:1",
            "tg:+17:4",
            "when:41",
            "when:41:",
            "when:41:256",
            "when:41:02",
            "when:041:2",
            "when:41:2:0",
            "when::2",
        ] {
            assert_eq!(ButtonAction::parse(refused), None, "{refused}");
        }
    }
}
