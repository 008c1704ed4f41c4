//! The GraphQL object types, built from stored rows. Secrets (password hashes, token
//! hashes, provider_metadata) have no field here, so they cannot be asked for.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::models::auth_users::AuthUserRow;
use crate::db::models::sessions::SessionRow;
use crate::db::models::users::UserRow;
use crate::db::to_utc;
use crate::domain;
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::{AuthUsersOfUser, PasskeysOfUser, StoreLoader, TotpEnabledOf};
use crate::graphql::passkeys::Passkey;

/// What a user may do: ADMIN manages users and invites; MEMBER manages themself.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    /// Manages users and invites.
    Admin,
    /// An ordinary account.
    Member,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Admin => Role::Admin,
            domain::Role::Member => Role::Member,
        }
    }
}

impl From<Role> for domain::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => domain::Role::Admin,
            Role::Member => domain::Role::Member,
        }
    }
}

pub(crate) fn parse_json(text: Option<&str>) -> Option<Json<Value>> {
    text.and_then(|t| serde_json::from_str(t).ok()).map(Json)
}

/// A person with an account. Found or created by the user guard from a provider identity.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct User {
    /// Stable identifier (a UUID).
    pub id: ID,
    /// Stored and compared case-insensitively, returned lower-cased.
    pub email: String,
    /// Given name, as the user or their provider set it.
    pub first_name: Option<String>,
    /// Family name, as the user or their provider set it.
    pub last_name: Option<String>,
    /// An http(s) URL of a picture.
    pub avatar_url: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// Proven by a verified provider, an accepted invite or verifyEmail.
    pub email_verified: bool,
    /// Free-form data the application keeps about the user.
    pub metadata: Option<Json<Value>>,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// When the profile last changed.
    pub updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl User {
    /// The identities linked to this user.
    async fn auth_users(&self, ctx: &Context<'_>) -> ApiResult<Vec<AuthUser>> {
        let loader = ctx.data_unchecked::<DataLoader<StoreLoader>>();
        let rows = loader
            .load_one(AuthUsersOfUser(self.id.to_string()))
            .await
            .map_err(|_| async_graphql::Error::from(ApiError::Unavailable))?
            .unwrap_or_default();
        Ok(rows.into_iter().map(AuthUser::from).collect())
    }

    /// Whether a TOTP second factor is on: every sign-in then asks for a code.
    async fn totp_enabled(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let loader = ctx.data_unchecked::<DataLoader<StoreLoader>>();
        let enabled = loader
            .load_one(TotpEnabledOf(self.id.to_string()))
            .await
            .map_err(|_| async_graphql::Error::from(ApiError::Unavailable))?;
        Ok(enabled.unwrap_or(false))
    }

    /// The passkeys that sign this user in (seen by the user and by admins, like the rest).
    async fn passkeys(&self, ctx: &Context<'_>) -> ApiResult<Vec<Passkey>> {
        let loader = ctx.data_unchecked::<DataLoader<StoreLoader>>();
        let rows = loader
            .load_one(PasskeysOfUser(self.id.to_string()))
            .await
            .map_err(|_| async_graphql::Error::from(ApiError::Unavailable))?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Passkey::from).collect())
    }
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            id: ID(u.id),
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            avatar_url: u.avatar_url,
            role: Role::from(domain::Role::from_db(&u.role)),
            email_verified: u.email_verified,
            metadata: parse_json(u.metadata.as_deref()),
            created_at: to_utc(u.created_at),
            updated_at: to_utc(u.updated_at),
        }
    }
}

/// An identity held by one auth provider (the seed's AuthUser).
#[derive(SimpleObject, Clone)]
pub struct AuthUser {
    /// Stable identifier (a UUID).
    pub id: ID,
    /// "emailpass", "google", ...
    pub provider: String,
    /// The provider's key for the person: an e-mail for emailpass and google.
    pub entity_id: String,
    /// Profile the provider reported (name, picture, ...).
    pub user_metadata: Option<Json<Value>>,
    /// What the application attached, e.g. {"userId": "..."}.
    pub app_metadata: Option<Json<Value>>,
    /// When the identity was first used.
    pub created_at: DateTime<Utc>,
    /// When the identity last changed (a new password, a new link).
    pub updated_at: DateTime<Utc>,
}

