//! Nesting of every kind, from shallow to the body limit (API.md 6.2): selection sets, inline
//! fragments, fragment chains and fan-outs, list and object literals, variable types, JSON
//! variables, directive arguments, introspection, brackets hidden in strings and comments,
//! mixtures, batches, over POST and GET. Generated from a seed, so a failure reproduces.
//! Each answer must be a clean 4xx or a `BAD_USER_INPUT` error (or data), within a second;
//! past the nesting limit it must be the 400 that names it; and the server must go on serving.

use std::time::{Duration, Instant};

use authql::graphql::limits::{MAX_NESTING, MAX_SELECTIONS};
use authql::http::BODY_LIMIT;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp};

/// The report (issue 12): a mutation whose input object literal nests 5,000 deep.
fn reported_mutation() -> String {
    format!(
        "mutation {{ authenticate(provider: \"emailpass\", input: {}1{}) {{ success }} }}",
        "{a: ".repeat(5000),
        "}".repeat(5000)
    )
}

/// A request to send, and what the generator knows about it. Bodies are kept as text: a
/// `serde_json::Value` cannot hold what serde_json refuses to parse (128 levels).
#[derive(Debug)]
struct Case {
    label: String,
    /// POST this JSON text, or GET with these parameters.
    payload: Payload,
    /// Past a limit: the status that refusal must come with, and a word of its message.
    must_refuse: Option<(u16, &'static str)>,
    /// Within every limit: the answer must not be a refusal.
    must_answer: bool,
}

#[derive(Debug)]
enum Payload {
    Post(String),
    Get { query: String, variables: Option<String> },
}

/// How many levels a case nests: shallow, around the limits, deep, or as deep as fits.
fn levels(rng: &mut StdRng, per_level: usize) -> usize {
    let fits = (BODY_LIMIT - 400) / per_level;
    match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=10),
        3..=5 => rng.random_range(MAX_NESTING - 6..=MAX_NESTING + 6),
        6..=7 => rng.random_range(100..=1000.min(fits)),
        _ => rng.random_range(fits / 2..=fits),
    }
}

fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Brackets nested past the limit: the request is refused before anything parses it.
fn deeper_than(nesting: usize) -> Option<(u16, &'static str)> {
    (nesting > MAX_NESTING).then_some((400, "nested too deep"))
}

/// `n` levels of lists and objects, mixed: `[` and `{a: ` in GraphQL, `[` and `{"a":` in JSON.
fn mixed_levels(rng: &mut StdRng, n: usize, object: &str, leaf: &str) -> String {
    let (mut open, mut close) = (String::new(), String::new());
    for _ in 0..n {
        let list = rng.random_bool(0.5);
        open.push_str(if list { "[" } else { object });
        close.push(if list { ']' } else { '}' });
    }
    let close: String = close.chars().rev().collect();
    format!("{open}{leaf}{close}")
}

fn post_query(query: &str) -> String {
    json!({ "query": query }).to_string()
}

