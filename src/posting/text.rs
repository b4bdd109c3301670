//! What a post's text may hold, settled once where the text enters (a new post or an edit):
//! control characters are removed before the text is checked or stored, and a text that
//! would show nothing at all is refused. Pure.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a post's text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Every character is invisible: spaces, zero-width or formatting characters.
    #[error(
        "the text of this post has only invisible characters (spaces, zero-width or formatting \
         characters); write something people can see"
    )]
    Invisible,
}

/// `text` as it is checked, stored and published:
///
/// - control characters (Unicode category Cc: NUL, escape sequences' ESC, DEL, the C1 set) are
///   removed, except tab and line feed; a carriage return becomes a line break (`\r\n` and a
///   lone `\r` both become `\n`), since that is what the sender meant;
/// - the bidi embeddings and overrides (U+202A–U+202E) are removed: an override shows
///   characters in an order other than the one they are in, which is how a link or @name is
///   made to read as another, and an unclosed one reorders whatever the platform shows after
///   the post. The isolates (U+2066–U+2069) and the marks (LRM, RLM, ALM) stay: they are what
///   Unicode recommends for mixing right-to-left and left-to-right text, and cannot reverse
///   characters.
///
/// A text that is not empty but shows nothing (only whitespace, zero-width and other format
/// characters, fillers, or characters removed above) is refused. An empty text is left to the
/// target's rules: a post may be an image alone.
pub fn clean(text: &str) -> Result<String, TextError> {
    let mut cleaned = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                cleaned.push('\n');
            }
            '\n' | '\t' => cleaned.push(c),
            c if c.is_control() || is_bidi_override(c) => {}
            c => cleaned.push(c),
        }
    }
    if !text.is_empty() && cleaned.chars().all(is_invisible) {
        return Err(TextError::Invisible);
    }
    Ok(cleaned)
}

/// LRE, RLE, PDF, LRO and RLO.
fn is_bidi_override(c: char) -> bool {
    ('\u{202A}'..='\u{202E}').contains(&c)
}

/// Whether `c` shows nothing by itself: whitespace, a format character (category Cf: zero-width
/// space, joiners, BOM, bidi marks, word joiner, invisible operators, tags), or one of the
/// default-ignorable or blank letters and marks people use to post "nothing" (the combining
/// grapheme joiner, Hangul and Khmer fillers, variation selectors, the blank Braille pattern).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.general_category() == GeneralCategory::Format
        || matches!(
            c,
            '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_removed_and_the_rest_kept() {
        let cases: &[(&str, &str)] = &[
            ("launch day", "launch day"),
            ("nul\0 inside", "nul inside"),
            (
                "bell\u{7} esc\u{1B}[31m red del\u{7F}",
                "bell esc[31m red del",
            ),
            ("c1\u{85} csi\u{9B}2J", "c1 csi2J"),
            (
                "lines\r\nwindows\rold mac\nunix",
                "lines\nwindows\nold mac\nunix",
            ),
            ("tab\tkept", "tab\tkept"),
            ("paypal.com/\u{202E}gpj.exe", "paypal.com/gpj.exe"),
            ("\u{202A}\u{202B}embedded\u{202C}\u{202D}", "embedded"),
            // Isolates and marks are the recommended way to mix directions: kept.
            (
                "\u{2067}שלום\u{2069} and \u{200F}!",
                "\u{2067}שלום\u{2069} and \u{200F}!",
            ),
            // Emoji sequences hold joiners and variation selectors: kept whole.
            (
                "family 👨\u{200D}👩\u{200D}👧 ❤\u{FE0F}",
                "family 👨\u{200D}👩\u{200D}👧 ❤\u{FE0F}",
            ),
            (
                "zero\u{200B}width stays inside text",
                "zero\u{200B}width stays inside text",
            ),
            ("", ""),
        ];
        for (sent, stored) in cases {
            assert_eq!(clean(sent).as_deref(), Ok(*stored), "{sent:?}");
        }
    }

    #[test]
    fn a_text_that_shows_nothing_is_refused() {
        let cases = [
            " ",
            "\n\t \u{A0}\u{3000}",
            "\u{200B}",
            "\u{FEFF}\u{200D}\u{200C}\u{2060}",
            "\u{200E}\u{200F}\u{2066}\u{2069}",
            "\u{AD}",
            "\u{3164}\u{3164}",
            "\u{2800}",
            "\u{034F}\u{FE0F}",
            "\u{E0020}\u{E007F}",
            // Only characters that are removed: nothing would be left to post.
            "\0\0",
            "\u{202E}",
            "\r\n",
        ];
        for sent in cases {
            assert_eq!(clean(sent), Err(TextError::Invisible), "{sent:?}");
        }
    }

    #[test]
    fn the_refusal_reads_as_one_sentence_saying_what_to_do() {
        assert_eq!(
            TextError::Invisible.to_string(),
            "the text of this post has only invisible characters (spaces, zero-width or \
             formatting characters); write something people can see"
        );
    }
}
