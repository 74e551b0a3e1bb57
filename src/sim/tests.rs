//! Hand-computed runs checked to the message, closed forms for static
//! fleets, and the simulator's observations replayed through the engine and
//! through the daemon's own evaluation (`controller::evaluate`).

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::engine::{self, Observation, PolicyState, QueueDepth, ServiceCounts, Timestamp};
use crate::policy::Policy;

fn policy(target: f64, min: u32, max: u32, poll_secs: f64) -> Policy {
    let mut policy = Policy::with_defaults("p", "c", "s", "q");
    policy.target = crate::policy::BacklogTarget::BacklogPerTask(target);
    policy.min_tasks = min;
    policy.max_tasks = max;
    policy.poll_interval = Duration::from_secs_f64(poll_secs);
    policy.tolerance = 0.0;
    policy.scale_in.stabilization_window = Duration::ZERO;
    policy
}

fn config(service: Duration, startup: Duration) -> SimConfig {
    SimConfig {
        service_time: service,
        startup,
        record_timeline: true,
        ..SimConfig::default()
    }
}

fn run(policy: &Policy, counts: &[u64], config: &SimConfig) -> SimResult {
    simulate(policy, &Trace::per_second(counts), config, None).unwrap()
}

#[test]
fn one_task_serves_a_burst_in_order() {
    let result = run(
        &policy(100.0, 1, 1, 15.0),
        &[3, 0, 0, 0],
        &config(Duration::from_secs(1), Duration::from_secs(60)),
    );
    let s = &result.summary;
    assert_eq!((s.messages, s.served), (3, 3));
    // Waits 0, 1, 2: ranks ceil(1.5)=2, ceil(2.7)=3, ceil(2.97)=3.
    assert_eq!(
        (s.wait_p50_s, s.wait_p90_s, s.wait_p99_s, s.wait_max_s),
        (1.0, 2.0, 2.0, 2.0)
    );
    assert_eq!(s.task_seconds, 4.0);
    assert_eq!(s.work_seconds, 3.0);
    assert_eq!(s.cost_ratio, Some(4.0 / 3.0));
    assert_eq!((s.scale_actions, s.max_visible, s.peak_tasks), (0, 2, 1));
    assert_eq!(s.mean_tasks, 1.0);
    assert!(s.meets_wait_target);
}

#[test]
fn busy_tasks_stop_when_their_message_ends_and_idle_ones_at_once() {
    // S = 3 s, U = 1 s, polls every 3 s, target 1 message per task, max 3.
    let result = run(
        &policy(1.0, 1, 3, 3.0),
        &[3, 0, 0, 0, 0, 0, 0],
        &config(Duration::from_secs(3), Duration::from_secs(1)),
    );
    let t = &result.timeline;
    // t=0: task 0 took message 1; backlog 2 + 1 in flight -> 3 tasks.
    assert_eq!((t[0].visible, t[0].in_flight, t[0].desired), (2, 1, 3));
    // t=3: task 0 finished, tasks 1 and 2 (started at 1) busy until 4:
    // backlog 2 -> 2 tasks; the newest, task 2, is busy and becomes STOPPING.
    assert_eq!(
        (t[1].visible, t[1].in_flight, t[1].running, t[1].desired),
        (0, 2, 3, 2)
    );
    // t=6: nothing left; the newest RUNNING task is task 1, idle: it ends at once.
    assert_eq!((t[2].in_flight, t[2].running, t[2].desired), (0, 2, 1));
    assert_eq!(
        result.tasks,
        vec![(0.0, None), (0.0, Some(6.0)), (0.0, Some(4.0))]
    );
    let s = &result.summary;
    assert_eq!(s.task_seconds, 7.0 + 6.0 + 4.0);
    assert_eq!(s.work_seconds, 9.0);
    assert_eq!((s.wait_p50_s, s.wait_p99_s, s.wait_max_s), (1.0, 1.0, 1.0));
    assert_eq!((s.scale_actions, s.max_visible, s.peak_tasks), (3, 2, 3));
}

#[test]
fn pending_tasks_stop_first_newest_first() {
    // S = 1 s, U = 10 s, polls every second: launched tasks never start.
    let result = run(
        &policy(1.0, 1, 3, 1.0),
        &[3, 0, 0],
        &config(Duration::from_secs(1), Duration::from_secs(10)),
    );
    let desired: Vec<_> = result.timeline.iter().map(|r| r.desired).collect();
    assert_eq!(desired, vec![3, 2, 1]);
    // Task 2 stopped at 1, then task 1 at 2; task 0 runs to the end.
    assert_eq!(
        result.tasks,
        vec![(0.0, None), (0.0, Some(2.0)), (0.0, Some(1.0))]
    );
    let s = &result.summary;
    assert_eq!(s.task_seconds, 3.0 + 2.0 + 1.0);
    assert_eq!((s.wait_p50_s, s.wait_p90_s, s.wait_max_s), (1.0, 2.0, 2.0));
    assert_eq!(s.peak_tasks, 3);
}

