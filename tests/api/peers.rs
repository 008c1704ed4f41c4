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

/// A running `oidc-provider-mock`: a real OpenID Connect provider on a loopback port, with
/// a fresh signing key and no users. Killed when dropped.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`: also the issuer, since the mock derives it from the Host.
    pub issuer: String,
    child: std::process::Child,
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        tokio::task::spawn_blocking(Self::start_blocking).await.expect("join")
    }

    fn start_blocking() -> OidcProvider {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut child = Command::new(venv_bin().join("oidc-provider-mock"))
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oidc-provider-mock");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        // It reports its port on stderr only: `... Uvicorn running on http://127.0.0.1:PORT (...)`.
        let issuer = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("oidc-provider-mock exited before it was ready: {:?}", child.wait());
            };
            if let Some(at) = line.find("Uvicorn running on http://") {
                let rest = &line[at + "Uvicorn running on ".len()..];
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        // Keep reading, or a full pipe would stall the provider.
        std::thread::spawn(move || lines.for_each(drop));
        OidcProvider { issuer, child }
    }

    /// Sets (replaces) the claims the provider reports for `sub`.
    pub async fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let resp = reqwest::Client::new()
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .expect("PUT /users");
        assert_eq!(resp.status(), 204, "set claims for {sub}");
    }

    /// Signs `sub` in at the authorization URL the way the login form would, without a
    /// browser; returns the redirect the provider answers with.
    pub async fn authorize(&self, authorization_url: &str, sub: &str) -> reqwest::Url {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let resp = client.post(authorization_url).form(&[("sub", sub)]).send().await.expect("POST authorize");
        assert_eq!(resp.status(), 302, "the provider redirects back");
        let location = resp.headers()["location"].to_str().expect("ASCII location");
        reqwest::Url::parse(location).expect("redirect URL")
    }

    /// Stops the provider now (to test what happens when it is unreachable).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.kill();
    }
}
