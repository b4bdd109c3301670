//! The simulated Telegram Bot API over real HTTP: the envelope, long polling and offsets,
//! message and keyboard checks, files, commands, member statuses, webhooks, injected failures,
//! and that the bot token never shows in what it prints or answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autopost_sim::SimServer;
use autopost_sim::telegram::{
    self as simtg, Failure, MemberStatus, PollEnd, SECRET_TOKEN_HEADER, SimChat, SimMessage,
    SimTelegram, SimTelegramConfig, SimUser,
};
use autopost_sim::world::{PATIENCE, wait_until};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use url::Url;

const TOKEN: &str = "123456:ABC-test-do-not-leak";
const BOT: &str = "autopost_test_bot";
/// A real 1024x768 PNG, as a phone would send.
fn png() -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::new(1024, 768)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

struct Fixture {
    sim: SimTelegram,
    server: SimServer,
    http: reqwest::Client,
}

impl Fixture {
    async fn new() -> Self {
        let (sim, server) = simtg::start(SimTelegramConfig::new(TOKEN, BOT))
            .await
            .unwrap();
        Self {
            sim,
            server,
            http: reqwest::Client::new(),
        }
    }

    fn method_url(&self, token: &str, method: &str) -> String {
        format!("{}bot{token}/{method}", self.server.url())
    }

