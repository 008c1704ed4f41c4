//! A real SMTP server for the tests: `tests/peers/smtp_sink.py` on aiosmtpd, one process per
//! test, keeping every message it accepts as a file; and those messages, parsed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::peers;

pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    // Killed when the test ends (kill_on_drop), by this handle only.
    _child: Child,
}

/// One delivered message.
#[derive(Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The token of the link to `path` (e.g. `/reset-password`) in the plain-text part,
    /// checking the HTML part carries the same link.
    pub fn token(&self, app_url: &str, path: &str) -> String {
        let prefix = format!("{app_url}{path}?token=");
        let start =
            self.text.find(&prefix).unwrap_or_else(|| panic!("no {prefix} link in: {}", self.text)) + prefix.len();
        let token: String =
            self.text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        assert_eq!(token.len(), 43, "a 256-bit token: {}", self.text);
        assert!(
            self.html.contains(&format!("href=\"{prefix}{token}\"")),
            "the HTML part has the link too: {}",
            self.html
        );
        token
    }
}

impl SmtpSink {
    /// A sink on a free port.
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> SmtpSink {
        let bin = tokio::task::spawn_blocking(peers::venv_bin).await.expect("join");
        let dir = std::env::temp_dir().join(format!("authql-smtp-{}", uuid::Uuid::new_v4().simple()));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_sink.py");
        let mut child = Command::new(bin.join("python"))
            .arg(&script)
            .arg(&dir)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read sink output") {
                if let Some(port) = line.strip_prefix("READY ") {
                    return port.trim().parse::<u16>().expect("port");
                }
            }
            panic!("the SMTP sink exited before it was ready");
        })
        .await
        .expect("the SMTP sink is ready within 30 s");
        // Keep reading, so a full pipe never blocks the sink.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        SmtpSink { port: ready, dir, _child: child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| parse(&std::fs::read(p).expect("read message"))).collect()
    }

    /// Waits until at least `n` messages arrived (up to 20 s) and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} message(s), got {}: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for message number `n` (1-based) and checks it went to `to`.
    pub async fn wait_for_nth(&self, n: usize, to: &str) -> Mail {
        let mail = self.wait_for(n).await.into_iter().nth(n - 1).expect("message");
        assert_eq!(mail.to, vec![to.to_string()], "{mail:?}");
        mail
    }

    /// Checks that exactly `n` messages arrived, giving stragglers a moment first (a
    /// message queued earlier than the last one seen may still be on its way).
    pub async fn assert_total(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = self.messages();
        assert_eq!(got.len(), n, "{got:?}");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn parse(raw: &[u8]) -> Mail {
    let msg = MessageParser::default().parse(raw).expect("a parsable message");
    let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_string)).collect()).unwrap_or_default()
    };
    Mail {
        from: addresses(msg.from()).join(","),
        to: addresses(msg.to()),
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        html: msg.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
    }
}

/// A port nothing listens on (for a mail server that is down).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
