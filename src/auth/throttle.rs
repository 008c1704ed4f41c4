//! Attempts counted in the database, so the limits hold across every instance: password
//! checks per account (`throttle_account_max`) and per client address (`throttle_ip_max`)
//! in `throttle_window`, new accounts per address (`signup_max_per_address` an hour), and
//! the mail rations of [`crate::accounts::one_time_tokens`]. A limit is a [`Key`]: a scope, a subject in
//! it, at most `max` attempts within `window`.
//!
//! **Reserve, then check.** [`Throttle::reserve`] counts and writes the attempt in one
//! transaction, before any password is looked at; the caller checks only with a
//! [`Reservation`] in hand and then says how it went. However many requests arrive at once,
//! at most `max` hold a reservation for a key in a window, so at most `max` passwords are
//! checked. A success gives its reservation back (for an account key, also every failure
//! before it); a failure leaves it counted.
//!
//! **Atomic on both backends.** Counting then inserting is a check-then-act: two
//! transactions may both count `max - 1` and both insert. On SQLite, writes already take
//! turns ([`Db::write`]), and SQLite itself refuses to let a transaction write on a stale
//! snapshot. On PostgreSQL (read committed) each key's transaction first takes
//! `pg_advisory_xact_lock` on a 64-bit hash of scope and subject; the count after it is a
//! new statement, so it sees every reservation committed by whoever held the lock before.
//! An advisory lock rather than a counter row locked `FOR UPDATE`: there is no row to
//! create first (and race on), no schema change, the attempt log stays the one record the
//! sliding window is counted from, and the lock ends with the transaction however that ends.
//! Keys are locked in ascending lock id, so transactions that share some keys cannot
//! deadlock; a hash collision only makes two subjects take turns.

use chrono::{NaiveDateTime, TimeDelta};
use sha2::{Digest, Sha256};

use crate::auth::AuthError;
use crate::config::ThrottleConfig;
use crate::db::models::attempts::{self, NewAttempt, Window};
use crate::db::{self, Db, DbConnection, DbError};

const ACCOUNT: &str = "account";
const ADDRESS: &str = "ip";
const SIGNUP: &str = "signup";

/// Sign-ups are rationed per hour, whatever the throttle window.
pub(crate) const SIGNUP_WINDOW: TimeDelta = TimeDelta::hours(1);

/// The name attempts on one identity are counted under. Sign-in, password change and reset
/// must all use this one, or a reset would not clear the count sign-in keeps.
pub(crate) fn account_key(provider: &str, entity_id: &str) -> String {
    format!("{provider}:{entity_id}")
}

/// One limit: at most `max` attempts on `subject` (within `scope`) per `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    scope: &'static str,
    subject: String,
    max: u32,
    window: TimeDelta,
    /// A success forgives the failures before it (an account), instead of only giving its
    /// own attempt back (an address: one good password must not wipe a guesser's count).
    forgiven_by_success: bool,
}

impl Key {
    pub fn new(scope: &'static str, subject: impl Into<String>, max: u32, window: TimeDelta) -> Key {
        Key { scope, subject: subject.into(), max, window, forgiven_by_success: false }
    }

    /// A success on this key clears its earlier failures.
    pub fn forgiven_by_success(mut self) -> Key {
        self.forgiven_by_success = true;
        self
    }

    fn window(&self) -> TimeDelta {
        self.window
    }

