//! The GraphQL calls the scenarios make, and how an answer is judged.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::load::{self, Call, MakeCall, Verdict, contains};
use crate::{AUTHENTICATE, PASSWORD};

pub(crate) fn email(n: u64) -> String {
    format!("user{n}@bench.example.com")
}

pub(crate) fn query(q: &str) -> Bytes {
    Bytes::from(json!({ "query": q }).to_string())
}

pub(crate) fn authenticate(email: &str, password: &str, token: Option<Arc<str>>) -> Call {
    let body = json!({ "query": AUTHENTICATE, "variables": { "i": { "email": email, "password": password } } });
    Call { body: Bytes::from(body.to_string()), token }
}

pub(crate) fn graphql_verdict(status: u16, body: &[u8], ok: &[u8]) -> Verdict {
    if status == 200 && contains(body, ok) && !contains(body, b"\"errors\"") {
        Verdict::Ok
    } else if status == 503 && contains(body, b"\"UNAVAILABLE\"") {
        // The hashing workers' expected wait is past its limit. RATE_LIMITED is not this:
        // the run raises the throttle's limits, so one would be an error.
        Verdict::Limited
    } else {
        Verdict::Error(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
    }
}

pub(crate) fn judge_signed_in(status: u16, body: &[u8]) -> Verdict {
    graphql_verdict(status, body, b"\"success\":true")
}

pub(crate) fn judge_refused(status: u16, body: &[u8]) -> Verdict {
    graphql_verdict(status, body, b"\"error\":\"Invalid email or password\"")
}

pub(crate) fn judge_me(status: u16, body: &[u8]) -> Verdict {
    graphql_verdict(status, body, b"\"me\":{\"id\"")
}

pub(crate) fn judge_users(status: u16, body: &[u8]) -> Verdict {
    graphql_verdict(status, body, b"\"totalCount\":")
}

/// Signs in once and returns the session token.
pub(crate) async fn sign_in(addr: SocketAddr, email: &str, password: &str) -> Result<String, String> {
    let (email, password) = (email.to_string(), password.to_string());
    token_of(addr, Arc::new(move |_, _| authenticate(&email, &password, None))).await
}

/// The token from one authenticate call (a plain request whose body is kept).
pub(crate) async fn token_of(addr: SocketAddr, make: MakeCall) -> Result<String, String> {
    let body = load::post_once(addr, make(0, 0)).await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    v.pointer("/data/authenticate/session/token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("no token in {v}"))
}

/// `n` sessions of the first `n` accounts, signed in `n` at once.
pub(crate) async fn sign_in_many(addr: SocketAddr, accounts: &[String], n: usize) -> Result<Vec<Arc<str>>, String> {
    let mut tasks = Vec::new();
    for email in accounts.iter().take(n) {
        let email = email.clone();
        let make: MakeCall = Arc::new(move |_, _| authenticate(&email, PASSWORD, None));
        tasks.push(tokio::spawn(token_of(addr, make)));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(Arc::from(t.await.map_err(|e| e.to_string())??.as_str()));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_a_refusal_and_a_throttle_answer_an_error() {
        let busy = br#"{"errors":[{"message":"busy","extensions":{"code":"UNAVAILABLE","retryAfter":3}}]}"#;
        assert_eq!(judge_signed_in(503, busy), Verdict::Limited);
        let limited = br#"{"data":null,"errors":[{"extensions":{"code":"RATE_LIMITED","retryAfter":1}}]}"#;
        assert!(matches!(judge_signed_in(200, limited), Verdict::Error(_)));
        let ok = br#"{"data":{"authenticate":{"success":true}}}"#;
        assert_eq!(judge_signed_in(200, ok), Verdict::Ok);
    }
}
