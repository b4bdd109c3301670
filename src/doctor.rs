//! `autopost doctor`: checks configuration, the master key and the database without
//! changing anything, and says for each problem how to fix it.

use std::path::Path;

use crate::config::Config;
use crate::crypto::{CryptoError, MasterKey, Sealer};
use crate::key_files::{self, KEY_FILE, KeyFileError, NEW_KEY_FILE, Plan};
use crate::store::{Integrity, Store, StoreError};
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
        check_database(config, key, &mut checks).await;
    }
    check_platforms(config, &mut checks).await;
    checks
}

/// Whether the database file is whole: read-only, every page read. `false` when it is damaged
/// (reported as a failure) or there is none yet (reported as a warning).
async fn check_integrity(config: &Config, checks: &mut Vec<Check>) -> bool {
    let url = &config.database_url;
    let restore = |problem: &str| {
        format!(
            "{url} is damaged ({problem}); autopost must not run on it: stop it, move the \
             database and its -wal and -shm files aside, and restore the newest backup of the \
             data directory (database and master key) to {} (see README, Backups)",
            config.data_dir.display()
        )
    };
    let path = database_path(url);
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
    match Store::check_integrity(url).await {
        Ok(Integrity::Sound) => true,
        Ok(Integrity::Damaged(problem)) => {
            checks.push(Check::new(Status::Fail, "database", restore(&problem)));
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
        checks.push(Check::new(
            Status::Ok,
            "key",
            format!("master key {} from AUTOPOST_MASTER_KEY", key.id()),
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

async fn check_database(config: &Config, key: Option<MasterKey>, checks: &mut Vec<Check>) {
    let Some(key) = key else {
        checks.push(Check::new(
            Status::Warn,
            "database",
            "not checked: it cannot be opened without the master key",
        ));
        return;
    };
    match Store::inspect(&config.database_url, &Sealer::new(key)).await {
        Ok(seen) if seen.pending_migrations > 0 => checks.push(Check::new(
            Status::Fail,
            "database",
            format!(
                "{} migration(s) not applied: run `autopost migrate`",
                seen.pending_migrations
            ),
        )),
        Ok(seen) => checks.push(Check::new(
            Status::Ok,
            "database",
            format!(
                "{} is whole and up to date; all {} stored secret(s) open with the master key",
                config.database_url, seen.secrets
            ),
        )),
        Err(StoreError::Open { .. }) => checks.push(Check::new(
            Status::Warn,
            "database",
            format!(
                "{} does not exist yet or cannot be opened: `autopost migrate` creates it",
                config.database_url
            ),
        )),
        Err(e @ StoreError::WrongKey { .. }) => {
            checks.push(Check::new(Status::Fail, "database", e.to_string()));
        }
        Err(e) => checks.push(Check::new(
            Status::Fail,
            "database",
            format!("{}: restore from a backup or ask for help", chain(&e)),
        )),
    }
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
}
