//! A signed-in user's passkeys: registration (begun and finished by the same session, each
//! challenge answered once), listing, and removal. Signing in with one is the `passkey`
//! provider's part ([`crate::auth::passkey`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use webauthn_rs::prelude::{CredentialID, RegisterPublicKeyCredential, Uuid};

use crate::auth::passkey::{self, PasskeyError, RelyingParty, parse_credential, relying_party};
use crate::db::models::auth_users::{self, NewAuthUser};
use crate::db::models::passkeys::{self, PasskeyRow};
use crate::db::models::users::UserRow;
use crate::db::models::webauthn_challenges::{self, ChallengeRow};
use crate::db::{self, Db, DbError};
use crate::domain::token;

/// Longest name a passkey may be given, in characters.
pub const MAX_NAME: usize = 64;

#[derive(Clone)]
pub struct Passkeys {
    db: Db,
    rp: Option<RelyingParty>,
}

impl Passkeys {
    pub fn new(db: Db, rp: Option<RelyingParty>) -> Passkeys {
        Passkeys { db, rp }
    }

    fn rp(&self) -> Result<&RelyingParty, PasskeyError> {
        self.rp.as_ref().ok_or(PasskeyError::Off)
    }

    /// PublicKeyCredentialCreationOptions for `user`, kept for the session `session_id`
    /// (a new call replaces the last one's).
    pub async fn begin_registration(&self, session_id: &str, user: &UserRow) -> Result<Value, PasskeyError> {
        let rp = self.rp()?;
        // The user handle the authenticator keeps is the account's id (a UUID, no PII).
        let handle = Uuid::parse_str(&user.id).map_err(PasskeyError::internal)?;
        let owner = vec![user.id.clone()];
        let existing = self.db.read(move |conn| passkeys::for_users(conn, &owner)).await?;
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .map(CredentialID::from)
            .collect();
        let begun = rp.begin_registration(handle, &user.email, exclude)?;
        let now = db::now();
        let row = ChallengeRow {
            challenge_hash: token::hash(&begun.challenge),
            purpose: webauthn_challenges::REGISTRATION.into(),
            user_id: Some(user.id.clone()),
            session_id: Some(session_id.to_string()),
            state: begun.state,
            expires_at: now + passkey::challenge_ttl(),
            created_at: now,
        };
        self.db.write(move |conn| webauthn_challenges::replace_registration(conn, &row)).await?;
        Ok(begun.options)
    }

    /// Stores the credential the browser made for the registration this session began.
    pub async fn finish_registration(
        &self,
        session_id: &str,
        user_id: &str,
        credential: &Value,
        name: Option<String>,
    ) -> Result<PasskeyRow, PasskeyError> {
        let rp = self.rp()?;
        let name = clean_name(name)?;
        let credential: RegisterPublicKeyCredential = parse_credential(Some(credential))?;
        let (session, user) = (session_id.to_string(), user_id.to_string());
        let Some(pending) =
            self.db.write(move |conn| webauthn_challenges::take_registration(conn, &session, &user)).await?
        else {
            return Err(PasskeyError::NotInProgress);
        };
        if pending.expires_at <= db::now() {
            return Err(PasskeyError::Expired);
        }
        let key = rp.finish_registration(&credential, &pending.state)?;
        let stored = serde_json::to_value(&key).map_err(PasskeyError::internal)?;
        let now = db::now();
        let row = PasskeyRow {
            id: db::new_id(),
            user_id: user_id.to_string(),
            auth_user_id: db::new_id(),
            credential_id: relying_party::encode_id(key.cred_id().as_slice()),
            sign_count: counter_of(&stored),
            credential: stored.to_string(),
            name,
            created_at: now,
            last_used_at: None,
        };
        let inserted = self
            .db
            .write(move |conn| {
                if passkeys::find_by_credential_id(conn, &row.credential_id)?.is_some() {
                    return Ok(None);
                }
                // The identity its sessions are issued under, as every sign-in has one.
                auth_users::insert(
                    conn,
                    &NewAuthUser {
                        id: &row.auth_user_id,
                        provider: passkey::NAME,
                        entity_id: &row.credential_id,
                        user_id: Some(&row.user_id),
                        provider_metadata: None,
                        user_metadata: None,
                        app_metadata: None,
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                passkeys::insert(conn, &row)?;
                Ok(Some(row))
            })
            .await;
        match inserted {
            Ok(Some(row)) => Ok(row),
            Ok(None) | Err(DbError::Conflict(_)) => Err(PasskeyError::AlreadyRegistered),
            Err(e) => Err(e.into()),
        }
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<PasskeyRow>, PasskeyError> {
        let owner = vec![user_id.to_string()];
        Ok(self.db.read(move |conn| passkeys::for_users(conn, &owner)).await?)
    }

    /// Removes the user's passkey `id`, with its identity and the sessions signed in with
    /// it. Another user's passkey is `NotFound`, exactly as one that does not exist.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<(), PasskeyError> {
        let (user, id) = (user_id.to_string(), id.to_string());
        let removed = self
            .db
            .write(move |conn| {
                let Some(row) = passkeys::find_owned(conn, &id, &user)? else { return Ok(false) };
                auth_users::delete(conn, &row.auth_user_id)?;
                Ok(true)
            })
            .await?;
        if removed { Ok(()) } else { Err(PasskeyError::NotFound) }
    }
}

/// The signature counter of a serialized webauthn-rs credential (`cred.counter`), 0 when it
/// has none.
fn counter_of(stored: &Value) -> i64 {
    stored["cred"]["counter"].as_i64().unwrap_or(0)
}

fn clean_name(name: Option<String>) -> Result<Option<String>, PasskeyError> {
    let Some(name) = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(PasskeyError::Invalid(format!(
            "A passkey name has at most {MAX_NAME} characters and no control characters"
        )));
    }
    Ok(Some(name))
}
