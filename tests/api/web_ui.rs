//! The web app (examples/web) served by authql: its pages, its files, its CSP, and the switch.

use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn the_app_is_served_at_its_pages_with_a_strict_csp() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.addr)).send();
    for page in [
        "/",
        "/auth/callback?code=c&state=s",
        "/invite?token=t",
        "/reset-password?token=t",
        "/security",
        "/verify-email?token=t",
    ] {
        let resp = get(page).await.unwrap();
        assert_eq!(resp.status(), 200, "{page}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{page}");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer", "tokens in the URL must not leak");
        let html = resp.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="/app/app.js"></script>"#), "{page}");
        assert!(!html.contains("<script>"), "no inline script: the CSP would block it");
    }
    // Every file of examples/web but the page itself: a module left out of web_ui.rs would
    // break the app's imports.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web");
    let mut files: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.retain(|f| f != "index.html");
    files.sort();
    assert!(files.len() >= 4 && files.contains(&"qr.js".to_string()), "{files:?}");
    for file in &files {
        let mime = match file.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            other => panic!("examples/web/{file}: no content type known for {other:?}"),
        };
        let resp = get(&format!("/app/{file}")).await.unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with(mime), "{file}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    }
    // The app speaks to /graphql with the cookie and never keeps the token itself.
    let api = get("/app/api.js").await.unwrap().text().await.unwrap();
    assert!(api.contains("credentials: 'same-origin'") && !api.contains("localStorage"));
    for missing in ["/app/nope.js", "/app/../Cargo.toml", "/app/", "/nowhere", "/invite/extra"] {
        assert_eq!(get(missing).await.unwrap().status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn the_api_keeps_its_routes_beside_the_app() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.addr)).send();
    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass"]));
    let resp = get("/graphql?query=%7BauthProviders%7D").await.unwrap();
    assert!(resp.headers()["content-type"].to_str().unwrap().contains("json"));
    let graphiql = get("/graphiql").await.unwrap().text().await.unwrap();
    assert!(graphiql.contains("/graphiql/assets/graphiql.min.js"), "GraphiQL, not the app");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("authql_http_requests_total"), "Prometheus text, not the app");
}

#[tokio::test]
async fn ui_false_serves_no_app() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTHQL_UI", "false")]).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.addr)).send();
    for path in ["/", "/invite?token=t", "/app/app.js"] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass"]));
    assert_eq!(get("/graphiql").await.unwrap().status(), 200);
}
