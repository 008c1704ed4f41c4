//! github: the OAuth web flow against a faithful fake of GitHub (tests/api/fake_github.rs):
//! identities keyed by the numeric id, only the primary verified address, GitHub's
//! 200-with-error answers and broken answers as failed sign-ins, the flow bound to its
//! client, and the linking rules.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both;
use crate::fake_github::{Account, CLIENT_ID, CLIENT_SECRET, Endpoint, FakeGithub, Fault};
use crate::helpers::{Backend, TestApp};
use crate::mfa::{REQUIRED, VERIFY, enable_totp};
use crate::redirects::{
    ME, UNKNOWN_STATE, assert_failed, browser, callback_in, gql_in, location_in, query, returned, spawn,
};

const CALLBACK: &str = "http://127.0.0.1:9/github/cb";
const NO_VERIFIED: &str =
    "GitHub has no verified primary email address for this account; verify one at GitHub and try again";
const REFUSED: &str = "GitHub refused the sign-in code; start again";
const PROFILE: &str = "Could not read your profile from GitHub; start again";

fn env(github: &FakeGithub, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AUTHQL_GITHUB_CLIENT_ID", CLIENT_ID.to_string()),
        ("AUTHQL_GITHUB_CLIENT_SECRET", secret.to_string()),
        ("AUTHQL_GITHUB_CALLBACK_URL", CALLBACK.to_string()),
        ("AUTHQL_GITHUB_URL", github.url.clone()),
        ("AUTHQL_GITHUB_API_URL", github.url.clone()),
    ]
}

async fn app_for(backend: Backend, github: &FakeGithub) -> TestApp {
    spawn(backend, &env(github, CLIENT_SECRET)).await
}

fn octocat() -> Account {
    Account {
        id: 583231,
        login: "octocat".into(),
        name: Some("The Octocat".into()),
        emails: vec![
            ("old-octo@example.com".into(), false, true),
            ("Octocat@Example.com".into(), true, true),
            ("typo@example.com".into(), false, false),
        ],
    }
}

/// The whole flow for `login` from `app`'s browser.
async fn sign_in(app: &TestApp, github: &FakeGithub, login: &str) -> Value {
    let to = location_in(app, &app.client, "github").await;
    let back = github.authorize(&to, login).await;
    callback_in(app, &app.client, "github", returned(&back)).await
}

async fn github_signs_up_and_in_by_numeric_id_with_the_primary_verified_address(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass", "github"]));

    let to = location_in(&app, &app.client, "github").await;
    assert!(to.starts_with(&format!("{}/login/oauth/authorize?", github.url)), "{to}");
    let q = query(&to);
    assert_eq!((q["client_id"].as_str(), q["redirect_uri"].as_str()), (CLIENT_ID, CALLBACK));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"].len(), 43, "256 random bits");
    assert!(q["scope"].contains("user:email"), "{}", q["scope"]);
    let back = github.authorize(&to, "octocat").await;
    let r = callback_in(&app, &app.client, "github", returned(&back)).await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["authUser"]["provider"], "github");
    assert_eq!(r["authUser"]["entityId"], "583231", "GitHub's numeric id, not the login or an address");
    assert_eq!(r["user"]["email"], "octocat@example.com", "the primary verified address");
    assert_eq!(r["user"]["emailVerified"], true);
    assert_eq!(r["authUser"]["userMetadata"]["login"], "octocat");
    assert_eq!(r["user"]["avatarUrl"], "https://avatars.githubusercontent.com/u/583231?v=4");

    // How GitHub was spoken to: JSON asked for at the token endpoint, the PKCE verifier
    // behind the challenge, the secret in the body; the API with a token and a User-Agent.
    let token_calls = github.seen("/login/oauth/access_token");
    let call = token_calls.last().expect("a token request");
    assert_eq!(call.headers["accept"], "application/json");
    assert_eq!(call.form["client_secret"], CLIENT_SECRET);
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(call.form["code_verifier"].as_bytes()));
    assert_eq!(challenge, q["code_challenge"]);
    for path in ["/user", "/user/emails"] {
        let seen = github.seen(path);
        let headers = &seen.last().expect("an API request").headers;
        assert_eq!(headers["accept"], "application/vnd.github+json");
        assert!(headers["authorization"].starts_with("Bearer gho_"), "{headers:?}");
        assert!(!headers["user-agent"].is_empty());
    }

    // Again, after changing the primary address at GitHub: the same person, the same user.
    let mut moved = octocat();
    moved.emails = vec![("new-octo@example.com".into(), true, true)];
    github.add_account(moved);
    let again = sign_in(&app, &github, "octocat").await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["user"]["id"], r["user"]["id"]);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);
}
both!(github_signs_up_and_in_by_numeric_id_with_the_primary_verified_address);

