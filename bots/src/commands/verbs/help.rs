//! `/help`: every verb of the table with what it does and an example, the team rule, and
//! the privacy notice.

use url::Url;

use super::{Command, VERBS, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::Context;
use crate::commands::reply::{Reply, Span, bold, code, marked, plain};

/// `/help`.
pub const VERB: Verb = Verb::new(
    "help",
    "/help",
    "how to schedule posts, with examples",
    parse,
)
.unlisted()
.before_consent();

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::Help)
}

/// Shows the help.
pub(crate) fn run(ctx: &Context<'_>) -> Reply {
    Reply::help(&ctx.app.privacy_url())
}

impl Reply {
    /// `/help`: every verb of SPEC section 4 with an example, and the privacy notice.
    pub fn help(privacy_url: &Url) -> Reply {
        let mut lines = vec![vec![bold("Commands")]];
        for verb in VERBS.iter().filter(|verb| verb.in_help) {
            let mut line = vec![plain(verb.usage), plain(format!(" — {}", verb.summary))];
            if let Some(example) = verb.example {
                line.push(plain(", e.g. "));
                line.push(code(example));
            }
            lines.push(line);
            lines.extend(verb.notes.iter().map(|note| marked(note)));
        }
        lines.push(vec![plain(
            "Anyone in a group may add posts; changing someone else's needs admin rights.",
        )]);
        lines.push(vec![
            plain("Privacy: autopost keeps only what it needs to post for you; read "),
            Span::Link {
                text: "the privacy policy".to_owned(),
                url: privacy_url.to_string(),
            },
        ]);
        Reply::lines(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::reply::DISCORD_TEXT_LIMIT;
    use crate::commands::testing::{measure, url};

    #[test]
    fn help_lists_every_verb_with_the_privacy_link() {
        let privacy = url("https://autopost.example/privacy");
        let reply = Reply::help(&privacy);
        let html = reply.to_telegram_html();
        for verb in [
            "/post",
            "/queue",
            "/cancel",
            "/edit",
            "/postnow",
            "/history",
            "/connect",
            "/accounts",
            "/disconnect",
            "/timezone",
            "/export",
            "/deleteme",
        ] {
            assert!(html.contains(&format!("{verb} ")), "{verb} missing");
        }
        assert!(html.contains("<a href=\"https://autopost.example/privacy\">"));
        assert!(html.contains("<code>/post tomorrow 9am | Launch day!</code>"));
        assert!(measure(&reply.to_markdown()) <= DISCORD_TEXT_LIMIT);
        assert!(
            !reply.to_markdown().ends_with('…'),
            "help fits Discord whole"
        );
    }
}
