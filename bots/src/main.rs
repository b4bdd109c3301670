//! The `autopost` binary: the command line and the wiring of the core. The only place that
//! uses anyhow; every error ends as one line on stderr and a non-zero exit.

mod bench;
mod demo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use autopost::app::{self, App};
use autopost::config::{self, Config};
use autopost::doctor::{self, Status};
use autopost::front_end::FrontEnd;
use autopost::operator::{self, PersonRef};
use autopost::output::{self, print_line};
use autopost::{telemetry, timeparse};
use autopost_bots::{discord, telegram};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Parser, Subcommand};

/// Schedule and publish social-media posts from Telegram and Discord.
#[derive(Debug, Parser)]
#[command(name = "autopost", version, about, propagate_version = true)]
struct Cli {
    /// Configuration file (default: ./autopost.toml if present). AUTOPOST_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (health, OAuth callbacks) until Ctrl-C or SIGTERM.
    Run,
    /// Create or upgrade the database, then exit.
    Migrate,
    /// Print the UTC instant a time phrase means, as RFC 3339 (exit 1 if it is refused).
    #[command(name = "parse-time")]
    ParseTime {
        /// The moment the phrase is said (RFC 3339); default: now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// The IANA time zone of the speaker.
        #[arg(long, value_name = "IANA", default_value = "UTC")]
        tz: String,
        /// The phrase, e.g. `tomorrow 9am` (several words may be given without quotes).
        #[arg(required = true, value_name = "PHRASE")]
        phrase: Vec<String>,
    },
    /// Re-encrypt every stored secret under a new master key, in one transaction.
    #[command(name = "rotate-key")]
    RotateKey,
    /// Check configuration, master key and database; say what to fix.
    Doctor,
    /// Measure the scheduler, the store and the Telegram bot (temporary data, simulated platforms, no network).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Show autopost at work in about 10 seconds: simulated X, Meta and Telegram on this
    /// machine, no configuration, no network; prints a timeline.
    Demo,
    /// Discord: register the slash commands.
    Discord {
        #[command(subcommand)]
        what: DiscordCommand,
    },
    /// Print a one-time link (valid 10 minutes) that links X or Meta accounts to a chat.
    Connect {
        /// The platform: x, meta, facebook or instagram (the last two link through Meta).
        #[arg(value_name = "PLATFORM")]
        provider: String,
        /// The chat the accounts will post for, as PLATFORM:ID (e.g. telegram:-1001234567).
        #[arg(long, value_name = "PLATFORM:ID")]
        chat: String,
        /// The person linking, as PLATFORM:ID (e.g. telegram:42).
        #[arg(long, value_name = "PLATFORM:ID")]
        user: String,
    },
    /// Write one person's data (every row about them, no secrets) on their request: JSON, or
    /// with --images a zip holding export.json and their post images.
    Export {
        /// The person, as PLATFORM:ID (e.g. telegram:42).
        #[arg(long, value_name = "PLATFORM:ID")]
        user: String,
        /// Write to this file (created owner-only) instead of standard output.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// A zip with their images too.
        #[arg(long)]
        images: bool,
    },
    /// Erase one person on their request, as /deleteme does: their tokens revoked at the
    /// platforms, then everything of theirs erased at once. Asks nothing.
    Erase {
        /// The person, as PLATFORM:ID (e.g. telegram:42).
        #[arg(long, value_name = "PLATFORM:ID")]
        user: String,
    },
    /// Print the security log, one event per line: time, kind, person, account, detail.
    Audit {
        /// Only this person's events, as PLATFORM:ID.
        #[arg(long, value_name = "PLATFORM:ID")]
        user: Option<String>,
        /// Only events at or after this instant (RFC 3339) or day (2026-12-01, UTC).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DiscordCommand {
    /// Overwrite the registered slash commands with this build's, in one call, and print them.
    Register {
        /// Register in this server only (applies at once) instead of globally.
        #[arg(long, value_name = "ID")]
        guild: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Posts due over a spread against a simulated X with added latency: exactly-once,
    /// lateness, throughput, peak memory.
    Scheduler {
        /// Posts, one target each.
        #[arg(long, default_value_t = 10_000)]
        posts: usize,
        /// Accounts the posts are spread over.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Latency the simulated X adds to every answer, in milliseconds.
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        /// Due times are spread evenly over this many seconds.
        #[arg(long, default_value_t = 60)]
        spread_secs: u64,
    },
    /// Time to claim due work with this many posts queued (comma-separated sizes).
    Claim {
        /// Queue sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        queued: Vec<usize>,
    },
    /// `autopost run` with the Telegram bot configured against a simulated Bot API: time
    /// until it serves and polls, resident memory once idle.
    Idle {
        /// Starts measured.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Seconds each start idles before its memory is read.
        #[arg(long, default_value_t = 3)]
        settle_secs: u64,
    },
    /// The real Telegram bot (long polling) against a simulated Bot API: updates/s, handling
    /// latency at an offered rate, CPU per update, peak memory; every update answered once.
    Telegram {
        /// Updates pushed at once for the throughput measurement.
        #[arg(long, default_value_t = 20_000)]
        burst: usize,
        /// Offered updates per second for the latency measurement.
        #[arg(long, default_value_t = 5_000)]
        rate: u32,
        /// Length of the latency measurement, in seconds.
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Chats (each with a linked X account) the updates are spread over.
        #[arg(long, default_value_t = 1_000)]
        chats: usize,
    },
    /// Signed interactions through the real /discord/interactions endpoint against a
    /// simulated Discord: interactions/s, time to the interaction response at an offered
    /// rate, memory; every interaction answered rightly.
    Discord {
        /// Interactions sent as fast as they are answered (64 in flight).
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Offered interactions per second for the latency measurement.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        /// Length of the latency measurement, in seconds.
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Servers (one channel each, with a linked X account).
        #[arg(long, default_value_t = 100)]
        servers: usize,
    },
    /// Real `autopost run` processes on SQLite and on PostgreSQL (1 and 3 instances, and 3
    /// with kills) against a simulated X: exactly-once, lateness, recovery after each kill,
    /// throughput, and a burst due in the same instant.
    ScaleOut {
        /// Everything scaled down (1,000 posts over 10 s): a smoke test.
        #[arg(long)]
        quick: bool,
        /// A PostgreSQL database to use instead of a throw-away server started for the bench.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("autopost: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::ParseTime { now, tz, phrase } = &cli.command {
        // Pure: needs neither configuration nor a runtime.
        return parse_time(now.as_deref(), tz, &phrase.join(" ")).map(|()| ExitCode::SUCCESS);
    }
    if let Command::Bench { what } = &cli.command {
        // Self-contained: a temp dir and a simulated X; no configuration is read.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let met = runtime.block_on(async {
            match what {
                Bench::Scheduler {
                    posts,
                    accounts,
                    latency_ms,
                    spread_secs,
                } => Ok(bench::scheduler(bench::SchedulerBench {
                    posts: *posts,
                    accounts: (*accounts).max(1),
                    latency: std::time::Duration::from_millis(*latency_ms),
                    spread: std::time::Duration::from_secs(*spread_secs),
                })
                .await?),
                Bench::Claim { queued } => {
                    bench::claim(queued).await?;
                    Ok(true)
                }
                Bench::Idle { runs, settle_secs } => {
                    bench::idle(bench::IdleBench {
                        runs: *runs,
                        settle: std::time::Duration::from_secs(*settle_secs),
                    })
                    .await
                }
                Bench::Discord {
                    count,
                    rate,
                    secs,
                    servers,
                } => {
                    bench::discord(bench::DiscordBench {
                        count: *count,
                        rate: *rate,
                        duration: std::time::Duration::from_secs(*secs),
                        servers: *servers,
                    })
                    .await
                }
                Bench::ScaleOut {
                    quick,
                    database_url,
                } => {
                    bench::scale_out(bench::ScaleOutBench {
                        quick: *quick,
                        database_url: database_url.clone(),
                    })
                    .await
                }
                Bench::Telegram {
                    burst,
                    rate,
                    secs,
                    chats,
                } => {
                    bench::telegram(bench::TelegramBench {
                        burst: *burst,
                        rate: *rate,
                        duration: std::time::Duration::from_secs(*secs),
                        chats: *chats,
                    })
                    .await
                }
            }
        });
        // A bench that missed what it checks (lost or doubled posts, failed answers) fails.
        return Ok(if met? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if let Command::Demo = &cli.command {
        // Self-contained: reads no configuration file and no AUTOPOST_* variable.
        return demo::run().map(|()| ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let config = config::load(cli.config.as_deref(), config::process_env)
        .context("invalid configuration")?;
    telemetry::init(&config.log_filter, config.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run => serve(config, started).await,
            Command::Migrate => migrate(config).await,
            Command::RotateKey => rotate_key(config).await,
            Command::Doctor => {
                Ok(doctor(&config, config::file_in_use(cli.config.as_deref())).await)
            }
            Command::Connect {
                provider,
                chat,
                user,
            } => connect(config, &provider, &chat, &user).await,
            Command::Discord {
                what: DiscordCommand::Register { guild },
            } => discord_register(&config, guild).await,
            Command::Export { user, out, images } => {
                export(config, &user, out.as_deref(), images).await
            }
            Command::Erase { user } => erase(config, &user).await,
            Command::Audit { user, since } => {
                audit(config, user.as_deref(), since.as_deref()).await
            }
            Command::ParseTime { .. } | Command::Bench { .. } | Command::Demo => {
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

fn parse_time(now: Option<&str>, tz: &str, phrase: &str) -> anyhow::Result<()> {
    let now: DateTime<Utc> = match now {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| {
                format!("--now `{text}` is not an RFC 3339 instant such as 2026-03-28T20:00:00Z")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let zone: chrono_tz::Tz = tz.parse().map_err(|_| {
        anyhow::anyhow!("--tz `{tz}` is not an IANA time zone such as Europe/Berlin")
    })?;
    let at = match timeparse::parse(phrase, now, zone)? {
        timeparse::When::Once(at) => at,
        timeparse::When::Recurring(rule) => rule
            .next_after(now)
            .with_context(|| format!("`{phrase}` never occurs"))?,
    };
    print_line(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    Ok(())
}

async fn serve(config: Config, started: Instant) -> anyhow::Result<ExitCode> {
    let app = App::open(config).await.context("cannot start")?;
    let listener = app.bind().await?;
    // Listening for the signals before saying "ready": a SIGTERM right after that line must
    // drain and exit 0, not find the default action still in place.
    let shutdown = shutdown_signal().context("cannot listen for SIGTERM and Ctrl-C")?;
    let listen = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    tracing::info!(
        listen = %listen,
        ready_ms = started.elapsed().as_millis() as u64,
        "autopost is ready"
    );
    let app = Arc::new(app);
    let front_ends = front_ends(&app)?;
    app.serve(listener, shutdown, front_ends).await?;
    Ok(ExitCode::SUCCESS)
}

/// Every configured chat front end, with production timings and the configured allowance.
fn front_ends(app: &Arc<App>) -> anyhow::Result<Vec<Box<dyn FrontEnd>>> {
    let mut front_ends: Vec<Box<dyn FrontEnd>> = Vec::new();
    let allowance = app.config().command_allowance;
    let options = telegram::Options {
        allowance,
        ..telegram::Options::default()
    };
    if let Some(telegram) = telegram::TelegramFrontEnd::new(app.clone(), options) {
        front_ends.push(Box::new(telegram));
    }
    let options = discord::Options {
        allowance,
        ..discord::Options::default()
    };
    if let Some(discord) = discord::DiscordFrontEnd::new(app.clone(), options)
        .context("cannot start the Discord front end")?
    {
        front_ends.push(Box::new(discord));
    }
    Ok(front_ends)
}

async fn discord_register(config: &Config, guild: Option<u64>) -> anyhow::Result<ExitCode> {
    let discord = config.discord.as_ref().context(
        "Discord is not configured: set AUTOPOST_DISCORD_TOKEN and AUTOPOST_DISCORD_APPLICATION_ID",
    )?;
    let registered = discord::register(discord, guild).await.context(
        "cannot register the Discord commands (needs AUTOPOST_DISCORD_TOKEN and AUTOPOST_DISCORD_APPLICATION_ID)",
    )?;
    let scope = guild.map_or_else(|| "globally".to_owned(), |g| format!("in server {g}"));
    print_line(&format!(
        "Registered {} commands {scope}:",
        registered.len()
    ));
    for command in registered {
        print_line(&format!("  /{} — {}", command.name, command.description));
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    let url = autopost::store::redacted_url(&config.database_url);
    // In the shared mode there is no data dir to guard (no key file, no images), and joining
    // as an instance would leave a lease behind for the running ones to take over.
    let app = if config.shared() {
        App::open_alongside(config).await
    } else {
        App::open(config).await
    };
    let app = app.context("cannot migrate")?;
    app.close().await;
    print_line(&format!("database {url} is up to date"));
    Ok(ExitCode::SUCCESS)
}

async fn connect(
    config: Config,
    provider: &str,
    chat: &str,
    user: &str,
) -> anyhow::Result<ExitCode> {
    let app = App::open_alongside(config).await.context("cannot start")?;
    let link = app.connect_link(provider, chat, user, Utc::now()).await;
    app.close().await;
    let link = link.context("cannot make a connect link")?;
    // The link is a one-time capability for this user and chat; it is printed, never logged.
    print_line(link.as_str());
    Ok(ExitCode::SUCCESS)
}

/// `--user`, read before anything is opened: a malformed one changes nothing.
fn person(user: &str) -> anyhow::Result<PersonRef> {
    Ok(user.parse::<PersonRef>()?)
}

async fn export(
    config: Config,
    user: &str,
    out: Option<&Path>,
    images: bool,
) -> anyhow::Result<ExitCode> {
    let person = person(user)?;
    if images && out.is_none() && output::is_terminal() {
        anyhow::bail!(
            "--images writes a zip: give --out PATH, or redirect standard output to a file"
        );
    }
    let app = App::open_alongside(config).await.context("cannot start")?;
    let written = export_to(&app, &person, out, images).await;
    app.close().await;
    written.with_context(|| format!("cannot export {person}"))?;
    if let Some(out) = out {
        print_line(&format!("Wrote the data of {person} to {}.", out.display()));
    }
    Ok(ExitCode::SUCCESS)
}

async fn export_to(
    app: &App,
    person: &PersonRef,
    out: Option<&Path>,
    images: bool,
) -> anyhow::Result<()> {
    let now = Utc::now();
    match (out, images) {
        (None, false) => {
            let json = app.operator_export_json(person, now).await?;
            output::write_bytes(&json).context("cannot write to standard output")?;
        }
        (None, true) => {
            let zip = app
                .operator_export_archive(person, std::io::Cursor::new(Vec::new()), now)
                .await?;
            output::write_bytes(zip.get_ref()).context("cannot write to standard output")?;
        }
        (Some(path), images) => {
            // Written beside the target and renamed into place: a failed export leaves no
            // half file, and the person's data is readable by the operator alone.
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = owner_only(&partial)?;
            let done = if images {
                app.operator_export_archive(person, file, now)
                    .await
                    .map(drop)
                    .map_err(anyhow::Error::from)
            } else {
                match app.operator_export_json(person, now).await {
                    Ok(json) => {
                        let mut file = file;
                        std::io::Write::write_all(&mut file, &json)
                            .and_then(|()| file.sync_all())
                            .with_context(|| format!("cannot write {}", partial.display()))
                    }
                    Err(e) => Err(e.into()),
                }
            };
            if let Err(e) = done.and_then(|()| {
                std::fs::rename(&partial, path)
                    .with_context(|| format!("cannot move the export to {}", path.display()))
            }) {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A new file only its owner can read.
fn owner_only(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

async fn erase(config: Config, user: &str) -> anyhow::Result<ExitCode> {
    let person = person(user)?;
    let app = App::open_alongside(config).await.context("cannot start")?;
    let erased = app.operator_erase(&person, Utc::now()).await;
    app.close().await;
    let erasure = erased.with_context(|| format!("cannot erase {person}"))?;
    print_line(&format!(
        "Erased {person}: {} grant(s) revoked at the platforms, {} already revoked, {} kept sealed \
         to revoke when the platform answers (retried by `autopost run`), {} image file(s) removed.",
        erasure.revoked, erasure.already_revoked, erasure.retrying, erasure.files_removed
    ));
    Ok(ExitCode::SUCCESS)
}

async fn audit(
    config: Config,
    user: Option<&str>,
    since: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let person = user.map(person).transpose()?;
    let since = since.map(operator::parse_since).transpose()?;
    let app = App::open_alongside(config).await.context("cannot start")?;
    let events = app.security_log(person.as_ref(), since).await;
    app.close().await;
    for event in events.context("cannot read the security log")? {
        print_line(&operator::log_line(&event));
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_key(config: Config) -> anyhow::Result<ExitCode> {
    let rotation = app::rotate_key(&config, Utc::now())
        .await
        .context("cannot rotate the master key")?;
    print_line(&format!(
        "Re-encrypted {} stored secret(s): key {} replaced key {}.",
        rotation.secrets, rotation.new_key, rotation.old_key
    ));
    match &rotation.retired_key_file {
        Some(retired) => {
            print_line(&format!(
                "The new key is in {}; back it up now.",
                rotation.new_key_file.display()
            ));
            print_line(&format!(
                "The old key was moved to {}. It opens only backups made before now: once you no longer need those, delete it (shred -u {}).",
                retired.display(),
                retired.display()
            ));
        }
        None => {
            print_line(&format!(
                "AUTOPOST_MASTER_KEY still holds the old key, which no longer opens the database. Set it to the contents of {} before the next start, then delete that file.",
                rotation.new_key_file.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn doctor(config: &Config, config_file: Option<&Path>) -> ExitCode {
    let mut checks = doctor::examine(config, config_file).await;
    checks.extend(discord_commands_check(config).await);
    for check in &checks {
        print_line(&check.line());
    }
    if checks.iter().any(|c| c.status == Status::Fail) {
        print_line("autopost is not ready: fix the FAIL lines above.");
        ExitCode::FAILURE
    } else {
        print_line("autopost is ready to run.");
        ExitCode::SUCCESS
    }
}

/// Whether the registered Discord commands are this build's (when the bot token and the
/// application id allow asking).
async fn discord_commands_check(config: &Config) -> Option<doctor::Check> {
    let discord = config.discord.as_ref()?;
    if discord.token.is_none() || discord.application_id.is_none() {
        return None;
    }
    let (status, message) = match discord::registered_matches(discord, None).await {
        Ok(true) => (Status::Ok, "the registered slash commands are this build's".to_owned()),
        Ok(false) => (
            Status::Warn,
            "the registered slash commands differ from this build's; run `autopost discord register`".to_owned(),
        ),
        Err(e) => (
            Status::Warn,
            format!(
                "cannot read the registered slash commands: {}",
                autopost::telemetry::chain(&e)
            ),
        ),
    };
    Some(doctor::Check {
        status,
        subject: "discord commands",
        message,
    })
}

/// Listens for Ctrl-C and SIGTERM from now on; the future resolves on either, so that
/// in-flight work drains before exit.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("Ctrl-C: shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}

/// Listens for Ctrl-C from now on; the future resolves on it.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Ctrl-C: shutting down"),
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    })
}
