//! Sign-ins that one request starts and a later one finishes (OAuth redirects today; the
//! same rules serve any provider whose flow spans requests). A started flow is stored under
//! the hash of its `state`, and:
//! - belongs to the client that started it ([`crate::domain::binding`]): finishing it needs that client's
//!   binding cookie, and anyone else is told the same as for a state that never existed,
//!   without spending it;
//! - costs bounded storage: one client address keeps at most `flow_max_per_address` open;
//! - carries the invite it was started with as the invite's token hash, so that refreshing
//!   or deleting the invite ends it (the user guard checks the pair).

use std::time::Duration;

use chrono::TimeDelta;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::provider::InviteRef;
use crate::db::models::oauth_states::{self, OAuthStateRow};
use crate::db::{self, Db, DbError};
use crate::domain::ClientInfo;
use crate::domain::token;

use crate::domain::{Binding, BindingCookie};

/// Long enough to pick an account and consent, short enough that a leaked state is stale.
pub(crate) const TTL: TimeDelta = TimeDelta::minutes(10);

/// Where flows from a client whose address is unknown are counted (together).
const UNKNOWN_ADDRESS: &str = "unknown";

#[derive(Debug, thiserror::Error)]
pub(crate) enum FlowError {
    /// Never issued, already used, another provider's, or not this client's.
    #[error("unknown, used or foreign flow")]
    Unknown,
    #[error("expired flow")]
    Expired,
    #[error("too many open flows from this address")]
    TooMany { retry_after: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl FlowError {
    /// The `AuthResult.error` for a flow that cannot be finished. The same sentence for every
    /// reason behind [`FlowError::Unknown`]: a client learns nothing about others' flows.
    pub(crate) fn public_message(&self) -> String {
        match self {
            FlowError::Unknown => "This sign-in request is invalid or was already used; start again".into(),
            FlowError::Expired => "This sign-in request has expired; start again".into(),
            FlowError::TooMany { .. } => "Too many sign-ins in progress; finish one or try again later".into(),
            FlowError::Db(_) => "Internal error".into(),
        }
    }
}

/// What a flow started with and needs to finish.
pub(crate) struct Pending {
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub redirect_uri: String,
    pub invite: Option<InviteRef>,
}

/// The store of started flows. Cheap to clone; one is shared by every provider, so the
/// per-address bound counts all of an address's flows together.
#[derive(Clone)]
pub(crate) struct Flows {
    db: Db,
    max_per_address: u32,
}

impl Flows {
    pub(crate) fn new(db: Db, max_per_address: u32) -> Flows {
        Flows { db, max_per_address }
    }

    /// Stores a flow `client` started under `state_hash`; the cookie to give the client.
    /// `TooMany` when the client's address already holds its share of open flows.
    pub(crate) async fn start(
        &self,
        provider: &str,
        state_hash: String,
        pending: Pending,
        client: &ClientInfo,
    ) -> Result<BindingCookie, FlowError> {
        let binding = client.flow_binding.for_new_flow();
        let now = db::now();
        let (invite_id, invite_token_hash) = match pending.invite {
            Some(invite) => (Some(invite.id), Some(invite.token_hash)),
            None => (None, None),
        };
        let row = OAuthStateRow {
            state_hash,
            provider: provider.to_string(),
            binding_hash: binding.hash(),
            client_address: client.ip.clone().unwrap_or_else(|| UNKNOWN_ADDRESS.to_string()),
            pkce_verifier: pending.pkce_verifier.expose_secret().to_string(),
            nonce: pending.nonce,
            redirect_uri: pending.redirect_uri,
            invite_id,
            invite_token_hash,
            expires_at: now + TTL,
            created_at: now,
        };
        let max = self.max_per_address;
        match self.db.write(move |conn| oauth_states::insert_within(conn, &row, max, now)).await? {
            Ok(()) => Ok(BindingCookie { binding, max_age: Duration::from_secs(TTL.num_seconds().unsigned_abs()) }),
            Err(frees_at) => Err(FlowError::TooMany { retry_after: seconds_until(frees_at, now) }),
        }
    }

    /// Takes the flow that `state` names, if `client` holds its binding: it cannot be taken
    /// again, expired or not. Anyone else gets `Unknown` and takes nothing.
    pub(crate) async fn take(&self, provider: &str, state: &str, client: &ClientInfo) -> Result<Pending, FlowError> {
        // Only what `token::generate` could have made is worth a query.
        let state_hash = token::parse(state).map(token::hash).ok_or(FlowError::Unknown)?;
        let binding_hash = client.flow_binding.presented().map(Binding::hash).ok_or(FlowError::Unknown)?;
        let provider = provider.to_string();
        let row = self.db.write(move |conn| oauth_states::take(conn, &provider, &state_hash, &binding_hash)).await?;
        let row = row.ok_or(FlowError::Unknown)?;
        if row.expires_at <= db::now() {
            return Err(FlowError::Expired);
        }
        let invite = match (row.invite_id, row.invite_token_hash) {
            (Some(id), Some(token_hash)) => Some(InviteRef { id, token_hash }),
            _ => None,
        };
        Ok(Pending {
            pkce_verifier: SecretString::from(row.pkce_verifier),
            nonce: row.nonce,
            redirect_uri: row.redirect_uri,
            invite,
        })
    }
}

/// Whole seconds from `now` until `at`, at least 1 (a `retryAfter` of 0 would invite a
/// retry that is refused again).
fn seconds_until(at: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> u64 {
    let millis = (at - now).num_milliseconds().max(0);
    u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = db::now();
        assert_eq!(seconds_until(now + TimeDelta::milliseconds(1500), now), 2);
        assert_eq!(seconds_until(now + TimeDelta::seconds(600), now), 600);
        assert_eq!(seconds_until(now, now), 1);
        assert_eq!(seconds_until(now - TimeDelta::seconds(5), now), 1);
    }
}
