//! An OpenID Connect issuer inside the test process: discovery, a key set, a token endpoint
//! and (when asked for) a UserInfo endpoint that answer with whatever the test prepared. It
//! serves what a real provider cannot be made to send (forged, expired or misaddressed ID
//! tokens, broken documents, ...).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A test-only RSA signing key (tests/api/fixtures) and the `kid` it is published under.
pub struct Key {
    pub kid: &'static str,
    encoding: EncodingKey,
}

impl Key {
    pub fn a() -> Key {
        Key::from_pem("ka", include_str!("fixtures/idp_key_a.pem"))
    }

    pub fn b() -> Key {
        Key::from_pem("kb", include_str!("fixtures/idp_key_b.pem"))
    }

    fn from_pem(kid: &'static str, pem: &str) -> Key {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PKCS#1 PEM");
        Key { kid, encoding: EncodingKey::from_rsa_der(&der) }
    }

    /// The public half as a JWK.
    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256).expect("public key");
        jwk.common.key_id = Some(self.kid.to_string());
        serde_json::to_value(jwk).expect("JWK")
    }

    /// Signs `claims` with RS256; `kid` goes in the header when given.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let header = Header { kid: kid.map(str::to_string), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }
}

/// One call the token endpoint received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Shared {
    keys: Vec<Value>,
    answer: Option<(u16, String)>,
    requests: Vec<TokenRequest>,
    /// Replaces the discovery document.
    discovery: Option<(u16, String)>,
    /// What UserInfo answers; without it, discovery lists no UserInfo endpoint.
    userinfo: Option<(u16, String)>,
    /// `token_endpoint_auth_methods_supported`, when the document lists it.
    auth_methods: Option<Vec<String>>,
    /// UserInfo takes an hour to answer.
    userinfo_hangs: bool,
}

pub struct FakeIssuer {
    pub issuer: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeIssuer {
    pub async fn start() -> FakeIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::new((issuer.clone(), shared.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/jwks", web::get().to(jwks))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        FakeIssuer { issuer, shared }
    }

    /// Replaces the published key set.
    pub fn publish(&self, keys: &[&Key]) {
        self.shared.lock().unwrap().keys = keys.iter().map(|k| k.jwk()).collect();
    }

    /// What the token endpoint answers next.
    pub fn answer(&self, status: u16, body: Value) {
        self.answer_raw(status, &body.to_string());
    }

    /// What the token endpoint answers next, byte for byte.
    pub fn answer_raw(&self, status: u16, body: &str) {
        self.shared.lock().unwrap().answer = Some((status, body.to_string()));
    }

    /// Serves this instead of the discovery document.
    pub fn discovery_raw(&self, status: u16, body: &str) {
        self.shared.lock().unwrap().discovery = Some((status, body.to_string()));
    }

    /// Serves the discovery document again.
    pub fn discovery_ok(&self) {
        self.shared.lock().unwrap().discovery = None;
    }

    /// Lists a UserInfo endpoint that answers this.
    pub fn userinfo_raw(&self, status: u16, body: &str) {
        self.shared.lock().unwrap().userinfo = Some((status, body.to_string()));
    }

    /// Makes UserInfo (once listed) never answer in time.
    pub fn userinfo_hangs(&self, hangs: bool) {
        self.shared.lock().unwrap().userinfo_hangs = hangs;
    }

    /// Lists these token endpoint auth methods in discovery.
    pub fn auth_methods(&self, methods: &[&str]) {
        self.shared.lock().unwrap().auth_methods = Some(methods.iter().map(|m| m.to_string()).collect());
    }

    pub fn answer_with_id_token(&self, id_token: &str) {
        self.answer(
            200,
            json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": id_token }),
        );
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Claims this issuer would put in a valid ID token for `email`.
    pub fn claims(&self, client_id: &str, nonce: &str, email: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.issuer, "aud": [client_id], "sub": format!("sub-{email}"), "iat": now, "exp": now + 600,
            "nonce": nonce, "email": email, "email_verified": true, "name": "Zoe Test"
        })
    }
}

type Data = web::Data<(String, Arc<Mutex<Shared>>)>;

fn raw(status: u16, body: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .content_type("application/json")
        .body(body)
}

async fn discovery(data: Data) -> HttpResponse {
    let issuer = &data.0;
    let shared = data.1.lock().unwrap();
    if let Some((status, body)) = shared.discovery.clone() {
        return raw(status, body);
    }
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if shared.userinfo.is_some() {
        document["userinfo_endpoint"] = json!(format!("{issuer}/userinfo"));
    }
    if let Some(methods) = &shared.auth_methods {
        document["token_endpoint_auth_methods_supported"] = json!(methods);
    }
    HttpResponse::Ok().json(document)
}

async fn userinfo(data: Data) -> HttpResponse {
    let hangs = data.1.lock().unwrap().userinfo_hangs;
    if hangs {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    let answer = data.1.lock().unwrap().userinfo.clone();
    let (status, body) = answer.unwrap_or((404, String::new()));
    raw(status, body)
}

async fn jwks(data: Data) -> HttpResponse {
    let keys = data.1.lock().unwrap().keys.clone();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

async fn token(req: HttpRequest, form: web::Form<HashMap<String, String>>, data: Data) -> HttpResponse {
    let mut shared = data.1.lock().unwrap();
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    shared.requests.push(TokenRequest { form: form.into_inner(), authorization });
    let (status, body) = shared.answer.clone().unwrap_or((500, json!({ "error": "nothing prepared" }).to_string()));
    raw(status, body)
}
