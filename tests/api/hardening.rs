//! Transport rules, limits and response headers: what a hostile or careless client meets.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code};

#[tokio::test]
async fn security_headers_and_request_ids() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app
        .client
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": "{ authProviders }" }))
        .send()
        .await
        .unwrap();
    let h = resp.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let generated = h["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&generated).map(|_| ()), Ok(()), "{generated}");

    let echo = |id: &'static str| {
        let app = &app;
        async move {
            let resp = app.client.get(format!("{}/healthz", app.addr)).header("x-request-id", id).send().await.unwrap();
            resp.headers()["x-request-id"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(echo("trace-abc_123").await, "trace-abc_123");
    let replaced = echo("bad id with spaces").await;
    assert_ne!(replaced, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(&replaced).is_ok());
}

#[tokio::test]
async fn cors_only_for_listed_origins() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTHQL_CORS_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.addr))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://app.example.com").await;
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let evil = preflight("https://evil.example.net").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    // A plain request from an unlisted origin is answered, without CORS headers, so the
    // browser keeps the answer from that page.
    let resp = app
        .client
        .post(format!("{}/graphql", app.addr))
        .header("origin", "https://evil.example.net")
        .json(&json!({ "query": "{ authProviders }" }))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

async fn query_limits_give_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut deep = String::from("name");
    for _ in 0..14 {
        deep = format!("ofType {{ {deep} }}");
    }
    let body = app.gql(&format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"), json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("nested"), "{body}");

    let wide: String = (0..2100).map(|i| format!("f{i}: __typename ")).collect();
    let resp = app
        .client
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": format!("{{ {wide} }}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "aliases are capped before complexity is even computed");
    let body: Value = resp.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("aliases"));

    let fields: String = (0..2100).map(|_| "authProviders ").collect();
    let body = app.gql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("complex"), "{body}");

    // Thirty aliases are fine.
    let ok: String = (0..30).map(|i| format!("a{i}: authProviders ")).collect();
    let body = app.gql(&format!("{{ {ok} }}"), json!({})).await;
    assert_eq!(body["data"]["a29"], json!(["emailpass"]));
}
both!(query_limits_give_clear_errors);

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let on = TestApp::spawn(Backend::Sqlite).await;
    let body = on.gql("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let off = TestApp::spawn_with(Backend::Sqlite, &[("AUTHQL_INTROSPECTION", "false")]).await;
    let body = off.gql("{ __schema { queryType { name } } }", json!({})).await;
    assert!(body.get("errors").is_some() || body["data"]["__schema"].is_null(), "{body}");
    assert_eq!(off.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass"]));
}

async fn metrics_count_requests_and_authentications(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("mo@example.com", "mo's pass phrase").await;
    app.emailpass("mo@example.com", "not mo's phrase").await;
    let me = app.gql_as(&token, "{ me { email } }", json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "mo@example.com", "{me}");
    let text = app.client.get(format!("{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    // The session lookup ran on the request's own thread (src/db/pipelined.rs, inline.rs).
    for needle in [
        "authql_authentications_total{provider=\"emailpass\",outcome=\"success\"} 1",
        "authql_authentications_total{provider=\"emailpass\",outcome=\"failure\"} 1",
        "authql_http_requests_total{route=\"graphql\",status=\"200\"} 3",
        "\nauthql_db_inline_reads_total 1\n",
        "authql_http_request_duration_seconds_count",
        "authql_active_sessions 1",
        "authql_hash_in_flight 0",
        "authql_db_pool_max 4",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert!(!text.contains("mo@example.com"), "no personal data in metrics");
}
both!(metrics_count_requests_and_authentications);

/// Sign-in of an unknown identity (sign-up closed) costs what a wrong password costs, so
/// timing does not tell which addresses have accounts.
#[tokio::test]
async fn unknown_identities_take_as_long_as_wrong_passwords() {
    let (db, url) = crate::helpers::TestDb::create(Backend::Sqlite);
    let config = crate::helpers::test_config(
        &url,
        &[("AUTHQL_SIGNUP", "closed"), ("AUTHQL_THROTTLE_ACCOUNT_MAX", "1000"), ("AUTHQL_THROTTLE_IP_MAX", "1000")],
    );
    let app = TestApp::spawn_on(db, url.clone(), config).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authql"))
        .args(["user", "create", "--email", "known@example.com", "--password", "the known phrase"])
        .env("AUTHQL_DATABASE_URL", &url)
        .env("AUTHQL_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    // Interleaved, so whatever else the machine does slows both alike.
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        for (email, samples) in [("known@example.com", &mut wrong), ("nobody@example.com", &mut unknown)] {
            let t = std::time::Instant::now();
            let r = app.emailpass(email, "a wrong pass phrase").await;
            samples.push(t.elapsed());
            assert_eq!(r["success"], false);
        }
    }
    wrong.sort();
    unknown.sort();
    let (wrong, unknown) = (wrong[wrong.len() / 2], unknown[unknown.len() / 2]);
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "unknown {unknown:?} vs wrong password {wrong:?}");
}
