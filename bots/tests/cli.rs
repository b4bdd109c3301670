//! The `autopost` binary as an operator uses it: exit codes, one-line errors, signals.

// Helpers outside #[test] functions panic on purpose: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// In this one test binary (one link instead of two): `/deleteme` while the server runs.
#[path = "cli/erasure.rs"]
mod erasure;
// And a thread of three surviving `kill -9` mid-thread.
#[path = "cli/thread_kill.rs"]
mod thread_kill;
// The shared mode's start-up requirements, and no database password in any output.
#[path = "cli/shared_mode.rs"]
mod shared_mode;
// And three instances on one PostgreSQL through kills and a freeze.
#[path = "cli/multi_instance.rs"]
mod multi_instance;

const BIN: &str = env!("CARGO_BIN_EXE_autopost");

/// The binary in `dir` with a clean environment plus `vars`.
fn autopost(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("AUTOPOST_DATA_DIR", dir.join("data"))
        .envs(vars.iter().copied())
        .stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    autopost(dir, args, vars).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One line on stderr, prefixed, with no panic or backtrace.
fn assert_one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("autopost: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

#[test]
fn parse_time_prints_the_utc_instant_and_refuses_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let at = [
        "parse-time",
        "--now",
        "2026-03-28T20:00:00Z",
        "--tz",
        "Europe/Berlin",
    ];
    let ok = run(dir.path(), &[&at[..], &["tomorrow 9am"]].concat(), &[]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), "2026-03-29T07:00:00Z\n");

    let words = run(dir.path(), &[&at[..], &["tomorrow", "9am"]].concat(), &[]);
    assert_eq!(
        text(&words.stdout),
        "2026-03-29T07:00:00Z\n",
        "unquoted words work too"
    );

    for refused in ["yesterday 9am", "feb 30 10am"] {
        let out = run(dir.path(), &[&at[..], &[refused]].concat(), &[]);
        assert_eq!(out.status.code(), Some(1), "{refused}");
        assert!(out.stdout.is_empty(), "{refused}: nothing on stdout");
        let reason = assert_one_line_error(&out);
        assert!(reason.len() > "autopost: ".len() + 10, "{reason}");
    }

    let bad_now = run(
        dir.path(),
        &["parse-time", "--now", "yesterday", "9am"],
        &[],
    );
    assert!(assert_one_line_error(&bad_now).contains("--now `yesterday`"));
    let bad_tz = run(dir.path(), &["parse-time", "--tz", "Mars/Base", "9am"], &[]);
    assert!(assert_one_line_error(&bad_tz).contains("--tz `Mars/Base`"));
    assert!(
        !dir.path().join("data").exists(),
        "parse-time touches no state"
    );
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "run",
        "migrate",
        "parse-time",
        "rotate-key",
        "doctor",
        "export",
        "erase",
        "audit",
    ] {
        let out = run(dir.path(), &[command, "--help"], &[]);
        assert!(out.status.success(), "{command}");
        assert!(text(&out.stdout).contains("Usage: autopost"), "{command}");
    }
    let out = run(dir.path(), &["--help"], &[]);
    assert!(text(&out.stdout).contains("parse-time"));
    let out = run(dir.path(), &["no-such-command"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_configuration_value_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "AUTOPOST_LISTEN",
            "localhost",
            "AUTOPOST_LISTEN: `localhost` is not an ip:port",
        ),
        (
            "AUTOPOST_PUBLIC_URL",
            "nope",
            "AUTOPOST_PUBLIC_URL: `nope` is not a URL",
        ),
        (
            "AUTOPOST_DEFAULT_TIMEZONE",
            "Moon/Base",
            "`Moon/Base` is not an IANA time zone",
        ),
        (
            "AUTOPOST_MASTER_KEY",
            "%%%",
            "AUTOPOST_MASTER_KEY: is not valid base64",
        ),
    ];
    for (var, value, expected) in cases {
        let out = run(dir.path(), &["migrate"], &[(var, value)]);
        let line = assert_one_line_error(&out);
        assert!(line.contains(expected), "{var}: {line}");
        assert!(!dir.path().join("data").exists(), "{var}: nothing created");
    }
    std::fs::write(dir.path().join("autopost.toml"), "listen = 5\n").unwrap();
    let out = run(dir.path(), &["doctor"], &[]);
    assert!(assert_one_line_error(&out).contains("AUTOPOST_LISTEN: `5`"));
    let out = run(dir.path(), &["--config", "missing.toml", "doctor"], &[]);
    assert!(assert_one_line_error(&out).contains("cannot read config file missing.toml"));
}

