//! Which sessions this process is recording a use of right now, so that when many requests
//! of one session find a touch due at once, one of them writes and the rest go on reading.
//! (Across processes the conditional UPDATE keeps it to one write; this only spares the
//! others a wait for SQLite's write turn.)

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Default)]
pub(super) struct Touching(Arc<Mutex<HashSet<String>>>);

/// The right to touch one session, given back when dropped (also when the request is
/// abandoned half-way).
pub(super) struct Claim {
    set: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Touching {
    /// `None` while another request of this process holds the session's claim.
    pub(super) fn claim(&self, id: &str) -> Option<Claim> {
        // The set holds only ids and no invariant spans a panic: a poisoned lock is usable.
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(id.to_string()).then(|| Claim { set: self.0.clone(), id: id.to_string() })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_session_at_a_time_and_released_on_drop() {
        let t = Touching::default();
        let first = t.claim("a").expect("free");
        assert!(t.claim("a").is_none(), "held");
        let other = t.claim("b").expect("another session is independent");
        drop(first);
        assert!(t.claim("a").is_some(), "given back");
        drop(other);
        assert_eq!(t.len(), 0, "nothing is kept once no touch is running");
    }
}