    /// Calls `method` with a JSON body, as teloxide does; returns the status and the body.
    async fn call(&self, method: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(self.method_url(TOKEN, method))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    /// Calls `method` and insists on `ok: true`; returns the result.
    async fn ok(&self, method: &str, body: Value) -> Value {
        let (status, answer) = self.call(method, body).await;
        assert_eq!(status, 200, "{method}: {answer}");
        assert_eq!(answer["ok"], true, "{method}: {answer}");
        answer["result"].clone()
    }

    /// Returns once a `getUpdates` call is waiting at the simulated Telegram.
    async fn wait_for_a_waiting_poll(&self) {
        let waiting = async || self.sim.waiting_polls() == 1;
        wait_until("a long poll to wait", PATIENCE, waiting)
            .await
            .unwrap();
    }

    /// Calls `method` and insists on a refusal with this status; returns the description.
    async fn refused(&self, method: &str, body: Value, status: u16) -> String {
        let (got, answer) = self.call(method, body).await;
        assert_eq!(got, status, "{method}: {answer}");
        assert_eq!(answer["ok"], false);
        assert_eq!(answer["error_code"], status);
        answer["description"].as_str().unwrap().to_owned()
    }
}

fn alice() -> SimUser {
    SimUser::new(4242, "Alice")
}

fn team() -> SimChat {
    SimChat::supergroup(-1_001_234_567_890, "Launch team")
}

#[tokio::test]
async fn get_me_and_get_webhook_info_answer_as_teloxide_expects() {
    let f = Fixture::new().await;
    let me = f.ok("getMe", json!({})).await;
    assert_eq!(me["id"], 123_456);
    assert_eq!(me["is_bot"], true);
    assert_eq!(me["username"], BOT);
    assert_eq!(me["can_join_groups"], true);
    let info = f.ok("getWebhookInfo", json!({})).await;
    assert_eq!(info["url"], "");
    assert_eq!(info["pending_update_count"], 0);
    // GET works too, and method names are case-insensitive.
    let answer: Value = f
        .http
        .get(f.method_url(TOKEN, "getme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"]["username"], BOT);
    assert_eq!(f.sim.requests("getMe"), 2);
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_pushed() {
    let f = Fixture::new().await;
    let poll = f.call("getUpdates", json!({ "timeout": 10 }));
    let push = async {
        f.wait_for_a_waiting_poll().await;
        f.sim.push_private_text(&alice(), "/post now | hello")
    };
    let ((status, answer), id) = tokio::join!(poll, push);
    assert_eq!(status, 200);
    // It waited, and the push (not its timeout) ended the wait.
    assert_eq!(f.sim.poll_ends(), [PollEnd::Woken]);
    let updates = answer["result"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["update_id"], id);
    let message = &updates[0]["message"];
    assert_eq!(message["text"], "/post now | hello");
    assert_eq!(message["chat"]["id"], 4242);
    assert_eq!(message["chat"]["type"], "private");
    assert_eq!(message["chat"]["first_name"], "Alice");
    assert_eq!(message["from"]["id"], 4242);
    assert_eq!(message["from"]["is_bot"], false);
    assert_eq!(message["from"]["username"], "alice");
    assert_eq!(message["from"]["language_code"], "en");
    assert!(message["message_id"].as_i64().unwrap() > 0);
    assert!(message["date"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(message["entities"][0]["type"], "bot_command");
    assert_eq!(message["entities"][0]["length"], 5);
}

#[tokio::test]
async fn a_long_poll_without_updates_waits_for_its_timeout() {
    let f = Fixture::new().await;
    let started = Instant::now();
    let result = f.ok("getUpdates", json!({ "timeout": 1 })).await;
    let elapsed = started.elapsed();
    assert_eq!(result, json!([]));
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    // A short poll answers at once.
    assert_eq!(f.ok("getUpdates", json!({ "timeout": 0 })).await, json!([]));
    assert_eq!(f.sim.poll_ends(), [PollEnd::TimedOut, PollEnd::Immediate]);
}

#[tokio::test]
async fn an_offset_acknowledges_lower_updates() {
    let f = Fixture::new().await;
    let ids: Vec<i64> = (0..3)
        .map(|i| f.sim.push_private_text(&alice(), &format!("message {i}")))
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    // Without an offset, unconfirmed updates come again.
    for _ in 0..2 {
        let all = f.ok("getUpdates", json!({})).await;
        assert_eq!(all.as_array().unwrap().len(), 3);
    }
    let limited = f.ok("getUpdates", json!({ "limit": 2 })).await;
    assert_eq!(limited.as_array().unwrap().len(), 2);
    let rest = f.ok("getUpdates", json!({ "offset": ids[1] + 1 })).await;
    assert_eq!(rest[0]["update_id"], ids[2]);
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert_eq!(f.sim.pending_updates(), 1);
    let none = f.ok("getUpdates", json!({ "offset": ids[2] + 1 })).await;
    assert_eq!(none, json!([]));
    assert_eq!(f.sim.pending_updates(), 0);
}

#[tokio::test]
async fn a_redelivered_update_keeps_its_id() {
    let f = Fixture::new().await;
    let first = f.sim.push_private_text(&alice(), "once");
    let got = f.ok("getUpdates", json!({})).await;
    assert_eq!(got[0]["update_id"], first);
    let second = f.sim.push_private_text(&alice(), "twice");
    assert!(f.sim.redeliver(first));
    assert!(!f.sim.redeliver(999));
    // The bot already confirmed `first`, yet gets it again, with the same id and content.
    let again = f.ok("getUpdates", json!({ "offset": first + 1 })).await;
    let ids: Vec<i64> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![first, second]);
    assert_eq!(again[0]["message"]["text"], "once");
    // Delivered once; a confirmed redelivery does not come back.
    let after = f.ok("getUpdates", json!({ "offset": second + 1 })).await;
    assert_eq!(after, json!([]));
}

#[tokio::test]
async fn a_second_poller_ends_the_first_with_409() {
    let f = Fixture::new().await;
    let first = f.call("getUpdates", json!({ "timeout": 5 }));
    let second = async {
        f.wait_for_a_waiting_poll().await;
        f.call("getUpdates", json!({ "timeout": 0 })).await
    };
    let ((first_status, first_body), (second_status, _)) = tokio::join!(first, second);
    assert_eq!(first_status, 409);
    assert!(
        first_body["description"]
            .as_str()
            .unwrap()
            .starts_with("Conflict: terminated by other getUpdates request")
    );
    assert_eq!(second_status, 200);
}

#[tokio::test]
async fn a_wrong_token_gets_401_and_an_unknown_method_404() {
    let f = Fixture::new().await;
    for url in [
        f.method_url("123456:wrong", "getMe"),
        f.method_url("", "getMe"),
        format!("{}file/bot123456:wrong/photos/file_1.png", f.server.url()),
    ] {
        let answer = f.http.post(&url).send().await.unwrap();
        assert_eq!(answer.status(), 401, "{url}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body,
            json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })
        );
    }
    assert_eq!(f.sim.unauthorized_requests(), 3);
    assert_eq!(f.sim.requests("getMe"), 0);
    let description = f.refused("sendSticker", json!({}), 404).await;
    assert_eq!(description, "Not Found");
}

#[tokio::test]
async fn send_message_records_text_and_refuses_4097_characters() {
    let f = Fixture::new().await;
    f.sim.push_private_text(&alice(), "hi");
    let markup =
        json!({ "inline_keyboard": [[{ "text": "Cancel", "callback_data": "cancel:17" }]] });
    let sent = f
        .ok(
            "sendMessage",
            json!({ "chat_id": 4242, "text": "<b>Scheduled</b> #17", "parse_mode": "HTML", "reply_markup": markup }),
        )
        .await;
    assert_eq!(sent["text"], "Scheduled #17");
    assert_eq!(sent["chat"]["id"], 4242);
    assert_eq!(sent["from"]["username"], BOT);
    assert_eq!(sent["reply_markup"], markup);
    let long = "x".repeat(4096);
    f.ok("sendMessage", json!({ "chat_id": 4242, "text": long }))
        .await;
    let too_long = "x".repeat(4097);
    let description = f
        .refused(
            "sendMessage",
            json!({ "chat_id": 4242, "text": too_long }),
            400,
        )
        .await;
    assert_eq!(description, "Bad Request: message is too long");
    let description = f
        .refused("sendMessage", json!({ "chat_id": 4242, "text": "" }), 400)
        .await;
    assert_eq!(description, "Bad Request: message text is empty");

    let messages = f.sim.wait_for_messages(2, PATIENCE).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].chat_id, 4242);
    assert_eq!(messages[0].text, "<b>Scheduled</b> #17");
    assert_eq!(messages[0].parse_mode.as_deref(), Some("HTML"));
    assert_eq!(messages[0].reply_markup.as_ref(), Some(&markup));
    assert_eq!(sent["message_id"], messages[0].message_id);
    // The user's message was 1 in this chat; the bot's follow.
    assert_eq!(messages[0].message_id, 2);
    assert_eq!(messages[1].message_id, 3);
}

