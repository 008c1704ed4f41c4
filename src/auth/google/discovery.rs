//! OpenID Connect discovery: the issuer's endpoints, read from
//! `{issuer}/.well-known/openid-configuration` and kept for a while.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::RwLock;

use crate::auth::outbound;

use super::error::GoogleError;

/// Endpoints move rarely; an hour bounds how long a moved one is missed.
const TTL: Duration = Duration::from_secs(3600);

/// The parts of the discovery document a sign-in uses.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
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
    pub(super) async fn metadata(&self) -> Result<Arc<Metadata>, GoogleError> {
        if let Some((metadata, at)) = &*self.cached.read().await
            && at.elapsed() < TTL
        {
            return Ok(metadata.clone());
        }
        let fetched = Arc::new(self.fetch().await?);
        *self.cached.write().await = Some((fetched.clone(), Instant::now()));
        Ok(fetched)
    }

    async fn fetch(&self) -> Result<Metadata, GoogleError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let metadata: Metadata = outbound::get_json(&self.http, &url).await.map_err(GoogleError::Discovery)?;
        // OpenID Connect Discovery 1.0 §4.3: a document for another issuer is not this one's.
        if metadata.issuer.trim_end_matches('/') != self.issuer {
            return Err(GoogleError::IssuerMismatch { expected: self.issuer.clone(), found: metadata.issuer });
        }
        Ok(metadata)
    }
}
