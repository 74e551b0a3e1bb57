//! Measuring `task_startup` from the service itself: the time from a
//! scale-out the engine made until the service's running count reached it.
//!
//! The engine sees the service only at its polls, so a scale-out that
//! completed between two polls is counted at the midpoint of the two (the
//! error is at most half a poll interval). A robust statistic, the median of
//! the last [`StartupMeter::KEPT`] measurements, ignores the odd scale-out
//! slowed by a failed task or a capacity shortage.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::observation::Timestamp;
use super::state::push_bounded;

/// Scale-outs still starting, and the last measurements. Bounded: at most
/// [`StartupMeter::OPEN`] open scale-outs and [`StartupMeter::KEPT`]
/// measurements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartupMeter {
    /// Scale-outs not yet running: (when made, the count to reach).
    open: VecDeque<(Timestamp, u32)>,
    /// The last measured startups, oldest first.
    measured: VecDeque<Duration>,
    /// The previous poll, the earliest a scale-out seen complete now could
    /// have completed.
    previous_poll: Option<Timestamp>,
}

impl StartupMeter {
    /// Measurements kept for the median.
    pub const KEPT: usize = 9;
    /// Scale-outs followed at once; the oldest is given up beyond this.
    pub const OPEN: usize = 8;
    /// A scale-out not running after this long is given up: the service is
    /// failing to start tasks, not starting slowly.
    pub const GIVE_UP: Duration = Duration::from_secs(3600);

    /// Read one poll: close the scale-outs that `running` has reached, and
    /// give up those the service went below (scaled in since) or that are
    /// older than [`Self::GIVE_UP`].
    pub fn observe(&mut self, now: Timestamp, desired: u32, running: u32) {
        let since = self.previous_poll.unwrap_or(now);
        let open = std::mem::take(&mut self.open);
        for (made, target) in open {
            if running >= target {
                let reached = Timestamp(since.0 + now.0.saturating_sub(since.0) / 2);
                self.record(reached.since(made));
            } else if desired >= target && now.since(made) < Self::GIVE_UP {
                self.open.push_back((made, target));
            }
        }
        self.previous_poll = Some(now);
    }

    /// A scale-out to `to` tasks was decided at `now` (and will be applied).
    pub fn scaled_out(&mut self, now: Timestamp, to: u32) {
        push_bounded(&mut self.open, (now, to), Self::OPEN);
    }

    fn record(&mut self, startup: Duration) {
        push_bounded(&mut self.measured, startup, Self::KEPT);
    }

    /// The median of the last measurements; `None` before the first.
    pub fn estimate(&self) -> Option<Duration> {
        if self.measured.is_empty() {
            return None;
        }
        let mut sorted: Vec<Duration> = self.measured.iter().copied().collect();
        sorted.sort_unstable();
        let middle = sorted.len() / 2;
        Some(if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            sorted[middle - 1] + (sorted[middle] - sorted[middle - 1]) / 2
        })
    }

    /// How many measurements the estimate rests on.
    pub fn measurements(&self) -> usize {
        self.measured.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    #[test]
    fn a_scale_out_is_measured_at_the_midpoint_of_the_polls_around_it() {
        let mut meter = StartupMeter::default();
        meter.observe(at(0), 2, 2);
        meter.scaled_out(at(0), 5);
        meter.observe(at(15), 5, 2);
        meter.observe(at(30), 5, 2);
        meter.observe(at(45), 5, 3);
        assert_eq!(meter.estimate(), None, "3 of 5 running is not done");
        meter.observe(at(60), 5, 5);
        assert_eq!(meter.estimate(), Some(Duration::from_millis(52_500)));
        assert_eq!(meter.measurements(), 1);
    }

    #[test]
    fn the_median_ignores_one_slow_start() {
        let mut meter = StartupMeter::default();
        let mut now = 0;
        for startup in [60, 62, 58, 600, 61] {
            meter.observe(at(now), 1, 1);
            meter.scaled_out(at(now), 2);
            meter.observe(at(now + startup - 1), 2, 1);
            meter.observe(at(now + startup + 1), 2, 2);
            meter.observe(at(now + startup + 2), 1, 1);
            now += 1000;
        }
        assert_eq!(meter.estimate(), Some(Duration::from_secs(61)));
    }

    #[test]
    fn a_scale_out_undone_before_it_ran_is_not_measured() {
        let mut meter = StartupMeter::default();
        meter.observe(at(0), 1, 1);
        meter.scaled_out(at(0), 4);
        meter.observe(at(15), 2, 1);
        meter.observe(at(30), 4, 4);
        assert_eq!(meter.estimate(), None);
    }

    #[test]
    fn a_scale_out_that_never_runs_is_given_up_after_an_hour() {
        let mut meter = StartupMeter::default();
        meter.observe(at(0), 1, 1);
        meter.scaled_out(at(0), 4);
        meter.observe(at(3600), 4, 1);
        meter.observe(at(3615), 4, 4);
        assert_eq!(meter.estimate(), None);
    }

    #[test]
    fn memory_is_bounded() {
        let mut meter = StartupMeter::default();
        for i in 0..100 {
            meter.scaled_out(at(i), 1000 + i as u32);
            meter.observe(at(i), 2000, 2000);
        }
        assert!(meter.measured.len() <= StartupMeter::KEPT);
        for i in 0..100 {
            meter.scaled_out(at(i), 1000 + i as u32);
        }
        assert!(meter.open.len() <= StartupMeter::OPEN);
    }
}
