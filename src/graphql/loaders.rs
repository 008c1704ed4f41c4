//! Batch loading for fields that would otherwise query once per row (N+1): a page of users
//! asks for all their identities in one query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::db::models::auth_users::{self, AuthUserRow};
use crate::db::models::passkeys::{self, PasskeyRow};
use crate::db::models::totp;
use crate::db::models::users::{self, UserRow};
use crate::db::{Db, DbError};

pub struct StoreLoader {
    pub db: Db,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserById(pub String);

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthUserById(pub String);

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthUsersOfUser(pub String);

/// Whether a user has TOTP on (a page of users asks once).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TotpEnabledOf(pub String);

impl Loader<TotpEnabledOf> for StoreLoader {
    type Value = bool;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[TotpEnabledOf]) -> Result<HashMap<TotpEnabledOf, bool>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let on = self.db.read(move |conn| totp::confirmed_among(conn, &ids)).await.map_err(Arc::new)?;
        Ok(keys.iter().map(|k| (k.clone(), on.contains(&k.0))).collect())
    }
}

/// A user's passkeys (a page of users asks once).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PasskeysOfUser(pub String);

impl Loader<PasskeysOfUser> for StoreLoader {
    type Value = Vec<PasskeyRow>;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[PasskeysOfUser]) -> Result<HashMap<PasskeysOfUser, Vec<PasskeyRow>>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.read(move |conn| passkeys::for_users(conn, &ids)).await.map_err(Arc::new)?;
        let mut out: HashMap<PasskeysOfUser, Vec<PasskeyRow>> = HashMap::new();
        for row in rows {
            out.entry(PasskeysOfUser(row.user_id.clone())).or_default().push(row);
        }
        Ok(out)
    }
}

impl Loader<UserById> for StoreLoader {
    type Value = UserRow;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, UserRow>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.read(move |conn| users::find_many_live(conn, &ids)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|u| (UserById(u.id.clone()), u)).collect())
    }
}

impl Loader<AuthUserById> for StoreLoader {
    type Value = AuthUserRow;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[AuthUserById]) -> Result<HashMap<AuthUserById, AuthUserRow>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.read(move |conn| auth_users::find_many(conn, &ids)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|a| (AuthUserById(a.id.clone()), a)).collect())
    }
}

impl Loader<AuthUsersOfUser> for StoreLoader {
    type Value = Vec<AuthUserRow>;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[AuthUsersOfUser]) -> Result<HashMap<AuthUsersOfUser, Vec<AuthUserRow>>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.db.read(move |conn| auth_users::for_users(conn, &ids)).await.map_err(Arc::new)?;
        let mut out: HashMap<AuthUsersOfUser, Vec<AuthUserRow>> = HashMap::new();
        for row in rows {
            if let Some(user_id) = row.user_id.clone() {
                out.entry(AuthUsersOfUser(user_id)).or_default().push(row);
            }
        }
        Ok(out)
    }
}
