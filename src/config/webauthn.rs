//! The WebAuthn relying party id: the domain passkeys are bound to. Browsers refuse an id
//! that is not the page's host or a parent domain of it, so a wrong one is refused here, at
//! start-up, instead of by every browser later.

use super::ConfigError;
use super::values::invalid;

/// The id to use: `AUTHQL_WEBAUTHN_RP_ID` when set, else the host of `AUTHQL_APP_URL`.
/// `None` when the app URL's host is an IP address and no id is set: WebAuthn has no
/// relying party for an address, so passkeys are off.
pub(super) fn rp_id(app_url: &str, configured: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Ok(url) = reqwest::Url::parse(app_url) else { return Ok(None) };
    let host = match url.domain() {
        Some(domain) => domain.to_ascii_lowercase(),
        None if configured.is_none() => return Ok(None),
        None => {
            return Err(invalid(
                "webauthn_rp_id",
                &format!(
                    "AUTHQL_APP_URL's host {} is an IP address, and passkeys need a domain name: serve the \
                     app under one (e.g. http://localhost:8080) and set AUTHQL_APP_URL to it",
                    url.host_str().unwrap_or("-")
                ),
            ));
        }
    };
    let Some(id) = configured else { return Ok(Some(host)) };
    let id = id.trim().trim_end_matches('.').to_ascii_lowercase();
    let is_suffix = host == id || host.ends_with(&format!(".{id}"));
    if !is_suffix {
        return Err(invalid(
            "webauthn_rp_id",
            &format!(
                "`{id}` is neither {host} (the host of AUTHQL_APP_URL) nor a parent domain of it; browsers \
                 only accept a relying party id that is the page's host or a registrable suffix of it"
            ),
        ));
    }
    // A top-level domain is no registrable suffix: every site under it would share passkeys.
    if host != id && !id.contains('.') {
        return Err(invalid(
            "webauthn_rp_id",
            &format!("`{id}` is a top-level domain; use {host} or a parent domain that can be registered"),
        ));
    }
    Ok(Some(id))
}
