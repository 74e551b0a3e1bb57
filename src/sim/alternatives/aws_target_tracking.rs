//! AWS Application Auto Scaling target tracking on a custom
//! `BacklogPerTask` metric, the setup AWS documents for SQS workers; the
//! knob is the target T.
//!
//! Every 60 s a datapoint `ceil(visible / max(running, 1))`. The high alarm
//! fires when the last 3 datapoints are all above T, the low alarm when the
//! last 15 are all below 0.9 T. Either proposes
//! `ceil(max(running, 1) * m / T)` within the bounds. Scale-out waits out a
//! 300 s cooldown after the previous scale-out unless it goes beyond that
//! one's target; scale-in waits 300 s after any scaling activity. Cooldowns
//! are half-open: an action at `t - 300` no longer blocks at `t`.

use std::collections::VecDeque;
use std::time::Duration;

use super::super::controller::Poll;
use super::Bounds;
use crate::engine::Action;

pub const POLL: Duration = Duration::from_secs(60);
const HIGH_POINTS: usize = 3;
const LOW_POINTS: usize = 15;
const LOW_FRACTION: f64 = 0.9;
const COOLDOWN: u64 = 300_000_000_000;

#[derive(Debug, Clone)]
pub struct AwsTargetTracking {
    pub(super) bounds: Bounds,
    target: f64,
    /// The last [`LOW_POINTS`] datapoints, oldest first.
    points: VecDeque<u64>,
    /// The last scale-out: when, and to what capacity.
    last_out: Option<(u64, u32)>,
    last_in: Option<u64>,
    last: (Action, &'static str, u64, u32),
}

impl AwsTargetTracking {
    pub fn new(target: f64, bounds: Bounds) -> AwsTargetTracking {
        AwsTargetTracking {
            bounds,
            target,
            points: VecDeque::with_capacity(LOW_POINTS),
            last_out: None,
            last_in: None,
            last: (Action::Hold, "", 0, 0),
        }
    }

    pub fn desired(&mut self, poll: &Poll, now: u64) -> u32 {
        let running = u64::from(poll.running.max(1));
        let point = poll.visible.div_ceil(running);
        if self.points.len() == LOW_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(point);
        let (desired, why) = self.decide(poll.desired, running, point, now);
        self.last = (
            Action::of_change(poll.desired, desired),
            why,
            point,
            desired,
        );
        desired
    }

    fn decide(&mut self, current: u32, running: u64, point: u64, now: u64) -> (u32, &'static str) {
        let recent = |count: usize| self.points.iter().rev().take(count);
        let high = self.points.len() >= HIGH_POINTS
            && recent(HIGH_POINTS).all(|&m| m as f64 > self.target);
        let low = self.points.len() >= LOW_POINTS
            && recent(LOW_POINTS).all(|&m| (m as f64) < LOW_FRACTION * self.target);
        let proposed = ((running * point) as f64 / self.target).ceil();
        let proposed = if proposed >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            proposed as u32
        };
        let new = self.bounds.clamp(proposed);
        let within = |at: u64| now < at + COOLDOWN;
        if high && new > current {
            match self.last_out {
                Some((at, target)) if within(at) && new <= target => {
                    return (current, "high alarm, in scale-out cooldown")
                }
                _ => {
                    self.last_out = Some((now, new));
                    return (new, "high alarm: scale out");
                }
            }
        }
        if low && new < current {
            let out_recently = self.last_out.is_some_and(|(at, _)| within(at));
            let in_recently = self.last_in.is_some_and(within);
            if out_recently || in_recently {
                return (current, "low alarm, in cooldown");
            }
            self.last_in = Some(now);
            return (new, "low alarm: scale in");
        }
        (current, "no alarm")
    }

