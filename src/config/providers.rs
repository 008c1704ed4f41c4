//! Identity providers' settings: google and the OpenID Connect providers named in
//! `AUTHQL_OIDC_PROVIDERS` (one shape, [`OidcConfig`]), and github. Which `oidc_*` keys exist
//! depends on the list of names, so they are checked here once everything is read.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::values::{Values, invalid, parse_http_url};
use super::{ConfigError, KEYS};

/// One OpenID Connect provider's settings: google's (`AUTHQL_GOOGLE_*`, present only when
/// `AUTHQL_GOOGLE_CLIENT_ID` is set) or a named one's (`AUTHQL_OIDC_<NAME>_*`).
#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub callback_url: String,
    /// Exactly as the issuer states it in discovery, a trailing `/` included.
    pub issuer: String,
    /// Values a client may pass as `callbackUrl`; the configured callback is always allowed.
    pub allowed_callback_urls: Vec<String>,
    /// Scopes asked for; always includes `openid`.
    pub scopes: Vec<String>,
}

/// google's settings are those of any OpenID Connect provider, with Google's defaults.
pub type GoogleConfig = OidcConfig;

/// A provider from `AUTHQL_OIDC_PROVIDERS`: its registry name and settings.
#[derive(Clone, Debug)]
pub struct NamedOidcConfig {
    pub name: String,
    pub config: OidcConfig,
}

/// The github provider's settings; present only when `AUTHQL_GITHUB_CLIENT_ID` is set.
#[derive(Clone, Debug)]
pub struct GithubConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub callback_url: String,
    /// Where the browser signs in and the code is exchanged (`/login/oauth/...`).
    pub url: String,
    /// The REST API (`/user`, `/user/emails`).
    pub api_url: String,
}

/// The settings of each provider named in `AUTHQL_OIDC_PROVIDERS`: `oidc_<name>_<field>`.
const OIDC_FIELDS: &[&str] =
    &["issuer", "client_id", "client_secret", "callback_url", "allowed_callback_urls", "scopes"];

/// Provider names a configured OpenID Connect provider may not take: the built-in ones.
const RESERVED_NAMES: &[&str] = &["emailpass", "google", "github", "passkey"];

/// Every identity provider's settings, as read.
pub(super) struct Providers {
    pub(super) google: Option<GoogleConfig>,
    pub(super) oidc: Vec<NamedOidcConfig>,
    pub(super) github: Option<GithubConfig>,
}

