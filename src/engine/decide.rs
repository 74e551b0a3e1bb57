//! The decision rules, applied in order. See `docs/engine.md` for the why.

use std::time::Duration;

use super::decision::{Action, Because, Decision, Outcome, Reason};
use super::observation::{Observation, ServiceCounts, Timestamp};
use super::state::PolicyState;
use super::wait_sizing::{self, Counts, NextBurst, StillToArrive, WaitPlan, WarmFleet};
use crate::policy::Policy;

/// Decide what one policy's service should run, from one observation.
///
/// Pure and deterministic: the same policy, observation, state and `now`
/// give the same decision and the same new state. `observed` is the
/// observation, or why it could not be made; a failed observation always
/// holds (fail static) and leaves the state as it was.
pub fn decide(
    policy: &Policy,
    observed: Result<&Observation, &str>,
    state: &PolicyState,
    now: Timestamp,
) -> (Decision, PolicyState) {
    let observation = match observed {
        Ok(observation) => observation,
        Err(error) => {
            let mut reason = Reason::default();
            reason.push(Because::ObservationFailed {
                error: error.to_owned(),
            });
            let decision = Decision {
                outcome: Outcome::Unobserved,
                reason,
            };
            return (decision, state.clone());
        }
    };

    let mut state = state.clone();
    let mut reason = Reason::default();
    let current = observation.service.desired;
    let (min, max) = (policy.min_tasks, policy.max_tasks);
    let sizing = wait_sizing::stated(policy);
    state
        .startup
        .observe(now, current, observation.service.running);
    let sums = sum_backlog(policy, observation);
    let startup = wait_sizing::startup(policy, state.startup.estimate());
    // How much later than the wait allows a task launched at a poll starts.
    let late_by = sizing.map_or(Duration::ZERO, |stated| {
        startup
            .0
            .saturating_add(policy.poll_interval)
            .saturating_sub(stated.wait)
    });
    let window = match sizing {
        Some(_) => {
            let keep = state.traffic.keep_for(startup.0, late_by);
            policy.scale_in.stabilization_window.max(keep)
        }
        None => policy.scale_in.stabilization_window,
    };

    forget_old_recommendations(&mut state, window, now);
    if !state.seeded {
        // A restart must not scale in before a full window has passed.
        state.seeded = true;
        state.remember(now, current.clamp(min, max));
    }

    reason.push(Because::Backlog {
        backlog: sums.backlog,
        visible: sums.visible,
        in_flight: policy.count_in_flight.then_some(sums.in_flight),
        delayed: policy.count_delayed.then_some(sums.delayed),
    });
    if sums.all_work == 0.0 {
        state.idle_since.get_or_insert(now);
    } else {
        state.idle_since = None;
    }
    let growth = growth_per_second(state.previous_work, now, sums.all_work);
    let previous_work = state.previous_work.replace((now, sums.all_work));
    let running_before = state.previous_running.replace(observation.service.running);

    let needed = match sizing {
        Some(stated) => wait_needed(
            policy,
            stated,
            startup,
            late_by,
            (&sums, &observation.service, previous_work, running_before),
            &mut state,
            now,
        ),
        None => tasks_needed(policy, &sums, growth, &mut reason),
    };
    // The warm fleet given back until the next burst is launched again in
    // time for it: the keep time, which holds capacity against returns
    // that come unannounced, does not hold it.
    let warm_given_back = needed.warm_given_back();
    let Recommended {
        tasks: recommendation,
        inside_tolerance,
    } = recommend(policy, current, needed, &state, now, &mut reason);
    if sizing.is_some() {
        state.traffic.observe(now, recommendation);
    }
    if !window.is_zero() {
        state.remember(now, recommendation);
    }

    let mut desired = current;
    if recommendation > current {
        desired = scale_out(policy, current, recommendation, &state, now, &mut reason);
    } else if recommendation < current {
        let window = if warm_given_back {
            policy.scale_in.stabilization_window
        } else {
            window
        };
        let keeping = sizing
            .filter(|_| !warm_given_back)
            .map(|stated| KeepingFor {
                window,
                returns_seen: state.traffic.returns_seen(),
                typical_return: state.traffic.typical_return(),
                // Only where tasks launched at a burst's start meet its wait:
                // otherwise the peak kept is what covers a burst larger than
                // the recent ones (capping it there missed waits).
                burst_fleet: state
                    .bursts
                    .warm_tasks(stated.per_task_rate, stated.wait)
                    .filter(|_| late_by.is_zero())
                    .map(tasks_for),
            });
        desired = scale_in(
            policy,
            current,
            recommendation,
            observation.service.deployment_in_progress,
            (window, keeping),
            &state,
            now,
            &mut reason,
        );
    } else if !inside_tolerance {
        reason.push(Because::AtRecommendation { tasks: current });
    }

    if current < min || current > max {
        desired = desired.clamp(min, max);
        reason.push(Because::OutsideBounds { current, min, max });
    }

    let action = Action::of_change(current, desired);
    if action != Action::Hold {
        state.last_scale = Some(now);
    }
    if action == Action::ScaleOut {
        state.last_scale_out = Some(now);
        state.startup.scaled_out(now, desired);
    }
    // A warm fleet given back until the next burst returns as planned, and
    // so does what the burst before needed: the keep time learns only the
    // returns that come unannounced.
    if warm_given_back {
        state.traffic.returns_planned();
    } else if action == Action::ScaleIn && sizing.is_some() {
        state.traffic.scaled_in(now, current);
    }

    let decision = Decision {
        outcome: Outcome::Sized {
            current,
            desired,
            backlog: sums.backlog,
            recommendation,
        },
        reason,
    };
    (decision, state)
}

