//! Passwords and e-mail: updateProvider, the forgotten-password path over real SMTP, and
//! e-mail verification.

use authql::db::models::one_time_tokens::OneTimeTokenRow;
use serde_json::json;

use crate::both;
use crate::helpers::{
    APP_URL, Backend, MAIL_FROM as FROM, REQUEST_RESET, RESET, TestApp, UPDATE_PROVIDER as UPDATE, app_with_mail,
    error_code, request_reset, reset,
};
use crate::smtp::SmtpSink;

const ME: &str = "{ me { id email emailVerified } }";

async fn is_signed_in(app: &TestApp, token: &str) -> bool {
    !app.gql_as(token, ME, json!({})).await["data"]["me"].is_null()
}

async fn reset_tokens(app: &TestApp) -> Vec<OneTimeTokenRow> {
    app.state
        .db
        .read(|conn| {
            use authql::db::schema::one_time_tokens::dsl::*;
            use diesel::prelude::*;
            Ok(one_time_tokens.filter(purpose.eq("password_reset")).select(OneTimeTokenRow::as_select()).load(conn)?)
        })
        .await
        .expect("read tokens")
}

async fn forgotten_password_is_reset_by_mail(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    let (laptop, user_id) = app.sign_up("alice@example.com", "alice's first phrase").await;
    let (phone, _) = app.sign_up("alice@example.com", "alice's first phrase").await;

    // The address as a person might type it.
    let body = request_reset(&app, "  Alice@Example.COM ").await;
    assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    let mail = sink.wait_for_nth(1, "alice@example.com").await;
    assert_eq!(mail.from, FROM);
    assert_eq!(mail.subject, "Reset your password");
    assert!(mail.text.contains("15 minutes"), "{}", mail.text);
    let token = mail.token(APP_URL, "/reset-password");

    // Only the token's hash is kept, for this user and identity, for 15 minutes.
    let rows = reset_tokens(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token_hash, authql::domain::token::hash(&token));
    assert_eq!(rows[0].user_id, user_id);
    assert_eq!(rows[0].expires_at - rows[0].created_at, chrono::Duration::minutes(15));

    let body = reset(&app, &token, "alice's second phrase").await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    assert!(!is_signed_in(&app, &laptop).await, "every old session is dead");
    assert!(!is_signed_in(&app, &phone).await, "every old session is dead");
    let old = app.emailpass("alice@example.com", "alice's first phrase").await;
    assert_eq!(old["success"], false, "{old}");
    let (fresh, _) = app.sign_up("alice@example.com", "alice's second phrase").await;
    assert!(is_signed_in(&app, &fresh).await);

    // Single use.
    let again = reset(&app, &token, "alice's third phrase").await;
    assert_eq!(error_code(&again).as_deref(), Some("BAD_USER_INPUT"), "{again}");
    assert_eq!(again["errors"][0]["message"], "Reset link is invalid or has expired");
    assert!(is_signed_in(&app, &fresh).await, "a refused reset ends nothing");
    assert_eq!(app.emailpass("alice@example.com", "alice's second phrase").await["success"], true);
}
both!(forgotten_password_is_reset_by_mail);

async fn a_reset_token_expires(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    app.sign_up("bert@example.com", "bert's first phrase").await;
    request_reset(&app, "bert@example.com").await;
    let token = sink.wait_for_nth(1, "bert@example.com").await.token(APP_URL, "/reset-password");
    // Sixteen minutes later, as far as the row can tell.
    app.state
        .db
        .write(|conn| {
            use authql::db::schema::one_time_tokens::dsl::*;
            use diesel::prelude::*;
            let past = authql::db::now() - chrono::Duration::minutes(16);
            diesel::update(one_time_tokens)
                .set((created_at.eq(past), expires_at.eq(past + chrono::Duration::minutes(15))))
                .execute(conn)?;
            Ok(())
        })
        .await
        .expect("age the token");
    let body = reset(&app, &token, "bert's second phrase").await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["message"], "Reset link is invalid or has expired");
    assert_eq!(app.emailpass("bert@example.com", "bert's first phrase").await["success"], true);
    assert_eq!(app.emailpass("bert@example.com", "bert's second phrase").await["success"], false);
}
both!(a_reset_token_expires);

async fn the_reset_lifetime_is_configurable(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SMTP_URL", &sink.url()), ("AUTHQL_RESET_TTL", "1s")]).await;
    app.sign_up("cleo@example.com", "cleo's first phrase").await;
    request_reset(&app, "cleo@example.com").await;
    let mail = sink.wait_for_nth(1, "cleo@example.com").await;
    assert!(mail.text.contains("for 1 minute."), "{}", mail.text);
    let token = mail.token("http://127.0.0.1:8080", "/reset-password");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let body = reset(&app, &token, "cleo's second phrase").await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
}
both!(the_reset_lifetime_is_configurable);

