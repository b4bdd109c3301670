//! How X counts and compares post text: the weighted length (twitter-text v3: URLs 23, CJK and
//! emoji 2) that decides the 280 limit, and the text as X renders it back, for reconciliation.
//! Pure: no I/O, no client.

/// Every URL counts this many, whatever its length (links are wrapped in t.co).
const URL_WEIGHT: usize = 23;

/// A post's length as X counts it (twitter-text v3, limit 280), after NFC normalization as X
/// does: 1 for most Latin, Greek,
/// Cyrillic, Hebrew, Arabic and general punctuation, 2 for everything else (CJK, emoji);
/// every URL 23; an emoji sequence (skin tone, ZWJ family, flag, keycap) 2 in all.
/// <https://docs.x.com/fundamentals/counting-characters>
///
/// Hand-written: the `twitter-text` crate (0.3.1) pulls in `cxx`, a parser generator and an
/// emoji table, far more than this needs. Differences from twitter-text, all rare:
/// - URLs are found by a simple detector: `http(s)://…`, and bare domains ending in a common
///   TLD (`example.com/path`), not preceded by a letter, digit, `@`, `#` or `$`;
/// - emoji are recognised by code-point ranges, not the full Unicode emoji list.
pub fn weighted_length(text: &str) -> usize {
    use unicode_normalization::UnicodeNormalization;
    let chars: Vec<char> = text.nfc().collect();
    let mut total = 0;
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = url_end(&chars, i) {
            total += URL_WEIGHT;
            i = end;
        } else if let Some(end) = emoji_end(&chars, i) {
            total += 2;
            i = end;
        } else {
            total += char_weight(chars[i]);
            i += 1;
        }
    }
    total
}

/// Where `text` holds links, as X finds them, as byte ranges of `text` (not normalized): a
/// thread is never cut inside one, since a cut link would count and read differently.
pub fn url_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let plain: Vec<char> = chars.iter().map(|(_, c)| *c).collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < plain.len() {
        match url_end(&plain, i) {
            Some(end) if end > i => {
                spans.push(byte_at(i)..byte_at(end));
                i = end;
            }
            _ => i += 1,
        }
    }
    spans
}

/// twitter-text v3 weights: these ranges weigh 1, all else 2.
fn char_weight(c: char) -> usize {
    match u32::from(c) {
        0x0000..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 1,
        _ => 2,
    }
}

/// Top-level domains that make a bare `name.tld` count as a link.
const COMMON_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "edu", "gov", "io", "co", "app", "dev", "ai", "me", "tv",
    "ly", "gl", "us", "uk", "de", "fr", "es", "it", "nl", "ch", "eu", "ca", "au", "in", "jp", "ru",
    "br", "xyz", "site", "online", "tech", "news", "blog", "shop", "store",
];

/// If a URL starts at `start`, where it ends.
fn url_end(chars: &[char], start: usize) -> Option<usize> {
    let before = start.checked_sub(1).map(|p| chars[p]);
    // twitter-text: a link is not glued to a word, a mention, a hashtag or a cashtag.
    if before.is_some_and(|c| c.is_alphanumeric() || "@＠#＃$＄".contains(c)) {
        return None;
    }
    let rest: String = chars[start..chars.len().min(start + 8)]
        .iter()
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(scheme) = ["https://", "http://"]
        .into_iter()
        .find(|s| rest.starts_with(s))
    {
        let host_start = start + scheme.len();
        if !chars.get(host_start).is_some_and(|c| c.is_alphanumeric()) {
            return None;
        }
        let end = run_end(chars, host_start, |c| !c.is_whitespace());
        return Some(trim_trailing_punctuation(chars, host_start, end));
    }
    // twitter-text: a bare domain right after `-`, `_`, `.` or `/` is part of something else.
    if before.is_some_and(|c| "-_./".contains(c)) {
        return None;
    }
    let host_end = run_end(chars, start, |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '.'
    });
    let mut host: String = chars[start..host_end].iter().collect();
    while host.ends_with('.') {
        host.pop();
    }
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last()?.to_ascii_lowercase();
    let well_formed = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !well_formed || !COMMON_TLDS.contains(&tld.as_str()) {
        return None;
    }
    let mut end = start + host.chars().count();
    match chars.get(end) {
        // `user.name@example.com` is an address, not a link.
        Some('@') => None,
        Some(':' | '/') if end == host_end => {
            end = run_end(chars, end, |c| !c.is_whitespace());
            Some(trim_trailing_punctuation(chars, start, end))
        }
        _ => Some(end),
    }
}

/// The end of the run of characters from `start` that satisfy `keep`.
fn run_end(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    chars[start..]
        .iter()
        .position(|&c| !keep(c))
        .map_or(chars.len(), |n| start + n)
}

