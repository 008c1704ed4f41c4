//! Named OpenID Connect providers (`AUTHQL_OIDC_PROVIDERS`): the whole flow against a second,
//! independent certified provider (panva's oidc-provider on Node, tests/peers/oidc) set up
//! the way real issuers run — e-mail only at UserInfo, an issuer ending in `/`, EdDSA or
//! ES256 keys, `client_secret_post` only — and, from the issuer inside the test, the answers
//! a real provider cannot be made to give (broken documents, 500s, a UserInfo for someone
//! else).

use serde_json::{Value, json};

use crate::both;
use crate::fake_issuer::{FakeIssuer, Key};
use crate::helpers::{Backend, TestApp};
use crate::mfa::{REQUIRED, VERIFY, enable_totp};
use crate::peers::{NodeAlg, NodeOidcProvider};
use crate::redirects::{
    ME, UNKNOWN_STATE, assert_failed, browser, callback_in, gql_in, location_in, query, returned, spawn,
};

const CLIENT_ID: &str = "authql-acme";
const CLIENT_SECRET: &str = "acme-secret";
const CALLBACK: &str = "http://127.0.0.1:9/acme/cb";
const UNAVAILABLE: &str = "Acme sign-in is unavailable right now; try again later";
const REFUSED: &str = "Acme refused the sign-in code; start again";
const PROFILE: &str = "Could not read your profile from Acme; start again";

fn env(issuer: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AUTHQL_OIDC_PROVIDERS", "acme".to_string()),
        ("AUTHQL_OIDC_ACME_ISSUER", issuer.to_string()),
        ("AUTHQL_OIDC_ACME_CLIENT_ID", CLIENT_ID.to_string()),
        ("AUTHQL_OIDC_ACME_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("AUTHQL_OIDC_ACME_CALLBACK_URL", CALLBACK.to_string()),
    ]
}

async fn node(alg: NodeAlg) -> NodeOidcProvider {
    NodeOidcProvider::start(alg, CLIENT_ID, CLIENT_SECRET, &[CALLBACK]).await
}

/// The whole flow for `sub` at the Node provider, from `browser`.
async fn sign_in_as(app: &TestApp, browser: &reqwest::Client, idp: &NodeOidcProvider, sub: &str) -> Value {
    let to = location_in(app, browser, "acme").await;
    let back = idp.authorize(&to, sub).await;
    callback_in(app, browser, "acme", returned(&back)).await
}

async fn sign_in(app: &TestApp, idp: &NodeOidcProvider, sub: &str) -> Value {
    sign_in_as(app, &app.client, idp, sub).await
}

async fn a_certified_provider_signs_in_with_the_userinfo_address_by_sub(backend: Backend) {
    let idp = node(NodeAlg::EdDsa).await;
    // Its issuer ends in a slash, as its discovery document states it.
    assert!(idp.issuer.ends_with('/'), "{}", idp.issuer);
    idp.set_user(
        "u-1001",
        json!({ "email": "Alice@Example.com", "email_verified": true, "name": "Alice Liddell",
                "given_name": "Alice", "family_name": "Liddell" }),
    )
    .await;
    let app = spawn(backend, &env(&idp.issuer)).await;
    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["acme", "emailpass"]));

    let to = location_in(&app, &app.client, "acme").await;
    assert!(to.starts_with(&format!("{}auth?", idp.issuer)), "{to}");
    let q = query(&to);
    assert_eq!((q["client_id"].as_str(), q["redirect_uri"].as_str()), (CLIENT_ID, CALLBACK));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["nonce"].len() >= 43);
    // The ID token (EdDSA) carries no address here: it comes from UserInfo; the token
    // endpoint takes only client_secret_post, which discovery says.
    let r = callback_in(&app, &app.client, "acme", returned(&idp.authorize(&to, "u-1001").await)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["authUser"]["provider"], "acme");
    assert_eq!(r["authUser"]["entityId"], "u-1001", "the issuer's sub");
    assert_eq!(r["user"]["email"], "alice@example.com");
    assert_eq!(r["user"]["emailVerified"], true);
    assert_eq!((&r["user"]["firstName"], &r["user"]["lastName"]), (&json!("Alice"), &json!("Liddell")));
    assert_eq!(r["authUser"]["userMetadata"]["sub"], "u-1001");

    // The address changes at the issuer: the same person (same sub), the same user.
    idp.set_user("u-1001", json!({ "email": "alice@new.example.com", "email_verified": true })).await;
    let again = sign_in(&app, &idp, "u-1001").await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["user"]["id"], r["user"]["id"]);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);
}
both!(a_certified_provider_signs_in_with_the_userinfo_address_by_sub);

