//! `/cancel ID`: cancel a pending post (its author or a chat admin); copies already being
//! sent finish.

use autopost::domain::PostId;
use autopost::posting::Cancelled;

use super::{Command, POST_NUMBER, Verb, Who};
use crate::commands::args::{ParseError, only_post_id};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{Reply, code, plain, plural};

/// `/cancel`.
pub const VERB: Verb = Verb::new("cancel", "/cancel ID", "cancel a scheduled post", parse)
    .args(&[POST_NUMBER], "/cancel 17")
    .who(Who::AuthorOrAdmin);

fn parse(args: &str) -> Result<Command, ParseError> {
    Ok(Command::Cancel {
        post: only_post_id(VERB.name, VERB.example_or_usage(), args)?,
    })
}

/// Cancels the post.
pub(crate) async fn run(ctx: &Context<'_>, post: PostId) -> Reply {
    match ctx.app.cancel_post(ctx.actor, post, ctx.now).await {
        Ok(outcome) => Reply::cancelled(post, &outcome),
        Err(e) => posting_error(&e),
    }
}

impl Reply {
    /// The answer to a Cancel: how many targets will never go out, and any already in flight.
    pub fn cancelled(post: PostId, outcome: &Cancelled) -> Reply {
        let mut line = vec![plain("Cancelled post "), code(format!("#{post}"))];
        if outcome.in_flight > 0 {
            line.push(plain(format!(
                "; {} already being sent will finish",
                plural(outcome.in_flight, "copy", "copies")
            )));
        }
        line.push(plain("."));
        Reply::lines(vec![line])
    }
}