async fn unknown_identities_get_true_and_no_mail(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    app.sign_up("dora@example.com", "dora's first phrase").await;
    let body = request_reset(&app, "nobody@example.com").await;
    assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    assert!(body.get("errors").is_none());
    // A known address afterwards: once its mail is in, the unknown one would have been too.
    assert_eq!(request_reset(&app, "dora@example.com").await["data"]["requestPasswordReset"], true);
    sink.wait_for_nth(1, "dora@example.com").await;
    sink.assert_total(1).await;
    assert_eq!(reset_tokens(&app).await.len(), 1);

    // Arguments that are wrong whoever asks are errors, as in authenticate.
    let body = app.gql(REQUEST_RESET, json!({ "p": "nope", "e": "dora@example.com" })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("emailpass"), "{body}");
    let body = app.gql(REQUEST_RESET, json!({ "p": "emailpass", "e": "not an address" })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
}
both!(unknown_identities_get_true_and_no_mail);

async fn a_refused_password_leaves_the_token_usable(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    let (session, _) = app.sign_up("emil@example.com", "emil's first phrase").await;
    request_reset(&app, "emil@example.com").await;
    let token = sink.wait_for_nth(1, "emil@example.com").await.token(APP_URL, "/reset-password");

    let body = reset(&app, &token, "password").await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["message"], "Password is too common");
    let body = app.gql(RESET, json!({ "t": token, "i": { "password": 12345678 } })).await;
    assert_eq!(body["errors"][0]["message"], "Password should be a string", "{body}");
    assert!(is_signed_in(&app, &session).await, "a refused reset ends no session");
    assert_eq!(app.emailpass("emil@example.com", "emil's first phrase").await["success"], true);

    let body = reset(&app, &token, "emil's second phrase").await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    assert_eq!(app.emailpass("emil@example.com", "emil's second phrase").await["success"], true);

    for junk in ["", "x", &"A".repeat(43), &"A".repeat(5000)] {
        let body = reset(&app, junk, "emil's third phrase").await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    }
}
both!(a_refused_password_leaves_the_token_usable);

async fn reset_mails_are_rationed_and_replace_each_other(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    app.sign_up("fay@example.com", "fay's first phrase").await;
    for _ in 0..4 {
        assert_eq!(request_reset(&app, "fay@example.com").await["data"]["requestPasswordReset"], true);
    }
    let mails = sink.wait_for(3).await;
    sink.assert_total(3).await;
    assert_eq!(reset_tokens(&app).await.len(), 1, "a new link replaces the earlier ones");
    // Only the link issued last works (mails may arrive in any order: find it by its hash).
    let stored = reset_tokens(&app).await.remove(0).token_hash;
    let (live, replaced): (Vec<String>, Vec<String>) = mails
        .iter()
        .map(|m| m.token(APP_URL, "/reset-password"))
        .partition(|t| authql::domain::token::hash(t) == stored);
    assert_eq!((live.len(), replaced.len()), (1, 2));
    for t in &replaced {
        let body = reset(&app, t, "fay's second phrase").await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    }
    assert_eq!(reset(&app, &live[0], "fay's second phrase").await["data"]["resetPassword"], true);
}
both!(reset_mails_are_rationed_and_replace_each_other);

async fn update_provider_changes_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (here, _) = app.sign_up("gus@example.com", "gus's first phrase").await;
    let (there, _) = app.sign_up("gus@example.com", "gus's first phrase").await;
    let update =
        |current: &str, new: &str| json!({ "p": "emailpass", "i": { "currentPassword": current, "password": new } });

    let body = app.gql(UPDATE, update("gus's first phrase", "gus's second phrase")).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{body}");
    let body = app.gql_as(&here, UPDATE, update("not the phrase", "gus's second phrase")).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["message"], "Current password is incorrect");
    let body = app.gql_as(&here, UPDATE, update("gus's first phrase", "qwertyuiop")).await;
    assert_eq!(body["errors"][0]["message"], "Password is too common", "{body}");
    let body = app.gql_as(&here, UPDATE, json!({ "p": "nope", "i": {} })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert!(is_signed_in(&app, &there).await, "refused changes end no session");

    let body = app.gql_as(&here, UPDATE, update("gus's first phrase", "gus's second phrase")).await;
    assert_eq!(body["data"]["updateProvider"], true, "{body}");
    assert!(is_signed_in(&app, &here).await, "the session that changed it stays");
    assert!(!is_signed_in(&app, &there).await, "every other session ends");
    assert_eq!(app.emailpass("gus@example.com", "gus's first phrase").await["success"], false);
    assert_eq!(app.emailpass("gus@example.com", "gus's second phrase").await["success"], true);
}
both!(update_provider_changes_the_password);

