//! Adding, listing and removing passkeys: what the options ask of the authenticator, whose
//! registration a credential can finish, and whose passkeys a caller can reach.

use serde_json::{Value, json};

use super::authenticator::{Authenticator, UP, b64};
use super::{BEGIN, DELETE, FINISH, LIST, ORIGIN, PASSWORD, RP_ID, begin, call, member_with_passkey, register};
use crate::both;
use crate::helpers::{Backend, TestApp, error_code};

/// finishPasskeyRegistration as `token`; the whole answer.
async fn finish_as(app: &TestApp, token: &str, credential: &Value, name: Option<&str>) -> Value {
    call(app, Some(token), None, FINISH, json!({ "credential": credential, "name": name })).await.0
}

fn assert_error(body: &Value, code: &str, message_part: &str) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(message_part), "expected {message_part:?}: {body}");
}

both!(options_ask_for_a_verified_discoverable_credential_and_leave_out_known_ones);
async fn options_ask_for_a_verified_discoverable_credential_and_leave_out_known_ones(backend: Backend) {
    let app = super::app(backend).await;
    let (token, user_id) = app.sign_up("ada@example.com", PASSWORD).await;
    let options = begin(&app, &token).await;
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID, "{options}");
    let selection = &pk["authenticatorSelection"];
    assert_eq!((&selection["residentKey"], &selection["requireResidentKey"]), (&json!("required"), &json!(true)));
    assert_eq!(selection["userVerification"], "required", "{options}");
    let handle = uuid::Uuid::parse_str(&user_id).expect("UUID");
    assert_eq!(pk["user"]["id"], b64(handle.as_bytes()), "the handle is the account id, no PII");
    assert!(pk["challenge"].as_str().is_some_and(|c| c.len() >= 43), "{options}");

    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let credential = auth.create(&options);
    let passkey = finish_as(&app, &token, &credential, Some("  Laptop  ")).await;
    let passkey = &passkey["data"]["finishPasskeyRegistration"];
    assert_eq!((&passkey["name"], &passkey["lastUsedAt"]), (&json!("Laptop"), &Value::Null), "{passkey}");
    let (list, _) = call(&app, Some(&token), None, LIST, json!({})).await;
    assert_eq!(list["data"]["passkeys"], json!([passkey]));

    let again = begin(&app, &token).await;
    let excluded: Vec<&Value> = again["publicKey"]["excludeCredentials"]
        .as_array()
        .map(|a| a.iter().map(|c| &c["id"]).collect())
        .unwrap_or_default();
    assert_eq!(excluded, vec![&json!(b64(&auth.credential_id))], "{again}");
}

both!(a_registration_is_finished_once_and_only_by_its_session);
async fn a_registration_is_finished_once_and_only_by_its_session(backend: Backend) {
    let app = super::app(backend).await;
    let (first, _) = app.sign_up("ada@example.com", PASSWORD).await;
    let (second, _) = app.sign_up("ada@example.com", PASSWORD).await;
    let mut auth = Authenticator::new(RP_ID, ORIGIN);
    let credential = auth.create(&begin(&app, &first).await);

    let (anonymous, _) = call(&app, None, None, FINISH, json!({ "credential": credential })).await;
    assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"), "{anonymous}");
    let elsewhere = finish_as(&app, &second, &credential, None).await;
    assert_error(&elsewhere, "BAD_USER_INPUT", "No passkey registration is in progress for this session");

    let own = finish_as(&app, &first, &credential, None).await;
    assert!(own["data"]["finishPasskeyRegistration"]["id"].is_string(), "{own}");
    let twice = finish_as(&app, &first, &credential, None).await;
    assert_error(&twice, "BAD_USER_INPUT", "No passkey registration is in progress");

    let mut late = Authenticator::new(RP_ID, ORIGIN);
    let credential = late.create(&begin(&app, &first).await);
    super::expire_challenges(&app).await;
    assert_error(&finish_as(&app, &first, &credential, None).await, "BAD_USER_INPUT", "expired");
}

