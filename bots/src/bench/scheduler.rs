//! `autopost bench scheduler` and `autopost bench claim`: the real scheduler and store
//! against the simulated X.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use autopost::app::App;
use autopost::crypto::Secret;
use autopost::domain::{AccountId, ChatKind, ChatPlatform, OAuthProvider, Provider, TargetState};
use autopost::output::print_line;
use autopost::store::{NewGrant, NewLinkedAccount, NewPost};
use autopost_sim::x::{self as simx, SimXConfig, SimXUser};
use chrono::{DateTime, Utc};

use super::{app_with, peak_rss_kib, percentile};

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

/// An App on a temporary data dir whose X points at a simulated X.
async fn app_with_x(dir: &std::path::Path, x_url: &url::Url) -> anyhow::Result<App> {
    let x = x_url.to_string();
    app_with(
        dir,
        &[
            ("AUTOPOST_X_CLIENT_ID", "bench"),
            ("AUTOPOST_X_API_URL", x.as_str()),
        ],
    )
    .await
}

/// Links `count` simulated X users to one chat; returns the chat, author and accounts.
async fn link_accounts(
    app: &App,
    sim: &simx::SimX,
    count: usize,
) -> anyhow::Result<(
    autopost::domain::ChatId,
    autopost::domain::UserId,
    Vec<AccountId>,
)> {
    let store = app.store();
    let now = Utc::now();
    let author = store
        .upsert_user(ChatPlatform::Telegram, "1", Some("bench"), now)
        .await?
        .id;
    let chat = store
        .upsert_chat(
            ChatPlatform::Telegram,
            "-1",
            ChatKind::Group,
            Some("bench"),
            now,
        )
        .await?
        .id;
    let mut accounts = Vec::with_capacity(count);
    for i in 0..count {
        let id = format!("{}", 10_000 + i);
        let access = format!("access-{id}");
        sim.insert_grant(SimXUser::new(id.clone(), format!("user{i}")), &access, None);
        let (_, linked) = store
            .save_linked_grant(
                NewGrant {
                    owner: author,
                    provider: OAuthProvider::X,
                    remote_user_id: &id,
                    scopes: "tweet.read tweet.write users.read media.write offline.access",
                    access_token: Secret::new(access),
                    refresh_token: None,
                    expires_at: None,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: id.clone(),
                    display_name: format!("@user{i}"),
                    access_token: None,
                }],
                chat,
                now,
            )
            .await?;
        accounts.extend(linked);
    }
    Ok((chat, author, accounts))
}

/// 10,000 posts on 1,000 accounts due over one minute against a simulated X answering in
/// 20 ms: every one must be published exactly once; reports lateness, throughput, memory.
pub async fn scheduler(bench: SchedulerBench) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir().context("cannot create a temp dir")?;
    let mut sim_config = SimXConfig::public("bench");
    sim_config.enforce_rate_limits = false;
    let (sim, server) = simx::start(sim_config).await?;
    sim.set_latency(bench.latency);
    let app = app_with_x(dir.path(), &server.url()).await?;
    print_line(&format!(
        "linking {} accounts and queueing {} posts due over {:?} (X answers in {:?})...",
        bench.accounts, bench.posts, bench.spread, bench.latency
    ));
    let (chat, author, accounts) = link_accounts(&app, &sim, bench.accounts).await?;

    let start = Utc::now() + chrono::Duration::seconds(3);
    let step = bench.spread.as_nanos() / bench.posts.max(1) as u128;
    let due_of = |i: usize| {
        start + chrono::Duration::nanoseconds(i64::try_from(step * i as u128).unwrap_or(i64::MAX))
    };
    let mut batch = Vec::new();
    for i in 0..bench.posts {
        batch.push(NewPost {
            chat,
            author,
            body: format!("bench post {i}"),
            due_at: due_of(i),
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets: vec![accounts[i % accounts.len()]],
            media: vec![],
        });
        if batch.len() == 1000 {
            app.store()
                .insert_posts(std::mem::take(&mut batch), Utc::now())
                .await?;
        }
    }
    app.store().insert_posts(batch, Utc::now()).await?;
    if Utc::now() >= start {
        print_line("warning: setup took longer than the head start; early posts start late");
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scheduler = Arc::clone(app.scheduler());
    let run = tokio::spawn(scheduler.run(stopped));
    let deadline = Instant::now() + bench.spread + Duration::from_secs(120);
    while sim.tweets().len() < bench.posts && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give any stray duplicate a moment to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let _ = run.await;

    let tweets = sim.tweets();
    let mut seen = std::collections::HashSet::new();
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
    let published = app.store().count_targets(TargetState::Published).await?;
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
    app.store().close().await;
    drop(server);
    Ok(seen.len() == bench.posts && duplicates == 0 && published == bench.posts as u64)
}

/// How long claiming 100 due targets takes with `queued` posts waiting in the future.
pub async fn claim(sizes: &[usize]) -> anyhow::Result<()> {
    for &queued in sizes {
        let dir = tempfile::tempdir().context("cannot create a temp dir")?;
        let (sim, server) = simx::start(SimXConfig::public("bench")).await?;
        let app = app_with_x(dir.path(), &server.url()).await?;
        let (chat, author, accounts) = link_accounts(&app, &sim, 1).await?;
        let now = Utc::now();
        let post = |i: usize, due: DateTime<Utc>| NewPost {
            chat,
            author,
            body: format!("queued {i}"),
            due_at: due,
            recurrence: None,
            time_zone: chrono_tz::UTC,
            targets: accounts.clone(),
            media: vec![],
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
            app.store().insert_posts(batch, now).await?;
            i = end;
        }
        let due: Vec<NewPost> = (0..500)
            .map(|k| post(queued + k, now - chrono::Duration::seconds(1)))
            .collect();
        app.store().insert_posts(due, now).await?;
        let filled = filling.elapsed();
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let claimed = app.store().claim_due(Utc::now(), 100).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                claimed.len() == 100,
                "claimed {} instead of 100",
                claimed.len()
            );
        }
        let next = Instant::now();
        app.store().next_due_at().await?;
        let next_ms = next.elapsed().as_secs_f64() * 1000.0;
        times.sort_by(f64::total_cmp);
        print_line(&format!(
            "{queued:>9} queued: claim 100 due targets in {:.2} ms (median of 5; min {:.2}, max {:.2}); next due time in {next_ms:.3} ms; filled in {:.1} s",
            times[2],
            times[0],
            times[4],
            filled.as_secs_f64()
        ));
        app.store().close().await;
        drop(server);
    }
    Ok(())
}