#[test]
fn startups_complete_before_arrivals_and_older_tasks_serve_first() {
    // Task 1 starts at 2 (launched at 0, U = 2) as message 3 arrives; task 0
    // is busy until 4 (S = 4). Task 1 takes the older message 2 at once
    // (wait 2), message 3 waits for task 0 (wait 2).
    let result = run(
        &policy(1.0, 1, 2, 100.0),
        &[2, 0, 1, 0, 0, 0],
        &config(Duration::from_secs(4), Duration::from_secs(2)),
    );
    let s = &result.summary;
    assert_eq!(
        (s.messages, s.served, s.wait_max_s, s.wait_p50_s),
        (3, 3, 2.0, 2.0)
    );
    assert_eq!(s.task_seconds, 6.0 + 6.0);
}

#[test]
fn messages_left_at_the_end_count_with_their_wait_so_far() {
    // One task, S = 10 s, 3 messages at 0, trace ends at 5: only one served.
    let result = run(
        &policy(100.0, 1, 1, 15.0),
        &[3, 0, 0, 0, 0],
        &config(Duration::from_secs(10), Duration::from_secs(60)),
    );
    let s = &result.summary;
    assert_eq!((s.messages, s.served), (3, 1));
    assert_eq!((s.wait_p50_s, s.wait_max_s), (5.0, 5.0));
    assert_eq!(s.work_seconds, 30.0);
    assert_eq!(s.cost_ratio, Some(5.0 / 30.0));
    assert!(s.meets_wait_target);
}

#[test]
fn equal_completion_times_serve_in_launch_order_with_concurrency() {
    // Two slots per task, S = 1 s: 5 messages on 2 tasks (4 slots).
    let config = SimConfig {
        concurrency: 2,
        ..config(Duration::from_secs(1), Duration::from_secs(60))
    };
    let result = run(&policy(100.0, 2, 2, 15.0), &[5, 0, 0], &config);
    let s = &result.summary;
    assert_eq!((s.wait_p50_s, s.wait_p90_s, s.wait_max_s), (0.0, 1.0, 1.0));
    assert_eq!(s.work_seconds, 2.5);
    assert_eq!(s.task_seconds, 6.0);
}

#[test]
fn fractional_service_times_stay_exact() {
    // S = 0.4 s, one task: 10 messages at 0 start at 0, 0.4, ..., 3.6.
    let result = run(
        &policy(100.0, 1, 1, 15.0),
        &[10, 0, 0, 0, 0],
        &config(Duration::from_millis(400), Duration::from_secs(60)),
    );
    let s = &result.summary;
    assert_eq!(s.wait_max_s, 3.6);
    assert_eq!(s.wait_p50_s, 1.6);
    assert_eq!(s.wait_p90_s, 3.2);
    assert_eq!(s.served, 10);
}

#[test]
fn poll_sees_arrivals_of_its_instant_and_max_visible_is_after_assignment() {
    let result = run(
        &policy(1000.0, 1, 1, 1.0),
        &[5, 5],
        &config(Duration::from_secs(1), Duration::from_secs(60)),
    );
    let arrivals: Vec<_> = result.timeline.iter().map(|r| r.arrivals).collect();
    let visible: Vec<_> = result.timeline.iter().map(|r| r.visible).collect();
    assert_eq!(arrivals, vec![5, 5]);
    assert_eq!(visible, vec![4, 8]);
    assert_eq!(result.summary.max_visible, 8);
}

