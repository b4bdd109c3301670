//! Several real `autopost run` processes on one database against a simulated X, started,
//! killed, frozen and restarted at will; the accounts and posts they publish, seeded through
//! the store; and what the database and the simulated X say afterwards: whether every post
//! went out exactly once, how late, and how soon a killed instance's work was taken over.
//! The multi-instance test and `autopost bench scale-out` are built on it.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use autopost::crypto::{MasterKey, Sealer, Secret};
use autopost::domain::{
    AccountId, ChatId, ChatKind, ChatPlatform, OAuthProvider, Provider, UserId,
};
use autopost::store::{NewGrant, NewLinkedAccount, NewPost, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::world::X_CLIENT_ID;
use crate::x::{SimX, SimXUser};

/// How long a start may take on a loaded machine before it counts as failed.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// How often the database and processes are looked at while waiting.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Target states after which nothing more is sent for a target.
const RESOLVED: [&str; 3] = ["published", "failed", "unknown"];

/// Why the fleet could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A directory, log file or process could not be made.
    #[error("{what}")]
    Io {
        /// What failed.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An instance exited or did not serve in time; the end of its log says why.
    #[error("instance {slot} did not start: {why}\n--- its log ---\n{log}")]
    Start {
        /// Which instance.
        slot: usize,
        /// Exited (with what) or timed out.
        why: String,
        /// The end of what it logged.
        log: String,
    },
    /// The store used for seeding failed.
    #[error("the fleet's store failed")]
    Store(#[from] StoreError),
    /// The database could not be read.
    #[error("cannot read the fleet's database")]
    Database(#[from] sqlx::Error),
    /// The master key could not be made.
    #[error("the fleet's master key is unusable")]
    Key(#[from] autopost::crypto::CryptoError),
    /// Something awaited did not happen in time.
    #[error("gave up after {waited:?} waiting for {what}")]
    Stalled {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> FleetError {
    let what = what.into();
    move |source| FleetError::Io { what, source }
}

/// Instances of one installation: the same binary, database, master key and X, each with a
/// data dir and port of its own.
#[derive(Debug)]
pub struct Fleet {
    exe: PathBuf,
    root: tempfile::TempDir,
    database_url: Option<String>,
    master_key: String,
    x_api: String,
    log_filter: String,
}

impl Fleet {
    /// Instances of `exe` (the `autopost` binary) on `database_url` (`None`: each on the
    /// SQLite file in its own data dir, which only makes sense for one), with a fresh master
    /// key, X at `x_api`, logging at `log_filter` into a file per instance.
    pub fn new(
        exe: impl Into<PathBuf>,
        database_url: Option<String>,
        x_api: &url::Url,
        log_filter: &str,
    ) -> Result<Self, FleetError> {
        let root = tempfile::tempdir().map_err(io_error("cannot create the fleet's directory"))?;
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Ok(Self {
            exe: exe.into(),
            root,
            database_url,
            master_key: BASE64.encode(key),
            x_api: x_api.to_string(),
            log_filter: log_filter.to_owned(),
        })
    }

    /// Instance `slot`'s data dir (kept across its restarts).
    pub fn data_dir(&self, slot: usize) -> PathBuf {
        self.root.path().join(format!("node-{slot}"))
    }

    /// Instance `slot`'s log, every start appended.
    pub fn log_path(&self, slot: usize) -> PathBuf {
        self.root.path().join(format!("node-{slot}.log"))
    }

    /// The database every instance uses (slot 0's SQLite file when none was given).
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir(0).join("autopost.db").display()
            )
        })
    }

    /// The store the instances use, opened with their key: for seeding and for reading.
    pub async fn store(&self) -> Result<Store, FleetError> {
        std::fs::create_dir_all(self.data_dir(0))
            .map_err(io_error("cannot create the first data dir"))?;
        let key = MasterKey::from_base64(&self.master_key)?;
        Ok(Store::open(&self.database_url(), Sealer::new(key)).await?)
    }

    /// Starts `autopost run` as instance `slot` and waits until it serves `/healthz`.
    pub async fn start(&self, slot: usize) -> Result<Node, FleetError> {
        let data = self.data_dir(slot);
        std::fs::create_dir_all(&data).map_err(io_error("cannot create a data dir"))?;
        let addr = free_port()?;
        let log = self.log_path(slot);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_error("cannot open an instance's log"))?;
        let log_from = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut command = Command::new(&self.exe);
        command
            .arg("run")
            .env_clear()
            .current_dir(self.root.path())
            // How the instance names itself in the `instances` table: `fleet-<slot>:<pid>`.
            .env("HOSTNAME", format!("fleet-{slot}"))
            .env("AUTOPOST_DATA_DIR", &data)
            .env("AUTOPOST_LISTEN", addr.to_string())
            .env("AUTOPOST_PUBLIC_URL", format!("http://{addr}/"))
            .env("AUTOPOST_MASTER_KEY", &self.master_key)
            .env("AUTOPOST_X_CLIENT_ID", X_CLIENT_ID)
            .env("AUTOPOST_X_API_URL", &self.x_api)
            .env("AUTOPOST_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        if let Some(url) = &self.database_url {
            command.env("AUTOPOST_DATABASE_URL", url);
        }
        let child = command
            .spawn()
            .map_err(io_error("cannot start autopost run"))?;
        let mut node = Node {
            slot,
            child,
            addr,
            log,
            log_from,
            exited: None,
        };
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Some(status) = node.try_exit()? {
                return Err(FleetError::Start {
                    slot,
                    why: format!("it exited with {status}"),
                    log: tail(&node.log(), 20),
                });
            }
            if healthy(addr).await {
                return Ok(node);
            }
            if Instant::now() >= deadline {
                return Err(FleetError::Start {
                    slot,
                    why: format!("it did not serve /healthz within {START_PATIENCE:?}"),
                    log: tail(&node.log(), 20),
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// One running `autopost run`; killed when dropped.
#[derive(Debug)]
pub struct Node {
    slot: usize,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    log_from: u64,
    exited: Option<ExitStatus>,
}

impl Node {
    /// Which instance of the fleet it is.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SIGKILL, and the process reaped.
    pub fn kill(&mut self) -> Result<(), FleetError> {
        if self.exited.is_some() {
            return Ok(());
        }
        self.child
            .kill()
            .map_err(io_error("cannot kill an instance"))?;
        let status = self
            .child
            .wait()
            .map_err(io_error("cannot reap a killed instance"))?;
        self.exited = Some(status);
        Ok(())
    }

    /// SIGSTOP: the process stays, frozen, holding its connections.
    pub fn freeze(&self) -> Result<(), FleetError> {
        self.signal("STOP")
    }

    /// SIGCONT after [`Node::freeze`].
    pub fn thaw(&self) -> Result<(), FleetError> {
        self.signal("CONT")
    }

    /// SIGTERM: drain and stop.
    pub fn terminate(&self) -> Result<(), FleetError> {
        self.signal("TERM")
    }

    fn signal(&self, name: &str) -> Result<(), FleetError> {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .map_err(io_error(format!("cannot send SIG{name}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(FleetError::Io {
                what: format!("kill -{name} {} failed", self.pid()),
                source: io::Error::other(status.to_string()),
            })
        }
    }

    /// Its exit status if it has exited.
    pub fn try_exit(&mut self) -> Result<Option<ExitStatus>, FleetError> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(io_error("cannot look at an instance"))?;
        }
        Ok(self.exited)
    }

    /// Waits for the process to exit by itself.
    pub async fn exited(&mut self, within: Duration) -> Result<ExitStatus, FleetError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exit()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(FleetError::Stalled {
                    what: format!("instance {} (pid {}) to exit", self.slot, self.pid()),
                    waited: within,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// SIGTERM, then waits for the exit.
    pub async fn stop(&mut self, within: Duration) -> Result<ExitStatus, FleetError> {
        if let Some(status) = self.try_exit()? {
            return Ok(status);
        }
        self.terminate()?;
        self.exited(within).await
    }

    /// What this start of the instance logged so far.
    pub fn log(&self) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(self.log_from)
            .unwrap_or(usize::MAX)
            .min(all.len());
        String::from_utf8_lossy(&all[from..]).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.exited.is_none() {
            // SIGKILL ends a frozen process too.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn free_port() -> Result<SocketAddr, FleetError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io_error("cannot find a free port"))?;
    listener
        .local_addr()
        .map_err(io_error("cannot find a free port"))
}

/// Whether `GET /healthz` answers 200.
async fn healthy(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).await.ok()?;
        Some(answer.ends_with(b" 200"))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// One chat with X accounts linked through the store, their tokens live at the simulated X.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The chat whose queue the posts are in.
    pub chat: ChatId,
    /// Who wrote them.
    pub author: UserId,
    /// The linked accounts, in order.
    pub ids: Vec<AccountId>,
}

/// Links `count` simulated X users (ids from `first_id` on) to one chat through the store (a
/// round trip each would take longer than the runs measured), their tokens made live at `x`.
pub async fn seed_accounts(
    store: &Store,
    x: &SimX,
    count: usize,
    first_id: u64,
) -> Result<Accounts, FleetError> {
    let now = Utc::now();
    let author = store
        .upsert_user(ChatPlatform::Telegram, "1", None, now)
        .await?;
    let chat = store
        .upsert_chat(ChatPlatform::Telegram, "-1", ChatKind::Group, None, now)
        .await?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let id = first_id + i as u64;
        let user = SimXUser::new(id.to_string(), format!("fleet{id}"));
        let access = format!("access-{}", user.id);
        let refresh = format!("refresh-{}", user.id);
        x.insert_grant(user.clone(), &access, Some(&refresh));
        let (_, accounts) = store
            .save_linked_grant(
                NewGrant {
                    owner: author.id,
                    provider: OAuthProvider::X,
                    remote_user_id: &user.id,
                    scopes: autopost::platforms::x::SCOPES,
                    access_token: Secret::new(access.as_str()),
                    refresh_token: Some(Secret::new(refresh.as_str())),
                    expires_at: None,
                },
                vec![NewLinkedAccount {
                    provider: Provider::X,
                    remote_id: user.id.clone(),
                    display_name: format!("@{}", user.username),
                    access_token: None,
                }],
                chat.id,
                now,
            )
            .await?;
        ids.extend(accounts);
    }
    Ok(Accounts {
        chat: chat.id,
        author: author.id,
        ids,
    })
}

/// Posts `"{prefix} {i}"`, one target each on the accounts in turn, due at `due[i]`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What every text starts with (distinct per run sharing a database).
    pub prefix: String,
    /// When each post is due.
    pub due: Vec<DateTime<Utc>>,
}

impl Plan {
    /// `posts` due evenly over `spread` from `start` (all at `start` for a zero spread).
    pub fn even(prefix: &str, posts: usize, start: DateTime<Utc>, spread: Duration) -> Self {
        let step = spread.as_nanos() / posts.max(1) as u128;
        let due = (0..posts)
            .map(|i| {
                let offset = i64::try_from(step * i as u128).unwrap_or(i64::MAX);
                start + chrono::Duration::nanoseconds(offset)
            })
            .collect();
        Self {
            prefix: prefix.to_owned(),
            due,
        }
    }

    /// Post `i`'s text.
    pub fn text(&self, i: usize) -> String {
        format!("{} {i}", self.prefix)
    }

    /// Which post a text is, if it is one of this plan's.
    pub fn index_of(&self, text: &str) -> Option<usize> {
        let i = text
            .strip_prefix(&self.prefix)?
            .strip_prefix(' ')?
            .parse::<usize>()
            .ok()?;
        (i < self.due.len()).then_some(i)
    }

    /// Queues the plan's posts in `store`, in transactions of a thousand.
    pub async fn queue(&self, store: &Store, accounts: &Accounts) -> Result<(), FleetError> {
        let mut batch = Vec::new();
        for (i, due) in self.due.iter().enumerate() {
            batch.push(NewPost {
                chat: accounts.chat,
                author: accounts.author,
                body: self.text(i),
                due_at: *due,
                recurrence: None,
                time_zone: chrono_tz::UTC,
                targets: vec![accounts.ids[i % accounts.ids.len().max(1)]],
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
        if !batch.is_empty() {
            store.insert_posts(batch, Utc::now()).await?;
        }
        Ok(())
    }
}

/// What the simulated X saw of a plan.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Posts X accepted once or more.
    pub published: usize,
    /// Posts X never accepted (indexes).
    pub missing: Vec<usize>,
    /// Sends of a post beyond the one that created it: creates X accepted for a post that
    /// already existed, and requests X refused as duplicates of one.
    pub duplicates: usize,
    /// Posts whose create request arrived more than once (a send after a check found the
    /// post absent is legitimate; one that X refused as a duplicate is counted above too).
    pub resent: usize,
    /// Per post, when X accepted it (the request's arrival) minus when it was due, in ms.
    pub lateness_ms: Vec<Option<f64>>,
    /// When the last accepted request arrived.
    pub last_arrival: Option<DateTime<Utc>>,
}

/// Counts what `x` accepted and was asked for, post by post of `plan`.
pub fn tally(x: &SimX, plan: &Plan) -> Tally {
    let posts = plan.due.len();
    let mut accepted = vec![0usize; posts];
    let mut tally = Tally {
        lateness_ms: vec![None; posts],
        ..Tally::default()
    };
    for tweet in x.tweets() {
        let Some(i) = plan.index_of(&tweet.text) else {
            continue;
        };
        accepted[i] += 1;
        if tally.lateness_ms[i].is_none() {
            let late = tweet.received_at - plan.due[i];
            tally.lateness_ms[i] =
                Some(late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        }
        tally.last_arrival = Some(
            tally
                .last_arrival
                .map_or(tweet.received_at, |l| l.max(tweet.received_at)),
        );
    }
    let mut attempts = vec![0usize; posts];
    let mut refused_as_duplicate = 0;
    for attempt in x.create_attempts() {
        let Some(i) = attempt.text.as_deref().and_then(|t| plan.index_of(t)) else {
            continue;
        };
        attempts[i] += 1;
        // X's answer to a post whose text the account already posted.
        if attempt.status == Some(403) && accepted[i] > 0 {
            refused_as_duplicate += 1;
        }
    }
    tally.published = accepted.iter().filter(|&&n| n > 0).count();
    tally.missing = (0..posts).filter(|&i| accepted[i] == 0).collect();
    tally.duplicates =
        accepted.iter().map(|&n| n.saturating_sub(1)).sum::<usize>() + refused_as_duplicate;
    tally.resent = attempts.iter().filter(|&&n| n > 1).count();
    tally
}

/// A target left `publishing` by an instance, with its post's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// The target's id.
    pub target: i64,
    /// Its post's text.
    pub body: String,
}

/// A target not resolved yet, as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The target's id.
    pub target: i64,
    /// Its state.
    pub state: String,
    /// The instance that owns it, if any.
    pub owner: Option<String>,
}

/// Reads the shared PostgreSQL database directly: who owns what. (Only tests and benches
/// look at owners; the store has no reason to offer it.)
#[derive(Debug, Clone)]
pub struct Probe {
    pool: PgPool,
}

impl Probe {
    /// Connects to `url` (a `postgres://` URL).
    pub async fn connect(url: &str) -> Result<Self, FleetError> {
        let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
        Ok(Self { pool })
    }

    /// The id of the instance a process registered (named `<host>:<pid>` by the instance).
    pub async fn instance_of(&self, pid: u32) -> Result<Option<String>, FleetError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM instances WHERE name LIKE $1")
                .bind(format!("%:{pid}"))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The targets `owner` holds `publishing`.
    pub async fn publishing_of(&self, owner: &str) -> Result<Vec<Abandoned>, FleetError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT t.id, p.body FROM targets t JOIN posts p ON p.id = t.post_id
             WHERE t.owner = $1 AND t.state = 'publishing' ORDER BY t.id",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(target, body)| Abandoned { target, body })
            .collect())
    }

    /// Waits (up to `within`) until `owner` holds a target `publishing`, so that a kill lands
    /// mid-request; false if it never did.
    pub async fn await_publishing(
        &self,
        owner: &str,
        within: Duration,
    ) -> Result<bool, FleetError> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM targets WHERE owner = $1 AND state = 'publishing'",
            )
            .bind(owner)
            .fetch_one(&self.pool)
            .await?;
            if held > 0 {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(false)
    }

    /// Those of `targets` not yet published, failed or unknown.
    pub async fn unresolved(&self, targets: &[i64]) -> Result<Vec<Pending>, FleetError> {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, state, owner FROM targets
             WHERE id = ANY($1) AND state <> ALL($2) ORDER BY id",
        )
        .bind(targets)
        .bind(&RESOLVED[..])
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(target, state, owner)| Pending {
                target,
                state,
                owner,
            })
            .collect())
    }

    /// How many targets of posts whose text starts with `prefix` are in each state.
    pub async fn states(&self, prefix: &str) -> Result<HashMap<String, i64>, FleetError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT t.state, COUNT(*) FROM targets t JOIN posts p ON p.id = t.post_id
             WHERE p.body LIKE $1 GROUP BY t.state",
        )
        .bind(format!("{prefix} %"))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The remote id each published target of `prefix`'s posts recorded, by post text.
    pub async fn remote_ids(&self, prefix: &str) -> Result<HashMap<String, String>, FleetError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT p.body, t.remote_id FROM targets t JOIN posts p ON p.id = t.post_id
             WHERE p.body LIKE $1 AND t.state = 'published'",
        )
        .bind(format!("{prefix} %"))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(body, id)| id.map(|id| (body, id)))
            .collect())
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What became of one killed (or frozen) instance's `publishing` targets.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The instance.
    pub instance: String,
    /// Its targets left `publishing` when it stopped.
    pub abandoned: Vec<Abandoned>,
    /// From the kill until every one was resolved; `None` if they were not within the wait.
    pub resolved_after: Option<Duration>,
    /// Those still unresolved when the wait ended.
    pub unresolved: Vec<Pending>,
}

