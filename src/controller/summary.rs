//! The periodic one-line summary that replaces a log line per policy per
//! poll: at the default level the controller logs actions, changes of state
//! and, every [`SUMMARY_INTERVAL`], how many evaluations, changes and
//! failures there were. Holds that repeat are logged at DEBUG.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::evaluate::{Evaluation, WriteOutcome};
use crate::plural::plural;

/// How often the summary line is logged.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// What every group did since the last summary line. Groups add to it;
/// the supervisor takes and resets it.
#[derive(Debug, Default)]
pub(crate) struct ActivityCounter {
    evaluations: AtomicU64,
    changes: AtomicU64,
    failures: AtomicU64,
}

/// One interval's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SummaryCounts {
    pub evaluations: u64,
    /// Desired counts set (or, in dry-run, that would have been).
    pub changes: u64,
    /// Evaluations that failed to observe or to write.
    pub failures: u64,
}

impl ActivityCounter {
    pub fn record(&self, evaluation: &Evaluation) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        if matches!(
            evaluation.write,
            WriteOutcome::Applied { .. } | WriteOutcome::DryRun { .. }
        ) {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        if evaluation.error().is_some() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far, starting a new interval.
    pub fn take(&self) -> SummaryCounts {
        SummaryCounts {
            evaluations: self.evaluations.swap(0, Ordering::Relaxed),
            changes: self.changes.swap(0, Ordering::Relaxed),
            failures: self.failures.swap(0, Ordering::Relaxed),
        }
    }
}

/// Log one interval's summary line for `policies` running policies.
pub(crate) fn log_summary(policies: usize, counts: SummaryCounts) {
    tracing::info!(
        policies,
        evaluations = counts.evaluations,
        changes = counts.changes,
        failures = counts.failures,
        "summary of the last {}: {} running, {}, {}, {}",
        humantime::format_duration(SUMMARY_INTERVAL),
        plural(policies as u64, "policy", "policies"),
        plural(counts.evaluations, "evaluation", "evaluations"),
        plural(counts.changes, "change", "changes"),
        plural(counts.failures, "failure", "failures"),
    );
}
