//! The live controller: every policy evaluated every `poll_interval`, in
//! evaluation cycles shared with the policies of the same interval and AWS
//! target, under bounded concurrency.
//!
//! - `supervisor.rs`: [`Controller::run`], one worker per policy, reloads,
//!   shutdown, the shard's policies only.
//! - `worker.rs`: a policy's loop: wait for its tick, evaluate, log, report.
//! - `groups.rs`: policies that tick together, and each tick's cycle.
//! - `cycle.rs`: a cycle's shared reads ([`SharedReads`]): one read per
//!   distinct queue, services described ten at a time per cluster.
//! - `shard.rs`: `--shard I/N`, the stable hash of policy names.
//! - `evaluate.rs`: one evaluation as a plain value ([`Evaluation`]):
//!   observe, decide with the engine, write (or shadow, in dry-run).
//! - `observe.rs`: reading a policy's queues and service through the ports.
//! - `schedule.rs`: the tick grid and the error backoff, as plain functions.
//! - `health.rs`: logging a failure's cause once per change.
//! - `summary.rs`: the periodic summary line (repeated holds are DEBUG).
//! - `metrics_buffer.rs`: batching metric samples for the publisher.
//! - `reload.rs`: SIGHUP and file changes to policy updates.
//! - `observer.rs`: a hook for endpoints and metrics to see evaluations
//!   and each policy's measured task startup.
//! - `clock.rs`: engine time from tokio's clock.
//! - `write_gate.rs`: the lease check right before each `UpdateService`.

mod clock;
mod cycle;
mod evaluate;
mod groups;
mod health;
mod metrics_buffer;
mod observe;
mod observer;
mod reload;
mod schedule;
mod shard;
mod summary;
mod supervisor;
mod worker;
mod write_gate;

#[cfg(test)]
mod tests;

pub use clock::Clock;
pub use cycle::{CycleReport, SharedReads};
pub use evaluate::{evaluate, Deadlines, Evaluation, ExternalChange, Memory, WriteOutcome};
pub use health::{Health, Transition};
pub use observe::observe;
pub use observer::{MeasuredStartup, NoObserver, Observer, HEARTBEAT_INTERVAL};
pub use reload::{spawn_fixed_policies, spawn_reloader};
pub use schedule::{
    error_backoff_ticks, group_phase, next_tick, tick_at_or_after, tick_time, DEFAULT_PHASE_SPREAD,
    MAX_BACKOFF_INTERVALS,
};
pub use shard::{shard_of, Shard, ShardError};
pub use summary::SUMMARY_INTERVAL;
pub use supervisor::{Controller, ControllerConfig, PolicyUpdate};
