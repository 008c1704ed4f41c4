//! The one place where domain errors become the contract's codes. Nothing foreign reaches
//! a client through `?`: every message here is written for people and names no internals.

use async_graphql::ErrorExtensions;

use crate::auth::{AuthError, HashError};
use crate::db::DbError;

/// Deliberately not `Display`: async-graphql turns any `Display` into an error message
/// through `?`, and this type must only ever leave through its own `From`, with its code.
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    Forbidden,
    BadInput(String),
    NotFound(String),
    Conflict(String),
    RateLimited(u64),
    /// The database is unreachable: come back in [`UNAVAILABLE_RETRY_AFTER`] seconds.
    Unavailable,
    /// Too many password checks waiting for the hashing workers: come back in this many
    /// seconds (the expected wait). Not `RateLimited`, which would tell the client its
    /// account or address is throttled.
    Overloaded(u64),
    Internal,
}

impl ApiError {
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "You must be signed in".into(),
            ApiError::Forbidden => "You are not allowed to do this".into(),
            ApiError::BadInput(m) | ApiError::NotFound(m) | ApiError::Conflict(m) => m.clone(),
            ApiError::RateLimited(secs) => format!("Too many attempts; try again in {secs} seconds"),
            ApiError::Unavailable => "The service is temporarily unavailable; try again shortly".into(),
            ApiError::Overloaded(secs) => format!("The service is busy; try again in {secs} seconds"),
            ApiError::Internal => "Internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::BadInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::Unavailable | ApiError::Overloaded(_) => UNAVAILABLE,
            ApiError::Internal => "INTERNAL",
        }
    }
}

/// The code of an error the HTTP layer answers with 503 and `Retry-After` (database
/// unreachable, overloaded).
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// Seconds a client is asked to wait while the database is unreachable: long enough not to
/// hammer it, short enough that people barely notice a restart.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        async_graphql::Error::new(e.message()).extend_with(|_, ext| {
            ext.set("code", e.code());
            match e {
                ApiError::RateLimited(secs) => ext.set("retryAfter", secs),
                ApiError::Unavailable => ext.set("retryAfter", UNAVAILABLE_RETRY_AFTER),
                ApiError::Overloaded(secs) => ext.set("retryAfter", secs),
                _ => {}
            }
        })
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable => ApiError::Unavailable,
            DbError::NotFound => ApiError::NotFound("Not found".into()),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::Internal
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::UnknownProvider { name, registered } => ApiError::BadInput(format!(
                "Unknown provider \"{}\"; registered providers: {}",
                name.chars().take(64).collect::<String>(),
                registered.join(", ")
            )),
            AuthError::RateLimited { retry_after } => ApiError::RateLimited(retry_after),
            AuthError::Hash(HashError::Overloaded { retry_after }) => ApiError::Overloaded(retry_after),
            AuthError::Db(db) => db.into(),
            AuthError::Hash(HashError::Internal(reason)) => {
                tracing::error!(%reason, "password hashing failed");
                ApiError::Internal
            }
            AuthError::Contention => ApiError::Unavailable,
            AuthError::BadInput(reason) => ApiError::BadInput(reason),
            AuthError::Internal(reason) => {
                tracing::error!(%reason, "sign-in failed inside the server");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::accounts::users::UserError> for ApiError {
    fn from(e: crate::accounts::users::UserError) -> Self {
        use crate::accounts::users::UserError;
        match e {
            UserError::NotFound => ApiError::NotFound("User not found".into()),
            UserError::LastAdmin => ApiError::Conflict(UserError::LastAdmin.to_string()),
            UserError::Invalid(m) => ApiError::BadInput(m),
            UserError::Db(db) => db.into(),
        }
    }
}

impl From<crate::accounts::invites::InviteError> for ApiError {
    fn from(e: crate::accounts::invites::InviteError) -> Self {
        use crate::accounts::invites::InviteError;
        match e {
            InviteError::NotFound => ApiError::NotFound("Invite not found".into()),
            InviteError::Conflict(m) => ApiError::Conflict(m),
            InviteError::Invalid(m) => ApiError::BadInput(m),
            InviteError::Db(db) => db.into(),
        }
    }
}

impl From<crate::accounts::credentials::PasswordError> for ApiError {
    fn from(e: crate::accounts::credentials::PasswordError) -> Self {
        use crate::accounts::credentials::PasswordError;
        match e {
            PasswordError::Invalid(m) => ApiError::BadInput(m),
            PasswordError::LinkInvalid => ApiError::BadInput(PasswordError::LinkInvalid.to_string()),
            PasswordError::Auth(auth) => auth.into(),
            PasswordError::Db(db) => db.into(),
        }
    }
}

impl From<crate::accounts::verification::VerifyError> for ApiError {
    fn from(e: crate::accounts::verification::VerifyError) -> Self {
        use crate::accounts::verification::VerifyError;
        match e {
            VerifyError::LinkInvalid => ApiError::BadInput(VerifyError::LinkInvalid.to_string()),
            VerifyError::NotYours => ApiError::Forbidden,
            VerifyError::Db(db) => db.into(),
        }
    }
}

impl From<crate::accounts::second_factor::MfaError> for ApiError {
    fn from(e: crate::accounts::second_factor::MfaError) -> Self {
        use crate::accounts::second_factor::MfaError;
        match e {
            MfaError::RateLimited { retry_after } => ApiError::RateLimited(retry_after),
            MfaError::Db(db) => db.into(),
            MfaError::BadSecret => {
                tracing::error!("a stored TOTP secret cannot be read");
                ApiError::Internal
            }
            MfaError::AlreadyEnabled | MfaError::NotEnabled => ApiError::Conflict(e.to_string()),
            MfaError::NotEnrolled | MfaError::InvalidCode | MfaError::TicketInvalid | MfaError::UnknownMethod => {
                ApiError::BadInput(e.to_string())
            }
        }
    }
}

impl From<crate::auth::passkey::PasskeyError> for ApiError {
    fn from(e: crate::auth::passkey::PasskeyError) -> Self {
        use crate::auth::passkey::PasskeyError;
        match e {
            PasskeyError::Invalid(_)
            | PasskeyError::Refused(_)
            | PasskeyError::NotInProgress
            | PasskeyError::Expired
            | PasskeyError::Off => ApiError::BadInput(e.to_string()),
            PasskeyError::AlreadyRegistered => ApiError::Conflict(e.to_string()),
            PasskeyError::NotFound => ApiError::NotFound(e.to_string()),
            PasskeyError::Internal(reason) => {
                tracing::error!(%reason, "passkey operation failed inside the server");
                ApiError::Internal
            }
            PasskeyError::Db(db) => db.into(),
        }
    }
}

/// What resolvers return.
pub type ApiResult<T> = Result<T, async_graphql::Error>;

/// `?` on any domain error inside a resolver, through [`ApiError`].
pub trait OrApi<T> {
    fn api(self) -> ApiResult<T>;
}

impl<T, E: Into<ApiError>> OrApi<T> for Result<T, E> {
    fn api(self) -> ApiResult<T> {
        self.map_err(|e| e.into().into())
    }
}
