//! A crowd of sign-ins (API.md 6.6): served while the expected wait for a hashing worker
//! stays under `AUTHQL_HASH_MAX_WAIT`; past it, 503 `UNAVAILABLE` with `Retry-After`, never
//! `RATE_LIMITED`, and the refused attempt costs the account nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{AUTHENTICATE, Backend, TestApp, error_code};

/// More than the old fixed queue admitted (1 worker + 64 waiting).
const CROWD: usize = 100;

/// A client that keeps no idle connection: one kept from an earlier crowd can sit past the
/// server's keep-alive (5 s) while a slow crowd finishes, and be closed under the next request.
fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().expect("client")
}

/// One sign-in's HTTP status, `Retry-After` header and body.
async fn sign_in_raw(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let variables = json!({ "provider": "emailpass", "input": { "email": email, "password": password } });
    let r = client
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": AUTHENTICATE, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, retry_after, r.json().await.expect("JSON answer"))
}

/// `n` sign-ins (or sign-ups) of `crowd{i}@example.com` sent at once.
async fn crowd(app: &TestApp, n: usize) -> Vec<(u16, Option<u64>, Value)> {
    let emails: Vec<String> = (0..n).map(|i| format!("crowd{i}@example.com")).collect();
    let client = client();
    futures_util::future::join_all(emails.iter().map(|e| sign_in_raw(app, &client, e, "crowded pass phrase"))).await
}

fn signed_in(body: &Value) -> bool {
    body["data"]["authenticate"]["success"] == true && body.get("errors").is_none()
}

async fn a_crowd_larger_than_the_workers_is_queued_and_served(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            // The default cost (~20 ms a hash, more on a busy machine): slow enough that
            // most of the crowd is waiting at once, past the old fixed queue; 30 s allowed
            // so a loaded test machine still serves all of it.
            ("AUTHQL_HASH_WORKERS", "1"),
            ("AUTHQL_HASH_MAX_WAIT", "30s"),
            ("AUTHQL_THROTTLE_IP_MAX", "10000"),
            ("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "10000"),
        ],
    )
    .await;
    // A crowd of sign-ups, then the same accounts signing in at once: each a hash on the one
    // worker, all of them queued for it and served.
    for round in ["sign-up", "sign-in"] {
        let answers = crowd(&app, CROWD).await;
        for (status, _, body) in &answers {
            assert_eq!(*status, 200, "{round}: {body}");
            assert!(signed_in(body), "{round}: every one is served: {body}");
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, CROWD as i64);
    assert_eq!(app.state.hasher.in_flight(), 0);
}
both!(a_crowd_larger_than_the_workers_is_queued_and_served);

async fn past_the_wait_limit_the_excess_is_told_to_come_back_at_no_cost(backend: Backend) {
    const N: usize = 30;
    // One worker, ~0.1 s or more a hash (64 MiB, 4 passes), at most 1 s of waiting: about
    // ten of thirty fit; the rest would wait seconds. One attempt per account, so an
    // attempt charged for a refusal would lock the account out of its next sign-in.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("AUTHQL_HASH_WORKERS", "1"),
            ("AUTHQL_HASH_MAX_WAIT", "1s"),
            ("AUTHQL_ARGON2_MEMORY_KIB", "65536"),
            ("AUTHQL_ARGON2_ITERATIONS", "4"),
            ("AUTHQL_THROTTLE_ACCOUNT_MAX", "1"),
            ("AUTHQL_THROTTLE_IP_MAX", "10000"),
            ("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "10000"),
        ],
    )
    .await;
    for i in 0..N {
        app.sign_up(&format!("crowd{i}@example.com"), "crowded pass phrase").await;
    }

    let answers = crowd(&app, N).await;
    let mut refused = Vec::new();
    for (i, (status, header, body)) in answers.iter().enumerate() {
        if signed_in(body) {
            assert_eq!(*status, 200, "{body}");
            continue;
        }
        // Anything else is the honest refusal, whole: never RATE_LIMITED, nothing else.
        assert_eq!(error_code(body).as_deref(), Some("UNAVAILABLE"), "{body}");
        assert_eq!(*status, 503, "{body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
        // The expected wait was past 1 s, rounded up: the estimate, not a fixed answer.
        assert!(retry_after >= 2, "{body}");
        assert_eq!(*header, Some(retry_after), "Retry-After carries the estimate: {body}");
        refused.push(i);
    }
    assert!(!refused.is_empty(), "thirty 0.1 s hashes on one worker cannot all fit in 1 s");
    assert!(refused.len() < N, "the ones that fit are served");

    // A refusal spent no attempt: no sign-in attempt is left counted (the served ones were
    // forgiven by their success; the sign-ups' own ration is another scope), and each
    // refused account signs in at once with its password.
    let counted = "SELECT COUNT(*) AS n FROM auth_attempts WHERE scope <> 'signup'";
    assert_eq!(app.count(counted).await, 0);
    let client = client();
    for i in refused {
        let (status, _, body) =
            sign_in_raw(&app, &client, &format!("crowd{i}@example.com"), "crowded pass phrase").await;
        assert!(status == 200 && signed_in(&body), "crowd{i} was charged for its refusal: {body}");
    }
}
both!(past_the_wait_limit_the_excess_is_told_to_come_back_at_no_cost);

