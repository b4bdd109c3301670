//! `/post WHEN | TEXT` (also a caption, and in a private chat the plain `WHEN | TEXT`):
//! schedule the text and its images for the chat's accounts, and confirm it with its id,
//! both zones, each target's character count and Cancel / Post now buttons.

use autopost::posting::{Accepted, Draft};
use bytes::Bytes;

use super::{Arg, ArgKind, Command, Verb};
use crate::commands::args::{NamedArgs, ParseError, PostForm, split_when_text, when_and_text};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{
    Button, ButtonAction, Reply, account_name, bold, both_zones, code, plain,
};

/// `/post`.
pub const VERB: Verb = Verb::new(
    "post",
    "/post WHEN | TEXT",
    "schedule a post (attach images too)",
    parse,
)
.args(
    &[
        Arg::required(
            "when",
            ArgKind::When,
            "when to publish: tomorrow 9am, in 2h, friday 5pm, now",
        ),
        Arg::required("text", ArgKind::Text, "what to publish"),
        Arg::optional(
            "to",
            ArgKind::Targets,
            "which accounts, by name or platform (x, facebook); default: all",
        ),
        Arg::optional("image1", ArgKind::Image, "a picture to post with it"),
        Arg::optional("image2", ArgKind::Image, "a second picture"),
        Arg::optional("image3", ArgKind::Image, "a third picture"),
        Arg::optional("image4", ArgKind::Image, "a fourth picture"),
    ],
    "/post tomorrow 9am | Launch day!",
)
.named(parse_named)
.notes(&[
    "WHEN can be `now`, `in 2h`, `friday 5pm`, `dec 24 6pm Europe/Berlin` or `every monday 9am`",
    "In a private chat just send `tomorrow 9am | Launch day!`, also as a photo caption.",
])
.with_images();

fn parse(args: &str) -> Result<Command, ParseError> {
    let (when, text) = split_when_text(args, PostForm::Post)?;
    Ok(Command::Post {
        when,
        text,
        to: Vec::new(),
    })
}

fn parse_named(named: &NamedArgs) -> Result<Command, ParseError> {
    let (when, text) = when_and_text(named, PostForm::Post)?;
    let to = named
        .text("to")
        .map(|names| {
            names
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Command::Post { when, text, to })
}

/// Schedules the post, for the accounts named in `to` (all when empty).
pub(crate) async fn run(
    ctx: &Context<'_>,
    when: String,
    text: String,
    to: &[String],
    images: Vec<Bytes>,
) -> Reply {
    let targets = if to.is_empty() {
        None
    } else {
        match ctx.app.resolve_targets(ctx.actor.chat, to).await {
            Ok(ids) => Some(ids),
            Err(e) => return posting_error(&e),
        }
    };
    let draft = Draft {
        when,
        text,
        images,
        targets,
    };
    match ctx.app.create_post(ctx.actor, draft, ctx.now).await {
        Ok(accepted) => Reply::accepted(&accepted),
        Err(e) => posting_error(&e),
    }
}

impl Reply {
    /// The confirmation of a new post: id, due time in the author's zone and in UTC, the
    /// repeat rule, each target's character count, and Cancel / Post now buttons.
    pub fn accepted(accepted: &Accepted) -> Reply {
        Reply::confirmation(accepted, "Scheduled post ")
    }

    /// A confirmation headed `heading`: for a new post, and for an edit (`/edit`).
    pub(crate) fn confirmation(accepted: &Accepted, heading: &str) -> Reply {
        let post = accepted.post;
        let mut lines = vec![
            vec![bold(heading), code(format!("#{post}"))],
            vec![
                plain("Goes out "),
                bold(both_zones(accepted.due_at, accepted.zone)),
            ],
        ];
        if let Some(rule) = &accepted.recurrence {
            lines.push(vec![plain(format!("Repeats {rule}, until cancelled"))]);
        }
        for target in &accepted.targets {
            lines.push(vec![
                plain("• "),
                plain(account_name(
                    &target.account.display_name,
                    target.account.provider,
                )),
                plain(format!(": {}/{} characters", target.length, target.limit)),
            ]);
        }
        let mut reply = Reply::lines(lines);
        reply.shows = Some(post);
        reply.buttons = vec![vec![
            Button {
                label: "Cancel".to_owned(),
                action: ButtonAction::Cancel(post),
            },
            Button {
                label: "Post now".to_owned(),
                action: ButtonAction::PostNow(post),
            },
        ]];
        reply
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::Berlin;
    use chrono_tz::Tz;

    use super::*;
    use crate::commands::testing::{accepted, utc};

    #[test]
    fn the_confirmation_shows_id_both_zones_targets_and_buttons() {
        let reply = Reply::accepted(&accepted(utc(2026, 11, 30, 8, 0), Berlin));
        let html = reply.to_telegram_html();
        assert_eq!(
            html,
            "<b>Scheduled post </b><code>#17</code>\n\
             Goes out <b>Mon 30 Nov 09:00 (Europe/Berlin) · 08:00 UTC</b>\n\
             • @alice (X): 42/280 characters\n\
             • Alice's &lt;Bakery&gt; (Facebook Page): 42/63206 characters"
        );
        let data: Vec<String> = reply.buttons[0].iter().map(Button::callback_data).collect();
        assert_eq!(data, ["cancel:17", "postnow:17"]);
        assert!(!reply.private);
    }

    #[test]
    fn confirmations_on_either_side_of_a_dst_change_show_the_shifted_utc_hour() {
        // Europe/Berlin leaves summer time on Sunday 25 October 2026 at 03:00 CEST.
        let cases = [
            (
                utc(2026, 10, 24, 7, 0),
                "Sat 24 Oct 09:00 (Europe/Berlin) · 07:00 UTC",
            ),
            (
                utc(2026, 10, 26, 8, 0),
                "Mon 26 Oct 09:00 (Europe/Berlin) · 08:00 UTC",
            ),
            // 02:30 happens twice that night; only the UTC side tells the two apart.
            (
                utc(2026, 10, 25, 0, 30),
                "Sun 25 Oct 02:30 (Europe/Berlin) · 00:30 UTC",
            ),
            (
                utc(2026, 10, 25, 1, 30),
                "Sun 25 Oct 02:30 (Europe/Berlin) · 01:30 UTC",
            ),
            // Spring forward, 29 March 2026: 03:00 CEST is 01:00 UTC.
            (
                utc(2026, 3, 29, 1, 0),
                "Sun 29 Mar 03:00 (Europe/Berlin) · 01:00 UTC",
            ),
            (
                utc(2026, 3, 28, 23, 30),
                "Sun 29 Mar 00:30 (Europe/Berlin) · Sat 28 Mar 23:30 UTC",
            ),
        ];
        for (due, expected) in cases {
            let html = Reply::accepted(&accepted(due, Berlin)).to_telegram_html();
            assert!(html.contains(expected), "{expected} in {html}");
        }
        let in_utc = Reply::accepted(&accepted(utc(2026, 11, 30, 8, 0), Tz::UTC));
        assert!(in_utc.to_markdown().contains("Mon 30 Nov 08:00 UTC"));
    }
}
