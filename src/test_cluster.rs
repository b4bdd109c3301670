//! A throw-away PostgreSQL server for tests, one per test process, started on first use from
//! the installed server binaries and listening on loopback only.
//!
//! Everything here is blocking `std` code behind a [`OnceLock`], so the first test to ask
//! starts the server whatever tokio runtime (or none) it runs on, and the others wait for it.
//! The server runs under a small `sh` guard that holds a pipe from this process: when this
//! process ends, however it ends (a panic, SIGKILL from a test harness), the pipe closes and
//! the guard stops the server and removes its files. Nothing outlives the test run.
//!
//! A machine without PostgreSQL prints one line saying the PostgreSQL tests are skipped, and
//! [`cluster`] returns `None`; with `AUTOPOST_REQUIRE_POSTGRES=1` (CI) that is an error.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// Set to `1` where skipping the PostgreSQL tests would hide a failure (CI).
const REQUIRE: &str = "AUTOPOST_REQUIRE_POSTGRES";
/// The superuser initdb creates; test databases belong to it.
const SUPERUSER: &str = "postgres";
/// How long a fresh cluster may take to accept connections on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts postgres in the background, then waits for its stdin, the pipe from the test
/// process, to close (ignoring the Ctrl-C that also reaches it, so that it still gets to
/// clean up): then stops postgres at once (no data here is worth a clean shutdown)
/// and removes the cluster's directory. Arguments: postgres, data dir, socket dir, port,
/// log file, the directory to remove.
const GUARD: &str = r#"
"$1" -D "$2" -k "$3" -p "$4" -h 127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=400 -c lc_messages=C </dev/null >"$5" 2>&1 &
pid=$!
trap '' INT HUP
read -r _closed
kill -QUIT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$6"
"#;

/// The running test server.
pub struct Cluster {
    port: u16,
    /// The guard's stdin. Never written; closed when this process exits, which stops the
    /// server.
    _lifeline: ChildStdin,
}

enum Started {
    Running(Cluster),
    /// No server binaries, and the tests may be skipped.
    Missing,
    /// Why the server could not start; every caller panics with it.
    Failed(String),
}

static STARTED: OnceLock<Started> = OnceLock::new();

/// The process's test server, started on the first call. `None` (after one line on stderr
/// per process) when no PostgreSQL server binaries are installed; panics when they are but
/// the server cannot start, or when they are missing and `AUTOPOST_REQUIRE_POSTGRES=1`.
pub fn cluster() -> Option<&'static Cluster> {
    match STARTED.get_or_init(start) {
        Started::Running(cluster) => Some(cluster),
        Started::Missing => None,
        Started::Failed(why) => panic!("{why}"),
    }
}

impl Cluster {
    /// Creates an empty database with a name no other test of this process has, and returns
    /// its URL.
    pub async fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let name = format!("autopost_test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let admin_url = self.url_of("postgres");
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(e) => panic!("cannot connect to the test PostgreSQL server at {admin_url}: {e}"),
        };
        let create = format!("CREATE DATABASE {name}");
        if let Err(e) = sqlx::query(&create).execute(&mut admin).await {
            panic!("cannot create the test database {name}: {e}");
        }
        // The database exists whether or not the goodbye reaches the server.
        let _ = admin.close().await;
        self.url_of(&name)
    }

    /// The URL of database `db` on this server.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

// The test harness's own switches and PATH, not autopost's configuration.
#[allow(clippy::disallowed_methods)]
fn start() -> Started {
    let Some(bin) = find_binaries() else {
        if std::env::var(REQUIRE).is_ok_and(|v| v == "1") {
            return Started::Failed(format!(
                "{REQUIRE}=1, but no PostgreSQL server binaries (initdb and postgres) were found \
                 on PATH or in /usr/lib/postgresql/*/bin: install postgresql"
            ));
        }
        // Written to the stream itself: the test harness captures `eprintln!` of passing
        // tests, and this line must not be hidden.
        let _ = writeln!(
            std::io::stderr(),
            "skipping PostgreSQL tests: no PostgreSQL server binaries found (install \
             postgresql, or set {REQUIRE}=1 to make this an error)"
        );
        return Started::Missing;
    };
    let user = match ServerUser::for_this_process() {
        Ok(user) => user,
        Err(why) => return Started::Failed(why),
    };
    // A free port can be taken by someone else before postgres binds it; try a few.
    let mut last = String::new();
    for _ in 0..3 {
        match launch(&bin, &user) {
            Ok(cluster) => return Started::Running(cluster),
            Err(why) => last = why,
        }
    }
    Started::Failed(format!(
        "cannot start the test PostgreSQL server from {}: {last}",
        bin.display()
    ))
}

