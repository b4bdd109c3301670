//! How a post's messages show its current view: the one status message (each target's
//! outcome, Retry and Edit for the failed ones) and a confirmation brought up to date once
//! the post was edited, cancelled or published. Pure: the view in, a `Reply` out.

use autopost::domain::TargetState;
use autopost::oauth::provider_label;
use autopost::posting::{PostState, PostView, TargetView};

use super::reply::{
    Button, ButtonAction, Reply, Span, bold, both_zones, code, first_words, local_time, plain,
    plural,
};

/// Failed targets that get a Retry button of their own (Discord shows five rows at most; the
/// last holds Edit).
const RETRY_ROWS: usize = 4;

/// `X @alice`, `Facebook Page Alice's Bakery`.
fn target_label(target: &TargetView) -> String {
    format!(
        "{} {}",
        provider_label(target.provider),
        target.account_name
    )
}

/// One line of a status message: the mark, the account, and the link, reason or retry time.
fn target_line(target: &TargetView, view: &PostView) -> Vec<Span> {
    let label = target_label(target);
    match target.state {
        TargetState::Published => {
            let mut line = vec![plain(format!("✅ {label}"))];
            if let Some(url) = &target.url {
                line.push(plain(" · "));
                line.push(Span::Link {
                    text: "open".to_owned(),
                    url: url.clone(),
                });
            }
            line
        }
        TargetState::Failed => vec![plain(format!(
            "❌ {label} · {}",
            target
                .reason
                .as_deref()
                .unwrap_or("the platform refused it")
        ))],
        TargetState::Unknown => vec![plain(format!(
            "❔ {label} · the platform did not answer and autopost cannot check whether it went \
             out; look at the account and post again if it is missing"
        ))],
        TargetState::Cancelled => vec![plain(format!("🚫 {label} · cancelled"))],
        TargetState::Queued | TargetState::Publishing => match target.retry_at {
            Some(at) => {
                let mut words = format!("⏳ {label} · retrying at {}", local_time(at, view.zone));
                if let Some(reason) = &target.reason {
                    words.push_str(&format!(" after {reason}"));
                }
                vec![plain(words)]
            }
            None => vec![plain(format!("⏳ {label}"))],
        },
    }
}

impl Reply {
    /// The status message of a post: each target's outcome as it stands, with Retry for each
    /// failed target and Edit for the post while any failed.
    pub fn post_status(view: &PostView) -> Reply {
        let mut lines = vec![vec![
            bold("Post "),
            code(format!("#{}", view.id)),
            plain(format!(" · {}", first_words(&view.text, 40))),
        ]];
        for target in &view.targets {
            lines.push(target_line(target, view));
        }
        let mut reply = Reply::lines(lines);
        let failed: Vec<&TargetView> = view
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Failed)
            .collect();
        reply.buttons = failed
            .iter()
            .take(RETRY_ROWS)
            .map(|target| {
                vec![Button {
                    label: format!("Retry {}", target_label(target)),
                    action: ButtonAction::Retry(target.id),
                }]
            })
            .collect();
        if !failed.is_empty() {
            reply.buttons.push(vec![Button {
                label: "Edit".to_owned(),
                action: ButtonAction::Edit(view.id),
            }]);
        }
        reply
    }

    /// A post's confirmation brought up to date: while scheduled, its time, targets and
    /// Cancel / Post now; once cancelled, that alone (no buttons); once out, the outcome in
    /// short, pointing to the status message.
    pub fn confirmation_view(view: &PostView) -> Reply {
        let post = view.id;
        let mut reply = match view.state {
            PostState::Cancelled => Reply::lines(vec![
                vec![bold("Cancelled post "), code(format!("#{post}"))],
                vec![plain(first_words(&view.text, 60))],
            ]),
            PostState::Done => {
                let count =
                    |state: TargetState| view.targets.iter().filter(|t| t.state == state).count();
                let mut outcome = vec![format!(
                    "✅ {}",
                    plural(count(TargetState::Published), "published", "published")
                )];
                for (state, words) in [
                    (TargetState::Failed, "❌ {} failed"),
                    (TargetState::Unknown, "❔ {} unknown"),
                    (TargetState::Cancelled, "🚫 {} cancelled"),
                ] {
                    let n = count(state);
                    if n > 0 {
                        outcome.push(words.replace("{}", &n.to_string()));
                    }
                }
                Reply::lines(vec![
                    vec![bold("Post "), code(format!("#{post}")), bold(" went out")],
                    vec![plain(first_words(&view.text, 60))],
                    vec![plain(format!(
                        "{}; the status message shows each account",
                        outcome.join(" · ")
                    ))],
                ])
            }
            PostState::Scheduled => {
                let mut lines = vec![
                    vec![bold("Scheduled post "), code(format!("#{post}"))],
                    vec![plain("Goes out "), bold(both_zones(view.due_at, view.zone))],
                    vec![plain(first_words(&view.text, 60))],
                ];
                for target in &view.targets {
                    lines.push(target_line(target, view));
                }
                let mut reply = Reply::lines(lines);
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
        };
        reply.shows = Some(post);
        reply
    }
}