#[tokio::test]
async fn send_message_refuses_broken_html() {
    let f = Fixture::new().await;
    f.sim.add_chat(&team());
    let chat = team().id;
    for (text, expected) in [
        (
            "<b>unclosed",
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            "<i><b>crossed</i></b>",
            "Bad Request: can't parse entities: Unmatched end tag at byte offset 13, expected \"</b>\", found \"</i>\"",
        ),
        (
            "<a href=\"https://x.com\">link",
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"a\"",
        ),
        (
            "one<br>two",
            "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 3",
        ),
        (
            "<code>x</pre>",
            "Bad Request: can't parse entities: Unmatched end tag at byte offset 7, expected \"</code>\", found \"</pre>\"",
        ),
    ] {
        let description = f
            .refused(
                "sendMessage",
                json!({ "chat_id": chat, "text": text, "parse_mode": "HTML" }),
                400,
            )
            .await;
        assert_eq!(description, expected, "{text}");
    }
    // The same text without a parse mode is plain text; escaped HTML is fine.
    f.ok(
        "sendMessage",
        json!({ "chat_id": chat, "text": "<b>unclosed" }),
    )
    .await;
    let sent = f
        .ok(
            "sendMessage",
            json!({ "chat_id": chat, "text": "1 &lt; 2 <pre>x</pre>", "parse_mode": "HTML" }),
        )
        .await;
    assert_eq!(sent["text"], "1 < 2 x");
    assert_eq!(f.sim.sent_messages().len(), 2);
}

