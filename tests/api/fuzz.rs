//! A bounded fuzz run against the GraphQL endpoint: random JSON inputs, random strings,
//! huge and deeply nested values, garbage bodies. Seeded, so a failure reproduces. The
//! server must answer every one with a contract error or a result — never a 5xx, a panic
//! or internals — and keep every committed user and session.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp};

const CODES: [&str; 8] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
];
const PROVIDERS: [&str; 4] = ["emailpass", "google", "", "EMAILPASS"];
const KEYS: [&str; 9] =
    ["email", "password", "currentPassword", "code", "state", "callbackUrl", "firstName", "role", "metadata"];

fn random_string(rng: &mut StdRng) -> String {
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(1000..6000),
        1..=3 => 0,
        _ => rng.random_range(1..40),
    };
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0 => char::from_u32(rng.random_range(0..0x20)).unwrap_or('x'),
            1 => ['\'', '"', '\\', '%', '_', ';', '@', '\u{0}', '\u{202e}', 'é'][rng.random_range(0..10)],
            2 => char::from_u32(rng.random_range(0x80..0x2FFFF)).unwrap_or('ü'),
            _ => char::from(rng.random_range(b'a'..=b'z')),
        })
        .collect()
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random_range(-1e18..1e18)),
        3 => json!(rng.random::<i64>()),
        4 | 5 => Value::String(random_string(rng)),
        6 => Value::Array((0..rng.random_range(0..5)).map(|_| random_json(rng, depth + 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.random_range(0..5) {
                let key = if rng.random_bool(0.7) {
                    KEYS[rng.random_range(0..KEYS.len())].to_string()
                } else {
                    random_string(rng)
                };
                map.insert(key, random_json(rng, depth + 1));
            }
            if rng.random_bool(0.3) {
                map.insert("email".into(), json!(format!("{}@example.com", random_string(rng))));
            }
            Value::Object(map)
        }
    }
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn random_requests_get_contract_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "100000")]).await;
    let (admin, _) = app.admin("keeper@example.com").await;
    let (member, member_id) = app.sign_up("member@example.com", "member pass phrase").await;
    let url = format!("{}/graphql", app.addr);
    let mut rng = StdRng::seed_from_u64(0x5eed_a17f);

    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let mut results = 0;
    for case in 0..300 {
        let (token, body): (Option<&str>, String) = match rng.random_range(0..9) {
            0 => (None, json!({ "query": "mutation($p: String!, $i: JSON!) { authenticate(provider: $p, input: $i) { success error } }",
                "variables": { "p": PROVIDERS[rng.random_range(0..4)], "i": random_json(&mut rng, 0) } }).to_string()),
            1 => (None, json!({ "query": "mutation($t: String!, $i: JSON!) { acceptInvite(token: $t, provider: \"emailpass\", input: $i) { success error } }",
                "variables": { "t": random_string(&mut rng), "i": random_json(&mut rng, 0) } }).to_string()),
            2 => (Some(&admin), json!({ "query": "query($f: UserFilter, $s: Int, $t: Int) { users(filter: $f, skip: $s, take: $t) { totalCount } }",
                "variables": { "f": random_json(&mut rng, 0), "s": random_json(&mut rng, 3), "t": random_json(&mut rng, 3) } }).to_string()),
            3 => (Some(&member), json!({ "query": "mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }",
                "variables": { "id": if rng.random_bool(0.5) { json!(member_id) } else { random_json(&mut rng, 2) }, "i": random_json(&mut rng, 0) } }).to_string()),
            4 => (None, json!({ "query": "query($t: String!) { invite(token: $t) { email } }", "variables": { "t": random_json(&mut rng, 2) } }).to_string()),
            5 => (None, json!({ "query": random_string(&mut rng), "variables": random_json(&mut rng, 1) }).to_string()),
            6 => (None, random_string(&mut rng)),
            7 => (None, format!("{{\"query\":\"{{ authProviders }}\",\"variables\":{}}}", nested(rng.random_range(10..400)))),
            _ => (Some(&admin), json!({ "query": "mutation($i: CreateInviteInput!) { createInvite(input: $i) { id } }",
                "variables": { "i": random_json(&mut rng, 0) } }).to_string()),
        };
        let mut req = app.client.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("case {case}: no answer: {e}"));
        let status = resp.status().as_u16();
        *seen.entry(status).or_default() += 1;
        assert!([200, 400, 413].contains(&status), "case {case}: status {status} for {body:.300}");
        let text = resp.text().await.unwrap();
        let answer: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("case {case}: not JSON: {text:.300}"));
        let lower = text.to_lowercase();
        for leak in ["diesel", "panicked", "syntax error at", "sqlite", "postgres", "stack backtrace"] {
            assert!(!lower.contains(leak), "case {case}: `{leak}` leaked: {text:.500}");
        }
        results += usize::from(answer["data"].is_object());
        for e in answer["errors"].as_array().into_iter().flatten() {
            let code = e["extensions"]["code"].as_str().unwrap_or("");
            assert!(CODES.contains(&code), "case {case}: error without a contract code: {e}");
            assert_ne!(code, "INTERNAL", "case {case}: unexpected internal error: {e} for {body:.300}");
        }
    }

    // The run reached the resolvers, not only the transport's refusals.
    assert!(results >= 40 && seen.get(&400).copied().unwrap_or(0) >= 30, "statuses {seen:?}, results {results}");

    // Still up, and nothing committed was lost.
    assert_eq!(app.client.get(format!("{}/healthz", app.addr)).send().await.unwrap().status(), 200);
    assert_eq!(app.gql_as(&member, "{ me { email } }", json!({})).await["data"]["me"]["email"], "member@example.com");
    assert_eq!(app.gql_as(&admin, "{ me { role } }", json!({})).await["data"]["me"]["role"], "ADMIN");
    assert_eq!(app.emailpass("member@example.com", "member pass phrase").await["success"], true);
}
both!(random_requests_get_contract_answers);
