//! The throttle and the rations, attacked the way they would be: many requests at once
//! (parallel connections, each a batch of ten operations), several instances, a second
//! client address, and probing for which e-mail addresses have accounts.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    AUTHENTICATE, Backend, REQUEST_RESET, ServerProcess, TestApp, TestDb, UPDATE_PROVIDER as UPDATE, error_code,
};

const WRONG: &str = "Invalid email or password";

/// One `authenticate` operation with emailpass, as an item of a batch.
fn sign_in(email: &str, password: &str) -> Value {
    json!({
        "query": AUTHENTICATE,
        "variables": { "provider": "emailpass", "input": { "email": email, "password": password } },
    })
}

/// Ten sign-ins for `email`, each with another wrong password.
fn ten_guesses(email: &str) -> Vec<Value> {
    (0..10).map(|i| sign_in(email, &format!("wrong guess number {i}"))).collect()
}

/// Sends `ops` as one batch (a JSON array body, at most ten) and returns the answers.
async fn batch(client: &reqwest::Client, addr: &str, token: Option<&str>, ops: &[Value]) -> Vec<Value> {
    let mut req = client.post(format!("{addr}/graphql")).json(&ops);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("an answer");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON");
    assert!(status.is_success(), "status {status}: {body}");
    body.as_array().unwrap_or_else(|| panic!("a batch is answered with an array: {body}")).clone()
}

/// Sends the same batch over `connections` connections at once; all answers, flattened.
async fn at_once(client: &reqwest::Client, addrs: &[&str], token: Option<&str>, ops: &[Value]) -> Vec<Value> {
    futures_util::future::join_all(addrs.iter().map(|addr| batch(client, addr, token, ops))).await.concat()
}

/// A client whose connections come from another loopback address.
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(ip)).build().expect("client")
}

/// How many answers checked a password (`checked` says how such an answer looks) and how
/// many were refused with RATE_LIMITED and a retryAfter; anything else fails the test.
fn tally(answers: &[Value], checked: impl Fn(&Value) -> bool) -> (usize, usize) {
    let (mut seen, mut limited) = (0, 0);
    for answer in answers {
        if error_code(answer).as_deref() == Some("RATE_LIMITED") {
            assert!(answer["errors"][0]["extensions"]["retryAfter"].as_u64().is_some_and(|s| s > 0), "{answer}");
            limited += 1;
        } else {
            assert!(checked(answer), "neither checked nor limited: {answer}");
            seen += 1;
        }
    }
    (seen, limited)
}

fn wrong_password(answer: &Value) -> bool {
    answer.get("errors").is_none()
        && answer["data"]["authenticate"]["success"] == false
        && answer["data"]["authenticate"]["error"] == WRONG
}

fn retry_after(body: &Value) -> u64 {
    body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap_or_else(|| panic!("retryAfter: {body}"))
}

async fn parallel_batches_check_at_most_five_passwords_per_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("victim@example.com", "the victim's own phrase").await;
    let addr = app.addr.as_str();

    let answers = at_once(&app.client, &[addr; 4], None, &ten_guesses("victim@example.com")).await;
    assert_eq!(tally(&answers, wrong_password), (5, 35), "five checked, the rest refused unchecked");

    // The right password is not even looked at now.
    let body =
        app.gql(AUTHENTICATE, sign_in("victim@example.com", "the victim's own phrase")["variables"].clone()).await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    assert!((800..=900).contains(&retry_after(&body)), "until the first guess leaves the 15-minute window: {body}");
}
both!(parallel_batches_check_at_most_five_passwords_per_account);

