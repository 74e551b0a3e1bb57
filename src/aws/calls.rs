//! Counts of AWS API calls by operation and outcome.
//!
//! The adapters record every call here, so tests can check call budgets
//! (one `GetQueueAttributes` per queue per evaluation, batched
//! `DescribeServices`) and a metrics endpoint can export them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::ports::ErrorKind;

/// How one call ended: `"ok"` or an [`ErrorKind`] label.
pub type Outcome = &'static str;

/// Call counters shared by every adapter of one client set.
#[derive(Debug, Default)]
pub struct ApiCalls {
    counts: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
}

impl ApiCalls {
    pub fn new() -> ApiCalls {
        ApiCalls::default()
    }

    /// Record one call of `operation` that succeeded or failed with `error`.
    pub fn record(&self, operation: &'static str, error: Option<ErrorKind>) {
        let outcome = error.map(|kind| kind.as_str()).unwrap_or("ok");
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((operation, outcome)).or_default() += 1;
    }

    /// Every (operation, outcome) seen so far with its count.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, Outcome), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Calls of `operation`, whatever their outcome.
    pub fn total(&self, operation: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((op, _), _)| *op == operation)
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_outcome() {
        let calls = ApiCalls::new();
        calls.record("UpdateService", None);
        calls.record("UpdateService", Some(ErrorKind::Throttled));
        calls.record("UpdateService", None);
        assert_eq!(calls.total("UpdateService"), 3);
        assert_eq!(calls.snapshot()[&("UpdateService", "ok")], 2);
        assert_eq!(calls.snapshot()[&("UpdateService", "throttled")], 1);
        assert_eq!(calls.total("DescribeServices"), 0);
    }
}
