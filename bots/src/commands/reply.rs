//! What autopost answers in chat, independent of the chat: lines of styled spans, buttons and
//! an optional file, rendered as Telegram HTML or Discord markdown with every piece of user text
//! escaped and the platform's length limit kept. Pure: no I/O, no clock.

use autopost::domain::{AccountState, PostId, TargetState};
use autopost::oauth::provider_label;
use autopost::posting::{Accepted, QueuedPost};
use autopost::store::{Cancelled, HistoryEntry, LinkedAccount};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::parse::ConnectTarget;

/// Telegram's limit on one message's text.
/// <https://core.telegram.org/bots/api#sendmessage>
pub const TELEGRAM_TEXT_LIMIT: usize = 4096;
/// Telegram's limit on a file's caption.
pub const TELEGRAM_CAPTION_LIMIT: usize = 1024;
/// Discord's limit on one message's content.
/// <https://discord.com/developers/docs/resources/message#create-message>
pub const DISCORD_TEXT_LIMIT: usize = 2000;
/// Telegram's limit on a button's `callback_data` (Discord's `custom_id` allows 100).
/// <https://core.telegram.org/bots/api#inlinekeyboardbutton>
pub const CALLBACK_DATA_LIMIT: usize = 64;

/// One answer to one chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The text, one block per line.
    pub text: Vec<Block>,
    /// Buttons under the text.
    pub buttons: Vec<Button>,
    /// A file to attach (the export).
    pub file: Option<ReplyFile>,
    /// Send only to the user who asked (Discord ephemeral / Telegram private chat).
    pub private: bool,
    /// Nothing was done: the reply explains why. A front end answering a button press shows
    /// it to the presser alone and leaves the message with the button as it was.
    pub refused: bool,
}

/// A unit of text that is never split when the reply must be shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One line; an empty one is a blank line.
    Line(Vec<Span>),
}

/// A run of text with one style. Every string in it is raw text: renderers escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Ordinary text.
    Plain(String),
    /// Bold text.
    Bold(String),
    /// Monospace text: commands to type, ids.
    Code(String),
    /// A link; only `http` and `https` URLs become links, anything else is shown as text.
    Link {
        /// What the reader sees.
        text: String,
        /// Where it leads.
        url: String,
    },
}

/// A button under a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// What pressing it asks for.
    pub action: ButtonAction,
}

impl Button {
    /// The data the chat hands back when the button is pressed.
    pub fn callback_data(&self) -> String {
        self.action.callback_data()
    }
}

/// What a button press asks for. The runner re-checks permissions on every press: the data
/// comes back from the chat client and may be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// Cancel the post.
    Cancel(PostId),
    /// Send the post now.
    PostNow(PostId),
    /// Go ahead with `/deleteme`.
    ConfirmDelete,
}

impl ButtonAction {
    /// `cancel:17`, `postnow:17` or `deleteme:confirm`: at most 27 bytes, within both Telegram's
    /// 64 and Discord's 100.
    pub fn callback_data(&self) -> String {
        match self {
            ButtonAction::Cancel(post) => format!("cancel:{post}"),
            ButtonAction::PostNow(post) => format!("postnow:{post}"),
            ButtonAction::ConfirmDelete => "deleteme:confirm".to_owned(),
        }
    }

    /// The action `callback_data` wrote, or `None` for anything else (including a number
    /// written any other way, so that parsing and writing round-trip exactly).
    pub fn parse(data: &str) -> Option<ButtonAction> {
        if data == "deleteme:confirm" {
            return Some(ButtonAction::ConfirmDelete);
        }
        let (kind, number) = data.split_once(':')?;
        let id = number.parse::<i64>().ok()?;
        if id.to_string() != number {
            return None;
        }
        match kind {
            "cancel" => Some(ButtonAction::Cancel(PostId(id))),
            "postnow" => Some(ButtonAction::PostNow(PostId(id))),
            _ => None,
        }
    }
}

/// A file sent with the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    /// The file name the user sees.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub mime: &'static str,
}

fn plain(text: impl Into<String>) -> Span {
    Span::Plain(text.into())
}

