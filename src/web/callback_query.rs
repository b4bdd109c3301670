//! The query string a platform sends the browser back with to `/oauth/{provider}/callback`,
//! read into the state and either the code or the platform's refusal. Pure. Only a
//! well-formed query is accepted: each OAuth parameter at most once (RFC 6749 §3.1), a state
//! shaped like the ones autopost makes, and a code or an error but not both; anything else is
//! refused before a state is looked up.

use std::fmt;

use url::form_urlencoded;

/// Longest query read: OAuth answers are a few hundred bytes; a longer one is not theirs.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Longest state accepted: autopost's are 43 characters (32 random bytes, base64url).
const MAX_STATE_CHARS: usize = 128;

/// Longest code accepted: Meta's run to a few hundred characters, X's to about a hundred.
const MAX_CODE_CHARS: usize = 2048;

/// Longest error code or description kept.
const MAX_ERROR_CHARS: usize = 1024;

/// What the platform said when it sent the browser back.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackQuery {
    /// The state autopost put in the consent link.
    pub state: String,
    /// The authorization code, or why there is none (`access_denied: The user denied…`).
    pub outcome: Result<String, String>,
}

impl fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state and code are one-time credentials: never shown.
        f.debug_struct("CallbackQuery")
            .field("granted", &self.outcome.is_ok())
            .finish_non_exhaustive()
    }
}

/// Why a callback query is refused. The messages are for the page the browser shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No state came back.
    #[error("The platform sent no state back; ask the bot for a new link with /connect.")]
    NoState,
    /// The query is not one a platform sends.
    #[error(
        "This answer from the platform is malformed; ask the bot for a new link with /connect."
    )]
    Malformed,
}

impl CallbackQuery {
    /// Reads the raw query string (without `?`; `None` when the URL had none).
    pub fn parse(query: Option<&str>) -> Result<Self, QueryError> {
        let query = query.unwrap_or_default();
        if query.len() > MAX_QUERY_BYTES {
            return Err(QueryError::Malformed);
        }
        let mut state = None;
        let mut code = None;
        let mut error = None;
        let mut description = None;
        // Meta sends `error_reason` as well as, or instead of, `error_description`.
        let mut reason = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "state" => &mut state,
                "code" => &mut code,
                "error" => &mut error,
                "error_description" => &mut description,
                "error_reason" => &mut reason,
                // Platforms add their own (`scope`, `granted_scopes`, …).
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(QueryError::Malformed);
            }
        }
        let state = state.ok_or(QueryError::NoState)?;
        if state.is_empty() || state.len() > MAX_STATE_CHARS || !is_token(&state) {
            return Err(QueryError::Malformed);
        }
        let outcome = match (code, error) {
            (Some(code), None) => {
                if code.is_empty() || code.len() > MAX_CODE_CHARS || !is_visible_ascii(&code) {
                    return Err(QueryError::Malformed);
                }
                Ok(code)
            }
            (None, Some(error)) => {
                let error = bounded(&error, MAX_ERROR_CHARS)?;
                if error.is_empty() || !is_visible_ascii(&error) {
                    return Err(QueryError::Malformed);
                }
                Err(match description.or(reason) {
                    Some(why) => format!("{error}: {}", bounded(&why, MAX_ERROR_CHARS)?),
                    None => error,
                })
            }
            // Linking goes on to say it was not granted, and the state is used up.
            (None, None) => Err("no code".to_owned()),
            (Some(_), Some(_)) => return Err(QueryError::Malformed),
        };
        Ok(Self { state, outcome })
    }
}

/// `value` if it has at most `max` characters and no control characters.
fn bounded(value: &str, max: usize) -> Result<String, QueryError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(QueryError::Malformed);
    }
    Ok(value.to_owned())
}

