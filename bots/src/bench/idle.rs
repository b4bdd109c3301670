//! `autopost bench idle`: `autopost run` started as an operator starts it (a separate process,
//! after `autopost migrate`), with both bots configured against simulated platforms in this
//! process (Telegram's Bot API; Discord's gateway, REST and interactions endpoint): how soon
//! it serves `/healthz`, how soon the Telegram bot polls and the Discord gateway is ready, and
//! its resident memory once idle. SPEC §10 asks for ready in under 100 ms and under 20 MB
//! idle with both bots configured.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::output::print_line;
use autopost_sim::discord::{self as simdiscord, SimDiscord, SimDiscordConfig};
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
    discord: Duration,
    rss_kib: u64,
    peak_kib: u64,
}

/// Runs the measurement; `Ok(false)` when a start failed to serve or to connect the bot.
pub async fn idle(bench: IdleBench) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir().context("cannot create a temp dir")?;
    let (tg, tg_server) = simtg::start(SimTelegramConfig::new(TOKEN, "autopost_idle_bot"))
        .await
        .context("cannot start the simulated Telegram Bot API")?;
    let discord_config = SimDiscordConfig::random();
    let discord_token = discord_config.token.expose().to_owned();
    let discord_key = discord_config.public_key_hex();
    let (discord, discord_server) = simdiscord::start(discord_config)
        .await
        .context("cannot start the simulated Discord")?;
    let exe = std::env::current_exe().context("cannot find the autopost binary")?;
    let addr = free_port()?;
    let env = Env {
        data_dir: dir.path().join("data").display().to_string(),
        listen: addr.to_string(),
        public_url: format!("http://{addr}/"),
        telegram_url: tg_server.url().to_string(),
        discord_url: discord_server.url().to_string(),
        discord_token,
        discord_key,
        discord_application: discord.application_id().to_string(),
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
        "`autopost run` with both bots configured (simulated Telegram and Discord), {} starts, {} s idle each",
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
        let sessions_before = discord.ready_sessions();
        let bots = Bots {
            tg: &tg,
            polls_before,
            discord: &discord,
            sessions_before,
        };
        let Some(start) = measure(&mut child.0, addr, &bots, bench.settle).await else {
            print_line("FAIL: autopost run did not serve or the bot did not connect in time");
            return Ok(false);
        };
        print_line(&format!(
            "  serving /healthz after {:6.1} ms, Telegram polling after {:6.1} ms, Discord gateway ready after {:6.1} ms, idle RSS {:5.1} MiB (peak {:5.1} MiB)",
            start.serving.as_secs_f64() * 1e3,
            start.polling.as_secs_f64() * 1e3,
            start.discord.as_secs_f64() * 1e3,
            start.rss_kib as f64 / 1024.0,
            start.peak_kib as f64 / 1024.0,
        ));
        starts.push(start);
    }
    let worst = |f: fn(&Start) -> f64| starts.iter().map(f).fold(0.0, f64::max);
    print_line(&format!(
        "worst: serving {:.1} ms, Telegram polling {:.1} ms, Discord ready {:.1} ms (target: ready < 100 ms); idle RSS {:.1} MiB (target: < 20 MiB)",
        worst(|s| s.serving.as_secs_f64() * 1e3),
        worst(|s| s.polling.as_secs_f64() * 1e3),
        worst(|s| s.discord.as_secs_f64() * 1e3),
        worst(|s| s.rss_kib as f64 / 1024.0),
    ));
    drop(tg_server);
    drop(discord_server);
    Ok(true)
}

/// The simulated bots' platforms, and what they had seen before a start.
struct Bots<'a> {
    tg: &'a SimTelegram,
    polls_before: usize,
    discord: &'a SimDiscord,
    sessions_before: usize,
}

async fn measure(
    child: &mut Child,
    addr: SocketAddr,
    bots: &Bots<'_>,
    settle: Duration,
) -> Option<Start> {
    let started = Instant::now();
    let mut serving = None;
    let mut polling = None;
    let mut discord = None;
    while serving.is_none() || polling.is_none() || discord.is_none() {
        if started.elapsed() > START_LIMIT || matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
        if serving.is_none() && healthy(addr) {
            serving = Some(started.elapsed());
        }
        if polling.is_none() && bots.tg.requests("getUpdates") > bots.polls_before {
            polling = Some(started.elapsed());
        }
        if discord.is_none() && bots.discord.ready_sessions() > bots.sessions_before {
            discord = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    tokio::time::sleep(settle).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    Some(Start {
        serving: serving?,
        polling: polling?,
        discord: discord?,
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
    discord_url: String,
    discord_token: String,
    discord_key: String,
    discord_application: String,
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
            .env("AUTOPOST_DISCORD_TOKEN", &self.discord_token)
            .env("AUTOPOST_DISCORD_APPLICATION_ID", &self.discord_application)
            .env("AUTOPOST_DISCORD_PUBLIC_KEY", &self.discord_key)
            .env("AUTOPOST_DISCORD_API_URL", &self.discord_url)
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
