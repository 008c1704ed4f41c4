//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpResponse, web};

use crate::metrics::Snapshot;
use crate::state::AppState;

pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.db.pool_state();
    // Counted at scrape time; a scrape while the database is away still answers.
    let active_sessions = state.sessions.count_active().await.ok();
    let snapshot = Snapshot {
        hash_in_flight: state.hasher.in_flight(),
        active_sessions,
        db_connections: pool.connections,
        db_idle: pool.idle_connections,
        db_max: state.config.db_pool_size,
        db_inline_reads: state.db.inline_reads(),
    };
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render(&snapshot))
}
