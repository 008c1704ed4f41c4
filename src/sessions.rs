//! Sessions: opaque bearer tokens with an absolute expiry, stored only as SHA-256 hashes.
//! Looking one up is a single indexed read by hash.

use std::time::Duration;

use crate::auth::provider::ClientInfo;
use crate::auth::token;
use crate::db::models::sessions::{self, SessionRow};
use crate::db::models::users::UserRow;
use crate::db::{self, Db, DbConnection, DbError};

/// A session as created: the row and the token, which exists only in this value.
pub struct IssuedSession {
    pub row: SessionRow,
    pub token: String,
}

/// What a request proved with its token.
#[derive(Clone, Debug)]
pub struct CurrentSession {
    pub session: SessionRow,
    pub user: UserRow,
}

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    ttl: Duration,
}

impl Sessions {
    pub fn new(db: Db, ttl: Duration) -> Sessions {
        Sessions { db, ttl }
    }

    /// Creates a session inside the caller's transaction (sign-in writes user, identity and
    /// session together or not at all).
    pub fn issue_in(
        &self,
        conn: &mut DbConnection,
        user_id: &str,
        auth_user_id: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, DbError> {
        let now = db::now();
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(7));
        let new = token::generate();
        let row = SessionRow {
            id: db::new_id(),
            token_hash: new.hash,
            user_id: user_id.to_string(),
            auth_user_id: auth_user_id.to_string(),
            user_agent: client.user_agent.as_ref().map(|ua| ua.chars().take(512).collect()),
            ip: client.ip.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        sessions::insert(conn, &row)?;
        Ok(IssuedSession { row, token: new.token })
    }

    /// The live session a token stands for, if any.
    pub async fn find_by_token(&self, raw: &str) -> Result<Option<CurrentSession>, DbError> {
        let Some(valid) = token::parse(raw) else { return Ok(None) };
        let hash = token::hash(valid);
        self.db
            .read(move |conn| {
                Ok(sessions::find_active_by_hash(conn, &hash, db::now())?
                    .map(|(session, user)| CurrentSession { session, user }))
            })
            .await
    }

    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionRow>, DbError> {
        let user_id = user_id.to_string();
        self.db.read(move |conn| sessions::list_active_for_user(conn, &user_id, db::now())).await
    }

    pub async fn find(&self, id: &str) -> Result<Option<SessionRow>, DbError> {
        let id = id.to_string();
        self.db.read(move |conn| sessions::find_by_id(conn, &id)).await
    }

    pub async fn revoke(&self, id: &str) -> Result<bool, DbError> {
        let id = id.to_string();
        self.db.write(move |conn| sessions::delete(conn, &id)).await
    }

    pub async fn revoke_all(&self, user_id: &str) -> Result<usize, DbError> {
        let user_id = user_id.to_string();
        self.db.write(move |conn| sessions::delete_for_user(conn, &user_id)).await
    }

    pub async fn revoke_others(&self, user_id: &str, keep_id: &str) -> Result<usize, DbError> {
        let (user_id, keep_id) = (user_id.to_string(), keep_id.to_string());
        self.db.write(move |conn| sessions::delete_for_user_except(conn, &user_id, &keep_id)).await
    }

    pub async fn count_active(&self) -> Result<i64, DbError> {
        self.db.read(|conn| sessions::count_active(conn, db::now())).await
    }

    /// Deletes expired sessions (run now and then; expired ones are never honoured anyway).
    pub async fn prune(&self) -> Result<usize, DbError> {
        self.db.write(|conn| sessions::delete_expired(conn, db::now())).await
    }
}
