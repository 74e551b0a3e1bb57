//! Why a port call failed, classified so the controller can log a cause once
//! per change and hold (fail static) whatever the cause.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The underlying error, shared so one failed batched call can be reported to
/// every policy it served.
pub type ErrorSource = Arc<dyn Error + Send + Sync + 'static>;

/// A failed port call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    #[error("queue {queue} does not exist")]
    QueueNotFound {
        queue: String,
        #[source]
        source: Option<ErrorSource>,
    },
    #[error("service {service} not found in cluster {cluster}{}", detail_suffix(.detail))]
    ServiceNotFound {
        cluster: String,
        service: String,
        /// What the API said, e.g. `MISSING` or `INACTIVE`.
        detail: Option<String>,
        #[source]
        source: Option<ErrorSource>,
    },
    #[error("{operation}: access denied")]
    AccessDenied {
        operation: &'static str,
        #[source]
        source: ErrorSource,
    },
    #[error("{operation}: throttled")]
    Throttled {
        operation: &'static str,
        #[source]
        source: ErrorSource,
    },
    #[error("{operation}: timed out or endpoint unreachable")]
    Unreachable {
        operation: &'static str,
        #[source]
        source: ErrorSource,
    },
    #[error("{operation}: failed")]
    Other {
        operation: &'static str,
        #[source]
        source: ErrorSource,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// The kind of a [`PortError`], for log fields, metric labels and noticing
/// when the cause of a failure changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    QueueNotFound,
    ServiceNotFound,
    AccessDenied,
    Throttled,
    Unreachable,
    Other,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::QueueNotFound => "queue_not_found",
            ErrorKind::ServiceNotFound => "service_not_found",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PortError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PortError::QueueNotFound { .. } => ErrorKind::QueueNotFound,
            PortError::ServiceNotFound { .. } => ErrorKind::ServiceNotFound,
            PortError::AccessDenied { .. } => ErrorKind::AccessDenied,
            PortError::Throttled { .. } => ErrorKind::Throttled,
            PortError::Unreachable { .. } => ErrorKind::Unreachable,
            PortError::Other { .. } => ErrorKind::Other,
        }
    }

    /// An error of `kind` with a plain message as its cause, for fakes and
    /// for failures that do not come from an SDK call (a deadline passed).
    /// For the not-found kinds, `message` is the missing resource's name.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> PortError {
        let message = message.into();
        let source: ErrorSource = Arc::new(Message(message.clone()));
        match kind {
            ErrorKind::QueueNotFound => PortError::QueueNotFound {
                queue: message,
                source: None,
            },
            ErrorKind::ServiceNotFound => PortError::ServiceNotFound {
                cluster: String::new(),
                service: message,
                detail: None,
                source: None,
            },
            ErrorKind::AccessDenied => PortError::AccessDenied { operation, source },
            ErrorKind::Throttled => PortError::Throttled { operation, source },
            ErrorKind::Unreachable => PortError::Unreachable { operation, source },
            ErrorKind::Other => PortError::Other { operation, source },
        }
    }
}

/// A plain-text error cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// An error and all its sources, joined with `: `, skipping a source whose
/// text the previous one already ends with (SDK errors often repeat).
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = PortError::Unreachable {
            operation: "GetQueueAttributes",
            source: Arc::new(io),
        };
        assert_eq!(
            error_chain(&error),
            "GetQueueAttributes: timed out or endpoint unreachable: connection refused"
        );
        assert_eq!(error.kind(), ErrorKind::Unreachable);
    }

    #[test]
    fn a_missing_service_says_what_the_api_said() {
        let error = PortError::ServiceNotFound {
            cluster: "jobs".into(),
            service: "worker".into(),
            detail: Some("MISSING".into()),
            source: None,
        };
        assert_eq!(
            error.to_string(),
            "service worker not found in cluster jobs (MISSING)"
        );
    }
}
