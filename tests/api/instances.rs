//! Several authql processes on one PostgreSQL database, as behind a load balancer: all
//! state that matters (sessions, throttle counts, OAuth state) lives in the database.

use serde_json::json;

use crate::helpers::{AUTHENTICATE, Backend, ServerProcess, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_and_throttling() {
    let (_db, url) = TestDb::create(Backend::Postgres);
    let a = ServerProcess::start(&url, &[]).await;
    let b = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let auth = |password: &str| json!({ "provider": "emailpass", "input": { "email": "uma@example.com", "password": password } });

    let up = a.gql(&client, None, AUTHENTICATE, auth("uma's pass phrase")).await;
    let token = up["data"]["authenticate"]["session"]["token"].as_str().expect("token").to_string();
    // A session made on A works on B.
    let me = b.gql(&client, Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "uma@example.com");
    // A logout on B is seen by A at once.
    assert_eq!(b.gql(&client, Some(&token), "mutation { logout }", json!({})).await["data"]["logout"], true);
    assert!(a.gql(&client, Some(&token), "{ me { email } }", json!({})).await["data"]["me"].is_null());

    // Throttling counts failures on both: three on A and two on B make five.
    for server in [&a, &a, &a, &b, &b] {
        let r = server.gql(&client, None, AUTHENTICATE, auth("a wrong guess")).await;
        assert_eq!(r["data"]["authenticate"]["error"], "Invalid email or password", "{r}");
    }
    for server in [&a, &b] {
        let r = server.gql(&client, None, AUTHENTICATE, auth("uma's pass phrase")).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{r}");
    }
}
