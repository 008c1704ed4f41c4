//! What wraps every response: a request id (taken from `X-Request-Id` when it is sane,
//! made otherwise, echoed back), a tracing span carrying it, security headers, metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;

use crate::state::AppState;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client-supplied id is kept only if it cannot smuggle anything into logs.
fn accepted_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let ok = !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| v.to_string())
}

pub async fn around(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = accepted_id(req.headers().get(&REQUEST_ID)).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let path = req.path().to_string();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, path = %path);
    let result = next.call(req).instrument(span.clone()).await;
    let mut res = result?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state.metrics.observe_request(&path, status, elapsed);
    }
    span.in_scope(|| {
        tracing::debug!(status, micros = elapsed.as_micros() as u64, "answered");
    });
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::X_FRAME_OPTIONS) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tame_request_ids_are_kept() {
        let h = |s: &str| HeaderValue::from_str(s).ok();
        assert_eq!(accepted_id(h("abc-123_x.y:z").as_ref()), Some("abc-123_x.y:z".into()));
        assert_eq!(accepted_id(h("has space").as_ref()), None);
        assert_eq!(accepted_id(h(&"a".repeat(65)).as_ref()), None);
        assert_eq!(accepted_id(h("").as_ref()), None);
        assert_eq!(accepted_id(None), None);
    }
}
