//! The TOTP second factor (API 6.5), each rule as the attack it stops: a password alone
//! gives no session, a code or a ticket works once, guesses are throttled, one user's code
//! opens nothing of another's, and the secret never comes back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code};

pub const ENROLL: &str = "mutation { enrollTotp { secret otpauthUrl } }";
pub const CONFIRM: &str = "mutation($code: String!) { confirmTotp(code: $code) }";
const DISABLE: &str = "mutation($code: String!) { disableTotp(code: $code) }";
pub const VERIFY: &str = r#"mutation($ticket: String!, $method: String!, $code: String!) {
  verifySecondFactor(ticket: $ticket, method: $method, code: $code) {
    success error mfaTicket mfaMethods
    session { id token }
    user { id email totpEnabled }
    authUser { provider entityId }
  }
}"#;
const SIGN_IN: &str = r#"mutation($email: String!, $password: String!) {
  authenticate(provider: "emailpass", input: { email: $email, password: $password }) {
    success error mfaTicket mfaMethods session { token } user { id }
  }
}"#;
const ME: &str = "{ me { id email totpEnabled } }";
const PASSWORD: &str = "a long enough pass phrase";
pub const REQUIRED: &str = "A second factor is required";
const INVALID_CODE: &str = "Invalid code";
const INVALID_TICKET: &str = "Invalid or expired ticket";

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) of `secret` for time step `step`, computed here
/// from the secret as an authenticator app would.
pub fn code_at(secret: &str, step: u64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).expect("base32 secret"))
        .build()
        .expect("RFC 6238 parameters");
    totp.generate(step * 30).to_string()
}

/// A code the server must accept now and has not seen: a step newer than `last` (each is
/// taken once) within ±1 of now, waiting for the clock when all three are spent.
pub struct Authenticator {
    pub secret: String,
    last: Option<u64>,
}

impl Authenticator {
    pub fn new(secret: &str) -> Authenticator {
        Authenticator { secret: secret.to_string(), last: None }
    }

