//! The front-end-neutral posting API the bots call: create, edit, cancel, post now, list the
//! queue and the history. Every rule is checked per target when a post is accepted; nothing
//! is stored when one fails.

mod change;
mod create;
mod listing;
mod status;
mod text;
pub mod thread;
mod toggle;
mod variants;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::app::App;
use crate::domain::{AccountId, Actor, PostId, Provider};
use crate::images::ImageError;
use crate::media::MediaError;
use crate::recurrence::Recurrence;
use crate::rules::RuleViolation;
use crate::store::StoreError;
// What the posting calls return, named here so that front ends need not know the store.
pub use crate::store::{
    Cancelled, HistoryEntry, LinkedAccount, MessageRole, PostMessage, PostState, PostView,
    Retrying, TargetView,
};
use crate::timeparse::{self, TimeError, When};
pub use change::{EditValues, PostChange};
pub use create::Checked;
pub use text::TextError;
pub use variants::{Composed, VariantError, split_variants};

/// A post as written in a chat.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The time phrase (`tomorrow 9am`, `every monday 9am`, `now`).
    pub when: String,
    /// The text.
    pub text: String,
    /// Attached images, as received.
    pub images: Vec<Bytes>,
    /// Only these accounts; `None` means every account of the chat that can take the post
    /// (the others are left out with a notice).
    pub targets: Option<Vec<AccountId>>,
}

/// One target of an accepted post, for the confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSummary {
    /// The account.
    pub account: LinkedAccount,
    /// The text's length in that platform's counting.
    pub length: usize,
    /// The platform's limit.
    pub limit: usize,
    /// Whether the target publishes its network's own text (a line such as `x: …`) rather
    /// than the main text.
    pub own_text: bool,
    /// How many posts the text goes out as there: 1, or the number of parts of the X thread
    /// a text too long for one X post becomes ([`thread::split`]; `length` is then the whole
    /// text's, over the limit). Confirmations show "thread of N parts".
    pub parts: usize,
}

/// Something the author should know about an accepted post, shown in its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// With no targets named, an account that cannot take the post was left out.
    LeftOut {
        /// The account.
        account: LinkedAccount,
        /// Why, as one sentence.
        reason: String,
        /// How to include it, as one sentence with `backticked` parts to type.
        hint: String,
    },
    /// A network's own text that no target uses: no such account is linked to the chat.
    UnusedVariant {
        /// The network.
        provider: Provider,
    },
    /// X refuses a text it already has: the same text is queued for this account.
    DuplicateQueued {
        /// The X account.
        account: LinkedAccount,
        /// The post it is queued in.
        post: PostId,
    },
    /// X refuses a text it already has: the same text went out on this account recently.
    DuplicatePublished {
        /// The X account.
        account: LinkedAccount,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The new post.
    pub post: PostId,
    /// When it (first) goes out.
    pub due_at: DateTime<Utc>,
    /// The zone the time was read in, for showing it back.
    pub zone: Tz,
    /// The repeat rule, for a recurring post.
    pub recurrence: Option<Recurrence>,
    /// Each target with its character count.
    pub targets: Vec<TargetSummary>,
    /// The main text, for the preview.
    pub body: String,
    /// How many images go with it.
    pub images: usize,
    /// The chat's usable accounts, targets or not, for the confirmation's toggles.
    pub accounts: Vec<LinkedAccount>,
    /// Accounts left out, unused texts, duplicate warnings.
    pub notices: Vec<Notice>,
    /// When this view was made, for "in 14 h".
    pub at: DateTime<Utc>,
}

