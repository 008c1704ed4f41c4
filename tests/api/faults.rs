//! Failure: the database going away and coming back, and the server killed mid-write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb, pg_url_for_schema, test_config};

/// A TCP relay in front of PostgreSQL that can be cut (connections dropped, new ones
/// refused) and restored: the database "goes away" for authql without touching the real
/// server other tests use.
pub struct Relay {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Relay {
    pub async fn start(target: &'static str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Relay { port, up, generation }
    }

    /// The app on a fresh PostgreSQL schema reached only through a new relay, with the
    /// contract's 5 s checkout timeout (the outage must be answered well before it).
    pub async fn app_behind() -> (Relay, TestApp) {
        let relay = Relay::start("127.0.0.1:5432").await;
        let (db, _) = TestDb::create(Backend::Postgres);
        let TestDb::Postgres { schema } = &db else { unreachable!() };
        let url = pg_url_for_schema(schema, &format!("127.0.0.1:{}", relay.port));
        let app = TestApp::spawn_on(db, url.clone(), test_config(&url, &[("AUTHQL_DB_TIMEOUT", "5s")])).await;
        (relay, app)
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// While the database is unreachable every request that needs it answers 503 with
/// `UNAVAILABLE` and `Retry-After` within a second, though the pool would wait 5 s for a
/// connection: the pool knows the database is gone and says so at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_503_fast_then_recovers_without_restart() {
    let (relay, app) = Relay::app_behind().await;
    let (token, _) = app.sign_up("olga@example.com", "olga's pass phrase").await;
    let ready = |app: &TestApp| {
        let url = format!("{}/readyz", app.addr);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&app).await, 200);

    relay.cut();
    let started = Instant::now();
    assert_eq!(ready(&app).await, 503);
    assert!(started.elapsed() < Duration::from_secs(1), "readyz answered in {:?}", started.elapsed());
    for attempt in 0..5 {
        let started = Instant::now();
        let resp = app
            .client
            .post(format!("{}/graphql", app.addr))
            .bearer_auth(&token)
            .json(&json!({ "query": "{ me { email } }" }))
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(resp.status(), 503);
        assert!(elapsed < Duration::from_secs(1), "request {attempt} answered in {elapsed:?}");
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(retry_after.as_deref(), Some("2"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 2, "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.to_lowercase().contains("postgres") && !message.contains("connection to server"), "{message}");
    }
    // A sign-in attempt during the outage is an error, not a wrong-password result.
    let started = Instant::now();
    let r = app.gql(crate::helpers::AUTHENTICATE, json!({ "provider": "emailpass", "input": { "email": "olga@example.com", "password": "olga's pass phrase" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{r}");
    assert!(started.elapsed() < Duration::from_secs(1), "sign-in answered in {:?}", started.elapsed());

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(&app).await != 200 {
        assert!(Instant::now() < deadline, "readyz recovers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Old pooled connections were broken; the pool replaces them.
    let mut me = Value::Null;
    for _ in 0..20 {
        me = app.gql_as(&token, "{ me { email } }", json!({})).await;
        if me["data"]["me"]["email"] == "olga@example.com" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(me["data"]["me"]["email"], "olga@example.com", "{me}");
    assert_eq!(app.emailpass("olga@example.com", "olga's pass phrase").await["success"], true);
}

/// A restart of PostgreSQL (here: every connection dropped at once, new ones accepted)
/// leaves the pool full of dead connections that nothing tests on checkout. The first
/// request to meet one fails (503) and tells the pool; every other pooled connection is
/// then probed before its next use and replaced, so that one failure is the only one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_costs_at_most_one_request() {
    let (relay, app) = Relay::app_behind().await;
    let (token, _) = app.sign_up("olga@example.com", "olga's pass phrase").await;
    let me = || async {
        let body = app.gql_as(&token, "{ me { email } }", json!({})).await;
        body["data"]["me"]["email"] == "olga@example.com"
    };
    // Fill the pool (4 connections in tests): four uses held at once need four connections;
    // all of them are idle and alive afterwards.
    let hold = || {
        app.state.db.read(|_| {
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        })
    };
    let held = futures_util::future::join_all((0..4).map(|_| hold())).await;
    assert!(held.iter().all(Result::is_ok));
    assert_eq!(app.state.db.pool_state().idle_connections, 4);
    assert!(me().await);

    relay.cut();
    // Long enough for the relay to have closed every connection it carried.
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay.restore();
    let mut failed = 0;
    for _ in 0..30 {
        if !me().await {
            failed += 1;
        }
    }
    // `me` looks its session up on PostgreSQL's pipelined connection, which finds itself
    // closed before it is used and hands the request to the pool, after telling it to probe.
    assert_eq!(failed, 0, "{failed} requests met a dead connection after the restart");
    assert!(me().await, "served after the restart");
}

/// Starts the real binary, signs people up from several clients at once, kills it with
/// SIGKILL mid-load, restarts it, and checks that every acknowledged sign-up is whole and
/// no half-made one (an identity without its user) exists.
async fn kill_9_under_write_load_loses_nothing_acknowledged(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let fast_hashes = [("AUTHQL_ARGON2_MEMORY_KIB", "1024"), ("AUTHQL_ARGON2_ITERATIONS", "1")];
    let ServerProcess { mut child, addr } = ServerProcess::start(&url, &fast_hashes).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let acked = Arc::new(tokio::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (client, addr, acked) = (client.clone(), addr.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let email = format!("w{w}n{i}@example.com");
                let resp = client
                    .post(format!("{addr}/graphql"))
                    .json(&json!({ "query": crate::helpers::AUTHENTICATE, "variables": { "provider": "emailpass", "input": { "email": email, "password": "a durable pass phrase" } } }))
                    .send()
                    .await;
                let Ok(resp) = resp else { return };
                let Ok(body) = resp.json::<Value>().await else { return };
                if body["data"]["authenticate"]["success"] == true {
                    let token = body["data"]["authenticate"]["session"]["token"].as_str().unwrap().to_string();
                    acked.lock().await.push((email, token));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 5, "the load made progress before the kill: {}", acked.len());

    let restarted = ServerProcess::start(&url, &fast_hashes).await;
    for (email, token) in &acked {
        let body = restarted.gql(&client, Some(token), "{ me { email authUsers { entityId } } }", json!({})).await;
        assert_eq!(body["data"]["me"]["email"], email.as_str(), "acknowledged sign-up survived: {body}");
    }
    let state_db =
        authql::db::Db::connect(&authql::config::DatabaseUrl::parse(&url).unwrap(), 1, Duration::from_secs(5)).unwrap();
    let (orphans, userless, users) = state_db
        .read(|conn| {
            use authql::db::schema::{auth_users, users};
            use diesel::prelude::*;
            let orphans: i64 =
                auth_users::table.left_join(users::table).filter(users::id.is_null()).count().get_result(conn)?;
            let unlinked: i64 = auth_users::table.filter(auth_users::user_id.is_null()).count().get_result(conn)?;
            let total: i64 = users::table.count().get_result(conn)?;
            let with_identity: i64 =
                users::table.inner_join(auth_users::table).select(users::id).distinct().count().get_result(conn)?;
            Ok((orphans + unlinked, total - with_identity, total))
        })
        .await
        .unwrap();
    assert_eq!(orphans, 0, "no identity without its user");
    assert_eq!(userless, 0, "no user without an identity");
    assert!(users as usize >= acked.len());
    drop(db);
}
crate::both!(kill_9_under_write_load_loses_nothing_acknowledged);