    pub async fn next_code(&mut self) -> String {
        loop {
            let now = unix_now() / 30;
            // A margin from the step's end: the request must still land within ±1.
            let step = self.last.map_or(now.saturating_sub(1), |l| (l + 1).max(now.saturating_sub(1)));
            if step <= now + 1 && !(step == now + 1 && unix_now() % 30 > 25) {
                self.last = Some(step);
                return code_at(&self.secret, step);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A code no step around now has (a wrong guess that cannot be right by chance).
    pub fn wrong_code(&self) -> String {
        let now = unix_now() / 30;
        let taken: Vec<String> = (now.saturating_sub(2)..=now + 2).map(|s| code_at(&self.secret, s)).collect();
        (0..1_000_000u32).map(|n| format!("{n:06}")).find(|c| !taken.contains(c)).expect("a free code")
    }
}

/// Enrols and confirms TOTP for the session's user: the authenticator and the recovery codes.
pub async fn enable_totp(app: &TestApp, token: &str) -> (Authenticator, Vec<String>) {
    let body = app.gql_as(token, ENROLL, json!({})).await;
    let secret = body["data"]["enrollTotp"]["secret"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
    let mut auth = Authenticator::new(&secret);
    let code = auth.next_code().await;
    let body = app.gql_as(token, CONFIRM, json!({ "code": code })).await;
    let codes: Vec<String> =
        serde_json::from_value(body["data"]["confirmTotp"].clone()).unwrap_or_else(|_| panic!("{body}"));
    (auth, codes)
}

async fn sign_in(app: &TestApp, email: &str) -> Value {
    let body = app.gql(SIGN_IN, json!({ "email": email, "password": PASSWORD })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["authenticate"].clone()
}

/// Signs in with the password; asserts a ticket and no session came back, returns the ticket.
async fn ticket(app: &TestApp, email: &str) -> String {
    let r = sign_in(app, email).await;
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(REQUIRED)), "{r}");
    assert_eq!(r["session"], Value::Null, "no session before the second factor: {r}");
    assert_eq!(r["user"], Value::Null, "{r}");
    assert_eq!(r["mfaMethods"], json!(["totp", "recovery_code"]));
    r["mfaTicket"].as_str().expect("ticket").to_string()
}

pub async fn verify(app: &TestApp, ticket: &str, method: &str, code: &str) -> Value {
    app.gql(VERIFY, json!({ "ticket": ticket, "method": method, "code": code })).await
}

fn refused(body: &Value, error: &str) {
    let r = &body["data"]["verifySecondFactor"];
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(error)), "{body}");
    assert_eq!(r["session"], Value::Null, "{body}");
}

fn signed_in(body: &Value) -> String {
    let r = &body["data"]["verifySecondFactor"];
    assert_eq!(r["success"], true, "{body}");
    r["session"]["token"].as_str().expect("token").to_string()
}

async fn a_password_alone_gives_no_session_and_codes_work_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, user_id) = app.sign_up("alice@example.com", PASSWORD).await;
    let mut answers = Vec::new();

    let body = app.gql_as(&token, ENROLL, json!({})).await;
    let enrollment = &body["data"]["enrollTotp"];
    let secret = enrollment["secret"].as_str().expect("secret").to_string();
    let url = enrollment["otpauthUrl"].as_str().expect("url");
    assert!(
        url.starts_with("otpauth://totp/authql:alice%40example.com?")
            || url.starts_with("otpauth://totp/authql:alice@example.com?"),
        "{url}"
    );
    assert!(
        url.contains(&format!("secret={secret}")) && url.contains("period=30") && url.contains("digits=6"),
        "{url}"
    );
    // Enrolment alone turns nothing on: the password still signs in.
    let me = app.gql_as(&token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["totpEnabled"], false, "{me}");
    assert_eq!(sign_in(&app, "alice@example.com").await["success"], true);

    let mut auth = Authenticator::new(&secret);
    let wrong = app.gql_as(&token, CONFIRM, json!({ "code": auth.wrong_code() })).await;
    assert_eq!(error_code(&wrong).as_deref(), Some("BAD_USER_INPUT"), "{wrong}");
    let body = app.gql_as(&token, CONFIRM, json!({ "code": auth.next_code().await })).await;
    let codes: Vec<String> = serde_json::from_value(body["data"]["confirmTotp"].clone()).expect("codes");
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM recovery_codes WHERE code_hash = '{}'", codes[0])).await,
        0,
        "stored as hashes"
    );
    answers.push(app.gql_as(&token, ME, json!({})).await);
    assert_eq!(answers[0]["data"]["me"]["totpEnabled"], true);

    // The password alone: a ticket, no session (as a browser: no cookie, `me` is null).
    let sessions_before = app.count("SELECT COUNT(*) AS n FROM sessions").await;
    let resp = app
        .post_json(
            json!({ "query": SIGN_IN, "variables": { "email": "alice@example.com", "password": PASSWORD } }),
            None,
        )
        .await;
    assert!(resp.headers().get("set-cookie").is_none(), "no session cookie before the second factor");
    let first: Value = resp.json().await.expect("JSON");
    let first_ticket = first["data"]["authenticate"]["mfaTicket"].as_str().expect("ticket").to_string();
    assert_eq!(first["data"]["authenticate"]["error"], REQUIRED);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, sessions_before, "{first}");
    assert_eq!(app.gql(ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM mfa_tickets WHERE ticket_hash = '{first_ticket}'")).await,
        0,
        "stored as a hash"
    );

    // A good code: the session, exactly as a sign-in gives it, cookie included.
    let code = auth.next_code().await;
    let vars = json!({ "ticket": first_ticket, "method": "totp", "code": code });
    let resp = app.post_json(json!({ "query": VERIFY, "variables": vars }), None).await;
    let cookie = resp.headers().get("set-cookie").expect("session cookie").to_str().expect("ascii").to_string();
    assert!(cookie.starts_with("authql_session="), "{cookie}");
    let body: Value = resp.json().await.expect("JSON");
    let session = signed_in(&body);
    assert_eq!(body["data"]["verifySecondFactor"]["user"]["id"], user_id.as_str());
    assert_eq!(body["data"]["verifySecondFactor"]["authUser"]["provider"], "emailpass");
    answers.push(body.clone());
    let me = app.gql_as(&session, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["id"], user_id.as_str());
    answers.push(me);

    // Replay: the same code on a new ticket is refused; the ticket stays for a good code.
    let second = ticket(&app, "alice@example.com").await;
    let body = verify(&app, &second, "totp", &code).await;
    refused(&body, INVALID_CODE);
    answers.push(body);
    // The first ticket was spent: with a good recovery code it is refused all the same.
    let body = verify(&app, &first_ticket, "recovery_code", &codes[0]).await;
    refused(&body, INVALID_TICKET);
    answers.push(body);
    // Two uses of one fresh code at once on two tickets: only one passes.
    let third = ticket(&app, "alice@example.com").await;
    let fresh = auth.next_code().await;
    let (a, b) = tokio::join!(verify(&app, &second, "totp", &fresh), verify(&app, &third, "totp", &fresh));
    let passed = [&a, &b].iter().filter(|r| r["data"]["verifySecondFactor"]["success"] == true).count();
    assert_eq!(passed, 1, "{a} {b}");
    answers.extend([a, b]);

    // The secret never comes back: not in any answer since enrolment, not on a new enrolment.
    let again = app.gql_as(&token, ENROLL, json!({})).await;
    assert_eq!(error_code(&again).as_deref(), Some("CONFLICT"), "{again}");
    answers.push(again);
    for answer in &answers {
        assert!(!answer.to_string().contains(&secret), "the secret came back: {answer}");
    }
}
both!(a_password_alone_gives_no_session_and_codes_work_once);

