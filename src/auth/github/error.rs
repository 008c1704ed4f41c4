//! What can go wrong in a github sign-in, and the sentence people are told for each.

use crate::auth::flow::FlowError;
use crate::auth::outbound::FetchError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GithubError {
    #[error("callbackUrl should be a string")]
    CallbackUrlNotString,
    #[error("callbackUrl is not allowed")]
    CallbackUrlNotAllowed,
    #[error("code and state should be strings")]
    MissingCodeOrState,
    #[error("GitHub sent back an error: {0}")]
    Denied(String),
    #[error("state: {0}")]
    Flow(#[from] FlowError),
    #[error("token endpoint failed: {0}")]
    TokenUnreachable(FetchError),
    /// GitHub answers a bad code with HTTP 200 and `{"error": ...}`.
    #[error("token endpoint refused the code: {0}")]
    TokenRefused(String),
    #[error("API request failed: {0}")]
    Api(FetchError),
    #[error("no verified primary email")]
    NoVerifiedEmail,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl GithubError {
    /// The `AuthResult.error` for this failure, without internals.
    pub(crate) fn public_message(&self) -> String {
        match self {
            GithubError::CallbackUrlNotString => "callbackUrl should be a string".into(),
            GithubError::CallbackUrlNotAllowed => "callbackUrl is not an allowed callback URL".into(),
            GithubError::MissingCodeOrState => "Code and state should be strings".into(),
            GithubError::Denied(_) => "GitHub sign-in was cancelled or refused".into(),
            GithubError::Flow(e) => e.public_message(),
            GithubError::TokenUnreachable(FetchError::Unreachable(_)) => {
                "Could not reach GitHub to complete the sign-in; try again".into()
            }
            GithubError::TokenUnreachable(_) | GithubError::TokenRefused(_) => {
                "GitHub refused the sign-in code; start again".into()
            }
            GithubError::Api(_) => "Could not read your profile from GitHub; start again".into(),
            GithubError::NoVerifiedEmail => {
                "GitHub has no verified primary email address for this account; verify one at GitHub and try again"
                    .into()
            }
            GithubError::Db(_) => "Internal error".into(),
        }
    }

    /// Whether the fault is on GitHub's side (worth a warning in the log).
    pub(crate) fn is_provider_fault(&self) -> bool {
        matches!(self, GithubError::TokenUnreachable(_) | GithubError::Api(_))
    }
}