proptest! {
    /// A static fleet of `n` tasks with `c` slots serving a burst of `a`
    /// messages: message `i` (0-based) waits `floor(i / (n c)) * S`.
    #[test]
    fn static_fleet_matches_the_closed_form(
        a in 1u64..3000,
        n in 1u32..12,
        c in 1u32..4,
        service_ms in 1u64..2000,
    ) {
        let slots = u64::from(n * c);
        let service = Duration::from_millis(service_ms);
        let rounds = (a - 1) / slots + 1;
        let end = (rounds * service_ms).div_ceil(1000) + 1;
        let mut counts = vec![0; end as usize];
        counts[0] = a;
        let config = SimConfig {
            concurrency: c,
            ..config(service, Duration::from_secs(60))
        };
        let s = run(&policy(1.0, n, n, 15.0), &counts, &config).summary;
        let wait = |rank: u64| ((rank - 1) / slots * service_ms) as f64 / 1000.0;
        let rank = |p: u64| (p * a).div_ceil(100);
        prop_assert_eq!(s.served, a);
        prop_assert_eq!(s.wait_p50_s, wait(rank(50)));
        prop_assert_eq!(s.wait_p90_s, wait(rank(90)));
        prop_assert_eq!(s.wait_p99_s, wait(rank(99)));
        prop_assert_eq!(s.wait_max_s, wait(a));
        prop_assert_eq!(s.task_seconds, f64::from(n) * end as f64);
        prop_assert_eq!(s.scale_actions, 0);
        prop_assert_eq!(s.max_visible, a.saturating_sub(slots));
    }

    /// Arrivals come at the start of each second: a fleet with a slot per
    /// message of a second and `S` at most 1 s never makes anyone wait.
    #[test]
    fn static_fleet_with_a_slot_per_arrival_never_queues(
        rate in 1u64..50,
        extra in 0u32..5,
        service_ms in 1u64..=1000,
    ) {
        let n = rate as u32 + extra;
        let config = config(Duration::from_millis(service_ms), Duration::from_secs(60));
        let s = run(&policy(1.0, n, n, 15.0), &vec![rate; 120], &config).summary;
        prop_assert_eq!(s.wait_max_s, 0.0);
        prop_assert_eq!(s.messages, rate * 120);
        prop_assert_eq!(s.served, rate * 120);
        prop_assert_eq!(s.task_seconds, f64::from(n) * 120.0);
    }
}

/// A damped policy (tolerance, a 2 m window, 100% steps, a 30 s scale-in
/// cooldown) on an hour of steps of traffic, and the simulator's run of it.
fn damped_scenario() -> (Policy, SimResult) {
    let mut policy = policy(5.0, 1, 40, 15.0);
    policy.tolerance = 0.1;
    policy.scale_in.stabilization_window = Duration::from_secs(120);
    policy.scale_out.max_step = Some(crate::policy::Step::Percent(100.0));
    policy.scale_in.cooldown = Duration::from_secs(30);
    let counts: Vec<u64> = (0..3600u64)
        .map(|t| (t / 300 % 4) * 3 + (t % 7 == 0) as u64)
        .collect();
    let result = run(
        &policy,
        &counts,
        &config(Duration::from_secs(2), Duration::from_secs(45)),
    );
    assert!(result.summary.scale_actions > 5, "the scenario scales");
    (policy, result)
}

/// The daemon's loop, reduced to its core: observe, decide from the kept
/// state, apply. Fed the observations the simulator made, it must take the
/// same decisions the simulator applied.
#[test]
fn a_daemon_loop_fed_the_same_observations_decides_the_same() {
    let (policy, result) = damped_scenario();

    let mut state = PolicyState::default();
    for row in &result.timeline {
        let observation = Observation::single(
            QueueDepth {
                visible: row.visible,
                in_flight: row.in_flight,
                delayed: 0,
            },
            ServiceCounts {
                desired: row.observed_desired,
                running: row.running,
                pending: row.pending,
                deployment_in_progress: false,
            },
        );
        let now = Timestamp::from_secs_f64(row.time_s);
        let (decision, next) = engine::decide(&policy, Ok(&observation), &state, now);
        state = next;
        assert_eq!(decision.desired(), Some(row.desired), "at {} s", row.time_s);
        assert_eq!(decision.action(), row.action, "at {} s", row.time_s);
        assert_eq!(decision.reason.to_string(), row.reason);
    }
}

/// The world as the daemon's ports see it, replaying the observations the
/// simulator made, poll by poll, and recording what the daemon writes.
struct ReplayedWorld {
    row: std::sync::Mutex<TimelineRow>,
    written: std::sync::Mutex<Vec<u32>>,
}

impl crate::ports::QueueDepthReader for ReplayedWorld {
    fn queue_depth<'a>(&'a self, _queue: &'a str) -> crate::ports::PortFuture<'a, QueueDepth> {
        let row = self.row.lock().unwrap().clone();
        Box::pin(async move {
            Ok(QueueDepth {
                visible: row.visible,
                in_flight: row.in_flight,
                delayed: 0,
            })
        })
    }
}

impl crate::ports::ServiceStateReader for ReplayedWorld {
    fn service_state<'a>(
        &'a self,
        _cluster: &'a str,
        _service: &'a str,
    ) -> crate::ports::PortFuture<'a, ServiceCounts> {
        let row = self.row.lock().unwrap().clone();
        Box::pin(async move {
            Ok(ServiceCounts {
                desired: row.observed_desired,
                running: row.running,
                pending: row.pending,
                deployment_in_progress: false,
            })
        })
    }
}

