//! Runs of arrivals, as wait sizing learns them for a standing queue: polls
//! in a row that brought messages, told apart by [`ArrivalRuns::QUIET`]
//! polls in a row that brought none (no more than the estimate's error:
//! the messages in service, each of which may finish either side of a
//! poll). Unlike the bursts of `bursts.rs`, which end only when the queue
//! is empty at a poll, a run ends when messages stop arriving, so batches
//! that a fleet only just serves before the next are still told apart.
//! From them, what a run like 90% of the recent ones still brings, and
//! within how long ([`ArrivalRuns::still_to_come`]): a standing queue
//! plans for its last message instead of for arrivals that go on.
//! Bounded: the last [`ArrivalRuns::KEPT`] runs.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::bursts::quantile;
use super::state::push_bounded;

/// What a run like the recent ones still brings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunRest {
    /// Messages still to arrive.
    pub messages: f64,
    /// How much longer they take to arrive.
    #[serde(rename = "within_s", with = "super::decision::secs")]
    pub within: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Run {
    /// Messages estimated to have arrived during it.
    messages: f64,
    /// How long it lasted.
    arriving: Duration,
}

/// The recent runs of one policy's arrivals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalRuns {
    current: Option<Run>,
    runs: VecDeque<Run>,
    /// Quiet polls in a row since the last that brought messages.
    quiet: u32,
}

impl ArrivalRuns {
    /// Runs remembered.
    pub const KEPT: usize = 32;
    /// Runs needed before they are trusted.
    pub const EVIDENCE: usize = 3;
    /// Quiet polls in a row that end a run: one alone may be the
    /// estimate's error in continuous traffic.
    pub const QUIET: u32 = 2;

    /// Note one poll: `arrived` messages since the previous poll `interval`
    /// ago, an estimate off by up to `error`.
    pub fn observe(&mut self, interval: Duration, arrived: f64, error: f64) {
        // NaN counts as quiet.
        let brought = arrived.is_finite() && arrived > error.max(0.0);
        if !brought {
            self.quiet = self.quiet.saturating_add(1);
            if self.quiet >= Self::QUIET {
                if let Some(run) = self.current.take() {
                    push_bounded(&mut self.runs, run, Self::KEPT);
                }
            }
            return;
        }
        self.quiet = 0;
        let run = self.current.get_or_insert_with(Run::default);
        run.messages += arrived;
        run.arriving = run.arriving.saturating_add(interval);
    }

    /// What a run like 90% of the recent ones still brings, and how much
    /// longer it lasts, while the one under way (or about to begin, when
    /// there is none) is no longer and no larger than they were; `None`
    /// before [`Self::EVIDENCE`] runs or once this one is unlike them.
    pub fn still_to_come(&self) -> Option<RunRest> {
        if self.runs.len() < Self::EVIDENCE {
            return None;
        }
        let messages = quantile(self.runs.iter().map(|r| r.messages).collect(), 0.9);
        let arriving = quantile(
            self.runs.iter().map(|r| r.arriving.as_secs_f64()).collect(),
            0.9,
        );
        let so_far = self.current.unwrap_or_default();
        let arrived_for = so_far.arriving.as_secs_f64();
        (so_far.messages <= messages && arrived_for <= arriving).then(|| RunRest {
            messages: messages - so_far.messages,
            within: Duration::from_secs_f64(arriving - arrived_for),
        })
    }
}