/// Waits (up to `within` from `since`) until every one of `abandoned` is published, failed
/// or unknown.
pub async fn await_resolution(
    probe: &Probe,
    instance: String,
    abandoned: Vec<Abandoned>,
    since: Instant,
    within: Duration,
) -> Result<Recovery, FleetError> {
    let ids: Vec<i64> = abandoned.iter().map(|a| a.target).collect();
    loop {
        let unresolved = probe.unresolved(&ids).await?;
        if unresolved.is_empty() {
            return Ok(Recovery {
                instance,
                abandoned,
                resolved_after: Some(since.elapsed()),
                unresolved,
            });
        }
        if since.elapsed() >= within {
            return Ok(Recovery {
                instance,
                abandoned,
                resolved_after: None,
                unresolved,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Post indexes of `plan` among `abandoned`.
pub fn indexes_of(plan: &Plan, abandoned: &[Abandoned]) -> HashSet<usize> {
    abandoned
        .iter()
        .filter_map(|a| plan.index_of(&a.body))
        .collect()
}

/// A small random-number source for chaos schedules; prints nothing, seeded by the caller so
/// that a failing schedule can be replayed.
#[derive(Debug, Clone)]
pub struct Chaos(u64);

impl Chaos {
    /// A fresh seed from the operating system.
    pub fn seed() -> u64 {
        OsRng.next_u64() | 1
    }

    /// The sequence of `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next number (xorshift64*).
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 for an empty range).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.draw() % n as u64) as usize
        }
    }

    /// A duration between `low` and `high`.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(if span == 0 { 0 } else { self.draw() % span })
    }
}
