//! The authenticate pipeline, free of GraphQL and HTTP: registry → provider → user guard →
//! session. [`Authenticator`] is what the GraphQL layer calls.

pub mod email;
pub mod emailpass;
pub mod flow;
pub mod github;
pub mod hasher;
pub mod linking;
pub mod oidc;
pub mod outbound;
pub mod password;
pub mod provider;
pub mod registry;
pub mod throttle;
pub mod token;
pub mod user_guard;

use std::sync::Arc;

use serde_json::Value;

pub use hasher::{HashError, Hasher};
pub use provider::{ClientInfo, InviteRef, Redirect};
pub use registry::Registry;
pub use throttle::Throttle;

use crate::config::SignupPolicy;
use crate::db::models::auth_users::AuthUserRow;
use crate::db::models::sessions::SessionRow;
use crate::db::models::users::UserRow;
use crate::db::{Db, DbError};
use crate::sessions::Sessions;
use provider::{AuthRequest, Outcome, Provider};
use user_guard::Resolution;

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

/// A successful sign-in: the token exists only here.
pub struct SignedIn {
    /// The user was created by this sign-in (a sign-up).
    pub new_user: bool,
    pub session: SessionRow,
    pub token: String,
    pub user: UserRow,
    pub auth_user: AuthUserRow,
}

pub enum AuthFlow {
    SignedIn(Box<SignedIn>),
    Redirect(Redirect),
    Failed(String),
}

/// Which provider entry point a flow starts from.
#[derive(Clone, Copy)]
pub enum Step {
    Authenticate,
    Callback,
}

#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    db: Db,
    sessions: Sessions,
    policy: SignupPolicy,
    throttle: Throttle,
}

/// How often a flow is re-run after losing a race to a concurrent one.
const RETRIES: usize = 4;

impl Authenticator {
    pub fn new(
        registry: Registry,
        db: Db,
        sessions: Sessions,
        policy: SignupPolicy,
        throttle: Throttle,
    ) -> Authenticator {
        Authenticator { inner: Arc::new(Inner { registry, db, sessions, policy, throttle }) }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, AuthError> {
        self.inner.registry.get(name).ok_or_else(|| AuthError::UnknownProvider {
            name: name.to_string(),
            registered: self.inner.registry.names(),
        })
    }

    /// Runs one provider step, then the user guard, then issues a session: `authenticate`,
    /// `validateCallback` and `acceptInvite` all come through here.
    pub async fn run(
        &self,
        provider_name: &str,
        step: Step,
        input: &Value,
        client: &ClientInfo,
        invite: Option<&InviteRef>,
    ) -> Result<AuthFlow, AuthError> {
        let provider = self.provider(provider_name)?;
        let policy = self.inner.policy;
        let may_create = match policy {
            SignupPolicy::Open => true,
            SignupPolicy::Invite => invite.is_some(),
            SignupPolicy::Closed => false,
        };
        for _ in 0..RETRIES {
            let req = AuthRequest { input, client, may_create, invite };
            let outcome = match step {
                Step::Authenticate => provider.authenticate(&req).await?,
                Step::Callback => provider.validate_callback(&req).await?,
            };
            let identity = match outcome {
                Outcome::Authenticated(identity) => identity,
                Outcome::Redirect(redirect) => return Ok(AuthFlow::Redirect(redirect)),
                Outcome::Failed(reason) => return Ok(AuthFlow::Failed(reason)),
            };
            // An invite may also have travelled inside the provider's own state.
            let invite = identity.invite.clone().or_else(|| invite.cloned());
            match self.guard_and_issue(*identity.clone(), invite, client).await? {
                Some(flow) => return Ok(flow),
                None => continue,
            }
        }
        Err(AuthError::Contention)
    }

    /// The guard and the session in one transaction; `None` when the provider must look
    /// again (a concurrent sign-up set the password first). Unique-constraint clashes with
    /// concurrent writers are retried here.
    async fn guard_and_issue(
        &self,
        identity: provider::Identity,
        invite: Option<InviteRef>,
        client: &ClientInfo,
    ) -> Result<Option<AuthFlow>, AuthError> {
        let identity = Arc::new(identity);
        let ration = self.inner.throttle.signup(client.ip.as_deref());
        for _ in 0..RETRIES {
            let (identity, invite, client, ration) = (identity.clone(), invite.clone(), client.clone(), ration.clone());
            let (policy, sessions) = (self.inner.policy, self.inner.sessions.clone());
            let result = self
                .inner
                .db
                .write(move |conn| {
                    let flow = match user_guard::resolve(conn, &identity, policy, invite.as_ref(), ration.as_ref())? {
                        Resolution::Resolved(resolved) => {
                            let (user, auth_user, new_user) = *resolved;
                            let issued = sessions.issue_in(conn, &user.id, &auth_user.id, &client)?;
                            Some(AuthFlow::SignedIn(Box::new(SignedIn {
                                new_user,
                                session: issued.row,
                                token: issued.token,
                                user,
                                auth_user,
                            })))
                        }
                        Resolution::Refused(reason) => Some(AuthFlow::Failed(reason)),
                        Resolution::Raced => None,
                        Resolution::Limited(limited) => return Ok(Err(limited)),
                    };
                    Ok(Ok(flow))
                })
                .await;
            match result {
                Err(DbError::Conflict(_)) => continue,
                Err(other) => return Err(other.into()),
                Ok(Err(limited)) => return Err(AuthError::RateLimited { retry_after: limited.retry_after }),
                Ok(Ok(flow)) => return Ok(flow),
            }
        }
        Err(AuthError::Contention)
    }
}
