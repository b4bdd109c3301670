//! `/history`: the chat's recent outcomes, newest first, with links to the live posts.

use autopost::domain::TargetState;
use autopost::posting::HistoryEntry;
use chrono_tz::Tz;

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal, posting_error};
use crate::commands::reply::{
    Reply, Span, account_name, bold, code, first_words, local_time, plain,
};

/// `/history`.
pub const VERB: Verb = Verb::new(
    "history",
    "/history",
    "published and failed posts, with links",
    parse,
);

/// Outcomes shown.
const SHOWN: u32 = 20;

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::History)
}

/// Lists recent outcomes.
pub(crate) async fn run(ctx: &Context<'_>) -> Reply {
    match (
        ctx.app.history(ctx.actor.chat, SHOWN).await,
        ctx.app.zone_of(ctx.actor).await,
    ) {
        (Ok(entries), Ok(zone)) => Reply::history(&entries, zone),
        (Err(e), _) => posting_error(&e),
        (_, Err(e)) => internal(&e),
    }
}

impl Reply {
    /// `/history`: recent outcomes, newest first, with links to the live posts.
    pub fn history(entries: &[HistoryEntry], zone: Tz) -> Reply {
        if entries.is_empty() {
            return Reply::lines(vec![vec![plain(
                "Nothing has been published from this chat yet.",
            )]]);
        }
        let mut lines = vec![vec![
            bold("Recent posts"),
            plain(format!(" (times in {})", zone.name())),
        ]];
        for entry in entries {
            let state = match entry.state {
                TargetState::Published => "published",
                TargetState::Failed => "failed",
                TargetState::Unknown => "outcome unknown",
                TargetState::Cancelled => "cancelled",
                TargetState::Queued => "queued",
                TargetState::Publishing => "publishing",
            };
            let mut line = vec![
                code(format!("#{}", entry.post)),
                plain(format!(
                    " {} · {state} · {} · {}",
                    local_time(entry.at, zone),
                    account_name(&entry.account_name, entry.provider),
                    first_words(&entry.body, 30),
                )),
            ];
            if let Some(url) = &entry.url {
                line.push(plain(" · "));
                line.push(Span::Link {
                    text: "open".to_owned(),
                    url: url.clone(),
                });
            }
            if let Some(error) = &entry.error {
                line.push(plain(format!(" · {}", first_words(error, 120))));
            }
            lines.push(line);
        }
        let mut reply = Reply::lines(lines);
        reply.card = true;
        reply
    }
}

#[cfg(test)]
mod tests {
    use autopost::domain::{PostId, Provider};
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

    #[test]
    fn history_shows_state_account_and_link() {
        let entries = [
            HistoryEntry {
                post: PostId(9),
                body: "hello world".into(),
                provider: Provider::X,
                account_name: "@alice".into(),
                state: TargetState::Published,
                url: Some("https://x.com/alice/status/1".into()),
                error: None,
                at: utc(2026, 11, 30, 8, 0),
            },
            HistoryEntry {
                post: PostId(8),
                body: "photo".into(),
                provider: Provider::Instagram,
                account_name: "bakery".into(),
                state: TargetState::Failed,
                url: None,
                error: Some("the image is too small".into()),
                at: utc(2026, 11, 29, 8, 0),
            },
        ];
        let html = Reply::history(&entries, Berlin).to_telegram_html();
        assert!(html.contains(
            "<code>#9</code> Mon 30 Nov 09:00 · published · @alice (X) · hello world · <a href=\"https://x.com/alice/status/1\">open</a>"
        ), "{html}");
        assert!(
            html.contains("· failed · bakery (Instagram) · photo · the image is too small"),
            "{html}"
        );
        assert!(
            Reply::history(&[], Berlin)
                .to_markdown()
                .contains("Nothing has been published")
        );
    }
}