/// Wait sizing's tasks for this poll (see `wait_sizing.rs` and `bursts.rs`):
/// the plan, the burst memory fed with what arrived, and the warm fleet
/// when tasks launched now start later than the wait allows.
fn wait_needed(
    policy: &Policy,
    stated: wait_sizing::Stated,
    startup: (Duration, wait_sizing::StartupSource),
    late_by: Duration,
    (sums, service, previous_work, running_before): (
        &BacklogSums,
        &ServiceCounts,
        Option<(Timestamp, f64)>,
        Option<u32>,
    ),
    state: &mut PolicyState,
    now: Timestamp,
) -> Needed {
    let (running, pending) = (service.running, service.pending);
    let reaction = startup.0.saturating_add(policy.poll_interval);
    let counts = Counts {
        waiting: sums.all_work - sums.in_flight_work,
        in_flight: sums.in_flight_work,
        running,
        previous: previous_work,
        running_before,
        pending,
        pending_in: pending_in(state.last_scale_out, startup.0, now),
        run_rest: state.runs.still_to_come(),
        over_keep_up_span: state.arrivals.over(
            now,
            wait_sizing::keep_up_span(stated.wait, startup.0, policy.poll_interval),
        ),
    };
    let mut plan = wait_sizing::plan(stated, startup, &counts, policy.poll_interval, now);
    let interval = previous_work.map_or(Duration::ZERO, |(then, _)| now.since(then));
    // Twice the wait, so that messages past it are seen too, or a
    // reaction time if longer, for the surges.
    state.arrivals.record(
        now,
        plan.arrived,
        stated
            .wait
            .saturating_mul(2)
            .max(reaction.saturating_mul(2)),
    );
    if let Some((tasks, run)) = plan.run_ending {
        // Messages due before new tasks start have only the running ones
        // and those already launched, which start sooner than any launched
        // now: when the running tasks alone do not serve what waits by its
        // deadlines, the launched ones are kept (keeping up with the run
        // instead, as if it went on, launches tasks that start once the
        // queue is gone).
        let waited = state.arrivals.waited(now, counts.waiting, counts.in_flight);
        let tasks = if wait_sizing::running_serves_waiting(stated, running, waited) {
            tasks
        } else {
            tasks.max(f64::from(running.saturating_add(pending)))
        };
        // Only ever fewer tasks than keeping up: more backlog, which may
        // fail the deadline check, then never gives fewer.
        if tasks < plan.tasks {
            plan.tasks = tasks;
            plan.still_to_arrive = Some(StillToArrive::Run(run));
        }
    }
    if !late_by.is_zero() {
        // Only then do new tasks start after a rise's first messages are
        // due; otherwise every surge would need nothing.
        let surge = state
            .arrivals
            .surge_need(now, stated.per_task_rate, stated.wait, late_by);
        state.surges.observe(now, surge, reaction);
    }
    if plan.standing_queue {
        // Completions read from counts are off by up to the messages in
        // service (each may finish either side of a poll).
        let error = counts.in_flight;
        // Oldest first: the first group has waited longest.
        let mut waited = state.arrivals.waited(now, counts.waiting, error).peekable();
        let oldest = waited.peek().map(|w| w.waited);
        let tasks = wait_sizing::by_deadlines(
            stated,
            (startup.0, policy.poll_interval),
            running,
            (pending, counts.pending_in),
            waited,
        );
        if tasks > plan.tasks {
            plan.tasks = tasks;
            plan.oldest_waited = oldest;
        }
    }
    state
        .bursts
        .observe(now, interval, plan.arrived.max(0.0), sums.all_work > 0.0);
    state.runs.observe(interval, plan.arrived, counts.in_flight);
    let bridging = state.bursts.idle_since().is_none_or(|since| {
        state
            .bursts
            .bridge()
            .is_some_and(|bridge| now.since(since) <= bridge.saturating_add(policy.poll_interval))
    });
    if !late_by.is_zero() && bridging {
        // Tasks launched at the next poll must run a poll before the next
        // burst is due: a burst's start is seen a poll late at worst.
        let lead = startup
            .0
            .saturating_add(policy.poll_interval.saturating_mul(2));
        plan.next_burst = state
            .bursts
            .next_burst(now)
            .map(|(due_in, shortest_period)| NextBurst {
                due_in,
                shortest_period,
                given_back: due_in >= lead,
            });
    }
    if !late_by.is_zero() && bridging && !plan.next_burst.is_some_and(|next| next.given_back) {
        if let Some(tasks) = state.bursts.warm_tasks(stated.per_task_rate, stated.wait) {
            plan.warm = Some(WarmFleet {
                tasks,
                typical_spell: state.bursts.typical_spell(),
            });
            plan.tasks = plan.tasks.max(tasks);
        }
        if let Some(tasks) = state.surges.needed() {
            if tasks > plan.tasks {
                plan.surges = Some(tasks);
                plan.tasks = tasks;
            }
        }
    }
    Needed::from_plan(plan)
}

