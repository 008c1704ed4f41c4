//! Sessions: opaque bearer tokens stored only as SHA-256 hashes, with an expiry that each use
//! slides forward up to a cap (`lifetime`). Looking one up is a single indexed read by hash;
//! at most once per touch interval a use also records itself with one conditional UPDATE.

mod lifetime;
mod touching;

use std::time::Duration;

pub use lifetime::Lifetime;

use crate::db::models::sessions::{self, SessionRow};
use crate::db::models::users::UserRow;
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::ClientInfo;
use crate::domain::token;

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
    /// This request recorded a use and slid the expiry (`session` holds the new values), so a
    /// cookie carrying the token should be sent again with the new lifetime.
    pub touched: bool,
}

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    lifetime: Lifetime,
    touching: touching::Touching,
}

impl Sessions {
    pub fn new(db: Db, lifetime: Lifetime) -> Sessions {
        Sessions { db, lifetime, touching: Default::default() }
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
        let new = token::generate();
        let row = SessionRow {
            id: db::new_id(),
            token_hash: new.hash,
            user_id: user_id.to_string(),
            auth_user_id: auth_user_id.to_string(),
            user_agent: client.user_agent.as_ref().map(|ua| ua.chars().take(512).collect()),
            ip: client.ip.clone(),
            created_at: now,
            expires_at: self.lifetime.expiry_at_sign_in(now),
            last_seen_at: now,
        };
        sessions::insert(conn, &row)?;
        Ok(IssuedSession { row, token: new.token })
    }

    /// The live session a token stands for, if any; the lookup counts as a use of it.
    pub async fn find_by_token(&self, raw: &str) -> Result<Option<CurrentSession>, DbError> {
        let Some(valid) = token::parse(raw) else { return Ok(None) };
        let hash = token::hash(valid);
        let found = self.db.session_by_hash(hash, db::now()).await?;
        let Some((mut session, user)) = found else { return Ok(None) };
        let touched = self.touch_if_due(&mut session).await;
        Ok(Some(CurrentSession { session, user, touched }))
    }

    /// Records a use and slides the expiry, when the row just read says the last recorded use
    /// is older than the touch interval; otherwise the lookup stays a pure read. Returns
    /// whether this call wrote (then `session` holds what it wrote).
    ///
    /// The UPDATE repeats the due check in its WHERE, so of all the requests, on all
    /// instances, that read the row before the first write, only the first changes it; the
    /// rest match no row. A failed touch does not fail the request: the session read is
    /// valid, and the next use tries again.
    async fn touch_if_due(&self, session: &mut SessionRow) -> bool {
        let now = db::now();
        if !self.lifetime.touch_due(session.last_seen_at, now) {
            return false;
        }
        let Some(_claim) = self.touching.claim(&session.id) else { return false };
        let expires_at = self.lifetime.slid_expiry(session.created_at, now);
        let due_before = self.lifetime.due_before(now);
        let id = session.id.clone();
        match self.db.write(move |conn| sessions::touch(conn, &id, now, due_before, expires_at)).await {
            Ok(true) => {
                session.last_seen_at = now;
                session.expires_at = expires_at;
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, session_id = %session.id, "could not record a session's use");
                false
            }
        }
    }

    /// How long a cookie for this session should live from the moment it was last touched.
    pub fn cookie_max_age(&self, session: &SessionRow) -> Duration {
        lifetime::remaining(session.expires_at, session.last_seen_at)
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

    /// Revokes session `id` for `caller`: their own, or anyone's for an admin. `None` when
    /// there is no such session or it is someone else's: the two look alike, so ids cannot be
    /// probed.
    pub async fn revoke_as(&self, caller: &UserRow, id: &str) -> Result<Option<bool>, DbError> {
        match self.find(id).await? {
            Some(s) if s.user_id == caller.id || caller.role().is_admin() => self.revoke(&s.id).await.map(Some),
            _ => Ok(None),
        }
    }

    pub async fn revoke_all(&self, user_id: &str) -> Result<usize, DbError> {
        let user_id = user_id.to_string();
        self.db.write(move |conn| sessions::delete_for_user(conn, &user_id)).await
    }

    pub async fn count_active(&self) -> Result<i64, DbError> {
        self.db.read(|conn| sessions::count_active(conn, db::now())).await
    }

    /// Deletes expired sessions (run now and then; expired ones are never honoured anyway).
    /// Sliding only ever moves `expires_at`, so an idle session is pruned once its idle
    /// lifetime has passed, and a busy one at its cap.
    pub async fn prune(&self) -> Result<usize, DbError> {
        self.db.write(|conn| sessions::delete_expired(conn, db::now())).await
    }
}
