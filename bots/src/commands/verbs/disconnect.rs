//! `/disconnect ACCOUNT`: unlink one of the chat's accounts (whoever linked it, or a chat
//! admin) and revoke autopost's access at the platform once no chat uses it.

use autopost::privacy::PrivacyError;

use super::{Arg, ArgKind, Command, Verb, Who};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal, posting_error};
use crate::commands::reply::{Reply, plain};

/// `/disconnect`.
pub const VERB: Verb = Verb::new(
    "disconnect",
    "/disconnect ACCOUNT",
    "unlink one and revoke autopost's access",
    parse,
)
.args(
    &[Arg::required(
        "account",
        ArgKind::Account,
        "the account's name or @handle, as /accounts shows it",
    )],
    "/disconnect @alice",
)
.who(Who::OwnerOrAdmin);

fn parse(args: &str) -> Result<Command, ParseError> {
    if args.is_empty() {
        return Err(ParseError::MissingAccount);
    }
    Ok(Command::Disconnect {
        account: args.to_owned(),
    })
}

/// Finds the one account called `typed` and disconnects it.
pub(crate) async fn run(ctx: &Context<'_>, typed: &str) -> Reply {
    let accounts = match ctx.app.accounts(ctx.actor.chat).await {
        Ok(accounts) => accounts,
        Err(e) => return posting_error(&e),
    };
    let wanted = typed.trim().trim_start_matches('@').to_lowercase();
    let matches: Vec<_> = accounts
        .iter()
        .filter(|a| a.display_name.trim_start_matches('@').to_lowercase() == wanted)
        .collect();
    let [account] = matches.as_slice() else {
        return Reply::error(&format!(
            "no single linked account is called `{}`; see /accounts for the exact names",
            typed.trim()
        ));
    };
    match ctx
        .app
        .disconnect_account(ctx.actor, account.id, ctx.now)
        .await
    {
        Ok(_) => Reply::disconnected(&account.display_name),
        Err(e @ (PrivacyError::NotLinked | PrivacyError::NotAllowed(_))) => {
            Reply::error(&e.to_string())
        }
        Err(e) => internal(&e),
    }
}

impl Reply {
    /// `/disconnect` done.
    pub fn disconnected(account: &str) -> Reply {
        Reply::lines(vec![vec![plain(format!(
            "Disconnected {account}; autopost's access was revoked at the platform."
        ))]])
    }
}
