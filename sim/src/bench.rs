//! `autopost bench scheduler` and `autopost bench claim`: the real scheduler and store
//! against the simulated X, each in a world of its own; and the measuring helpers every bench
//! shares (percentiles, resident memory). What a bench prints is its result.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use autopost::domain::Actor;
use autopost::domain::{AccountId, TargetState};
use autopost::output::print_line;
use autopost::store::{NewPost, StoreError};
use chrono::{DateTime, Utc};

use crate::world::{World, WorldError, wait_until};
use crate::x::{SimXConfig, SimXUser};

/// Why a bench could not measure. (A measurement that comes out badly is not an error: the
/// bench prints it and reports failure.)
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The world could not be built or run.
    #[error(transparent)]
    World(#[from] WorldError),
    /// The database failed.
    #[error("the bench's database failed")]
    Store(#[from] StoreError),
    /// Claiming found fewer due targets than were queued as due.
    #[error("claimed {claimed} due targets instead of {wanted}")]
    ShortClaim {
        /// How many came back.
        claimed: usize,
        /// How many were asked for (and due).
        wanted: usize,
    },
}

/// What `autopost bench scheduler` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerBench {
    /// Posts, one target each.
    pub posts: usize,
    /// Accounts the posts are spread over.
    pub accounts: usize,
    /// Added latency of every simulated X answer.
    pub latency: Duration,
    /// Due times are spread evenly over this long.
    pub spread: Duration,
}

/// A world with a simulated X (rate limits as `rate_limits` says), open but not serving.
async fn x_world(rate_limits: bool) -> Result<World, WorldError> {
    let mut x = SimXConfig::public("bench");
    x.enforce_rate_limits = rate_limits;
    World::builder().x_with(x).open().await
}

/// Links `count` simulated X users to one chat through the store (a round trip each would
/// take longer than the measurement); returns the author in that chat and the accounts.
async fn link_accounts(world: &World, count: usize) -> Result<(Actor, Vec<AccountId>), WorldError> {
    let author = world.actor("telegram:-1", "telegram:1").await?;
    let mut accounts = Vec::with_capacity(count);
    for i in 0..count {
        let user = SimXUser::new(format!("{}", 10_000 + i), format!("user{i}"));
        accounts.push(world.seed_x_account(&author, &user, None).await?.account);
    }
    Ok((author, accounts))
}

