//! Invites: create, validate, refresh, delete, accept; the sign-up policy around them.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, accept, error_code};

const CREATE: &str = r#"mutation($input: CreateInviteInput!) {
  createInvite(input: $input) { id email role accepted expiresAt token metadata createdAt }
}"#;

async fn create(app: &TestApp, admin: &str, input: Value) -> Value {
    app.gql_as(admin, CREATE, json!({ "input": input })).await
}

async fn admin_invites_a_colleague_who_becomes_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let body =
        create(&app, &admin, json!({ "email": "Wendy@Example.com", "role": "ADMIN", "metadata": { "team": "ops" } }))
            .await;
    let invite = &body["data"]["createInvite"];
    assert_eq!(invite["email"], "wendy@example.com");
    assert_eq!(invite["role"], "ADMIN");
    assert_eq!(invite["accepted"], false);
    let token = invite["token"].as_str().expect("token").to_string();

    // Public validation shows the invite, never the token.
    let seen = app.gql("query($t: String!) { invite(token: $t) { email role token } }", json!({ "t": token })).await;
    assert_eq!(seen["data"]["invite"], json!({ "email": "wendy@example.com", "role": "ADMIN", "token": null }));

    let r = accept(&app, &token, json!({ "email": "WENDY@example.com", "password": "wendy's pass phrase" })).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["email"], "wendy@example.com");
    assert_eq!(r["user"]["role"], "ADMIN");
    assert_eq!(r["user"]["emailVerified"], true);
    let wendy = r["session"]["token"].as_str().unwrap().to_string();
    let list = app.gql_as(&wendy, "{ users { totalCount } }", json!({})).await;
    assert_eq!(list["data"]["users"]["totalCount"], 2);
    let me = app.gql_as(&wendy, "{ me { metadata } }", json!({})).await;
    assert_eq!(me["data"]["me"]["metadata"], json!({ "team": "ops" }));

    // Single use; and the invite shows as accepted.
    let again = accept(&app, &token, json!({ "password": "wendy's pass phrase" })).await;
    assert_eq!(again["error"], "Invite is invalid or has expired");
    let seen = app.gql("query($t: String!) { invite(token: $t) { email } }", json!({ "t": token })).await;
    assert_eq!(seen["data"]["invite"], Value::Null);
    let list =
        app.gql_as(&admin, "{ invites(accepted: true) { totalCount nodes { accepted token } } }", json!({})).await;
    assert_eq!(list["data"]["invites"]["totalCount"], 1);
    assert_eq!(list["data"]["invites"]["nodes"][0], json!({ "accepted": true, "token": null }));
    // The invitee signs in like anyone else afterwards.
    assert_eq!(app.emailpass("wendy@example.com", "wendy's pass phrase").await["success"], true);
}
both!(admin_invites_a_colleague_who_becomes_admin);

async fn invite_conflicts_and_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    app.sign_up("xena@example.com", "xena's pass phrase").await;
    let body = create(&app, &admin, json!({ "email": "XENA@example.com" })).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
    let body = create(&app, &admin, json!({ "email": "yuri@example.com" })).await;
    assert_eq!(body["data"]["createInvite"]["role"], "MEMBER", "MEMBER by default");
    let body = create(&app, &admin, json!({ "email": "yuri@example.com" })).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "one open invite per address: {body}");
    let body = create(&app, &admin, json!({ "email": "not an address" })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invites").await, 1);
}
both!(invite_conflicts_and_bad_input);

async fn refreshed_deleted_and_mismatched_invites_fail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let body = create(&app, &admin, json!({ "email": "zoe@example.com" })).await;
    let id = body["data"]["createInvite"]["id"].clone();
    let old = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    let body = app
        .gql_as(&admin, "mutation($id: ID!) { refreshInviteToken(id: $id) { token expiresAt } }", json!({ "id": id }))
        .await;
    let new = body["data"]["refreshInviteToken"]["token"].as_str().expect("new token").to_string();
    assert_ne!(new, old);
    assert_eq!(
        accept(&app, &old, json!({ "password": "zoe's pass phrase" })).await["error"],
        "Invite is invalid or has expired"
    );
    let r = accept(&app, &new, json!({ "email": "someone.else@example.com", "password": "zoe's pass phrase" })).await;
    assert_eq!(r["success"], false);
    assert_eq!(r["error"], "Email does not match the invite");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1, "nothing was created");
    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteInvite(id: $id) }", json!({ "id": id })).await;
    assert_eq!(body["data"]["deleteInvite"], true);
    assert_eq!(
        accept(&app, &new, json!({ "password": "zoe's pass phrase" })).await["error"],
        "Invite is invalid or has expired"
    );
    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteInvite(id: $id) }", json!({ "id": id })).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
    assert_eq!(accept(&app, "garbage", json!({})).await["error"], "Invite is invalid or has expired");
}
both!(refreshed_deleted_and_mismatched_invites_fail);