/// Within how long the tasks pending now run at the latest: a startup
/// after the last scale-out; a startup from now when that is unknown or
/// already past (they are late, and when they start is not known).
fn pending_in(last_scale_out: Option<Timestamp>, startup: Duration, now: Timestamp) -> Duration {
    match last_scale_out.map(|at| now.since(at)) {
        Some(since) if since < startup => startup - since,
        _ => startup,
    }
}

/// Drop recommendations made at or before `now - window` (windows are
/// half-open: one made exactly a window ago no longer counts).
fn forget_old_recommendations(state: &mut PolicyState, window: Duration, now: Timestamp) {
    while let Some(&(made, _)) = state.recommendations.front() {
        if now.since(made) >= window {
            state.recommendations.pop_front();
        } else {
            break;
        }
    }
}

struct BacklogSums {
    /// Weighted backlog as the policy counts it.
    backlog: f64,
    /// Weighted visible + in-flight + delayed (if counted): zero means idle.
    all_work: f64,
    /// Weighted in-flight messages, counted or not.
    in_flight_work: f64,
    visible: u64,
    in_flight: u64,
    delayed: u64,
}

fn sum_backlog(policy: &Policy, observation: &Observation) -> BacklogSums {
    let mut sums = BacklogSums {
        backlog: 0.0,
        all_work: 0.0,
        in_flight_work: 0.0,
        visible: 0,
        in_flight: 0,
        delayed: 0,
    };
    for (queue, depth) in policy.queues.iter().zip(&observation.queues) {
        let mut counted = depth.visible as f64;
        if policy.count_in_flight {
            counted += depth.in_flight as f64;
        }
        let delayed = if policy.count_delayed {
            depth.delayed as f64
        } else {
            0.0
        };
        counted += delayed;
        sums.backlog += queue.weight * counted;
        sums.all_work += queue.weight * (depth.visible as f64 + depth.in_flight as f64 + delayed);
        sums.in_flight_work += queue.weight * depth.in_flight as f64;
        sums.visible = sums.visible.saturating_add(depth.visible);
        sums.in_flight = sums.in_flight.saturating_add(depth.in_flight);
        sums.delayed = sums.delayed.saturating_add(depth.delayed);
    }
    sums
}