/// Kills the server if the test fails half-way, so that no process outlives the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `autopost run` in `dir`, started and read until its ready line; killed if the test fails.
struct Server {
    child: KillOnDrop,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    /// What it logged up to and including the ready line.
    log: Vec<String>,
    addr: String,
}

impl Server {
    fn start(dir: &Path, vars: &[(&str, &str)]) -> Self {
        Self::start_command(autopost(dir, &["run"], vars))
    }

    fn start_command(mut command: Command) -> Self {
        let mut child = KillOnDrop(
            command
                .env("AUTOPOST_LISTEN", "127.0.0.1:0")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
        let mut addr = None;
        let mut log = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.split("listen=").nth(1) {
                addr = rest.split_whitespace().next().map(str::to_owned);
            }
            let ready = line.contains("autopost is ready");
            log.push(line);
            if ready {
                break;
            }
        }
        assert!(
            log.iter().any(|l| l.contains("autopost is ready")),
            "no ready line: {log:?}"
        );
        let addr = addr.expect("the log names the bound address");
        Self {
            child,
            lines,
            log,
            addr,
        }
    }

    /// Sends SIGTERM and waits for the exit; returns its status and what it logged after the
    /// ready line.
    fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let child = &mut self.child.0;
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "autopost did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.lines.map_while(Result::ok).collect())
    }
}

#[test]
fn run_serves_health_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert!(!server.addr.ends_with(":0"), "{}", server.addr);
    let response = http_get(&server.addr, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
    let (status, rest) = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l.contains("SIGTERM")), "{rest:?}");
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_wrong_master_key_stops_start_up_and_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let other = "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";
    let out = run(dir.path(), &["migrate"], &[("AUTOPOST_MASTER_KEY", key)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = dir.path().join("data/autopost.db");
    let before = file_bytes(&db);

    let out = run(dir.path(), &["run"], &[("AUTOPOST_MASTER_KEY", other)]);
    let line = assert_one_line_error(&out);
    assert!(line.contains("does not open this database"), "{line}");
    assert!(!line.contains(other) && !line.contains(key), "{line}");
    assert_eq!(file_bytes(&db), before);

    let out = run(dir.path(), &["doctor"], &[("AUTOPOST_MASTER_KEY", other)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAIL database"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(file_bytes(&db), before, "doctor reads only");
}

#[test]
fn rotate_key_then_doctor_reports_a_healthy_install() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = run(dir.path(), &["doctor"], &[]);
    assert!(fresh.status.success(), "{}", text(&fresh.stdout));
    assert!(text(&fresh.stdout).contains("warn key"));
    assert!(
        !dir.path().join("data/master.key").exists(),
        "doctor creates nothing"
    );

    assert!(run(dir.path(), &["migrate"], &[]).status.success());
    let key_file = dir.path().join("data/master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let out = run(dir.path(), &["rotate-key"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("Re-encrypted 0 stored secret(s)"), "{said}");
    assert!(said.contains("shred -u"), "{said}");
    assert!(!said.contains(old_key.trim()), "no key is printed");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!said.contains(new_key.trim()), "no key is printed");

    let out = run(dir.path(), &["doctor"], &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("ok   database"), "{report}");
    assert!(report.contains("off (set AUTOPOST_X_CLIENT_ID"), "{report}");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["migrate"], &[]).status.success());
    let key_file = dir.path().join("data/master.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(dir.path(), &["run"], &[]);
    let line = assert_one_line_error(&out);
    assert!(
        line.contains("readable by other users") && line.contains("chmod 600"),
        "{line}"
    );
}

#[test]
fn doctor_says_which_platforms_answer_and_which_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = run(
        dir.path(),
        &["doctor"],
        &[
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_X_API_URL", &up),
            ("AUTOPOST_META_APP_ID", "1"),
            ("AUTOPOST_META_APP_SECRET", "s"),
            ("AUTOPOST_META_GRAPH_URL", &down),
        ],
    );
    let report = text(&out.stdout);
    assert!(
        out.status.success(),
        "warnings do not fail doctor: {report}"
    );
    assert!(report.contains("answers (HTTP 404)"), "{report}");
    assert!(
        report.contains("warn meta") && report.contains("cannot be reached"),
        "{report}"
    );
    assert!(
        report.contains("off (set AUTOPOST_TELEGRAM_TOKEN"),
        "{report}"
    );
}

