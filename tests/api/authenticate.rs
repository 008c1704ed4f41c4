//! authenticate with emailpass: sign-up, sign-in, bad input, races, throttling, policy.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{AUTHENTICATE, Backend, TestApp, TestDb, error_code, test_config};

async fn sign_up_then_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let up = app.emailpass("  Alice@Example.COM ", "correct horse battery").await;
    assert_eq!(up["success"], true, "{up}");
    assert_eq!(up["error"], Value::Null);
    assert_eq!(up["user"]["email"], "alice@example.com");
    assert_eq!(up["user"]["role"], "MEMBER");
    assert_eq!(up["user"]["emailVerified"], false);
    assert_eq!(up["authUser"]["provider"], "emailpass");
    assert_eq!(up["authUser"]["entityId"], "alice@example.com");
    assert_eq!(up["authUser"]["appMetadata"]["userId"], up["user"]["id"]);
    let token = up["session"]["token"].as_str().expect("token");
    assert_eq!(token.len(), 43, "256-bit base64url token");

    let again = app.emailpass("ALICE@example.com", "correct horse battery").await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["user"]["id"], up["user"]["id"], "same person, same user");
    assert_ne!(again["session"]["token"], up["session"]["token"]);

    let wrong = app.emailpass("alice@example.com", "incorrect horse battery").await;
    assert_eq!(
        wrong,
        json!({
            "success": false, "error": "Invalid email or password", "location": null,
            "session": null, "user": null, "authUser": null
        })
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 2);
}
both!(sign_up_then_sign_in);

async fn malformed_input_is_refused_clearly_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = "p".repeat(10 * 1024);
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "password": "correct horse battery" }), "Email should be a string"),
        (json!({ "email": 42, "password": "correct horse battery" }), "Email should be a string"),
        (json!({ "email": "", "password": "correct horse battery" }), "Email should be a string"),
        (json!({ "email": "not an email", "password": "correct horse battery" }), "Email should be a string"),
        (json!({ "email": "bob@example.com", "password": 12345678 }), "Password should be a string"),
        (json!({ "email": "bob@example.com", "password": "" }), "Password should be a string"),
        (json!({ "email": "bob@example.com" }), "Password should be a string"),
        (json!("bob@example.com"), "Email should be a string"),
        (json!([1, 2, 3]), "Email should be a string"),
        (json!({ "email": "bob@example.com", "password": "short" }), "Password must be at least 8 characters"),
        (json!({ "email": "bob@example.com", "password": long }), "Password must be at most 128 characters"),
        (json!({ "email": "bob@example.com", "password": "Password123" }), "Password is too common"),
    ];
    for (input, expected) in cases {
        let body = app.gql(AUTHENTICATE, json!({ "provider": "emailpass", "input": input })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let r = &body["data"]["authenticate"];
        assert_eq!(r["success"], false, "{input}");
        assert_eq!(r["error"], expected, "{input}");
        assert_eq!(r["session"], Value::Null);
    }
    // A null input is not JSON! at all: a GraphQL error with a code.
    let body = app.gql(AUTHENTICATE, json!({ "provider": "emailpass", "input": null })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 0);

    // A 10 KB password against an existing account is just a wrong password.
    app.sign_up("bob@example.com", "correct horse battery").await;
    let r = app.emailpass("bob@example.com", &"p".repeat(10 * 1024)).await;
    assert_eq!(r["error"], "Invalid email or password");
}
both!(malformed_input_is_refused_clearly_and_writes_nothing);

#[tokio::test]
async fn unknown_provider_is_bad_user_input_naming_the_registered_ones() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = app.gql(AUTHENTICATE, json!({ "provider": "github", "input": {} })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("github") && msg.contains("emailpass"), "{msg}");
    assert_eq!(body["data"], Value::Null);
}

async fn concurrent_first_sign_ins_make_one_user(backend: Backend) {
    // The 19 that lose the race check their password against the winner's, and at most five
    // checks per account may be in flight at once: this test is about creation.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_ACCOUNT_MAX", "1000")]).await;
    let results =
        futures_util::future::join_all((0..20).map(|_| app.emailpass("race@example.com", "same pass phrase 20"))).await;
    for r in &results {
        assert_eq!(r["success"], true, "{r}");
    }
    let user_ids: std::collections::HashSet<_> = results.iter().map(|r| r["user"]["id"].to_string()).collect();
    assert_eq!(user_ids.len(), 1, "all sign-ins are the same user");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, 20);
}
both!(concurrent_first_sign_ins_make_one_user);

async fn concurrent_sign_ups_with_different_passwords_first_wins(backend: Backend) {
    // The throttle would start refusing after five failures; this test is about creation.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_ACCOUNT_MAX", "1000")]).await;
    let passwords: Vec<String> = (0..20).map(|i| format!("distinct pass phrase {i}")).collect();
    let results = futures_util::future::join_all(passwords.iter().map(|p| app.emailpass("duel@example.com", p))).await;
    let winners: Vec<usize> = (0..20).filter(|&i| results[i]["success"] == true).collect();
    assert_eq!(winners.len(), 1, "exactly one password wins: {results:?}");
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(r["error"], "Invalid email or password", "{r}");
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1);
    let again = app.emailpass("duel@example.com", &passwords[winners[0]]).await;
    assert_eq!(again["success"], true);
    let loser = (winners[0] + 1) % 20;
    assert_eq!(app.emailpass("duel@example.com", &passwords[loser]).await["success"], false);
}
both!(concurrent_sign_ups_with_different_passwords_first_wins);

