//! Counters and histograms for `/metrics`, in the Prometheus text format. Hand-rolled (a
//! few atomics and two small maps) rather than a metrics framework: the set is fixed and
//! small, and the hot path pays one lock-free increment per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Routes get their own label; anything else is `other`, so clients cannot grow the label
/// set by asking for random paths.
pub(crate) const ROUTES: [&str; 6] = ["graphql", "graphiql", "healthz", "readyz", "metrics", "other"];

pub struct Metrics {
    /// (route index, status) → count.
    requests: Mutex<BTreeMap<(usize, u16), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// (provider, outcome) → count.
    authentications: Mutex<BTreeMap<(String, &'static str), u64>>,
}

/// Gauges read at scrape time.
pub struct Snapshot {
    pub hash_in_flight: usize,
    pub active_sessions: Option<i64>,
    pub db_connections: u32,
    pub db_idle: u32,
    pub db_max: u32,
    pub db_inline_reads: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            authentications: Mutex::new(BTreeMap::new()),
        }
    }
}

pub(crate) fn route_label(path: &str) -> usize {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    ROUTES.iter().position(|r| *r == first).unwrap_or(ROUTES.len() - 1)
}

impl Metrics {
    pub fn observe_request(&self, path: &str, status: u16, elapsed: Duration) {
        let route = route_label(path);
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((route, status)).or_insert(0) += 1;
        }
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(elapsed.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }

    /// `outcome`: success, failure, redirect, rate_limited, unavailable or error.
    pub fn observe_authentication(&self, provider: &str, outcome: &'static str) {
        if let Ok(mut map) = self.authentications.lock() {
            *map.entry((provider.to_string(), outcome)).or_insert(0) += 1;
        }
    }

    pub fn render(&self, s: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP authql_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE authql_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((route, status), n) in map.iter() {
                let _ =
                    writeln!(out, "authql_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", ROUTES[*route]);
            }
        }
        out.push_str("# HELP authql_http_request_duration_seconds Time to answer an HTTP request.\n");
        out.push_str("# TYPE authql_http_request_duration_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "authql_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "authql_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "authql_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "authql_http_request_duration_seconds_count {count}");
        out.push_str("# HELP authql_authentications_total Authentication attempts, by provider and outcome.\n");
        out.push_str("# TYPE authql_authentications_total counter\n");
        if let Ok(map) = self.authentications.lock() {
            for ((provider, outcome), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "authql_authentications_total{{provider=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(provider)
                );
            }
        }
        gauge(&mut out, "authql_hash_in_flight", "Password hashes running or queued.", s.hash_in_flight as f64);
        if let Some(n) = s.active_sessions {
            gauge(&mut out, "authql_active_sessions", "Sessions that are not expired.", n as f64);
        }
        gauge(&mut out, "authql_db_pool_connections", "Open database connections.", f64::from(s.db_connections));
        gauge(&mut out, "authql_db_pool_idle", "Idle database connections.", f64::from(s.db_idle));
        gauge(&mut out, "authql_db_pool_max", "Largest number of database connections.", f64::from(s.db_max));
        out.push_str(
            "# HELP authql_db_inline_reads_total Session lookups answered on the request's own thread, without the pool.\n",
        );
        out.push_str("# TYPE authql_db_inline_reads_total counter\n");
        let _ = writeln!(out, "authql_db_inline_reads_total {}", s.db_inline_reads);
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_bounded() {
        assert_eq!(ROUTES[route_label("/graphql")], "graphql");
        assert_eq!(ROUTES[route_label("/graphiql/assets/x.js")], "graphiql");
        assert_eq!(ROUTES[route_label("/random/junk")], "other");
        assert_eq!(ROUTES[route_label("/")], "other");
    }

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.observe_request("/graphql", 200, Duration::from_micros(800));
        m.observe_request("/graphql", 200, Duration::from_millis(30));
        m.observe_request("/nope", 404, Duration::from_millis(2));
        m.observe_authentication("emailpass", "success");
        let text = m.render(&Snapshot {
            hash_in_flight: 1,
            active_sessions: Some(3),
            db_connections: 2,
            db_idle: 1,
            db_max: 10,
            db_inline_reads: 7,
        });
        assert!(text.contains("authql_http_requests_total{route=\"graphql\",status=\"200\"} 2"));
        assert!(text.contains("\nauthql_db_inline_reads_total 7\n"));
        assert!(text.contains("authql_http_requests_total{route=\"other\",status=\"404\"} 1"));
        assert!(text.contains("authql_http_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("authql_http_request_duration_seconds_bucket{le=\"0.05\"} 3"));
        assert!(text.contains("authql_http_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("authql_authentications_total{provider=\"emailpass\",outcome=\"success\"} 1"));
        assert!(text.contains("authql_active_sessions 3"));
    }
}
