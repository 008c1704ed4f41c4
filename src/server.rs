//! The app: state shared by every request, and [`build_app`], the one actix App used by
//! `authql serve` and by the tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::auth::{Authenticator, Hasher, Registry, Throttle};
use crate::config::Config;
use crate::db::models::{oauth_states, one_time_tokens};
use crate::db::{Db, DbError};
use crate::graphql::{self, AuthqlSchema};
use crate::http;
use crate::invites::Invites;
use crate::mail::{MailError, Mailer};
use crate::metrics::Metrics;
use crate::passwords::Passwords;
use crate::sessions::{Lifetime, Sessions};
use crate::users::Users;
use crate::verification::Verification;

/// Everything a request may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub hasher: Hasher,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub authenticator: Authenticator,
    pub users: Users,
    pub invites: Invites,
    pub metrics: Arc<Metrics>,
    pub mailer: Mailer,
    pub passwords: Passwords,
    pub verification: Verification,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::auth::HashError),
    #[error("HTTP client for identity providers: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
}

impl AppState {
    /// Connects, migrates and wires the services.
    pub fn build(config: Config) -> Result<AppState, StartError> {
        let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeout)?;
        db.migrate()?;
        Self::with_db(config, db)
    }

    pub fn with_db(config: Config, db: Db) -> Result<AppState, StartError> {
        let hasher = Hasher::new(config.argon2, config.hash_workers, config.hash_queue)?;
        let sessions = Sessions::new(db.clone(), Lifetime::new(config.session_ttl, config.session_max_ttl));
        let throttle = Throttle::new(db.clone(), config.throttle);
        let http = crate::auth::outbound::client()?;
        let registry = Registry::from_config(&config, &db, &hasher, &throttle, &http);
        let authenticator = Authenticator::new(registry, db.clone(), sessions.clone(), config.signup, throttle.clone());
        let users = Users::new(db.clone());
        let invites = Invites::new(db.clone(), config.invite_ttl);
        let mailer = Mailer::from_config(&config)?;
        let window = config.throttle.window;
        let passwords = Passwords::new(
            db.clone(),
            authenticator.clone(),
            throttle.clone(),
            mailer.clone(),
            config.reset_ttl,
            window,
        );
        let verification = Verification::new(db.clone(), mailer.clone(), window);
        Ok(AppState {
            config: Arc::new(config),
            db,
            hasher,
            sessions,
            throttle,
            authenticator,
            users,
            invites,
            metrics: Arc::new(Metrics::default()),
            mailer,
            passwords,
            verification,
        })
    }
}

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
    spawn_housekeeping(state.clone());
    state.mailer.start();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(http::cors(&state.config))
            .wrap(actix_web::middleware::from_fn(http::middleware::around))
            .configure(configure(state.clone(), schema.clone()))
    })
    .shutdown_timeout(30);
    if let Some(n) = workers {
        server = server.workers(n);
    }
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    Ok(server.listen(listener).map_err(|e| StartError::Bind { addr, reason: e.to_string() })?.run())
}

/// Deletes expired sessions, old throttle entries, abandoned OAuth states and spent mail tokens
/// now and then.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = state.sessions.prune().await {
                tracing::warn!(error = %e, "could not prune expired sessions");
            }
            if let Err(e) = state.throttle.prune().await {
                tracing::warn!(error = %e, "could not prune throttle entries");
            }
            if let Err(e) = state.db.write(|conn| oauth_states::delete_expired(conn, crate::db::now())).await {
                tracing::warn!(error = %e, "could not prune expired OAuth states");
            }
            if let Err(e) = state.db.write(|conn| one_time_tokens::delete_expired(conn, crate::db::now())).await {
                tracing::warn!(error = %e, "could not prune expired mail tokens");
            }
        }
    });
}
