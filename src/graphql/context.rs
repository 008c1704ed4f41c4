//! Per-request data: the credentials the HTTP layer found, who is calling, and the session
//! they stand for, looked up at most once and only when a resolver asks.

use async_graphql::Context;
use tokio::sync::OnceCell;

use crate::accounts::sessions::CurrentSession;
use crate::db::DbError;
use crate::domain::ClientInfo;
use crate::graphql::cookies;
use crate::graphql::error::{ApiError, ApiResult, OrApi};
use crate::state::AppState;

/// A session token as the request presented it.
#[derive(Clone, Debug)]
pub struct PresentedToken {
    pub value: String,
    /// It came in the session cookie (not `Authorization: Bearer`), so a slid expiry is
    /// sent back as a refreshed cookie.
    pub by_cookie: bool,
}

pub struct RequestContext {
    /// A session token from `Authorization: Bearer` or the cookie (when the request is
    /// allowed to use cookies).
    pub token: Option<PresentedToken>,
    pub client: ClientInfo,
    session: OnceCell<Option<CurrentSession>>,
}

impl RequestContext {
    pub fn new(token: Option<PresentedToken>, client: ClientInfo) -> RequestContext {
        RequestContext { token, client, session: OnceCell::new() }
    }
}

/// Helpers every resolver uses.
pub(crate) trait ContextExt {
    fn state(&self) -> &AppState;
    fn request(&self) -> &RequestContext;
    async fn current_session(&self) -> ApiResult<Option<&CurrentSession>>;
    async fn require_session(&self) -> ApiResult<&CurrentSession>;
    async fn require_admin(&self) -> ApiResult<&CurrentSession>;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn request(&self) -> &RequestContext {
        self.data_unchecked::<RequestContext>()
    }

    async fn current_session(&self) -> ApiResult<Option<&CurrentSession>> {
        let req = self.request();
        let state = self.state();
        let found = req
            .session
            .get_or_try_init(|| async {
                let Some(token) = &req.token else { return Ok::<_, DbError>(None) };
                let found = state.sessions.find_by_token(&token.value).await?;
                // The browser's cookie must not expire before the session it now outlives.
                if let Some(current) = &found
                    && current.touched
                    && token.by_cookie
                {
                    cookies::set_session(self, state, &token.value, &current.session);
                }
                Ok(found)
            })
            .await
            .api()?;
        Ok(found.as_ref())
    }

    async fn require_session(&self) -> ApiResult<&CurrentSession> {
        self.current_session().await?.ok_or_else(|| ApiError::Unauthenticated.into())
    }

    async fn require_admin(&self) -> ApiResult<&CurrentSession> {
        let current = self.require_session().await?;
        if current.user.role().is_admin() { Ok(current) } else { Err(ApiError::Forbidden.into()) }
    }
}
