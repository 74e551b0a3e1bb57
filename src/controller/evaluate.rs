//! One evaluation of one policy: observe (read its queues and service through
//! the ports), decide, write. It returns a plain [`Evaluation`] describing
//! what happened and the policy's next [`PolicyRecord`]; it logs nothing and
//! schedules nothing, so its group (and tests, and `plan`) decide what to
//! make of it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::engine::{decide, Decision, Observation, PolicyState, Timestamp};
use crate::policy::Policy;
use crate::ports::{error_chain, ErrorKind, MetricSample, PortError, Ports};

/// The controller's record of one policy between evaluations: the engine's
/// [`PolicyState`] and the desired counts the controller saw and (in
/// dry-run) would have set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyRecord {
    /// The engine's state, shared with the last evaluation's
    /// [`EngineStates::after`] (which `GET /state` keeps) rather than
    /// copied.
    pub engine: Arc<PolicyState>,
    /// The service's real desired count as of the last evaluation (what we
    /// set, or what we found): a different value next time means someone
    /// else changed it.
    pub last_seen_desired: Option<u32>,
    /// Dry-run only: the desired count the controller would have set. The
    /// engine sees it as the current count, so cooldowns and stabilization
    /// behave as if the writes had happened.
    pub shadow_desired: Option<u32>,
}

/// The desired count changed between two evaluations without us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalChange {
    pub expected: u32,
    pub found: u32,
}

/// What became of the decision's desired count.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// The decision holds: nothing to write.
    Unchanged,
    /// Dry-run: the shadow moved, the service did not.
    DryRun { from: u32, to: u32 },
    /// `UpdateService` succeeded.
    Applied { from: u32, to: u32 },
    /// `UpdateService` failed; the policy's memory is as if the evaluation
    /// had not decided anything.
    Failed {
        from: u32,
        to: u32,
        error: PortError,
    },
}

/// Limits on one evaluation's calls, on top of the SDK's own timeouts
/// (which do not cover waiting for a rate limiter or a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub observe: Duration,
    pub write: Duration,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            observe: Duration::from_secs(20),
            write: Duration::from_secs(20),
        }
    }
}

/// The engine's state on either side of one evaluation's decision: what
/// `explain --state` reproduces the decision from, and what came of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStates {
    /// As the engine was given it (a desired count changed outside the
    /// controller already counted).
    pub before: Arc<PolicyState>,
    /// As the policy keeps it: the engine's new state, or the state before
    /// when the write failed.
    pub after: Arc<PolicyState>,
}

/// Everything that happened in one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub policy: String,
    /// Engine time of the evaluation.
    pub at: Timestamp,
    /// Wall-clock time of the evaluation, for metrics.
    pub wall_time: SystemTime,
    /// How long observing, deciding and writing took.
    pub duration: Duration,
    pub dry_run: bool,
    /// What was read, with the service's real desired count.
    pub observation: Result<Observation, PortError>,
    pub external_change: Option<ExternalChange>,
    pub decision: Decision,
    pub write: WriteOutcome,
    /// The engine's state before and after the decision (shared, so a
    /// clone of the evaluation copies no state).
    pub engine: Arc<EngineStates>,
}

impl Evaluation {
    /// Why the evaluation failed, if it did (observation or write).
    pub fn error(&self) -> Option<&PortError> {
        match (&self.observation, &self.write) {
            (Err(error), _) => Some(error),
            (_, WriteOutcome::Failed { error, .. }) => Some(error),
            _ => None,
        }
    }

    /// The service's desired count after this evaluation, when known.
    pub fn desired_after(&self) -> Option<u32> {
        match (&self.write, &self.observation) {
            (WriteOutcome::Applied { to, .. }, _) => Some(*to),
            (_, Ok(observation)) => Some(observation.service.desired),
            _ => None,
        }
    }

    /// The evaluation's figures for a metrics backend, when it observed.
    pub fn metric_sample(&self) -> Option<MetricSample> {
        let observation = self.observation.as_ref().ok()?;
        Some(MetricSample {
            policy: self.policy.clone(),
            at: self.wall_time,
            backlog: self.decision.backlog()?,
            desired: self.desired_after()?,
            running: observation.service.running,
        })
    }
}

