//! `autopost bench discord`: signed interactions through the real `/discord/interactions`
//! endpoint of the app as `autopost run` starts it, against the simulated Discord on
//! loopback. Measures interactions/s with a fixed number in flight, then the time to the
//! interaction response at an offered rate (open loop); checks every interaction got a good
//! answer and every `/post` queued a post.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::output::print_line;
use autopost::throttle::Allowance;
use autopost_bots::discord::{DiscordFrontEnd, Options};
use autopost_sim::World;
use autopost_sim::discord::{SimDiscord, SimDiscordConfig, SimDiscordUser, SimGuild, SimMember};
use autopost_sim::x::SimXUser;
use serde_json::Value;
use tokio::task::JoinSet;
use url::Url;

use super::{current_rss_kib, peak_rss_kib, spread_ms};

/// Members of each channel's server.
const MEMBERS: usize = 10;
/// Interactions in flight at once in the throughput phase.
const IN_FLIGHT: usize = 64;

/// What `autopost bench discord` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct DiscordBench {
    /// Interactions sent as fast as they are answered.
    pub count: usize,
    /// Offered interactions/s of the latency phase (open loop).
    pub rate: u32,
    /// Length of the latency phase.
    pub duration: Duration,
    /// Servers (one channel each, with a linked X account).
    pub servers: usize,
}

/// What an interaction asks, and so what its answer must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Post,
    Queue,
    Help,
}

/// One answered interaction.
struct Answered {
    kind: Kind,
    /// Its id, to find a deferred answer's edit.
    id: u64,
    took: Duration,
    /// Answered in time with the right answer.
    good: bool,
    /// Answered "thinking…" (202 and a deferral); the answer edits the original response.
    deferred: bool,
}

/// The servers and people of the bench.
struct Population {
    servers: Vec<SimGuild>,
    members: Vec<Vec<SimMember>>,
}

/// The interaction number `i`: a deterministic mix of 60% `/post`, 20% `/queue`, 20% `/help`.
fn plan(sim: &SimDiscord, population: &Population, i: usize) -> (Kind, Value) {
    let server = i % population.servers.len();
    let member = &population.members[server][(i / population.servers.len()) % MEMBERS];
    let guild = &population.servers[server];
    match i % 5 {
        0..=2 => (
            Kind::Post,
            sim.slash_command("post")
                .in_guild(guild, member)
                .string("when", "tomorrow 9am")
                .string("text", &format!("bench post {i}"))
                .build(),
        ),
        3 => (
            Kind::Queue,
            sim.slash_command("queue").in_guild(guild, member).build(),
        ),
        _ => (
            Kind::Help,
            sim.slash_command("help").in_guild(guild, member).build(),
        ),
    }
}

/// Whether `answer` is the right kind of answer for `kind`.
fn is_good(kind: Kind, status: u16, answer: Option<&Value>) -> bool {
    let Some(answer) = answer.filter(|_| status == 200) else {
        return false;
    };
    answer["type"] == 4 && says_right(kind, &answer["data"])
}

