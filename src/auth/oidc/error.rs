//! What can go wrong in an OpenID Connect sign-in, and the sentence people are told for
//! each, naming the provider.

use crate::auth::flow::FlowError;
use crate::auth::outbound::FetchError;
use crate::db::DbError;

use super::id_token::IdTokenError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
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
    #[error("the token endpoint accepts none of client_secret_basic, client_secret_post (it lists {0:?})")]
    NoAuthMethod(Vec<String>),
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
    #[error("UserInfo endpoint failed: {0}")]
    UserInfo(FetchError),
    #[error("UserInfo names another subject than the ID token")]
    UserInfoSubject,
    #[error("no usable email")]
    NoEmail,
    #[error("email not verified by the provider")]
    EmailUnverified,
    #[error("the address is linked to another account at the provider (sub changed)")]
    SubjectChanged,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl OidcError {
    /// The `AuthResult.error` for this failure, `label` being the provider's name for people
    /// ("Google"): what went wrong and what to do, without internals (no URLs, no provider
    /// bodies).
    pub(crate) fn public_message(&self, label: &str) -> String {
        match self {
            OidcError::CallbackUrlNotString => "callbackUrl should be a string".into(),
            OidcError::CallbackUrlNotAllowed => "callbackUrl is not an allowed callback URL".into(),
            OidcError::MissingCodeOrState => "Code and state should be strings".into(),
            OidcError::Denied(_) => format!("{label} sign-in was cancelled or refused"),
            OidcError::Flow(e) => e.public_message(),
            OidcError::Discovery(_)
            | OidcError::IssuerMismatch { .. }
            | OidcError::BadEndpoint(_)
            | OidcError::NoAuthMethod(_)
            | OidcError::Jwks(_) => format!("{label} sign-in is unavailable right now; try again later"),
            OidcError::TokenUnreachable(_) => format!("Could not reach {label} to complete the sign-in; try again"),
            OidcError::TokenRefused(_) => format!("{label} refused the sign-in code; start again"),
            OidcError::NoIdToken => format!("{label} did not return an ID token"),
            OidcError::IdToken(e) => format!("{label}'s ID token is invalid: {e}"),
            OidcError::UserInfo(_) | OidcError::UserInfoSubject => {
                format!("Could not read your profile from {label}; start again")
            }
            OidcError::NoEmail => format!("{label} did not share a usable email address"),
            OidcError::EmailUnverified => format!("{label} has not verified this email address"),
            OidcError::SubjectChanged => {
                format!("This address is linked to a different {label} account; ask an administrator for help")
            }
            OidcError::Db(_) => "Internal error".into(),
        }
    }

    /// Whether the fault is on the provider's side (worth a warning in the log), rather than
    /// the client's input or the person's account.
    pub(crate) fn is_provider_fault(&self) -> bool {
        matches!(
            self,
            OidcError::Discovery(_)
                | OidcError::IssuerMismatch { .. }
                | OidcError::BadEndpoint(_)
                | OidcError::NoAuthMethod(_)
                | OidcError::Jwks(_)
                | OidcError::TokenUnreachable(_)
                | OidcError::TokenRefused(_)
                | OidcError::NoIdToken
                | OidcError::IdToken(_)
                | OidcError::UserInfo(_)
                | OidcError::UserInfoSubject
        )
    }
}
