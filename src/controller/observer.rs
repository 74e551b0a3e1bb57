//! A hook for everything that wants to know what the controller did beyond
//! its logs: health and readiness endpoints, Prometheus metrics, tests.

use super::cycle::CycleReport;
use super::evaluate::Evaluation;
use crate::policy::{Policy, PolicyErrors};

/// Told about every evaluation and every change of the policy set. Methods
/// are called from the controller's tasks and must return quickly.
pub trait Observer: Send + Sync {
    /// A policy was evaluated (successfully or not).
    fn evaluated(&self, _evaluation: &Evaluation) {}

    /// The controller now runs exactly these policies (at start and after
    /// every successful reload).
    fn policies_applied(&self, _policies: &[Policy]) {}

    /// A reload failed; the previous policies keep running.
    fn reload_failed(&self, _errors: &PolicyErrors) {}

    /// An evaluation cycle (the policies of one group at one tick) ended.
    fn cycle_finished(&self, _report: &CycleReport) {}

    /// The supervisor's loop is alive; called every
    /// [`HEARTBEAT_INTERVAL`] while it runs (a liveness probe's input).
    fn heartbeat(&self) {}
}

/// How often [`Observer::heartbeat`] is called.
pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}
