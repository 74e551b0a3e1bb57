//! A fixed fleet: `N` tasks (within the bounds), whatever the load. What a
//! team runs when it does not autoscale; its cost to meet a wait is the
//! smallest `N` that meets it.

use std::time::Duration;

use super::super::controller::Poll;
use super::Bounds;
use crate::engine::Action;

/// It re-asserts its count once a minute.
pub const POLL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Fixed {
    pub(super) bounds: Bounds,
    count: u32,
    last: (Action, u32),
}

impl Fixed {
    pub fn new(count: u32, bounds: Bounds) -> Fixed {
        Fixed {
            bounds,
            count,
            last: (Action::Hold, 0),
        }
    }

    pub fn desired(&mut self, poll: &Poll) -> u32 {
        let desired = self.bounds.clamp(self.count);
        self.last = (Action::of_change(poll.desired, desired), desired);
        desired
    }

    pub fn explain(&self) -> (Action, String) {
        (self.last.0, format!("fixed fleet of {}", self.last.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_its_count_within_the_bounds() {
        let bounds = Bounds { min: 2, max: 10 };
        // (N, backlog, current desired) -> desired
        let cases = [
            (5, 0, 1, 5),
            (5, 1_000_000, 5, 5),
            (1, 0, 5, 2),
            (50, 0, 5, 10),
        ];
        for (n, visible, desired, want) in cases {
            let mut fixed = Fixed::new(n, bounds);
            let poll = Poll {
                visible,
                desired,
                running: desired,
                ..Poll::default()
            };
            assert_eq!(fixed.desired(&poll), want, "N {n} visible {visible}");
        }
    }
}
