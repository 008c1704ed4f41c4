//! What can go wrong in a google sign-in, and the sentence people are told for each.

use crate::auth::flow::FlowError;
use crate::auth::outbound::FetchError;
use crate::db::DbError;

use super::id_token::IdTokenError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GoogleError {
    #[error("callbackUrl should be a string")]
    CallbackUrlNotString,
    #[error("callbackUrl is not allowed")]
    CallbackUrlNotAllowed,
    #[error("code and state should be strings")]
    MissingCodeOrState,
    #[error("the provider sent back an error: {0}")]
    Denied(String),
    #[error("state: {0}")]
    Flow(#[from] FlowError),
    #[error("discovery failed: {0}")]
    Discovery(FetchError),
    #[error("discovery names issuer {found:?}, configured {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("discovery gives an invalid {0}")]
    BadEndpoint(&'static str),
    #[error("cannot fetch the signing keys: {0}")]
    Jwks(FetchError),
    #[error("token endpoint unreachable: {0}")]
    TokenUnreachable(String),
    #[error("token endpoint refused the code: {0}")]
    TokenRefused(String),
    #[error("token endpoint answered without an id_token")]
    NoIdToken,
    #[error("ID token rejected: {0}")]
    IdToken(#[from] IdTokenError),
    #[error("ID token has no usable email")]
    NoEmail,
    #[error("email not verified by the provider")]
    EmailUnverified,
    #[error("the address is linked to another Google account (sub changed)")]
    SubjectChanged,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl GoogleError {
    /// The `AuthResult.error` for this failure: what went wrong and what to do, without
    /// internals (no URLs, no provider bodies).
    pub(crate) fn public_message(&self) -> String {
        match self {
            GoogleError::CallbackUrlNotString => "callbackUrl should be a string".into(),
            GoogleError::CallbackUrlNotAllowed => "callbackUrl is not an allowed callback URL".into(),
            GoogleError::MissingCodeOrState => "Code and state should be strings".into(),
            GoogleError::Denied(_) => "Google sign-in was cancelled or refused".into(),
            GoogleError::Flow(e) => e.public_message(),
            GoogleError::Discovery(_)
            | GoogleError::IssuerMismatch { .. }
            | GoogleError::BadEndpoint(_)
            | GoogleError::Jwks(_) => "Google sign-in is unavailable right now; try again later".into(),
            GoogleError::TokenUnreachable(_) => "Could not reach Google to complete the sign-in; try again".into(),
            GoogleError::TokenRefused(_) => "Google refused the sign-in code; start again".into(),
            GoogleError::NoIdToken => "Google did not return an ID token".into(),
            GoogleError::IdToken(e) => format!("Google's ID token is invalid: {e}"),
            GoogleError::NoEmail => "Google did not share a usable email address".into(),
            GoogleError::EmailUnverified => "Google has not verified this email address".into(),
            GoogleError::SubjectChanged => {
                "This address is linked to a different Google account; ask an administrator for help".into()
            }
            GoogleError::Db(_) => "Internal error".into(),
        }
    }

    /// Whether the fault is on the provider's side (worth a warning in the log), rather than
    /// the client's input or the person's account.
    pub(crate) fn is_provider_fault(&self) -> bool {
        matches!(
            self,
            GoogleError::Discovery(_)
                | GoogleError::IssuerMismatch { .. }
                | GoogleError::BadEndpoint(_)
                | GoogleError::Jwks(_)
                | GoogleError::TokenUnreachable(_)
                | GoogleError::TokenRefused(_)
                | GoogleError::NoIdToken
                | GoogleError::IdToken(_)
        )
    }
}
