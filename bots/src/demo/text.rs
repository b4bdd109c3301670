//! Pure text helpers of the demo's timeline: Telegram HTML and web pages turned into short
//! plain lines a terminal can show.

/// Telegram HTML (the bot's `parse_mode = HTML` replies) as plain text: tags dropped, the
/// five entities Telegram's HTML mode knows decoded, line breaks kept.
pub fn html_to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        match rest[open..].find('>') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                // A lone `<` is text (Telegram would refuse it, but never lose it here).
                out.push('<');
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

/// Decodes `&lt; &gt; &quot; &#39; &amp;`; `&amp;` last, so that `&amp;lt;` stays `&lt;`.
fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The target of the first `<a href="…">` in Telegram HTML, decoded.
pub fn first_link(html: &str) -> Option<String> {
    let start = html.find("href=\"")? + "href=\"".len();
    let end = html[start..].find('"')?;
    Some(decode_entities(&html[start..start + end]))
}

/// What an autopost web page says: its `<h1>` and first `<p>`, as one plain line.
pub fn page_message(html: &str) -> String {
    let inner = |tag: &str| {
        let open = format!("<{tag}");
        let start = html.find(&open)?;
        let body = start + html[start..].find('>')? + 1;
        let end = body + html[body..].find(&format!("</{tag}>"))?;
        Some(html_to_plain(&html[body..end]).trim().to_owned())
    };
    match (inner("h1"), inner("p")) {
        (Some(title), Some(text)) => format!("{title}: {text}"),
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => "(an empty page)".to_owned(),
    }
}

/// The first `max_lines` non-blank lines of `text`, and a last line saying how many more
/// there are, if any.
/// Discord markdown as a reader sees it: escapes dropped, bold and code marks removed, and a
/// masked link `[text](<url>)` shown as its text only (links carry one-time states).
pub fn markdown_to_plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        match c {
            '\\' => {
                let next = after.chars().next();
                if let Some(next) = next {
                    out.push(next);
                    rest = &after[next.len_utf8()..];
                } else {
                    rest = after;
                }
                continue;
            }
            '[' => {
                if let Some((text, tail)) = masked_link(rest) {
                    out.push_str(&markdown_to_plain(text));
                    rest = tail;
                    continue;
                }
                out.push(c);
            }
            '*' if after.starts_with('*') => {
                rest = &after[1..];
                continue;
            }
            '`' => {}
            c => out.push(c),
        }
        rest = after;
    }
    out
}

/// `[text](<url>)…` → the text, the url and what follows.
fn masked_link_parts(markdown: &str) -> Option<(&str, &str, &str)> {
    let close = markdown.find("](<")?;
    let end = markdown[close..].find(">)")? + close;
    Some((
        &markdown[1..close],
        &markdown[close + 3..end],
        &markdown[end + 2..],
    ))
}

fn masked_link(markdown: &str) -> Option<(&str, &str)> {
    masked_link_parts(markdown).map(|(text, _, tail)| (text, tail))
}

/// The target of the first masked link `[text](<url>)` in Discord markdown.
pub fn first_markdown_link(markdown: &str) -> Option<String> {
    let start = markdown.find('[')?;
    masked_link_parts(&markdown[start..]).map(|(_, url, _)| url.to_owned())
}

/// The first `max_lines` non-blank lines of `text`, and a last line saying how many more
/// there are, if any.
pub fn excerpt(text: &str, max_lines: usize) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut shown: Vec<String> = lines
        .iter()
        .take(max_lines)
        .map(|l| (*l).to_owned())
        .collect();
    let hidden = lines.len().saturating_sub(max_lines);
    if hidden > 0 {
        let s = if hidden == 1 { "" } else { "s" };
        shown.push(format!("… ({hidden} more line{s})"));
    }
    shown
}

/// The first line of `text` in quotes, cut to `max_chars` characters with `…`.
pub fn quote(text: &str, max_chars: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut: String = first.chars().take(max_chars).collect();
    let more = first.chars().count() > max_chars || text.lines().nth(1).is_some();
    format!("\"{cut}{}\"", if more { "…" } else { "" })
}

/// `n thing` or `n things`.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_html_becomes_plain_text_with_its_line_breaks() {
        let cases = [
            ("<b>Scheduled post </b><code>#1</code>", "Scheduled post #1"),
            (
                "Open this: <a href=\"http://h/x?a=1&amp;b=2\">Connect X</a>\nIt works once",
                "Open this: Connect X\nIt works once",
            ),
            ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
            ("&amp;lt; stays", "&lt; stays"),
            ("say &quot;hi&quot; it&#39;s", "say \"hi\" it's"),
            ("a lone < sign", "a lone < sign"),
            ("", ""),
        ];
        for (html, plain) in cases {
            assert_eq!(html_to_plain(html), plain, "{html}");
        }
    }

    #[test]
    fn the_first_link_is_found_and_decoded() {
        let html = "Go: <a href=\"http://127.0.0.1:1/oauth/x/start?s=a&amp;t=b\">Connect X</a> \
                    <a href=\"http://other\">x</a>";
        assert_eq!(
            first_link(html).as_deref(),
            Some("http://127.0.0.1:1/oauth/x/start?s=a&t=b")
        );
        assert_eq!(first_link("no link here"), None);
        assert_eq!(first_link("<a href=\"unterminated"), None);
    }

    #[test]
    fn a_page_is_summed_up_by_its_heading_and_first_paragraph() {
        let page = "<html><head><title>Connected · autopost</title><style>h1{x}</style></head>\
                    <body><h1>Connected</h1><p>Linked @a (X) to this chat.</p>\
                    <p class=\"muted\">You can close this tab.</p></body></html>";
        assert_eq!(page_message(page), "Connected: Linked @a (X) to this chat.");
        assert_eq!(page_message("<h1>Not connected</h1>"), "Not connected");
        assert_eq!(page_message("plain"), "(an empty page)");
    }

    #[test]
    fn an_excerpt_skips_blank_lines_and_counts_the_rest() {
        assert_eq!(excerpt("a\n\nb\nc\nd", 2), ["a", "b", "… (2 more lines)"]);
        assert_eq!(excerpt("a\nb\nc", 2), ["a", "b", "… (1 more line)"]);
        assert_eq!(excerpt("a\nb", 5), ["a", "b"]);
        assert!(excerpt("", 3).is_empty());
    }

    #[test]
    fn a_quote_shows_the_first_line_and_marks_a_cut() {
        assert_eq!(quote("Launch day!", 20), "\"Launch day!\"");
        assert_eq!(quote("Launch day!", 6), "\"Launch…\"");
        assert_eq!(quote("one\ntwo", 20), "\"one…\"");
        assert_eq!(quote("héllo wörld", 5), "\"héllo…\"");
        assert_eq!(quote("", 5), "\"\"");
    }

    #[test]
    fn discord_markdown_reads_as_plain_text() {
        assert_eq!(
            markdown_to_plain("**Scheduled post **`#3` for \\@team \\(X\\)"),
            "Scheduled post #3 for @team (X)"
        );
        let link = "Open this: [Connect X](<http://h/oauth/x/start?s=secret>) now";
        assert_eq!(markdown_to_plain(link), "Open this: Connect X now");
        assert_eq!(
            first_markdown_link(link).as_deref(),
            Some("http://h/oauth/x/start?s=secret")
        );
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(0, "image"), "0 images");
        assert_eq!(count(1, "image"), "1 image");
        assert_eq!(count(2, "photo"), "2 photos");
    }
}
