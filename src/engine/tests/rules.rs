//! One table per rule of the engine, with hand-computed expectations.

use std::time::Duration;

use super::*;
use crate::policy::{BacklogTarget, Step};

#[test]
fn recommendation_is_ceil_of_backlog_over_target() {
    // (visible, in_flight, desired, expected desired)
    let cases = [
        (100, 0, 1, 10),
        (101, 0, 1, 11),
        (95, 5, 1, 10),
        (1000, 0, 1, 20), // capped at max_tasks
        (0, 0, 5, 5),     // fresh state: the window holds scale-in
    ];
    let p = policy();
    for (visible, in_flight, desired, expected) in cases {
        let d = fresh(&p, &observe(visible, in_flight, desired));
        assert_eq!(
            d.desired(),
            Some(expected),
            "{visible}+{in_flight} at {desired}: {}",
            d.reason
        );
    }
}

#[test]
fn reason_reads_like_arithmetic() {
    let mut p = policy();
    p.target = BacklogTarget::BacklogPerTask(100.0);
    p.scale_out.max_step = Some(Step::Tasks(4));
    let d = fresh(&p, &observe(1200, 30, 4));
    assert_eq!(d.desired(), Some(8));
    assert_eq!(
        d.reason.to_string(),
        "backlog 1230 (visible 1200 + in-flight 30) / target 100 = 13 tasks; scale-out capped by max_step 4: 4 -> 8"
    );
}

#[test]
fn counted_parts_follow_the_policy() {
    let mut obs = observe(50, 30, 1);
    obs.queues[0].delayed = 20;
    // (count_in_flight, count_delayed, expected backlog)
    let cases = [
        (true, false, 80.0),
        (false, false, 50.0),
        (true, true, 100.0),
        (false, true, 70.0),
    ];
    for (in_flight, delayed, expected) in cases {
        let mut p = policy();
        p.count_in_flight = in_flight;
        p.count_delayed = delayed;
        assert_eq!(fresh(&p, &obs).backlog(), Some(expected));
    }
}

#[test]
fn queue_weights_scale_each_backlog() {
    let mut p = policy();
    p.queues.push(crate::policy::QueueRef {
        queue: "low-priority".into(),
        weight: 0.5,
    });
    let mut obs = observe(100, 0, 1);
    obs.queues.push(QueueDepth {
        visible: 100,
        in_flight: 0,
        delayed: 0,
    });
    let d = fresh(&p, &obs);
    assert_eq!(d.backlog(), Some(150.0));
    assert_eq!(d.desired(), Some(15));
}

#[test]
fn nothing_moves_inside_the_tolerance_band() {
    let p = policy(); // tolerance 0.1, target 10
                      // At 10 tasks the band is backlog 90..=110.
    for backlog in [90, 95, 100, 110] {
        let d = fresh(&p, &observe(backlog, 0, 10));
        assert_eq!(d.action(), Action::Hold, "backlog {backlog}");
    }
    for (backlog, expected) in [(111, 12), (150, 15)] {
        let d = fresh(&p, &observe(backlog, 0, 10));
        assert_eq!(d.desired(), Some(expected), "backlog {backlog}");
    }
}

#[test]
fn current_count_is_desired_not_running() {
    // Four tasks are still starting: they are not asked for again.
    let p = policy();
    let mut obs = observe(100, 0, 10);
    obs.service.running = 6;
    obs.service.pending = 4;
    assert_eq!(fresh(&p, &obs).action(), Action::Hold);
}

#[test]
fn bounds_hold_and_out_of_bounds_services_come_inside() {
    let p = policy(); // [1, 20]
    assert_eq!(fresh(&p, &observe(0, 0, 0)).desired(), Some(1));
    assert_eq!(fresh(&p, &observe(10_000, 0, 3)).desired(), Some(20));
    // Found above max: brought down at once, window or not.
    let d = fresh(&p, &observe(500, 0, 40));
    assert_eq!(d.desired(), Some(20));
    assert!(
        d.reason.to_string().contains("outside [1, 20]"),
        "{}",
        d.reason
    );
}

#[test]
fn scale_out_cooldown_spaces_scale_outs() {
    let mut p = policy();
    p.scale_out.cooldown = Duration::from_secs(30);
    let (d1, s1) = decide(&p, Ok(&observe(50, 0, 1)), &PolicyState::default(), at(0));
    assert_eq!(d1.desired(), Some(5));
    let (d2, s2) = decide(&p, Ok(&observe(100, 0, 5)), &s1, at(29));
    assert_eq!(d2.action(), Action::Hold);
    assert!(d2.reason.to_string().contains("cooldown"), "{}", d2.reason);
    let (d3, _) = decide(&p, Ok(&observe(100, 0, 5)), &s2, at(30));
    assert_eq!(d3.desired(), Some(10));
}

