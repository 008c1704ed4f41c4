//! The binary as an operator runs it.

use std::process::Command;

use serde_json::json;

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb};

fn authql() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authql"));
    // The tests' own environment must not leak settings into the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("AUTHQL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AUTHQL_LOG", "warn");
    cmd
}

#[test]
fn schema_command_prints_the_sdl() {
    let out = authql().arg("schema").output().expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), authql::graphql::sdl());
}

#[test]
fn bad_setting_stops_start_up_naming_the_key() {
    let out = authql().arg("migrate").env("AUTHQL_SIGNUP", "maybe").output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AUTHQL_SIGNUP") && err.contains("open, invite, closed"), "{err}");
    let out = authql().arg("serve").env("AUTHQL_SESION_TTL", "7d").output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTHQL_SESION_TTL"));
}

#[test]
fn config_file_is_read_and_environment_wins() {
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let dir = std::env::temp_dir().join(format!("authql-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("authql.toml"), "signup = \"sometimes\"\n").unwrap();
    let out = authql().arg("migrate").current_dir(&dir).env("AUTHQL_DATABASE_URL", &url).output().unwrap();
    assert!(!out.status.success(), "the file's bad value is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTHQL_SIGNUP"));
    let out = authql()
        .arg("migrate")
        .current_dir(&dir)
        .env("AUTHQL_DATABASE_URL", &url)
        .env("AUTHQL_SIGNUP", "open")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

async fn user_create_bootstraps_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let out = authql()
        .args(["user", "create", "--email", "Root@Example.com", "--password", "a long admin secret", "--role", "admin"])
        .env("AUTHQL_DATABASE_URL", &app.db_url)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = app.emailpass("root@example.com", "a long admin secret").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["user"]["role"], "ADMIN");
    assert_eq!(r["user"]["email"], "root@example.com");
    // The operator vouches for the address: a later google sign-in with it links to this
    // account and keeps its password (pre-takeover protection only drops unproven ones).
    assert_eq!(r["user"]["emailVerified"], true, "{r}");
    // A second one with the same address is refused with a clear message.
    let out = authql()
        .args(["user", "create", "--email", "root@example.com", "--password", "another long secret"])
        .env("AUTHQL_DATABASE_URL", &app.db_url)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // The password policy applies here too.
    let out = authql()
        .args(["user", "create", "--email", "x@example.com", "--password", "password1"])
        .env("AUTHQL_DATABASE_URL", &app.db_url)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too common"));
}
crate::both!(user_create_bootstraps_an_admin);

#[tokio::test]
async fn serve_prints_its_address_and_answers() {
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let server = ServerProcess::start(&url, &[]).await;
    let body = server.gql(&reqwest::Client::new(), None, "{ authProviders }", json!({})).await;
    let ServerProcess { mut child, .. } = server;
    assert_eq!(body["data"]["authProviders"], json!(["emailpass"]));
    // SIGTERM: a graceful stop, exit status 0.
    let pid = child.id().expect("pid");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let status = tokio::time::timeout(std::time::Duration::from_secs(35), child.wait()).await.expect("stops").unwrap();
    assert!(status.success(), "{status:?}");
}

/// SIGTERM lets a request that is already in flight finish before the process exits.
#[tokio::test]
async fn sigterm_drains_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let ServerProcess { mut child, addr } = ServerProcess::start(&url, &[]).await;
    let host = addr.trim_start_matches("http://").to_string();
    let body = json!({ "query": "{ authProviders }" }).to_string();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().expect("pid");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    conn.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("emailpass"), "{answer}");
    let status = tokio::time::timeout(std::time::Duration::from_secs(35), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "{status:?}");
}
