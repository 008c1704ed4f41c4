//! What the tests of redirect providers (named OpenID Connect providers, github) share: a
//! browser with a cookie jar of its own, starting a flow and finishing it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{AUTHENTICATE, Backend, TestApp};

pub const UNKNOWN_STATE: &str = "This sign-in request is invalid or was already used; start again";
pub const ME: &str = "{ me { id email emailVerified authUsers { provider entityId } } }";

pub const VALIDATE: &str = r#"
mutation($provider: String!, $input: JSON!) {
  validateCallback(provider: $provider, input: $input) {
    success error location mfaTicket mfaMethods
    session { token }
    user { id email emailVerified firstName lastName avatarUrl role }
    authUser { provider entityId userMetadata appMetadata }
  }
}"#;

/// A browser: a client with a cookie jar no other client shares.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().expect("client")
}

/// The app with `env`, spoken to by one browser (`app.client`).
pub async fn spawn(backend: Backend, env: &[(&str, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut app = TestApp::spawn_with(backend, &pairs).await;
    app.client = browser();
    app
}

/// A GraphQL request from `browser`; the whole JSON answer, which must not be an error.
pub async fn gql_in(app: &TestApp, browser: &reqwest::Client, query: &str, variables: Value) -> Value {
    let resp = browser
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let body: Value = resp.json().await.expect("JSON answer");
    assert!(body.get("errors").is_none(), "a failed sign-in is a result, never an error: {body}");
    body
}

/// authenticate with `provider` from `browser`; the AuthResult.
pub async fn start_in(app: &TestApp, browser: &reqwest::Client, provider: &str, input: Value) -> Value {
    gql_in(app, browser, AUTHENTICATE, json!({ "provider": provider, "input": input })).await["data"]["authenticate"]
        .clone()
}

/// Starts a sign-in that must succeed; the URL to send the browser to.
pub async fn location_in(app: &TestApp, browser: &reqwest::Client, provider: &str) -> String {
    let r = start_in(app, browser, provider, json!({})).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["session"], Value::Null, "no session before the provider answered");
    r["location"].as_str().expect("location").to_string()
}

pub async fn callback_in(app: &TestApp, browser: &reqwest::Client, provider: &str, input: Value) -> Value {
    gql_in(app, browser, VALIDATE, json!({ "provider": provider, "input": input })).await["data"]["validateCallback"]
        .clone()
}

pub fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url).expect("URL").query_pairs().into_owned().collect()
}

/// The validateCallback input for where the provider sent the browser back.
pub fn returned(redirect: &reqwest::Url) -> Value {
    let q = query(redirect.as_str());
    json!({ "code": q["code"], "state": q["state"] })
}

pub fn assert_failed(r: &Value, error: &str) {
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(error)), "{r}");
    assert_eq!(r["session"], Value::Null);
}
