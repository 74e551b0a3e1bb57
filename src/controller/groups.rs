//! Evaluation groups: the policies with the same `poll_interval` and AWS
//! scope, run by one task each ([`run_group`]).
//!
//! A group owns its members' memory (engine state), failure streak and next
//! due tick, as plain values. It sleeps until the earliest due tick; then it
//! takes the due members that are not still evaluating, builds the tick's
//! [`SharedReads`] for them as a local value, and spawns their evaluations
//! into its [`JoinSet`] (a semaphore shared by every group bounds how many
//! evaluate at once). Each evaluation that ends sets its member's next due
//! tick on the grid (the error backoff is just a later tick), and a
//! member whose previous evaluation still runs at its tick is skipped, not
//! queued: it is due again at the first tick at or after the end of the
//! running one, so a slow policy delays only itself.
//!
//! The evaluations started at one tick form its *cycle*: they share its
//! reads, and the cycle is reported (once, with what it cost) when the last
//! of them ends. A reload sends each group its new members, which it diffs
//! with its own: unchanged members keep their state and schedule; changed
//! ones start afresh, removed ones go, in both cases once their evaluation
//! in flight (if any) has ended.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::decision_log::{log_evaluation, log_startup, HoldKind};
use super::evaluate::{evaluate, Deadlines, Evaluation, PolicyRecord};
use super::failure_streak::{FailureStreak, Transition};
use super::gated_writer::GatedWriter;
use super::metrics_buffer::MetricsBuffer;
use super::observer::{MeasuredStartup, Observer};
use super::schedule::{group_phase, next_tick, tick_at_or_after, tick_time};
use super::shared_reads::SharedReads;
use super::summary::ActivityCounter;
use crate::lease::WriteGate;
use crate::plural::plural;
use crate::policy::{AwsScope, Policy};
use crate::ports::{Ports, PortsSource};

/// What makes policies tick together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    interval: Duration,
    target: AwsScope,
}

impl GroupKey {
    pub fn of(policy: &Policy) -> GroupKey {
        GroupKey {
            interval: policy.poll_interval,
            target: policy.aws.clone(),
        }
    }
}

/// What one finished evaluation cycle of a group of policies cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleReport {
    /// The group's poll interval.
    pub poll_interval: Duration,
    /// Policies evaluated in the cycle.
    pub policies: usize,
    /// Distinct queues read (one `GetQueueAttributes` each).
    pub queues_read: usize,
    /// Batch reads of services (one `DescribeServices` each with ECS).
    pub service_batches: usize,
    /// From the tick to the end of the cycle's last evaluation.
    pub duration: Duration,
}

/// What every group shares.
pub(crate) struct GroupContext {
    /// The ports of each target.
    pub source: Arc<dyn PortsSource>,
    /// Open while this replica holds the lease; `None` without a lease.
    pub write_gate: Option<WriteGate>,
    /// Engine time; the tick grids count from its origin.
    pub clock: Clock,
    /// Bounds the evaluations in progress, across groups.
    pub permits: Semaphore,
    pub deadlines: Deadlines,
    /// Dry-run every policy.
    pub dry_run: bool,
    /// Draws each group's phase (see `schedule.rs`).
    pub seed: u64,
    pub phase_spread: f64,
    pub observer: Arc<dyn Observer>,
    pub metrics: Option<Arc<MetricsBuffer>>,
    /// Counts for the periodic summary line.
    pub summary: ActivityCounter,
    pub in_flight: ServicesInFlight,
}

/// The services being evaluated right now, across groups. A service is
/// evaluated by one evaluation at a time: when a reload moves its policy to
/// another group (its `poll_interval` changed) or renames it, the new member
/// is skipped until the old one's evaluation has ended.
///
/// A service is its AWS scope, cluster and name: the same cluster and
/// service name in another region or account is another service, and must
/// not be skipped while this one is evaluated (two groups ticking at the
/// same moment would otherwise starve one of them). The scope is the
/// policy's as written: two live policies never name one service (the
/// validator accepts a shared name only where the regions or accounts are
/// known to differ).
#[derive(Default)]
pub(crate) struct ServicesInFlight(Mutex<HashSet<ServiceKey>>);

/// A service as [`ServicesInFlight`] tells them apart.
type ServiceKey = (AwsScope, String, String);

impl ServicesInFlight {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<ServiceKey>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(policy: &Policy) -> ServiceKey {
        (
            policy.aws.clone(),
            policy.cluster.clone(),
            policy.service.clone(),
        )
    }

    /// Take `policy`'s service; false if an evaluation already has it.
    fn claim(&self, policy: &Policy) -> bool {
        self.set().insert(Self::key(policy))
    }

