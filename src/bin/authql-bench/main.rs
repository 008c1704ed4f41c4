//! `authql-bench`: starts the release `authql` on a fresh SQLite file and a fresh PostgreSQL
//! schema, drives it over HTTP, and prints one markdown table with the backends side by side:
//! requests/s, latency percentiles, errors and the server's peak memory per scenario, next to
//! the hash bound (argon2id verifications per second this machine can do), cold start, the
//! crowd (500 sign-ins released at once) and issue 16's targets. It also writes the results
//! as JSON (`<target dir>/bench/results.json`) and a chart (`<target dir>/bench/report.svg`).
//!
//! Run it with `cargo run --release --bin authql-bench` (`-- --help` for the knobs). It is a
//! tool, not a test: `cargo test` only runs the unit tests of its pure parts.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a command-line tool: a broken setup should stop it loudly"
)]

mod calls;
mod load;
mod machine;
mod outputs;
mod report;
mod server;
mod stats;
mod svg;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::calls::{
    authenticate, email, judge_me, judge_refused, judge_signed_in, judge_users, query, sign_in, sign_in_many,
};
use crate::load::{Call, Judge, MakeCall, Outcome, Shape};
use crate::machine::{cold_starts, hash_bound, load_average, machine_line};
use crate::report::{CROWD, Latency, Scenario};
use crate::server::{Backend, BenchDb, Server};
use crate::stats::{fmt_mib, fmt_ms, fmt_rate};

/// The server's argon2id parameters (its defaults; the bench does not change them).
const ARGON2_M_KIB: u32 = 19_456;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

const PASSWORD: &str = "bench correct horse battery";
const WRONG_PASSWORD: &str = "bench wrong horse battery";
const ADMIN_EMAIL: &str = "admin@bench.example.com";
const ADMIN_PASSWORD: &str = "bench admin staple battery";

const AUTHENTICATE: &str = "mutation($i: JSON!) { authenticate(provider: \"emailpass\", input: $i) \
                            { success error session { token } } }";
const ME: &str = "{ me { id email role } }";
const USERS: &str = "{ users(take: 20) { totalCount nodes { id email role createdAt } } }";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backends {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Parser)]
#[command(name = "authql-bench", about = "Load benchmark of authql over HTTP on a fresh database")]
struct Args {
    /// Which database(s) to run against.
    #[arg(long, value_enum, default_value = "both")]
    backend: Backends,
    /// Concurrent connections for the steady scenarios.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long each steady scenario runs, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Upper bound on the requests of one scenario (the run stops at whichever comes first).
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// The crowd: connections that send one sign-in each at the same instant, all of which
    /// must be served.
    #[arg(long, alias = "burst", default_value_t = 500)]
    crowd: usize,
    /// How many such crowds, one after the other (each on new connections).
    #[arg(long, alias = "burst-rounds", default_value_t = 3)]
    crowd_rounds: u32,
    /// How long the hash bound is measured, in seconds.
    #[arg(long, default_value_t = 3.0)]
    hash_seconds: f64,
    /// Cold starts measured on the existing database.
    #[arg(long, default_value_t = 5)]
    cold_starts: u32,
    /// Threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The server binary; by default the `authql` next to this one, rebuilt first when run
    /// through cargo.
    #[arg(long)]
    server: Option<PathBuf>,
    /// PostgreSQL to make a scratch schema in.
    #[arg(long, env = "AUTHQL_BENCH_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Where `results.json` and `report.svg` go; by default `bench/` in the cargo target
    /// directory (`CARGO_TARGET_DIR`, else the one this binary was built in).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!("authql-bench: this is a debug build; run it with --release for numbers that mean anything");
    }
    let bin = match server_binary(args.server.clone()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("authql-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let backends: &[Backend] = match args.backend {
        Backends::Sqlite => &[Backend::Sqlite],
        Backends::Postgres => &[Backend::Postgres],
        Backends::Both => &[Backend::Sqlite, Backend::Postgres],
    };
    let started_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let machine = machine_line(&bin);
    println!("# authql benchmark\n");
    println!("{machine}\n");
    let mut failed = false;
    let mut results = Vec::new();
    for backend in backends {
        eprintln!("authql-bench: {} ...", backend.label());
        match run_backend(&rt, &args, &bin, *backend) {
            Ok(result) => results.push(result),
            Err(e) => {
                eprintln!("authql-bench: {}: {e}", backend.label());
                failed = true;
            }
        }
    }
    let targets = report::targets(&results);
    println!("## {} connections, {}s per scenario\n", args.connections, args.seconds);
    println!("{}", report::side_by_side(&results));
    for result in &results {
        println!("{}", notes(result, &args));
    }
    println!("### Targets (issue 16)\n\n{}", report::targets_markdown(&targets));
    let run = report::Run {
        started_at,
        machine,
        connections: args.connections,
        seconds_per_scenario: args.seconds,
        crowd_size: args.crowd,
        crowd_rounds: args.crowd_rounds,
        load_average_after: load_average(),
        backends: results,
        targets,
    };
    println!("Load average after the run: {}\n", run.load_average_after);
    match outputs::write(&run, args.out.clone()) {
        Ok((json, chart)) => println!("Results: {}\nChart: {}", json.display(), chart.display()),
        Err(e) => {
            eprintln!("authql-bench: {e}");
            failed = true;
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The `authql` binary to test. Under `cargo run` it is rebuilt first (same profile as this
/// one), so the one command always measures the current code.
fn server_binary(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        // The server runs in its database's directory: a relative path would name nothing there.
        return std::fs::canonicalize(&path).map_err(|e| format!("no server binary at {}: {e}", path.display()));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let dir = me.parent().ok_or("no directory for this executable")?;
    let path = dir.join("authql");
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--bin", "authql"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Ok(manifest) = std::env::var("CARGO_MANIFEST_DIR") {
            cmd.arg("--manifest-path").arg(Path::new(&manifest).join("Cargo.toml"));
        }
        let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("building the authql binary failed".into());
        }
    }
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} does not exist: run `cargo build --release` first, or pass --server", path.display()))
    }
}

