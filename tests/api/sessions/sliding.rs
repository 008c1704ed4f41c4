//! Sliding sessions (API.md 6.7): an idle lifetime renewed by use, under an absolute cap.

use authql::server;
use authql::state::AppState;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::connection::SimpleConnection;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, test_config};

use super::ME;

/// A session's times as the API reports them; `None` when the token is no session.
#[derive(Clone, Copy, Debug)]
struct Times {
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    expires: DateTime<Utc>,
}

const SESSION_TIMES: &str = "{ session { createdAt lastSeenAt expiresAt } }";

fn parse_time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}"))).expect("RFC 3339").to_utc()
}

fn times_of(session: &Value) -> Option<Times> {
    (!session.is_null()).then(|| Times {
        created: parse_time(&session["createdAt"]),
        last_seen: parse_time(&session["lastSeenAt"]),
        expires: parse_time(&session["expiresAt"]),
    })
}

async fn times(app: &TestApp, token: &str) -> Option<Times> {
    let body = app.gql_as(token, SESSION_TIMES, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    times_of(&body["data"]["session"])
}

fn secs(n: f64) -> TimeDelta {
    TimeDelta::microseconds((n * 1e6) as i64)
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

/// Settings in seconds: an idle lifetime of 3 s (touch interval 300 ms) under a cap of 8 s.
const SHORT: &[(&str, &str)] = &[("AUTHQL_SESSION_TTL", "3s"), ("AUTHQL_SESSION_MAX_TTL", "8s")];

async fn a_used_session_slides_until_the_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, SHORT).await;
    let (token, _) = app.sign_up("pia@example.com", "pia's pass phrase").await;
    let first = times(&app, &token).await.expect("signed in");
    let created = first.created;
    assert_eq!(first.expires, created + secs(3.0), "a new session lives the idle lifetime");

    // Used every 2 s: each use pushes the expiry 3 s ahead, so it lives past 3 s...
    let mut last = first;
    for k in 1..=3 {
        sleep_until(created + secs(2.0 * f64::from(k))).await;
        let before = Utc::now() - secs(0.001);
        last = times(&app, &token).await.unwrap_or_else(|| panic!("alive after {}s of use", 2 * k));
        let after = Utc::now();
        assert!(before <= last.last_seen && last.last_seen <= after, "this use was recorded: {last:?}");
        assert_eq!(last.expires, (last.last_seen + secs(3.0)).min(created + secs(8.0)), "{last:?}");
    }
    // ...but never past 8 s after sign-in, however busy.
    assert_eq!(last.expires, created + secs(8.0), "the third use reaches the cap");
    sleep_until(created + secs(8.3)).await;
    assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"], Value::Null, "dead at the cap");
    let body = app.gql_as(&token, "{ sessions { id } }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
}
both!(a_used_session_slides_until_the_cap);

async fn an_unused_session_dies_after_the_idle_ttl(backend: Backend) {
    let app = TestApp::spawn_with(backend, SHORT).await;
    let (idle, _) = app.sign_up("quinn@example.com", "quinn's pass phrase").await;
    let (busy, _) = app.sign_up("quinn@example.com", "quinn's pass phrase").await;
    let created = times(&app, &idle).await.expect("signed in").created;

    sleep_until(created + secs(2.0)).await;
    assert!(times(&app, &busy).await.is_some(), "the busy one is used");
    sleep_until(created + secs(3.3)).await;
    assert_eq!(app.gql_as(&idle, ME, json!({})).await["data"]["me"], Value::Null, "unused for 3 s: expired");
    assert_eq!(app.gql_as(&busy, ME, json!({})).await["data"]["me"]["email"], "quinn@example.com");

    // Housekeeping removes the idle one and keeps the one whose expiry slid.
    assert_eq!(app.state.sessions.prune().await.expect("prune"), 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 1);
    assert_eq!(app.gql_as(&busy, ME, json!({})).await["data"]["me"]["email"], "quinn@example.com");
}
both!(an_unused_session_dies_after_the_idle_ttl);

async fn last_seen_moves_on_use_at_most_once_per_interval(backend: Backend) {
    // Idle lifetime 30 s: the touch interval is 3 s.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SESSION_TTL", "30s"), ("AUTHQL_SESSION_MAX_TTL", "1h")]).await;
    let (token, _) = app.sign_up("rui@example.com", "rui's pass phrase").await;
    let (other, _) = app.sign_up("rui@example.com", "rui's pass phrase").await;
    let first = times(&app, &token).await.expect("signed in");
    assert_eq!(first.last_seen, first.created, "sign-in is the first use");
    assert_eq!(first.expires, first.created + secs(30.0));

    // Uses within the interval are not written.
    for _ in 0..3 {
        assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"]["email"], "rui@example.com");
    }
    let again = times(&app, &token).await.expect("alive");
    assert_eq!((again.last_seen, again.expires), (first.last_seen, first.expires), "no write within 3 s");

    // A use after the interval moves lastSeenAt, and the expiry with it.
    sleep_until(first.created + secs(3.2)).await;
    let before = Utc::now() - secs(0.001);
    let moved = times(&app, &token).await.expect("alive");
    assert!(moved.last_seen >= before && moved.last_seen > first.last_seen, "{moved:?}");
    assert_eq!(moved.expires, moved.last_seen + secs(30.0));
    for _ in 0..3 {
        app.gql_as(&token, ME, json!({})).await;
    }
    let still = times(&app, &token).await.expect("alive");
    assert_eq!(still.last_seen, moved.last_seen, "and not again within the next 3 s");

    // The session list shows it to the person's other devices.
    let list = app.gql_as(&other, "{ sessions { current lastSeenAt } }", json!({})).await;
    let listed: Vec<DateTime<Utc>> = list["data"]["sessions"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|s| s["current"] == false)
        .map(|s| parse_time(&s["lastSeenAt"]))
        .collect();
    assert_eq!(listed, vec![moved.last_seen]);
}
both!(last_seen_moves_on_use_at_most_once_per_interval);

/// The statement that makes the database count every row update of `sessions` in
/// `session_writes.n` (a trigger: the count is the database's own, whoever writes).
fn count_session_writes_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE session_writes (n BIGINT NOT NULL); INSERT INTO session_writes VALUES (0);
             CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions
             BEGIN UPDATE session_writes SET n = n + 1; END;"
        }
        Backend::Postgres => {
            "CREATE TABLE session_writes (n BIGINT NOT NULL); INSERT INTO session_writes VALUES (0);
             CREATE FUNCTION count_session_writes() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN UPDATE session_writes SET n = n + 1; RETURN NEW; END $$;
             CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions
             FOR EACH ROW EXECUTE FUNCTION count_session_writes();"
        }
    }
}