    fn release(&self, policy: &Policy) {
        self.set().remove(&Self::key(policy));
    }
}

impl GroupContext {
    /// The ports of `target`, with writes behind the lease when there is
    /// one.
    async fn ports_for(&self, target: &AwsScope) -> Ports {
        let mut ports = self.source.ports_for(target).await;
        if let Some(gate) = &self.write_gate {
            // The last check, right before UpdateService: a lease lost
            // during an evaluation still stops its write.
            ports.scaler = Arc::new(GatedWriter::new(ports.scaler, gate.clone()));
        }
        ports
    }
}

/// Run the group `key` with `policies` until `stop` is cancelled or
/// `updates` closes, applying each new member set from `updates`. Then it
/// starts no evaluation and returns once those in flight have ended (and
/// been logged and reported).
pub(crate) async fn run_group(
    context: Arc<GroupContext>,
    key: GroupKey,
    policies: Vec<Arc<Policy>>,
    mut updates: mpsc::UnboundedReceiver<Vec<Arc<Policy>>>,
    stop: CancellationToken,
) {
    let ports = context.ports_for(&key.target).await;
    let mut group = Group {
        phase: group_phase(context.seed, &key, key.interval, context.phase_spread),
        key,
        ports,
        context,
        stop: stop.clone(),
        members: BTreeMap::new(),
        cycles: BTreeMap::new(),
        evaluations: JoinSet::new(),
        next_due: None,
    };
    group.apply(policies);
    loop {
        let wake = group.next_due.map(|tick| group.instant(tick));
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(ended) = group.evaluations.join_next() => group.ended(ended),
            update = updates.recv() => match update {
                Some(policies) => group.apply(policies),
                None => break,
            },
            _ = sleep_until(wake) => group.start_due(),
        }
    }
    // Evaluations still waiting for a permit give up; the others finish.
    stop.cancel();
    while let Some(ended) = group.evaluations.join_next().await {
        group.ended(ended);
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(instant) => tokio::time::sleep_until(instant).await,
        None => std::future::pending().await,
    }
}

struct Group {
    key: GroupKey,
    phase: Duration,
    ports: Ports,
    context: Arc<GroupContext>,
    stop: CancellationToken,
    /// By name: a tick's evaluations start in name order.
    members: BTreeMap<String, Member>,
    /// The cycles with evaluations still running, by tick.
    cycles: BTreeMap<u64, Cycle>,
    evaluations: JoinSet<Ended>,
    /// The earliest tick a member not evaluating is due at.
    next_due: Option<u64>,
}

/// A policy of the group, and all it remembers.
struct Member {
    policy: Arc<Policy>,
    dry_run: bool,
    /// Boxed: it moves into each evaluation's task and back.
    memory: Box<PolicyRecord>,
    streak: FailureStreak,
    /// Whether the last evaluation ran as a standby (lease not held).
    was_standby: bool,
    /// The tick the member is next due at.
    due: u64,
    last_hold: Option<HoldKind>,
    /// What the observer was last told of the measured startup; `None`
    /// until the first evaluation, which always tells it (a fresh member
    /// replacing a changed policy has measured nothing yet).
    reported_startup: Option<Option<MeasuredStartup>>,
    /// The tick of the evaluation in flight.
    running: Option<u64>,
    /// A reload's change, applied when the evaluation in flight ends.
    after: Option<Change>,
}

enum Change {
    Replace(Arc<Policy>),
    Remove,
}

/// One tick's evaluations. A member whose previous evaluation ends right at
/// the tick joins them late (or, if they have all ended, starts a cycle of
/// its own at that tick).
struct Cycle {
    started: Instant,
    reads: Arc<SharedReads>,
    /// `ports` with their reads going through `reads`.
    ports: Ports,
    running: usize,
    evaluated: usize,
}

/// An evaluation task's result: the member's memory back, and what it did
/// (`None` if stopped before it started, or if it panicked: then the memory
/// is afresh).
pub(super) struct Ended {
    policy: Arc<Policy>,
    memory: Box<PolicyRecord>,
    evaluated: Option<(Evaluation, bool)>,
}

impl Group {
    /// When `tick` is.
    fn instant(&self, tick: u64) -> Instant {
        self.context.clock.origin() + tick_time(tick, self.phase, self.key.interval)
    }

    /// The first tick at or after now.
    fn tick_from_now(&self) -> u64 {
        tick_at_or_after(
            self.context.clock.origin().elapsed(),
            self.phase,
            self.key.interval,
        )
    }

