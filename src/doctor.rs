//! `autopost doctor`: checks configuration, the master key and the database without
//! changing anything, and says for each problem how to fix it.

use std::path::Path;

use crate::config::Config;
use crate::crypto::{CryptoError, MasterKey, Sealer};
use crate::key_files::{self, KEY_FILE, KeyFileError, NEW_KEY_FILE, Plan};
use crate::store::{Integrity, Store, StoreError, redacted_url};
use url::Url;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but deserves attention.
    Warn,
    /// autopost will not work until this is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// How it came out.
    pub status: Status,
    /// What was checked ("database", "x").
    pub subject: &'static str,
    /// What was found, and for a problem what to do.
    pub message: String,
}

impl Check {
    fn new(status: Status, subject: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            subject,
            message: message.into(),
        }
    }

    /// The line `doctor` prints.
    pub fn line(&self) -> String {
        let label = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        format!("{label} {:<10} {}", self.subject, self.message)
    }
}

/// Runs every check. Reads only: a missing database or key file is reported, not created,
/// and an interrupted key rotation is described, not finished.
pub async fn examine(config: &Config, config_file: Option<&Path>) -> Vec<Check> {
    let mut checks = vec![Check::new(
        Status::Ok,
        "config",
        match config_file {
            Some(path) => format!("loaded from {} and the environment", path.display()),
            None => "loaded from defaults and the environment (no autopost.toml)".to_owned(),
        },
    )];
    let sound = check_integrity(config, &mut checks).await;
    let key = check_key(config, &mut checks).await;
    if sound {
        let ready = check_database(config, key.clone(), &mut checks).await;
        if let (true, Some(key)) = (ready && config.shared(), key) {
            check_shared(config, key, &mut checks).await;
        }
    }
    check_platforms(config, &mut checks).await;
    checks
}

/// Whether the database file is whole: read-only, every page read. `false` when it is damaged
/// (reported as a failure) or there is none yet (reported as a warning).
async fn check_integrity(config: &Config, checks: &mut Vec<Check>) -> bool {
    let url = &redacted_url(&config.database_url);
    let restore = |problem: &str| {
        format!(
            "{url} is damaged ({problem}); autopost must not run on it: stop it, move the \
             database and its -wal and -shm files aside, and restore the newest backup of the \
             data directory (database and master key) to {} (see README, Backups)",
            config.data_dir.display()
        )
    };
    let path = database_path(&config.database_url);
    if let Some(path) = &path {
        match std::fs::metadata(path) {
            Err(_) => {
                checks.push(Check::new(
                    Status::Warn,
                    "database",
                    format!("{url} does not exist yet: `autopost migrate` creates it"),
                ));
                return false;
            }
            Ok(meta) if !meta.is_file() => {
                checks.push(Check::new(
                    Status::Fail,
                    "database",
                    restore("it is a directory, not a database file"),
                ));
                return false;
            }
            Ok(_) => {}
        }
    }
    match Store::check_integrity(&config.database_url).await {
        Ok(Integrity::Sound) => true,
        Ok(Integrity::Damaged(problem)) => {
            checks.push(Check::new(Status::Fail, "database", restore(&problem)));
            false
        }
        Err(e) if config.shared() => {
            checks.push(Check::new(
                Status::Fail,
                "database",
                format!(
                    "the PostgreSQL database {url} does not answer: {}; check that the server \
                     runs, the database exists and AUTOPOST_DATABASE_URL's user and password",
                    chain(&e)
                ),
            ));
            false
        }
        Err(e) => {
            checks.push(Check::new(
                Status::Fail,
                "database",
                format!("{url} cannot be opened: {}", chain(&e)),
            ));
            false
        }
    }
}

/// The file behind a `sqlite://` URL, if it names one.
fn database_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::PathBuf::from(path))
}

