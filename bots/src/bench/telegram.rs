//! `autopost bench telegram`: the real Telegram front end, long polling, inside the app as
//! `autopost run` starts it, against the simulated Bot API on loopback. Measures sustained
//! updates/s, handling latency (update available -> reply at the Bot API) at an offered rate,
//! where the CPU goes, and peak memory; checks that every update is answered exactly once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::output::print_line;
use autopost::throttle::Allowance;
use autopost_sim::World;
use autopost_sim::telegram::{
    self as simtg, SimChat, SimTelegram, SimTelegramConfig, SimUser, UpdateReply,
};
use autopost_sim::x::SimXUser;
use tokio::sync::oneshot;

use super::{current_rss_kib, peak_rss_kib, percentile, spread_ms};

use autopost_bots::telegram::{Options, TelegramFrontEnd};

/// A made-up token: the simulated Bot API accepts only it.
const TOKEN: &str = "424242:bench-token";
const BOT_USERNAME: &str = "autopost_bench_bot";
/// Members of each group chat.
const GROUP_SIZE: usize = 5;
/// Share of the chats that are groups; the rest are private chats.
const GROUP_SHARE_PERCENT: usize = 60;
/// Quiet time between the throughput and the latency phases: for a second or two after
/// the backlog the disk is still busy with what it left behind (WAL checkpoints, writeback),
/// which showed as a few 10-40 ms replies at the start of the latency phase.
const SETTLE: Duration = Duration::from_secs(2);
/// How long to wait for the last replies of a phase before calling it failed.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Time phrases of the posts, as people write them.
const WHENS: &[&str] = &[
    "tomorrow 9am",
    "in 2 hours",
    "next friday 17:30",
    "in 3 days",
    "tomorrow at noon",
    "friday 5pm",
];
const BODIES: &[&str] = &[
    "New blog post: how we cut our build times in half",
    "Doors open at 6, see you there!",
    "Our summer sale starts now: 20% off everything",
    "Thanks to everyone who came by the stand today",
    "We are hiring a backend engineer, remote friendly",
];

/// What `autopost bench telegram` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct TelegramBench {
    /// Updates pushed at once for the throughput phase.
    pub burst: usize,
    /// Offered updates/s of the latency phase (open loop).
    pub rate: u32,
    /// Length of the latency phase.
    pub duration: Duration,
    /// Chats with a linked X account the updates are spread over.
    pub chats: usize,
}

/// What an update asks for, and so which reply it must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `/post WHEN | TEXT`, or `WHEN | TEXT` in a private chat: creates a post.
    Post,
    /// `/queue`.
    Queue,
    /// `/help` and `/start`.
    Help,
}

/// The chats and people of the bench; every chat has one linked X account.
struct Population {
    chats: Vec<SimChat>,
    users: Vec<SimUser>,
    /// For each chat, the indexes of the users who write in it.
    members: Vec<Vec<usize>>,
}

impl Population {
    /// `chats` chats: groups of `GROUP_SIZE` people, and private chats of one person each.
    fn new(chats: usize) -> Self {
        let groups = chats * GROUP_SHARE_PERCENT / 100;
        let mut population = Population {
            chats: Vec::with_capacity(chats),
            users: Vec::new(),
            members: Vec::with_capacity(chats),
        };
        for g in 0..groups {
            let chat = SimChat::supergroup(-1_000_000_000_000 - g as i64, format!("Team {g}"));
            let mut members = Vec::with_capacity(GROUP_SIZE);
            for m in 0..GROUP_SIZE {
                let id = 10_000_000 + (g * GROUP_SIZE + m) as i64;
                members.push(population.users.len());
                population
                    .users
                    .push(SimUser::new(id, format!("Member {g}-{m}")));
            }
            population.chats.push(chat);
            population.members.push(members);
        }
        for p in groups..chats {
            let user = SimUser::new(20_000_000 + p as i64, format!("Solo {p}"));
            population.chats.push(SimChat::private(&user));
            population.members.push(vec![population.users.len()]);
            population.users.push(user);
        }
        population
    }
}