/// The providers' settings read from `v`.
pub(super) fn read(v: &Values) -> Result<Providers, ConfigError> {
    let google = match v.get("google_client_id") {
        None => None,
        Some(_) => Some(oidc_config(v, "google", Some("https://accounts.google.com"))?),
    };
    let oidc = oidc_names(v.get("oidc_providers").unwrap_or(""))
        .map_err(|reason| invalid("oidc_providers", &reason))?
        .into_iter()
        .map(|name| {
            let config = oidc_config(v, &format!("oidc_{name}"), None)?;
            Ok(NamedOidcConfig { name, config })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let github = match v.get("github_client_id") {
        None => None,
        Some(client_id) => Some(GithubConfig {
            client_id: client_id.to_string(),
            client_secret: v
                .get("github_client_secret")
                .map(|s| SecretString::from(s.to_string()))
                .ok_or_else(|| invalid("github_client_secret", "required when AUTHQL_GITHUB_CLIENT_ID is set"))?,
            callback_url: v
                .get("github_callback_url")
                .map(str::to_string)
                .ok_or_else(|| invalid("github_callback_url", "required when AUTHQL_GITHUB_CLIENT_ID is set"))
                .and_then(|u| parse_http_url("github_callback_url", &u))?,
            url: parse_http_url("github_url", v.get("github_url").unwrap_or("https://github.com"))?
                .trim_end_matches('/')
                .to_string(),
            api_url: parse_http_url("github_api_url", v.get("github_api_url").unwrap_or("https://api.github.com"))?
                .trim_end_matches('/')
                .to_string(),
        }),
    };
    Ok(Providers { google, oidc, github })
}

/// A fixed key, or one that may be an OpenID Connect provider's (checked once all are read).
pub(super) fn is_known_or_oidc(key: &str) -> bool {
    KEYS.contains(&key) || key.starts_with("oidc_")
}

/// `AUTHQL_OIDC_PROVIDERS`: comma-separated names, each lower-case letters and digits (it
/// becomes part of variable names, so no `_`), none twice, none a built-in provider's.
fn oidc_names(raw: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let well_formed = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !well_formed {
            return Err(format!(
                "`{name}` is not a provider name: lower-case letters and digits, starting with a letter"
            ));
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(format!("`{name}` is a built-in provider's name; choose another"));
        }
        if names.iter().any(|n| n == name) {
            return Err(format!("`{name}` is listed twice"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// Every `oidc_*` key must be `oidc_providers` or `oidc_<listed name>_<field>`: a typo in a
/// name or a field would otherwise be ignored, and the provider run without that setting.
pub(super) fn check_oidc_keys(
    values: &BTreeMap<String, String>,
    spelled: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    // A bad list is the error to report, not the settings that hang off it.
    let names = oidc_names(values.get("oidc_providers").map(String::as_str).unwrap_or(""))
        .map_err(|reason| invalid("oidc_providers", &reason))?;
    for key in values.keys().filter(|k| k.starts_with("oidc_") && *k != "oidc_providers") {
        let rest = &key["oidc_".len()..];
        let listed = names.iter().any(|name| {
            rest.strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix('_'))
                .is_some_and(|field| OIDC_FIELDS.contains(&field))
        });
        if !listed {
            let name = spelled.get(key).cloned().unwrap_or_else(|| format!("AUTHQL_{}", key.to_ascii_uppercase()));
            let fields = OIDC_FIELDS.iter().map(|f| f.to_ascii_uppercase()).collect::<Vec<_>>().join(", ");
            let listed = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            return Err(ConfigError::UnknownOidcKey { name, fields, listed });
        }
    }
    Ok(())
}

/// The settings of the OpenID Connect provider whose keys start with `prefix`
/// (`google`, `oidc_acme`); `default_issuer` when the issuer may be left out.
fn oidc_config(v: &Values, prefix: &str, default_issuer: Option<&str>) -> Result<OidcConfig, ConfigError> {
    let key = |field: &str| format!("{prefix}_{field}");
    let required = |field: &str| {
        v.get(&key(field)).map(str::to_string).ok_or_else(|| {
            let reason = format!("required when {}", provider_switch(prefix));
            invalid(&key(field), &reason)
        })
    };
    let client_id = required("client_id")?;
    let callback_url = parse_http_url(&key("callback_url"), &required("callback_url")?)?;
    let issuer = match (v.get(&key("issuer")), default_issuer) {
        (Some(issuer), _) => issuer.to_string(),
        (None, Some(default)) => default.to_string(),
        (None, None) => required("issuer")?,
    };
    // Kept exactly as written: OpenID Connect compares issuers as strings, and an issuer
    // whose identifier ends in `/` states it with the `/`.
    let issuer = parse_http_url(&key("issuer"), &issuer)?;
    let scopes: Vec<String> = v
        .get(&key("scopes"))
        .unwrap_or("openid email profile")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(invalid(&key("scopes"), "must include openid (without it there is no ID token)"));
    }
    Ok(OidcConfig {
        client_id,
        client_secret: v.get(&key("client_secret")).map(|s| SecretString::from(s.to_string())),
        callback_url,
        issuer,
        allowed_callback_urls: v.list(&key("allowed_callback_urls"), parse_http_url)?,
        scopes,
    })
}

/// The setting that turns the provider with these keys on, for messages.
fn provider_switch(prefix: &str) -> String {
    if prefix == "google" {
        "AUTHQL_GOOGLE_CLIENT_ID is set".into()
    } else {
        format!("`{}` is listed in AUTHQL_OIDC_PROVIDERS", &prefix["oidc_".len()..])
    }
}