async fn an_expired_ticket_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("alice@example.com", PASSWORD).await;
    let (_auth, codes) = enable_totp(&app, &token).await;
    let stale = ticket(&app, "alice@example.com").await;
    app.state
        .db
        .write(|conn| {
            use authql::db::schema::mfa_tickets;
            use diesel::prelude::*;
            let past = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(1);
            diesel::update(mfa_tickets::table).set(mfa_tickets::expires_at.eq(past)).execute(conn)?;
            Ok(())
        })
        .await
        .expect("age the ticket");
    refused(&verify(&app, &stale, "recovery_code", &codes[0]).await, INVALID_TICKET);
    // Nothing was spent on the dead ticket: the code opens a live one.
    let live = ticket(&app, "alice@example.com").await;
    signed_in(&verify(&app, &live, "recovery_code", &codes[0]).await);
}
both!(an_expired_ticket_is_refused);

async fn parallel_guesses_check_at_most_five_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("alice@example.com", PASSWORD).await;
    let (mut auth, codes) = enable_totp(&app, &token).await;
    let target = ticket(&app, "alice@example.com").await;
    let wrong = auth.wrong_code();
    let answers = futures_util::future::join_all((0..12).map(|_| verify(&app, &target, "totp", &wrong))).await;
    let checked = answers.iter().filter(|b| b["data"]["verifySecondFactor"]["error"] == INVALID_CODE).count();
    let limited = answers.iter().filter(|b| error_code(b).as_deref() == Some("RATE_LIMITED")).count();
    assert!((1..=5).contains(&checked), "{checked} checked: {answers:?}");
    assert_eq!(checked + limited, 12, "{answers:?}");
    // Past the limit even the right code is not looked at, on this ticket or a new one.
    let right = verify(&app, &target, "totp", &auth.next_code().await).await;
    assert_eq!(error_code(&right).as_deref(), Some("RATE_LIMITED"), "{right}");
    let fresh = ticket(&app, "alice@example.com").await;
    let right = verify(&app, &fresh, "recovery_code", &codes[0]).await;
    assert_eq!(error_code(&right).as_deref(), Some("RATE_LIMITED"), "per user too: {right}");
    assert!(right["errors"][0]["extensions"]["retryAfter"].as_u64().is_some(), "{right}");
}
both!(parallel_guesses_check_at_most_five_codes);

