//! Who may wait for a hashing worker: a hash is admitted while the wait it can expect (the
//! hashes ahead of it over the measured hash rate) stays under `AUTHQL_HASH_MAX_WAIT`, and
//! refused at once past that, with the estimate, so the client learns when to come back.
//!
//! Not a count: a waiting hash holds only its request (a password, a stored hash string),
//! while the argon2 memory belongs to the workers, so a crowd costs the workers' memory
//! however large it is. A fixed count refused most of a 500-sign-in burst that the workers
//! finished in under 5 s; a bound on the wait serves it, and still bounds how long a crowd
//! can keep anyone waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The newest hash duration weighs 1/`SMOOTHING` in the moving average: roughly the last
/// forty hashes count (under half a second of both workers at ~90 hashes/s), so the
/// estimate follows a machine that gets busier within a second. Not fewer: the first hashes
/// of a crowd run while the server accepts and reads the whole crowd, which slows them for
/// a moment; over ten hashes that moment pushed the estimate for a 500-strong crowd past
/// 10 s and refused its last arrivals (19 of 1,500 in one benchmark run), though the
/// slowest of them was served in 6.8 s.
const SMOOTHING: u128 = 20;

/// Nanoseconds per KiB of argon2 memory per pass, assumed until the first hash is measured:
/// about twice what one core of a current x86 server takes (19 MiB x 2 passes in ~15 ms),
/// so a crowd that meets a fresh server is admitted on the safe side, and the first real
/// measurement replaces it.
const PRIOR_NANOS_PER_KIB_PASS: u64 = 800;

/// What a hash with this cost is assumed to take before any has been measured.
pub(crate) fn prior(memory_kib: u32, iterations: u32) -> Duration {
    Duration::from_nanos(u64::from(memory_kib) * u64::from(iterations) * PRIOR_NANOS_PER_KIB_PASS)
}

/// How long a hash that finds `ahead` others admitted (waiting or running) waits for a
/// worker: nothing while one is free; otherwise until the ones queued before it have
/// started and one more worker is free, at `workers` hashes per `mean`. Running hashes are
/// counted as just started, which errs towards refusing early rather than late.
pub(crate) fn expected_wait(ahead: usize, workers: usize, mean: Duration) -> Duration {
    let workers = workers.max(1);
    let turns = ahead.saturating_add(1).saturating_sub(workers) as u128;
    let nanos = mean.as_nanos().saturating_mul(turns) / workers as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The moving average after one more sample (exponentially weighted).
fn blend(mean_nanos: u64, sample_nanos: u64) -> u64 {
    let blended = (u128::from(mean_nanos) * (SMOOTHING - 1) + u128::from(sample_nanos)) / SMOOTHING;
    u64::try_from(blended).unwrap_or(u64::MAX)
}

/// A hash turned away: how long it would have waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong {
    pub(crate) expected: Duration,
}

impl TooLong {
    /// The expected wait in whole seconds, rounded up (what `Retry-After` carries), at least 1.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        let secs = self.expected.as_secs() + u64::from(self.expected.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Whether the hashes run for one purpose (a sign-in's password check) have begun on a
/// worker, so a caller that gives up while still queued knows that nothing was checked, and
/// nothing will be: once abandoned, its queued hashes are skipped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Start(Arc<AtomicU8>);

const QUEUED: u8 = 0;
const BEGUN: u8 = 1;
const ABANDONED: u8 = 2;

impl Start {
    /// A worker is about to run a hash for this purpose; false when its caller abandoned it.
    pub(crate) fn begin(&self) -> bool {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| (s != ABANDONED).then_some(BEGUN)).is_ok()
    }

    /// The caller gives up: true when no hash had begun, and then none ever will.
    pub(crate) fn abandon(&self) -> bool {
        self.0.compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

pub(crate) struct Admission {
    workers: usize,
    max_wait: Duration,
    /// Hashes admitted and not finished, waiting or running.
    in_flight: AtomicUsize,
    /// The moving average of how long a hash takes on a worker, in nanoseconds.
    mean_nanos: AtomicU64,
    measured: AtomicBool,
}

/// An admitted hash; dropping it (done, failed, or its caller gone) makes room.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub(crate) fn new(workers: usize, max_wait: Duration, prior: Duration) -> Admission {
        Admission {
            workers: workers.max(1),
            max_wait,
            in_flight: AtomicUsize::new(0),
            mean_nanos: AtomicU64::new(u64::try_from(prior.as_nanos()).unwrap_or(u64::MAX)),
            measured: AtomicBool::new(false),
        }
    }

