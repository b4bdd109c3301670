//! Splitting a text too long for X into a thread: parts within X's weighted limit, cut at
//! sentence ends, else between words, else (one word longer than a post) between characters,
//! never inside a link or a character a reader sees as one; numbered ("1/3 ") only when the
//! author asks with a last line `1/n`. Pure: no I/O.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::platforms::x::text::{url_spans, weighted_length};

/// The last line that asks for numbered parts. Authors write it at the end of the text;
/// it is never published.
pub const NUMBERING_MARKER: &str = "1/n";

/// `text` without a last line that asks for numbering ([`NUMBERING_MARKER`], in any case),
/// and whether it had one. A text that is nothing but the marker keeps it: it is the post.
pub fn take_numbering_request(text: &str) -> (String, bool) {
    let trimmed = text.trim_end();
    let (rest, last) = match trimmed.rsplit_once('\n') {
        Some((rest, last)) => (rest, last),
        None => return (text.to_owned(), false),
    };
    if last.trim().eq_ignore_ascii_case(NUMBERING_MARKER) && !rest.trim().is_empty() {
        (rest.trim_end().to_owned(), true)
    } else {
        (text.to_owned(), false)
    }
}

/// The parts of a thread carrying `text` on X, each at most `limit` weighted characters
/// (numbering included): one part when the text fits. With `numbered`, each part starts
/// with `i/n `.
pub fn split(text: &str, limit: usize, numbered: bool) -> Vec<String> {
    let text = text.trim();
    if weighted_length(text) <= limit {
        return vec![text.to_owned()];
    }
    if !numbered {
        return pack(text, limit);
    }
    // The prefix's width depends on how many parts there are, which depends on the room
    // the prefix leaves: try one digit, then more until the count fits the width.
    let mut digits = 1;
    loop {
        let prefix = 2 * digits + 2;
        let parts = pack(text, limit.saturating_sub(prefix));
        let count = parts.len();
        if count.to_string().len() <= digits {
            return parts
                .into_iter()
                .enumerate()
                .map(|(i, part)| format!("{}/{count} {part}", i + 1))
                .collect();
        }
        digits += 1;
    }
}

/// Where a part may end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// After a sentence or a line.
    Sentence,
    /// Between words.
    Word,
}

/// Greedy packing: each part as long as fits `budget`, ending at the last sentence end that
/// fits, else the last word end, else cut inside the first word.
fn pack(text: &str, budget: usize) -> Vec<String> {
    let urls = url_spans(text);
    let breaks = break_points(text, &urls);
    let mut parts = Vec::new();
    let mut start = skip_space(text, 0);
    while start < text.len() {
        let fits = |end: usize| {
            // Outside links, nothing common packs more than 14 bytes into one unit of
            // weight (a tag-sequence flag: 28 bytes, weight 2), so a run far longer than
            // that is over without being measured, which keeps a very long text linear.
            let link_bytes: usize = urls
                .iter()
                .map(|u| u.end.min(end).saturating_sub(u.start.max(start)))
                .sum();
            end - start - link_bytes <= 16 * budget.max(1)
                && weighted_length(text[start..end].trim_end()) <= budget
        };
        // The candidates that fit, found by bisection: a run up to a later break weighs at
        // least as much, since breaks fall where nothing before them can join what comes
        // after (into one link, emoji or composed letter).
        // Galloping first keeps every run measured at most about twice a part's length.
        let from = breaks.partition_point(|(at, _)| *at <= start);
        let candidates = &breaks[from..];
        let mut reach = 1;
        while reach <= candidates.len() && fits(candidates[reach - 1].0) {
            reach *= 2;
        }
        let known = reach / 2;
        let upper = reach.min(candidates.len());
        let count = known + candidates[known..upper].partition_point(|(at, _)| fits(*at));
        let fitting = &candidates[..count];
        let end = fitting
            .iter()
            .rev()
            .find(|(_, kind)| *kind == Break::Sentence)
            .or(fitting.last())
            .map(|(at, _)| *at)
            .filter(|at| !text[start..*at].trim().is_empty())
            .unwrap_or_else(|| hard_cut(text, start, budget, &urls));
        parts.push(text[start..end].trim().to_owned());
        start = skip_space(text, end);
    }
    parts
}

