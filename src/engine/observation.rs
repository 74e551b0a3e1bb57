//! What the engine is told about the world at one evaluation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, as a duration since an epoch the caller chooses (the
/// daemon uses its start, the simulator the trace's first second). The engine
/// only ever compares and subtracts timestamps, so the epoch does not matter
/// as long as one policy's evaluations all use the same one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub Duration);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);

    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(Duration::from_secs(secs))
    }

    pub fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(Duration::from_nanos(nanos))
    }

    pub fn from_secs_f64(secs: f64) -> Timestamp {
        Timestamp(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX))
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.0.as_secs_f64()
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(&self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// The three SQS counts of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: not yet deliverable.
    pub delayed: u64,
}

/// The ECS service's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ServiceCounts {
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// A deployment other than the primary one is still rolling out.
    pub deployment_in_progress: bool,
}

/// Everything observed for one policy at one evaluation. `queues` is in the
/// order of the policy's `queues` list.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Observation {
    pub queues: Vec<QueueDepth>,
    pub service: ServiceCounts,
}

impl Observation {
    /// An observation of a single queue, the common case.
    pub fn single(queue: QueueDepth, service: ServiceCounts) -> Observation {
        Observation {
            queues: vec![queue],
            service,
        }
    }
}
