//! The authenticate pipeline's parts, free of GraphQL, HTTP and sessions: the [`registry`] of
//! [`provider`]s, the [`user_guard`] under the [`linking`] rules, the [`throttle`], the
//! password [`hasher`] and redirect [`flow`]s. [`crate::accounts::sign_in`] runs them in order.

pub(crate) mod admission;
pub(crate) mod emailpass;
pub(crate) mod flow;
pub(crate) mod github;
pub(crate) mod hasher;
pub(crate) mod linking;
pub(crate) mod oidc;
pub(crate) mod outbound;
pub(crate) mod passkey;
pub(crate) mod password;
pub(crate) mod provider;
pub(crate) mod registry;
pub(crate) mod throttle;
pub(crate) mod user_guard;

pub(crate) use hasher::{HashError, Hasher};
pub(crate) use provider::{InviteRef, Redirect};
pub(crate) use registry::Registry;
pub(crate) use throttle::Throttle;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown provider `{name}`")]
    UnknownProvider { name: String, registered: Vec<String> },
    #[error("too many attempts")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("gave up after repeated write conflicts")]
    Contention,
    /// The input is not what the provider takes (a malformed credential); for people.
    #[error("{0}")]
    BadInput(String),
    /// A bug or an unreadable stored value, never the client's doing.
    #[error("internal: {0}")]
    Internal(String),
}
