//! Wait sizing (`task_startup` with `target_wait` and `message_cost`): a
//! table of its rules and the properties every decision keeps.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::engine::bursts::BurstMemory;
use crate::engine::wait_sizing::TrafficMemory;
use crate::policy::{BacklogTarget, TaskStartup};

/// Wait 60 s, 2 s a message, startup 60 s, bounds [1, 300].
fn sized(startup: TaskStartup) -> Policy {
    let mut p = Policy::with_defaults("worker", "main", "worker", "jobs");
    p.target = BacklogTarget::Wait {
        wait: Duration::from_secs(60),
        message_cost: Duration::from_secs(2),
    };
    p.task_startup = Some(startup);
    p.min_tasks = 1;
    p.max_tasks = 300;
    p.scale_in.stabilization_window = Duration::ZERO;
    p
}

fn stated() -> Policy {
    sized(TaskStartup::Stated(Duration::from_secs(60)))
}

fn service(visible: u64, in_flight: u64, desired: u32, running: u32) -> Observation {
    let mut obs = observe(visible, in_flight, desired);
    obs.service.running = running;
    obs.service.pending = desired.saturating_sub(running);
    obs
}

fn plan_of(decision: &Decision) -> &WaitPlan {
    decision
        .reason
        .steps()
        .iter()
        .find_map(|step| match step {
            Because::WaitSizing { plan, .. } => Some(plan.as_ref()),
            _ => None,
        })
        .expect("a wait-sizing step")
}

#[test]
fn a_target_next_to_the_wait_sizes_as_the_cost_it_gives() {
    // 60 s / 30 messages per task = 2 s a message: the same policy as
    // `stated()`, written the other way.
    let mut by_target = stated();
    by_target.target = BacklogTarget::WaitPerTask {
        wait: Duration::from_secs(60),
        backlog_per_task: 30.0,
    };
    for (visible, in_flight, desired, running) in [(0, 20, 30, 30), (900, 40, 40, 20), (5, 0, 3, 3)]
    {
        let obs = service(visible, in_flight, desired, running);
        let (first, state) = decide(&stated(), Ok(&obs), &PolicyState::default(), at(0));
        let (again, other) = decide(&by_target, Ok(&obs), &PolicyState::default(), at(0));
        assert_eq!(first.outcome, again.outcome);
        assert_eq!(state, other);
        assert!(plan_of(&first).tasks > 0.0);
        assert_eq!(plan_of(&first).tasks, plan_of(&again).tasks);
        // The reason says where the cost came from.
        assert!(!first.reason.to_string().contains("a message"));
        assert!(again
            .reason
            .to_string()
            .contains("busy tasks at 2s a message (1m wait / target 30);"));
    }
    // A wait twice as long per message: fewer tasks for the same work.
    by_target.target = BacklogTarget::WaitPerTask {
        wait: Duration::from_secs(60),
        backlog_per_task: 60.0,
    };
    let obs = service(60, 4, 4, 4);
    let slow = fresh(&stated(), &obs);
    let fast = fresh(&by_target, &obs);
    assert!(fast.desired() < slow.desired(), "{fast:?} {slow:?}");
    assert!(slow.desired() < Some(300), "{slow:?}");
}

/// Two polls 15 s apart with the same counts: a steady state.
fn steady(policy: &Policy, visible: u64, in_flight: u64, desired: u32) -> Decision {
    let obs = service(visible, in_flight, desired, desired);
    let (_, state) = decide(policy, Ok(&obs), &PolicyState::default(), at(0));
    decide(policy, Ok(&obs), &state, at(15)).0
}

#[test]
fn steady_work_is_kept_up_with_and_nothing_more() {
    // 20 messages in service at 2 s each: 10 arrive a second, 20 tasks busy.
    let d = steady(&stated(), 0, 20, 30);
    let plan = plan_of(&d);
    assert_eq!(plan.arrival_rate, 10.0);
    assert_eq!(plan.busy, 20.0);
    assert_eq!(plan.queue_at_startup, 0.0);
    assert_eq!(d.recommendation(), Some(20));
    // A restart keeps what it found for one startup.
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    assert!(
        d.reason.to_string().contains("keeping 30 tasks for 1m"),
        "{}",
        d.reason
    );
}

#[test]
fn a_larger_fleet_does_not_read_as_more_arrivals() {
    // The pitfall of estimating arrivals from assumed completions: the same
    // work with three times the tasks must not look like more traffic.
    let small = steady(&stated(), 0, 20, 30);
    let large = steady(&stated(), 0, 20, 90);
    assert_eq!(plan_of(&small).arrival_rate, plan_of(&large).arrival_rate);
    assert_eq!(small.recommendation(), large.recommendation());
}

#[test]
fn growth_is_planned_for_until_new_tasks_start() {
    // 10 tasks, all busy; the queue grew by 150 in 15 s: 10 more a second
    // than the 5 a second the tasks serve.
    let policy = stated();
    let (_, state) = decide(
        &policy,
        Ok(&service(50, 10, 10, 10)),
        &PolicyState::default(),
        at(0),
    );
    let (d, _) = decide(&policy, Ok(&service(200, 10, 10, 10)), &state, at(15));
    let plan = plan_of(&d);
    assert_eq!(plan.arrival_rate, 15.0, "{}", d.reason);
    // 200 waiting + 60 s x (15 - 5) = 800 waiting when new tasks start,
    // drained within 60 s at 0.5 a second per task: 26.7 tasks more.
    assert!((plan.queue_at_startup - 800.0).abs() < 1e-9, "{}", d.reason);
    assert_eq!(d.recommendation(), Some(57), "30 busy + 800 / 30");
    assert!(d
        .reason
        .to_string()
        .contains("800 messages expected waiting"));
}

#[test]
fn work_shorter_than_a_second_counts_as_a_seconds_worth() {
    // 0.1 s messages: 100 in the system are read as at most 100 a second,
    // not 1000 (a poll cannot resolve work shorter than a second).
    let mut policy = stated();
    policy.target = BacklogTarget::Wait {
        wait: Duration::from_secs(60),
        message_cost: Duration::from_millis(100),
    };
    let d = steady(&policy, 90, 10, 10);
    assert_eq!(plan_of(&d).arrival_rate, 100.0);
    assert_eq!(d.recommendation(), Some(10));
}

#[test]
fn the_startup_comes_from_the_policy_the_measurement_or_the_assumption() {
    let stated_plan = steady(&stated(), 0, 20, 20);
    assert_eq!(plan_of(&stated_plan).startup_source, StartupSource::Stated);

    let policy = sized(TaskStartup::Measured);
    let d = steady(&policy, 0, 20, 20);
    assert_eq!(plan_of(&d).startup_source, StartupSource::Assumed);
    assert_eq!(plan_of(&d).startup, TaskStartup::ASSUMED);
    assert!(
        d.reason.to_string().contains("1m assumed startup"),
        "{}",
        d.reason
    );

    // Scale out from 2 to 40, then the service reports 40 running 45 s later.
    let (d, state) = decide(
        &policy,
        Ok(&service(600, 2, 2, 2)),
        &PolicyState::default(),
        at(0),
    );
    assert_eq!(d.action(), Action::ScaleOut, "{}", d.reason);
    let to = d.desired().unwrap();
    let (_, state) = decide(&policy, Ok(&service(600, 2, to, 2)), &state, at(30));
    let (d, state) = decide(&policy, Ok(&service(0, 20, to, to)), &state, at(60));
    assert_eq!(state.measured_startup(), Some(Duration::from_secs(45)));
    assert_eq!(plan_of(&d).startup_source, StartupSource::Measured);
    assert_eq!(plan_of(&d).startup, Duration::from_secs(45));
}

#[test]
fn capacity_is_kept_for_one_startup_without_evidence() {
    let policy = stated();
    let busy = service(0, 40, 40, 40);
    let quiet = service(0, 4, 40, 40);
    let (_, state) = decide(&policy, Ok(&busy), &PolicyState::default(), at(0));
    let (d, state) = decide(&policy, Ok(&busy), &state, at(15));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, state) = decide(&policy, Ok(&quiet), &state, at(30));
    assert_eq!(d.action(), Action::Hold, "kept: {}", d.reason);
    assert!(
        d.reason.to_string().contains("keeping 40 tasks for 1m"),
        "{}",
        d.reason
    );
    let (d, _) = decide(&policy, Ok(&quiet), &state, at(75));
    assert_eq!(d.action(), Action::ScaleIn, "{}", d.reason);
}

