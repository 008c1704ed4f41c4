//! Signing in: registry → provider → user guard → session, the one path `authenticate`,
//! `validateCallback` and `acceptInvite` share.

use std::sync::Arc;

use serde_json::Value;

use crate::accounts::invites::Invites;
use crate::accounts::second_factor::{self, MfaError, SecondFactor};
use crate::accounts::sessions::Sessions;
use crate::auth::linking::{self, Refusal};
use crate::auth::provider::{self, AuthRequest, Challenge, KnownUser, Outcome, Provider};
use crate::auth::throttle::{Key, Limited, Refund};
use crate::auth::user_guard::{self, Resolution};
use crate::auth::{AuthError, InviteRef, Redirect, Registry, Throttle};
use crate::config::SignupPolicy;
use crate::db::models::auth_users::{self, AuthUserRow};
use crate::db::models::sessions::SessionRow;
use crate::db::models::users::{self, UserRow};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::ClientInfo;

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
    /// The browser must answer these options (a passkey's challenge); no session yet.
    Challenge(Challenge),
    /// The first factor passed, but the user has a second one on: no session, a ticket
    /// for `verify_second_factor` instead.
    SecondFactorRequired(SecondFactorTicket),
    Failed(String),
    /// Refused before any attempt, so it counts as none: no open invite for the token, or
    /// input for another address than the invite's.
    Unattempted(String),
}

/// The ticket a passed first factor gets while a second factor is on; it exists only here.
pub struct SecondFactorTicket {
    pub ticket: String,
    pub methods: Vec<String>,
    pub user_id: String,
}

/// What `answer` says when a second factor is required (API 6.5).
pub const SECOND_FACTOR_REQUIRED: &str = "A second factor is required";

/// Said when the account a credential belongs to went away while it was being checked.
const GONE: &str = "This account no longer exists";

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
    invites: Invites,
    policy: SignupPolicy,
    throttle: Throttle,
    second_factor: SecondFactor,
}

/// How many times one sign-in is tried when it loses a race to a concurrent one (see
/// [`Lost`]) before it gives up with [`AuthError::Contention`].
const ATTEMPTS: usize = 8;

/// Why an attempt must be made again.
enum Lost {
    /// Another request created this identity with a secret of its own after the provider
    /// looked: the provider checks the input again against what is stored now.
    IdentityRace,
    /// The transaction hit a unique constraint a concurrent writer took first: the same
    /// identity goes through the guard again, which now sees that writer's rows.
    WriteConflict,
}

