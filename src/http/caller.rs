//! Who is calling: the session token (Bearer header, or the cookie under the CSRF rule)
//! and the client's address and user agent.

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName};

use crate::domain::ClientInfo;
use crate::domain::binding::{self, ClientBinding};
use crate::graphql::context::PresentedToken;
use crate::graphql::cookies::SESSION_COOKIE;
use crate::net;
use crate::state::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The token a request presents, if it may present one.
///
/// A cookie is sent by the browser on its own, so it only counts on a POST whose body is
/// JSON: a cross-site form or a simple request cannot make one (CSRF).
pub(crate) fn session_token(req: &HttpRequest, state: &AppState) -> Option<PresentedToken> {
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

pub(crate) fn is_json(req: &HttpRequest) -> bool {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(
        |mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || mime.eq_ignore_ascii_case("application/graphql-response+json")
        },
    )
}

/// The client's address (the TCP peer, or what trusted proxies say it is: `Forwarded` and
/// every other header are ignored) and user agent.
pub(crate) fn client_info(req: &HttpRequest, state: &AppState) -> ClientInfo {
    let forwarded_for = req.headers().get_all(X_FORWARDED_FOR).filter_map(|v| v.to_str().ok());
    let ip = net::client_address(req.peer_addr().map(|a| a.ip()), forwarded_for, &state.config.trusted_proxies)
        .map(|ip| ip.to_string());
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    ClientInfo { ip, user_agent, ..ClientInfo::default() }
}

/// The flow binding cookie a request presents, under the same rule as the session cookie:
/// only a JSON POST counts, so a cross-site form cannot finish a flow with it. Read whatever
/// `AUTHQL_SESSION_COOKIE` says: redirect flows need it.
pub(crate) fn flow_binding(req: &HttpRequest) -> ClientBinding {
    let may_present = req.method() == Method::POST && is_json(req);
    let cookie = if may_present { req.cookie(binding::COOKIE) } else { None };
    ClientBinding::from_cookie(cookie.as_ref().map(|c| c.value()))
}