async fn recovery_codes_work_once_and_disabling_needs_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("alice@example.com", PASSWORD).await;
    let (auth, codes) = enable_totp(&app, &token).await;
    signed_in(&verify(&app, &ticket(&app, "alice@example.com").await, "recovery_code", &codes[0]).await);
    // Spent: refused on a new ticket, in any spelling; another code still works.
    let next = ticket(&app, "alice@example.com").await;
    refused(&verify(&app, &next, "recovery_code", &codes[0]).await, INVALID_CODE);
    refused(&verify(&app, &next, "recovery_code", &codes[0].to_uppercase()).await, INVALID_CODE);
    signed_in(&verify(&app, &next, "recovery_code", &codes[1]).await);
    // One code on two tickets at once: one session.
    let (t1, t2) = (ticket(&app, "alice@example.com").await, ticket(&app, "alice@example.com").await);
    let (a, b) =
        tokio::join!(verify(&app, &t1, "recovery_code", &codes[2]), verify(&app, &t2, "recovery_code", &codes[2]));
    let passed = [&a, &b].iter().filter(|r| r["data"]["verifySecondFactor"]["success"] == true).count();
    assert_eq!(passed, 1, "{a} {b}");
    // One ticket with two good codes at once: one session.
    let t = ticket(&app, "alice@example.com").await;
    let (a, b) =
        tokio::join!(verify(&app, &t, "recovery_code", &codes[4]), verify(&app, &t, "recovery_code", &codes[5]));
    let passed = [&a, &b].iter().filter(|r| r["data"]["verifySecondFactor"]["success"] == true).count();
    assert_eq!(passed, 1, "a ticket is single use: {a} {b}");

    // Disabling needs a code: a wrong one changes nothing.
    let body = app.gql_as(&token, DISABLE, json!({ "code": auth.wrong_code() })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"]["totpEnabled"], true);
    let body = app.gql_as(&token, DISABLE, json!({ "code": codes[3] })).await;
    assert_eq!(body["data"]["disableTotp"], true, "{body}");
    assert_eq!(app.gql_as(&token, ME, json!({})).await["data"]["me"]["totpEnabled"], false);
    assert_eq!(sign_in(&app, "alice@example.com").await["success"], true, "the password alone signs in again");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM recovery_codes").await, 0);
}
both!(recovery_codes_work_once_and_disabling_needs_a_code);

async fn one_users_ticket_takes_no_other_users_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let (alice_token, alice_id) = app.sign_up("alice@example.com", PASSWORD).await;
    let (bob_token, bob_id) = app.sign_up("bob@example.com", PASSWORD).await;
    let (mut alice_app, _) = enable_totp(&app, &alice_token).await;
    let (mut bob_app, bob_codes) = enable_totp(&app, &bob_token).await;

    let alices = ticket(&app, "alice@example.com").await;
    refused(&verify(&app, &alices, "totp", &bob_app.next_code().await).await, INVALID_CODE);
    refused(&verify(&app, &alices, "recovery_code", &bob_codes[0]).await, INVALID_CODE);
    let body = verify(&app, &alices, "totp", &alice_app.next_code().await).await;
    signed_in(&body);
    assert_eq!(body["data"]["verifySecondFactor"]["user"]["id"], alice_id.as_str());

    // An admin sees who has TOTP on; deleting a user removes all of it.
    let q = "query($id: ID!) { user(id: $id) { totpEnabled } }";
    assert_eq!(app.gql_as(&admin, q, json!({ "id": bob_id })).await["data"]["user"]["totpEnabled"], true);
    let _pending = ticket(&app, "bob@example.com").await;
    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": bob_id })).await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    for table in ["totp_factors", "recovery_codes", "mfa_tickets"] {
        let n = app.count(&format!("SELECT COUNT(*) AS n FROM {table} WHERE user_id = '{bob_id}'")).await;
        assert_eq!(n, 0, "{table} keeps rows of a deleted user");
    }
    assert_eq!(app.gql_as(&admin, q, json!({ "id": alice_id })).await["data"]["user"]["totpEnabled"], true);
}
both!(one_users_ticket_takes_no_other_users_code);
