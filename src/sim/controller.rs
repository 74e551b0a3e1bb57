//! What the simulator's loop polls: a [`Controller`] sees the world at its
//! poll times and says what desired count it wants.
//!
//! Our engine is one controller ([`EngineController`], an adapter over
//! [`engine::decide`]); the alternatives of `super::alternatives` are
//! others. All run through the same loop and model, so their figures are
//! comparable, but the alternatives never go through `engine/`.

use std::time::Duration;

use crate::engine::{
    self, Action, Observation, PolicyState, QueueDepth, Reason, ServiceCounts, Timestamp,
};
use crate::policy::Policy;

/// The model's observation at a poll (exact, no lag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Poll {
    /// Messages waiting.
    pub visible: u64,
    /// Messages in service.
    pub in_flight: u64,
    /// The service's desired count.
    pub desired: u32,
    /// RUNNING tasks.
    pub running: u32,
    /// PENDING tasks.
    pub pending: u32,
}

/// A controller the simulator can poll. A fresh clone runs each pass, so
/// its state starts over.
pub trait Controller: Clone + Send + Sync {
    /// Time between polls; polls happen at `0, P, 2P, ...`.
    fn poll_interval(&self) -> Duration;
    /// Tasks RUNNING at time 0 unless the run says otherwise.
    fn initial_tasks(&self) -> u32;
    /// The desired count wanted at `now` (nanoseconds since the trace
    /// start); the loop applies it only when it differs from `poll.desired`.
    fn desired(&mut self, poll: &Poll, now: u64) -> u32;
    /// Why the last [`Controller::desired`] answered as it did, for the
    /// timeline; asked only when a timeline is recorded.
    fn explain(&self) -> (Action, String);
}

/// Our engine as a [`Controller`]: the daemon's own `decide`, state and all.
#[derive(Debug, Clone)]
pub struct EngineController<'a> {
    policy: &'a Policy,
    state: PolicyState,
    /// The last decision's action and reason, formatted only if asked: a
    /// sweep records no timeline and polls millions of times.
    last: Option<(Action, Reason)>,
}

impl<'a> EngineController<'a> {
    pub fn new(policy: &'a Policy) -> Self {
        EngineController {
            policy,
            state: PolicyState::default(),
            last: None,
        }
    }
}

impl Controller for EngineController<'_> {
    fn poll_interval(&self) -> Duration {
        self.policy.poll_interval
    }

    fn initial_tasks(&self) -> u32 {
        self.policy.min_tasks
    }

    fn desired(&mut self, poll: &Poll, now: u64) -> u32 {
        // Queues of the policy beyond the first see no traffic.
        let mut queues = vec![QueueDepth::default(); self.policy.queues.len().max(1)];
        queues[0] = QueueDepth {
            visible: poll.visible,
            in_flight: poll.in_flight,
            delayed: 0,
        };
        let observation = Observation {
            queues,
            service: ServiceCounts {
                desired: poll.desired,
                running: poll.running,
                pending: poll.pending,
                deployment_in_progress: false,
            },
        };
        let (decision, state) = engine::decide(
            self.policy,
            Ok(&observation),
            &self.state,
            Timestamp::from_nanos(now),
        );
        self.state = state;
        let desired = decision.change().unwrap_or(poll.desired);
        self.last = Some((decision.action(), decision.reason));
        desired
    }

    fn explain(&self) -> (Action, String) {
        self.last
            .as_ref()
            .map_or((Action::Hold, String::new()), |(action, reason)| {
                (*action, reason.to_string())
            })
    }
}