fn bold(text: impl Into<String>) -> Span {
    Span::Bold(text.into())
}

fn code(text: impl Into<String>) -> Span {
    Span::Code(text.into())
}

/// Text with `backticked` parts as code, as our error messages write what to type.
fn marked(text: &str) -> Vec<Span> {
    if !text.matches('`').count().is_multiple_of(2) {
        return vec![plain(text)];
    }
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { code(part) } else { plain(part) })
        .collect()
}

fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `Mon 30 Nov 09:00`.
fn local_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %H:%M")
        .to_string()
}

/// `Mon 30 Nov 09:00 (Europe/Berlin) · 08:00 UTC`; the UTC side repeats the date when it
/// differs. Both are shown so that an hour around a DST change is never in doubt.
fn both_zones(at: DateTime<Utc>, zone: Tz) -> String {
    let utc_date = at.date_naive();
    if zone == Tz::UTC || zone == Tz::Etc__UTC {
        return format!("{} UTC", local_time(at, Tz::UTC));
    }
    let utc = if at.with_timezone(&zone).date_naive() == utc_date {
        at.format("%H:%M").to_string()
    } else {
        local_time(at, Tz::UTC)
    };
    format!("{} ({}) · {utc} UTC", local_time(at, zone), zone.name())
}

/// The first words of a post on one line, cut at a word near `max` characters.
fn first_words(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let at_word = match cut.rfind(' ') {
        Some(space) if space >= max / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn account_name(name: &str, provider: autopost::domain::Provider) -> String {
    format!("{name} ({})", provider_label(provider))
}

impl Reply {
    /// A reply of these lines.
    fn lines(lines: Vec<Vec<Span>>) -> Reply {
        Reply {
            text: lines.into_iter().map(Block::Line).collect(),
            ..Reply::default()
        }
    }

    fn privately(mut self) -> Reply {
        self.private = true;
        self
    }

    /// A refusal the user can act on (a `ParseError`, a user `PostingError`), shown as is with
    /// its `backticked` parts as code.
    pub fn error(message: &str) -> Reply {
        let mut spans = vec![plain("⚠️ ")];
        spans.extend(marked(&sentence(message)));
        Reply::lines(vec![spans]).refusal()
    }

    fn refusal(mut self) -> Reply {
        self.refused = true;
        self
    }

    /// An internal fault: no detail, only the reference the log keeps it under.
    pub fn internal_error(reference: &str) -> Reply {
        Reply::lines(vec![vec![
            plain("⚠️ Something went wrong on our side (ref "),
            code(reference),
            plain("); please try again in a minute."),
        ]])
        .refusal()
    }

    /// The confirmation of a new post: id, due time in the author's zone and in UTC, the
    /// repeat rule, each target's character count, and Cancel / Post now buttons.
    pub fn accepted(accepted: &Accepted) -> Reply {
        Reply::confirmation(accepted, "Scheduled post ")
    }

    /// The confirmation of an edit, with the same details as a new post.
    pub fn edited(accepted: &Accepted) -> Reply {
        Reply::confirmation(accepted, "Changed post ")
    }

    fn confirmation(accepted: &Accepted, heading: &str) -> Reply {
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
        reply.buttons = vec![
            Button {
                label: "Cancel".to_owned(),
                action: ButtonAction::Cancel(post),
            },
            Button {
                label: "Post now".to_owned(),
                action: ButtonAction::PostNow(post),
            },
        ];
        reply
    }

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
            lines.push(vec![
                code(format!("#{}", post.post)),
                plain(format!(
                    " {} · {} → {} · {}",
                    local_time(post.due_at, zone),
                    post.author,
                    post.targets.join(", "),
                    first_words(&post.body, 40)
                )),
            ]);
        }
        lines.push(vec![
            plain("Change one with "),
            code("/cancel ID"),
            plain(", "),
            code("/postnow ID"),
            plain(" or "),
            code("/edit ID WHEN | TEXT"),
        ]);
        Reply::lines(lines)
    }

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
        Reply::lines(lines)
    }

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

    /// `/connect` answered privately: the one-time link that starts OAuth.
    pub fn connect_link(target: ConnectTarget, link: &Url) -> Reply {
        let label = target.label();
        let mut lines = vec![
            vec![
                plain(format!(
                    "Open this link to link your {label} account to the chat you asked from: "
                )),
                Span::Link {
                    text: format!("Connect {label}"),
                    url: link.to_string(),
                },
            ],
            vec![plain(
                "It works once, for you only, for 10 minutes; don't share it.",
            )],
        ];
        if target == ConnectTarget::Instagram {
            lines.push(vec![plain(
                "Instagram business accounts are linked through the Facebook Page they belong to.",
            )]);
        }
        Reply::lines(lines).privately()
    }

    /// `/connect` in a group, once the link went to the user privately.
    pub fn connect_link_sent() -> Reply {
        Reply::lines(vec![vec![plain(
            "I sent you the link in a private message.",
        )]])
    }

    /// `/accounts`: the chat's linked accounts and any that need attention.
    pub fn accounts(accounts: &[LinkedAccount]) -> Reply {
        let linked: Vec<&LinkedAccount> = accounts
            .iter()
            .filter(|a| a.state != AccountState::Revoked)
            .collect();
        if linked.is_empty() {
            return Reply::lines(vec![vec![
                plain("No account is linked to this chat yet; link one with "),
                code("/connect x"),
                plain(", "),
                code("/connect facebook"),
                plain(" or "),
                code("/connect instagram"),
            ]]);
        }
        let mut lines = vec![vec![bold("Accounts posting for this chat")]];
        for account in linked {
            let mut line = vec![
                plain("• "),
                plain(account_name(&account.display_name, account.provider)),
            ];
            if account.state == AccountState::NeedsReconnect {
                line.push(plain(" · needs linking again: its owner can use /connect"));
            }
            lines.push(line);
        }
        lines.push(vec![plain("Unlink one with "), code("/disconnect NAME")]);
        Reply::lines(lines)
    }

    /// `/disconnect` done.
    pub fn disconnected(account: &str) -> Reply {
        Reply::lines(vec![vec![plain(format!(
            "Disconnected {account}; autopost's access was revoked at the platform."
        ))]])
    }

    /// `/timezone`: the zone in force (or just set) and the time there now, so that a wrong
    /// choice shows at once.
    pub fn time_zone(zone: Tz, now: DateTime<Utc>, changed: bool) -> Reply {
        let first = if changed {
            "Your time zone is now "
        } else {
            "Your time zone is "
        };
        Reply::lines(vec![
            vec![
                plain(first),
                bold(zone.name()),
                plain(format!(
                    " (it is {} there now).",
                    now.with_timezone(&zone).format("%a %H:%M")
                )),
            ],
            vec![plain("Change it with "), code("/timezone Europe/Berlin")],
        ])
    }

    /// `/export`: the user's data as a JSON file, privately.
    pub fn export(json: Vec<u8>) -> Reply {
        let mut reply = Reply::lines(vec![vec![plain(
            "Here is everything autopost keeps about you (no tokens or keys).",
        )]])
        .privately();
        reply.file = Some(ReplyFile {
            name: "autopost-export.json".to_owned(),
            bytes: json,
            mime: "application/json",
        });
        reply
    }

    /// `/deleteme`: what will be erased, and the button that confirms it.
    pub fn delete_confirmation() -> Reply {
        let mut reply = Reply::lines(vec![
            vec![bold("Erase everything autopost keeps about you?")],
            vec![plain(
                "Your posts and settings are deleted, and the accounts you linked are disconnected with their access revoked at the platforms; this cannot be undone.",
            )],
        ])
        .privately();
        reply.buttons = vec![Button {
            label: "Yes, erase everything".to_owned(),
            action: ButtonAction::ConfirmDelete,
        }];
        reply
    }

    /// After `/deleteme` was confirmed.
    pub fn deleted() -> Reply {
        Reply::lines(vec![vec![plain(
            "Done: everything autopost kept about you is erased. Send /start if you ever want to come back.",
        )]])
        .privately()
    }

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

    /// `/help`: every verb of SPEC section 4 with an example, and the privacy notice.
    pub fn help(privacy_url: &Url) -> Reply {
        let verb = |usage: &str, what: &str, example: Option<&str>| {
            let mut line = vec![plain(usage.to_owned()), plain(format!(" — {what}"))];
            if let Some(example) = example {
                line.push(plain(", e.g. "));
                line.push(code(example));
            }
            line
        };
        Reply::lines(vec![
            vec![bold("Commands")],
            verb(
                "/post WHEN | TEXT",
                "schedule a post (attach images too)",
                Some("/post tomorrow 9am | Launch day!"),
            ),
            vec![
                plain("WHEN can be "),
                code("now"),
                plain(", "),
                code("in 2h"),
                plain(", "),
                code("friday 5pm"),
                plain(", "),
                code("dec 24 6pm Europe/Berlin"),
                plain(" or "),
                code("every monday 9am"),
            ],
            vec![
                plain("In a private chat just send "),
                code("tomorrow 9am | Launch day!"),
                plain(", also as a photo caption."),
            ],
            verb("/queue", "this chat's scheduled posts", None),
            verb("/cancel ID", "cancel a scheduled post", Some("/cancel 17")),
            verb(
                "/edit ID WHEN | TEXT",
                "change its time and text",
                Some("/edit 17 friday 5pm | New text"),
            ),
            verb("/postnow ID", "send it right away", Some("/postnow 17")),
            verb("/history", "published and failed posts, with links", None),
            verb(
                "/connect x|facebook|instagram",
                "link an account (I send you a private link)",
                Some("/connect x"),
            ),
            verb("/accounts", "the accounts posting for this chat", None),
            verb(
                "/disconnect ACCOUNT",
                "unlink one and revoke autopost's access",
                Some("/disconnect @alice"),
            ),
            verb(
                "/timezone ZONE",
                "your time zone (alone: show it)",
                Some("/timezone Europe/Berlin"),
            ),
            verb("/export", "your data as a file, sent privately", None),
            verb("/deleteme", "erase everything of yours (asks first)", None),
            vec![plain(
                "Anyone in a group may add posts; changing someone else's needs admin rights.",
            )],
            vec![
                plain("Privacy: autopost keeps only what it needs to post for you; read "),
                Span::Link {
                    text: "the privacy policy".to_owned(),
                    url: privacy_url.to_string(),
                },
            ],
        ])
    }

    /// Telegram HTML (`parse_mode = HTML`) within one message's limit.
    pub fn to_telegram_html(&self) -> String {
        self.to_telegram_html_within(TELEGRAM_TEXT_LIMIT)
    }

    /// Telegram HTML within `limit` (e.g. `TELEGRAM_CAPTION_LIMIT` for a file's caption).
    pub fn to_telegram_html_within(&self, limit: usize) -> String {
        render(&self.text, telegram_span, limit)
    }

    /// Discord markdown within one message's limit. Send it with `allowed_mentions` empty:
    /// escaping keeps `@everyone` from rendering as a mention, not from notifying.
    pub fn to_markdown(&self) -> String {
        self.to_markdown_within(DISCORD_TEXT_LIMIT)
    }

    /// Discord markdown within `limit`.
    pub fn to_markdown_within(&self, limit: usize) -> String {
        render(&self.text, markdown_span, limit)
    }
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Escapes text for Telegram HTML; `"` too, so that the same function serves attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn telegram_span(span: &Span) -> String {
    match span {
        Span::Plain(text) => escape_html(text),
        Span::Bold(text) => format!("<b>{}</b>", escape_html(text)),
        Span::Code(text) => format!("<code>{}</code>", escape_html(text)),
        Span::Link { text, url } if is_web_url(url) => {
            format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(text))
        }
        Span::Link { text, .. } => escape_html(text),
    }
}

