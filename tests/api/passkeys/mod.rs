//! Passkeys (API 6.5), each rule as the attack it stops, against a software authenticator
//! ([`authenticator`]) speaking WebAuthn to the real server: registration belongs to the
//! session that began it, a sign-in belongs to the browser that started it, challenges and
//! counters are single use, the origin, relying party and user verification are checked,
//! and one user's passkeys are out of every other user's reach.

mod authenticator;
mod registration;
mod sign_in;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use authenticator::Authenticator;

/// The app's URL in these tests: its host is the relying party id.
pub const ORIGIN: &str = "https://app.example";
pub const RP_ID: &str = "app.example";
pub const PASSWORD: &str = "a long enough pass phrase";

pub const BEGIN: &str = "mutation { beginPasskeyRegistration }";
pub const FINISH: &str = r#"mutation($credential: JSON!, $name: String) {
  finishPasskeyRegistration(credential: $credential, name: $name) { id name createdAt lastUsedAt }
}"#;
pub const LIST: &str = "{ passkeys { id name createdAt lastUsedAt } }";
pub const DELETE: &str = "mutation($id: ID!) { deletePasskey(id: $id) }";
pub const START: &str =
    r#"mutation { authenticate(provider: "passkey", input: {}) { success error options session { token } } }"#;
pub const VALIDATE: &str = r#"mutation($input: JSON!) {
  validateCallback(provider: "passkey", input: $input) {
    success error mfaTicket session { token } user { id email } authUser { provider entityId }
  }
}"#;
pub const UNKNOWN_STATE: &str = "This sign-in request is invalid or was already used; start again";

pub async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("AUTHQL_APP_URL", ORIGIN)]).await
}

/// One GraphQL request with an optional bearer token and flow cookie; the JSON answer and
/// the flow cookie the answer set, if any.
pub async fn call(
    app: &TestApp,
    token: Option<&str>,
    flow_cookie: Option<&str>,
    query: &str,
    variables: Value,
) -> (Value, Option<String>) {
    let mut req =
        app.client.post(format!("{}/graphql", app.addr)).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(cookie) = flow_cookie {
        req = req.header("cookie", format!("authql_flow={cookie}"));
    }
    let resp = req.send().await.expect("request sent");
    assert_eq!(resp.status().as_u16(), 200, "never a server error");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| h.strip_prefix("authql_flow="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_string());
    (resp.json().await.expect("JSON answer"), cookie)
}

/// Begins and finishes a registration as `token`'s session; the new Passkey.
pub async fn register(app: &TestApp, token: &str, auth: &mut Authenticator, name: Option<&str>) -> Value {
    let options = begin(app, token).await;
    let credential = auth.create(&options);
    let (body, _) = call(app, Some(token), None, FINISH, json!({ "credential": credential, "name": name })).await;
    assert!(body.get("errors").is_none(), "registration refused: {body}");
    body["data"]["finishPasskeyRegistration"].clone()
}

pub async fn begin(app: &TestApp, token: &str) -> Value {
    let (body, _) = call(app, Some(token), None, BEGIN, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["beginPasskeyRegistration"].clone()
}

/// authenticate(provider: "passkey"): the request options and the flow cookie bound to them.
pub async fn start(app: &TestApp) -> (Value, String) {
    let (body, cookie) = call(app, None, None, START, json!({})).await;
    let r = &body["data"]["authenticate"];
    assert_eq!((&r["success"], &r["session"]), (&json!(false), &Value::Null), "options, not a session: {body}");
    (r["options"].clone(), cookie.expect("the flow is bound to the browser by its cookie"))
}

/// validateCallback(provider: "passkey") with `credential`; the whole answer.
pub async fn finish(app: &TestApp, cookie: Option<&str>, credential: &Value) -> Value {
    call(app, None, cookie, VALIDATE, json!({ "input": { "credential": credential } })).await.0
}

/// A whole passkey sign-in with `auth`; the AuthResult.
pub async fn sign_in(app: &TestApp, auth: &mut Authenticator) -> Value {
    let (options, cookie) = start(app).await;
    let credential = auth.get(&options);
    let body = finish(app, Some(&cookie), &credential).await;
    assert!(body.get("errors").is_none(), "a refused passkey is a result, not an error: {body}");
    body["data"]["validateCallback"].clone()
}

/// A member with a passkey: (token, user id, authenticator, passkey id).
pub async fn member_with_passkey(app: &TestApp, email: &str) -> (String, String, Authenticator, String) {
    let (token, user_id) = app.sign_up(email, PASSWORD).await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let passkey = register(app, &token, &mut auth, Some("Laptop")).await;
    (token, user_id, auth, passkey["id"].as_str().expect("id").to_string())
}

pub fn assert_refused(r: &Value, error_part: &str) {
    assert_eq!(r["success"], false, "{r}");
    assert_eq!(r["session"], Value::Null, "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains(error_part), "expected an error with {error_part:?}: {r}");
}

/// Moves every WebAuthn challenge past its 5 minutes.
pub async fn expire_challenges(app: &TestApp) {
    app.state
        .db
        .write(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("UPDATE webauthn_challenges SET expires_at = created_at").execute(conn)?;
            Ok(())
        })
        .await
        .expect("age the challenges");
}
