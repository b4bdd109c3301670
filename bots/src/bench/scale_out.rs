//! `autopost bench scale-out`: real `autopost run` processes (this executable) on SQLite and
//! on PostgreSQL against a simulated X answering in 20 ms with rate limits off: 10,000 posts on
//! 1,000 accounts due evenly over a minute, on one instance on SQLite, one on PostgreSQL,
//! three on PostgreSQL, and three on PostgreSQL with one SIGKILLed (and restarted) every ~15 s;
//! then a burst of 10,000 due in the same instant on each. Reports exactly-once, lateness (due
//! time to the request reaching X), throughput, the time from each kill until the killed
//! instance's `publishing` targets were resolved, and how long the burst took to drain.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::domain::TargetState;
use autopost::output::print_line;
use autopost::store::Store;
use autopost_sim::bench::percentile;
use autopost_sim::fleet::{self, Chaos, Fleet, Node, Plan, Probe, Recovery};
use autopost_sim::x::{self as simx, SimX, SimXConfig};
use chrono::Utc;
use tokio::task::JoinHandle;

/// SPEC §10's bounds.
const LATENESS_P99_TARGET_MS: f64 = 100.0;
const DRAIN_TARGET: Duration = Duration::from_secs(5);
const RECOVERY_TARGET: Duration = Duration::from_secs(5);
/// Added latency of every simulated X answer.
const X_LATENCY: Duration = Duration::from_millis(20);

/// What `autopost bench scale-out` is asked to do.
#[derive(Debug, Clone)]
pub struct ScaleOutBench {
    /// Everything scaled down (1,000 posts over 10 s): a smoke test.
    pub quick: bool,
    /// A PostgreSQL database to use instead of a throw-away server.
    pub database_url: Option<String>,
}

/// The sizes of one bench.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    posts: usize,
    accounts: usize,
    spread: Duration,
    kill_every: Duration,
    burst: usize,
}