/// One document, as POST or GET.
fn document(label: &str, query: String, must_refuse: Option<(u16, &'static str)>, get: bool) -> Case {
    let payload = if get { Payload::Get { query, variables: None } } else { Payload::Post(post_query(&query)) };
    Case { label: label.to_string(), payload, must_refuse, must_answer: false }
}

fn generate(rng: &mut StdRng) -> Case {
    let get = rng.random_bool(0.25);
    match rng.random_range(0..13) {
        0 => {
            let n = levels(rng, 7);
            document("fields", format!("{{ {} }}", nest("me { ", "id", " }", n)), deeper_than(n + 1), get)
        }
        1 => {
            let n = levels(rng, 18);
            let q = format!("{{ {} }}", nest("... on Query { ", "__typename", " }", n));
            document("inline fragments", q, deeper_than(n + 1), get)
        }
        2 => {
            // Textually flat: only the spreads nest.
            let n = levels(rng, 44).min(1200);
            let defs: String = (0..n).map(|i| format!("fragment F{i} on Query {{ ...F{} }} ", i + 1)).collect();
            let q = format!("{{ ...F0 }} {defs}fragment F{n} on Query {{ __typename }}");
            // Parsed, then refused as a document: an error in its place, as validation gives.
            let refuse = (n + 2 > MAX_NESTING).then_some((200, "nested too deep"));
            document("fragment chain", q, refuse, get)
        }
        3 => {
            let k = rng.random_range(2..=10usize);
            let n = rng.random_range(2..=30usize);
            let defs: String = (0..n)
                .map(|i| format!("fragment F{i} on Query {{ {}}} ", format!("...F{} ", i + 1).repeat(k)))
                .collect();
            let q = format!("{{ ...F0 }} {defs}fragment F{n} on Query {{ __typename }}");
            // Expanded, the last fragment alone is met k^n times.
            let refuse =
                k.checked_pow(n as u32).is_none_or(|leaves| leaves > MAX_SELECTIONS).then_some((400, "too complex"));
            document(&format!("fragment fan-out {k}^{n}"), q, refuse, get)
        }
        4 => {
            let n = levels(rng, 2);
            let q = format!(
                "mutation {{ authenticate(provider: \"emailpass\", input: {}) {{ success }} }}",
                nest("[", "1", "]", n)
            );
            document("list literal", q, deeper_than(n + 2), get)
        }
        5 => {
            let n = levels(rng, 4);
            let q = format!(
                "mutation {{ authenticate(provider: \"emailpass\", input: {}) {{ success }} }}",
                nest("{a:", "1", "}", n)
            );
            document("object literal", q, deeper_than(n + 2), get)
        }
        6 => {
            let n = levels(rng, 2);
            let q = format!("query($v: {}) {{ __typename }}", nest("[", "Int", "]", n));
            document("variable type", q, deeper_than(n + 1), get)
        }
        7 => {
            let n = levels(rng, 6);
            let query = "query($i: JSON) { __typename @skip(if: false) }".to_string();
            let variables = format!("{{\"i\": {}}}", mixed_levels(rng, n, "{\"a\":", "true"));
            // Over POST the body nests one level more than the variables.
            let (payload, nesting) = if get {
                (Payload::Get { query, variables: Some(variables) }, n + 1)
            } else {
                (Payload::Post(format!("{{\"query\": {}, \"variables\": {variables}}}", json!(query))), n + 2)
            };
            Case { label: "JSON variable".into(), payload, must_refuse: deeper_than(nesting), must_answer: false }
        }
        8 => {
            let n = levels(rng, 2);
            let q = format!("{{ __typename @include(if: {}) }}", nest("[", "true", "]", n));
            document("directive argument", q, deeper_than(n + 2), get)
        }
        9 => {
            let n = levels(rng, 16);
            let steps = ["ofType { ", "fields { ", "type { ", "interfaces { ", "inputFields { ", "args { "];
            let path: String = (0..n).map(|_| steps[rng.random_range(0..steps.len())]).collect();
            let q = format!("{{ __schema {{ types {{ {path}name{} }} }} }}", " }".repeat(n));
            document("introspection", q, deeper_than(n + 3), get)
        }
        10 => {
            // Deep brackets inside strings, block strings and comments; shallow real nesting.
            let n = levels(rng, 3).min(MAX_NESTING * 50);
            let noise = "{[(".repeat(n / 3 + 1);
            let q = match rng.random_range(0..3) {
                0 => format!("{{ authProviders(x: \"{noise}\") }}"),
                1 => format!("{{ authProviders(x: \"\"\"{noise}\"\"\") }}"),
                _ => format!("{{ authProviders # {noise}\n}}"),
            };
            Case { must_answer: true, ..document("brackets in strings and comments", q, None, get) }
        }
        11 => {
            let m = rng.random_range(0..=MAX_NESTING / 2);
            let selections: String =
                (0..m).map(|_| ["me { ", "... on Query { ", "... { "][rng.random_range(0..3)]).collect();
            let n = levels(rng, 4);
            let value = mixed_levels(rng, n, "{a: ", "1");
            let q = format!("query {{ {selections}authProviders(x: {value}){} }}", " }".repeat(m));
            document("mixed", q, deeper_than(m + n + 2), get)
        }
        _ => {
            let size = rng.random_range(1..=10);
            let mut deepest = 0;
            let items: Vec<String> = (0..size)
                .map(|_| {
                    let n = levels(rng, 4 * size);
                    deepest = deepest.max(n);
                    post_query(&format!("{{ authProviders(x: {}) }}", mixed_levels(rng, n, "{a: ", "1")))
                })
                .collect();
            Case {
                label: format!("batch of {size}"),
                payload: Payload::Post(format!("[{}]", items.join(","))),
                must_refuse: deeper_than(deepest + 2),
                must_answer: false,
            }
        }
    }
}

/// Sends one case; checks the answer is clean and fast. Returns the status.
async fn send(app: &TestApp, case: &Case) -> u16 {
    let url = format!("{}/graphql", app.addr);
    let request = match &case.payload {
        Payload::Get { query, variables } => {
            let mut params = vec![("query", query.as_str())];
            if let Some(v) = variables {
                params.push(("variables", v.as_str()));
            }
            let url = reqwest::Url::parse_with_params(&url, &params).unwrap();
            // An HTTP client cannot even send a URL past 64 KiB; servers refuse it unread.
            if url.as_str().len() > 65_000 {
                return 414;
            }
            app.client.get(url)
        }
        Payload::Post(body) => app.client.post(&url).header("content-type", "application/json").body(body.clone()),
    };
    let started = Instant::now();
    let resp =
        request.send().await.unwrap_or_else(|e| panic!("{}: no answer (dropped?): {}", case.label, e.without_url()));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_else(|e| panic!("{}: answer cut off: {e}", case.label));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{}: took {took:?}", case.label);
    assert!(status < 500, "{}: status {status}: {text:.300}", case.label);
    let answer: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: {status} is not JSON: {text:.300}", case.label));
    let errors: Vec<&Value> = match &answer {
        Value::Array(items) => items.iter().filter_map(|r| r["errors"].as_array()).flatten().collect(),
        one => one["errors"].as_array().into_iter().flatten().collect(),
    };
    for e in &errors {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{}: {e}", case.label);
    }
    if let Some((expected, needle)) = case.must_refuse {
        assert_eq!(status, expected, "{}: must be refused: {text:.300}", case.label);
        assert!(answer.get("data").is_none_or(Value::is_null), "{}: it ran: {text:.300}", case.label);
        let message = errors.first().and_then(|e| e["message"].as_str()).unwrap_or_default().to_lowercase();
        assert!(message.contains(needle), "{}: `{needle}` not in {message}", case.label);
    } else if case.must_answer {
        assert_eq!(status, 200, "{}: {text:.300}", case.label);
    } else {
        assert!([200, 400, 405].contains(&status), "{}: status {status}: {text:.300}", case.label);
    }
    status
}

async fn generated_nesting_gets_clean_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("AUTHQL_THROTTLE_IP_MAX", "100000")]).await;
    let mut rng = StdRng::seed_from_u64(0x6e65_7374);
    let mut refused = 0;
    let mut answered = 0;
    for i in 0..160 {
        let mut case = generate(&mut rng);
        let method = if matches!(case.payload, Payload::Get { .. }) { "GET" } else { "POST" };
        case.label = format!("case {i} ({}, {method})", case.label);
        match send(&app, &case).await {
            400 => refused += 1,
            200 => answered += 1,
            _ => {}
        }
    }
    // Both sides of the limits were reached.
    assert!(refused >= 40 && answered >= 30, "refused {refused}, answered {answered}");
    let body = app.gql("{ authProviders }", json!({})).await;
    assert_eq!(body["data"]["authProviders"], json!(["emailpass"]), "{body}");
    app.sign_up("after@example.com", "still serving phrase").await;
}
both!(generated_nesting_gets_clean_answers);

