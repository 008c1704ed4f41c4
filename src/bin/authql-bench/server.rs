//! The server under test: a fresh database (SQLite file or PostgreSQL schema), the release
//! `authql` binary as a child process, and what `/proc` says about its memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A database of this run's own, removed when dropped.
pub(crate) struct BenchDb {
    pub url: String,
    /// Where the server runs (its working directory: no stray `authql.toml` is read) and
    /// writes its log.
    pub dir: PathBuf,
    schema: Option<(String, String)>,
}

impl BenchDb {
    pub(crate) fn create(backend: Backend, pg_admin_url: &str) -> Result<BenchDb, String> {
        let id = format!(
            "{}_{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        let dir = std::env::temp_dir().join(format!("authql-bench-{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.join("authql.db").display());
                Ok(BenchDb { url, dir, schema: None })
            }
            Backend::Postgres => {
                let schema = format!("bench_{id}");
                let mut conn = diesel::PgConnection::establish(pg_admin_url)
                    .map_err(|e| format!("PostgreSQL at {pg_admin_url}: {e} (use --backend sqlite to skip it)"))?;
                conn.batch_execute(&format!("CREATE SCHEMA {schema}")).map_err(|e| format!("create schema: {e}"))?;
                let sep = if pg_admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{pg_admin_url}{sep}options=-csearch_path%3D{schema}");
                Ok(BenchDb { url, dir, schema: Some((schema, pg_admin_url.to_string())) })
            }
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((schema, admin)) = &self.schema
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The environment every `authql` child gets: nothing inherited that starts with `AUTHQL_`.
fn command(bin: &Path, db: &BenchDb, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHQL_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(&db.dir).env("AUTHQL_DATABASE_URL", &db.url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `authql user create ...` (which also migrates the fresh database).
pub(crate) fn create_user(bin: &Path, db: &BenchDb, email: &str, password: &str, role: &str) -> Result<(), String> {
    let out = command(bin, db, &[])
        .args(["user", "create", "--email", email, "--password", password, "--role", role])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("authql user create failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

pub(crate) struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `authql serve` on a free port and waits for the line that says where it listens.
    pub(crate) fn spawn(bin: &Path, db: &BenchDb, env: &[(&str, String)]) -> Result<Server, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(db.dir.join("server.log"))
            .map_err(|e| format!("server log: {e}"))?;
        let mut env = env.to_vec();
        env.push(("AUTHQL_BIND", "127.0.0.1:0".into()));
        let mut child = command(bin, db, &env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address line, then keeps draining so the server never blocks on stdout.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("authql listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                    break;
                }
            }
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => match addr.parse() {
                Ok(addr) => Ok(Server { child, addr }),
                Err(_) => Err(format!("unreadable address {addr:?}")),
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(db.dir.join("server.log")).unwrap_or_default();
                Err(format!("authql serve did not start within 60 s; its log:\n{log}"))
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory since start or since the last [`Server::reset_peak`], in KiB.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Restarts the peak-RSS count (Linux: writing 5 to `clear_refs`), so each scenario
    /// reports its own peak. Returns false where that is not allowed: peaks then accumulate.
    pub(crate) fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// SIGTERM (graceful: in-flight requests finish), then SIGKILL after `grace`.
    pub(crate) fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind (on a panic or an early return).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `kB` field of `/proc/<pid>/status`.
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// A `kB` field of `/proc/meminfo`.
pub(crate) fn proc_meminfo_kib(field: &str) -> Option<u64> {
    parse_status_kib(&std::fs::read_to_string("/proc/meminfo").ok()?, field)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields_of_proc_status() {
        let s = "Name:\tauthql\nVmPeak:\t  200000 kB\nVmHWM:\t   41234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM:"), Some(41_234));
        assert_eq!(parse_status_kib(s, "VmRSS:"), Some(40_000));
        assert_eq!(parse_status_kib(s, "VmSwap:"), None);
    }
}