/// A second server on the same database, as behind a load balancer; returns its address.
async fn second_instance(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let config = test_config(&app.db_url, extra);
    let state = tokio::task::spawn_blocking(move || AppState::build(config)).await.unwrap().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::run(state, listener, Some(2)).unwrap());
    addr
}

async fn concurrent_uses_write_once_per_interval(backend: Backend) {
    // Idle lifetime 1 h: one touch per 6 minutes at most, so exactly one may happen here.
    let settings = [("AUTHQL_SESSION_TTL", "1h"), ("AUTHQL_SESSION_MAX_TTL", "1d")];
    let app = TestApp::spawn_with(backend, &settings).await;
    let other = second_instance(&app, &settings).await;
    let (token, _) = app.sign_up("sol@example.com", "sol's pass phrase").await;
    // Last used 10 minutes ago: the next use is due a touch.
    let db = app.state.db.clone();
    let sql = count_session_writes_sql(backend);
    db.write(move |conn| {
        use authql::db::schema::sessions;
        use diesel::prelude::*;
        let long_ago = Utc::now().naive_utc() - TimeDelta::minutes(10);
        diesel::update(sessions::table)
            .set((sessions::created_at.eq(long_ago), sessions::last_seen_at.eq(long_ago)))
            .execute(conn)?;
        conn.batch_execute(sql)?;
        Ok(())
    })
    .await
    .unwrap();

    // 50 requests of one session at once, spread over two instances.
    let burst = |query: &'static str| {
        futures_util::future::join_all((0..50).map(|i| {
            let url = format!("{}/graphql", if i % 2 == 0 { &app.addr } else { &other });
            let req = app.client.post(url).bearer_auth(&token).json(&json!({ "query": query }));
            async move { req.send().await.expect("sent").json::<Value>().await.expect("JSON") }
        }))
    };
    // Open the connections first (a query that needs no session), so that the burst below
    // arrives at once instead of one TCP handshake after another.
    burst("{ authProviders }").await;
    let before = Utc::now() - secs(0.001);
    for body in burst(ME).await {
        assert_eq!(body["data"]["me"]["email"], "sol@example.com", "{body}");
    }
    let after = Utc::now();
    assert_eq!(app.count("SELECT n FROM session_writes").await, 1, "one write for 50 uses");
    let now = times(&app, &token).await.expect("alive");
    assert!(before <= now.last_seen && now.last_seen <= after, "the write recorded this burst: {now:?}");
    assert_eq!(now.expires, now.last_seen + secs(3600.0));

    // Within the interval, uses are reads only.
    for body in burst(ME).await {
        assert_eq!(body["data"]["me"]["email"], "sol@example.com", "{body}");
    }
    assert_eq!(app.count("SELECT n FROM session_writes").await, 1, "no write within the interval");
}
both!(concurrent_uses_write_once_per_interval);

