//! `authql-bench`: starts the release `authql` on a fresh SQLite file and a fresh PostgreSQL
//! schema, drives it over HTTP, and prints markdown tables: requests/s, latency percentiles,
//! errors and the server's peak memory per scenario, next to the hash bound (argon2id
//! verifications per second this machine can do), cold start, and 500 concurrent sign-ins.
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
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::calls::{
    authenticate, email, judge_me, judge_refused, judge_signed_in, judge_users, query, sign_in, sign_in_many,
};
use crate::load::{Call, Judge, MakeCall, Outcome, Shape};
use crate::machine::{HashBound, cold_starts, hash_bound, load_average, machine_line};
use crate::server::{Backend, BenchDb, Server};
use crate::stats::{fmt_mib, fmt_ms, fmt_rate, markdown_table};

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
    /// Connections that send one sign-in each at the same instant (the memory test).
    #[arg(long, default_value_t = 500)]
    burst: usize,
    /// How many such bursts.
    #[arg(long, default_value_t = 3)]
    burst_rounds: u32,
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
    println!("# authql benchmark\n");
    println!("{}\n", machine_line(&bin));
    let mut failed = false;
    for backend in backends {
        eprintln!("authql-bench: {} ...", backend.label());
        match run_backend(&rt, &args, &bin, *backend) {
            Ok(report) => println!("{report}"),
            Err(e) => {
                eprintln!("authql-bench: {}: {e}", backend.label());
                failed = true;
            }
        }
    }
    println!("Load average after the run: {}", load_average());
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The `authql` binary to test. Under `cargo run` it is rebuilt first (same profile as this
/// one), so the one command always measures the current code.
fn server_binary(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return Ok(path);
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

/// Everything measured on one backend, as markdown.
fn run_backend(rt: &tokio::runtime::Runtime, args: &Args, bin: &Path, backend: Backend) -> Result<String, String> {
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
    let mut rows = Vec::new();
    let mut measure = |name: &str, conns: usize, shape: Shape, make: MakeCall, judge: Judge| -> Outcome {
        eprintln!("authql-bench:   {name}");
        srv.reset_peak();
        let outcome = rt.block_on(load::run(addr, conns, shape, make, judge));
        let rss = srv.peak_rss_kib();
        if let Some(e) = &outcome.first_error {
            eprintln!("authql-bench:   {name}: first error: {e}");
        }
        rows.push(row(name, conns, &outcome, rss));
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
    let bound = HashBound {
        per_second: (bound_before.per_second + bound_after.per_second) / 2.0,
        threads: bound_before.threads,
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

    // Far more sign-ins at once than there are hashing workers: the workers bound memory,
    // the rest wait while the expected wait stays under AUTHQL_HASH_MAX_WAIT, and past it
    // are told to come back (503 UNAVAILABLE) at once.
    let a = accounts.clone();
    let burst = measure(
        &format!("{} concurrent sign-ins", args.burst),
        args.burst,
        Shape::Burst { rounds: args.burst_rounds },
        Arc::new(move |_, n| authenticate(&a[n as usize % a.len()], PASSWORD, None)),
        judge_signed_in,
    );
    let burst_rss = srv.peak_rss_kib();
    let server_log_lines = std::fs::read_to_string(db.dir.join("server.log")).map(|s| s.lines().count()).unwrap_or(0);
    srv.stop(Duration::from_secs(35));

    let cold = rt.block_on(cold_starts(bin, &db, &env, args.cold_starts))?;
    drop(db);

    let mut out = String::new();
    out.push_str(&format!("## {} ({conns} connections, {}s per scenario)\n\n", backend.label(), args.seconds));
    out.push_str(&markdown_table(
        &["scenario", "conns", "requests", "ok/s", "p50", "p95", "p99", "errors", "refused (503)", "peak RSS"],
        &rows,
    ));
    let fraction = signed_in.rate() / bound.per_second;
    out.push_str(&format!(
        "\n- Hash bound: {} argon2id verifications/s on {} threads (m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}; \
         {} before the sign-in scenario, {} after); sign-in ran at {} /s = **{:.0}%** of it.\n",
        fmt_rate(bound.per_second),
        bound.threads,
        fmt_rate(bound_before.per_second),
        fmt_rate(bound_after.per_second),
        fmt_rate(signed_in.rate()),
        fraction * 100.0
    ));
    out.push_str(&format!(
        "- {} concurrent sign-ins ({} bursts): {} signed in, {} refused with 503 UNAVAILABLE (p50 {}, p99 {}), {} errors; \
         server peak RSS {}.\n",
        args.burst,
        args.burst_rounds,
        burst.ok,
        burst.limited,
        fmt_ms(burst.limited_latencies.percentile(50.0)),
        fmt_ms(burst.limited_latencies.percentile(99.0)),
        burst.errors,
        fmt_mib(burst_rss)
    ));
    out.push_str(&format!(
        "- Cold start to ready (spawn to first 200 from /readyz, existing database, {} runs): median {}, max {}.\n",
        cold.len(),
        fmt_ms(cold.percentile(50.0)),
        fmt_ms(cold.percentile(100.0))
    ));
    out.push_str(&format!(
        "- Server RSS at idle after start: {}; log lines written: {server_log_lines}. Throttle limits raised \
         (AUTHQL_THROTTLE_ACCOUNT_MAX, AUTHQL_THROTTLE_IP_MAX, AUTHQL_SIGNUP_MAX_PER_ADDRESS = 1000000) \
         so failed sign-ins and sign-ups are not rate limited.\n",
        fmt_mib(idle_rss)
    ));
    Ok(out)
}

fn row(name: &str, conns: usize, o: &Outcome, rss: Option<u64>) -> Vec<String> {
    vec![
        name.to_string(),
        conns.to_string(),
        o.requests().to_string(),
        fmt_rate(o.rate()),
        fmt_ms(o.latencies.percentile(50.0)),
        fmt_ms(o.latencies.percentile(95.0)),
        fmt_ms(o.latencies.percentile(99.0)),
        o.errors.to_string(),
        o.limited.to_string(),
        fmt_mib(rss),
    ]
}
