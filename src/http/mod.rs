//! actix glue only: routes, credentials, health and the playground.

pub mod credentials;
pub mod graphiql;
pub mod graphql;
pub mod health;

use actix_web::web;

/// Request bodies larger than this are refused before parsing (413).
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
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
        .route("/readyz", web::get().to(health::readyz));
}
