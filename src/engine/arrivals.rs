//! How long the waiting messages have waited, from the arrivals the engine
//! has estimated: SQS counts give no ages.
//!
//! The queue is first in, first out, so the `V` messages waiting are the
//! last `V` to arrive. A log of cumulative arrivals over the last wait
//! then says, for each moment in it, how many of the waiting messages
//! arrived before it: those have waited at least that long, and their
//! deadlines come first. Bounded: marks spaced so that at most
//! [`ArrivalLog::MARKS`] cover the span.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::observation::Timestamp;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalLog {
    /// Messages estimated to have arrived since the first poll. Fed signed
    /// estimates, so it may dip: a dip reads as fewer arrivals since a
    /// mark, so more of the waiting messages older, which errs long.
    total: f64,
    /// (when, `total` then), oldest first.
    marks: VecDeque<(Timestamp, f64)>,
}

/// Waiting messages that arrived before a moment: they have waited at
/// least `waited`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waited {
    pub waited: Duration,
    pub messages: f64,
}

impl ArrivalLog {
    /// Marks kept over a span.
    pub const MARKS: usize = 64;

    /// Note `arrived` messages since the previous poll, at `now`, keeping
    /// what the last `span` needs. `arrived` is an estimate and may be
    /// negative: clamping each poll's at zero would add its errors up into
    /// arrivals that never happened, and make the oldest messages look
    /// younger the longer a queue drains.
    pub fn record(&mut self, now: Timestamp, arrived: f64, span: Duration) {
        if arrived.is_finite() {
            self.total += arrived;
        }
        let spacing = span / Self::MARKS as u32;
        let due = self
            .marks
            .back()
            .is_none_or(|&(at, _)| now.since(at) >= spacing);
        if due {
            self.marks.push_back((now, self.total));
        }
        // Drop marks older than the span, keeping the one that starts it.
        while self.marks.len() > 1 && now.since(self.marks[1].0) >= span {
            self.marks.pop_front();
        }
        while self.marks.len() > Self::MARKS + 1 {
            self.marks.pop_front();
        }
    }

    /// Of `waiting` messages now, how many arrived before each mark, oldest
    /// first (only marks some of them precede). `error` is how many
    /// messages the arrivals since a mark may be overestimated by: counted
    /// as older, so that ages err long, not short.
    pub fn waited(
        &self,
        now: Timestamp,
        waiting: f64,
        error: f64,
    ) -> impl Iterator<Item = Waited> + '_ {
        self.marks.iter().filter_map(move |&(at, then)| {
            let messages = (waiting + error - (self.total - then)).min(waiting);
            (messages > 0.0).then(|| Waited {
                waited: now.since(at),
                messages,
            })
        })
    }

    /// The arrivals over the last `window` (or over what the log covers, if
    /// less): (messages, over how long), from the oldest mark within it;
    /// `None` before the log holds a mark.
    pub fn over(&self, now: Timestamp, window: Duration) -> Option<(f64, Duration)> {
        self.marks
            .iter()
            .find(|&&(at, _)| now.since(at) <= window)
            .map(|&(at, then)| (self.total - then, now.since(at)))
    }

    /// The most tasks any run of the arrivals since a mark needs to serve,
    /// within `wait`, its first `late_by`: those come due before tasks
    /// launched on seeing the run can start. Runs up to `late_by` long, or
    /// the one since the latest mark if that is longer (its arrivals taken
    /// at their mean rate).
    pub fn surge_need(
        &self,
        now: Timestamp,
        per_task_rate: f64,
        wait: Duration,
        late_by: Duration,
    ) -> f64 {
        let late_by = late_by.as_secs_f64();
        let Some(&(latest, _)) = self.marks.iter().rev().find(|&&(at, _)| at < now) else {
            return 0.0;
        };
        let horizon = now.since(latest).as_secs_f64().max(late_by);
        self.marks
            .iter()
            .filter(|&&(at, _)| at < now && now.since(at).as_secs_f64() <= horizon)
            .map(|&(at, then)| {
                let span = now.since(at).as_secs_f64();
                let due = span.min(late_by);
                let messages = (self.total - then).max(0.0) * due / span;
                messages / (per_task_rate * (due + wait.as_secs_f64()))
            })
            .fold(0.0, f64::max)
    }
}
