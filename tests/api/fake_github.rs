//! GitHub's OAuth web flow and the two REST endpoints authql reads, inside the test process,
//! with GitHub's documented quirks:
//! - `GET /login/oauth/authorize` (here: the signed-in person has approved the app before,
//!   so GitHub redirects straight back with `code` and `state`); PKCE with S256;
//! - `POST /login/oauth/access_token` answers form-encoded unless asked for JSON
//!   (`Accept: application/json`), and a bad code or secret with HTTP 200 and
//!   `{"error": "bad_verification_code", ...}`; codes are single use;
//! - `GET /user` (numeric `id`) and `GET /user/emails` (primary/verified flags per address)
//!   need a token, and refuse a request without a `User-Agent` (403), as the API does.
//!
//! Faults can be injected per endpoint: a status, a body that is not JSON, or a hang.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "Iv1.authqltest";
pub const CLIENT_SECRET: &str = "github-test-secret";

/// Where a fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    User,
    Emails,
}

#[derive(Clone, Debug)]
pub enum Fault {
    Status(u16),
    Body(&'static str),
    Hang,
}

/// A GitHub account as the API shows it.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// `(email, primary, verified)`.
    pub emails: Vec<(String, bool, bool)>,
}

/// What the fake saw of one request, for assertions about how authql calls GitHub.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub form: HashMap<String, String>,
}

struct Grant {
    login: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Account>,
    /// Who is signed in at github.com in the browser about to authorize.
    signed_in: Option<String>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, String>,
    faults: HashMap<Endpoint, Fault>,
    seen: Vec<Seen>,
    next: u64,
}

pub struct FakeGithub {
    /// Both `AUTHQL_GITHUB_URL` and `AUTHQL_GITHUB_API_URL` (the paths do not collide).
    pub url: String,
    state: Arc<Mutex<State>>,
}

type Data = web::Data<Arc<Mutex<State>>>;

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/user", web::get().to(user))
                .route("/user/emails", web::get().to(emails))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        // Runs on the test's runtime, and ends with it.
        tokio::spawn(server);
        FakeGithub { url, state }
    }

    pub fn add_account(&self, account: Account) {
        self.state.lock().unwrap().accounts.insert(account.login.clone(), account);
    }

    /// The person signed in at github.com in the browser that authorizes next.
    pub fn sign_in_as(&self, login: &str) {
        self.state.lock().unwrap().signed_in = Some(login.to_string());
    }

    pub fn fail(&self, endpoint: Endpoint, fault: Fault) {
        self.state.lock().unwrap().faults.insert(endpoint, fault);
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state.lock().unwrap().seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    /// Opens authql's authorization URL as the browser of `login` would: GitHub's answer,
    /// the redirect back to the app (not followed).
    pub async fn authorize(&self, location: &str, login: &str) -> reqwest::Url {
        self.sign_in_as(login);
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let resp = client.get(location).send().await.expect("GET authorize");
        assert_eq!(resp.status(), 302, "GitHub redirects back: {:?}", resp.text().await);
        reqwest::Url::parse(resp.headers()["location"].to_str().expect("ASCII")).expect("URL")
    }
}

fn record(state: &mut State, req: &HttpRequest, form: HashMap<String, String>) {
    let headers =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
    state.seen.push(Seen { path: req.path().to_string(), headers, form });
}

/// Answers with the injected fault, if any (a hang never answers).
async fn fault(data: &Data, endpoint: Endpoint) -> Option<HttpResponse> {
    let fault = data.lock().unwrap().faults.get(&endpoint).cloned()?;
    Some(match fault {
        Fault::Status(code) => {
            HttpResponse::build(StatusCode::from_u16(code).expect("status")).json(json!({ "message": "Server Error" }))
        }
        Fault::Body(body) => HttpResponse::Ok().content_type("application/json").body(body),
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            HttpResponse::Ok().finish()
        }
    })
}

async fn authorize(query: web::Query<HashMap<String, String>>, data: Data) -> HttpResponse {
    let q = query.into_inner();
    let mut s = data.lock().unwrap();
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return HttpResponse::NotFound().body("Not Found");
    }
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    // GitHub sends an error back rather than a code when PKCE is asked for wrongly.
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return HttpResponse::BadRequest().body("unsupported code_challenge_method");
    }
    let Some(login) = s.signed_in.clone() else { return HttpResponse::Unauthorized().body("sign in first") };
    s.next += 1;
    let code = format!("code{}", s.next);
    let challenge = q.get("code_challenge").cloned().unwrap_or_default();
    s.codes.insert(code.clone(), Grant { login, redirect_uri: redirect_uri.clone(), challenge });
    let state = q.get("state").cloned().unwrap_or_default();
    let back = reqwest::Url::parse_with_params(&redirect_uri, [("code", code.as_str()), ("state", state.as_str())])
        .expect("redirect URL");
    HttpResponse::Found().insert_header(("location", back.to_string())).finish()
}

