//! Wait sizing: the policy states the wait a message may have
//! (`target_wait`, read as the p99), the time one message costs
//! (`message_cost`) and how long a new task takes to start (`task_startup`);
//! the engine sizes the service from those alone. See `docs/engine.md`.
//!
//! Three estimates, each from the SQS and ECS counts of one poll and the
//! previous one:
//!
//! - **Arrival rate** `λ`: the smaller of two upper bounds, so that neither
//!   feeds on the fleet's own size. The work in the system over the time a
//!   message takes (`(visible + in_flight) / max(cost, 1s)`: Little's law,
//!   with work shorter than a second read as a second's worth, since a poll
//!   cannot resolve less); and the running tasks' throughput plus the
//!   growth of the work since the previous poll (exact while every task is
//!   busy, an upper bound otherwise). At the first poll of a burst beyond
//!   what the running tasks serve, where the engine reacts, the first bound
//!   alone (see [`burst_onset`]).
//! - **Queue when new tasks start**: tasks launched now serve only after
//!   `task_startup`, so the queue then is what waits now plus what arrives
//!   meanwhile minus what the running tasks serve.
//! - **Tasks**, in one of two regimes:
//!   - *reacting*, when the wait is no longer than a startup plus a poll
//!     (tasks launched on seeing a message start after its deadline):
//!     enough to keep up with the arrivals of the last wait and startup
//!     (see [`keep_up_span`]) plus enough to
//!     drain that projected queue within `target_wait`; or, while a run of
//!     arrivals like the recent ones is to end before tasks launched now
//!     start, the standing queue's first and last messages below, and the
//!     tasks already launched while the running ones do not serve what
//!     waits by its deadlines ([`WaitPlan::run_ending`]);
//!   - *a standing queue*, when the wait is longer: messages may wait, so
//!     the fleet is sized for those still to arrive to be served within
//!     the wait of their arrival, no faster. Served oldest first, the first
//!     and the last of them bind: a message arriving at the next poll, and
//!     the last of a run of arrivals like the recent ones (see
//!     `ArrivalRuns::still_to_come`), or, with no such run, the arrivals
//!     going on at the rate of the last wait, which the fleet keeps up
//!     with. The fleet runs busy with a queue instead of idling beside an
//!     empty one, and launches nothing that would start after a batch is
//!     served.
//!
//! Capacity is then kept through quiet spells as long as the traffic has
//! shown it comes back ([`TrafficMemory`]).

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::arrivals::Waited;
use super::observation::Timestamp;
use super::runs::RunRest;
use super::state::push_bounded;
use crate::policy::{BacklogTarget, Policy, TaskStartup};

/// What wait sizing learns of the traffic's shape: how long after capacity
/// was given back the need for it returned. Bounded: the last
/// [`TrafficMemory::RETURNS`] returns and [`TrafficMemory::OPEN`] scale-ins
/// being followed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficMemory {
    /// Times from a scale-in to the need exceeding the count given back,
    /// oldest first; a need that did not return within
    /// [`TrafficMemory::LONGEST`] counts as that long.
    returns: VecDeque<Duration>,
    /// Scale-ins being followed: (when, the count before it).
    open: VecDeque<(Timestamp, u32)>,
}

impl TrafficMemory {
    /// Returns remembered.
    pub const RETURNS: usize = 64;
    /// Scale-ins followed at once.
    const OPEN: usize = 8;
    /// The longest return followed: beyond it, capacity is not worth keeping.
    pub const LONGEST: Duration = Duration::from_secs(4 * 3600);
    /// Returns needed before they are trusted.
    pub const EVIDENCE: usize = 3;

    /// Note the poll at `now` that needs `needed` tasks.
    pub fn observe(&mut self, now: Timestamp, needed: u32) {
        let open = std::mem::take(&mut self.open);
        for (made, given_back) in open {
            let after = now.since(made);
            if needed >= given_back {
                self.record(after);
            } else if after >= Self::LONGEST {
                self.record(Self::LONGEST);
            } else {
                self.open.push_back((made, given_back));
            }
        }
    }

    /// The service was scaled in from `from` tasks at `now`.
    pub fn scaled_in(&mut self, now: Timestamp, from: u32) {
        push_bounded(&mut self.open, (now, from), Self::OPEN);
    }

    /// The need for the capacity given back so far returns at a time
    /// planned for (the next burst, see `BurstMemory::next_burst`): stop
    /// following those scale-ins.
    pub fn returns_planned(&mut self) {
        self.open.clear();
    }

