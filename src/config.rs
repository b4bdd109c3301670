//! Configuration: read once at start into a typed, validated `Config`.
//! Only this module reads the environment; everything else gets its piece of `Config`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use url::Url;

use crate::crypto::{MasterKey, Secret};
use crate::store::{is_postgres_url, redacted_url};
use crate::throttle::Allowance;

/// Where the configuration file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "autopost.toml";

/// Every variable autopost reads, with its built-in default. The file uses the same names
/// without the `AUTOPOST_` prefix, in lower case (`listen = "0.0.0.0:8080"`).
const VARIABLES: &[(&str, Option<&str>)] = &[
    ("AUTOPOST_DATA_DIR", Some("./autopost-data")),
    ("AUTOPOST_DATABASE_URL", None),
    ("AUTOPOST_MASTER_KEY", None),
    ("AUTOPOST_LISTEN", Some("127.0.0.1:8080")),
    ("AUTOPOST_PUBLIC_URL", Some("http://127.0.0.1:8080")),
    ("AUTOPOST_DEFAULT_TIMEZONE", Some("UTC")),
    ("AUTOPOST_TELEGRAM_TOKEN", None),
    (
        "AUTOPOST_TELEGRAM_API_URL",
        Some("https://api.telegram.org"),
    ),
    ("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", None),
    ("AUTOPOST_DISCORD_TOKEN", None),
    ("AUTOPOST_DISCORD_APPLICATION_ID", None),
    ("AUTOPOST_DISCORD_PUBLIC_KEY", None),
    ("AUTOPOST_DISCORD_API_URL", Some("https://discord.com")),
    ("AUTOPOST_X_CLIENT_ID", None),
    ("AUTOPOST_X_CLIENT_SECRET", None),
    ("AUTOPOST_X_API_URL", Some("https://api.x.com")),
    (
        "AUTOPOST_X_AUTHORIZE_URL",
        Some("https://x.com/i/oauth2/authorize"),
    ),
    ("AUTOPOST_META_APP_ID", None),
    ("AUTOPOST_META_APP_SECRET", None),
    (
        "AUTOPOST_META_GRAPH_URL",
        Some("https://graph.facebook.com"),
    ),
    ("AUTOPOST_META_DIALOG_URL", Some("https://www.facebook.com")),
    ("AUTOPOST_META_API_VERSION", Some("v27.0")),
    ("AUTOPOST_POLICY_VERSION", Some("1")),
    ("AUTOPOST_POLICY_DATE", Some("2026-12-06")),
    ("AUTOPOST_POLICY_CHANGES", None),
    ("AUTOPOST_MEDIA_RETENTION_DAYS", Some("7")),
    ("AUTOPOST_HISTORY_RETENTION_DAYS", Some("365")),
    ("AUTOPOST_COMMAND_BURST", Some("60")),
    ("AUTOPOST_COMMAND_RATE", Some("30")),
    ("AUTOPOST_IMPORT_PRIVATE_URLS", Some("false")),
    ("AUTOPOST_LOG", Some("info")),
    ("AUTOPOST_LOG_FORMAT", Some("text")),
];

