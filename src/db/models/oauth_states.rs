//! `oauth_states`: redirect flows in flight, found by the SHA-256 of their `state` together
//! with the SHA-256 of the starting client's binding, bounded per client address and used at
//! most once.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use sha2::{Digest, Sha256};

use crate::db::schema::oauth_states;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_states)]
pub struct OAuthStateRow {
    pub state_hash: String,
    pub provider: String,
    /// SHA-256 of the binding cookie of the client that started the flow.
    pub binding_hash: String,
    pub client_address: String,
    /// The PKCE verifier: useless without the code, but still never logged.
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
    pub invite_id: Option<String>,
    /// SHA-256 of the invite token the flow was started with.
    pub invite_token_hash: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

// The verifier, nonce and hashes stay out of logs.
impl std::fmt::Debug for OAuthStateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStateRow")
            .field("provider", &self.provider)
            .field("client_address", &self.client_address)
            .field("redirect_uri", &self.redirect_uri)
            .field("invite_id", &self.invite_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The first key of the two-key advisory locks taken here ("flow"), so that they never
/// meet a lock another part of the server takes for another purpose.
const LOCK_NAMESPACE: i32 = 0x666c_6f77;

/// Inserts `row` unless its client address already holds `max` open (unexpired) flows;
/// then nothing is written and the answer is when the soonest of them expires. Call inside
/// a write transaction: the count and the insert are one step for each address, on SQLite
/// because writers take turns, on PostgreSQL through an advisory lock held until commit.
pub fn insert_within(
    conn: &mut DbConnection,
    row: &OAuthStateRow,
    max: u32,
    now: NaiveDateTime,
) -> Result<Result<(), NaiveDateTime>, DbError> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<Integer, _>(LOCK_NAMESPACE)
            .bind::<Integer, _>(address_key(&row.client_address))
            .execute(pg)?;
    }
    let mine = || oauth_states::table.filter(oauth_states::client_address.eq(&row.client_address));
    // This address's abandoned flows go first: they count for nothing and only take room.
    diesel::delete(mine().filter(oauth_states::expires_at.le(now))).execute(conn)?;
    let open: Vec<NaiveDateTime> = mine()
        .select(oauth_states::expires_at)
        .order(oauth_states::expires_at.asc())
        .limit(i64::from(max))
        .load(conn)?;
    if open.len() >= max as usize
        && let Some(soonest) = open.first()
    {
        return Ok(Err(*soonest));
    }
    diesel::insert_into(oauth_states::table).values(row).execute(conn)?;
    Ok(Ok(()))
}

/// The address's lock key: 32 bits of its SHA-256. Two addresses that share a key only
/// take turns, which costs nothing but a little waiting.
fn address_key(address: &str) -> i32 {
    let digest = Sha256::digest(address.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Removes the provider's flow with this state hash, if the client's binding hash is the one
/// it was started with, and returns it. `None` when there is none, when it belongs to
/// another client (then it stays, for its owner), or when a concurrent transaction took it
/// first (its delete is the one that counted). Call inside a write transaction.
pub fn take(
    conn: &mut DbConnection,
    provider: &str,
    state_hash: &str,
    binding_hash: &str,
) -> Result<Option<OAuthStateRow>, DbError> {
    // The binding is matched by its hash inside the lookup, so no comparison of secrets
    // happens here at all.
    let mine = || {
        oauth_states::table
            .filter(oauth_states::state_hash.eq(state_hash))
            .filter(oauth_states::provider.eq(provider))
            .filter(oauth_states::binding_hash.eq(binding_hash))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_keys_are_stable_and_spread() {
        assert_eq!(address_key("127.0.0.1"), address_key("127.0.0.1"));
        assert_ne!(address_key("127.0.0.1"), address_key("127.0.0.2"));
        assert_ne!(address_key("::1"), address_key("127.0.0.1"));
    }
}
