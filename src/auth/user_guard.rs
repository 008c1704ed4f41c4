//! The user guard: after a provider proved an identity and before any session exists, find
//! or create the User it stands for, under the rules in [`crate::auth::linking`]. Runs
//! inside the caller's transaction, so a sign-up writes user and identity together or not
//! at all. Shared by authenticate, validateCallback and acceptInvite. A new account (not
//! one made through an invite) spends one of its client address's sign-up ration in that
//! same transaction, so the ration holds however many sign-ups arrive at once.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::auth::linking::{self, Decision, EmailOwner, Facts, InviteFacts, Refusal};
use crate::auth::provider::{Identity, InviteRef};
use crate::auth::throttle::{self, Key, Limited};
use crate::config::SignupPolicy;
use crate::db::models::auth_users::{self, AuthUserRow, NewAuthUser};
use crate::db::models::invites;
use crate::db::models::users::{self, NewUser, UserRow};
use crate::db::{self, DbConnection, DbError};

pub(crate) enum Resolution {
    /// The user, the identity, and whether the user was created now.
    Resolved(Box<(UserRow, AuthUserRow, bool)>),
    Refused(String),
    /// Another request created this identity with a secret of its own after the provider
    /// looked: the provider must check the input again against what is stored now.
    Raced,
    /// A new account, but its client address has made as many as it may lately.
    Limited(Limited),
}

