use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::*;
use crate::config::DatabaseUrl;
use crate::db::{self, Db};

fn config(url: &str) -> Config {
    Config::from_str(url).expect("a URL tokio-postgres reads")
}

fn no_env(_: &str) -> bool {
    false
}

#[test]
fn takes_only_what_libpq_would_not_encrypt_either() {
    // This machine, by loopback, name or socket: libpq's `prefer` finds no TLS worth wanting.
    assert!(accepts(&config("postgres://postgres@127.0.0.1:5432/test"), no_env));
    assert!(accepts(&config("postgres://postgres@[::1]/test"), no_env));
    assert!(accepts(&config("postgres://postgres@localhost/test?application_name=x"), no_env));
    assert!(accepts(&config("host=/var/run/postgresql user=postgres dbname=test"), no_env));
    // Another machine: only when the URL itself says no TLS.
    assert!(!accepts(&config("postgres://postgres@db.internal/test"), no_env));
    assert!(!accepts(&config("postgres://postgres@10.0.0.5/test"), no_env));
    assert!(accepts(&config("postgres://postgres@db.internal/test?sslmode=disable"), no_env));
    assert!(!accepts(&config("postgres://postgres@localhost,db.internal/test"), no_env));
    // TLS asked for, even on this machine: the pool (libpq) serves.
    assert!(!accepts(&config("postgres://postgres@127.0.0.1/test?sslmode=require"), no_env));
    // A host address that may differ from the name, or no host at all (libpq would pick
    // its default socket, tokio-postgres cannot).
    assert!(!accepts(&config("postgres://postgres@localhost/test?hostaddr=10.0.0.5"), no_env));
    assert!(!accepts(&config("postgres:///test?user=postgres"), no_env));
    // libpq reads settings from the environment the URL does not show.
    assert!(!accepts(&config("postgres://postgres@127.0.0.1/test"), |name| name == "PGSSLMODE"));
    assert!(!accepts(&config("postgres://postgres@127.0.0.1/test"), |name| name == "PGPASSFILE"));
}

#[test]
fn the_pipelined_sql_is_the_pools_query() {
    let sql = sessions::active_by_hash_pg_sql().expect("renders");
    assert!(sql.contains("INNER JOIN \"users\""), "{sql}");
    assert!(sql.contains("\"sessions\".\"token_hash\" = $1"), "{sql}");
    assert!(sql.contains("\"sessions\".\"expires_at\" > $2"), "{sql}");
    assert!(sql.contains("\"users\".\"deleted_at\" IS NULL"), "{sql}");
    // Nine session columns, then eleven user columns, as `from_pg_row` reads them.
    let select = &sql[..sql.find(" FROM ").expect("a FROM")];
    assert_eq!(select.matches("\"sessions\".").count(), 9, "{select}");
    assert_eq!(select.matches("\"users\".").count(), 11, "{select}");
    assert!(select.ends_with("\"users\".\"deleted_at\""), "{select}");
}

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own, dropped (with the connections named after it) at the end.
struct Schema(String);

impl Schema {
    fn create() -> Schema {
        openssl::init();
        let name = format!("t_pipe_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(ADMIN_URL).expect("PostgreSQL on 127.0.0.1:5432");
        conn.batch_execute(&format!("CREATE SCHEMA {name}")).expect("create schema");
        Schema(name)
    }

    fn url(&self) -> String {
        format!("{ADMIN_URL}?options=-csearch_path%3D{0}&application_name={0}", self.0)
    }

    fn terminate_connections(&self) -> usize {
        #[derive(diesel::QueryableByName)]
        struct Terminated {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = PgConnection::establish(ADMIN_URL).expect("admin connection");
        let rows: Vec<Terminated> = diesel::RunQueryDsl::load(
            diesel::sql_query(format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = '{}'",
                self.0
            )),
            &mut conn,
        )
        .expect("terminate");
        rows.first().map_or(0, |r| r.n as usize)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        self.terminate_connections();
        if let Ok(mut conn) = PgConnection::establish(ADMIN_URL) {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }
}

async fn seeded_db(schema: &Schema) -> Db {
    let db = Db::connect(&DatabaseUrl::Postgres(schema.url()), 2, Duration::from_secs(5)).expect("connect");
    db.migrate().expect("migrate");
    db.write(|conn| Ok(conn.batch_execute(crate::db::test_seed::SEED)?)).await.expect("seed");
    db
}

#[tokio::test]
async fn answers_what_the_pool_answers_and_recovers_from_a_lost_connection() {
    let schema = Schema::create();
    let db = seeded_db(&schema).await;
    let pipelined = db.pipelined.clone().expect("a loopback URL takes the pipelined path");
    let now = db::now();

    for hash in ["h-live", "h-old", "h-gone", "h-none"] {
        let fast = pipelined.session_by_hash(hash, now).await.expect("served by the pipelined path");
        let owned = hash.to_string();
        let pooled = db.read(move |conn| sessions::find_active_by_hash(conn, &owned, now)).await.expect("pool");
        assert_eq!(format!("{fast:?}"), format!("{pooled:?}"), "{hash}");
        assert_eq!(fast.is_some(), hash == "h-live", "{hash}");
    }
    let (session, user) = pipelined.session_by_hash("h-live", now).await.flatten().expect("the live session");
    assert_eq!(session.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(session.last_seen_at.and_utc().timestamp_subsec_micros(), 1);
    assert_eq!((user.email.as_str(), user.role.as_str(), user.email_verified), ("ada@example.com", "admin", true));
    assert_eq!(db.inline_reads(), 5);

    // Many at once on one thread share one connection, each getting its own answer.
    let lookups = (0..64).map(|i| {
        let db = db.clone();
        async move { db.session_by_hash(if i % 2 == 0 { "h-live" } else { "h-none" }.into(), now).await }
    });
    let answers = futures_util::future::join_all(lookups).await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.expect("answered").is_some(), i % 2 == 0, "lookup {i}");
    }
    assert_eq!(db.inline_reads(), 69);

    // The server ends every connection (as a restart does): the request that finds its
    // connection gone is answered by the pool, and the next one reconnects.
    assert!(schema.terminate_connections() >= 2, "the pool's and the pipelined connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = db.session_by_hash("h-live".into(), db::now()).await.expect("answered through the pool");
    assert!(after.is_some());
    assert_eq!(db.inline_reads(), 69, "the lost connection answered nothing");
    let again = db.session_by_hash("h-live".into(), db::now()).await.expect("answered");
    assert!(again.is_some());
    assert_eq!(db.inline_reads(), 70, "a new pipelined connection serves");
}

#[tokio::test]
async fn a_refused_connection_leaves_every_lookup_to_the_pool() {
    let schema = Schema::create();
    let db = seeded_db(&schema).await;
    // The same database under a role that may not log in: PostgreSQL refuses the connection
    // itself (not the network), which will not pass by retrying.
    let mut admin = PgConnection::establish(ADMIN_URL).expect("admin");
    let role = format!("{}_nologin", schema.0);
    admin.batch_execute(&format!("CREATE ROLE {role} NOLOGIN")).expect("role");
    let url = schema.url().replace("postgres@", &format!("{role}@"));
    let refused = Pipelined::for_url(&url, Arc::new(Health::default())).expect("a loopback URL");
    assert!(refused.session_by_hash("h-live", db::now()).await.is_none());
    assert!(refused.refused.load(Ordering::Relaxed));
    assert!(refused.session_by_hash("h-live", db::now()).await.is_none(), "not tried again");
    let _ = admin.batch_execute(&format!("DROP ROLE {role}"));
    drop(db);
}
