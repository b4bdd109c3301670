//! A thread of three survives `kill -9` while its second part is in flight: the real binary
//! (`autopost run`) publishes against the simulated X, is killed after X created part 2 but
//! before the answer arrived, and the next run reconciles that part (found, recorded) and
//! sends only part 3: exactly three posts, chained, none twice.

use std::path::Path;
use std::time::{Duration, Instant};

use autopost::domain::TargetState;
use autopost::posting::Draft;
use autopost_sim::World;
use autopost_sim::x::{Endpoint, Failure, SimX, SimXUser};
use chrono::Utc;

use super::Server;

/// Waits (polling, with a deadline) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_thread_killed_while_its_second_part_is_in_flight_is_finished_with_no_part_twice() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let text = (1..=6)
        .map(|i| format!("Part {i} says: {}.", ["word"; 18].join(" ")))
        .collect::<Vec<_>>()
        .join(" ");
    let (world, post) = runtime.block_on(async {
        let mut world = World::builder().x().key_file().open().await.unwrap();
        let author = world.actor("telegram:-1", "telegram:1").await.unwrap();
        let expires = Some(Utc::now() + chrono::Duration::hours(2));
        world
            .seed_x_account(&author, &SimXUser::new("1001", "alice"), expires)
            .await
            .unwrap();
        let draft = Draft {
            when: "now".to_owned(),
            text: text.clone(),
            ..Draft::default()
        };
        let accepted = world
            .app()
            .create_post(&author, draft, Utc::now())
            .await
            .unwrap();
        assert_eq!(accepted.targets[0].parts, 3);
        world.shutdown().await.unwrap();
        (world, accepted.post)
    });
    let sim: SimX = world.x().clone();
    // X creates part 2 at once but answers only after a minute: the kill lands in between.
    sim.fail_call(Endpoint::Tweets, 2, Failure::Slow(Duration::from_secs(60)));
    let data = world.dir().display().to_string();
    let api = world.x_url().to_string();
    let vars = [
        ("AUTOPOST_DATA_DIR", data.as_str()),
        ("AUTOPOST_X_CLIENT_ID", autopost_sim::world::X_CLIENT_ID),
        ("AUTOPOST_X_API_URL", api.as_str()),
    ];
    let scratch = tempfile::tempdir().unwrap();
    let dir: &Path = scratch.path();

    let mut first = Server::start(dir, &vars);
    wait_for("part 2 to exist at X", || sim.tweets().len() == 2);
    first.child.0.kill().unwrap();
    first.child.0.wait().unwrap();
    assert_eq!(sim.requests(Endpoint::Tweets), 2);

    let second = Server::start(dir, &vars);
    wait_for("part 3 at X", || sim.tweets().len() == 3);
    let (status, _) = second.stop();
    assert!(status.success(), "{status:?}");

    let tweets = sim.tweets();
    assert_eq!(tweets.len(), 3, "exactly three posts: {tweets:#?}");
    assert_eq!(
        sim.requests(Endpoint::Tweets),
        3,
        "part 2 was not sent again"
    );
    assert_eq!(tweets[0].reply_to, None);
    assert_eq!(tweets[1].reply_to.as_deref(), Some(tweets[0].id.as_str()));
    assert_eq!(tweets[2].reply_to.as_deref(), Some(tweets[1].id.as_str()));
    let words: Vec<&str> = tweets.iter().flat_map(|t| t.text.split(' ')).collect();
    assert_eq!(words.join(" "), text);
    runtime.block_on(async {
        let store = world.store().await.unwrap();
        let targets = store.targets_of_post(post).await.unwrap();
        assert_eq!(targets[0].1, TargetState::Published);
        assert_eq!(targets[0].2.as_deref(), Some(tweets[0].id.as_str()));
    });
}
