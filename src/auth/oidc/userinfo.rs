//! The UserInfo endpoint (OpenID Connect Core §5.3): where an issuer that keeps the ID token
//! small puts the e-mail and profile. Called with the access token of the same sign-in.

use secrecy::{ExposeSecret, SecretString};

use crate::auth::outbound;

use super::error::OidcError;
use super::profile::Profile;

pub(super) async fn fetch(
    http: &reqwest::Client,
    endpoint: &str,
    access_token: &SecretString,
) -> Result<Profile, OidcError> {
    let request = http.get(endpoint).header("accept", "application/json").bearer_auth(access_token.expose_secret());
    outbound::send_json(request).await.map_err(OidcError::UserInfo)
}