async fn without_a_verified_primary_address_github_sign_in_fails(backend: Backend) {
    let github = FakeGithub::start().await;
    // A verified address that is not primary, and a primary one GitHub has not verified:
    // neither proves the person holds the account's address.
    github.add_account(Account {
        id: 7,
        login: "mallory".into(),
        name: None,
        emails: vec![("victim@example.com".into(), true, false), ("mallory@example.com".into(), false, true)],
    });
    let app = app_for(backend, &github).await;
    let (victim, _) = app.sign_up("victim@example.com", "victim's pass phrase").await;
    assert_failed(&sign_in(&app, &github, "mallory").await, NO_VERIFIED);
    github.add_account(Account { id: 8, login: "nomail".into(), name: None, emails: vec![] });
    assert_failed(&sign_in(&app, &github, "nomail").await, NO_VERIFIED);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users WHERE provider = 'github'").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.gql_as(&victim, ME, json!({})).await["data"]["me"]["email"], "victim@example.com");
}
both!(without_a_verified_primary_address_github_sign_in_fails);

async fn a_code_github_refuses_with_http_200_is_a_failed_sign_in(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    // A code GitHub never issued (or one already spent): `200 {"error": "bad_verification_code"}`.
    let to = location_in(&app, &app.client, "github").await;
    let back = returned(&github.authorize(&to, "octocat").await);
    let forged = json!({ "code": "not-the-code", "state": back["state"] });
    assert_failed(&callback_in(&app, &app.client, "github", forged).await, REFUSED);
    // A server with the wrong client secret: `200 {"error": "incorrect_client_credentials"}`.
    let wrong = spawn(backend, &env(&github, "not-the-secret")).await;
    let to = location_in(&wrong, &wrong.client, "github").await;
    let back = returned(&github.authorize(&to, "octocat").await);
    assert_failed(&callback_in(&wrong, &wrong.client, "github", back).await, REFUSED);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
}
both!(a_code_github_refuses_with_http_200_is_a_failed_sign_in);