/// `ceil(x)` as a task count, saturating instead of wrapping.
fn tasks_for(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x.ceil() as u32
    }
}

/// How the work translates into tasks, before bounds and damping.
struct Needed {
    /// Tasks, fractional: `ceil` of it is the raw recommendation.
    tasks: f64,
    /// The work that counts toward activation from zero.
    backlog: f64,
    /// How the tasks were counted.
    rule: Counted,
}

enum Counted {
    /// `ceil(backlog / target)`.
    Backlog,
    /// `in_flight_per_task`: (busy tasks, waiting messages).
    BusyPlusWaiting(f64, f64),
    /// Wait sizing.
    Wait(Box<WaitPlan>),
}

impl Needed {
    fn from_plan(plan: WaitPlan) -> Needed {
        Needed {
            tasks: plan.tasks,
            backlog: plan.arrival_rate + plan.queue_at_startup,
            rule: Counted::Wait(Box::new(plan)),
        }
    }

    /// Whether wait sizing gives the warm fleet back until the next burst.
    fn warm_given_back(&self) -> bool {
        matches!(&self.rule, Counted::Wait(plan)
            if plan.next_burst.is_some_and(|next| next.given_back))
    }

    /// Backlog per task relative to the target (1 is on target).
    fn ratio(&self, target: f64, current: u32) -> f64 {
        match self.rule {
            Counted::Backlog => self.backlog / (target * f64::from(current)),
            _ => self.tasks / f64::from(current),
        }
    }

    fn because(&self, target: f64, tasks: u32) -> Because {
        match &self.rule {
            Counted::Backlog => Because::Recommendation {
                backlog: self.backlog,
                target,
                tasks,
            },
            &Counted::BusyPlusWaiting(busy, waiting) => Because::BusyPlusWaiting {
                busy,
                waiting,
                target,
                tasks,
            },
            Counted::Wait(plan) => Because::WaitSizing {
                plan: plan.clone(),
                tasks,
            },
        }
    }
}

/// Why capacity is kept, for a policy sized by its wait.
struct KeepingFor {
    window: Duration,
    returns_seen: usize,
    typical_return: Option<Duration>,
    /// Once bursts are known, and when tasks launched at a burst's start
    /// start within its wait: the tasks that serve a burst like 90% of the
    /// recent ones within the wait when they are there from its start (see
    /// `bursts.rs`). Capacity kept through a lull is there at the next
    /// burst's start, so keeping more than that is idle cost (a burst's
    /// peak recommendation is sized for tasks that start a startup late),
    /// and what a larger burst needs beyond it can still be launched.
    burst_fleet: Option<u32>,
}