#[tokio::test]
async fn inline_keyboard_callback_data_over_64_bytes_is_refused() {
    let f = Fixture::new().await;
    f.sim.add_chat(&team());
    let keyboard =
        |data: &str| json!({ "inline_keyboard": [[{ "text": "Go", "callback_data": data }]] });
    let description = f
        .refused(
            "sendMessage",
            json!({ "chat_id": team().id, "text": "pick", "reply_markup": keyboard(&"d".repeat(65)) }),
            400,
        )
        .await;
    assert_eq!(description, "Bad Request: BUTTON_DATA_INVALID");
    // Form bodies carry the markup as a JSON string; the check is the same.
    let answer = f
        .http
        .post(f.method_url(TOKEN, "sendMessage"))
        .form(&[
            ("chat_id", team().id.to_string()),
            ("text", "pick".to_owned()),
            ("reply_markup", keyboard(&"d".repeat(64)).to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let description = f
        .refused(
            "sendMessage",
            json!({ "chat_id": team().id, "text": "pick", "reply_markup": { "inline_keyboard": [[{ "text": "Go" }]] } }),
            400,
        )
        .await;
    assert!(
        description.contains("Text buttons are unallowed"),
        "{description}"
    );
    assert_eq!(f.sim.sent_messages().len(), 1);
}

#[tokio::test]
async fn a_callback_press_is_answered_once_and_edits_are_checked() {
    let f = Fixture::new().await;
    let user = alice();
    f.sim.push_private_text(&user, "/deleteme");
    let markup =
        json!({ "inline_keyboard": [[{ "text": "Confirm", "callback_data": "deleteme:yes" }]] });
    let sent = f
        .ok(
            "sendMessage",
            json!({ "chat_id": user.id, "text": "Sure?", "reply_markup": markup }),
        )
        .await;
    let message_id = sent["message_id"].as_i64().unwrap();
    let id = f
        .sim
        .push_callback(&user, user.id, message_id, "deleteme:yes");
    let updates = f.ok("getUpdates", json!({ "offset": id })).await;
    let query = &updates[0]["callback_query"];
    assert_eq!(query["data"], "deleteme:yes");
    assert_eq!(query["from"]["id"], user.id);
    assert_eq!(query["message"]["message_id"], message_id);
    assert_eq!(query["message"]["text"], "Sure?");
    assert_eq!(query["message"]["reply_markup"], markup);
    let query_id = query["id"].as_str().unwrap();
    f.ok(
        "answerCallbackQuery",
        json!({ "callback_query_id": query_id, "text": "Deleted" }),
    )
    .await;
    let description = f
        .refused(
            "answerCallbackQuery",
            json!({ "callback_query_id": query_id }),
            400,
        )
        .await;
    assert!(description.contains("query ID is invalid"), "{description}");
    let answered = f.sim.wait_for_answered_callbacks(1, PATIENCE).await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].text.as_deref(), Some("Deleted"));
    assert!(!answered[0].show_alert);

    // Editing: the same content is refused, a change is recorded, unknown messages are refused.
    let description = f
        .refused(
            "editMessageText",
            json!({ "chat_id": user.id, "message_id": message_id, "text": "Sure?", "reply_markup": markup }),
            400,
        )
        .await;
    assert!(description.starts_with("Bad Request: message is not modified"));
    let edited = f
        .ok(
            "editMessageText",
            json!({ "chat_id": user.id, "message_id": message_id, "text": "Done." }),
        )
        .await;
    assert_eq!(edited["text"], "Done.");
    assert!(edited.get("reply_markup").is_none());
    let description = f
        .refused(
            "editMessageText",
            json!({ "chat_id": user.id, "message_id": 999, "text": "x" }),
            400,
        )
        .await;
    assert_eq!(description, "Bad Request: message to edit not found");
    let edits = f.sim.edited_messages();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].text, "Done.");
    assert_eq!(edits[0].reply_markup, None);
}

#[tokio::test]
async fn the_bot_cannot_start_a_conversation_or_write_to_a_user_who_blocked_it() {
    let f = Fixture::new().await;
    let bob = SimUser::new(777, "Bob");
    // Bob speaks in the group only: his private chat does not exist for the bot.
    f.sim.push_group_text(&team(), &bob, "/connect x");
    f.ok(
        "sendMessage",
        json!({ "chat_id": team().id, "text": "Check your DMs" }),
    )
    .await;
    let description = f
        .refused(
            "sendMessage",
            json!({ "chat_id": bob.id, "text": "link" }),
            403,
        )
        .await;
    assert_eq!(
        description,
        "Forbidden: bot can't initiate conversation with a user"
    );
    let description = f
        .refused("sendMessage", json!({ "chat_id": -42, "text": "x" }), 400)
        .await;
    assert_eq!(description, "Bad Request: chat not found");
    f.sim.push_private_text(&bob, "/start");
    f.ok("sendMessage", json!({ "chat_id": bob.id, "text": "hi" }))
        .await;
    f.sim.block_bot(bob.id);
    let description = f
        .refused(
            "sendMessage",
            json!({ "chat_id": bob.id, "text": "x" }),
            403,
        )
        .await;
    assert_eq!(description, "Forbidden: bot was blocked by the user");
}