/// `signup_ration`: the client address's sign-up ration, spent when a new account is made.
pub(crate) fn resolve(
    conn: &mut DbConnection,
    identity: &Identity,
    policy: SignupPolicy,
    invite: Option<&InviteRef>,
    signup_ration: Option<&Key>,
) -> Result<Resolution, DbError> {
    let now = db::now();
    // The address's owner is read before the identity: a concurrent sign-up commits user
    // and identity together, so if the identity is still missing below, the owner read here
    // predates that sign-up too (PostgreSQL's read committed sees each statement's own
    // snapshot), and a racing sign-up is never mistaken for an existing account.
    let owner_by_email = users::find_live_by_email(conn, identity.email.as_str())?;
    let current = auth_users::find(conn, &identity.provider, &identity.entity_id)?;
    match (&identity.existing, &current) {
        (None, Some(_)) | (Some(_), None) if identity.reverify_if_raced => return Ok(Resolution::Raced),
        _ => {}
    }

    let linked_user = match current.as_ref().and_then(|row| row.user_id.as_deref()) {
        Some(user_id) => users::find_live(conn, user_id)?,
        None => None,
    };

    // Open, and still under the token the flow was started with: a refresh or a delete
    // since then ends the flow.
    let invite = match invite {
        Some(pinned) => match invites::find_open(conn, &pinned.id, &pinned.token_hash, now)? {
            Some(invite) => Some(invite),
            None => return Ok(Resolution::Refused(Refusal::InviteInvalid.to_string())),
        },
        None => None,
    };
    let invite_facts = match &invite {
        Some(inv) => {
            Some(InviteFacts { role: inv.role(), email_taken: users::find_live_by_email(conn, &inv.email)?.is_some() })
        }
        None => None,
    };

    let email_owner = match linked_user {
        Some(_) => None,
        None => match owner_by_email {
            Some(owner) => {
                let mut providers: Vec<String> = auth_users::for_users(conn, std::slice::from_ref(&owner.id))?
                    .into_iter()
                    .map(|a| a.provider)
                    .collect();
                providers.sort();
                providers.dedup();
                Some(EmailOwner { user_id: owner.id, email_verified: owner.email_verified, providers })
            }
            None => None,
        },
    };

    let facts = Facts {
        linked_user: linked_user.as_ref().map(|u| u.id.clone()),
        provider_verified_email: identity.email_verified,
        email_owner,
        policy,
        invite: invite_facts,
        secret_withheld: current.is_none() && identity.reverify_if_raced && identity.new_provider_metadata.is_none(),
    };

    match linking::decide(&facts) {
        Decision::Refuse(refusal) => Ok(Resolution::Refused(refusal.to_string())),
        Decision::SignIn { .. } => {
            let (Some(mut user), Some(mut auth_user)) = (linked_user, current) else {
                return Err(DbError::NotFound);
            };
            // The provider's profile (name, picture) is what it says now, not at sign-up.
            if let Some(profile) = &identity.user_metadata {
                let text = profile.to_string();
                if auth_user.user_metadata.as_deref() != Some(text.as_str()) {
                    auth_users::set_user_metadata(conn, &auth_user.id, &text, now)?;
                    auth_user.user_metadata = Some(text);
                    auth_user.updated_at = now;
                }
            }
            if identity.email_verified && !user.email_verified && user.email == identity.email.as_str() {
                users::mark_email_verified(conn, &user.id, now)?;
                user.email_verified = true;
            }
            Ok(Resolution::Resolved(Box::new((user, auth_user, false))))
        }
        Decision::CreateUser { role, email_verified, from_invite } => {
            // An invite is a ration of its own: an administrator handed out each one.
            if let (Some(ration), false) = (signup_ration, from_invite)
                && let Err(limited) = throttle::reserve_in(conn, std::slice::from_ref(ration))?
            {
                return Ok(Resolution::Limited(limited));
            }
            let email = match (&invite, from_invite) {
                (Some(inv), true) => inv.email.clone(),
                _ => identity.email.as_str().to_string(),
            };
            let user_id = db::new_id();
            users::insert(
                conn,
                &NewUser {
                    id: &user_id,
                    email: &email,
                    first_name: identity.first_name.as_deref(),
                    last_name: identity.last_name.as_deref(),
                    avatar_url: identity.avatar_url.as_deref(),
                    role: role.as_db(),
                    email_verified,
                    metadata: invite.as_ref().and_then(|i| i.metadata.as_deref()),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            if let (Some(inv), true) = (&invite, from_invite)
                && !invites::mark_accepted(conn, &inv.id, &inv.token_hash, now)?
            {
                // Accepted or refreshed by someone else since we looked: roll back; the
                // retry refuses.
                return Err(DbError::Conflict("invite accepted concurrently".into()));
            }
            let auth_user = store_identity(conn, current, identity, &user_id, now)?;
            let user = users::find_live(conn, &user_id)?.ok_or(DbError::NotFound)?;
            Ok(Resolution::Resolved(Box::new((user, auth_user, true))))
        }
        Decision::Link { user_id, drop_unverified_passwords } => {
            if drop_unverified_passwords {
                for other in auth_users::for_users(conn, std::slice::from_ref(&user_id))? {
                    if other.provider == crate::auth::emailpass::NAME {
                        auth_users::delete(conn, &other.id)?;
                    }
                }
            }
            users::mark_email_verified(conn, &user_id, now)?;
            let auth_user = store_identity(conn, current, identity, &user_id, now)?;
            let user = users::find_live(conn, &user_id)?.ok_or(DbError::NotFound)?;
            Ok(Resolution::Resolved(Box::new((user, auth_user, false))))
        }
    }
}

/// Links the stored identity to the user, or stores the new identity linked to it.
fn store_identity(
    conn: &mut DbConnection,
    current: Option<AuthUserRow>,
    identity: &Identity,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<AuthUserRow, DbError> {
    let id = match current {
        Some(row) => {
            auth_users::link(conn, &row.id, user_id, now)?;
            row.id
        }
        None => {
            let id = db::new_id();
            let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
            let (provider_metadata, user_metadata) =
                (json(&identity.new_provider_metadata), json(&identity.user_metadata));
            auth_users::insert(
                conn,
                &NewAuthUser {
                    id: &id,
                    provider: &identity.provider,
                    entity_id: &identity.entity_id,
                    user_id: Some(user_id),
                    provider_metadata: provider_metadata.as_deref(),
                    user_metadata: user_metadata.as_deref(),
                    app_metadata: None,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            id
        }
    };
    auth_users::find_by_id(conn, &id)?.ok_or(DbError::NotFound)
}
