//! What the pool knows about its connections without asking the database on every checkout.
//!
//! A PostgreSQL connection can die with its server (a restart, a cut network) while it sits
//! idle in the pool, and nothing tells the client until it is used. Testing each one at
//! checkout (`SELECT 1`) costs a round trip on every request; instead a connection is
//! trusted until something goes wrong, and then:
//!
//! - the connection that failed with a connection-level error is marked broken, so the pool
//!   drops it on return and never hands it out again;
//! - [`Health`] counts the failure, and every pooled connection that has not proven itself
//!   since the last failure is tested once at its next checkout (they likely died with the
//!   same server), and dropped when the test fails.
//!
//! In steady state a checkout is free; after a restart each stale connection costs one failed
//! probe, not one failed request.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, R2D2Connection};

use crate::db::{DbConnection, DbError};

/// What the pool has learned about the database.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Set by any failed connect, failed probe or connection-level error; cleared by the
    /// next successful checkout.
    pub(crate) down: AtomicBool,
    /// How many failures have been seen; a connection that proved itself at an older count
    /// is probed before it is used again.
    failures: AtomicU64,
}

impl Health {
    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// The database (or the way to it) failed: connections made before now are suspect.
    pub(crate) fn failed(&self) {
        self.down.store(true, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// Something unexpected went wrong on a connection (not known to be the connection's
    /// fault): it, and the others, are probed once before their next use.
    fn suspect(&self) {
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `conn` may be used: at once when no failure happened since it last proved
    /// itself, else after a probe. A connection that fails the probe is marked broken.
    pub(crate) fn vouch(&self, conn: &mut Pooled) -> bool {
        let failures = self.failures();
        if conn.proven_at == failures {
            return true;
        }
        match conn.conn.batch_execute("SELECT 1") {
            Ok(()) => {
                conn.proven_at = failures;
                true
            }
            Err(_) => {
                conn.broken = true;
                self.failed();
                false
            }
        }
    }

    /// What a unit of work on `conn` ended with tells about the connection. On PostgreSQL a
    /// connection-level error breaks it, and any other unexpected error makes every
    /// connection prove itself again; SQLite's errors (a busy file) say nothing about them.
    pub(crate) fn judge<T>(&self, conn: &mut Pooled, result: &Result<T, DbError>) {
        if !matches!(conn.conn, DbConnection::Pg(_)) {
            return;
        }
        match result {
            Err(DbError::Unavailable) => {
                conn.broken = true;
                self.failed();
            }
            Err(DbError::Query(_) | DbError::Task(_) | DbError::Migration(_)) => self.suspect(),
            Ok(_) | Err(DbError::NotFound | DbError::Conflict(_)) => {}
        }
    }
}

/// r2d2 reports connection errors here, also those of its background connects.
#[derive(Debug)]
pub(crate) struct HealthHandler(pub(crate) std::sync::Arc<Health>);

impl r2d2::HandleError<r2d2::Error> for HealthHandler {
    fn handle_error(&self, _error: r2d2::Error) {
        self.0.failed();
    }
}

/// A connection as the pool keeps it.
pub struct Pooled {
    conn: DbConnection,
    /// [`Health`]'s failure count when this connection last worked.
    proven_at: u64,
    /// Failed at the connection level: the pool drops it on return.
    broken: bool,
}

impl Pooled {
    pub(crate) fn new(conn: DbConnection, health: &Health) -> Pooled {
        Pooled { conn, proven_at: health.failures(), broken: false }
    }

    pub(crate) fn has_broken(&mut self) -> bool {
        self.broken || std::thread::panicking() || self.conn.is_broken()
    }
}

impl Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}