/// Holds the database's write lock on `sessions` from another connection, as a long write
/// elsewhere would (another instance, `authql user create`), until the returned sender is
/// dropped or sent to. Plain reads go on; any UPDATE of `sessions` waits.
fn hold_write_lock(app: &TestApp, backend: Backend) -> std::sync::mpsc::Sender<()> {
    use diesel::Connection;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = app.db_url.clone();
    std::thread::spawn(move || {
        let lock = |conn: &mut dyn SimpleConnection, sql: &str| conn.batch_execute(sql).expect("lock taken");
        let _conn: Box<dyn std::any::Any> = match backend {
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(url.strip_prefix("sqlite://").unwrap()).unwrap();
                lock(&mut conn, "BEGIN IMMEDIATE");
                Box::new(conn)
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                lock(&mut conn, "BEGIN; LOCK TABLE sessions IN EXCLUSIVE MODE");
                Box::new(conn)
            }
        };
        locked_tx.send(()).unwrap();
        // Released when told, or after 10 s at the latest; dropping the connection rolls back.
        let _ = release_rx.recv_timeout(std::time::Duration::from_secs(10));
    });
    locked_rx.recv().expect("the lock is held");
    release_tx
}

async fn uses_not_due_a_touch_do_not_wait_for_writers(backend: Backend) {
    // Idle lifetime 1 h: a session signed in now is not due a touch for 6 minutes.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SESSION_TTL", "1h"), ("AUTHQL_SESSION_MAX_TTL", "1d")]).await;
    let (token, _) = app.sign_up("wen@example.com", "wen's pass phrase").await;
    let release = hold_write_lock(&app, backend);

    // Were a use to write (or merely try to) every time, each of these would wait for the
    // lock (SQLite's busy timeout is 5 s; PostgreSQL waits for the holder).
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..10).map(|_| app.gql_as(&token, ME, json!({})))).await;
    let took = started.elapsed();
    let _ = release.send(());
    for body in answers {
        assert_eq!(body["data"]["me"]["email"], "wen@example.com", "{body}");
    }
    assert!(took < std::time::Duration::from_secs(3), "reads waited for the writer: {took:?}");
}
both!(uses_not_due_a_touch_do_not_wait_for_writers);

/// Every Set-Cookie of a response, in order.
fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn max_age(cookie: &str) -> i64 {
    let attr = cookie.split("; ").find_map(|a| a.strip_prefix("Max-Age=")).unwrap_or_else(|| panic!("{cookie}"));
    attr.parse().unwrap()
}