    fn member(&self, policy: Arc<Policy>) -> Member {
        Member {
            dry_run: self.context.dry_run || policy.dry_run,
            policy,
            memory: Box::default(),
            streak: FailureStreak::default(),
            was_standby: false,
            due: self.tick_from_now(),
            last_hold: None,
            reported_startup: None,
            running: None,
            after: None,
        }
    }

    /// Make the members match `policies`: unchanged ones keep everything,
    /// changed ones start afresh at the next tick, removed ones go; a member
    /// evaluating changes when its evaluation ends.
    fn apply(&mut self, policies: Vec<Arc<Policy>>) {
        let mut wanted: HashMap<String, Arc<Policy>> = policies
            .into_iter()
            .map(|policy| (policy.name.clone(), policy))
            .collect();
        let names: Vec<String> = self.members.keys().cloned().collect();
        for name in names {
            let change = match wanted.remove(&name) {
                Some(policy) if same(&policy, &self.members[&name].policy) => None,
                Some(policy) => Some(Change::Replace(policy)),
                None => Some(Change::Remove),
            };
            let member = self.members.get_mut(&name).expect("a member");
            if member.running.is_some() {
                member.after = change;
            } else if let Some(change) = change {
                self.change(&name, change);
            }
        }
        for (name, policy) in wanted {
            let member = self.member(policy);
            self.members.insert(name, member);
        }
        self.next_due = self.idle().map(|member| member.due).min();
    }

    fn change(&mut self, name: &str, change: Change) {
        match change {
            Change::Replace(policy) => {
                let member = self.member(policy);
                self.members.insert(name.to_owned(), member);
            }
            Change::Remove => {
                self.members.remove(name);
            }
        }
    }

    fn idle(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| m.running.is_none())
    }

    /// Start the evaluations of the members due by `next_due`.
    fn start_due(&mut self) {
        let Some(tick) = self.next_due else { return };
        let context = self.context.clone();
        let mut due: Vec<&mut Member> = Vec::new();
        for member in self.members.values_mut() {
            if member.running.is_some() || member.due > tick {
                continue;
            }
            if context.in_flight.claim(&member.policy) {
                due.push(member);
            } else {
                // Its service is still evaluated by a policy it replaced
                // in another group: not this tick.
                member.due = tick + 1;
            }
        }
        let cycle = self.cycles.entry(tick).or_insert_with(|| {
            let reads = Arc::new(SharedReads::new(
                &self.ports,
                due.iter()
                    .map(|m| (m.policy.cluster.as_str(), m.policy.service.as_str())),
            ));
            Cycle {
                started: Instant::now(),
                ports: reads.ports(&self.ports),
                reads,
                running: 0,
                evaluated: 0,
            }
        });
        for member in due {
            let task = evaluate_member(
                member.policy.clone(),
                member.dry_run,
                member.was_standby,
                std::mem::take(&mut member.memory),
                cycle.ports.clone(),
                context.clone(),
                self.stop.clone(),
            );
            self.evaluations.spawn(task);
            member.running = Some(tick);
            cycle.running += 1;
        }
        if cycle.running == 0 {
            self.cycles.remove(&tick);
        }
        self.next_due = self.idle().map(|member| member.due).min();
    }

    /// An evaluation ended: log and report it, schedule its member, and
    /// apply a change that waited for it.
    fn ended(&mut self, ended: Result<Ended, tokio::task::JoinError>) {
        // Evaluations catch their panics, and nothing aborts them but the
        // group's end.
        let Ok(ended) = ended else { return };
        let earliest = self.tick_from_now();
        let (origin, phase, interval) =
            (self.context.clock.origin(), self.phase, self.key.interval);
        let name = ended.policy.name.as_str();
        let Some(member) = self.members.get_mut(name) else {
            return;
        };
        let Some(tick) = member.running.take() else {
            return;
        };
        self.context.in_flight.release(&member.policy);
        member.memory = ended.memory;
        member.due = earliest;
        if let Some((evaluation, standby)) = &ended.evaluated {
            member.was_standby = *standby;
            let transition = member.streak.update(evaluation.error());
            // On the grid: the next tick, or further on while failing, and
            // never one already past (a slow evaluation skips it).
            member.due = next_tick(tick, member.streak.consecutive_failures(), earliest);
            let wait = (origin + tick_time(member.due, phase, interval))
                .saturating_duration_since(Instant::now());
            member.report(&self.context, evaluation, &transition, wait, *standby);
        }
        if let Some(change) = member.after.take() {
            let name = name.to_owned();
            self.change(&name, change);
        }
        if let Some(member) = self.members.get(name) {
            self.next_due = Some(self.next_due.map_or(member.due, |due| due.min(member.due)));
        }
        self.cycle_done(tick, ended.evaluated.is_some());
    }

    /// One of `tick`'s evaluations ended; the last one reports the cycle.
    fn cycle_done(&mut self, tick: u64, evaluated: bool) {
        let Some(cycle) = self.cycles.get_mut(&tick) else {
            return;
        };
        cycle.running -= 1;
        cycle.evaluated += usize::from(evaluated);
        if cycle.running > 0 {
            return;
        }
        let cycle = self.cycles.remove(&tick).expect("a cycle");
        let report = CycleReport {
            poll_interval: self.key.interval,
            policies: cycle.evaluated,
            queues_read: cycle.reads.queues_read(),
            service_batches: cycle.reads.service_batches(),
            duration: cycle.started.elapsed(),
        };
        // Per tick: DEBUG, like repeated holds; the minute summary is INFO.
        tracing::debug!(
            poll_interval = %humantime::format_duration(report.poll_interval),
            tick,
            policies = report.policies,
            queues_read = report.queues_read,
            describe_calls = report.service_batches,
            duration_ms = report.duration.as_millis() as u64,
            "cycle finished: {}, {} read, {} in {:?}",
            plural(report.policies as u64, "policy", "policies"),
            plural(report.queues_read as u64, "queue", "queues"),
            plural(report.service_batches as u64, "service batch read", "service batch reads"),
            report.duration,
        );
        self.context.observer.cycle_finished(&report);
    }
}