/// Everything measured on one backend.
fn run_backend(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    bin: &Path,
    backend: Backend,
) -> Result<report::Backend, String> {
    let db = BenchDb::create(backend, &args.pg_url)?;
    server::create_user(bin, &db, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")?;
    // The failed sign-in scenario fails thousands of times from one address, and the sign-up
    // scenario makes thousands of accounts from it: the throttle and the sign-up ration must
    // not turn those into RATE_LIMITED (they are measured on their own in the tests).
    let env = [
        ("AUTHQL_THROTTLE_ACCOUNT_MAX", "1000000".to_string()),
        ("AUTHQL_THROTTLE_IP_MAX", "1000000".to_string()),
        ("AUTHQL_SIGNUP_MAX_PER_ADDRESS", "1000000".to_string()),
    ];
    let srv = Server::spawn(bin, &db, &env)?;
    let addr = srv.addr;
    let idle_rss = srv.peak_rss_kib();
    let steady = || Shape::Closed { duration: Duration::from_secs_f64(args.seconds), max_requests: args.max_requests };
    let conns = args.connections;
    let mut scenarios = Vec::new();
    let mut measure = |name: &str, conns: usize, shape: Shape, make: MakeCall, judge: Judge| -> Outcome {
        eprintln!("authql-bench:   {name}");
        srv.reset_peak();
        let outcome = rt.block_on(load::run(addr, conns, shape, make, judge));
        let rss = srv.peak_rss_kib();
        if let Some(e) = &outcome.first_error {
            eprintln!("authql-bench:   {name}: first error: {e}");
        }
        scenarios.push(Scenario::from_outcome(name, conns, &outcome, rss));
        outcome
    };

    // Sign-up: every request a new address, so every request hashes a new password.
    let signed_up =
        measure("sign-up", conns, steady(), Arc::new(|_, n| authenticate(&email(n), PASSWORD, None)), judge_signed_in);
    let accounts: Arc<Vec<String>> = Arc::new(signed_up.ok_seqs.iter().map(|n| email(*n)).collect());
    if accounts.is_empty() {
        return Err("no sign-up succeeded; see the first error above".into());
    }

    // The ceiling for password sign-in, measured with the server idle right before and right
    // after the sign-in scenario: on a shared machine the two differ, and the mean is fairer
    // to compare with than either.
    let hash_window = Duration::from_secs_f64(args.hash_seconds);
    let bound_before = hash_bound(hash_window);

    let a = accounts.clone();
    let signed_in = measure(
        "sign-in",
        conns,
        steady(),
        Arc::new(move |_, n| authenticate(&a[n as usize % a.len()], PASSWORD, None)),
        judge_signed_in,
    );
    let bound_after = hash_bound(hash_window);
    let bound = report::HashBound {
        per_second: (bound_before.per_second + bound_after.per_second) / 2.0,
        threads: bound_before.threads,
        before: bound_before.per_second,
        after: bound_after.per_second,
    };
    let a = accounts.clone();
    measure(
        "failed sign-in",
        conns,
        steady(),
        Arc::new(move |_, n| authenticate(&a[n as usize % a.len()], WRONG_PASSWORD, None)),
        judge_refused,
    );

    // One session per connection, as many clients would hold.
    let tokens: Arc<Vec<Arc<str>>> =
        Arc::new(rt.block_on(sign_in_many(addr, &accounts, conns.min(accounts.len()).max(1)))?);
    let t = tokens.clone();
    measure(
        "me",
        conns,
        steady(),
        Arc::new(move |i, _| Call { body: query(ME), token: Some(t[i % t.len()].clone()) }),
        judge_me,
    );
    let admin: Arc<str> = rt.block_on(sign_in(addr, ADMIN_EMAIL, ADMIN_PASSWORD))?.into();
    measure(
        "users (admin, 20 a page)",
        conns,
        steady(),
        Arc::new(move |_, _| Call { body: query(USERS), token: Some(admin.clone()) }),
        judge_users,
    );

    // The crowd: far more sign-ins at once than there are hashing workers. The workers bound
    // memory; every one of them waits its turn (the expected wait stays under the default
    // AUTHQL_HASH_MAX_WAIT of 10 s), so all must succeed.
    let a = accounts.clone();
    measure(
        CROWD,
        args.crowd,
        Shape::Burst { rounds: args.crowd_rounds },
        Arc::new(move |_, n| authenticate(&a[n as usize % a.len()], PASSWORD, None)),
        judge_signed_in,
    );
    let log_lines = std::fs::read_to_string(db.dir.join("server.log")).map(|s| s.lines().count()).unwrap_or(0);
    srv.stop(Duration::from_secs(35));

    let cold = rt.block_on(cold_starts(bin, &db, &env, args.cold_starts))?;
    drop(db);
    let ms = |p: f64| cold.percentile(p).map(|us| f64::from(us) / 1000.0);
    Ok(report::Backend {
        backend: match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
        .into(),
        label: backend.label().into(),
        sign_in_of_hash_bound: signed_in.rate() / bound.per_second,
        hash_bound: bound,
        scenarios,
        cold_start_ms: Latency { p50: ms(50.0), p95: None, p99: None, max: ms(100.0) },
        idle_rss_mib: idle_rss.map(report::kib_to_mib),
        log_lines,
    })
}

/// What the table does not show, for one backend, as markdown.
fn notes(b: &report::Backend, args: &Args) -> String {
    let mut out = format!("### {}\n\n", b.label);
    let signed_in = b.scenario("sign-in").map_or(0.0, |s| s.ok_per_second);
    out.push_str(&format!(
        "- Hash bound: {} argon2id verifications/s on {} threads (m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}; \
         {} before the sign-in scenario, {} after); sign-in ran at {} /s = **{:.0}%** of it.\n",
        fmt_rate(b.hash_bound.per_second),
        b.hash_bound.threads,
        fmt_rate(b.hash_bound.before),
        fmt_rate(b.hash_bound.after),
        fmt_rate(signed_in),
        b.sign_in_of_hash_bound * 100.0
    ));
    if let Some(c) = b.scenario(CROWD) {
        out.push_str(&format!(
            "- Crowd: {} sign-ins released at once, {} times, each time on new connections: {} of {} signed in, \
             {} refused with 503, {} errors; slowest {}; server peak RSS {}.\n",
            args.crowd,
            args.crowd_rounds,
            c.ok,
            c.requests,
            c.refused,
            c.errors,
            fmt_ms(c.latency_ms.max.map(|m| (m * 1000.0) as u32)),
            fmt_mib(c.peak_rss_mib.map(|m| (m * 1024.0) as u64))
        ));
    }
    for s in b.scenarios.iter().filter(|s| s.first_error.is_some()) {
        out.push_str(&format!("- {}: first error: {}\n", s.name, s.first_error.as_deref().unwrap_or_default()));
    }
    out.push_str(&format!(
        "- Cold start to ready (spawn to first 200 from /readyz, existing database, {} runs): median {}, max {}.\n",
        args.cold_starts,
        fmt_ms(b.cold_start_ms.p50.map(|m| (m * 1000.0) as u32)),
        fmt_ms(b.cold_start_ms.max.map(|m| (m * 1000.0) as u32))
    ));
    out.push_str(&format!(
        "- Server RSS at idle after start: {}; log lines written: {}. Throttle limits raised \
         (AUTHQL_THROTTLE_ACCOUNT_MAX, AUTHQL_THROTTLE_IP_MAX, AUTHQL_SIGNUP_MAX_PER_ADDRESS = 1000000) \
         so failed sign-ins and sign-ups are not rate limited.\n",
        fmt_mib(b.idle_rss_mib.map(|m| (m * 1024.0) as u64)),
        b.log_lines
    ));
    out
}
