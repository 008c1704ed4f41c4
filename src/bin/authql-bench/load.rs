//! The load generator: N keep-alive HTTP/1.1 connections (hyper, one request in flight on
//! each), a closed loop bounded by time and by request count, or crowds of simultaneous
//! requests. Only ever aimed at the server this benchmark started on 127.0.0.1.
//!
//! A crowd round opens its connections afresh once the previous round is over: 500 clients
//! arriving at once, each with its own connection. Reusing the previous round's connections
//! made the bench its own source of errors: a client served early in a round sat idle until
//! the round's slowest answer, and when that took longer than the server's keep-alive (5 s)
//! the server closed the idle connection just as the next round sent on it ("connection
//! closed before message completed", the race HTTP/1.1 leaves to clients of a POST); a
//! connection opened early and left without a request meets the server's request timeout
//! (5 s, HTTP 408) the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stats::{self, Latencies};

/// What one GraphQL POST carries.
pub(crate) struct Call {
    pub body: Bytes,
    pub token: Option<Arc<str>>,
}

/// How a response counts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    /// 503 `UNAVAILABLE`: the server refused quickly, as designed under overload (the
    /// expected wait for a hashing worker past `AUTHQL_HASH_MAX_WAIT`).
    Limited,
    Error(String),
}

/// Builds the call for (connection index, sequence number across all connections).
pub(crate) type MakeCall = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;
/// Judges (HTTP status, body).
pub(crate) type Judge = fn(u16, &[u8]) -> Verdict;

pub(crate) enum Shape {
    /// Every connection sends back to back until `duration` passes or `max_requests` are sent.
    Closed { duration: Duration, max_requests: u64 },
    /// All connections send one request at the same instant, `rounds` times, each round on
    /// new connections.
    Burst { rounds: u32 },
}

#[derive(Default)]
pub(crate) struct Outcome {
    pub ok: u64,
    pub limited: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latencies of answered requests (ok and errors), and of the refused ones apart.
    pub latencies: Latencies,
    pub limited_latencies: Latencies,
    /// Sequence numbers that succeeded (the accounts a sign-up created).
    pub ok_seqs: Vec<u64>,
}

impl Outcome {
    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.limited + self.errors
    }

    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct ConnResult {
    ok: u64,
    limited: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
    limited_latencies: Vec<u32>,
    ok_seqs: Vec<u64>,
}

/// One keep-alive connection; reconnects after a transport error.
struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr).await.map_err(|e| format!("connect: {e}"))?;
            stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        Ok(sender)
    }

    async fn call(&mut self, call: Call) -> Result<(u16, Bytes), String> {
        let host = self.addr.to_string();
        let mut req = Request::post("/graphql")
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "authql-bench");
        if let Some(token) = &call.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req.body(Full::new(call.body)).map_err(|e| format!("request: {e}"))?;
        let sender = self.ready().await?;
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("send: {e}"));
            }
        };
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
        Ok((status, body))
    }
}

/// Drives `conns` connections at the server at `addr`.
pub(crate) async fn run(addr: SocketAddr, conns: usize, shape: Shape, make: MakeCall, judge: Judge) -> Outcome {
    let seq = Arc::new(AtomicU64::new(0));
    // Connect everyone first, so connection set-up is not part of the measurement (a crowd
    // connects at the start of each round instead).
    let mut connected = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut c = Conn { addr, sender: None };
        if matches!(shape, Shape::Closed { .. }) {
            // An error here shows up again (and is counted) on the first request.
            let _ = c.ready().await;
        }
        connected.push(c);
    }

    let barrier = Arc::new(tokio::sync::Barrier::new(conns));
    let rounds = match shape {
        Shape::Burst { rounds } => rounds,
        Shape::Closed { .. } => 0,
    };
    let (deadline, max_requests) = match shape {
        Shape::Closed { duration, max_requests } => (Some(duration), max_requests),
        Shape::Burst { .. } => (None, u64::MAX),
    };
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conns);
    for (index, mut conn) in connected.into_iter().enumerate() {
        let (seq, make, barrier) = (seq.clone(), make.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = ConnResult::default();
            let mut record = |n: u64, took: Duration, result: Result<(u16, Bytes), String>| {
                let verdict = match result {
                    Ok((status, body)) => judge(status, &body),
                    Err(e) => Verdict::Error(e),
                };
                match verdict {
                    Verdict::Ok => {
                        r.ok += 1;
                        r.latencies.push(stats::micros(took));
                        r.ok_seqs.push(n);
                    }
                    Verdict::Limited => {
                        r.limited += 1;
                        r.limited_latencies.push(stats::micros(took));
                    }
                    Verdict::Error(e) => {
                        r.errors += 1;
                        r.latencies.push(stats::micros(took));
                        r.first_error.get_or_insert(e);
                    }
                }
            };
            if let Some(duration) = deadline {
                let end = started + duration;
                while Instant::now() < end {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    if n >= max_requests {
                        break;
                    }
                    let call = make(index, n);
                    let t = Instant::now();
                    let result = conn.call(call).await;
                    record(n, t.elapsed(), result);
                }
            } else {
                for _ in 0..rounds {
                    // Everyone is done with the last round, then everyone connects, then
                    // everyone sends: a connection made early would sit idle, unanswered,
                    // and the server closes one with no request after 5 s (HTTP 408).
                    barrier.wait().await;
                    conn = Conn { addr, sender: None };
                    let _ = conn.ready().await;
                    barrier.wait().await;
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let call = make(index, n);
                    let t = Instant::now();
                    let result = conn.call(call).await;
                    record(n, t.elapsed(), result);
                }
            }
            r
        }));
    }
    let mut all = ConnResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                all.ok += r.ok;
                all.limited += r.limited;
                all.errors += r.errors;
                if all.first_error.is_none() {
                    all.first_error = r.first_error;
                }
                all.latencies.extend(r.latencies);
                all.limited_latencies.extend(r.limited_latencies);
                all.ok_seqs.extend(r.ok_seqs);
            }
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(format!("load task: {e}"));
            }
        }
    }
    let elapsed = started.elapsed();
    all.ok_seqs.sort_unstable();
    Outcome {
        ok: all.ok,
        limited: all.limited,
        errors: all.errors,
        first_error: all.first_error,
        elapsed,
        latencies: Latencies::new(all.latencies),
        limited_latencies: Latencies::new(all.limited_latencies),
        ok_seqs: all.ok_seqs,
    }
}

/// One POST on a fresh connection, for set-up (signing in to get a token): the body, when 200.
pub(crate) async fn post_once(addr: SocketAddr, call: Call) -> Result<Bytes, String> {
    let mut conn = Conn { addr, sender: None };
    match conn.call(call).await? {
        (200, body) => Ok(body),
        (status, body) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))),
    }
}

/// One GET on a fresh connection (probes and readiness), bounded by `timeout`.
pub(crate) async fn get_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let probe = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        let req = Request::get(path).header(header::HOST, addr.to_string()).body(Full::new(Bytes::new())).ok()?;
        let res = sender.send_request(req).await.ok()?;
        let status = res.status().as_u16();
        let _ = res.into_body().collect().await;
        Some(status)
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}

/// Whether `needle` occurs in `hay` (response bodies are small; no JSON parse on the hot loop).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_search() {
        assert!(contains(br#"{"data":{"me":{"id":"1"}}}"#, br#""me":{"#));
        assert!(!contains(br#"{"data":{"me":null}}"#, br#""me":{"#));
        assert!(!contains(b"abc", b""));
        assert!(!contains(b"ab", b"abc"));
    }
}
