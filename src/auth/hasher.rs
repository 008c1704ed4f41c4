//! Argon2id off the async runtime, on a bounded pool: at most `workers` hashes at once
//! (each takes ~19 MiB and a core for ~15 ms); the rest wait for a worker while their
//! expected wait stays under `max_wait` ([`admission`](super::admission)). Past that the
//! caller is told when to come back, instead of waiting without end.
//!
//! The pool is `workers` threads of its own, each with argon2 working memory that it keeps
//! and reuses for every hash. Allocating 19 MiB per hash (what argon2's convenience API
//! does) on tokio's blocking threads left up to 57 MiB retained in every malloc arena
//! (0.9 GiB RSS on SQLite, 2.6 GiB on PostgreSQL under the benchmark); now the hashing
//! memory is `workers` x 19 MiB, allocated once.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::admission::{self, Admission, Start, TooLong};
use crate::config::Argon2Params;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The expected wait for a worker is past the limit; `retry_after`: that wait, in whole
    /// seconds rounded up.
    #[error("too many password checks waiting; try again in {retry_after} s")]
    Overloaded { retry_after: u64 },
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
    /// Set on a [`Hasher::tracked`] handle: its hashes report when they begin.
    start: Option<Start>,
}

/// Work for a hashing thread; it reports back through a channel of its own.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A hashing thread's argon2 working memory, kept between hashes. It grows to the
/// configured cost once; a stored hash that asks for more gets a temporary buffer, so what
/// stays allocated is bounded by the configuration.
struct Memory {
    keep_blocks: usize,
    blocks: Vec<Block>,
}

impl Memory {
    fn new(configured: &Params) -> Memory {
        Memory { keep_blocks: configured.block_count(), blocks: Vec::new() }
    }

    fn with<T>(&mut self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        if blocks > self.keep_blocks {
            return f(&mut vec![Block::default(); blocks]);
        }
        if self.blocks.len() < blocks {
            // Argon2 writes every block before reading it: old contents never matter.
            self.blocks.resize(blocks, Block::default());
        }
        f(&mut self.blocks[..blocks])
    }
}

struct Inner {
    params: Params,
    /// Feeds the hashing threads; they stop when the last `Hasher` is dropped.
    jobs: mpsc::Sender<Job>,
    admission: Arc<Admission>,
    /// A real hash of a random password, verified against when there is no account, so an
    /// unknown identity costs the same time as a wrong password.
    dummy: String,
}

impl Hasher {
    pub fn new(cost: Argon2Params, workers: usize, max_wait: Duration) -> Result<Hasher, HashError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).map_err(internal)?;
        let dummy = dummy_hash(&params)?;
        let (jobs, queued) = mpsc::channel::<Job>();
        let queued = Arc::new(Mutex::new(queued));
        for i in 0..workers.max(1) {
            let queued = queued.clone();
            let mut memory = Memory::new(&params);
            std::thread::Builder::new()
                .name(format!("authql-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is only held while waiting for the next job, never during one.
                        let next = match queued.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match next {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Hasher {
            inner: Arc::new(Inner {
                params,
                jobs,
                admission: Arc::new(Admission::new(
                    workers.max(1),
                    max_wait,
                    admission::prior(cost.memory_kib, cost.iterations),
                )),
                dummy,
            }),
            start: None,
        })
    }

    /// A handle whose hashes mark `start` when a worker begins one, and are skipped once
    /// `start` is abandoned.
    pub(crate) fn tracked(&self, start: &Start) -> Hasher {
        Hasher { inner: self.inner.clone(), start: Some(start.clone()) }
    }

    /// Hashes a new password (PHC string, argon2id, random salt).
    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let params = self.inner.params.clone();
        let password = password.clone();
        self.run(move |memory| hash_blocking(&params, password.expose_secret(), memory)).await
    }

    /// Checks a password against a stored PHC string.
    pub async fn verify(&self, password: &SecretString, stored: &str) -> Result<Verified, HashError> {
        let configured = self.inner.params.clone();
        let password = password.clone();
        let stored = stored.to_string();
        self.run(move |memory| verify_blocking(&configured, password.expose_secret(), &stored, memory)).await
    }

    /// Spends the time of one verification and always fails (no account to check against).
    pub async fn verify_dummy(&self, password: &SecretString) -> Result<(), HashError> {
        let stored = self.inner.dummy.clone();
        self.verify(password, &stored).await.map(|_| ())
    }

    /// Whether a hash would be admitted now. An early answer for callers that would do other
    /// work (database reads) before hashing; admission itself is still decided in `run`.
    pub fn admits(&self) -> Result<(), HashError> {
        self.inner.admission.check().map_err(overloaded)
    }

    /// How many hashes are waiting or running now.
    pub fn in_flight(&self) -> usize {
        self.inner.admission.in_flight()
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // Held by the caller: a caller that goes away (client disconnected) makes room at
        // once, and its job is skipped below when a worker reaches it.
        let _admitted = self.inner.admission.enter().map_err(overloaded)?;
        let admission = self.inner.admission.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        let start = self.start.clone();
        let job: Job = Box::new(move |memory| {
            if done.is_closed() || start.is_some_and(|s| !s.begin()) {
                return;
            }
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(memory)))
                .unwrap_or_else(|_| Err(HashError::Internal("a hashing thread panicked".into())));
            // The rate is measured here, on the worker, so it follows the machine as it is now
            // (cores shared with the server and the database), not as it was at start-up.
            admission.record(started.elapsed());
            let _ = done.send(outcome);
        });
        self.inner.jobs.send(job).map_err(|_| HashError::Internal("the hashing threads have stopped".into()))?;
        result.await.map_err(|_| HashError::Internal("the hashing thread dropped the job".into()))?
    }
}

