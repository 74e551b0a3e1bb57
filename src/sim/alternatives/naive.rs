//! The naive rule: every 15 s, `ceil((visible + in_flight) / T)` tasks,
//! with no damping at all. No product ships it; it is the yardstick of what
//! reacting instantly to the backlog costs.

use std::time::Duration;

use super::super::controller::Poll;
use super::{ceil_div, Bounds};
use crate::engine::Action;

pub const POLL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct Naive {
    pub(super) bounds: Bounds,
    target: f64,
    last: (Action, u64, u32),
}

impl Naive {
    pub fn new(target: f64, bounds: Bounds) -> Naive {
        Naive {
            bounds,
            target,
            last: (Action::Hold, 0, 0),
        }
    }

    pub fn desired(&mut self, poll: &Poll) -> u32 {
        let backlog = poll.visible + poll.in_flight;
        let desired = self.bounds.clamp(ceil_div(backlog, self.target));
        self.last = (Action::of_change(poll.desired, desired), backlog, desired);
        desired
    }

    pub fn explain(&self) -> (Action, String) {
        let (action, backlog, desired) = self.last;
        (
            action,
            format!("backlog {backlog} / {} per task -> {desired}", self.target),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_backlog_undamped() {
        let bounds = Bounds { min: 1, max: 300 };
        // (T, visible, in_flight, current) -> desired
        let cases = [
            (10.0, 0, 0, 5, 1),       // floor at min
            (10.0, 100, 0, 1, 10),    // exact
            (10.0, 100, 1, 1, 11),    // in flight counts, rounds up
            (10.0, 95, 0, 10, 10),    // no tolerance band: 9.5 -> 10
            (10.0, 81, 0, 10, 9),     // down at once, no window
            (2.5, 10, 0, 1, 4),       // fractional T
            (1.0, 10_000, 0, 1, 300), // ceiling at max
        ];
        for (t, visible, in_flight, current, want) in cases {
            let mut naive = Naive::new(t, bounds);
            let poll = Poll {
                visible,
                in_flight,
                desired: current,
                running: current,
                pending: 0,
            };
            assert_eq!(naive.desired(&poll), want, "T {t} {visible}+{in_flight}");
        }
    }
}