/// The directory holding `initdb` and `postgres`: the pair on PATH (symlinks resolved, so
/// both come from one installation), else the highest version under /usr/lib/postgresql.
#[allow(clippy::disallowed_methods)] // where the test harness finds PostgreSQL, not configuration
fn find_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| [dir.join("initdb"), dir.join("postgres")])
        .filter_map(|program| std::fs::canonicalize(program).ok())
        .filter_map(|program| program.parent().map(Path::to_path_buf))
        .find(|dir| has_server(dir));
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = version_of(&entry.file_name().to_string_lossy())?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, dir)| has_server(dir))
            .max_by_key(|(version, _)| *version)
            .map(|(_, dir)| dir)
    })
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// `15` or `9.6` as a comparable pair.
fn version_of(name: &str) -> Option<(u32, u32)> {
    let (major, minor) = name.split_once('.').unwrap_or((name, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Who runs the server. initdb and postgres refuse to run as root, so a root test process
/// (containers, some CI) runs them as the `postgres` user, or `nobody`, through `runuser`
/// (or `su` where there is no runuser).
enum ServerUser {
    Me,
    Other { name: String, uid: u32, gid: u32 },
}

impl ServerUser {
    fn for_this_process() -> Result<Self, String> {
        if id(&["-u"]).as_deref() != Some("0") {
            return Ok(Self::Me);
        }
        for name in ["postgres", "nobody"] {
            let uid = id(&["-u", name]).and_then(|v| v.parse().ok());
            let gid = id(&["-g", name]).and_then(|v| v.parse().ok());
            if let (Some(uid), Some(gid)) = (uid, gid) {
                return Ok(Self::Other {
                    name: name.to_owned(),
                    uid,
                    gid,
                });
            }
        }
        Err(
            "the tests run as root, which PostgreSQL refuses, and there is neither a \
             `postgres` nor a `nobody` user to run the test server as: create a `postgres` \
             user, or run the tests as an ordinary user"
                .to_owned(),
        )
    }

    /// A command running `program` as this user.
    fn command(&self, program: &Path) -> Command {
        match self {
            Self::Me => Command::new(program),
            Self::Other { name, .. } => {
                if let Some(runuser) = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                    .into_iter()
                    .map(Path::new)
                    .find(|path| path.is_file())
                {
                    let mut command = Command::new(runuser);
                    command.args(["-u", name, "--"]).arg(program);
                    command
                } else {
                    // su hands the arguments after `-c` to the shell as $0, $1, ...
                    let mut command = Command::new("su");
                    command
                        .args(["-s", "/bin/sh", name, "-c", r#"exec "$0" "$@""#])
                        .arg(program);
                    command
                }
            }
        }
    }

    /// Makes a directory this process created the server user's.
    fn take(&self, dir: &Path) -> Result<(), String> {
        match self {
            Self::Me => Ok(()),
            Self::Other { name, uid, gid } => std::os::unix::fs::chown(dir, Some(*uid), Some(*gid))
                .map_err(|e| format!("cannot give {} to the user {name}: {e}", dir.display())),
        }
    }
}

/// `id ARGS`, trimmed, if it succeeds.
fn id(args: &[&str]) -> Option<String> {
    let output = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn launch(bin: &Path, user: &ServerUser) -> Result<Cluster, String> {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    // Under /tmp when another user runs the server: it must reach the directory, and a
    // root TMPDIR may sit under a private home. Short, too: socket paths are limited to
    // about 100 bytes.
    let parent = match user {
        ServerUser::Me => std::env::temp_dir(),
        ServerUser::Other { .. } => PathBuf::from("/tmp"),
    };
    remove_abandoned(&parent);
    let base = parent.join(format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::Relaxed)
    ));
    let sockets = base.join("sockets");
    std::fs::create_dir_all(&sockets)
        .map_err(|e| format!("cannot create {}: {e}", sockets.display()))?;
    let prepared = user.take(&base).and_then(|()| user.take(&sockets));
    let data = base.join("data");
    let initdb = prepared.and_then(|()| {
        let output = user
            .command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            // initdb looks up the working directory, which the server user may not reach.
            .current_dir(&base)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    });
    if let Err(why) = initdb {
        let _ = std::fs::remove_dir_all(&base);
        return Err(why);
    }
    let port = free_port()?;
    let log = base.join("server.log");
    let mut guard = user
        .command(Path::new("/bin/sh"))
        .args(["-c", GUARD, "autopost-test-postgres"])
        .arg(bin.join("postgres"))
        .arg(&data)
        .arg(&sockets)
        .arg(port.to_string())
        .arg(&log)
        .arg(&base)
        .current_dir(&base)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server's guard: {e}"))?;
    let Some(lifeline) = guard.stdin.take() else {
        let _ = guard.kill();
        return Err("the server's guard has no stdin".to_owned());
    };
    // From here on, dropping the lifeline on failure stops the server and removes `base`.
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if is_ready(&data) {
            return Ok(Cluster {
                port,
                _lifeline: lifeline,
            });
        }
        let log_text = read_log(&log);
        if log_text.contains("FATAL:") || log_text.contains("PANIC:") {
            return Err(format!("the server stopped: {}", log_text.trim()));
        }
        if let Ok(Some(status)) = guard.try_wait() {
            return Err(format!(
                "the server's guard exited ({status}): {}",
                log_text.trim()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not accept connections within {START_TIMEOUT:?}: {}",
                log_text.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the cluster directories' names start with, before the owning process's id.
const PREFIX: &str = "autopost-pg-";

/// Removes the directories of test processes that were killed while initdb ran, before
/// their guard existed to clean up.
fn remove_abandoned(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The postmaster writes `ready` into its pid file once it accepts connections.
fn is_ready(data: &Path) -> bool {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .is_ok_and(|pid_file| pid_file.lines().any(|line| line.trim() == "ready"))
}

fn read_log(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_fresh_databases_are_separate() {
        let Some(cluster) = cluster() else { return };
        let first = cluster.fresh_database().await;
        let second = cluster.fresh_database().await;
        assert_ne!(first, second);
        let mut a = sqlx::PgConnection::connect(&first).await.unwrap();
        let mut b = sqlx::PgConnection::connect(&second).await.unwrap();
        sqlx::query("CREATE TABLE only_here (id BIGINT)")
            .execute(&mut a)
            .await
            .unwrap();
        let in_a: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_here')::text")
            .fetch_one(&mut a)
            .await
            .unwrap();
        let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_here')::text")
            .fetch_one(&mut b)
            .await
            .unwrap();
        assert_eq!(in_a.as_deref(), Some("only_here"));
        assert_eq!(in_b, None);
        let name: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&mut b)
            .await
            .unwrap();
        assert!(
            second.ends_with(&format!("/{name}")),
            "{second} names {name}"
        );
    }

    #[test]
    fn every_caller_gets_the_one_server() {
        // Called from a plain thread (no runtime) and twice: one server, one port.
        let Some(first) = cluster() else { return };
        let again = std::thread::spawn(|| cluster().map(Cluster::port))
            .join()
            .unwrap();
        assert_eq!(again, Some(first.port()));
        assert!(
            first
                .url_of("x")
                .starts_with("postgres://postgres@127.0.0.1:")
        );
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(version_of("15") > version_of("9.6"));
        assert!(version_of("16") > version_of("15"));
        assert_eq!(version_of("main"), None);
    }
}
