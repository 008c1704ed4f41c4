//! The server side of an OAuth `state`: what a sign-in started with (PKCE verifier, nonce,
//! redirect URI, pending invite), stored under the state's SHA-256 so that the flow can
//! finish on any instance, and taken exactly once.

use chrono::TimeDelta;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::token;
use crate::db::models::oauth_states::{self, OAuthStateRow};
use crate::db::{self, Db};

use super::error::GoogleError;

/// Long enough to pick an account and consent, short enough that a leaked state is stale.
pub const TTL: TimeDelta = TimeDelta::minutes(10);

/// A sign-in that went to the provider and has not come back yet.
pub struct Pending {
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub redirect_uri: String,
    pub invite_id: Option<String>,
}

pub async fn save(db: &Db, provider: &'static str, state_hash: String, pending: Pending) -> Result<(), GoogleError> {
    let now = db::now();
    let row = OAuthStateRow {
        state_hash,
        provider: provider.to_string(),
        pkce_verifier: pending.pkce_verifier.expose_secret().to_string(),
        nonce: pending.nonce,
        redirect_uri: pending.redirect_uri,
        invite_id: pending.invite_id,
        expires_at: now + TTL,
        created_at: now,
    };
    db.write(move |conn| oauth_states::insert(conn, &row)).await?;
    Ok(())
}

/// Takes the sign-in that `state` names: it cannot be taken again, expired or not.
pub async fn take(db: &Db, provider: &'static str, state: &str) -> Result<Pending, GoogleError> {
    // Only what `token::generate` could have made is worth a query.
    let state_hash = token::parse(state).map(token::hash).ok_or(GoogleError::UnknownState)?;
    let row = db.write(move |conn| oauth_states::take(conn, provider, &state_hash)).await?;
    let row = row.ok_or(GoogleError::UnknownState)?;
    if row.expires_at <= db::now() {
        return Err(GoogleError::ExpiredState);
    }
    Ok(Pending {
        pkce_verifier: SecretString::from(row.pkce_verifier),
        nonce: row.nonce,
        redirect_uri: row.redirect_uri,
        invite_id: row.invite_id,
    })
}