/// Evaluate `policy` once at `now`, from `memory`.
pub async fn evaluate(
    policy: &Policy,
    dry_run: bool,
    ports: &Ports,
    memory: &PolicyRecord,
    now: Timestamp,
    deadlines: Deadlines,
) -> (Evaluation, PolicyRecord) {
    let started = Instant::now();
    let wall_time = SystemTime::now();
    let observation = match tokio::time::timeout(deadlines.observe, observe(policy, ports)).await {
        Ok(result) => result,
        Err(_) => Err(PortError::new(
            ErrorKind::Unreachable,
            "observe",
            format!(
                "no answer within {}",
                humantime::format_duration(deadlines.observe)
            ),
        )),
    };

    let mut next = memory.clone();
    let mut external_change = None;
    let engine_input = match &observation {
        Ok(observed) => {
            let found = observed.service.desired;
            if let Some(expected) = memory.last_seen_desired.filter(|&e| e != found) {
                external_change = Some(ExternalChange { expected, found });
                // Someone else scaled the service: carry on from their value,
                // and let it stand for a stabilization window.
                next.shadow_desired = None;
                Arc::make_mut(&mut next.engine).count_outside_change(policy, found, now);
            }
            next.last_seen_desired = Some(found);
            let mut input = observed.clone();
            if dry_run {
                input.service.desired = *next.shadow_desired.get_or_insert(found);
            }
            Ok(input)
        }
        Err(error) => Err(error_chain(error)),
    };

    let (decision, engine_state) = decide(
        policy,
        engine_input.as_ref().map_err(String::as_str),
        &next.engine,
        now,
    );

    let write = match (decision.change(), decision.current()) {
        (Some(to), Some(from)) if dry_run => {
            next.shadow_desired = Some(to);
            WriteOutcome::DryRun { from, to }
        }
        (Some(to), Some(from)) => {
            let call = ports
                .scaler
                .set_desired(&policy.cluster, &policy.service, to);
            match tokio::time::timeout(deadlines.write, call).await {
                Ok(Ok(())) => {
                    next.last_seen_desired = Some(to);
                    WriteOutcome::Applied { from, to }
                }
                Ok(Err(error)) => WriteOutcome::Failed { from, to, error },
                Err(_) => WriteOutcome::Failed {
                    from,
                    to,
                    error: PortError::new(
                        ErrorKind::Unreachable,
                        "UpdateService",
                        format!(
                            "no answer within {}",
                            humantime::format_duration(deadlines.write)
                        ),
                    ),
                },
            }
        }
        _ => WriteOutcome::Unchanged,
    };

    let before = if matches!(write, WriteOutcome::Failed { .. }) {
        // A failed write changed nothing in the world, so the engine's state
        // stays as observed (an outside change included).
        next.engine.clone()
    } else {
        std::mem::replace(&mut next.engine, Arc::new(engine_state))
    };
    let engine = Arc::new(EngineStates {
        before,
        after: next.engine.clone(),
    });

    let evaluation = Evaluation {
        policy: policy.name.clone(),
        at: now,
        wall_time,
        duration: started.elapsed(),
        dry_run,
        observation,
        external_change,
        decision,
        write,
        engine,
    };
    (evaluation, next)
}

/// Read everything the engine needs for `policy`. The queues are read one
/// after the other while the service is read alongside; the first failure
/// fails the whole observation, because a partial backlog is not a backlog.
pub async fn observe(policy: &Policy, ports: &Ports) -> Result<Observation, PortError> {
    let queues = async {
        let mut depths = Vec::with_capacity(policy.queues.len());
        for queue in &policy.queues {
            depths.push(ports.queues.queue_depth(&queue.queue).await?);
        }
        Ok::<_, PortError>(depths)
    };
    let service = ports
        .services
        .service_state(&policy.cluster, &policy.service);
    let (queues, service) = tokio::join!(queues, service);
    Ok(Observation {
        queues: queues?,
        service: service?,
    })
}
