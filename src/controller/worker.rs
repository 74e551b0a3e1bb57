//! One policy's task: evaluate at the policy's ticks, log, report, and
//! wait. Every policy has its own worker (its engine state, health and
//! backoff are its own) but ticks with its group and reads through the
//! tick's shared [`Cycle`](super::groups::Cycle), so a slow or failing
//! policy only ever delays itself; a shared semaphore bounds how many
//! evaluate at once.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::evaluate::{evaluate, Deadlines, Evaluation, Memory, WriteOutcome};
use super::groups::{Groups, Membership};
use super::health::{Health, Transition};
use super::metrics_buffer::MetricsBuffer;
use super::observer::{MeasuredStartup, Observer};
use super::schedule::next_tick;
use super::summary::ActivityCounter;
use super::write_gate::GatedWriter;
use crate::engine::Action;
use crate::lease::WriteGate;
use crate::plural::plural;
use crate::policy::{Policy, TaskStartup};
use crate::ports::{error_chain, Ports, PortsSource};

/// What every worker shares.
pub(crate) struct WorkerContext {
    /// The ports of each policy's target.
    pub source: Arc<dyn PortsSource>,
    pub clock: Clock,
    pub permits: Arc<Semaphore>,
    pub deadlines: Deadlines,
    /// The tick grids and their cycles.
    pub groups: Arc<Groups>,
    pub observer: Arc<dyn Observer>,
    pub metrics: Option<Arc<MetricsBuffer>>,
    /// Open while this replica holds the lease; `None` without a lease.
    pub write_gate: Option<WriteGate>,
    /// Counts for the periodic summary line.
    pub summary: Arc<ActivityCounter>,
}

pub(crate) struct Worker {
    pub policy: Arc<Policy>,
    pub dry_run: bool,
    pub context: Arc<WorkerContext>,
    /// The policy's place in its group, taken when the worker is created
    /// (so every policy of a start or reload is planned into the first
    /// cycle); leaves the group when the worker ends, however it ends.
    pub membership: Membership,
}

impl WorkerContext {
    /// The ports `policy` works with: its target's, with writes behind the
    /// lease when there is one.
    async fn ports_for(&self, policy: &Policy) -> Ports {
        let mut ports = self.source.ports_for(&policy.aws).await;
        if let Some(gate) = &self.write_gate {
            // The last check, right before UpdateService: a lease lost
            // during an evaluation still stops its write.
            ports.scaler = Arc::new(GatedWriter::new(ports.scaler, gate.clone()));
        }
        ports
    }
}

impl Worker {
    /// Evaluate until `stop` is cancelled. An evaluation in progress when
    /// the stop comes is finished, not cut short.
    pub async fn run(self, stop: CancellationToken) {
        let ports = self.context.ports_for(&self.policy).await;
        let membership = &self.membership;
        // Later than planned if a predecessor held the worker back.
        let mut tick = membership.first_tick().max(membership.next_tick_from_now());
        membership.due_at(tick);
        let mut memory = Memory::default();
        let mut was_standby = false;
        let mut health = Health::default();
        let mut last_hold = None;
        // What the observer was last told of the measured startup; `None`
        // until the first evaluation, which always tells it (a fresh worker
        // replacing a changed policy's has measured nothing yet).
        let mut reported_startup: Option<Option<MeasuredStartup>> = None;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(membership.instant(tick)) => {}
            }
            // Taken before the permit: the cycle's reads are planned and
            // shared whatever order the permits come in.
            let cycle = membership.cycle(tick, &ports);
            let permit = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                permit = self.context.permits.clone().acquire_owned() => permit,
            };
            // Only a closed semaphore fails, and nothing closes it.
            let Ok(permit) = permit else { return };

            let now = self.context.clock.now();
            let standby = self
                .context
                .write_gate
                .as_ref()
                .is_some_and(|gate| !gate.may_write());
            if was_standby && !standby {
                // Taking over: forget the shadow and the cooldowns it
                // implied, and start from what is observed now, as a fresh
                // controller would.
                memory = Memory::default();
            }
            was_standby = standby;
            let (evaluation, next_memory) = evaluate(
                &self.policy,
                self.dry_run || standby,
                &cycle.ports(&ports),
                &memory,
                now,
                self.context.deadlines,
            )
            .await;
            memory = next_memory;
            drop(permit);
            membership.evaluated(&cycle);
            drop(cycle);

            let transition = health.update(evaluation.error());
            // On the grid: the next tick, or further on while failing, and
            // never one already past (a slow evaluation skips it).
            tick = next_tick(
                tick,
                health.consecutive_failures(),
                membership.next_tick_from_now(),
            );
            membership.due_at(tick);
            let wait = membership
                .instant(tick)
                .saturating_duration_since(Instant::now());
            self.context.summary.record(&evaluation);
            self.log(&evaluation, &transition, wait, standby, &mut last_hold);
            if let (Some(buffer), Some(sample)) =
                (&self.context.metrics, evaluation.metric_sample())
            {
                buffer.push(sample);
            }
            self.context.observer.evaluated(&evaluation);
            let measured = MeasuredStartup::of(&memory.engine);
            if reported_startup != Some(measured) {
                let before = reported_startup.flatten().map(|m| m.startup);
                if let Some(now) = measured.filter(|m| Some(m.startup) != before) {
                    log_startup(&self.policy, now);
                }
                self.context
                    .observer
                    .startup_measured(&self.policy.name, measured);
                reported_startup = Some(measured);
            }
        }
    }

    fn log(
        &self,
        evaluation: &Evaluation,
        transition: &Transition,
        wait: std::time::Duration,
        standby: bool,
        last_hold: &mut Option<HoldKind>,
    ) {
        let policy = &self.policy;
        // Rounded up: a 1 s poll retries in 1s, not "0s".
        let retry_in = humantime::format_duration(std::time::Duration::from_secs(
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        ))
        .to_string();
        match transition {
            Transition::Steady => {}
            Transition::Failing { kind, detail } => tracing::warn!(
                policy = %policy.name,
                cluster = %policy.cluster,
                service = %policy.service,
                error_kind = %kind,
                retry_in = %retry_in,
                "holding, retrying with backoff: {detail}"
            ),
            Transition::Recovered { failures } => tracing::info!(
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
}

/// The one line when a policy's measured startup changes (at most once per
/// completed scale-out, never per poll).
fn log_startup(policy: &Policy, measured: MeasuredStartup) {
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
struct HoldKind {
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
