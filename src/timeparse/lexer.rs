//! Splits a phrase into numbers, words, zone names and symbols, all lowercase ASCII.
//! Refuses characters no time phrase uses, so the later stages never see anything else.

use super::{TimeError, near};

/// Longest phrase read; a time phrase is a few words, and a bound keeps work per phrase small.
const MAX_PHRASE_BYTES: usize = 200;

/// One token of a phrase. Slices borrow from the normalized (lowercased) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    /// A run of digits. `value` saturates at `u64::MAX`; `text.len()` tells `09` from `9`.
    Num { text: &'a str, value: u64 },
    /// A run of letters.
    Word(&'a str),
    /// A chunk that starts with a letter and contains `/`, such as `europe/berlin`.
    ZoneName(&'a str),
    /// Any other single ASCII character: `:`, `/`, `.`, `-`, `+`, `@`…
    Sym(u8),
}

impl Tok<'_> {
    /// The token as the user wrote it (lowercased), for messages.
    pub(super) fn text(&self) -> String {
        match self {
            Tok::Num { text, .. } | Tok::Word(text) | Tok::ZoneName(text) => (*text).to_owned(),
            Tok::Sym(byte) => char::from(*byte).to_string(),
        }
    }
}

/// Lowercases ASCII, turns any Unicode space or comma into one ASCII space, and refuses
/// every other non-ASCII character (naming the word it is in).
pub(super) fn normalize(phrase: &str) -> Result<String, TimeError> {
    let mut out = String::with_capacity(phrase.len().min(MAX_PHRASE_BYTES));
    for ch in phrase.chars() {
        if ch.is_whitespace() || ch == ',' {
            out.push(' ');
        } else if ch.is_ascii() {
            out.push(ch.to_ascii_lowercase());
        } else {
            let word = phrase
                .split(|c: char| c.is_whitespace())
                .find(|w| w.contains(ch))
                .unwrap_or(phrase);
            return Err(TimeError::Unparseable { near: near(word) });
        }
        if out.len() > MAX_PHRASE_BYTES {
            return Err(TimeError::Unparseable { near: near(phrase) });
        }
    }
    Ok(out)
}

/// Tokenizes normalized text. Every byte is ASCII, so every index is a char boundary and
/// slicing cannot panic.
pub(super) fn lex(text: &str) -> Vec<Tok<'_>> {
    let bytes = text.as_bytes();
    let mut toks = Vec::with_capacity(8);
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b' ' {
            i += 1;
            continue;
        }
        let starts_chunk = i == 0 || bytes.get(i - 1) == Some(&b' ');
        let chunk_end = bytes[i..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(bytes.len(), |n| i + n);
        if starts_chunk && byte.is_ascii_alphabetic() && bytes[i..chunk_end].contains(&b'/') {
            toks.push(Tok::ZoneName(&text[i..chunk_end]));
            i = chunk_end;
        } else if byte.is_ascii_digit() {
            let end = run_end(bytes, i, u8::is_ascii_digit);
            let digits = &text[i..end];
            let value = digits.bytes().fold(0u64, |acc, d| {
                acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            toks.push(Tok::Num {
                text: digits,
                value,
            });
            i = end;
        } else if byte.is_ascii_alphabetic() {
            let end = run_end(bytes, i, u8::is_ascii_alphabetic);
            toks.push(Tok::Word(&text[i..end]));
            i = end;
        } else {
            toks.push(Tok::Sym(byte));
            i += 1;
        }
    }
    merge_dotted_meridiem(toks)
}

fn run_end(bytes: &[u8], start: usize, keep: fn(&u8) -> bool) -> usize {
    bytes[start..]
        .iter()
        .position(|b| !keep(b))
        .map_or(bytes.len(), |n| start + n)
}

/// Turns `a.m.` / `p.m` into the words `am` / `pm`, so the grammar knows one spelling.
fn merge_dotted_meridiem(toks: Vec<Tok<'_>>) -> Vec<Tok<'_>> {
    if !toks.contains(&Tok::Word("m")) {
        return toks;
    }
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while let Some(&tok) = toks.get(i) {
        let merged = match (tok, toks.get(i + 1), toks.get(i + 2)) {
            (Tok::Word("a"), Some(Tok::Sym(b'.')), Some(Tok::Word("m"))) => Some("am"),
            (Tok::Word("p"), Some(Tok::Sym(b'.')), Some(Tok::Word("m"))) => Some("pm"),
            _ => None,
        };
        match merged {
            Some(word) => {
                out.push(Tok::Word(word));
                i += 3;
                if toks.get(i) == Some(&Tok::Sym(b'.')) {
                    i += 1;
                }
            }
            None => {
                out.push(tok);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexed(phrase: &str) -> Vec<String> {
        let text = normalize(phrase).unwrap();
        lex(&text).iter().map(Tok::text).collect()
    }

    #[test]
    fn tokens_split_at_every_change_of_character_class() {
        let table: [(&str, &[&str]); 8] = [
            ("Tomorrow 9AM", &["tomorrow", "9", "am"]),
            (
                "2026-12-24T18:00",
                &["2026", "-", "12", "-", "24", "t", "18", ":", "00"],
            ),
            ("in 1h30m", &["in", "1", "h", "30", "m"]),
            ("18:00 Europe/Berlin", &["18", ":", "00", "europe/berlin"]),
            ("24/12 18:00", &["24", "/", "12", "18", ":", "00"]),
            ("9 a.m.", &["9", "am"]),
            ("friday,\u{a0}5\u{202f}PM", &["friday", "5", "pm"]),
            (
                "@ 10:00+05:30",
                &["@", "10", ":", "00", "+", "05", ":", "30"],
            ),
        ];
        for (phrase, want) in table {
            assert_eq!(lexed(phrase), want, "{phrase}");
        }
    }

    #[test]
    fn huge_numbers_saturate_instead_of_overflowing() {
        let text = normalize("99999999999999999999999999").unwrap();
        assert!(matches!(
            lex(&text)[..],
            [Tok::Num {
                value: u64::MAX,
                ..
            }]
        ));
    }

    #[test]
    fn non_ascii_letters_are_refused_naming_their_word() {
        assert_eq!(
            normalize("tomorrow 9am 🎉"),
            Err(TimeError::Unparseable {
                near: "🎉".into()
            })
        );
    }

    #[test]
    fn overlong_phrases_are_refused() {
        assert!(normalize(&"9am ".repeat(100)).is_err());
    }
}
