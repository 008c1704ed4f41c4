//! The client address that the per-address throttle and the audit log count: only proxies
//! listed in `AUTHQL_TRUSTED_PROXIES` are believed, and then only for the right-most hop.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{AUTHENTICATE, Backend, TestApp, error_code};

/// A wrong-password sign-in sent with the given forwarding headers.
async fn attempt(app: &TestApp, email: &str, password: &str, headers: &[(&str, String)]) -> Value {
    let variables = json!({ "provider": "emailpass", "input": { "email": email, "password": password } });
    let mut req = app
        .client
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": AUTHENTICATE, "variables": variables }));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.send().await.expect("sent").json().await.expect("JSON")
}

/// The attacker sits behind our proxy (the test client on 127.0.0.1 plays it) and makes up
/// every header a client can send: the left part of `X-Forwarded-For`, `Forwarded`,
/// `X-Real-IP`. The proxy appends the real address on the right; only that one counts.
async fn forwarded_headers_cannot_spread_attempts_over_made_up_addresses(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, &[("AUTHQL_TRUSTED_PROXIES", "127.0.0.1, ::1"), ("AUTHQL_THROTTLE_IP_MAX", "3")])
            .await;
    for i in 0..5 {
        app.sign_up(&format!("u{i}@example.com"), "a fine pass phrase").await;
    }
    let spoofed = |i: u8, real: &str| {
        vec![
            ("x-forwarded-for", format!("10.66.{i}.1, 203.0.113.{i}, {real}")),
            ("forwarded", format!("for=10.77.{i}.1;proto=https")),
            ("x-real-ip", format!("10.88.{i}.1")),
        ]
    };
    for i in 0..3u8 {
        let r = attempt(&app, &format!("u{i}@example.com"), "wrong pass phrase", &spoofed(i, "198.51.100.7")).await;
        assert_eq!(r["data"]["authenticate"]["error"], "Invalid email or password", "{r}");
    }
    // A fourth made-up set of headers does not make a fresh address.
    let r = attempt(&app, "u3@example.com", "a fine pass phrase", &spoofed(9, "198.51.100.7")).await;
    assert_eq!(error_code(&r).as_deref(), Some("RATE_LIMITED"), "{r}");
    // The header is read when the proxy is trusted: another real client is not limited.
    let r = attempt(&app, "u4@example.com", "a fine pass phrase", &spoofed(1, "198.51.100.8")).await;
    assert_eq!(r["data"]["authenticate"]["success"], true, "{r}");
    // `Forwarded` alone counts for nothing: without X-Forwarded-For the client is the proxy.
    let only_forwarded = vec![("forwarded", "for=192.0.2.55".to_string())];
    for i in 0..3 {
        let r = attempt(&app, &format!("u{i}@example.com"), "wrong again", &only_forwarded).await;
        assert_eq!(r["data"]["authenticate"]["error"], "Invalid email or password", "{r}");
    }
    let r = attempt(&app, "u4@example.com", "a fine pass phrase", &[("forwarded", "for=192.0.2.56".into())]).await;
    assert_eq!(error_code(&r).as_deref(), Some("RATE_LIMITED"), "the proxy's own address is limited now: {r}");
}
both!(forwarded_headers_cannot_spread_attempts_over_made_up_addresses);

/// With no trusted proxy (the default), forwarding headers are not read at all, not even
/// the right-most `X-Forwarded-For` value.
async fn without_trusted_proxies_forwarding_headers_are_ignored(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "3")]).await;
    for i in 0..4 {
        app.sign_up(&format!("u{i}@example.com"), "a fine pass phrase").await;
    }
    for i in 0..3u8 {
        let headers = vec![("x-forwarded-for", format!("198.51.100.{i}"))];
        let r = attempt(&app, &format!("u{i}@example.com"), "wrong pass phrase", &headers).await;
        assert_eq!(r["data"]["authenticate"]["error"], "Invalid email or password", "{r}");
    }
    let headers = vec![("x-forwarded-for", "198.51.100.200".to_string())];
    let r = attempt(&app, "u3@example.com", "a fine pass phrase", &headers).await;
    assert_eq!(error_code(&r).as_deref(), Some("RATE_LIMITED"), "{r}");
}
both!(without_trusted_proxies_forwarding_headers_are_ignored);
