//! `/connect x|facebook|instagram`: a private one-time link that starts OAuth and links
//! the person's account to the chat they asked from. In a group only an admin may: linked
//! accounts post for everyone in it.

use autopost::domain::{OAuthProvider, Provider};
use autopost::oauth::OAuthError;
use url::Url;

use super::{Arg, ArgKind, Command, Verb, Who};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, Span, plain};

/// `/connect`.
pub const VERB: Verb = Verb::new(
    "connect",
    "/connect x|facebook|instagram",
    "link an account (I send you a private link)",
    parse,
)
.args(
    &[Arg::required(
        "platform",
        ArgKind::Platform,
        "x, facebook or instagram",
    )],
    "/connect x",
)
.who(Who::Admin {
    to: "link accounts to this group",
})
.private();

fn parse(args: &str) -> Result<Command, ParseError> {
    if args.is_empty() {
        return Err(ParseError::MissingPlatform);
    }
    let platform = match args.to_ascii_lowercase().as_str() {
        "x" | "twitter" => ConnectTarget::X,
        "facebook" | "fb" => ConnectTarget::Facebook,
        "instagram" | "ig" | "insta" => ConnectTarget::Instagram,
        _ => {
            return Err(ParseError::UnknownPlatform {
                given: args.to_owned(),
            });
        }
    };
    Ok(Command::Connect { platform })
}

/// Makes the link; the front end sends it privately.
pub(crate) async fn run(ctx: &Context<'_>, platform: ConnectTarget) -> Reply {
    match ctx
        .app
        .start_link(ctx.actor, platform.oauth_provider(), ctx.now)
        .await
    {
        Ok(link) => Reply::connect_link(platform, &link),
        Err(e @ OAuthError::ProviderOff { .. }) => Reply::error(&e.to_string()),
        Err(e) => internal(&e),
    }
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
    /// Every platform `/connect` names.
    pub const ALL: [ConnectTarget; 3] = [
        ConnectTarget::X,
        ConnectTarget::Facebook,
        ConnectTarget::Instagram,
    ];

    /// How `/connect` and a button's data write it: `x`, `facebook`, `instagram`.
    pub fn keyword(self) -> &'static str {
        match self {
            ConnectTarget::X => "x",
            ConnectTarget::Facebook => "facebook",
            ConnectTarget::Instagram => "instagram",
        }
    }

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

impl Reply {
    /// `/connect` answered privately: the one-time link that starts OAuth.
    pub fn connect_link(target: ConnectTarget, link: &Url) -> Reply {
        let label = target.label();
        let mut lines = vec![
            vec![
                plain(format!(
                    "Open this link to link your {label} account to the chat you asked from: "
                )),
                Span::Link {
                    text: format!("Connect {label}"),
                    url: link.to_string(),
                },
            ],
            vec![plain(
                "It works once, for you only, for 10 minutes; don't share it.",
            )],
        ];
        if target == ConnectTarget::Instagram {
            lines.push(vec![plain(
                "Instagram business accounts are linked through the Facebook Page they belong to.",
            )]);
        }
        let mut reply = Reply::lines(lines).privately();
        reply.private_note = Some("I sent you the link in a private message.");
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_targets_map_to_their_oauth_provider() {
        assert_eq!(ConnectTarget::X.oauth_provider(), OAuthProvider::X);
        assert_eq!(
            ConnectTarget::Facebook.oauth_provider(),
            OAuthProvider::Meta
        );
        assert_eq!(ConnectTarget::Instagram.provider(), Provider::Instagram);
    }

    #[test]
    fn the_link_goes_privately_with_its_escaped_url() {
        let link = Url::parse("https://autopost.example/oauth/x/start?s=abc&t=1").unwrap();
        let connect = Reply::connect_link(ConnectTarget::X, &link);
        assert!(connect.private);
        assert!(connect.to_telegram_html().contains(
            "<a href=\"https://autopost.example/oauth/x/start?s=abc&amp;t=1\">Connect X</a>"
        ));
    }
}
