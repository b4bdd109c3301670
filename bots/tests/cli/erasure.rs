//! `/deleteme` leaves nothing while autopost keeps running: the real binary (`autopost run`)
//! against simulated X and Telegram, a person linking X through the real OAuth round trip and
//! posting a picture, then erasing themselves; the database, its `-wal` and `-shm`, the media
//! directory and everything logged so far are read while the process still runs. Another
//! person's data is found in the same places, so the scan can fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use autopost::crypto::MasterKey;
use autopost::domain::ChatPlatform;
use autopost::log_ids::LogIds;
use autopost_sim::telegram::{SimChat, SimTelegram, SimTelegramConfig, SimUser};
use autopost_sim::world::{PATIENCE, browse, wait_until};
use autopost_sim::x::{SimX, SimXConfig, SimXUser, authorize_url};
use url::Url;

const BIN: &str = env!("CARGO_BIN_EXE_autopost");
const BOT_TOKEN: &str = "7000000002:erasure-test-bot-token";

/// Kills the server when the test ends, however it ends.
struct Server {
    child: Child,
    logs: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// A person on both platforms, with words and ids distinctive enough that finding their
/// bytes anywhere means they were kept.
struct Person {
    telegram: SimUser,
    x: SimXUser,
    text: &'static str,
    picture: Vec<u8>,
}

impl Person {
    fn chat(&self) -> SimChat {
        SimChat::private(&self.telegram)
    }

    /// Everything that names them: Telegram id and name, X id and handle, their words.
    fn traces(&self) -> Vec<String> {
        vec![
            self.telegram.id.to_string(),
            self.telegram.first_name.clone(),
            self.x.id.clone(),
            self.x.username.clone(),
            self.x.name.clone(),
            self.text.to_owned(),
        ]
    }
}

/// A JPEG of one shade, so that two people's pictures differ.
fn picture(shade: u8) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(16, 16, image::Rgb([shade, 40, 200]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut bytes)
        .encode_image(&image)
        .unwrap();
    bytes
}

/// A port free a moment ago: autopost's public URL must name its port before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, x: &Url, telegram: &Url, key: &str) -> (Server, Url) {
    let port = free_port();
    let public = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let vars = [
        ("AUTOPOST_DATA_DIR", dir.join("data").display().to_string()),
        ("AUTOPOST_LISTEN", listen),
        ("AUTOPOST_PUBLIC_URL", public.to_string()),
        ("AUTOPOST_MASTER_KEY", key.to_owned()),
        ("AUTOPOST_TELEGRAM_TOKEN", BOT_TOKEN.to_owned()),
        ("AUTOPOST_TELEGRAM_API_URL", telegram.to_string()),
        (
            "AUTOPOST_X_CLIENT_ID",
            autopost_sim::world::X_CLIENT_ID.to_owned(),
        ),
        ("AUTOPOST_X_API_URL", x.to_string()),
        ("AUTOPOST_X_AUTHORIZE_URL", authorize_url(x).to_string()),
        // Our own lines in full detail; other crates' at info, as an operator runs it.
        (
            "AUTOPOST_LOG",
            "info,autopost=debug,autopost_bots=debug".to_owned(),
        ),
    ];
    let mut child = Command::new(BIN)
        .arg("run")
        .current_dir(dir)
        .env_clear()
        .envs(vars)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut logs = sink.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    (Server { child, logs }, public)
}

/// The bot's messages to `chat` so far, oldest first.
fn said_to(tg: &SimTelegram, chat: i64) -> Vec<autopost_sim::telegram::SentMessage> {
    tg.sent_messages()
        .into_iter()
        .filter(|m| m.chat_id == chat)
        .collect()
}

/// Waits for the bot's next message to `chat` containing `needle`, after the first `seen`.
async fn next_saying(
    tg: &SimTelegram,
    chat: i64,
    seen: usize,
    needle: &str,
) -> autopost_sim::telegram::SentMessage {
    let what = format!("the bot to say `{needle}`");
    wait_until(&what, PATIENCE, async || {
        said_to(tg, chat)
            .iter()
            .skip(seen)
            .any(|m| m.text.contains(needle))
    })
    .await
    .unwrap();
    said_to(tg, chat)
        .into_iter()
        .skip(seen)
        .find(|m| m.text.contains(needle))
        .unwrap()
}

/// `/start`, then the button under the privacy notice: nobody uses autopost before agreeing.
async fn agree(tg: &SimTelegram, person: &Person) {
    let chat = person.telegram.id;
    let seen = said_to(tg, chat).len();
    tg.push_private_text(&person.telegram, "/start");
    let notice = next_saying(tg, chat, seen, "18 or older").await;
    let seen = said_to(tg, chat).len();
    tg.push_callback(&person.telegram, chat, notice.message_id, "policy:agree");
    next_saying(tg, chat, seen, "Thank you").await;
}

/// `/connect x`, then the link in the answer through the real round trip, as `person`
/// consenting at the simulated X; returns once the chat is told.
async fn link_x(tg: &SimTelegram, x: &SimX, person: &Person) {
    let chat = person.telegram.id;
    x.set_consenting_user(person.x.clone());
    let seen = said_to(tg, chat).len();
    tg.push_private_text(&person.telegram, "/connect x");
    let answer = next_saying(tg, chat, seen, "/oauth/x/start").await;
    let href = answer
        .text
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|link| link.contains("/oauth/x/start"))
        .unwrap();
    let seen = said_to(tg, chat).len();
    let page = browse(Url::parse(&href).unwrap()).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    next_saying(tg, chat, seen, "Linked").await;
}