async fn broken_github_answers_fail_the_sign_in_in_bounded_time(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    let cases = [
        (Endpoint::Token, Fault::Status(500), REFUSED),
        (Endpoint::Token, Fault::Body("access_token=gho_x&token_type=bearer"), REFUSED),
        (Endpoint::User, Fault::Status(500), PROFILE),
        (Endpoint::User, Fault::Body(r#"{"id": "583231", "login": "octocat"}"#), PROFILE),
        (Endpoint::User, Fault::Body(r#"{"login": "octocat"}"#), PROFILE),
        (Endpoint::Emails, Fault::Status(502), PROFILE),
        (Endpoint::Emails, Fault::Body("<html>rate limited</html>"), PROFILE),
        (Endpoint::Emails, Fault::Body(r#"[{"email": "octocat@example.com"}]"#), PROFILE),
        (Endpoint::User, Fault::Hang, PROFILE),
    ];
    for (endpoint, fault, error) in cases {
        let to = location_in(&app, &app.client, "github").await;
        let back = returned(&github.authorize(&to, "octocat").await);
        github.fail(endpoint, fault.clone());
        let started = Instant::now();
        let r = callback_in(&app, &app.client, "github", back).await;
        assert_failed(&r, error);
        // The outbound client's whole-request timeout (10 s) bounds even a hang.
        assert!(started.elapsed() < Duration::from_secs(15), "{endpoint:?} {fault:?} took {:?}", started.elapsed());
        github.heal();
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
    // GitHub recovered; so does sign-in.
    assert_eq!(sign_in(&app, &github, "octocat").await["success"], true);
}
both!(broken_github_answers_fail_the_sign_in_in_bounded_time);

async fn a_github_callback_opened_in_another_browser_signs_nobody_in(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    let (attacker, victim) = (browser(), browser());
    let stolen = returned(&github.authorize(&location_in(&app, &attacker, "github").await, "octocat").await);
    assert_failed(&callback_in(&app, &victim, "github", stolen.clone()).await, UNKNOWN_STATE);
    location_in(&app, &victim, "github").await;
    assert_failed(&callback_in(&app, &victim, "github", stolen.clone()).await, UNKNOWN_STATE);
    assert_eq!(gql_in(&app, &victim, ME, json!({})).await["data"]["me"], Value::Null);
    // A github state is no other provider's either.
    let google_like = callback_in(&app, &attacker, "emailpass", stolen.clone()).await;
    assert_eq!(google_like["success"], false);
    assert_eq!(callback_in(&app, &attacker, "github", stolen).await["success"], true);
}
both!(a_github_callback_opened_in_another_browser_signs_nobody_in);

async fn github_links_by_verified_address_and_undoes_a_pre_account_takeover(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    // Someone set a password on the octocat's address before the octocat came.
    let (attacker, user_id) = app.sign_up("octocat@example.com", "attacker's pass phrase").await;
    let r = sign_in(&app, &github, "octocat").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["id"], user_id.as_str(), "the verified address links to the user");
    assert_eq!(r["user"]["emailVerified"], true);
    assert_eq!(app.gql_as(&attacker, ME, json!({})).await["data"]["me"], Value::Null, "the attacker's session ended");
    let token = r["session"]["token"].as_str().expect("token");
    let me = app.gql_as(token, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["authUsers"], json!([{ "provider": "github", "entityId": "583231" }]));
    let grab = app.emailpass("octocat@example.com", "attacker's pass phrase").await;
    assert_failed(&grab, "An account with this email already exists. Sign in with: github");
}
both!(github_links_by_verified_address_and_undoes_a_pre_account_takeover);

/// The real binary at the most verbose log level, signed in through GitHub: neither the
/// client secret, the code, the access token, the state, the binding nor the session token
/// is in its log.
async fn github_secrets_never_reach_the_log(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let (_db, url) = crate::helpers::TestDb::create(backend);
    let settings = env(&github, CLIENT_SECRET);
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (server, log) = crate::helpers::ServerProcess::start_logged(&url, &settings).await;
    let addr = server.addr.clone();
    let browser = browser();
    let gql = |query: &'static str, variables: Value| {
        let (browser, addr) = (browser.clone(), addr.clone());
        async move {
            let resp = browser
                .post(format!("{addr}/graphql"))
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .expect("answer");
            let binding = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok()?.strip_prefix("authql_flow=")?.split(';').next().map(str::to_string))
                .next();
            (resp.json::<Value>().await.expect("JSON"), binding)
        }
    };
    let (started, binding) = gql(crate::helpers::AUTHENTICATE, json!({ "provider": "github", "input": {} })).await;
    let to = started["data"]["authenticate"]["location"].as_str().expect("location").to_string();
    let back = returned(&github.authorize(&to, "octocat").await);
    let (done, _) = gql(crate::redirects::VALIDATE, json!({ "provider": "github", "input": back.clone() })).await;
    let r = &done["data"]["validateCallback"];
    assert_eq!(r["success"], true, "{done}");

    let access = github.seen("/user").last().expect("an API call").headers["authorization"].clone();
    let mut secrets = vec![
        CLIENT_SECRET.to_string(),
        access.trim_start_matches("Bearer ").to_string(),
        back["code"].as_str().expect("code").to_string(),
        back["state"].as_str().expect("state").to_string(),
        r["session"]["token"].as_str().expect("token").to_string(),
        binding.expect("a binding cookie"),
    ];
    secrets.push(github.seen("/login/oauth/access_token")[0].form["code_verifier"].clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = log.text();
    assert!(log.lines().count() > 50, "trace level logs plenty: {} lines", log.lines().count());
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret ({}...)", &secret[..6.min(secret.len())]);
    }
}
both!(github_secrets_never_reach_the_log);

async fn a_github_sign_in_asks_for_the_second_factor_too(backend: Backend) {
    let github = FakeGithub::start().await;
    github.add_account(octocat());
    let app = app_for(backend, &github).await;
    let first = sign_in(&app, &github, "octocat").await;
    let token = first["session"]["token"].as_str().unwrap_or_else(|| panic!("{first}"));
    let (mut authenticator, _) = enable_totp(&app, token).await;

    // GitHub vouches for octocat in a fresh browser: one factor, so a ticket and no session.
    let fresh = browser();
    let to = location_in(&app, &fresh, "github").await;
    let r = callback_in(&app, &fresh, "github", returned(&github.authorize(&to, "octocat").await)).await;
    assert_failed(&r, REQUIRED);
    assert_eq!(r["mfaMethods"], json!(["totp", "recovery_code"]));
    assert_eq!(gql_in(&app, &fresh, ME, json!({})).await["data"]["me"], Value::Null);

    let ticket = r["mfaTicket"].as_str().expect("ticket");
    let code = authenticator.next_code().await;
    let body = gql_in(&app, &fresh, VERIFY, json!({ "ticket": ticket, "method": "totp", "code": code })).await;
    let done = &body["data"]["verifySecondFactor"];
    assert_eq!(done["success"], true, "{body}");
    assert_eq!((&done["authUser"]["provider"], &done["authUser"]["entityId"]), (&json!("github"), &json!("583231")));
    assert_eq!(gql_in(&app, &fresh, ME, json!({})).await["data"]["me"]["id"], first["user"]["id"]);
}
both!(a_github_sign_in_asks_for_the_second_factor_too);
