//! Secrets never reach the log: the real binary at the most verbose log level (every crate,
//! `trace`, JSON) serves sign-up, failed and successful sign-ins, a password change, a reset
//! mailed over SMTP, invites and verification, a TOTP second factor, and its whole log is
//! searched for every password, token, hash and second-factor secret it saw.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{APP_URL, AUTHENTICATE, Backend, ServerProcess, TestDb};
use crate::smtp::SmtpSink;

const AUTHENTICATE_MFA: &str = r#"mutation($provider: String!, $input: JSON!) {
  authenticate(provider: $provider, input: $input) { success error mfaTicket }
}"#;

/// A GraphQL request to the logging server, presenting `token` both ways (header logging
/// would show either).
async fn gql(server: &ServerProcess, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{}/graphql", server.addr))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        req = req.bearer_auth(token).header("cookie", format!("authql_session={token}"));
    }
    req.send().await.expect("answer").json().await.expect("JSON")
}

async fn no_password_token_or_hash_reaches_the_log(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (_db, url) = TestDb::create(backend);
    let smtp = sink.url();
    let (server, log) =
        ServerProcess::start_logged(&url, &[("AUTHQL_SMTP_URL", smtp.as_str()), ("AUTHQL_APP_URL", APP_URL)]).await;
    let sign_in = |email: &str, password: &str| json!({ "provider": "emailpass", "input": { "email": email, "password": password } });
    let (first, wrong, second, third) =
        ("first secret phrase 7Qx", "wrong guess phrase 9Zk", "second secret phrase 3Lp", "third secret phrase 5Mv");
    let mut secrets: Vec<String> = vec![first.into(), wrong.into(), second.into(), third.into()];

    let up = gql(&server, None, AUTHENTICATE, sign_in("ada@example.com", first)).await;
    let t1 = up["data"]["authenticate"]["session"]["token"].as_str().expect("token").to_string();
    let failed = gql(&server, None, AUTHENTICATE, sign_in("ada@example.com", wrong)).await;
    assert_eq!(failed["data"]["authenticate"]["success"], false, "{failed}");
    let again = gql(&server, None, AUTHENTICATE, sign_in("ada@example.com", first)).await;
    let t2 = again["data"]["authenticate"]["session"]["token"].as_str().expect("token").to_string();
    let me = gql(&server, Some(&t2), "{ me { email } sessions { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "ada@example.com", "{me}");

    let change = "mutation($i: JSON!) { updateProvider(provider: \"emailpass\", input: $i) }";
    let changed =
        gql(&server, Some(&t2), change, json!({ "i": { "currentPassword": first, "password": second } })).await;
    assert_eq!(changed["data"]["updateProvider"], true, "{changed}");

    let verify = gql(&server, Some(&t2), "mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(verify["data"]["requestEmailVerification"], true, "{verify}");
    let verify_token = sink.wait_for_nth(1, "ada@example.com").await.token(APP_URL, "/verify-email");
    let verified =
        gql(&server, Some(&t2), "mutation($t: String!) { verifyEmail(token: $t) }", json!({ "t": verify_token })).await;
    assert_eq!(verified["data"]["verifyEmail"], true, "{verified}");

    let reset_request = "mutation { requestPasswordReset(provider: \"emailpass\", entityId: \"ada@example.com\") }";
    assert_eq!(gql(&server, None, reset_request, json!({})).await["data"]["requestPasswordReset"], true);
    let reset_token = sink.wait_for_nth(2, "ada@example.com").await.token(APP_URL, "/reset-password");
    let reset = "mutation($t: String!, $i: JSON!) { resetPassword(token: $t, input: $i) }";
    let done = gql(&server, None, reset, json!({ "t": reset_token, "i": { "password": third } })).await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    let last = gql(&server, None, AUTHENTICATE, sign_in("ada@example.com", third)).await;
    let t3 = last["data"]["authenticate"]["session"]["token"].as_str().expect("token").to_string();
    // The second factor: its secret, recovery codes, ticket and the session it leads to.
    let enrolled = gql(&server, Some(&t3), crate::mfa::ENROLL, json!({})).await;
    let totp_secret = enrolled["data"]["enrollTotp"]["secret"].as_str().expect("secret").to_string();
    let mut app = crate::mfa::Authenticator::new(&totp_secret);
    let confirmed = gql(&server, Some(&t3), crate::mfa::CONFIRM, json!({ "code": app.next_code().await })).await;
    let codes: Vec<String> = serde_json::from_value(confirmed["data"]["confirmTotp"].clone()).expect("codes");
    let asked = gql(&server, None, AUTHENTICATE_MFA, sign_in("ada@example.com", third)).await;
    let ticket = asked["data"]["authenticate"]["mfaTicket"].as_str().expect("ticket").to_string();
    let vars = json!({ "ticket": ticket, "method": "recovery_code", "code": codes[0] });
    let passed = gql(&server, None, crate::mfa::VERIFY, vars).await;
    let t4 = passed["data"]["verifySecondFactor"]["session"]["token"].as_str().expect("token").to_string();
    secrets.extend([t1, t2, t3, t4, verify_token, reset_token, totp_secret, ticket]);
    secrets.extend(codes);

    // The stored hashes, read from the database, must not be in the log either.
    let db =
        authql::db::Db::connect(&authql::config::DatabaseUrl::parse(&url).expect("url"), 1, Duration::from_secs(5))
            .expect("db");
    let hashes: Vec<String> = db
        .read(|conn| {
            use authql::db::schema::{auth_users, sessions};
            use diesel::prelude::*;
            let meta: Vec<Option<String>> = auth_users::table.select(auth_users::provider_metadata).load(conn)?;
            let tokens: Vec<String> = sessions::table.select(sessions::token_hash).load(conn)?;
            Ok(meta.into_iter().flatten().chain(tokens).collect())
        })
        .await
        .expect("read");
    assert!(hashes.iter().any(|h| h.contains("$argon2id$")), "the password hash was read: {hashes:?}");
    for stored in &hashes {
        let hash = serde_json::from_str::<Value>(stored)
            .ok()
            .and_then(|v| v["password_hash"].as_str().map(str::to_string))
            .unwrap_or_else(|| stored.clone());
        secrets.push(hash);
    }

    // Let the last lines arrive, then search the whole log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = log.text();
    assert!(log.contains("sign_in"), "the audit log was captured: {:.500}", log);
    assert!(log.lines().count() > 50, "trace level logs plenty: {} lines", log.lines().count());
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret ({}...)", &secret[..8.min(secret.len())]);
    }
    assert!(!log.contains("$argon2id$"), "the log holds a password hash");
}
both!(no_password_token_or_hash_reaches_the_log);
