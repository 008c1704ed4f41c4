//! One typed [`Config`], read from `authql.toml` and then from `AUTHQL_*` variables (the
//! environment wins). Every key is checked before anything is served: an unknown key or a
//! bad value stops start-up with a message that names the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::TimeDelta;
use secrecy::SecretString;

use crate::net::IpNet;
pub use providers::{GithubConfig, GoogleConfig, NamedOidcConfig, OidcConfig};
use values::{
    Values, format_duration, invalid, parse_bool, parse_http_url, parse_origin, parse_range, read_file, unknown_key,
};
pub use values::{parse_duration, parse_ttl};

mod providers;
#[cfg(test)]
mod tests;
mod values;
mod webauthn;

/// Why the configuration was refused. Always names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown setting `{0}` (see the configuration table in README.md)")]
    UnknownKey(String),
    #[error("`{0}` was replaced by `AUTHQL_TRUSTED_PROXIES`: list the proxies' addresses or CIDR blocks")]
    TrustProxyReplaced(String),
    #[error(
        "`{0}` was replaced by `AUTHQL_HASH_MAX_WAIT`: sign-ins now wait for a hashing worker while the \
         expected wait stays under it (default 10s), whatever their number; remove the setting"
    )]
    HashQueueReplaced(String),
    #[error(
        "unknown setting `{name}`: OpenID Connect providers are set with AUTHQL_OIDC_<NAME>_<FIELD>, \
         FIELD one of {fields}, NAME one listed in AUTHQL_OIDC_PROVIDERS (listed: {listed})"
    )]
    UnknownOidcKey { name: String, fields: String, listed: String },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (`sqlite://PATH`).
    Sqlite(String),
    /// A libpq URL (`postgres://...`), kept whole.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" {
                return Err("a SQLite database needs a file path, e.g. sqlite://authql.db".into());
            }
            Ok(Self::Sqlite(path.to_string()))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Self::Postgres(raw.to_string()))
        } else {
            Err("expected sqlite://PATH or postgres://...".into())
        }
    }
}

// The PostgreSQL URL may carry a password: never print it.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(_) => f.write_str("postgres://[redacted]"),
        }
    }
}

/// Who may create a new identity (`AUTHQL_SIGNUP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupPolicy {
    Open,
    Invite,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Argon2id cost; OWASP's recommendation by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// Password checks per account and per client address in one window; new accounts per
/// client address per hour.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    pub account_max: u32,
    pub ip_max: u32,
    pub window: TimeDelta,
    pub signup_max_per_address: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    pub signup: SignupPolicy,
    /// How long an unused session lives: each use slides its expiry this far ahead.
    pub session_ttl: TimeDelta,
    /// How long any session lives after sign-in, however active (never less than the TTL).
    pub session_max_ttl: TimeDelta,
    pub invite_ttl: TimeDelta,
    /// How long a password reset link works.
    pub reset_ttl: TimeDelta,
    pub session_cookie: bool,
    pub google: Option<GoogleConfig>,
    /// OpenID Connect providers named in `AUTHQL_OIDC_PROVIDERS`, in that order.
    pub oidc: Vec<NamedOidcConfig>,
    pub github: Option<GithubConfig>,
    pub app_url: String,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub log: String,
    pub log_format: LogFormat,
    pub argon2: Argon2Params,
    /// Hashes computed at once (default: the number of cores).
    pub hash_workers: usize,
    /// How long a hash may expect to wait for a worker before it is refused with 503.
    pub hash_max_wait: Duration,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before giving up (503).
    pub db_timeout: Duration,
    pub throttle: ThrottleConfig,
    /// Open (started, unfinished, unexpired) redirect flows one client address may have.
    pub flow_max_per_address: u32,
    pub introspection: bool,
    /// Proxies whose `X-Forwarded-For` is believed (see `net::client_address`).
    pub trusted_proxies: Vec<IpNet>,
    /// Origins (`scheme://host[:port]`) whose pages may call the API with credentials.
    pub cors_origins: Vec<String>,
    /// Serve the web app (examples/web) at `/` and its pages.
    pub ui: bool,
    /// The WebAuthn relying party id passkeys are bound to (`AUTHQL_WEBAUTHN_RP_ID`, else the
    /// app URL's host); `None` when the app URL's host is an IP address: no passkeys then.
    pub webauthn_rp_id: Option<String>,
}

/// Every key, as written in `authql.toml` (the variable is `AUTHQL_` + upper case).
const KEYS: &[&str] = &[
    "database_url",
    "bind",
    "signup",
    "session_ttl",
    "session_max_ttl",
    "invite_ttl",
    "reset_ttl",
    "session_cookie",
    "google_client_id",
    "google_client_secret",
    "google_callback_url",
    "google_issuer",
    "google_allowed_callback_urls",
    "google_scopes",
    "oidc_providers",
    "github_client_id",
    "github_client_secret",
    "github_callback_url",
    "github_url",
    "github_api_url",
    "app_url",
    "smtp_url",
    "mail_from",
    "log",
    "log_format",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "hash_workers",
    "hash_max_wait",
    "db_pool_size",
    "db_timeout",
    "throttle_account_max",
    "throttle_ip_max",
    "throttle_window",
    "signup_max_per_address",
    "flow_max_per_address",
    "introspection",
    "trusted_proxies",
    "cors_origins",
    "ui",
    "webauthn_rp_id",
];

/// Variables that are not settings but steer where settings come from.
const META_VARS: &[&str] = &["AUTHQL_CONFIG"];