#[test]
fn connect_prints_a_one_time_start_link_and_refuses_bad_references() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("AUTOPOST_X_CLIENT_ID", "client"),
        ("AUTOPOST_PUBLIC_URL", "https://autopost.example"),
    ];
    let args = [
        "connect",
        "x",
        "--chat",
        "telegram:-1001",
        "--user",
        "telegram:42",
    ];
    let out = run(dir.path(), &args, &vars);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout);
    assert!(
        link.starts_with("https://autopost.example/oauth/x/start?s="),
        "{link}"
    );
    let again = text(&run(dir.path(), &args, &vars).stdout);
    assert_ne!(link, again, "every link is new");

    let bad = run(
        dir.path(),
        &["connect", "x", "--chat", "tg:-1", "--user", "telegram:42"],
        &vars,
    );
    assert!(assert_one_line_error(&bad).contains("--chat `tg:-1` is not PLATFORM:ID"));
    let off = run(
        dir.path(),
        &[
            "connect",
            "meta",
            "--chat",
            "telegram:1",
            "--user",
            "telegram:1",
        ],
        &vars,
    );
    assert!(assert_one_line_error(&off).contains("Facebook/Instagram is not set up"));
    let unknown = run(
        dir.path(),
        &[
            "connect",
            "myspace",
            "--chat",
            "telegram:1",
            "--user",
            "telegram:1",
        ],
        &vars,
    );
    assert!(assert_one_line_error(&unknown).contains("`myspace` is not a platform"));
}

#[test]
fn demo_links_accounts_and_publishes_through_the_real_bot_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    // Whatever the operator has around must not matter: a broken autopost.toml in the
    // working directory and broken AUTOPOST_* variables (the helper also sets a data dir).
    std::fs::write(dir.path().join("autopost.toml"), "listen = 5\n").unwrap();
    let out = run(
        dir.path(),
        &["demo"],
        &[
            ("AUTOPOST_LISTEN", "localhost"),
            ("AUTOPOST_TELEGRAM_TOKEN", "not-a-token"),
            ("AUTOPOST_LOG", "trace"),
        ],
    );
    let timeline = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{timeline}\n{stderr}");
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("panicked"),
        "{stderr}"
    );
    for expected in [
        // Linking through the real OAuth flow, shown by autopost's own callback page.
        "page: Connected: Linked @alices_bakery (X) to this chat.",
        "page: Connected: Linked Alice's Bakery (Facebook Page) and @alices_bakery (Instagram) to this chat.",
        "page: Connected: Linked @bakery_team (X) to this chat.",
        // The bot's confirmation of the photo post and of the group post.
        "Scheduled post #1",
        "Scheduled post #2",
        // What the simulated platforms received.
        "X          @alices_bakery posted tweet",
        "with 1 image (image/jpeg",
        "Facebook   Page \"Alice's Bakery\" posted",
        "with 1 photo",
        "Instagram  @alices_bakery published",
        "X          @bakery_team posted tweet",
        // The scheduler's reports: each post's status message, edited as targets finish.
        "✅ X @alices_bakery",
        "✅ Facebook Page Alice's Bakery",
        "✅ Instagram @alices_bakery",
        "✅ X @bakery_team",
        "── Done in",
    ] {
        assert!(
            timeline.contains(expected),
            "missing {expected:?}:\n{timeline}"
        );
    }
    // The one-time link states and codes stay out of the output.
    for secret_part in ["?s=", "code=", "state=", "7000000001:"] {
        assert!(
            !timeline.contains(secret_part),
            "{secret_part}:\n{timeline}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        ["autopost.toml"],
        "the demo writes only to its temp dir"
    );
}