    fn record(&mut self, after: Duration) {
        push_bounded(&mut self.returns, after, Self::RETURNS);
    }

    /// How long to keep capacity once the need for it is gone.
    ///
    /// Keeping a task through a lull of length `g` costs `g`; giving it back
    /// costs a startup when the need returns. With no evidence, keep it for
    /// one startup (the rent-or-buy break-even). With evidence, choose the
    /// keep time that would have cost least over the returns seen, a return
    /// costing a startup plus `late_by`: how much later than the wait
    /// allows the tasks launched on a return start.
    pub fn keep_for(&self, startup: Duration, late_by: Duration) -> Duration {
        if self.returns.len() < Self::EVIDENCE {
            return startup;
        }
        let mut sorted: Vec<Duration> = self.returns.iter().copied().collect();
        sorted.sort_unstable();
        let restart = startup.saturating_add(late_by);
        let cost = |keep: Duration| -> f64 {
            sorted
                .iter()
                .map(|&g| {
                    if g <= keep {
                        g.as_secs_f64()
                    } else {
                        keep.saturating_add(restart).as_secs_f64()
                    }
                })
                .sum()
        };
        let mut best = (cost(startup), startup);
        for &keep in &sorted {
            let candidate = (cost(keep), keep);
            if candidate.0 < best.0 {
                best = candidate;
            }
        }
        best.1
    }

    /// Returns seen so far (at most [`Self::RETURNS`]).
    pub fn returns_seen(&self) -> usize {
        self.returns.len()
    }

    /// The median return, once there is one.
    pub fn typical_return(&self) -> Option<Duration> {
        let mut sorted: Vec<Duration> = self.returns.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len().saturating_sub(1) / 2).copied()
    }
}

/// The inputs of one wait-sizing estimate, summed over the policy's queues.
pub(super) struct Counts {
    /// Weighted messages waiting (visible, plus delayed when counted).
    pub waiting: f64,
    /// Weighted messages in flight.
    pub in_flight: f64,
    pub running: u32,
    /// The previous poll's total work (waiting + in flight), if any.
    pub previous: Option<(Timestamp, f64)>,
    /// The running tasks the previous poll counted, if any.
    pub running_before: Option<u32>,
    /// Tasks launched and not yet running, and within how long they run at
    /// the latest (a startup after the last scale-out; never more than the
    /// startup: see `decide::pending_in`).
    pub pending: u32,
    pub pending_in: Duration,
    /// What a run of arrivals like 90% of the recent ones still brings,
    /// while the one under way is like them (see
    /// `ArrivalRuns::still_to_come`).
    pub run_rest: Option<RunRest>,
    /// The arrivals over the last `keep_up_span` before this poll:
    /// (messages, since how long ago); `None` before the arrival log holds
    /// any.
    pub over_keep_up_span: Option<(f64, Duration)>,
}

/// A message cost read from `target_wait / target_backlog_per_task`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostFromTarget {
    #[serde(rename = "message_cost_s", with = "super::decision::secs")]
    pub cost: Duration,
    #[serde(rename = "target_backlog_per_task")]
    pub target: f64,
}

/// Where the startup the engine planned with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartupSource {
    Stated,
    Measured,
    Assumed,
}