/// Whether a message's `data` (content or card) answers `kind`.
fn says_right(kind: Kind, data: &Value) -> bool {
    let content = data["content"].as_str().unwrap_or_default();
    let card = data["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default();
    match kind {
        Kind::Post => content.contains("Scheduled post"),
        Kind::Queue => card.contains("Scheduled posts") || content.contains("Nothing is scheduled"),
        Kind::Help => content.contains("Commands"),
    }
}

async fn send(sim: SimDiscord, endpoint: Arc<Url>, kind: Kind, payload: Value) -> Answered {
    let id = payload["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    match sim.deliver(&endpoint, &payload).await {
        Ok(delivery) => Answered {
            kind,
            id,
            took: delivery.took,
            good: is_good(kind, delivery.status, delivery.body.as_ref()),
            deferred: delivery.status == 202,
        },
        Err(_) => Answered {
            kind,
            id,
            took: Duration::ZERO,
            good: false,
            deferred: false,
        },
    }
}

/// Whether every deferred answer's original response came to say the right thing.
async fn deferred_answers_arrive(sim: &SimDiscord, deferred: &[&Answered]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut wrong = deferred.len();
    while Instant::now() < deadline {
        wrong = deferred
            .iter()
            .filter(|a| {
                !sim.original_response(a.id).is_some_and(|m| {
                    let data = serde_json::json!({"content": m.content, "embeds": m.embeds});
                    says_right(a.kind, &data)
                })
            })
            .count();
        if wrong == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wrong
}

/// Runs the bench; true when every check passed (the targets are reported, not enforced).
pub async fn discord(bench: DiscordBench) -> anyhow::Result<bool> {
    // The people are many commands per second each: the production allowance would refuse
    // most. The throttle still runs on every command.
    let options = Options {
        allowance: Allowance {
            burst: 1_000_000,
            per_second: 1_000_000.0,
        },
        ..Options::default()
    };
    let world = World::builder()
        .x()
        .discord_with(SimDiscordConfig::random().endpoint_only())
        .var("AUTOPOST_LOG", "warn")
        .front_end(move |app| DiscordFrontEnd::new(app, options).ok().flatten())
        .start()
        .await
        .context("cannot start autopost against the simulated Discord")?;
    let sim = world.discord().clone();
    let endpoint = Arc::new(world.discord_interactions_url());
    let mut population = Population {
        servers: vec![sim.guild()],
        members: Vec::new(),
    };
    while population.servers.len() < bench.servers.max(1) {
        population
            .servers
            .push(sim.add_guild(&format!("server {}", population.servers.len())));
    }
    print_line(&format!(
        "linking an X account to each of {} channels ({MEMBERS} members each)...",
        population.servers.len()
    ));
    for (s, server) in population.servers.iter().enumerate() {
        let members: Vec<SimMember> = (0..MEMBERS)
            .map(|m| {
                let id = 7_000_000 + (s * MEMBERS + m) as u64;
                SimMember::new(SimDiscordUser::new(id, format!("member{s}x{m}")))
            })
            .collect();
        let actor = world
            .actor(
                &format!("discord:{}", server.channel_id),
                &format!("discord:{}", members[0].user.id),
            )
            .await?;
        let account = SimXUser::new(format!("{}", 6_000_000 + s), format!("server{s}"));
        world.seed_x_account(&actor, &account, None).await?;
        // Measured are people at work, who agreed to the privacy policy long ago.
        let people: Vec<String> = members
            .iter()
            .map(|member| format!("discord:{}", member.user.id))
            .collect();
        world.agree(&people).await?;
        population.members.push(members);
    }
    let mut problems = Vec::new();

    // (a) Throughput: a fixed number in flight, each answered before the next is sent.
    let settled_kib = current_rss_kib();
    print_line(&format!(
        "throughput: {} interactions, {IN_FLIGHT} in flight...",
        bench.count
    ));
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut done = Vec::with_capacity(bench.count);
    for i in 0..bench.count {
        if in_flight.len() >= IN_FLIGHT
            && let Some(answered) = in_flight.join_next().await
        {
            done.push(answered.context("an interaction task failed")?);
        }
        let (kind, payload) = plan(&sim, &population, i);
        in_flight.spawn(send(sim.clone(), endpoint.clone(), kind, payload));
    }
    while let Some(answered) = in_flight.join_next().await {
        done.push(answered.context("an interaction task failed")?);
    }
    let wall = started.elapsed().as_secs_f64();
    report("throughput", &done, Some(wall));

    // (b) Latency: interactions sent on schedule at `rate`/s, whatever the answers do.
    let count = (f64::from(bench.rate) * bench.duration.as_secs_f64()).round() as usize;
    print_line(&format!(
        "latency: {count} interactions offered at {}/s for {:?}...",
        bench.rate, bench.duration
    ));
    let step = Duration::from_secs_f64(1.0 / f64::from(bench.rate.max(1)));
    let started = tokio::time::Instant::now();
    let mut offered = JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(started + step * i as u32).await;
        let (kind, payload) = plan(&sim, &population, bench.count + i);
        offered.spawn(send(sim.clone(), endpoint.clone(), kind, payload));
    }
    let mut steady = Vec::with_capacity(count);
    while let Some(answered) = offered.join_next().await {
        steady.push(answered.context("an interaction task failed")?);
    }
    report("latency", &steady, None);

    let all: Vec<&Answered> = done.iter().chain(&steady).collect();
    let deferred: Vec<&Answered> = all.iter().copied().filter(|a| a.deferred).collect();
    if !deferred.is_empty() {
        print_line(&format!(
            "  {} interactions took longer than the answer time and were deferred (202, then the original response edited)",
            deferred.len()
        ));
    }
    let late_wrong = deferred_answers_arrive(&sim, &deferred).await;
    let bad = all.iter().filter(|a| !a.good && !a.deferred).count() + late_wrong;
    if bad > 0 {
        problems.push(format!("{bad} interactions without the right answer"));
    }
    let posts = all
        .iter()
        .filter(|a| a.kind == Kind::Post && (a.good || a.deferred))
        .count();
    let mut queued = 0;
    for (s, server) in population.servers.iter().enumerate() {
        let actor = world
            .actor(
                &format!("discord:{}", server.channel_id),
                &format!("discord:{}", population.members[s][0].user.id),
            )
            .await?;
        queued += world.app().queue(actor.chat).await?.len();
    }
    if queued != posts {
        problems.push(format!("{queued} posts queued for {posts} answered /post"));
    }
    if let (Some(settled), Some(peak)) = (settled_kib, peak_rss_kib()) {
        print_line(&format!(
            "memory (whole process, the simulated Discord included): {:.1} MiB before, peak {:.1} MiB",
            settled as f64 / 1024.0,
            peak as f64 / 1024.0
        ));
    }
    print_line(&format!(
        "checked: {} interactions answered with the right answer; {queued} posts queued",
        all.len() - bad
    ));
    let mut world = world;
    if let Err(e) = world.shutdown().await {
        problems.push(format!(
            "the app did not stop cleanly: {}",
            autopost::telemetry::chain(&e)
        ));
    }
    for problem in &problems {
        print_line(&format!("FAIL: {problem}"));
    }
    Ok(problems.is_empty())
}

/// Prints a phase's rate (when `wall` is given) and its response times.
fn report(phase: &str, answered: &[Answered], wall: Option<f64>) {
    let mut ms: Vec<f64> = answered
        .iter()
        .map(|a| a.took.as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let rate = wall.map_or(String::new(), |wall| {
        format!(
            "{:.0} interactions/s ({} in {wall:.2} s); ",
            answered.len() as f64 / wall.max(1e-9),
            answered.len()
        )
    });
    print_line(&format!(
        "  {phase}: {rate}time to the interaction response {}   target: p99 < 10 ms at 1,000/s",
        spread_ms(&ms),
    ));
}
