//! Signing in with a passkey: the whole ceremony, then every way an assertion must not pass.

use serde_json::{Value, json};

use super::authenticator::{Authenticator, UP, UV};
use super::{
    ORIGIN, PASSWORD, RP_ID, UNKNOWN_STATE, assert_refused, call, finish, member_with_passkey, sign_in, start,
};
use crate::both;
use crate::helpers::{Backend, TestApp, error_code};
use crate::mfa;

both!(signs_in_the_owner_with_its_own_identity);
async fn signs_in_the_owner_with_its_own_identity(backend: Backend) {
    let app = super::app(backend).await;
    let (_, user_id, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;

    let (options, _) = start(&app).await;
    let pk = &options["publicKey"];
    assert_eq!(pk["rpId"], RP_ID, "{options}");
    assert_eq!(pk["userVerification"], "required", "{options}");
    assert!(pk["allowCredentials"].as_array().is_none_or(Vec::is_empty), "discoverable: no ids offered: {options}");

    let r = sign_in(&app, &mut auth).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["id"], user_id.as_str());
    assert_eq!(r["authUser"]["provider"], "passkey");
    assert_eq!(r["authUser"]["entityId"], super::authenticator::b64(&auth.credential_id));
    let token = r["session"]["token"].as_str().expect("a session");
    let (me, _) = call(&app, Some(token), None, "{ me { id passkeys { lastUsedAt } } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], user_id.as_str(), "{me}");
    assert!(me["data"]["me"]["passkeys"][0]["lastUsedAt"].is_string(), "the use is recorded: {me}");
}

both!(an_assertion_is_accepted_once);
async fn an_assertion_is_accepted_once(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    let (options, cookie) = start(&app).await;
    let credential = auth.get(&options);
    let first = finish(&app, Some(&cookie), &credential).await;
    assert_eq!(first["data"]["validateCallback"]["success"], true, "{first}");

    let replayed = finish(&app, Some(&cookie), &credential).await;
    assert_refused(&replayed["data"]["validateCallback"], UNKNOWN_STATE);
}

both!(a_cloned_authenticator_is_refused);
async fn a_cloned_authenticator_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    // A copy of the key taken before the owner's next use: its counter lags behind.
    let mut clone = auth.clone();
    assert_eq!(sign_in(&app, &mut auth).await["success"], true);
    let r = sign_in(&app, &mut clone).await;
    assert_refused(&r, "cloned");
    // The genuine authenticator goes on.
    assert_eq!(sign_in(&app, &mut auth).await["success"], true);
}

both!(an_assertion_made_for_another_site_is_refused);
async fn an_assertion_made_for_another_site_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;

    // A phishing page relays the challenge: the browser writes its own origin.
    auth.origin = "https://app.example.evil.test".into();
    assert_refused(&sign_in(&app, &mut auth).await, "origin");

    // The authenticator signs for another relying party id.
    auth.origin = ORIGIN.into();
    auth.rp_id = "evil.test".into();
    assert_refused(&sign_in(&app, &mut auth).await, "relying party id");

    auth.rp_id = RP_ID.into();
    assert_eq!(sign_in(&app, &mut auth).await["success"], true);
}

both!(a_user_not_verified_is_refused);
async fn a_user_not_verified_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    // Presence alone (a touch, no PIN or biometric) is one factor, not two.
    auth.flags = UP;
    assert_refused(&sign_in(&app, &mut auth).await, "verify the user");
    auth.flags |= UV;
    assert_eq!(sign_in(&app, &mut auth).await["success"], true, "verified, the same authenticator passes");
}

