//! From raw bytes to an answer, through the app `authql serve` runs: its routes and middleware,
//! the transport's limits, the schema and its resolvers, against a SQLite database in a
//! temporary directory. An input is a JSON body to POST, or a byte from 1 to 4 and a payload
//! to send another way (a GET query, GET parameters, a POST of another media type).
//!
//! A crash, a stack overflow or a run past libFuzzer's `-timeout` is a finding, and so is an
//! answer that breaks the contract (API.md 2 and 6.2): a 5xx other than 503, a JSON answer that
//! does not parse, an error without a contract code, an `INTERNAL` error. Every 256 inputs a
//! plain query must still be answered.

#![no_main]

use std::cell::Cell;

use actix_web::http::{StatusCode, Uri};
use actix_web::rt::System;
use actix_web::test::{self, TestRequest};
use actix_web::{App, middleware};
use authql::config::Config;
use authql::server;
use authql::state::AppState;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// API.md 2, less INTERNAL: nothing here should be unexpected.
const CODES: [&str; 7] =
    ["UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "RATE_LIMITED", "UNAVAILABLE"];

type Check = Box<dyn Fn(&[u8])>;

thread_local! {
    // libFuzzer calls the target on one thread: one app, built once, serves every input. It is
    // leaked, never dropped: at exit actix's own thread-locals may be gone before it, and its
    // requests return to a pool in them when dropped.
    static HARNESS: &'static dyn Fn(&[u8]) = Box::leak(harness());
}

fuzz_target!(|data: &[u8]| HARNESS.with(|check| check(data)));

fn harness() -> Check {
    let dir = std::env::temp_dir().join(format!("authql-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let env = [
        ("AUTHQL_DATABASE_URL", format!("sqlite://{}", dir.join("authql.db").display())),
        // Cheap hashes: the fuzzer is after the request path, not argon2's cost.
        ("AUTHQL_ARGON2_MEMORY_KIB", "8".into()),
        ("AUTHQL_ARGON2_ITERATIONS", "1".into()),
        ("AUTHQL_HASH_WORKERS", "1".into()),
        ("AUTHQL_DB_POOL_SIZE", "2".into()),
        ("AUTHQL_THROTTLE_IP_MAX", "1000000".into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let config = Config::from_sources(None, env).expect("the fuzz configuration is valid");
    let runner = System::new();
    let app = runner.block_on(async {
        let state = AppState::build(config).expect("the app starts");
        let schema = authql::graphql::build_schema(state.clone());
        state.mailer.start();
        test::init_service(
            App::new()
                .wrap(authql::http::cors(&state.config))
                .wrap(middleware::from_fn(authql::http::middleware::around))
                .configure(server::configure(state.clone(), schema)),
        )
        .await
    });
    let served = Cell::new(0u64);
    Box::new(move |data| {
        runner.block_on(async {
            let Some((request, label)) = request(data) else { return };
            let resp = test::call_service(&app, request.to_request()).await;
            let status = resp.status();
            let json = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body = test::read_body(resp).await;
            check(label, status, json, &body);
            served.set(served.get() + 1);
            if served.get() % 256 == 0 {
                let plain = TestRequest::post()
                    .uri("/graphql")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(r#"{"query":"{ authProviders }"}"#);
                let answer: Value = test::call_and_read_body_json(&app, plain.to_request()).await;
                assert_eq!(answer["data"]["authProviders"][0], "emailpass", "still serving: {answer}");
            }
        })
    })
}

/// A JSON body is POSTed as it is; a leading byte from 1 to 4 picks another way in for the rest.
/// `None` for a URL no HTTP server would route (past 64 KiB): actix refuses it unread.
fn request(data: &[u8]) -> Option<(TestRequest, &'static str)> {
    let base = |r: TestRequest| r.peer_addr("127.0.0.1:40000".parse().expect("an address"));
    let post = |content_type: &'static str, body: &[u8]| {
        base(TestRequest::post()).uri("/graphql").insert_header(("content-type", content_type)).set_payload(body.to_vec())
    };
    let get = |uri: String| uri.parse::<Uri>().is_ok().then(|| base(TestRequest::get()).uri(&uri));
    Some(match data.split_first() {
        Some((1, rest)) => (get(format!("/graphql?query={}", encode(rest, b"")))?, "GET query"),
        Some((2, rest)) => (get(format!("/graphql?{}", encode(rest, b"&=")))?, "GET params"),
        Some((3, rest)) => (post("application/graphql-response+json; charset=utf-8", rest), "POST graphql-response"),
        Some((4, rest)) => (post("text/plain", rest), "POST text"),
        _ => (post("application/json", data), "POST"),
    })
}

/// Percent-encodes all but unreserved characters and `keep`.
fn encode(bytes: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn check(label: &str, status: StatusCode, json: bool, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{label}: {status}: {text:.500}"
    );
    if !json {
        return;
    }
    let answer: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{label}: not JSON ({e}): {text:.500}"));
    let answers = match &answer {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    for one in answers {
        for e in one["errors"].as_array().into_iter().flatten() {
            let code = e["extensions"]["code"].as_str().unwrap_or_default();
            assert!(CODES.contains(&code), "{label}: {status}: error code `{code}`: {e}");
        }
    }
}
