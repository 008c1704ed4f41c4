//! `google`: OpenID Connect sign-in (authorization code with PKCE) against Google, or any
//! issuer set in `AUTHQL_GOOGLE_ISSUER`. `authenticate` sends the browser to the issuer;
//! `validateCallback` takes the state, trades the code and verifies the ID token. Only an
//! address the issuer verified becomes an identity.

mod discovery;
mod error;
mod id_token;
mod jwks;
mod oauth;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::auth::AuthError;
use crate::auth::flow::{FlowError, Flows};
use crate::auth::provider::{AuthRequest, Identity, InviteRef, Outcome, Provider, Redirect};
use crate::config::GoogleConfig;
use crate::db::Db;
use crate::db::models::auth_users;
use crate::domain::Email;

use discovery::{Discovery, Metadata};
pub(crate) use error::GoogleError;
use id_token::{Claims, Expected};
use jwks::Jwks;

pub(crate) const NAME: &str = "google";
const DEFAULT_ISSUER: &str = "https://accounts.google.com";
/// Codes are short; a bound keeps junk input from travelling to the token endpoint.
const MAX_CODE_LEN: usize = 2048;

pub(crate) struct Google {
    db: Db,
    flows: Flows,
    config: GoogleConfig,
    http: reqwest::Client,
    discovery: Discovery,
    jwks: Jwks,
    /// `iss` values accepted in ID tokens.
    issuers: Vec<String>,
}

impl Google {
    pub(crate) fn new(db: Db, flows: Flows, config: GoogleConfig, http: reqwest::Client) -> Google {
        let mut issuers = vec![config.issuer.clone()];
        // Google documents that its ID tokens may carry the issuer without the scheme.
        if config.issuer == DEFAULT_ISSUER {
            issuers.push("accounts.google.com".into());
        }
        Google {
            db,
            flows,
            discovery: Discovery::new(config.issuer.clone(), http.clone()),
            jwks: Jwks::new(http.clone()),
            http,
            config,
            issuers,
        }
    }

    /// The callback the client asked for, if it may; else the configured one.
    fn redirect_uri(&self, input: &Value) -> Result<String, GoogleError> {
        match input.get("callbackUrl") {
            None | Some(Value::Null) => Ok(self.config.callback_url.clone()),
            Some(Value::String(url)) => {
                let allowed = *url == self.config.callback_url || self.config.allowed_callback_urls.contains(url);
                if allowed { Ok(url.clone()) } else { Err(GoogleError::CallbackUrlNotAllowed) }
            }
            Some(_) => Err(GoogleError::CallbackUrlNotString),
        }
    }

    async fn start(&self, req: &AuthRequest<'_>) -> Result<Redirect, GoogleError> {
        let redirect_uri = self.redirect_uri(req.input)?;
        let metadata = self.discovery.metadata().await?;
        let auth = oauth::authorization(&self.config, &metadata, redirect_uri, req.invite.cloned())?;
        let binding = self.flows.start(NAME, auth.state.hash, auth.pending, req.client).await?;
        Ok(Redirect { location: auth.url, binding })
    }

    async fn finish(&self, req: &AuthRequest<'_>) -> Result<Identity, GoogleError> {
        let (code, state) = parse_callback(req.input)?;
        let pending = self.flows.take(NAME, &state, req.client).await?;
        let metadata = self.discovery.metadata().await?;
        let id_token = oauth::exchange(&self.http, &self.config, &metadata, &pending, code).await?;
        let claims = self.verify(&metadata, &id_token, &pending.nonce).await?;

        let email = claims.email.as_deref().and_then(Email::parse).ok_or(GoogleError::NoEmail)?;
        // The user guard links on a verified address; an unverified one proves nothing.
        if !claims.email_verified() {
            return Err(GoogleError::EmailUnverified);
        }
        let entity_id = email.as_str().to_string();
        let existing = self.db.read(move |conn| auth_users::find(conn, NAME, &entity_id)).await?;
        // Google's `sub` is the account; the address is only its current label. When a
        // domain hands an address to someone new, their Google account has a new `sub`,
        // and must not inherit the old owner's user here.
        if let Some(row) = &existing
            && let Some(stored) = stored_subject(row)
            && stored != claims.sub
        {
            return Err(GoogleError::SubjectChanged);
        }
        Ok(identity(claims, email, existing, pending.invite))
    }