impl Config {
    /// Reads `AUTHQL_CONFIG` (or `./authql.toml` when present), then the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = match std::env::var("AUTHQL_CONFIG") {
            Ok(path) => Some(PathBuf::from(path)),
            Err(_) => Some(PathBuf::from("authql.toml")).filter(|p| p.exists()),
        };
        Self::from_sources(file.as_deref(), env)
    }

    /// The pure core of [`Config::load`]: a config file (optional) and environment pairs.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        // How each key was spelled where it was set, for messages about it.
        let mut spelled: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = file {
            for (key, (name, value)) in read_file(path)? {
                spelled.insert(key.clone(), name);
                values.insert(key, value);
            }
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("AUTHQL_") else { continue };
            if META_VARS.contains(&name.as_str()) {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !providers::is_known_or_oidc(&key) {
                return Err(unknown_key(&key, name));
            }
            spelled.insert(key.clone(), name);
            values.insert(key, value);
        }
        // Which `oidc_*` keys exist depends on `oidc_providers`, wherever it was set.
        providers::check_oidc_keys(&values, &spelled)?;
        Self::from_map(values)
    }

    fn from_map(values: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let v = Values(values);
        let providers::Providers { google, oidc, github } = providers::read(&v)?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let config = Config {
            database_url: v.parse_with("database_url", "sqlite://authql.db", DatabaseUrl::parse)?,
            bind: v.parse_with("bind", "127.0.0.1:8080", |s| {
                s.parse::<SocketAddr>().map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:8080".into())
            })?,
            signup: v.parse_with("signup", "open", |s| match s {
                "open" => Ok(SignupPolicy::Open),
                "invite" => Ok(SignupPolicy::Invite),
                "closed" => Ok(SignupPolicy::Closed),
                _ => Err("expected one of open, invite, closed".into()),
            })?,
            session_ttl: v.parse_with("session_ttl", "7d", parse_ttl)?,
            session_max_ttl: v.parse_with("session_max_ttl", "30d", parse_ttl)?,
            invite_ttl: v.parse_with("invite_ttl", "7d", parse_ttl)?,
            reset_ttl: v.parse_with("reset_ttl", "15m", parse_ttl)?,
            session_cookie: v.parse_with("session_cookie", "true", parse_bool)?,
            google,
            oidc,
            github,
            app_url: parse_http_url("app_url", v.get("app_url").unwrap_or("http://127.0.0.1:8080"))?
                .trim_end_matches('/')
                .to_string(),
            smtp_url: match v.get("smtp_url") {
                None => None,
                Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                    Some(SecretString::from(url.to_string()))
                }
                Some(_) => return Err(invalid("smtp_url", "expected smtp://HOST:PORT or smtps://HOST:PORT")),
            },
            mail_from: v.parse_with("mail_from", "authql@localhost", |s| {
                if s.contains('@') { Ok(s.to_string()) } else { Err("expected an e-mail address".into()) }
            })?,
            log: v.get("log").unwrap_or("info").to_string(),
            log_format: v.parse_with("log_format", "pretty", |s| match s {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected pretty or json".into()),
            })?,
            argon2: Argon2Params {
                memory_kib: v.parse_with("argon2_memory_kib", "19456", |s| parse_range(s, 8, 4 * 1024 * 1024))?,
                iterations: v.parse_with("argon2_iterations", "2", |s| parse_range(s, 1, 100))?,
                parallelism: v.parse_with("argon2_parallelism", "1", |s| parse_range(s, 1, 64))?,
            },
            hash_workers: v.parse_with("hash_workers", &cores.to_string(), |s| parse_range(s, 1, 1024))? as usize,
            hash_max_wait: v.parse_with("hash_max_wait", "10s", parse_duration)?,
            db_pool_size: v.parse_with("db_pool_size", "10", |s| parse_range(s, 1, 1000))?,
            db_timeout: v.parse_with("db_timeout", "5s", parse_duration)?,
            throttle: ThrottleConfig {
                account_max: v.parse_with("throttle_account_max", "5", |s| parse_range(s, 1, 1_000_000))?,
                ip_max: v.parse_with("throttle_ip_max", "100", |s| parse_range(s, 1, 1_000_000))?,
                window: v.parse_with("throttle_window", "15m", parse_ttl)?,
                signup_max_per_address: v
                    .parse_with("signup_max_per_address", "30", |s| parse_range(s, 1, 1_000_000))?,
            },
            flow_max_per_address: v.parse_with("flow_max_per_address", "30", |s| parse_range(s, 1, 1_000_000))?,
            introspection: v.parse_with("introspection", "true", parse_bool)?,
            trusted_proxies: v.parse_with("trusted_proxies", "", |s| {
                s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
            })?,
            cors_origins: v.list("cors_origins", parse_origin)?,
            ui: v.parse_with("ui", "true", parse_bool)?,
            webauthn_rp_id: None,
        };
        let config = Config { webauthn_rp_id: webauthn::rp_id(&config.app_url, v.get("webauthn_rp_id"))?, ..config };
        check_session_lifetimes(&config)?;
        Ok(config)
    }

    /// Whether cookies must carry `Secure` (the app is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.app_url.starts_with("https://")
    }
}

/// A cap below the idle lifetime would make the idle lifetime a lie (a session could never
/// live that long), so it is refused rather than quietly reconciled.
fn check_session_lifetimes(config: &Config) -> Result<(), ConfigError> {
    if config.session_max_ttl < config.session_ttl {
        return Err(invalid(
            "session_max_ttl",
            &format!(
                "the cap on a session's lifetime ({}) is below AUTHQL_SESSION_TTL, its idle lifetime ({}); \
                 set AUTHQL_SESSION_MAX_TTL to at least AUTHQL_SESSION_TTL",
                format_duration(config.session_max_ttl),
                format_duration(config.session_ttl)
            ),
        ));
    }
    Ok(())
}