/// Escapes every character Discord markdown gives a meaning (emphasis, code, spoilers, quotes,
/// headings, lists, masked links, mentions and custom emoji).
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '~'
                | '`'
                | '|'
                | '>'
                | '<'
                | '#'
                | '-'
                | '['
                | ']'
                | '('
                | ')'
                | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn markdown_span(span: &Span) -> String {
    match span {
        Span::Plain(text) => escape_markdown(text),
        Span::Bold(text) if text.is_empty() => String::new(),
        Span::Bold(text) => format!("**{}**", escape_markdown(text)),
        Span::Code(text) if text.is_empty() => String::new(),
        // Nothing escapes inside a code span; a backtick would end it, so it becomes `ˋ`.
        Span::Code(text) => format!("`{}`", text.replace('`', "ˋ")),
        Span::Link { text, url } if is_web_url(url) => {
            // `<url>` keeps Discord from unfurling every link of a list.
            let url = url
                .replace('<', "%3C")
                .replace('>', "%3E")
                .replace(' ', "%20");
            format!("[{}](<{url}>)", escape_markdown(text))
        }
        Span::Link { text, .. } => escape_markdown(text),
    }
}

/// Length as both platforms may count it: UTF-16 units, never fewer than characters.
fn measure(text: &str) -> usize {
    text.encode_utf16().count()
}