impl Authenticator {
    pub(crate) fn new(
        registry: Registry,
        db: Db,
        sessions: Sessions,
        invites: Invites,
        policy: SignupPolicy,
        throttle: Throttle,
        second_factor: SecondFactor,
    ) -> Authenticator {
        Authenticator { inner: Arc::new(Inner { registry, db, sessions, invites, policy, throttle, second_factor }) }
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

    /// `authenticate` and `validateCallback`: one provider step, then the user guard, then a
    /// session.
    pub async fn run(
        &self,
        provider_name: &str,
        step: Step,
        input: &Value,
        client: &ClientInfo,
    ) -> Result<AuthFlow, AuthError> {
        let provider = self.provider(provider_name)?;
        self.sign_in(provider.as_ref(), step, input, client, None).await
    }

    /// `acceptInvite`: the open invite `token` stands for, the provider fitting the input to
    /// it (or refusing it), then the same path as [`Authenticator::run`] under the invite.
    pub async fn accept_invite(
        &self,
        token: &str,
        provider_name: &str,
        input: &Value,
        client: &ClientInfo,
    ) -> Result<AuthFlow, AuthError> {
        let Some(invite) = self.inner.invites.find_open_by_token(token).await? else {
            return Ok(AuthFlow::Unattempted(Refusal::InviteInvalid.to_string()));
        };
        let provider = self.provider(provider_name)?;
        let input = match provider.invited_input(input, &invite.email) {
            Ok(input) => input,
            Err(reason) => return Ok(AuthFlow::Unattempted(reason)),
        };
        // The token's hash goes along: a redirect flow started here ends when the invite is
        // refreshed or deleted before it comes back.
        let pinned = InviteRef { id: invite.id.clone(), token_hash: invite.token_hash.clone() };
        let flow = self.sign_in(provider.as_ref(), Step::Authenticate, &input, client, Some(&pinned)).await?;
        if matches!(flow, AuthFlow::SignedIn(_)) {
            tracing::info!(target: "audit", event = "invite_accepted", invite_id = %invite.id);
        }
        Ok(flow)
    }

    /// `verifySecondFactor`: a ticket from a passed first factor and a second factor's code
    /// give the session that first factor would have, bound to the identity it used.
    pub async fn verify_second_factor(
        &self,
        ticket: &str,
        method: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<AuthFlow, AuthError> {
        let (sessions, client) = (self.inner.sessions.clone(), client.clone());
        let redeemed = self
            .inner
            .second_factor
            .redeem(ticket, method, code, move |conn, ticket| {
                let Some(user) = users::find_live(conn, &ticket.user_id)? else { return Ok(None) };
                let Some(auth_user) = auth_users::find_many(conn, std::slice::from_ref(&ticket.auth_user_id))?
                    .into_iter()
                    .find(|a| a.user_id.as_deref() == Some(user.id.as_str()))
                else {
                    return Ok(None);
                };
                let issued = sessions.issue_in(conn, &user.id, &auth_user.id, &client)?;
                Ok(Some(SignedIn { new_user: false, session: issued.row, token: issued.token, user, auth_user }))
            })
            .await;
        match redeemed {
            Ok(signed_in) => Ok(AuthFlow::SignedIn(Box::new(signed_in))),
            Err(MfaError::RateLimited { retry_after }) => Err(AuthError::RateLimited { retry_after }),
            Err(MfaError::Db(db)) => Err(AuthError::Db(db)),
            Err(refused) => Ok(AuthFlow::Failed(refused.to_string())),
        }
    }

    /// The pipeline: provider, then guard and session in one transaction, made again (up to
    /// [`ATTEMPTS`] in all) when a concurrent sign-in won a race.
    async fn sign_in(
        &self,
        provider: &dyn Provider,
        step: Step,
        input: &Value,
        client: &ClientInfo,
        invite: Option<&InviteRef>,
    ) -> Result<AuthFlow, AuthError> {
        let policy = self.inner.policy;
        let may_create = linking::may_sign_up(policy, invite.is_some());
        let ration = self.inner.throttle.signup(client.ip.as_deref());
        let mut proven: Option<Arc<provider::Identity>> = None;
        for _ in 0..ATTEMPTS {
            let identity = match proven.take() {
                Some(identity) => identity,
                None => {
                    let req = AuthRequest { input, client, may_create, invite };
                    let outcome = match step {
                        Step::Authenticate => provider.authenticate(&req).await?,
                        Step::Callback => provider.validate_callback(&req).await?,
                    };
                    match outcome {
                        Outcome::Authenticated(identity) => Arc::new(*identity),
                        Outcome::Redirect(redirect) => return Ok(AuthFlow::Redirect(redirect)),
                        Outcome::Challenge(challenge) => return Ok(AuthFlow::Challenge(challenge)),
                        Outcome::KnownUser(known) => return self.sign_in_known(known, client).await,
                        Outcome::Failed(reason) => return Ok(AuthFlow::Failed(reason)),
                    }
                }
            };
            match self.guard_and_issue(identity.clone(), invite, client, ration.clone()).await? {
                Ok(flow) => return Ok(flow),
                Err(Lost::IdentityRace) => {}
                Err(Lost::WriteConflict) => proven = Some(identity),
            }
        }
        // Every attempt rolled back, the last one's refund with it.
        self.give_back_alone(proven.and_then(|identity| identity.refund.clone())).await;
        Err(AuthError::Contention)
    }

    /// A session for a user the provider recognised directly (a passkey): no guard, since
    /// nothing is created or linked, and no second factor, since a passkey with user
    /// verification is two already. A user deleted since is refused.
    async fn sign_in_known(&self, known: KnownUser, client: &ClientInfo) -> Result<AuthFlow, AuthError> {
        let (sessions, client) = (self.inner.sessions.clone(), client.clone());
        let flow = self
            .inner
            .db
            .write(move |conn| {
                let Some(user) = users::find_live(conn, &known.user_id)? else {
                    return Ok(AuthFlow::Failed(GONE.into()));
                };
                let Some(auth_user) = auth_users::find_by_id(conn, &known.auth_user_id)?
                    .filter(|a| a.user_id.as_deref() == Some(user.id.as_str()))
                else {
                    return Ok(AuthFlow::Failed(GONE.into()));
                };
                let issued = sessions.issue_in(conn, &user.id, &auth_user.id, &client)?;
                Ok(AuthFlow::SignedIn(Box::new(SignedIn {
                    new_user: false,
                    session: issued.row,
                    token: issued.token,
                    user,
                    auth_user,
                })))
            })
            .await?;
        Ok(flow)
    }

    /// The guard and the session in one transaction, which also gives back the attempt of
    /// the password that proved the identity, whatever the guard decides.
    async fn guard_and_issue(
        &self,
        identity: Arc<provider::Identity>,
        invite: Option<&InviteRef>,
        client: &ClientInfo,
        ration: Option<Key>,
    ) -> Result<Result<AuthFlow, Lost>, AuthError> {
        // An invite may also have travelled inside the provider's own state.
        let invite = identity.invite.clone().or_else(|| invite.cloned());
        let refund = identity.refund.clone();
        let (policy, sessions, client) = (self.inner.policy, self.inner.sessions.clone(), client.clone());
        let result = self
            .inner
            .db
            .write(move |conn| {
                let decided = decide_in(conn, &identity, policy, invite.as_ref(), ration.as_ref(), &sessions, &client)?;
                // Last, so the rows it deletes stay locked only until the commit just after.
                if let Some(refund) = &identity.refund {
                    refund.apply_in(conn)?;
                }
                Ok(decided)
            })
            .await;
        match result {
            // Rolled back: the refund goes with the identity into the next attempt.
            Err(DbError::Conflict(_)) => Ok(Err(Lost::WriteConflict)),
            Err(other) => {
                self.give_back_alone(refund).await;
                Err(other.into())
            }
            Ok(Decided::Flow(flow)) => Ok(Ok(flow)),
            Ok(Decided::Raced) => Ok(Err(Lost::IdentityRace)),
            Ok(Decided::Limited(limited)) => Err(AuthError::RateLimited { retry_after: limited.retry_after }),
        }
    }

    /// A right password is given back even when no transaction of the sign-in committed,
    /// as it was when the check gave it back at once: the failure was not the password's.
    async fn give_back_alone(&self, refund: Option<Refund>) {
        if let Some(refund) = refund
            && let Err(e) = self.inner.throttle.give_back(refund).await
        {
            tracing::warn!(error = %e, "could not give back a right password's attempt");
        }
    }
}

/// How the guard's transaction ends; every one of these commits.
enum Decided {
    Flow(AuthFlow),
    /// See [`Lost::IdentityRace`].
    Raced,
    /// A new account, but the client address's sign-up ration is spent.
    Limited(Limited),
}

/// The user guard, then a session (or, with a second factor on, a ticket for one).
fn decide_in(
    conn: &mut DbConnection,
    identity: &provider::Identity,
    policy: SignupPolicy,
    invite: Option<&InviteRef>,
    ration: Option<&Key>,
    sessions: &Sessions,
    client: &ClientInfo,
) -> Result<Decided, DbError> {
    let (user, auth_user, new_user) = match user_guard::resolve(conn, identity, policy, invite, ration)? {
        Resolution::Resolved(resolved) => *resolved,
        Resolution::Refused(reason) => return Ok(Decided::Flow(AuthFlow::Failed(reason))),
        Resolution::Raced => return Ok(Decided::Raced),
        Resolution::Limited(limited) => return Ok(Decided::Limited(limited)),
    };
    // Every first factor ends here, so a second factor cannot be skipped by picking another
    // provider.
    if SecondFactor::enabled_in(conn, &user.id)? {
        let ticket = SecondFactor::issue_ticket_in(conn, &user.id, &auth_user.id)?;
        return Ok(Decided::Flow(AuthFlow::SecondFactorRequired(SecondFactorTicket {
            ticket,
            methods: second_factor::METHODS.iter().map(|m| m.to_string()).collect(),
            user_id: user.id,
        })));
    }
    let issued = sessions.issue_in(conn, &user.id, &auth_user.id, client)?;
    Ok(Decided::Flow(AuthFlow::SignedIn(Box::new(SignedIn {
        new_user,
        session: issued.row,
        token: issued.token,
        user,
        auth_user,
    }))))
}
