//! The test harness: the real app (the same `server::run` that `authql serve` uses) on a
//! free port, against a fresh SQLite file or a fresh PostgreSQL schema, spoken to over HTTP.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use authql::config::Config;
use authql::server;
use authql::state::AppState;
use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use crate::server_process::ServerProcess;
use crate::smtp::SmtpSink;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The one log subscriber of the test binary (it is process-wide), installed by the first
/// app a test spawns. It keeps what the server logs under `authql::mail` (returned here,
/// for the mail tests, which find their own lines by a unique address) and, as zero2prod
/// does, prints the server's logs when `TEST_LOG` is set: `TEST_LOG=1` for `info`, or a
/// filter such as `TEST_LOG=authql=debug`. Quiet by default.
pub fn server_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let kept = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .with_filter(EnvFilter::new("authql::mail=info"));
        let shown = std::env::var("TEST_LOG").ok().map(|filter| {
            let filter =
                if filter.is_empty() || filter == "1" || filter == "true" { "info".to_string() } else { filter };
            tracing_subscriber::fmt::layer().with_writer(std::io::stdout).with_filter(EnvFilter::new(filter))
        });
        tracing_subscriber::registry()
            .with(kept)
            .with(shown)
            .try_init()
            .expect("no other global subscriber in the test binary");
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name)` expects `async fn name(Backend)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

/// A database of a test's own, removed when the test ends.
pub enum TestDb {
    Sqlite { dir: PathBuf },
    Postgres { schema: String },
}

impl TestDb {
    pub fn create(backend: Backend) -> (TestDb, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("authql-test-{id}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}", dir.join("authql.db").display());
                (TestDb::Sqlite { dir }, url)
            }
            Backend::Postgres => {
                // Before libpq first touches OpenSSL: see `Db::connect`.
                openssl::init();
                let schema = format!("t_{id}");
                let mut conn = diesel::PgConnection::establish(PG_ADMIN_URL)
                    .expect("PostgreSQL must run on 127.0.0.1:5432 (user postgres, database test) for these tests");
                conn.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create schema");
                (TestDb::Postgres { schema: schema.clone() }, pg_url_for_schema(&schema, "127.0.0.1:5432"))
            }
        }
    }
}

/// The connection names the schema as its application, so the test's connections can be
/// found and closed when it ends.
pub fn pg_url_for_schema(schema: &str, host_port: &str) -> String {
    format!("postgres://postgres@{host_port}/test?options=-csearch_path%3D{schema}&application_name={schema}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { schema } => {
                if let Ok(mut conn) = diesel::PgConnection::establish(PG_ADMIN_URL) {
                    // The app's server threads outlive the test's runtime and would keep their
                    // pool open until the process exits: close its connections here, or a
                    // whole suite runs PostgreSQL out of connections.
                    let _ = conn.batch_execute(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}'"
                    ));
                    let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db_url: String,
    server: actix_web::dev::ServerHandle,
    pub db_guard: TestDb,
}

