//! The real binary, `authql serve`, started as an operator starts it (tests of the process:
//! its log, signals, several instances on one database).

use std::time::Duration;

use serde_json::{Value, json};

/// The real binary, `authql serve`, as an operator runs it; killed when dropped.
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub addr: String,
}

/// Everything a [`ServerProcess::start_logged`] server wrote to its log so far.
#[derive(Clone, Default)]
pub struct ServerLog(std::sync::Arc<std::sync::Mutex<String>>);

impl ServerLog {
    pub fn text(&self) -> String {
        self.0.lock().expect("log").clone()
    }
}

impl ServerProcess {
    pub async fn start(db_url: &str, extra: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = Self::command(db_url);
        cmd.env("AUTHQL_LOG", "error");
        cmd.envs(extra.iter().copied());
        Self::spawn(cmd).await
    }

    /// Like [`ServerProcess::start`], at the most verbose log level (every crate, `trace`,
    /// JSON); every line it logs is kept in the returned buffer.
    pub async fn start_logged(db_url: &str, extra: &[(&str, &str)]) -> (ServerProcess, ServerLog) {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = Self::command(db_url);
        cmd.env("AUTHQL_LOG", "trace").env("AUTHQL_LOG_FORMAT", "json").envs(extra.iter().copied());
        cmd.stderr(std::process::Stdio::piped());
        let mut server = Self::spawn(cmd).await;
        let log = ServerLog::default();
        let mut stderr = tokio::io::BufReader::new(server.child.stderr.take().expect("stderr")).lines();
        let sink = log.0.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        (server, log)
    }

    /// `authql serve` on a free port, with no `AUTHQL_*` setting of the test's own
    /// environment leaking in.
    fn command(db_url: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_authql"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHQL_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .env("AUTHQL_DATABASE_URL", db_url)
            .env("AUTHQL_BIND", "127.0.0.1:0")
            .env("AUTHQL_DB_POOL_SIZE", "4")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn spawn(mut cmd: tokio::process::Command) -> ServerProcess {
        use tokio::io::AsyncBufReadExt;
        let mut child = cmd.spawn().expect("authql starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("prints its address in time")
                .expect("reads stdout")
                .expect("an address line");
            if let Some(addr) = line.strip_prefix("authql listening on ") {
                break addr.to_string();
            }
        };
        ServerProcess { child, addr }
    }

    pub async fn gql(&self, client: &reqwest::Client, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req =
            client.post(format!("{}/graphql", self.addr)).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("answer").json().await.expect("JSON")
    }
}
