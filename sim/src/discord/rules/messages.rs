//! Discord's rules for message bodies (content, embeds, components, flags, allowed mentions)
//! and for the other interaction responses (autocomplete results, modals).
//! <https://discord.com/developers/docs/resources/message#create-message>

use std::collections::HashSet;

use serde_json::Value;

use super::{
    EPHEMERAL, IS_COMPONENTS_V2, MAX_CHOICES, MAX_CONTENT_CHARS, MAX_CUSTOM_ID_CHARS, MAX_EMBEDS,
    Problems, SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, plain,
};

/// Where a message body is checked: which flags it may set, and whether it must say something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageUse {
    /// A new channel message (no EPHEMERAL).
    Channel,
    /// An edit of any message: only SUPPRESS_EMBEDS and IS_COMPONENTS_V2 may change.
    Edit,
    /// A reply to an interaction or a follow-up (EPHEMERAL allowed).
    Interaction,
}

impl MessageUse {
    fn allowed_flags(self) -> u64 {
        match self {
            MessageUse::Channel => SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
            MessageUse::Edit => SUPPRESS_EMBEDS | IS_COMPONENTS_V2 | EPHEMERAL,
            MessageUse::Interaction => {
                SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2 | EPHEMERAL
            }
        }
    }
}

/// Checks the fields of a message body (content, embeds, components, flags, allowed mentions).
/// Emptiness is checked apart, since it is a different error (50006).
pub(crate) fn check_message(body: &Value, usage: MessageUse) -> Problems {
    let mut problems = Problems::default();
    if !(body.is_object() || body.is_null()) {
        problems.add(
            &[],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
        return problems;
    }
    let flags = match body.get("flags") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64() {
            Some(f) => f,
            None => {
                problems.add(
                    &["flags"],
                    "NUMBER_TYPE_COERCE",
                    format!("Value \"{}\" is not int.", plain(v)),
                );
                0
            }
        },
    };
    if flags & !usage.allowed_flags() != 0 {
        problems.add(
            &["flags"],
            "MESSAGE_FLAGS_INVALID",
            "Invalid flags for this message",
        );
    }
    let v2 = flags & IS_COMPONENTS_V2 != 0;
    problems.optional_text(body.get("content"), &["content"], MAX_CONTENT_CHARS);
    if v2
        && body
            .get("content")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
    {
        problems.add(
            &["content"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        );
    }
    if v2
        && body
            .get("embeds")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
    {
        problems.add(
            &["embeds"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'embeds' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        );
    }
    match body.get("embeds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(embeds)) => {
            if embeds.len() > MAX_EMBEDS {
                problems.too_long(&["embeds"], MAX_EMBEDS);
            }
            for (i, embed) in embeds.iter().enumerate() {
                let index = i.to_string();
                let mut inner = Problems::default();
                check_embed(embed, &mut inner);
                problems.nest(&["embeds", &index], inner);
            }
        }
        Some(_) => problems.add(
            &["embeds"],
            "BASE_TYPE_ARRAY",
            "Only iterables may be used in a ListType",
        ),
    }
    match body.get("components") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rows)) => {
            let mut inner = Problems::default();
            check_components(rows, v2, &mut inner);
            problems.nest(&["components"], inner);
        }
        Some(_) => problems.add(
            &["components"],
            "BASE_TYPE_ARRAY",
            "Only iterables may be used in a ListType",
        ),
    }
    if let Some(mentions) = body.get("allowed_mentions").filter(|m| !m.is_null()) {
        let mut inner = Problems::default();
        check_allowed_mentions(mentions, &mut inner);
        problems.nest(&["allowed_mentions"], inner);
    }
    problems
}

/// Whether a new message would show nothing: no content, embeds, components, files or poll.
pub(crate) fn is_empty_message(body: &Value, files: usize) -> bool {
    let has = |field: &str| match body.get(field) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
        _ => false,
    };
    files == 0
        && !has("content")
        && !has("embeds")
        && !has("components")
        && !has("sticker_ids")
        && !has("poll")
}

