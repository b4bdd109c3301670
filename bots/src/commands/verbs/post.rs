//! `/post [to ACCOUNTS] WHEN | TEXT` (also a caption, and in a private chat the plain
//! `WHEN | TEXT`), with lines such as `x: shorter text` for a network's own text: schedule the
//! text and its images for the chat's accounts, and confirm it with a preview, both zones,
//! each target's count, notices, target toggles and Cancel / Post now buttons.

use autopost::domain::Provider;
use autopost::drafts::HeldPost;
use autopost::posting::{Accepted, Draft, Notice, PostingError};
use autopost::timeparse::TimeError;
use bytes::Bytes;

use super::{Arg, ArgKind, Choice, Command, Verb};
use crate::commands::args::{NamedArgs, ParseError, PostForm, split_when_text, when_and_text};
use crate::commands::context::{Context, posting_error};
use crate::commands::reply::{
    Button, ButtonAction, Reply, Span, account_name, ago, bold, code, first_words, from_now,
    marked, near_both_zones, plain, plural,
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
            "which accounts, by name or platform (x, facebook); default: all that can",
        ),
        Arg::optional("x_text", ArgKind::Text, "X's own text instead of the main one"),
        Arg::optional(
            "facebook_text",
            ArgKind::Text,
            "Facebook's own text instead of the main one",
        ),
        Arg::optional(
            "instagram_text",
            ArgKind::Text,
            "Instagram's own caption instead of the main text",
        ),
        Arg::optional("image1", ArgKind::Image, "a picture to post with it"),
        Arg::optional("image2", ArgKind::Image, "a second picture"),
        Arg::optional("image3", ArgKind::Image, "a third picture"),
        Arg::optional("image4", ArgKind::Image, "a fourth picture"),
        Arg::optional(
            "numbered",
            ArgKind::Choice(NUMBERING),
            "number the parts of an X thread (1/3, 2/3, …)",
        ),
    ],
    "/post tomorrow 9am | Launch day!",
)
.named(parse_named)
.notes(&[
    "WHEN can be `now`, `in 2h`, `friday 5pm`, `dec 24 6pm Europe/Berlin` or `every monday 9am`",
    "Only some accounts: `/post to x,facebook tomorrow 9am | Launch day!` (names, @handles or x, facebook, instagram).",
    "A network's own text on lines after the main text: `x: shorter text`, `instagram: caption #with #tags`.",
    "In a private chat just send `tomorrow 9am | Launch day!`, also as a photo caption.",
])
.with_images();

/// The Discord options that carry a network's own text, and the line each becomes.
const VARIANT_OPTIONS: [(&str, Provider); 3] = [
    ("x_text", Provider::X),
    ("facebook_text", Provider::FacebookPage),
    ("instagram_text", Provider::Instagram),
];
/// Discord's way to ask for numbered thread parts (a text option holds no line for the
/// `1/n` marker that asks for them in a message).
const NUMBERING: &[Choice] = &[Choice {
    label: "yes, number the parts",
    value: "yes",
}];

fn parse(args: &str) -> Result<Command, ParseError> {
    let (to, rest) = split_targets(args)?;
    let (when, text) = split_when_text(rest, PostForm::Post)?;
    Ok(Command::Post { when, text, to })
}

/// `to x,facebook REST` → the names and REST; anything else is all REST. A name with spaces
/// is written in double quotes: `to "Alice's Bakery",x`.
fn split_targets(args: &str) -> Result<(Vec<String>, &str), ParseError> {
    let trimmed = args.trim_start();
    let Some((first, after)) = trimmed.split_once(char::is_whitespace) else {
        return Ok((Vec::new(), args));
    };
    if !first.eq_ignore_ascii_case("to") {
        return Ok((Vec::new(), args));
    }
    let mut names = Vec::new();
    let mut rest = after.trim_start();
    loop {
        let (name, after_name) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or(ParseError::MissingTargets)?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ',' || c == '|')
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(ParseError::MissingTargets);
        }
        names.push(name.to_owned());
        match after_name.trim_start().strip_prefix(',') {
            Some(more) => rest = more.trim_start(),
            None => return Ok((names, after_name)),
        }
    }
}

