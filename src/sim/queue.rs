//! The FIFO queue, kept as groups of messages that arrived at the same
//! instant: taking `n` messages is one step per group touched, not one per
//! message.

use std::collections::VecDeque;

use super::waits::WaitSink;

/// Waiting messages, oldest first, as `(arrival time in ns, count)` groups.
#[derive(Debug, Default)]
pub struct Fifo {
    groups: VecDeque<(u64, u64)>,
    len: u64,
}

impl Fifo {
    /// Messages waiting.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When the oldest waiting message arrived.
    pub fn oldest(&self) -> Option<u64> {
        self.groups.front().map(|&(arrival, _)| arrival)
    }

    /// `count` messages join the back of the queue at `time`.
    pub fn push(&mut self, time: u64, count: u64) {
        if count == 0 {
            return;
        }
        match self.groups.back_mut() {
            Some((arrival, waiting)) if *arrival == time => *waiting += count,
            _ => self.groups.push_back((time, count)),
        }
        self.len += count;
    }

    /// Up to `n` of the oldest messages start service at `start`; their waits
    /// go to `waits`. Returns how many were taken.
    #[inline]
    pub fn take(&mut self, n: u64, start: u64, waits: &mut impl WaitSink) -> u64 {
        let mut taken = 0;
        while taken < n {
            let Some(front) = self.groups.front_mut() else {
                break;
            };
            let now = (n - taken).min(front.1);
            waits.record(start - front.0, now);
            front.1 -= now;
            taken += now;
            if front.1 == 0 {
                self.groups.pop_front();
            }
        }
        self.len -= taken;
        taken
    }

    /// Everything still waiting at `end`, counted with wait `end - arrival`.
    pub fn drain_unserved(&mut self, end: u64, waits: &mut impl WaitSink) {
        for (arrival, count) in self.groups.drain(..) {
            waits.record(end - arrival, count);
        }
        self.len = 0;
    }
}
