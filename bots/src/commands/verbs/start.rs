//! `/start`: a greeting with a first step, then the help. Telegram sends it when a person
//! opens the bot; its deep-link payload is ignored.

use url::Url;

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::Context;
use crate::commands::reply::{Reply, bold, code, plain};

/// `/start`.
pub const VERB: Verb = Verb::new(
    "start",
    "/start",
    "what autopost does, privacy notice and examples",
    parse,
)
.unlisted()
.before_consent();

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::Start)
}

/// Greets.
pub(crate) fn run(ctx: &Context<'_>) -> Reply {
    Reply::start(&ctx.app.privacy_url())
}

impl Reply {
    /// `/start`: a greeting, then the help.
    pub fn start(privacy_url: &Url) -> Reply {
        let mut reply = Reply::lines(vec![
            vec![bold(
                "Hi! autopost publishes your posts to X, Facebook Pages and Instagram at the time you choose.",
            )],
            vec![
                plain("First link an account with "),
                code("/connect x"),
                plain(", then try "),
                code("/post in 5 minutes | Hello from autopost"),
            ],
            vec![],
        ]);
        reply.text.extend(Reply::help(privacy_url).text);
        reply
    }
}
