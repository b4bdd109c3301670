//! Domain nouns every layer shares: typed ids, chat platforms, providers, account states.
//! Pure data; parsing from and naming as the stable strings the store keeps.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type! {
    /// A person on a chat platform.
    UserId;
    /// A chat, group or channel: one shared queue.
    ChatId;
    /// An OAuth authorization one user gave at a platform.
    GrantId;
    /// One place autopost publishes to.
    AccountId;
    /// A scheduled post.
    PostId;
    /// One post on one account.
    TargetId;
    /// A stored image.
    MediaId;
    /// A pending OAuth round trip.
    OAuthStateId;
    /// A post held while its author picks a suggested time.
    DraftId;
}

/// The text a value is stored and shown as, and parsed back from.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable name used in storage and commands.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownName { kind: stringify!($name), name: s.to_owned() }),
                }
            }
        }
    };
}

named_enum! {
    /// Where people talk to autopost.
    ChatPlatform {
        /// Telegram Bot API.
        Telegram = "telegram",
        /// Discord.
        Discord = "discord",
    }
}

named_enum! {
    /// What kind of conversation a chat is.
    ChatKind {
        /// One person and the bot.
        Private = "private",
        /// A group or Discord channel: a team sharing a queue.
        Group = "group",
        /// A broadcast channel.
        Channel = "channel",
    }
}

named_enum! {
    /// Whom an OAuth grant was given to.
    OAuthProvider {
        /// X (Twitter), OAuth 2.0 with PKCE.
        X = "x",
        /// Meta: Facebook Pages and their Instagram business accounts.
        Meta = "meta",
    }
}

named_enum! {
    /// Where a post is published.
    Provider {
        /// An X user's timeline.
        X = "x",
        /// A Facebook Page.
        FacebookPage = "facebook_page",
        /// An Instagram business account.
        Instagram = "instagram",
    }
}

named_enum! {
    /// Whether autopost can use an account or grant.
    AccountState {
        /// Tokens work.
        Active = "active",
        /// The platform refused our token; the owner must `/connect` again.
        NeedsReconnect = "needs_reconnect",
        /// Disconnected: tokens revoked and erased.
        Revoked = "revoked",
    }
}

named_enum! {
    /// Where one post stands on one account.
    TargetState {
        /// Waiting for its due time (or its next attempt).
        Queued = "queued",
        /// Being sent: marked before the request that creates the post.
        Publishing = "publishing",
        /// Live at the platform.
        Published = "published",
        /// Given up, with the platform's reason.
        Failed = "failed",
        /// An attempt whose outcome could not be learned; the author was told.
        Unknown = "unknown",
        /// Cancelled before it was sent.
        Cancelled = "cancelled",
    }
}

impl TargetState {
    /// Whether nothing more will happen to the target.
    pub fn is_final(self) -> bool {
        !matches!(self, TargetState::Queued | TargetState::Publishing)
    }
}

impl Provider {
    /// The OAuth provider that grants access to this kind of account.
    pub fn oauth_provider(self) -> OAuthProvider {
        match self {
            Provider::X => OAuthProvider::X,
            Provider::FacebookPage | Provider::Instagram => OAuthProvider::Meta,
        }
    }

    /// The word people type for the platform when choosing where a post goes (`to x`).
    pub fn word(self) -> &'static str {
        match self {
            Provider::X => "x",
            Provider::FacebookPage => "facebook",
            Provider::Instagram => "instagram",
        }
    }
}

/// A stored or typed name that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a known {kind}")]
pub struct UnknownName {
    /// The type that was expected.
    pub kind: &'static str,
    /// What was found.
    pub name: String,
}

/// Who is acting, where, and whether they administer that chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The person.
    pub user: UserId,
    /// The chat (the queue).
    pub chat: ChatId,
    /// Chat administrators may change anyone's posts.
    pub is_admin: bool,
    /// What the person agreed to, as read with them.
    pub consent: Consent,
}

/// Where a person stands with the privacy policy: until they confirm they are 18 or older
/// and agree, only a few verbs work for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Consent {
    /// They confirmed their age and agreed to a version of the policy.
    pub agreed: bool,
    /// The newest version they agreed to or were told about.
    pub policy_version: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_their_stored_text() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), *p);
        }
        for s in AccountState::ALL {
            assert_eq!(s.to_string().parse::<AccountState>().unwrap(), *s);
        }
        assert_eq!(
            "myspace".parse::<Provider>().unwrap_err().to_string(),
            "`myspace` is not a known Provider"
        );
        assert_eq!(Provider::Instagram.oauth_provider(), OAuthProvider::Meta);
    }
}
