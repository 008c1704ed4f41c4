//! Logging: `tracing` with a pretty or JSON formatter, filtered by `AUTHQL_LOG`.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops),
/// which the tests rely on.
pub(crate) fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = without_query_parameters(filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// tokio-postgres logs every statement's parameters at debug level, and the session lookup's
/// parameter is a token's hash: whatever `AUTHQL_LOG` asks for, that crate logs at info at
/// most (a later directive for the same target replaces an earlier one).
fn without_query_parameters(filter: EnvFilter) -> EnvFilter {
    match "tokio_postgres=info".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokio_postgres_never_logs_below_info() {
        for asked in ["trace", "debug", "tokio_postgres=trace", "info,tokio_postgres=debug"] {
            let filter = without_query_parameters(EnvFilter::new(asked));
            let shown = filter.to_string();
            assert!(shown.contains("tokio_postgres=info"), "{asked}: {shown}");
            assert!(
                !shown.contains("tokio_postgres=debug") && !shown.contains("tokio_postgres=trace"),
                "{asked}: {shown}"
            );
        }
    }
}
