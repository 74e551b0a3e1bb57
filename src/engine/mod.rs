//! The decision engine: pure, deterministic, no I/O and no clock.
//!
//! [`decide`] takes a policy, an observation (or why there is none), the
//! policy's [`PolicyState`] and the current time, and returns a [`Decision`]
//! with a structured [`Reason`] plus the next state. The daemon, `plan`,
//! `explain` and `simulate` all call it; none re-implements a rule.
//!
//! - `observation.rs`: what the engine is told ([`Observation`], [`Timestamp`]).
//! - `decision.rs`: what it answers ([`Decision`], [`Action`], [`Because`]).
//! - `state.rs`: what it remembers between evaluations.
//! - `decide.rs`: the rules.
//! - `wait_sizing.rs`: sizing from `target_wait`, `message_cost` and
//!   `task_startup`, and what it learns of the traffic's shape.
//! - `arrivals.rs`: how long the waiting messages have waited, from the
//!   arrivals estimated.
//! - `bursts.rs`: on/off traffic's bursts and idle spells, and the warm
//!   fleet kept between them.
//! - `runs.rs`: runs of arrivals, and what one like the recent ones still
//!   brings, for a standing queue's plan.
//! - `surges.rs`: what the recent rises needed, the fleet kept for them
//!   when tasks launched on seeing one start too late.
//! - `startup.rs`: the service's startup, measured from its scale-outs.

mod arrivals;
mod bursts;
mod decide;
mod decision;
mod observation;
mod runs;
mod startup;
mod state;
mod surges;
mod wait_sizing;

pub use arrivals::{ArrivalLog, Waited};
pub use bursts::BurstMemory;
pub use decide::decide;
pub use decision::{number, optional_number, Action, Because, Decision, Outcome, Reason};
pub use observation::{Observation, QueueDepth, ServiceCounts, Timestamp};
pub use runs::{ArrivalRuns, RunRest};
pub use startup::StartupMeter;
pub use state::PolicyState;
pub use surges::SurgeMemory;
pub use wait_sizing::{
    NextBurst, StartupSource, StillToArrive, TrafficMemory, WaitPlan, WarmFleet,
};

#[cfg(test)]
mod tests;