/// Growth of the total work per second since the previous observation;
/// zero when shrinking or unknown.
fn growth_per_second(previous: Option<(Timestamp, f64)>, now: Timestamp, work: f64) -> f64 {
    match previous {
        Some((then, before)) if now > then => {
            ((work - before) / now.since(then).as_secs_f64()).max(0.0)
        }
        _ => 0.0,
    }
}

fn tasks_needed(policy: &Policy, sums: &BacklogSums, growth: f64, reason: &mut Reason) -> Needed {
    let target = policy.target_backlog_per_task();
    let lookahead = policy.scale_out.lookahead;
    let expected = growth * lookahead.as_secs_f64();
    let Some(per_task) = policy.in_flight_per_task else {
        let backlog = sums.backlog + expected;
        if !lookahead.is_zero() {
            reason.push(Because::Lookahead {
                per_second: growth,
                lookahead,
                expected,
            });
        }
        return Needed {
            tasks: backlog / target,
            backlog,
            rule: Counted::Backlog,
        };
    };
    let busy = sums.in_flight_work / per_task;
    let waiting = sums.backlog
        - if policy.count_in_flight {
            sums.in_flight_work
        } else {
            0.0
        };
    let waiting = waiting.max(0.0) + expected;
    if !lookahead.is_zero() {
        reason.push(Because::Lookahead {
            per_second: growth,
            lookahead,
            expected,
        });
    }
    Needed {
        tasks: busy + waiting / target,
        backlog: sums.in_flight_work + waiting,
        rule: Counted::BusyPlusWaiting(busy, waiting),
    }
}

/// The bounded recommendation, before cooldowns, windows and steps.
fn recommend(
    policy: &Policy,
    current: u32,
    needed: Needed,
    state: &PolicyState,
    now: Timestamp,
    reason: &mut Reason,
) -> Recommended {
    let target = policy.target_backlog_per_task();
    let mut inside_tolerance = false;
    let backlog = needed.backlog;
    let raw = tasks_for(needed.tasks);
    let mut tasks;
    if current == 0 {
        // From zero there is no tolerance band: any work is infinitely many
        // messages per task.
        if backlog > policy.activation_backlog {
            tasks = raw.max(1);
            reason.push(needed.because(target, tasks));
        } else {
            tasks = 0;
            reason.push(Because::BelowActivation {
                backlog,
                activation: policy.activation_backlog,
            });
        }
    } else {
        let ratio = needed.ratio(target, current);
        if (ratio - 1.0).abs() <= policy.tolerance + 1e-9 {
            tasks = current;
            inside_tolerance = true;
            let tolerance = policy.tolerance;
            if matches!(needed.rule, Counted::Wait(_)) {
                // What it expected is the point of the reason, band or not.
                reason.push(needed.because(target, raw));
                reason.push(Because::NeedInsideTolerance { ratio, tolerance });
            } else {
                reason.push(Because::InsideTolerance { ratio, tolerance });
            }
        } else {
            tasks = raw;
            reason.push(needed.because(target, tasks));
            if tasks == 0 && policy.min_tasks == 0 {
                tasks = scale_to_zero(policy, state, now, reason);
            }
        }
    }
    if tasks < policy.min_tasks {
        tasks = policy.min_tasks;
        inside_tolerance = false;
        reason.push(Because::RaisedToMin {
            min: policy.min_tasks,
        });
    } else if tasks > policy.max_tasks {
        tasks = policy.max_tasks;
        inside_tolerance = false;
        reason.push(Because::LoweredToMax {
            max: policy.max_tasks,
        });
    }
    Recommended {
        tasks,
        inside_tolerance,
    }
}

/// What [`recommend`] settled on.
struct Recommended {
    tasks: u32,
    /// Held at the current count by the tolerance band (its reason already
    /// says so), not moved by a bound afterwards.
    inside_tolerance: bool,
}

