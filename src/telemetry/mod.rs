//! What the controller tells operators about itself: Prometheus metrics,
//! readiness, the loop's heartbeat and each policy's last decision with its
//! engine state ([`StateDumps`]), fed by [`TelemetryObserver`] (the
//! controller's [`crate::controller::Observer`]) and by the AWS adapters'
//! call listener. The HTTP endpoints that serve them are in [`crate::http`].

mod feed;
mod heartbeat;
mod metrics;
mod readiness;
mod state_dump;

use std::sync::Arc;
use std::time::Duration;

pub use feed::TelemetryObserver;
pub use heartbeat::{Heartbeat, HeartbeatClock};
pub use metrics::{ApiOutcome, Metrics, PolicyGauges};
pub use readiness::{PolicyReadiness, Readiness, ReadinessReport};
pub use state_dump::{
    DumpedDecision, LastFailure, NoStateDump, ObservedCounts, QueueCounts, StateDump, StateDumps,
    STATE_DUMP_FORMAT,
};

/// A policy whose last this-many evaluations all failed makes `/readyz`
/// fail: one failure may be a blip, three in a row (at least three poll
/// intervals, with the error backoff more) is a problem to look at.
pub const FAILURES_BEFORE_NOT_READY: u32 = 3;

/// `/healthz` fails when the controller loop has not beaten its heartbeat
/// (every second) for this long: long enough to ride out a CPU-starved
/// moment, short enough for an orchestrator to replace a hung process.
pub const LOOP_STALE_AFTER: Duration = Duration::from_secs(30);

/// Everything the endpoints serve. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    pub heartbeat: Arc<Heartbeat>,
    pub states: Arc<StateDumps>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry::new(FAILURES_BEFORE_NOT_READY, LOOP_STALE_AFTER)
    }
}

impl Telemetry {
    pub fn new(failures_before_not_ready: u32, loop_stale_after: Duration) -> Telemetry {
        Telemetry {
            metrics: Arc::new(Metrics::new()),
            readiness: Arc::new(Readiness::new(failures_before_not_ready)),
            heartbeat: Arc::new(Heartbeat::new(loop_stale_after)),
            states: Arc::new(StateDumps::new()),
        }
    }
}