/// Everything autopost reads from outside, parsed and checked at start.
#[derive(Debug)] // fine: every credential inside is a `Secret` or a `MasterKey`, both redacted
pub struct Config {
    /// Holds the SQLite file, the master key file and stored media.
    pub data_dir: PathBuf,
    /// The database: a `sqlite:` URL (one instance, the default) or a `postgres://` one (the
    /// shared mode: several instances on one database). May hold a password: show it only
    /// through [`crate::store::redacted_url`].
    pub database_url: String,
    /// The master key from `AUTOPOST_MASTER_KEY`; `None` means the key file in `data_dir`
    /// (SQLite only: the shared mode requires the variable).
    pub master_key: Option<MasterKey>,
    /// Address the web server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// How the outside world reaches the web server (OAuth redirects, media links).
    pub public_url: Url,
    /// Zone for people who have not chosen one with `/timezone`.
    pub default_time_zone: Tz,
    /// `None` means the Telegram bot is off.
    pub telegram: Option<TelegramConfig>,
    /// `None` means the Discord bot is off.
    pub discord: Option<DiscordConfig>,
    /// `None` means X is off.
    pub x: Option<XConfig>,
    /// `None` means Facebook Pages and Instagram are off.
    pub meta: Option<MetaConfig>,
    /// Version of the privacy policy users accept; a higher one is announced to them.
    pub policy_version: u32,
    /// The date of that policy version, shown with the notice and on `/privacy`.
    pub policy_date: chrono::NaiveDate,
    /// What changed in this policy version, in the operator's words (shown once to people
    /// who agreed to an older one).
    pub policy_changes: Option<String>,
    /// Days a published or cancelled post's images stay on disk (0: removed at the next
    /// purge).
    pub media_retention_days: u32,
    /// Days a published or cancelled post stays in `/history` before it is removed.
    pub history_retention_days: u32,
    /// What each person may send: commands at once, and regained per minute.
    pub command_allowance: Allowance,
    /// Whether `/import` may fetch images from loopback, private and link-local addresses
    /// (a chat user makes the server fetch them, so off unless the operator allows it).
    pub import_private_urls: bool,
    /// tracing filter directives.
    pub log_filter: String,
    /// How log lines are written.
    pub log_format: LogFormat,
}

impl Config {
    /// Whether this is the shared mode: the database is PostgreSQL, which several instances
    /// may use at once; images are kept in it and the master key comes from the environment.
    pub fn shared(&self) -> bool {
        is_postgres_url(&self.database_url)
    }
}

/// `{public_url}/{segments…}`: where the outside world reaches one of the web server's routes
/// (OAuth callbacks, media links, webhooks), each segment percent-encoded. A path in the
/// public URL (autopost behind a proxy prefix) is kept.
pub fn public_link(public_url: &Url, segments: &[&str]) -> Url {
    let mut url = public_url.clone();
    // A configured public URL always has a host (config checks it), so it has segments.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The Telegram Bot API connection.
#[derive(Debug)]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub token: Secret,
    /// Bot API server base.
    pub api_url: Url,
    /// When set, updates arrive by webhook carrying this secret instead of by polling.
    pub webhook_secret: Option<Secret>,
}

/// The Discord application.
#[derive(Debug)]
pub struct DiscordConfig {
    /// Gateway bot token; `None` leaves only the HTTP interactions endpoint.
    pub token: Option<Secret>,
    /// The application (client) id, needed to register commands and send follow-ups.
    pub application_id: Option<u64>,
    /// Ed25519 key that verifies `POST /discord/interactions`; `None` turns the endpoint off.
    pub public_key: Option<[u8; 32]>,
    /// REST base.
    pub api_url: Url,
}

/// The X (Twitter) OAuth 2.0 client.
#[derive(Debug)]
pub struct XConfig {
    /// OAuth 2.0 client id.
    pub client_id: String,
    /// `None` for a public PKCE client.
    pub client_secret: Option<Secret>,
    /// API base (`/2/tweets`, `/2/oauth2/token`, ...).
    pub api_url: Url,
    /// Consent page.
    pub authorize_url: Url,
}

