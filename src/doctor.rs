//! `autopost doctor`: checks configuration, the master key and the database without
//! changing anything, and says for each problem how to fix it.

use std::path::Path;

use crate::app::{KEY_FILE, NEW_KEY_FILE};
use crate::config::Config;
use crate::crypto::{CryptoError, MasterKey, Sealer};
use crate::store::{Store, StoreError};
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

/// Runs every check. Reads only: a missing database or key file is reported, not created.
pub async fn examine(config: &Config, config_file: Option<&Path>) -> Vec<Check> {
    let mut checks = vec![Check::new(
        Status::Ok,
        "config",
        match config_file {
            Some(path) => format!("loaded from {} and the environment", path.display()),
            None => "loaded from defaults and the environment (no autopost.toml)".to_owned(),
        },
    )];
    let key = check_key(config, &mut checks);
    check_database(config, key, &mut checks).await;
    check_platforms(config, &mut checks).await;
    checks
}

fn check_key(config: &Config, checks: &mut Vec<Check>) -> Option<MasterKey> {
    if let Some(key) = &config.master_key {
        checks.push(Check::new(
            Status::Ok,
            "key",
            format!("master key {} from AUTOPOST_MASTER_KEY", key.id()),
        ));
        return Some(key.clone());
    }
    let path = config.data_dir.join(KEY_FILE);
    if !path.exists() {
        checks.push(Check::new(
            Status::Warn,
            "key",
            format!(
                "no {} yet: the first `autopost run` or `autopost migrate` creates it; back it up then",
                path.display()
            ),
        ));
        return None;
    }
    match MasterKey::load_or_create(&path) {
        Ok((key, _)) => {
            checks.push(Check::new(
                Status::Ok,
                "key",
                format!("master key {} from {} (mode 600)", key.id(), path.display()),
            ));
            Some(key)
        }
        Err(e @ CryptoError::KeyFileExposed { .. }) => {
            checks.push(Check::new(Status::Fail, "key", e.to_string()));
            None
        }
        Err(e) => {
            checks.push(Check::new(
                Status::Fail,
                "key",
                format!("{}: restore the key file from your backup", chain(&e)),
            ));
            None
        }
    }
}

async fn check_database(config: &Config, key: Option<MasterKey>, checks: &mut Vec<Check>) {
    let pending_rotation = config.data_dir.join(NEW_KEY_FILE);
    if pending_rotation.exists() {
        checks.push(Check::new(
            Status::Warn,
            "key",
            format!(
                "{} exists: a rotate-key did not finish; keep whichever key the database check below accepts",
                pending_rotation.display()
            ),
        ));
    }
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
                "{} is up to date; all {} stored secret(s) open with the master key",
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
