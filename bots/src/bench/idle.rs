//! `autopost bench idle`: `autopost run` started as an operator starts it (a separate process,
//! after `autopost migrate`), with the Telegram bot configured against the simulated Bot API
//! in this process: how soon it serves `/healthz`, how soon the bot is connected and polling,
//! and its resident memory once idle. SPEC §10 asks for ready in under 100 ms and under
//! 20 MB idle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::output::print_line;
use autopost_sim::telegram::{self as simtg, SimTelegram, SimTelegramConfig};

use super::status_kib;

/// The simulated bot's token; it never leaves this machine.
const TOKEN: &str = "424242:bench-idle-token";

/// How long one start may take before the bench gives up.
const START_LIMIT: Duration = Duration::from_secs(10);

/// What `autopost bench idle` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct IdleBench {
    /// Starts measured.
    pub runs: usize,
    /// How long the process idles before its memory is read.
    pub settle: Duration,
}

/// One start of `autopost run`.
struct Start {
    serving: Duration,
    polling: Duration,
    rss_kib: u64,
    peak_kib: u64,
}

/// Runs the measurement; `Ok(false)` when a start failed to serve or to connect the bot.
pub async fn idle(bench: IdleBench) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir().context("cannot create a temp dir")?;
    let (tg, tg_server) = simtg::start(SimTelegramConfig::new(TOKEN, "autopost_idle_bot"))
        .await
        .context("cannot start the simulated Telegram Bot API")?;
    let exe = std::env::current_exe().context("cannot find the autopost binary")?;
    let addr = free_port()?;
    let env = Env {
        data_dir: dir.path().join("data").display().to_string(),
        listen: addr.to_string(),
        public_url: format!("http://{addr}/"),
        telegram_url: tg_server.url().to_string(),
    };
    let migrated = env
        .command(&exe, dir.path())
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run autopost migrate")?;
    anyhow::ensure!(migrated.success(), "autopost migrate failed");
    print_line(&format!(
        "`autopost run` with the Telegram bot configured (simulated Bot API), {} starts, {} s idle each",
        bench.runs,
        bench.settle.as_secs()
    ));
    let mut starts = Vec::new();
    for _ in 0..bench.runs {
        let child = env
            .command(&exe, dir.path())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start autopost run")?;
        let mut child = Running(child);
        let polls_before = tg.requests("getUpdates");
        let Some(start) = measure(&mut child.0, addr, &tg, polls_before, bench.settle).await else {
            print_line("FAIL: autopost run did not serve or the bot did not connect in time");
            return Ok(false);
        };
        print_line(&format!(
            "  serving /healthz after {:6.1} ms, bot polling after {:6.1} ms, idle RSS {:5.1} MiB (peak {:5.1} MiB)",
            start.serving.as_secs_f64() * 1e3,
            start.polling.as_secs_f64() * 1e3,
            start.rss_kib as f64 / 1024.0,
            start.peak_kib as f64 / 1024.0,
        ));
        starts.push(start);
    }
    let worst = |f: fn(&Start) -> f64| starts.iter().map(f).fold(0.0, f64::max);
    print_line(&format!(
        "worst: serving {:.1} ms, bot polling {:.1} ms (target: ready < 100 ms); idle RSS {:.1} MiB (target: < 20 MiB)",
        worst(|s| s.serving.as_secs_f64() * 1e3),
        worst(|s| s.polling.as_secs_f64() * 1e3),
        worst(|s| s.rss_kib as f64 / 1024.0),
    ));
    drop(tg_server);
    Ok(true)
}

async fn measure(
    child: &mut Child,
    addr: SocketAddr,
    tg: &SimTelegram,
    polls_before: usize,
    settle: Duration,
) -> Option<Start> {
    let started = Instant::now();
    let mut serving = None;
    let mut polling = None;
    while serving.is_none() || polling.is_none() {
        if started.elapsed() > START_LIMIT || matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
        if serving.is_none() && healthy(addr) {
            serving = Some(started.elapsed());
        }
        if polling.is_none() && tg.requests("getUpdates") > polls_before {
            polling = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    tokio::time::sleep(settle).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    Some(Start {
        serving: serving?,
        polling: polling?,
        rss_kib: status_kib(&status, "VmRSS:")?,
        peak_kib: status_kib(&status, "VmHWM:")?,
    })
}

/// Kills the child however the bench ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The variables `autopost run` gets; nothing else from this environment reaches it.
struct Env {
    data_dir: String,
    listen: String,
    public_url: String,
    telegram_url: String,
}

impl Env {
    fn command(&self, exe: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(exe);
        command
            .env_clear()
            .current_dir(cwd)
            .env("AUTOPOST_DATA_DIR", &self.data_dir)
            .env("AUTOPOST_LISTEN", &self.listen)
            .env("AUTOPOST_PUBLIC_URL", &self.public_url)
            .env("AUTOPOST_TELEGRAM_TOKEN", TOKEN)
            .env("AUTOPOST_TELEGRAM_API_URL", &self.telegram_url)
            .env("AUTOPOST_LOG", "warn");
        command
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}

/// Whether `GET /healthz` answers 200 (a blocking loopback call of well under a millisecond).
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else {
        return false;
    };
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).is_ok() && answer.ends_with(b" 200")
}