/// A sign-in whose client goes away while it waits for a hashing worker checked no
/// password: its attempt is given back, not counted against the account as a failure.
async fn a_sign_in_abandoned_while_waiting_for_a_worker_costs_the_account_nothing(backend: Backend) {
    // One worker and slow hashes, so a sign-in behind three others waits; one attempt per
    // account, so a counted attempt would refuse the account's next sign-in.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("AUTHQL_HASH_WORKERS", "1"),
            ("AUTHQL_HASH_MAX_WAIT", "60s"),
            ("AUTHQL_ARGON2_MEMORY_KIB", "65536"),
            ("AUTHQL_ARGON2_ITERATIONS", "4"),
            ("AUTHQL_THROTTLE_ACCOUNT_MAX", "1"),
            ("AUTHQL_THROTTLE_IP_MAX", "10000"),
            ("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "10000"),
        ],
    )
    .await;
    for i in 0..3 {
        app.sign_up(&format!("crowd{i}@example.com"), "crowded pass phrase").await;
    }
    app.sign_up("victim@example.com", "the victim's pass phrase").await;

    let client = client();
    let ahead: Vec<_> = (0..3)
        .map(|i| {
            let (app_addr, client) = (app.addr.clone(), client.clone());
            tokio::spawn(async move {
                let variables = json!({ "provider": "emailpass", "input": { "email": format!("crowd{i}@example.com"), "password": "crowded pass phrase" } });
                client.post(format!("{app_addr}/graphql")).json(&json!({ "query": AUTHENTICATE, "variables": variables })).send().await
            })
        })
        .collect();
    wait_for(|| app.state.hasher.in_flight() == 3, "three hashes admitted").await;
    // A wrong password: had it been checked, the account's one attempt would be spent.
    let (app_addr, victim_client) = (app.addr.clone(), client.clone());
    let victim = tokio::spawn(async move {
        let variables = json!({ "provider": "emailpass", "input": { "email": "victim@example.com", "password": "a wrong pass phrase" } });
        victim_client
            .post(format!("{app_addr}/graphql"))
            .json(&json!({ "query": AUTHENTICATE, "variables": variables }))
            .send()
            .await
    });
    wait_for(|| app.state.hasher.in_flight() == 4, "the victim's hash is queued behind them").await;
    victim.abort();
    for request in ahead {
        let answer = request.await.expect("task").expect("answered");
        assert_eq!(answer.status(), 200);
    }
    wait_for(|| app.state.hasher.in_flight() == 0, "every hash done or skipped").await;

    let counted = "SELECT COUNT(*) AS n FROM auth_attempts WHERE subject = 'emailpass:victim@example.com'";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.count(counted).await != 0 {
        assert!(std::time::Instant::now() < deadline, "the abandoned attempt is still counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, body) = sign_in_raw(&app, &client, "victim@example.com", "the victim's pass phrase").await;
    assert!(status == 200 && signed_in(&body), "the account was charged for a password never checked: {body}");
}
both!(a_sign_in_abandoned_while_waiting_for_a_worker_costs_the_account_nothing);

/// Polls `done` for up to 30 s.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
