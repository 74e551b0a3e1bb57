//! A hook for everything that wants to know what the controller did beyond
//! its logs: health and readiness endpoints, Prometheus metrics, tests.

use std::sync::Arc;
use std::time::Duration;

use super::evaluate::Evaluation;
use super::groups::CycleReport;
use crate::engine::PolicyState;
use crate::policy::{Policy, PolicyErrors};

/// Told about every evaluation and every change of the policy set. Methods
/// are called from the controller's tasks and must return quickly.
pub trait Observer: Send + Sync {
    /// A policy was evaluated (successfully or not).
    fn evaluated(&self, _evaluation: &Evaluation) {}

    /// The controller now runs exactly these policies (at start and after
    /// every successful reload).
    fn policies_applied(&self, _policies: &[Arc<Policy>]) {}

    /// A reload failed; the previous policies keep running.
    fn reload_failed(&self, _errors: &PolicyErrors) {}

    /// An evaluation cycle (the policies of one group at one tick) ended.
    fn cycle_finished(&self, _report: &CycleReport) {}

    /// A policy's measured task startup changed: a scale-out completed, or
    /// the policy started afresh, at start or changed by a reload (`None`:
    /// no measurement yet). Called after a policy's first evaluation, then
    /// only on a change.
    fn startup_measured(&self, _policy: &str, _measured: Option<MeasuredStartup>) {}

    /// The supervisor's loop is alive; called every
    /// [`HEARTBEAT_INTERVAL`] while it runs (a liveness probe's input).
    fn heartbeat(&self) {}
}

/// A service's task startup as the engine measured it from the policy's own
/// scale-outs: the time from raising the desired count until the running
/// count reached it (see `engine/startup.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredStartup {
    /// The median of the last scale-outs' startups.
    pub startup: Duration,
    /// How many scale-outs it rests on (at most the engine's last 9).
    pub scale_outs: usize,
}

impl MeasuredStartup {
    /// What `state` has measured; `None` before its first completed
    /// scale-out.
    pub fn of(state: &PolicyState) -> Option<MeasuredStartup> {
        Some(MeasuredStartup {
            startup: state.measured_startup()?,
            scale_outs: state.startup_measurements(),
        })
    }
}

/// How often [`Observer::heartbeat`] is called.
pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}