    /// Verifies the ID token; a signature that no cached key accepts gets one more try with
    /// the key set fetched again, in case the issuer rotated its keys.
    async fn verify(&self, metadata: &Metadata, token: &str, nonce: &str) -> Result<Claims, GoogleError> {
        let expected = Expected { issuers: &self.issuers, client_id: &self.config.client_id, nonce };
        let keys = self.jwks.keys(&metadata.jwks_uri).await?;
        match id_token::verify(token, &keys, &expected) {
            Err(e) if e.may_need_new_keys() => {
                let keys = self.jwks.refresh(&metadata.jwks_uri, &keys).await?;
                Ok(id_token::verify(token, &keys, &expected)?)
            }
            other => Ok(other?),
        }
    }
}

/// The `sub` stored when the identity was first made.
fn stored_subject(row: &auth_users::AuthUserRow) -> Option<String> {
    let meta: Value = serde_json::from_str(row.provider_metadata.as_deref()?).ok()?;
    meta.get("sub")?.as_str().map(str::to_string)
}

/// Reads `{code, state}`, or the error the provider sent back instead.
fn parse_callback(input: &Value) -> Result<(String, String), GoogleError> {
    let text = |key: &str| input.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(error) = text("error") {
        // Only the error code's own characters reach the log.
        let code: String = error.chars().filter(|c| c.is_ascii_lowercase() || *c == '_').take(64).collect();
        return Err(GoogleError::Denied(code));
    }
    match (text("code"), text("state")) {
        (Some(code), Some(state)) if code.len() <= MAX_CODE_LEN => Ok((code.to_string(), state.to_string())),
        _ => Err(GoogleError::MissingCodeOrState),
    }
}

fn identity(
    claims: Claims,
    email: Email,
    existing: Option<auth_users::AuthUserRow>,
    invite: Option<InviteRef>,
) -> Identity {
    let mut profile = Map::new();
    for (key, value) in [
        ("name", &claims.name),
        ("given_name", &claims.given_name),
        ("family_name", &claims.family_name),
        ("picture", &claims.picture),
    ] {
        if let Some(value) = value {
            profile.insert(key.to_string(), Value::from(value.as_str()));
        }
    }
    profile.insert("sub".into(), Value::from(claims.sub.as_str()));
    Identity {
        provider: NAME.to_string(),
        entity_id: email.as_str().to_string(),
        email,
        existing,
        new_provider_metadata: Some(json!({ "sub": claims.sub })),
        user_metadata: Some(Value::Object(profile)),
        email_verified: true,
        reverify_if_raced: false,
        invite,
        first_name: claims.given_name,
        last_name: claims.family_name,
        avatar_url: claims.picture,
    }
}

/// A failure for people, or for the caller a storage error or a client over its share of
/// open flows.
fn outcome<T>(result: Result<T, GoogleError>, ok: impl FnOnce(T) -> Outcome) -> Result<Outcome, AuthError> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(GoogleError::Db(e) | GoogleError::Flow(FlowError::Db(e))) => Err(AuthError::Db(e)),
        Err(GoogleError::Flow(FlowError::TooMany { retry_after })) => Err(AuthError::RateLimited { retry_after }),
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

#[async_trait]
impl Provider for Google {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        outcome(self.start(req).await, Outcome::Redirect)
    }

    async fn validate_callback(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        outcome(self.finish(req).await, |identity| Outcome::Authenticated(Box::new(identity)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_input_is_read_strictly() {
        let ok = parse_callback(&json!({"code": "c", "state": "s"})).expect("valid");
        assert_eq!(ok, ("c".to_string(), "s".to_string()));
        for bad in
            [json!({}), json!({"code": "c"}), json!({"code": 1, "state": "s"}), json!({"code": "", "state": "s"})]
        {
            assert!(matches!(parse_callback(&bad), Err(GoogleError::MissingCodeOrState)), "{bad}");
        }
        let long = "c".repeat(MAX_CODE_LEN + 1);
        assert!(matches!(parse_callback(&json!({"code": long, "state": "s"})), Err(GoogleError::MissingCodeOrState)));
        match parse_callback(&json!({"error": "access_denied\n<script>", "state": "s"})) {
            Err(GoogleError::Denied(code)) => assert_eq!(code, "access_deniedscript"),
            other => panic!("{other:?}"),
        }
    }
}
