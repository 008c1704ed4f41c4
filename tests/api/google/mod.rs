//! google: the whole OpenID Connect flow against a real provider process
//! (oidc-provider-mock), linking and takeover rules, states, failures of the provider; and
//! ID tokens a real provider cannot be made to send, from an issuer inside the test. Every
//! client here is a browser with a cookie jar of its own: a flow belongs to the one that
//! started it (API 6.1).

mod binding;
mod id_tokens;
mod second_factor;
mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both;
use crate::helpers::Backend;
use crate::peers::OidcProvider;
use support::*;

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
    expire_flows(&app).await;
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
