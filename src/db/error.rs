//! What the storage layer can report, already sorted by what a client should be told.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the server went away: a 503, not a bug.
    #[error("database unavailable")]
    Unavailable,
    /// A unique constraint refused the write (names the constraint when the backend does).
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    #[error("row not found")]
    NotFound,
    #[error("database error: {0}")]
    Query(DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("blocking task failed: {0}")]
    Task(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Conflict(info.constraint_name().unwrap_or(info.message()).to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)
            | DieselError::BrokenTransactionManager => DbError::Unavailable,
            // SQLite reports a lock it waited for in vain only as text.
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("database is locked") || info.message().contains("database is busy") =>
            {
                DbError::Unavailable
            }
            DieselError::DatabaseError(_, ref info) if is_connection_lost(info.message()) => DbError::Unavailable,
            other => DbError::Query(other),
        }
    }
}

/// libpq's words for a server that went away in the middle of a query.
fn is_connection_lost(message: &str) -> bool {
    const SIGNS: &[&str] = &[
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "connection to server",
        "could not receive data",
        "could not send data",
        "the database system is shutting down",
        "the database system is starting up",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}
