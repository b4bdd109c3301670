//! Three real `autopost run` processes on one PostgreSQL publish against the simulated X
//! (answering in 20 ms, so that kills land mid-request) while instances are SIGKILLed at
//! random moments and restarted, and one is frozen (SIGSTOP) past its lease, then woken: it
//! must find its lease lost and exit. Every post is published exactly once, no account ever
//! has more requests in flight at X than the per-account bound, and each killed instance's
//! `publishing` targets are resolved within 5 s of the kill.

use std::time::{Duration, Instant};

use autopost::instance::LEASE;
use autopost::scheduler::SchedulerConfig;
use autopost::test_cluster::Cluster;
use autopost_sim::fleet::{self, Chaos, Fleet, Node, Plan, Probe, Recovery};
use autopost_sim::x::{self as simx, SimXConfig};
use chrono::Utc;
use tokio::task::JoinHandle;

use super::BIN;

const INSTANCES: usize = 3;
const ACCOUNTS: usize = 30;
const POSTS: usize = 300;
const SPREAD: Duration = Duration::from_secs(20);
const KILLS: usize = 3;
/// How soon after a kill a survivor must have resolved the killed instance's targets.
const TAKEOVER: Duration = Duration::from_secs(5);
/// How long a kill waits for its victim to have a request in flight.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(2);

#[test]
fn three_instances_publish_every_post_once_through_kills_and_a_freeze() {
    let Some(cluster) = autopost::test_cluster::cluster() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(chaos_run(cluster));
}

/// The tail of every instance's log, for a failure message.
fn logs(fleet: &Fleet) -> String {
    (0..INSTANCES)
        .map(|slot| {
            let log = std::fs::read_to_string(fleet.log_path(slot)).unwrap_or_default();
            format!("--- instance {slot} ---\n{}", fleet::tail(&log, 15))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Kills instance `slot` and restarts it; returns the watch on its abandoned targets.
async fn kill_and_restart(
    fleet: &Fleet,
    probe: &Probe,
    nodes: &mut [Node],
    slot: usize,
) -> JoinHandle<Recovery> {
    let id = probe
        .instance_of(nodes[slot].pid())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("instance {slot} is not in the instances table"));
    // Mid-request, when it can be had: a kill between posts proves little.
    probe.await_publishing(&id, IN_FLIGHT_WAIT).await.unwrap();
    nodes[slot].kill().unwrap();
    let killed_at = Instant::now();
    // Read before any survivor can notice the death (its heartbeat is a second apart).
    let abandoned = probe.publishing_of(&id).await.unwrap();
    let watch = {
        let probe = probe.clone();
        tokio::spawn(async move {
            fleet::await_resolution(&probe, id, abandoned, killed_at, TAKEOVER + TAKEOVER)
                .await
                .unwrap()
        })
    };
    nodes[slot] = fleet
        .start(slot)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(fleet)));
    watch
}