#[test]
fn step_limits_cap_each_action() {
    // (step, current, backlog, expected)
    let cases = [
        (Step::Tasks(2), 4, 150, 6),
        (Step::Percent(50.0), 4, 150, 6),
        (Step::Percent(100.0), 4, 150, 8),
        (Step::Percent(10.0), 0, 150, 1), // a percentage still leaves zero
    ];
    for (step, current, backlog, expected) in cases {
        let mut p = policy();
        p.min_tasks = 0;
        p.scale_out.max_step = Some(step);
        let d = fresh(&p, &observe(backlog, 0, current));
        assert_eq!(d.desired(), Some(expected), "{step} from {current}");
    }
    let mut p = policy();
    p.scale_in.stabilization_window = Duration::ZERO;
    p.scale_in.max_step = Some(Step::Tasks(3));
    let d = fresh(&p, &observe(10, 0, 10));
    assert_eq!(d.desired(), Some(7));
}

#[test]
fn stabilization_window_scales_in_to_highest_recent_recommendation() {
    let p = policy(); // 60 s window
    let s = PolicyState::default();
    let (_, s) = decide(&p, Ok(&observe(100, 0, 10)), &s, at(0)); // rec 10
    let (d, s) = decide(&p, Ok(&observe(60, 0, 10)), &s, at(20)); // rec 6
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, s) = decide(&p, Ok(&observe(30, 0, 10)), &s, at(59)); // rec 3
    assert_eq!(d.action(), Action::Hold);
    // At 60 s the recommendation of 10 made at 0 no longer counts
    // (half-open window); the highest left is 6 from t=20.
    let (d, s) = decide(&p, Ok(&observe(30, 0, 10)), &s, at(60));
    assert_eq!(d.desired(), Some(6), "{}", d.reason);
    let (d, _) = decide(&p, Ok(&observe(30, 0, 6)), &s, at(80));
    assert_eq!(d.desired(), Some(3), "{}", d.reason);
}

#[test]
fn scale_in_cooldown_follows_any_scaling() {
    let mut p = policy();
    p.scale_in.stabilization_window = Duration::ZERO;
    p.scale_in.cooldown = Duration::from_secs(120);
    let (d, s) = decide(&p, Ok(&observe(100, 0, 5)), &PolicyState::default(), at(0));
    assert_eq!(d.desired(), Some(10));
    let (d, s) = decide(&p, Ok(&observe(10, 0, 10)), &s, at(119));
    assert_eq!(d.action(), Action::Hold);
    assert!(
        d.reason.to_string().contains("scale-in cooldown"),
        "{}",
        d.reason
    );
    let (d, _) = decide(&p, Ok(&observe(10, 0, 10)), &s, at(120));
    assert_eq!(d.desired(), Some(1));
}

#[test]
fn no_scale_in_during_a_deployment_but_scale_out_allowed() {
    let mut p = policy();
    p.scale_in.stabilization_window = Duration::ZERO;
    let mut obs = observe(10, 0, 10);
    obs.service.deployment_in_progress = true;
    let d = fresh(&p, &obs);
    assert_eq!(d.action(), Action::Hold);
    assert!(d.reason.to_string().contains("deployment"), "{}", d.reason);
    let mut obs = observe(200, 0, 10);
    obs.service.deployment_in_progress = true;
    assert_eq!(fresh(&p, &obs).desired(), Some(20));
}

#[test]
fn failed_observation_holds_and_keeps_state() {
    let p = policy();
    let (_, s) = decide(&p, Ok(&observe(100, 0, 10)), &PolicyState::default(), at(0));
    let (d, s2) = decide(&p, Err("queue jobs does not exist"), &s, at(15));
    assert_eq!(d.action(), Action::Hold);
    assert_eq!(d.desired(), None);
    assert_eq!(d.change(), None);
    assert_eq!(s2, s);
    assert_eq!(
        d.reason.to_string(),
        "holding: observation failed (queue jobs does not exist)"
    );
}

#[test]
fn fresh_state_counts_current_count_as_recent() {
    let p = policy(); // 60 s window
    let (d, s) = decide(&p, Ok(&observe(0, 0, 8)), &PolicyState::default(), at(0));
    assert_eq!(
        d.action(),
        Action::Hold,
        "a restart must not scale in at once"
    );
    let (d, _) = decide(&p, Ok(&observe(0, 0, 8)), &s, at(60));
    assert_eq!(d.desired(), Some(1));
    // With a zero window nothing holds it.
    let mut p = policy();
    p.scale_in.stabilization_window = Duration::ZERO;
    assert_eq!(fresh(&p, &observe(0, 0, 8)).desired(), Some(1));
}