    /// The PostgreSQL advisory lock that serializes reservations on this key.
    fn lock_id(&self) -> i64 {
        let digest = Sha256::new()
            .chain_update(b"authql-throttle\0")
            .chain_update(self.scope.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.subject.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

/// Refused: come back after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("too many attempts; retry in {} s", .0.retry_after)]
    Limited(Limited),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ThrottleError> for AuthError {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::Limited(l) => AuthError::RateLimited { retry_after: l.retry_after },
            ThrottleError::Db(db) => AuthError::Db(db),
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    db: Db,
    limits: ThrottleConfig,
}

impl Throttle {
    pub fn new(db: Db, limits: ThrottleConfig) -> Throttle {
        Throttle { db, limits }
    }

    /// Password checks on one identity; a success forgives the failures before it.
    pub fn account(&self, provider: &str, entity_id: &str) -> Key {
        Key::new(ACCOUNT, account_key(provider, entity_id), self.limits.account_max, self.limits.window)
            .forgiven_by_success()
    }

    /// Password checks from one client address, any account.
    pub fn address(&self, ip: Option<&str>) -> Option<Key> {
        ip.map(|ip| Key::new(ADDRESS, ip, self.limits.ip_max, self.limits.window))
    }

    /// New accounts made from one client address.
    pub fn signup(&self, ip: Option<&str>) -> Option<Key> {
        ip.map(|ip| Key::new(SIGNUP, ip, self.limits.signup_max_per_address, SIGNUP_WINDOW))
    }

    /// The keys one password check on an identity is counted under.
    pub fn password_check(&self, provider: &str, entity_id: &str, ip: Option<&str>) -> Vec<Key> {
        std::iter::once(self.account(provider, entity_id)).chain(self.address(ip)).collect()
    }

    /// Counts one attempt on every key, or none when any is at its limit.
    pub async fn reserve(&self, keys: &[Key]) -> Result<Reservation, ThrottleError> {
        let owned = keys.to_vec();
        let reserved = self.db.write(move |conn| reserve_in(conn, &owned)).await?;
        let Reserved { at, ids } = reserved.map_err(ThrottleError::Limited)?;
        Ok(Reservation { db: self.db.clone(), keys: keys.to_vec(), ids, at })
    }

    /// Whether the keys have room now, counting nothing: an early answer before costly work
    /// whose attempt is reserved (atomically) later.
    pub async fn check(&self, keys: &[Key]) -> Result<(), ThrottleError> {
        let keys = keys.to_vec();
        match self.db.read(move |conn| limited_in(conn, &keys, db::now())).await? {
            Some(limited) => Err(ThrottleError::Limited(limited)),
            None => Ok(()),
        }
    }

    /// Clears a key's count (its owner proved who they are another way, e.g. a reset link).
    pub async fn forgive(&self, key: &Key) -> Result<(), DbError> {
        let key = key.clone();
        self.db.write(move |conn| attempts::delete_subject_until(conn, key.scope, &key.subject, db::now())).await
    }

    /// Applies a [`Refund`] in a transaction of its own: the success it stands for wrote
    /// nothing else (a password change's check), or the transaction meant to carry it
    /// did not commit.
    pub async fn give_back(&self, refund: Refund) -> Result<(), DbError> {
        self.db.write(move |conn| refund.apply_in(conn)).await
    }

    /// Forgets attempts older than every window (run now and then).
    pub async fn prune(&self) -> Result<usize, DbError> {
        let longest = self.limits.window.max(SIGNUP_WINDOW);
        self.db.write(move |conn| attempts::delete_older_than(conn, db::now() - longest)).await
    }
}

/// What [`reserve_in`] wrote: one attempt per key, all at `at`.
pub(crate) struct Reserved {
    pub at: NaiveDateTime,
    pub ids: Vec<String>,
}

/// Counts one attempt on every key inside the caller's write transaction, or none when any
/// key is at its limit. The transaction holds the keys' locks (PostgreSQL) until it ends,
/// so whatever else it writes is decided under the same count. For the usual one or two
/// keys that is three statements: the locks, the counts, the inserts.
pub(crate) fn reserve_in(conn: &mut DbConnection, keys: &[Key]) -> Result<Result<Reserved, Limited>, DbError> {
    lock(conn, keys)?;
    // Taken after the locks: a reservation's time is never older than one it waited for.
    let now = db::now();
    if let Some(limited) = limited_in(conn, keys, now)? {
        return Ok(Err(limited));
    }
    let ids: Vec<String> = keys.iter().map(|_| db::new_id()).collect();
    let rows: Vec<NewAttempt<'_>> = keys
        .iter()
        .zip(&ids)
        .map(|(key, id)| NewAttempt { id, scope: key.scope, subject: &key.subject, attempted_at: now })
        .collect();
    attempts::insert_all(conn, &rows)?;
    Ok(Ok(Reserved { at: now, ids }))
}

/// The locks come before the counts, in a statement of their own: a statement's snapshot
/// is taken when it starts, so a count in the same statement would miss the reservation
/// committed by whoever held a lock it waited for.
fn lock(conn: &mut DbConnection, keys: &[Key]) -> Result<(), DbError> {
    let DbConnection::Pg(pg) = conn else { return Ok(()) };
    db::locks::xact_lock_all(pg, keys.iter().map(Key::lock_id).collect())
}

/// The longest wait among the keys that are at their limit; `None` when all have room.
/// All keys are counted at once; only a key at its limit costs another statement, to find
/// the attempt whose leaving the window frees it.
fn limited_in(conn: &mut DbConnection, keys: &[Key], now: NaiveDateTime) -> Result<Option<Limited>, DbError> {
    let windows: Vec<Window<'_>> =
        keys.iter().map(|key| Window { scope: key.scope, subject: &key.subject, since: now - key.window() }).collect();
    let counts = attempts::count_each(conn, &windows)?;
    let mut wait: Option<u64> = None;
    for ((key, window), count) in keys.iter().zip(&windows).zip(counts) {
        let Some(position) = deciding_position(count, key.max) else { continue };
        // A success may have forgiven rows since the count: then the key frees at once.
        let secs = match attempts::time_at(conn, window.scope, window.subject, window.since, position)? {
            Some(at) => seconds_until(at + key.window(), now),
            None => 1,
        };
        wait = Some(wait.map_or(secs, |w| w.max(secs)));
    }
    Ok(wait.map(|retry_after| Limited { retry_after }))
}

/// With `count` attempts in the window and room for `max`, which one (0: the oldest) must
/// leave the window before another is allowed; `None` when one is allowed now.
fn deciding_position(count: i64, max: u32) -> Option<i64> {
    let max = i64::from(max);
    (count >= max).then(|| count - max)
}

/// Whole seconds from `now` until `at`, at least 1 (a client told 0 would come straight back).
fn seconds_until(at: NaiveDateTime, now: NaiveDateTime) -> u64 {
    let millis = (at - now).num_milliseconds().max(0);
    u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1)
}

/// Attempts counted by [`Throttle::reserve`]; say how the attempt ended. Dropped without a
/// word, it stays counted as a failure.
#[must_use = "an attempt ends as succeeded, failed or released"]
pub struct Reservation {
    db: Db,
    keys: Vec<Key>,
    ids: Vec<String>,
    at: NaiveDateTime,
}

impl Reservation {
    /// The check passed: the attempt is given back, and keys that a success forgives
    /// forget the failures before it.
    pub async fn succeeded(self) -> Result<(), DbError> {
        let (db, refund) = (self.db.clone(), self.refund());
        db.write(move |conn| refund.apply_in(conn)).await
    }

    /// The check passed, and the caller writes the success in a transaction that is to
    /// give the attempt back as well (a sign-in's, which issues the session): what
    /// [`Reservation::succeeded`] would do, as data to apply there.
    pub fn refund(self) -> Refund {
        let mut refund = Refund { forgiven: Vec::new(), ids: Vec::new(), at: self.at };
        for (key, id) in self.keys.into_iter().zip(self.ids) {
            if key.forgiven_by_success {
                refund.forgiven.push((key.scope, key.subject));
            } else {
                refund.ids.push(id);
            }
        }
        refund
    }

    /// The check failed: the attempt stays counted until it leaves the window.
    pub fn failed(self) {}

    /// Nothing was checked after all (e.g. the hashing pool was full): give the attempt back.
    pub async fn release(self) -> Result<(), DbError> {
        let ids = self.ids;
        self.db
            .write(move |conn| attempts::delete_by_id(conn, &ids.iter().map(String::as_str).collect::<Vec<_>>()))
            .await
    }
}

/// What a passed check gives back, as plain data, so that it can travel with the identity
/// it proved up to the transaction that writes the success, a layer above: the attempts
/// before `at` on the keys a success forgives, and the check's own attempt on the others.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a refund is applied in the success's transaction, or alone with Throttle::give_back"]
pub struct Refund {
    forgiven: Vec<(&'static str, String)>,
    ids: Vec<String>,
    at: NaiveDateTime,
}

impl Refund {
    /// Gives the attempts back inside the caller's transaction.
    pub(crate) fn apply_in(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        let forgiven: Vec<(&str, &str)> =
            self.forgiven.iter().map(|(scope, subject)| (*scope, subject.as_str())).collect();
        let ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        attempts::delete_refunded(conn, &forgiven, &ids, self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid").naive_utc()
    }

    #[test]
    fn under_the_limit_nothing_decides() {
        assert_eq!(deciding_position(0, 5), None);
        assert_eq!(deciding_position(4, 5), None);
    }

    #[test]
    fn at_the_limit_the_oldest_surplus_attempt_decides() {
        // Five of five: the oldest must leave. Six (the limit was lowered): the second oldest.
        assert_eq!(deciding_position(5, 5), Some(0));
        assert_eq!(deciding_position(6, 5), Some(1));
        assert_eq!(deciding_position(1, 1), Some(0));
    }

    #[test]
    fn waits_are_whole_seconds_and_never_zero() {
        assert_eq!(seconds_until(at(900), at(100)), 800);
        assert_eq!(seconds_until(at(900) + chrono::Duration::milliseconds(1), at(100)), 801);
        assert_eq!(seconds_until(at(100), at(100)), 1);
        assert_eq!(seconds_until(at(50), at(100)), 1);
    }

    #[test]
    fn lock_ids_separate_scope_from_subject() {
        let w = TimeDelta::seconds(60);
        let a = Key::new("account", "emailpass:a@b.co", 5, w);
        assert_eq!(a.lock_id(), Key::new("account", "emailpass:a@b.co", 9, w).lock_id(), "the limit is no part of it");
        assert_ne!(a.lock_id(), Key::new("ip", "emailpass:a@b.co", 5, w).lock_id());
        assert_ne!(Key::new("ab", "c", 1, w).lock_id(), Key::new("a", "bc", 1, w).lock_id());
    }
}
