//! `/history`: the chat's recent outcomes, newest first, with links to the live posts.

use autopost::domain::{PostId, TargetState};
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

/// Outcomes read (one per target).
const SHOWN: u32 = 60;

/// Posts shown.
const POSTS_SHOWN: usize = 20;

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
    /// `/history`: one row per post, newest first: its time, first words and each target's
    /// state, with links to the live posts and the reasons of failures.
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
        // Entries come newest first, one per target; a post's row sits where its newest
        // outcome is.
        let mut posts: Vec<(PostId, Vec<&HistoryEntry>)> = Vec::new();
        for entry in entries {
            match posts.iter_mut().find(|(post, _)| *post == entry.post) {
                Some((_, targets)) => targets.push(entry),
                None => posts.push((entry.post, vec![entry])),
            }
        }
        for (post, targets) in posts.iter().take(POSTS_SHOWN) {
            let newest = targets[0];
            let mut line = vec![
                code(format!("#{post}")),
                plain(format!(
                    " {} · {}",
                    local_time(newest.at, zone),
                    first_words(&newest.body, 30),
                )),
            ];
            for entry in targets {
                let mark = match entry.state {
                    TargetState::Published => "✅",
                    TargetState::Failed => "❌",
                    TargetState::Unknown => "❔",
                    TargetState::Cancelled => "🚫",
                    TargetState::Queued | TargetState::Publishing => "⏳",
                };
                line.push(plain(format!(
                    " · {mark} {}",
                    account_name(&entry.account_name, entry.provider)
                )));
                if let Some(url) = &entry.url {
                    line.push(plain(" "));
                    line.push(Span::Link {
                        text: "open".to_owned(),
                        url: url.clone(),
                    });
                }
                if let Some(error) = entry
                    .error
                    .as_ref()
                    .filter(|_| !entry.state.eq(&TargetState::Published))
                {
                    line.push(plain(format!(" ({})", first_words(error, 120))));
                }
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
    use autopost::domain::Provider;
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
            "<code>#9</code> Mon 30 Nov 09:00 · hello world · ✅ @alice (X) <a href=\"https://x.com/alice/status/1\">open</a>\n"
        ), "{html}");
        assert!(
            html.contains("<code>#8</code> Sun 29 Nov 09:00 · photo · ❌ bakery (Instagram) (the image is too small)"),
            "{html}"
        );
        // Two targets of one post: one row.
        let mut both = entries.to_vec();
        both[1].post = PostId(9);
        let html = Reply::history(&both, Berlin).to_telegram_html();
        assert!(
            html.contains("✅ @alice (X) <a href=\"https://x.com/alice/status/1\">open</a> · ❌ bakery (Instagram)"),
            "{html}"
        );
        assert_eq!(html.matches("<code>#9</code>").count(), 1, "{html}");
        assert!(
            Reply::history(&[], Berlin)
                .to_markdown()
                .contains("Nothing has been published")
        );
    }
}
