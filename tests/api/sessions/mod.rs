//! Sessions: bearer tokens and cookies, listing, logout, revocation, expiry, and sliding
//! expiry under a cap (API.md 6.7).

mod sliding;

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code};

const ME: &str = "{ me { id email } }";

async fn me_follows_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.gql(ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(app.gql_as("not-a-token", ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(app.gql_as(&"A".repeat(43), ME, json!({})).await["data"]["me"], Value::Null);
    let (token, id) = app.sign_up("hana@example.com", "hana's pass phrase").await;
    let me = app.gql_as(&token, ME, json!({})).await;
    assert_eq!(me["data"]["me"], json!({ "id": id, "email": "hana@example.com" }));
    let s =
        app.gql_as(&token, "{ session { id token current user { email } authUser { provider } } }", json!({})).await;
    assert_eq!(s["data"]["session"]["token"], Value::Null, "the secret is never shown again");
    assert_eq!(s["data"]["session"]["current"], true);
    assert_eq!(s["data"]["session"]["user"]["email"], "hana@example.com");
    assert_eq!(s["data"]["session"]["authUser"]["provider"], "emailpass");
}
both!(me_follows_the_token);

async fn tokens_are_stored_only_as_hashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("ivan@example.com", "ivan's pass phrase").await;
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    };
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = '{hash}'")).await, 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = '{token}'")).await, 0);
}
both!(tokens_are_stored_only_as_hashes);

async fn signed_in_fields_need_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.gql("{ sessions { id } }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    let body = app.gql("mutation { revokeAllSessions }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    let body = app.gql(r#"mutation { revokeSession(id: "x") }"#, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(app.gql("mutation { logout }", json!({})).await["data"]["logout"], false);
}
both!(signed_in_fields_need_a_session);

async fn sessions_list_logout_and_revoke(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (t1, _) = app.sign_up("jo@example.com", "jo's pass phrase").await;
    let (t2, _) = app.sign_up("jo@example.com", "jo's pass phrase").await;
    let (t3, _) = app.sign_up("jo@example.com", "jo's pass phrase").await;
    let (other, _) = app.sign_up("kim@example.com", "kim's pass phrase").await;

    let list = app.gql_as(&t1, "{ sessions { id token current } }", json!({})).await;
    let sessions = list["data"]["sessions"].as_array().expect("list").clone();
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|s| s["token"].is_null()));
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // logout ends only the request's own session.
    assert_eq!(app.gql_as(&t1, "mutation { logout }", json!({})).await["data"]["logout"], true);
    assert_eq!(app.gql_as(&t1, ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(app.gql_as(&t2, ME, json!({})).await["data"]["me"]["email"], "jo@example.com");

    // revokeSession: one's own, by id.
    let t3_id = app.gql_as(&t3, "{ session { id } }", json!({})).await["data"]["session"]["id"].clone();
    let r = app.gql_as(&t2, "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": t3_id })).await;
    assert_eq!(r["data"]["revokeSession"], true);
    assert_eq!(app.gql_as(&t3, ME, json!({})).await["data"]["me"], Value::Null);

    // Someone else's session cannot be revoked, nor told apart from a missing one.
    let t2_id = app.gql_as(&t2, "{ session { id } }", json!({})).await["data"]["session"]["id"].clone();
    let r = app.gql_as(&other, "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": t2_id })).await;
    assert_eq!(error_code(&r).as_deref(), Some("NOT_FOUND"));
    assert_eq!(app.gql_as(&t2, ME, json!({})).await["data"]["me"]["email"], "jo@example.com");

    // revokeAllSessions: every one of the caller's, this one included.
    let (_t4, _) = app.sign_up("jo@example.com", "jo's pass phrase").await;
    let r = app.gql_as(&t2, "mutation { revokeAllSessions }", json!({})).await;
    assert_eq!(r["data"]["revokeAllSessions"], 2);
    assert_eq!(app.gql_as(&t2, ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(app.gql_as(&other, ME, json!({})).await["data"]["me"]["email"], "kim@example.com");
}
both!(sessions_list_logout_and_revoke);

async fn sessions_expire(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SESSION_TTL", "2s")]).await;
    let r = app.emailpass("lee@example.com", "lee's pass phrase").await;
    let token = r["session"]["token"].as_str().unwrap().to_string();
    let created = chrono::DateTime::parse_from_rfc3339(r["session"]["expiresAt"].as_str().unwrap()).unwrap();
    assert!(created > chrono::Utc::now());
    assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"]["email"], "lee@example.com");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"], Value::Null);
    let body = app.gql_as(&token, "{ sessions { id } }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
}
both!(sessions_expire);

#[tokio::test]
async fn cookie_sessions_follow_the_csrf_rule() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql", app.addr);
    let resp = app.emailpass_raw("mia@example.com", "mia's pass phrase").await;
    let cookie = resp.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_string();
    let attrs: HashSet<&str> = cookie.split("; ").collect();
    assert!(cookie.starts_with("authql_session="));
    assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite=Lax") && attrs.contains("Path=/"), "{cookie}");
    assert!(!attrs.contains("Secure"), "plain-http app URL: no Secure flag");
    let pair = cookie.split(';').next().unwrap().to_string();

    // POST + JSON with the cookie: signed in.
    let me: Value = app.post_json(json!({ "query": ME }), Some(&pair)).await.json().await.unwrap();
    assert_eq!(me["data"]["me"]["email"], "mia@example.com");
    // GET with the cookie: not honoured.
    let me: Value = app
        .client
        .get(format!("{url}?query=%7Bme%7Bemail%7D%7D"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["me"], Value::Null);
    // logout clears the cookie.
    let resp = app
        .client
        .post(&url)
        .header("cookie", &pair)
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    let cleared = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let me: Value = app.post_json(json!({ "query": ME }), Some(&pair)).await.json().await.unwrap();
    assert_eq!(me["data"]["me"], Value::Null);
}

#[tokio::test]
async fn cookies_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTHQL_SESSION_COOKIE", "false")]).await;
    let resp = app.emailpass_raw("ned@example.com", "ned's pass phrase").await;
    assert!(resp.headers().get("set-cookie").is_none());
    let body: Value = resp.json().await.unwrap();
    let token = body["data"]["authenticate"]["session"]["token"].as_str().unwrap().to_string();
    let me: Value =
        app.post_json(json!({ "query": ME }), Some(&format!("authql_session={token}"))).await.json().await.unwrap();
    assert_eq!(me["data"]["me"], Value::Null);
}

#[tokio::test]
async fn secure_cookie_when_the_app_is_https() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("AUTHQL_APP_URL", "https://auth.example.com")]).await;
    let resp = app.emailpass_raw("oz@example.com", "oz's pass phrase").await;
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
}