async fn failed_sign_ins_are_throttled_per_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("carol@example.com", "carol's pass phrase").await;
    app.sign_up("dave@example.com", "dave's pass phrase").await;
    // A success resets the count.
    for _ in 0..4 {
        assert_eq!(app.emailpass("carol@example.com", "wrong guess 123").await["success"], false);
    }
    assert_eq!(app.emailpass("carol@example.com", "carol's pass phrase").await["success"], true);
    for _ in 0..5 {
        let r = app.emailpass("carol@example.com", "wrong guess 123").await;
        assert_eq!(r["error"], "Invalid email or password");
    }
    // Sixth attempt: refused even with the right password.
    let body = app
        .gql(AUTHENTICATE, json!({ "provider": "emailpass", "input": { "email": "carol@example.com", "password": "carol's pass phrase" } }))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!(retry > 800 && retry <= 900, "the window is 15 minutes: {retry}");
    // Another account is unaffected.
    assert_eq!(app.emailpass("dave@example.com", "dave's pass phrase").await["success"], true);
}
both!(failed_sign_ins_are_throttled_per_account);

async fn failed_sign_ins_are_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "3")]).await;
    for i in 0..3 {
        app.sign_up(&format!("u{i}@example.com"), "a fine pass phrase").await;
    }
    for i in 0..3 {
        assert_eq!(app.emailpass(&format!("u{i}@example.com"), "wrong pass phrase").await["success"], false);
    }
    let body = app
        .gql(AUTHENTICATE, json!({ "provider": "emailpass", "input": { "email": "u0@example.com", "password": "a fine pass phrase" } }))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
}
both!(failed_sign_ins_are_throttled_per_address);

async fn aliases_cannot_multiply_attempts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("erin@example.com", "erin's pass phrase").await;
    let guesses: String = (0..8)
        .map(|i| format!(r#"g{i}: authenticate(provider: "emailpass", input: {{email: "erin@example.com", password: "guess number {i}"}}) {{ success error }} "#))
        .collect();
    let body = app.gql(&format!("mutation {{ {guesses} }}"), json!({})).await;
    let limited = body["errors"].as_array().map(|e| e.len()).unwrap_or(0);
    assert_eq!(limited, 3, "five guesses are answered, the rest throttled: {body}");
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"));
}
both!(aliases_cannot_multiply_attempts);

async fn weaker_hashes_are_upgraded_on_sign_in(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let weak = test_config(&url, &[("AUTHQL_ARGON2_MEMORY_KIB", "8192"), ("AUTHQL_ARGON2_ITERATIONS", "1")]);
    let app = TestApp::spawn_on(db, url.clone(), weak).await;
    app.sign_up("frank@example.com", "frank's pass phrase").await;
    let stored = provider_metadata(&app).await;
    assert!(stored.contains("m=8192,t=1"), "{stored}");
    app.stop().await;
    let TestApp { db_guard: db, .. } = app;
    let app = TestApp::spawn_on(db, url.clone(), test_config(&url, &[])).await;
    assert_eq!(app.emailpass("frank@example.com", "frank's pass phrase").await["success"], true);
    let stored = provider_metadata(&app).await;
    assert!(stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(!stored.contains("frank's pass phrase"));
    assert_eq!(app.emailpass("frank@example.com", "frank's pass phrase").await["success"], true);
}
both!(weaker_hashes_are_upgraded_on_sign_in);

async fn provider_metadata(app: &TestApp) -> String {
    app.state
        .db
        .read(|conn| {
            use authql::db::schema::auth_users;
            use diesel::prelude::*;
            Ok(auth_users::table
                .select(auth_users::provider_metadata)
                .first::<Option<String>>(conn)?
                .unwrap_or_default())
        })
        .await
        .expect("read")
}

async fn sign_up_policy_is_enforced(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let app = TestApp::spawn_on(db, url.clone(), test_config(&url, &[])).await;
    app.sign_up("gina@example.com", "gina's pass phrase").await;
    app.stop().await;
    let TestApp { db_guard: db, .. } = app;
    let app = TestApp::spawn_on(db, url.clone(), test_config(&url, &[("AUTHQL_SIGNUP", "closed")])).await;
    let r = app.emailpass("stranger@example.com", "a stranger's phrase").await;
    assert_eq!((r["success"].clone(), r["error"].clone()), (json!(false), json!("Invalid email or password")));
    // Existing people still sign in.
    assert_eq!(app.emailpass("gina@example.com", "gina's pass phrase").await["success"], true);
    app.stop().await;
    let TestApp { db_guard: db, .. } = app;
    let app = TestApp::spawn_on(db, url.clone(), test_config(&url, &[("AUTHQL_SIGNUP", "invite")])).await;
    let r = app.emailpass("stranger@example.com", "a stranger's phrase").await;
    assert_eq!(r["error"], "Invalid email or password");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM auth_users").await, 1, "nothing was created");
    assert_eq!(app.emailpass("gina@example.com", "gina's pass phrase").await["success"], true);
}
both!(sign_up_policy_is_enforced);
