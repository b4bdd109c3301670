//! Property tests of reading Telegram updates: arbitrary JSON, and real updates (as the
//! simulated Telegram makes them) with parts replaced, removed or retyped, go through the
//! bot's decode path without a panic. Bounded case counts keep CI fast; `fuzz/` holds the
//! long run.

use autopost_sim::PNG_1X1;
use autopost_sim::telegram::{SimChat, SimMessage, SimTelegram, SimTelegramConfig, SimUser};
use proptest::prelude::*;
use serde_json::{Map, Value};

use super::read_update;
use crate::commands::Command;

const BOT: &str = "autopost_bot";

/// Updates of every kind the bot handles, as Telegram sends them.
fn real_updates() -> Vec<Value> {
    let tg = SimTelegram::new(SimTelegramConfig::new("123:abc", BOT));
    let alice = SimUser::new(42, "Alice");
    let private = SimChat::private(&alice);
    let group = SimChat::supergroup(-100_500, "Team");
    let file = tg.add_file(PNG_1X1.to_vec(), None);
    let ids = [
        tg.push_private_text(&alice, "/post now | launch day"),
        tg.push_group_text(&group, &alice, "/post@autopost_bot tomorrow 9am | hi"),
        tg.push_photo(&private, &alice, &file, Some("in 2h | a photo")),
        tg.push_image_document(&private, &alice, &file, "a.png", Some("now | a file")),
        tg.push_message(SimMessage::photo(&group, &alice, &file).media_group("g1")),
        tg.push_message(SimMessage::text(&group, &alice, "anonymous").anonymous()),
        tg.push_callback(&alice, 42, 7, "cancel:17"),
    ];
    ids.iter().filter_map(|id| tg.update(*id)).collect()
}

/// Any JSON value, with Telegram's own keys among the random ones so that the decoder gets
/// past its first fields.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "update_id",
            "message",
            "callback_query",
            "message_id",
            "date",
            "chat",
            "id",
            "type",
            "title",
            "from",
            "is_bot",
            "first_name",
            "username",
            "text",
            "caption",
            "photo",
            "document",
            "file_id",
            "file_unique_id",
            "file_size",
            "width",
            "height",
            "mime_type",
            "file_name",
            "media_group_id",
            "migrate_to_chat_id",
            "migrate_from_chat_id",
            "data",
            "chat_instance",
            "entities",
            "offset",
            "length",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

/// Every place in `value`, as JSON pointers.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_or_bytes_never_panic(
        body in prop_oneof![
            json().prop_map(|v| v.to_string().into_bytes()),
            json().prop_map(|v| serde_json::json!({ "update_id": 1, "message": v }).to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..256),
        ],
    ) {
        let _ = read_update(&body, BOT);
    }

    #[test]
    fn real_updates_with_parts_replaced_or_removed_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), json(), any::<bool>()), 1..4),
    ) {
        let updates = real_updates();
        let mut update = updates[which.index(updates.len())].clone();
        for (place, replacement, remove) in edits {
            let mut all = Vec::new();
            pointers(&update, String::new(), &mut all);
            let pointer = &all[place.index(all.len())];
            if pointer.is_empty() {
                update = replacement;
                continue;
            }
            let (parent, key) = pointer.rsplit_once('/').unwrap_or_default();
            match update.pointer_mut(parent) {
                Some(Value::Object(map)) if remove => { map.remove(key); }
                Some(_) => {
                    if let Some(slot) = update.pointer_mut(pointer) {
                        *slot = replacement;
                    }
                }
                None => {}
            }
        }
        let _ = read_update(update.to_string().as_bytes(), BOT);
    }
}

#[test]
fn real_updates_are_read_into_the_commands_they_hold() {
    let read: Vec<Option<Command>> = real_updates()
        .iter()
        .map(|u| read_update(u.to_string().as_bytes(), BOT).and_then(Result::ok))
        .collect();
    let post = |when: &str, text: &str| {
        Some(Command::Post {
            when: when.to_owned(),
            text: text.to_owned(),
            to: Vec::new(),
        })
    };
    assert_eq!(
        read,
        vec![
            post("now", "launch day"),
            post("tomorrow 9am", "hi"),
            post("in 2h", "a photo"),
            post("now", "a file"),
            None, // an album part without a caption
            None, // no person to act as
            None, // a button press holds no command text
        ]
    );
}
