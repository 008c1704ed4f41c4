//! The authenticate pipeline's parts, free of GraphQL, HTTP and sessions: the [`registry`] of
//! [`provider`]s, the [`user_guard`] under the [`linking`] rules, the [`throttle`], the
//! password [`hasher`] and redirect [`flow`]s. [`crate::accounts::sign_in`] runs them in order.

pub mod emailpass;
pub mod flow;
pub mod google;
pub mod hasher;
pub mod linking;
pub mod outbound;
pub mod password;
pub mod provider;
pub mod registry;
pub mod throttle;
pub mod user_guard;

pub use hasher::{HashError, Hasher};
pub use provider::{InviteRef, Redirect};
pub use registry::Registry;
pub use throttle::Throttle;

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
}
