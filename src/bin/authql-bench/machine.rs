//! What the machine can do and is: the argon2 bound, cold starts, and the context line.

use std::path::Path;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::server::{self, BenchDb, Server};
use crate::{ARGON2_M_KIB, ARGON2_P, ARGON2_T, PASSWORD, load, stats};

pub(crate) struct HashBound {
    pub(crate) per_second: f64,
    pub(crate) threads: usize,
}

/// argon2id verifications per second with the server's parameters, one thread per core
/// (what a perfect server could do if hashing were all it did).
pub(crate) fn hash_bound(duration: Duration) -> HashBound {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).expect("argon2 parameters");
    let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(PASSWORD.as_bytes())
        .expect("hash")
        .to_string();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (stored, params) = (stored.clone(), params.clone());
            std::thread::spawn(move || {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let parsed = PasswordHash::new(&stored).expect("parse hash");
                let mut n = 0u64;
                while started.elapsed() < duration {
                    assert!(argon.verify_password(PASSWORD.as_bytes(), &parsed).is_ok());
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().expect("hash thread")).sum();
    HashBound { per_second: total as f64 / started.elapsed().as_secs_f64(), threads }
}

/// Spawn → first 200 from `/readyz`, on the database the scenarios left behind.
pub(crate) async fn cold_starts(
    bin: &Path,
    db: &BenchDb,
    env: &[(&str, String)],
    runs: u32,
) -> Result<stats::Latencies, String> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let srv = Server::spawn(bin, db, env)?;
        let deadline = started + Duration::from_secs(30);
        loop {
            if load::get_status(srv.addr, "/readyz", Duration::from_secs(2)).await == Some(200) {
                samples.push(stats::micros(started.elapsed()));
                break;
            }
            if Instant::now() > deadline {
                return Err("the server never became ready".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        srv.stop(Duration::from_secs(35));
    }
    Ok(stats::Latencies::new(samples))
}

/// CPU, cores, memory, kernel and load: the context the numbers need.
pub(crate) fn machine_line(bin: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = server::proc_meminfo_kib("MemTotal:").map(|k| format!("{:.0} GiB", k as f64 / 1048576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Machine: {model}, {cores} cores, {} RAM, Linux {}; load average at start {}. Server: {}.",
        mem.unwrap_or_else(|| "?".into()),
        kernel.trim(),
        load_average(),
        bin.display()
    )
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