/// With no backlog and `min_tasks: 0`: zero once idle long enough, else one.
fn scale_to_zero(policy: &Policy, state: &PolicyState, now: Timestamp, reason: &mut Reason) -> u32 {
    let needed = policy.scale_to_zero_after;
    let idle_for = state
        .idle_since
        .map(|since| now.since(since))
        .unwrap_or_default();
    if state.idle_since.is_some() && idle_for >= needed {
        reason.push(Because::IdleLongEnough { idle_for });
        0
    } else {
        reason.push(Because::NotIdleLongEnough { idle_for, needed });
        1
    }
}

fn cooldown_remaining(
    since: Option<Timestamp>,
    cooldown: Duration,
    now: Timestamp,
) -> Option<Duration> {
    let since = since?;
    let elapsed = now.since(since);
    (elapsed < cooldown).then(|| cooldown - elapsed)
}

fn scale_out(
    policy: &Policy,
    current: u32,
    recommendation: u32,
    state: &PolicyState,
    now: Timestamp,
    reason: &mut Reason,
) -> u32 {
    if let Some(remaining) =
        cooldown_remaining(state.last_scale_out, policy.scale_out.cooldown, now)
    {
        reason.push(Because::ScaleOutCooldown { remaining });
        return current;
    }
    let mut desired = recommendation;
    if let Some(step) = policy.scale_out.max_step {
        let limit = step.limit(current);
        if recommendation - current > limit {
            desired = current.saturating_add(limit);
            reason.push(Because::StepCapped {
                direction: Action::ScaleOut,
                max_step: step.to_string(),
                from: current,
                to: desired,
            });
        }
    }
    desired
}

#[allow(clippy::too_many_arguments)]
fn scale_in(
    policy: &Policy,
    current: u32,
    recommendation: u32,
    deployment_in_progress: bool,
    (window, keeping): (Duration, Option<KeepingFor>),
    state: &PolicyState,
    now: Timestamp,
    reason: &mut Reason,
) -> u32 {
    if deployment_in_progress {
        reason.push(Because::DeploymentInProgress);
        return current;
    }
    let highest_within = |window: Duration| {
        state
            .recommendations
            .iter()
            .filter(|&&(made, _)| now.since(made) < window)
            .map(|&(_, tasks)| tasks)
            .max()
            .unwrap_or(recommendation)
            .max(recommendation)
    };
    let mut highest = highest_within(window);
    let mut burst_fleet = None;
    if let Some(cap) = keeping.as_ref().and_then(|keeping| keeping.burst_fleet) {
        // The policy's own window still holds all it saw; what is kept
        // beyond it is at most the burst fleet.
        let stated_window = highest_within(policy.scale_in.stabilization_window);
        let capped = highest.min(cap.max(recommendation)).max(stated_window);
        if capped < highest {
            highest = capped;
            burst_fleet = Some(cap);
        }
    }
    if highest > recommendation {
        reason.push(match keeping {
            Some(keeping) => Because::KeepingCapacity {
                highest,
                keep_for: keeping.window,
                returns_seen: keeping.returns_seen,
                typical_return: keeping.typical_return,
                burst_fleet,
            },
            None => Because::Stabilization { highest, window },
        });
    }
    if highest >= current {
        return current;
    }
    if let Some(remaining) = cooldown_remaining(state.last_scale, policy.scale_in.cooldown, now) {
        reason.push(Because::ScaleInCooldown { remaining });
        return current;
    }
    let mut desired = highest;
    if let Some(step) = policy.scale_in.max_step {
        let limit = step.limit(current);
        if current - desired > limit {
            desired = current - limit;
            reason.push(Because::StepCapped {
                direction: Action::ScaleIn,
                max_step: step.to_string(),
                from: current,
                to: desired,
            });
        }
    }
    desired
}