#[test]
fn keep_time_is_the_cheapest_over_the_returns_seen() {
    let startup = Duration::from_secs(60);
    let mut memory = TrafficMemory::default();
    assert_eq!(memory.keep_for(startup, Duration::ZERO), startup);
    // Capacity given back three times, needed again 100 s later each time:
    // keeping it 100 s costs 100 a return, giving it back 60 s + 60 s.
    for i in 0..3 {
        let t = i * 1000;
        memory.scaled_in(at(t), 10);
        memory.observe(at(t + 50), 5);
        memory.observe(at(t + 100), 10);
    }
    assert_eq!(memory.returns_seen(), 3);
    assert_eq!(
        memory.keep_for(startup, Duration::ZERO),
        Duration::from_secs(100)
    );
    // Returns after 500 s: giving back and starting again is cheaper.
    let mut memory = TrafficMemory::default();
    for i in 0..3 {
        let t = i * 1000;
        memory.scaled_in(at(t), 10);
        memory.observe(at(t + 500), 10);
    }
    assert_eq!(memory.keep_for(startup, Duration::ZERO), startup);
    // Unless tasks started on a return come 500 s later than the wait allows.
    assert_eq!(
        memory.keep_for(startup, Duration::from_secs(500)),
        Duration::from_secs(500)
    );
}

fn any_sized_policy() -> impl Strategy<Value = Policy> {
    (
        0u32..5,
        0u32..60,
        1u64..600,
        1u64..20_000,
        0u64..240,
        any::<bool>(),
        prop::option::of(0.5f64..8.0),
        0.0f64..0.5,
    )
        .prop_map(
            |(min, span, wait, cost_ms, startup, measured, slots, tolerance)| {
                let mut p = sized(if measured {
                    TaskStartup::Measured
                } else {
                    TaskStartup::Stated(Duration::from_secs(startup))
                });
                p.min_tasks = min;
                p.max_tasks = (min + span).max(1);
                p.target = BacklogTarget::Wait {
                    wait: Duration::from_secs(wait),
                    message_cost: Duration::from_millis(cost_ms),
                };
                p.in_flight_per_task = slots;
                p.tolerance = tolerance;
                p
            },
        )
}

/// Polls (seconds since last, visible, in flight, desired, running).
fn any_history() -> impl Strategy<Value = Vec<(u64, u64, u64, u32, u32)>> {
    prop::collection::vec(
        (1u64..600, 0u64..5_000, 0u64..500, 0u32..80, 0u32..80),
        0..24,
    )
}