async fn es256_id_tokens_from_a_certified_provider_verify(backend: Backend) {
    let idp = node(NodeAlg::Es256).await;
    idp.set_user("u-2002", json!({ "email": "bob@example.com", "email_verified": true })).await;
    let app = spawn(backend, &env(&idp.issuer)).await;
    let r = sign_in(&app, &idp, "u-2002").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["email"], "bob@example.com");
}
both!(es256_id_tokens_from_a_certified_provider_verify);

async fn an_address_the_issuer_did_not_verify_is_refused_in_the_providers_name(backend: Backend) {
    let idp = node(NodeAlg::EdDsa).await;
    idp.set_user("u-eve", json!({ "email": "eve@example.com", "email_verified": false })).await;
    idp.set_user("u-fay", json!({ "email": "fay@example.com" })).await;
    idp.set_user("u-gil", json!({ "name": "Gil, no address" })).await;
    let app = spawn(backend, &env(&idp.issuer)).await;
    // The address already has an account: an unverified claim must not reach it.
    app.sign_up("eve@example.com", "eve's pass phrase").await;
    for sub in ["u-eve", "u-fay"] {
        assert_failed(&sign_in(&app, &idp, sub).await, "Acme has not verified this email address");
    }
    assert_failed(&sign_in(&app, &idp, "u-gil").await, "Acme did not share a usable email address");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users WHERE provider = 'acme'").await, 0);
}
both!(an_address_the_issuer_did_not_verify_is_refused_in_the_providers_name);

async fn the_issuer_is_compared_exactly_as_discovery_states_it(backend: Backend) {
    let idp = node(NodeAlg::EdDsa).await;
    idp.set_user("u-3003", json!({ "email": "cy@example.com", "email_verified": true })).await;
    // Configured without the slash its discovery document has: another issuer.
    let app = spawn(backend, &env(idp.issuer.trim_end_matches('/'))).await;
    let r = crate::redirects::start_in(&app, &app.client, "acme", json!({})).await;
    assert_failed(&r, UNAVAILABLE);
    assert_eq!(r["location"], Value::Null);
}
both!(the_issuer_is_compared_exactly_as_discovery_states_it);

async fn a_named_provider_keeps_the_binding_and_linking_rules(backend: Backend) {
    let idp = node(NodeAlg::EdDsa).await;
    idp.set_user("u-mal", json!({ "email": "mallory@example.com", "email_verified": true })).await;
    idp.set_user("u-vic", json!({ "email": "victim@example.com", "email_verified": true })).await;
    let app = spawn(backend, &env(&idp.issuer)).await;

    // A callback taken from the browser that started the flow signs no other browser in.
    let (attacker, victim) = (browser(), browser());
    let stolen = returned(&idp.authorize(&location_in(&app, &attacker, "acme").await, "u-mal").await);
    assert_failed(&callback_in(&app, &victim, "acme", stolen.clone()).await, UNKNOWN_STATE);
    assert_eq!(gql_in(&app, &victim, ME, json!({})).await["data"]["me"], Value::Null);
    assert_eq!(callback_in(&app, &attacker, "acme", stolen).await["success"], true);

    // A password set on the victim's address before they came is dropped when the issuer's
    // verified address links to that user.
    let (squatter, user_id) = app.sign_up("victim@example.com", "squatter's pass phrase").await;
    let r = sign_in(&app, &idp, "u-vic").await;
    assert_eq!((&r["success"], &r["user"]["id"]), (&json!(true), &json!(user_id)), "{r}");
    assert_eq!(app.gql_as(&squatter, ME, json!({})).await["data"]["me"], Value::Null);
    let grab = app.emailpass("victim@example.com", "squatter's pass phrase").await;
    assert_failed(&grab, "An account with this email already exists. Sign in with: acme");
}
both!(a_named_provider_keeps_the_binding_and_linking_rules);

// ---- Answers a real provider cannot be made to give, from the issuer inside the test ----

