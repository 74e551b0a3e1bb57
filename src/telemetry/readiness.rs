//! Readiness: has every policy completed an evaluation, and is none of them
//! failing over and over? With two replicas, the body also says which one
//! holds the lease (a standby is ready: observing is its job).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use crate::lease::{LeaseReport, WriteGate};

/// Why one policy is not ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReadiness {
    pub policy: String,
    /// `not_evaluated_yet` or `failing`.
    pub state: &'static str,
    /// Consecutive failed evaluations.
    pub consecutive_failures: u32,
    /// The last error, for a failing policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub policies: usize,
    pub not_ready: Vec<PolicyReadiness>,
    /// With `--lease-table`: this replica, its role and the lease holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseReport>,
    /// With `--shard I/N`: the shard this process runs, as `I/N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

#[derive(Debug, Default)]
struct Entry {
    evaluated: bool,
    consecutive_failures: u32,
    last_error: Option<String>,
}

/// Per-policy evaluation outcomes, shared between the loop and `/readyz`.
#[derive(Debug)]
pub struct Readiness {
    /// A policy whose last this-many evaluations all failed is not ready.
    failure_threshold: u32,
    entries: Mutex<BTreeMap<String, Entry>>,
    lease: OnceLock<WriteGate>,
    shard: OnceLock<String>,
}

impl Readiness {
    pub fn new(failure_threshold: u32) -> Readiness {
        Readiness {
            failure_threshold: failure_threshold.max(1),
            entries: Mutex::new(BTreeMap::new()),
            lease: OnceLock::new(),
            shard: OnceLock::new(),
        }
    }

    /// Report the lease behind `gate` in every report from now on.
    pub fn set_lease(&self, gate: WriteGate) {
        let _ = self.lease.set(gate);
    }

    /// Report the shard (`I/N`) this process runs in every report.
    pub fn set_shard(&self, shard: String) {
        let _ = self.shard.set(shard);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the policies being run (at start and after each reload); keeps
    /// the history of policies that stay.
    pub fn set_policies<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.entries();
        let mut next = BTreeMap::new();
        for name in names {
            let entry = entries.remove(name).unwrap_or_default();
            next.insert(name.to_owned(), entry);
        }
        *entries = next;
    }

    pub fn record_success(&self, policy: &str) {
        if let Some(entry) = self.entries().get_mut(policy) {
            entry.evaluated = true;
            entry.consecutive_failures = 0;
            entry.last_error = None;
        }
    }

    pub fn record_failure(&self, policy: &str, error: &str) {
        if let Some(entry) = self.entries().get_mut(policy) {
            entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
            entry.last_error = Some(error.to_owned());
        }
    }

    pub fn report(&self) -> ReadinessReport {
        let entries = self.entries();
        let not_ready: Vec<PolicyReadiness> = entries
            .iter()
            .filter_map(|(name, entry)| {
                let state = if entry.consecutive_failures >= self.failure_threshold {
                    "failing"
                } else if !entry.evaluated {
                    "not_evaluated_yet"
                } else {
                    return None;
                };
                Some(PolicyReadiness {
                    policy: name.clone(),
                    state,
                    consecutive_failures: entry.consecutive_failures,
                    last_error: entry.last_error.clone(),
                })
            })
            .collect();
        ReadinessReport {
            ready: not_ready.is_empty(),
            policies: entries.len(),
            not_ready,
            lease: self.lease.get().map(WriteGate::report),
            shard: self.shard.get().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_policy_evaluated_and_not_failing() {
        let r = Readiness::new(3);
        r.set_policies(["a", "b"]);
        let report = r.report();
        assert!(!report.ready);
        assert_eq!(report.not_ready.len(), 2);
        r.record_success("a");
        r.record_failure("b", "queue missing");
        assert_eq!(r.report().not_ready[0].state, "not_evaluated_yet");
        r.record_success("b");
        assert!(r.report().ready);
        for _ in 0..2 {
            r.record_failure("b", "throttled");
        }
        assert!(r.report().ready, "two failures are under the threshold");
        r.record_failure("b", "throttled");
        let report = r.report();
        assert!(!report.ready);
        assert_eq!(report.not_ready[0].state, "failing");
        assert_eq!(report.not_ready[0].last_error.as_deref(), Some("throttled"));
        // A reload that drops b makes the service ready again.
        r.set_policies(["a"]);
        assert!(r.report().ready);
    }

    #[test]
    fn the_lease_shows_only_when_there_is_one() {
        let r = Readiness::new(3);
        let body = serde_json::to_value(r.report()).unwrap();
        assert!(body.get("lease").is_none());
        assert!(body.get("shard").is_none());
        r.set_shard("1/4".into());
        let body = serde_json::to_value(r.report()).unwrap();
        assert_eq!(body["shard"], "1/4");
        let gate = WriteGate::new("replica-b");
        gate.set_holder(Some("replica-a".into()));
        r.set_lease(gate);
        let body = serde_json::to_value(r.report()).unwrap();
        assert_eq!(
            body["lease"],
            serde_json::json!({"replica": "replica-b", "role": "standby", "holder": "replica-a"})
        );
    }
}
