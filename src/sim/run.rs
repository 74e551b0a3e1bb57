//! The event loop: the simulated world, a [`Controller`] polling it (our
//! policy through the same `engine::decide` the daemon uses, or one of the
//! alternatives), and the figures.
//!
//! Outside events (startups, arrivals, polls) are visited in time order;
//! between two of them the fleet serves the queue in bulk
//! ([`Fleet::serve_until`]). At one instant the contract's order holds:
//! startups, completions, arrivals, assignment, then the poll.

use std::sync::atomic::{AtomicU64, Ordering};

use super::arrivals::Arrivals;
use super::config::{ConfigError, SimConfig};
use super::controller::{Controller, EngineController, Poll};
use super::fleet::Fleet;
use super::queue::Fifo;
use super::report::{seconds, Summary};
use super::timeline::TimelineRow;
use super::trace::Trace;
use super::waits::{bucket_bounds, nearest_rank, BucketCollector, WaitHistogram, WaitSink};
use crate::policy::Policy;

const NANOS: u64 = 1_000_000_000;

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub summary: Summary,
    /// One row per poll when the config asked for it.
    pub timeline: Vec<TimelineRow>,
    /// Every task's `(launched, ended)` in seconds, launch order.
    pub tasks: Vec<(f64, Option<f64>)>,
    /// The end of the trace, in seconds.
    pub end_s: f64,
}

/// Run `policy` over `trace`. `progress`, when given, is advanced in
/// simulated nanoseconds (a second pass may run: up to `2 * T_end`).
pub fn simulate(
    policy: &Policy,
    trace: &Trace,
    config: &SimConfig,
    progress: Option<&AtomicU64>,
) -> Result<SimResult, ConfigError> {
    simulate_with(&EngineController::new(policy), trace, config, progress)
}

/// Run any [`Controller`] over `trace`, in the same loop and model as a
/// policy; each pass starts from a fresh clone of `controller`.
pub fn simulate_with<C: Controller>(
    controller: &C,
    trace: &Trace,
    config: &SimConfig,
    progress: Option<&AtomicU64>,
) -> Result<SimResult, ConfigError> {
    check(controller, config)?;
    let mut histogram = WaitHistogram::default();
    let first = run_pass(
        controller,
        trace,
        config,
        &mut histogram,
        config.record_timeline,
        progress,
    );
    let total = histogram.total();
    let mut percentiles = [0u64; 3];
    if total > 0 {
        let located = [50, 90, 99].map(|p| histogram.locate(nearest_rank(p, total)));
        let exact = located.map(|located| histogram.exact_value(located));
        let mut collector = None;
        if exact.iter().any(Option::is_none) {
            let mut second = BucketCollector::new(located.iter().map(|l| l.bucket).collect());
            run_pass(controller, trace, config, &mut second, false, progress);
            second.finish();
            collector = Some(second);
        }
        for (slot, (located, exact)) in percentiles.iter_mut().zip(located.iter().zip(exact)) {
            *slot = exact
                .or_else(|| collector.as_ref().and_then(|c| c.value(*located)))
                .expect("the second pass sees the same waits as the first");
        }
    }
    if let Some(progress) = progress {
        progress.store(2 * trace.end_seconds() * NANOS, Ordering::Relaxed);
    }

    let end_ns = trace.end_seconds() * NANOS;
    let service = config.service_time.as_secs_f64();
    let work_seconds = first.messages as f64 * service / f64::from(config.concurrency);
    let task_seconds = first.task_nanos as f64 / 1e9;
    let wait_p99 = percentiles[2];
    let summary = Summary {
        messages: first.messages,
        served: first.served,
        wait_p50_s: seconds(percentiles[0]),
        wait_p90_s: seconds(percentiles[1]),
        wait_p99_s: seconds(wait_p99),
        wait_max_s: seconds(histogram.max()),
        task_seconds,
        work_seconds,
        cost_ratio: (work_seconds > 0.0).then(|| task_seconds / work_seconds),
        unserved_share: (first.messages > 0)
            .then(|| (first.messages - first.served) as f64 / first.messages as f64),
        scale_actions: first.scale_actions,
        max_visible: first.max_visible,
        peak_tasks: first.peak_tasks,
        mean_tasks: if end_ns == 0 {
            0.0
        } else {
            first.task_nanos as f64 / end_ns as f64
        },
        meets_wait_target: u128::from(wait_p99) <= config.wait_target.as_nanos(),
    };
    Ok(SimResult {
        summary,
        timeline: first.timeline,
        tasks: first.tasks,
        end_s: trace.end_seconds() as f64,
    })
}

/// The settings and the controller can run: a poll interval of zero would
/// never advance.
fn check<C: Controller>(controller: &C, config: &SimConfig) -> Result<(), ConfigError> {
    config.check()?;
    if controller.poll_interval().is_zero() {
        return Err(ConfigError::ZeroPollInterval);
    }
    Ok(())
}

/// A run's cost and verdict without its exact percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Screen {
    pub task_seconds: f64,
    pub meets_wait_target: bool,
}