async fn the_reported_literal_is_refused_and_the_server_lives(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let query = reported_mutation();
    let refused = |label: &str, payload: Payload| Case {
        label: label.to_string(),
        payload,
        must_refuse: Some((400, "nested too deep")),
        must_answer: false,
    };
    let deep_json = nest("{\"a\":", "1", "}", 5000);
    let cases = [
        refused("POST", Payload::Post(post_query(&query))),
        refused("GET", Payload::Get { query: query.clone(), variables: None }),
        refused("as a query over GET", Payload::Get { query: query.replacen("mutation", "query", 1), variables: None }),
        refused(
            "as JSON variables",
            Payload::Post(format!(
                "{{\"query\": {}, \"variables\": {{\"i\": {deep_json}}}}}",
                json!("mutation($i: JSON!) { authenticate(provider: \"emailpass\", input: $i) { success } }")
            )),
        ),
        refused(
            "as JSON variables over GET",
            Payload::Get {
                query: "query($i: JSON) { __typename }".into(),
                variables: Some(format!("{{\"i\": {deep_json}}}")),
            },
        ),
    ];
    for case in &cases {
        send(&app, case).await;
    }
    // Many at once, from several connections: nothing falls over.
    let all = futures_util::future::join_all((0..8).map(|_| send(&app, &cases[0]))).await;
    assert!(all.iter().all(|s| *s == 400));
    assert_eq!(app.client.get(format!("{}/healthz", app.addr)).send().await.unwrap().status(), 200);
    let (token, _) = app.sign_up("alive@example.com", "alive pass phrase").await;
    assert_eq!(app.gql_as(&token, "{ me { email } }", json!({})).await["data"]["me"]["email"], "alive@example.com");
}
both!(the_reported_literal_is_refused_and_the_server_lives);
