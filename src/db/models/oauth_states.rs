//! `oauth_states`: OAuth authorization requests in flight, found by the SHA-256 of their
//! `state` and used at most once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::oauth_states;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_states)]
pub struct OAuthStateRow {
    pub state_hash: String,
    pub provider: String,
    /// The PKCE verifier: useless without the code, but still never logged.
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
    pub invite_id: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

// The verifier and nonce stay out of logs.
impl std::fmt::Debug for OAuthStateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStateRow")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("invite_id", &self.invite_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub fn insert(conn: &mut DbConnection, row: &OAuthStateRow) -> Result<(), DbError> {
    diesel::insert_into(oauth_states::table).values(row).execute(conn)?;
    Ok(())
}

/// Removes the provider's state with this hash and returns it; `None` when there is none,
/// or when a concurrent transaction took it first (its delete is the one that counted).
/// Call inside a write transaction.
pub fn take(conn: &mut DbConnection, provider: &str, state_hash: &str) -> Result<Option<OAuthStateRow>, DbError> {
    let mine = || {
        oauth_states::table.filter(oauth_states::state_hash.eq(state_hash)).filter(oauth_states::provider.eq(provider))
    };
    let Some(row) = mine().select(OAuthStateRow::as_select()).first(conn).optional()? else {
        return Ok(None);
    };
    let deleted = diesel::delete(mine()).execute(conn)?;
    Ok((deleted == 1).then_some(row))
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?)
}