/// The estimate, in the units a reason prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitPlan {
    /// Messages arriving per second.
    pub arrival_rate: f64,
    /// Whether that is a burst's first poll, where the engine reacts, read
    /// as if the work had all just come (see [`burst_onset`]).
    #[serde(rename = "burst_onset")]
    pub onset: bool,
    /// Messages estimated to have arrived since the previous poll: running
    /// throughput plus the change of the work, not clamped at zero, so
    /// that the estimate's errors (completions either side of a poll)
    /// cancel over polls instead of adding up as phantom arrivals. May be
    /// negative; the burst memory takes it at zero or more.
    #[serde(skip)]
    pub arrived: f64,
    /// Tasks that keep up with it.
    pub busy: f64,
    /// Messages expected to wait when tasks launched now start.
    pub queue_at_startup: f64,
    /// Whether the wait leaves room for a standing queue.
    pub standing_queue: bool,
    /// Messages arriving per second over the last `keep_up_span`: the rate
    /// the fleet keeps up with (see [`StillToArrive::KeepUp`]).
    pub wait_rate: f64,
    /// That span (see `keep_up_span`).
    #[serde(rename = "wait_rate_over_s", with = "super::decision::secs")]
    pub wait_rate_over: Duration,
    /// The arrivals planned for beyond the next poll's: with a standing
    /// queue always; where the engine reacts, once a run ending before new
    /// tasks could start was planned for (see [`WaitPlan::run_ending`]).
    pub still_to_arrive: Option<StillToArrive>,
    /// Where the engine reacts, while a run of arrivals like the recent
    /// ones is to end before tasks launched now could start: the tasks that
    /// serve its first and last messages still to arrive within their wait,
    /// and the run. They replace [`WaitPlan::tasks`] when fewer; while the
    /// running tasks do not serve what already waits by its deadlines
    /// (which the caller checks against the arrival log, this poll's
    /// arrivals included), never below the tasks already launched, which
    /// start before any launched now.
    #[serde(skip)]
    pub run_ending: Option<(f64, RunRest)>,
    /// Tasks launched and not yet running, counted from when they run at
    /// the latest (see `fleet_serving`).
    #[serde(rename = "pending_tasks")]
    pub pending: u32,
    #[serde(rename = "pending_in_s", with = "super::decision::secs")]
    pub pending_in: Duration,
    /// With a standing queue, when the messages already waiting need more
    /// tasks to be served by their deadlines than the queue rule gives: how
    /// long the oldest has waited (see [`by_deadlines`]).
    #[serde(rename = "oldest_waited_s", with = "super::decision::optional_secs")]
    pub oldest_waited: Option<Duration>,
    #[serde(rename = "startup_s", with = "super::decision::secs")]
    pub startup: Duration,
    pub startup_source: StartupSource,
    #[serde(rename = "wait_s", with = "super::decision::secs")]
    pub wait: Duration,
    /// The message cost and the target it was derived from, when the policy
    /// gives `target_backlog_per_task` next to `target_wait`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_from_target: Option<CostFromTarget>,
    /// The tasks that meet the wait (see the module doc), or the warm fleet
    /// if larger.
    pub tasks: f64,
    /// The warm fleet kept for bursts, when it applies.
    pub warm: Option<WarmFleet>,
    /// While idle between bursts that begin at a steady rhythm: when the
    /// next is due, and whether the warm fleet is given back until then.
    pub next_burst: Option<NextBurst>,
    /// The fleet kept for surges (see `surges.rs`), when it applies.
    #[serde(
        rename = "surge_tasks",
        serialize_with = "super::decision::optional_number"
    )]
    pub surges: Option<f64>,
}

/// What a standing queue plans to arrive beyond the next poll.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StillToArrive {
    /// The rest of a run of arrivals like 90% of the recent ones: its last
    /// message is served within the wait of the run's end.
    Run(RunRest),
    /// Arrivals that go on: the fleet keeps up with them at the rate of the
    /// last wait (`WaitPlan::wait_rate`).
    KeepUp,
}

/// The next burst of on/off traffic, as the warm fleet plans for it (see
/// `BurstMemory::next_burst`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NextBurst {
    /// How long until it begins at the earliest.
    #[serde(rename = "due_in_s", with = "super::decision::secs")]
    pub due_in: Duration,
    /// The shortest time between the starts of two bursts in a row seen.
    #[serde(rename = "shortest_period_s", with = "super::decision::secs")]
    pub shortest_period: Duration,
    /// Whether the warm fleet is given back until a later poll: tasks
    /// launched then still run a poll before the burst is due (a poll is
    /// how closely a burst's start is seen).
    pub given_back: bool,
}

/// The fleet kept between bursts (see `bursts.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WarmFleet {
    pub tasks: f64,
    /// The median idle spell between bursts.
    #[serde(rename = "typical_spell_s", with = "super::decision::optional_secs")]
    pub typical_spell: Option<Duration>,
}

/// The startup to plan with: the policy's, else the measured one, else the
/// documented assumption.
pub(super) fn startup(policy: &Policy, measured: Option<Duration>) -> (Duration, StartupSource) {
    match (policy.task_startup, measured) {
        (Some(TaskStartup::Stated(startup)), _) => (startup, StartupSource::Stated),
        (_, Some(measured)) => (measured, StartupSource::Measured),
        _ => (TaskStartup::ASSUMED, StartupSource::Assumed),
    }
}