/// Sentence punctuation after a link is not part of it (`see https://a.io/x.`); a closing
/// bracket is, when the link opened it (Wikipedia-style paths).
fn trim_trailing_punctuation(chars: &[char], start: usize, mut end: usize) -> usize {
    while end > start {
        let last = chars[end - 1];
        // A closing bracket stays only while the link has opened more than it has closed.
        let unbalanced = |open: char| {
            let span = &chars[start..end];
            span.iter().filter(|&&c| c == last).count()
                > span.iter().filter(|&&c| c == open).count()
        };
        let drop = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '…' => true,
            ')' => unbalanced('('),
            ']' => unbalanced('['),
            '}' => unbalanced('{'),
            _ => false,
        };
        if !drop {
            break;
        }
        end -= 1;
    }
    end
}

/// Code points that start an emoji (pictographs, dingbats, arrows, symbols).
fn is_emoji_base(c: char) -> bool {
    matches!(u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF | 0x2900..=0x297F | 0x25A0..=0x25FF | 0x203C | 0x2049
        | 0x2122 | 0x2139 | 0x24C2 | 0x3030 | 0x303D | 0x3297 | 0x3299)
}

/// Whether `c` modifies the emoji before it: variation selectors, skin tones, tag
/// characters (subdivision flags), the keycap mark.
fn is_emoji_modifier(c: char) -> bool {
    matches!(u32::from(c), 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0x20E3)
}

/// If an emoji sequence starts at `start`, where it ends.
fn emoji_end(chars: &[char], start: usize) -> Option<usize> {
    let first = chars[start];
    let is_regional = |c: char| matches!(u32::from(c), 0x1F1E6..=0x1F1FF);
    if is_regional(first) {
        // A flag is two regional indicators.
        let pair = chars.get(start + 1).is_some_and(|&c| is_regional(c));
        return Some(start + if pair { 2 } else { 1 });
    }
    let modified = chars.get(start + 1).is_some_and(|&c| is_emoji_modifier(c));
    if !is_emoji_base(first) && !modified {
        return None;
    }
    let mut end = start + 1;
    loop {
        match chars.get(end) {
            Some(&c) if is_emoji_modifier(c) => end += 1,
            Some('\u{200D}') if chars.get(end + 1).is_some_and(|&c| is_emoji_base(c)) => {
                end += 2;
            }
            _ => return Some(end),
        }
    }
}

/// A post's text reduced to what survives X's rendering: HTML entities decoded, every link
/// replaced by one marker (X rewrites them to t.co), NFC, surrounding space trimmed.
pub(super) fn comparable_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let chars: Vec<char> = decoded.nfc().collect();
    let mut out = String::with_capacity(decoded.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = url_end(&chars, i) {
            out.push('\u{1}');
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_length_follows_twitter_text_weights() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("hello world", 11),
            ("line\nbreak", 10),
            ("café", 4),
            ("Привет", 6),
            ("שלום", 4),
            ("日本語", 6),
            ("한국어", 6),
            ("“quoted” – dash", 15),
            ("…", 2),
            ("′″", 2),
        ];
        for (text, expected) in cases {
            assert_eq!(weighted_length(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn every_url_counts_23_whatever_its_length() {
        let cases: &[(&str, usize)] = &[
            ("https://example.com", 23),
            (
                "https://example.com/a/very/long/path/that/goes/on?and=on&on=1",
                23,
            ),
            ("go http://a.io now", 3 + 23 + 4),
            ("see example.com.", 4 + 23 + 1),
            ("example.org/path?q=1", 23),
            ("(https://en.wikipedia.org/wiki/Rust_(language))", 23 + 2),
            ("HTTPS://EXAMPLE.COM/", 23),
            ("two https://a.co https://b.co", 4 + 23 + 1 + 23),
        ];
        for (text, expected) in cases {
            assert_eq!(weighted_length(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn words_with_dots_addresses_and_tags_are_not_urls() {
        let cases: &[&str] = &[
            "node.js",
            "file.txt",
            "e.g. this",
            "mail me@example.com",
            "user.name@example.com",
            "#example.com",
            "wordhttp://x.com",
            "https://",
            "v1.2.3",
        ];
        for text in cases {
            assert_eq!(
                weighted_length(text),
                text.chars().count(),
                "{text:?} should count char by char"
            );
        }
    }

    #[test]
    fn an_emoji_sequence_counts_2_however_many_code_points_it_has() {
        let cases: &[(&str, usize)] = &[
            ("👍", 2),
            ("👍🏽", 2),
            ("👨‍👩‍👧‍👦", 2),
            ("🇫🇷", 2),
            ("🇫🇷🇩🇪", 4),
            ("1️⃣", 2),
            ("❤️", 2),
            ("©️", 2),
            ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),
            ("hi 👋!", 3 + 2 + 1),
        ];
        for (text, expected) in cases {
            assert_eq!(weighted_length(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn texts_compare_as_x_renders_them() {
        assert_eq!(
            comparable_text("Fish &amp; chips &lt;3 https://t.co/abc123"),
            comparable_text("Fish & chips <3 https://example.com/menu")
        );
        assert_ne!(
            comparable_text("launch day"),
            comparable_text("launch day!")
        );
    }

    #[test]
    fn decomposed_accents_are_counted_after_nfc_normalization() {
        // "é" as e + combining acute accent is one character once composed, as X counts it.
        assert_eq!(weighted_length("cafe\u{301}"), 4);
        assert_eq!(weighted_length("café"), 4);
    }
}
