//! What a run measured, in one shape for all three outputs: the markdown printed, the JSON
//! kept (`results.json`) and the chart drawn (`report.svg`). Pure, so unit-tested.

use serde::Serialize;

use crate::load::Outcome;
use crate::stats::{fmt_mib, fmt_ms, fmt_rate, markdown_table};

/// The scenario name of the crowd (what the targets look up).
pub(crate) const CROWD: &str = "crowd";

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Scenario {
    pub name: String,
    pub connections: usize,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// 503 `UNAVAILABLE`: the hashing workers' expected wait was past its limit.
    pub refused: u64,
    pub ok_per_second: f64,
    pub latency_ms: Latency,
    /// How fast the refusals came (they should be immediate).
    pub refused_p99_ms: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub first_error: Option<String>,
}

/// Latency of the answered requests (ok and errors), in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Scenario {
    pub(crate) fn from_outcome(name: &str, connections: usize, o: &Outcome, rss_kib: Option<u64>) -> Scenario {
        let ms = |p: f64| o.latencies.percentile(p).map(|us| f64::from(us) / 1000.0);
        Scenario {
            name: name.to_string(),
            connections,
            requests: o.requests(),
            ok: o.ok,
            errors: o.errors,
            refused: o.limited,
            ok_per_second: o.rate(),
            latency_ms: Latency { p50: ms(50.0), p95: ms(95.0), p99: ms(99.0), max: ms(100.0) },
            refused_p99_ms: o.limited_latencies.percentile(99.0).map(|us| f64::from(us) / 1000.0),
            peak_rss_mib: rss_kib.map(kib_to_mib),
            first_error: o.first_error.clone(),
        }
    }
}

