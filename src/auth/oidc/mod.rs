//! Any OpenID Connect issuer (authorization code with PKCE and a nonce): `google`, and each
//! provider named in `AUTHQL_OIDC_PROVIDERS`. `authenticate` sends the browser to the issuer;
//! `validateCallback` takes the state, trades the code, verifies the ID token and reads the
//! e-mail from it or, where the issuer keeps it there, from UserInfo. Only an address the
//! issuer verified becomes an identity.
//!
//! google is this module with Google's defaults ([`Oidc::google`]): its identities are keyed
//! by e-mail (as they always were), and its ID tokens may name the issuer without a scheme.
//! Every other provider keys identities by the issuer's `sub`.

mod discovery;
mod error;
mod id_token;
mod jwks;
mod oauth;
mod profile;
mod userinfo;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::auth::AuthError;
use crate::auth::flow::{FlowError, Flows};
use crate::auth::provider::{AuthRequest, Identity, InviteRef, Outcome, Provider, Redirect};
use crate::config::OidcConfig;
use crate::db::Db;
use crate::db::models::auth_users;
use crate::domain::Email;

use discovery::{Discovery, Metadata};
pub(crate) use error::OidcError;
use id_token::{Claims, Expected};
use jwks::Jwks;
use profile::Profile;

/// google's registry name.
pub(crate) const GOOGLE: &str = "google";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// Codes are short; a bound keeps junk input from travelling to the token endpoint.
const MAX_CODE_LEN: usize = 2048;

/// What an identity of this provider is keyed by (its `entityId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntityKey {
    /// The verified address (google, as it always was); a changed `sub` behind a known
    /// address is refused.
    Email,
    /// The issuer's `sub`: the one identifier OpenID Connect promises never to reassign.
    Subject,
}

pub(crate) struct Oidc {
    name: String,
    /// The provider as people know it, for messages ("Google").
    label: String,
    key: EntityKey,
    db: Db,
    flows: Flows,
    config: OidcConfig,
    http: reqwest::Client,
    discovery: Discovery,
    jwks: Jwks,
    /// `iss` values accepted in ID tokens.
    issuers: Vec<String>,
}

impl Oidc {
    /// The google preset.
    pub(crate) fn google(db: Db, flows: Flows, config: OidcConfig, http: reqwest::Client) -> Oidc {
        let mut oidc = Oidc::build(GOOGLE, EntityKey::Email, db, flows, config, http);
        // Google documents that its ID tokens may carry the issuer without the scheme.
        if oidc.config.issuer == GOOGLE_ISSUER {
            oidc.issuers.push("accounts.google.com".into());
        }
        oidc
    }

    /// A provider from `AUTHQL_OIDC_PROVIDERS`.
    pub(crate) fn named(name: &str, db: Db, flows: Flows, config: OidcConfig, http: reqwest::Client) -> Oidc {
        Oidc::build(name, EntityKey::Subject, db, flows, config, http)
    }

    fn build(name: &str, key: EntityKey, db: Db, flows: Flows, config: OidcConfig, http: reqwest::Client) -> Oidc {
        Oidc {
            name: name.to_string(),
            label: label(name),
            key,
            db,
            flows,
            discovery: Discovery::new(config.issuer.clone(), http.clone()),
            jwks: Jwks::new(http.clone()),
            issuers: vec![config.issuer.clone()],
            http,
            config,
        }
    }

    /// The callback the client asked for, if it may; else the configured one.
    fn redirect_uri(&self, input: &Value) -> Result<String, OidcError> {
        match input.get("callbackUrl") {
            None | Some(Value::Null) => Ok(self.config.callback_url.clone()),
            Some(Value::String(url)) => {
                let allowed = *url == self.config.callback_url || self.config.allowed_callback_urls.contains(url);
                if allowed { Ok(url.clone()) } else { Err(OidcError::CallbackUrlNotAllowed) }
            }
            Some(_) => Err(OidcError::CallbackUrlNotString),
        }
    }

    async fn start(&self, req: &AuthRequest<'_>) -> Result<Redirect, OidcError> {
        let redirect_uri = self.redirect_uri(req.input)?;
        let metadata = self.discovery.metadata().await?;
        let auth = oauth::authorization(&self.config, &metadata, redirect_uri, req.invite.cloned())?;
        let binding = self.flows.start(&self.name, auth.state.hash, auth.pending, req.client).await?;
        Ok(Redirect { location: auth.url, binding })
    }

    async fn finish(&self, req: &AuthRequest<'_>) -> Result<Identity, OidcError> {
        let (code, state) = parse_callback(req.input)?;
        let pending = self.flows.take(&self.name, &state, req.client).await?;
        let metadata = self.discovery.metadata().await?;
        let tokens = oauth::exchange(&self.http, &self.config, &metadata, &pending, code).await?;
        let claims = self.verify(&metadata, &tokens.id_token, &pending.nonce).await?;
        let person = self.person(&metadata, claims, &tokens.access_token).await?;

        let email = person.email.as_deref().and_then(Email::parse).ok_or(OidcError::NoEmail)?;
        // The user guard links on a verified address; an unverified one proves nothing.
        if !person.email_verified() {
            return Err(OidcError::EmailUnverified);
        }
        let entity_id = match self.key {
            EntityKey::Email => email.as_str().to_string(),
            EntityKey::Subject => person.sub.clone(),
        };
        let (name, id) = (self.name.clone(), entity_id.clone());
        let existing = self.db.read(move |conn| auth_users::find(conn, &name, &id)).await?;
        // Keyed by address, the `sub` is the account and the address only its current label.
        // When a domain hands an address to someone new, their account has a new `sub`, and
        // must not inherit the old owner's user here.
        if self.key == EntityKey::Email
            && let Some(row) = &existing
            && let Some(stored) = stored_subject(row)
            && stored != person.sub
        {
            return Err(OidcError::SubjectChanged);
        }
        Ok(self.identity(person, email, entity_id, existing, pending.invite))
    }