#[test]
fn an_outside_change_counts_as_a_recommendation_made_when_seen() {
    let p = policy(); // 60 s window, bounds [1, 20]
    let (_, mut s) = decide(&p, Ok(&observe(0, 0, 2)), &PolicyState::default(), at(0));
    // At t = 100 an operator's 8 is seen; the queue is empty.
    s.count_outside_change(&p, 8, at(100));
    let (d, s) = decide(&p, Ok(&observe(0, 0, 8)), &s, at(100));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, s) = decide(&p, Ok(&observe(0, 0, 8)), &s, at(159));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, _) = decide(&p, Ok(&observe(0, 0, 8)), &s, at(160));
    assert_eq!(d.desired(), Some(1), "{}", d.reason);
    // Outside the bounds it counts as the nearest bound.
    let mut s = PolicyState::default();
    s.count_outside_change(&p, 50, at(0));
    assert_eq!(s.highest_recent_recommendation(), Some(20));
    // With a zero window it does not count at all.
    let mut p = policy();
    p.scale_in.stabilization_window = Duration::ZERO;
    let mut s = PolicyState::default();
    s.count_outside_change(&p, 8, at(0));
    assert_eq!(s.highest_recent_recommendation(), None);
}

#[test]
fn activation_from_zero() {
    let mut p = policy();
    p.min_tasks = 0;
    p.activation_backlog = 5.0;
    // (backlog, expected)
    for (backlog, expected) in [(0, 0), (5, 0), (6, 1), (55, 6)] {
        let d = fresh(&p, &observe(backlog, 0, 0));
        assert_eq!(
            d.desired(),
            Some(expected),
            "backlog {backlog}: {}",
            d.reason
        );
    }
}

#[test]
fn scale_to_zero_waits_for_idle_time() {
    let mut p = policy();
    p.min_tasks = 0;
    p.scale_in.stabilization_window = Duration::ZERO;
    p.scale_to_zero_after = Duration::from_secs(300);
    let (d, s) = decide(&p, Ok(&observe(0, 0, 3)), &PolicyState::default(), at(0));
    assert_eq!(d.desired(), Some(1), "{}", d.reason);
    let (d, s) = decide(&p, Ok(&observe(0, 0, 1)), &s, at(299));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, _) = decide(&p, Ok(&observe(0, 0, 1)), &s, at(300));
    assert_eq!(d.desired(), Some(0), "{}", d.reason);
}

#[test]
fn in_flight_work_resets_the_idle_clock_even_when_not_counted() {
    let mut p = policy();
    p.min_tasks = 0;
    p.count_in_flight = false;
    p.scale_in.stabilization_window = Duration::ZERO;
    p.scale_to_zero_after = Duration::from_secs(60);
    let (_, s) = decide(&p, Ok(&observe(0, 0, 1)), &PolicyState::default(), at(0));
    let (_, s) = decide(&p, Ok(&observe(0, 3, 1)), &s, at(30)); // still working
    let (d, s) = decide(&p, Ok(&observe(0, 0, 1)), &s, at(60));
    assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    let (d, _) = decide(&p, Ok(&observe(0, 0, 1)), &s, at(120));
    assert_eq!(d.desired(), Some(0), "{}", d.reason);
}

#[test]
fn wait_target_form_uses_wait_over_cost() {
    let mut p = policy();
    p.target = BacklogTarget::Wait {
        wait: Duration::from_secs(30),
        message_cost: Duration::from_millis(300),
    };
    assert_eq!(p.target_backlog_per_task(), 100.0);
    assert_eq!(fresh(&p, &observe(1000, 0, 1)).desired(), Some(10));
}

#[test]
fn an_infinite_backlog_is_inf_in_json_not_null() {
    let mut p = policy();
    p.queues[0].weight = f64::MAX;
    let d = fresh(&p, &observe(10, 0, 2));
    assert_eq!(d.backlog(), Some(f64::INFINITY));
    let json = serde_json::to_value(&d).expect("serializes");
    assert_eq!(json["backlog"], "inf", "{json}");
    assert_eq!(json["reason"][0]["backlog"], "inf", "{json}");
    // A finite figure stays a number.
    let json = serde_json::to_value(fresh(&policy(), &observe(10, 0, 2))).unwrap();
    assert_eq!(json["backlog"], 10.0);
}