/// One update to push: who writes what where.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    chat: usize,
    from: usize,
    text: String,
    kind: Kind,
}

/// SplitMix64: a deterministic stream, so that every run sends the same updates.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `count` updates numbered from `first`: 70% posts, 15% `/queue`, 15% `/help`. Chats take
/// turns in a shuffled order, so that a chat's updates are `chats` apart and, at any offered
/// rate the bot keeps up with, a reply is in before the chat's next update: replies then
/// pair with their updates exactly.
fn plan(population: &Population, first: usize, count: usize, seed: u64) -> Vec<Planned> {
    let mut stream = Stream(seed);
    let mut order: Vec<usize> = (0..population.chats.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, stream.below(i + 1));
    }
    (first..first + count)
        .map(|n| {
            let chat = order[n % order.len()];
            let members = &population.members[chat];
            let from = members[stream.below(members.len())];
            let private = population.chats[chat].id > 0;
            let roll = stream.below(100);
            let (kind, text) = if roll < 70 {
                let when = WHENS[stream.below(WHENS.len())];
                let body = BODIES[stream.below(BODIES.len())];
                let text = if private && stream.below(2) == 0 {
                    format!("{when} | {body} (#{n})")
                } else {
                    format!("/post {when} | {body} (#{n})")
                };
                (Kind::Post, text)
            } else if roll < 85 {
                (Kind::Queue, "/queue".to_owned())
            } else {
                (Kind::Help, "/help".to_owned())
            };
            Planned {
                chat,
                from,
                text,
                kind,
            }
        })
        .collect()
}

/// Every group asks `/help` once (after every person pressed Start in their private chat), as
/// before real use: creates the people and chats and their policy consent, warms the caches.
fn warm_up_plan(population: &Population) -> Vec<Planned> {
    let mut planned = Vec::new();
    for (chat, members) in population.members.iter().enumerate() {
        if population.chats[chat].id < 0 {
            planned.push(Planned {
                chat,
                from: members[0],
                text: "/help".to_owned(),
                kind: Kind::Help,
            });
        }
    }
    planned
}

/// The kind of update a reply answers, from its HTML; `None` for anything else (a refusal,
/// an error).
fn classify(html: &str) -> Option<Kind> {
    if html.contains("<b>Scheduled post </b>") {
        Some(Kind::Post)
    } else if html.contains("<b>Scheduled posts</b>") || html.starts_with("Nothing is scheduled") {
        Some(Kind::Queue)
    } else if html.contains("<b>Commands</b>") || html.contains("/help lists every command") {
        // `/help`, or the short first screen `/start` answers with.
        Some(Kind::Help)
    } else {
        None
    }
}

/// One update as pushed.
#[derive(Debug, Clone, Copy)]
struct Pushed {
    update_id: i64,
    chat_id: i64,
    kind: Kind,
    /// How late the push was against its slot in the open-loop schedule.
    lag: Duration,
}

/// Pushes `planned` from a thread of its own (not a task on the app's runtime, which it
/// would compete with): all at once, or at `rate` per second on a fixed schedule whatever
/// the bot does (open loop).
async fn push(
    sim: &SimTelegram,
    population: &Arc<Population>,
    planned: Vec<Planned>,
    rate: Option<f64>,
) -> anyhow::Result<Vec<Pushed>> {
    let (done, pushed) = oneshot::channel();
    let sim = sim.clone();
    let population = Arc::clone(population);
    std::thread::Builder::new()
        .name("tg-load".to_owned())
        .spawn(move || {
            let start = Instant::now();
            let mut out = Vec::with_capacity(planned.len());
            for (i, p) in planned.iter().enumerate() {
                let slot = rate.map(|r| start + Duration::from_secs_f64(i as f64 / r));
                if let Some(slot) = slot {
                    let now = Instant::now();
                    if now < slot {
                        std::thread::sleep(slot - now);
                    }
                }
                let chat = &population.chats[p.chat];
                let from = &population.users[p.from];
                let update_id = sim.push_group_text(chat, from, &p.text);
                out.push(Pushed {
                    update_id,
                    chat_id: chat.id,
                    kind: p.kind,
                    lag: slot.map_or(Duration::ZERO, |s| s.elapsed()),
                });
            }
            let _ = done.send(out);
        })
        .context("cannot start the load thread")?;
    pushed.await.context("the load thread died")
}