/// Why a posting request was refused. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PostingError {
    /// The time phrase was refused.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// The text shows nothing.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The chat has no usable account.
    #[error(
        "no account is linked to this chat yet; link one with /connect x, /connect facebook or /connect instagram"
    )]
    NoAccounts,
    /// A chosen target is not linked to this chat.
    #[error("that account is not linked to this chat; see /accounts")]
    UnknownTarget,
    /// A target named in the post is not one of the chat's accounts.
    #[error("no account called `{name}` is linked to this chat; see /accounts for the names")]
    UnknownTargetName {
        /// The name as given.
        name: String,
    },
    /// A target's platform is switched off.
    #[error("{platform} is not set up on this autopost, so {account} cannot post")]
    PlatformOff {
        /// The platform.
        platform: &'static str,
        /// The account.
        account: String,
    },
    /// A target's token was refused; its owner must link it again.
    #[error("{account} needs to be linked again; its owner can use /connect")]
    NeedsReconnect {
        /// The account.
        account: String,
    },
    /// A rule of a target is broken.
    #[error("{0}")]
    Rule(RuleViolation),
    /// A rule of a named target, or of a network's own text, is broken.
    #[error("{}: {violation}", rule_subject(target, *own_text))]
    TargetRule {
        /// The account, as the confirmation names it.
        target: String,
        /// The network's word when the text checked was its own (`x: …`).
        own_text: Option<&'static str>,
        /// The rule.
        violation: RuleViolation,
    },
    /// With no targets named, no account of the chat can take the post.
    #[error("no account of this chat can take this post: {}", .reasons.join("; "))]
    NoTargetFits {
        /// Each account and why.
        reasons: Vec<String>,
    },
    /// A network's own text cannot be read.
    #[error(transparent)]
    Variant(#[from] VariantError),
    /// Removing this target would leave the post with none.
    #[error("post {0} would go nowhere without this account; cancel the post instead")]
    LastTarget(PostId),
    /// The account is not one of the chat's usable accounts.
    #[error("that account is no longer linked to this chat; see /accounts")]
    NotLinked,
    /// An image cannot be used.
    #[error("image {index}: {source}")]
    Image {
        /// 1-based position.
        index: usize,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// No such post in this chat's queue.
    #[error("there is no pending post {0} in this chat; see /queue")]
    NotFound(PostId),
    /// Only the author or a chat admin may change a post.
    #[error("only the author of post {0} or a chat admin can change it")]
    NotAllowed(PostId),
    /// The target is not one that failed (it went out, is pending, or was cancelled).
    #[error("only a post that failed can be tried again; see /history")]
    NotRetryable,
    /// The post's images were removed after the retention period, so it cannot go out again
    /// as it was written.
    #[error(
        "post {0} finished long enough ago that its images were removed; send it again with /post"
    )]
    ImagesRemoved(PostId),
    /// An edit that names nothing to change.
    #[error(
        "say what to change in post {0}: a new time (`/edit {0} tomorrow 9am`), a new text (`/edit {0} | new text`) or both"
    )]
    NothingToChange(PostId),
    /// The post has started going out.
    #[error("post {0} is already being published and can no longer be edited")]
    AlreadyStarted(PostId),
    /// Images could not be stored.
    #[error("autopost could not store the images")]
    Media(#[from] MediaError),
    /// The database failed.
    #[error("autopost could not save the post")]
    Store(#[from] StoreError),
}

impl PostingError {
    /// Whether the person can fix this themselves (shown as is), or it is an internal fault
    /// (logged with its chain and shown as "something went wrong").
    pub fn is_user_error(&self) -> bool {
        !matches!(self, PostingError::Media(_) | PostingError::Store(_))
    }
}

/// "the `x:` text cannot go to @alice (X)" or "this post cannot go to @alice (X)".
fn rule_subject(target: &str, own_text: Option<&str>) -> String {
    match own_text {
        Some(word) => format!("the `{word}:` text cannot go to {target}"),
        None => format!("this post cannot go to {target}"),
    }
}

/// A pending post, for `/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPost {
    /// The post.
    pub post: PostId,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Its text.
    pub body: String,
    /// Who wrote it.
    pub author: String,
    /// The accounts it goes to.
    pub targets: Vec<String>,
    /// How it repeats, for a series (shown with 🔁).
    pub recurrence: Option<Recurrence>,
    /// Its targets waiting to be tried again, soonest first.
    pub retrying: Vec<Retrying>,
}

impl App {
    /// The zone a person's times are read and shown in: theirs, else the chat's, else the
    /// configured default.
    pub async fn zone_of(&self, actor: &Actor) -> Result<Tz, StoreError> {
        let user = self.store().user(actor.user).await?;
        if let Some(zone) = user.time_zone {
            return Ok(zone);
        }
        let chat = self.store().chat(actor.chat).await?;
        Ok(chat.time_zone.unwrap_or(self.config().default_time_zone))
    }
}

/// The first due time and, for a recurring phrase, its rule.
fn resolve_when(
    phrase: &str,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<(DateTime<Utc>, Option<Recurrence>), PostingError> {
    match timeparse::parse(phrase, now, zone)? {
        When::Once(at) => Ok((at, None)),
        When::Recurring(rule) => {
            let first = rule.next_after(now).ok_or(TimeError::TooFarAhead)?;
            Ok((first, Some(rule)))
        }
    }
}
