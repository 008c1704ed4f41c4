//! Argon2id off the async runtime, on a bounded pool: at most `workers` hashes at once
//! (each takes ~19 MiB and a core for ~15 ms) and at most `queue` waiting. Past that the
//! caller is told to come back, instead of memory growing with the crowd.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::Argon2Params;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks in progress")]
    Overloaded,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash was made with weaker parameters than configured.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    workers: Semaphore,
    admission: Semaphore,
    capacity: usize,
    /// A real hash of a random password, verified against when there is no account, so an
    /// unknown identity costs the same time as a wrong password.
    dummy: String,
}

impl Hasher {
    pub fn new(cost: Argon2Params, workers: usize, queue: usize) -> Result<Hasher, HashError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| HashError::Internal(e.to_string()))?;
        let dummy = hash_blocking(&params, &crate::auth::token::random_urlsafe(24))?;
        Ok(Hasher {
            inner: Arc::new(Inner {
                params,
                workers: Semaphore::new(workers),
                admission: Semaphore::new(workers + queue),
                capacity: workers + queue,
                dummy,
            }),
        })
    }

    /// Hashes a new password (PHC string, argon2id, random salt).
    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let params = self.inner.params.clone();
        let password = password.clone();
        self.run(move || hash_blocking(&params, password.expose_secret())).await
    }

    /// Checks a password against a stored PHC string.
    pub async fn verify(&self, password: &SecretString, stored: &str) -> Result<Verified, HashError> {
        let configured = self.inner.params.clone();
        let password = password.clone();
        let stored = stored.to_string();
        self.run(move || verify_blocking(&configured, password.expose_secret(), &stored)).await
    }

    /// Spends the time of one verification and always fails (no account to check against).
    pub async fn verify_dummy(&self, password: &SecretString) -> Result<(), HashError> {
        let stored = self.inner.dummy.clone();
        self.verify(password, &stored).await.map(|_| ())
    }

    /// How many hashes are waiting or running now.
    pub fn in_flight(&self) -> usize {
        self.inner.capacity.saturating_sub(self.inner.admission.available_permits())
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self.inner.admission.try_acquire().map_err(|_| HashError::Overloaded)?;
        let _worker = self.inner.workers.acquire().await.map_err(|e| HashError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| HashError::Internal(e.to_string()))?
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, HashError> {
    argon2(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

fn verify_blocking(configured: &Params, password: &str, stored: &str) -> Result<Verified, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|e| HashError::Internal(format!("stored hash unreadable: {e}")))?;
    let stored_params = Params::try_from(&parsed).map_err(|e| HashError::Internal(e.to_string()))?;
    // The stored hash's own parameters decide the verification.
    let matches = argon2(&stored_params).verify_password(password.as_bytes(), &parsed).is_ok();
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || stored_params.m_cost() < configured.m_cost()
        || stored_params.t_cost() < configured.t_cost()
        || stored_params.p_cost() < configured.p_cost();
    Ok(Verified { matches, needs_rehash: matches && weaker })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = Hasher::new(cheap(), 2, 4).expect("hasher");
        let stored = h.hash(&secret("right horse")).await.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify(&secret("right horse"), &stored).await.expect("verify").matches);
        assert!(!h.verify(&secret("wrong horse"), &stored).await.expect("verify").matches);
    }

    #[tokio::test]
    async fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = Hasher::new(cheap(), 1, 1).expect("hasher");
        let stored = weak.hash(&secret("pass phrase")).await.expect("hash");
        let strong =
            Hasher::new(Argon2Params { memory_kib: 128, iterations: 2, parallelism: 1 }, 1, 1).expect("hasher");
        let v = strong.verify(&secret("pass phrase"), &stored).await.expect("verify");
        assert_eq!(v, Verified { matches: true, needs_rehash: true });
        let v = strong.verify(&secret("not it"), &stored).await.expect("verify");
        assert_eq!(v, Verified { matches: false, needs_rehash: false });
        let again = strong.hash(&secret("pass phrase")).await.expect("hash");
        assert!(!strong.verify(&secret("pass phrase"), &again).await.expect("verify").needs_rehash);
    }

    #[tokio::test]
    async fn overload_is_refused_fast() {
        // One worker and no queue: while one hash runs, a second caller is refused at once.
        let h = Hasher::new(Argon2Params { memory_kib: 8192, iterations: 8, parallelism: 1 }, 1, 0).expect("hasher");
        let busy = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(&secret("first one")).await })
        };
        // Give the first caller time to be admitted.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let refused = h.hash(&secret("second one")).await;
        assert!(matches!(refused, Err(HashError::Overloaded)), "{refused:?}");
        assert!(busy.await.expect("join").is_ok());
        assert!(h.hash(&secret("third one")).await.is_ok());
    }

    #[tokio::test]
    async fn dummy_verification_never_matches_and_fails_cleanly_on_garbage() {
        let h = Hasher::new(cheap(), 1, 1).expect("hasher");
        assert!(h.verify_dummy(&secret("anything")).await.is_ok());
        assert!(matches!(h.verify(&secret("x"), "not a hash").await, Err(HashError::Internal(_))));
    }
}
