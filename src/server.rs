//! The actix wiring: [`configure`] registers the routes and [`run`] serves the one App used
//! by `authql serve` and by the tests, over an [`AppState`] built in [`crate::state`].

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::graphql::{self, AuthqlSchema};
use crate::http;
use crate::state::{AppState, StartError};

/// Registers every route on an actix service config.
pub fn configure(state: AppState, schema: AuthqlSchema) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        http::routes(cfg, &state.config);
        cfg.app_data(web::Data::new(state)).app_data(web::Data::new(schema));
    }
}

/// Starts serving on `listener`; the returned server runs until stopped. SIGTERM/SIGINT
/// stop it gracefully (in-flight requests finish, up to 30 s).
pub fn run(state: AppState, listener: TcpListener, workers: Option<usize>) -> Result<Server, StartError> {
    let schema = graphql::build_schema(state.clone());
    state.spawn_housekeeping();
    state.mailer.start();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(http::cors(&state.config))
            .wrap(actix_web::middleware::from_fn(http::middleware::around))
            .configure(configure(state.clone(), schema.clone()))
    })
    .shutdown_timeout(30)
    // A client that closes its connection has gone (no HTTP client half-closes and waits):
    // its request is dropped instead of run for nobody. For a sign-in still waiting for a
    // hashing worker that frees its place in the queue and gives its attempt back.
    .h1_allow_half_closed(false);
    if let Some(n) = workers {
        server = server.workers(n);
    }
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    Ok(server.listen(listener).map_err(|e| StartError::Bind { addr, reason: e.to_string() })?.run())
}
