//! google: the whole OpenID Connect flow against a real provider process
//! (oidc-provider-mock), linking and takeover rules, states, failures of the provider; and
//! ID tokens a real provider cannot be made to send, from an issuer inside the test. Every
//! client here is a browser with a cookie jar of its own: a flow belongs to the one that
//! started it (API 6.1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both;
use crate::fake_issuer::{FakeIssuer, Key};
use crate::helpers::{AUTHENTICATE, Backend, TestApp, TestDb, test_config};
use crate::peers::OidcProvider;

const CLIENT_ID: &str = "authql-test";
const CLIENT_SECRET: &str = "test-secret";
const CALLBACK: &str = "http://127.0.0.1:9/cb";
const OTHER_CALLBACK: &str = "http://127.0.0.1:9/other-cb";
const ME: &str = "{ me { id email emailVerified authUsers { provider } } }";

const UNKNOWN_STATE: &str = "This sign-in request is invalid or was already used; start again";
const ACCOUNT_EXISTS: &str = "An account with this email already exists. Sign in with: google";

fn google_env(issuer: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
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
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().expect("client")
}

/// The app, spoken to by one browser (`app.client`) unless a test brings others.
async fn spawn_with(backend: Backend, issuer: &str, extra: &[(&'static str, &str)]) -> TestApp {
    let env = google_env(issuer, extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut app = TestApp::spawn_with(backend, &pairs).await;
    app.client = browser();
    app
}

async fn spawn(backend: Backend, issuer: &str) -> TestApp {
    spawn_with(backend, issuer, &[]).await
}

/// A second server on `app`'s database, with caches of its own, behind the same host name:
/// `app`'s browser reaches both (cookies do not tell ports apart, as behind a balancer).
async fn another_server(app: &TestApp, backend: Backend, issuer: &str, extra: &[(&'static str, &str)]) -> TestApp {
    let env = google_env(issuer, extra);
    let config = test_config(&app.db_url, &env.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    // Owned by `app`: this one gets a spare to drop.
    let (spare, _) = TestDb::create(backend);
    let mut second = TestApp::spawn_on(spare, app.db_url.clone(), config).await;
    second.client = app.client.clone();
    second
}

/// A GraphQL request from `browser`; the whole JSON answer.
async fn gql_in(app: &TestApp, browser: &reqwest::Client, query: &str, variables: Value) -> Value {
    let resp = browser
        .post(format!("{}/graphql", app.addr))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    assert!(resp.status().is_success(), "status {}", resp.status());
    resp.json().await.expect("JSON answer")
}

const VALIDATE: &str = r#"
mutation($input: JSON!) {
  validateCallback(provider: "google", input: $input) {
    success error location
    session { token }
    user { id email emailVerified firstName lastName avatarUrl role }
    authUser { provider entityId userMetadata appMetadata }
  }
}"#;

/// authenticate with google from `browser`; the AuthResult.
async fn start_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> Value {
    let body = gql_in(app, browser, AUTHENTICATE, json!({ "provider": "google", "input": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["authenticate"].clone()
}

async fn start(app: &TestApp, input: Value) -> Value {
    start_in(app, &app.client, input).await
}

/// Starts a sign-in that must succeed; the URL to send the browser to.
async fn location_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> String {
    let r = start_in(app, browser, input).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["session"], Value::Null, "no session before the provider answered");
    r["location"].as_str().expect("location").to_string()
}

async fn location(app: &TestApp, input: Value) -> String {
    location_in(app, &app.client, input).await
}

async fn callback_in(app: &TestApp, browser: &reqwest::Client, input: Value) -> Value {
    let body = gql_in(app, browser, VALIDATE, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "a failed sign-in is a result, never an error: {body}");
    body["data"]["validateCallback"].clone()
}

async fn callback(app: &TestApp, input: Value) -> Value {
    callback_in(app, &app.client, input).await
}

fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url).expect("URL").query_pairs().into_owned().collect()
}

/// The validateCallback input for where the provider sent the browser back.
fn returned(redirect: &reqwest::Url) -> Value {
    let q = query(redirect.as_str());
    json!({ "code": q["code"], "state": q["state"] })
}

/// The whole flow for `sub`: authenticate, sign in at the provider, validateCallback.
async fn sign_in(app: &TestApp, idp: &OidcProvider, sub: &str) -> Value {
    let to = location(app, json!({})).await;
    let back = idp.authorize(&to, sub).await;
    callback(app, returned(&back)).await
}

fn assert_failed(r: &Value, error: &str) {
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(error)), "{r}");
    assert_eq!(r["session"], Value::Null);
}

async fn google_sign_in_makes_a_verified_user_and_finds_it_again(backend: Backend) {
    let idp = OidcProvider::start().await;
    let alice = json!({
        "email": "Alice@Example.com", "email_verified": true, "name": "Alice Liddell",
        "given_name": "Alice", "family_name": "Liddell", "picture": "https://example.com/alice.png"
    });
    idp.set_user("alice", alice).await;
    let app = spawn(backend, &idp.issuer).await;
    let providers = app.gql("{ authProviders }", json!({})).await;
    assert_eq!(providers["data"]["authProviders"], json!(["emailpass", "google"]));

    let to = location(&app, json!({})).await;
    assert!(to.starts_with(&format!("{}/oauth2/authorize?", idp.issuer)), "{to}");
    let q = query(&to);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert_eq!(q["response_type"], "code");
    let mut scopes: Vec<&str> = q["scope"].split(' ').collect();
    scopes.sort();
    assert_eq!(scopes, ["email", "openid", "profile"]);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "base64url SHA-256");
    assert_eq!(q["state"].len(), 43, "256 random bits");
    assert!(q["nonce"].len() >= 43);
    // The state is stored only as its hash.
    let hash = hex::encode(Sha256::digest(q["state"].as_bytes()));
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM oauth_states WHERE state_hash = '{hash}'")).await, 1);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM oauth_states WHERE state_hash = '{}'", q["state"])).await,
        0
    );

    let back = idp.authorize(&to, "alice").await;
    assert!(back.as_str().starts_with(CALLBACK), "{back}");
    let r = callback(&app, returned(&back)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["error"], Value::Null);
    let user = &r["user"];
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["role"], "MEMBER");
    assert_eq!((&user["firstName"], &user["lastName"]), (&json!("Alice"), &json!("Liddell")));
    assert_eq!(user["avatarUrl"], "https://example.com/alice.png");
    assert_eq!(r["authUser"]["provider"], "google");
    assert_eq!(r["authUser"]["entityId"], "alice@example.com");
    assert_eq!(
        r["authUser"]["userMetadata"],
        json!({ "name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
                "picture": "https://example.com/alice.png", "sub": "alice" })
    );
    assert_eq!(r["authUser"]["appMetadata"]["userId"], user["id"]);
    let token = r["session"]["token"].as_str().expect("token");
    let me = app.gql_as(token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "alice@example.com");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 0, "the state was used up");

    // The same person again, with a new name at Google: the same user, the profile as
    // Google reports it now (the user's own fields are theirs to edit and stay).
    idp.set_user("alice", json!({ "email": "alice@example.com", "email_verified": true, "name": "Alice Hargreaves" }))
        .await;
    let again = sign_in(&app, &idp, "alice").await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["user"]["id"], user["id"]);
    assert_eq!(again["authUser"]["userMetadata"], json!({ "name": "Alice Hargreaves", "sub": "alice" }));
    assert_eq!(again["user"]["lastName"], "Liddell");
    assert_ne!(again["session"]["token"], r["session"]["token"]);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);

    // Nobody can claim her address with a password.
    let grab = app.emailpass("alice@example.com", "a password of my own").await;
    assert_failed(&grab, ACCOUNT_EXISTS);
}
both!(google_sign_in_makes_a_verified_user_and_finds_it_again);