/// Config for tests: the contract's defaults, on the given database, plus `extra` variables.
pub fn test_config(db_url: &str, extra: &[(&str, &str)]) -> Config {
    // Small pools: many tests run at once against one PostgreSQL (100 connections).
    let mut env = vec![
        ("AUTHQL_DATABASE_URL".to_string(), db_url.to_string()),
        ("AUTHQL_DB_POOL_SIZE".to_string(), "4".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_sources(None, env).expect("test config is valid")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the app with extra `AUTHQL_*` settings.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        let (db, url) = TestDb::create(backend);
        let config = test_config(&url, extra);
        Self::spawn_on(db, url, config).await
    }

    pub async fn spawn_on(db: TestDb, db_url: String, config: Config) -> TestApp {
        server_log();
        let state = tokio::task::spawn_blocking(move || AppState::build(config))
            .await
            .expect("join")
            .expect("app state builds");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let server = server::run(state.clone(), listener, Some(2)).expect("server starts");
        let handle = server.handle();
        tokio::spawn(server);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        TestApp { addr, client, state, db_url, server: handle, db_guard: db }
    }

    /// POSTs a GraphQL operation; returns the whole JSON answer.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(None, query, variables).await
    }

    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_with(Some(token), query, variables).await
    }

    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self.client.post(format!("{}/graphql", self.addr)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON answer");
        assert!(status.is_success() || status.as_u16() == 503, "unexpected status {status}: {body}");
        body
    }

    /// POSTs a JSON body to /graphql, optionally with a Cookie header; the raw response
    /// (for tests that look at headers).
    pub async fn post_json(&self, body: Value, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.client.post(format!("{}/graphql", self.addr)).json(&body);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send().await.expect("request sent")
    }

    /// `authenticate` with emailpass as a raw response.
    pub async fn emailpass_raw(&self, email: &str, password: &str) -> reqwest::Response {
        let variables = json!({ "provider": "emailpass", "input": { "email": email, "password": password } });
        self.post_json(json!({ "query": AUTHENTICATE, "variables": variables }), None).await
    }

    /// `authenticate` with emailpass; returns the AuthResult.
    pub async fn emailpass(&self, email: &str, password: &str) -> Value {
        let body = self
            .gql(AUTHENTICATE, json!({ "provider": "emailpass", "input": { "email": email, "password": password } }))
            .await;
        assert!(body.get("errors").is_none(), "authenticate errored: {body}");
        body["data"]["authenticate"].clone()
    }

    /// Signs up (or in) and returns (token, user id), failing the test otherwise.
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, String) {
        let r = self.emailpass(email, password).await;
        assert_eq!(r["success"], true, "sign-up failed: {r}");
        (r["session"]["token"].as_str().expect("token").to_string(), r["user"]["id"].as_str().expect("id").to_string())
    }

    /// Creates an admin the way an operator would (`authql user create --role admin` does
    /// the same writes) and signs them in.
    pub async fn admin(&self, email: &str) -> (String, String) {
        let (token, id) = self.sign_up(email, "admin pass phrase 1").await;
        let db = self.state.db.clone();
        let uid = id.clone();
        db.write(move |conn| {
            use authql::db::schema::users;
            use diesel::prelude::*;
            diesel::update(users::table.filter(users::id.eq(&uid))).set(users::role.eq("admin")).execute(conn)?;
            Ok(())
        })
        .await
        .expect("promote");
        (token, id)
    }

    /// Runs SQL against the test's database and returns a single count.
    pub async fn count(&self, table_sql: &str) -> i64 {
        let sql = table_sql.to_string();
        self.state
            .db
            .read(move |conn| {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let rows: Vec<N> = diesel::sql_query(sql).load(conn)?;
                Ok(rows.first().map(|r| r.n).unwrap_or(0))
            })
            .await
            .expect("count query")
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

pub const AUTHENTICATE: &str = r#"
mutation Auth($provider: String!, $input: JSON!) {
  authenticate(provider: $provider, input: $input) {
    success error location
    session { id token expiresAt }
    user { id email role emailVerified }
    authUser { id provider entityId appMetadata }
  }
}"#;

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"].as_str().map(str::to_string)
}

pub const REQUEST_RESET: &str =
    "mutation($p: String!, $e: String!) { requestPasswordReset(provider: $p, entityId: $e) }";
pub const RESET: &str = "mutation($t: String!, $i: JSON!) { resetPassword(token: $t, input: $i) }";
pub const UPDATE_PROVIDER: &str = "mutation($p: String!, $i: JSON!) { updateProvider(provider: $p, input: $i) }";

/// Where the links in mails of [`app_with_mail`] point, and whom they come from.
pub const APP_URL: &str = "https://app.example";
pub const MAIL_FROM: &str = "noreply@authql.example";

/// The app, mailing through a fresh SMTP sink.
pub async fn app_with_mail(backend: Backend) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        backend,
        &[("AUTHQL_SMTP_URL", &sink.url()), ("AUTHQL_APP_URL", APP_URL), ("AUTHQL_MAIL_FROM", MAIL_FROM)],
    )
    .await;
    (app, sink)
}

pub async fn request_reset(app: &TestApp, entity_id: &str) -> Value {
    app.gql(REQUEST_RESET, json!({ "p": "emailpass", "e": entity_id })).await
}

pub async fn reset(app: &TestApp, token: &str, password: &str) -> Value {
    app.gql(RESET, json!({ "t": token, "i": { "password": password } })).await
}

/// `acceptInvite` with emailpass; returns the AuthResult.
pub async fn accept(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app
        .gql(
            r#"mutation($t: String!, $i: JSON!) { acceptInvite(token: $t, provider: "emailpass", input: $i) {
                success error session { token } user { id email role emailVerified } } }"#,
            json!({ "t": token, "i": input }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["acceptInvite"].clone()
}
