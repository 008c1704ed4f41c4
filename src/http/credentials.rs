//! Who is calling: the session token (Bearer header, or the cookie under the CSRF rule)
//! and the client's address and user agent.

use actix_web::HttpRequest;
use actix_web::http::{Method, header};

use crate::auth::ClientInfo;
use crate::graphql::auth::SESSION_COOKIE;
use crate::graphql::context::PresentedToken;
use crate::server::AppState;

/// The token a request presents, if it may present one.
///
/// A cookie is sent by the browser on its own, so it only counts on a POST whose body is
/// JSON: a cross-site form or a simple request cannot make one (CSRF).
pub fn session_token(req: &HttpRequest, state: &AppState) -> Option<PresentedToken> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| PresentedToken { value: token.trim().to_string(), by_cookie: false });
    }
    if !state.config.session_cookie || req.method() != Method::POST || !is_json(req) {
        return None;
    }
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
        .map(|value| PresentedToken { value, by_cookie: true })
}

pub fn is_json(req: &HttpRequest) -> bool {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(
        |mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || mime.eq_ignore_ascii_case("application/graphql-response+json")
        },
    )
}

pub fn client_info(req: &HttpRequest, state: &AppState) -> ClientInfo {
    let ip = if state.config.trust_proxy {
        req.connection_info().realip_remote_addr().map(strip_port)
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    ClientInfo { ip, user_agent }
}

/// `X-Forwarded-For` may carry `ip:port`; the throttle counts per address.
fn strip_port(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => addr.trim_matches(|c| c == '[' || c == ']').to_string(),
    }
}
