//! The one owner of the cookies a response sets: the session cookie (when
//! `AUTHQL_SESSION_COOKIE` is on) and the flow binding cookie. Resolvers say what happened;
//! this module decides whether a cookie follows and how it is spelled.

use std::time::Duration;

use async_graphql::Context;

use crate::db::models::sessions::SessionRow;
use crate::domain::binding::COOKIE as FLOW_COOKIE;
use crate::domain::{BindingCookie, ClientBinding};
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "authql_session";

/// Sends the session's token in the session cookie, for as long as the session lives from
/// its last use (a new sign-in, or a use that slid the expiry).
pub(crate) fn set_session(ctx: &Context<'_>, state: &AppState, token: &str, session: &SessionRow) {
    if state.config.session_cookie {
        let max_age = state.sessions.cookie_max_age(session);
        ctx.append_http_header("Set-Cookie", session_cookie(state, Some(token), max_age));
    }
}

/// Clears the session cookie (logout, revoking every session).
pub(crate) fn clear_session(ctx: &Context<'_>, state: &AppState) {
    if state.config.session_cookie {
        ctx.append_http_header("Set-Cookie", session_cookie(state, None, Duration::ZERO));
    }
}

/// Binds the client's redirect flows to it, for as long as the newest of them lives: once
/// per request (every flow of one request shares one binding), and whatever
/// `AUTHQL_SESSION_COOKIE` says, since a flow cannot finish without it.
pub(crate) fn set_flow_binding(ctx: &Context<'_>, state: &AppState, client: &ClientBinding, cookie: &BindingCookie) {
    if client.claim_cookie() {
        ctx.append_http_header("Set-Cookie", flow_cookie(state, cookie));
    }
}

fn flow_cookie(state: &AppState, cookie: &BindingCookie) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    format!(
        "{FLOW_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie.binding.expose(),
        cookie.max_age.as_secs()
    )
}

/// The Set-Cookie value that stores a token for `max_age`, or clears it (`None`).
fn session_cookie(state: &AppState, token: Option<&str>, max_age: Duration) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    match token {
        Some(token) => {
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", max_age.as_secs())
        }
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}