async fn chaos_run(cluster: &Cluster) {
    let url = cluster.fresh_database().await;
    let mut x_config = SimXConfig::public(autopost_sim::world::X_CLIENT_ID);
    x_config.enforce_rate_limits = false;
    let (x, x_server) = simx::start(x_config).await.unwrap();
    x.set_latency(Duration::from_millis(20));
    let fleet = Fleet::new(BIN, Some(url.clone()), &x_server.url(), "info").unwrap();
    let store = fleet.store().await.unwrap();
    let accounts = fleet::seed_accounts(&store, &x, ACCOUNTS, 50_000)
        .await
        .unwrap();
    let start = Utc::now() + chrono::Duration::seconds(3);
    let plan = Plan::even("multi-instance post", POSTS, start, SPREAD);
    plan.queue(&store, &accounts).await.unwrap();
    let probe = Probe::connect(&url).await.unwrap();
    let mut nodes = Vec::new();
    for slot in 0..INSTANCES {
        let node = fleet.start(slot).await;
        nodes.push(node.unwrap_or_else(|e| panic!("{e}")));
    }
    let seed = Chaos::seed();
    eprintln!("chaos seed {seed}");
    let mut chaos = Chaos::new(seed);
    let until_start = (start - Utc::now()).to_std().unwrap_or_default();

    // One instance frozen a little after publishing began, for longer than its lease.
    tokio::time::sleep(until_start + chaos.between(Duration::from_secs(1), Duration::from_secs(3)))
        .await;
    let frozen = chaos.below(INSTANCES);
    let frozen_id = probe
        .instance_of(nodes[frozen].pid())
        .await
        .unwrap()
        .expect("the frozen instance is registered");
    probe
        .await_publishing(&frozen_id, IN_FLIGHT_WAIT)
        .await
        .unwrap();
    nodes[frozen].freeze().unwrap();
    let frozen_at = Instant::now();
    let abandoned = probe.publishing_of(&frozen_id).await.unwrap();
    let frozen_watch = {
        let probe = probe.clone();
        tokio::spawn(async move {
            fleet::await_resolution(&probe, frozen_id, abandoned, frozen_at, LEASE + TAKEOVER)
                .await
                .unwrap()
        })
    };

    // Kills at random moments, each of a random instance that is not frozen, restarted at once.
    let mut watches = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(chaos.between(Duration::from_millis(500), Duration::from_secs(4))).await;
        let others: Vec<usize> = (0..INSTANCES).filter(|&s| s != frozen).collect();
        let slot = others[chaos.below(others.len())];
        watches.push(kill_and_restart(&fleet, &probe, &mut nodes, slot).await);
    }

    // Woken after its lease ran out: it must see that and exit, sending nothing more.
    let thaw_at = frozen_at + LEASE + Duration::from_secs(2);
    tokio::time::sleep(thaw_at.saturating_duration_since(Instant::now())).await;
    nodes[frozen].thaw().unwrap();
    let status = nodes[frozen]
        .exited(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", nodes[frozen].log()));
    assert!(
        !status.success(),
        "an instance that lost its lease exits with an error: {status}"
    );
    let said = nodes[frozen].log();
    assert!(
        said.contains("lost its lease"),
        "{}",
        fleet::tail(&said, 20)
    );
    nodes[frozen] = fleet
        .start(frozen)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&fleet)));

    // Every post reaches X, then every target is settled in the database.
    let deadline = Instant::now() + SPREAD + Duration::from_secs(60);
    while fleet::tally(&x, &plan).published < POSTS {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for every post at X: {:?} missing\n{}",
            fleet::tally(&x, &plan).missing,
            logs(&fleet)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = probe.states(&plan.prefix).await.unwrap();
        let settled: i64 = ["published", "failed", "unknown"]
            .iter()
            .filter_map(|s| states.get(*s))
            .sum();
        if settled == POSTS as i64 {
            assert_eq!(
                states.get("published").copied(),
                Some(POSTS as i64),
                "{states:?}\n{}",
                logs(&fleet)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "targets never settled: {states:?}\n{}",
            logs(&fleet)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once every instance has exited nothing more can reach X: the counts below are final.
    for node in &mut nodes {
        let status = node.stop(Duration::from_secs(15)).await.unwrap();
        assert!(status.success(), "{status}\n{}", node.log());
    }

    let tally = fleet::tally(&x, &plan);
    eprintln!(
        "published {} of {POSTS}, duplicates {}, sent again after a check {}, create requests {}, most in flight for one account {:?}",
        tally.published,
        tally.duplicates,
        tally.resent,
        x.create_attempts().len(),
        x.max_concurrent_per_account()
    );
    assert_eq!(tally.missing, Vec::<usize>::new(), "never published");
    assert_eq!(tally.duplicates, 0, "sent again after X had it");
    let remote = probe.remote_ids(&plan.prefix).await.unwrap();
    for tweet in x.tweets() {
        assert_eq!(
            remote.get(&tweet.text),
            Some(&tweet.id),
            "the database records the post X made for {:?}",
            tweet.text
        );
    }
    let bound = SchedulerConfig::default().per_account;
    let (account, most) = x.max_concurrent_per_account().unwrap();
    assert!(
        most <= bound,
        "X user {account} had {most} requests in flight at once (bound {bound})"
    );
    let mut hit = 0;
    for watch in watches {
        let recovery = watch.await.unwrap();
        hit += recovery.abandoned.len();
        eprintln!(
            "kill: {} targets left publishing, resolved after {:?}",
            recovery.abandoned.len(),
            recovery.resolved_after
        );
        assert!(
            recovery
                .resolved_after
                .is_some_and(|after| after <= TAKEOVER),
            "killed instance {}: {} targets left publishing, resolved after {:?}; still open: {:?}",
            recovery.instance,
            recovery.abandoned.len(),
            recovery.resolved_after,
            recovery.unresolved
        );
    }
    let recovery = frozen_watch.await.unwrap();
    eprintln!(
        "freeze: {} targets left publishing, resolved after {:?}",
        recovery.abandoned.len(),
        recovery.resolved_after
    );
    assert!(
        recovery.resolved_after.is_some(),
        "the frozen instance's {} targets were not resolved within its lease and {TAKEOVER:?}: {:?}",
        recovery.abandoned.len(),
        recovery.unresolved
    );
    hit += recovery.abandoned.len();
    assert!(
        hit > 0,
        "no kill and not the freeze caught a target publishing: are claimed targets recorded \
         with their owner?"
    );
    probe.close().await;
    store.close().await;
}