const ELLIPSIS: &str = "…";

/// Renders the blocks, one per line. If they do not fit in `limit`, whole blocks are kept while
/// they fit and a line `…` ends the text; a first block that alone is too long is cut inside.
fn render(blocks: &[Block], span: fn(&Span) -> String, limit: usize) -> String {
    let lines: Vec<String> = blocks
        .iter()
        .map(|Block::Line(spans)| spans.iter().map(span).collect())
        .collect();
    let whole = lines.join("\n");
    if measure(&whole) <= limit {
        return whole;
    }
    let budget = limit.saturating_sub(measure(ELLIPSIS) + 1);
    let mut out = String::new();
    for line in &lines {
        let separator = usize::from(!out.is_empty());
        if measure(&out) + separator + measure(line) > budget {
            break;
        }
        if separator == 1 {
            out.push('\n');
        }
        out.push_str(line);
    }
    if out.is_empty() {
        if let Some(Block::Line(spans)) = blocks.first() {
            out = fit_spans(spans, span, limit.saturating_sub(measure(ELLIPSIS)));
        }
        out.push_str(ELLIPSIS);
    } else {
        out.push('\n');
        out.push_str(ELLIPSIS);
    }
    out
}

/// As much of one line as renders within `budget`, cutting a span's text (never its markup).
fn fit_spans(spans: &[Span], span: fn(&Span) -> String, budget: usize) -> String {
    let mut out = String::new();
    for piece in spans {
        let rendered = span(piece);
        let room = budget.saturating_sub(measure(&out));
        if measure(&rendered) <= room {
            out.push_str(&rendered);
            continue;
        }
        let text = match piece {
            Span::Plain(t) | Span::Bold(t) | Span::Code(t) | Span::Link { text: t, .. } => t,
        };
        let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let with_prefix = |count: usize| {
            let end = ends.get(count).copied().unwrap_or(text.len());
            let prefix = text[..end].to_owned();
            let cut = match piece {
                Span::Plain(_) => Span::Plain(prefix),
                Span::Bold(_) => Span::Bold(prefix),
                Span::Code(_) => Span::Code(prefix),
                Span::Link { url, .. } => Span::Link {
                    text: prefix,
                    url: url.clone(),
                },
            };
            span(&cut)
        };
        // The rendered length grows with the prefix, so the longest fitting one is found by
        // bisection over character counts.
        let (mut fits, mut too_long) = (0, ends.len());
        while fits + 1 < too_long {
            let middle = (fits + too_long) / 2;
            if measure(&with_prefix(middle)) <= room {
                fits = middle;
            } else {
                too_long = middle;
            }
        }
        if fits > 0 {
            out.push_str(&with_prefix(fits));
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use autopost::domain::{AccountId, Provider, UserId};
    use autopost::posting::TargetSummary;
    use autopost::recurrence::{DaySet, Recurrence, Zone};
    use chrono::{NaiveTime, TimeZone};
    use chrono_tz::Europe::Berlin;

    use super::*;

    const HOSTILE: &str =
        "<script>alert(1)</script> *bold* _it_ `tick` a&b @everyone [x](y) ~~s~~ ||sp|| > q";

    fn account(name: &str, provider: Provider) -> LinkedAccount {
        LinkedAccount {
            id: AccountId(1),
            provider,
            remote_id: "r1".into(),
            display_name: name.into(),
            state: AccountState::Active,
            owner: UserId(7),
        }
    }

    fn accepted(due_at: DateTime<Utc>, zone: Tz) -> Accepted {
        Accepted {
            post: PostId(17),
            due_at,
            zone,
            recurrence: None,
            targets: vec![
                TargetSummary {
                    account: account("@alice", Provider::X),
                    length: 42,
                    limit: 280,
                },
                TargetSummary {
                    account: account("Alice's <Bakery>", Provider::FacebookPage),
                    length: 42,
                    limit: 63206,
                },
            ],
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// The text a Telegram client shows for our HTML: tags dropped, entities decoded.
    fn telegram_visible(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

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
        let data: Vec<String> = reply.buttons.iter().map(Button::callback_data).collect();
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

    #[test]
    fn a_recurring_confirmation_says_how_it_repeats() {
        let mut post = accepted(utc(2026, 11, 30, 8, 0), Berlin);
        post.recurrence = Recurrence::new(
            DaySet::EMPTY.with(chrono::Weekday::Mon),
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            Zone::Named(Berlin),
        );
        let html = Reply::edited(&post).to_telegram_html();
        assert!(html.starts_with("<b>Changed post </b><code>#17</code>"));
        assert!(
            html.contains("Repeats every Monday at 09:00 (Europe/Berlin), until cancelled"),
            "{html}"
        );
    }

    #[test]
    fn hostile_text_is_escaped_in_both_renderers() {
        let mut post = accepted(utc(2026, 11, 30, 8, 0), Berlin);
        post.targets[0].account.display_name = HOSTILE.into();
        let queue = [QueuedPost {
            author: "alice".into(),
            targets: vec!["@team".into()],
            post: PostId(3),
            due_at: utc(2026, 11, 30, 8, 0),
            body: HOSTILE.into(),
        }];
        let replies = [
            Reply::accepted(&post),
            Reply::queue(&queue, Berlin),
            Reply::error(HOSTILE),
            Reply::disconnected(HOSTILE),
            Reply::lines(vec![vec![
                bold(HOSTILE),
                Span::Link {
                    text: HOSTILE.into(),
                    url: "https://x.com/a?b=1&c=\"2\"".into(),
                },
            ]]),
        ];
        for reply in &replies {
            let html = reply.to_telegram_html();
            assert!(!html.contains("<script"), "{html}");
            let tags: Vec<&str> = html
                .split('<')
                .skip(1)
                .map(|t| t.split('>').next().unwrap())
                .collect();
            for tag in tags {
                let name = tag.trim_start_matches('/').split(' ').next().unwrap();
                assert!(matches!(name, "b" | "code" | "a"), "tag {tag:?} in {html}");
            }
            assert!(
                !html
                    .replace("&amp;", "")
                    .replace("&lt;", "")
                    .replace("&gt;", "")
                    .replace("&quot;", "")
                    .contains('&')
            );

            let markdown = reply.to_markdown();
            for special in ["*bold*", "_it_", "~~s~~", "||sp||", "[x](y)", "<script>"] {
                assert!(!markdown.contains(special), "{special} in {markdown}");
            }
            assert!(!markdown.contains(" @everyone"), "{markdown}");
        }
        assert_eq!(escape_markdown("*a_b`c\\"), "\\*a\\_b\\`c\\\\");
        let code_md = markdown_span(&code("a`b"));
        assert_eq!(code_md.matches('`').count(), 2, "{code_md}");
        let link = telegram_span(&Span::Link {
            text: "x".into(),
            url: "https://e.com/?a=1&b=\"".into(),
        });
        assert_eq!(link, "<a href=\"https://e.com/?a=1&amp;b=&quot;\">x</a>");
        assert_eq!(
            telegram_span(&Span::Link {
                text: "x".into(),
                url: "javascript:alert(1)".into()
            }),
            "x"
        );
        assert_eq!(
            markdown_span(&Span::Link {
                text: "open".into(),
                url: "https://x.com/a/status/1".into()
            }),
            "[open](<https://x.com/a/status/1>)"
        );
    }

    #[test]
    fn error_messages_show_what_to_type_as_code() {
        let reply = Reply::error("write when, such as `tomorrow 9am | Launch <day>!`");
        assert_eq!(
            reply.to_telegram_html(),
            "⚠️ Write when, such as <code>tomorrow 9am | Launch &lt;day&gt;!</code>"
        );
        assert_eq!(
            reply.to_markdown(),
            "⚠️ Write when, such as `tomorrow 9am | Launch <day>!`"
        );
        assert_eq!(
            Reply::error("odd ` tick").to_telegram_html(),
            "⚠️ Odd ` tick"
        );
        let internal = Reply::internal_error("4f2c").to_telegram_html();
        assert!(internal.contains("<code>4f2c</code>"));
    }

    #[test]
    fn long_replies_are_cut_at_a_block_boundary_within_the_limit() {
        let posts: Vec<QueuedPost> = (1..=500)
            .map(|i| QueuedPost {
                author: "alice".into(),
                targets: vec!["@team".into()],
                post: PostId(i),
                due_at: utc(2026, 11, 30, 8, 0),
                body: "<<&&>> ".repeat(20),
            })
            .collect();
        let reply = Reply::queue(&posts, Berlin);
        let html = reply.to_telegram_html();
        assert!(measure(&html) <= TELEGRAM_TEXT_LIMIT, "{}", measure(&html));
        assert!(html.ends_with("\n…"));
        let before = html.trim_end_matches("\n…");
        let last = before.lines().last().unwrap();
        assert!(
            last.starts_with("<code>#") && last.ends_with('…'),
            "whole last block: {last}"
        );
        let markdown = reply.to_markdown();
        assert!(measure(&markdown) <= DISCORD_TEXT_LIMIT);
        assert!(markdown.ends_with("\n…"));
        let caption = reply.to_telegram_html_within(TELEGRAM_CAPTION_LIMIT);
        assert!(measure(&caption) <= TELEGRAM_CAPTION_LIMIT);
    }

    #[test]
    fn one_huge_block_is_cut_inside_without_breaking_markup_or_entities() {
        for text in ["&".repeat(5000), "é🎉".repeat(3000), "a".repeat(10_000)] {
            let reply = Reply::lines(vec![
                vec![plain("x"), bold(text.clone())],
                vec![plain("next")],
            ]);
            let html = reply.to_telegram_html();
            assert!(measure(&html) <= TELEGRAM_TEXT_LIMIT);
            assert!(
                measure(&html) > TELEGRAM_TEXT_LIMIT - 10,
                "uses the room: {}",
                measure(&html)
            );
            assert!(
                html.starts_with("x<b>") && html.ends_with("</b>…"),
                "{}",
                html.chars().rev().take(20).collect::<String>()
            );
            assert!(
                text.starts_with(
                    telegram_visible(&html)
                        .trim_start_matches('x')
                        .trim_end_matches('…')
                )
            );
            let markdown = reply.to_markdown();
            assert!(measure(&markdown) <= DISCORD_TEXT_LIMIT && markdown.ends_with("**…"));
        }
        let fits = Reply::lines(vec![vec![plain("a".repeat(TELEGRAM_TEXT_LIMIT))]]);
        assert_eq!(fits.to_telegram_html().len(), TELEGRAM_TEXT_LIMIT);
    }

    #[test]
    fn callback_data_is_short_and_round_trips() {
        let actions = [
            ButtonAction::Cancel(PostId(17)),
            ButtonAction::PostNow(PostId(17)),
            ButtonAction::Cancel(PostId(i64::MAX)),
            ButtonAction::PostNow(PostId(i64::MIN)),
            ButtonAction::ConfirmDelete,
        ];
        for action in actions {
            let data = action.callback_data();
            assert!(
                !data.is_empty() && data.len() <= CALLBACK_DATA_LIMIT,
                "{data}"
            );
            assert_eq!(ButtonAction::parse(&data), Some(action));
        }
        assert_eq!(
            ButtonAction::Cancel(PostId(17)).callback_data(),
            "cancel:17"
        );
        assert_eq!(
            ButtonAction::PostNow(PostId(17)).callback_data(),
            "postnow:17"
        );
        assert_eq!(
            ButtonAction::ConfirmDelete.callback_data(),
            "deleteme:confirm"
        );
        for refused in [
            "",
            "cancel",
            "cancel:",
            "cancel:abc",
            "cancel:017",
            "cancel:+17",
            "cancel: 17",
            "cancel:17:1",
            "CANCEL:17",
            "delete:17",
            "deleteme",
            "deleteme:yes",
            "postnow:1e3",
            "cancel:99999999999999999999",
        ] {
            assert_eq!(ButtonAction::parse(refused), None, "{refused}");
        }
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
            },
            QueuedPost {
                author: "alice".into(),
                targets: vec!["@team".into()],
                post: PostId(5),
                due_at: utc(2026, 12, 1, 17, 30),
                body: "short".into(),
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
        assert!(html.contains("(times in Europe/Berlin)"));
        assert!(
            Reply::queue(&[], Berlin)
                .to_telegram_html()
                .contains("<code>/post tomorrow 9am | Hello</code>")
        );
        assert_eq!(
            first_words("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 40)
                .chars()
                .count(),
            41
        );
    }

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

    #[test]
    fn help_lists_every_verb_with_the_privacy_link() {
        let privacy = url("https://autopost.example/privacy");
        for reply in [Reply::help(&privacy), Reply::start(&privacy)] {
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
        assert!(
            Reply::start(&privacy)
                .to_telegram_html()
                .starts_with("<b>Hi!")
        );
    }

    #[test]
    fn private_replies_carry_links_files_and_the_delete_button() {
        let link = url("https://autopost.example/oauth/x/start?s=abc&t=1");
        let connect = Reply::connect_link(ConnectTarget::X, &link);
        assert!(connect.private);
        assert!(connect.to_telegram_html().contains(
            "<a href=\"https://autopost.example/oauth/x/start?s=abc&amp;t=1\">Connect X</a>"
        ));

        let export = Reply::export(b"{}".to_vec());
        assert!(export.private);
        let file = export.file.unwrap();
        assert_eq!(
            (file.name.as_str(), file.mime),
            ("autopost-export.json", "application/json")
        );

        let confirm = Reply::delete_confirmation();
        assert!(confirm.private);
        assert_eq!(confirm.buttons[0].action, ButtonAction::ConfirmDelete);
        assert!(Reply::deleted().private);
    }

    #[test]
    fn small_replies_say_what_happened() {
        let cancelled = Cancelled {
            cancelled: 1,
            in_flight: 2,
            finished: 0,
        };
        assert_eq!(
            Reply::cancelled(PostId(3), &cancelled).to_telegram_html(),
            "Cancelled post <code>#3</code>; 2 copies already being sent will finish."
        );
        assert_eq!(
            Reply::posting_now(PostId(3), 1).to_markdown(),
            "Sending post `#3` now to 1 account; /history shows the result."
        );
        let mut stale = account("@old", Provider::X);
        stale.state = AccountState::NeedsReconnect;
        let mut gone = account("@gone", Provider::X);
        gone.state = AccountState::Revoked;
        let html =
            Reply::accounts(&[account("@alice", Provider::X), stale, gone]).to_telegram_html();
        assert!(
            html.contains("• @alice (X)\n• @old (X) · needs linking again"),
            "{html}"
        );
        assert!(!html.contains("@gone"));
        assert!(
            Reply::accounts(&[])
                .to_telegram_html()
                .contains("<code>/connect x</code>")
        );
        let zone = Reply::time_zone(Berlin, utc(2026, 7, 1, 10, 0), true).to_telegram_html();
        assert!(
            zone.starts_with(
                "Your time zone is now <b>Europe/Berlin</b> (it is Wed 12:00 there now)."
            ),
            "{zone}"
        );
    }
}
