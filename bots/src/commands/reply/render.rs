//! Replies as Telegram HTML or Discord markdown: every piece of user text escaped, only web
//! links made links, and the platform's length limit kept by cutting at a block boundary.

use super::{Block, DISCORD_TEXT_LIMIT, Reply, Span, TELEGRAM_TEXT_LIMIT};

impl Reply {
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
    use autopost::domain::PostId;
    use autopost::posting::QueuedPost;
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::reply::{TELEGRAM_CAPTION_LIMIT, bold, code, plain};
    use crate::commands::testing::{HOSTILE, accepted, telegram_visible, utc};

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
            recurrence: None,
            retrying: Vec::new(),
        }];
        let replies = [
            Reply::accepted(&post),
            Reply::queue(&queue, Berlin),
            Reply::error(HOSTILE),
            Reply::disconnected(
                HOSTILE,
                autopost::domain::Provider::X,
                &autopost::privacy::Disconnected::Kept {
                    still_serves: vec![autopost::privacy::GrantUse {
                        provider: autopost::domain::Provider::Instagram,
                        account: HOSTILE.into(),
                        here: true,
                        other_chats: 1,
                    }],
                },
            ),
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
    fn long_replies_are_cut_at_a_block_boundary_within_the_limit() {
        let posts: Vec<QueuedPost> = (1..=500)
            .map(|i| QueuedPost {
                author: "alice".into(),
                targets: vec!["@team".into()],
                post: PostId(i),
                due_at: utc(2026, 11, 30, 8, 0),
                body: "<<&&>> ".repeat(20),
                recurrence: None,
                retrying: Vec::new(),
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
}
