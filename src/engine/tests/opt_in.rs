//! The opt-in sizing rules: `scale_out.lookahead` and `in_flight_per_task`.
//! Their defaults must leave every other rule as it was (the tables in
//! `rules.rs` run with the defaults).

use std::time::Duration;

use super::*;

#[test]
fn lookahead_adds_the_growth_over_its_horizon() {
    let mut p = policy();
    p.scale_out.lookahead = Duration::from_secs(60);
    p.tolerance = 0.0;
    // (work at 0, work at 15, desired at 15, expected desired)
    // Growth (w15 - w0) / 15 per second, times 60, added to w15; target 10.
    let cases = [
        (10, 40, 1, 12), // +2/s: 40 + 120 = 160 -> 16, lowered to max 12
        (10, 10, 1, 1),  // flat: 10 / 10 = 1
        (40, 10, 1, 1),  // shrinking adds nothing
        (0, 15, 1, 8),   // +1/s: 15 + 60 = 75 -> 8
    ];
    for (before, after, desired, expected) in cases {
        let mut p = p.clone();
        p.max_tasks = 12;
        let (_, s) = decide(
            &p,
            Ok(&observe(before, 0, desired)),
            &PolicyState::default(),
            at(0),
        );
        let (d, _) = decide(&p, Ok(&observe(after, 0, desired)), &s, at(15));
        assert_eq!(
            d.desired(),
            Some(expected),
            "{before} -> {after}: {}",
            d.reason
        );
    }
}

#[test]
fn lookahead_needs_a_previous_observation_and_says_what_it_expects() {
    let mut p = policy();
    p.scale_out.lookahead = Duration::from_secs(60);
    let d = fresh(&p, &observe(100, 0, 1));
    assert_eq!(d.desired(), Some(10));
    let (_, s) = decide(&p, Ok(&observe(100, 0, 10)), &PolicyState::default(), at(0));
    let (d, _) = decide(&p, Ok(&observe(130, 0, 10)), &s, at(15));
    // 130 + 2/s * 60 s = 250 -> 20 (the max).
    assert_eq!(d.desired(), Some(20));
    assert_eq!(
        d.reason.to_string(),
        "backlog 130 (visible 130 + in-flight 0); work growing 2/s, 120 more expected within the 1m lookahead / target 10 = 25 tasks; lowered to max_tasks 20"
    );
}

#[test]
fn zero_lookahead_is_the_plain_rule() {
    let p = policy();
    let (_, s) = decide(&p, Ok(&observe(10, 0, 1)), &PolicyState::default(), at(0));
    let (d, _) = decide(&p, Ok(&observe(100, 0, 1)), &s, at(15));
    assert_eq!(d.desired(), Some(10));
    assert!(!d.reason.to_string().contains("lookahead"));
}

#[test]
fn in_flight_per_task_counts_busy_tasks_and_targets_waiting_messages() {
    let mut p = policy();
    p.in_flight_per_task = Some(2.0);
    p.tolerance = 0.0;
    // (visible, in_flight, desired, expected): in_flight / 2 + visible / 10.
    let cases = [(0, 8, 4, 4), (25, 8, 4, 7), (0, 3, 1, 2), (200, 0, 1, 20)];
    for (visible, in_flight, desired, expected) in cases {
        let d = fresh(&p, &observe(visible, in_flight, desired));
        assert_eq!(
            d.desired(),
            Some(expected),
            "{visible}+{in_flight}: {}",
            d.reason
        );
    }
    let d = fresh(&p, &observe(25, 8, 4));
    assert_eq!(
        d.reason.to_string(),
        "backlog 33 (visible 25 + in-flight 8); 4 busy tasks + waiting 25 / target 10 = 7 tasks"
    );
}

#[test]
fn in_flight_per_task_tolerance_compares_tasks_needed_with_current() {
    let mut p = policy();
    p.in_flight_per_task = Some(1.0);
    p.tolerance = 0.1;
    // 10 busy + 5 waiting / 10 = 10.5 tasks against 10: inside the band.
    let d = fresh(&p, &observe(5, 10, 10));
    assert_eq!(d.desired(), Some(10));
    assert!(matches!(
        d.reason.steps().last(),
        Some(Because::InsideTolerance { .. })
    ));
}
