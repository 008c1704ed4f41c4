//! PostgreSQL's hot read, the session lookup behind every authenticated request, without a
//! thread hop.
//!
//! The pool's connections are libpq's and blocking, so every query through [`Db::read`]
//! moves from the request's thread to a blocking thread and back: on a 2-core machine, with
//! PostgreSQL on the same cores, half of the server's time on a `me` request went to those
//! switches (perf), and PostgreSQL `me` ran at 0.42 of SQLite's rate. Here the lookup runs on
//! an asynchronous connection (tokio-postgres) on the request's own thread, and the requests
//! in flight on one thread share one connection: their queries are pipelined, sent without
//! waiting for the answers before.
//!
//! This is a fast path, never the only path: whenever it cannot serve (the URL is one it
//! would not read the way libpq does, TLS could be wanted, its connection is being made or
//! has failed, the pool knows the database is down), the caller uses the pool, which gives
//! the same answer, the same errors and the same recovery as any other query.
//!
//! [`Db::read`]: super::Db::read

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::SessionAndUser;
use super::models::sessions;
use super::per_thread::PerThread;
use super::pooled::Health;

/// After a failed connect, a shard lets the pool serve for this long before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The asynchronous connections of one [`Db`](super::Db): one per shard, a shard per
/// thread that serves requests (threads beyond the shard count share).
pub(crate) struct Pipelined {
    config: Config,
    sql: String,
    slots: PerThread<Slot>,
    health: Arc<Health>,
    /// Set when PostgreSQL refused a connection for a reason that will not pass by itself
    /// (a password only libpq knows where to find, say): the pool serves from then on.
    refused: AtomicBool,
    reads: AtomicU64,
}

enum Slot {
    Empty,
    Connecting,
    Ready(Arc<Reader>),
    Resting(Instant),
}

struct Reader {
    client: Client,
    session_by_hash: Statement,
}