#[tokio::test]
async fn get_file_and_the_download_return_the_registered_bytes() {
    let f = Fixture::new().await;
    let file = f.sim.add_file(png(), None);
    let info = f.ok("getFile", json!({ "file_id": file.file_id })).await;
    assert_eq!(info["file_unique_id"], file.file_unique_id);
    assert_eq!(info["file_size"], png().len());
    let path = info["file_path"].as_str().unwrap();
    let download = f
        .http
        .get(format!("{}file/bot{TOKEN}/{path}", f.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), png());
    assert_eq!(f.sim.downloads(), vec![path.to_owned()]);
    let missing = f
        .http
        .get(format!("{}file/bot{TOKEN}/photos/nope.png", f.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let huge = f.sim.add_file(&b"tiny"[..], Some(21 * 1024 * 1024));
    let description = f
        .refused("getFile", json!({ "file_id": huge.file_id }), 400)
        .await;
    assert_eq!(description, "Bad Request: file is too big");
    let description = f
        .refused("getFile", json!({ "file_id": "nope" }), 400)
        .await;
    assert_eq!(description, "Bad Request: invalid file_id");
}

#[tokio::test]
async fn photos_come_in_ascending_sizes_and_documents_keep_their_name() {
    let f = Fixture::new().await;
    let file = f.sim.add_file(png(), None);
    let chat = SimChat::private(&alice());
    f.sim
        .push_photo(&chat, &alice(), &file, Some("tomorrow 9am | launch"));
    f.sim
        .push_image_document(&chat, &alice(), &file, "launch.png", Some("now | doc"));
    let updates = f.ok("getUpdates", json!({})).await;
    let photo = updates[0]["message"]["photo"].as_array().unwrap();
    assert_eq!(photo.len(), 3);
    let widths: Vec<i64> = photo.iter().map(|p| p["width"].as_i64().unwrap()).collect();
    assert_eq!(widths, vec![90, 320, 1024]);
    assert_eq!(photo[2]["height"], 768);
    assert_eq!(photo[2]["file_id"], file.file_id);
    assert_ne!(photo[0]["file_id"], file.file_id);
    assert_eq!(updates[0]["message"]["caption"], "tomorrow 9am | launch");
    let document = &updates[1]["message"]["document"];
    assert_eq!(document["file_name"], "launch.png");
    assert_eq!(document["mime_type"], "image/png");
    assert_eq!(document["file_id"], file.file_id);
    assert_eq!(document["file_size"], png().len());
}

#[tokio::test]
async fn album_parts_share_a_media_group_id_and_one_caption() {
    let f = Fixture::new().await;
    let files: Vec<_> = (0..3).map(|_| f.sim.add_file(png(), None)).collect();
    let ids = f
        .sim
        .push_album(&team(), &alice(), &files, Some("/post now | album"));
    assert_eq!(ids.len(), 3);
    let updates = f.ok("getUpdates", json!({})).await;
    let messages: Vec<&Value> = updates
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["message"])
        .collect();
    let group = messages[0]["media_group_id"].as_str().unwrap();
    assert!(messages.iter().all(|m| m["media_group_id"] == group));
    assert_eq!(messages[0]["caption"], "/post now | album");
    assert_eq!(messages[0]["caption_entities"][0]["type"], "bot_command");
    assert!(messages[1..].iter().all(|m| m.get("caption").is_none()));
    assert!(messages.iter().all(|m| m["chat"]["type"] == "supergroup"));
    assert!(messages.iter().all(|m| m["chat"]["title"] == "Launch team"));
    assert!(messages.iter().all(|m| m["from"]["id"] == 4242));
    for (message, file) in messages.iter().zip(&files) {
        let sizes = message["photo"].as_array().unwrap();
        assert_eq!(sizes.last().unwrap()["file_id"], file.file_id);
    }
    // A second album gets another group id.
    f.sim.push_album(&team(), &alice(), &files[..2], None);
    let more = f.ok("getUpdates", json!({ "offset": ids[2] + 1 })).await;
    assert_ne!(more[0]["message"]["media_group_id"], group);
    let built = f.sim.push_message(
        SimMessage::photo(&team(), &alice(), &files[0])
            .caption("x")
            .media_group("g1"),
    );
    assert_eq!(
        f.sim.update(built).unwrap()["message"]["media_group_id"],
        "g1"
    );
}

#[tokio::test]
async fn send_document_records_the_file_name_and_bytes() {
    let f = Fixture::new().await;
    f.sim.push_private_text(&alice(), "/export");
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "4242")
        .text("caption", "Your data")
        .part(
            "document",
            reqwest::multipart::Part::bytes(b"{\"posts\":[]}".to_vec())
                .file_name("autopost-export.json")
                .mime_str("application/json")
                .unwrap(),
        );
    let answer: Value = f
        .http
        .post(f.method_url(TOKEN, "sendDocument"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        answer["result"]["document"]["file_name"],
        "autopost-export.json"
    );
    let documents = f.sim.documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].chat_id, 4242);
    assert_eq!(
        documents[0].file_name.as_deref(),
        Some("autopost-export.json")
    );
    assert_eq!(documents[0].bytes.as_ref(), b"{\"posts\":[]}");
    assert_eq!(documents[0].caption.as_deref(), Some("Your data"));
    let description = f
        .refused("sendDocument", json!({ "chat_id": 4242 }), 400)
        .await;
    assert_eq!(
        description,
        "Bad Request: there is no document in the request"
    );
}