/// The Meta app behind Facebook Pages and Instagram.
#[derive(Debug)]
pub struct MetaConfig {
    /// App id.
    pub app_id: String,
    /// App secret: token exchange and signed-request verification.
    pub app_secret: Secret,
    /// Graph API base, without the version.
    pub graph_url: Url,
    /// Login dialog base.
    pub dialog_url: Url,
    /// Graph API version such as `v27.0`; Meta retires versions, so it is configuration.
    pub api_version: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why the configuration cannot be used. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is malformed; the message names the variable.
    #[error("{var}: {problem}")]
    Invalid {
        /// The `AUTOPOST_*` name.
        var: &'static str,
        /// What is wrong, without echoing secrets.
        problem: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read config file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid or has an unknown key.
    #[error("config file {}: {problem}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// Reads a process environment variable: what `main` passes to [`load`].
#[allow(clippy::disallowed_methods)] // this is the one place configuration reads the environment
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Built-in defaults < the config file (`file`, else `./autopost.toml` if present) < `env`.
pub fn load(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    assemble(file_in_use(file), env)
}

/// Built-in defaults < `vars` (`AUTOPOST_*` name, value), and nothing else: no config file,
/// not even `./autopost.toml`, and no process environment. For the demo, the benches and
/// tests, which must not pick up an operator's settings.
pub fn from_variables(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    assemble(None, |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
}

fn assemble(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut raw: BTreeMap<&'static str, String> = BTreeMap::new();
    for (name, default) in VARIABLES {
        if let Some(value) = default {
            raw.insert(name, (*value).to_owned());
        }
    }
    if let Some(path) = file {
        merge_file(path, &mut raw)?;
    }
    for (name, _) in VARIABLES {
        // An empty variable counts as unset: compose files often declare `X=` to mean "off".
        if let Some(value) = env(name).filter(|v| !v.trim().is_empty()) {
            raw.insert(name, value);
        }
    }
    Raw(raw).into_config()
}

/// The configuration file [`load`] reads: `explicit` if given, else `./autopost.toml` if it exists.
pub fn file_in_use(explicit: Option<&Path>) -> Option<&Path> {
    let default_file = Path::new(DEFAULT_CONFIG_FILE);
    match explicit {
        Some(path) => Some(path),
        None if default_file.is_file() => Some(default_file),
        None => None,
    }
}

fn merge_file(path: &Path, raw: &mut BTreeMap<&'static str, String>) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let bad = |problem: String| ConfigError::BadFile {
        path: path.to_owned(),
        problem,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
    for (key, value) in table {
        let Some((name, _)) = VARIABLES
            .iter()
            .find(|(name, _)| name["AUTOPOST_".len()..].eq_ignore_ascii_case(&key))
        else {
            return Err(bad(format!(
                "unknown key `{key}` (keys are the AUTOPOST_* names without the prefix, e.g. `listen`)"
            )));
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(bad(format!(
                    "`{key}` must be a string or a number, not a {}",
                    other.type_str()
                )));
            }
        };
        if !value.trim().is_empty() {
            raw.insert(name, value);
        }
    }
    Ok(())
}

/// The merged text values, before parsing.
struct Raw(BTreeMap<&'static str, String>);

impl Raw {
    fn text(&self, var: &'static str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim())
    }

    fn secret(&self, var: &'static str) -> Option<Secret> {
        self.text(var).map(Secret::new)
    }

    fn parsed<T>(&self, var: &'static str, what: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
    {
        self.text(var)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| invalid(var, format!("`{value}` is not {what}")))
            })
            .transpose()
    }

    fn required<T: FromStr>(&self, var: &'static str, what: &str) -> Result<T, ConfigError> {
        self.parsed(var, what)?
            .ok_or_else(|| invalid(var, "must not be empty".to_owned()))
    }

    fn url(&self, var: &'static str) -> Result<Url, ConfigError> {
        let value = self
            .text(var)
            .ok_or_else(|| invalid(var, "must not be empty".to_owned()))?;
        let url =
            Url::parse(value).map_err(|e| invalid(var, format!("`{value}` is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                var,
                format!("`{value}` must be an http:// or https:// URL with a host"),
            ));
        }
        Ok(url)
    }

    fn into_config(self) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(
            self.text("AUTOPOST_DATA_DIR")
                .ok_or_else(|| invalid("AUTOPOST_DATA_DIR", "must not be empty".to_owned()))?,
        );
        let database_url = match self.text("AUTOPOST_DATABASE_URL") {
            Some(url) if url.starts_with("sqlite:") || is_postgres_url(url) => url.to_owned(),
            Some(url) => {
                return Err(invalid(
                    "AUTOPOST_DATABASE_URL",
                    format!(
                        "`{}` is neither a sqlite: URL (one instance, the default) nor a \
                         postgres:// or postgresql:// URL (several instances sharing one database)",
                        redacted_url(url)
                    ),
                ));
            }
            None => format!("sqlite://{}", data_dir.join("autopost.db").display()),
        };
        let master_key = self
            .text("AUTOPOST_MASTER_KEY")
            .map(|value| {
                MasterKey::from_base64(value)
                    .map_err(|e| invalid("AUTOPOST_MASTER_KEY", e.to_string()))
            })
            .transpose()?;
        if master_key.is_none() && is_postgres_url(&database_url) {
            // A key file would be one per machine: instances with different keys would each
            // seal tokens the others cannot open.
            return Err(invalid(
                "AUTOPOST_MASTER_KEY",
                format!(
                    "must be set when AUTOPOST_DATABASE_URL is a PostgreSQL database ({}): every \
                     instance sharing it must seal secrets with the same key, so no key file is \
                     made; generate one with `openssl rand -base64 32` and give the same value \
                     to every instance",
                    redacted_url(&database_url)
                ),
            ));
        }
        let listen = self.required(
            "AUTOPOST_LISTEN",
            "an ip:port address such as 127.0.0.1:8080",
        )?;
        let public_url = self.url("AUTOPOST_PUBLIC_URL")?;
        let default_time_zone = self.required(
            "AUTOPOST_DEFAULT_TIMEZONE",
            "an IANA time zone such as Europe/Berlin or UTC",
        )?;

        let telegram = self.telegram()?;
        let discord = self.discord()?;
        let x = self.x()?;
        let meta = self.meta()?;

        let policy_version: u32 = self.required("AUTOPOST_POLICY_VERSION", "a whole number")?;
        if policy_version == 0 {
            return Err(invalid(
                "AUTOPOST_POLICY_VERSION",
                "must be 1 or more".to_owned(),
            ));
        }
        let policy_date = self.required("AUTOPOST_POLICY_DATE", "a date such as 2026-12-06")?;
        let policy_changes = self.text("AUTOPOST_POLICY_CHANGES").map(str::to_owned);
        let media_retention_days =
            self.required("AUTOPOST_MEDIA_RETENTION_DAYS", "a whole number of days")?;
        let history_retention_days =
            self.required("AUTOPOST_HISTORY_RETENTION_DAYS", "a whole number of days")?;
        let command_allowance = self.command_allowance()?;
        let import_private_urls = match self.text("AUTOPOST_IMPORT_PRIVATE_URLS") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    "AUTOPOST_IMPORT_PRIVATE_URLS",
                    format!("`{other}` is not `true` or `false`"),
                ));
            }
        };
        let log_filter = self.text("AUTOPOST_LOG").unwrap_or("info").to_owned();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            return Err(invalid(
                "AUTOPOST_LOG",
                format!("`{log_filter}` is not a tracing filter ({e})"),
            ));
        }
        let log_format = match self.text("AUTOPOST_LOG_FORMAT") {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "AUTOPOST_LOG_FORMAT",
                    format!("`{other}` is not `text` or `json`"),
                ));
            }
        };
        Ok(Config {
            data_dir,
            database_url,
            master_key,
            listen,
            public_url,
            default_time_zone,
            telegram,
            discord,
            x,
            meta,
            policy_version,
            policy_date,
            policy_changes,
            media_retention_days,
            history_retention_days,
            command_allowance,
            import_private_urls,
            log_filter,
            log_format,
        })
    }

    /// The per-person allowance: a burst of at least 1, refilled at 1 or more a minute (0
    /// would lock a person out for good after one burst).
    fn command_allowance(&self) -> Result<Allowance, ConfigError> {
        let burst: u32 = self.required("AUTOPOST_COMMAND_BURST", "a whole number of commands")?;
        if !(1..=100_000).contains(&burst) {
            return Err(invalid(
                "AUTOPOST_COMMAND_BURST",
                "must be between 1 and 100000".to_owned(),
            ));
        }
        let per_minute: u32 = self.required(
            "AUTOPOST_COMMAND_RATE",
            "a whole number of commands per minute",
        )?;
        if !(1..=1_000_000).contains(&per_minute) {
            return Err(invalid(
                "AUTOPOST_COMMAND_RATE",
                "must be between 1 and 1000000 commands per minute".to_owned(),
            ));
        }
        Ok(Allowance {
            burst,
            per_second: f64::from(per_minute) / 60.0,
        })
    }

    fn telegram(&self) -> Result<Option<TelegramConfig>, ConfigError> {
        let api_url = self.url("AUTOPOST_TELEGRAM_API_URL")?;
        let webhook_secret = self.secret("AUTOPOST_TELEGRAM_WEBHOOK_SECRET");
        if let Some(secret) = &webhook_secret {
            // Telegram accepts 1-256 characters of [A-Za-z0-9_-] and sends them back verbatim.
            let value = secret.expose();
            if value.len() > 256
                || !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(
                    "AUTOPOST_TELEGRAM_WEBHOOK_SECRET",
                    "must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -".to_owned(),
                ));
            }
        }
        let Some(token) = self.secret("AUTOPOST_TELEGRAM_TOKEN") else {
            return Ok(None);
        };
        // Bot tokens look like `123456:ABC-...`; a malformed one would only fail later, at the API.
        let value = token.expose();
        let well_formed = value.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !well_formed {
            return Err(invalid(
                "AUTOPOST_TELEGRAM_TOKEN",
                "is not a bot token of the form 123456:ABC-DEF (ask @BotFather)".to_owned(),
            ));
        }
        Ok(Some(TelegramConfig {
            token,
            api_url,
            webhook_secret,
        }))
    }

    fn discord(&self) -> Result<Option<DiscordConfig>, ConfigError> {
        let api_url = self.url("AUTOPOST_DISCORD_API_URL")?;
        let application_id = self.parsed(
            "AUTOPOST_DISCORD_APPLICATION_ID",
            "a numeric application id",
        )?;
        let public_key = self
            .text("AUTOPOST_DISCORD_PUBLIC_KEY")
            .map(|hex| {
                decode_hex_32(hex).ok_or_else(|| {
                    invalid(
                        "AUTOPOST_DISCORD_PUBLIC_KEY",
                        "is not 64 hexadecimal characters (copy it from the Developer Portal)"
                            .to_owned(),
                    )
                })
            })
            .transpose()?;
        let token = self.secret("AUTOPOST_DISCORD_TOKEN");
        if token.is_none() && public_key.is_none() {
            return Ok(None);
        }
        if public_key.is_some() && application_id.is_none() {
            return Err(invalid(
                "AUTOPOST_DISCORD_APPLICATION_ID",
                "must be set when AUTOPOST_DISCORD_PUBLIC_KEY is".to_owned(),
            ));
        }
        Ok(Some(DiscordConfig {
            token,
            application_id,
            public_key,
            api_url,
        }))
    }

    fn x(&self) -> Result<Option<XConfig>, ConfigError> {
        let api_url = self.url("AUTOPOST_X_API_URL")?;
        let authorize_url = self.url("AUTOPOST_X_AUTHORIZE_URL")?;
        let client_secret = self.secret("AUTOPOST_X_CLIENT_SECRET");
        let Some(client_id) = self.text("AUTOPOST_X_CLIENT_ID") else {
            if client_secret.is_some() {
                return Err(invalid(
                    "AUTOPOST_X_CLIENT_ID",
                    "must be set when AUTOPOST_X_CLIENT_SECRET is".to_owned(),
                ));
            }
            return Ok(None);
        };
        Ok(Some(XConfig {
            client_id: client_id.to_owned(),
            client_secret,
            api_url,
            authorize_url,
        }))
    }

    fn meta(&self) -> Result<Option<MetaConfig>, ConfigError> {
        let graph_url = self.url("AUTOPOST_META_GRAPH_URL")?;
        let dialog_url = self.url("AUTOPOST_META_DIALOG_URL")?;
        let api_version = self
            .text("AUTOPOST_META_API_VERSION")
            .unwrap_or_default()
            .to_owned();
        let well_formed = api_version
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.bytes().all(|b| b.is_ascii_digit())
                    && minor.bytes().all(|b| b.is_ascii_digit())
            });
        if !well_formed {
            return Err(invalid(
                "AUTOPOST_META_API_VERSION",
                format!("`{api_version}` is not a Graph API version such as v27.0"),
            ));
        }
        let app_id = self.text("AUTOPOST_META_APP_ID");
        let app_secret = self.secret("AUTOPOST_META_APP_SECRET");
        match (app_id, app_secret) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid(
                "AUTOPOST_META_APP_SECRET",
                "must be set when AUTOPOST_META_APP_ID is".to_owned(),
            )),
            (None, Some(_)) => Err(invalid(
                "AUTOPOST_META_APP_ID",
                "must be set when AUTOPOST_META_APP_SECRET is".to_owned(),
            )),
            (Some(app_id), Some(app_secret)) => Ok(Some(MetaConfig {
                app_id: app_id.to_owned(),
                app_secret,
                graph_url,
                dialog_url,
                api_version,
            })),
        }
    }
}