impl crate::ports::DesiredCountWriter for ReplayedWorld {
    fn set_desired<'a>(
        &'a self,
        _cluster: &'a str,
        _service: &'a str,
        desired: u32,
    ) -> crate::ports::PortFuture<'a, ()> {
        self.written.lock().unwrap().push(desired);
        Box::pin(async { Ok(()) })
    }
}

/// The daemon's own evaluation (`controller::evaluate`: observe through the
/// ports, decide, write), fed what the simulator observed, writes exactly
/// the desired counts the simulator applied, at the same polls.
#[tokio::test]
async fn the_daemons_evaluation_writes_what_the_simulator_applied() {
    use std::sync::Arc;

    use crate::controller::{evaluate, Deadlines, PolicyRecord};
    use crate::ports::Ports;

    let mut policy = policy(5.0, 1, 40, 15.0);
    policy.tolerance = 0.1;
    policy.scale_in.stabilization_window = Duration::from_secs(120);
    policy.scale_in.max_step = Some(crate::policy::Step::Percent(50.0));
    policy.scale_out.lookahead = Duration::from_secs(45);
    let counts: Vec<u64> = (0..3600u64)
        .map(|t| (t / 300 % 4) * 3 + (t % 7 == 0) as u64)
        .collect();
    let result = run(
        &policy,
        &counts,
        &config(Duration::from_secs(2), Duration::from_secs(45)),
    );
    assert!(result.summary.scale_actions > 5, "the scenario scales");

    let world = Arc::new(ReplayedWorld {
        row: std::sync::Mutex::new(result.timeline[0].clone()),
        written: std::sync::Mutex::new(Vec::new()),
    });
    let ports = Ports {
        queues: world.clone(),
        services: world.clone(),
        scaler: world.clone(),
        metrics: None,
    };
    let mut memory = PolicyRecord::default();
    for row in &result.timeline {
        *world.row.lock().unwrap() = row.clone();
        let now = Timestamp::from_secs_f64(row.time_s);
        let (evaluation, next) =
            evaluate(&policy, false, &ports, &memory, now, Deadlines::default()).await;
        memory = next;
        assert_eq!(
            evaluation.desired_after(),
            Some(row.desired),
            "at {} s",
            row.time_s
        );
        assert_eq!(evaluation.decision.reason.to_string(), row.reason);
    }
    let applied: Vec<u32> = result
        .timeline
        .iter()
        .filter(|row| row.desired != row.observed_desired)
        .map(|row| row.desired)
        .collect();
    assert_eq!(*world.written.lock().unwrap(), applied);
}

/// The rules of `docs/policies.md` for one policy (target 5, bounds 1..40,
/// tolerance 0.1, scale-out at most +100%, scale-in to the highest
/// recommendation of the last 120 s and not within 30 s of any change),
/// written out here apart from the engine: fed the simulator's
/// observations, they must give every desired count it applied. The
/// replays above run the same engine that made the timeline, so a wrong
/// rule would pass them; it cannot pass this.
#[test]
fn the_simulators_decisions_follow_the_rules_computed_independently() {
    let (_, result) = damped_scenario();
    let (target, min, max, tolerance) = (5.0, 1u32, 40u32, 0.1);
    let (window, cooldown_in) = (120.0, 30.0);

    // (time, recommendation) within the window; a start counts as a
    // recommendation of the count found, so no scale-in before a window.
    let mut history: Vec<(f64, u32)> = Vec::new();
    let mut last_change: Option<f64> = None;
    let mut outs = 0;
    let mut ins = 0;
    for (i, row) in result.timeline.iter().enumerate() {
        let now = row.time_s;
        let current = row.observed_desired;
        history.retain(|&(made, _)| now - made < window);
        if i == 0 {
            history.push((now, current.clamp(min, max)));
        }
        let backlog = (row.visible + row.in_flight) as f64;
        let wanted = ((backlog / target).ceil() as u32).clamp(min, max);
        let inside_tolerance =
            current > 0 && (backlog / (target * f64::from(current)) - 1.0).abs() <= tolerance;
        let recommendation = if inside_tolerance { current } else { wanted };
        history.push((now, recommendation));
        let expected = if recommendation > current {
            outs += 1;
            recommendation.min(current + current.max(1))
        } else if recommendation < current {
            let highest = history.iter().map(|&(_, r)| r).max().unwrap();
            let cooling = last_change.is_some_and(|at| now - at < cooldown_in);
            if highest >= current || cooling {
                current
            } else {
                ins += 1;
                highest
            }
        } else {
            current
        };
        assert_eq!(row.desired, expected, "at {now} s: {row:?}");
        if expected != current {
            last_change = Some(now);
        }
    }
    assert!(
        outs > 0 && ins > 0,
        "both directions exercised: {outs} out, {ins} in"
    );
}