async fn parallel_guesses_across_accounts_are_limited_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "3")]).await;
    let emails: Vec<String> = (0..8).map(|i| format!("member{i}@example.com")).collect();
    for email in &emails {
        app.sign_up(email, "a member's fine phrase").await;
    }
    // One guess per account per batch, two batches at once: no account reaches its own limit.
    let guesses: Vec<Value> = emails.iter().map(|e| sign_in(e, "a wrong guess here")).collect();
    let addr = app.addr.as_str();
    let answers = at_once(&app.client, &[addr; 2], None, &guesses).await;
    assert_eq!(tally(&answers, wrong_password), (3, 13), "three checks from this address, whatever the account");

    let right = sign_in(&emails[0], "a member's fine phrase");
    let answer = batch(&app.client, addr, None, std::slice::from_ref(&right)).await;
    assert_eq!(error_code(&answer[0]).as_deref(), Some("RATE_LIMITED"), "{answer:?}");
    // Another address is not held to this one's count.
    let elsewhere = batch(&client_from(Ipv4Addr::new(127, 0, 0, 2)), addr, None, &[right]).await;
    assert_eq!(elsewhere[0]["data"]["authenticate"]["success"], true, "{elsewhere:?}");
}
both!(parallel_guesses_across_accounts_are_limited_per_address);

/// Two processes on one PostgreSQL database (SQLite serves one process only): the count
/// and its lock live in the database, so guesses split across both still get five checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_check_at_most_five_between_them() {
    let (_db, url) = TestDb::create(Backend::Postgres);
    let a = ServerProcess::start(&url, &[]).await;
    let b = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let up = batch(&client, &a.addr, None, &[sign_in("shared@example.com", "shared account phrase")]).await;
    assert_eq!(up[0]["data"]["authenticate"]["success"], true, "{up:?}");

    let addrs = [a.addr.as_str(), b.addr.as_str(), a.addr.as_str(), b.addr.as_str()];
    let answers = at_once(&client, &addrs, None, &ten_guesses("shared@example.com")).await;
    assert_eq!(tally(&answers, wrong_password), (5, 35));
    for server in [&a, &b] {
        let answer =
            batch(&client, &server.addr, None, &[sign_in("shared@example.com", "shared account phrase")]).await;
        assert_eq!(error_code(&answer[0]).as_deref(), Some("RATE_LIMITED"), "{answer:?}");
    }
}

async fn parallel_wrong_current_passwords_check_at_most_five(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("pat@example.com", "pat's first phrase").await;
    let change = |current: &str| {
        json!({ "query": UPDATE, "variables": { "p": "emailpass",
            "i": { "currentPassword": current, "password": "pat's second phrase" } } })
    };
    let guesses: Vec<Value> = (0..10).map(|i| change(&format!("wrong guess number {i}"))).collect();
    let addr = app.addr.as_str();
    let answers = at_once(&app.client, &[addr; 4], Some(&token), &guesses).await;
    let incorrect = |a: &Value| {
        error_code(a).as_deref() == Some("BAD_USER_INPUT")
            && a["errors"][0]["message"] == "Current password is incorrect"
    };
    assert_eq!(tally(&answers, incorrect), (5, 35));

    // The right current password is refused unchecked, and so is a sign-in: one count per account.
    let answer = batch(&app.client, addr, Some(&token), &[change("pat's first phrase")]).await;
    assert_eq!(error_code(&answer[0]).as_deref(), Some("RATE_LIMITED"), "{answer:?}");
    let answer = batch(&app.client, addr, None, &[sign_in("pat@example.com", "pat's first phrase")]).await;
    assert_eq!(error_code(&answer[0]).as_deref(), Some("RATE_LIMITED"), "{answer:?}");
}
both!(parallel_wrong_current_passwords_check_at_most_five);

