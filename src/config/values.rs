//! Reading values: the TOML file, the keys' parsers, and the errors that name the key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::TimeDelta;

use super::ConfigError;

pub(super) struct Values(pub(super) BTreeMap<String, String>);

impl Values {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A comma-separated list (empty when unset), each item checked by `parse`.
    pub(super) fn list(
        &self,
        key: &str,
        parse: impl Fn(&str, &str) -> Result<String, ConfigError>,
    ) -> Result<Vec<String>, ConfigError> {
        let raw = self.get(key).unwrap_or("");
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|item| parse(key, item)).collect()
    }

    pub(super) fn parse_with<T>(
        &self,
        key: &str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(self.get(key).unwrap_or(default).trim()).map_err(|reason| invalid(key, &reason))
    }
}

/// An unknown key; a removed one says what replaced it, so an upgrade does not fail blind.
pub(super) fn unknown_key(key: &str, name: String) -> ConfigError {
    match key {
        "trust_proxy" => ConfigError::TrustProxyReplaced(name),
        "hash_queue" => ConfigError::HashQueueReplaced(name),
        _ => ConfigError::UnknownKey(name),
    }
}

pub(super) fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: format!("AUTHQL_{}", key.to_ascii_uppercase()), reason: reason.to_string() }
}

/// The file's settings by key, each with the name it was written as.
pub(super) fn read_file(path: &Path) -> Result<BTreeMap<String, (String, String)>, ConfigError> {
    let file_err = |reason: String| ConfigError::File { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.message().to_string()))?;
    let mut out = BTreeMap::new();
    for (name, value) in table {
        // Both `database_url` and `AUTHQL_DATABASE_URL` spell the same key.
        let lower = name.to_ascii_lowercase();
        let key = lower.strip_prefix("authql_").unwrap_or(&lower).to_string();
        if !super::providers::is_known_or_oidc(&key) {
            return Err(unknown_key(&key, name));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(|| invalid(&key, "expected a list of strings")))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => return Err(invalid(&key, "expected a string, number or boolean")),
        };
        out.insert(key, (name, value));
    }
    Ok(out)
}

/// `45s`, `30m`, `12h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || "expected a number followed by s, m, h or d (e.g. 30m, 12h, 7d)".to_string();
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (number, unit) = s.split_at(unit_at);
    let n: u64 = number.parse().map_err(|_| err())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(err)?,
        "h" => n.checked_mul(3600).ok_or_else(err)?,
        "d" => n.checked_mul(86_400).ok_or_else(err)?,
        _ => return Err(err()),
    };
    if seconds == 0 || seconds > 10 * 365 * 86_400 {
        return Err("must be between 1s and 3650d".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// A lifetime or window, as the time arithmetic on stored timestamps uses it: converted
/// here, once, so no consumer needs a fallback.
pub fn parse_ttl(s: &str) -> Result<TimeDelta, String> {
    TimeDelta::from_std(parse_duration(s)?).map_err(|_| "must be between 1s and 3650d".to_string())
}

/// The inverse of [`parse_ttl`], in the largest unit that divides it (for messages).
pub(super) fn format_duration(d: TimeDelta) -> String {
    let secs = u64::try_from(d.num_seconds()).unwrap_or(0);
    match [(86_400, "d"), (3600, "h"), (60, "m")].into_iter().find(|(unit, _)| secs > 0 && secs.is_multiple_of(*unit)) {
        Some((unit, suffix)) => format!("{}{suffix}", secs / unit),
        None => format!("{secs}s"),
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub(super) fn parse_range(s: &str, min: u32, max: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// An origin is a scheme and host (and port), nothing more: `https://app.example.com`.
pub(super) fn parse_origin(key: &str, s: &str) -> Result<String, ConfigError> {
    let url = parse_http_url(key, s)?;
    let parsed = reqwest::Url::parse(&url).map_err(|_| invalid(key, "expected an origin"))?;
    if parsed.path() != "/" || parsed.query().is_some() || s.ends_with('/') {
        return Err(invalid(key, "expected origins like https://app.example.com (no path, no trailing slash)"));
    }
    Ok(s.to_string())
}

pub(super) fn parse_http_url(key: &str, s: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(s) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(s.to_string()),
        _ => Err(invalid(key, "expected an http:// or https:// URL")),
    }
}