/// The span of past arrivals whose rate the fleet keeps up with: the last
/// wait, since the queue absorbs what varies within a wait; where the
/// engine reacts (a wait no longer than a startup plus a poll), the last
/// wait and a startup, since tasks launched for a rate that lasts less
/// than a startup run once it is over. Sized to the rate of a minute on a
/// minute's startup, the fleet chased each minute's noise and launched tasks
/// that started after it (BENCHMARKS.md, "No tuning").
pub(super) fn keep_up_span(wait: Duration, startup: Duration, poll: Duration) -> Duration {
    if leaves_standing_queue(wait, startup, poll) {
        wait
    } else {
        wait.saturating_add(startup)
    }
}

/// Which regime wait sizing is in: whether the wait leaves room for a
/// standing queue, being longer than a startup plus a poll (otherwise tasks
/// launched on seeing a message start after its deadline, and the engine
/// reacts).
fn leaves_standing_queue(wait: Duration, startup: Duration, poll: Duration) -> bool {
    wait > startup.saturating_add(poll)
}

/// Whether a poll is the first of a burst larger than the running tasks
/// serve, where the engine reacts (no standing queue): the previous poll
/// found no work (`before`), and the `work` now is more than the running
/// tasks serve within the wait (`capacity`). Then the arrival rate is the
/// bound from the work alone, as if it had all come within the last
/// message cost (or second), not the work's growth spread over the
/// interval: when within the interval the burst began is not known, tasks
/// launched for it start after its first messages are due, and the running
/// ones are already short. Read spread, a fan-out's first second (83
/// messages, seen at the poll right after they landed, one task running)
/// looked like 6/s, and the tasks it needed were launched a poll late.
/// A burst that began early in the interval is overestimated, by up to the
/// poll over the message cost, and its tasks kept for the keep time; one
/// that the running tasks serve within the wait is not read so at all
/// (taken whenever the previous poll found no work, the reading cost a
/// trace idle three seconds in four up to a third more: `BENCHMARKS.md`,
/// "Off the shared traces").
fn burst_onset(standing_queue: bool, before: f64, work: f64, capacity: f64) -> bool {
    !standing_queue && before <= 0.0 && work > capacity
}

/// What a policy sized by its wait states.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stated {
    /// Messages one task serves per second: its slots over the cost.
    pub per_task_rate: f64,
    pub cost: Duration,
    pub wait: Duration,
    /// The target the cost was derived from (`target_wait / target`), when
    /// the policy gives `target_backlog_per_task` instead of `message_cost`.
    pub from_target: Option<f64>,
}

/// What the policy states, when it is sized by its wait; `None` for other
/// policies.
pub(super) fn stated(policy: &Policy) -> Option<Stated> {
    policy.task_startup?;
    let (wait, message_cost) = policy.target.wait_and_cost()?;
    let slots = policy.in_flight_per_task.unwrap_or(1.0);
    let from_target = matches!(policy.target, BacklogTarget::WaitPerTask { .. })
        .then(|| policy.target.backlog_per_task());
    Some(Stated {
        per_task_rate: slots / message_cost.as_secs_f64(),
        cost: message_cost,
        wait,
        from_target,
    })
}

