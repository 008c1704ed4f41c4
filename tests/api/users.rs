//! The user module: roles, listing, updates, soft deletion.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, accept, error_code};

const USERS: &str = r#"query($filter: UserFilter, $skip: Int, $take: Int) {
  users(filter: $filter, skip: $skip, take: $take) { totalCount nodes { id email firstName role authUsers { provider } } }
}"#;

const UPDATE: &str = r#"mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id firstName lastName avatarUrl metadata role }
}"#;

async fn members_cannot_manage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, admin_id) = app.admin("boss@example.com").await;
    let (member, member_id) = app.sign_up("pat@example.com", "pat's pass phrase").await;
    let (_other, other_id) = app.sign_up("quinn@example.com", "quinn's pass phrase").await;

    for (query, vars) in [
        (USERS, json!({})),
        ("{ invites { totalCount } }", json!({})),
        (r#"mutation { createInvite(input: {email: "new@example.com"}) { id } }"#, json!({})),
        ("mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": other_id })),
        ("query($id: ID!) { user(id: $id) { email } }", json!({ "id": other_id })),
        (UPDATE, json!({ "id": other_id, "input": { "firstName": "X" } })),
        (UPDATE, json!({ "id": member_id, "input": { "role": "ADMIN" } })),
    ] {
        let body = app.gql_as(&member, query, vars.clone()).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{query} {vars}: {body}");
        let body = app.gql(query, vars.clone()).await;
        assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{query}: {body}");
    }
    // A member reads and edits themself; an admin anyone.
    let own = app.gql_as(&member, "query($id: ID!) { user(id: $id) { email } }", json!({ "id": member_id })).await;
    assert_eq!(own["data"]["user"]["email"], "pat@example.com");
    let any = app.gql_as(&admin, "query($id: ID!) { user(id: $id) { email } }", json!({ "id": other_id })).await;
    assert_eq!(any["data"]["user"]["email"], "quinn@example.com");
    let none = app.gql_as(&admin, r#"{ user(id: "no-such-id") { email } }"#, json!({})).await;
    assert_eq!(none["data"]["user"], Value::Null);
    assert!(none.get("errors").is_none());
    let _ = admin_id;
}
both!(members_cannot_manage);

async fn users_page_and_count_stay_right(backend: Backend) {
    // Sixty sign-ups from one address: past the default ration of 30 an hour.
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "100")]).await;
    let (admin, _) = app.admin("boss@example.com").await;
    futures_util::future::join_all((0..59).map(|i| {
        let app = &app;
        async move { app.sign_up(&format!("user{i:02}@example.com"), "plenty long phrase").await }
    }))
    .await;
    let mut seen = std::collections::HashSet::new();
    for (skip, expected) in [(0, 25), (25, 25), (50, 10), (60, 0)] {
        let body = app.gql_as(&admin, USERS, json!({ "skip": skip, "take": 25 })).await;
        let list = &body["data"]["users"];
        assert_eq!(list["totalCount"], 60, "{body}");
        let nodes = list["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), expected);
        for n in nodes {
            assert!(seen.insert(n["id"].to_string()), "no user appears on two pages");
            assert_eq!(n["authUsers"], json!([{ "provider": "emailpass" }]));
        }
    }
    assert_eq!(seen.len(), 60);
    // Newest first.
    let first = app.gql_as(&admin, USERS, json!({ "take": 1 })).await;
    let newest = first["data"]["users"]["nodes"][0]["email"].as_str().unwrap().to_string();
    assert_ne!(newest, "boss@example.com", "the admin was made first");
    // Defaults and bounds.
    let body = app.gql_as(&admin, "{ users { nodes { id } } }", json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"].as_array().unwrap().len(), 20);
    let body = app.gql_as(&admin, USERS, json!({ "take": 101 })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    let body = app.gql_as(&admin, USERS, json!({ "skip": -1 })).await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
}
both!(users_page_and_count_stay_right);

async fn users_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let (_, rita) = app.sign_up("rita@example.com", "rita's pass phrase").await;
    app.sign_up("sam@example.org", "sam's pass phrase").await;
    app.sign_up("percent%user@example.org", "pct's pass phrase").await;
    app.gql_as(&admin, UPDATE, json!({ "id": rita, "input": { "firstName": "Rita", "lastName": "Moreno" } })).await;

    let count = |filter: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let body = app.gql_as(&admin, USERS, json!({ "filter": filter })).await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["users"]["totalCount"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({ "email": "RITA@Example.com" })).await, 1);
    assert_eq!(count(json!({ "email": "rita@example" })).await, 0, "exact, not substring");
    assert_eq!(count(json!({ "q": "MOREN" })).await, 1, "last name, any case");
    assert_eq!(count(json!({ "q": "rit" })).await, 1);
    assert_eq!(count(json!({ "q": "example.org" })).await, 2);
    assert_eq!(count(json!({ "q": "%" })).await, 1, "wildcards are literal");
    assert_eq!(count(json!({ "q": "_" })).await, 0);
    assert_eq!(count(json!({ "role": "ADMIN" })).await, 1);
    assert_eq!(count(json!({ "role": "MEMBER", "q": "example.org" })).await, 2);
}
both!(users_filter);