impl From<AuthUserRow> for AuthUser {
    fn from(a: AuthUserRow) -> Self {
        // The link to the user is a column; clients see it where the seed put it.
        let mut app = parse_json(a.app_metadata.as_deref()).map(|j| j.0).unwrap_or(Value::Object(Default::default()));
        if let (Value::Object(map), Some(user_id)) = (&mut app, &a.user_id) {
            map.insert("userId".into(), Value::String(user_id.clone()));
        }
        AuthUser {
            id: ID(a.id),
            provider: a.provider,
            entity_id: a.entity_id,
            user_metadata: parse_json(a.user_metadata.as_deref()),
            app_metadata: Some(Json(app)),
            created_at: to_utc(a.created_at),
            updated_at: to_utc(a.updated_at),
        }
    }
}

/// A signed-in device or client.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Session {
    /// Identifies the session for listing and revocation; not a credential.
    pub id: ID,
    /// The secret; present only in the result that created the session.
    pub token: Option<String>,
    /// When the person signed in.
    pub created_at: DateTime<Utc>,
    /// When the session stops working unless used: each use moves it to AUTHQL_SESSION_TTL
    /// ahead, but never past AUTHQL_SESSION_MAX_TTL after sign-in.
    pub expires_at: DateTime<Utc>,
    /// When the session was last used, to within the touch interval (min(1h, AUTHQL_SESSION_TTL / 10)).
    pub last_seen_at: DateTime<Utc>,
    /// The client's User-Agent when the session was created.
    pub user_agent: Option<String>,
    /// The client's address when the session was created.
    pub ip: Option<String>,
    /// Whether this is the session of the request asking.
    pub current: bool,
    #[graphql(skip)]
    pub user_id: String,
    #[graphql(skip)]
    pub auth_user_id: String,
}

#[ComplexObject]
impl Session {
    /// Whose session it is.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let loader = ctx.data_unchecked::<DataLoader<StoreLoader>>();
        loader
            .load_one(crate::graphql::loaders::UserById(self.user_id.clone()))
            .await
            .map_err(|_| async_graphql::Error::from(ApiError::Unavailable))?
            .map(User::from)
            .ok_or_else(|| ApiError::NotFound("User not found".into()).into())
    }

    /// The identity the person signed in with.
    async fn auth_user(&self, ctx: &Context<'_>) -> ApiResult<AuthUser> {
        let loader = ctx.data_unchecked::<DataLoader<StoreLoader>>();
        loader
            .load_one(crate::graphql::loaders::AuthUserById(self.auth_user_id.clone()))
            .await
            .map_err(|_| async_graphql::Error::from(ApiError::Unavailable))?
            .map(AuthUser::from)
            .ok_or_else(|| ApiError::NotFound("Identity not found".into()).into())
    }
}

impl Session {
    pub fn from_row(s: SessionRow, token: Option<String>, current_id: Option<&str>) -> Session {
        Session {
            current: current_id == Some(s.id.as_str()),
            id: ID(s.id),
            token,
            created_at: to_utc(s.created_at),
            expires_at: to_utc(s.expires_at),
            last_seen_at: to_utc(s.last_seen_at),
            user_agent: s.user_agent,
            ip: s.ip,
            user_id: s.user_id,
            auth_user_id: s.auth_user_id,
        }
    }
}

/// The answer to authenticate, validateCallback and acceptInvite.
#[derive(SimpleObject, Default)]
pub struct AuthResult {
    /// True when signed in, or when `location` says where to go next.
    pub success: bool,
    /// Why it failed, for people; null on success.
    pub error: Option<String>,
    /// A URL to send the browser to (OAuth providers); no session then.
    pub location: Option<String>,
    /// The new session, with its token (shown only here), on success.
    pub session: Option<Session>,
    /// The signed-in user, on success.
    pub user: Option<User>,
    /// The identity used, on success.
    pub auth_user: Option<AuthUser>,
    /// Set when the first factor passed but the user has a second factor on: no session
    /// exists yet; pass it to verifySecondFactor within 5 minutes. Single use.
    pub mfa_ticket: Option<String>,
    /// With mfaTicket: the methods verifySecondFactor accepts, e.g. ["totp", "recovery_code"].
    pub mfa_methods: Option<Vec<String>>,
    /// WebAuthn options for the browser (provider "passkey"): `{"publicKey": {...}}`, binary
    /// fields in base64url. Answer with navigator.credentials.get, then validateCallback.
    pub options: Option<Json<Value>>,
}

impl AuthResult {
    pub fn failed(reason: impl Into<String>) -> AuthResult {
        AuthResult { error: Some(reason.into()), ..Default::default() }
    }
}