fn invalid(var: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { var, problem }
}

fn decode_hex_32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // An explicit empty file keeps a stray ./autopost.toml out of the tests.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("autopost.toml");
        std::fs::write(&file, "").unwrap();
        load(Some(&file), |name| map.get(name).cloned())
    }

    fn error_of(vars: &[(&str, &str)]) -> String {
        load_with(vars).unwrap_err().to_string()
    }

    #[test]
    fn public_links_keep_a_proxy_prefix_and_encode_each_segment() {
        let root = Url::parse("https://autopost.example").unwrap();
        assert_eq!(
            public_link(&root, &["oauth", "x", "callback"]).as_str(),
            "https://autopost.example/oauth/x/callback"
        );
        let prefixed = Url::parse("https://example.org/autopost/").unwrap();
        assert_eq!(
            public_link(&prefixed, &["media", "a/b c"]).as_str(),
            "https://example.org/autopost/media/a%2Fb%20c"
        );
    }

    #[test]
    fn defaults_need_no_configuration_and_leave_every_platform_off() {
        let config = load_with(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.data_dir, PathBuf::from("./autopost-data"));
        assert_eq!(config.database_url, "sqlite://./autopost-data/autopost.db");
        assert_eq!(config.default_time_zone, chrono_tz::UTC);
        assert_eq!(config.policy_version, 1);
        assert_eq!(config.media_retention_days, 7);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.command_allowance, Allowance::default());
        assert!(!config.import_private_urls);
        let config = load_with(&[
            ("AUTOPOST_COMMAND_BURST", "5"),
            ("AUTOPOST_COMMAND_RATE", "120"),
            ("AUTOPOST_IMPORT_PRIVATE_URLS", "true"),
        ])
        .unwrap();
        assert_eq!(
            config.command_allowance,
            Allowance {
                burst: 5,
                per_second: 2.0
            }
        );
        assert!(config.import_private_urls);
        let config = load_with(&[]).unwrap();
        assert!(config.master_key.is_none());
        assert!(config.telegram.is_none() && config.discord.is_none());
        assert!(config.x.is_none() && config.meta.is_none());
    }

    #[test]
    fn credentials_switch_platforms_on_with_their_urls() {
        let config = load_with(&[
            ("AUTOPOST_TELEGRAM_TOKEN", "123:abc-DEF_9"),
            ("AUTOPOST_TELEGRAM_API_URL", "http://127.0.0.1:9001"),
            ("AUTOPOST_X_CLIENT_ID", "client"),
            ("AUTOPOST_META_APP_ID", "42"),
            ("AUTOPOST_META_APP_SECRET", "shh"),
            ("AUTOPOST_META_API_VERSION", "v26.0"),
            ("AUTOPOST_DISCORD_TOKEN", "discord-token"),
        ])
        .unwrap();
        let telegram = config.telegram.unwrap();
        assert_eq!(telegram.api_url.as_str(), "http://127.0.0.1:9001/");
        assert_eq!(telegram.token.expose(), "123:abc-DEF_9");
        let x = config.x.unwrap();
        assert_eq!(x.client_id, "client");
        assert!(x.client_secret.is_none());
        assert_eq!(x.api_url.as_str(), "https://api.x.com/");
        assert_eq!(config.meta.unwrap().api_version, "v26.0");
        assert!(config.discord.unwrap().public_key.is_none());
    }

    #[test]
    fn environment_beats_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("custom.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\npolicy_version = 3\ndefault_timezone = \"Asia/Kolkata\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "AUTOPOST_LISTEN").then(|| "127.0.0.1:0".to_owned());
        let config = load(Some(&file), env).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:0");
        assert_eq!(config.policy_version, 3);
        assert_eq!(config.default_time_zone, chrono_tz::Asia::Kolkata);
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let config = load_with(&[("AUTOPOST_X_CLIENT_ID", ""), ("AUTOPOST_LISTEN", " ")]).unwrap();
        assert!(config.x.is_none());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn each_bad_value_names_its_variable_and_the_problem() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("AUTOPOST_LISTEN", "localhost")],
                "AUTOPOST_LISTEN: `localhost` is not an ip:port address",
            ),
            (
                &[("AUTOPOST_PUBLIC_URL", "not a url")],
                "AUTOPOST_PUBLIC_URL: `not a url` is not a URL",
            ),
            (
                &[("AUTOPOST_X_API_URL", "ftp://x.example")],
                "AUTOPOST_X_API_URL: `ftp://x.example` must be an http:// or https:// URL",
            ),
            (
                &[("AUTOPOST_DEFAULT_TIMEZONE", "Mars/Olympus")],
                "AUTOPOST_DEFAULT_TIMEZONE: `Mars/Olympus` is not an IANA time zone",
            ),
            (
                &[("AUTOPOST_MASTER_KEY", "!!!not base64!!!")],
                "AUTOPOST_MASTER_KEY: ",
            ),
            (
                &[("AUTOPOST_MASTER_KEY", "c2hvcnQ=")],
                "AUTOPOST_MASTER_KEY: ",
            ),
            (
                &[("AUTOPOST_DATABASE_URL", "mysql://db")],
                "AUTOPOST_DATABASE_URL: `mysql://db` is neither a sqlite: URL",
            ),
            (
                &[("AUTOPOST_DATABASE_URL", "postgres://db")],
                "AUTOPOST_MASTER_KEY: must be set when AUTOPOST_DATABASE_URL is a PostgreSQL database",
            ),
            (
                &[("AUTOPOST_POLICY_VERSION", "two")],
                "AUTOPOST_POLICY_VERSION: `two` is not a whole number",
            ),
            (
                &[("AUTOPOST_POLICY_VERSION", "0")],
                "AUTOPOST_POLICY_VERSION: must be 1 or more",
            ),
            (
                &[("AUTOPOST_MEDIA_RETENTION_DAYS", "-1")],
                "AUTOPOST_MEDIA_RETENTION_DAYS: `-1` is not a whole number of days",
            ),
            (
                &[("AUTOPOST_COMMAND_BURST", "lots")],
                "AUTOPOST_COMMAND_BURST: `lots` is not a whole number of commands",
            ),
            (
                &[("AUTOPOST_COMMAND_BURST", "0")],
                "AUTOPOST_COMMAND_BURST: must be between 1 and 100000",
            ),
            (
                &[("AUTOPOST_COMMAND_RATE", "0")],
                "AUTOPOST_COMMAND_RATE: must be between 1 and 1000000 commands per minute",
            ),
            (
                &[("AUTOPOST_COMMAND_RATE", "2.5")],
                "AUTOPOST_COMMAND_RATE: `2.5` is not a whole number of commands per minute",
            ),
            (
                &[("AUTOPOST_IMPORT_PRIVATE_URLS", "yes")],
                "AUTOPOST_IMPORT_PRIVATE_URLS: `yes` is not `true` or `false`",
            ),
            (
                &[("AUTOPOST_LOG_FORMAT", "xml")],
                "AUTOPOST_LOG_FORMAT: `xml` is not `text` or `json`",
            ),
            (
                &[("AUTOPOST_LOG", "info,[")],
                "AUTOPOST_LOG: `info,[` is not a tracing filter",
            ),
            (
                &[("AUTOPOST_META_API_VERSION", "27")],
                "AUTOPOST_META_API_VERSION: `27` is not a Graph API version",
            ),
            (
                &[("AUTOPOST_META_APP_ID", "42")],
                "AUTOPOST_META_APP_SECRET: must be set when AUTOPOST_META_APP_ID is",
            ),
            (
                &[("AUTOPOST_X_CLIENT_SECRET", "s")],
                "AUTOPOST_X_CLIENT_ID: must be set when AUTOPOST_X_CLIENT_SECRET is",
            ),
            (
                &[("AUTOPOST_TELEGRAM_TOKEN", "nocolon")],
                "AUTOPOST_TELEGRAM_TOKEN: is not a bot token",
            ),
            (
                &[("AUTOPOST_TELEGRAM_WEBHOOK_SECRET", "has space")],
                "AUTOPOST_TELEGRAM_WEBHOOK_SECRET: must be 1 to 256 characters",
            ),
            (
                &[("AUTOPOST_DISCORD_PUBLIC_KEY", "abc")],
                "AUTOPOST_DISCORD_PUBLIC_KEY: is not 64 hexadecimal characters",
            ),
            (
                &[("AUTOPOST_DISCORD_APPLICATION_ID", "app")],
                "AUTOPOST_DISCORD_APPLICATION_ID: `app` is not a numeric application id",
            ),
        ];
        for (vars, expected) in cases {
            let message = error_of(vars);
            assert!(
                message.starts_with(expected),
                "{vars:?}: got `{message}`, want it to start with `{expected}`"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn errors_about_secrets_never_echo_the_secret() {
        let message = error_of(&[("AUTOPOST_TELEGRAM_TOKEN", "supersecretvalue")]);
        assert!(!message.contains("supersecretvalue"), "{message}");
        let message = error_of(&[("AUTOPOST_MASTER_KEY", "c3VwZXJzZWNyZXR2YWx1ZQ==")]);
        assert!(!message.contains("c3VwZXJzZWNyZXR2YWx1ZQ"), "{message}");
    }

    #[test]
    fn a_file_with_an_unknown_key_or_a_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("autopost.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let message = load(Some(&file), |_| None).unwrap_err().to_string();
        assert!(message.contains("unknown key `lisen`"), "{message}");
        std::fs::write(&file, "[listen]\nhost = \"a\"\n").unwrap();
        let message = load(Some(&file), |_| None).unwrap_err().to_string();
        assert!(
            message.contains("`listen` must be a string or a number"),
            "{message}"
        );
        std::fs::write(&file, "listen = ").unwrap();
        assert!(matches!(
            load(Some(&file), |_| None),
            Err(ConfigError::BadFile { .. })
        ));
        let missing = dir.path().join("missing.toml");
        assert!(matches!(
            load(Some(&missing), |_| None),
            Err(ConfigError::Unreadable { .. })
        ));
    }

    #[test]
    fn a_postgres_url_is_the_shared_mode_and_needs_the_master_key_from_the_environment() {
        let key = MasterKey::generate().to_base64();
        for url in [
            "postgres://autopost@db/autopost",
            "postgresql://db/autopost",
        ] {
            let config = load_with(&[
                ("AUTOPOST_DATABASE_URL", url),
                ("AUTOPOST_MASTER_KEY", key.expose()),
            ])
            .unwrap();
            assert!(config.shared(), "{url}");
            assert_eq!(config.database_url, url);
            assert!(config.master_key.is_some());
        }
        let dir = tempfile::tempdir().unwrap();
        let message = error_of(&[
            (
                "AUTOPOST_DATABASE_URL",
                "postgres://autopost:hunter2@db/autopost",
            ),
            ("AUTOPOST_DATA_DIR", dir.path().to_str().unwrap()),
        ]);
        assert!(
            message.contains("same key") && message.contains("openssl rand -base64 32"),
            "says why and how: {message}"
        );
        assert!(!message.contains("hunter2"), "no password: {message}");
        assert!(
            !dir.path().join(crate::key_files::KEY_FILE).exists(),
            "no key file in the shared mode"
        );
        let message = error_of(&[("AUTOPOST_DATABASE_URL", "mysql://root:hunter2@db/x")]);
        assert!(!message.contains("hunter2"), "no password: {message}");
        assert!(!load_with(&[]).unwrap().shared(), "SQLite by default");
    }

    #[test]
    fn a_discord_public_key_decodes_from_hex() {
        let key = "ab".repeat(32);
        let config = load_with(&[
            ("AUTOPOST_DISCORD_PUBLIC_KEY", &key),
            ("AUTOPOST_DISCORD_APPLICATION_ID", "1234"),
        ])
        .unwrap();
        let discord = config.discord.unwrap();
        assert_eq!(discord.public_key, Some([0xab; 32]));
        assert_eq!(discord.application_id, Some(1234));
        assert!(discord.token.is_none());
    }
}