    /// Admits one more hash, or says how long it would wait. Taking a place and judging the
    /// wait from the count before it is one atomic step, so a crowd arriving at once is
    /// judged one by one and not all against the same empty queue.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<Ticket, TooLong> {
        let ahead = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let ticket = Ticket { admission: self.clone() };
        let expected = expected_wait(ahead, self.workers, self.mean());
        if expected > self.max_wait {
            return Err(TooLong { expected });
        }
        Ok(ticket)
    }

    /// Whether a hash would be admitted now: an early answer for callers that would read
    /// the database before hashing; [`Admission::enter`] still decides.
    pub(crate) fn check(&self) -> Result<(), TooLong> {
        let expected = expected_wait(self.in_flight(), self.workers, self.mean());
        if expected > self.max_wait { Err(TooLong { expected }) } else { Ok(()) }
    }

    /// One hash took `took` on a worker. The first measurement replaces the prior, which is
    /// only a guess about this machine.
    pub(crate) fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if !self.measured.swap(true, Ordering::AcqRel) {
            self.mean_nanos.store(sample, Ordering::Release);
            return;
        }
        let _ = self.mean_nanos.fetch_update(Ordering::AcqRel, Ordering::Acquire, |mean| Some(blend(mean, sample)));
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn mean(&self) -> Duration {
        Duration::from_nanos(self.mean_nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn no_wait_while_a_worker_is_free() {
        assert_eq!(expected_wait(0, 1, 20 * MS), Duration::ZERO);
        assert_eq!(expected_wait(3, 4, 20 * MS), Duration::ZERO);
    }

    #[test]
    fn the_wait_is_the_queue_over_the_hash_rate() {
        // One worker busy: the next waits one hash; with 9 queued behind it, ten.
        assert_eq!(expected_wait(1, 1, 20 * MS), 20 * MS);
        assert_eq!(expected_wait(10, 1, 20 * MS), 200 * MS);
        // Two workers, 500 ahead: 499 turns at two hashes per 18 ms (the crowd).
        assert_eq!(expected_wait(500, 2, 18 * MS), Duration::from_micros(4_491_000));
        // Absurd numbers saturate instead of wrapping to a short wait.
        assert_eq!(expected_wait(usize::MAX, 1, Duration::from_nanos(u64::MAX)), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn the_average_follows_recent_hashes() {
        let a = Admission::new(1, Duration::from_secs(10), 100 * MS);
        assert_eq!(a.mean(), 100 * MS, "the prior until something is measured");
        a.record(10 * MS);
        assert_eq!(a.mean(), 10 * MS, "the first measurement replaces the prior");
        a.record(30 * MS);
        assert_eq!(a.mean(), 11 * MS);
        // A short burst of slow hashes moves it only part of the way.
        for _ in 0..5 {
            a.record(80 * MS);
        }
        let mean = a.mean();
        assert!(mean > 25 * MS && mean < 30 * MS, "{mean:?}");
        for _ in 0..200 {
            a.record(40 * MS);
        }
        let mean = a.mean();
        assert!(mean > 39 * MS && mean <= 40 * MS, "{mean:?}");
    }

    #[test]
    fn admits_while_the_expected_wait_is_under_the_limit_and_says_how_long_past_it() {
        // 100 ms hashes, one worker, 1 s: the running one and ten queued fit, the twelfth not.
        let a = Arc::new(Admission::new(1, Duration::from_secs(1), 100 * MS));
        let admitted: Vec<Ticket> = (0..11).map(|i| a.enter().unwrap_or_else(|e| panic!("{i}: {e:?}"))).collect();
        assert_eq!(a.in_flight(), 11);
        let refused = a.enter().err().expect("refused");
        assert_eq!(refused.expected, 1100 * MS);
        assert_eq!(refused.retry_after_secs(), 2);
        assert_eq!(a.check(), Err(refused));
        assert_eq!(a.in_flight(), 11, "a refusal takes no place");
        drop(admitted);
        assert_eq!(a.in_flight(), 0);
        assert!(a.check().is_ok());
        // Faster hashes measured: more fit.
        a.record(10 * MS);
        let admitted: Vec<Ticket> = (0..101).filter_map(|_| a.enter().ok()).collect();
        assert_eq!(admitted.len(), 101);
        assert!(a.enter().is_err());
    }

    #[test]
    fn an_abandoned_start_never_begins_and_a_begun_one_cannot_be_abandoned() {
        let queued = Start::default();
        assert!(queued.abandon(), "nothing had begun");
        assert!(!queued.begin(), "a worker skips it");
        let begun = Start::default();
        assert!(begun.begin());
        assert!(begun.begin(), "a second hash (a rehash) for the same purpose");
        assert!(!begun.abandon(), "a password was checked: the attempt stays spent");
    }

    #[test]
    fn retry_after_is_the_wait_rounded_up() {
        let secs = |ms| TooLong { expected: ms * MS }.retry_after_secs();
        assert_eq!(secs(1), 1);
        assert_eq!(secs(1000), 1);
        assert_eq!(secs(1001), 2);
        assert_eq!(secs(10_500), 11);
        assert_eq!(TooLong { expected: Duration::ZERO }.retry_after_secs(), 1);
    }

    #[test]
    fn the_prior_scales_with_the_cost() {
        assert_eq!(prior(19_456, 2), Duration::from_nanos(19_456 * 2 * 800));
        assert!(prior(65_536, 4) > prior(19_456, 2));
    }
}
