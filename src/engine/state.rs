//! The small state the engine carries between evaluations of one policy.

use std::collections::VecDeque;

use serde::Serialize;

use super::observation::Timestamp;
use crate::policy::Policy;

/// A policy's memory. Start with [`PolicyState::default`]; feed each
/// decision's returned state into the next evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// False until the first successful observation seeds the state.
    pub(crate) seeded: bool,
}

impl PolicyState {
    /// The highest recommendation still inside the stabilization window.
    pub fn highest_recent_recommendation(&self) -> Option<u32> {
        self.recommendations.iter().map(|&(_, n)| n).max()
    }

    /// Count a desired count set outside the controller (an operator
    /// pre-scaling for an event, a deploy tool) as a recommendation made
    /// at `now`, clamped to the policy's bounds: exactly what a restart does
    /// with the count it finds, so scale-in waits out the stabilization
    /// window from the moment the change was seen instead of undoing it.
    pub fn count_outside_change(&mut self, policy: &Policy, found: u32, now: Timestamp) {
        if !policy.scale_in.stabilization_window.is_zero() {
            self.recommendations
                .push_back((now, found.clamp(policy.min_tasks, policy.max_tasks)));
        }
    }
}