#[test]
fn discord_register_overwrites_the_commands_and_doctor_then_finds_them_current() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = autopost_sim::discord::SimDiscordConfig::random();
    let token = config.token.expose().to_owned();
    let key = config.public_key_hex();
    let (sim, server) = runtime
        .block_on(autopost_sim::discord::start(config))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let application = sim.application_id().to_string();
    let api = server.url().to_string();
    let vars = [
        ("AUTOPOST_DISCORD_TOKEN", token.as_str()),
        ("AUTOPOST_DISCORD_APPLICATION_ID", application.as_str()),
        ("AUTOPOST_DISCORD_PUBLIC_KEY", key.as_str()),
        ("AUTOPOST_DISCORD_API_URL", api.as_str()),
    ];
    let before = text(&run(dir.path(), &["doctor"], &vars).stdout);
    assert!(
        before.contains("discord commands") && before.contains("autopost discord register"),
        "{before}"
    );
    let registered = run(dir.path(), &["discord", "register"], &vars);
    assert!(registered.status.success(), "{}", text(&registered.stderr));
    let printed = text(&registered.stdout);
    assert!(
        printed.starts_with("Registered 15 commands globally:"),
        "{printed}"
    );
    assert!(printed.contains("/post — Schedule a post"), "{printed}");
    assert_eq!(sim.command_overwrites().len(), 1, "one bulk call");
    let after = text(&run(dir.path(), &["doctor"], &vars).stdout);
    let line = after
        .lines()
        .find(|l| l.contains("discord commands"))
        .unwrap_or_default();
    assert!(line.starts_with("ok"), "{after}");
    assert!(
        !before.contains(&token) && !after.contains(&token) && !printed.contains(&token),
        "the bot token is never printed"
    );
    drop(server);
}

/// A data dir where telegram:1 linked the simulated X account @alice to the group
/// telegram:-1 through the real OAuth round trip and queued a post with a picture; then the
/// world stopped. The simulated X keeps serving (on the runtime kept here) for the binary,
/// which `vars` point at the same data dir, key file and X.
struct Linked {
    world: autopost_sim::World,
    vars: Vec<(String, String)>,
    /// The picture as stored, and alice's X tokens, to look for in what the binary writes.
    picture: Vec<u8>,
    tokens: Vec<String>,
    // Declared last: the simulated X stops only after everything above is dropped.
    _runtime: tokio::runtime::Runtime,
}

impl Linked {
    fn start() -> Linked {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (world, picture, tokens) = runtime.block_on(async {
            let mut world = autopost_sim::World::builder()
                .x()
                .key_file()
                .start()
                .await
                .unwrap();
            let linked = world.link_x("telegram:-1", "telegram:1").await.unwrap();
            let picture = bytes::Bytes::from_static(autopost_sim::PNG_1X1);
            world
                .app()
                .create_post(
                    &linked.actor,
                    autopost::posting::Draft {
                        when: "tomorrow 9am".to_owned(),
                        text: "alice's words".to_owned(),
                        images: vec![picture],
                        targets: None,
                    },
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            let store = world.store().await.unwrap();
            let (grant, _) = store.grants_of_user(linked.actor.user).await.unwrap()[0];
            let grant = store.grant_tokens(grant).await.unwrap();
            let mut tokens = vec![grant.access_token.expose().to_owned()];
            tokens.extend(grant.refresh_token.map(|t| t.expose().to_owned()));
            world.shutdown().await.unwrap();
            let media = world.dir().join("media");
            let stored = std::fs::read_dir(&media).unwrap().next().unwrap().unwrap();
            (world, std::fs::read(stored.path()).unwrap(), tokens)
        });
        let vars = vec![
            (
                "AUTOPOST_DATA_DIR".to_owned(),
                world.dir().display().to_string(),
            ),
            (
                "AUTOPOST_X_CLIENT_ID".to_owned(),
                autopost_sim::world::X_CLIENT_ID.to_owned(),
            ),
            ("AUTOPOST_X_API_URL".to_owned(), world.x_url().to_string()),
        ];
        Linked {
            world,
            vars,
            picture,
            tokens,
            _runtime: runtime,
        }
    }

    /// The binary in a scratch dir beside the data dir, with `vars`.
    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run(dir, args, &vars)
    }