fn overloaded(refused: TooLong) -> HashError {
    HashError::Overloaded { retry_after: refused.retry_after_secs() }
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string())
}

/// A PHC string (argon2id, v=19, the given cost, 16 random bytes of salt) for `password`.
fn hash_blocking(params: &Params, password: &str, memory: &mut Memory) -> Result<String, HashError> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory
        .with(params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(internal)?;
    phc(Algorithm::Argon2id, params, &salt, &out)
}

fn phc(algorithm: Algorithm, params: &Params, salt: &[u8], out: &[u8]) -> Result<String, HashError> {
    let hash = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(Salt::new(salt).map_err(internal)?),
        hash: Some(Output::new(out).map_err(internal)?),
    };
    Ok(hash.to_string())
}

/// A stored hash that no password matches (its output is random bytes, not a hash of
/// anything), with the configured cost: checking a password against it takes exactly as long
/// as against a real one. Made without hashing, so start-up does not pay for one.
fn dummy_hash(params: &Params) -> Result<String, HashError> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut out);
    phc(Algorithm::Argon2id, params, &salt, &out)
}

/// What argon2's `verify_password` does (the stored string's algorithm, version, cost, salt
/// and output length; a constant-time comparison), on the thread's own memory.
fn verify_blocking(
    configured: &Params,
    password: &str,
    stored: &str,
    memory: &mut Memory,
) -> Result<Verified, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|e| HashError::Internal(format!("stored hash unreadable: {e}")))?;
    let stored_params = Params::try_from(&parsed).map_err(internal)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(internal)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(internal)?,
        None => Version::default(),
    };
    // The stored hash's own parameters decide the verification.
    let matches = match (&parsed.salt, &parsed.hash) {
        (Some(salt), Some(expected)) => {
            let mut out = vec![0u8; expected.len()];
            let argon = Argon2::new(algorithm, version, stored_params.clone());
            let computed = memory.with(stored_params.block_count(), |blocks| {
                argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
            });
            // `Output`'s equality is constant-time.
            computed.is_ok() && Output::new(&out).is_ok_and(|out| &out == expected)
        }
        _ => false,
    };
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || stored_params.m_cost() < configured.m_cost()
        || stored_params.t_cost() < configured.t_cost()
        || stored_params.p_cost() < configured.p_cost();
    Ok(Verified { matches, needs_rehash: matches && weaker })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn cheap() -> Argon2Params {
        Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = Hasher::new(cheap(), 2, WAIT).expect("hasher");
        let stored = h.hash(&secret("right horse")).await.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify(&secret("right horse"), &stored).await.expect("verify").matches);
        assert!(!h.verify(&secret("wrong horse"), &stored).await.expect("verify").matches);
    }

    #[tokio::test]
    async fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = Hasher::new(cheap(), 1, WAIT).expect("hasher");
        let stored = weak.hash(&secret("pass phrase")).await.expect("hash");
        let strong =
            Hasher::new(Argon2Params { memory_kib: 128, iterations: 2, parallelism: 1 }, 1, WAIT).expect("hasher");
        let v = strong.verify(&secret("pass phrase"), &stored).await.expect("verify");
        assert_eq!(v, Verified { matches: true, needs_rehash: true });
        let v = strong.verify(&secret("not it"), &stored).await.expect("verify");
        assert_eq!(v, Verified { matches: false, needs_rehash: false });
        let again = strong.hash(&secret("pass phrase")).await.expect("hash");
        assert!(!strong.verify(&secret("pass phrase"), &again).await.expect("verify").needs_rehash);
    }

    #[tokio::test]
    async fn past_the_expected_wait_a_hash_is_refused_at_once_with_the_estimate() {
        // One worker, hashes measured at 2 s, 1 s allowed: while one runs, the next would
        // wait 2 s and is refused; once it is done, the next is admitted.
        let h = Hasher::new(cheap(), 1, Duration::from_secs(1)).expect("hasher");
        h.inner.admission.record(Duration::from_secs(2));
        let (started, start) = tokio::sync::oneshot::channel();
        let busy = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move |_| {
                    let _ = started.send(());
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
            })
        };
        start.await.expect("the busy job started");
        assert!(matches!(h.admits(), Err(HashError::Overloaded { retry_after: 2 })), "{:?}", h.admits());
        let refused = h.hash(&secret("second one")).await;
        assert!(matches!(refused, Err(HashError::Overloaded { retry_after: 2 })), "{refused:?}");
        assert_eq!(h.in_flight(), 1, "the refused hash took no place");
        busy.await.expect("join").expect("the busy job");
        assert_eq!(h.in_flight(), 0);
        assert!(h.admits().is_ok());
        assert!(h.hash(&secret("third one")).await.is_ok());
    }

    /// What argon2's own API makes and accepts must be what ours makes and accepts.
    #[tokio::test]
    async fn agrees_with_the_argon2_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let params = Params::new(64, 1, 1, None).expect("params");
        let configured = params.clone();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"right horse")
            .expect("hash")
            .to_string();
        let mut memory = Memory::new(&configured);
        // Dirty memory from an earlier hash must not change the result.
        let ours = hash_blocking(&params, "right horse", &mut memory).expect("hash");
        assert!(verify_blocking(&configured, "right horse", &theirs, &mut memory).expect("verify").matches);
        assert!(!verify_blocking(&configured, "wrong horse", &theirs, &mut memory).expect("verify").matches);
        let parsed = PasswordHash::new(&ours).expect("parse");
        let argon = Argon2::default();
        assert!(argon.verify_password(b"right horse", &parsed).is_ok());
        assert!(argon.verify_password(b"wrong horse", &parsed).is_err());
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        // A stored hash costlier than configured is checked in a buffer of its own.
        let costly = Params::new(256, 1, 1, None).expect("params");
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, costly).hash_password(b"p").expect("hash");
        let v = verify_blocking(&configured, "p", &stored.to_string(), &mut memory).expect("verify");
        assert!(v.matches && !v.needs_rehash);
        assert_eq!(memory.blocks.len(), configured.block_count());
        // The dummy is well formed, costs the configured parameters and matches nothing.
        let dummy = dummy_hash(&params).expect("dummy");
        assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!verify_blocking(&configured, "", &dummy, &mut memory).expect("verify").matches);
    }

    #[tokio::test]
    async fn hashes_run_on_the_pools_own_threads() {
        let h = Hasher::new(cheap(), 2, WAIT).expect("hasher");
        for _ in 0..4 {
            let name = h.run(|_| Ok(std::thread::current().name().map(str::to_string))).await.expect("run");
            assert!(name.as_deref().is_some_and(|n| n.starts_with("authql-hash-")), "{name:?}");
        }
        let panicked = h.run(|_| -> Result<(), HashError> { panic!("boom") }).await;
        assert!(matches!(panicked, Err(HashError::Internal(_))), "{panicked:?}");
        // The pool survives a panicking job.
        assert!(h.hash(&secret("still works")).await.is_ok());
    }

    #[tokio::test]
    async fn dummy_verification_never_matches_and_fails_cleanly_on_garbage() {
        let h = Hasher::new(cheap(), 1, WAIT).expect("hasher");
        assert!(h.verify_dummy(&secret("anything")).await.is_ok());
        assert!(matches!(h.verify(&secret("x"), "not a hash").await, Err(HashError::Internal(_))));
    }
}
