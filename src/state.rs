//! [`AppState`]: every service a request may need, built once from the [`Config`]. No web
//! framework here: the GraphQL schema and the HTTP glue both depend on it.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{
    Authenticator, Invites, Lifetime, Passkeys, Passwords, SecondFactor, Sessions, Users, Verification,
};
use crate::auth::passkey::RelyingParty;
use crate::auth::{Hasher, Registry, Throttle};
use crate::config::Config;
use crate::db::models::{oauth_states, one_time_tokens, webauthn_challenges};
use crate::db::{Db, DbError};
use crate::mail::{MailError, Mailer};
use crate::metrics::Metrics;

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
    pub second_factor: SecondFactor,
    pub passkeys: Passkeys,
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
        let hasher = Hasher::new(config.argon2, config.hash_workers, config.hash_max_wait)?;
        let sessions = Sessions::new(db.clone(), Lifetime::new(config.session_ttl, config.session_max_ttl));
        let throttle = Throttle::new(db.clone(), config.throttle);
        let http = crate::auth::outbound::client()?;
        let relying_party = RelyingParty::from_config(&config);
        let registry = Registry::from_config(&config, &db, &hasher, &throttle, &http, relying_party.as_ref());
        let passkeys = Passkeys::new(db.clone(), relying_party);
        let mailer = Mailer::from_config(&config)?;
        let invites = Invites::new(db.clone(), config.invite_ttl, mailer.clone());
        let second_factor = SecondFactor::new(db.clone(), throttle.clone(), config.throttle.window);
        let authenticator = Authenticator::new(
            registry,
            db.clone(),
            sessions.clone(),
            invites.clone(),
            config.signup,
            throttle.clone(),
            second_factor.clone(),
        );
        let users = Users::new(db.clone());
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
            second_factor,
            passkeys,
        })
    }

    /// Deletes expired sessions, old throttle entries, abandoned OAuth states and WebAuthn
    /// challenges, second-factor tickets and spent mail tokens now and then.
    pub fn spawn_housekeeping(&self) {
        let state = self.clone();
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
                if let Err(e) = state.db.write(|conn| webauthn_challenges::delete_expired(conn, crate::db::now())).await
                {
                    tracing::warn!(error = %e, "could not prune expired WebAuthn challenges");
                }
                if let Err(e) = state.second_factor.prune().await {
                    tracing::warn!(error = %e, "could not prune expired second-factor tickets");
                }
                if let Err(e) = state.db.write(|conn| one_time_tokens::delete_expired(conn, crate::db::now())).await {
                    tracing::warn!(error = %e, "could not prune expired mail tokens");
                }
            }
        });
    }
}
