//! ID tokens a real provider cannot be made to send, from an issuer inside the test.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::support::*;
use crate::both;
use crate::fake_issuer::{FakeIssuer, Key};
use crate::helpers::{Backend, TestApp};

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