fn check_embed(embed: &Value, problems: &mut Problems) {
    if !embed.is_object() {
        problems.add(
            &[],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
        return;
    }
    problems.optional_text(embed.get("title"), &["title"], 256);
    problems.optional_text(embed.get("description"), &["description"], 4096);
    let mut total = ["title", "description"]
        .iter()
        .filter_map(|k| embed.get(*k).and_then(Value::as_str))
        .map(|s| s.chars().count())
        .sum::<usize>();
    if let Some(fields) = embed.get("fields").and_then(Value::as_array) {
        if fields.len() > 25 {
            problems.too_long(&["fields"], 25);
        }
        for (i, field) in fields.iter().enumerate() {
            let index = i.to_string();
            problems.text(field.get("name"), &["fields", &index, "name"], 1, 256);
            problems.text(field.get("value"), &["fields", &index, "value"], 1, 1024);
            total += ["name", "value"]
                .iter()
                .filter_map(|k| field.get(*k).and_then(Value::as_str))
                .map(|s| s.chars().count())
                .sum::<usize>();
        }
    }
    if let Some(footer) = embed.get("footer") {
        problems.optional_text(footer.get("text"), &["footer", "text"], 2048);
        total += footer
            .get("text")
            .and_then(Value::as_str)
            .map_or(0, |s| s.chars().count());
    }
    if let Some(author) = embed.get("author") {
        problems.optional_text(author.get("name"), &["author", "name"], 256);
        total += author
            .get("name")
            .and_then(Value::as_str)
            .map_or(0, |s| s.chars().count());
    }
    if total > 6000 {
        problems.add(
            &[],
            "BASE_TYPE_MAX_LENGTH",
            "Embed size exceeds maximum size of 6000",
        );
    }
}

/// Component types that sit inside an action row and fill it alone.
const SELECTS: [u64; 5] = [3, 5, 6, 7, 8];

fn check_components(rows: &[Value], v2: bool, problems: &mut Problems) {
    let mut custom_ids = HashSet::new();
    if v2 {
        // Components V2 lay out freely; only the ids are checked here.
        if rows.len() > 40 {
            problems.too_long(&[], 40);
        }
        for (i, component) in rows.iter().enumerate() {
            let index = i.to_string();
            let mut inner = Problems::default();
            check_ids_within(component, &mut custom_ids, &mut inner);
            problems.nest(&[&index], inner);
        }
        return;
    }
    if rows.len() > 5 {
        problems.too_long(&[], 5);
    }
    for (i, row) in rows.iter().enumerate() {
        let index = i.to_string();
        if row.get("type").and_then(Value::as_u64) != Some(1) {
            problems.add(
                &[&index, "type"],
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (1,).",
            );
            continue;
        }
        let children = row
            .get("components")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if children.is_empty() {
            problems.bad_length(&[&index, "components"], 1, 5);
            continue;
        }
        if children.len() > 5 {
            problems.too_long(&[&index, "components"], 5);
        }
        let kinds: Vec<u64> = children
            .iter()
            .map(|c| c.get("type").and_then(Value::as_u64).unwrap_or(0))
            .collect();
        if kinds.iter().any(|k| SELECTS.contains(k)) && children.len() > 1 {
            problems.add(
                &[&index, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            );
        }
        for (j, child) in children.iter().enumerate() {
            let child_index = j.to_string();
            let mut inner = Problems::default();
            check_row_child(child, &mut custom_ids, &mut inner);
            problems.nest(&[&index, "components", &child_index], inner);
        }
    }
}

fn check_row_child(component: &Value, custom_ids: &mut HashSet<String>, problems: &mut Problems) {
    match component.get("type").and_then(Value::as_u64) {
        Some(2) => check_button(component, custom_ids, problems),
        Some(k) if SELECTS.contains(&k) => {
            check_custom_id(component, custom_ids, problems);
            problems.optional_text(component.get("placeholder"), &["placeholder"], 150);
            if k == 3 {
                let n = component
                    .get("options")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if !(1..=25).contains(&n) {
                    problems.bad_length(&["options"], 1, 25);
                }
            }
        }
        _ => problems.add(
            &["type"],
            "UNION_TYPE_CHOICES",
            "Value of field \"type\" must be one of (2, 3, 5, 6, 7, 8).",
        ),
    }
}

fn check_button(button: &Value, custom_ids: &mut HashSet<String>, problems: &mut Problems) {
    problems.optional_text(button.get("label"), &["label"], 80);
    match button.get("style").and_then(Value::as_u64) {
        Some(1..=4) => check_custom_id(button, custom_ids, problems),
        Some(5) => {
            if button.get("url").and_then(Value::as_str).is_none() {
                problems.required(&["url"]);
            }
            if button.get("custom_id").is_some_and(|v| !v.is_null()) {
                problems.add(
                    &["custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                    "A link button cannot have a custom id",
                );
            }
        }
        Some(6) => {
            if button.get("sku_id").is_none() {
                problems.required(&["sku_id"]);
            }
        }
        _ => problems.add(
            &["style"],
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, 3, 4, 5, 6}.",
        ),
    }
}

fn check_custom_id(component: &Value, custom_ids: &mut HashSet<String>, problems: &mut Problems) {
    problems.text(
        component.get("custom_id"),
        &["custom_id"],
        1,
        MAX_CUSTOM_ID_CHARS,
    );
    if let Some(id) = component.get("custom_id").and_then(Value::as_str)
        && !custom_ids.insert(id.to_owned())
    {
        problems.add(
            &["custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id cannot be duplicated",
        );
    }
}

/// Components V2: every `custom_id` anywhere in the tree is 1–100 characters and unique.
fn check_ids_within(component: &Value, custom_ids: &mut HashSet<String>, problems: &mut Problems) {
    if component.get("custom_id").is_some() {
        check_custom_id(component, custom_ids, problems);
    }
    for key in ["components", "accessory", "component"] {
        match component.get(key) {
            Some(Value::Array(children)) => {
                for (i, child) in children.iter().enumerate() {
                    let index = i.to_string();
                    let mut inner = Problems::default();
                    check_ids_within(child, custom_ids, &mut inner);
                    problems.nest(&[key, &index], inner);
                }
            }
            Some(child @ Value::Object(_)) => {
                let mut inner = Problems::default();
                check_ids_within(child, custom_ids, &mut inner);
                problems.nest(&[key], inner);
            }
            _ => {}
        }
    }
}

fn check_allowed_mentions(mentions: &Value, problems: &mut Problems) {
    let parse: Vec<&str> = mentions
        .get("parse")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, kind) in parse.iter().enumerate() {
        if !matches!(*kind, "roles" | "users" | "everyone") {
            let index = i.to_string();
            problems.add(
                &["parse", &index],
                "BASE_TYPE_CHOICES",
                "Value must be one of {'everyone', 'roles', 'users'}.",
            );
        }
    }
    for (list, kind) in [("users", "users"), ("roles", "roles")] {
        let ids = mentions
            .get(list)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if ids > 100 {
            problems.too_long(&[list], 100);
        }
        if ids > 0 && parse.contains(&kind) {
            problems.add(
                &[],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                format!("parse:[\"{kind}\"] and {list}: [ids] are mutually exclusive."),
            );
        }
    }
}

/// Checks the `data` of an AUTOCOMPLETE_RESULT (8): at most 25 choices, each named 1–100 and
/// valued with text of at most 100 characters or a number.
pub(crate) fn check_autocomplete_result(data: &Value) -> Problems {
    let mut problems = Problems::default();
    let Some(choices) = data.get("choices").and_then(Value::as_array) else {
        problems.required(&["choices"]);
        return problems;
    };
    if choices.len() > MAX_CHOICES {
        problems.too_long(&["choices"], MAX_CHOICES);
    }
    for (i, choice) in choices.iter().enumerate() {
        let index = i.to_string();
        problems.text(choice.get("name"), &["choices", &index, "name"], 1, 100);
        match choice.get("value") {
            Some(Value::String(s)) if s.chars().count() > 100 => {
                problems.too_long(&["choices", &index, "value"], 100);
            }
            Some(Value::String(_) | Value::Number(_)) => {}
            _ => problems.required(&["choices", &index, "value"]),
        }
    }
    problems
}

/// Checks the `data` of a MODAL (9): a custom id, a title of 1–45, 1–5 components.
pub(crate) fn check_modal(data: &Value) -> Problems {
    let mut problems = Problems::default();
    problems.text(
        data.get("custom_id"),
        &["custom_id"],
        1,
        MAX_CUSTOM_ID_CHARS,
    );
    problems.text(data.get("title"), &["title"], 1, 45);
    let n = data
        .get("components")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if !(1..=5).contains(&n) {
        problems.bad_length(&["components"], 1, 5);
    }
    // Each row: an action row holding one text input (type 4) with a custom id of 1–100
    // (unique in the modal), style 1 (short) or 2 (paragraph), a label of 1–45, and a
    // prefilled value of at most 4000.
    let rows = data.get("components").and_then(Value::as_array);
    let mut ids = std::collections::HashSet::new();
    for (r, row) in rows.into_iter().flatten().enumerate() {
        let r = r.to_string();
        if row.get("type").and_then(Value::as_u64) != Some(1) {
            problems.add(
                &["components", &r, "type"],
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (1,).",
            );
            continue;
        }
        let inputs = row.get("components").and_then(Value::as_array);
        if inputs.map_or(0, Vec::len) != 1 {
            problems.bad_length(&["components", &r, "components"], 1, 1);
            continue;
        }
        let Some(input) = inputs.and_then(|i| i.first()) else {
            continue;
        };
        let at = |field: &'static str| ["components", r.as_str(), "components", "0", field];
        if input.get("type").and_then(Value::as_u64) != Some(4) {
            problems.add(
                &at("type"),
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (4,).",
            );
            continue;
        }
        problems.text(
            input.get("custom_id"),
            &at("custom_id"),
            1,
            MAX_CUSTOM_ID_CHARS,
        );
        if let Some(id) = input.get("custom_id").and_then(Value::as_str)
            && !ids.insert(id.to_owned())
        {
            problems.add(
                &at("custom_id"),
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            );
        }
        if !matches!(input.get("style").and_then(Value::as_u64), Some(1 | 2)) {
            problems.add(
                &at("style"),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1, 2).",
            );
        }
        problems.text(input.get("label"), &at("label"), 1, 45);
        problems.optional_text(input.get("value"), &at("value"), 4000);
        problems.optional_text(input.get("placeholder"), &at("placeholder"), 100);
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::codes;
    use super::*;

    #[test]
    fn message_limits_are_enforced() {
        let long = "x".repeat(MAX_CONTENT_CHARS + 1);
        let found = codes(check_message(
            &json!({ "content": long }),
            MessageUse::Channel,
        ));
        assert_eq!(found, [("content".to_owned(), "BASE_TYPE_MAX_LENGTH")]);
        let exact = "é".repeat(MAX_CONTENT_CHARS);
        assert!(check_message(&json!({ "content": exact }), MessageUse::Channel).is_empty());
        let embeds: Vec<Value> = (0..11).map(|_| json!({ "title": "t" })).collect();
        let found = codes(check_message(
            &json!({ "embeds": embeds }),
            MessageUse::Interaction,
        ));
        assert_eq!(found, [("embeds".to_owned(), "BASE_TYPE_MAX_LENGTH")]);
        let found = codes(check_message(
            &json!({ "content": "x", "flags": 64 }),
            MessageUse::Channel,
        ));
        assert_eq!(found, [("flags".to_owned(), "MESSAGE_FLAGS_INVALID")]);
        assert!(
            check_message(
                &json!({ "content": "x", "flags": 64 }),
                MessageUse::Interaction
            )
            .is_empty()
        );
        let v2 = json!({ "flags": IS_COMPONENTS_V2, "content": "x", "embeds": [{ "title": "t" }],
            "components": [{ "type": 10, "content": "hello" }] });
        assert_eq!(
            codes(check_message(&v2, MessageUse::Channel)),
            [
                (
                    "content".to_owned(),
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"
                ),
                (
                    "embeds".to_owned(),
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"
                ),
            ]
        );
    }

    #[test]
    fn a_modal_holds_rows_of_one_text_input_each() {
        let input = |id: &str, style: u8| {
            json!({ "type": 1, "components": [
                { "type": 4, "custom_id": id, "label": "When", "style": style, "value": "x" }
            ] })
        };
        let modal = |rows: Vec<Value>| json!({ "custom_id": "edit:1", "title": "Edit", "components": rows });
        assert!(check_modal(&modal(vec![input("when", 1), input("text", 2)])).is_empty());
        assert_eq!(
            codes(check_modal(&modal(vec![input("a", 1), input("a", 2)]))),
            [(
                "components.1.components.0.custom_id".to_owned(),
                "COMPONENT_CUSTOM_ID_DUPLICATED"
            )]
        );
        assert_eq!(
            codes(check_modal(&modal(vec![input("a", 3)]))),
            [(
                "components.0.components.0.style".to_owned(),
                "BASE_TYPE_CHOICES"
            )]
        );
        let button = json!({ "type": 1, "components": [
            { "type": 2, "style": 1, "label": "Go", "custom_id": "b" }
        ] });
        assert_eq!(
            codes(check_modal(&modal(vec![button]))),
            [(
                "components.0.components.0.type".to_owned(),
                "UNION_TYPE_CHOICES"
            )]
        );
        let six = (0..6).map(|i| input(&format!("i{i}"), 1)).collect();
        assert_eq!(
            codes(check_modal(&modal(six))),
            [("components".to_owned(), "BASE_TYPE_BAD_LENGTH")]
        );
    }

    #[test]
    fn components_are_checked_like_discord() {
        let button = |id: &str| json!({ "type": 2, "style": 1, "label": "Go", "custom_id": id });
        let row = |buttons: Vec<Value>| json!({ "type": 1, "components": buttons });
        let ok = json!({ "components": [row(vec![button("a"), button("b")])] });
        assert!(check_message(&ok, MessageUse::Channel).is_empty());
        let six =
            json!({ "components": [row((0..6).map(|i| button(&format!("b{i}"))).collect())] });
        assert_eq!(
            codes(check_message(&six, MessageUse::Channel)),
            [("components.0.components".to_owned(), "BASE_TYPE_MAX_LENGTH")]
        );
        let long_id = json!({ "components": [row(vec![button(&"x".repeat(101))])] });
        assert_eq!(
            codes(check_message(&long_id, MessageUse::Channel)),
            [(
                "components.0.components.0.custom_id".to_owned(),
                "BASE_TYPE_BAD_LENGTH"
            )]
        );
        let twice = json!({ "components": [row(vec![button("a")]), row(vec![button("a")])] });
        assert_eq!(
            codes(check_message(&twice, MessageUse::Channel)),
            [(
                "components.1.components.0.custom_id".to_owned(),
                "COMPONENT_CUSTOM_ID_DUPLICATED"
            )]
        );
        let bare_button = json!({ "components": [button("a")] });
        assert_eq!(
            codes(check_message(&bare_button, MessageUse::Channel)),
            [("components.0.type".to_owned(), "UNION_TYPE_CHOICES")]
        );
        let link = json!({ "type": 2, "style": 5, "label": "Open", "url": "https://e.com" });
        assert!(
            check_message(
                &json!({ "components": [row(vec![link])] }),
                MessageUse::Channel
            )
            .is_empty()
        );
    }

    #[test]
    fn allowed_mentions_parse_and_lists_exclude_each_other() {
        let body =
            json!({ "content": "x", "allowed_mentions": { "parse": ["users"], "users": ["1"] } });
        assert_eq!(
            codes(check_message(&body, MessageUse::Channel)),
            [(
                "allowed_mentions".to_owned(),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
            )]
        );
        let none = json!({ "content": "x", "allowed_mentions": { "parse": [] } });
        assert!(check_message(&none, MessageUse::Channel).is_empty());
    }

    #[test]
    fn an_empty_message_is_told_apart() {
        assert!(is_empty_message(&json!({ "content": "" }), 0));
        assert!(!is_empty_message(&json!({ "content": "" }), 1));
        assert!(!is_empty_message(
            &json!({ "embeds": [{ "title": "t" }] }),
            0
        ));
    }

    #[test]
    fn autocomplete_results_hold_at_most_25_choices() {
        let choices: Vec<Value> = (0..26)
            .map(|i| json!({ "name": format!("c{i}"), "value": i }))
            .collect();
        assert_eq!(
            codes(check_autocomplete_result(&json!({ "choices": choices }))),
            [("choices".to_owned(), "BASE_TYPE_MAX_LENGTH")]
        );
        assert!(check_autocomplete_result(&json!({ "choices": [] })).is_empty());
    }
}
