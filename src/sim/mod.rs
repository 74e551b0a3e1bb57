//! The simulator: replays an arrival trace through a policy, with the same
//! [`crate::engine::decide`] the daemon runs, and reports what it would have
//! cost and how long messages would have waited.
//!
//! The model is `docs/simulation.md` (the team's contract, version 1).
//!
//! - `trace.rs`: reading `t_seconds,arrivals` files, errors with file:line.
//! - `arrivals.rs`: spreading a bucket's arrivals over its seconds.
//! - `queue.rs`: the FIFO, as groups of messages that arrived together.
//! - `fleet.rs`: tasks and slots: startup, serving, stop order, billing.
//! - `idle.rs`: idle slots in the order they take messages.
//! - `run.rs`: the event loop and the controller.
//! - `waits.rs`: exact nearest-rank wait percentiles in bounded memory.
//! - `report.rs`: the summary; `timeline.rs`: one row per poll.
//! - `controller.rs`: what the loop polls; our engine through an adapter.
//! - `alternatives/`: the fixed fleet, naive, KEDA + HPA and AWS scope
//!   tracking, as controllers apart from the engine.
//! - `sweep.rs`: one run per value of a policy key, on every core.
//! - `compare.rs`: our policy against each alternative tuned in hindsight.
//! - `pool.rs`: the worker pool sweeps and comparisons run on.
//! - `chart.rs`: the SVG chart of a run.
//! - `config.rs`: the world's settings.

pub mod alternatives;
mod arrivals;
pub mod chart;
pub mod compare;
mod config;
pub mod controller;
mod fleet;
mod idle;
pub mod pool;
mod queue;
mod report;
mod run;
pub mod sweep;
mod timeline;
mod trace;
mod waits;

pub use config::{ConfigError, SimConfig};
pub use report::Summary;
pub use run::{screen_with, simulate, simulate_with, Screen, SimResult};
pub use timeline::{write_csv as write_timeline_csv, TimelineRow};
pub use trace::{Bucket, Trace, TraceError};

#[cfg(test)]
mod tests;