/// Starts a sign-in at the fake issuer, has it answer the code with an ID token for
/// `claims` (less the keys in `drop`), and completes it.
async fn attempt(app: &TestApp, issuer: &FakeIssuer, drop: &[&str]) -> Value {
    let q = query(&location_in(app, &app.client, "acme").await);
    let mut claims = issuer.claims(CLIENT_ID, &q["nonce"], "zoe@example.com");
    for key in drop {
        claims.as_object_mut().expect("object").remove(*key);
    }
    let key = Key::a();
    issuer.answer_with_id_token(&key.sign(Some(key.kid), &claims));
    callback_in(app, &app.client, "acme", json!({ "code": "the-code", "state": q["state"] })).await
}

async fn broken_issuer_answers_are_failed_sign_ins_naming_the_provider(backend: Backend) {
    let issuer = FakeIssuer::start().await;
    issuer.publish(&[&Key::a()]);
    let app = spawn(backend, &env(&issuer.issuer)).await;

    // Discovery: not JSON, a 500, a document without a token endpoint.
    for (status, body) in [(200, "<html>maintenance</html>"), (500, "{}"), (200, r#"{"issuer": "x"}"#)] {
        issuer.discovery_raw(status, body);
        assert_failed(&crate::redirects::start_in(&app, &app.client, "acme", json!({})).await, UNAVAILABLE);
    }
    // (Discovery is cached once it works: it lists UserInfo from the start.)
    let zoe = json!({ "sub": "sub-zoe@example.com", "email": "zoe@example.com", "email_verified": true });
    issuer.userinfo_raw(200, &zoe.to_string());
    issuer.discovery_ok();

    // Token endpoint: not JSON, a 500 page.
    for (status, body) in [(200, "access_token=at&token_type=bearer"), (500, "<html>oops</html>")] {
        let q = query(&location_in(&app, &app.client, "acme").await);
        issuer.answer_raw(status, body);
        let r = callback_in(&app, &app.client, "acme", json!({ "code": "c", "state": q["state"] })).await;
        assert_failed(&r, REFUSED);
    }

    // UserInfo, asked because the ID token has no address: not JSON, a 500, someone else.
    let no_address = ["email", "email_verified"];
    let someone_else = json!({ "sub": "sub-mallory", "email": "zoe@example.com", "email_verified": true });
    for (status, body) in [(200, "not json".to_string()), (500, zoe.to_string()), (200, someone_else.to_string())] {
        issuer.userinfo_raw(status, &body);
        assert_failed(&attempt(&app, &issuer, &no_address).await, PROFILE);
    }
    // A UserInfo endpoint that never answers holds the sign-in no longer than the outbound
    // client's timeout (10 s).
    issuer.userinfo_hangs(true);
    let started = std::time::Instant::now();
    assert_failed(&attempt(&app, &issuer, &no_address).await, PROFILE);
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "took {:?}", started.elapsed());
    issuer.userinfo_hangs(false);
    issuer.userinfo_raw(200, &json!({ "sub": "sub-zoe@example.com", "email": "zoe@example.com" }).to_string());
    assert_failed(&attempt(&app, &issuer, &no_address).await, "Acme has not verified this email address");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);

    // And the well-behaved issuer signs in, by sub.
    issuer.userinfo_raw(200, &zoe.to_string());
    let r = attempt(&app, &issuer, &no_address).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(
        (&r["user"]["email"], &r["authUser"]["entityId"]),
        (&json!("zoe@example.com"), &json!("sub-zoe@example.com"))
    );
}
both!(broken_issuer_answers_are_failed_sign_ins_naming_the_provider);