    fn db(&self) -> Vec<u8> {
        file_bytes(&self.world.dir().join("autopost.db"))
    }

    /// The security log as the binary prints it.
    fn audit(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, &[&["audit"], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }
}

/// Whether `needle` occurs in `haystack`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn export_writes_a_persons_data_as_json_or_a_zip_and_refuses_unknown_people() {
    let linked = Linked::start();
    let dir = tempfile::tempdir().unwrap();

    let out = linked.run(dir.path(), &["export", "--user", "telegram:1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["users"][0]["remote_id"], "1");
    assert_eq!(json["posts"][0]["body"], "alice's words");
    assert_eq!(json["accounts"][0]["display_name"], "@sim_alice");
    assert_eq!(json["media"].as_array().unwrap().len(), 1);
    for token in &linked.tokens {
        assert!(!text(&out.stdout).contains(token.as_str()), "no token");
    }

    let file = dir.path().join("alice.json");
    let out = linked.run(
        dir.path(),
        &[
            "export",
            "--user",
            "telegram:1",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Wrote the data of telegram:1 to"));
    let written: serde_json::Value = serde_json::from_slice(&file_bytes(&file)).unwrap();
    assert_eq!(written["posts"], json["posts"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the operator reads it");
    }

    let zip = dir.path().join("alice.zip");
    let out = linked.run(
        dir.path(),
        &[
            "export",
            "--user",
            "telegram:1",
            "--images",
            "--out",
            zip.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = file_bytes(&zip);
    assert!(bytes.starts_with(b"PK\x03\x04"), "a zip");
    let post = json["posts"][0]["id"].as_i64().unwrap();
    for name in ["export.json".to_owned(), format!("images/{post}-1.png")] {
        assert!(holds(&bytes, name.as_bytes()), "{name} is in the zip");
    }
    assert!(
        holds(&bytes, &linked.picture),
        "the picture, stored as it is"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The operator's exports are in the log, with the person.
    let log = linked.audit(dir.path(), &["--user", "telegram:1"]);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\toperator_export\t"))
            .count(),
        3,
        "{log}"
    );

    let before = linked.db();
    let missing = dir.path().join("nobody.json");
    let unknown = linked.run(
        dir.path(),
        &[
            "export",
            "--user",
            "telegram:99",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    let line = assert_one_line_error(&unknown);
    assert!(
        line.contains("autopost knows no person telegram:99"),
        "{line}"
    );
    assert!(!missing.exists() && unknown.stdout.is_empty());
    let bad = linked.run(dir.path(), &["export", "--user", "tg:1"]);
    assert!(assert_one_line_error(&bad).contains("--user `tg:1` is not PLATFORM:ID"));
    assert_eq!(linked.db(), before, "refusals change nothing");
}

#[test]
fn erase_revokes_at_the_platform_and_erases_the_person_as_deleteme_does() {
    let linked = Linked::start();
    let dir = tempfile::tempdir().unwrap();
    let before = linked.db();
    for (user, said) in [
        ("telegram:99", "autopost knows no person telegram:99"),
        ("telegram", "--user `telegram` is not PLATFORM:ID"),
    ] {
        let out = linked.run(dir.path(), &["erase", "--user", user]);
        assert_eq!(out.status.code(), Some(1), "{user}");
        assert!(assert_one_line_error(&out).contains(said), "{user}");
    }
    assert_eq!(linked.db(), before, "refusals change nothing");
    assert!(linked.world.x().revoked_tokens().is_empty());
    let log = linked.audit(dir.path(), &[]);
    assert!(
        log.contains("telegram:1") && log.contains("@sim_alice"),
        "{log}"
    );

    let out = linked.run(dir.path(), &["erase", "--user", "telegram:1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("Erased telegram:1: 1 grant(s) revoked at the platforms"),
        "{said}"
    );
    assert!(said.contains("1 image file(s) removed"), "{said}");
    assert!(!linked.world.x().revoked_tokens().is_empty(), "X was told");
    let media = linked.world.dir().join("media");
    assert_eq!(std::fs::read_dir(media).unwrap().count(), 0);

    let again = linked.run(dir.path(), &["export", "--user", "telegram:1"]);
    assert!(assert_one_line_error(&again).contains("autopost knows no person telegram:1"));
    let log = linked.audit(dir.path(), &[]);
    assert!(log.contains("\tuser_deleted\t-\t-\t"), "{log}");
    assert!(log.contains("\toperator_erasure\t-\t-\t"), "{log}");
    for gone in ["telegram:1", "@sim_alice"] {
        assert!(!log.contains(gone), "{gone} is still in the log: {log}");
    }
    let db = linked.db();
    for gone in ["alice's words", "@sim_alice"] {
        assert!(
            !holds(&db, gone.as_bytes()),
            "{gone} is still in the database"
        );
    }
}

#[test]
fn audit_prints_one_event_per_line_with_its_person_narrowed_by_person_and_time() {
    let linked = Linked::start();
    let dir = tempfile::tempdir().unwrap();
    let out = linked.run(dir.path(), &["rotate-key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let log = linked.audit(dir.path(), &[]);
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split('\t').collect()).collect();
    assert!(lines.iter().all(|fields| fields.len() == 5), "{log}");
    for fields in &lines {
        assert!(
            chrono::DateTime::parse_from_rfc3339(fields[0]).is_ok(),
            "{fields:?}"
        );
    }
    let linked_line = lines
        .iter()
        .find(|f| f[1] == "account_linked")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(
        (linked_line[2], linked_line[3]),
        ("telegram:1", "@sim_alice")
    );
    let rotated = lines
        .iter()
        .find(|f| f[1] == "key_rotated")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(rotated[2], "-", "a key rotation is nobody's");

    let alices = linked.audit(dir.path(), &["--user", "telegram:1"]);
    assert!(!alices.is_empty());
    assert!(
        alices.lines().all(|l| l.contains("\ttelegram:1\t")),
        "{alices}"
    );
    assert!(!alices.contains("key_rotated"));
    assert_eq!(linked.audit(dir.path(), &["--since", "2999-01-01"]), "");
    assert_eq!(
        linked.audit(dir.path(), &["--since", "2000-01-01T00:00:00Z"]),
        log
    );

    let before = linked.db();
    for (args, said) in [
        (
            &["--since", "yesterday"][..],
            "--since `yesterday` is neither",
        ),
        (
            &["--user", "telegram:99"][..],
            "autopost knows no person telegram:99",
        ),
        (
            &["--user", "discord"][..],
            "--user `discord` is not PLATFORM:ID",
        ),
    ] {
        let out = linked.run(dir.path(), &[&["audit"], args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(assert_one_line_error(&out).contains(said), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(linked.db(), before, "reading the log changes nothing");
}

/// The data dir of `dir` after `autopost migrate` made a database (sealed with a key file).
fn migrated(dir: &Path) -> std::path::PathBuf {
    let out = run(dir, &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir.join("data")
}

/// What `doctor` printed, after checking it failed (exit 1) without a panic.
fn doctor_fails(dir: &Path) -> String {
    let out = run(dir, &["doctor"], &[]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(report.contains("autopost is not ready"), "{report}");
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    report
}

#[test]
fn doctor_fails_with_what_to_do_for_every_kind_of_damaged_database() {
    type Damage = fn(&Path);
    let page = 4096;
    let cases: [(&str, Damage); 5] = [
        ("overwritten header", |db| {
            let mut bytes = std::fs::read(db).unwrap();
            bytes[..100].fill(0x5a);
            std::fs::write(db, bytes).unwrap();
        }),
        ("overwritten pages", |db| {
            let mut bytes = std::fs::read(db).unwrap();
            let end = bytes.len().min(6 * 4096);
            bytes[2 * 4096..end].fill(0xa5);
            std::fs::write(db, bytes).unwrap();
        }),
        ("truncated", |db| {
            let bytes = std::fs::read(db).unwrap();
            std::fs::write(db, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("a text file", |db| {
            std::fs::write(db, "these are not the pages you are looking for\n").unwrap();
        }),
        ("a directory", |db| {
            std::fs::remove_file(db).unwrap();
            std::fs::create_dir(db).unwrap();
        }),
    ];
    for (kind, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let data = migrated(dir.path());
        let db = data.join("autopost.db");
        assert!(
            std::fs::metadata(&db).unwrap().len() >= 8 * page,
            "{kind}: the database is big enough to damage in the middle"
        );
        damage(&db);
        let before = std::fs::read(&db).ok();
        let report = doctor_fails(dir.path());
        let line = report
            .lines()
            .find(|l| l.starts_with("FAIL database"))
            .unwrap_or_else(|| panic!("{kind}: no FAIL database line:\n{report}"));
        assert!(line.contains("damaged"), "{kind}: {line}");
        assert!(
            line.contains("restore the newest backup")
                && line.contains(&data.display().to_string()),
            "{kind}: says what to do and where: {line}"
        );
        assert_eq!(std::fs::read(&db).ok(), before, "{kind}: doctor reads only");
    }
}

/// A data dir whose database was sealed by `migrate` and then re-sealed by a real
/// `rotate-key`; returns it with the old and the new key file's contents.
fn rotated(dir: &Path) -> (std::path::PathBuf, String, String) {
    let data = migrated(dir);
    let old = std::fs::read_to_string(data.join("master.key")).unwrap();
    let out = run(dir, &["rotate-key"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let new = std::fs::read_to_string(data.join("master.key")).unwrap();
    assert_ne!(old, new);
    (data, old, new)
}

/// The one retired key file in `data`.
fn retired_key(data: &Path) -> std::path::PathBuf {
    let retired: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("master.key.retired-")
        })
        .collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    retired[0].clone()
}

#[test]
fn a_rotate_key_killed_between_its_renames_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, old, new) = rotated(dir.path());
    // Killed after `master.key` → `master.key.retired-<id>`, before `master.key.new` →
    // `master.key`.
    std::fs::rename(data.join("master.key"), data.join("master.key.new")).unwrap();

    let out = run(dir.path(), &["doctor"], &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("warn key") && report.contains("rotate-key was interrupted"),
        "{report}"
    );
    assert!(report.contains("master.key is missing"), "{report}");
    assert!(report.contains("ok   database"), "{report}");
    assert!(!data.join("master.key").exists(), "doctor changes nothing");

    let server = Server::start(dir.path(), &[]);
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("finished an interrupted rotate-key")),
        "{:?}",
        server.log
    );
    assert_eq!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        new,
        "the key that opens the database, not a brand-new one"
    );
    assert!(!data.join("master.key.new").exists());
    assert_eq!(std::fs::read_to_string(retired_key(&data)).unwrap(), old);
    let (status, _) = server.stop();
    assert!(status.success());
    let out = run(dir.path(), &["doctor"], &[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        !text(&out.stdout).contains("warn key"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_rotate_key_killed_after_the_database_switched_keeps_both_keys_and_uses_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (data, old, new) = rotated(dir.path());
    // Killed after the commit, before either rename: the old key is still `master.key`.
    std::fs::rename(data.join("master.key"), data.join("master.key.new")).unwrap();
    std::fs::rename(retired_key(&data), data.join("master.key")).unwrap();

    let out = run(dir.path(), &["doctor"], &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("does not open the database") && report.contains("master.key.new"),
        "{report}"
    );

    let out = run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        new
    );
    assert_eq!(std::fs::read_to_string(retired_key(&data)).unwrap(), old);
    assert!(!data.join("master.key.new").exists());
}

#[test]
fn a_rotate_key_killed_before_the_database_switched_leaves_the_old_key_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = migrated(dir.path());
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    // Killed after writing the new key, before its transaction committed: the new key
    // opens nothing.
    let unused = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    std::fs::write(data.join("master.key.new"), unused).unwrap();
    std::fs::set_permissions(
        data.join("master.key.new"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let out = run(dir.path(), &["doctor"], &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("opens nothing"), "{report}");
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        key
    );
    assert_eq!(
        std::fs::read_to_string(data.join("master.key.new")).unwrap(),
        unused,
        "a key file is never deleted by autopost"
    );
    let out = run(dir.path(), &["rotate-key"], &[]);
    assert!(assert_one_line_error(&out).contains("master.key.new already exists"));
}

#[test]
fn no_key_is_created_for_a_sealed_database_whose_key_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _, _) = rotated(dir.path());
    // The key in use is lost; only the retired one is left, and it opens nothing.
    std::fs::remove_file(data.join("master.key")).unwrap();

    let report = doctor_fails(dir.path());
    assert!(
        report.contains("FAIL key") && report.contains("restore master.key from your backup"),
        "{report}"
    );
    let out = run(dir.path(), &["run"], &[("AUTOPOST_LISTEN", "127.0.0.1:0")]);
    let line = assert_one_line_error(&out);
    assert!(line.contains("no key file"), "{line}");
    assert!(!data.join("master.key").exists(), "no brand-new key");
}

#[test]
fn a_second_run_on_the_same_data_dir_is_refused_while_doctor_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let pid = server.child.0.id().to_string();
    for command in [&["run"][..], &["migrate"], &["rotate-key"]] {
        let out = run(dir.path(), command, &[("AUTOPOST_LISTEN", "127.0.0.1:0")]);
        let line = assert_one_line_error(&out);
        assert!(
            line.contains("another autopost")
                && line.contains(&format!("pid {pid}"))
                && line.contains(&dir.path().join("data").display().to_string()),
            "{command:?}: {line}"
        );
    }
    let out = run(dir.path(), &["doctor"], &[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    // The operator's commands for people's rights work while it serves.
    let out = run(dir.path(), &["audit"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(dir.path(), &["export", "--user", "telegram:404"], &[]);
    assert!(
        text(&out.stderr).contains("no person"),
        "refused for the unknown person, not the lock: {}",
        text(&out.stderr)
    );
    assert!(http_get(&server.addr, "/healthz").starts_with("HTTP/1.1 200"));
    let (status, _) = server.stop();
    assert!(status.success());
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(
        out.status.success(),
        "the lock goes with the process: {}",
        text(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn the_data_dir_and_every_file_in_it_are_owner_only_even_under_an_open_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let media = data.join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("old.jpg"), b"an image from before").unwrap();
    let open = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    open(&data, 0o777);
    open(&media, 0o777);
    open(&media.join("old.jpg"), 0o666);
    // A umask that takes nothing away: every mode below is autopost's own doing.
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("umask 000 && exec {BIN} run")])
        .current_dir(dir.path())
        .env_clear()
        .env("AUTOPOST_DATA_DIR", &data)
        .stdin(Stdio::null());
    let server = Server::start_command(command);
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("media"), 0o700);
    assert_eq!(mode("media/old.jpg"), 0o600);
    for file in [
        "autopost.db",
        "autopost.db-wal",
        "autopost.db-shm",
        "master.key",
        "autopost.lock",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    let (status, rest) = server.stop();
    assert!(status.success(), "{status:?} {rest:?}");
}