fn replay(policy: &Policy, history: &[(u64, u64, u64, u32, u32)]) -> (PolicyState, u64) {
    let mut state = PolicyState::default();
    let mut now = 0;
    for &(dt, visible, in_flight, desired, running) in history {
        now += dt;
        let desired = desired.clamp(policy.min_tasks, policy.max_tasks);
        let obs = service(visible, in_flight, desired, running.min(desired));
        state = decide(policy, Ok(&obs), &state, at(now)).1;
    }
    (state, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bounds_always_hold(
        p in any_sized_policy(),
        history in any_history(),
        visible in 0u64..1_000_000,
        in_flight in 0u64..10_000,
        current in 0u32..400,
    ) {
        let (state, now) = replay(&p, &history);
        let (d, _) = decide(&p, Ok(&service(visible, in_flight, current, current)), &state, at(now + 15));
        let desired = d.desired().unwrap();
        prop_assert!((p.min_tasks..=p.max_tasks).contains(&desired), "{desired}: {}", d.reason);
        // Capacity kept is never more than max_tasks either.
        prop_assert!(d.recommendation().unwrap() <= p.max_tasks, "{}", d.reason);
    }

    #[test]
    fn more_backlog_never_means_fewer_tasks(
        p in any_sized_policy(),
        history in any_history(),
        visible in 0u64..100_000,
        extra in 0u64..100_000,
        in_flight in 0u64..1_000,
        current in 0u32..80,
    ) {
        let (state, now) = replay(&p, &history);
        let current = current.clamp(p.min_tasks, p.max_tasks);
        let less = service(visible, in_flight, current, current);
        let mut more = less.clone();
        more.queues[0].visible += extra;
        let (d_less, _) = decide(&p, Ok(&less), &state, at(now + 15));
        let (d_more, _) = decide(&p, Ok(&more), &state, at(now + 15));
        prop_assert!(d_more.desired() >= d_less.desired(), "{} / {}", d_more.reason, d_less.reason);
    }

    #[test]
    fn failed_observations_never_change_anything(
        p in any_sized_policy(),
        history in any_history(),
    ) {
        let (state, now) = replay(&p, &history);
        let (d, next) = decide(&p, Err("timed out"), &state, at(now + 15));
        prop_assert_eq!(d.change(), None);
        prop_assert_eq!(next, state);
    }

    #[test]
    fn a_restart_never_scales_in_before_one_startup(
        p in any_sized_policy(),
        visible in 0u64..1_000,
        current in 1u32..80,
        after in 0u64..600,
    ) {
        let current = current.clamp(p.min_tasks, p.max_tasks);
        let (_, state) = decide(&p, Ok(&service(visible, 0, current, current)), &PolicyState::default(), at(0));
        let (d, _) = decide(&p, Ok(&service(0, 0, current, current)), &state, at(after));
        let startup = match p.task_startup {
            Some(TaskStartup::Stated(startup)) => startup,
            _ => TaskStartup::ASSUMED,
        };
        if Duration::from_secs(after) < startup {
            prop_assert!(d.action() != Action::ScaleIn, "{}", d.reason);
        }
    }

    #[test]
    fn capacity_is_never_kept_longer_than_the_evidence(
        returns in prop::collection::vec(1u64..20_000, 0..80),
        startup in 0u64..600,
        late_by in 0u64..600,
    ) {
        let mut memory = TrafficMemory::default();
        let mut now = 0;
        for &after in &returns {
            memory.scaled_in(at(now), 10);
            memory.observe(at(now + after), 10);
            now += after + 1;
        }
        let startup = Duration::from_secs(startup);
        let keep = memory.keep_for(startup, Duration::from_secs(late_by));
        let remembered = &returns[returns.len().saturating_sub(TrafficMemory::RETURNS)..];
        let longest = remembered.iter().max().copied().map(Duration::from_secs);
        prop_assert!(keep <= startup.max(longest.unwrap_or_default()), "{keep:?}");
        prop_assert!(memory.returns_seen() <= TrafficMemory::RETURNS);
    }

    #[test]
    fn idle_spells_are_never_bridged_longer_than_the_longest_seen(
        spells in prop::collection::vec(1u64..50_000, 0..60),
        messages in 0.0f64..10_000.0,
    ) {
        let mut memory = BurstMemory::default();
        let mut now = 0;
        for &spell in &spells {
            memory.observe(at(now), Duration::from_secs(15), messages, true);
            memory.observe(at(now + 15), Duration::from_secs(15), 0.0, false);
            now += 15 + spell;
        }
        memory.observe(at(now), Duration::from_secs(15), messages, true);
        let remembered = &spells[spells.len().saturating_sub(BurstMemory::KEPT)..];
        match memory.bridge() {
            Some(bridge) => {
                let longest = remembered.iter().max().copied().unwrap_or_default();
                prop_assert!(bridge <= Duration::from_secs(longest), "{bridge:?}");
            }
            None => prop_assert!(spells.len() < BurstMemory::EVIDENCE),
        }
    }
}

/// Three bursts of 600 messages arriving over 60 s, 240 s apart.
fn three_bursts() -> BurstMemory {
    let mut memory = BurstMemory::default();
    let mut now = 0;
    for _ in 0..4 {
        for _ in 0..4 {
            now += 15;
            memory.observe(at(now), Duration::from_secs(15), 150.0, true);
        }
        now += 15;
        memory.observe(at(now), Duration::from_secs(15), 0.0, false);
        now += 225;
    }
    memory
}

#[test]
fn the_warm_fleet_serves_a_burst_within_the_wait_on_its_own() {
    let memory = three_bursts();
    // 600 messages at 0.5 a second per task within 60 s of arrivals plus
    // the 60 s wait: 10 tasks.
    assert_eq!(memory.warm_tasks(0.5, Duration::from_secs(60)), Some(10.0));
    assert_eq!(memory.bridge(), Some(Duration::from_secs(240)));
    assert_eq!(memory.typical_spell(), Some(Duration::from_secs(240)));
    // Two bursts are not evidence yet.
    let mut two = BurstMemory::default();
    for start in [0, 300] {
        two.observe(at(start), Duration::from_secs(15), 100.0, true);
        two.observe(at(start + 60), Duration::from_secs(15), 0.0, false);
    }
    assert_eq!(two.warm_tasks(0.5, Duration::from_secs(60)), None);
}

#[test]
fn a_warm_fleet_is_kept_between_bursts_when_new_tasks_start_too_late() {
    // Wait 60 s, startup 60 s, polls every 15 s: tasks launched at a
    // burst's start serve after 75 s, too late for its first messages.
    let policy = stated();
    let mut state = PolicyState::default();
    let mut now = 0;
    let mut last = None;
    for _ in 0..5 {
        for (visible, in_flight) in [(150, 10), (300, 10), (200, 40), (0, 40)] {
            now += 15;
            let obs = service(visible, in_flight, 40, 40);
            let (d, next) = decide(&policy, Ok(&obs), &state, at(now));
            state = next;
            last = Some(d);
        }
        for _ in 0..12 {
            now += 15;
            let (d, next) = decide(&policy, Ok(&service(0, 0, 40, 40)), &state, at(now));
            state = next;
            last = Some(d);
        }
    }
    let d = last.unwrap();
    let plan = plan_of(&d);
    let warm = plan.warm.expect("a warm fleet");
    assert!(warm.tasks >= 1.0, "{}", d.reason);
    assert!(
        d.reason
            .to_string()
            .contains("warm: bursts after idle spells of about"),
        "{}",
        d.reason
    );
    assert!(
        d.desired().unwrap() >= warm.tasks.ceil() as u32,
        "{}",
        d.reason
    );

    // With a wait long enough for new tasks to start in time, no warm fleet.
    let mut patient = stated();
    patient.target = BacklogTarget::Wait {
        wait: Duration::from_secs(300),
        message_cost: Duration::from_secs(2),
    };
    let (d, _) = decide(&patient, Ok(&service(0, 0, 40, 40)), &state, at(now + 15));
    assert_eq!(plan_of(&d).warm, None, "{}", d.reason);
}

/// `stated()` with a wait of 5 minutes: longer than a startup and a poll.
fn long_wait() -> Policy {
    let mut p = stated();
    p.target = BacklogTarget::Wait {
        wait: Duration::from_secs(300),
        message_cost: Duration::from_secs(2),
    };
    p
}

/// Capacity kept through a lull is there at the next burst's start: where
/// tasks launched then still meet the wait, no more is kept than a burst
/// like the recent ones needs from its start; where they do not, the peak
/// is kept.
#[test]
fn capacity_kept_through_a_lull_is_what_a_burst_needs_from_its_start() {
    // A burst's peak recommendation, 40 tasks, 30 s ago; now quiet.
    let after_a_peak = || {
        let mut state = PolicyState {
            bursts: three_bursts(),
            seeded: true,
            ..PolicyState::default()
        };
        state.remember(at(2000), 40);
        state
    };
    let quiet = service(0, 0, 40, 40);

    // Wait 300 s, startup 60 s: bursts of 600 messages over 60 s need
    // 600 / (0.5 * (60 + 300)) = 3.3 tasks there from the start.
    let (d, _) = decide(&long_wait(), Ok(&quiet), &after_a_peak(), at(2030));
    assert_eq!(d.action(), Action::ScaleIn, "{}", d.reason);
    assert_eq!(d.desired(), Some(4), "{}", d.reason);
    assert!(
        d.reason.to_string().contains(
            "keeping 4 tasks for 1m: one startup, the cost of bringing a task back; \
                       no more than a burst like 90% of the recent ones needs from its start"
        ),
        "{}",
        d.reason
    );

    // Wait 60 s, startup 60 s: new tasks start too late, the peak stands.
    let (d, _) = decide(&stated(), Ok(&quiet), &after_a_peak(), at(2030));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    assert!(
        d.reason.to_string().contains("keeping 40 tasks for 1m"),
        "{}",
        d.reason
    );

    // A window the policy states still holds all it saw.
    let mut windowed = long_wait();
    windowed.scale_in.stabilization_window = Duration::from_secs(60);
    let (d, _) = decide(&windowed, Ok(&quiet), &after_a_peak(), at(2030));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
}

#[test]
fn a_long_wait_lets_a_queue_stand_instead_of_idling_tasks() {
    // 1000 waiting, 20 tasks busy, steady: 10 arrive a second. Reacting
    // would keep 20 busy and drain the rest; with 5 minutes to spare, the
    // 1000 (100 s of work for the fleet) may stand: a message arriving at
    // the next poll, behind 1000 + 150, is served within its wait by 7.3
    // tasks (1150 over 0.5/s x 315 s), and 20 keep up with the arrivals.
    let d = steady(&long_wait(), 1000, 20, 20);
    let plan = plan_of(&d);
    assert!(plan.standing_queue, "{}", d.reason);
    assert_eq!(
        plan.still_to_arrive,
        Some(StillToArrive::KeepUp),
        "{}",
        d.reason
    );
    assert!((plan.wait_rate - 10.0).abs() < 1e-9, "{}", d.reason);
    assert!((plan.tasks - 20.0).abs() < 1e-9, "{}", d.reason);
    assert_eq!(d.recommendation(), Some(20));
    assert!(
        d.reason.to_string().contains(
            "a message arriving by the next poll served within the 5m wait, and arrivals kept up \
             with at 10/s, the rate of the last 5m: 20 tasks"
        ),
        "{}",
        d.reason
    );
    // The 60 s wait of the same traffic reacts instead: 20 busy plus the
    // queue drained within the wait.
    let reacting = steady(&stated(), 1000, 20, 20);
    assert!(!plan_of(&reacting).standing_queue);
    assert_eq!(reacting.recommendation(), Some(54), "{}", reacting.reason);
}

/// Polls every 15 s until `rise_at` with 20 tasks keeping up with 10
/// messages a second, the queue steady at 100; then, at `rise_at`, a poll
/// that brought 600 (40 a second): its decision.
fn steady_then_a_rise(policy: &Policy, rise_at: u64) -> Decision {
    let mut state = PolicyState::default();
    for t in (0..rise_at).step_by(15) {
        state = decide(policy, Ok(&service(100, 20, 20, 20)), &state, at(t)).1;
    }
    decide(policy, Ok(&service(550, 20, 20, 20)), &state, at(rise_at)).0
}

/// With a standing queue the fleet keeps up with the arrivals of the last
/// wait, not of the last poll: the queue absorbs what varies within a
/// wait.
#[test]
fn a_standing_queue_keeps_up_with_the_last_waits_arrivals() {
    // 20 tasks keep up with 10 a second for four minutes; then a poll
    // brings 600.
    let d = steady_then_a_rise(&long_wait(), 255);
    let plan = plan_of(&d);
    // Over the last 255 s (the log's oldest mark): 150 a poll for 16
    // polls, then 150 served + 450 more: 3000 messages, 11.76 a second.
    assert_eq!(plan.still_to_arrive, Some(StillToArrive::KeepUp));
    // Over the last wait alone: longer than a startup there.
    assert_eq!(plan.wait_rate_over, Duration::from_secs(300));
    let rate = plan.wait_rate;
    assert!((rate - 3000.0 / 255.0).abs() < 1e-9, "{rate}");
    // The last poll's rate would have asked for 80 tasks; the last wait's
    // asks for 23.5, and a message arriving at the next poll behind
    // 550 + 40 x 15 for 1150 / (0.5 x 315) = 7.3.
    assert!((plan.arrival_rate - 40.0).abs() < 1e-9, "{}", d.reason);
    assert!((plan.tasks - rate / 0.5).abs() < 1e-9, "{}", d.reason);
    assert_eq!(d.recommendation(), Some(24));
}

/// Where the engine reacts, too, the fleet keeps up with the arrivals of
/// the past, over the last wait and startup (a rate that lasts less than a
/// startup is over before tasks launched for it run), and drains the queue
/// expected when new tasks start.
#[test]
fn a_reacting_fleet_keeps_up_with_the_last_wait_and_startups_arrivals() {
    // 20 tasks keep up with 10 a second for two minutes and a quarter;
    // then a poll brings 600.
    let d = steady_then_a_rise(&stated(), 135);
    let plan = plan_of(&d);
    assert!(!plan.standing_queue);
    // The last 120 s (the 60 s wait and the 60 s startup): 7 polls of 150,
    // then 600: 13.75 a second (the log's marks fall on the polls), against
    // the last poll's 40; over the last wait alone it would be 17.5.
    assert_eq!(plan.wait_rate_over, Duration::from_secs(120));
    assert!(
        (plan.wait_rate - 1650.0 / 120.0).abs() < 1e-9,
        "{}",
        d.reason
    );
    assert!((plan.arrival_rate - 40.0).abs() < 1e-9, "{}", d.reason);
    // 27.5 tasks keep up; the queue when new tasks start, 550 + 40 x 60 -
    // 20 x 0.5 x 60 = 2350, drained within 60 s: 78.3 more.
    assert_eq!(plan.queue_at_startup, 2350.0);
    assert!(
        (plan.tasks - (27.5 + 2350.0 / 30.0)).abs() < 1e-9,
        "{}",
        d.reason
    );
    assert!(
        d.reason.to_string().contains(
            "drained within 1m, and arrivals kept up with at 14/s, the rate of the last 2m: 106 tasks"
        ),
        "{}",
        d.reason
    );
}

#[test]
fn a_standing_queue_grows_the_fleet_when_it_would_outlast_the_wait() {
    // 6000 waiting with 20 busy tasks: a message arriving at the next poll,
    // behind 6150, is not served within its wait by 20 tasks (3150 in
    // 315 s), so the fleet grows, counting only the running ones until a
    // startup has passed: 20 + 3000 / (0.5 x 255) = 43.5. The 5870 that
    // waited since the previous poll need more by their deadlines, 285 s
    // away: 20 + (5870 - 2850) / (0.5 x 225) = 46.8.
    let d = steady(&long_wait(), 6000, 20, 20);
    let plan = plan_of(&d);
    assert!(plan.standing_queue);
    assert_eq!(plan.queue_at_startup, 6000.0, "{}", d.reason);
    assert_eq!(plan.oldest_waited, Some(Duration::from_secs(15)));
    assert!(
        (plan.tasks - (20.0 + 3020.0 / 112.5)).abs() < 1e-9,
        "{}",
        d.reason
    );
    assert_eq!(d.recommendation(), Some(47));
    assert_eq!(d.action(), Action::ScaleOut);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// With a standing queue, a message arriving at the next poll is
    /// served within its wait: what the plan's tasks serve within the wait
    /// and a poll (the running ones from now, any more from when they
    /// start, a cut at once) covers what waits and what the poll brings;
    /// and with no run of arrivals under way, the fleet keeps up with the
    /// rate of the last wait.
    #[test]
    fn a_standing_queue_serves_the_next_polls_arrivals_within_the_wait(
        p in any_sized_policy(),
        history in any_history(),
        visible in 0u64..100_000,
        in_flight in 0u64..1_000,
        current in 0u32..80,
    ) {
        let (state, now) = replay(&p, &history);
        let current = current.clamp(p.min_tasks, p.max_tasks);
        let (d, _) = decide(&p, Ok(&service(visible, in_flight, current, current)), &state, at(now + 15));
        let plan = plan_of(&d);
        // Where the engine reacts, it plans for a run's end (see
        // `where_it_reacts_a_run_ending_before_new_tasks_start_is_planned_for`),
        // never for arrivals that go on without a queue standing.
        if plan.standing_queue {
            prop_assert!(plan.still_to_arrive.is_some());
        } else {
            prop_assert!(!matches!(plan.still_to_arrive, Some(StillToArrive::KeepUp)));
        }
        if plan.standing_queue {
            let slots = p.in_flight_per_task.unwrap_or(1.0);
            let BacklogTarget::Wait { message_cost, .. } = p.target else { unreachable!() };
            let per_task = slots / message_cost.as_secs_f64();
            let poll = p.poll_interval.as_secs_f64();
            let horizon = plan.wait.as_secs_f64() + poll;
            let running = f64::from(current);
            let served = if plan.tasks <= running {
                plan.tasks * per_task * horizon
            } else {
                running * per_task * horizon
                    + (plan.tasks - running) * per_task * (horizon - plan.startup.as_secs_f64())
            };
            let queue = visible as f64 + plan.arrival_rate * poll;
            prop_assert!(served + 1e-6 * (1.0 + queue) >= queue,
                "{} vs {}: {}", served, queue, d.reason);
            if plan.still_to_arrive == Some(StillToArrive::KeepUp) {
                prop_assert!(plan.tasks + 1e-9 >= plan.wait_rate / per_task, "{}", d.reason);
            }
        }
    }
}

#[test]
fn the_oldest_messages_set_the_fleet_when_their_deadlines_come_first() {
    use crate::engine::wait_sizing::{by_deadlines, Stated};
    use crate::engine::{ArrivalLog, Waited};
    // 1200 arrive in the first 15 s, then nothing: 195 s later 300 of them
    // still wait, the oldest for 180 s or more.
    let mut log = ArrivalLog::default();
    let span = Duration::from_secs(600);
    log.record(at(0), 0.0, span);
    log.record(at(15), 1200.0, span);
    for t in (30..=195).step_by(15) {
        log.record(at(t), 0.0, span);
    }
    let waited: Vec<Waited> = log.waited(at(195), 300.0, 0.0).collect();
    // All 300 arrived before every mark from 15 s on; the oldest mark binds.
    assert_eq!(waited.len(), 13);
    assert_eq!(
        waited[0],
        Waited {
            waited: Duration::from_secs(180),
            messages: 300.0
        }
    );
    // Arrivals overestimated by up to 20 (say, messages in service): 20
    // of the 1200 counted as arrived after each mark may be older.
    let erring = log.waited(at(195), 300.0, 20.0).next().unwrap();
    assert_eq!(erring.messages, 300.0, "never more than wait");
    let log_total = log.waited(at(195), 1500.0, 20.0).next().unwrap();
    assert_eq!(log_total.messages, 320.0);
    // 5 minutes of wait, 2 s a message: 120 s left for 300 messages.
    let stated = Stated {
        per_task_rate: 0.5,
        cost: Duration::from_secs(2),
        wait: Duration::from_secs(300),
        from_target: None,
    };
    let timing = (Duration::from_secs(60), Duration::from_secs(15));
    let tasks = |running: u32, waited: &[Waited]| {
        by_deadlines(
            stated,
            timing,
            running,
            (0, Duration::ZERO),
            waited.iter().copied(),
        )
    };
    // Fewer than run now suffice: 300 / (0.5 x 120) = 5, cut at once.
    assert_eq!(tasks(10, &waited), 5.0);
    // More than run: 2 running serve 120 in 120 s; the other 180 need 6
    // more, which start after 60 s.
    assert_eq!(tasks(2, &waited), 8.0);
    // Past the deadline: due within the next poll, and no launch helps.
    let late = [Waited {
        waited: Duration::from_secs(400),
        messages: 300.0,
    }];
    assert_eq!(tasks(10, &late), 10.0);
    assert_eq!(tasks(100, &late), 40.0);
}

proptest! {
    #[test]
    fn the_arrival_log_stays_bounded(
        polls in prop::collection::vec((1u64..120, 0.0f64..1e6), 0..400),
        wait in 1u64..3600,
    ) {
        let mut log = crate::engine::ArrivalLog::default();
        let mut now = 0;
        for (dt, arrived) in polls {
            now += dt;
            log.record(at(now), arrived, Duration::from_secs(wait));
        }
        let marks = log.waited(at(now), f64::MAX, 0.0).count();
        prop_assert!(marks <= crate::engine::ArrivalLog::MARKS + 1, "{marks}");
    }
}

#[test]
fn a_draining_queue_does_not_make_its_oldest_messages_look_younger() {
    // Wait 5 min: a standing queue. 1200 messages arrive at once, then 10
    // busy tasks drain them, 75 a poll on average, 70 or 80 as services
    // end either side of a poll. Each poll's arrivals estimate is then +5
    // or -5; clamped at zero, the +5s would add up to 30 arrivals that
    // never happened and make the oldest 30 waiting messages look 3
    // minutes younger than they are.
    let mut p = stated();
    p.target = BacklogTarget::Wait {
        wait: Duration::from_secs(300),
        message_cost: Duration::from_secs(2),
    };
    let mut history = vec![(0, 0, 0, 10, 10), (15, 1190, 10, 10, 10)];
    let mut work = 1200;
    for poll in 0..12 {
        work -= if poll % 2 == 0 { 70 } else { 80 };
        history.push((15, work - 10, 10, 10, 10));
    }
    let (state, now) = replay(&p, &history);
    let waiting = (work - 10) as f64;
    let oldest = state.arrivals.waited(at(now), waiting, 0.0).next().unwrap();
    assert_eq!(oldest.waited, Duration::from_secs(180));
    assert_eq!(
        oldest.messages, waiting,
        "all {waiting} arrived 3 minutes ago"
    );
}

#[test]
fn a_surge_needs_the_fleet_that_serves_what_comes_due_before_a_reaction() {
    use crate::engine::ArrivalLog;
    // 300 messages in the 15 s before now, none in the 15 s before that;
    // 2 s a message (0.5 a second per task), wait 30 s.
    let mut log = ArrivalLog::default();
    let span = Duration::from_secs(600);
    log.record(at(0), 0.0, span);
    log.record(at(15), 0.0, span);
    log.record(at(30), 300.0, span);
    let need = |late_by: u64| {
        log.surge_need(
            at(30),
            0.5,
            Duration::from_secs(30),
            Duration::from_secs(late_by),
        )
    };
    // Nothing comes due before a reaction: nothing needed.
    assert_eq!(need(0), 0.0);
    // Late by 15 s: all 300 arrived in the last 15 s, due within 45 s of
    // its start: 300 / (0.5 x 45).
    assert_eq!(need(15), 300.0 / 22.5);
    // Late by 5 s: the first 5 s of the run, 100 at its mean rate, within
    // 35 s.
    assert_eq!(need(5), 100.0 / 17.5);
    // Late by 30 s: the 30 s run counts too, but spread over 60 s it needs
    // less than the 15 s one.
    assert_eq!(need(30), 300.0 / 22.5);
    // A mark at `now` is no run at all.
    log.record(at(45), 0.0, span);
    assert_eq!(
        log.surge_need(
            at(45),
            0.5,
            Duration::from_secs(30),
            Duration::from_secs(15)
        ),
        0.0
    );
}

#[test]
fn the_surge_fleet_is_the_90th_percentile_of_the_stretches_seen() {
    use crate::engine::SurgeMemory;
    let reaction = Duration::from_secs(60);
    let mut memory = SurgeMemory::default();
    // Stretches of one reaction time; the most of each counts.
    for (t, need) in [(0, 2.0), (15, 1.0), (60, 4.0), (120, 8.0), (135, 3.0)] {
        memory.observe(at(t), need, reaction);
    }
    assert_eq!(memory.needed(), None, "two stretches are not evidence");
    memory.observe(at(180), 16.0, reaction);
    // Stretches 2, 4, 8 and the one under way, 16: the 90th percentile.
    assert_eq!(memory.needed(), Some(16.0));
    for i in 0..20 {
        memory.observe(at(240 + 60 * i), 1.0, reaction);
    }
    // 20 of 23 stretches needed 1: the rare 16 no longer sets the fleet.
    assert_eq!(memory.needed(), Some(4.0));
}

proptest! {
    #[test]
    fn the_surge_memory_stays_bounded_and_within_what_it_saw(
        polls in prop::collection::vec((1u64..600, 0.0f64..1e4), 0..600),
        reaction in 1u64..600,
    ) {
        let mut memory = crate::engine::SurgeMemory::default();
        let mut now = 0;
        let mut most: f64 = 0.0;
        for &(dt, need) in &polls {
            now += dt;
            memory.observe(at(now), need, Duration::from_secs(reaction));
            most = most.max(need);
        }
        if let Some(needed) = memory.needed() {
            prop_assert!(needed <= most, "{needed} > {most}");
        }
        let size = serde_json::to_vec(&memory).unwrap().len();
        prop_assert!(size <= 64 * 30, "{size} bytes");
    }
}

#[test]
fn a_fleet_is_kept_for_surges_only_when_new_tasks_start_too_late() {
    // Steady traffic, 30 messages a poll for 4 busy tasks (2 s a message),
    // with a rise every 2 minutes: 600 more in one poll.
    let run = |policy: &Policy| {
        let mut state = PolicyState::default();
        let mut last = None;
        for poll in 1..=41u64 {
            let visible = if poll % 8 == 0 { 600 } else { 15 };
            let obs = service(visible, 4, 4, 4);
            let (d, next) = decide(policy, Ok(&obs), &state, at(15 * poll));
            state = next;
            last = Some(d);
        }
        last.unwrap()
    };
    // Wait 60 s, startup 60 s, polls every 15 s: tasks launched on a rise
    // start 15 s later than its first messages are due.
    let reacting = run(&stated());
    let plan = plan_of(&reacting);
    let surges = plan.surges.expect("a fleet kept for surges");
    assert!(plan.tasks >= surges, "{}", reacting.reason);
    assert!(
        reacting
            .reason
            .to_string()
            .contains("for surges: 90% of the recent rises"),
        "{}",
        reacting.reason
    );
    // Wait 2 minutes: a rise is met by tasks launched when it is seen.
    let mut standing = stated();
    standing.target = BacklogTarget::Wait {
        wait: Duration::from_secs(120),
        message_cost: Duration::from_secs(2),
    };
    assert_eq!(plan_of(&run(&standing)).surges, None);
}

/// A burst that the warm fleet would serve only after the next one began
/// runs into it, and the queue never empties: the fleet serves it before
/// the next burst begins as well as within the wait.
#[test]
fn the_warm_fleet_serves_a_burst_before_the_next_begins() {
    let memory = three_bursts();
    // Bursts begin 300 s apart. Within a 60 s wait, 120 s from a burst's
    // start: 600 / (0.5 x 120) = 10 tasks, as before.
    assert_eq!(memory.warm_tasks(0.5, Duration::from_secs(60)), Some(10.0));
    // Within a 600 s wait the burst alone would allow 660 s (1.8 tasks),
    // but the next one begins 300 s after it: 600 / (0.5 x 300) = 4 tasks.
    assert_eq!(memory.warm_tasks(0.5, Duration::from_secs(600)), Some(4.0));
}

/// Runs of arrivals: polls in a row that brought more than the estimate's
/// error, ended by two quiet polls in a row (one may be noise). During a
/// run like the recent ones, what it still brings is what they brought
/// less what it has; once it is longer or larger, nothing is assumed of it.
#[test]
fn a_run_like_the_recent_ones_still_brings_what_they_did() {
    use crate::engine::ArrivalRuns;
    let poll = Duration::from_secs(15);
    let mut runs = ArrivalRuns::default();
    // Three runs of 4 polls x 150 messages (error 20), each followed by
    // quiet polls whose estimates wobble within the error.
    for _ in 0..3 {
        for _ in 0..4 {
            runs.observe(poll, 150.0, 20.0);
        }
        for arrived in [12.0, -8.0, 20.0, 0.0] {
            runs.observe(poll, arrived, 20.0);
        }
    }
    let rest = |runs: &ArrivalRuns| {
        runs.still_to_come()
            .map(|r| (r.messages, r.within.as_secs()))
    };
    // Between runs: a whole one to come, over 4 polls.
    assert_eq!(rest(&runs), Some((600.0, 60)));
    for (i, left) in [(1, (450.0, 45)), (2, (300.0, 30)), (3, (150.0, 15))] {
        runs.observe(poll, 150.0, 20.0);
        assert_eq!(rest(&runs), Some(left), "after {i} polls");
    }
    // One quiet poll does not end it.
    runs.observe(poll, 5.0, 20.0);
    runs.observe(poll, 150.0, 20.0);
    assert_eq!(rest(&runs), Some((0.0, 0)));
    // A fifth poll of arrivals: larger and longer than the runs seen.
    runs.observe(poll, 150.0, 20.0);
    assert_eq!(rest(&runs), None);
    // Two quiet polls end it; a new one begins with a whole run to come
    // (the 5-poll run is one of four now, so 90% of them is 750 over 75 s).
    runs.observe(poll, 0.0, 20.0);
    runs.observe(poll, 0.0, 20.0);
    assert_eq!(rest(&runs), Some((750.0, 75)));
    // Too few runs to go by: none.
    let mut two = ArrivalRuns::default();
    for _ in 0..2 {
        two.observe(poll, 100.0, 0.0);
        two.observe(poll, 0.0, 0.0);
        two.observe(poll, 0.0, 0.0);
    }
    assert!(two.still_to_come().is_none());
}

/// The plan at 15 s, a poll after `counts.previous`, for 2 s a message,
/// a `wait`-second wait and a stated 60 s startup.
fn plan_one_poll(wait: u64, counts: &crate::engine::wait_sizing::Counts) -> WaitPlan {
    use crate::engine::wait_sizing::{plan, StartupSource, Stated};
    let stated = Stated {
        per_task_rate: 0.5,
        cost: Duration::from_secs(2),
        wait: Duration::from_secs(wait),
        from_target: None,
    };
    let startup = (Duration::from_secs(60), StartupSource::Stated);
    plan(stated, startup, counts, Duration::from_secs(15), at(15))
}

/// With a standing queue, what arrives while new tasks start is at most
/// what a run of arrivals like the recent ones still brings, and the plan
/// serves the run's last message within the wait of the run's end; where
/// the engine reacts, the rate is planned for throughout.
#[test]
fn a_standing_queue_plans_for_the_last_message_of_a_run() {
    use crate::engine::wait_sizing::Counts;
    use crate::engine::RunRest;
    // 2 running, 1000 waiting, 285 more than 15 s ago: arrivals at
    // 1 + 19 = 20 a second, 1200 over the 60 s startup, of which the
    // running tasks serve 60.
    let counts = |messages: Option<f64>| Counts {
        waiting: 1000.0,
        in_flight: 2.0,
        running: 2,
        previous: Some((at(0), 717.0)),
        running_before: Some(2),
        pending: 0,
        pending_in: Duration::ZERO,
        run_rest: messages.map(|messages| RunRest {
            messages,
            within: Duration::from_secs(30),
        }),
        over_keep_up_span: None,
    };
    let queue = |wait, rest| plan_one_poll(wait, &counts(rest)).queue_at_startup;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Wait 300 s: a standing queue. The rate throughout: 1000 + 1200 - 60.
    assert!(close(queue(300, None), 2140.0), "{}", queue(300, None));
    // A run that brings 100 more: 1000 + 100 - 60.
    assert!(
        close(queue(300, Some(100.0)), 1040.0),
        "{}",
        queue(300, Some(100.0))
    );
    // Nothing more: 1000 - 60.
    assert!(close(queue(300, Some(0.0)), 940.0));
    // More than the rate brings: the rate.
    assert!(close(queue(300, Some(5000.0)), 2140.0));
    // Wait 60 s, the same startup: the engine reacts, the rate throughout.
    assert!(close(queue(60, Some(100.0)), 2140.0));

    // The tasks: the run's last message, behind 1000 + 100, arrives within
    // 30 s and is served within 300 s of it: 2 tasks serve 330 in 330 s,
    // more serve from 60 s on: 2 + (1100 - 330) / (0.5 x 270) = 7.7. (The
    // next poll's message, behind 1000 + 300, needs 2 + (1300 - 315) /
    // (0.5 x 255) = 9.7.)
    let plan = plan_one_poll(300, &counts(Some(100.0)));
    assert!(close(plan.tasks, 2.0 + 985.0 / 127.5), "{}", plan.tasks);
    // A larger run: 2 + (1000 + 1500 - 330) / 135 = 18.1: at most the rate
    // over a reaction time (20 x 75 = 1500) of the 5000 it still brings.
    let plan = plan_one_poll(300, &counts(Some(5000.0)));
    assert!(close(plan.tasks, 2.0 + 2170.0 / 135.0), "{}", plan.tasks);
    assert_eq!(
        plan.still_to_arrive,
        Some(StillToArrive::Run(RunRest {
            messages: 5000.0,
            within: Duration::from_secs(30)
        }))
    );
}

/// Tasks that started since the previous poll may have served little of
/// the interval: with a standing queue the arrivals (and so the ages of
/// the waiting messages) are estimated from the tasks running throughout,
/// erring long on ages; where the engine reacts, from those running now,
/// erring large on the bursts its kept capacity is sized from.
#[test]
fn arrivals_are_estimated_from_the_tasks_that_ran_throughout_with_a_standing_queue() {
    use crate::engine::wait_sizing::Counts;
    // 40 tasks run now, 10 did at the previous poll; the work fell from
    // 800 to 700 in 15 s.
    let counts = Counts {
        waiting: 660.0,
        in_flight: 40.0,
        running: 40,
        previous: Some((at(0), 800.0)),
        running_before: Some(10),
        pending: 0,
        pending_in: Duration::ZERO,
        run_rest: None,
        over_keep_up_span: None,
    };
    let arrived = |wait| plan_one_poll(wait, &counts).arrived;
    // Standing queue: 10 tasks served 75 of the 100 the work fell by: -25
    // (signed: the next poll's estimate offsets it).
    assert!((arrived(300) - -25.0).abs() < 1e-9, "{}", arrived(300));
    // Reacting: 40 tasks would have served 300: 200 arrived.
    assert!((arrived(60) - 200.0).abs() < 1e-9, "{}", arrived(60));
}

/// With a standing queue the plan has two branches, growing from the
/// running tasks or cutting to fewer (a cut is at once, so fewer serve
/// while a startup passes); they meet at the running count, so that a
/// little more backlog never turns a cut into more tasks than run.
#[test]
fn a_standing_queue_grows_and_cuts_by_one_condition() {
    use crate::engine::wait_sizing::Counts;
    // 20 running at 0.5/s serve 10 a second, and the work is steady; over
    // the last minute 150 arrived, 2.5 a second: 5 tasks keep up.
    let tasks = |waiting: f64| {
        let counts = Counts {
            waiting,
            in_flight: 20.0,
            running: 20,
            previous: Some((at(0), waiting + 20.0)),
            running_before: Some(20),
            pending: 0,
            pending_in: Duration::ZERO,
            run_rest: None,
            over_keep_up_span: Some((0.0, Duration::from_secs(60))),
        };
        plan_one_poll(300, &counts).tasks
    };
    // The queue at which 20 tasks are just enough for a message arriving
    // at the next poll: V + 10 x 15 = 20 x 0.5 x 315.
    let balanced = 3150.0 - 150.0;
    let below = tasks(balanced - 1.0);
    let above = tasks(balanced + 1.0);
    assert!(below < 20.0 && above > 20.0, "{below} {above}");
    assert!(above - below < 0.02, "{below} {above}");
    // Far below: the cut branch, V + 150 over 0.5 x 315 a task.
    assert!((tasks(1000.0) - 1150.0 / 157.5).abs() < 1e-9);
}

/// Where the engine reacts, tasks launched now start after a run of
/// arrivals that ends within a reaction time: the plan offers the tasks that
/// serve the run's first and last messages within their wait instead of
/// keeping up with the run as if it went on; a run lasting longer, or a
/// standing queue, gets no such offer.
#[test]
fn where_it_reacts_a_run_ending_before_new_tasks_start_is_planned_for() {
    use crate::engine::wait_sizing::Counts;
    use crate::engine::RunRest;
    // 20 running (10 a second), 100 waiting, 30 in all 15 s ago: arrivals
    // at 10 + 90 / 15 = 16 a second.
    let counts = |within: u64| Counts {
        waiting: 100.0,
        in_flight: 20.0,
        running: 20,
        previous: Some((at(0), 30.0)),
        running_before: Some(20),
        pending: 0,
        pending_in: Duration::ZERO,
        run_rest: Some(RunRest {
            messages: 200.0,
            within: Duration::from_secs(within),
        }),
        over_keep_up_span: None,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Wait 60 s, startup 60 s, poll 15 s; the run ends in 30 s. The next
    // poll's message, behind 100 + 16 x 15 = 340, is served within 75 s by
    // 340 / (0.5 x 75) = 9.1 tasks; the run's last, behind 100 + 200,
    // within 90 s by 6.7. Reacting instead: 32 busy plus the queue when new
    // tasks start (100 + 16 x 60 - 600 = 460) drained within 60 s, 47.3.
    let plan = plan_one_poll(60, &counts(30));
    assert!(!plan.standing_queue);
    assert!(close(plan.tasks, 32.0 + 460.0 / 30.0), "{}", plan.tasks);
    let (tasks, run) = plan
        .run_ending
        .expect("a run ending within a reaction time");
    assert!(close(tasks, 340.0 / 37.5), "{tasks}");
    assert!(close(run.messages, 200.0));
    // The run ends in 90 s, after tasks launched now start (75 s): none.
    assert_eq!(plan_one_poll(60, &counts(90)).run_ending, None);
    // A standing queue plans for the run itself.
    assert_eq!(plan_one_poll(300, &counts(30)).run_ending, None);
}

/// Where the engine reacts, a burst's first poll after an idle one, with
/// more work than the running tasks serve within the wait, reads the rate
/// as if the work had all just come: when within the interval it came is
/// not known. Fewer messages than the running tasks serve, a poll after one
/// that found work, and a standing queue read the growth spread over the
/// interval.
#[test]
fn a_burst_beyond_the_running_tasks_is_read_as_just_come() {
    use crate::engine::decision::Because;
    use crate::engine::wait_sizing::Counts;
    // 83 messages (82 waiting, 1 in service) where the previous poll, 15 s
    // ago, found none; 2 s a message.
    let counts = |waiting: f64, running: u32, before: f64| Counts {
        waiting,
        in_flight: 1.0,
        running,
        previous: Some((at(0), before)),
        running_before: Some(running),
        pending: 0,
        pending_in: Duration::ZERO,
        run_rest: None,
        over_keep_up_span: None,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // One task serves 30 within the 60 s wait. As if all 83 came within
    // the last message cost: 41.5 a second, against 0.5 + 83 / 15 = 6.0
    // read spread over the interval.
    let onset = plan_one_poll(60, &counts(82.0, 1, 0.0));
    assert!(onset.onset);
    assert!(
        close(onset.arrival_rate, 83.0 / 2.0),
        "{}",
        onset.arrival_rate
    );
    let reason = Because::WaitSizing {
        tasks: onset.tasks.ceil() as u32,
        plan: Box::new(onset.clone()),
    }
    .to_string();
    assert!(
        reason.contains("arrivals about 42/s (a burst's first poll: as if it had all just come)"),
        "{reason}"
    );
    // Three tasks serve 90 within the wait: the growth, spread.
    let served = plan_one_poll(60, &counts(82.0, 3, 0.0));
    assert!(!served.onset);
    assert!(close(served.arrival_rate, 1.5 + 83.0 / 15.0));
    assert!(onset.tasks > served.tasks);
    // Work at the previous poll: not a burst's first.
    let ongoing = plan_one_poll(60, &counts(82.0, 1, 10.0));
    assert!(!ongoing.onset);
    assert!(close(ongoing.arrival_rate, 0.5 + 73.0 / 15.0));
    // A standing queue may let the burst wait (1 task serves 150 in 5
    // minutes; here 1000 wait): spread.
    let standing = plan_one_poll(300, &counts(999.0, 1, 0.0));
    assert!(!standing.onset);
    assert!(close(standing.arrival_rate, 0.5 + 1000.0 / 15.0));
}

proptest! {
    /// Reading a burst's first poll as just come only ever adds: more work
    /// at such a poll, across the running tasks' capacity too, never gives
    /// fewer tasks.
    #[test]
    fn more_backlog_never_means_fewer_tasks_at_a_bursts_first_poll(
        waiting in 0.0f64..2_000.0,
        more in 0.0f64..2_000.0,
        running in 0u32..40,
        wait in prop::sample::select(vec![30u64, 60, 300]),
    ) {
        use crate::engine::wait_sizing::Counts;
        let tasks = |waiting: f64| {
            let counts = Counts {
                waiting,
                in_flight: 0.0,
                running,
                previous: Some((at(0), 0.0)),
                running_before: Some(running),
                pending: 0,
                pending_in: Duration::ZERO,
                run_rest: None,
                over_keep_up_span: None,
            };
            plan_one_poll(wait, &counts).tasks
        };
        prop_assert!(tasks(waiting) <= tasks(waiting + more) + 1e-9);
    }
}

/// Four batches of about 300 messages over 30 s, a minute and a half
/// apart, served by 20 tasks, for a 60 s wait and a 60 s startup: the
/// state, and the time of the next poll.
fn after_four_batches() -> (PolicyState, u64) {
    let mut state = PolicyState::default();
    let mut t = 0;
    for _ in 0..4 {
        for (visible, in_flight) in [(130, 20), (260, 20), (170, 20), (20, 20), (0, 0), (0, 0)] {
            state = decide(
                &stated(),
                Ok(&service(visible, in_flight, 20, 20)),
                &state,
                at(t),
            )
            .1;
            t += 15;
        }
    }
    (state, t)
}

proptest! {
    /// With runs to plan for where the engine reacts, more backlog still
    /// never gives fewer tasks: the run's plan is taken only when it gives
    /// fewer than the reacting rule, which more backlog may fall back to.
    #[test]
    fn more_backlog_never_means_fewer_tasks_at_a_runs_start(
        visible in 0u64..3_000,
        more in 0u64..3_000,
        in_flight in 0u64..40,
        current in 1u32..60,
    ) {
        let (state, t) = after_four_batches();
        let tasks = |visible| {
            decide(&stated(), Ok(&service(visible, in_flight, current, current)), &state, at(t))
                .0
                .recommendation()
                .unwrap()
        };
        prop_assert!(tasks(visible) <= tasks(visible + more));
    }
}

/// The offer is taken as it is while the running tasks serve the messages
/// already waiting by their deadlines; when they do not, the tasks already
/// launched are kept too (they start sooner than any launched now), and
/// never more than keeping up with the run as if it went on.
#[test]
fn a_run_ending_keeps_the_tasks_launched_while_what_waits_is_late() {
    let (state, t) = after_four_batches();
    let planned = |state: &PolicyState, desired: u32| {
        decide(&stated(), Ok(&service(200, 20, desired, 20)), state, at(t))
    };
    let (d, _) = planned(&state, 20);
    assert!(
        matches!(plan_of(&d).still_to_arrive, Some(StillToArrive::Run(_))),
        "{}",
        d.reason
    );
    assert!(
        d.reason
            .to_string()
            .contains("the last of a run of arrivals like 90% of the recent ones"),
        "{}",
        d.reason
    );
    // The running tasks serve what waits: tasks launched beyond the run's
    // plan are given back.
    assert_eq!(planned(&state, 60).0.recommendation(), Some(16));

    // A batch that ten running tasks serve too slowly: 260 waiting at its
    // second poll, 400 at its third, 15 s before the run is to end. Ten
    // tasks serve 300 messages a minute.
    let ten_running = |visible: u64, desired: u32, state: &PolicyState, at_s: u64| {
        decide(
            &stated(),
            Ok(&service(visible, 10, desired, 10)),
            state,
            at(at_s),
        )
    };
    let state = ten_running(130, 40, &state, t).1;
    let state = ten_running(260, 40, &state, t + 15).1;
    let third = |desired| {
        let (d, _) = ten_running(400, desired, &state, t + 30);
        (d.recommendation().unwrap(), plan_of(&d).still_to_arrive)
    };
    // The run's first and last messages need 42.7 tasks, keeping up with
    // the run as if it went on (at the rate of the last two minutes, 8.1/s)
    // 48.3: the run's plan, not the reacting rule.
    let (tasks, still_to_arrive) = third(10);
    assert_eq!(tasks, 43);
    assert!(matches!(still_to_arrive, Some(StillToArrive::Run(_))));
    // 20 tasks pending beside the 10 running: the run's plan is larger.
    assert_eq!(third(30).0, 43);
    // 40 pending: they are kept, not cancelled.
    assert_eq!(third(50).0, 50);
    // More launched than keeping up needs: cut to that.
    let (tasks, still_to_arrive) = third(80);
    assert_eq!(tasks, 49);
    assert_eq!(still_to_arrive, None);
}

/// Bursts every `period` seconds, each four polls of work, the service
/// following the engine; returns the decisions of the polls in the last
/// idle spell, with how long before the next burst each was made.
fn periodic_bursts(period: u64, bursts: u64) -> Vec<(u64, Decision)> {
    let mut state = PolicyState::default();
    let mut desired = 20;
    let mut spell = Vec::new();
    for burst in 0..bursts {
        let began = burst * period;
        let mut t = began;
        while t < began + period {
            let (visible, in_flight) = match (t - began) / 15 {
                0 => (130, 20),
                1 => (260, 20),
                2 => (170, 20),
                3 => (20, 20),
                _ => (0, 0),
            };
            let (d, next) = decide(
                &stated(),
                Ok(&service(visible, in_flight, desired, desired)),
                &state,
                at(t),
            );
            desired = d.desired().unwrap();
            state = next;
            if burst + 1 == bursts && in_flight == 0 {
                spell.push((began + period - t, d));
            }
            t += 15;
        }
    }
    spell
}

/// Bursts that begin at a steady rhythm, whose first messages are due
/// before tasks launched on seeing them start (60 s wait, 60 s startup):
/// the warm fleet is given back during the idle spell, not held through
/// it, and launched again at the last poll from which it runs a poll
/// before the next burst is due.
#[test]
fn the_warm_fleet_is_given_back_between_bursts_on_a_rhythm_and_launched_again_in_time() {
    let spell = periodic_bursts(300, 6);
    let lead = 60 + 2 * 15;
    let warm = spell
        .iter()
        .filter_map(|(_, d)| plan_of(d).warm.map(|warm| warm.tasks.ceil() as u32))
        .max()
        .expect("a warm fleet before the next burst");
    assert!(warm > 1, "{warm}");
    for (due_in, d) in &spell {
        let next = plan_of(d).next_burst.expect("the next burst is expected");
        assert_eq!(next.due_in, Duration::from_secs(*due_in));
        assert_eq!(next.shortest_period, Duration::from_secs(300));
        if *due_in >= lead {
            // Given back at once: the keep time does not hold it.
            assert!(next.given_back, "{}", d.reason);
            assert_eq!(d.desired(), Some(1), "{}", d.reason);
            assert!(
                d.reason.to_string().contains("no tasks kept warm"),
                "{}",
                d.reason
            );
        } else {
            // Launched again: running before the burst is due.
            assert!(!next.given_back, "{}", d.reason);
            assert_eq!(d.desired(), Some(warm), "{}", d.reason);
        }
    }
    // Both happened.
    assert!(spell.iter().any(|(due_in, _)| *due_in >= lead));
    assert!(spell.iter().any(|(due_in, _)| *due_in < lead));
}

/// Before three bursts have shown their rhythm, the warm fleet is kept
/// through the spell as before, and a burst that comes sooner than any
/// before (the rhythm broken) is not expected.
#[test]
fn the_warm_fleet_is_given_back_only_on_evidence_of_a_rhythm() {
    for (_, d) in periodic_bursts(300, 3) {
        assert_eq!(plan_of(&d).next_burst, None, "{}", d.reason);
    }
    let mut memory = BurstMemory::default();
    let mut t = 0;
    for _ in 0..4 {
        memory.observe(at(t), Duration::from_secs(15), 100.0, true);
        memory.observe(at(t + 15), Duration::from_secs(15), 0.0, false);
        t += 300;
    }
    // The last burst began at 900: the next is due at 1200 at the earliest.
    assert_eq!(
        memory.next_burst(at(1000)),
        Some((Duration::from_secs(200), Duration::from_secs(300)))
    );
    assert_eq!(memory.next_burst(at(1200)), None);
    memory.observe(at(1000), Duration::from_secs(15), 100.0, true);
    assert_eq!(memory.next_burst(at(1010)), None, "during a burst");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the rhythm, a warm fleet given back is launched again at a
    /// poll from which it starts (60 s) before the next burst is due, and
    /// kept from then on.
    #[test]
    fn a_warm_fleet_given_back_runs_before_the_next_burst(quarter_minutes in 8u64..60) {
        let spell = periodic_bursts(quarter_minutes * 15, 6);
        let given_back = spell
            .iter()
            .filter(|(_, d)| plan_of(d).next_burst.is_some_and(|next| next.given_back))
            .count();
        let relaunched = spell
            .iter()
            .position(|(_, d)| plan_of(d).warm.is_some())
            .map(|at| spell[at].0);
        if given_back > 0 {
            let due_in = relaunched.expect("launched again");
            prop_assert!(due_in >= 60 + 15, "launched {due_in} s before the burst");
        }
        // Once warm, warm to the end of the spell.
        let warm_from = spell.iter().position(|(_, d)| plan_of(d).warm.is_some());
        if let Some(from) = warm_from {
            for (_, d) in &spell[from..] {
                prop_assert!(plan_of(d).warm.is_some(), "{}", d.reason);
                prop_assert!(d.desired().unwrap() > 1, "{}", d.reason);
            }
        }
    }
}

/// Tasks already launched start before any launched now: the run's plan
/// counts them from when they run (a startup after the last scale-out),
/// and asks for new tasks only beyond all of them.
#[test]
fn tasks_already_launched_serve_from_when_they_start() {
    use crate::engine::wait_sizing::Counts;
    use crate::engine::RunRest;
    // 20 running, 1000 waiting, 120 in all 15 s ago: arrivals at
    // 10 + 900 / 15 = 70 a second. Wait 60 s, startup 60 s, poll 15 s;
    // the run (200 more) ends in 30 s, and its last message binds less
    // than the next poll's.
    let counts = |pending: u32, pending_in: u64| Counts {
        waiting: 1000.0,
        in_flight: 20.0,
        running: 20,
        previous: Some((at(0), 120.0)),
        running_before: Some(20),
        pending,
        pending_in: Duration::from_secs(pending_in),
        run_rest: Some(RunRest {
            messages: 200.0,
            within: Duration::from_secs(30),
        }),
        over_keep_up_span: None,
    };
    let run_plan = |pending, pending_in| {
        plan_one_poll(60, &counts(pending, pending_in))
            .run_ending
            .expect("a run ending within a reaction time")
            .0
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // The next poll's message, behind 1000 + 70 x 15 = 2050, within 75 s:
    // the 20 running serve 750; tasks launched now serve 15 s each (7.5
    // messages): 20 + 1300 / 7.5.
    let none = run_plan(0, 0);
    assert!(close(none, 20.0 + 1300.0 / 7.5), "{none}");
    // 40 launched, running in 30 s: 22.5 messages each, 900 in all, then
    // tasks launched now for the other 400.
    let forty = run_plan(40, 30);
    assert!(close(forty, 60.0 + 400.0 / 7.5), "{forty}");
    // 80 launched: enough, and only those of them that serve the 1300.
    let eighty = run_plan(80, 30);
    assert!(close(eighty, 20.0 + 1300.0 / 22.5), "{eighty}");
    // Launched a moment ago (running in a startup): as if launched now.
    assert!(close(run_plan(40, 60), none));
    assert!(eighty < forty && forty < none);
}

/// The same poll, 40 tasks pending beside 20 running: launched 45 s ago
/// they start within 15 s and serve much of the batch, so fewer tasks are
/// asked for than when they were launched a startup ago or more (when they
/// start is then unknown, and they count as launched now). 520 messages:
/// fewer than the 20 running serve within the wait, so not read as a
/// burst that just came.
#[test]
fn the_engine_counts_pending_tasks_from_its_last_scale_out() {
    let (state, t) = after_four_batches();
    let with_last_scale_out = |ago: Option<u64>| {
        let mut state = state.clone();
        state.last_scale_out = ago.map(|ago| at(t - ago));
        let (d, _) = decide(&stated(), Ok(&service(500, 20, 60, 20)), &state, at(t));
        d.recommendation().unwrap()
    };
    let (d, _) = {
        let mut state = state.clone();
        state.last_scale_out = Some(at(t - 45));
        decide(&stated(), Ok(&service(500, 20, 60, 20)), &state, at(t))
    };
    assert!(
        d.reason
            .to_string()
            .contains("; 40 tasks already launched counted from when they run, within 15s"),
        "{}",
        d.reason
    );
    assert_eq!(plan_of(&d).pending, 40);
    let unknown = with_last_scale_out(None);
    assert_eq!(with_last_scale_out(Some(60)), unknown);
    let soon = with_last_scale_out(Some(45));
    assert!(soon < unknown, "{soon} vs {unknown}");
}

/// The deadline floor counts tasks already launched from when they start:
/// they serve a group due after a startup with fewer tasks launched now,
/// and a group due sooner, which tasks launched now would not serve, keeps
/// those of them that start before its deadline.
#[test]
fn the_deadline_floor_counts_pending_tasks_from_when_they_start() {
    use crate::engine::arrivals::Waited;
    use crate::engine::wait_sizing::{by_deadlines, Stated};
    // 2 s a message, wait 5 min, startup 3 min, poll 15 s, 10 running.
    let stated = Stated {
        per_task_rate: 0.5,
        cost: Duration::from_secs(2),
        wait: Duration::from_secs(300),
        from_target: None,
    };
    let floor = |waited: u64, messages: f64, pending: u32| {
        by_deadlines(
            stated,
            (Duration::from_secs(180), Duration::from_secs(15)),
            10,
            (pending, Duration::from_secs(60)),
            [Waited {
                waited: Duration::from_secs(waited),
                messages,
            }]
            .into_iter(),
        )
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // 1500 due in 4 min: the 10 running serve 1200; tasks launched now
    // serve 30 each (1 min), those pending 90 each (3 min).
    assert!(close(floor(60, 1500.0, 0), 20.0));
    assert!(close(floor(60, 1500.0, 10), 10.0 + 300.0 / 90.0));
    // 1000 due in 2.5 min: the running serve 750, tasks launched now none,
    // those pending 45 each (from 1 min on).
    assert!(close(floor(150, 1000.0, 0), 10.0));
    assert!(close(floor(150, 1000.0, 10), 10.0 + 250.0 / 45.0));
}

/// The README's advice for a fan-out rarer than the warm fleet plans for:
/// a desired count raised outside the controller a startup and a poll
/// before it stands for `scale_in.stabilization_window` with wait sizing
/// too, so the tasks are running when the messages come.
#[test]
fn a_pre_scale_from_outside_stands_for_the_stated_window() {
    let mut p = stated();
    p.scale_in.stabilization_window = Duration::from_secs(90);
    let mut state = PolicyState::default();
    for t in (0..=90).step_by(15) {
        state = decide(&p, Ok(&service(0, 0, 1, 1)), &state, at(t)).1;
    }
    // A job raised the count to 100 just before the poll at 105.
    state.count_outside_change(&p, 100, at(105));
    let quiet = service(0, 0, 100, 100);
    let (d, state) = decide(&p, Ok(&quiet), &state, at(105));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, state) = decide(&p, Ok(&quiet), &state, at(180));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    // 90 s on, it is given back.
    let (d, _) = decide(&p, Ok(&quiet), &state, at(195));
    assert_eq!(d.action(), Action::ScaleIn, "{}", d.reason);
    // Without the window it stands for the keep time alone: one startup
    // before any return is seen, shorter once returns say so.
    let mut unwindowed = PolicyState::default();
    for t in (0..=90).step_by(15) {
        unwindowed = decide(&stated(), Ok(&service(0, 0, 1, 1)), &unwindowed, at(t)).1;
    }
    unwindowed.count_outside_change(&stated(), 100, at(105));
    let (d, unwindowed) = decide(&stated(), Ok(&quiet), &unwindowed, at(150));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, _) = decide(&stated(), Ok(&quiet), &unwindowed, at(165));
    assert_eq!(d.action(), Action::ScaleIn, "{}", d.reason);
}