pub(crate) fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HashBound {
    pub per_second: f64,
    pub threads: usize,
    pub before: f64,
    pub after: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Backend {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub label: String,
    pub scenarios: Vec<Scenario>,
    pub hash_bound: HashBound,
    /// Sign-in's rate over the hash bound.
    pub sign_in_of_hash_bound: f64,
    pub cold_start_ms: Latency,
    pub idle_rss_mib: Option<f64>,
    pub log_lines: usize,
}

impl Backend {
    pub(crate) fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// One of issue 16's targets, as met or not in this run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Target {
    pub what: String,
    pub value: f64,
    pub target: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Run {
    /// Seconds since the Unix epoch when the run started.
    pub started_at: u64,
    pub machine: String,
    pub connections: usize,
    pub seconds_per_scenario: f64,
    pub crowd_size: usize,
    pub crowd_rounds: u32,
    pub load_average_after: String,
    pub backends: Vec<Backend>,
    pub targets: Vec<Target>,
}

/// Issue 16's targets, judged on what was measured (those whose scenario did not run are left out).
pub(crate) fn targets(backends: &[Backend]) -> Vec<Target> {
    let mut out = Vec::new();
    let mut push = |what: String, value: f64, target: &str, met: bool| {
        out.push(Target { what, value, target: target.to_string(), met });
    };
    let me = |b: &Backend| b.scenario("me").cloned();
    let sqlite = backends.iter().find(|b| b.backend == "sqlite");
    let pg = backends.iter().find(|b| b.backend == "postgres");
    if let (Some(s), Some(p)) = (sqlite.and_then(me), pg.and_then(me))
        && s.ok_per_second > 0.0
    {
        let ratio = p.ok_per_second / s.ok_per_second;
        push("PostgreSQL me / SQLite me (ok/s)".into(), ratio, ">= 0.6", ratio >= 0.6);
    }
    if let Some(p99) = pg.and_then(me).and_then(|m| m.latency_ms.p99) {
        push("PostgreSQL me p99 (ms)".into(), p99, "< 15", p99 < 15.0);
    }
    if let Some(m) = sqlite.and_then(me) {
        push("SQLite me (ok/s)".into(), m.ok_per_second, ">= 15000 (quiet machine)", m.ok_per_second >= 15_000.0);
        if let Some(p99) = m.latency_ms.p99 {
            push("SQLite me p99 (ms)".into(), p99, "< 10", p99 < 10.0);
        }
    }
    for b in backends {
        push(
            format!("{} sign-in / hash bound", b.label),
            b.sign_in_of_hash_bound,
            ">= 0.9",
            b.sign_in_of_hash_bound >= 0.9,
        );
        if let Some(c) = b.scenario(CROWD) {
            let all = c.ok == c.requests && c.requests > 0;
            push(format!("{} crowd signed in (of {})", b.label, c.requests), c.ok as f64, "all", all);
            if let Some(max) = c.latency_ms.max {
                push(format!("{} crowd slowest (ms)", b.label), max, "< 12000", max < 12_000.0);
            }
            if let Some(rss) = c.peak_rss_mib {
                push(format!("{} crowd peak RSS (MiB)", b.label), rss, "< 150", rss < 150.0);
            }
        }
    }
    out
}

/// The scenario names in the order they first appear across backends.
pub(crate) fn scenario_names(backends: &[Backend]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in backends.iter().flat_map(|b| &b.scenarios) {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    names
}

/// One table, the backends side by side: per scenario, each measure for each backend next
/// to each other, and with two backends the ratio of their rates.
pub(crate) fn side_by_side(backends: &[Backend]) -> String {
    type Measure = (&'static str, fn(&Scenario) -> String);
    let measures: [Measure; 6] = [
        ("ok/s", |s| fmt_rate(s.ok_per_second)),
        ("p50", |s| fmt_ms_f(s.latency_ms.p50)),
        ("p99", |s| fmt_ms_f(s.latency_ms.p99)),
        ("max", |s| fmt_ms_f(s.latency_ms.max)),
        ("errors / 503", |s| format!("{} / {}", s.errors, s.refused)),
        ("peak RSS", |s| fmt_mib(s.peak_rss_mib.map(|m| (m * 1024.0) as u64))),
    ];
    let short = |b: &Backend| if b.backend == "postgres" { "PG".to_string() } else { b.label.clone() };
    let mut headers = vec!["scenario".to_string(), "conns".to_string()];
    for (name, _) in &measures {
        for b in backends {
            headers.push(format!("{name} {}", short(b)));
        }
    }
    let ratio = backends.len() == 2;
    if ratio {
        headers.push(format!("ok/s {}/{}", short(&backends[1]), short(&backends[0])));
    }
    let mut rows = Vec::new();
    for name in scenario_names(backends) {
        let found: Vec<Option<&Scenario>> = backends.iter().map(|b| b.scenario(&name)).collect();
        let conns = found.iter().flatten().map(|s| s.connections).max().unwrap_or(0);
        let mut row = vec![name.clone(), conns.to_string()];
        for (_, show) in &measures {
            row.extend(found.iter().map(|s| s.map(show).unwrap_or_else(|| "-".into())));
        }
        if ratio {
            row.push(match (found[0], found[1]) {
                (Some(a), Some(b)) if a.ok_per_second > 0.0 => format!("{:.2}", b.ok_per_second / a.ok_per_second),
                _ => "-".into(),
            });
        }
        rows.push(row);
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    markdown_table(&headers, &rows)
}

/// The targets as a markdown list.
pub(crate) fn targets_markdown(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| {
            let value = if t.value.fract() == 0.0 { format!("{:.0}", t.value) } else { format!("{:.2}", t.value) };
            format!("- {}: {value} (target {}): {}\n", t.what, t.target, if t.met { "met" } else { "**not met**" })
        })
        .collect()
}

fn fmt_ms_f(ms: Option<f64>) -> String {
    fmt_ms(ms.map(|m| (m * 1000.0).round() as u32))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn scenario(name: &str, rate: f64, p99: f64) -> Scenario {
        Scenario {
            name: name.into(),
            connections: 32,
            requests: 100,
            ok: 100,
            errors: 0,
            refused: 0,
            ok_per_second: rate,
            latency_ms: Latency { p50: Some(p99 / 2.0), p95: Some(p99 * 0.9), p99: Some(p99), max: Some(p99 * 2.0) },
            refused_p99_ms: None,
            peak_rss_mib: Some(70.0),
            first_error: None,
        }
    }

    pub(crate) fn backend(key: &str, label: &str, me_rate: f64) -> Backend {
        Backend {
            backend: key.into(),
            label: label.into(),
            scenarios: vec![
                scenario("sign-in", 100.0, 400.0),
                scenario("me", me_rate, 5.0),
                scenario(CROWD, 90.0, 4000.0),
            ],
            hash_bound: HashBound { per_second: 110.0, threads: 2, before: 111.0, after: 109.0 },
            sign_in_of_hash_bound: 100.0 / 110.0,
            cold_start_ms: Latency::default(),
            idle_rss_mib: Some(18.0),
            log_lines: 10,
        }
    }

    #[test]
    fn the_json_has_one_entry_per_backend_with_its_scenarios_and_the_targets() {
        let backends = vec![backend("sqlite", "SQLite", 15_000.0), backend("postgres", "PostgreSQL", 9_000.0)];
        let run = Run {
            started_at: 1,
            machine: "m".into(),
            connections: 32,
            seconds_per_scenario: 10.0,
            crowd_size: 500,
            crowd_rounds: 3,
            load_average_after: "0.1".into(),
            targets: targets(&backends),
            backends,
        };
        let v = serde_json::to_value(&run).expect("serializes");
        assert_eq!(v["backends"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["backends"][1]["backend"], "postgres");
        let me = &v["backends"][0]["scenarios"][1];
        assert_eq!(me["name"], "me");
        assert_eq!(me["ok_per_second"], 15_000.0);
        assert_eq!(me["latency_ms"]["p99"], 5.0);
        assert_eq!(me["latency_ms"]["max"], 10.0);
        assert_eq!(v["backends"][0]["hash_bound"]["per_second"], 110.0);
        let ratio =
            v["targets"].as_array().expect("targets").iter().find(|t| t["what"] == "PostgreSQL me / SQLite me (ok/s)");
        assert_eq!(ratio.expect("the ratio target")["met"], true);
    }

    #[test]
    fn targets_judge_what_was_measured() {
        let slow_pg = vec![backend("sqlite", "SQLite", 15_000.0), backend("postgres", "PostgreSQL", 6_000.0)];
        let t = targets(&slow_pg);
        let find = |what: &str| t.iter().find(|t| t.what == what).cloned().expect(what);
        assert!(!find("PostgreSQL me / SQLite me (ok/s)").met, "0.4 of SQLite is short of 0.6");
        assert!(find("PostgreSQL me p99 (ms)").met);
        assert!(find("SQLite sign-in / hash bound").met);
        assert!(find("PostgreSQL crowd slowest (ms)").met, "8 s is under 12 s");
        // One backend: no ratio to judge.
        assert!(targets(&slow_pg[..1]).iter().all(|t| !t.what.contains("/ SQLite")));
    }

    #[test]
    fn the_table_puts_the_backends_side_by_side() {
        let t = side_by_side(&[backend("sqlite", "SQLite", 15_000.0), backend("postgres", "PostgreSQL", 9_000.0)]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].contains("ok/s SQLite") && lines[0].contains("ok/s PG") && lines[0].contains("ok/s PG/SQLite")
        );
        assert!(lines[0].find("ok/s SQLite") < lines[0].find("ok/s PG"));
        let me = lines.iter().find(|l| l.starts_with("| me ")).expect("a row for me");
        assert!(me.contains("15000") && me.contains("9000") && me.contains("0.60"), "{me}");
        assert_eq!(lines.len(), 2 + 3, "header, rule, one row per scenario");
    }
}
