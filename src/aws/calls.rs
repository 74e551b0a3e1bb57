//! Counts of AWS API calls by operation and outcome.
//!
//! The adapters record every call here, so tests can check call budgets
//! (one `GetQueueAttributes` per queue per evaluation, batched
//! `DescribeServices`), and a listener (the Prometheus metrics) hears of
//! each call as it ends.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::ports::ErrorKind;

/// How one call ended: `"ok"` or an [`ErrorKind`] label.
pub type Outcome = &'static str;

/// Told of every call: its operation and, if it failed, how.
pub type CallListener = Arc<dyn Fn(&'static str, Option<ErrorKind>) + Send + Sync>;

/// Call counters shared by every adapter of one client set.
#[derive(Default)]
pub struct ApiCalls {
    counts: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    listener: Option<CallListener>,
}

impl fmt::Debug for ApiCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCalls")
            .field("counts", &self.snapshot())
            .finish_non_exhaustive()
    }
}

impl ApiCalls {
    pub fn new() -> ApiCalls {
        ApiCalls::default()
    }

    /// Counters that also tell `listener` of every call.
    pub fn with_listener(listener: CallListener) -> ApiCalls {
        ApiCalls {
            counts: Mutex::default(),
            listener: Some(listener),
        }
    }

    /// Record one call of `operation` that succeeded or failed with `error`.
    pub fn record(&self, operation: &'static str, error: Option<ErrorKind>) {
        let outcome = error.map(|kind| kind.as_str()).unwrap_or("ok");
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry((operation, outcome)).or_default() += 1;
        }
        if let Some(listener) = &self.listener {
            listener(operation, error);
        }
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

    #[test]
    fn the_listener_hears_every_call() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        let calls = ApiCalls::with_listener(Arc::new(move |operation, error| {
            sink.lock().unwrap().push((operation, error));
        }));
        calls.record("GetQueueAttributes", None);
        calls.record("UpdateService", Some(ErrorKind::AccessDenied));
        assert_eq!(
            *heard.lock().unwrap(),
            [
                ("GetQueueAttributes", None),
                ("UpdateService", Some(ErrorKind::AccessDenied))
            ]
        );
    }
}
