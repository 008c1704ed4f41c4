//! SQLite's hot read, the session lookup behind every authenticated request, on the
//! request's own thread.
//!
//! Through [`Db::read`] each lookup moves to a blocking thread and back; the read itself is
//! an indexed lookup in pages SQLite has cached, some microseconds, far less than the two
//! thread switches around it. Here each request-serving thread keeps a read-only connection
//! of its own and runs the lookup in place. It cannot stall the thread: in WAL mode a reader
//! never waits for the writer, and the connection's busy timeout is zero, so anything that
//! would make it wait (a checkpoint that needs the readers out, another process recovering
//! the file) is an error at once, and the pool answers instead.
//!
//! [`Db::read`]: super::Db::read

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::models::sessions;
use super::per_thread::PerThread;
use super::{DbConnection, SessionAndUser};

pub(crate) struct Inline {
    path: String,
    connections: PerThread<Option<DbConnection>>,
    reads: AtomicU64,
}

impl Inline {
    pub(crate) fn new(path: &str) -> Inline {
        Inline { path: path.to_string(), connections: PerThread::new(|| None), reads: AtomicU64::new(0) }
    }

    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The live session with this token hash and its user, or `None` when the pool should
    /// be asked instead (this thread's connection is in use by a thread sharing its shard,
    /// or the read failed).
    pub(crate) fn session_by_hash(&self, hash: &str, now: NaiveDateTime) -> Option<SessionAndUser> {
        let Ok(mut slot) = self.connections.slot(self.connections.mine()).try_lock() else { return None };
        if slot.is_none() {
            match self.open() {
                Ok(conn) => *slot = Some(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot open SQLite for in-thread reads; the pool answers");
                    return None;
                }
            }
        }
        let conn = slot.as_mut()?;
        match sessions::find_active_by_hash(conn, hash, now) {
            Ok(found) => {
                self.reads.fetch_add(1, Ordering::Relaxed);
                Some(found)
            }
            Err(e) => {
                // Busy or worse: this connection is not trusted again, a fresh one is opened
                // at the next use.
                tracing::debug!(error = %e, "in-thread session lookup failed; the pool answers");
                *slot = None;
                None
            }
        }
    }

    fn open(&self) -> Result<DbConnection, String> {
        let mut conn = SqliteConnection::establish(&self.path).map_err(|e| e.to_string())?;
        // Read-only by its own choice: nothing written through it by mistake; no waiting.
        conn.batch_execute("PRAGMA query_only = ON; PRAGMA busy_timeout = 0;").map_err(|e| e.to_string())?;
        Ok(DbConnection::Sqlite(conn))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::DatabaseUrl;
    use crate::db::{self, Db};

    #[tokio::test]
    async fn answers_what_the_pool_answers_and_never_waits_for_a_writer() {
        let dir = std::env::temp_dir().join(format!("authql-inline-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("inline.db").to_string_lossy().into_owned();
        let db = Db::connect(&DatabaseUrl::Sqlite(path.clone()), 2, Duration::from_secs(5)).expect("connect");
        db.migrate().expect("migrate");
        db.write(|conn| Ok(conn.batch_execute(crate::db::test_seed::SEED)?)).await.expect("seed");
        let inline = Inline::new(&path);
        let now = db::now();
        for hash in ["h-live", "h-old", "h-gone", "h-none"] {
            let fast = inline.session_by_hash(hash, now).expect("served in-thread");
            let owned = hash.to_string();
            let pooled = db.read(move |conn| sessions::find_active_by_hash(conn, &owned, now)).await.expect("pool");
            assert_eq!(format!("{fast:?}"), format!("{pooled:?}"), "{hash}");
            assert_eq!(fast.is_some(), hash == "h-live", "{hash}");
        }
        assert_eq!(inline.reads(), 4);

        // A writer holding its transaction open (another process, say) does not block the
        // read, which sees the last committed state.
        let mut writer = SqliteConnection::establish(&path).expect("writer");
        writer.batch_execute("BEGIN IMMEDIATE; DELETE FROM sessions WHERE id = 's-live';").expect("write");
        assert!(inline.session_by_hash("h-live", now).expect("served").is_some());
        writer.batch_execute("COMMIT").expect("commit");
        assert!(inline.session_by_hash("h-live", now).expect("served").is_none(), "committed: gone");

        // The connection cannot write, even if asked to.
        let mut slot = inline.connections.slot(inline.connections.mine()).lock().expect("slot");
        let conn = slot.as_mut().expect("opened");
        assert!(conn.batch_execute("DELETE FROM users").is_err(), "query_only");
        drop(slot);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