/// The wait-sizing estimate for one poll at `now`.
pub(super) fn plan(
    stated: Stated,
    (startup, startup_source): (Duration, StartupSource),
    counts: &Counts,
    poll: Duration,
    now: Timestamp,
) -> WaitPlan {
    let Stated {
        per_task_rate,
        cost,
        wait,
        from_target,
    } = stated;
    let work = counts.waiting + counts.in_flight;
    let quantum = cost.max(Duration::from_secs(1)).as_secs_f64();
    let running_rate = f64::from(counts.running) * per_task_rate;
    let standing_queue = leaves_standing_queue(wait, startup, poll);
    let from_work = work / quantum;
    let (arrival_rate, arrived, onset) = match counts.previous {
        Some((then, before)) if now > then => {
            let interval = now.since(then).as_secs_f64();
            let change = (work - before) / interval;
            // For sizing, only growth counts: while a queue drains, the
            // tasks may be busy for only part of the interval, and reading
            // the drain as fewer arrivals gives capacity back before the
            // queue is gone. What arrived, for the arrival log and the burst
            // memory, is the best estimate either way, signed (see
            // `WaitPlan::arrived`).
            // Served since: with a standing queue, by the tasks running
            // throughout, the fewer of the two counts (a cut is at once;
            // tasks that started since may have served little): erring low
            // on arrivals errs long on the ages of the messages waiting,
            // which the deadline floor serves by. Otherwise by the tasks
            // running now: erring high on arrivals errs large on the bursts
            // and surges that the capacity kept is sized from.
            let throughout = if standing_queue {
                counts
                    .running
                    .min(counts.running_before.unwrap_or(counts.running))
            } else {
                counts.running
            };
            let served_rate = f64::from(throughout) * per_task_rate;
            let arrived = from_work.min(served_rate + change) * interval;
            let capacity = running_rate * wait.as_secs_f64();
            if burst_onset(standing_queue, before, work, capacity) {
                (from_work, arrived, true)
            } else {
                (
                    from_work.min(running_rate + change.max(0.0)),
                    arrived,
                    false,
                )
            }
        }
        _ => (from_work, 0.0, false),
    };
    let startup_secs = startup.as_secs_f64();
    let busy = arrival_rate / per_task_rate;
    let running = f64::from(counts.running);
    // What arrives while a startup passes: the rate throughout, except
    // with a standing queue during a run of arrivals like the recent ones,
    // which brings no more than they did.
    let run = counts.run_rest.filter(|_| standing_queue);
    let arriving = match run {
        Some(run) => (arrival_rate * startup_secs).min(run.messages.max(0.0)),
        None => arrival_rate * startup_secs,
    };
    // The queue when tasks launched now start, `serving` tasks serving
    // meanwhile. Pending tasks are not among them: they are part of the
    // count this plan recommends, and counting their service as given would
    // let the plan cancel the very tasks it relies on.
    let queue_then = |serving: f64| {
        (counts.waiting + arriving - serving * per_task_rate * startup_secs).max(0.0)
    };
    // The rate of the last wait (and startup, where the engine reacts; see
    // `keep_up_span`), this poll's estimate included: the fleet keeps up
    // with it, not with the last poll's, since the queue may absorb what
    // varies within a wait, and a fleet sized to each poll's peak idles
    // through the next trough.
    let wait_rate = counts
        .over_keep_up_span
        .filter(|&(_, over)| !over.is_zero())
        .map_or(arrival_rate, |(messages, over)| {
            ((messages + arrived) / over.as_secs_f64()).max(0.0)
        });
    let (tasks, queue_at_startup, still_to_arrive) = if standing_queue {
        // With no run like the recent ones under way, the arrivals go on,
        // and the fleet keeps up with them.
        let serving =
            |run| serving_first_and_last(stated, startup_secs, counts, arrival_rate, poll, run);
        let (tasks, still_to_arrive) = match run {
            Some(run) => (serving(Some(run)), StillToArrive::Run(run)),
            None => (
                serving(None).max(wait_rate / per_task_rate),
                StillToArrive::KeepUp,
            ),
        };
        (tasks, queue_then(running.min(tasks)), Some(still_to_arrive))
    } else {
        let queue = queue_then(running);
        (
            wait_rate / per_task_rate + queue / (per_task_rate * wait.as_secs_f64()),
            queue,
            None,
        )
    };
    // Where it reacts, tasks launched now start after a run that ends
    // within a reaction time: they would serve only its last messages, which
    // the rule above, keeping up with the run's rate as if it went on,
    // overrates. So plan for the run's first and last messages instead
    // (applied by the caller, see `WaitPlan::run_ending`).
    let run_ending = counts
        .run_rest
        .filter(|run| !standing_queue && run.within <= startup.saturating_add(poll))
        .map(|run| {
            (
                serving_first_and_last(stated, startup_secs, counts, arrival_rate, poll, Some(run)),
                run,
            )
        });
    WaitPlan {
        arrival_rate,
        onset,
        arrived,
        busy,
        queue_at_startup,
        standing_queue,
        wait_rate,
        wait_rate_over: keep_up_span(wait, startup, poll),
        still_to_arrive,
        run_ending,
        pending: counts.pending,
        pending_in: counts.pending_in,
        oldest_waited: None,
        startup,
        startup_source,
        wait,
        cost_from_target: from_target.map(|target| CostFromTarget { cost, target }),
        tasks,
        warm: None,
        next_burst: None,
        surges: None,
    }
}

