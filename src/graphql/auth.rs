//! authenticate and validateCallback: thin wrappers over [`crate::auth::Authenticator`],
//! turning its flow into an `AuthResult` and the session token into a cookie.

use std::time::Duration;

use async_graphql::{Context, Json, Object};
use serde_json::Value;

use crate::auth::flow::BindingCookie;
use crate::auth::flow::binding::COOKIE as FLOW_COOKIE;
use crate::auth::{AuthError, AuthFlow, HashError, InviteRef, Step};
use crate::graphql::context::ContextExt;
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::types::{AuthResult, AuthUser, Session, User};

pub const SESSION_COOKIE: &str = "authql_session";

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Names in the provider registry, sorted.
    async fn auth_providers(&self, ctx: &Context<'_>) -> Vec<String> {
        ctx.state().authenticator.registry().names()
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in, or signs up when the identity is new: one mutation for both.
    async fn authenticate(&self, ctx: &Context<'_>, provider: String, input: Json<Value>) -> ApiResult<AuthResult> {
        run(ctx, &provider, Step::Authenticate, &input.0, None).await
    }

    /// Completes a redirect flow with what the provider sent back (`{code, state}`).
    async fn validate_callback(
        &self,
        ctx: &Context<'_>,
        provider: String,
        input: Json<Value>,
    ) -> ApiResult<AuthResult> {
        run(ctx, &provider, Step::Callback, &input.0, None).await
    }
}

/// Runs a flow and shapes its answer; shared with acceptInvite.
pub(crate) async fn run(
    ctx: &Context<'_>,
    provider: &str,
    step: Step,
    input: &Value,
    invite: Option<&InviteRef>,
) -> ApiResult<AuthResult> {
    let state = ctx.state();
    let ip = ctx.request().client.ip.as_deref().unwrap_or("-");
    // Only registered names become metric labels.
    let label = if state.authenticator.registry().get(provider).is_some() { provider } else { "unknown" };
    let flow = match state.authenticator.run(provider, step, input, &ctx.request().client, invite).await {
        Ok(flow) => flow,
        Err(e) => {
            let outcome = if matches!(e, AuthError::RateLimited { .. } | AuthError::Hash(HashError::Overloaded)) {
                "rate_limited"
            } else {
                "error"
            };
            state.metrics.observe_authentication(label, outcome);
            tracing::info!(target: "audit", event = "sign_in_refused", provider = label, ip, outcome);
            return Err(ApiError::from(e).into());
        }
    };
    Ok(match flow {
        AuthFlow::Failed(reason) => {
            state.metrics.observe_authentication(label, "failure");
            tracing::info!(target: "audit", event = "sign_in_failed", provider = label, ip, reason = %reason);
            AuthResult::failed(reason)
        }
        AuthFlow::Redirect(redirect) => {
            state.metrics.observe_authentication(label, "redirect");
            // Every flow of one request shares one binding: one header says it.
            if ctx.request().client.flow_binding.claim_cookie() {
                ctx.append_http_header("Set-Cookie", flow_cookie(state, &redirect.binding));
            }
            AuthResult { success: true, location: Some(redirect.location), ..Default::default() }
        }
        AuthFlow::SignedIn(signed_in) => {
            state.metrics.observe_authentication(label, "success");
            if state.config.session_cookie {
                let max_age = state.sessions.cookie_max_age(&signed_in.session);
                ctx.append_http_header("Set-Cookie", session_cookie(state, Some(&signed_in.token), max_age));
            }
            let event = if signed_in.new_user { "sign_up" } else { "sign_in" };
            tracing::info!(
                target: "audit",
                event,
                user_id = %signed_in.user.id,
                provider = label,
                ip,
                session_id = %signed_in.session.id
            );
            AuthResult {
                success: true,
                error: None,
                location: None,
                session: Some(Session::from_row(signed_in.session, Some(signed_in.token), None)),
                user: Some(User::from(signed_in.user)),
                auth_user: Some(AuthUser::from(signed_in.auth_user)),
            }
        }
    })
}

/// The Set-Cookie value that binds the client's redirect flows to it, for as long as the
/// newest of them lives. Set whatever `AUTHQL_SESSION_COOKIE` says: a flow cannot finish
/// without it.
fn flow_cookie(state: &crate::server::AppState, cookie: &BindingCookie) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    format!(
        "{FLOW_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie.binding.expose(),
        cookie.max_age.as_secs()
    )
}

/// The Set-Cookie value that stores a token for `max_age`, or clears it (`None`).
pub(crate) fn session_cookie(state: &crate::server::AppState, token: Option<&str>, max_age: Duration) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    match token {
        Some(token) => {
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", max_age.as_secs())
        }
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}
