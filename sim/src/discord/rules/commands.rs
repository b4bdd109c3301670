//! Discord's rules for application command definitions: names, descriptions, option types and
//! order, choices and autocomplete, and the limits per scope.
//! <https://discord.com/developers/docs/interactions/application-commands>

use std::collections::HashSet;

use serde_json::Value;

use super::{MAX_CHOICES, MAX_COMMANDS, MAX_OPTIONS, Problems, plain};

/// Option types: 1 SUB_COMMAND … 11 ATTACHMENT.
const OPTION_TYPES: std::ops::RangeInclusive<u64> = 1..=11;
const SUB_COMMAND: u64 = 1;
const SUB_COMMAND_GROUP: u64 = 2;
const STRING: u64 = 3;
const INTEGER: u64 = 4;
const NUMBER: u64 = 10;

/// Whether `name` is a valid CHAT_INPUT command or option name: 1–32 characters, letters and
/// digits of any script, `-`, `_` and `'`, none of them upper case.
/// <https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-naming>
pub(crate) fn is_valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| (c.is_alphanumeric() || matches!(c, '-' | '_' | '\'')) && !c.is_uppercase())
}

/// A chat-input command's or option's `name`: its length first, then, once that is right, its
/// characters (Discord reports one or the other, not both).
fn check_chat_input_name(name: Option<&Value>, problems: &mut Problems) {
    problems.text(name, &["name"], 1, 32);
    if let Some(name) = name.and_then(Value::as_str)
        && !name.is_empty()
        && name.chars().count() <= 32
        && !is_valid_name(name)
    {
        problems.add(
            &["name"],
            "APPLICATION_COMMAND_INVALID_NAME",
            "Command name is invalid",
        );
    }
}

/// Checks a bulk-overwrite body: an array of at most 100 chat-input commands (5 user, 5
/// message), each valid, names unique per type.
pub(crate) fn check_commands(body: &Value) -> Problems {
    let mut problems = Problems::default();
    let Some(commands) = body.as_array() else {
        problems.add(
            &[],
            "BASE_TYPE_ARRAY",
            "Only iterables may be used in a ListType",
        );
        return problems;
    };
    let mut seen = HashSet::new();
    let mut per_type = [0usize; 5];
    for (i, command) in commands.iter().enumerate() {
        let index = i.to_string();
        let mut inner = Problems::default();
        check_command(command, &mut inner);
        problems.nest(&[&index], inner);
        let kind = command.get("type").and_then(Value::as_u64).unwrap_or(1);
        if let Some(count) = usize::try_from(kind).ok().and_then(|k| per_type.get_mut(k)) {
            *count += 1;
        }
        if let Some(name) = command.get("name").and_then(Value::as_str)
            && !seen.insert((kind, name.to_owned()))
        {
            problems.add(
                &[&index, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                format!("Application command names must be unique ({name})"),
            );
        }
    }
    if per_type[1] > MAX_COMMANDS {
        problems.too_long(&[], MAX_COMMANDS);
    }
    if per_type[2] > 5 || per_type[3] > 5 {
        problems.add(
            &[],
            "APPLICATION_COMMANDS_TOO_MANY_CONTEXT_MENU",
            "Maximum number of user and message commands reached (5)",
        );
    }
    problems
}

fn check_command(command: &Value, problems: &mut Problems) {
    if !command.is_object() {
        problems.add(
            &[],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
        return;
    }
    let kind = match command.get("type") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64().filter(|k| (1..=4).contains(k)) {
            Some(k) => k,
            None => {
                problems.add(
                    &["type"],
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 2, 3, 4}.",
                );
                return;
            }
        },
    };
    let name = command.get("name");
    if kind == 1 {
        check_chat_input_name(name, problems);
        problems.text(command.get("description"), &["description"], 1, 100);
    } else {
        problems.text(name, &["name"], 1, 32);
        // Context-menu commands have no description: Discord wants it empty.
        problems.optional_text(command.get("description"), &["description"], 0);
    }
    match command.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Array(options)) if kind == 1 => {
            let mut inner = Problems::default();
            check_options(options, 0, &mut inner);
            problems.nest(&["options"], inner);
        }
        Some(Value::Array(options)) if options.is_empty() => {}
        Some(_) => problems.add(
            &["options"],
            "APPLICATION_COMMAND_OPTIONS_INVALID",
            "Only chat input commands may have options",
        ),
    }
    match command.get("default_member_permissions") {
        None | Some(Value::Null) => {}
        Some(Value::String(bits))
            if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(other) => problems.add(
            &["default_member_permissions"],
            "NUMBER_TYPE_COERCE",
            format!("Value \"{}\" is not int.", plain(other)),
        ),
    }
    check_small_enum(command.get("contexts"), &["contexts"], &[0, 1, 2], problems);
    check_small_enum(
        command.get("integration_types"),
        &["integration_types"],
        &[0, 1],
        problems,
    );
}