async fn access_token(req: HttpRequest, form: web::Form<HashMap<String, String>>, data: Data) -> HttpResponse {
    let form = form.into_inner();
    record(&mut data.lock().unwrap(), &req, form.clone());
    if let Some(answer) = fault(&data, Endpoint::Token).await {
        return answer;
    }
    let wants_json = req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("json"));
    let mut s = data.lock().unwrap();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let error = |code: &str, description: &str| {
        let pairs = [("error", code), ("error_description", description), ("error_uri", "https://docs.github.com/")];
        // An error is HTTP 200, like a success.
        if wants_json {
            HttpResponse::Ok().json(pairs.iter().map(|(k, v)| (*k, *v)).collect::<HashMap<_, _>>())
        } else {
            HttpResponse::Ok().content_type("application/x-www-form-urlencoded").body(serde_urlencoded_pairs(&pairs))
        }
    };
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");
    }
    // Single use, whatever happens next.
    let Some(grant) = s.codes.remove(&field("code")) else {
        return error("bad_verification_code", "The code passed is incorrect or expired.");
    };
    let verifier = field("code_verifier");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge || field("redirect_uri") != grant.redirect_uri {
        return error("bad_verification_code", "The code passed is incorrect or expired.");
    }
    s.next += 1;
    let token = format!("gho_token{}", s.next);
    s.tokens.insert(token.clone(), grant.login);
    let pairs = [("access_token", token.as_str()), ("token_type", "bearer"), ("scope", "read:user,user:email")];
    if wants_json {
        HttpResponse::Ok().json(pairs.iter().map(|(k, v)| (*k, *v)).collect::<HashMap<_, _>>())
    } else {
        HttpResponse::Ok().content_type("application/x-www-form-urlencoded").body(serde_urlencoded_pairs(&pairs))
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or("").to_string()
}

/// The account the request's token belongs to, or the API's refusal.
fn account_for(req: &HttpRequest, s: &State) -> Result<Account, Box<HttpResponse>> {
    if req.headers().get("user-agent").is_none() {
        return Err(Box::new(HttpResponse::Forbidden().body(
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        )));
    }
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("token ")).unwrap_or("");
    s.tokens.get(token).and_then(|login| s.accounts.get(login)).cloned().ok_or_else(|| {
        Box::new(HttpResponse::Unauthorized().json(json!({ "message": "Bad credentials", "status": "401" })))
    })
}

async fn user(req: HttpRequest, data: Data) -> HttpResponse {
    record(&mut data.lock().unwrap(), &req, HashMap::new());
    if let Some(answer) = fault(&data, Endpoint::User).await {
        return answer;
    }
    let account = match account_for(&req, &data.lock().unwrap()) {
        Ok(a) => a,
        Err(refusal) => return *refusal,
    };
    HttpResponse::Ok().json(json!({
        "login": account.login, "id": account.id, "node_id": format!("MDQ6VXNlcj{}", account.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", account.id),
        "html_url": format!("https://github.com/{}", account.login), "type": "User", "site_admin": false,
        "name": account.name, "company": null, "blog": "", "location": null,
        // The public address, which people often leave unset; never the one to trust.
        "email": null, "bio": null, "public_repos": 2, "followers": 0, "following": 0,
        "created_at": "2011-01-25T18:44:36Z", "updated_at": "2024-01-01T00:00:00Z"
    }))
}

async fn emails(req: HttpRequest, data: Data) -> HttpResponse {
    record(&mut data.lock().unwrap(), &req, HashMap::new());
    if let Some(answer) = fault(&data, Endpoint::Emails).await {
        return answer;
    }
    let account = match account_for(&req, &data.lock().unwrap()) {
        Ok(a) => a,
        Err(refusal) => return *refusal,
    };
    let list: Vec<Value> = account
        .emails
        .iter()
        .map(|(email, primary, verified)| {
            json!({ "email": email, "primary": primary, "verified": verified,
                    "visibility": if *primary { json!("private") } else { Value::Null } })
        })
        .collect();
    HttpResponse::Ok().json(list)
}