/// `/post` with a picture; returns once X has the post.
async fn post_picture(tg: &SimTelegram, x: &SimX, person: &Person, when: &str) {
    let file = tg.add_file(person.picture.clone(), None);
    let caption = format!("/post {when} | {}", person.text);
    let seen = said_to(tg, person.telegram.id).len();
    tg.push_photo(&person.chat(), &person.telegram, &file, Some(&caption));
    next_saying(tg, person.telegram.id, seen, "Scheduled").await;
    if when == "now" {
        wait_until("the post to reach X", PATIENCE, async || {
            x.tweets().iter().any(|t| t.text == person.text)
        })
        .await
        .unwrap();
    }
}

/// The database, its `-wal` and `-shm`, and every stored image, as bytes.
fn stored_bytes(data: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = ["autopost.db", "autopost.db-wal", "autopost.db-shm"]
        .iter()
        .map(|name| data.join(name))
        .collect();
    if let Ok(media) = std::fs::read_dir(data.join("media")) {
        files.extend(media.map(|e| e.unwrap().path()));
    }
    files
        .into_iter()
        .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
        .collect()
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Which files hold `needle`.
fn found_in(files: &[(PathBuf, Vec<u8>)], needle: &str) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(_, bytes)| holds(bytes, needle))
        .map(|(path, _)| path.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_deleteme_nothing_of_the_person_is_in_any_file_or_log_while_autopost_runs() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Person {
        telegram: SimUser::new(5_550_123_987, "Alicetrace"),
        x: SimXUser::new("1887766554433", "alice_q7trace"),
        text: "Alice's launch words q7trace",
        picture: picture(10),
    };
    let bob = Person {
        telegram: SimUser::new(5_550_456_789, "Bobtrace"),
        x: SimXUser::new("1998877665544", "bob_k2trace"),
        text: "Bob's kept words k2trace",
        picture: picture(250),
    };
    let (x, x_server) =
        autopost_sim::x::start(SimXConfig::public(autopost_sim::world::X_CLIENT_ID))
            .await
            .unwrap();
    let (tg, tg_server) =
        autopost_sim::telegram::start(SimTelegramConfig::new(BOT_TOKEN, "erasure_bot"))
            .await
            .unwrap();
    let key = MasterKey::generate();
    let (mut server, _public) = start(
        dir.path(),
        &x_server.url(),
        &tg_server.url(),
        key.to_base64().expose(),
    );
    wait_until("the bot to connect", PATIENCE, async || {
        !tg.commands().is_empty()
    })
    .await
    .unwrap();

    for person in [&alice, &bob] {
        tg.add_chat(&person.chat());
        agree(&tg, person).await;
        link_x(&tg, &x, person).await;
    }
    post_picture(&tg, &x, &alice, "now").await;
    post_picture(&tg, &x, &bob, "tomorrow 9am").await;
    let data = dir.path().join("data");
    let media_before = std::fs::read_dir(data.join("media")).unwrap().count();
    assert_eq!(media_before, 2, "one picture each");

    // /deleteme asks first; the button erases.
    let chat = alice.telegram.id;
    let seen = said_to(&tg, chat).len();
    tg.push_private_text(&alice.telegram, "/deleteme");
    let question = next_saying(&tg, chat, seen, "Erase everything").await;
    let button = question.reply_markup.unwrap()["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = said_to(&tg, chat).len();
    tg.push_callback(&alice.telegram, chat, question.message_id, &button);
    let done = next_saying(&tg, chat, seen, "erased").await;
    assert!(
        done.text.contains("1 revoked at the platform"),
        "{}",
        done.text
    );
    let alice_tokens = x.revoked_tokens();
    assert!(!alice_tokens.is_empty(), "X was told");

    // Everything is read while autopost still runs.
    assert!(server.is_running());
    let files = stored_bytes(&data);
    let logs = server.logs();
    for trace in alice.traces().iter().chain(&alice_tokens) {
        assert!(
            found_in(&files, trace).is_empty(),
            "{trace:?} is still in {:?}",
            found_in(&files, trace)
        );
        assert!(
            !logs.contains(trace.as_str()),
            "{trace:?} is in the log:\n{logs}"
        );
    }
    assert_eq!(
        std::fs::read_dir(data.join("media")).unwrap().count(),
        1,
        "only bob's picture is left"
    );

    // The same scan finds bob, who stays: it looks in the right places.
    for trace in [bob.x.username.as_str(), bob.text] {
        assert!(
            !found_in(&files, trace).is_empty(),
            "{trace:?} should be in the database"
        );
    }
    // The log follows people, under pseudonyms only.
    let names = LogIds::new(key.derive("log pseudonyms"));
    for person in [&alice, &bob] {
        let pseudonym = names.person(ChatPlatform::Telegram, &person.telegram.id.to_string());
        assert!(
            logs.contains(pseudonym.as_str()),
            "{pseudonym} is not in the log:\n{logs}"
        );
        assert!(!logs.contains(&person.telegram.id.to_string()), "{logs}");
    }
    assert!(server.is_running(), "still running after the scan");
}
