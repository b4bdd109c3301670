//! `/postnow ID`: send a pending post right away (its author or a chat admin).

use autopost::domain::PostId;

use super::{Command, POST_NUMBER, Verb, Who};
use crate::commands::args::{ParseError, only_post_id};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{Reply, code, plain, plural};

/// `/postnow`.
pub const VERB: Verb = Verb::new("postnow", "/postnow ID", "send it right away", parse)
    .args(&[POST_NUMBER], "/postnow 17")
    .who(Who::AuthorOrAdmin);

fn parse(args: &str) -> Result<Command, ParseError> {
    Ok(Command::PostNow {
        post: only_post_id(VERB.name, VERB.example_or_usage(), args)?,
    })
}

/// Sends the post now.
pub(crate) async fn run(ctx: &Context<'_>, post: PostId) -> Reply {
    match ctx.app.post_now(ctx.actor, post, ctx.now).await {
        Ok(count) => Reply::posting_now(post, count),
        Err(e) => posting_error(&e),
    }
}

impl Reply {
    /// The answer to Post now.
    pub fn posting_now(post: PostId, targets: usize) -> Reply {
        Reply::lines(vec![vec![
            plain("Sending post "),
            code(format!("#{post}")),
            plain(format!(
                " now to {}; /history shows the result.",
                plural(targets, "account", "accounts")
            )),
        ]])
    }
}