async fn a_flow_started_on_one_instance_completes_on_another_and_only_once(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("bob", json!({ "email": "bob@example.com", "email_verified": true })).await;
    let first = spawn(backend, &idp.issuer).await;
    let second = another_server(&first, backend, &idp.issuer, &[]).await;

    let back = idp.authorize(&location(&first, json!({})).await, "bob").await;
    let r = callback(&second, returned(&back)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["email"], "bob@example.com");

    // A replayed state fails, wherever it is replayed.
    assert_failed(&callback(&second, returned(&back)).await, UNKNOWN_STATE);
    assert_failed(&callback(&first, returned(&back)).await, UNKNOWN_STATE);
    assert_eq!(first.count("SELECT COUNT(*) AS n FROM sessions").await, 1);
}
both!(a_flow_started_on_one_instance_completes_on_another_and_only_once);

async fn unknown_foreign_expired_and_malformed_states_fail(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("carl", json!({ "email": "carl@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;

    // A state (with a good code) from another authql, on another database.
    let other = spawn(backend, &idp.issuer).await;
    let foreign = idp.authorize(&location(&other, json!({})).await, "carl").await;
    assert_failed(&callback(&app, returned(&foreign)).await, UNKNOWN_STATE);

    // One that was never issued, and junk.
    let code = returned(&foreign)["code"].clone();
    let made_up = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
    for state in [made_up.as_str(), "not-a-state", "' OR '1'='1", &"x".repeat(5000)] {
        assert_failed(&callback(&app, json!({ "code": code, "state": state })).await, UNKNOWN_STATE);
    }
    assert_failed(&callback(&app, json!({ "code": code })).await, "Code and state should be strings");
    assert_failed(&callback(&app, json!({ "code": code, "state": 5 })).await, "Code and state should be strings");
    assert_failed(
        &callback(&app, json!({ "error": "access_denied", "error_description": "The resource owner denied" })).await,
        "Google sign-in was cancelled or refused",
    );

    // Expired: ten minutes passed between authenticate and the callback.
    let back = idp.authorize(&location(&app, json!({})).await, "carl").await;
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
        .expect("age the state");
    assert_failed(&callback(&app, returned(&back)).await, "This sign-in request has expired; start again");
    // ... and it is gone, not left to be retried.
    assert_failed(&callback(&app, returned(&back)).await, UNKNOWN_STATE);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);

    // The provider itself was fine all along.
    assert_eq!(sign_in(&app, &idp, "carl").await["success"], true);
}
both!(unknown_foreign_expired_and_malformed_states_fail);

async fn pre_account_takeover_is_undone_by_a_verified_google_sign_in(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("victim", json!({ "email": "victim@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    // The attacker signs up first with the victim's address and a password of their own.
    let (attacker_token, user_id) = app.sign_up("victim@example.com", "attacker's pass phrase").await;
    let before = app.gql_as(&attacker_token, ME, json!({})).await;
    assert_eq!(before["data"]["me"]["emailVerified"], false);

    // The victim signs in with google: their verified address links to that user ...
    let r = sign_in(&app, &idp, "victim").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["id"], user_id.as_str());
    assert_eq!(r["user"]["emailVerified"], true);
    let victim_token = r["session"]["token"].as_str().expect("token");
    let me = app.gql_as(victim_token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["authUsers"], json!([{ "provider": "google" }]));

    // ... and whatever the attacker held is gone: the session and the password.
    let after = app.gql_as(&attacker_token, ME, json!({})).await;
    assert_eq!(after["data"]["me"], Value::Null, "{after}");
    let again = app.emailpass("victim@example.com", "attacker's pass phrase").await;
    assert_failed(&again, ACCOUNT_EXISTS);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
}
both!(pre_account_takeover_is_undone_by_a_verified_google_sign_in);

async fn google_links_to_a_verified_emailpass_user_and_keeps_its_password(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("dora", json!({ "email": "dora@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let (token, user_id) = app.sign_up("dora@example.com", "dora's pass phrase").await;
    // Dora proved her address (what verifyEmail records).
    let id = user_id.clone();
    app.state
        .db
        .write(move |conn| authql::db::models::users::mark_email_verified(conn, &id, authql::db::now()))
        .await
        .expect("verify");

    let r = sign_in(&app, &idp, "dora").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["id"], user_id.as_str());
    let me = app.gql_as(&token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["authUsers"], json!([{ "provider": "emailpass" }, { "provider": "google" }]));
    let pass = app.emailpass("dora@example.com", "dora's pass phrase").await;
    assert_eq!((&pass["success"], &pass["user"]["id"]), (&json!(true), &json!(user_id)));
}
both!(google_links_to_a_verified_emailpass_user_and_keeps_its_password);

async fn an_address_google_did_not_verify_is_refused(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("eve", json!({ "email": "eve@example.com", "email_verified": false })).await;
    // Without the claim at all (the provider's default user).
    idp.set_user("fay", json!({ "email": "fay@example.com" })).await;
    let app = spawn(backend, &idp.issuer).await;
    for sub in ["eve", "fay"] {
        assert_failed(&sign_in(&app, &idp, sub).await, "Google has not verified this email address");
    }
    // Nor does it reach an account that already has the address.
    app.sign_up("eve@example.com", "eve's pass phrase").await;
    assert_failed(&sign_in(&app, &idp, "eve").await, "Google has not verified this email address");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users WHERE provider = 'google'").await, 0);
}
both!(an_address_google_did_not_verify_is_refused);

async fn a_reassigned_address_does_not_inherit_the_old_google_account(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("old-owner", json!({ "email": "ops@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let first = sign_in(&app, &idp, "old-owner").await;
    assert_eq!(first["success"], true, "{first}");
    // The domain gives the address to someone else: a new Google account, same address.
    idp.set_user("new-owner", json!({ "email": "ops@example.com", "email_verified": true })).await;
    assert_failed(
        &sign_in(&app, &idp, "new-owner").await,
        "This address is linked to a different Google account; ask an administrator for help",
    );
    // The original account still signs in as its user.
    let again = sign_in(&app, &idp, "old-owner").await;
    assert_eq!(again["user"]["id"], first["user"]["id"]);
}
both!(a_reassigned_address_does_not_inherit_the_old_google_account);

async fn callback_url_must_be_allowed(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("gus", json!({ "email": "gus@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    for url in ["https://evil.example/cb", "http://127.0.0.1:9/cb/../evil", "http://127.0.0.1:9/other-cb?x=1"] {
        let r = start(&app, json!({ "callbackUrl": url })).await;
        assert_failed(&r, "callbackUrl is not an allowed callback URL");
        assert_eq!(r["location"], Value::Null);
    }
    assert_failed(&start(&app, json!({ "callbackUrl": 42 })).await, "callbackUrl should be a string");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 0);

    let to = location(&app, json!({ "callbackUrl": CALLBACK })).await;
    assert_eq!(query(&to)["redirect_uri"], CALLBACK);
    // An allowed one is used through to the code exchange (where the provider checks that it
    // matches the one the code was issued for).
    let to = location(&app, json!({ "callbackUrl": OTHER_CALLBACK })).await;
    assert_eq!(query(&to)["redirect_uri"], OTHER_CALLBACK);
    let back = idp.authorize(&to, "gus").await;
    assert!(back.as_str().starts_with(OTHER_CALLBACK), "{back}");
    let r = callback(&app, returned(&back)).await;
    assert_eq!(r["success"], true, "{r}");
}
both!(callback_url_must_be_allowed);

async fn an_unreachable_provider_fails_quickly_without_an_error(backend: Backend) {
    let mut idp = OidcProvider::start().await;
    idp.set_user("hal", json!({ "email": "hal@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let back = idp.authorize(&location(&app, json!({})).await, "hal").await;
    idp.kill();

    let started = Instant::now();
    let r = callback(&app, returned(&back)).await;
    assert_failed(&r, "Could not reach Google to complete the sign-in; try again");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    // A server that never reached discovery cannot even start a sign-in.
    let fresh = spawn(backend, &idp.issuer).await;
    assert_failed(&start(&fresh, json!({})).await, "Google sign-in is unavailable right now; try again later");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
}
both!(an_unreachable_provider_fails_quickly_without_an_error);

async fn an_invite_travels_through_the_google_redirect(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("ivy", json!({ "email": "ivy@example.com", "email_verified": true })).await;
    idp.set_user("jon", json!({ "email": "jon@example.com", "email_verified": true })).await;
    let open = spawn(backend, &idp.issuer).await;
    let (admin, _) = open.admin("boss@example.com").await;
    // The same database served invite-only from here on.
    let app = another_server(&open, backend, &idp.issuer, &[("AUTHQL_SIGNUP", "invite")]).await;
    let created = app
        .gql_as(
            &admin,
            r#"mutation { createInvite(input: { email: "ivy@example.com", role: ADMIN }) { token } }"#,
            json!({}),
        )
        .await;
    let invite = created["data"]["createInvite"]["token"].as_str().expect("invite token").to_string();

    let accepted = app
        .gql(
            r#"mutation($t: String!) { acceptInvite(token: $t, provider: "google", input: {}) { success error location } }"#,
            json!({ "t": invite }),
        )
        .await;
    let r = &accepted["data"]["acceptInvite"];
    assert_eq!(r["success"], true, "{accepted}");
    let back = idp.authorize(r["location"].as_str().expect("location"), "ivy").await;
    let r = callback(&app, returned(&back)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!((&r["user"]["email"], &r["user"]["role"]), (&json!("ivy@example.com"), &json!("ADMIN")));
    let seen = app.gql("query($t: String!) { invite(token: $t) { email } }", json!({ "t": invite })).await;
    assert_eq!(seen["data"]["invite"], Value::Null, "the invite is used");

    // Without an invite, the policy holds for google too.
    assert_failed(&sign_in(&app, &idp, "jon").await, "Sign-up is by invitation only");
}
both!(an_invite_travels_through_the_google_redirect);

// ---- A flow belongs to the client that started it (API 6.1) ----

const FLOW_COOKIE: &str = "authql_flow";
const INVITE_INVALID: &str = "Invite is invalid or has expired";

/// Counts the open (unexpired) flows of this test's address, as of now.
fn open_flows_here() -> String {
    format!(
        "SELECT COUNT(*) AS n FROM oauth_states WHERE client_address = '127.0.0.1' AND expires_at > '{}'",
        authql::db::now()
    )
}

/// The `authql_flow` Set-Cookie headers of a response.
fn flow_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII cookie").to_string())
        .filter(|c| c.starts_with(&format!("{FLOW_COOKIE}=")))
        .collect()
}

/// The value of a `name=value; ...` Set-Cookie header.
fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).expect("name=value").1
}

async fn a_stolen_callback_does_not_sign_the_victim_in(backend: Backend) {
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

async fn another_flows_cookie_does_not_finish_a_flow(backend: Backend) {
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

async fn one_client_finishes_flows_it_started_side_by_side(backend: Backend) {
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

async fn the_binding_cookie_is_http_only_lax_and_lives_as_long_as_the_flow(backend: Backend) {
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
async fn start_flows_in_batch(app: &TestApp, browser: &reqwest::Client, operations: usize) -> Vec<Value> {
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
fn tally(answers: &[Value]) -> (usize, usize) {
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
async fn start_flows_in_parallel(app: &TestApp, browser: &reqwest::Client, n: usize) -> (usize, usize) {
    let body = json!({ "query": AUTHENTICATE, "variables": { "provider": "google", "input": {} } });
    let requests = (0..n).map(|_| async {
        let resp = browser.post(format!("{}/graphql", app.addr)).json(&body).send().await.expect("sent");
        let answer: Value = resp.json().await.expect("JSON");
        // The same shape as one operation of a batch.
        json!({ "data": { "authenticate": answer["data"]["authenticate"] }, "errors": answer["errors"] })
    });
    tally(&futures_util::future::join_all(requests).await)
}

async fn a_flood_of_started_flows_from_one_address_is_bounded(backend: Backend) {
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
    assert_eq!(app.count(&open_flows_here()).await, 0);
    assert_eq!(start_flows_in_parallel(&app, &browser(), 40).await, (30, 10));
    assert_eq!(app.count(&open_flows_here()).await, 30);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 30, "abandoned flows were cleared");
}
both!(a_flood_of_started_flows_from_one_address_is_bounded);

/// Creates an invite for `email` (ADMIN, which open sign-up would never give); (id, token).
async fn invite(app: &TestApp, admin: &str, email: &str) -> (String, String) {
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
async fn accept_in(app: &TestApp, browser: &reqwest::Client, token: &str) -> String {
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

async fn refreshing_or_deleting_an_invite_ends_the_flows_started_with_it(backend: Backend) {
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

// ---- ID tokens from an issuer inside the test ----

/// Starts a sign-in, has the fake issuer answer the code with the token `make` signs for
/// the sign-in's nonce, and completes it.
async fn attempt(app: &TestApp, issuer: &FakeIssuer, make: impl FnOnce(&str) -> String) -> Value {
    let q = query(&location(app, json!({})).await);
    issuer.answer_with_id_token(&make(&q["nonce"]));
    callback(app, json!({ "code": "the-code", "state": q["state"] })).await
}

async fn forged_and_mismatched_id_tokens_are_refused(backend: Backend) {
    let issuer = FakeIssuer::start().await;
    let (a, b) = (Key::a(), Key::b());
    issuer.publish(&[&a]);
    let app = spawn(backend, &issuer.issuer).await;
    let claims = |nonce: &str| issuer.claims(CLIENT_ID, nonce, "zoe@example.com");
    let with = |nonce: &str, patch: Value| {
        let mut c = claims(nonce);
        for (k, v) in patch.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    // The untouched token passes: each refusal below is the one check it names.
    let ok = attempt(&app, &issuer, |n| a.sign(Some(a.kid), &claims(n))).await;
    assert_eq!(ok["success"], true, "{ok}");
    assert_eq!(ok["user"]["email"], "zoe@example.com");

    let now = jsonwebtoken::get_current_timestamp();
    type Make<'a> = Box<dyn FnOnce(&str) -> String + 'a>;
    let cases: Vec<(&str, Make)> = vec![
        ("bad signature", Box::new(|n| b.sign(Some(a.kid), &claims(n)))),
        ("bad signature", Box::new(|n| b.sign(None, &claims(n)))),
        (
            "bad signature",
            Box::new(|n| {
                // A genuine token whose payload was swapped for another's.
                let genuine = a.sign(Some(a.kid), &claims(n));
                let other = a.sign(Some(a.kid), &with(n, json!({ "email": "mallory@example.com" })));
                let (g, o): (Vec<&str>, Vec<&str>) = (genuine.split('.').collect(), other.split('.').collect());
                format!("{}.{}.{}", g[0], o[1], g[2])
            }),
        ),
        ("signed with a key the issuer does not publish", Box::new(|n| b.sign(Some(b.kid), &claims(n)))),
        ("expired", Box::new(|n| a.sign(Some(a.kid), &with(n, json!({ "exp": now - 3600, "iat": now - 7200 }))))),
        ("wrong audience", Box::new(|n| a.sign(Some(a.kid), &with(n, json!({ "aud": ["someone-else"] }))))),
        ("wrong issuer", Box::new(|n| a.sign(Some(a.kid), &with(n, json!({ "iss": "https://accounts.google.com" }))))),
        ("nonce does not match", Box::new(|n| a.sign(Some(a.kid), &with(n, json!({ "nonce": "an-old-nonce" }))))),
        (
            "unsupported signing algorithm",
            Box::new(|n| {
                let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                let key = jsonwebtoken::EncodingKey::from_secret(CLIENT_SECRET.as_bytes());
                jsonwebtoken::encode(&header, &claims(n), &key).expect("signed")
            }),
        ),
    ];
    for (reason, make) in cases {
        let r = attempt(&app, &issuer, make).await;
        assert_failed(&r, &format!("Google's ID token is invalid: {reason}"));
    }
    let r = attempt(&app, &issuer, |n| a.sign(Some(a.kid), &with(n, json!({ "email_verified": false })))).await;
    assert_failed(&r, "Google has not verified this email address");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1, "only the genuine token made a user");
}
both!(forged_and_mismatched_id_tokens_are_refused);

async fn rotated_keys_are_fetched_and_the_code_is_exchanged_with_pkce(backend: Backend) {
    let issuer = FakeIssuer::start().await;
    let (a, b) = (Key::a(), Key::b());
    issuer.publish(&[&a]);
    let app = spawn(backend, &issuer.issuer).await;

    let to = location(&app, json!({})).await;
    let q = query(&to);
    issuer.answer_with_id_token(&a.sign(Some(a.kid), &issuer.claims(CLIENT_ID, &q["nonce"], "zoe@example.com")));
    let r = callback(&app, json!({ "code": "the-code", "state": q["state"] })).await;
    assert_eq!(r["success"], true, "{r}");
    let requests = issuer.token_requests();
    let sent = &requests.last().expect("a token request").form;
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "the-code");
    assert_eq!(sent["redirect_uri"], CALLBACK);
    let verifier = &sent["code_verifier"];
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, q["code_challenge"], "the verifier is the one behind the challenge");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(requests.last().expect("request").authorization.as_deref(), Some(format!("Basic {basic}").as_str()));

    // The issuer rotates its key: a token under the new kid is verified with the new set.
    issuer.publish(&[&b]);
    let r = attempt(&app, &issuer, |n| b.sign(Some(b.kid), &issuer.claims(CLIENT_ID, n, "zoe@example.com"))).await;
    assert_eq!(r["success"], true, "{r}");
    // The withdrawn key is no longer trusted.
    let r = attempt(&app, &issuer, |n| a.sign(Some(a.kid), &issuer.claims(CLIENT_ID, n, "zoe@example.com"))).await;
    assert_failed(&r, "Google's ID token is invalid: signed with a key the issuer does not publish");
}
both!(rotated_keys_are_fetched_and_the_code_is_exchanged_with_pkce);

async fn token_endpoint_refusals_are_failed_sign_ins(backend: Backend) {
    let issuer = FakeIssuer::start().await;
    issuer.publish(&[&Key::a()]);
    let app = spawn(backend, &issuer.issuer).await;
    let cases = [
        (400, json!({ "error": "invalid_grant" }), "Google refused the sign-in code; start again"),
        (401, json!({ "error": "invalid_client" }), "Google refused the sign-in code; start again"),
        (502, json!({ "unexpected": true }), "Google refused the sign-in code; start again"),
        (200, json!({ "access_token": "at", "token_type": "Bearer" }), "Google did not return an ID token"),
    ];
    for (status, body, error) in cases {
        let q = query(&location(&app, json!({})).await);
        issuer.answer(status, body);
        assert_failed(&callback(&app, json!({ "code": "c", "state": q["state"] })).await, error);
    }
}
both!(token_endpoint_refusals_are_failed_sign_ins);
