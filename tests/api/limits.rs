//! What a document may cost (API.md 6.2): GraphiQL's introspection is answered, deeper
//! introspection and deep own-type queries are refused, and documents built to be slow (fragment
//! fan-out, tens of thousands of tokens, thousands of errors) are answered or refused in well
//! under a second, near the 64 KiB body limit.

use std::time::{Duration, Instant};

use authql::graphql::limits::{MAX_NAME_LEN, MAX_SELECTIONS, MAX_TOKENS};
use authql::graphql::{MAX_COMPLEXITY, MAX_DEPTH, MAX_INTROSPECTION_DEPTH};
use authql::http::BODY_LIMIT;
use authql::http::graphql::MAX_ERRORS;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures/introspection");

/// POSTs a body; returns status and JSON answer, checking it came within a second.
async fn timed(app: &TestApp, label: &str, body: Value) -> (u16, Value) {
    let text = body.to_string();
    assert!(text.len() <= BODY_LIMIT, "{label}: {} bytes is over the body limit", text.len());
    let started = Instant::now();
    let resp = app.post_json(body, None).await;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{label}: took {took:?}");
    (status, answer)
}

fn message(answer: &Value) -> String {
    answer["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

/// The request refused whole (400): the batch, the raw text, the shared budget.
fn refused_with(label: &str, answer: (u16, Value), needle: &str) {
    refused(label, answer, 400, needle);
}

/// One document refused as validation would refuse it (200, errors, no data); it never ran.
fn document_refused_with(label: &str, answer: (u16, Value), needle: &str) {
    refused(label, answer, 200, needle);
}

fn refused(label: &str, (status, answer): (u16, Value), expected: u16, needle: &str) {
    assert_eq!(status, expected, "{label}: {answer:.300}");
    assert!(answer["data"].is_null(), "{label}: {answer:.300}");
    assert_eq!(answer["errors"].as_array().map(Vec::len), Some(1), "{label}: {answer:.300}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{label}: {answer}");
    assert!(message(&answer).contains(needle), "{label}: `{needle}` not in {answer}");
}

async fn graphiql_introspection_is_answered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "graphql"));
    files.sort();
    assert_eq!(files.len(), 8, "graphql-js 16.5.0 and 16.15.0, four option sets each: {files:?}");
    for path in &files {
        let label = path.file_name().unwrap().to_string_lossy().to_string();
        let query = std::fs::read_to_string(path).unwrap();
        let (status, answer) = timed(&app, &label, json!({ "query": query })).await;
        assert_eq!(status, 200, "{label}: {answer:.500}");
        assert!(answer.get("errors").is_none(), "{label}: {answer:.500}");
        let types = answer["data"]["__schema"]["types"].as_array().unwrap();
        let user = types.iter().find(|t| t["name"] == "User").unwrap_or_else(|| panic!("{label}: no User"));
        assert!(user["fields"].as_array().unwrap().iter().any(|f| f["name"] == "authUsers"), "{label}");
        // The deepest reference is walked to the end: [AuthUser!]! is NON_NULL of LIST of ...
        let auth_users = user["fields"].as_array().unwrap().iter().find(|f| f["name"] == "authUsers").unwrap();
        assert_eq!(auth_users["type"]["ofType"]["ofType"]["ofType"]["name"], "AuthUser", "{label}");
    }
    // GraphiQL may send it over GET too.
    let query = std::fs::read_to_string(files.last().unwrap()).unwrap();
    let resp = app.client.get(format!("{}/graphql", app.addr)).query(&[("query", &query)]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert!(answer["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 10), "{answer:.300}");
}
both!(graphiql_introspection_is_answered);

async fn deep_queries_are_still_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let of_type = |n: usize| format!("{}name{}", "ofType { ".repeat(n), " }".repeat(n));

    // Introspection: as deep as graphql-js's query goes, and not one level more.
    let at = MAX_INTROSPECTION_DEPTH - 4;
    let q = format!("{{ __type(name: \"User\") {{ fields {{ type {{ {} }} }} }} }}", of_type(at));
    let (status, answer) = timed(&app, "introspection at the limit", json!({ "query": q })).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["__type"]["fields"].is_array(), "{answer}");
    let q = format!("{{ __type(name: \"User\") {{ fields {{ type {{ {} }} }} }} }}", of_type(at + 1));
    document_refused_with(
        "introspection past the limit",
        timed(&app, "introspection past the limit", json!({ "query": q })).await,
        "nested too deep",
    );

    // Lists inside lists multiply the answer: shallow in depth, refused all the same.
    let fan = "{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }";
    document_refused_with(
        "types.fields.fields.fields",
        timed(&app, "types.fields.fields.fields", json!({ "query": fan })).await,
        "lists",
    );
    let hostile =
        format!("{{ __schema {{ types {{ {}name{} }} }} }}", "fields { type { ".repeat(20), " } }".repeat(20));
    document_refused_with(
        "hostile introspection",
        timed(&app, "hostile introspection", json!({ "query": hostile })).await,
        "nested too deep",
    );
    // The same, hidden in fragments.
    let via = "{ __schema { types { ...T } } } fragment T on __Type { fields { type { ...U } } } \
               fragment U on __Type { fields { type { fields { name } } } }";
    document_refused_with(
        "through fragments",
        timed(&app, "through fragments", json!({ "query": via })).await,
        "lists",
    );

    // The schema's own types: past MAX_DEPTH, refused before validation looks at the fields.
    let own = |n: usize| format!("{{ {}id{} }}", "me { ".repeat(n - 1), " }".repeat(n - 1));
    let (status, answer) = timed(&app, "own types at the limit", json!({ "query": own(MAX_DEPTH) })).await;
    assert_eq!(status, 200, "validation, not the depth limit, answers: {answer}");
    assert!(message(&answer).contains("Unknown field"), "{answer}");
    document_refused_with(
        "own types past the limit",
        timed(&app, "own types past the limit", json!({ "query": own(MAX_DEPTH + 1) })).await,
        "nested too deep",
    );
    let inner = MAX_DEPTH - 2;
    let via = format!(
        "{{ me {{ ...A }} }} fragment A on User {{ authUsers {{ ...B }} }} fragment B on AuthUser {{ {}id{} }}",
        "me { ".repeat(inner),
        " }".repeat(inner)
    );
    document_refused_with(
        "own types through fragments",
        timed(&app, "own types through fragments", json!({ "query": via })).await,
        "nested too deep",
    );

    // Still serving.
    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass"]));
}
both!(deep_queries_are_still_refused);