fn check_small_enum(
    value: Option<&Value>,
    path: &[&str],
    allowed: &[u64],
    problems: &mut Problems,
) {
    let Some(Value::Array(items)) = value else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if !item.as_u64().is_some_and(|v| allowed.contains(&v)) {
            let index = i.to_string();
            let mut at = path.to_vec();
            at.push(&index);
            let set: Vec<String> = allowed.iter().map(u64::to_string).collect();
            problems.add(
                &at,
                "ENUM_TYPE_COERCE",
                format!(
                    "Value \"{}\" is not a valid enum value. One of {{{}}}.",
                    plain(item),
                    set.join(", ")
                ),
            );
        }
    }
}

/// Checks the options of a command (`depth` 0), of a group (1) or of a subcommand.
fn check_options(options: &[Value], depth: u8, problems: &mut Problems) {
    if options.len() > MAX_OPTIONS {
        problems.too_long(&[], MAX_OPTIONS);
    }
    let kinds: Vec<u64> = options
        .iter()
        .map(|o| o.get("type").and_then(Value::as_u64).unwrap_or(0))
        .collect();
    let subcommands = kinds
        .iter()
        .filter(|k| matches!(**k, SUB_COMMAND | SUB_COMMAND_GROUP))
        .count();
    if subcommands != 0 && subcommands != options.len() {
        problems.add(
            &[],
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        );
    }
    // Required options first: once an optional one is seen, a required one is refused.
    let mut optional_seen = false;
    let mut misordered = false;
    for option in options {
        let required = option
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if required && optional_seen {
            misordered = true;
        }
        optional_seen |= !required;
    }
    if misordered {
        problems.add(
            &[],
            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
            "Required options must be placed before non-required options",
        );
    }
    let mut names = HashSet::new();
    for (i, option) in options.iter().enumerate() {
        let index = i.to_string();
        let mut inner = Problems::default();
        check_option(option, depth, &mut inner);
        problems.nest(&[&index], inner);
        if let Some(name) = option.get("name").and_then(Value::as_str)
            && !names.insert(name)
        {
            problems.add(
                &[&index, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                format!("Option name {name} is already used in these options"),
            );
        }
    }
}

fn check_option(option: &Value, depth: u8, problems: &mut Problems) {
    let Some(kind) = option
        .get("type")
        .and_then(Value::as_u64)
        .filter(|k| OPTION_TYPES.contains(k))
    else {
        problems.add(
            &["type"],
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.",
        );
        return;
    };
    check_chat_input_name(option.get("name"), problems);
    problems.text(option.get("description"), &["description"], 1, 100);
    let nested = option.get("options").and_then(Value::as_array);
    match kind {
        SUB_COMMAND_GROUP if depth > 0 => problems.add(
            &["type"],
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command groups can only be nested at the top level",
        ),
        SUB_COMMAND if depth > 1 => problems.add(
            &["type"],
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-commands can only be nested in a command or a sub-command group",
        ),
        _ => {}
    }
    match (kind, nested) {
        (SUB_COMMAND_GROUP, Some(inner_options)) => {
            if inner_options
                .iter()
                .any(|o| o.get("type").and_then(Value::as_u64) != Some(SUB_COMMAND))
            {
                problems.add(
                    &["options"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups may only contain sub-commands",
                );
            }
            let mut inner = Problems::default();
            check_options(inner_options, depth + 1, &mut inner);
            problems.nest(&["options"], inner);
        }
        (SUB_COMMAND, Some(inner_options)) => {
            let mut inner = Problems::default();
            check_options(inner_options, 2, &mut inner);
            problems.nest(&["options"], inner);
        }
        (_, Some(inner_options)) if !inner_options.is_empty() => problems.add(
            &["options"],
            "APPLICATION_COMMAND_OPTIONS_INVALID",
            "Only sub-commands and sub-command groups may have options",
        ),
        _ => {}
    }
    let takes_choices = matches!(kind, STRING | INTEGER | NUMBER);
    let choices = option.get("choices").and_then(Value::as_array);
    let has_choices = choices.is_some_and(|c| !c.is_empty());
    if let Some(choices) = choices {
        if !takes_choices && !choices.is_empty() {
            problems.add(
                &["choices"],
                "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                "Only string, integer and number options may have choices",
            );
        }
        if choices.len() > MAX_CHOICES {
            problems.too_long(&["choices"], MAX_CHOICES);
        }
        for (i, choice) in choices.iter().enumerate() {
            let index = i.to_string();
            let mut inner = Problems::default();
            check_choice(choice, kind, &mut inner);
            problems.nest(&["choices", &index], inner);
        }
    }
    if option.get("autocomplete").and_then(Value::as_bool) == Some(true) {
        if !takes_choices {
            problems.add(
                &["autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete can only be enabled on string, integer and number options",
            );
        } else if has_choices {
            problems.add(
                &["autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be enabled on options that have choices",
            );
        }
    }
    for bound in ["min_length", "max_length"] {
        if let Some(value) = option.get(bound).filter(|v| !v.is_null()) {
            if kind != STRING {
                problems.add(
                    &[bound],
                    "APPLICATION_COMMAND_OPTION_LENGTH_INVALID",
                    "Only string options may have a length",
                );
            } else if value.as_u64().is_none_or(|n| n > 6000) {
                problems.add(
                    &[bound],
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 6000.",
                );
            }
        }
    }
}

fn check_choice(choice: &Value, kind: u64, problems: &mut Problems) {
    problems.text(choice.get("name"), &["name"], 1, 100);
    match (kind, choice.get("value")) {
        (_, None | Some(Value::Null)) => problems.required(&["value"]),
        (STRING, Some(Value::String(s))) if s.chars().count() > 100 => {
            problems.too_long(&["value"], 100)
        }
        (STRING, Some(Value::String(_))) => {}
        (INTEGER, Some(v)) if v.is_i64() || v.is_u64() => {}
        (NUMBER, Some(v)) if v.is_number() => {}
        (_, Some(v)) => problems.add(
            &["value"],
            "BASE_TYPE_CHOICES",
            format!("Value \"{}\" does not match the option's type.", plain(v)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::codes;
    use super::*;

    fn command(name: &str, options: Value) -> Value {
        json!({ "name": name, "description": "Schedule a post", "options": options })
    }

    #[test]
    fn command_names_follow_discords_naming_rule() {
        for good in ["post", "delete-me", "time_zone", "x2", "café", "日本"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Post", "two words", "a/b", &"a".repeat(33), "ÉTÉ"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_valid_command_set_passes() {
        let set = json!([
            command("post", json!([
                { "type": 3, "name": "text", "description": "What to post", "required": true },
                { "type": 3, "name": "when", "description": "When", "autocomplete": true },
                { "type": 11, "name": "image1", "description": "An image" },
            ])),
            { "name": "Report", "type": 3 },
        ]);
        assert!(
            check_commands(&set).is_empty(),
            "{:?}",
            check_commands(&set)
        );
    }

    #[test]
    fn bad_command_definitions_are_refused_where_they_are_wrong() {
        let set = json!([
            command("Post", json!([])),
            { "name": "queue", "description": "" },
            command("edit", json!([
                { "type": 3, "name": "text", "description": "x" },
                { "type": 4, "name": "id", "description": "x", "required": true },
                { "type": 5, "name": "now", "description": "x", "autocomplete": true },
                { "type": 3, "name": "to", "description": "x", "autocomplete": true,
                  "choices": [{ "name": "X", "value": "x" }] },
                { "type": 12, "name": "what", "description": "x" },
            ])),
            command("edit", json!([])),
        ]);
        let found = codes(check_commands(&set));
        let expected = [
            ("0.name", "APPLICATION_COMMAND_INVALID_NAME"),
            ("1.description", "BASE_TYPE_BAD_LENGTH"),
            ("2.options", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"),
            (
                "2.options.2.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
            ),
            (
                "2.options.3.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
            ),
            ("2.options.4.type", "BASE_TYPE_CHOICES"),
            ("3.name", "APPLICATION_COMMANDS_DUPLICATE_NAME"),
        ];
        for (path, code) in expected {
            assert!(
                found.iter().any(|(p, c)| p == path && *c == code),
                "{path} {code} not in {found:?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:?}");
    }

    #[test]
    fn too_many_commands_or_options_are_refused() {
        let many: Vec<Value> = (0..101)
            .map(|i| command(&format!("c{i}"), json!([])))
            .collect();
        assert_eq!(
            codes(check_commands(&Value::Array(many))),
            [(String::new(), "BASE_TYPE_MAX_LENGTH")]
        );
        let options: Vec<Value> = (0..26)
            .map(|i| json!({ "type": 3, "name": format!("o{i}"), "description": "x" }))
            .collect();
        let found = codes(check_commands(&json!([command(
            "post",
            Value::Array(options)
        )])));
        assert_eq!(found, [("0.options".to_owned(), "BASE_TYPE_MAX_LENGTH")]);
    }
}
