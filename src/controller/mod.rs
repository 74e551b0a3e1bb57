//! The live controller: every policy evaluated on its own `poll_interval`,
//! with jitter, under bounded concurrency.
//!
//! - `supervisor.rs`: [`Controller::run`], one worker per policy, reloads,
//!   shutdown.
//! - `worker.rs`: a policy's loop: wait, evaluate, log, report.
//! - `evaluate.rs`: one evaluation as a plain value ([`Evaluation`]):
//!   observe, decide with the engine, write (or shadow, in dry-run).
//! - `observe.rs`: reading a policy's queues and service through the ports.
//! - `schedule.rs`: jitter and the error backoff, as plain functions.
//! - `health.rs`: logging a failure's cause once per change.
//! - `metrics_buffer.rs`: batching metric samples for the publisher.
//! - `reload.rs`: SIGHUP and file changes to policy updates.
//! - `observer.rs`: a hook for endpoints and metrics to see evaluations.
//! - `clock.rs`: engine time from tokio's clock.
//! - `write_gate.rs`: the lease check right before each `UpdateService`.

mod clock;
mod evaluate;
mod health;
mod metrics_buffer;
mod observe;
mod observer;
mod reload;
mod schedule;
mod supervisor;
mod worker;
mod write_gate;

#[cfg(test)]
mod tests;

pub use clock::Clock;
pub use evaluate::{evaluate, Deadlines, Evaluation, ExternalChange, Memory, WriteOutcome};
pub use health::{Health, Transition};
pub use observe::observe;
pub use observer::{NoObserver, Observer, HEARTBEAT_INTERVAL};
pub use reload::{spawn_fixed_policies, spawn_reloader};
pub use schedule::{error_backoff, first_delay, jittered, DEFAULT_JITTER, MAX_BACKOFF_INTERVALS};
pub use supervisor::{Controller, ControllerConfig, PolicyUpdate};
