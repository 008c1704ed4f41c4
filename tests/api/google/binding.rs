//! A flow belongs to the client that started it (API 6.1), and an address starts only so many.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::support::*;
use crate::both;
use crate::helpers::{AUTHENTICATE, Backend, TestApp};
use crate::peers::OidcProvider;

pub(super) const FLOW_COOKIE: &str = "authql_flow";
pub(super) const INVITE_INVALID: &str = "Invite is invalid or has expired";

/// Counts the open (unexpired) flows of this test's address, as of now.
pub(super) fn open_flows_here() -> String {
    format!(
        "SELECT COUNT(*) AS n FROM oauth_states WHERE client_address = '127.0.0.1' AND expires_at > '{}'",
        authql::db::now()
    )
}

/// The `authql_flow` Set-Cookie headers of a response.
pub(super) fn flow_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII cookie").to_string())
        .filter(|c| c.starts_with(&format!("{FLOW_COOKIE}=")))
        .collect()
}

/// The value of a `name=value; ...` Set-Cookie header.
pub(super) fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).expect("name=value").1
}

pub(super) async fn a_stolen_callback_does_not_sign_the_victim_in(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("mallory", json!({ "email": "mallory@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let (attacker, victim) = (browser(), browser());

    // The attacker signs in at the provider with their own account and keeps the callback
    // link instead of following it ...
    let stolen = returned(&idp.authorize(&location_in(&app, &attacker, json!({})).await, "mallory").await);
    // ... which the victim opens: first with no binding cookie at all, then with one of
    // their own from a sign-in they started themselves.
    assert_failed(&callback_in(&app, &victim, stolen.clone()).await, UNKNOWN_STATE);
    location_in(&app, &victim, json!({})).await;
    assert_failed(&callback_in(&app, &victim, stolen.clone()).await, UNKNOWN_STATE);
    let me = gql_in(&app, &victim, ME, json!({})).await;
    assert_eq!(me["data"]["me"], Value::Null, "the victim is signed in as nobody: {me}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);

    // Nothing was spent: the browser that started the flow still finishes it.
    let r = callback_in(&app, &attacker, stolen).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["email"], "mallory@example.com");
}
both!(a_stolen_callback_does_not_sign_the_victim_in);

pub(super) async fn another_flows_cookie_does_not_finish_a_flow(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("ann", json!({ "email": "ann@example.com", "email_verified": true })).await;
    idp.set_user("cid", json!({ "email": "cid@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let (a, c) = (browser(), browser());

    // A holds the cookie of flow 1; a third client starts flow 2.
    let flow1 = location_in(&app, &a, json!({})).await;
    let flow2 = returned(&idp.authorize(&location_in(&app, &c, json!({})).await, "cid").await);
    assert_failed(&callback_in(&app, &a, flow2.clone()).await, UNKNOWN_STATE);
    assert_eq!(gql_in(&app, &a, ME, json!({})).await["data"]["me"], Value::Null);

    // Both flows are intact for their owners.
    assert_eq!(callback_in(&app, &c, flow2).await["user"]["email"], "cid@example.com");
    let flow1 = returned(&idp.authorize(&flow1, "ann").await);
    assert_eq!(callback_in(&app, &a, flow1).await["user"]["email"], "ann@example.com");
}
both!(another_flows_cookie_does_not_finish_a_flow);

pub(super) async fn one_client_finishes_flows_it_started_side_by_side(backend: Backend) {
    let idp = OidcProvider::start().await;
    for sub in ["tab1", "tab2", "alias1", "alias2"] {
        idp.set_user(sub, json!({ "email": format!("{sub}@example.com"), "email_verified": true })).await;
    }
    let app = spawn(backend, &idp.issuer).await;

    // Two tabs of one browser, one after the other; finished in the other order.
    let tabs = browser();
    let first = location_in(&app, &tabs, json!({})).await;
    let second = location_in(&app, &tabs, json!({})).await;
    for (to, sub) in [(second, "tab2"), (first, "tab1")] {
        let r = callback_in(&app, &tabs, returned(&idp.authorize(&to, sub).await)).await;
        assert_eq!((&r["success"], &r["user"]["email"]), (&json!(true), &json!(format!("{sub}@example.com"))), "{r}");
    }

    // Two flows from one request of a browser that has no binding yet: one cookie for both.
    let fresh = browser();
    let both = r#"mutation {
      a: authenticate(provider: "google", input: {}) { location }
      b: authenticate(provider: "google", input: {}) { location }
    }"#;
    let resp = fresh.post(format!("{}/graphql", app.addr)).json(&json!({ "query": both })).send().await.expect("sent");
    assert_eq!(flow_cookies(&resp).len(), 1, "{:?}", resp.headers());
    let body: Value = resp.json().await.expect("JSON");
    for (alias, sub) in [("b", "alias2"), ("a", "alias1")] {
        let to = body["data"][alias]["location"].as_str().expect("location");
        let r = callback_in(&app, &fresh, returned(&idp.authorize(to, sub).await)).await;
        assert_eq!((&r["success"], &r["user"]["email"]), (&json!(true), &json!(format!("{sub}@example.com"))), "{r}");
    }
}
both!(one_client_finishes_flows_it_started_side_by_side);

pub(super) async fn the_binding_cookie_is_http_only_lax_and_lives_as_long_as_the_flow(backend: Backend) {
    let idp = OidcProvider::start().await;
    let app = spawn(backend, &idp.issuer).await;
    let start = json!({ "query": AUTHENTICATE, "variables": { "provider": "google", "input": {} } });

    let resp = app.post_json(start.clone(), None).await;
    let cookies = flow_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{:?}", resp.headers());
    let attrs: Vec<&str> = cookies[0].split("; ").collect();
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(attrs.contains(&wanted), "{wanted} missing: {}", cookies[0]);
    }
    assert!(!attrs.contains(&"Secure"), "the app is http here: {}", cookies[0]);
    let value = cookie_value(&cookies[0]).to_string();
    assert_eq!(value.len(), 43, "256 random bits");
    // Stored only as its hash.
    let hash = hex::encode(Sha256::digest(value.as_bytes()));
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM oauth_states WHERE binding_hash = '{hash}'")).await, 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM oauth_states WHERE binding_hash = '{value}'")).await, 0);

    // A client that presents its binding keeps it, for as long as its newest flow lives; one
    // that presents junk gets a value of the server's making.
    let again = app.post_json(start.clone(), Some(&format!("{FLOW_COOKIE}={value}"))).await;
    let renewed = flow_cookies(&again);
    assert_eq!(renewed.len(), 1);
    assert_eq!(cookie_value(&renewed[0]), value);
    assert!(renewed[0].split("; ").any(|a| a == "Max-Age=600"), "{}", renewed[0]);
    let junk = app.post_json(start.clone(), Some(&format!("{FLOW_COOKIE}=chosen-by-the-client"))).await;
    let made = flow_cookies(&junk);
    assert_eq!(made.len(), 1);
    assert_ne!(cookie_value(&made[0]), "chosen-by-the-client");
    assert_eq!(cookie_value(&made[0]).len(), 43);

    // Over https, as the session cookie: Secure.
    let https = spawn_with(backend, &idp.issuer, &[("AUTHQL_APP_URL", "https://auth.example.com")]).await;
    let resp = https.post_json(start, None).await;
    let cookies = flow_cookies(&resp);
    assert!(cookies.len() == 1 && cookies[0].split("; ").any(|a| a == "Secure"), "{cookies:?}");
}
both!(the_binding_cookie_is_http_only_lax_and_lives_as_long_as_the_flow);

/// What `n` operations each starting 30 google flows (aliases) answer, in one batch.
pub(super) async fn start_flows_in_batch(app: &TestApp, browser: &reqwest::Client, operations: usize) -> Vec<Value> {
    let fields: String =
        (0..30).map(|i| format!("f{i}: authenticate(provider: \"google\", input: {{}}) {{ location }}\n")).collect();
    let query = format!("mutation {{\n{fields}}}");
    let batch: Vec<Value> = (0..operations).map(|_| json!({ "query": query })).collect();
    let resp = browser.post(format!("{}/graphql", app.addr)).json(&batch).send().await.expect("sent");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("a batch answer")
}

/// Of `answers` (each one operation), how many google flows started and how many were
/// refused with RATE_LIMITED.
pub(super) fn tally(answers: &[Value]) -> (usize, usize) {
    let mut started = 0;
    let mut limited = 0;
    for answer in answers {
        if let Some(fields) = answer["data"].as_object() {
            started += fields.values().filter(|f| f["location"].is_string()).count();
        }
        for error in answer["errors"].as_array().into_iter().flatten() {
            assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{error}");
            let wait = error["extensions"]["retryAfter"].as_u64().expect("retryAfter");
            assert!((1..=600).contains(&wait), "{error}");
            limited += 1;
        }
    }
    (started, limited)
}

/// `n` single `authenticate(google)` requests at once; (started, refused RATE_LIMITED).
pub(super) async fn start_flows_in_parallel(app: &TestApp, browser: &reqwest::Client, n: usize) -> (usize, usize) {
    let body = json!({ "query": AUTHENTICATE, "variables": { "provider": "google", "input": {} } });
    let requests = (0..n).map(|_| async {
        let resp = browser.post(format!("{}/graphql", app.addr)).json(&body).send().await.expect("sent");
        let answer: Value = resp.json().await.expect("JSON");
        // The same shape as one operation of a batch.
        json!({ "data": { "authenticate": answer["data"]["authenticate"] }, "errors": answer["errors"] })
    });
    tally(&futures_util::future::join_all(requests).await)
}

pub(super) async fn a_flood_of_started_flows_from_one_address_is_bounded(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("fin", json!({ "email": "fin@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;

    // One request: a batch of 10 operations of 30 aliases each, 300 flows asked for.
    let answers = start_flows_in_batch(&app, &app.client, 10).await;
    assert_eq!(answers.len(), 10);
    assert_eq!(tally(&answers), (30, 270));
    assert_eq!(app.count(&open_flows_here()).await, 30);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 30);

    // A finished flow makes room for one more, and only one, however many ask at once.
    let to = answers[0]["data"]["f0"]["location"].as_str().expect("location");
    let r = callback(&app, returned(&idp.authorize(to, "fin").await)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(app.count(&open_flows_here()).await, 29);
    assert_eq!(start_flows_in_parallel(&app, &app.client, 12).await, (1, 11));
    assert_eq!(app.count(&open_flows_here()).await, 30);

    // Expired flows make room: all of it, again for no more than the share.
    expire_flows(&app).await;
    assert_eq!(app.count(&open_flows_here()).await, 0);
    assert_eq!(start_flows_in_parallel(&app, &browser(), 40).await, (30, 10));
    assert_eq!(app.count(&open_flows_here()).await, 30);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 30, "abandoned flows were cleared");
}
both!(a_flood_of_started_flows_from_one_address_is_bounded);

/// Creates an invite for `email` (ADMIN, which open sign-up would never give); (id, token).
pub(super) async fn invite(app: &TestApp, admin: &str, email: &str) -> (String, String) {
    let created = app
        .gql_as(
            admin,
            "mutation($e: String!) { createInvite(input: { email: $e, role: ADMIN }) { id token } }",
            json!({ "e": email }),
        )
        .await;
    let invite = &created["data"]["createInvite"];
    (invite["id"].as_str().expect("id").to_string(), invite["token"].as_str().expect("token").to_string())
}

/// acceptInvite with google from `browser`; the location to go to.
pub(super) async fn accept_in(app: &TestApp, browser: &reqwest::Client, token: &str) -> String {
    let body = gql_in(
        app,
        browser,
        r#"mutation($t: String!) { acceptInvite(token: $t, provider: "google", input: {}) { success error location } }"#,
        json!({ "t": token }),
    )
    .await;
    let r = &body["data"]["acceptInvite"];
    assert_eq!(r["success"], true, "{body}");
    r["location"].as_str().expect("location").to_string()
}

pub(super) async fn refreshing_or_deleting_an_invite_ends_the_flows_started_with_it(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("ivy", json!({ "email": "ivy@example.com", "email_verified": true })).await;
    idp.set_user("jon", json!({ "email": "jon@example.com", "email_verified": true })).await;
    // Open sign-up: only the invite rule stands between the old flow and an account.
    let app = spawn(backend, &idp.issuer).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let users_with = |email: &str| format!("SELECT COUNT(*) AS n FROM users WHERE email = '{email}'");

    // Refreshed between acceptInvite and the callback.
    let ivy = browser();
    let (id, old) = invite(&app, &admin, "ivy@example.com").await;
    let back = returned(&idp.authorize(&accept_in(&app, &ivy, &old).await, "ivy").await);
    let refreshed =
        app.gql_as(&admin, "mutation($id: ID!) { refreshInviteToken(id: $id) { token } }", json!({ "id": id })).await;
    let new = refreshed["data"]["refreshInviteToken"]["token"].as_str().expect("new token").to_string();
    assert_failed(&callback_in(&app, &ivy, back).await, INVITE_INVALID);
    assert_eq!(app.count(&users_with("ivy@example.com")).await, 0);
    // The new token is the invite now, through the same provider.
    let back = returned(&idp.authorize(&accept_in(&app, &ivy, &new).await, "ivy").await);
    let r = callback_in(&app, &ivy, back).await;
    assert_eq!((&r["success"], &r["user"]["role"]), (&json!(true), &json!("ADMIN")), "{r}");

    // Deleted between acceptInvite and the callback.
    let jon = browser();
    let (id, token) = invite(&app, &admin, "jon@example.com").await;
    let back = returned(&idp.authorize(&accept_in(&app, &jon, &token).await, "jon").await);
    let deleted = app.gql_as(&admin, "mutation($id: ID!) { deleteInvite(id: $id) }", json!({ "id": id })).await;
    assert_eq!(deleted["data"]["deleteInvite"], true, "{deleted}");
    assert_failed(&callback_in(&app, &jon, back).await, INVITE_INVALID);
    assert_eq!(app.count(&users_with("jon@example.com")).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users WHERE provider = 'google'").await, 1, "ivy's only");
}
both!(refreshing_or_deleting_an_invite_ends_the_flows_started_with_it);