/// The smallest fleet that serves, within the wait of its arrival, each
/// message still to arrive that comes closest to its deadline: served
/// oldest first, the first and the last (in between, while the fleet keeps
/// up, each waits less than the one before). The first arrives at the next
/// poll, behind what waits and what the poll brings. The last, with a run
/// like the recent ones under way, is the run's: behind what waits and what
/// the run still brings (at most the rate over a reaction time), served
/// within the wait of the run's end.
fn serving_first_and_last(
    stated: Stated,
    startup: f64,
    counts: &Counts,
    arrival_rate: f64,
    poll: Duration,
    run: Option<RunRest>,
) -> f64 {
    let fleet = (f64::from(counts.running), stated.per_task_rate);
    let pending = (f64::from(counts.pending), counts.pending_in.as_secs_f64());
    let (poll, wait) = (poll.as_secs_f64(), stated.wait.as_secs_f64());
    let first = fleet_serving(
        counts.waiting + arrival_rate * poll,
        wait + poll,
        fleet,
        pending,
        startup,
    );
    run.map_or(first, |run| {
        let coming = (arrival_rate * (startup + poll)).min(run.messages.max(0.0));
        let last = fleet_serving(
            counts.waiting + coming,
            run.within.as_secs_f64() + wait,
            fleet,
            pending,
            startup,
        );
        first.max(last)
    })
}

/// Whether the `running` tasks alone serve the messages already waiting by
/// their deadlines, oldest first (see [`by_deadlines`]).
pub(super) fn running_serves_waiting(
    stated: Stated,
    running: u32,
    mut waited: impl Iterator<Item = Waited>,
) -> bool {
    let rate = f64::from(running) * stated.per_task_rate;
    waited.all(|Waited { waited, messages }| {
        messages <= rate * stated.wait.saturating_sub(waited).as_secs_f64()
    })
}

/// The tasks that serve the messages already waiting by their deadlines,
/// the oldest first (FIFO), from how long they have waited: the standing
/// queue's rule plans for the messages still to arrive, which would let a
/// queue that drains slowly keep its oldest messages past the wait. Tasks
/// launched now serve only after `startup`, the `pending` ones (how many,
/// within how long they run, at most `startup`) from then; a cut is at
/// once.
/// Messages at or past their deadline are due within the next poll: they
/// are late already, but the fleet is not cut under them.
pub(super) fn by_deadlines(
    stated: Stated,
    (startup, poll): (Duration, Duration),
    running: u32,
    pending: (u32, Duration),
    waited: impl Iterator<Item = Waited>,
) -> f64 {
    let rate = stated.per_task_rate;
    let running = f64::from(running);
    let startup = startup.as_secs_f64();
    let pending = (f64::from(pending.0), pending.1.as_secs_f64());
    let poll = poll.as_secs_f64().max(1.0);
    waited
        .map(|Waited { waited, messages }| {
            let left = (stated.wait.as_secs_f64() - waited.as_secs_f64()).max(poll);
            if messages > running * rate * left && left <= startup + poll {
                // More than run are needed, but tasks launched now start
                // too late for these, or would serve them for less than a
                // poll: the next poll's plan, finding them due within a
                // startup, gives such tasks back before they start. Tasks
                // already launched that start before the deadline are kept
                // for them.
                fleet_serving(messages, left, (running, rate), pending, f64::INFINITY)
            } else {
                fleet_serving(messages, left, (running, rate), pending, startup)
            }
        })
        .fold(0.0, f64::max)
}

/// The smallest fleet that serves `messages` within `within` seconds: the
/// `running` tasks from now, any more from when they start, `startup`
/// seconds on; a cut is at once. The two cases agree at `running`, so a
/// little more work never turns a cut into more tasks than run. Needing
/// more than run within a startup, the running tasks (and those already
/// launched that start in time, below) are all there is.
///
/// Tasks already launched (`pending`: how many, and within how long they
/// run at the latest) serve between the two: needing more than run, the
/// fleet is first the running tasks plus as many of those as serve the
/// rest, and only beyond all of them tasks launched now. A fleet between
/// running and running plus pending keeps the pending tasks that start
/// first (the latest launched are cut first), so planning as if all of
/// them started with the last errs on the side of more tasks.
fn fleet_serving(
    messages: f64,
    within: f64,
    (running, per_task_rate): (f64, f64),
    (pending, pending_in): (f64, f64),
    startup: f64,
) -> f64 {
    let rate = per_task_rate;
    let with_fewer = messages / (rate * within);
    if with_fewer <= running {
        return with_fewer;
    }
    let by_running = running * rate * within;
    let pending_serves = within - pending_in;
    let (kept, served) = if pending > 0.0 && pending_serves > 0.0 {
        let by_pending = pending * rate * pending_serves;
        if messages <= by_running + by_pending {
            return running + (messages - by_running) / (rate * pending_serves);
        }
        (running + pending, by_running + by_pending)
    } else {
        (running, by_running)
    };
    if within <= startup {
        // Tasks launched now would start too late to help.
        kept
    } else {
        kept + (messages - served) / (rate * (within - startup))
    }
}