fn parse_named(named: &NamedArgs) -> Result<Command, ParseError> {
    let (when, mut text) = when_and_text(named, PostForm::Post)?;
    // Folded into the lines the text form takes, so that both forms are one post.
    for (option, provider) in VARIANT_OPTIONS {
        if let Some(variant) = named.text(option).filter(|v| !v.trim().is_empty()) {
            text.push_str(&format!("\n{}: {}", provider.word(), variant.trim()));
        }
    }
    if named.text("numbered").as_deref() == Some("yes") {
        text = format!("{text}\n{}", autopost::posting::thread::NUMBERING_MARKER);
    }
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

/// Schedules the post, for the accounts named in `to` (all that can take it when empty).
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
    // Kept as written, in case the time is vague and the post waits for one to be picked.
    let held = HeldPost {
        text: text.clone(),
        to: to.to_vec(),
        images: images.clone(),
    };
    let draft = Draft {
        when,
        text,
        images,
        targets,
    };
    match ctx.app.create_post(ctx.actor, draft, ctx.now).await {
        Ok(accepted) => Reply::accepted(&accepted),
        Err(PostingError::Time(vague @ TimeError::Vague { .. })) => {
            super::pick_time::offer(ctx, vague, held).await
        }
        Err(e) => posting_error(&e),
    }
}

/// How many characters of the text the preview shows.
const PREVIEW_CHARS: usize = 60;
/// Target toggles per row, and the most rows of them (Discord shows five rows in all).
const TOGGLES_PER_ROW: usize = 2;
const TOGGLE_ROWS: usize = 3;

impl Reply {
    /// The confirmation of a new post: id, due time in the author's zone and in UTC, the
    /// repeat rule, a preview, each target's character count, notices, and the buttons.
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
                bold(near_both_zones(accepted.due_at, accepted.zone, accepted.at)),
                plain(format!(" · {}", from_now(accepted.due_at, accepted.at))),
            ],
        ];
        if let Some(rule) = &accepted.recurrence {
            lines.push(vec![plain(format!("Repeats {rule}, until cancelled"))]);
        }
        let mut preview = Vec::new();
        if !accepted.body.trim().is_empty() {
            preview.push(format!("“{}”", first_words(&accepted.body, PREVIEW_CHARS)));
        }
        if accepted.images > 0 {
            preview.push(plural(accepted.images, "image", "images"));
        }
        if !preview.is_empty() {
            lines.push(vec![plain(preview.join(" · "))]);
        }
        for target in &accepted.targets {
            let mut count = format!(": {}/{} characters", target.length, target.limit);
            if target.parts > 1 {
                count = format!(
                    ": thread of {} parts ({} characters)",
                    target.parts, target.length
                );
            }
            if target.own_text {
                count.push_str(", own text");
            }
            lines.push(vec![
                plain("• "),
                plain(account_name(
                    &target.account.display_name,
                    target.account.provider,
                )),
                plain(count),
            ]);
        }
        for notice in &accepted.notices {
            lines.push(notice_line(notice, accepted));
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
            Button {
                label: "Edit".to_owned(),
                action: ButtonAction::Edit(post),
            },
        ]];
        // With one account there is nothing to choose: it cannot be switched off.
        if accepted.accounts.len() > 1 {
            let toggles: Vec<Button> = accepted
                .accounts
                .iter()
                .take(TOGGLES_PER_ROW * TOGGLE_ROWS)
                .map(|account| {
                    let on = accepted.targets.iter().any(|t| t.account.id == account.id);
                    let name =
                        first_words(&account_name(&account.display_name, account.provider), 32);
                    Button {
                        label: format!("{} {name}", if on { "✅" } else { "☐" }),
                        action: ButtonAction::ToggleTarget(post, account.id),
                    }
                })
                .collect();
            reply
                .buttons
                .extend(toggles.chunks(TOGGLES_PER_ROW).map(<[Button]>::to_vec));
        }
        reply
    }
}

