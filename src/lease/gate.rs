//! The flag the controller checks right before each `UpdateService`, shared
//! with the lease keeper, and the lease's state for logs and `/readyz`.
//!
//! The flag is a deadline rather than a boolean: the keeper stores until
//! when this replica may write, and each check compares it with the wall
//! clock. A keeper stuck in a slow DynamoDB call therefore cannot leave
//! writes enabled past the lease's safety margin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The lease's state as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseReport {
    /// This replica's identity.
    pub replica: String,
    /// `holder` when this replica may write, otherwise `standby`.
    pub role: &'static str,
    /// Who holds the lease, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

#[derive(Debug)]
struct Shared {
    replica: String,
    writable_until_ms: AtomicU64,
    holder: Mutex<Option<String>>,
}

/// Whether this replica may write now; cheap to clone and to check.
#[derive(Debug, Clone)]
pub struct WriteGate {
    shared: Arc<Shared>,
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn wall_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl WriteGate {
    /// A closed gate for `replica`: no writes until the keeper opens it.
    pub fn new(replica: impl Into<String>) -> WriteGate {
        WriteGate {
            shared: Arc::new(Shared {
                replica: replica.into(),
                writable_until_ms: AtomicU64::new(0),
                holder: Mutex::new(None),
            }),
        }
    }

    pub fn replica(&self) -> &str {
        &self.shared.replica
    }

    /// Whether writes are allowed right now.
    pub fn may_write(&self) -> bool {
        self.may_write_at(wall_now_ms())
    }

    /// Whether writes are allowed at `now_ms` (wall-clock ms).
    pub fn may_write_at(&self, now_ms: u64) -> bool {
        now_ms < self.shared.writable_until_ms.load(Ordering::Acquire)
    }

    /// Allow writes until `until_ms` (0 closes the gate).
    pub fn allow_until(&self, until_ms: u64) {
        self.shared
            .writable_until_ms
            .store(until_ms, Ordering::Release);
    }

    /// Record who holds the lease.
    pub fn set_holder(&self, holder: Option<String>) {
        *self.shared.holder.lock().unwrap_or_else(|e| e.into_inner()) = holder;
    }

    /// Who holds the lease, when known.
    pub fn holder(&self) -> Option<String> {
        self.shared
            .holder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The lease's state for `/readyz`.
    pub fn report(&self) -> LeaseReport {
        LeaseReport {
            replica: self.replica().to_owned(),
            role: if self.may_write() {
                "holder"
            } else {
                "standby"
            },
            holder: self.holder(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_closes_by_itself_at_its_deadline() {
        let gate = WriteGate::new("a");
        assert!(!gate.may_write_at(0));
        gate.allow_until(1_000);
        let clone = gate.clone();
        assert!(clone.may_write_at(999));
        assert!(!clone.may_write_at(1_000));
        gate.allow_until(0);
        assert!(!clone.may_write_at(1));
    }

    #[test]
    fn the_report_names_replica_role_and_holder() {
        let gate = WriteGate::new("a");
        gate.set_holder(Some("b".into()));
        let report = gate.report();
        assert_eq!(report.replica, "a");
        assert_eq!(report.role, "standby");
        assert_eq!(report.holder.as_deref(), Some("b"));
        gate.allow_until(u64::MAX);
        gate.set_holder(Some("a".into()));
        assert_eq!(gate.report().role, "holder");
        let json = serde_json::to_value(gate.report()).unwrap();
        assert_eq!(json["holder"], "a");
    }
}