async fn a_password_change_kills_reset_links_in_flight(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    let (session, _) = app.sign_up("hedy@example.com", "hedy's first phrase").await;
    request_reset(&app, "hedy@example.com").await;
    let token = sink.wait_for_nth(1, "hedy@example.com").await.token(APP_URL, "/reset-password");
    let input = json!({ "p": "emailpass", "i": { "currentPassword": "hedy's first phrase", "password": "hedy's second phrase" } });
    assert_eq!(app.gql_as(&session, UPDATE, input).await["data"]["updateProvider"], true);
    let body = reset(&app, &token, "hedy's third phrase").await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
}
both!(a_password_change_kills_reset_links_in_flight);

async fn email_verification_sets_email_verified(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    let (session, _) = app.sign_up("iris@example.com", "iris's first phrase").await;
    assert_eq!(app.gql_as(&session, ME, json!({})).await["data"]["me"]["emailVerified"], false);

    let body = app.gql("mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{body}");
    let body = app.gql_as(&session, "mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(body["data"]["requestEmailVerification"], true, "{body}");
    let mail = sink.wait_for_nth(1, "iris@example.com").await;
    assert_eq!(mail.subject, "Confirm your e-mail address");
    let token = mail.token(APP_URL, "/verify-email");

    let verify = |t: &str| json!({ "t": t });
    let body = app.gql_as(&session, VERIFY, verify("junk")).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    // Well-formed, but no token at all.
    let body = app.gql_as(&session, VERIFY, verify(&"B".repeat(43))).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    // Without a session the link does nothing, and stays usable.
    let body = app.gql(VERIFY, verify(&token)).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{body}");

    let body = app.gql_as(&session, VERIFY, verify(&token)).await;
    assert_eq!(body["data"]["verifyEmail"], true, "{body}");
    assert_eq!(app.gql_as(&session, ME, json!({})).await["data"]["me"]["emailVerified"], true);
    let body = app.gql_as(&session, VERIFY, verify(&token)).await;
    assert_eq!(body["errors"][0]["message"], "Verification link is invalid or has expired", "{body}");

    // Verified already: true, and no mail. A reset mail afterwards shows the queue is empty.
    let body = app.gql_as(&session, "mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(body["data"]["requestEmailVerification"], true, "{body}");
    request_reset(&app, "iris@example.com").await;
    let next = sink.wait_for_nth(2, "iris@example.com").await;
    assert_eq!(next.subject, "Reset your password");
    sink.assert_total(2).await;
    // A reset token cannot verify an address, nor a verification token reset a password.
    let reset_token = next.token(APP_URL, "/reset-password");
    let body = app.gql_as(&session, VERIFY, verify(&reset_token)).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
}
both!(email_verification_sets_email_verified);

const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) }";

/// The pre-account-takeover chain: an attacker signs up with the victim's address and asks
/// for a verification mail; the victim (or a link scanner) opens it. Without the attacker's
/// session the link verifies nothing, so the victim's later google sign-in still finds an
/// unproven address and drops the attacker's password. Another user's session is refused
/// too, and neither refusal spends the link.
async fn a_verification_link_works_only_for_the_session_it_was_mailed_to(backend: Backend) {
    let (app, sink) = app_with_mail(backend).await;
    let (attacker, attacker_id) = app.sign_up("victim@example.com", "attacker's pass phrase").await;
    let body = app.gql_as(&attacker, "mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(body["data"]["requestEmailVerification"], true, "{body}");
    let token = sink.wait_for_nth(1, "victim@example.com").await.token(APP_URL, "/verify-email");

    // The victim clicks the link in a browser that has no session here.
    let body = app.gql(VERIFY, json!({ "t": token })).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{body}");
    // Someone signed in as another account (the victim's own, say) is refused as well.
    let (other, _) = app.sign_up("bystander@example.com", "bystander's pass phrase").await;
    let body = app.gql_as(&other, VERIFY, json!({ "t": token })).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body}");
    let me = app.gql_as(&other, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["emailVerified"], false, "{me}");
    // Still unverified, and the link was not spent by the refusals.
    let id = attacker_id.clone();
    let verified = app
        .state
        .db
        .read(move |conn| authql::db::models::users::find_live(conn, &id))
        .await
        .expect("read")
        .expect("user")
        .email_verified;
    assert!(!verified, "a refused verifyEmail must not verify anyone");
    let body = app.gql_as(&attacker, VERIFY, json!({ "t": token })).await;
    assert_eq!(body["data"]["verifyEmail"], true, "the owner's own session still may: {body}");
}
both!(a_verification_link_works_only_for_the_session_it_was_mailed_to);
