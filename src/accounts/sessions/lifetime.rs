//! How long a session lives (API.md 6.7): an idle lifetime that each use renews, under an
//! absolute cap counted from sign-in, and how often a use is worth a write.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

/// No session is touched less often than this, however long the idle lifetime: "last
/// active" stays within the hour.
const MAX_TOUCH_INTERVAL: TimeDelta = TimeDelta::hours(1);

/// The two settings, `AUTHQL_SESSION_TTL` and `AUTHQL_SESSION_MAX_TTL`, as time arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    idle: TimeDelta,
    cap: TimeDelta,
}

impl Lifetime {
    /// `idle` is the TTL, `cap` the maximum; the configuration checked that `cap >= idle`,
    /// and a cap below it is raised here so that arithmetic never relies on that check.
    pub fn new(idle: TimeDelta, cap: TimeDelta) -> Lifetime {
        Lifetime { idle, cap: cap.max(idle) }
    }

    /// When a session made at `now` expires unless used.
    pub fn expiry_at_sign_in(&self, now: NaiveDateTime) -> NaiveDateTime {
        self.slid_expiry(now, now)
    }

    /// The expiry a use at `now` gives a session created at `created_at`:
    /// `min(now + TTL, created_at + MAX_TTL)`.
    pub fn slid_expiry(&self, created_at: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
        add(now, self.idle).min(add(created_at, self.cap))
    }

    /// `min(1h, TTL / 10)`: at most one write per session this often. A tenth of the idle
    /// lifetime means a session used steadily never loses more than a tenth of its idle
    /// time to a skipped write.
    pub fn touch_interval(&self) -> TimeDelta {
        (self.idle / 10).min(MAX_TOUCH_INTERVAL)
    }

    /// A use at `now` records itself only when the last recorded use is older than this.
    pub fn due_before(&self, now: NaiveDateTime) -> NaiveDateTime {
        now.checked_sub_signed(self.touch_interval()).unwrap_or(NaiveDateTime::MIN)
    }

    /// Whether a use at `now` of a session last seen at `last_seen_at` should be written.
    pub fn touch_due(&self, last_seen_at: NaiveDateTime, now: NaiveDateTime) -> bool {
        last_seen_at < self.due_before(now)
    }
}

fn add(t: NaiveDateTime, d: TimeDelta) -> NaiveDateTime {
    t.checked_add_signed(d).unwrap_or(NaiveDateTime::MAX)
}

/// What a cookie's `Max-Age` should say for a session expiring at `expires_at`, seen at
/// `now`: whole seconds, rounded down so the cookie never outlives the session.
pub(super) fn remaining(expires_at: NaiveDateTime, now: NaiveDateTime) -> Duration {
    Duration::from_secs((expires_at - now).num_seconds().max(0).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("in range").naive_utc()
    }

    fn secs(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }

    #[test]
    fn a_new_session_lives_the_idle_lifetime() {
        let l = Lifetime::new(secs(3), secs(8));
        assert_eq!(l.expiry_at_sign_in(at(0)), at(3));
    }

    #[test]
    fn each_use_slides_the_expiry_until_the_cap() {
        let l = Lifetime::new(secs(3), secs(8));
        let created = at(0);
        assert_eq!(l.slid_expiry(created, at(2)), at(5));
        assert_eq!(l.slid_expiry(created, at(4)), at(7));
        assert_eq!(l.slid_expiry(created, at(6)), at(8), "capped at created + 8s");
        assert_eq!(l.slid_expiry(created, at(7)), at(8));
    }

    #[test]
    fn touch_interval_is_a_tenth_of_the_ttl_but_at_most_an_hour() {
        assert_eq!(Lifetime::new(secs(3), secs(8)).touch_interval(), TimeDelta::milliseconds(300));
        assert_eq!(Lifetime::new(secs(15 * 60), secs(12 * 3600)).touch_interval(), TimeDelta::seconds(90));
        assert_eq!(Lifetime::new(secs(7 * 86_400), secs(30 * 86_400)).touch_interval(), TimeDelta::hours(1));
    }

    #[test]
    fn a_touch_is_due_only_once_the_interval_has_passed() {
        let l = Lifetime::new(secs(100), secs(1000));
        assert!(!l.touch_due(at(0), at(0)));
        assert!(!l.touch_due(at(0), at(10)), "exactly one interval: not yet");
        assert!(l.touch_due(at(0), at(11)));
        assert_eq!(l.due_before(at(11)), at(1));
    }

    #[test]
    fn a_cap_below_the_ttl_cannot_shorten_a_new_session() {
        let l = Lifetime::new(secs(10), secs(5));
        assert_eq!(l.expiry_at_sign_in(at(0)), at(10));
    }

    #[test]
    fn huge_settings_saturate_instead_of_overflowing() {
        let l = Lifetime::new(TimeDelta::MAX, TimeDelta::MAX);
        assert!(l.expiry_at_sign_in(at(0)) > at(0));
        assert_eq!(add(NaiveDateTime::MAX, TimeDelta::days(1)), NaiveDateTime::MAX);
    }

    #[test]
    fn remaining_rounds_down_and_never_goes_negative() {
        let half = at(10) + TimeDelta::milliseconds(500);
        assert_eq!(remaining(half, at(0)), Duration::from_secs(10));
        assert_eq!(remaining(at(0), at(5)), Duration::ZERO);
    }
}