both!(another_users_passkeys_are_out_of_reach);
async fn another_users_passkeys_are_out_of_reach(backend: Backend) {
    let app = super::app(backend).await;
    let (admin, _) = app.admin("root@example.com").await;
    let (ada_token, ada, ada_key, ada_passkey) = member_with_passkey(&app, "ada@example.com").await;
    let (bob_token, bob) = app.sign_up("bob@example.com", PASSWORD).await;

    let (list, _) = call(&app, Some(&bob_token), None, LIST, json!({})).await;
    assert_eq!(list["data"]["passkeys"], json!([]), "{list}");
    let (theirs, _) = call(&app, Some(&bob_token), None, DELETE, json!({ "id": ada_passkey })).await;
    let (unknown, _) =
        call(&app, Some(&bob_token), None, DELETE, json!({ "id": uuid::Uuid::new_v4().to_string() })).await;
    assert_error(&theirs, "NOT_FOUND", "Passkey not found");
    assert_eq!(theirs["errors"][0]["message"], unknown["errors"][0]["message"], "no tell between theirs and none");
    assert_eq!(error_code(&theirs), error_code(&unknown));

    let of_user = "query($id: ID!) { user(id: $id) { id passkeys { id name } } }";
    let (peek, _) = call(&app, Some(&bob_token), None, of_user, json!({ "id": ada })).await;
    assert_eq!(error_code(&peek).as_deref(), Some("FORBIDDEN"), "{peek}");
    let (own, _) = call(&app, Some(&bob_token), None, "{ me { passkeys { id } } }", json!({})).await;
    assert_eq!(own["data"]["me"]["passkeys"], json!([]), "{own}");
    let (seen, _) = call(&app, Some(&admin), None, of_user, json!({ "id": ada })).await;
    assert_eq!(seen["data"]["user"]["passkeys"], json!([{ "id": ada_passkey, "name": "Laptop" }]), "{seen}");
    let (still, _) = call(&app, Some(&ada_token), None, LIST, json!({})).await;
    assert_eq!(still["data"]["passkeys"][0]["id"], ada_passkey.as_str(), "bob's delete removed nothing");

    // Ada's authenticator cannot be registered again, by Bob or anyone: a passkey never
    // links to another account.
    let mut replayed = ada_key.clone();
    let credential = replayed.create(&begin(&app, &bob_token).await);
    let taken = finish_as(&app, &bob_token, &credential, None).await;
    assert_error(&taken, "CONFLICT", "already registered");
    assert_ne!(ada, bob);
}

both!(a_bad_answer_to_the_creation_options_is_refused);
async fn a_bad_answer_to_the_creation_options_is_refused(backend: Backend) {
    let app = super::app(backend).await;
    let (token, _) = app.sign_up("ada@example.com", PASSWORD).await;

    let mut phished = Authenticator::new(RP_ID, "https://evil.test");
    let credential = phished.create(&begin(&app, &token).await);
    assert_error(&finish_as(&app, &token, &credential, None).await, "BAD_USER_INPUT", "another site");

    let mut unverified = Authenticator::new(RP_ID, ORIGIN);
    unverified.flags = UP;
    let credential = unverified.create(&begin(&app, &token).await);
    assert_error(&finish_as(&app, &token, &credential, None).await, "BAD_USER_INPUT", "verify the user");

    begin(&app, &token).await;
    assert_error(&finish_as(&app, &token, &json!([1, 2]), None).await, "BAD_USER_INPUT", "PublicKeyCredential");
    let mut fine = Authenticator::new(RP_ID, ORIGIN);
    let credential = fine.create(&begin(&app, &token).await);
    let long = "n".repeat(65);
    assert_error(&finish_as(&app, &token, &credential, Some(&long)).await, "BAD_USER_INPUT", "64 characters");

    let (list, _) = call(&app, Some(&token), None, LIST, json!({})).await;
    assert_eq!(list["data"]["passkeys"], json!([]), "nothing half-written: {list}");
}

both!(passkeys_are_off_when_the_app_has_no_domain_name);
async fn passkeys_are_off_when_the_app_has_no_domain_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, _) = app.sign_up("ada@example.com", PASSWORD).await;
    let (body, _) = call(&app, Some(&token), None, BEGIN, json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", "Passkeys are off");
    let (providers, _) = call(&app, None, None, "{ authProviders }", json!({})).await;
    let names = providers["data"]["authProviders"].as_array().expect("names").clone();
    assert!(!names.contains(&json!("passkey")), "{providers}");
}

both!(a_parent_domain_can_be_the_relying_party);
async fn a_parent_domain_can_be_the_relying_party(backend: Backend) {
    let origin = "https://auth.app.example";
    let app = TestApp::spawn_with(backend, &[("AUTHQL_APP_URL", origin), ("AUTHQL_WEBAUTHN_RP_ID", RP_ID)]).await;
    let (token, user_id) = app.sign_up("ada@example.com", PASSWORD).await;
    let options = begin(&app, &token).await;
    assert_eq!(options["publicKey"]["rp"]["id"], RP_ID, "{options}");
    let mut auth = Authenticator::new(RP_ID, origin);
    register(&app, &token, &mut auth, None).await;
    let r = super::sign_in(&app, &mut auth).await;
    assert_eq!(r["user"]["id"], user_id.as_str(), "{r}");
}