async fn invites_expire(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_INVITE_TTL", "1s")]).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let body = create(&app, &admin, json!({ "email": "amy@example.com" })).await;
    let token = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        accept(&app, &token, json!({ "password": "amy's pass phrase" })).await["error"],
        "Invite is invalid or has expired"
    );
    // An expired invite does not block a new one for the same address.
    let body = create(&app, &admin, json!({ "email": "amy@example.com" })).await;
    assert!(body["data"]["createInvite"]["token"].is_string(), "{body}");
}
both!(invites_expire);

async fn invite_policy_lets_only_invitees_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SIGNUP", "invite")]).await;
    // The first admin comes in the way an operator would make them.
    let (admin, _) = bootstrap_admin(&app).await;
    let stranger = app.emailpass("stranger@example.com", "stranger's phrase").await;
    // Not "invitation only": that would tell the stranger the address has no account.
    assert_eq!(stranger["error"], "Invalid email or password");
    let body = create(&app, &admin, json!({ "email": "ben@example.com" })).await;
    let token = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    let r = accept(&app, &token, json!({ "password": "ben's pass phrase" })).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["role"], "MEMBER");
    // Common passwords are refused here too, and the invite survives the refusal.
    let body = create(&app, &admin, json!({ "email": "cat@example.com" })).await;
    let token = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    assert_eq!(accept(&app, &token, json!({ "password": "password123" })).await["error"], "Password is too common");
    assert_eq!(accept(&app, &token, json!({ "password": "cat's pass phrase" })).await["success"], true);
}
both!(invite_policy_lets_only_invitees_in);

/// Under invite-only sign-up the first admin is made directly in the database, as
/// `authql user create --role admin` does.
async fn bootstrap_admin(app: &TestApp) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authql"))
        .args(["user", "create", "--email", "root@example.com", "--password", "root pass phrase", "--role", "admin"])
        .env("AUTHQL_DATABASE_URL", &app.db_url)
        .env("AUTHQL_LOG", "warn")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    app.sign_up("root@example.com", "root pass phrase").await
}

async fn concurrent_accepts_of_one_invite_make_one_user(backend: Backend) {
    // The seven that lose check their password against the winner's: with the default five
    // checks per account, two would be RATE_LIMITED. This test is about creation.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_ACCOUNT_MAX", "1000")]).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let body = create(&app, &admin, json!({ "email": "dan@example.com" })).await;
    let token = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    let results = futures_util::future::join_all(
        (0..8).map(|i| accept(&app, &token, json!({ "password": format!("dan's pass phrase {i}") }))),
    )
    .await;
    let ok = results.iter().filter(|r| r["success"] == true).count();
    assert_eq!(ok, 1, "{results:?}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'dan@example.com'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users WHERE entity_id = 'dan@example.com'").await, 1);
}
both!(concurrent_accepts_of_one_invite_make_one_user);

async fn closed_policy_refuses_even_invites(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SIGNUP", "closed")]).await;
    let (admin, _) = bootstrap_admin(&app).await;
    let body = create(&app, &admin, json!({ "email": "eve@example.com" })).await;
    let token = body["data"]["createInvite"]["token"].as_str().unwrap().to_string();
    assert_eq!(accept(&app, &token, json!({ "password": "eve's pass phrase" })).await["error"], "Sign-up is closed");
}
both!(closed_policy_refuses_even_invites);

async fn invite_mail_carries_a_working_link_and_refresh_mails_a_new_one(backend: Backend) {
    let (app, sink) = crate::helpers::app_with_mail(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let body = create(&app, &admin, json!({ "email": "fern@example.com", "role": "ADMIN" })).await;
    let id = body["data"]["createInvite"]["id"].clone();
    let mail = sink.wait_for_nth(1, "fern@example.com").await;
    let first = mail.token(crate::helpers::APP_URL, "/invite");
    assert_eq!(first, body["data"]["createInvite"]["token"].as_str().unwrap(), "the mailed link is the invite's token");

    app.gql_as(&admin, "mutation($id: ID!) { refreshInviteToken(id: $id) { id } }", json!({ "id": id })).await;
    let second = sink.wait_for_nth(2, "fern@example.com").await.token(crate::helpers::APP_URL, "/invite");
    assert_ne!(first, second);
    assert_eq!(
        accept(&app, &first, json!({ "password": "fern's pass phrase" })).await["error"],
        "Invite is invalid or has expired"
    );
    let r = accept(&app, &second, json!({ "password": "fern's pass phrase" })).await;
    assert_eq!((r["success"].clone(), r["user"]["role"].clone()), (json!(true), json!("ADMIN")), "{r}");
}
both!(invite_mail_carries_a_working_link_and_refresh_mails_a_new_one);
