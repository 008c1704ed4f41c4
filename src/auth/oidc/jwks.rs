//! The issuer's signing keys (its JWKS), cached, and fetched again when a token names a
//! key the cache does not hold (the issuer rotated its keys).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::auth::outbound;

use super::error::OidcError;

/// Rotation is handled by refetching on an unknown key; the age limit only bounds how long
/// a withdrawn key stays trusted.
const TTL: Duration = Duration::from_secs(3600);

pub(super) struct Jwks {
    http: reqwest::Client,
    cached: RwLock<Option<Cached>>,
    /// One fetch at a time: callers that waited reuse the set it brought.
    fetching: Mutex<()>,
}

struct Cached {
    uri: String,
    keys: Arc<JwkSet>,
    fetched_at: Instant,
}

impl Jwks {
    pub(super) fn new(http: reqwest::Client) -> Jwks {
        Jwks { http, cached: RwLock::new(None), fetching: Mutex::new(()) }
    }

    /// The key set at `uri`, from the cache when it is fresh.
    pub(super) async fn keys(&self, uri: &str) -> Result<Arc<JwkSet>, OidcError> {
        if let Some(keys) = self.cached_for(uri, None).await {
            return Ok(keys);
        }
        self.fetch(uri, None).await
    }

    /// The key set at `uri`, newer than `stale` (which failed to verify a token).
    pub(super) async fn refresh(&self, uri: &str, stale: &Arc<JwkSet>) -> Result<Arc<JwkSet>, OidcError> {
        self.fetch(uri, Some(stale)).await
    }

    /// The cached set for `uri` if it is fresh and is not `stale`.
    async fn cached_for(&self, uri: &str, stale: Option<&Arc<JwkSet>>) -> Option<Arc<JwkSet>> {
        let cached = self.cached.read().await;
        let c = cached.as_ref().filter(|c| c.uri == uri && c.fetched_at.elapsed() < TTL)?;
        match stale {
            Some(stale) if Arc::ptr_eq(stale, &c.keys) => None,
            _ => Some(c.keys.clone()),
        }
    }

    async fn fetch(&self, uri: &str, stale: Option<&Arc<JwkSet>>) -> Result<Arc<JwkSet>, OidcError> {
        let _turn = self.fetching.lock().await;
        // Someone else may have fetched while this call waited for its turn.
        if let Some(keys) = self.cached_for(uri, stale).await {
            return Ok(keys);
        }
        let raw: RawSet = outbound::get_json(&self.http, uri).await.map_err(OidcError::Jwks)?;
        let keys = Arc::new(raw.usable());
        *self.cached.write().await =
            Some(Cached { uri: uri.to_string(), keys: keys.clone(), fetched_at: Instant::now() });
        Ok(keys)
    }
}

/// A key set as published: one key of a kind this server cannot read must not make the
/// others unusable.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

impl RawSet {
    fn usable(self) -> JwkSet {
        JwkSet { keys: self.keys.into_iter().filter_map(|k| serde_json::from_value::<Jwk>(k).ok()).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unreadable_keys_are_skipped_not_fatal() {
        let raw: RawSet = serde_json::from_value(json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": 7, "n": "AQAB", "e": "AQAB"},
            "not a key"
        ]}))
        .expect("a set");
        let set = raw.usable();
        assert_eq!(set.keys.len(), 1);
        assert!(set.find("a").is_some());
    }
}
