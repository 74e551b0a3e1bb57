//! What the controller tells operators about itself: Prometheus metrics and
//! readiness. The HTTP endpoints that serve them are in [`crate::http`].

mod metrics;
mod readiness;

pub use metrics::{ApiOutcome, Metrics, PolicyGauges};
pub use readiness::{PolicyReadiness, Readiness, ReadinessReport};