    pub fn explain(&self) -> (Action, String) {
        let (action, why, point, desired) = self.last;
        (
            action,
            format!("backlog per task {point}: {why} -> {desired}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn tt(target: f64) -> AwsTargetTracking {
        AwsTargetTracking::new(target, Bounds { min: 1, max: 300 })
    }

    /// Polls `(seconds, visible)` with every task RUNNING at once (as if
    /// startup were instant); returns the desired count after each.
    fn run(c: &mut AwsTargetTracking, start: u32, polls: &[(u64, u64)]) -> Vec<u32> {
        let mut desired = start;
        polls
            .iter()
            .map(|&(t, visible)| {
                let poll = Poll {
                    visible,
                    in_flight: 0,
                    desired,
                    running: desired,
                    pending: 0,
                };
                desired = c.desired(&poll, t * S);
                desired
            })
            .collect()
    }

    #[test]
    fn high_alarm_needs_three_of_three() {
        // T 10, one task: backlog 20 three minutes running -> 2 tasks.
        let got = run(&mut tt(10.0), 1, &[(0, 20), (60, 20), (120, 20)]);
        assert_eq!(got, vec![1, 1, 2]);
        // One datapoint at T (not above) breaks the run of three.
        let got = run(&mut tt(10.0), 1, &[(0, 20), (60, 10), (120, 20), (180, 20)]);
        assert_eq!(got, vec![1, 1, 1, 1]);
        // The datapoint is per RUNNING task, rounded up: 11 over 1 task.
        let got = run(&mut tt(10.0), 1, &[(0, 11), (60, 11), (120, 11)]);
        assert_eq!(got, vec![1, 1, 2]);
    }

    #[test]
    fn scale_out_cooldown_lets_only_a_larger_target_through() {
        let mut c = tt(10.0);
        // Tasks still starting: one RUNNING whatever the desired count.
        let poll = |visible, desired| Poll {
            visible,
            in_flight: 0,
            desired,
            running: 1,
            pending: desired - 1,
        };
        assert_eq!(c.desired(&poll(80, 1), 0), 1);
        assert_eq!(c.desired(&poll(80, 1), 60 * S), 1);
        assert_eq!(c.desired(&poll(80, 1), 120 * S), 8);
        // Still high, proposing 7 > 5 but not above that scale-out's 8,
        // within 300 s: held.
        assert_eq!(c.desired(&poll(70, 5), 180 * S), 5);
        // Proposing 9 > 8 goes through within the cooldown.
        assert_eq!(c.desired(&poll(90, 5), 240 * S), 9);
        // 300 s after that scale-out (at 240 s) the cooldown is over: a
        // proposal of 5 at desired 4 is held at 539 s, goes through at 540.
        let mut early = c.clone();
        assert_eq!(early.desired(&poll(50, 4), 539 * S), 4);
        assert_eq!(c.desired(&poll(50, 4), 540 * S), 5);
    }

    #[test]
    fn low_alarm_needs_fifteen_of_fifteen_and_a_scale_in_cooldown() {
        // 20 tasks, T 10, backlog 100 -> m 5 < 9: the low alarm fires on
        // the 15th datapoint (t = 840 s) and proposes ceil(20*5/10) = 10.
        let polls: Vec<(u64, u64)> = (0..15).map(|k| (60 * k, 100)).collect();
        let got = run(&mut tt(10.0), 20, &polls);
        assert_eq!(got[13], 20);
        assert_eq!(got[14], 10);
        // A datapoint of exactly 0.9 T (9) is not below it: no alarm.
        let mut polls: Vec<(u64, u64)> = (0..15).map(|k| (60 * k, 100)).collect();
        polls[7].1 = 180; // m 9 at 20 tasks
        assert_eq!(*run(&mut tt(10.0), 20, &polls).last().unwrap(), 20);
        // After the scale-in at 840 s, 10 tasks with backlog 20 (m 2)
        // propose 2: held until 1140 s, 300 s later.
        let mut polls: Vec<(u64, u64)> = (0..15).map(|k| (60 * k, 100)).collect();
        polls.extend([(900, 20), (960, 20), (1020, 20), (1080, 20), (1140, 20)]);
        let got = run(&mut tt(10.0), 20, &polls);
        assert_eq!(&got[14..], &[10, 10, 10, 10, 10, 2]);
    }

    #[test]
    fn low_alarm_waits_300_s_after_a_scale_out() {
        // With 60 s datapoints a scale-out and a low alarm cannot fall
        // within 300 s of each other, so set the scale-out directly.
        let low = |last_out_at: u64| {
            let mut c = tt(10.0);
            let polls: Vec<(u64, u64)> = (0..14).map(|k| (60 * k, 0)).collect();
            run(&mut c, 5, &polls);
            c.last_out = Some((last_out_at * S, 5));
            let poll = Poll {
                visible: 0,
                in_flight: 0,
                desired: 5,
                running: 5,
                pending: 0,
            };
            c.desired(&poll, 840 * S)
        };
        assert_eq!(low(541), 5);
        assert_eq!(low(540), 1);
    }
}