impl Member {
    /// Log an evaluation and tell the summary, the metrics and the
    /// observer.
    fn report(
        &mut self,
        context: &GroupContext,
        evaluation: &Evaluation,
        transition: &Transition,
        wait: Duration,
        standby: bool,
    ) {
        let policy = &self.policy;
        context.summary.record(evaluation);
        log_evaluation(
            policy,
            evaluation,
            transition,
            wait,
            standby,
            &mut self.last_hold,
        );
        if let (Some(buffer), Some(sample)) = (&context.metrics, evaluation.metric_sample()) {
            buffer.push(sample);
        }
        context.observer.evaluated(evaluation);
        let measured = MeasuredStartup::of(&self.memory.engine);
        if self.reported_startup != Some(measured) {
            let before = self.reported_startup.flatten().map(|m| m.startup);
            if let Some(now) = measured.filter(|m| Some(m.startup) != before) {
                log_startup(policy, now);
            }
            context.observer.startup_measured(&policy.name, measured);
            self.reported_startup = Some(measured);
        }
    }
}

/// One evaluation of a member, once a permit allows it; gives up if `stop`
/// comes first.
pub(super) async fn evaluate_member(
    policy: Arc<Policy>,
    dry_run: bool,
    was_standby: bool,
    mut memory: Box<PolicyRecord>,
    ports: Ports,
    context: Arc<GroupContext>,
    stop: CancellationToken,
) -> Ended {
    let permit = tokio::select! {
        biased;
        _ = stop.cancelled() => None,
        // Only a closed semaphore fails, and nothing closes it.
        permit = context.permits.acquire() => permit.ok(),
    };
    let Some(_permit) = permit else {
        return Ended {
            policy,
            memory,
            evaluated: None,
        };
    };
    let now = context.clock.now();
    let standby = context
        .write_gate
        .as_ref()
        .is_some_and(|gate| !gate.may_write());
    if was_standby && !standby {
        // Taking over: forget the shadow and the cooldowns it implied, and
        // start from what is observed now, as a fresh controller would.
        *memory = PolicyRecord::default();
    }
    // Boxed: at each tick every due member's task is spawned at once and
    // waits for a permit, and a waiter would otherwise carry room for a
    // whole evaluation (about 2 KiB; 2.8 MiB at 1,000 policies).
    let evaluation = Box::pin(evaluate(
        &policy,
        dry_run || standby,
        &ports,
        &memory,
        now,
        context.deadlines,
    ));
    match AssertUnwindSafe(evaluation).catch_unwind().await {
        Ok((evaluation, next)) => Ended {
            policy,
            memory: Box::new(next),
            evaluated: Some((evaluation, standby)),
        },
        Err(_) => {
            // A bug: the policy starts afresh at its next tick rather than
            // never again.
            tracing::error!(policy = %policy.name, "evaluation panicked; starting the policy afresh");
            Ended {
                policy,
                memory: Box::default(),
                evaluated: None,
            }
        }
    }
}

/// Same policy (the one the supervisor kept, or the same content).
fn same(policy: &Arc<Policy>, other: &Arc<Policy>) -> bool {
    Arc::ptr_eq(policy, other) || same_content(policy, other)
}

/// Same policy, wherever in the files it now sits.
pub(crate) fn same_content(policy: &Policy, other: &Policy) -> bool {
    policy.same_content(other)
}