/// Where parts may end: before every whitespace run outside a link (a sentence end when the
/// run holds a line break or follows `.`, `!`, `?` or `…`, with closing quotes or brackets),
/// right after a CJK full stop, which needs no space, and at the end.
fn break_points(text: &str, urls: &[std::ops::Range<usize>]) -> Vec<(usize, Break)> {
    let in_url = |at: usize| urls.iter().any(|u| u.start < at && at < u.end);
    let mut breaks = Vec::new();
    let mut previous: Option<char> = None;
    let mut sentence_end = false;
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            if !previous.is_some_and(char::is_whitespace) && !in_url(at) {
                let line = text[at..]
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .any(|c| c == '\n');
                let kind = if sentence_end || line {
                    Break::Sentence
                } else {
                    Break::Word
                };
                breaks.push((at, kind));
            }
        } else if matches!(c, '。' | '！' | '？') && !in_url(at) {
            breaks.push((at + c.len_utf8(), Break::Sentence));
        }
        if !c.is_whitespace() && !"\"'”’)]»".contains(c) {
            sentence_end = matches!(c, '.' | '!' | '?' | '…');
        }
        previous = Some(c);
    }
    breaks.push((text.len(), Break::Sentence));
    breaks
}

/// The end of the longest run from `start` that fits `budget`, taken link by link and
/// character by character (a character with its marks, an emoji sequence or a flag): at
/// least one, so that every part moves on.
fn hard_cut(text: &str, start: usize, budget: usize, urls: &[std::ops::Range<usize>]) -> usize {
    // Units are weighed one by one (measuring the whole run at every step would be
    // quadratic), then the run is measured once and shortened while it is over: letters
    // next to each other can weigh more together (`a.co` is a link).
    let mut ends = Vec::new();
    let mut end = start;
    let mut estimate = 0;
    while end < text.len() {
        let next = match urls.iter().find(|u| u.start == end) {
            Some(url) => url.end,
            None => grapheme_end(text, end),
        };
        estimate += weighted_length(&text[end..next]);
        if !ends.is_empty() && estimate > budget {
            break;
        }
        ends.push(next);
        end = next;
    }
    while ends.len() > 1
        && ends
            .last()
            .is_some_and(|e| weighted_length(&text[start..*e]) > budget)
    {
        ends.pop();
    }
    ends.last().copied().unwrap_or(text.len())
}

/// The end of the character a reader sees as one that starts at `at`: a base with its
/// combining marks, variation selectors, skin tones and tags, joined emoji, a flag's pair.
fn grapheme_end(text: &str, at: usize) -> usize {
    let is_regional = |c: char| matches!(u32::from(c), 0x1F1E6..=0x1F1FF);
    let mut chars = text[at..].chars();
    let Some(first) = chars.next() else {
        return at;
    };
    let mut end = at + first.len_utf8();
    let mut joined = false;
    let mut regional_pair = is_regional(first);
    for c in chars {
        let extends = joined
            || matches!(
                c.general_category(),
                GeneralCategory::NonspacingMark
                    | GeneralCategory::SpacingMark
                    | GeneralCategory::EnclosingMark
            )
            || matches!(u32::from(c), 0xFE00..=0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0x200D)
            || (regional_pair && is_regional(c));
        if !extends {
            break;
        }
        regional_pair = false;
        joined = c == '\u{200D}';
        end += c.len_utf8();
    }
    end
}