/// One notice of a confirmation, as a line.
fn notice_line(notice: &Notice, accepted: &Accepted) -> Vec<Span> {
    match notice {
        Notice::LeftOut {
            account,
            reason,
            hint,
        } => {
            let mut spans = vec![plain(format!(
                "ℹ️ {} left out: {reason} — ",
                account_name(&account.display_name, account.provider)
            ))];
            spans.extend(marked(hint));
            spans
        }
        Notice::UnusedVariant { provider } => vec![
            plain("ℹ️ The "),
            code(format!("{}:", provider.word())),
            plain(format!(
                " text is not used: no {} account is linked to this chat",
                autopost::oauth::provider_label(*provider)
            )),
        ],
        Notice::DuplicateQueued { account, post } => vec![plain(format!(
            "⚠️ X refuses duplicate text: the same text is already queued for {} as #{post}",
            account.display_name
        ))],
        Notice::DuplicatePublished { account, at } => vec![plain(format!(
            "⚠️ X refuses duplicate text: the same text went out on {} {}",
            account.display_name,
            ago(*at, accepted.at)
        ))],
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
             Goes out <b>Mon 30 Nov 09:00 (Europe/Berlin) · 08:00 UTC</b> · in 333 days\n\
             “Launch day! Doors open at nine, with coffee for the first…”\n\
             • @alice (X): 42/280 characters\n\
             • Alice's &lt;Bakery&gt; (Facebook Page): 42/63206 characters"
        );
        let data: Vec<String> = reply.buttons[0].iter().map(Button::callback_data).collect();
        assert_eq!(data, ["cancel:17", "postnow:17", "edit:17"]);
        assert!(!reply.private);
    }

    #[test]
    fn a_text_too_long_for_x_is_confirmed_as_a_thread_of_its_parts() {
        let mut thread = accepted(utc(2026, 11, 30, 8, 0), Berlin);
        thread.targets[0].length = 612;
        thread.targets[0].parts = 3;
        let html = Reply::accepted(&thread).to_telegram_html();
        assert!(
            html.contains("• @alice (X): thread of 3 parts (612 characters)"),
            "{html}"
        );
    }

    #[test]
    fn discords_numbered_option_asks_for_numbered_parts_as_the_marker_line_does() {
        use crate::commands::args::ArgValue;
        let named = |numbered: Option<&str>| {
            let mut values = vec![
                ("when".to_owned(), ArgValue::Text("now".to_owned())),
                ("text".to_owned(), ArgValue::Text("long words".to_owned())),
            ];
            if let Some(numbered) = numbered {
                values.push(("numbered".to_owned(), ArgValue::Text(numbered.to_owned())));
            }
            NamedArgs::new(values)
        };
        let text_of = |command: Command| match command {
            Command::Post { text, .. } => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text_of(parse_named(&named(Some("yes"))).unwrap()),
            "long words\n1/n"
        );
        assert_eq!(text_of(parse_named(&named(None)).unwrap()), "long words");
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

    #[test]
    fn the_preview_shows_near_time_words_images_own_texts_threads_notices_and_toggles() {
        use autopost::domain::{AccountId, PostId, Provider};
        use autopost::posting::Notice;

        use crate::commands::testing::account;

        let now = utc(2026, 11, 29, 18, 0);
        let mut preview = accepted(utc(2026, 11, 30, 8, 0), Berlin);
        preview.at = now;
        preview.images = 2;
        preview.targets[0].own_text = true;
        preview.targets[1].parts = 3;
        let mut x = preview.targets[0].account.clone();
        x.id = AccountId(1);
        preview.targets[0].account = x.clone();
        let mut facebook = preview.targets[1].account.clone();
        facebook.id = AccountId(2);
        preview.targets[1].account = facebook.clone();
        let mut instagram = account("@shop", Provider::Instagram);
        instagram.id = AccountId(3);
        preview.accounts = vec![x.clone(), facebook, instagram.clone()];
        preview.notices = vec![
            Notice::LeftOut {
                account: instagram,
                reason: "Instagram needs at least one image".to_owned(),
                hint: "attach one, or send `/post to instagram WHEN | TEXT` with an image"
                    .to_owned(),
            },
            Notice::UnusedVariant {
                provider: Provider::Instagram,
            },
            Notice::DuplicateQueued {
                account: x.clone(),
                post: PostId(12),
            },
            Notice::DuplicatePublished {
                account: x,
                at: now - chrono::TimeDelta::hours(3),
            },
        ];
        let reply = Reply::accepted(&preview);
        assert_eq!(
            reply.to_telegram_html(),
            "<b>Scheduled post </b><code>#17</code>\n\
             Goes out <b>tomorrow 09:00 (Europe/Berlin) · 08:00 UTC</b> · in 14 h\n\
             “Launch day! Doors open at nine, with coffee for the first…” · 2 images\n\
             • @alice (X): 42/280 characters, own text\n\
             • Alice's &lt;Bakery&gt; (Facebook Page): thread of 3 parts (42 characters)\n\
             ℹ️ @shop (Instagram) left out: Instagram needs at least one image — attach one, or send <code>/post to instagram WHEN | TEXT</code> with an image\n\
             ℹ️ The <code>instagram:</code> text is not used: no Instagram account is linked to this chat\n\
             ⚠️ X refuses duplicate text: the same text is already queued for @alice as #12\n\
             ⚠️ X refuses duplicate text: the same text went out on @alice 3 h ago"
        );
        let rows: Vec<Vec<(String, String)>> = reply
            .buttons
            .iter()
            .map(|row| {
                row.iter()
                    .map(|b| (b.label.clone(), b.callback_data()))
                    .collect()
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                vec![
                    ("Cancel".to_owned(), "cancel:17".to_owned()),
                    ("Post now".to_owned(), "postnow:17".to_owned()),
                    ("Edit".to_owned(), "edit:17".to_owned()),
                ],
                vec![
                    ("✅ @alice (X)".to_owned(), "tg:17:1".to_owned()),
                    (
                        "✅ Alice's <Bakery> (Facebook Page)".to_owned(),
                        "tg:17:2".to_owned()
                    ),
                ],
                vec![("☐ @shop (Instagram)".to_owned(), "tg:17:3".to_owned())],
            ]
        );
    }

    #[test]
    fn to_names_targets_before_the_time_and_the_rest_reads_as_usual() {
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let cases: &[(&str, Vec<String>, &str, &str)] = &[
            ("tomorrow 9am | hi", vec![], "tomorrow 9am", "hi"),
            (
                "to x tomorrow 9am | hi",
                names(&["x"]),
                "tomorrow 9am",
                "hi",
            ),
            (
                "TO x,facebook in 2h | hi | there",
                names(&["x", "facebook"]),
                "in 2h",
                "hi | there",
            ),
            (
                "to @alice , \"Alice's Bakery\",instagram now | hi",
                names(&["@alice", "Alice's Bakery", "instagram"]),
                "now",
                "hi",
            ),
            ("today 5pm | to x", vec![], "today 5pm", "to x"),
            (
                "tomorrow 9am | hi\nx: short",
                vec![],
                "tomorrow 9am",
                "hi\nx: short",
            ),
        ];
        for (args, to, when, text) in cases {
            assert_eq!(
                parse(args),
                Ok(Command::Post {
                    when: (*when).to_owned(),
                    text: (*text).to_owned(),
                    to: to.clone(),
                }),
                "{args}"
            );
        }
        for refused in [
            "to | hi",
            "to , now | hi",
            "to \"open now | hi",
            "to x,  | hi",
        ] {
            assert_eq!(parse(refused), Err(ParseError::MissingTargets), "{refused}");
        }
        assert!(matches!(
            parse("to x | hi"),
            Err(ParseError::EmptyWhen { .. })
        ));
    }

    #[test]
    fn discord_options_for_each_network_become_its_lines() {
        use crate::commands::args::ArgValue;
        let named = NamedArgs::new(vec![
            ("when".to_owned(), ArgValue::Text("now".to_owned())),
            ("text".to_owned(), ArgValue::Text("main".to_owned())),
            (
                "instagram_text".to_owned(),
                ArgValue::Text(" #tags ".to_owned()),
            ),
            ("x_text".to_owned(), ArgValue::Text("short".to_owned())),
            ("facebook_text".to_owned(), ArgValue::Text("  ".to_owned())),
            ("to".to_owned(), ArgValue::Text("x, instagram".to_owned())),
        ]);
        assert_eq!(
            parse_named(&named),
            Ok(Command::Post {
                when: "now".to_owned(),
                text: "main\nx: short\ninstagram: #tags".to_owned(),
                to: vec!["x".to_owned(), "instagram".to_owned()],
            })
        );
    }
}
