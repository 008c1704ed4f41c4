//! actix glue only: routes, who is calling (caller), health, the playground and the web app.

pub(crate) mod caller;
pub(crate) mod graphiql;
pub mod graphql;
pub(crate) mod health;
pub(crate) mod metrics;
// Public for the fuzz target (fuzz/), which wires the same App as `server::run`.
pub mod middleware;
pub(crate) mod web_ui;

use actix_web::web;

use crate::config::Config;

/// Request bodies larger than this are refused before parsing (413).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Cross-origin access: only the origins in `AUTHQL_CORS_ORIGINS`, with credentials.
/// Requests from other origins are not refused here (same-origin pages send `Origin` too);
/// they just get no CORS headers, so browsers keep their answers from the page.
pub fn cors(config: &crate::config::Config) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::AUTHORIZATION,
            middleware::REQUEST_ID,
        ])
        .expose_headers([middleware::REQUEST_ID])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(600);
    for origin in &config.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig, config: &Config) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT))
        .service(
            web::resource("/graphql")
                .route(web::post().to(graphql::post))
                .route(web::get().to(graphql::get))
                .route(web::route().to(graphql::method_not_allowed)),
        )
        .route("/graphiql", web::get().to(graphiql::page))
        .route("/graphiql/assets/{file}", web::get().to(graphiql::asset))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics));
    // Registered last: actix takes the first match, so should a page ever share a path with
    // the API (or a route added above), the API wins.
    if config.ui {
        web_ui::routes(cfg);
    }
}