/// 10,000 posts on 1,000 accounts due over one minute against a simulated X answering in
/// 20 ms: every one must be published exactly once; reports lateness, throughput, memory.
pub async fn scheduler(bench: SchedulerBench) -> Result<bool, BenchError> {
    let mut world = x_world(false).await?;
    world.x().set_latency(bench.latency);
    print_line(&format!(
        "linking {} accounts and queueing {} posts due over {:?} (X answers in {:?})...",
        bench.accounts, bench.posts, bench.spread, bench.latency
    ));
    let (author, accounts) = link_accounts(&world, bench.accounts.max(1)).await?;
    let store = world.store().await?;

    let start = Utc::now() + chrono::Duration::seconds(3);
    let step = bench.spread.as_nanos() / bench.posts.max(1) as u128;
    let due_of = |i: usize| {
        start + chrono::Duration::nanoseconds(i64::try_from(step * i as u128).unwrap_or(i64::MAX))
    };
    let mut batch = Vec::new();
    for i in 0..bench.posts {
        batch.push(NewPost {
            chat: author.chat,
            author: author.user,
            body: format!("bench post {i}"),
            due_at: due_of(i),
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets: vec![accounts[i % accounts.len()]],
            variants: Vec::new(),
            media: vec![],
            threads: vec![],
        });
        if batch.len() == 1000 {
            store
                .insert_posts(std::mem::take(&mut batch), Utc::now())
                .await?;
        }
    }
    store.insert_posts(batch, Utc::now()).await?;
    if Utc::now() >= start {
        print_line("warning: setup took longer than the head start; early posts start late");
    }

    world.serve()?;
    let x = world.x().clone();
    let all_sent = wait_until(
        "every post to reach X",
        bench.spread + Duration::from_secs(120),
        async || x.tweet_count() >= bench.posts,
    )
    .await
    .is_ok();
    if all_sent {
        // Nothing due and nothing in flight: a stray duplicate would have arrived by now.
        world.wait_for_quiet().await?;
    }
    let published = store.count_targets(TargetState::Published).await?;
    let tweets = x.tweets();
    world.shutdown().await?;

    let mut seen = HashSet::new();
    let mut lateness_ms = Vec::with_capacity(tweets.len());
    let mut last: Option<DateTime<Utc>> = None;
    for tweet in &tweets {
        let Some(i) = tweet
            .text
            .strip_prefix("bench post ")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        seen.insert(i);
        let late = tweet.received_at - due_of(i);
        lateness_ms.push(late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        last = Some(last.map_or(tweet.received_at, |l| l.max(tweet.received_at)));
    }
    lateness_ms.sort_by(f64::total_cmp);
    let duplicates = tweets.len() - seen.len();
    let elapsed = last.map(|l| (l - start).num_milliseconds() as f64 / 1000.0);
    print_line(&format!(
        "published (platform): {} of {}",
        seen.len(),
        bench.posts
    ));
    print_line(&format!("published (database): {published}"));
    print_line(&format!("duplicates: {duplicates}"));
    print_line(&format!(
        "lateness ms (due -> request at X): p50 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&lateness_ms, 50.0),
        percentile(&lateness_ms, 99.0),
        lateness_ms.last().copied().unwrap_or(f64::NAN)
    ));
    if let Some(elapsed) = elapsed {
        print_line(&format!(
            "throughput: {:.0} posts/s over {elapsed:.1} s (due rate {:.0}/s)",
            seen.len() as f64 / elapsed.max(0.001),
            bench.posts as f64 / bench.spread.as_secs_f64().max(0.001)
        ));
    }
    if let Some(kib) = peak_rss_kib() {
        print_line(&format!(
            "peak memory (whole process, simulated X included): {:.1} MiB",
            kib as f64 / 1024.0
        ));
    }
    Ok(seen.len() == bench.posts && duplicates == 0 && published == bench.posts as u64)
}

/// How long claiming 100 due targets takes with `queued` posts waiting in the future.
pub async fn claim(sizes: &[usize]) -> Result<(), BenchError> {
    for &queued in sizes {
        let mut world = x_world(true).await?;
        let (author, accounts) = link_accounts(&world, 1).await?;
        let store = world.store().await?;
        let now = Utc::now();
        let post = |i: usize, due: DateTime<Utc>| NewPost {
            chat: author.chat,
            author: author.user,
            body: format!("queued {i}"),
            due_at: due,
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets: accounts.clone(),
            variants: Vec::new(),
            media: vec![],
            threads: vec![],
        };
        let filling = Instant::now();
        let mut i = 0;
        while i < queued {
            let end = (i + 10_000).min(queued);
            let batch = (i..end)
                .map(|k| {
                    post(
                        k,
                        now + chrono::Duration::days(1) + chrono::Duration::milliseconds(k as i64),
                    )
                })
                .collect();
            store.insert_posts(batch, now).await?;
            i = end;
        }
        let due: Vec<NewPost> = (0..500)
            .map(|k| post(queued + k, now - chrono::Duration::seconds(1)))
            .collect();
        store.insert_posts(due, now).await?;
        let filled = filling.elapsed();
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let claimed = store.claim_due(Utc::now(), 100).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if claimed.len() != 100 {
                return Err(BenchError::ShortClaim {
                    claimed: claimed.len(),
                    wanted: 100,
                });
            }
        }
        let next = Instant::now();
        store.next_due_at().await?;
        let next_ms = next.elapsed().as_secs_f64() * 1000.0;
        times.sort_by(f64::total_cmp);
        print_line(&format!(
            "{queued:>9} queued: claim 100 due targets in {:.2} ms (median of 5; min {:.2}, max {:.2}); next due time in {next_ms:.3} ms; filled in {:.1} s",
            times[2],
            times[0],
            times[4],
            filled.as_secs_f64()
        ));
        world.shutdown().await?;
    }
    Ok(())
}

/// The value at percentile `p` (0-100) of `sorted`, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Peak resident memory of this process, from /proc (Linux); `None` elsewhere.
pub fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// Resident memory of this process now, from /proc (Linux); `None` elsewhere.
pub fn current_rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, field)
}

/// A `kB` field (`VmRSS:`) of a /proc/PID/status text.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&sorted, 100.0), 100.0);
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
