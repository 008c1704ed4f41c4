//! `github`: GitHub's OAuth web flow (authorization code with `state` and PKCE S256), then
//! the profile and the primary verified address from its REST API. GitHub is no OpenID
//! Connect issuer: there is no ID token, so what the API says over TLS with the fresh access
//! token is the proof. The identity is GitHub's numeric user id, which outlives logins and
//! addresses.

mod error;

use async_trait::async_trait;
use oauth2::PkceCodeChallenge;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::AuthError;
use crate::auth::flow::{FlowError, Flows, Pending};
use crate::auth::outbound;
use crate::auth::provider::{AuthRequest, Identity, Outcome, Provider, Redirect};
use crate::config::GithubConfig;
use crate::db::Db;
use crate::db::models::auth_users;
use crate::domain::Email;
use crate::domain::token;

pub(crate) use error::GithubError;

pub(crate) const NAME: &str = "github";
/// The profile and every address, verified or not (the primary verified one is chosen here).
const SCOPES: &str = "read:user user:email";
/// Codes are short; a bound keeps junk input from travelling to the token endpoint.
const MAX_CODE_LEN: usize = 2048;
/// GitHub's REST media type; the version pins the answers' shape.
const API_ACCEPT: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";

pub(crate) struct Github {
    db: Db,
    flows: Flows,
    config: GithubConfig,
    http: reqwest::Client,
}

/// The token endpoint's JSON answer: a token, or (with HTTP 200) an error.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct UserEmail {
    email: String,
    primary: bool,
    verified: bool,
}

impl Github {
    pub(crate) fn new(db: Db, flows: Flows, config: GithubConfig, http: reqwest::Client) -> Github {
        Github { db, flows, config, http }
    }

    /// Only the configured callback: GitHub itself refuses any other that is not under it.
    fn redirect_uri(&self, input: &Value) -> Result<String, GithubError> {
        match input.get("callbackUrl") {
            None | Some(Value::Null) => Ok(self.config.callback_url.clone()),
            Some(Value::String(url)) if *url == self.config.callback_url => Ok(url.clone()),
            Some(Value::String(_)) => Err(GithubError::CallbackUrlNotAllowed),
            Some(_) => Err(GithubError::CallbackUrlNotString),
        }
    }