/// Waits until the bot has sent `total` messages; false after `DRAIN_LIMIT`.
async fn wait_for_replies(sim: &SimTelegram, total: usize) -> bool {
    let deadline = Instant::now() + DRAIN_LIMIT;
    while sim.sent_message_count() < total {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// The simulated Bot API on a thread and runtime of its own, as a separate server would be;
/// it still shares the machine's cores with the bot.
struct SimThread {
    sim: SimTelegram,
    url: url::Url,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimThread {
    async fn start() -> anyhow::Result<Self> {
        let (ready, started) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tg-sim".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match simtg::start(SimTelegramConfig::new(TOKEN, BOT_USERNAME)).await {
                        Ok((sim, server)) => {
                            let _ = ready.send(Ok((sim, server.url())));
                            let _ = stopped.await;
                            drop(server);
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                });
            })
            .context("cannot start the simulated Bot API thread")?;
        let (sim, url) = started
            .await
            .context("the simulated Bot API thread died")?
            .context("cannot start the simulated Bot API")?;
        Ok(Self {
            sim,
            url,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// CPU time of this process's threads, grouped by what they run (from /proc; Linux only).
#[derive(Debug, Clone, Default)]
struct CpuSample {
    /// Nanoseconds on a CPU, by group.
    running: HashMap<&'static str, u64>,
    /// Nanoseconds runnable but waiting for a CPU, all threads.
    waiting: u64,
}

/// The groups of threads, by the name the kernel keeps (15 bytes at most).
fn thread_group(name: &str) -> &'static str {
    if name.starts_with("tg-sim") {
        "simulated Bot API"
    } else if name.starts_with("tg-load") {
        "load generator"
    } else if name.starts_with("sqlx-sqlite") {
        "SQLite (sqlx worker threads)"
    } else if name.starts_with("tokio-r") {
        "bot and app (tokio workers)"
    } else {
        "other"
    }
}

fn cpu_sample() -> Option<CpuSample> {
    let mut sample = CpuSample::default();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue; // the thread just ended
        };
        let mut fields = stat
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        let (running, waiting) = (fields.next()?, fields.next()?);
        *sample.running.entry(thread_group(name.trim())).or_default() += running;
        sample.waiting += waiting;
    }
    Some(sample)
}

/// Prints CPU per update between two samples, by thread group.
fn report_cpu(before: Option<&CpuSample>, after: Option<&CpuSample>, updates: usize, wall: f64) {
    let (Some(before), Some(after)) = (before, after) else {
        print_line("  cpu: not available (no /proc/self/task/*/schedstat)");
        return;
    };
    let per = |ns: u64| ns as f64 / 1000.0 / updates.max(1) as f64;
    let mut groups: Vec<(&str, u64)> = after
        .running
        .iter()
        .map(|(g, ns)| {
            (
                *g,
                ns.saturating_sub(before.running.get(g).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, ns)| *ns > 0)
        .collect();
    groups.sort_by_key(|(_, ns)| std::cmp::Reverse(*ns));
    let total: u64 = groups.iter().map(|(_, ns)| ns).sum();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    print_line(&format!(
        "  cpu: {:.0} µs per update in all ({:.0}% of {cores} cores busy); runnable but waiting for a core: {:.0} µs per update",
        per(total),
        total as f64 / 1e9 / wall.max(1e-9) * 100.0 / cores as f64,
        per(after.waiting.saturating_sub(before.waiting)),
    ));
    for (group, ns) in groups {
        print_line(&format!("    {:>6.1} µs  {group}", per(ns)));
    }
}

/// Links one X account to every chat of `population`, owned by its first member, as if each
/// had gone through `/connect x` (seeded: a thousand round trips would also leave a thousand
/// "Linked" notices for the bot to send, which the reply checks would count).
async fn link_accounts(world: &World, population: &Population) -> anyhow::Result<()> {
    for i in 0..population.chats.len() {
        let actor = owner_in(world, population, i).await?;
        let account = SimXUser::new(format!("{}", 5_000_000 + i), format!("team{i}"));
        world.seed_x_account(&actor, &account, None).await?;
    }
    Ok(())
}

/// Posts queued in the chats of `population`, as their `/queue` counts them.
async fn queued_posts(world: &World, population: &Population) -> anyhow::Result<usize> {
    let mut queued = 0;
    for i in 0..population.chats.len() {
        let actor = owner_in(world, population, i).await?;
        queued += world.app().queue(actor.chat).await?.len();
    }
    Ok(queued)
}

/// The first member of chat `i`, who linked its account, as the core knows them.
async fn owner_in(
    world: &World,
    population: &Population,
    i: usize,
) -> anyhow::Result<autopost::domain::Actor> {
    let owner = &population.users[population.members[i][0]];
    Ok(world
        .actor(
            &format!("telegram:{}", population.chats[i].id),
            &format!("telegram:{}", owner.id),
        )
        .await?)
}

fn latencies_ms(pairs: &[&UpdateReply]) -> Vec<f64> {
    let mut ms: Vec<f64> = pairs
        .iter()
        .filter_map(|p| p.replied_at.map(|r| r.duration_since(p.queued_at)))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn spread_line(label: &str, sorted_ms: &[f64]) -> String {
    format!("{label}: {}", spread_ms(sorted_ms))
}

/// Checks that every update of a phase was answered once, with the reply its kind asks for.
/// Returns the problems found.
fn check_phase(
    name: &str,
    pushed: &[Pushed],
    pairs: &HashMap<i64, UpdateReply>,
    replies_by_chat: &HashMap<i64, HashMap<Kind, usize>>,
    asked_by_chat: &HashMap<i64, HashMap<Kind, usize>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let unanswered = pushed
        .iter()
        .filter(|p| {
            pairs
                .get(&p.update_id)
                .is_none_or(|r| r.replied_at.is_none())
        })
        .count();
    if unanswered > 0 {
        problems.push(format!("{name}: {unanswered} updates got no reply"));
    }
    if replies_by_chat != asked_by_chat {
        let wrong = asked_by_chat
            .iter()
            .filter(|(chat, kinds)| replies_by_chat.get(chat) != Some(kinds))
            .count();
        problems.push(format!(
            "{name}: in {wrong} chats the replies do not match the updates one for one (a refusal, an error, or a second answer)"
        ));
    }
    problems
}

/// Counts of (chat, kind) among `pushed`.
fn count_asked(pushed: &[Pushed]) -> HashMap<i64, HashMap<Kind, usize>> {
    let mut counts: HashMap<i64, HashMap<Kind, usize>> = HashMap::new();
    for p in pushed {
        *counts
            .entry(p.chat_id)
            .or_default()
            .entry(p.kind)
            .or_default() += 1;
    }
    counts
}

/// Pairs every reply with its update and checks that each update of the two measured
/// phases got exactly one reply, of the kind it asked for. Returns the pairs and the
/// problems found.
fn check_replies(
    sim: &SimTelegram,
    burst: &[Pushed],
    steady: &[Pushed],
) -> (HashMap<i64, UpdateReply>, Vec<String>) {
    let mut problems = Vec::new();
    let pairing = sim.update_replies();
    let pairs: HashMap<i64, UpdateReply> =
        pairing.pairs.iter().map(|p| (p.update_id, *p)).collect();
    let sent = sim.sent_messages();
    let mut replies_by_phase: [HashMap<i64, HashMap<Kind, usize>>; 2] = Default::default();
    let burst_ids: HashSet<i64> = burst.iter().map(|p| p.update_id).collect();
    let steady_ids: HashSet<i64> = steady.iter().map(|p| p.update_id).collect();
    // Which phase each reply belongs to: the n-th message to a chat goes with the chat's
    // n-th update. Within a phase two replies to one chat may cross, which the per-chat
    // counts below allow; phases do not overlap, so none is counted in the wrong one.
    let mut nth_reply: HashMap<i64, usize> = HashMap::new();
    let mut updates_by_chat: HashMap<i64, Vec<i64>> = HashMap::new();
    for p in &pairing.pairs {
        updates_by_chat
            .entry(p.chat_id)
            .or_default()
            .push(p.update_id);
    }
    let mut unclassified = 0;
    for message in &sent {
        let n = nth_reply.entry(message.chat_id).or_default();
        let update = updates_by_chat
            .get(&message.chat_id)
            .and_then(|u| u.get(*n))
            .copied();
        *n += 1;
        let Some(kind) = classify(&message.text) else {
            unclassified += 1;
            continue;
        };
        let phase = match update {
            Some(u) if burst_ids.contains(&u) => 0,
            Some(u) if steady_ids.contains(&u) => 1,
            _ => continue,
        };
        *replies_by_phase[phase]
            .entry(message.chat_id)
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }
    if unclassified > 0 {
        problems.push(format!(
            "{unclassified} replies were neither a confirmation, a queue nor help (refusals or errors)"
        ));
    }
    if pairing.unpaired_messages > 0 {
        problems.push(format!(
            "{} messages more than updates: some update was answered twice",
            pairing.unpaired_messages
        ));
    }
    problems.extend(check_phase(
        "throughput",
        burst,
        &pairs,
        &replies_by_phase[0],
        &count_asked(burst),
    ));
    problems.extend(check_phase(
        "latency",
        steady,
        &pairs,
        &replies_by_phase[1],
        &count_asked(steady),
    ));
    let refused_sends = sim.requests("sendMessage").saturating_sub(sent.len());
    if refused_sends > 0 {
        problems.push(format!(
            "the Bot API refused {refused_sends} sendMessage calls"
        ));
    }
    (pairs, problems)
}

/// Prints phase (a): updates/s from the first push to the last reply, and CPU.
fn report_throughput(
    burst: &[Pushed],
    pairs: &HashMap<i64, UpdateReply>,
    chats: usize,
    cpu: (Option<&CpuSample>, Option<&CpuSample>),
    wall: f64,
) {
    if burst.is_empty() {
        print_line("(a) throughput: skipped (--burst 0)");
        return;
    }
    let burst_pairs: Vec<&UpdateReply> = burst
        .iter()
        .filter_map(|p| pairs.get(&p.update_id))
        .collect();
    let first_push = burst_pairs.iter().map(|p| p.queued_at).min();
    let last_reply = burst_pairs.iter().filter_map(|p| p.replied_at).max();
    print_line(&format!(
        "(a) throughput, {} updates ({} posts, {} /queue, {} /help) over {} chats:",
        burst.len(),
        burst.iter().filter(|p| p.kind == Kind::Post).count(),
        burst.iter().filter(|p| p.kind == Kind::Queue).count(),
        burst.iter().filter(|p| p.kind == Kind::Help).count(),
        chats
    ));
    if let (Some(first), Some(last)) = (first_push, last_reply) {
        let elapsed = last.duration_since(first).as_secs_f64();
        print_line(&format!(
            "  {:.0} updates/s (first push to last reply: {elapsed:.2} s)   target: >= 5000/s",
            burst.len() as f64 / elapsed.max(1e-9)
        ));
    }
    report_cpu(cpu.0, cpu.1, burst.len(), wall);
}

/// Prints phase (b): latency percentiles, whether the bot kept up, and CPU.
fn report_latency(
    steady: &[Pushed],
    pairs: &HashMap<i64, UpdateReply>,
    cpu: (Option<&CpuSample>, Option<&CpuSample>),
    wall: f64,
) {
    let steady_pairs: Vec<&UpdateReply> = steady
        .iter()
        .filter_map(|p| pairs.get(&p.update_id))
        .collect();
    let latency = latencies_ms(&steady_pairs);
    let offered = match (
        steady_pairs.iter().map(|p| p.queued_at).min(),
        steady_pairs.iter().map(|p| p.queued_at).max(),
    ) {
        (Some(first), Some(last)) if last > first => {
            steady.len().saturating_sub(1) as f64 / last.duration_since(first).as_secs_f64()
        }
        _ => f64::NAN,
    };
    let mut lag_ms: Vec<f64> = steady
        .iter()
        .map(|p| p.lag.as_secs_f64() * 1000.0)
        .collect();
    lag_ms.sort_by(f64::total_cmp);
    let ambiguous = steady_pairs.iter().filter(|p| p.ambiguous).count();
    let answered = match (
        steady_pairs.iter().map(|p| p.queued_at).min(),
        steady_pairs.iter().filter_map(|p| p.replied_at).max(),
    ) {
        (Some(first), Some(last)) if last > first => {
            steady.len() as f64 / last.duration_since(first).as_secs_f64()
        }
        _ => f64::NAN,
    };
    print_line(&format!(
        "(b) latency at {:.0} updates/s offered ({} updates; update available -> reply at the Bot API):",
        offered,
        steady.len()
    ));
    print_line(&format!(
        "  {}   target: p99 < 5 ms",
        spread_line("handling", &latency)
    ));
    print_line(&format!(
        "  load generator behind schedule: p99 {:.2} ms, max {:.2} ms; replies that may pair with a neighbour: {ambiguous}",
        percentile(&lag_ms, 99.0),
        lag_ms.last().copied().unwrap_or(f64::NAN)
    ));
    if answered < offered * 0.95 {
        print_line(&format!(
            "  the bot fell behind: it answered {answered:.0}/s; the latency above is mostly time spent queued (try a lower --rate for the handling time itself)"
        ));
    }
    report_cpu(cpu.0, cpu.1, steady.len(), wall);
}

/// Runs the bench; true when every check passed (the targets are reported, not enforced).
pub async fn telegram(bench: TelegramBench) -> anyhow::Result<bool> {
    let chats = bench.chats.max(2);
    let tg = SimThread::start().await?;
    let sim = tg.sim.clone();
    // The app as `autopost run` starts it (web server, scheduler, token upkeep, the bot),
    // except for the per-person allowance: the load comes from a few thousand people at
    // many commands per second each, which the production allowance (10 at once, then one
    // every 2 s) would refuse. The throttle still runs on every command.
    let options = Options {
        allowance: Allowance {
            burst: 1_000_000,
            per_second: 1_000_000.0,
        },
        ..Options::default()
    };
    let (counter, taken) = std::sync::mpsc::channel();
    // X is on (posts need a linked account of an enabled platform) but never called: the
    // posts are due hours ahead. Telegram is the simulated Bot API on its own thread.
    let mut world = World::builder()
        .x()
        .var("AUTOPOST_TELEGRAM_TOKEN", TOKEN)
        .var("AUTOPOST_TELEGRAM_API_URL", tg.url.as_str())
        .var("AUTOPOST_LOG", "warn")
        .front_end(move |app| {
            let bot = TelegramFrontEnd::new(app, options)?;
            let _ = counter.send(bot.taken_updates());
            Some(bot)
        })
        .open()
        .await?;
    let population = Arc::new(Population::new(chats));
    print_line(&format!(
        "linking an X account to each of {} chats ({} groups of {GROUP_SIZE}, {} private; {} people)...",
        population.chats.len(),
        population.chats.iter().filter(|c| c.id < 0).count(),
        population.chats.iter().filter(|c| c.id > 0).count(),
        population.users.len()
    ));
    link_accounts(&world, &population).await?;
    // Measured are people at work, who agreed to the privacy policy long ago.
    let people: Vec<String> = population
        .users
        .iter()
        .map(|user| format!("telegram:{}", user.id))
        .collect();
    world.agree(&people).await?;
    print_line(
        "the app runs as `autopost run` starts it, but for the per-person command allowance (raised so that no command is refused)",
    );
    world.serve()?;
    let taken = taken.recv().context("the Telegram bot did not start")?;

    let mut problems = Vec::new();
    let mut total = 0;

    let warm = warm_up_plan(&population);
    print_line(&format!(
        "warm-up: {} people press Start, {} groups ask /help...",
        population.users.len(),
        warm.len()
    ));
    for user in &population.users {
        sim.push_private_text(user, "/start");
    }
    total += population.users.len();
    let warm_pushed = push(&sim, &population, warm, None).await?;
    total += warm_pushed.len();
    if !wait_for_replies(&sim, total).await {
        problems.push("warm-up: not every update was answered".to_owned());
    }

    // (a) Throughput: a backlog of `burst` updates, taken as fast as the bot takes them.
    let settled_kib = current_rss_kib();
    print_line(&format!(
        "throughput: {} updates pushed at once...",
        bench.burst
    ));
    let burst_plan = plan(&population, 0, bench.burst, 1);
    let cpu_before = cpu_sample();
    let started = Instant::now();
    let burst = push(&sim, &population, burst_plan, None).await?;
    total += burst.len();
    let burst_drained = wait_for_replies(&sim, total).await;
    let burst_wall = started.elapsed().as_secs_f64();
    let cpu_burst = cpu_sample();
    if !burst_drained {
        problems.push(format!(
            "throughput: not every update was answered within {DRAIN_LIMIT:?}"
        ));
    }

    // (b) Latency: an open-loop offered rate, whatever the bot does, once the app has
    // settled after the backlog.
    tokio::time::sleep(SETTLE).await;
    let count = (f64::from(bench.rate) * bench.duration.as_secs_f64()).round() as usize;
    print_line(&format!(
        "latency: {count} updates offered at {}/s for {:?}...",
        bench.rate, bench.duration
    ));
    let steady_plan = plan(&population, bench.burst, count, 2);
    let started = Instant::now();
    let steady = push(
        &sim,
        &population,
        steady_plan,
        Some(f64::from(bench.rate.max(1))),
    )
    .await?;
    total += steady.len();
    let steady_drained = wait_for_replies(&sim, total).await;
    let steady_wall = started.elapsed().as_secs_f64();
    let cpu_steady = cpu_sample();
    // Before the analysis below, which copies every reply.
    let peak_kib = peak_rss_kib();
    if !steady_drained {
        problems.push(format!(
            "latency: not every update was answered within {DRAIN_LIMIT:?} of the last push"
        ));
    }
    // Every update done with: a duplicate answer would have been sent by now.
    let mut done = taken.clone();
    let all = u64::try_from(total).unwrap_or(u64::MAX);
    if tokio::time::timeout(DRAIN_LIMIT, done.wait_for(|taken| *taken >= all))
        .await
        .is_err()
    {
        problems.push("the bot did not finish every update it took".to_owned());
    }

    let (pairs, found) = check_replies(&sim, &burst, &steady);
    problems.extend(found);
    let post_commands = burst
        .iter()
        .chain(&steady)
        .filter(|p| p.kind == Kind::Post)
        .count();
    let queued = queued_posts(&world, &population).await?;
    if queued != post_commands {
        problems.push(format!(
            "{queued} posts queued in the database for {post_commands} post commands"
        ));
    }

    print_line("");
    report_throughput(
        &burst,
        &pairs,
        population.chats.len(),
        (cpu_before.as_ref(), cpu_burst.as_ref()),
        burst_wall,
    );
    report_latency(
        &steady,
        &pairs,
        (cpu_burst.as_ref(), cpu_steady.as_ref()),
        steady_wall,
    );
    if let (Some(settled), Some(peak)) = (settled_kib, peak_kib) {
        print_line(&format!(
            "memory (whole process: app, bot, and the simulated Bot API, which keeps every update and reply): {:.1} MiB after the warm-up, peak {:.1} MiB",
            settled as f64 / 1024.0,
            peak as f64 / 1024.0
        ));
    }
    print_line(&format!(
        "checked: {} updates answered once each with the right reply; {post_commands} posts queued",
        burst.len() + steady.len()
    ));

    if let Err(e) = world.shutdown().await {
        problems.push(format!(
            "the app did not stop cleanly: {}",
            autopost::telemetry::chain(&e)
        ));
    }
    tg.stop();
    for problem in &problems {
        print_line(&format!("FAIL: {problem}"));
    }
    Ok(problems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_mixes_commands_and_spaces_each_chats_updates_evenly() {
        let population = Population::new(50);
        assert_eq!(population.chats.len(), 50);
        assert_eq!(population.chats.iter().filter(|c| c.id < 0).count(), 30);
        let planned = plan(&population, 0, 10_000, 7);
        let share = |kind| planned.iter().filter(|p| p.kind == kind).count() as f64 / 100.0;
        assert!((65.0..75.0).contains(&share(Kind::Post)));
        assert!((12.0..18.0).contains(&share(Kind::Queue)));
        assert!((12.0..18.0).contains(&share(Kind::Help)));
        for (i, p) in planned.iter().enumerate() {
            assert!(population.members[p.chat].contains(&p.from));
            if let Some(next) = planned.get(i + 50) {
                assert_eq!(next.chat, p.chat, "chats take turns");
            }
            assert!(
                !planned[i + 1..(i + 50).min(planned.len())]
                    .iter()
                    .any(|q| q.chat == p.chat)
            );
            if p.kind == Kind::Post {
                assert!(p.text.contains(" | "), "{}", p.text);
                if population.chats[p.chat].id < 0 {
                    assert!(p.text.starts_with("/post "), "groups need /post");
                }
            }
        }
        assert_eq!(
            plan(&population, 0, 100, 7),
            planned[..100],
            "deterministic"
        );
    }

    #[test]
    fn a_missing_or_wrong_reply_is_a_problem() {
        let now = Instant::now();
        let pushed = [
            Pushed {
                update_id: 1,
                chat_id: -5,
                kind: Kind::Post,
                lag: Duration::ZERO,
            },
            Pushed {
                update_id: 2,
                chat_id: -5,
                kind: Kind::Queue,
                lag: Duration::ZERO,
            },
        ];
        let reply = |update_id, replied: bool| UpdateReply {
            update_id,
            chat_id: -5,
            queued_at: now,
            replied_at: replied.then_some(now),
            ambiguous: false,
        };
        let asked = count_asked(&pushed);
        let all: HashMap<i64, UpdateReply> = [(1, reply(1, true)), (2, reply(2, true))].into();
        assert!(check_phase("p", &pushed, &all, &asked, &asked).is_empty());
        let one: HashMap<i64, UpdateReply> = [(1, reply(1, true)), (2, reply(2, false))].into();
        let only_post = count_asked(&pushed[..1]);
        let problems = check_phase("p", &pushed, &one, &only_post, &asked);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut wrong_kind = count_asked(&pushed[..1]);
        *wrong_kind
            .entry(-5)
            .or_default()
            .entry(Kind::Post)
            .or_default() += 1;
        assert_eq!(
            check_phase("p", &pushed, &all, &wrong_kind, &asked).len(),
            1
        );
    }

    #[test]
    fn replies_are_told_apart_by_what_they_answer() {
        assert_eq!(
            classify("<b>Scheduled post </b><code>#12</code>\nGoes out"),
            Some(Kind::Post)
        );
        assert_eq!(
            classify("<b>Scheduled posts</b> (times in UTC)"),
            Some(Kind::Queue)
        );
        assert_eq!(
            classify("Nothing is scheduled in this chat; add a post"),
            Some(Kind::Queue)
        );
        assert_eq!(classify("<b>Commands</b>\n/post"), Some(Kind::Help));
        assert_eq!(
            classify("<b>Hi!</b>\n/help lists every command. Privacy policy"),
            Some(Kind::Help)
        );
        assert_eq!(classify("⚠️ you are sending commands faster"), None);
    }
}