/// Base64url characters, as in the states autopost makes.
fn is_token(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Printable ASCII without spaces, as codes and error codes are (RFC 6749 §A.11, §A.7).
fn is_visible_ascii(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const STATE: &str = "Zk3v0_pQ-2aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456";

    #[test]
    fn a_platforms_answer_is_read_into_state_and_code_or_refusal() {
        let granted = |code: &str| -> Result<CallbackQuery, QueryError> {
            Ok(CallbackQuery {
                state: STATE.to_owned(),
                outcome: Ok(code.to_owned()),
            })
        };
        let refused = |why: &str| -> Result<CallbackQuery, QueryError> {
            Ok(CallbackQuery {
                state: STATE.to_owned(),
                outcome: Err(why.to_owned()),
            })
        };
        let cases: Vec<(String, Result<CallbackQuery, QueryError>)> = vec![
            (
                format!("state={STATE}&code=abc.DEF-123~_"),
                granted("abc.DEF-123~_"),
            ),
            (
                format!("code=AQB%2Fx%3D&state={STATE}&scope=tweet.read"),
                granted("AQB/x="),
            ),
            (
                format!(
                    "error=access_denied&error_reason=user_denied&error_description=Permissions+error&state={STATE}"
                ),
                refused("access_denied: Permissions error"),
            ),
            (
                format!("error=access_denied&state={STATE}"),
                refused("access_denied"),
            ),
            (
                format!("error=access_denied&error_reason=user_denied&state={STATE}"),
                refused("access_denied: user_denied"),
            ),
            (format!("state={STATE}"), refused("no code")),
            ("code=abc".to_owned(), Err(QueryError::NoState)),
            (String::new(), Err(QueryError::NoState)),
            (
                format!("state={STATE}&state={STATE}&code=a"),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&code=a&code=b"),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&code=a&error=access_denied"),
                Err(QueryError::Malformed),
            ),
            ("state=&code=a".to_owned(), Err(QueryError::Malformed)),
            (
                "state=has%20space&code=a".to_owned(),
                Err(QueryError::Malformed),
            ),
            ("state=%00&code=a".to_owned(), Err(QueryError::Malformed)),
            (
                format!("state={}&code=a", "a".repeat(129)),
                Err(QueryError::Malformed),
            ),
            (format!("state={STATE}&code="), Err(QueryError::Malformed)),
            (
                format!("state={STATE}&code=a%0Ab"),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&code={}", "c".repeat(2049)),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&error=a%20b"),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&error=x&error_description=line%0Abreak"),
                Err(QueryError::Malformed),
            ),
            (
                format!("state={STATE}&code=a&pad={}", "p".repeat(MAX_QUERY_BYTES)),
                Err(QueryError::Malformed),
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(CallbackQuery::parse(Some(&query)), expected, "{query}");
        }
        assert_eq!(CallbackQuery::parse(None), Err(QueryError::NoState));
    }

    #[test]
    fn debug_output_shows_neither_state_nor_code() {
        let query = CallbackQuery::parse(Some(&format!("state={STATE}&code=secret-code"))).unwrap();
        let shown = format!("{query:?}");
        assert!(
            !shown.contains(STATE) && !shown.contains("secret-code"),
            "{shown}"
        );
    }

    /// A query as platforms build them: our parameters and some of theirs, in any order.
    fn well_formed() -> impl Strategy<Value = (String, String, Result<String, String>)> {
        (
            "[A-Za-z0-9_-]{1,128}",
            prop_oneof!["[!-~]{1,300}".prop_map(Ok), "[a-z_]{1,30}".prop_map(Err),],
            prop::collection::vec(("[a-z_]{1,10}", "[ -~]{0,20}"), 0..3),
        )
            .prop_filter("their own parameters", |(_, _, extra)| {
                extra.iter().all(|(k, _)| {
                    ![
                        "state",
                        "code",
                        "error",
                        "error_description",
                        "error_reason",
                    ]
                    .contains(&k.as_str())
                })
            })
            .prop_map(|(state, outcome, extra)| {
                let mut query = form_urlencoded::Serializer::new(String::new());
                for (key, value) in &extra {
                    query.append_pair(key, value);
                }
                query.append_pair("state", &state);
                match &outcome {
                    Ok(code) => query.append_pair("code", code),
                    Err(error) => query.append_pair("error", error),
                };
                (query.finish(), state, outcome)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_query_gets_an_answer_and_what_is_accepted_is_well_formed(
            query in prop_oneof![any::<String>(), "[a-z_=&%0-9A-F]{0,80}"],
        ) {
            if let Ok(read) = CallbackQuery::parse(Some(&query)) {
                prop_assert!(!read.state.is_empty() && is_token(&read.state));
                if let Ok(code) = &read.outcome {
                    prop_assert!(!code.is_empty() && is_visible_ascii(code));
                }
            }
        }

        #[test]
        fn a_well_formed_query_gives_back_its_state_and_code(
            (query, state, outcome) in well_formed(),
        ) {
            prop_assert_eq!(
                CallbackQuery::parse(Some(&query)),
                Ok(CallbackQuery { state, outcome })
            );
        }
    }
}