/// The master key, checked against the database's key check where there is one: what the
/// next start would use, recover or refuse.
async fn check_key(config: &Config, checks: &mut Vec<Check>) -> Option<MasterKey> {
    if let Some(key) = &config.master_key {
        let shared = if config.shared() {
            " (the shared mode needs it there: give every instance the same value)"
        } else {
            ""
        };
        checks.push(Check::new(
            Status::Ok,
            "key",
            format!("master key {} from AUTOPOST_MASTER_KEY{shared}", key.id()),
        ));
        return Some(key.clone());
    }
    let dir = &config.data_dir;
    let current = dir.join(KEY_FILE);
    let check = Store::key_check(&config.database_url).await.ok().flatten();
    match key_files::plan(dir, check.as_ref()) {
        Ok(Plan::Create) => {
            checks.push(Check::new(
                Status::Warn,
                "key",
                format!(
                    "no {} yet: the first `autopost run` or `autopost migrate` creates it; back it up then",
                    current.display()
                ),
            ));
            None
        }
        Ok(Plan::Current { key, leftovers }) => {
            checks.push(Check::new(
                Status::Ok,
                "key",
                format!(
                    "master key {} from {} (mode 600)",
                    key.id(),
                    current.display()
                ),
            ));
            let new = dir.join(NEW_KEY_FILE);
            if leftovers.contains(&new) {
                checks.push(Check::new(
                    Status::Warn,
                    "key",
                    format!(
                        "{} is left from a rotate-key that stopped before the database switched keys; \
                         it opens nothing: delete it (shred -u) before the next rotate-key",
                        new.display()
                    ),
                ));
            }
            Some(key)
        }
        Ok(Plan::Recover {
            from,
            key,
            set_aside,
        }) => {
            let state = match &set_aside {
                Some((_, retired)) => format!(
                    "{} does not open the database (it will be kept as {})",
                    current.display(),
                    retired.display()
                ),
                None => format!("{} is missing", current.display()),
            };
            checks.push(Check::new(
                Status::Warn,
                "key",
                format!(
                    "a rotate-key was interrupted: {state}, but {} holds key {}, which opens it; \
                     the next `autopost run` or `autopost migrate` moves it to {}",
                    from.display(),
                    key.id(),
                    current.display()
                ),
            ));
            Some(key)
        }
        Err(e @ KeyFileError::Unreadable(CryptoError::KeyFileExposed { .. })) => {
            checks.push(Check::new(Status::Fail, "key", e.to_string()));
            None
        }
        Err(KeyFileError::Unreadable(e)) => {
            checks.push(Check::new(
                Status::Fail,
                "key",
                format!("{}: restore the key file from your backup", chain(&e)),
            ));
            None
        }
        Err(e) => {
            checks.push(Check::new(Status::Fail, "key", e.to_string()));
            None
        }
    }
}

/// Whether the database is up to date and opens with the key: only then may the shared
/// mode's checks open it as a store (which then changes nothing).
async fn check_database(config: &Config, key: Option<MasterKey>, checks: &mut Vec<Check>) -> bool {
    let Some(key) = key else {
        checks.push(Check::new(
            Status::Warn,
            "database",
            "not checked: it cannot be opened without the master key",
        ));
        return false;
    };
    let url = redacted_url(&config.database_url);
    match Store::inspect(&config.database_url, &Sealer::new(key)).await {
        Ok(seen) if seen.pending_migrations > 0 => {
            let how = if config.shared() {
                "run `autopost migrate`, or start one instance of this version: it migrates \
                 under a lock, once, however many start together"
            } else {
                "run `autopost migrate`"
            };
            checks.push(Check::new(
                Status::Fail,
                "database",
                format!(
                    "{} migration(s) not applied: {how}",
                    seen.pending_migrations
                ),
            ));
            false
        }
        Ok(seen) if config.shared() => {
            let fresh = seen.sealed_with.is_none();
            checks.push(Check::new(
                Status::Ok,
                "database",
                format!(
                    "PostgreSQL at {url} answers, every migration is applied; all {} stored \
                     secret(s) open with the master key",
                    seen.secrets
                ),
            ));
            !fresh
        }
        Ok(seen) => {
            checks.push(Check::new(
                Status::Ok,
                "database",
                format!(
                    "{url} is whole and up to date; all {} stored secret(s) open with the master key",
                    seen.secrets
                ),
            ));
            true
        }
        Err(StoreError::Open { .. }) => {
            checks.push(Check::new(
                Status::Warn,
                "database",
                format!(
                    "{url} does not exist yet or cannot be opened: `autopost migrate` creates it"
                ),
            ));
            false
        }
        Err(e @ StoreError::WrongKey { .. }) => {
            let also = if config.shared() {
                "; every instance must have the AUTOPOST_MASTER_KEY the database was first opened with"
            } else {
                ""
            };
            checks.push(Check::new(Status::Fail, "database", format!("{e}{also}")));
            false
        }
        Err(e) => {
            checks.push(Check::new(
                Status::Fail,
                "database",
                format!("{}: restore from a backup or ask for help", chain(&e)),
            ));
            false
        }
    }
}