impl Pipelined {
    /// The fast path for `url`, or `None` when it should not be taken (see [`accepts`]).
    pub(crate) fn for_url(url: &str, health: Arc<Health>) -> Option<Arc<Pipelined>> {
        let mut config = Config::from_str(url).ok()?;
        if !accepts(&config, |name| std::env::var_os(name).is_some()) {
            return None;
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        Some(Arc::new(Pipelined {
            config,
            sql: sessions::active_by_hash_pg_sql()?,
            slots: PerThread::new(|| Slot::Empty),
            health,
            refused: AtomicBool::new(false),
            reads: AtomicU64::new(0),
        }))
    }

    /// How many lookups this path has answered.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The live session with this token hash and its user, or `None` when the pool should
    /// be asked instead.
    pub(crate) async fn session_by_hash(self: &Arc<Self>, hash: &str, now: NaiveDateTime) -> Option<SessionAndUser> {
        if self.refused.load(Ordering::Relaxed) || self.health.down.load(Ordering::Relaxed) {
            return None;
        }
        let shard = self.slots.mine();
        let reader = self.reader(shard).await?;
        match reader.client.query(&reader.session_by_hash, &[&hash, &now]).await {
            Ok(rows) => {
                let found = match rows.first().map(sessions::from_pg_row).transpose() {
                    Ok(found) => found,
                    Err(e) => {
                        // A column the mapping does not expect: a bug, said loudly once per
                        // request, and the pool (which maps by diesel's types) serves.
                        tracing::error!(error = %e, "the pipelined session lookup returned an unexpected row");
                        return None;
                    }
                };
                self.reads.fetch_add(1, Ordering::Relaxed);
                Some(found)
            }
            Err(e) => {
                if reader.client.is_closed() {
                    // The server went away (a restart, a cut network): the pool's connections
                    // likely went with it, and it should probe them before trusting them.
                    self.health.failed();
                    self.set(shard, Slot::Empty, Some(&reader));
                }
                tracing::debug!(error = %e, "pipelined session lookup failed; the pool answers");
                None
            }
        }
    }

    /// This shard's connection, made now if it has none; `None` while one is being made, or
    /// shortly after a failed attempt.
    async fn reader(self: &Arc<Self>, shard: usize) -> Option<Arc<Reader>> {
        {
            let mut slot = self.slots.slot(shard).lock().ok()?;
            match &*slot {
                Slot::Ready(reader) if !reader.client.is_closed() => return Some(reader.clone()),
                Slot::Ready(_) => {
                    // Found closed between uses (the server ended it): as in `session_by_hash`,
                    // the pool learns of it and serves this request; the next one reconnects.
                    self.health.failed();
                    *slot = Slot::Empty;
                    return None;
                }
                Slot::Connecting => return None,
                Slot::Resting(until) if Instant::now() < *until => return None,
                _ => *slot = Slot::Connecting,
            }
        }
        // Whatever happens to this request while it connects (its client may leave), the
        // shard does not stay `Connecting`.
        let mut guard = ConnectingGuard { pipelined: self.clone(), shard, settled: false };
        let outcome = self.connect().await;
        guard.settled = true;
        match outcome {
            Ok(reader) => {
                let reader = Arc::new(reader);
                self.set(shard, Slot::Ready(reader.clone()), None);
                Some(reader)
            }
            Err(e) => {
                if e.as_db_error().is_some() {
                    tracing::warn!(error = %e, "PostgreSQL refused the pipelined connection; the pool serves every read");
                    self.refused.store(true, Ordering::Relaxed);
                }
                self.set(shard, Slot::Resting(Instant::now() + RETRY_AFTER_FAILURE), None);
                None
            }
        }
    }

    async fn connect(&self) -> Result<Reader, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        // The connection is driven on this thread's runtime; it ends when the client is
        // dropped, or with the runtime, and a closed client is replaced at its next use.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "pipelined connection ended");
            }
        });
        let session_by_hash = client.prepare_typed(&self.sql, &[Type::TEXT, Type::TIMESTAMP]).await?;
        Ok(Reader { client, session_by_hash })
    }

    /// Sets a shard's slot; with `only_if`, only while it still holds that reader (another
    /// request may have replaced it already).
    fn set(&self, shard: usize, to: Slot, only_if: Option<&Arc<Reader>>) {
        let Ok(mut slot) = self.slots.slot(shard).lock() else { return };
        if let Some(expected) = only_if
            && !matches!(&*slot, Slot::Ready(current) if Arc::ptr_eq(current, expected))
        {
            return;
        }
        *slot = to;
    }
}

struct ConnectingGuard {
    pipelined: Arc<Pipelined>,
    shard: usize,
    settled: bool,
}

impl Drop for ConnectingGuard {
    fn drop(&mut self) {
        if !self.settled {
            self.pipelined.set(self.shard, Slot::Empty, None);
        }
    }
}

/// Whether the fast path reads this configuration as libpq reads the same URL, and sends
/// nothing over a network in the clear that libpq would have encrypted. It has no TLS, so it
/// takes only `sslmode=disable`, or the default `prefer` when every host is this machine
/// (a Unix socket or a loopback address). libpq also reads `PG*` environment variables and
/// files the URL does not name; when any of those is set, the pool alone serves.
fn accepts(config: &Config, env_set: impl Fn(&str) -> bool) -> bool {
    const LIBPQ_ENV: &[&str] = &[
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGDATABASE",
        "PGOPTIONS",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGSSLMODE",
        "PGREQUIRESSL",
        "PGGSSENCMODE",
        "PGTARGETSESSIONATTRS",
    ];
    if LIBPQ_ENV.iter().any(|name| env_set(name)) || config.get_hosts().is_empty() {
        return false;
    }
    match config.get_ssl_mode() {
        SslMode::Disable => true,
        SslMode::Prefer => config.get_hosts().iter().all(is_this_machine) && config.get_hostaddrs().is_empty(),
        _ => false,
    }
}

fn is_this_machine(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    }
}

#[cfg(test)]
mod tests;