impl Sizes {
    fn of(quick: bool) -> Self {
        if quick {
            Self {
                posts: 1_000,
                accounts: 100,
                spread: Duration::from_secs(10),
                kill_every: Duration::from_secs(4),
                burst: 1_000,
            }
        } else {
            Self {
                posts: 10_000,
                accounts: 1_000,
                spread: Duration::from_secs(60),
                kill_every: Duration::from_secs(15),
                burst: 10_000,
            }
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    name: &'static str,
    postgres: bool,
    instances: usize,
    kills: bool,
    burst: bool,
}

const RUNS: &[Run] = &[
    Run {
        name: "spread  1 x SQLite",
        postgres: false,
        instances: 1,
        kills: false,
        burst: false,
    },
    Run {
        name: "spread  1 x PostgreSQL",
        postgres: true,
        instances: 1,
        kills: false,
        burst: false,
    },
    Run {
        name: "spread  3 x PostgreSQL",
        postgres: true,
        instances: 3,
        kills: false,
        burst: false,
    },
    Run {
        name: "spread  3 x PG, kills",
        postgres: true,
        instances: 3,
        kills: true,
        burst: false,
    },
    Run {
        name: "burst   1 x SQLite",
        postgres: false,
        instances: 1,
        kills: false,
        burst: true,
    },
    Run {
        name: "burst   1 x PostgreSQL",
        postgres: true,
        instances: 1,
        kills: false,
        burst: true,
    },
    Run {
        name: "burst   3 x PostgreSQL",
        postgres: true,
        instances: 3,
        kills: false,
        burst: true,
    },
];

/// What one run measured.
#[derive(Debug)]
struct Measured {
    run: Run,
    posts: usize,
    published: usize,
    duplicates: usize,
    missing: usize,
    resent: usize,
    /// Targets the database has `published`.
    recorded: u64,
    /// Lateness in ms of the posts not left behind by a killed instance, sorted.
    lateness: Vec<f64>,
    /// The same for the killed instances' targets.
    killed_lateness: Vec<f64>,
    /// Posts per second from the first due time to the last post at X.
    throughput: f64,
    /// From the (single) due time to the last post at X, for a burst.
    drain: Option<Duration>,
    recoveries: Vec<Recovery>,
    most_per_account: usize,
    /// How late the instances were ready for the first due post (setup overran).
    late_start: Option<Duration>,
}

impl Measured {
    fn exactly_once(&self) -> bool {
        self.duplicates == 0
            && self.missing == 0
            && self.published == self.posts
            && self.recorded == self.posts as u64
    }
}

/// Runs every measurement; `Ok(false)` when a post was lost or doubled, or a killed
/// instance's targets were not resolved in time.
pub async fn scale_out(bench: ScaleOutBench) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("cannot find the autopost binary")?;
    let sizes = Sizes::of(bench.quick);
    let cluster = match &bench.database_url {
        Some(_) => None,
        None => autopost::test_cluster::cluster(),
    };
    let postgres = bench.database_url.is_some() || cluster.is_some();
    if !postgres {
        print_line(
            "PostgreSQL is not installed and no --database-url was given: only the SQLite runs",
        );
    }
    print_line(&format!(
        "{} posts on {} accounts due over {:?}, burst of {}; X answers in {X_LATENCY:?}, rate limits off",
        sizes.posts, sizes.accounts, sizes.spread, sizes.burst
    ));
    let mut measured = Vec::new();
    for (n, run) in RUNS.iter().enumerate() {
        if run.postgres && !postgres {
            continue;
        }
        let url = match (&bench.database_url, cluster) {
            (_, _) if !run.postgres => None,
            (Some(url), _) => Some(url.clone()),
            (None, Some(cluster)) => Some(cluster.fresh_database().await),
            (None, None) => None,
        };
        print_line(&format!("{}...", run.name));
        let result = measure(&exe, *run, sizes, url, n).await?;
        report_run(&result);
        measured.push(result);
    }
    print_table(&measured);
    Ok(measured.iter().all(|m| {
        m.exactly_once()
            && m.recoveries
                .iter()
                .all(|r| r.resolved_after.is_some_and(|a| a <= RECOVERY_TARGET))
    }))
}

/// The database as the bench reads it: the store for SQLite, the owners' view for PostgreSQL.
enum Reader {
    Sqlite(Store),
    Postgres(Probe),
}

impl Reader {
    /// Targets of the plan in a final state, and of those, published.
    async fn settled(&self, plan: &Plan) -> anyhow::Result<(u64, u64)> {
        match self {
            Reader::Sqlite(store) => {
                let mut settled = 0;
                for state in [
                    TargetState::Published,
                    TargetState::Failed,
                    TargetState::Unknown,
                ] {
                    settled += store.count_targets(state).await?;
                }
                Ok((settled, store.count_targets(TargetState::Published).await?))
            }
            Reader::Postgres(probe) => {
                let states = probe.states(&plan.prefix).await?;
                let count =
                    |s: &str| u64::try_from(states.get(s).copied().unwrap_or(0)).unwrap_or(0);
                Ok((
                    count("published") + count("failed") + count("unknown"),
                    count("published"),
                ))
            }
        }
    }
}

async fn measure(
    exe: &std::path::Path,
    run: Run,
    sizes: Sizes,
    url: Option<String>,
    n: usize,
) -> anyhow::Result<Measured> {
    let mut x_config = SimXConfig::public(autopost_sim::world::X_CLIENT_ID);
    x_config.enforce_rate_limits = false;
    let (x, x_server) = simx::start(x_config)
        .await
        .context("cannot start the simulated X")?;
    x.set_latency(X_LATENCY);
    let fleet = Fleet::new(exe, url.clone(), &x_server.url(), "warn")?;
    let store = fleet.store().await?;
    // Distinct X users per run: a --database-url is shared by the runs.
    let first_id = 1_000_000 * (n as u64 + 1);
    let accounts = fleet::seed_accounts(&store, &x, sizes.accounts, first_id).await?;
    let prefix = format!("scale-out run {n} post");
    // Room to queue the posts and start the instances before the first is due.
    let head_start = Duration::from_secs(2) + Duration::from_millis(sizes.posts as u64 / 4);
    let start = Utc::now() + chrono::Duration::from_std(head_start)?;
    let plan = if run.burst {
        Plan::even(&prefix, sizes.burst, start, Duration::ZERO)
    } else {
        Plan::even(&prefix, sizes.posts, start, sizes.spread)
    };
    plan.queue(&store, &accounts).await?;
    let reader = match &url {
        Some(url) => Reader::Postgres(Probe::connect(url).await?),
        None => Reader::Sqlite(store.clone()),
    };
    let mut nodes = Vec::new();
    for slot in 0..run.instances {
        nodes.push(fleet.start(slot).await?);
    }
    let late_start = (Utc::now() - start).to_std().ok();
    let posts = plan.due.len();
    let spread = if run.burst {
        Duration::ZERO
    } else {
        sizes.spread
    };

    let mut watches = Vec::new();
    if let (true, Reader::Postgres(probe)) = (run.kills, &reader) {
        let mut chaos = Chaos::new(Chaos::seed());
        let began = Instant::now() + (start - Utc::now()).to_std().unwrap_or_default();
        let mut at = sizes.kill_every;
        while at < spread {
            // Around every `kill_every`, not on a beat.
            let jitter = chaos.between(Duration::ZERO, sizes.kill_every / 4);
            let when = began + at - sizes.kill_every / 8 + jitter;
            tokio::time::sleep(when.saturating_duration_since(Instant::now())).await;
            let slot = chaos.below(nodes.len());
            watches.push(kill_and_restart(&fleet, probe, &mut nodes, slot).await?);
            at += sizes.kill_every;
        }
    }

    let deadline = Instant::now()
        + (start - Utc::now()).to_std().unwrap_or_default()
        + spread
        + Duration::from_secs(120);
    wait_for_all(&x, posts, deadline).await;
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    let mut recorded = 0;
    while Instant::now() < settle_deadline {
        let (settled, published) = reader.settled(&plan).await?;
        recorded = published;
        if settled >= posts as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in &mut nodes {
        if let Err(e) = node.stop(Duration::from_secs(30)).await {
            print_line(&format!(
                "warning: instance {} did not stop: {e}",
                node.slot()
            ));
        }
    }
    let mut recoveries = Vec::new();
    for watch in watches {
        recoveries.push(watch.await.context("a recovery watch failed")??);
    }
    if let Reader::Postgres(probe) = &reader {
        probe.close().await;
    }
    store.close().await;

    let tally = fleet::tally(&x, &plan);
    let killed: HashSet<usize> = recoveries
        .iter()
        .flat_map(|r| fleet::indexes_of(&plan, &r.abandoned))
        .collect();
    let mut lateness = Vec::new();
    let mut killed_lateness = Vec::new();
    for (i, late) in tally.lateness_ms.iter().enumerate() {
        if let Some(late) = late {
            if killed.contains(&i) {
                killed_lateness.push(*late);
            } else {
                lateness.push(*late);
            }
        }
    }
    lateness.sort_by(f64::total_cmp);
    killed_lateness.sort_by(f64::total_cmp);
    let active = tally
        .last_arrival
        .map(|last| (last - start).to_std().unwrap_or_default());
    let throughput = active.map_or(0.0, |a| tally.published as f64 / a.as_secs_f64().max(0.001));
    Ok(Measured {
        run,
        posts,
        published: tally.published,
        duplicates: tally.duplicates,
        missing: tally.missing.len(),
        resent: tally.resent,
        recorded,
        lateness,
        killed_lateness,
        throughput,
        drain: if run.burst { active } else { None },
        recoveries,
        most_per_account: x.max_concurrent_per_account().map_or(0, |(_, most)| most),
        late_start,
    })
}

/// Waits until X has `posts` posts or the deadline passes (the tally then shows what is
/// missing).
async fn wait_for_all(x: &SimX, posts: usize, deadline: Instant) {
    while x.tweet_count() < posts && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILLs instance `slot` and restarts it; returns the watch on its abandoned targets.
async fn kill_and_restart(
    fleet: &Fleet,
    probe: &Probe,
    nodes: &mut [Node],
    slot: usize,
) -> anyhow::Result<JoinHandle<Result<Recovery, fleet::FleetError>>> {
    let id = probe
        .instance_of(nodes[slot].pid())
        .await?
        .with_context(|| format!("instance {slot} is not in the instances table"))?;
    nodes[slot].kill()?;
    let killed_at = Instant::now();
    // Read before any survivor can notice the death (heartbeats are a second apart).
    let abandoned = probe.publishing_of(&id).await?;
    let watch = {
        let probe = probe.clone();
        tokio::spawn(async move {
            fleet::await_resolution(&probe, id, abandoned, killed_at, Duration::from_secs(30)).await
        })
    };
    nodes[slot] = fleet.start(slot).await?;
    Ok(watch)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report_run(m: &Measured) {
    if let Some(late) = m.late_start {
        print_line(&format!(
            "  warning: the instances were ready {:.0} ms after the first post was due",
            ms(late)
        ));
    }
    print_line(&format!(
        "  published at X {} of {} (database: {}), duplicates {}, missing {}, sent again after a check {}; most requests in flight for one account: {}",
        m.published, m.posts, m.recorded, m.duplicates, m.missing, m.resent, m.most_per_account
    ));
    for r in &m.recoveries {
        match r.resolved_after {
            Some(after) => print_line(&format!(
                "  kill: {} targets left publishing, resolved {:.0} ms after the kill",
                r.abandoned.len(),
                ms(after)
            )),
            None => print_line(&format!(
                "  kill: {} targets left publishing, {} still unresolved after 30 s",
                r.abandoned.len(),
                r.unresolved.len()
            )),
        }
    }
    if !m.killed_lateness.is_empty() {
        print_line(&format!(
            "  the killed instances' {} targets: lateness p50 {:.0} ms, max {:.0} ms",
            m.killed_lateness.len(),
            percentile(&m.killed_lateness, 50.0),
            percentile(&m.killed_lateness, 100.0)
        ));
    }
}

fn print_table(measured: &[Measured]) {
    print_line("");
    print_line(&format!(
        "{:<24} {:>7} {:>5} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "run",
        "posts",
        "dup",
        "missing",
        "p50 ms",
        "p99 ms",
        "max ms",
        "posts/s",
        "drain",
        "recovery max"
    ));
    for m in measured {
        let drain = m
            .drain
            .map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        let recovery = if m.recoveries.is_empty() {
            "-".to_owned()
        } else if m.recoveries.iter().any(|r| r.resolved_after.is_none()) {
            "never".to_owned()
        } else {
            let worst = m
                .recoveries
                .iter()
                .filter_map(|r| r.resolved_after)
                .max()
                .unwrap_or_default();
            format!("{:.2} s", worst.as_secs_f64())
        };
        print_line(&format!(
            "{:<24} {:>7} {:>5} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.0} {:>10} {:>12}",
            m.run.name,
            m.posts,
            m.duplicates,
            m.missing,
            percentile(&m.lateness, 50.0),
            percentile(&m.lateness, 99.0),
            percentile(&m.lateness, 100.0),
            m.throughput,
            drain,
            recovery,
        ));
    }
    print_line(&format!(
        "targets: p99 lateness < {LATENESS_P99_TARGET_MS:.0} ms (spread runs, killed instances' targets excluded), burst drained < {:.0} s, recovery < {:.0} s; lateness is due time to the request reaching X",
        DRAIN_TARGET.as_secs_f64(),
        RECOVERY_TARGET.as_secs_f64()
    ));
}
