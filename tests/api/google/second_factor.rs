//! The second factor after a google sign-in: the check sits in the shared sign-in path, so
//! picking a redirect provider instead of the password does not skip it.

use serde_json::{Value, json};

use super::support::*;
use crate::both;
use crate::helpers::Backend;
use crate::mfa::{REQUIRED, VERIFY, enable_totp};
use crate::peers::OidcProvider;

async fn google_sign_in_asks_for_the_second_factor_too(backend: Backend) {
    let idp = OidcProvider::start().await;
    idp.set_user("alice", json!({ "email": "alice@example.com", "email_verified": true })).await;
    let app = spawn(backend, &idp.issuer).await;
    let first = sign_in(&app, &idp, "alice").await;
    assert_eq!(first["success"], true, "{first}");
    let token = first["session"]["token"].as_str().expect("token");
    let (mut authenticator, _) = enable_totp(&app, token).await;

    // Google says who she is, in a browser of her own; that is one factor, so no session yet.
    let fresh = browser();
    let sessions_before = app.count("SELECT COUNT(*) AS n FROM sessions").await;
    let to = location_in(&app, &fresh, json!({})).await;
    let back = idp.authorize(&to, "alice").await;
    let body = gql_in(
        &app,
        &fresh,
        r#"mutation($input: JSON!) {
          validateCallback(provider: "google", input: $input) { success error mfaTicket mfaMethods session { token } }
        }"#,
        json!({ "input": returned(&back) }),
    )
    .await;
    let r = &body["data"]["validateCallback"];
    assert_eq!((&r["success"], &r["error"]), (&json!(false), &json!(REQUIRED)), "{body}");
    assert_eq!(r["session"], Value::Null);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, sessions_before);
    let me = gql_in(&app, &fresh, ME, json!({})).await;
    assert_eq!(me["data"]["me"], Value::Null, "the browser holds no session: {me}");

    // The code completes it, as the google identity, and the browser gets its cookie.
    let ticket = r["mfaTicket"].as_str().expect("ticket");
    let code = authenticator.next_code().await;
    let body = gql_in(&app, &fresh, VERIFY, json!({ "ticket": ticket, "method": "totp", "code": code })).await;
    let done = &body["data"]["verifySecondFactor"];
    assert_eq!(done["success"], true, "{body}");
    assert_eq!(done["authUser"]["provider"], "google");
    assert_eq!(done["user"]["id"], first["user"]["id"]);
    let me = gql_in(&app, &fresh, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["id"], first["user"]["id"], "{me}");
}
both!(google_sign_in_asks_for_the_second_factor_too);
