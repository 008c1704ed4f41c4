//! Storage: one r2d2 pool over SQLite or PostgreSQL (diesel's `MultiConnection`), the
//! embedded migrations, and the two ways to use it from async code, [`Db::read`] and
//! [`Db::write`], both run on tokio's blocking pool so no query ever stalls the runtime.
//! The one exception is the session lookup of every authenticated request
//! ([`Db::session_by_hash`]), which runs on the request's own thread where it cannot wait
//! (`inline`, `pipelined`), with the pool as its fallback.

pub mod error;
mod inline;
pub mod locks;
pub mod models;
mod per_thread;
mod pipelined;
mod pooled;
pub mod schema;
#[cfg(test)]
mod statement_reuse;
#[cfg(test)]
mod test_seed;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use error::DbError;
pub use pooled::Pooled;
use pooled::{Health, HealthHandler};

use crate::config::DatabaseUrl;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A connection to either backend; queries written once serve both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;

/// Opens connections of the kind the URL names (diesel's own manager would try each backend
/// in turn, and SQLite accepts any string as a file name).
#[derive(Clone, Debug)]
pub struct Manager {
    url: DatabaseUrl,
    health: Arc<Health>,
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.open()?;
        Ok(Pooled::new(conn, &self.health))
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    /// Asked by r2d2 whenever a connection comes back: a broken one is dropped, never
    /// handed out again (see [`pooled`]).
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.has_broken()
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(&with_connect_timeout(url))
                .map(DbConnection::Pg)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; NORMAL sync loses nothing when the
                // process dies (only on power loss); the busy timeout covers other processes
                // (`authql user create` beside a running server).
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// libpq waits for an unanswered connect forever unless told otherwise; a host that drops
/// packets would then never make the pool learn that the database is gone.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={PG_CONNECT_TIMEOUT_SECS}")
}

const PG_CONNECT_TIMEOUT_SECS: u32 = 2;

/// While the pool knows the database is unreachable, a checkout waits only this long: enough
/// for a connection that is being made to arrive, short enough to answer 503 at once.
const CHECKOUT_WHILE_DOWN: Duration = Duration::from_millis(300);
/// A checkout waits in slices this long, looking between them whether the pool has learned
/// that the database is unreachable.
const CHECKOUT_SLICE: Duration = Duration::from_millis(100);

/// A pooled connection, or `Unavailable` within `timeout` at most, and within about
/// [`CHECKOUT_WHILE_DOWN`] once the pool knows the database is unreachable: a request
/// should not hold its client for the whole timeout to learn what the server already knows.
fn checkout(pool: &Pool, health: &Health, timeout: Duration) -> Result<r2d2::PooledConnection<Manager>, DbError> {
    let deadline = Instant::now() + timeout;
    loop {
        let down = health.down.load(Ordering::Relaxed);
        let left = deadline.saturating_duration_since(Instant::now());
        let slice = if down { CHECKOUT_WHILE_DOWN } else { CHECKOUT_SLICE }.min(left);
        if let Ok(mut conn) = pool.get_timeout(slice) {
            if health.vouch(&mut conn) {
                health.down.store(false, Ordering::Relaxed);
                return Ok(conn);
            }
            // A stale connection, now dropped: the next one may be fine, or may be new.
            if Instant::now() >= deadline {
                return Err(DbError::Unavailable);
            }
            continue;
        }
        if down || health.down.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return Err(DbError::Unavailable);
        }
    }
}

/// What the session lookup finds: the live session with its user, if any.
pub type SessionAndUser = Option<(models::sessions::SessionRow, models::users::UserRow)>;