async fn sign_ups_are_rationed_per_address(backend: Backend) {
    // Cheap hashes on many workers: the sign-ups reach the user guard all at once, not
    // spaced out by the hashing pool.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "3"),
            ("AUTHQL_ARGON2_MEMORY_KIB", "64"),
            ("AUTHQL_ARGON2_ITERATIONS", "1"),
            ("AUTHQL_HASH_WORKERS", "20"),
        ],
    )
    .await;
    // The admin's own sign-up is the first of this address's three.
    let (admin, _) = app.admin("boss@example.com").await;
    let newcomers: Vec<Value> =
        (0..20).map(|i| sign_in(&format!("new{i}@example.com"), "a newcomer's phrase")).collect();
    let addr = app.addr.as_str();
    let answers =
        futures_util::future::join_all(newcomers.chunks(10).map(|c| batch(&app.client, addr, None, c))).await.concat();
    let signed_up = |a: &Value| a["data"]["authenticate"]["success"] == true;
    assert_eq!(tally(&answers, signed_up), (2, 18), "the ration holds however many arrive at once");
    for answer in answers.iter().filter(|a| error_code(a).is_some()) {
        assert!((3500..=3600).contains(&retry_after(answer)), "an hour's ration: {answer}");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 3);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 3, "refused sign-ups wrote nothing");

    // Another address has a ration of its own.
    let elsewhere = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let answer = batch(&elsewhere, addr, None, &[sign_in("elsewhere@example.com", "a newcomer's phrase")]).await;
    assert_eq!(answer[0]["data"]["authenticate"]["success"], true, "{answer:?}");
    // An invite is not rationed: each one was handed out by an administrator.
    let body = app
        .gql_as(
            &admin,
            "mutation($i: CreateInviteInput!) { createInvite(input: $i) { token } }",
            json!({ "i": { "email": "invited@example.com" } }),
        )
        .await;
    let invite = body["data"]["createInvite"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
    let accepted = crate::helpers::accept(&app, &invite, json!({ "password": "the invitee's phrase" })).await;
    assert_eq!(accepted["success"], true, "{accepted}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 5);
    // Signing in is not signing up: those who got in still do; the others stay out.
    let joined: Vec<&str> =
        answers.iter().filter_map(|a| a["data"]["authenticate"]["authUser"]["entityId"].as_str()).collect();
    for email in &joined {
        assert_eq!(app.emailpass(email, "a newcomer's phrase").await["success"], true);
    }
    let refused = (0..20).map(|i| format!("new{i}@example.com")).find(|e| !joined.contains(&e.as_str())).expect("one");
    let answer = batch(&app.client, addr, None, &[sign_in(&refused, "a newcomer's phrase")]).await;
    assert_eq!(error_code(&answer[0]).as_deref(), Some("RATE_LIMITED"), "{answer:?}");
    assert_eq!(app.emailpass("boss@example.com", "admin pass phrase 1").await["success"], true);
}
both!(sign_ups_are_rationed_per_address);

/// An account made the way an operator makes one, beside the running server.
fn create_user_with_cli(app: &TestApp, email: &str, password: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authql"))
        .args(["user", "create", "--email", email, "--password", password])
        .env("AUTHQL_DATABASE_URL", &app.db_url)
        .env("AUTHQL_LOG", "warn")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn unknown_emails_answer_like_wrong_passwords_when_sign_up_is_not_open(backend: Backend) {
    for policy in ["invite", "closed"] {
        let app = TestApp::spawn_with(backend, &[("AUTHQL_SIGNUP", policy)]).await;
        create_user_with_cli(&app, "known@example.com", "the known person's phrase");
        let app = &app;
        let answer = |email: &'static str| async move {
            let resp = app.emailpass_raw(email, "somebody's guess").await;
            (resp.status(), resp.text().await.expect("body"))
        };
        let wrong = answer("known@example.com").await;
        let unknown = answer("nobody@example.com").await;
        assert_eq!(unknown, wrong, "{policy}: the answer tells nothing about the address");
        let body: Value = serde_json::from_str(&wrong.1).expect("JSON");
        assert_eq!(body["data"]["authenticate"]["error"], WRONG, "{policy}: {body}");

        // Counted like wrong passwords too: five checks for the address, then RATE_LIMITED.
        for _ in 0..4 {
            assert_eq!(answer("nobody@example.com").await, wrong, "{policy}");
        }
        let body: Value = serde_json::from_str(&answer("nobody@example.com").await.1).expect("JSON");
        assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{policy}: {body}");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1, "{policy}: nothing was created");
        assert_eq!(app.emailpass("known@example.com", "the known person's phrase").await["success"], true);
    }
}
both!(unknown_emails_answer_like_wrong_passwords_when_sign_up_is_not_open);

async fn parallel_reset_requests_mail_at_most_three(backend: Backend) {
    let (app, sink) = crate::helpers::app_with_mail(backend).await;
    app.sign_up("fay@example.com", "fay's first phrase").await;
    let request = json!({ "query": REQUEST_RESET, "variables": { "p": "emailpass", "e": "fay@example.com" } });
    let addr = app.addr.as_str();
    let answers = at_once(&app.client, &[addr; 2], None, &vec![request; 10]).await;
    for answer in &answers {
        assert_eq!(answer["data"]["requestPasswordReset"], true, "always true: {answer}");
    }
    sink.wait_for(3).await;
    sink.assert_total(3).await;
}
both!(parallel_reset_requests_mail_at_most_three);

async fn reset_requests_are_rationed_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let emails: Vec<String> = (0..24).map(|i| format!("forgetful{i}@example.com")).collect();
    for email in &emails {
        app.sign_up(email, "a forgettable phrase").await;
    }
    let requests: Vec<Value> =
        emails.iter().map(|e| json!({ "query": REQUEST_RESET, "variables": { "p": "emailpass", "e": e } })).collect();
    let addr = app.addr.as_str();
    let answers = futures_util::future::join_all(requests.chunks(8).map(|c| batch(&app.client, addr, None, c))).await;
    assert!(answers.concat().iter().all(|a| a["data"]["requestPasswordReset"] == true), "always true: {answers:?}");
    let links = "SELECT COUNT(*) AS n FROM one_time_tokens WHERE purpose = 'password_reset'";
    assert_eq!(app.count(links).await, 20, "twenty requests from one address per window, whoever they name");

    // Another address is not held to this one's count.
    let unsent = app
        .state
        .db
        .read(|conn| {
            use authql::db::schema::{one_time_tokens, users};
            use diesel::prelude::*;
            let mailed = one_time_tokens::table.select(one_time_tokens::user_id);
            Ok(users::table.filter(users::id.ne_all(mailed)).select(users::email).load::<String>(conn)?)
        })
        .await
        .expect("read");
    assert_eq!(unsent.len(), 4, "{unsent:?}");
    let request = json!({ "query": REQUEST_RESET, "variables": { "p": "emailpass", "e": unsent[0] } });
    let answer = batch(&client_from(Ipv4Addr::new(127, 0, 0, 2)), addr, None, &[request]).await;
    assert_eq!(answer[0]["data"]["requestPasswordReset"], true, "{answer:?}");
    assert_eq!(app.count(links).await, 21);
}
both!(reset_requests_are_rationed_per_address);

