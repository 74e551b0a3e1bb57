//! Engine tests: a table per rule (`rules.rs`), properties (`properties.rs`)
//! and wait sizing's rules and properties (`wait_sizing.rs`).

mod opt_in;
mod properties;
mod rules;
mod wait_sizing;

use std::time::Duration;

use super::*;
use crate::policy::Policy;

/// A one-queue policy with target 10 messages per task, bounds [1, 20], a
/// 60 s stabilization window and the reference defaults otherwise.
pub(super) fn policy() -> Policy {
    let mut p = Policy::with_defaults("worker", "main", "worker", "jobs");
    p.target = crate::policy::BacklogTarget::BacklogPerTask(10.0);
    p.min_tasks = 1;
    p.max_tasks = 20;
    p.scale_in.stabilization_window = Duration::from_secs(60);
    p
}

pub(super) fn observe(visible: u64, in_flight: u64, desired: u32) -> Observation {
    Observation::single(
        QueueDepth {
            visible,
            in_flight,
            delayed: 0,
        },
        ServiceCounts {
            desired,
            running: desired,
            pending: 0,
            deployment_in_progress: false,
        },
    )
}

pub(super) fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// One decision from a fresh state.
pub(super) fn fresh(policy: &Policy, observation: &Observation) -> Decision {
    decide(policy, Ok(observation), &PolicyState::default(), at(0)).0
}
