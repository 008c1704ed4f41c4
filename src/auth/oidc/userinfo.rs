//! The UserInfo endpoint (OpenID Connect Core §5.3): where an issuer that keeps the ID token
//! small puts the e-mail and profile. Called with the access token of the same sign-in.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::outbound;

use super::error::OidcError;

/// The claims a sign-in reads from UserInfo.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct UserInfo {
    pub sub: String,
    pub email: Option<String>,
    /// A boolean per the spec; some issuers have sent the string `"true"`.
    pub email_verified: Option<Value>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

pub(super) async fn fetch(
    http: &reqwest::Client,
    endpoint: &str,
    access_token: &SecretString,
) -> Result<UserInfo, OidcError> {
    let request = http.get(endpoint).header("accept", "application/json").bearer_auth(access_token.expose_secret());
    outbound::send_json(request).await.map_err(OidcError::UserInfo)
}