/// A right password gives its attempt back in the transaction that signs in (or, with a
/// second factor on, issues the ticket): many at once from one address leave none of their
/// attempts counted, the account's earlier failure is forgiven, and the address's is not.
async fn parallel_right_passwords_give_their_attempts_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "4")]).await;
    let (email, phrase) = ("rightful@example.com", "the rightful owner's phrase");
    let (token, _) = app.sign_up(email, phrase).await;
    let addr = app.addr.as_str();
    let counted = |scope: &str| format!("SELECT COUNT(*) AS n FROM auth_attempts WHERE scope = '{scope}'");
    let second_factor = |a: &Value| a["data"]["authenticate"]["error"] == crate::mfa::REQUIRED;
    let signed_in = |a: &Value| a["data"]["authenticate"]["success"] == true;

    for (round, passed) in [(0, &signed_in as &dyn Fn(&Value) -> bool), (1, &second_factor)] {
        if round == 1 {
            crate::mfa::enable_totp(&app, &token).await;
        }
        let guess = batch(&app.client, addr, None, &[sign_in(email, "a wrong guess here")]).await;
        assert!(wrong_password(&guess[0]), "{guess:?}");
        assert_eq!((app.count(&counted("account")).await, app.count(&counted("ip")).await), (1, round + 1));

        let answers = at_once(&app.client, &[addr; 2], None, &vec![sign_in(email, phrase); 10]).await;
        let (seen, limited) = tally(&answers, passed);
        assert!(seen >= 1 && seen + limited == 20, "round {round}: {seen} checked, {limited} limited");
        assert_eq!(app.count(&counted("account")).await, 0, "round {round}: the guess forgiven, successes given back");
        assert_eq!(app.count(&counted("ip")).await, round + 1, "round {round}: only the guesses stay counted");
    }
}
both!(parallel_right_passwords_give_their_attempts_back);
