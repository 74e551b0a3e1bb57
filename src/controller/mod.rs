//! The live controller: every policy evaluated every `poll_interval`, in
//! evaluation cycles shared with the policies of the same interval and AWS
//! scope, under bounded concurrency.
//!
//! - `supervisor.rs`: [`Controller::run`], a task per evaluation group,
//!   reloads as a diff per group, shutdown, the shard's policies only.
//! - `groups.rs`: one group's task (policies of one interval and AWS scope):
//!   its members' memory, failure streak and next due tick; each tick's
//!   cycle of evaluations, skipping a policy whose last one still runs.
//! - `shared_reads.rs`: a cycle's shared reads ([`SharedReads`]): one read
//!   per distinct queue, services described ten at a time per cluster.
//! - `evaluate.rs`: one evaluation as a plain value ([`Evaluation`]):
//!   observe through the ports, decide with the engine, write (or shadow,
//!   in dry-run).
//! - `schedule.rs`: the tick grid and the error backoff, as plain functions.
//! - `failure_streak.rs`: a policy's run of failures: its cause, logged
//!   once per change, and its length, for the backoff.
//! - `decision_log.rs`: the lines an evaluation logs.
//! - `summary.rs`: the periodic summary line (repeated holds are DEBUG).
//! - `metrics_buffer.rs`: batching metric samples for the publisher.
//! - `reload.rs`: SIGHUP and file changes to policy updates.
//! - `observer.rs`: the [`Observer`] hook for endpoints and metrics to see
//!   evaluations, cycles and each policy's measured task startup.
//! - `shard.rs`: `--shard I/N`, the stable hash of policy names.
//! - `clock.rs`: engine time from tokio's clock.
//! - `gated_writer.rs`: the desired-count writer behind the lease's
//!   [`WriteGate`](crate::lease::WriteGate), checked right before each
//!   `UpdateService`.

mod clock;
mod decision_log;
mod evaluate;
mod failure_streak;
mod gated_writer;
mod groups;
mod metrics_buffer;
mod observer;
mod reload;
mod schedule;
mod shard;
mod shared_reads;
mod summary;
mod supervisor;

#[cfg(test)]
mod tests;

pub use clock::Clock;
pub use evaluate::{
    evaluate, observe, Deadlines, EngineStates, Evaluation, ExternalChange, PolicyRecord,
    WriteOutcome,
};
pub use failure_streak::{FailureStreak, Transition};
pub use groups::CycleReport;
pub use observer::{MeasuredStartup, NoObserver, Observer, HEARTBEAT_INTERVAL};
pub use reload::{spawn_fixed_policies, spawn_reloader};
pub use schedule::{
    error_backoff_ticks, group_phase, next_tick, tick_at_or_after, tick_time, DEFAULT_PHASE_SPREAD,
    MAX_BACKOFF_INTERVALS,
};
pub use shard::{shard_of, Shard, ShardError};
pub use shared_reads::SharedReads;
pub use summary::SUMMARY_INTERVAL;
pub use supervisor::{Controller, ControllerConfig, PolicyUpdate};