    async fn start(&self, req: &AuthRequest<'_>) -> Result<Redirect, GithubError> {
        let redirect_uri = self.redirect_uri(req.input)?;
        let state = token::generate();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let location = reqwest::Url::parse_with_params(
            &format!("{}/login/oauth/authorize", self.config.url),
            [
                ("client_id", self.config.client_id.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("scope", SCOPES),
                ("state", state.token.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        // The base was checked as a URL at start-up.
        .map_err(|_| GithubError::CallbackUrlNotAllowed)?;
        let pending = Pending {
            pkce_verifier: SecretString::from(verifier.into_secret()),
            // GitHub has no ID token to carry a nonce.
            nonce: String::new(),
            redirect_uri,
            invite: req.invite.cloned(),
        };
        let binding = self.flows.start(NAME, state.hash, pending, req.client).await?;
        Ok(Redirect { location: location.to_string(), binding })
    }

    async fn finish(&self, req: &AuthRequest<'_>) -> Result<Identity, GithubError> {
        let (code, state) = parse_callback(req.input)?;
        let pending = self.flows.take(NAME, &state, req.client).await?;
        let access_token = self.exchange(&pending, &code).await?;
        let user: User = self.api(&access_token, "/user").await?;
        let emails: Vec<UserEmail> = self.api(&access_token, "/user/emails").await?;
        // Only the address GitHub both verified and holds as the account's own: another
        // verified address may be one the person no longer controls at GitHub's say.
        let email = emails
            .iter()
            .find(|e| e.primary && e.verified)
            .and_then(|e| Email::parse(&e.email))
            .ok_or(GithubError::NoVerifiedEmail)?;
        let entity_id = user.id.to_string();
        let id = entity_id.clone();
        let existing = self.db.read(move |conn| auth_users::find(conn, NAME, &id)).await?;
        Ok(identity(user, email, entity_id, existing, pending))
    }

    /// Trades the code for an access token. GitHub answers in a form body unless asked for
    /// JSON, and a refused code with HTTP 200 and `{"error": ...}`.
    async fn exchange(&self, pending: &Pending, code: &str) -> Result<SecretString, GithubError> {
        let request = self
            .http
            .post(format!("{}/login/oauth/access_token", self.config.url))
            .header("accept", "application/json")
            .form(&[
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", pending.redirect_uri.as_str()),
                ("code_verifier", pending.pkce_verifier.expose_secret()),
            ]);
        let answer: TokenAnswer = outbound::send_json(request).await.map_err(GithubError::TokenUnreachable)?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if !token.is_empty() => Ok(SecretString::from(token)),
            (_, Some(error)) => Err(GithubError::TokenRefused(printable(&error))),
            _ => Err(GithubError::TokenRefused("no access_token".into())),
        }
    }

    /// GETs a REST resource with the user's token. GitHub refuses requests without a
    /// `User-Agent`; the shared client sends `authql/<version>` on every request.
    async fn api<T: serde::de::DeserializeOwned>(&self, token: &SecretString, path: &str) -> Result<T, GithubError> {
        let request = self
            .http
            .get(format!("{}{path}", self.config.api_url))
            .header("accept", API_ACCEPT)
            .header("x-github-api-version", API_VERSION)
            .bearer_auth(token.expose_secret());
        outbound::send_json(request).await.map_err(GithubError::Api)
    }

    /// A failure for people, or for the caller a storage error or a client over its share of
    /// open flows.
    fn outcome<T>(result: Result<T, GithubError>, ok: impl FnOnce(T) -> Outcome) -> Result<Outcome, AuthError> {
        match result {
            Ok(value) => Ok(ok(value)),
            Err(GithubError::Db(e) | GithubError::Flow(FlowError::Db(e))) => Err(AuthError::Db(e)),
            Err(GithubError::Flow(FlowError::TooMany { retry_after })) => Err(AuthError::RateLimited { retry_after }),
            Err(e) => {
                if e.is_provider_fault() {
                    tracing::warn!(provider = NAME, error = %e, "sign-in failed");
                } else {
                    tracing::info!(provider = NAME, error = %e, "sign-in refused");
                }
                Ok(Outcome::Failed(e.public_message()))
            }
        }
    }
}

fn identity(
    user: User,
    email: Email,
    entity_id: String,
    existing: Option<auth_users::AuthUserRow>,
    pending: Pending,
) -> Identity {
    let mut profile = Map::new();
    profile.insert("id".into(), Value::from(user.id));
    profile.insert("login".into(), Value::from(user.login.as_str()));
    for (key, value) in [("name", &user.name), ("avatar_url", &user.avatar_url), ("html_url", &user.html_url)] {
        if let Some(value) = value {
            profile.insert(key.to_string(), Value::from(value.as_str()));
        }
    }
    Identity {
        provider: NAME.to_string(),
        entity_id,
        email,
        existing,
        new_provider_metadata: Some(json!({ "login": user.login })),
        user_metadata: Some(Value::Object(profile)),
        // The address is GitHub's primary and verified one.
        email_verified: true,
        reverify_if_raced: false,
        refund: None,
        invite: pending.invite,
        // GitHub has one free-form name; splitting it would guess.
        first_name: None,
        last_name: None,
        avatar_url: user.avatar_url,
    }
}

/// An error code from GitHub, reduced to characters that cannot forge a log line.
fn printable(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_lowercase() || *c == '_').take(64).collect()
}

/// Reads `{code, state}`, or the error GitHub sent back instead.
fn parse_callback(input: &Value) -> Result<(String, String), GithubError> {
    let text = |key: &str| input.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(error) = text("error") {
        return Err(GithubError::Denied(printable(error)));
    }
    match (text("code"), text("state")) {
        (Some(code), Some(state)) if code.len() <= MAX_CODE_LEN => Ok((code.to_string(), state.to_string())),
        _ => Err(GithubError::MissingCodeOrState),
    }
}

#[async_trait]
impl Provider for Github {
    fn name(&self) -> &str {
        NAME
    }

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        Github::outcome(self.start(req).await, Outcome::Redirect)
    }

    async fn validate_callback(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        Github::outcome(self.finish(req).await, |identity| Outcome::Authenticated(Box::new(identity)))
    }
}