/// What a tuning search needs of a run, usually in one pass instead of two:
/// the p99's histogram bucket decides the verdict unless the wait target
/// falls inside that bucket (a 1/1024-wide sliver) and the bucket held more
/// than one value, and only then does a full [`simulate_with`] run. Same
/// task-seconds and verdict as it.
pub fn screen_with<C: Controller>(
    controller: &C,
    trace: &Trace,
    config: &SimConfig,
) -> Result<Screen, ConfigError> {
    check(controller, config)?;
    let config = SimConfig {
        record_timeline: false,
        ..config.clone()
    };
    let mut histogram = WaitHistogram::default();
    let pass = run_pass(controller, trace, &config, &mut histogram, false, None);
    let target = config.wait_target.as_nanos();
    let meets = if histogram.total() == 0 {
        true
    } else {
        let located = histogram.locate(nearest_rank(99, histogram.total()));
        let (low, high) = bucket_bounds(located.bucket);
        if u128::from(high) <= target {
            true
        } else if u128::from(low) > target {
            false
        } else if let Some(value) = histogram.exact_value(located) {
            u128::from(value) <= target
        } else {
            simulate_with(controller, trace, &config, None)?
                .summary
                .meets_wait_target
        }
    };
    Ok(Screen {
        task_seconds: pass.task_nanos as f64 / 1e9,
        meets_wait_target: meets,
    })
}

struct PassResult {
    messages: u64,
    served: u64,
    task_nanos: u128,
    scale_actions: u64,
    max_visible: u64,
    peak_tasks: u32,
    timeline: Vec<TimelineRow>,
    tasks: Vec<(f64, Option<f64>)>,
}

/// The simulated world as the controller sees it: an SQS queue and an ECS
/// service, observed exactly.
struct World {
    queue: Fifo,
    fleet: Fleet,
}

impl World {
    fn observe(&self) -> Poll {
        Poll {
            visible: self.queue.len(),
            in_flight: self.fleet.in_flight(),
            desired: self.fleet.desired(),
            running: self.fleet.running(),
            pending: self.fleet.pending(),
        }
    }
}

fn run_pass<C: Controller>(
    controller: &C,
    trace: &Trace,
    config: &SimConfig,
    waits: &mut impl WaitSink,
    record_timeline: bool,
    progress: Option<&AtomicU64>,
) -> PassResult {
    let end = trace.end_seconds() * NANOS;
    let service = duration_nanos(config.service_time);
    let poll = duration_nanos(controller.poll_interval());
    let startup = duration_nanos(config.startup);
    let initial = config
        .initial_tasks
        .unwrap_or_else(|| controller.initial_tasks());
    let mut controller = controller.clone();
    let progress_base = progress.map(|p| p.load(Ordering::Relaxed)).unwrap_or(0);

    let mut world = World {
        queue: Fifo::default(),
        fleet: Fleet::new(initial, service, config.concurrency, startup, end),
    };
    let mut arrivals = Arrivals::new(trace, config.scale).peekable();
    let mut next_poll = 0u64;
    let mut result = PassResult {
        messages: 0,
        served: 0,
        task_nanos: 0,
        scale_actions: 0,
        max_visible: 0,
        peak_tasks: initial,
        timeline: Vec::new(),
        tasks: Vec::new(),
    };
    let mut arrivals_since_poll = 0u64;

    loop {
        let mut now = end;
        if let Some(&(second, _)) = arrivals.peek() {
            now = now.min(second * NANOS);
        }
        if next_poll < end {
            now = now.min(next_poll);
        }
        if let Some(ready) = world.fleet.next_ready() {
            now = now.min(ready);
        }
        result.served += world.fleet.serve_until(&mut world.queue, now, waits);
        if now >= end {
            break;
        }

        world.fleet.start_ready(now);
        world.fleet.release_finished(now);
        if let Some(&(second, count)) = arrivals.peek() {
            if second * NANOS == now {
                world.queue.push(now, count);
                result.messages += count;
                arrivals_since_poll += count;
                arrivals.next();
            }
        }
        result.served += world.fleet.assign(&mut world.queue, now, waits);
        result.max_visible = result.max_visible.max(world.queue.len());

        if now == next_poll {
            let observation = world.observe();
            let before = observation.desired;
            let desired = controller.desired(&observation, now);
            if desired != before {
                world.fleet.set_desired(desired, now);
                result.scale_actions += 1;
                // With no startup delay new tasks serve at once.
                result.served += world.fleet.assign(&mut world.queue, now, waits);
            }
            result.peak_tasks = result.peak_tasks.max(world.fleet.alive());
            if record_timeline {
                let (action, reason) = controller.explain();
                result.timeline.push(TimelineRow {
                    time_s: seconds(now),
                    arrivals: arrivals_since_poll,
                    visible: observation.visible,
                    in_flight: observation.in_flight,
                    observed_desired: before,
                    desired: world.fleet.desired(),
                    running: observation.running,
                    pending: observation.pending,
                    oldest_wait_s: world.queue.oldest().map_or(0.0, |at| seconds(now - at)),
                    action,
                    reason,
                });
            }
            arrivals_since_poll = 0;
            next_poll = next_poll.saturating_add(poll);
            if let Some(progress) = progress {
                progress.store(progress_base + now, Ordering::Relaxed);
            }
        }
    }
    world.queue.drain_unserved(end, waits);
    if let Some(progress) = progress {
        progress.store(progress_base + end, Ordering::Relaxed);
    }
    result.task_nanos = world.fleet.task_nanos();
    result.tasks = world
        .fleet
        .lifetimes()
        .into_iter()
        .map(|(launched, ended)| (seconds(launched), ended.map(seconds)))
        .collect();
    result
}

fn duration_nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
