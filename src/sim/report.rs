//! What a simulation reports: the summary the CLI prints and writes as JSON.

use serde::Serialize;

/// The contract's figures for one run. Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Messages that arrived.
    pub messages: u64,
    /// Messages whose service started before the end of the trace.
    pub served: u64,
    pub wait_p50_s: f64,
    pub wait_p90_s: f64,
    pub wait_p99_s: f64,
    pub wait_max_s: f64,
    /// Task time from launch to end (or the end of the trace).
    pub task_seconds: f64,
    /// `messages * S / c`: the least task time that could serve the load.
    pub work_seconds: f64,
    /// `task_seconds / work_seconds`; `null` when nothing arrived. Only
    /// comparable between runs that serve every message: work left unserved
    /// costs no task time, so a run that leaves more of it looks cheaper
    /// (and can go below 1). Read it with `unserved_share`.
    pub cost_ratio: Option<f64>,
    /// `(messages - served) / messages`: the share of the messages whose
    /// service had not started when the trace ended; `null` when nothing
    /// arrived.
    pub unserved_share: Option<f64>,
    /// How many times the desired count changed.
    pub scale_actions: u64,
    /// Most messages waiting at any instant.
    pub max_visible: u64,
    /// Most PENDING + RUNNING + STOPPING tasks alive at once.
    pub peak_tasks: u32,
    /// `task_seconds / T_end`.
    pub mean_tasks: f64,
    /// p99 wait at most the wait target.
    pub meets_wait_target: bool,
}

/// Of runs judged by `verdict` (meets the wait target, task-seconds), the
/// cheapest that meets the target; the first such on a tie. Sweeps and
/// comparisons both pick their winner with it.
pub fn cheapest_meeting<T>(runs: &[T], verdict: impl Fn(&T) -> (bool, f64)) -> Option<&T> {
    runs.iter()
        .filter(|run| verdict(run).0)
        .min_by(|a, b| verdict(a).1.total_cmp(&verdict(b).1))
}

/// Nanoseconds as float seconds.
pub fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}
