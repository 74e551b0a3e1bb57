//! The lines an evaluation logs: its decision (a repeated hold at DEBUG),
//! a failure when it starts or its cause changes, the recovery, someone
//! else's change of the desired count, and a newly measured task startup.
//!
//! They keep the target `backlog_scaler::controller::worker` of the days
//! when each policy had a worker task: operators filter decisions by it
//! (`--log-level info,backlog_scaler::controller::worker=debug`, as
//! `deploy/local/demo.sh` does), and the docs show it.

use super::evaluate::{Evaluation, WriteOutcome};
use super::failure_streak::Transition;
use super::observer::MeasuredStartup;
use crate::engine::Action;
use crate::plural::plural;
use crate::policy::{Policy, TaskStartup};
use crate::ports::error_chain;

/// The log target of every line here.
const TARGET: &str = "backlog_scaler::controller::worker";

/// The lines of one evaluation: a failure's start, change or end, an
/// outside change, and the decision (a repeated hold at DEBUG).
pub(crate) fn log_evaluation(
    policy: &Policy,
    evaluation: &Evaluation,
    transition: &Transition,
    wait: std::time::Duration,
    standby: bool,
    last_hold: &mut Option<HoldKind>,
) {
    // Rounded up: a 1 s poll retries in 1s, not "0s".
    let retry_in = humantime::format_duration(std::time::Duration::from_secs(
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    ))
    .to_string();
    match transition {
        Transition::Steady => {}
        Transition::Failing { kind, detail } => tracing::warn!(
                target: TARGET,
            policy = %policy.name,
            cluster = %policy.cluster,
            service = %policy.service,
            error_kind = %kind,
            retry_in = %retry_in,
            "holding, retrying with backoff: {detail}"
        ),
        Transition::Recovered { failures } => tracing::info!(
                target: TARGET,
            policy = %policy.name,
            cluster = %policy.cluster,
            service = %policy.service,
            failures,
            "recovered after {}",
            plural(u64::from(*failures), "failed evaluation", "failed evaluations")
        ),
    }
    if let Some(change) = evaluation.external_change {
        tracing::warn!(
                target: TARGET,
            policy = %policy.name,
            cluster = %policy.cluster,
            service = %policy.service,
            expected = change.expected,
            found = change.found,
            "desired count changed outside the controller ({} -> {}); carrying on from {}",
            change.expected,
            change.found,
            change.found
        );
    }
    let hold = HoldKind::of(evaluation);
    // A hold is news when it starts or its kind changes; repeating it
    // every poll is DEBUG (the decision is on /metrics and in `plan`).
    let news = hold.is_none() || hold != *last_hold;
    *last_hold = hold;
    log_decision(policy, evaluation, standby, news);
}

/// The one line when a policy's measured startup changes (at most once per
/// completed scale-out, never per poll).
pub(crate) fn log_startup(policy: &Policy, measured: MeasuredStartup) {
    let startup = humantime::format_duration(std::time::Duration::from_millis(
        measured.startup.as_millis() as u64,
    ));
    let used = match policy.task_startup {
        Some(TaskStartup::Measured) => "wait sizing plans with it".to_owned(),
        Some(TaskStartup::Stated(stated)) => format!(
            "the policy states task_startup: {}",
            humantime::format_duration(stated)
        ),
        None => "the policy is not sized by its wait".to_owned(),
    };
    let from = match measured.scale_outs {
        1 => "from one scale-out".to_owned(),
        n => format!("the median of the last {n} scale-outs"),
    };
    tracing::info!(
                target: TARGET,
        policy = %policy.name,
        cluster = %policy.cluster,
        service = %policy.service,
        startup_s = measured.startup.as_millis() as f64 / 1000.0,
        scale_outs = measured.scale_outs,
        "task startup measured: {startup}, {from}; {used}"
    );
}

/// A hold, as far as the logs care: at which count, and the kind of the
/// last step of its reason (inside tolerance, stabilization, cooldown...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HoldKind {
    at: u32,
    kind: Option<std::mem::Discriminant<crate::engine::Because>>,
}

impl HoldKind {
    fn of(evaluation: &Evaluation) -> Option<HoldKind> {
        let decision = &evaluation.decision;
        match (&evaluation.write, decision.action(), decision.current()) {
            (WriteOutcome::Unchanged, Action::Hold, Some(at)) => Some(HoldKind {
                at,
                kind: decision.reason.steps().last().map(std::mem::discriminant),
            }),
            _ => None,
        }
    }
}

/// The one structured line per decision. A standby replica's lines say so:
/// its decisions are shadows, like dry-run's.
fn log_decision(policy: &Policy, evaluation: &Evaluation, standby: bool, news: bool) {
    let decision = &evaluation.decision;
    let reason = &decision.reason;
    let (running, pending) = match &evaluation.observation {
        Ok(observation) => (
            Some(observation.service.running),
            Some(observation.service.pending),
        ),
        Err(_) => (None, None),
    };
    macro_rules! line {
        ($level:ident, $($message:tt)+) => {
            tracing::$level!(
                target: TARGET,
                policy = %policy.name,
                cluster = %policy.cluster,
                service = %policy.service,
                action = %decision.action(),
                current = decision.current(),
                desired = decision.desired(),
                backlog = decision.backlog(),
                running,
                pending,
                dry_run = evaluation.dry_run,
                standby,
                $($message)+
            )
        };
    }
    match &evaluation.write {
        WriteOutcome::Applied { from, to } => line!(info, "set desired {from} -> {to} ({reason})"),
        WriteOutcome::DryRun { from, to } if standby => line!(
            info,
            "standby (not the lease holder): would set desired {from} -> {to} ({reason})"
        ),
        WriteOutcome::DryRun { from, to } => {
            line!(info, "would set desired {from} -> {to} ({reason})")
        }
        WriteOutcome::Failed { from, to, error } => line!(
            debug,
            "could not set desired {from} -> {to}: {}",
            error_chain(error)
        ),
        WriteOutcome::Unchanged => match (decision.action(), decision.current()) {
            (Action::Hold, Some(current)) if news => line!(info, "hold at {current} ({reason})"),
            (Action::Hold, Some(current)) => line!(debug, "hold at {current} ({reason})"),
            // A failed observation: its cause is logged when it changes.
            _ => line!(debug, "hold ({reason})"),
        },
    }
}
