//! `passkeys`: the WebAuthn credentials users registered, found by their credential id at
//! sign-in and listed, renamed or removed only by their owner.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::passkeys;
use crate::db::{DbConnection, DbError};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    /// The identity (provider "passkey") its sessions are issued under.
    pub auth_user_id: String,
    /// base64url of the credential id, as the browser reports it in `rawId`.
    pub credential_id: String,
    /// webauthn-rs's serialized credential: the public key and what it was registered with.
    pub credential: String,
    pub sign_count: i64,
    pub name: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &PasskeyRow) -> Result<(), DbError> {
    diesel::insert_into(passkeys::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_by_credential_id(conn: &mut DbConnection, credential_id: &str) -> Result<Option<PasskeyRow>, DbError> {
    Ok(passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// The passkeys of these users, oldest first.
pub fn for_users(conn: &mut DbConnection, user_ids: &[String]) -> Result<Vec<PasskeyRow>, DbError> {
    Ok(passkeys::table
        .filter(passkeys::user_id.eq_any(user_ids))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load(conn)?)
}

/// The passkey `id` if `user_id` owns it: another user's passkey is not found either.
pub fn find_owned(conn: &mut DbConnection, id: &str, user_id: &str) -> Result<Option<PasskeyRow>, DbError> {
    Ok(passkeys::table
        .filter(passkeys::id.eq(id))
        .filter(passkeys::user_id.eq(user_id))
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records a verified use: the new counter and credential, if the counter is still the one
/// the verification started from. False when a concurrent use of the same passkey got there
/// first (its counter moved): that use is the one that counts.
pub fn record_use(
    conn: &mut DbConnection,
    id: &str,
    seen_count: i64,
    new_count: i64,
    credential: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(passkeys::table.filter(passkeys::id.eq(id)).filter(passkeys::sign_count.eq(seen_count)))
        .set((passkeys::sign_count.eq(new_count), passkeys::credential.eq(credential), passkeys::last_used_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}