/// The shared mode's own requirements, on a database that is up to date and opens with the
/// key: images in the database, the instances and their leases, who plays each role, and
/// how Telegram updates arrive when several instances run.
async fn check_shared(config: &Config, key: MasterKey, checks: &mut Vec<Check>) {
    // Up to date and already sealed: opening migrates nothing and seals nothing.
    let store = match Store::open(&config.database_url, Sealer::new(key)).await {
        Ok(store) => store,
        Err(e) => {
            checks.push(Check::new(
                Status::Fail,
                "database",
                format!("cannot open it as autopost does: {}", chain(&e)),
            ));
            return;
        }
    };
    let found = match store.clock().await {
        Ok(now) => shared_checks(config, &store, now).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(found) => checks.extend(found),
        Err(e) => checks.push(Check::new(
            Status::Fail,
            "database",
            format!("cannot read the instances and images: {}", chain(&e)),
        )),
    }
    store.close().await;
}

/// What [`check_shared`] reports, at `now` (Unix ms).
async fn shared_checks(config: &Config, store: &Store, now: i64) -> Result<Vec<Check>, StoreError> {
    let mut checks = Vec::new();
    let census = store.media_blob_census().await?;
    let missing = census.images.saturating_sub(census.in_database);
    checks.push(if missing > 0 {
        Check::new(
            Status::Warn,
            "media",
            format!(
                "{missing} of {} image(s) have no bytes in the database: their posts go out \
                 without them (were they stored by an autopost on SQLite?)",
                census.images
            ),
        )
    } else {
        Check::new(
            Status::Ok,
            "media",
            format!(
                "images are kept in the database, where every instance reads them: {} image(s), \
                 {} KiB",
                census.images,
                census.bytes.div_ceil(1024)
            ),
        )
    });
    let instances = store.peers("").await?;
    let live = instances.iter().filter(|i| i.lease_until >= now).count();
    if instances.is_empty() {
        checks.push(Check::new(Status::Ok, "instances", "none is running now"));
    }
    for instance in &instances {
        let left = instance.lease_until - now;
        checks.push(if left >= 0 {
            Check::new(
                Status::Ok,
                "instance",
                format!(
                    "{} ({}) is running; its lease holds for {:.1} s more",
                    instance.name,
                    instance.id,
                    left as f64 / 1000.0
                ),
            )
        } else {
            Check::new(
                Status::Warn,
                "instance",
                format!(
                    "{} ({}) let its lease run out {:.1} s ago: it is frozen or gone; a running \
                     instance takes its work over (none will while none runs)",
                    instance.name,
                    instance.id,
                    -left as f64 / 1000.0
                ),
            )
        });
    }
    let name_of = |id: &str| {
        instances
            .iter()
            .find(|i| i.id == id)
            .map_or_else(|| format!("{id}, no longer running"), |i| i.name.clone())
    };
    let holders = store.role_holders().await?;
    for (role, holder) in &holders {
        checks.push(Check::new(
            Status::Ok,
            "role",
            match holder {
                Some(id) => format!("{role}: {}", name_of(id)),
                None => format!("{role}: nobody now"),
            },
        ));
    }
    let polling = config
        .telegram
        .as_ref()
        .is_some_and(|t| t.webhook_secret.is_none());
    if polling && live > 1 {
        let poller = holders
            .iter()
            .find(|(role, _)| role == crate::instance::Role::TelegramPoller.as_str())
            .and_then(|(_, holder)| holder.as_deref())
            .map_or_else(|| "one of them".to_owned(), name_of);
        checks.push(Check::new(
            Status::Warn,
            "telegram",
            format!(
                "{live} instances run and Telegram updates are polled: only one instance \
                 polls at a time ({poller}), and another takes over within about a second when \
                 it dies. That works; to let every instance take updates behind a load \
                 balancer, set AUTOPOST_TELEGRAM_WEBHOOK_SECRET (a webhook)"
            ),
        ));
    }
    Ok(checks)
}

