//! `/queue`: the chat's pending posts, each with its id, time in the viewer's zone, author,
//! targets and first words.

use autopost::oauth::provider_label;
use autopost::posting::QueuedPost;
use chrono_tz::Tz;

use super::{Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal, posting_error};
use crate::commands::reply::{
    Button, ButtonAction, Reply, bold, code, first_words, local_time, plain,
};

/// Posts of the queue that get buttons of their own.
const BUTTON_ROWS: usize = 5;

/// `/queue`.
pub const VERB: Verb = Verb::new("queue", "/queue", "this chat's scheduled posts", parse);

fn parse(_: &str) -> Result<Command, ParseError> {
    Ok(Command::Queue)
}

/// Lists the queue.
pub(crate) async fn run(ctx: &Context<'_>) -> Reply {
    match (
        ctx.app.queue(ctx.actor.chat).await,
        ctx.app.zone_of(ctx.actor).await,
    ) {
        (Ok(posts), Ok(zone)) => Reply::queue(&posts, zone),
        (Err(e), _) => posting_error(&e),
        (_, Err(e)) => internal(&e),
    }
}

impl Reply {
    /// `/queue`: each pending post's id, time in the viewer's zone, author, targets and
    /// first words.
    pub fn queue(posts: &[QueuedPost], zone: Tz) -> Reply {
        if posts.is_empty() {
            return Reply::lines(vec![vec![
                plain("Nothing is scheduled in this chat; add a post with "),
                code("/post tomorrow 9am | Hello"),
            ]]);
        }
        let mut lines = vec![vec![
            bold("Scheduled posts"),
            plain(format!(" (times in {})", zone.name())),
        ]];
        for post in posts {
            let when = match &post.recurrence {
                Some(rule) => format!("🔁 {rule}, next {}", local_time(post.due_at, zone)),
                None => local_time(post.due_at, zone),
            };
            lines.push(vec![
                code(format!("#{}", post.post)),
                plain(format!(
                    " {} · {} → {} · {}",
                    when,
                    post.author,
                    post.targets.join(", "),
                    first_words(&post.body, 40)
                )),
            ]);
            // A target waiting for another attempt shows when and why, not the time it was
            // first due.
            for retry in &post.retrying {
                let mut words = format!(
                    "   ⏳ {} {}: retrying at {}",
                    provider_label(retry.provider),
                    retry.account_name,
                    local_time(retry.at, zone)
                );
                if let Some(reason) = &retry.reason {
                    words.push_str(&format!(" after {}", first_words(reason, 80)));
                }
                lines.push(vec![plain(words)]);
            }
        }
        lines.push(vec![
            plain("Change one with "),
            code("/cancel ID"),
            plain(", "),
            code("/postnow ID"),
            plain(" or "),
            code("/edit ID WHEN | TEXT"),
        ]);
        let mut reply = Reply::lines(lines);
        reply.card = true;
        // A row of buttons for each of the first posts (Discord shows five rows at most). A
        // series can be listed twice (an occurrence still going out and the next one), with
        // one id: one row, since Discord refuses a message whose buttons repeat an id.
        let mut seen = Vec::new();
        reply.buttons = posts
            .iter()
            .filter(|post| {
                let first = !seen.contains(&post.post);
                seen.push(post.post);
                first
            })
            .take(BUTTON_ROWS)
            .map(|post| {
                vec![
                    Button {
                        label: format!("Cancel #{}", post.post),
                        action: ButtonAction::Cancel(post.post),
                    },
                    Button {
                        label: format!("Post now #{}", post.post),
                        action: ButtonAction::PostNow(post.post),
                    },
                ]
            })
            .collect();
        reply
    }
}

#[cfg(test)]
mod tests {
    use autopost::domain::{PostId, Provider};
    use autopost::posting::Retrying;
    use autopost::recurrence::Recurrence;
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

    #[test]
    fn a_series_is_marked_with_its_rule_and_gets_one_row_of_buttons() {
        let occurrence = |due_at, recurrence| QueuedPost {
            author: "alice".into(),
            targets: vec!["@team".into()],
            post: PostId(7),
            due_at,
            body: "weekly news".into(),
            recurrence,
            retrying: Vec::new(),
        };
        let rule = Recurrence::from_storage("v1 MO 09:00 Europe/Berlin").ok();
        // One occurrence still going out, the next one pending: both under the series' id.
        let posts = [
            occurrence(utc(2026, 11, 23, 8, 0), None),
            occurrence(utc(2026, 11, 30, 8, 0), rule),
        ];
        let reply = Reply::queue(&posts, Berlin);
        let html = reply.to_telegram_html();
        assert!(
            html.contains(
                "<code>#7</code> 🔁 every Monday at 09:00 (Europe/Berlin), next Mon 30 Nov 09:00 · alice"
            ),
            "{html}"
        );
        assert_eq!(reply.buttons.len(), 1, "one row for the series");
        assert_eq!(reply.buttons[0][0].action, ButtonAction::Cancel(PostId(7)));
    }

    #[test]
    fn the_queue_lists_ids_local_times_and_first_words() {
        let posts = [
            QueuedPost {
                author: "alice".into(),
                targets: vec!["@team".into()],
                post: PostId(4),
                due_at: utc(2026, 11, 30, 8, 0),
                body:
                    "Launch day!\nOur new bakery opens its doors at nine, come early for croissants"
                        .into(),
                recurrence: None,
                retrying: vec![Retrying {
                    provider: Provider::X,
                    account_name: "@team".into(),
                    at: utc(2026, 11, 30, 13, 5),
                    reason: Some("X was unavailable (HTTP 503: busy)".into()),
                }],
            },
            QueuedPost {
                author: "alice".into(),
                targets: vec!["@team".into()],
                post: PostId(5),
                due_at: utc(2026, 12, 1, 17, 30),
                body: "short".into(),
                recurrence: None,
                retrying: Vec::new(),
            },
        ];
        let html = Reply::queue(&posts, Berlin).to_telegram_html();
        assert!(
            html.contains(
                "<code>#4</code> Mon 30 Nov 09:00 · alice → @team · Launch day! Our new bakery opens its…\n"
            ),
            "{html}"
        );
        assert!(
            html.contains("<code>#5</code> Tue 1 Dec 18:30 · alice → @team · short\n"),
            "{html}"
        );
        assert!(
            html.contains(
                "⏳ X @team: retrying at Mon 30 Nov 14:05 after X was unavailable (HTTP 503: busy)"
            ),
            "{html}"
        );
        assert!(html.contains("(times in Europe/Berlin)"));
        assert!(
            Reply::queue(&[], Berlin)
                .to_telegram_html()
                .contains("<code>/post tomorrow 9am | Hello</code>")
        );
        assert_eq!(
            Reply::queue(&posts, Berlin).buttons.len(),
            2,
            "a row of buttons each"
        );
        assert_eq!(
            first_words("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 40)
                .chars()
                .count(),
            41
        );
    }
}
