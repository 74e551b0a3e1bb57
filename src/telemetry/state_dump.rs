//! Each loaded policy's last decision with the engine state it was made
//! from, served as `GET /state/{policy}`: the document `explain --state`
//! reproduces the decision from (see docs/operations.md).
//!
//! One entry per loaded policy, replaced at each of its evaluations and
//! dropped when a reload removes the policy; the document is built when
//! asked for, not at every evaluation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::controller::{Evaluation, WriteOutcome};
use crate::engine::{PolicyState, Timestamp};
use crate::policy::Policy;
use crate::ports::error_chain;

/// The `format` of a [`StateDump`], which tells it from a bare engine state.
pub const STATE_DUMP_FORMAT: &str = "backlog-scaler/state/1";

/// A policy's last decision as `GET /state/{policy}` serves it: the engine
/// state before it, what was observed, when (on the same clock as the
/// state's timestamps), the decision and the state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDump {
    /// Always [`STATE_DUMP_FORMAT`].
    pub format: String,
    pub policy: String,
    /// When the decision was made, on the engine's clock (the controller's
    /// start is zero), exactly.
    pub at: Timestamp,
    /// The same in seconds, for `explain --at`.
    pub at_s: f64,
    /// The wall-clock time of the evaluation (RFC 3339, UTC).
    pub evaluated_at: String,
    /// The controller did not write (dry-run, or a standby replica): the
    /// desired count the engine saw is its shadow count.
    pub dry_run: bool,
    pub observed: ObservedCounts,
    pub decision: DumpedDecision,
    /// What became of the decision: `unchanged`, `applied`, `dry_run`, or
    /// `failed: ERROR` (the state after is then the state before).
    pub write: String,
    /// The engine's state before the decision, as `explain --state` takes it.
    pub state_before: PolicyState,
    /// The engine's state after it, as the controller keeps it.
    pub state_after: PolicyState,
    /// An evaluation after this one whose observation failed (it held and
    /// left the state as it was); `None` when this is the policy's latest.
    pub last_failure: Option<LastFailure>,
}

/// What the engine was given: each queue's counts in the policy's order,
/// their weighted sums (rounded, as `explain --visible` etc. take them), and
/// the service's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedCounts {
    pub queues: Vec<QueueCounts>,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// The desired count the engine saw (in dry-run, the shadow count).
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub deployment_in_progress: bool,
}

/// One queue's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub queue: String,
    pub weight: f64,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// The decision, as `explain --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpedDecision {
    pub action: String,
    pub current: u32,
    pub desired: u32,
    pub reason: String,
    /// The structured reason (`explain --json`'s `steps`).
    #[serde(default)]
    pub steps: serde_json::Value,
}

/// A failed observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFailure {
    pub at_s: f64,
    pub evaluated_at: String,
    pub error: String,
}

/// Why there is no document for a policy.
#[derive(Debug, Clone, PartialEq)]
pub enum NoStateDump {
    /// No policy of that name is loaded.
    UnknownPolicy,
    /// Loaded, but no evaluation of it has observed yet (the last failure,
    /// if one did not).
    NotEvaluatedYet(Option<LastFailure>),
}

/// The last decision of every loaded policy.
#[derive(Default)]
pub struct StateDumps {
    /// Boxed entries: a map's table holds room for more entries than it
    /// has, and an inline entry is most of a kilobyte.
    policies: Mutex<HashMap<String, Box<Entry>>>,
}

struct Entry {
    /// The controller's own copy, shared.
    policy: Arc<Policy>,
    /// The last evaluation that observed.
    last: Option<Evaluation>,
    last_failure: Option<LastFailure>,
}

impl StateDumps {
    pub fn new() -> StateDumps {
        StateDumps::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<Entry>>> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The policies loaded now: a removed one is forgotten, a changed one
    /// starts afresh (its last decision was made under other settings).
    pub fn set_policies(&self, policies: &[Arc<Policy>]) {
        let mut entries = self.lock();
        entries.retain(|name, _| policies.iter().any(|p| &p.name == name));
        for policy in policies {
            let fresh = || {
                Box::new(Entry {
                    policy: policy.clone(),
                    last: None,
                    last_failure: None,
                })
            };
            match entries.get_mut(&policy.name) {
                Some(entry) if entry.policy.same_content(policy) => {}
                Some(entry) => *entry = fresh(),
                None => {
                    entries.insert(policy.name.clone(), fresh());
                }
            }
        }
    }

    /// Keep `evaluation` as its policy's last, if the policy is loaded; a
    /// failed observation is noted beside the last one that observed.
    pub fn record(&self, evaluation: &Evaluation) {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&evaluation.policy) else {
            return;
        };
        match &evaluation.observation {
            Ok(_) => {
                entry.last = Some(evaluation.clone());
                entry.last_failure = None;
            }
            Err(error) => {
                entry.last_failure = Some(LastFailure {
                    at_s: evaluation.at.as_secs_f64(),
                    evaluated_at: rfc3339(evaluation.wall_time),
                    error: error_chain(error),
                });
            }
        }
    }

    /// `policy`'s document.
    pub fn dump(&self, policy: &str) -> Result<StateDump, NoStateDump> {
        let entries = self.lock();
        let entry = entries.get(policy).ok_or(NoStateDump::UnknownPolicy)?;
        let Some(evaluation) = &entry.last else {
            return Err(NoStateDump::NotEvaluatedYet(entry.last_failure.clone()));
        };
        let observation = evaluation
            .observation
            .as_ref()
            .map_err(|_| NoStateDump::NotEvaluatedYet(None))?;
        let queues: Vec<QueueCounts> = entry
            .policy
            .queues
            .iter()
            .zip(&observation.queues)
            .map(|(queue, depth)| QueueCounts {
                queue: queue.queue.clone(),
                weight: queue.weight,
                visible: depth.visible,
                in_flight: depth.in_flight,
                delayed: depth.delayed,
            })
            .collect();
        let sum = |count: fn(&QueueCounts) -> u64| {
            let sum: f64 = queues.iter().map(|q| q.weight * count(q) as f64).sum();
            sum.round() as u64
        };
        let service = observation.service;
        let decision = &evaluation.decision;
        let current = decision.current().unwrap_or(service.desired);
        Ok(StateDump {
            format: STATE_DUMP_FORMAT.to_owned(),
            policy: evaluation.policy.clone(),
            at: evaluation.at,
            at_s: evaluation.at.as_secs_f64(),
            evaluated_at: rfc3339(evaluation.wall_time),
            dry_run: evaluation.dry_run,
            observed: ObservedCounts {
                visible: sum(|q| q.visible),
                in_flight: sum(|q| q.in_flight),
                delayed: sum(|q| q.delayed),
                queues,
                desired: current,
                running: service.running,
                pending: service.pending,
                deployment_in_progress: service.deployment_in_progress,
            },
            decision: DumpedDecision {
                action: decision.action().to_string(),
                current,
                desired: decision.desired().unwrap_or(current),
                reason: decision.reason.to_string(),
                steps: serde_json::to_value(&decision.reason).unwrap_or_default(),
            },
            write: match &evaluation.write {
                WriteOutcome::Unchanged => "unchanged".to_owned(),
                WriteOutcome::Applied { .. } => "applied".to_owned(),
                WriteOutcome::DryRun { .. } => "dry_run".to_owned(),
                WriteOutcome::Failed { error, .. } => format!("failed: {}", error_chain(error)),
            },
            state_before: PolicyState::clone(&evaluation.engine.before),
            state_after: PolicyState::clone(&evaluation.engine.after),
            last_failure: entry.last_failure.clone(),
        })
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}
