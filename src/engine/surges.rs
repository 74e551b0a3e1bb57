//! Surges, as wait sizing learns them: when a task launched now starts
//! after a message arriving now is due (`task_startup + poll_interval >
//! target_wait`), a rise in the arrivals is served by the tasks already
//! running or late. So the engine keeps the fleet that the recent surges
//! needed: over each stretch of one reaction time (a startup plus a poll),
//! the most any run of arrivals in it needed to serve, within the wait, the
//! messages of its first `late_by = startup + poll - wait` (those due
//! before tasks launched on seeing it start): those messages over what one
//! task serves in `late_by` plus the wait, the warm fleet's measure of a
//! burst, taken over continuous traffic too (see
//! [`super::ArrivalLog::surge_need`]). Bounded: the last
//! [`SurgeMemory::KEPT`] stretches.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::observation::Timestamp;
use super::state::push_bounded;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SurgeMemory {
    /// The stretch being watched: since when, and the most it needed.
    current: Option<(Timestamp, f64)>,
    /// The most each of the last stretches needed, oldest first.
    stretches: VecDeque<f64>,
}

impl SurgeMemory {
    /// Stretches remembered.
    pub const KEPT: usize = 64;
    /// Stretches needed before they are trusted.
    pub const EVIDENCE: usize = 3;

    /// Note one poll's need (tasks for the arrivals just seen, see the
    /// module doc); a stretch closes after `reaction`.
    pub fn observe(&mut self, now: Timestamp, need: f64, reaction: Duration) {
        let need = if need.is_finite() { need.max(0.0) } else { 0.0 };
        match self.current {
            Some((since, most)) if now.since(since) < reaction => {
                self.current = Some((since, most.max(need)));
            }
            Some((_, most)) => {
                push_bounded(&mut self.stretches, most, Self::KEPT);
                self.current = Some((now, need));
            }
            None => self.current = Some((now, need)),
        }
    }

    /// The fleet that would have served 90% of the recent stretches' surges
    /// within the wait with no reaction (the stretch under way counted
    /// too); `None` before [`Self::EVIDENCE`] stretches.
    pub fn needed(&self) -> Option<f64> {
        if self.stretches.len() < Self::EVIDENCE {
            return None;
        }
        let mut needs: Vec<f64> = self.stretches.iter().copied().collect();
        needs.extend(self.current.map(|(_, most)| most));
        needs.sort_by(f64::total_cmp);
        let rank = ((0.9 * needs.len() as f64).ceil() as usize).clamp(1, needs.len());
        Some(needs[rank - 1])
    }
}