/// The handle every service holds. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    health: Arc<Health>,
    /// SQLite allows one writer; taking turns here (instead of inside SQLite) means a write
    /// transaction never fails with SQLITE_BUSY on upgrading its read lock. PostgreSQL needs
    /// no such lock.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    timeout: Duration,
    /// The session lookup without the pool, on the request's thread: PostgreSQL's where it
    /// can be taken (`pipelined`), SQLite's always (`inline`).
    pipelined: Option<Arc<pipelined::Pipelined>>,
    inline: Option<Arc<inline::Inline>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Db {
    /// Builds the pool; fails when no first connection can be made within `timeout`.
    pub fn connect(url: &DatabaseUrl, pool_size: u32, timeout: Duration) -> Result<Db, DbError> {
        // OpenSSL serves libpq's TLS and webauthn-rs's crypto. Whoever initialises it first
        // decides whether it frees its state in an exit handler; libpq asks for that, and
        // other threads may still be inside OpenSSL while the process exits (a "double
        // free" at the end of a test run). rust-openssl's init declines it, so it goes first.
        openssl::init();
        let is_sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let health = Arc::new(Health::default());
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(timeout)
            // No round trip per checkout: a dead connection is found by its first error,
            // and the others are then probed once each (see `pooled`).
            .test_on_check_out(false)
            .error_handler(Box::new(HealthHandler(health.clone())))
            .build(Manager { url: url.clone(), health: health.clone() })
            .map_err(|e| {
                tracing::error!(error = %e, "cannot connect to the database");
                DbError::Unavailable
            })?;
        let (pipelined, inline) = match url {
            DatabaseUrl::Postgres(url) => (pipelined::Pipelined::for_url(url, health.clone()), None),
            DatabaseUrl::Sqlite(path) => (None, Some(Arc::new(inline::Inline::new(path)))),
        };
        let write_lock = is_sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Db { pool, health, write_lock, timeout, pipelined, inline })
    }

    pub fn backend(&self) -> Backend {
        if self.write_lock.is_some() { Backend::Sqlite } else { Backend::Postgres }
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.pool.get().map_err(|_| DbError::Unavailable)?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied.len())
    }

    /// Runs `f` on a pooled connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let (pool, health, timeout) = (self.pool.clone(), self.health.clone(), self.timeout);
        tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&pool, &health, timeout)?;
            let result = f(&mut conn);
            health.judge(&mut conn, &result);
            result
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// Runs `f` in one read-only snapshot, so several queries (a page and its total) agree
    /// with each other even while others write.
    pub async fn read_consistent<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.read(move |conn| {
            diesel::Connection::transaction(conn, |conn| {
                // SQLite's transaction is a snapshot already; PostgreSQL's default is not.
                if matches!(conn, DbConnection::Pg(_)) {
                    conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
                }
                f(conn)
            })
        })
        .await
    }

    /// Runs `f` in one transaction, off the async runtime: all of it is written or none.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let turn = match &self.write_lock {
            Some(lock) => Some(
                tokio::time::timeout(self.timeout, lock.clone().lock_owned())
                    .await
                    .map_err(|_| DbError::Unavailable)?,
            ),
            None => None,
        };
        let (pool, health, timeout) = (self.pool.clone(), self.health.clone(), self.timeout);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let mut conn = checkout(&pool, &health, timeout)?;
            let result = diesel::Connection::transaction(&mut **conn, f);
            health.judge(&mut conn, &result);
            result
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }

    /// The live session with this token hash and its user: on the request's own thread
    /// where a fast path serves (PostgreSQL's pipelined connection, SQLite's read-only one),
    /// else through the pool. Every authenticated request starts here.
    pub async fn session_by_hash(&self, hash: String, now: NaiveDateTime) -> Result<SessionAndUser, DbError> {
        if let Some(inline) = &self.inline
            && let Some(found) = inline.session_by_hash(&hash, now)
        {
            return Ok(found);
        }
        if let Some(pipelined) = &self.pipelined
            && let Some(found) = pipelined.session_by_hash(&hash, now).await
        {
            return Ok(found);
        }
        self.read(move |conn| models::sessions::find_active_by_hash(conn, &hash, now)).await
    }

    /// How many session lookups a fast path answered on the request's own thread.
    pub fn inline_reads(&self) -> u64 {
        self.pipelined.as_ref().map_or(0, |p| p.reads()) + self.inline.as_ref().map_or(0, |i| i.reads())
    }

    /// Whether the database answers now (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let (pool, health) = (self.pool.clone(), self.health.clone());
        let timeout = self.timeout.min(Duration::from_secs(2));
        tokio::task::spawn_blocking(move || match checkout(&pool, &health, timeout) {
            Ok(mut conn) => {
                let result = conn.batch_execute("SELECT 1").map_err(DbError::from);
                health.judge(&mut conn, &result);
                result.is_ok()
            }
            Err(_) => false,
        })
        .await
        .unwrap_or(false)
    }

    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// A blocking connection for the command line (no runtime there).
    pub fn get_blocking(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        self.pool.get().map_err(|_| DbError::Unavailable)
    }
}

/// The current time as stored: UTC, microsecond precision (what PostgreSQL keeps), so a
/// value reads back equal on both backends.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