async fn the_token_endpoint_is_called_with_a_method_the_issuer_advertises(backend: Backend) {
    let basic = format!("Basic {}", base64_std(&format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    for (methods, expect_basic) in
        [(vec!["client_secret_post"], false), (vec!["client_secret_post", "client_secret_basic"], true)]
    {
        let issuer = FakeIssuer::start().await;
        issuer.publish(&[&Key::a()]);
        issuer.auth_methods(&methods);
        let app = spawn(backend, &env(&issuer.issuer)).await;
        let r = attempt(&app, &issuer, &[]).await;
        assert_eq!(r["success"], true, "{methods:?}: {r}");
        let requests = issuer.token_requests();
        let sent = requests.last().expect("a token request");
        if expect_basic {
            assert_eq!(sent.authorization.as_deref(), Some(basic.as_str()), "{methods:?}");
            assert!(!sent.form.contains_key("client_secret"), "{methods:?}");
        } else {
            assert_eq!(sent.authorization, None, "{methods:?}");
            assert_eq!(
                (sent.form["client_id"].as_str(), sent.form["client_secret"].as_str()),
                (CLIENT_ID, CLIENT_SECRET)
            );
        }
    }
    // An issuer that takes neither: no sign-in starts, and no secret is sent anywhere.
    let issuer = FakeIssuer::start().await;
    issuer.auth_methods(&["private_key_jwt"]);
    let app = spawn(backend, &env(&issuer.issuer)).await;
    assert_failed(&crate::redirects::start_in(&app, &app.client, "acme", json!({})).await, UNAVAILABLE);
}
both!(the_token_endpoint_is_called_with_a_method_the_issuer_advertises);

fn base64_std(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn redirect_providers_share_one_bound_on_open_flows_per_address(backend: Backend) {
    let issuer = FakeIssuer::start().await;
    let github = crate::fake_github::FakeGithub::start().await;
    let mut settings = env(&issuer.issuer);
    settings.extend([
        ("AUTHQL_GITHUB_CLIENT_ID", crate::fake_github::CLIENT_ID.to_string()),
        ("AUTHQL_GITHUB_CLIENT_SECRET", crate::fake_github::CLIENT_SECRET.to_string()),
        ("AUTHQL_GITHUB_CALLBACK_URL", CALLBACK.to_string()),
        ("AUTHQL_GITHUB_URL", github.url.clone()),
        ("AUTHQL_GITHUB_API_URL", github.url.clone()),
        ("AUTHQL_FLOW_MAX_PER_ADDRESS", "2".to_string()),
    ]);
    let app = spawn(backend, &settings).await;
    // One flow with each provider fills this address's share: a third, with either, or from
    // another browser at the same address, is refused rather than stored.
    location_in(&app, &app.client, "acme").await;
    location_in(&app, &app.client, "github").await;
    for (browser, provider) in [(&app.client, "acme"), (&browser(), "github")] {
        let body = browser
            .post(format!("{}/graphql", app.addr))
            .json(&json!({ "query": crate::helpers::AUTHENTICATE, "variables": { "provider": provider, "input": {} } }))
            .send()
            .await
            .expect("sent")
            .json::<Value>()
            .await
            .expect("JSON");
        assert_eq!(crate::helpers::error_code(&body).as_deref(), Some("RATE_LIMITED"), "{provider}: {body}");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM oauth_states").await, 2);
}
both!(redirect_providers_share_one_bound_on_open_flows_per_address);

async fn a_named_provider_sign_in_asks_for_the_second_factor_too(backend: Backend) {
    let idp = node(NodeAlg::Es256).await;
    idp.set_user("u-7", json!({ "email": "carol@example.com", "email_verified": true })).await;
    let app = spawn(backend, &env(&idp.issuer)).await;
    let first = sign_in(&app, &idp, "u-7").await;
    let token = first["session"]["token"].as_str().unwrap_or_else(|| panic!("{first}"));
    let (mut authenticator, _) = enable_totp(&app, token).await;

    // The issuer vouches for u-7 in a fresh browser: one factor, so a ticket and no session.
    let fresh = browser();
    let r = sign_in_as(&app, &fresh, &idp, "u-7").await;
    assert_failed(&r, REQUIRED);
    assert_eq!(r["mfaMethods"], json!(["totp", "recovery_code"]));
    assert_eq!(gql_in(&app, &fresh, ME, json!({})).await["data"]["me"], Value::Null);

    // A wrong code is refused and leaves the ticket usable for the right one.
    let ticket = r["mfaTicket"].as_str().expect("ticket");
    let wrong = authenticator.wrong_code();
    let body = gql_in(&app, &fresh, VERIFY, json!({ "ticket": ticket, "method": "totp", "code": wrong })).await;
    assert_eq!(body["data"]["verifySecondFactor"]["success"], false, "{body}");
    let code = authenticator.next_code().await;
    let body = gql_in(&app, &fresh, VERIFY, json!({ "ticket": ticket, "method": "totp", "code": code })).await;
    let done = &body["data"]["verifySecondFactor"];
    assert_eq!(done["success"], true, "{body}");
    assert_eq!((&done["authUser"]["provider"], &done["authUser"]["entityId"]), (&json!("acme"), &json!("u-7")));
    assert_eq!(gql_in(&app, &fresh, ME, json!({})).await["data"]["me"]["id"], first["user"]["id"]);
}
both!(a_named_provider_sign_in_asks_for_the_second_factor_too);
