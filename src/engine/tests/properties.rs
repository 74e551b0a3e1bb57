//! Properties that must hold for every valid policy and any observation.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::policy::{BacklogTarget, Step};

fn any_step() -> impl Strategy<Value = Option<Step>> {
    prop_oneof![
        Just(None),
        (1u32..20).prop_map(|n| Some(Step::Tasks(n))),
        (1.0f64..300.0).prop_map(|p| Some(Step::Percent(p))),
    ]
}

prop_compose! {
    fn any_policy()(
        min in 0u32..5,
        span in 0u32..60,
        target in 0.5f64..500.0,
        tolerance in 0.0f64..0.5,
        window in 0u64..600,
        out_cooldown in 0u64..120,
        in_cooldown in 0u64..120,
        out_step in any_step(),
        in_step in any_step(),
        activation in 0.0f64..50.0,
        zero_after in 0u64..600,
        count_in_flight in any::<bool>(),
        lookahead in prop_oneof![Just(0u64), 1u64..180],
        in_flight_per_task in prop::option::of(0.5f64..8.0),
    ) -> Policy {
        let mut p = policy();
        p.min_tasks = min;
        p.max_tasks = min + span;
        p.target = BacklogTarget::BacklogPerTask(target);
        p.tolerance = tolerance;
        p.scale_in.stabilization_window = Duration::from_secs(window);
        p.scale_out.cooldown = Duration::from_secs(out_cooldown);
        p.scale_in.cooldown = Duration::from_secs(in_cooldown);
        p.scale_out.max_step = out_step;
        p.scale_in.max_step = in_step;
        p.activation_backlog = activation;
        p.scale_to_zero_after = Duration::from_secs(zero_after);
        p.count_in_flight = count_in_flight;
        p.scale_out.lookahead = Duration::from_secs(lookahead);
        p.in_flight_per_task = in_flight_per_task;
        p
    }
}

/// A history of observations (seconds since last, visible, in-flight,
/// desired) to build up a realistic state before the property is checked.
fn any_history() -> impl Strategy<Value = Vec<(u64, u64, u64, u32)>> {
    prop::collection::vec((1u64..120, 0u64..5_000, 0u64..500, 0u32..80), 0..12)
}

fn replay(policy: &Policy, history: &[(u64, u64, u64, u32)]) -> (PolicyState, u64) {
    let mut state = PolicyState::default();
    let mut now = 0;
    for &(dt, visible, in_flight, desired) in history {
        now += dt;
        let desired = desired.clamp(policy.min_tasks, policy.max_tasks);
        state = decide(
            policy,
            Ok(&observe(visible, in_flight, desired)),
            &state,
            at(now),
        )
        .1;
    }
    (state, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bounds_always_hold(
        p in any_policy(),
        history in any_history(),
        visible in 0u64..1_000_000,
        in_flight in 0u64..10_000,
        current in 0u32..200,
        deploying in any::<bool>(),
    ) {
        let (state, now) = replay(&p, &history);
        let mut obs = observe(visible, in_flight, current);
        obs.service.deployment_in_progress = deploying;
        let (d, _) = decide(&p, Ok(&obs), &state, at(now + 15));
        let desired = d.desired().unwrap();
        prop_assert!(
            (p.min_tasks..=p.max_tasks).contains(&desired),
            "{desired} outside [{}, {}]: {}", p.min_tasks, p.max_tasks, d.reason
        );
    }

    #[test]
    fn more_backlog_never_means_fewer_tasks(
        p in any_policy(),
        history in any_history(),
        visible in 0u64..100_000,
        extra in 0u64..100_000,
        in_flight in 0u64..1_000,
        current in 0u32..80,
        deploying in any::<bool>(),
    ) {
        let (state, now) = replay(&p, &history);
        let current = current.clamp(p.min_tasks, p.max_tasks);
        let mut less = observe(visible, in_flight, current);
        less.service.deployment_in_progress = deploying;
        let mut more = less.clone();
        more.queues[0].visible += extra;
        let (d_less, _) = decide(&p, Ok(&less), &state, at(now + 15));
        let (d_more, _) = decide(&p, Ok(&more), &state, at(now + 15));
        prop_assert!(
            d_more.desired() >= d_less.desired(),
            "{:?} with more backlog < {:?}: {} / {}", d_more.desired(), d_less.desired(), d_more.reason, d_less.reason
        );
    }

    #[test]
    fn nothing_moves_inside_the_tolerance_band(
        p in any_policy(),
        history in any_history(),
        current in 1u32..80,
        position in -1.0f64..=1.0,
    ) {
        let (state, now) = replay(&p, &history);
        let current = current.clamp(p.min_tasks.max(1), p.max_tasks.max(1));
        prop_assume!(current >= p.min_tasks && current <= p.max_tasks);
        // A backlog strictly inside the band, away from its rounding edges.
        let target = p.target_backlog_per_task();
        let backlog = (target * f64::from(current) * (1.0 + position * p.tolerance * 0.99)).floor();
        let ratio = backlog / (target * f64::from(current));
        prop_assume!((ratio - 1.0).abs() <= p.tolerance);
        let mut p = p;
        p.count_in_flight = false;
        // The band is on the backlog seen now; growth would move it.
        p.scale_out.lookahead = Duration::ZERO;
        let (d, _) = decide(&p, Ok(&observe(backlog as u64, 0, current)), &state, at(now + 15));
        prop_assert_eq!(d.action(), Action::Hold, "{}", d.reason);
    }

    #[test]
    fn no_scale_in_below_a_recent_higher_recommendation(
        p in any_policy(),
        history in any_history(),
        first in (0u64..100_000, 0u32..80),
        second in (0u64..100_000, 0u32..80),
        gap in 0u64..600,
    ) {
        prop_assume!(gap < p.scale_in.stabilization_window.as_secs());
        let (state, now) = replay(&p, &history);
        let clamp = |n: u32| n.clamp(p.min_tasks, p.max_tasks);
        let (d1, state) = decide(&p, Ok(&observe(first.0, 0, clamp(first.1))), &state, at(now + 1));
        let recommended = d1.recommendation().unwrap();
        let current = clamp(second.1);
        let (d2, _) = decide(&p, Ok(&observe(second.0, 0, current)), &state, at(now + 1 + gap));
        let desired = d2.desired().unwrap();
        if desired < current {
            prop_assert!(
                desired >= recommended,
                "scaled in to {desired} within the window after recommending {recommended}: {}", d2.reason
            );
        }
    }

    #[test]
    fn failed_observations_never_change_anything(
        p in any_policy(),
        history in any_history(),
        error in ".{0,40}",
    ) {
        let (state, now) = replay(&p, &history);
        let (d, next) = decide(&p, Err(&error), &state, at(now + 15));
        prop_assert_eq!(d.change(), None);
        prop_assert_eq!(next, state);
    }
}
