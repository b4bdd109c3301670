//! Discord's documented limits on command definitions, interaction responses and messages, as
//! pure checks that collect every problem with its path, and the `50035 Invalid Form Body` tree
//! Discord answers with. Knows nothing of state: whether an interaction was answered is `responses`'.

use std::collections::HashSet;

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

// ---- application commands ----

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

/// A JSON value as Discord quotes it in messages: strings bare.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
    problems.text(option.get("name"), &["name"], 1, 32);
    if let Some(name) = option.get("name").and_then(Value::as_str)
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

// ---- messages ----

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

// ---- other interaction responses ----

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
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(problems: Problems) -> Vec<(String, &'static str)> {
        problems
            .into_vec()
            .into_iter()
            .map(|p| (p.path.join("."), p.code))
            .collect()
    }

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

    #[test]
    fn the_error_tree_nests_like_discords() {
        let found = check_commands(&json!([command("Post", json!([]))]));
        let body = invalid_form_body(&found.into_vec());
        assert_eq!(body["code"], 50035);
        assert_eq!(
            body["errors"]["0"]["name"]["_errors"][0]["code"],
            "APPLICATION_COMMAND_INVALID_NAME"
        );
    }

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
