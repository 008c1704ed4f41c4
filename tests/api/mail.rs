//! Mail delivery as the requester sees it: with no SMTP server configured (the log), with
//! one that is down, and with one that never answers; none of them fails or holds up a
//! request, and mail still arrives once the server is back.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::helpers::{APP_URL, Backend, TestApp, request_reset, reset, server_log};
use crate::smtp::{SmtpSink, closed_port};

/// Waits for a logged line mentioning `needle` and `also`.
async fn logged_line(needle: &str, also: &str) -> String {
    let log = server_log();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&log.lock().expect("log buffer")).to_string();
        if let Some(line) = text.lines().find(|l| l.contains(needle) && l.contains(also)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line with {needle} and {also}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn without_smtp_the_mail_goes_to_the_log(backend: Backend) {
    let log = server_log();
    let app = TestApp::spawn_with(backend, &[("AUTHQL_APP_URL", APP_URL)]).await;
    let email = format!("log-{}@example.com", uuid::Uuid::new_v4().simple());
    app.sign_up(&email, "a pass phrase to forget").await;
    let body = request_reset(&app, &email).await;
    assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");

    // The development mailbox: the link is in the log, and it works.
    let line = logged_line(&email, "reset-password?token=").await;
    let start = line.find("token=").expect("token") + "token=".len();
    let token: String =
        line[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert!(line.contains(&format!("{APP_URL}/reset-password?token={token}")), "{line}");
    assert_eq!(reset(&app, &token, "a pass phrase to keep").await["data"]["resetPassword"], true);
    assert_eq!(app.emailpass(&email, "a pass phrase to keep").await["success"], true);

    // Nothing was logged for an address without an account.
    let nobody = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(request_reset(&app, &nobody).await["data"]["requestPasswordReset"], true);
    request_reset(&app, &email).await;
    logged_line(&email, "Reset your password").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!String::from_utf8_lossy(&log.lock().expect("log")).contains(&nobody));
}
both!(without_smtp_the_mail_goes_to_the_log);

async fn a_server_that_is_down_neither_fails_nor_holds_up_requests(backend: Backend) {
    // Install the sink first: the retries will not wait for pip.
    tokio::task::spawn_blocking(crate::peers::venv_bin).await.expect("join");
    let port = closed_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SMTP_URL", &url), ("AUTHQL_APP_URL", APP_URL)]).await;
    let (session, _) = app.sign_up("ken@example.com", "ken's pass phrase").await;

    let started = Instant::now();
    let body = request_reset(&app, "ken@example.com").await;
    assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    let body = app.gql_as(&session, "mutation { requestEmailVerification }", json!({})).await;
    assert_eq!(body["data"]["requestEmailVerification"], true, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    // The server comes back: the retries deliver both.
    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(2).await;
    let mut subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["Confirm your e-mail address", "Reset your password"]);
    let reset_mail = mails.iter().find(|m| m.subject == "Reset your password").expect("reset mail");
    let token = reset_mail.token(APP_URL, "/reset-password");
    assert_eq!(reset(&app, &token, "ken's new pass phrase").await["data"]["resetPassword"], true);
}
both!(a_server_that_is_down_neither_fails_nor_holds_up_requests);

async fn a_server_that_never_answers_does_not_hold_up_requests(backend: Backend) {
    // Accepts connections and says nothing, as a wedged server would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(backend, &[("AUTHQL_SMTP_URL", &url)]).await;
    app.sign_up("lea@example.com", "lea's pass phrase").await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(request_reset(&app, "lea@example.com").await["data"]["requestPasswordReset"], true);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    silent.abort();
}
both!(a_server_that_never_answers_does_not_hold_up_requests);