    /// Verifies the ID token; a signature that no cached key accepts gets one more try with
    /// the key set fetched again, in case the issuer rotated its keys.
    async fn verify(&self, metadata: &Metadata, token: &str, nonce: &str) -> Result<Claims, OidcError> {
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

    /// The person the verified ID token names. OpenID Connect Core §5.4: in the code flow the
    /// `email` scope's claims may be returned from UserInfo rather than in the ID token; they
    /// are read there when the token lacks the address or its verification, and only when
    /// UserInfo speaks of the same `sub` (§5.3.2: otherwise they must not be used).
    async fn person(
        &self,
        metadata: &Metadata,
        claims: Claims,
        access_token: &secrecy::SecretString,
    ) -> Result<Profile, OidcError> {
        let mut person = claims.profile;
        let Some(endpoint) = metadata.userinfo_endpoint.as_deref().filter(|_| !person.has_email()) else {
            return Ok(person);
        };
        let info = userinfo::fetch(&self.http, endpoint, access_token).await?;
        if info.sub != person.sub {
            return Err(OidcError::UserInfoSubject);
        }
        person.fill_gaps(info);
        Ok(person)
    }

    fn identity(
        &self,
        person: Profile,
        email: Email,
        entity_id: String,
        existing: Option<auth_users::AuthUserRow>,
        invite: Option<InviteRef>,
    ) -> Identity {
        let mut profile = Map::new();
        for (key, value) in [
            ("name", &person.name),
            ("given_name", &person.given_name),
            ("family_name", &person.family_name),
            ("picture", &person.picture),
        ] {
            if let Some(value) = value {
                profile.insert(key.to_string(), Value::from(value.as_str()));
            }
        }
        profile.insert("sub".into(), Value::from(person.sub.as_str()));
        Identity {
            provider: self.name.clone(),
            entity_id,
            email,
            existing,
            new_provider_metadata: Some(json!({ "sub": person.sub })),
            user_metadata: Some(Value::Object(profile)),
            email_verified: true,
            reverify_if_raced: false,
            refund: None,
            invite,
            first_name: person.given_name,
            last_name: person.family_name,
            avatar_url: person.picture,
        }
    }

    /// A failure for people, or for the caller a storage error or a client over its share of
    /// open flows.
    fn outcome<T>(&self, result: Result<T, OidcError>, ok: impl FnOnce(T) -> Outcome) -> Result<Outcome, AuthError> {
        match result {
            Ok(value) => Ok(ok(value)),
            Err(OidcError::Db(e) | OidcError::Flow(FlowError::Db(e))) => Err(AuthError::Db(e)),
            Err(OidcError::Flow(FlowError::TooMany { retry_after })) => Err(AuthError::RateLimited { retry_after }),
            Err(e) => {
                if e.is_provider_fault() {
                    tracing::warn!(provider = %self.name, error = %e, "sign-in failed");
                } else {
                    tracing::info!(provider = %self.name, error = %e, "sign-in refused");
                }
                Ok(Outcome::Failed(e.public_message(&self.label)))
            }
        }
    }
}

/// "Google" for google, "Acme" for acme: the name as people read it in a sentence.
fn label(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The `sub` stored when the identity was first made.
fn stored_subject(row: &auth_users::AuthUserRow) -> Option<String> {
    let meta: Value = serde_json::from_str(row.provider_metadata.as_deref()?).ok()?;
    meta.get("sub")?.as_str().map(str::to_string)
}

/// Reads `{code, state}`, or the error the provider sent back instead.
fn parse_callback(input: &Value) -> Result<(String, String), OidcError> {
    let text = |key: &str| input.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(error) = text("error") {
        // Only the error code's own characters reach the log.
        let code: String = error.chars().filter(|c| c.is_ascii_lowercase() || *c == '_').take(64).collect();
        return Err(OidcError::Denied(code));
    }
    match (text("code"), text("state")) {
        (Some(code), Some(state)) if code.len() <= MAX_CODE_LEN => Ok((code.to_string(), state.to_string())),
        _ => Err(OidcError::MissingCodeOrState),
    }
}

#[async_trait]
impl Provider for Oidc {
    fn name(&self) -> &str {
        &self.name
    }

    async fn authenticate(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        self.outcome(self.start(req).await, Outcome::Redirect)
    }

    async fn validate_callback(&self, req: &AuthRequest<'_>) -> Result<Outcome, AuthError> {
        self.outcome(self.finish(req).await, |identity| Outcome::Authenticated(Box::new(identity)))
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
            assert!(matches!(parse_callback(&bad), Err(OidcError::MissingCodeOrState)), "{bad}");
        }
        let long = "c".repeat(MAX_CODE_LEN + 1);
        assert!(matches!(parse_callback(&json!({"code": long, "state": "s"})), Err(OidcError::MissingCodeOrState)));
        match parse_callback(&json!({"error": "access_denied\n<script>", "state": "s"})) {
            Err(OidcError::Denied(code)) => assert_eq!(code, "access_deniedscript"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn providers_are_named_in_messages() {
        assert_eq!(label("google"), "Google");
        assert_eq!(label("acme2"), "Acme2");
        assert_eq!(OidcError::NoEmail.public_message(&label("acme")), "Acme did not share a usable email address");
    }
}