async fn the_cookie_follows_the_slid_expiry(backend: Backend) {
    // Idle lifetime 20 s (touch interval 2 s) under a cap of 24 s.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SESSION_TTL", "20s"), ("AUTHQL_SESSION_MAX_TTL", "24s")]).await;
    let resp = app.emailpass_raw("tao@example.com", "tao's pass phrase").await;
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(max_age(&cookies[0]), 20, "a new cookie lives the idle lifetime");
    let pair = cookies[0].split(';').next().unwrap().to_string();
    let token = pair.strip_prefix("authql_session=").unwrap().to_string();
    let created = times(&app, &token).await.expect("signed in").created;
    let by_cookie = json!({ "query": SESSION_TIMES });

    // A use that writes nothing sends no cookie.
    let resp = app.post_json(by_cookie.clone(), Some(&pair)).await;
    assert!(set_cookies(&resp).is_empty(), "{:?}", set_cookies(&resp));

    // A touch by Bearer token: the caller holds no cookie to refresh.
    sleep_until(created + secs(2.3)).await;
    let resp = app.client.post(format!("{}/graphql", app.addr)).bearer_auth(&token).json(&by_cookie).send().await;
    let resp = resp.unwrap();
    assert!(set_cookies(&resp).is_empty(), "{:?}", set_cookies(&resp));
    let slid = times_of(&resp.json::<Value>().await.unwrap()["data"]["session"]).expect("alive");
    assert!(slid.last_seen > created, "that use was a touch: {slid:?}");

    // A touch by cookie: the cookie comes back, as long-lived as the session now is (the cap
    // is nearer than the idle lifetime: 24 s - 4.6 s).
    sleep_until(created + secs(4.6)).await;
    let resp = app.post_json(by_cookie.clone(), Some(&pair)).await;
    let cookies = set_cookies(&resp);
    let now = times_of(&resp.json::<Value>().await.unwrap()["data"]["session"]).expect("alive");
    assert_eq!(now.expires, created + secs(24.0), "capped: {now:?}");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with(&format!("{pair};")), "the same token: {}", cookies[0]);
    assert!(cookies[0].contains("; HttpOnly") && cookies[0].contains("; SameSite=Lax"), "{}", cookies[0]);
    assert_eq!(max_age(&cookies[0]), (now.expires - now.last_seen).num_seconds(), "{}", cookies[0]);
    assert!(max_age(&cookies[0]) < 20, "follows the expiry, not the setting: {}", cookies[0]);

    // Logging out in a request that also touches: the clearing cookie is the last word.
    sleep_until(created + secs(6.9)).await;
    let resp = app.post_json(json!({ "query": "mutation { logout }" }), Some(&pair)).await;
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 2, "refreshed by the lookup, then cleared: {cookies:?}");
    assert_eq!(max_age(cookies.last().unwrap()), 0, "{cookies:?}");
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["logout"], true);
}
both!(the_cookie_follows_the_slid_expiry);

async fn revocation_ends_slid_sessions_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, SHORT).await;
    let password = "uma's pass phrase";
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(app.sign_up("uma@example.com", password).await.0);
    }
    let (bystander, _) = app.sign_up("vic@example.com", "vic's pass phrase").await;
    // Past the touch interval (300 ms): every use now slides its session.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for token in &tokens {
        let t = times(&app, token).await.expect("alive");
        assert!(t.last_seen > t.created, "slid: {t:?}");
    }
    let [logout, keeper, third] = [&tokens[0], &tokens[1], &tokens[2]];
    let alive = |token: &str| {
        let token = token.to_string();
        let app = &app;
        async move { !app.gql_as(&token, ME, json!({})).await["data"]["me"].is_null() }
    };

    assert_eq!(app.gql_as(logout, "mutation { logout }", json!({})).await["data"]["logout"], true);
    assert!(!alive(logout).await, "logout ends the session at once");

    let change = "mutation($i: JSON!) { updateProvider(provider: \"emailpass\", input: $i) }";
    let input = json!({ "i": { "currentPassword": password, "password": "uma's new pass phrase" } });
    assert_eq!(app.gql_as(keeper, change, input).await["data"]["updateProvider"], true);
    assert!(!alive(third).await, "a password change ends the other sessions at once");
    assert!(alive(keeper).await, "but not the one that changed it");

    assert_eq!(app.gql_as(keeper, "mutation { revokeAllSessions }", json!({})).await["data"]["revokeAllSessions"], 1);
    assert!(!alive(keeper).await, "revokeAllSessions ends the caller's own at once");

    // Later uses, due a touch, bring none of them back.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for token in &tokens {
        assert!(!alive(token).await);
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 1);
    assert!(alive(&bystander).await);
}
both!(revocation_ends_slid_sessions_at_once);

#[test]
fn a_cap_below_the_idle_lifetime_stops_start_up() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_authql"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHQL_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .arg("serve")
        .env("AUTHQL_BIND", "127.0.0.1:0")
        .env("AUTHQL_SESSION_TTL", "2h")
        .env("AUTHQL_SESSION_MAX_TTL", "1h")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AUTHQL_SESSION_MAX_TTL") && err.contains("AUTHQL_SESSION_TTL"), "{err}");
    assert!(out.stdout.is_empty(), "it never listened: {}", String::from_utf8_lossy(&out.stdout));
}
