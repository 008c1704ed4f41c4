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

/// `tests/peers/oidc` with its node_modules, installed with `npm ci` on first use (CI
/// installs it beforehand, as for tests/browser).
fn node_peer_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc");
        let lock = std::fs::File::create(std::env::temp_dir().join("authql-oidc-peer.lock")).expect("lock file");
        lock.lock().expect("lock the npm install");
        if !dir.join("node_modules/oidc-provider/package.json").exists() {
            run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir));
        }
        let _ = lock.unlock();
        dir
    })
    .clone()
}

/// How the Node provider signs its ID tokens.
#[derive(Clone, Copy, Debug)]
pub enum NodeAlg {
    EdDsa,
    Es256,
}

/// A running `oidc-provider` (panva's certified OpenID Connect provider, on Node), set up as
/// tests/peers/oidc/provider.mjs says: an issuer with a trailing slash, the e-mail only at
/// UserInfo, `client_secret_post` only, EdDSA or ES256 keys. Killed when dropped.
pub struct NodeOidcProvider {
    /// `http://127.0.0.1:PORT/`, as its discovery document states it.
    pub issuer: String,
    child: std::process::Child,
}

impl NodeOidcProvider {
    pub async fn start(alg: NodeAlg, client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> NodeOidcProvider {
        let options = serde_json::json!({
            "alg": match alg { NodeAlg::EdDsa => "EdDSA", NodeAlg::Es256 => "ES256" },
            "clientId": client_id,
            "clientSecret": client_secret,
            "redirectUris": redirect_uris,
        })
        .to_string();
        tokio::task::spawn_blocking(move || Self::start_blocking(&options)).await.expect("join")
    }

    fn start_blocking(options: &str) -> NodeOidcProvider {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let dir = node_peer_dir();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(options)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node tests/peers/oidc/provider.mjs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("the Node OpenID provider exited before it was ready: {:?}", child.wait());
            };
            if let Ok(ready) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(issuer) = ready["issuer"].as_str()
            {
                break issuer.to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        NodeOidcProvider { issuer, child }
    }

    /// Sets the claims the provider reports for `sub`.
    pub async fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let resp = reqwest::Client::new()
            .put(format!("{}_test/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .expect("PUT /_test/users");
        assert_eq!(resp.status(), 204, "set claims for {sub}");
    }

    /// Follows the authorization URL as a browser would: the provider's login page (signs
    /// in as `sub`), its consent page, and on to the redirect back to the client, which is
    /// returned (not followed).
    pub async fn authorize(&self, authorization_url: &str, sub: &str) -> reqwest::Url {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        let mut url = reqwest::Url::parse(authorization_url).expect("URL");
        let mut form: Option<Vec<(&str, &str)>> = None;
        for _ in 0..12 {
            let resp = match form.take() {
                Some(fields) => browser.post(url.clone()).form(&fields).send().await,
                None => browser.get(url.clone()).send().await,
            }
            .expect("the provider answers");
            let status = resp.status();
            if status.is_redirection() {
                let location = resp.headers()["location"].to_str().expect("ASCII location");
                let next = url.join(location).expect("redirect URL");
                if !next.as_str().starts_with(&self.issuer) {
                    return next;
                }
                url = next;
                continue;
            }
            let page = resp.text().await.expect("page");
            assert!(status.is_success(), "the provider answered {status}: {page}");
            // The library's interaction pages: a login form, then a consent form.
            form = Some(if page.contains(r#"name="prompt" value="login""#) {
                vec![("prompt", "login"), ("login", sub), ("password", "any")]
            } else if page.contains(r#"name="prompt" value="consent""#) {
                vec![("prompt", "consent")]
            } else {
                panic!("an unexpected page from the provider: {page}");
            });
        }
        panic!("the provider never redirected back");
    }
}

impl Drop for NodeOidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