both!(only_the_browser_that_started_can_finish_and_others_spend_nothing);
async fn only_the_browser_that_started_can_finish_and_others_spend_nothing(backend: Backend) {
    let app = super::app(backend).await;
    let (_, user_id, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    let (options, cookie) = start(&app).await;
    let (_, other_cookie) = start(&app).await;
    assert_ne!(cookie, other_cookie);
    let credential = auth.get(&options);

    let without = finish(&app, None, &credential).await;
    assert_refused(&without["data"]["validateCallback"], UNKNOWN_STATE);
    let foreign = finish(&app, Some(&other_cookie), &credential).await;
    assert_refused(&foreign["data"]["validateCallback"], UNKNOWN_STATE);

    // Nothing was spent: the browser that started it still finishes it.
    let own = finish(&app, Some(&cookie), &credential).await;
    assert_eq!(own["data"]["validateCallback"]["success"], true, "{own}");
    assert_eq!(own["data"]["validateCallback"]["user"]["id"], user_id.as_str());
}

both!(a_passkey_skips_the_second_factor_that_a_password_needs);
async fn a_passkey_skips_the_second_factor_that_a_password_needs(backend: Backend) {
    let app = super::app(backend).await;
    let (token, user_id, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    mfa::enable_totp(&app, &token).await;
    let by_password = app.emailpass("ada@example.com", PASSWORD).await;
    assert_eq!(by_password["error"], mfa::REQUIRED, "{by_password}");

    let r = sign_in(&app, &mut auth).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["mfaTicket"], Value::Null);
    assert_eq!(r["user"]["id"], user_id.as_str());
    assert!(r["session"]["token"].is_string());
}

both!(a_removed_passkey_or_a_deleted_user_signs_in_no_more);
async fn a_removed_passkey_or_a_deleted_user_signs_in_no_more(backend: Backend) {
    let app = super::app(backend).await;
    let (admin, _) = app.admin("root@example.com").await;
    let (token, user_id, mut auth, passkey_id) = member_with_passkey(&app, "ada@example.com").await;
    let (_, bob, mut other, _) = member_with_passkey(&app, "bob@example.com").await;

    let by_passkey = sign_in(&app, &mut auth).await["session"]["token"].as_str().expect("a session").to_string();
    let (removed, _) = call(&app, Some(&token), None, super::DELETE, json!({ "id": passkey_id })).await;
    assert_eq!(removed["data"]["deletePasskey"], true, "{removed}");
    assert_refused(&sign_in(&app, &mut auth).await, "not registered");
    let (ended, _) = call(&app, Some(&by_passkey), None, "{ me { id } }", json!({})).await;
    assert_eq!(ended["data"]["me"], Value::Null, "the session it made ended with it: {ended}");

    let deleted = app.gql_as(&admin, "mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": bob })).await;
    assert_eq!(deleted["data"]["deleteUser"], true, "{deleted}");
    let left = app.count(&format!("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = '{bob}'")).await;
    assert_eq!(left, 0, "the user's passkeys went too");
    assert_refused(&sign_in(&app, &mut other).await, "not registered");
    assert_ne!(bob, user_id);
    // The owner's password session outlives the removed passkey: only sessions signed in
    // with the passkey end with it.
    let (me, _) = call(&app, Some(&token), None, "{ me { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], user_id.as_str(), "{me}");
}

both!(a_malformed_credential_gets_a_clear_error);
async fn a_malformed_credential_gets_a_clear_error(backend: Backend) {
    let app = super::app(backend).await;
    let (options, cookie) = start(&app).await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let mut not_json_client_data = auth.get(&options);
    not_json_client_data["response"]["clientDataJSON"] = json!(super::authenticator::b64(b"not json"));
    for (credential, says) in [
        (json!("garbage"), "PublicKeyCredential"),
        (json!({ "id": 1 }), "PublicKeyCredential"),
        (not_json_client_data, "clientDataJSON"),
    ] {
        let body = finish(&app, Some(&cookie), &credential).await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains(says), "{body}");
    }
    let (body, _) = call(&app, None, Some(&cookie), super::VALIDATE, json!({ "input": {} })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
}

both!(open_passkey_sign_ins_count_against_the_address);
async fn open_passkey_sign_ins_count_against_the_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_APP_URL", ORIGIN), ("AUTHQL_FLOW_MAX_PER_ADDRESS", "2")]).await;
    start(&app).await;
    start(&app).await;
    let (body, cookie) = call(&app, None, None, super::START, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    assert_eq!(cookie, None);
}

both!(a_challenge_older_than_five_minutes_is_refused);
async fn a_challenge_older_than_five_minutes_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    let (options, cookie) = start(&app).await;
    super::expire_challenges(&app).await;
    let late = finish(&app, Some(&cookie), &auth.get(&options)).await;
    assert_refused(&late["data"]["validateCallback"], "expired");
    assert_eq!(sign_in(&app, &mut auth).await["success"], true, "a fresh challenge works");
}

both!(an_assertion_naming_another_user_is_refused);
async fn an_assertion_naming_another_user_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (_, _, mut auth, _) = member_with_passkey(&app, "ada@example.com").await;
    let (_, bob) = app.sign_up("bob@example.com", PASSWORD).await;
    let own_handle = auth.user_handle.clone();
    // The signature is good, but the user handle the authenticator reports is Bob's.
    auth.user_handle = uuid::Uuid::parse_str(&bob).expect("UUID").as_bytes().to_vec();
    assert_refused(&sign_in(&app, &mut auth).await, "not registered");
    auth.user_handle = own_handle;
    assert_eq!(sign_in(&app, &mut auth).await["success"], true);
}

both!(a_passkey_cannot_accept_an_invite);
async fn a_passkey_cannot_accept_an_invite(backend: Backend) {
    let app = super::app(backend).await;
    let (admin, _) = app.admin("root@example.com").await;
    let invite = app
        .gql_as(&admin, "mutation { createInvite(input: { email: \"new@example.com\" }) { token } }", json!({}))
        .await;
    let token = invite["data"]["createInvite"]["token"].as_str().expect("invite token");
    let accepted = app
        .gql(
            r#"mutation($t: String!) { acceptInvite(token: $t, provider: "passkey", input: {}) { success error options } }"#,
            json!({ "t": token }),
        )
        .await;
    let r = &accepted["data"]["acceptInvite"];
    assert_refused(r, "cannot accept an invite");
    assert_eq!(r["options"], Value::Null, "no challenge handed out: {accepted}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1, "no account made");
}
