//! A post's own text per network: lines after the main text such as `x: shorter text` or
//! `instagram: caption #with #tags`, each running until the next such line or the end. Pure.

use crate::domain::Provider;

/// A post's text split into the main text and each network's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Composed {
    /// What every target without its own text publishes.
    pub main: String,
    /// Each network's own text, in the order written.
    pub variants: Vec<(Provider, String)>,
}

impl Composed {
    /// The text a target on `provider` publishes, and whether it is the network's own.
    pub fn text_for(&self, provider: Provider) -> (&str, bool) {
        match self.variants.iter().find(|(p, _)| *p == provider) {
            Some((_, text)) => (text, true),
            None => (&self.main, false),
        }
    }
}

/// Why the network lines of a post cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    /// Two lines for one network.
    #[error("there are two `{}:` lines; keep one text per network", .0.word())]
    Twice(Provider),
    /// A network line with nothing after it.
    #[error(
        "the `{}:` line has no text; write the text after `{}:`, or remove the line",
        .0.word(),
        .0.word()
    )]
    Empty(Provider),
}

/// Splits `text` at its network lines: a line that starts with `x:`, `facebook:` or
/// `instagram:` (any case) begins that network's own text.
pub fn split_variants(text: &str) -> Result<Composed, VariantError> {
    let mut composed = Composed::default();
    let mut main = Vec::new();
    let mut current: Option<(Provider, Vec<&str>)> = None;
    for line in text.split('\n') {
        if let Some((provider, rest)) = network_line(line) {
            if let Some(done) = current.take() {
                finish(&mut composed, done)?;
            }
            if composed.variants.iter().any(|(p, _)| *p == provider) {
                return Err(VariantError::Twice(provider));
            }
            current = Some((provider, vec![rest]));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        } else {
            main.push(line);
        }
    }
    if let Some(done) = current.take() {
        finish(&mut composed, done)?;
    }
    composed.main = main.join("\n").trim().to_owned();
    Ok(composed)
}

fn finish(
    composed: &mut Composed,
    (provider, lines): (Provider, Vec<&str>),
) -> Result<(), VariantError> {
    if composed.variants.iter().any(|(p, _)| *p == provider) {
        return Err(VariantError::Twice(provider));
    }
    let text = lines.join("\n").trim().to_owned();
    if text.is_empty() {
        return Err(VariantError::Empty(provider));
    }
    composed.variants.push((provider, text));
    Ok(())
}

/// The network a line begins the text of, and the rest of the line.
fn network_line(line: &str) -> Option<(Provider, &str)> {
    let (word, rest) = line.trim_start().split_once(':')?;
    let provider = [Provider::X, Provider::FacebookPage, Provider::Instagram]
        .into_iter()
        .find(|p| p.word().eq_ignore_ascii_case(word))?;
    Some((provider, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Variants = Vec<(Provider, String)>;

    fn variants(pairs: &[(Provider, &str)]) -> Variants {
        pairs.iter().map(|(p, t)| (*p, (*t).to_owned())).collect()
    }

    #[test]
    fn network_lines_split_off_their_own_text_until_the_next_one() {
        let cases: &[(&str, &str, Variants)] = &[
            ("just one text", "just one text", vec![]),
            (
                "Launch day!\nx: launch 🚀",
                "Launch day!",
                variants(&[(Provider::X, "launch 🚀")]),
            ),
            (
                "Long text\nsecond line\nX: short\nInstagram: pic day\n#bread #loaf\nfacebook:  fb  ",
                "Long text\nsecond line",
                variants(&[
                    (Provider::X, "short"),
                    (Provider::Instagram, "pic day\n#bread #loaf"),
                    (Provider::FacebookPage, "fb"),
                ]),
            ),
            (
                "x: only for x",
                "",
                variants(&[(Provider::X, "only for x")]),
            ),
            // Only a whole word before the colon, at a line's start, names a network.
            (
                "see https://x.com\nbox: no\nmax: no\nwe're on x: come",
                "see https://x.com\nbox: no\nmax: no\nwe're on x: come",
                vec![],
            ),
            (
                "main\n  x: indented counts",
                "main",
                variants(&[(Provider::X, "indented counts")]),
            ),
        ];
        for (text, main, expected) in cases {
            let composed = split_variants(text).unwrap();
            assert_eq!(composed.main, *main, "{text:?}");
            assert_eq!(&composed.variants, expected, "{text:?}");
        }
    }

    #[test]
    fn a_network_twice_or_without_text_is_refused_saying_what_to_do() {
        let cases: &[(&str, VariantError, &str)] = &[
            (
                "main\nx: one\nx: two",
                VariantError::Twice(Provider::X),
                "there are two `x:` lines; keep one text per network",
            ),
            (
                "main\ninstagram:\nx: fine",
                VariantError::Empty(Provider::Instagram),
                "the `instagram:` line has no text; write the text after `instagram:`, or remove the line",
            ),
            (
                "main\nfacebook:   \n  ",
                VariantError::Empty(Provider::FacebookPage),
                "the `facebook:` line has no text; write the text after `facebook:`, or remove the line",
            ),
        ];
        for (text, error, message) in cases {
            let got = split_variants(text).unwrap_err();
            assert_eq!(&got, error, "{text:?}");
            assert_eq!(got.to_string(), *message);
        }
    }

    #[test]
    fn each_network_publishes_its_own_text_else_the_main_one() {
        let composed = split_variants("main\nx: short").unwrap();
        assert_eq!(composed.text_for(Provider::X), ("short", true));
        assert_eq!(composed.text_for(Provider::FacebookPage), ("main", false));
    }
}
