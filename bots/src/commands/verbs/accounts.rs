//! `/accounts`: the accounts posting for this chat, and any that need linking again.

use autopost::domain::AccountState;
use autopost::posting::LinkedAccount;

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{Reply, account_name, bold, code, plain};

/// `/accounts`.
pub const VERB: Verb = Verb::new(
    "accounts",
    "/accounts",
    "the accounts posting for this chat",
    parse,
);

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::Accounts)
}

/// Lists the chat's accounts.
pub(crate) async fn run(ctx: &Context<'_>) -> Reply {
    match ctx.app.accounts(ctx.actor.chat).await {
        Ok(accounts) => Reply::accounts(&accounts),
        Err(e) => posting_error(&e),
    }
}

impl Reply {
    /// `/accounts`: the chat's linked accounts and any that need attention.
    pub fn accounts(accounts: &[LinkedAccount]) -> Reply {
        let linked: Vec<&LinkedAccount> = accounts
            .iter()
            .filter(|a| a.state != AccountState::Revoked)
            .collect();
        if linked.is_empty() {
            return Reply::lines(vec![vec![
                plain("No account is linked to this chat yet; link one with "),
                code("/connect x"),
                plain(", "),
                code("/connect facebook"),
                plain(" or "),
                code("/connect instagram"),
            ]]);
        }
        let mut lines = vec![vec![bold("Accounts posting for this chat")]];
        for account in linked {
            let mut line = vec![
                plain("• "),
                plain(account_name(&account.display_name, account.provider)),
            ];
            if account.state == AccountState::NeedsReconnect {
                line.push(plain(" · needs linking again: its owner can use /connect"));
            }
            lines.push(line);
        }
        lines.push(vec![plain("Unlink one with "), code("/disconnect NAME")]);
        Reply::lines(lines)
    }
}

#[cfg(test)]
mod tests {
    use autopost::domain::Provider;

    use super::*;
    use crate::commands::testing::account;

    #[test]
    fn accounts_are_listed_with_those_needing_attention_and_revoked_ones_left_out() {
        let mut stale = account("@old", Provider::X);
        stale.state = AccountState::NeedsReconnect;
        let mut gone = account("@gone", Provider::X);
        gone.state = AccountState::Revoked;
        let html =
            Reply::accounts(&[account("@alice", Provider::X), stale, gone]).to_telegram_html();
        assert!(
            html.contains("• @alice (X)\n• @old (X) · needs linking again"),
            "{html}"
        );
        assert!(!html.contains("@gone"));
        assert!(
            Reply::accounts(&[])
                .to_telegram_html()
                .contains("<code>/connect x</code>")
        );
    }
}
