//! Property tests of reading chat text: any message in any context gets an answer, never a
//! panic; and a generated `WHEN | TEXT`, however spaced, splits back into its two parts.
//! Bounded case counts keep CI fast; `fuzz/` holds the long run.

use proptest::prelude::*;

use super::args::{PostForm, split_when_text};
use super::parse::{ParseContext, parse};
use super::verbs::Command;

/// A time phrase as written: words without `|`, not starting or ending with whitespace.
fn when() -> impl Strategy<Value = String> {
    "[^|\\s]([^|\\n]{0,30}[^|\\s])?"
}

/// A post text: anything, `|` included, not starting or ending with whitespace.
fn text() -> impl Strategy<Value = String> {
    "\\S(.{0,60}\\S)?"
}

/// Spaces, tabs and line breaks around the parts, as people type them.
fn blank() -> impl Strategy<Value = String> {
    "[ \\t\\n]{0,3}"
}

fn form() -> impl Strategy<Value = PostForm> {
    prop::sample::select(vec![PostForm::Post, PostForm::Edit, PostForm::Plain])
}

fn context() -> impl Strategy<Value = ParseContext<'static>> {
    (any::<bool>(), any::<bool>()).prop_map(|(named, is_private)| ParseContext {
        bot_username: named.then_some("AutopostBot"),
        is_private,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_message_in_any_context_gets_an_answer(
        message in prop_oneof![
            any::<String>(),
            "/?[a-z@]{0,12}[ |#0-9a-z]{0,30}",
            ".{0,20}\\|.{0,20}",
        ],
        context in context(),
        form in form(),
    ) {
        let _ = parse(&message, context);
        if let Ok((when, text)) = split_when_text(&message, form) {
            prop_assert!(!when.is_empty() && !text.is_empty());
            prop_assert!(!when.contains('|'));
        }
    }

    #[test]
    fn a_generated_when_and_text_split_back_into_themselves(
        when in when(),
        text in text(),
        spacing in (blank(), blank(), blank(), blank()),
        form in form(),
    ) {
        let (a, b, c, d) = spacing;
        let message = format!("{a}{when}{b}|{c}{text}{d}");
        prop_assert_eq!(split_when_text(&message, form), Ok((when.clone(), text.clone())));
        // The same through the whole reader, as `/post` and as a private message.
        let post = Command::Post { when: when.clone(), text: text.clone(), to: Vec::new() };
        let private = ParseContext { bot_username: Some("AutopostBot"), is_private: true };
        // `/post to …` chooses targets: a time phrase never starts with the word "to".
        let names_targets = when
            .split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("to"));
        if !names_targets {
            prop_assert_eq!(parse(&format!("/post {message}"), private), Ok(Some(post.clone())));
        }
        if !when.starts_with('/') {
            prop_assert_eq!(parse(&message, private), Ok(Some(post)));
        }
    }
}