/// The first position from `at` that is not whitespace.
fn skip_space(text: &str, at: usize) -> usize {
    text[at..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(offset, _)| at + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(parts: &[String]) -> Vec<usize> {
        parts.iter().map(|p| weighted_length(p)).collect()
    }

    /// Every part fits and, read in order, the parts give back every word of the text.
    fn assert_whole(text: &str, parts: &[String], limit: usize) {
        for part in parts {
            assert!(weighted_length(part) <= limit, "{part:?} is over {limit}");
            assert!(!part.trim().is_empty());
        }
        let joined: Vec<&str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(joined.concat(), words.concat());
    }

    #[test]
    fn a_text_that_fits_is_one_part_even_when_numbering_was_asked() {
        assert_eq!(split("  short  ", 280, false), ["short"]);
        assert_eq!(split("short", 280, true), ["short"]);
        let exact = "a".repeat(280);
        assert_eq!(split(&exact, 280, false), [exact]);
    }

    #[test]
    fn parts_end_at_sentences_when_one_fits() {
        let sentence = |word: &str| format!("{} end.", [word; 20].join(" "));
        // Each sentence weighs 20 × 6 - 1 + 5 = 124: two fit in 280, three do not.
        let text = [sentence("alpha"), sentence("bravo"), sentence("delta")].join(" ");
        let parts = split(&text, 280, false);
        assert_eq!(
            parts,
            [
                format!("{} {}", sentence("alpha"), sentence("bravo")),
                sentence("delta")
            ]
        );
        // Question marks, closing quotes and line breaks end sentences too.
        let text = format!(
            "{}? \"{}!\"\n{}",
            ["ask"; 30].join(" "),
            ["yell"; 20].join(" "),
            ["line"; 30].join(" ")
        );
        let parts = split(&text, 280, false);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts[0].ends_with("yell!\""), "{parts:?}");
        assert_whole(&text, &parts, 280);
    }

    #[test]
    fn a_sentence_longer_than_a_post_is_cut_between_words() {
        let text = ["word"; 150].join(" ");
        let parts = split(&text, 280, false);
        assert_eq!(weights(&parts), [279, 279, 189]);
        assert!(parts.iter().all(|p| p.split(' ').all(|w| w == "word")));
        assert_whole(&text, &parts, 280);
    }

    #[test]
    fn a_url_counts_23_and_is_never_cut() {
        let url = format!("https://example.com/{}", "p".repeat(300));
        // 250 weighted, a space, then a 23: 274 fits although the link alone has 320 chars.
        let text = format!("{} {url} {}", "b".repeat(250), ["tailpiece"; 10].join(" "));
        let parts = split(&text, 280, false);
        assert_eq!(parts[0], format!("{} {url}", "b".repeat(250)));
        assert_eq!(weighted_length(&parts[0]), 274);
        assert_whole(&text, &parts, 280);
        // Glued to an over-long word, the link still travels whole.
        let glued = format!("{}({url})", "x".repeat(270));
        let parts = split(&glued, 280, false);
        assert!(parts.iter().any(|p| p.contains(&url)), "{parts:?}");
        assert_whole(&glued, &parts, 280);
    }

    #[test]
    fn cjk_weighs_two_and_breaks_after_a_full_stop() {
        // 100 ideographs weigh 200: the second sentence does not fit beside the first.
        let first = format!("{}。", "日".repeat(99));
        let second = format!("{}。", "本".repeat(99));
        let text = format!("{first}{second}");
        assert_eq!(split(&text, 280, false), [first, second]);
        // No stop, no spaces: cut between characters, 140 a part.
        let run = "語".repeat(300);
        let parts = split(&run, 280, false);
        assert_eq!(weights(&parts), [280, 280, 40]);
    }

    #[test]
    fn numbering_is_added_only_when_asked_and_its_width_is_counted() {
        let text = ["word"; 150].join(" ");
        let parts = split(&text, 280, true);
        assert_eq!(parts.len(), 3);
        for (i, part) in parts.iter().enumerate() {
            assert!(part.starts_with(&format!("{}/3 word", i + 1)), "{part}");
            assert!(weighted_length(part) <= 280);
        }
        // Ten parts or more: the prefix is wider ("10/12 "), and every part still fits.
        let long = ["word"; 700].join(" ");
        let parts = split(&long, 280, true);
        let count = parts.len();
        assert!(count >= 10, "{count}");
        assert!(parts[0].starts_with(&format!("1/{count} ")));
        assert!(parts[count - 1].starts_with(&format!("{count}/{count} ")));
        assert!(weights(&parts).iter().all(|w| *w <= 280));
        let unnumbered = split(&long, 280, false);
        assert!(unnumbered.iter().all(|p| p.starts_with("word")));
        assert!(unnumbered.len() <= count);
    }

    #[test]
    fn a_single_word_longer_than_a_post_is_cut_without_splitting_a_character() {
        let word = "a".repeat(600);
        assert_eq!(weights(&split(&word, 280, false)), [280, 280, 40]);
        // e + combining acute, and a family emoji: never separated from their parts.
        let accented = "e\u{301}".repeat(300);
        let parts = split(&accented, 280, false);
        assert!(parts.iter().all(|p| p.starts_with('e')), "{parts:?}");
        assert_eq!(parts.concat(), accented);
        let family = "👨‍👩‍👧".repeat(200);
        let parts = split(&family, 280, false);
        assert_eq!(weights(&parts), [280, 120]);
        assert_eq!(parts.concat(), family);
    }

    #[test]
    fn a_very_long_text_is_split_whole_and_every_part_fits() {
        let text = "a".repeat(63_207);
        let parts = split(&text, 280, false);
        assert_eq!(parts.len(), 226);
        assert_eq!(parts.concat(), text);
        let spaced = ["word"; 12_000].join(" ");
        assert_whole(&spaced, &split(&spaced, 280, false), 280);
        assert!(
            weights(&split(&spaced, 280, true))
                .iter()
                .all(|w| *w <= 280)
        );
    }

    #[test]
    fn a_last_line_1_of_n_asks_for_numbering_and_is_not_published() {
        let cases: &[(&str, &str, bool)] = &[
            ("hello\n1/n", "hello", true),
            ("hello\n  1/N  \n", "hello", true),
            ("hello 1/n", "hello 1/n", false),
            ("1/n", "1/n", false),
            ("hello\n1/n\nmore", "hello\n1/n\nmore", false),
            ("hello", "hello", false),
        ];
        for (text, rest, numbered) in cases {
            assert_eq!(
                take_numbering_request(text),
                ((*rest).to_owned(), *numbered),
                "{text:?}"
            );
        }
    }
}
