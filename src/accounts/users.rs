//! Users: roles, the list admins page through, profile updates and soft deletion.

use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::db::models::users::{self, UserChanges, UserQuery, UserRow};
use crate::db::models::{auth_users, mfa_tickets, sessions, totp, webauthn_challenges};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::Role;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("User not found")]
    NotFound,
    #[error("The last admin cannot be demoted or deleted")]
    LastAdmin,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A profile change as asked for: `None` leaves a field, `Some(None)` clears it.
#[derive(Default)]
pub struct ProfileUpdate {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub metadata: Option<Option<Value>>,
    pub role: Option<Role>,
}

const MAX_NAME: usize = 100;
const MAX_URL: usize = 2048;
const MAX_METADATA: usize = 16 * 1024;

impl ProfileUpdate {
    /// Checks sizes and shapes; returns the row changes to write.
    fn into_changes(self) -> Result<UserChanges, UserError> {
        let name = |field: &str, v: Option<Option<String>>| -> Result<Option<Option<String>>, UserError> {
            match v {
                Some(Some(s)) => {
                    let s = s.trim().to_string();
                    if s.chars().count() > MAX_NAME {
                        return Err(UserError::Invalid(format!("{field} must be at most {MAX_NAME} characters")));
                    }
                    if s.chars().any(char::is_control) {
                        return Err(UserError::Invalid(format!("{field} must not contain control characters")));
                    }
                    Ok(Some(if s.is_empty() { None } else { Some(s) }))
                }
                other => Ok(other),
            }
        };
        let avatar_url = match self.avatar_url {
            Some(Some(url)) => {
                let ok = url.len() <= MAX_URL
                    && reqwest::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    return Err(UserError::Invalid("avatarUrl must be an http(s) URL".into()));
                }
                Some(Some(url))
            }
            other => other,
        };
        let metadata = match self.metadata {
            Some(Some(value)) => {
                let text = value.to_string();
                if text.len() > MAX_METADATA {
                    return Err(UserError::Invalid(format!("metadata must be at most {MAX_METADATA} bytes of JSON")));
                }
                Some(Some(text))
            }
            Some(None) => Some(None),
            None => None,
        };
        Ok(UserChanges {
            first_name: name("firstName", self.first_name)?,
            last_name: name("lastName", self.last_name)?,
            avatar_url,
            metadata,
            role: self.role.map(|r| r.as_db().to_string()),
            updated_at: Some(db::now()),
        })
    }
}

#[derive(Clone)]
pub struct Users {
    db: Db,
}

impl Users {
    pub fn new(db: Db) -> Users {
        Users { db }
    }

    pub async fn get(&self, id: &str) -> Result<Option<UserRow>, DbError> {
        let id = id.to_string();
        self.db.read(move |conn| users::find_live(conn, &id)).await
    }

    pub async fn list(&self, filter: UserQuery, skip: i64, take: i64) -> Result<(Vec<UserRow>, i64), DbError> {
        let f = filter.clone();
        if let Some(page) = self.db.read(move |conn| users::page_with_total(conn, &f, skip, take)).await? {
            return Ok(page);
        }
        self.db.read_consistent(move |conn| users::list_and_count(conn, &filter, skip, take)).await
    }

    pub async fn update(&self, id: &str, update: ProfileUpdate) -> Result<UserRow, UserError> {
        let demoting = update.role == Some(Role::Member);
        let changes = update.into_changes()?;
        let id = id.to_string();
        self.db
            .write(move |conn| {
                let user = users::find_live(conn, &id)?.ok_or(DbError::NotFound)?;
                if demoting && user.role().is_admin() && !another_admin_remains(conn)? {
                    return Ok(Err(UserError::LastAdmin));
                }
                users::update(conn, &id, &changes)?;
                Ok(Ok(users::find_live(conn, &id)?.ok_or(DbError::NotFound)?))
            })
            .await
            .map_err(not_found)?
    }

    /// Soft-deletes a user: the row stays (for audit) but the e-mail is free again; the
    /// user's identities and sessions are removed, so nothing of theirs signs in.
    pub async fn delete(&self, id: &str) -> Result<(), UserError> {
        let id = id.to_string();
        self.db
            .write(move |conn| {
                let user = users::find_live(conn, &id)?.ok_or(DbError::NotFound)?;
                if user.role().is_admin() && !another_admin_remains(conn)? {
                    return Ok(Err(UserError::LastAdmin));
                }
                sessions::delete_for_user(conn, &id)?;
                // Each passkey goes with its identity.
                auth_users::delete_for_user(conn, &id)?;
                // Soft deletion keeps the user row only: no second factor, ticket or
                // registration in flight outlives it.
                webauthn_challenges::delete_for_user(conn, &id)?;
                totp::delete_for_user(conn, &id)?;
                mfa_tickets::delete_for_user(conn, &id)?;
                users::soft_delete(conn, &id, db::now())?;
                Ok(Ok(()))
            })
            .await
            .map_err(not_found)?
    }
}

fn not_found(e: DbError) -> UserError {
    match e {
        DbError::NotFound => UserError::NotFound,
        other => UserError::Db(other),
    }
}

/// Whether demoting or deleting one admin leaves at least one. Admin changes take a
/// transaction-wide lock on PostgreSQL, so two admins cannot demote each other at once
/// (SQLite writers already take turns).
fn another_admin_remains(conn: &mut DbConnection) -> Result<bool, DbError> {
    if matches!(conn, DbConnection::Pg(_)) {
        conn.batch_execute("SELECT pg_advisory_xact_lock(7243105)")?;
    }
    Ok(users::count_live_admins(conn)? > 1)
}
