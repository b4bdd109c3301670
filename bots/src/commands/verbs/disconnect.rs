//! `/disconnect ACCOUNT`: unlink one of the chat's accounts (whoever linked it, or a chat
//! admin) and revoke autopost's access at the platform once no chat uses it.

use autopost::domain::Provider;
use autopost::privacy::{Disconnected, GrantUse, PrivacyError};
use autopost::revocation::platform_name;

use super::{Arg, ArgKind, Command, Verb, Who};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal, posting_error};
use crate::commands::reply::{Reply, account_name, plain, plural};

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
        Ok(outcome) => Reply::disconnected(&account.display_name, account.provider, &outcome),
        Err(e @ (PrivacyError::NotLinked | PrivacyError::NotAllowed(_))) => {
            Reply::error(&e.to_string())
        }
        Err(e) => internal(&e),
    }
}

impl Reply {
    /// `/disconnect` done: what became of autopost's access at the platform, exactly.
    pub fn disconnected(account: &str, provider: Provider, outcome: &Disconnected) -> Reply {
        let platform = platform_name(provider.oauth_provider());
        let line = match outcome {
            Disconnected::Revoked => {
                format!("Disconnected {account}; autopost's access was revoked at {platform}.")
            }
            Disconnected::AlreadyRevoked => format!(
                "Disconnected {account}; its access at {platform} had already been revoked, so there was nothing left to revoke."
            ),
            Disconnected::WillRetry => format!(
                "Disconnected {account}, and autopost erased its copy of the access. {platform} could not be reached to revoke it there; autopost keeps trying for up to 30 days and will tell this chat how it ends."
            ),
            Disconnected::Kept { still_serves } => {
                let uses: Vec<String> = still_serves.iter().map(grant_use).collect();
                return Reply::lines(vec![
                    vec![plain(format!("Disconnected {account} from this chat."))],
                    vec![plain(format!(
                        "autopost's access was not revoked: the same {platform} authorization still posts as {}. Disconnect {} too to revoke it.",
                        join(&uses),
                        if uses.len() == 1 { "that" } else { "those" },
                    ))],
                ]);
            }
        };
        Reply::lines(vec![vec![plain(line)]])
    }
}

/// `@alice in 2 other chats`, `Alice's Bakery (Facebook Page) here and in 1 other chat`.
fn grant_use(used: &GrantUse) -> String {
    let name = account_name(&used.account, used.provider);
    let elsewhere = plural(used.other_chats, "other chat", "other chats");
    match (used.here, used.other_chats) {
        (true, 0) => format!("{name} here"),
        (true, _) => format!("{name} here and in {elsewhere}"),
        (false, _) => format!("{name} in {elsewhere}"),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::telegram_visible;

    fn said(outcome: &Disconnected) -> String {
        telegram_visible(&Reply::disconnected("@alice", Provider::X, outcome).to_telegram_html())
    }

    #[test]
    fn each_outcome_says_exactly_what_happened_to_the_access() {
        assert_eq!(
            said(&Disconnected::Revoked),
            "Disconnected @alice; autopost's access was revoked at X."
        );
        let already = said(&Disconnected::AlreadyRevoked);
        assert!(already.contains("had already been revoked"), "{already}");
        assert!(!already.contains("was revoked at"), "{already}");
        let retry = said(&Disconnected::WillRetry);
        assert!(
            retry.contains("could not be reached") && retry.contains("keeps trying"),
            "{retry}"
        );
        assert!(!retry.contains("was revoked"), "{retry}");
        let kept = said(&Disconnected::Kept {
            still_serves: vec![
                GrantUse {
                    provider: Provider::X,
                    account: "@alice".to_owned(),
                    here: false,
                    other_chats: 2,
                },
                GrantUse {
                    provider: Provider::Instagram,
                    account: "@alices_bakery".to_owned(),
                    here: true,
                    other_chats: 1,
                },
            ],
        });
        assert!(kept.contains("access was not revoked"), "{kept}");
        assert!(
            kept.contains(
                "@alice (X) in 2 other chats and @alices_bakery (Instagram) here and in 1 other chat"
            ),
            "{kept}"
        );
    }
}
