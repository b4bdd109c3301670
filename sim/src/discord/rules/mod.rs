//! Discord's documented limits on command definitions (`commands`), messages and interaction
//! responses (`messages`), as pure checks that collect every problem with its path, and the
//! `50035 Invalid Form Body` tree Discord answers with. Knows nothing of state: whether an
//! interaction was answered is `responses`'.

mod commands;
mod messages;

pub(crate) use commands::check_commands;
pub(crate) use messages::{
    MessageUse, check_autocomplete_result, check_message, check_modal, is_empty_message,
};

use serde_json::{Map, Value, json};

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 2000;
/// Most embeds on one message.
pub const MAX_EMBEDS: usize = 10;
/// Most choices in an autocomplete result or on one option.
pub const MAX_CHOICES: usize = 25;
/// Most commands of one kind (CHAT_INPUT) in one scope.
pub const MAX_COMMANDS: usize = 100;
/// Most options on a command or subcommand.
pub const MAX_OPTIONS: usize = 25;
/// Longest `custom_id` of a component or modal.
pub const MAX_CUSTOM_ID_CHARS: usize = 100;

/// EPHEMERAL: only the user who invoked the interaction sees the message.
pub const EPHEMERAL: u64 = 1 << 6;
/// SUPPRESS_EMBEDS.
pub const SUPPRESS_EMBEDS: u64 = 1 << 2;
/// SUPPRESS_NOTIFICATIONS.
pub const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// IS_COMPONENTS_V2: components are laid out freely, content and embeds are refused.
pub const IS_COMPONENTS_V2: u64 = 1 << 15;
/// LOADING: the "is thinking…" message of a deferred response (set by Discord, never by bots).
pub const LOADING: u64 = 1 << 7;

/// One refusal at one place of the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Keys and array indices down to the refused field; empty for the body itself.
    pub(crate) path: Vec<String>,
    /// Discord's error code, such as `BASE_TYPE_MAX_LENGTH`.
    pub(crate) code: &'static str,
    /// Discord's human message.
    pub(crate) message: String,
}

/// Collects problems under a path prefix.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<Problem>,
}

impl Problems {
    /// Just one problem.
    pub(crate) fn one(path: &[&str], code: &'static str, message: impl Into<String>) -> Self {
        let mut problems = Self::default();
        problems.add(path, code, message);
        problems
    }

    /// The same problems, one level down under `prefix` (`data` of a callback).
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        for problem in &mut self.found {
            problem.path.insert(0, prefix.to_owned());
        }
        self
    }

    fn add(&mut self, path: &[&str], code: &'static str, message: impl Into<String>) {
        self.found.push(Problem {
            path: path.iter().map(|p| (*p).to_owned()).collect(),
            code,
            message: message.into(),
        });
    }

    fn required(&mut self, path: &[&str]) {
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required");
    }

    fn bad_length(&mut self, path: &[&str], min: usize, max: usize) {
        self.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between {min} and {max} in length."),
        );
    }

    fn too_long(&mut self, path: &[&str], max: usize) {
        self.add(
            path,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        );
    }

    /// A text field that must be present with `min..=max` characters.
    fn text(&mut self, value: Option<&Value>, path: &[&str], min: usize, max: usize) {
        match value {
            None | Some(Value::Null) => self.required(path),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min || n > max {
                    self.bad_length(path, min, max);
                }
            }
            Some(_) => self.add(path, "BASE_TYPE_STRING", "Must be a string."),
        }
    }

    /// A text field that may be absent or null, else at most `max` characters.
    fn optional_text(&mut self, value: Option<&Value>, path: &[&str], max: usize) {
        match value {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() > max => self.too_long(path, max),
            Some(Value::String(_)) => {}
            Some(_) => self.add(path, "BASE_TYPE_STRING", "Must be a string."),
        }
    }

    /// Adds every problem found so far under `prefix`.
    fn nest(&mut self, prefix: &[&str], inner: Problems) {
        for mut problem in inner.found {
            let mut path: Vec<String> = prefix.iter().map(|p| (*p).to_owned()).collect();
            path.append(&mut problem.path);
            problem.path = path;
            self.found.push(problem);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.found
    }
}

/// The `errors` tree of a 50035 answer: `{"a":{"0":{"b":{"_errors":[{code,message}]}}}}`.
pub(crate) fn error_tree(problems: &[Problem]) -> Value {
    let mut root = Map::new();
    for problem in problems {
        let mut node = &mut root;
        for key in &problem.path {
            let child = node
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            let Value::Object(map) = child else {
                unreachable!("made an object just above")
            };
            node = map;
        }
        let errors = node
            .entry("_errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = errors {
            list.push(json!({ "code": problem.code, "message": problem.message }));
        }
    }
    Value::Object(root)
}

/// The body of Discord's 400 for a refused form.
pub(crate) fn invalid_form_body(problems: &[Problem]) -> Value {
    json!({ "message": "Invalid Form Body", "code": 50035, "errors": error_tree(problems) })
}

/// A JSON value as Discord quotes it in messages: strings bare.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The path and code of every problem, for compact assertions.
    pub(crate) fn codes(problems: Problems) -> Vec<(String, &'static str)> {
        problems
            .into_vec()
            .into_iter()
            .map(|p| (p.path.join("."), p.code))
            .collect()
    }

    #[test]
    fn the_error_tree_nests_like_discords() {
        let found = check_commands(&json!([{ "name": "Post", "description": "x" }]));
        let body = invalid_form_body(&found.into_vec());
        assert_eq!(body["code"], 50035);
        assert_eq!(
            body["errors"]["0"]["name"]["_errors"][0]["code"],
            "APPLICATION_COMMAND_INVALID_NAME"
        );
    }
}
