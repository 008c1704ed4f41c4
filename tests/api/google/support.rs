//! The google tests' app, browsers and flow steps.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{AUTHENTICATE, Backend, TestApp, TestDb, test_config};
use crate::peers::OidcProvider;

pub(super) const CLIENT_ID: &str = "authql-test";
pub(super) const CLIENT_SECRET: &str = "test-secret";
pub(super) const CALLBACK: &str = "http://127.0.0.1:9/cb";
pub(super) const OTHER_CALLBACK: &str = "http://127.0.0.1:9/other-cb";
pub(super) const ME: &str = "{ me { id email emailVerified authUsers { provider } } }";

pub(super) const UNKNOWN_STATE: &str = "This sign-in request is invalid or was already used; start again";
pub(super) const ACCOUNT_EXISTS: &str = "An account with this email already exists. Sign in with: google";

pub(super) fn google_env(issuer: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AUTHQL_GOOGLE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AUTHQL_GOOGLE_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("AUTHQL_GOOGLE_CALLBACK_URL", CALLBACK.to_string()),
        ("AUTHQL_GOOGLE_ISSUER", issuer.to_string()),
        ("AUTHQL_GOOGLE_ALLOWED_CALLBACK_URLS", OTHER_CALLBACK.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// A browser: a client with a cookie jar no other client shares.
pub(super) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().expect("client")
}

/// The app, spoken to by one browser (`app.client`) unless a test brings others.
pub(super) async fn spawn_with(backend: Backend, issuer: &str, extra: &[(&'static str, &str)]) -> TestApp {
    let env = google_env(issuer, extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut app = TestApp::spawn_with(backend, &pairs).await;
    app.client = browser();
    app
}

pub(super) async fn spawn(backend: Backend, issuer: &str) -> TestApp {
    spawn_with(backend, issuer, &[]).await
}

/// A second server on `app`'s database, with caches of its own, behind the same host name:
/// `app`'s browser reaches both (cookies do not tell ports apart, as behind a balancer).
pub(super) async fn another_server(
    app: &TestApp,
    backend: Backend,
    issuer: &str,
    extra: &[(&'static str, &str)],
) -> TestApp {
    let env = google_env(issuer, extra);
    let config = test_config(&app.db_url, &env.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    // Owned by `app`: this one gets a spare to drop.
    let (spare, _) = TestDb::create(backend);
    let mut second = TestApp::spawn_on(spare, app.db_url.clone(), config).await;
    second.client = app.client.clone();
    second
}

/// Moves every open redirect flow's expiry into the past, as ten minutes would.
pub(super) async fn expire_flows(app: &TestApp) {
    app.state
        .db
        .write(|conn| {
            use authql::db::schema::oauth_states;
            use diesel::prelude::*;
            let past = authql::db::now() - chrono::TimeDelta::seconds(1);
            diesel::update(oauth_states::table).set(oauth_states::expires_at.eq(past)).execute(conn)?;
            Ok(())
        })
        .await
        .expect("age the flows");
}

/// A GraphQL request from `browser`; the whole JSON answer.
pub(super) async fn gql_in(app: &TestApp, browser: &reqwest::Client, query: &str, variables: Value) -> Value {
    let resp = browser
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    assert!(resp.status().is_success(), "status {}", resp.status());
    resp.json().await.expect("JSON answer")
}

pub(super) const VALIDATE: &str = r#"
mutation($input: JSON!) {
  validateCallback(provider: "google", input: $input) {
    success error location
    session { token }
    user { id email emailVerified firstName lastName avatarUrl role }
    authUser { provider entityId userMetadata appMetadata }
  }
}"#;

/// authenticate with google from `browser`; the AuthResult.
pub(super) async fn start_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> Value {
    let body = gql_in(app, browser, AUTHENTICATE, json!({ "provider": "google", "input": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["authenticate"].clone()
}

pub(super) async fn start(app: &TestApp, input: Value) -> Value {
    start_in(app, &app.client, input).await
}

/// Starts a sign-in that must succeed; the URL to send the browser to.
pub(super) async fn location_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> String {
    let r = start_in(app, browser, input).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["session"], Value::Null, "no session before the provider answered");
    r["location"].as_str().expect("location").to_string()
}

pub(super) async fn location(app: &TestApp, input: Value) -> String {
    location_in(app, &app.client, input).await
}

pub(super) async fn callback_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> Value {
    let body = gql_in(app, browser, VALIDATE, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "a failed sign-in is a result, never an error: {body}");
    body["data"]["validateCallback"].clone()
}

pub(super) async fn callback(app: &TestApp, input: Value) -> Value {
    callback_in(app, &app.client, input).await
}

pub(super) fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url).expect("URL").query_pairs().into_owned().collect()
}

/// The validateCallback input for where the provider sent the browser back.
pub(super) fn returned(redirect: &reqwest::Url) -> Value {
    let q = query(redirect.as_str());
    json!({ "code": q["code"], "state": q["state"] })
}

/// The whole flow for `sub`: authenticate, sign in at the provider, validateCallback.
pub(super) async fn sign_in(app: &TestApp, idp: &OidcProvider, sub: &str) -> Value {
    let to = location(app, json!({})).await;
    let back = idp.authorize(&to, sub).await;
    callback(app, returned(&back)).await
}

pub(super) fn assert_failed(r: &Value, error: &str) {
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(error)), "{r}");
    assert_eq!(r["session"], Value::Null);
}
