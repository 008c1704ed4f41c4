//! Failed sign-ins, counted in the database so the limits hold across every instance:
//! per account (`throttle_account_max` in `throttle_window`) and per client address.
//! A success clears the account's count.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::config::ThrottleConfig;
use crate::db::models::attempts::{self, NewAttempt};
use crate::db::{self, Db, DbError};

const ACCOUNT: &str = "account";
const ADDRESS: &str = "ip";

#[derive(Clone)]
pub struct Throttle {
    db: Db,
    limits: ThrottleConfig,
}

/// The name failed sign-ins of one identity are counted under. Sign-in, password change
/// and reset must all use this one, or a reset would not clear the count sign-in keeps.
pub fn account_key(provider: &str, entity_id: &str) -> String {
    format!("{provider}:{entity_id}")
}

/// Refused: come back after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

impl Throttle {
    pub fn new(db: Db, limits: ThrottleConfig) -> Throttle {
        Throttle { db, limits }
    }

    /// Whether `account` (e.g. `emailpass:alice@example.com`) from `ip` may try now.
    pub async fn check(&self, account: &str, ip: Option<&str>) -> Result<Result<(), Limited>, DbError> {
        let limits = self.limits;
        let (account, ip) = (account.to_string(), ip.map(str::to_string));
        self.db
            .read(move |conn| {
                let now = db::now();
                let since = now - chrono_window(limits.window);
                let times = attempts::times_since(conn, ACCOUNT, &account, since)?;
                if let Some(wait) = wait_needed(&times, limits.account_max, limits.window, now) {
                    return Ok(Err(Limited { retry_after: wait }));
                }
                if let Some(ip) = ip {
                    let times = attempts::times_since(conn, ADDRESS, &ip, since)?;
                    if let Some(wait) = wait_needed(&times, limits.ip_max, limits.window, now) {
                        return Ok(Err(Limited { retry_after: wait }));
                    }
                }
                Ok(Ok(()))
            })
            .await
    }

    pub async fn record_failure(&self, account: &str, ip: Option<&str>) -> Result<(), DbError> {
        let (account, ip) = (account.to_string(), ip.map(str::to_string));
        self.db
            .write(move |conn| {
                let now = db::now();
                let id = db::new_id();
                attempts::insert(conn, &NewAttempt { id: &id, scope: ACCOUNT, subject: &account, attempted_at: now })?;
                if let Some(ip) = &ip {
                    let id = db::new_id();
                    attempts::insert(conn, &NewAttempt { id: &id, scope: ADDRESS, subject: ip, attempted_at: now })?;
                }
                Ok(())
            })
            .await
    }

    pub async fn record_success(&self, account: &str) -> Result<(), DbError> {
        let account = account.to_string();
        self.db.write(move |conn| attempts::delete_subject(conn, ACCOUNT, &account)).await
    }

    /// Forgets attempts older than the window (run now and then).
    pub async fn prune(&self) -> Result<usize, DbError> {
        let window = chrono_window(self.limits.window);
        self.db.write(move |conn| attempts::delete_older_than(conn, db::now() - window)).await
    }
}

fn chrono_window(window: Duration) -> chrono::Duration {
    chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15))
}

/// Seconds until fewer than `max` of the failures at `times` (oldest first, all inside the
/// window) remain inside it; `None` when another attempt is allowed now.
pub fn wait_needed(times: &[NaiveDateTime], max: u32, window: Duration, now: NaiveDateTime) -> Option<u64> {
    let max = max as usize;
    if times.len() < max {
        return None;
    }
    // The attempt is allowed again once this many of the oldest have left the window.
    let must_expire = times.len() - max + 1;
    let frees_at = times[must_expire - 1] + chrono_window(window);
    let secs = (frees_at - now).num_milliseconds().max(0);
    Some(((secs + 999) / 1000).max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid").naive_utc()
    }

    #[test]
    fn under_the_limit_is_allowed() {
        let w = Duration::from_secs(900);
        assert_eq!(wait_needed(&[], 5, w, at(0)), None);
        assert_eq!(wait_needed(&[at(0), at(1), at(2), at(3)], 5, w, at(10)), None);
    }

    #[test]
    fn at_the_limit_waits_for_the_oldest_to_leave_the_window() {
        let w = Duration::from_secs(900);
        let times = [at(0), at(10), at(20), at(30), at(40)];
        assert_eq!(wait_needed(&times, 5, w, at(100)), Some(800));
        let times = [at(0), at(10), at(20), at(30), at(40), at(50)];
        // Two must leave: the second oldest decides.
        assert_eq!(wait_needed(&times, 5, w, at(100)), Some(810));
        assert_eq!(wait_needed(&times, 5, w, at(909)), Some(1));
    }
}