#[tokio::test]
async fn set_my_commands_validates_names_and_descriptions() {
    let f = Fixture::new().await;
    let commands = json!([
        { "command": "post", "description": "Schedule a post" },
        { "command": "queue", "description": "Pending posts" },
    ]);
    f.ok("setMyCommands", json!({ "commands": commands })).await;
    f.ok(
        "setMyCommands",
        json!({ "commands": [{ "command": "help", "description": "Help" }], "scope": { "type": "all_group_chats" } }),
    )
    .await;
    for (command, description, expected) in [
        ("Post", "x", "Bad Request: BOT_COMMAND_INVALID"),
        ("/post", "x", "Bad Request: BOT_COMMAND_INVALID"),
        (&"a".repeat(33), "x", "Bad Request: BOT_COMMAND_INVALID"),
        ("post", "", "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"),
        (
            "post",
            &"d".repeat(257),
            "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID",
        ),
    ] {
        let got = f
            .refused(
                "setMyCommands",
                json!({ "commands": [{ "command": command, "description": description }] }),
                400,
            )
            .await;
        assert_eq!(got, expected, "{command:?} {description:?}");
    }
    let recorded = f.sim.commands();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].commands[0].command, "post");
    assert_eq!(recorded[0].commands[1].description, "Pending posts");
    assert_eq!(recorded[0].scope, None);
    assert_eq!(
        recorded[1].scope,
        Some(json!({ "type": "all_group_chats" }))
    );
    let current = f.ok("getMyCommands", json!({})).await;
    assert_eq!(current, commands);
}

#[tokio::test]
async fn get_chat_member_reports_the_status_set_by_the_test() {
    let f = Fixture::new().await;
    let chat = team();
    f.sim.add_chat(&chat);
    f.sim.push_group_text(&chat, &alice(), "/queue");
    let member = |user: i64| json!({ "chat_id": chat.id, "user_id": user });
    let got = f.ok("getChatMember", member(4242)).await;
    assert_eq!(got["status"], "member");
    assert_eq!(got["user"]["first_name"], "Alice");
    for (status, name) in [
        (MemberStatus::Creator, "creator"),
        (MemberStatus::Administrator, "administrator"),
        (MemberStatus::Restricted, "restricted"),
        (MemberStatus::Left, "left"),
        (MemberStatus::Kicked, "kicked"),
    ] {
        f.sim.set_member_status(chat.id, 4242, status);
        let got = f.ok("getChatMember", member(4242)).await;
        assert_eq!(got["status"], name);
    }
    f.sim
        .set_member_status(chat.id, 4242, MemberStatus::Administrator);
    let admin = f.ok("getChatMember", member(4242)).await;
    assert_eq!(admin["can_delete_messages"], true);
    assert_eq!(admin["is_anonymous"], false);
    let admins = f
        .ok("getChatAdministrators", json!({ "chat_id": chat.id }))
        .await;
    assert_eq!(admins.as_array().unwrap().len(), 1);
    let description = f
        .refused(
            "getChatMember",
            json!({ "chat_id": -5, "user_id": 4242 }),
            400,
        )
        .await;
    assert_eq!(description, "Bad Request: chat not found");
}