#[cfg(test)]
mod tests {
    use autopost::domain::{ChatId, PostId, Provider, TargetId};
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

    fn target(id: i64, provider: Provider, name: &str, state: TargetState) -> TargetView {
        TargetView {
            id: TargetId(id),
            provider,
            account_name: name.to_owned(),
            state,
            url: None,
            reason: None,
            retry_at: None,
            attempts: 0,
        }
    }

    fn view(state: PostState, targets: Vec<TargetView>) -> PostView {
        PostView {
            id: PostId(17),
            chat: ChatId(1),
            text: "Launch day at the bakery".to_owned(),
            images: 0,
            due_at: utc(2026, 11, 30, 8, 0),
            zone: Berlin,
            state,
            targets,
        }
    }

    #[test]
    fn the_status_message_shows_each_target_with_retry_and_edit_for_failures() {
        let mut x = target(1, Provider::X, "@alice", TargetState::Published);
        x.url = Some("https://x.com/i/web/status/5".to_owned());
        let mut facebook = target(2, Provider::FacebookPage, "Bakery", TargetState::Failed);
        facebook.reason = Some("Facebook blocked this post under its content rules".to_owned());
        let mut instagram = target(3, Provider::Instagram, "@bakery", TargetState::Queued);
        instagram.retry_at = Some(utc(2026, 11, 30, 13, 5));
        instagram.reason = Some("Instagram was unavailable (HTTP 503)".to_owned());
        let reply = Reply::post_status(&view(PostState::Scheduled, vec![x, facebook, instagram]));
        let html = reply.to_telegram_html();
        assert!(
            html.starts_with("<b>Post </b><code>#17</code> · Launch day"),
            "{html}"
        );
        assert!(
            html.contains("✅ X @alice · <a href=\"https://x.com/i/web/status/5\">open</a>"),
            "{html}"
        );
        assert!(
            html.contains("❌ Facebook Page Bakery · Facebook blocked this post"),
            "{html}"
        );
        assert!(
            html.contains(
                "⏳ Instagram @bakery · retrying at Mon 30 Nov 14:05 after Instagram was unavailable (HTTP 503)"
            ),
            "{html}"
        );
        let data: Vec<Vec<String>> = reply
            .buttons
            .iter()
            .map(|row| row.iter().map(Button::callback_data).collect())
            .collect();
        assert_eq!(
            data,
            [vec!["retry:2".to_owned()], vec!["edit:17".to_owned()]]
        );
        let all_out = Reply::post_status(&view(
            PostState::Done,
            vec![target(1, Provider::X, "@alice", TargetState::Published)],
        ));
        assert!(all_out.buttons.is_empty());
    }

    #[test]
    fn a_confirmation_loses_its_buttons_once_cancelled_or_out() {
        let scheduled = Reply::confirmation_view(&view(
            PostState::Scheduled,
            vec![target(1, Provider::X, "@alice", TargetState::Queued)],
        ));
        assert_eq!(scheduled.shows, Some(PostId(17)));
        let data: Vec<String> = scheduled.buttons[0]
            .iter()
            .map(Button::callback_data)
            .collect();
        assert_eq!(data, ["cancel:17", "postnow:17"]);
        let html = scheduled.to_telegram_html();
        assert!(
            html.contains("Mon 30 Nov 09:00 (Europe/Berlin) · 08:00 UTC"),
            "{html}"
        );

        let cancelled = Reply::confirmation_view(&view(
            PostState::Cancelled,
            vec![target(1, Provider::X, "@alice", TargetState::Cancelled)],
        ));
        assert!(cancelled.buttons.is_empty());
        assert!(cancelled.to_markdown().contains("Cancelled post"));

        let out = Reply::confirmation_view(&view(
            PostState::Done,
            vec![
                target(1, Provider::X, "@alice", TargetState::Published),
                target(2, Provider::FacebookPage, "Bakery", TargetState::Failed),
            ],
        ));
        assert!(out.buttons.is_empty());
        let text = out.to_markdown();
        assert!(text.contains("✅ 1 published · ❌ 1 failed"), "{text}");
        assert!(text.contains("status message"), "{text}");
    }
}
