//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// 200 while the process runs.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 when the database answers, 503 otherwise (asked anew each time, so it recovers
/// with the database and no restart).
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.db.ping().await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable().content_type("text/plain").body("database unavailable")
    }
}