async fn check_platforms(config: &Config, checks: &mut Vec<Check>) {
    let platforms: [(&'static str, Option<&Url>, &str); 4] = [
        (
            "telegram",
            config.telegram.as_ref().map(|t| &t.api_url),
            "AUTOPOST_TELEGRAM_TOKEN",
        ),
        (
            "discord",
            config.discord.as_ref().map(|d| &d.api_url),
            "AUTOPOST_DISCORD_TOKEN or AUTOPOST_DISCORD_PUBLIC_KEY",
        ),
        (
            "x",
            config.x.as_ref().map(|x| &x.api_url),
            "AUTOPOST_X_CLIENT_ID",
        ),
        (
            "meta",
            config.meta.as_ref().map(|m| &m.graph_url),
            "AUTOPOST_META_APP_ID and AUTOPOST_META_APP_SECRET",
        ),
    ];
    let client = crate::platforms::http::client().ok();
    for (subject, url, enable) in platforms {
        let Some(url) = url else {
            checks.push(Check::new(
                Status::Ok,
                subject,
                format!("off (set {enable} to turn it on)"),
            ));
            continue;
        };
        checks.push(match &client {
            Some(client) => reachability(client, subject, url).await,
            None => Check::new(Status::Warn, subject, "cannot set up HTTPS to check it"),
        });
    }
    checks.extend(public_url_checks(config));
}

/// What the outside world must reach at `AUTOPOST_PUBLIC_URL`, and whether it can.
fn public_url_checks(config: &Config) -> Vec<Check> {
    let public = &config.public_url;
    let local = matches!(public.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let public_https = !local && public.scheme() == "https";
    let mut checks = Vec::new();
    if (config.x.is_some() || config.meta.is_some()) && !public_https {
        checks.push(Check::new(
            Status::Warn,
            "web",
            format!(
                "AUTOPOST_PUBLIC_URL is {public}: OAuth callbacks and Instagram media links need a public https:// address"
            ),
        ));
    }
    let webhook = config
        .telegram
        .as_ref()
        .is_some_and(|t| t.webhook_secret.is_some());
    // Telegram delivers webhooks only to these ports, and only over https.
    let telegram_port = matches!(public.port_or_known_default(), Some(443 | 80 | 88 | 8443));
    if webhook && !(public_https && telegram_port) {
        checks.push(Check::new(
            Status::Fail,
            "telegram",
            format!(
                "AUTOPOST_TELEGRAM_WEBHOOK_SECRET is set but AUTOPOST_PUBLIC_URL is {public}: Telegram delivers webhooks only to a public https:// address on port 443, 80, 88 or 8443; fix the URL or unset the secret to poll"
            ),
        ));
    }
    checks
}

/// Any HTTP answer means the host is there; only a failure to connect is a problem. The
/// base URL holds no credentials, so it may be shown.
async fn reachability(client: &reqwest::Client, subject: &'static str, url: &Url) -> Check {
    let answer = client
        .get(url.clone())
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    match answer {
        Ok(answer) => Check::new(
            Status::Ok,
            subject,
            format!("on; {url} answers (HTTP {})", answer.status().as_u16()),
        ),
        Err(e) => Check::new(
            Status::Warn,
            subject,
            format!(
                "on, but {url} cannot be reached ({}); check the network, a proxy or the URL",
                chain(&e.without_url())
            ),
        ),
    }
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    crate::telemetry::chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        crate::config::from_variables(vars).unwrap()
    }

    fn subjects(checks: &[Check]) -> Vec<(&str, Status)> {
        checks.iter().map(|c| (c.subject, c.status)).collect()
    }

    #[test]
    fn a_telegram_webhook_needs_a_public_https_address_on_a_port_telegram_calls() {
        let hook = [
            ("AUTOPOST_TELEGRAM_TOKEN", "1:abc"),
            ("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", "s3cret"),
        ];
        let with = |url: &str| {
            let mut vars = hook.to_vec();
            vars.push(("AUTOPOST_PUBLIC_URL", url));
            public_url_checks(&config(&vars))
        };
        assert!(with("https://autopost.example.com").is_empty());
        assert!(with("https://autopost.example.com:8443/bot").is_empty());
        for bad in [
            "http://autopost.example.com",
            "https://autopost.example.com:8080",
            "https://localhost",
        ] {
            assert_eq!(subjects(&with(bad)), [("telegram", Status::Fail)], "{bad}");
        }
        let polling = public_url_checks(&config(&[("AUTOPOST_TELEGRAM_TOKEN", "1:abc")]));
        assert!(polling.is_empty(), "polling needs no public address");
    }

    /// A fresh database of the test server, its URL carrying a password (the test server
    /// trusts loopback, so it is ignored), and the master key of the instances sharing it.
    async fn shared_database() -> Option<(String, MasterKey)> {
        let cluster = crate::test_cluster::cluster()?;
        let url = cluster.fresh_database().await.replacen(
            "postgres://postgres@",
            "postgres://postgres:hunter2@",
            1,
        );
        Some((url, MasterKey::generate()))
    }

    fn shared_config(url: &str, key: &MasterKey, more: &[(&str, &str)]) -> Config {
        let key = key.to_base64();
        let mut vars = vec![
            ("AUTOPOST_DATABASE_URL", url),
            ("AUTOPOST_MASTER_KEY", key.expose()),
        ];
        vars.extend_from_slice(more);
        config(&vars)
    }

    fn no_password(checks: &[Check]) {
        for check in checks {
            assert!(!check.line().contains("hunter2"), "{}", check.line());
        }
    }

    #[tokio::test]
    async fn the_shared_mode_reports_pending_migrations_then_a_database_that_answers() {
        let Some((url, key)) = shared_database().await else {
            return;
        };
        let config = shared_config(&url, &key, &[]);
        let before = examine(&config, None).await;
        no_password(&before);
        let database = before.iter().find(|c| c.subject == "database").unwrap();
        assert_eq!(database.status, Status::Fail, "{}", database.line());
        assert!(
            database.message.contains("migration(s) not applied")
                && database.message.contains("migrates under a lock"),
            "{}",
            database.line()
        );
        let key_line = before.iter().find(|c| c.subject == "key").unwrap();
        assert_eq!(key_line.status, Status::Ok);
        assert!(key_line.message.contains("every instance the same value"));

        Store::open(&url, Sealer::new(key.clone()))
            .await
            .unwrap()
            .close()
            .await;
        let after = examine(&config, None).await;
        no_password(&after);
        let lines: Vec<String> = after.iter().map(Check::line).collect();
        assert!(after.iter().all(|c| c.status != Status::Fail), "{lines:#?}");
        assert!(
            lines.iter().any(|l| l.contains("PostgreSQL at")
                && l.contains("postgres:redacted@")
                && l.contains("every migration is applied")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("none is running now")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("ok   media")),
            "{lines:#?}"
        );

        let other = MasterKey::generate();
        let wrong = examine(&shared_config(&url, &other, &[]), None).await;
        let database = wrong.iter().find(|c| c.subject == "database").unwrap();
        assert_eq!(database.status, Status::Fail);
        assert!(
            database.message.contains("every instance must have"),
            "{}",
            database.line()
        );
    }

    #[tokio::test]
    async fn the_shared_mode_lists_instances_leases_roles_images_and_how_telegram_is_fed() {
        let Some((url, key)) = shared_database().await else {
            return;
        };
        let store = Store::open(&url, Sealer::new(key.clone())).await.unwrap();
        let lease = |seconds: u64| std::time::Duration::from_secs(seconds);
        store
            .register_instance("a1", "web-1:10", lease(20))
            .await
            .unwrap();
        store
            .register_instance("b2", "web-2:20", lease(21))
            .await
            .unwrap();
        store
            .register_instance("c3", "web-3:30", lease(0))
            .await
            .unwrap();
        let clock = store.clock().await.unwrap();
        let now = chrono::DateTime::from_timestamp_millis(clock + 12_000).unwrap();
        store
            .record_role("telegram-poller", Some("b2"), now)
            .await
            .unwrap();
        store.record_role("purge", Some("c3"), now).await.unwrap();
        store
            .record_role("discord-gateway", None, now)
            .await
            .unwrap();
        let polling = shared_config(&url, &key, &[("AUTOPOST_TELEGRAM_TOKEN", "1:abc")]);
        let checks = shared_checks(&polling, &store, now.timestamp_millis())
            .await
            .unwrap();
        let lines: Vec<String> = checks.iter().map(Check::line).collect();
        let has = |status: Status, subject: &str, text: &str| {
            checks
                .iter()
                .any(|c| c.status == status && c.subject == subject && c.message.contains(text))
        };
        assert!(has(Status::Ok, "media", "0 image(s)"), "{lines:#?}");
        assert!(
            has(
                Status::Ok,
                "instance",
                "web-1:10 (a1) is running; its lease holds for "
            ),
            "{lines:#?}"
        );
        assert!(has(Status::Ok, "instance", "web-2:20 (b2)"), "{lines:#?}");
        assert!(
            has(
                Status::Warn,
                "instance",
                "web-3:30 (c3) let its lease run out 1"
            ),
            "{lines:#?}"
        );
        assert!(
            has(Status::Ok, "role", "telegram-poller: web-2:20"),
            "{lines:#?}"
        );
        assert!(has(Status::Ok, "role", "purge: web-3:30"), "{lines:#?}");
        assert!(
            has(Status::Ok, "role", "discord-gateway: nobody now"),
            "{lines:#?}"
        );
        assert!(
            has(
                Status::Warn,
                "telegram",
                "2 instances run and Telegram updates are polled: only one instance polls at a time (web-2:20)"
            ),
            "{lines:#?}"
        );

        let webhook = shared_config(
            &url,
            &key,
            &[
                ("AUTOPOST_TELEGRAM_TOKEN", "1:abc"),
                ("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", "s3cret"),
            ],
        );
        let checks = shared_checks(&webhook, &store, now.timestamp_millis())
            .await
            .unwrap();
        assert!(
            checks.iter().all(|c| c.subject != "telegram"),
            "a webhook feeds every instance"
        );
        store.forget_instance("b2").await.unwrap();
        let checks = shared_checks(&polling, &store, now.timestamp_millis())
            .await
            .unwrap();
        assert!(
            checks.iter().all(|c| c.subject != "telegram"),
            "one instance polls alone"
        );
        assert!(
            checks
                .iter()
                .any(|c| c.message == "telegram-poller: b2, no longer running"),
            "{:#?}",
            checks.iter().map(Check::line).collect::<Vec<_>>()
        );
        store.close().await;
    }
}
