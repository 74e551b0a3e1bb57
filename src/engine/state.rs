//! The small state the engine carries between evaluations of one policy.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::arrivals::ArrivalLog;
use super::bursts::BurstMemory;
use super::observation::Timestamp;
use super::runs::ArrivalRuns;
use super::startup::StartupMeter;
use super::surges::SurgeMemory;
use super::wait_sizing::TrafficMemory;
use crate::policy::Policy;

/// A policy's memory. Start with [`PolicyState::default`]; feed each
/// decision's returned state into the next evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    /// Recommendations made within the scale-in stabilization window, oldest
    /// first: (when, tasks).
    pub(crate) recommendations: VecDeque<(Timestamp, u32)>,
    /// When the last scale-out was applied.
    pub(crate) last_scale_out: Option<Timestamp>,
    /// When the last scaling in either direction was applied.
    pub(crate) last_scale: Option<Timestamp>,
    /// Since when the backlog, in-flight messages included, has been zero.
    pub(crate) idle_since: Option<Timestamp>,
    /// The previous successful observation's total work (visible, in
    /// flight and delayed when counted, weighted), for `scale_out.lookahead`.
    pub(crate) previous_work: Option<(Timestamp, f64)>,
    /// The running tasks that observation counted, for what they served
    /// since (see `wait_sizing.rs`, `WaitPlan::arrived`).
    #[serde(default)]
    pub(crate) previous_running: Option<u32>,
    /// False until the first successful observation seeds the state.
    pub(crate) seeded: bool,
    /// The service's measured startup (see `startup.rs`).
    pub(crate) startup: StartupMeter,
    /// The idle spells seen, for wait sizing (see `wait_sizing.rs`).
    pub(crate) traffic: TrafficMemory,
    /// Bursts and idle spells, for wait sizing (see `bursts.rs`).
    pub(crate) bursts: BurstMemory,
    /// Arrivals over the last wait, for the ages of waiting messages (see
    /// `arrivals.rs`).
    #[serde(default)]
    pub(crate) arrivals: ArrivalLog,
    /// What the recent surges needed, for wait sizing (see `surges.rs`).
    #[serde(default)]
    pub(crate) surges: SurgeMemory,
    /// Runs of arrivals, for what a standing queue plans to arrive (see
    /// `runs.rs`).
    #[serde(default)]
    pub(crate) runs: ArrivalRuns,
}

impl PolicyState {
    /// The highest recommendation still inside the stabilization window.
    pub fn highest_recent_recommendation(&self) -> Option<u32> {
        self.recommendations.iter().map(|&(_, n)| n).max()
    }

    /// The service's startup as measured from the engine's own scale-outs:
    /// the median of the last few, `None` before the first.
    pub fn measured_startup(&self) -> Option<std::time::Duration> {
        self.startup.estimate()
    }

    /// The last successful poll this state has seen.
    pub fn last_poll(&self) -> Option<Timestamp> {
        self.previous_work.map(|(at, _)| at)
    }

    /// How many scale-outs the measured startup rests on.
    pub fn startup_measurements(&self) -> usize {
        self.startup.measurements()
    }

    /// Remember a recommendation, dropping the older ones it dominates: a
    /// window's highest is then the oldest entry still inside it, whatever
    /// the window, and the list stays short. A hard cap bounds it whatever
    /// the traffic does.
    pub(crate) fn remember(&mut self, made: Timestamp, tasks: u32) {
        while self
            .recommendations
            .back()
            .is_some_and(|&(_, n)| n <= tasks)
        {
            self.recommendations.pop_back();
        }
        push_bounded(
            &mut self.recommendations,
            (made, tasks),
            Self::MAX_RECOMMENDATIONS,
        );
    }

    /// At most this many recommendations are kept (16 bytes each).
    const MAX_RECOMMENDATIONS: usize = 2048;

    /// Count a desired count set outside the controller (an operator
    /// pre-scaling for an event, a deploy tool) as a recommendation made
    /// at `now`, clamped to the policy's bounds: exactly what a restart does
    /// with the count it finds, so scale-in waits out the stabilization
    /// window from the moment the change was seen instead of undoing it.
    pub fn count_outside_change(&mut self, policy: &Policy, found: u32, now: Timestamp) {
        if !policy.scale_in.stabilization_window.is_zero() || policy.task_startup.is_some() {
            self.remember(now, found.clamp(policy.min_tasks, policy.max_tasks));
        }
    }
}

/// Append `item`, dropping the oldest entry first when `list` holds
/// `capacity`: how every list the engine learns into stays bounded.
pub(super) fn push_bounded<T>(list: &mut VecDeque<T>, item: T, capacity: usize) {
    if list.len() >= capacity {
        list.pop_front();
    }
    list.push_back(item);
}