async fn update_user_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, admin_id) = app.admin("boss@example.com").await;
    let (member, member_id) = app.sign_up("tess@example.com", "tess's pass phrase").await;

    let body = app
        .gql_as(
            &member,
            UPDATE,
            json!({ "id": member_id, "input": {
                "firstName": " Tess ", "lastName": "Ng", "avatarUrl": "https://img.example.com/t.png",
                "metadata": { "theme": "dark", "n": [1, 2] } } }),
        )
        .await;
    let u = &body["data"]["updateUser"];
    assert_eq!(u["firstName"], "Tess");
    assert_eq!(u["metadata"], json!({ "theme": "dark", "n": [1, 2] }));
    // Omitted fields stay, null clears.
    let body = app.gql_as(&member, UPDATE, json!({ "id": member_id, "input": { "lastName": null } })).await;
    assert_eq!(body["data"]["updateUser"]["firstName"], "Tess");
    assert_eq!(body["data"]["updateUser"]["lastName"], Value::Null);
    // Bad values are refused clearly.
    for input in [json!({ "avatarUrl": "javascript:alert(1)" }), json!({ "firstName": "x".repeat(101) })] {
        let body = app.gql_as(&member, UPDATE, json!({ "id": member_id, "input": input })).await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{body}");
    }
    // Admin sets roles; the last admin cannot step down.
    let body = app.gql_as(&admin, UPDATE, json!({ "id": admin_id, "input": { "role": "MEMBER" } })).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
    let body = app.gql_as(&admin, UPDATE, json!({ "id": member_id, "input": { "role": "ADMIN" } })).await;
    assert_eq!(body["data"]["updateUser"]["role"], "ADMIN");
    let body = app.gql_as(&admin, UPDATE, json!({ "id": admin_id, "input": { "role": "MEMBER" } })).await;
    assert_eq!(body["data"]["updateUser"]["role"], "MEMBER", "now another admin remains");
    // The role is read from the database on every request: the demoted admin lost power.
    let body = app.gql_as(&admin, USERS, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    let body = app.gql_as(&member, UPDATE, json!({ "id": "missing", "input": { "firstName": "x" } })).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
}
both!(update_user_rules);

async fn deleted_users_are_gone_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, admin_id) = app.admin("boss@example.com").await;
    let (victor, victor_id) = app.sign_up("victor@example.com", "victor's pass phrase").await;
    let (victor2, _) = app.sign_up("victor@example.com", "victor's pass phrase").await;

    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": victor_id })).await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    for token in [&victor, &victor2] {
        assert_eq!(app.gql_as(token, "{ me { id } }", json!({})).await["data"]["me"], Value::Null);
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sessions WHERE user_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL)"
        )
        .await,
        0
    );
    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": victor_id })).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
    let list = app.gql_as(&admin, USERS, json!({})).await;
    assert_eq!(list["data"]["users"]["totalCount"], 1);
    let body = app.gql_as(&admin, "query($id: ID!) { user(id: $id) { id } }", json!({ "id": victor_id })).await;
    assert_eq!(body["data"]["user"], Value::Null);

    // The address is free again: invited anew, the person comes back as a new user.
    let body = app
        .gql_as(&admin, r#"mutation { createInvite(input: {email: "victor@example.com"}) { token } }"#, json!({}))
        .await;
    let token = body["data"]["createInvite"]["token"].as_str().expect("invite token").to_string();
    let r = accept(&app, &token, json!({ "password": "victor's new phrase" })).await;
    assert_eq!(r["success"], true, "{r}");
    assert_ne!(r["user"]["id"], json!(victor_id));
    // The old password is gone with the old identity.
    assert_eq!(app.emailpass("victor@example.com", "victor's pass phrase").await["success"], false);

    // The last admin cannot delete themself.
    let body = app.gql_as(&admin, "mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": admin_id })).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"));
}
both!(deleted_users_are_gone_at_once);