#[tokio::test]
async fn injected_failures_answer_as_telegram_does() {
    let f = Fixture::new().await;
    f.sim.add_chat(&team());
    f.sim
        .fail_next("sendMessage", Failure::TooManyRequests { retry_after: 7 });
    f.sim.fail_next("sendMessage", Failure::ServerError);
    f.sim.fail_next("sendmessage", Failure::BadGateway);
    f.sim.fail_next(
        "sendMessage",
        Failure::MigratedToSupergroup { chat_id: -1_009 },
    );
    let body = json!({ "chat_id": team().id, "text": "hello" });
    let (status, answer) = f.call("sendMessage", body.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(
        answer,
        json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": { "retry_after": 7 } })
    );
    assert_eq!(
        f.refused("sendMessage", body.clone(), 500).await,
        "Internal Server Error"
    );
    let gateway = f
        .http
        .post(f.method_url(TOKEN, "sendMessage"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(gateway.status(), 502);
    assert!(gateway.text().await.unwrap().contains("502 Bad Gateway"));
    let (status, answer) = f.call("sendMessage", body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(answer["parameters"]["migrate_to_chat_id"], -1_009);
    assert!(f.sim.sent_messages().is_empty());
    assert_eq!(f.sim.requests("sendMessage"), 4);

    // A slow answer still carries the call out.
    f.sim
        .fail_next("sendMessage", Failure::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    f.ok("sendMessage", body).await;
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(f.sim.sent_messages().len(), 1);
    assert_eq!(f.sim.request_counts()["sendMessage"], 5);
}

/// What the stand-in webhook received: the secret header and the update.
type Deliveries = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[tokio::test]
async fn a_webhook_gets_updates_with_the_secret_header_and_blocks_polling() {
    let f = Fixture::new().await;
    // A stand-in for the bot's webhook endpoint: records the secret header, answers 200 or 500.
    let seen: Deliveries = Arc::default();
    let recorder = seen.clone();
    let router = axum::Router::new().route(
        "/telegram/webhook",
        axum::routing::post(
            move |headers: HeaderMap, axum::Json(update): axum::Json<Value>| {
                let recorder = recorder.clone();
                async move {
                    let secret = headers
                        .get(SECRET_TOKEN_HEADER)
                        .map(|v| v.to_str().unwrap().to_owned());
                    let fail = update["message"]["text"] == "fail";
                    recorder.lock().unwrap().push((secret, update));
                    if fail {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let bot = SimServer::spawn(router).await.unwrap();
    let hook = bot.url().join("telegram/webhook").unwrap();

    let description = f
        .refused(
            "setWebhook",
            json!({ "url": hook.as_str(), "secret_token": "bad secret!" }),
            400,
        )
        .await;
    assert!(description.contains("secret token"), "{description}");
    let (_, answer) = f
        .call(
            "setWebhook",
            json!({ "url": hook.as_str(), "secret_token": "s3cret_-X" }),
        )
        .await;
    assert_eq!(answer["result"], true);
    assert_eq!(answer["description"], "Webhook was set");
    let webhook = f.sim.webhook().unwrap();
    assert_eq!(webhook.url, hook.as_str());
    assert_eq!(webhook.secret_token.as_deref(), Some("s3cret_-X"));
    assert_eq!(
        f.ok("getWebhookInfo", json!({})).await["url"],
        hook.as_str()
    );
    let description = f.refused("getUpdates", json!({}), 409).await;
    assert!(description.contains("webhook is active"), "{description}");

    let id = f.sim.push_private_text(&alice(), "hello");
    let update = f.sim.update(id).unwrap();
    let status = f
        .sim
        .deliver_webhook(&hook, update, Some("s3cret_-X"))
        .await;
    assert_eq!(status, 200);
    let failing = f
        .sim
        .update(f.sim.push_private_text(&alice(), "fail"))
        .unwrap();
    assert_eq!(f.sim.deliver_webhook(&hook, failing, None).await, 500);
    let info = f.ok("getWebhookInfo", json!({})).await;
    assert!(
        info["last_error_message"].as_str().unwrap().contains("500"),
        "{info}"
    );
    let nowhere = Url::parse("http://127.0.0.1:9/telegram/webhook").unwrap();
    assert_eq!(f.sim.deliver_webhook(&nowhere, json!({}), None).await, 502);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0.as_deref(), Some("s3cret_-X"));
    assert_eq!(seen[0].1["update_id"], id);
    assert_eq!(seen[1].0, None);

    let (_, answer) = f.call("deleteWebhook", json!({})).await;
    assert_eq!(answer["description"], "Webhook was deleted");
    assert!(f.sim.webhook().is_none());
    assert_eq!(
        f.ok("getUpdates", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_debug_output() {
    let secret_part = "ABC-test-do-not-leak";
    let config = SimTelegramConfig::new(TOKEN, BOT);
    let config_debug = format!("{config:?}");
    let f = Fixture::new().await;
    f.sim.add_chat(&team());
    f.sim.push_private_text(&alice(), "hi");
    f.sim
        .fail_next("getMe", Failure::TooManyRequests { retry_after: 1 });
    let mut texts = vec![
        config_debug,
        format!("{:?}", f.sim),
        format!("{:?}", f.server),
    ];
    for (method, body) in [
        ("getMe", json!({})),
        ("sendMessage", json!({ "chat_id": 1, "text": "x" })),
        (
            "sendMessage",
            json!({ "chat_id": team().id, "text": "<b>", "parse_mode": "HTML" }),
        ),
        ("getFile", json!({ "file_id": "nope" })),
        ("nosuchMethod", json!({})),
    ] {
        let (_, answer) = f.call(method, body).await;
        texts.push(answer.to_string());
    }
    let wrong = f
        .http
        .get(f.method_url("123456:ABC-test-do-not-leaX", "getMe"))
        .send()
        .await
        .unwrap();
    texts.push(wrong.text().await.unwrap());
    texts.push(format!("{:?}", f.sim.sent_messages()));
    for text in &texts {
        assert!(!text.contains(secret_part), "token leaked in {text}");
    }
}

#[tokio::test]
async fn setting_a_webhook_ends_a_waiting_poll() {
    let f = Fixture::new().await;
    let poll = f.call("getUpdates", json!({ "timeout": 10 }));
    let set = async {
        f.wait_for_a_waiting_poll().await;
        f.ok("setWebhook", json!({ "url": "http://127.0.0.1:9/hook" }))
            .await
    };
    let ((status, body), _) = tokio::join!(poll, set);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        f.sim.poll_ends(),
        [PollEnd::Woken],
        "ended before its timeout"
    );
    // Dropping pending updates on delete empties the queue.
    f.sim.push_private_text(&alice(), "old");
    f.ok("deleteWebhook", json!({ "drop_pending_updates": true }))
        .await;
    assert_eq!(f.sim.pending_updates(), 0);
}

#[tokio::test]
async fn descriptions_are_recorded_and_over_long_ones_refused() {
    let f = Fixture::new().await;
    f.ok(
        "setMyDescription",
        json!({ "description": "a".repeat(512) }),
    )
    .await;
    f.ok(
        "setMyShortDescription",
        json!({ "short_description": "short", "language_code": "de" }),
    )
    .await;
    let description = f
        .refused(
            "setMyDescription",
            json!({ "description": "a".repeat(513) }),
            400,
        )
        .await;
    assert!(description.starts_with("Bad Request:"), "{description}");
    f.refused(
        "setMyShortDescription",
        json!({ "short_description": "b".repeat(121) }),
        400,
    )
    .await;
    let recorded = f.sim.descriptions();
    assert_eq!(recorded.len(), 2, "refused calls change nothing");
    assert_eq!(recorded[1].language_code.as_deref(), Some("de"));
    let short = f
        .ok("getMyShortDescription", json!({ "language_code": "de" }))
        .await;
    assert_eq!(short["short_description"], "short");
    let long = f.ok("getMyDescription", json!({})).await;
    assert_eq!(long["description"].as_str().unwrap().len(), 512);
}