/// `unit` repeated (space-separated) as many times as fits in a body with `head` and `tail`.
fn fill(head: &str, unit: &str, tail: &str, count: usize) -> String {
    format!("{head}{}{tail}", vec![unit; count].join(" "))
}

fn fan_out(k: usize, levels: usize) -> String {
    let defs: String =
        (0..levels).map(|i| format!("fragment F{i} on Query {{ {}}} ", format!("...F{} ", i + 1).repeat(k))).collect();
    format!("{{ ...F0 }} {defs}fragment F{levels} on Query {{ __typename }}")
}

async fn documents_built_to_be_slow_are_answered_fast(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let q = |query: String| json!({ "query": query });

    // Fragment fan-out: tiny documents that expand to 2^24 and 10^7 selections.
    for (k, levels) in [(2, 24), (10, 7), (3, 16)] {
        let label = format!("fan-out {k}^{levels}");
        refused_with(&label, timed(&app, &label, q(fan_out(k, levels))).await, "too complex");
    }
    // Just under the budget the fan-out is answered.
    let (status, answer) = timed(&app, "fan-out 3^6", q(fan_out(3, 6))).await;
    assert_eq!((status, &answer["data"]["__typename"]), (200, &json!("Query")), "{answer}");

    // Tens of thousands of tokens of every sort: refused on length alone.
    let many: [(&str, String); 6] = [
        ("fields", fill("{ ", "a", " }", MAX_TOKENS + 1)),
        ("directives", fill("{ __typename ", "@skip(if: false)", " }", 3500)),
        ("arguments", fill("{ authProviders(", "a: 1", ") }", 11_000)),
        ("variables", fill("query(", "$v: Int", ") { __typename }", 7000)),
        ("operations", fill("", "query { __typename }", "", 2800)),
        ("list items", fill("{ authProviders(x: [", "1", "]) }", 30_000)),
    ];
    for (label, query) in many {
        refused_with(label, timed(&app, label, q(query)).await, &format!("at most {MAX_TOKENS} tokens"));
    }

    // Just under the token limit, each kind is still walked in time.
    let under: [(&str, String); 6] = [
        ("fields", fill("{ ", "a", " }", MAX_COMPLEXITY)),
        ("__typename", fill("{ ", "__typename", " }", 5000)),
        ("directives", fill("{ __typename ", "@skip(if: false)", " }", MAX_TOKENS / 8)),
        ("variables", fill("query(", "$v: Int", ") { __typename }", MAX_TOKENS / 5)),
        ("operations", (0..MAX_TOKENS / 6).map(|i| format!("query Q{i} {{ __typename }} ")).collect()),
        (
            "unused fragments",
            (0..MAX_TOKENS / 8)
                .fold("{ __typename } ".to_string(), |q, i| q + &format!("fragment F{i} on Query {{ a }} ")),
        ),
    ];
    for (label, query) in under {
        let (status, answer) = timed(&app, label, q(query)).await;
        assert_eq!(status, 200, "{label}: {answer:.300}");
        let errors = answer["errors"].as_array().map(Vec::len).unwrap_or(0);
        assert!(errors <= MAX_ERRORS + 1, "{label}: {errors} errors");
    }

    // Past the complexity limit a document is refused before validation walks it.
    let over = fill("{ ", "a", " }", MAX_COMPLEXITY + 1);
    document_refused_with("complexity", timed(&app, "complexity", q(over)).await, "too complex");

    // Thousands of errors are cut to MAX_ERRORS and a note.
    let (status, answer) = timed(&app, "errors", q(fill("{ authProviders(", "a: 1", ") }", MAX_TOKENS / 4))).await;
    assert_eq!(status, 200);
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), MAX_ERRORS + 1, "{answer:.300}");
    assert!(errors[MAX_ERRORS]["message"].as_str().unwrap().starts_with("Too many errors"));
    assert_eq!(errors[MAX_ERRORS]["extensions"]["code"], "BAD_USER_INPUT");

    // Long strings and comments cost one token each.
    let room = BODY_LIMIT - 200;
    let long: [(&str, String); 3] = [
        ("string", format!("{{ authProviders(x: \"{}\") }}", "a".repeat(room))),
        ("block string", format!("{{ authProviders(x: \"\"\"{}\"\"\") }}", "\\\"\"\"".repeat(room / 10))),
        ("comment", format!("{{ __typename {} }}", "# \n".repeat(room / 5))),
    ];
    for (label, query) in long {
        let (status, answer) = timed(&app, label, q(query)).await;
        assert_eq!(status, 200, "{label}: {answer:.300}");
    }
    // A name no schema holds is refused before validation, which would compare it with every
    // known name to suggest one (most of a second at 64 KiB).
    for (label, query) in [
        ("name", format!("{{ {} }}", "a".repeat(room))),
        ("argument name", format!("{{ authProviders({}: 1) }}", "a".repeat(room))),
        ("number", format!("{{ authProviders(x: {}) }}", "9".repeat(room))),
    ] {
        document_refused_with(label, timed(&app, label, q(query)).await, &format!("at most {MAX_NAME_LEN} characters"));
    }

    // A batch shares one budget: ten documents of a thousand tokens each are too many, and so
    // are ten fan-outs that each fit alone.
    let item = json!({ "query": fill("{ ", "a", " }", MAX_TOKENS / 10) });
    refused_with("batch of tokens", timed(&app, "batch of tokens", Value::Array(vec![item; 10])).await, "tokens");
    let item = json!({ "query": fan_out(3, 6) });
    let (status, answer) = timed(&app, "one fan-out", item.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let wide = Value::Array(vec![item; 10]);
    refused_with(
        "batch of fan-outs",
        timed(&app, "batch of fan-outs", wide).await,
        &format!("at most {MAX_SELECTIONS} selections"),
    );

    assert_eq!(app.gql("{ authProviders }", json!({})).await["data"]["authProviders"], json!(["emailpass"]));
}
both!(documents_built_to_be_slow_are_answered_fast);
