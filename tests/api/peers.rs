//! Real protocol peers for the tests, from PyPI: an OpenID Connect provider
//! (`oidc-provider-mock`) and an SMTP server (`aiosmtpd`). They are installed once into a
//! virtualenv under `target/test-peers` (pinned versions), so `cargo test` on a fresh
//! machine needs nothing but python3 and the package registry.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const PACKAGES: &[&str] = &["oidc-provider-mock==0.3.4", "aiosmtpd==1.4.6"];

/// The virtualenv's `bin/` folder, installing the peers on first use.
pub fn venv_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-peers");
        std::fs::create_dir_all(&root).expect("create target/test-peers");
        // Another test process may be installing at the same time.
        let lock = std::fs::File::create(root.join(".lock")).expect("lock file");
        lock.lock().expect("lock test-peers");
        let venv = root.join("venv");
        let bin = venv.join("bin");
        let stamp = venv.join(".installed");
        let wanted = PACKAGES.join(" ");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
            run(Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES));
            std::fs::write(&stamp, &wanted).expect("stamp");
        }
        let _ = lock.unlock();
        bin
    })
    .clone()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
