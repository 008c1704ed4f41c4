//! OpenID Connect discovery: the issuer's endpoints, read from
//! `{issuer}/.well-known/openid-configuration` and kept for a while.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::RwLock;

use crate::auth::outbound;

use super::error::OidcError;

/// Endpoints move rarely; an hour bounds how long a moved one is missed.
const TTL: Duration = Duration::from_secs(3600);

/// The parts of the discovery document a sign-in uses.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Where claims the ID token leaves out can be read (OpenID Connect Core §5.3).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Absent means `client_secret_basic` only (OpenID Connect Discovery §3).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AuthMethod {
    /// HTTP Basic with the client id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl Metadata {
    /// The method the issuer advertises, `client_secret_basic` first (the one every
    /// issuer must accept when it lists none).
    pub(super) fn auth_method(&self) -> Result<AuthMethod, OidcError> {
        let Some(methods) = &self.token_endpoint_auth_methods_supported else {
            return Ok(AuthMethod::Basic);
        };
        if methods.iter().any(|m| m == "client_secret_basic") {
            Ok(AuthMethod::Basic)
        } else if methods.iter().any(|m| m == "client_secret_post") {
            Ok(AuthMethod::Post)
        } else {
            Err(OidcError::NoAuthMethod(methods.iter().take(8).map(|m| m.chars().take(64).collect()).collect()))
        }
    }
}

pub(super) struct Discovery {
    issuer: String,
    http: reqwest::Client,
    cached: RwLock<Option<(Arc<Metadata>, Instant)>>,
}

impl Discovery {
    pub(super) fn new(issuer: String, http: reqwest::Client) -> Discovery {
        Discovery { issuer, http, cached: RwLock::new(None) }
    }

    /// The issuer's metadata, fetched when not cached or stale. A failed fetch is not
    /// cached: the next sign-in tries again.
    pub(super) async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        if let Some((metadata, at)) = &*self.cached.read().await
            && at.elapsed() < TTL
        {
            return Ok(metadata.clone());
        }
        let fetched = Arc::new(self.fetch().await?);
        *self.cached.write().await = Some((fetched.clone(), Instant::now()));
        Ok(fetched)
    }

    async fn fetch(&self) -> Result<Metadata, OidcError> {
        let metadata: Metadata =
            outbound::get_json(&self.http, &document_url(&self.issuer)).await.map_err(OidcError::Discovery)?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name exactly this issuer.
        if metadata.issuer != self.issuer {
            return Err(OidcError::IssuerMismatch { expected: self.issuer.clone(), found: metadata.issuer });
        }
        Ok(metadata)
    }
}

/// Discovery §4.1: a terminating `/` of the issuer is removed before the well-known path is
/// appended (only for the URL; the issuer itself keeps it).
fn document_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_found_with_or_without_a_trailing_slash() {
        assert_eq!(document_url("https://a.example/"), "https://a.example/.well-known/openid-configuration");
        assert_eq!(document_url("https://a.example/t/1"), "https://a.example/t/1/.well-known/openid-configuration");
    }

    #[test]
    fn basic_unless_only_post_is_advertised() {
        let with = |methods: Option<Vec<&str>>| Metadata {
            issuer: String::new(),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            userinfo_endpoint: None,
            token_endpoint_auth_methods_supported: methods.map(|m| m.into_iter().map(String::from).collect()),
        };
        assert_eq!(with(None).auth_method().ok(), Some(AuthMethod::Basic));
        assert_eq!(
            with(Some(vec!["client_secret_post", "client_secret_basic"])).auth_method().ok(),
            Some(AuthMethod::Basic)
        );
        assert_eq!(
            with(Some(vec!["private_key_jwt", "client_secret_post"])).auth_method().ok(),
            Some(AuthMethod::Post)
        );
        assert!(matches!(with(Some(vec!["private_key_jwt"])).auth_method(), Err(OidcError::NoAuthMethod(_))));
    }
}
