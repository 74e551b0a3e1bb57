//! The engine on extreme input: policies with every value at the edge that
//! validation lets through (`u32::MAX` tasks, targets from 5e-324 to
//! `f64::MAX`, weights to `f64::MAX`, windows and cooldowns of
//! `Duration::MAX`, a thousand queues), observations with `u64::MAX`
//! messages, `u32::MAX` desired tasks, queue lists longer or shorter than the
//! policy's, failures, and clocks that jump or run backwards. Every decision
//! stays within the policy's bounds, moves only towards the recommendation,
//! and a failed observation holds with the state unchanged.

use std::path::Path;
use std::time::Duration;

use backlog_scaler::engine::{
    decide, Action, Decision, Observation, PolicyState, QueueDepth, ServiceCounts, Timestamp,
};
use backlog_scaler::policy::{check_str, BacklogTarget, Policy, QueueRef, Step};
use proptest::collection::vec;
use proptest::prelude::*;

use super::yaml::policy_stream;
use crate::run;

fn task_count() -> BoxedStrategy<u32> {
    prop_oneof![
        3 => 0u32..50,
        1 => Just(u32::MAX),
        1 => Just(u32::MAX - 1),
        1 => any::<u32>(),
    ]
    .boxed()
}

fn message_count() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => 0u64..10_000,
        1 => Just(0),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
    .boxed()
}

/// A positive finite float, edges first: what validation lets through for
/// targets, weights and percents.
fn positive() -> BoxedStrategy<f64> {
    prop_oneof![
        1 => Just(f64::from_bits(1)), // the smallest subnormal, 5e-324
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(1e-300),
        1 => Just(f64::MAX),
        1 => Just(1e300),
        4 => 0.001f64..1_000.0,
        2 => f64::MIN_POSITIVE..f64::MAX,
    ]
    .boxed()
}

fn duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        3 => (0u64..600).prop_map(Duration::from_secs),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        1 => Just(Duration::from_nanos(1)),
        1 => any::<u64>().prop_map(Duration::from_secs),
        1 => any::<u64>().prop_map(Duration::from_nanos),
    ]
    .boxed()
}

fn step() -> BoxedStrategy<Option<Step>> {
    prop_oneof![
        Just(None),
        (1u32..=u32::MAX).prop_map(|n| Some(Step::Tasks(n))),
        (1u32..10).prop_map(|n| Some(Step::Tasks(n))),
        positive().prop_map(|p| Some(Step::Percent(p))),
    ]
    .boxed()
}

fn target() -> BoxedStrategy<BacklogTarget> {
    prop_oneof![
        positive().prop_map(BacklogTarget::BacklogPerTask),
        (duration(), duration()).prop_filter_map("a zero duration", |(wait, cost)| {
            (!wait.is_zero() && !cost.is_zero()).then_some(BacklogTarget::Wait {
                wait,
                message_cost: cost,
            })
        }),
    ]
    .boxed()
}

fn queues() -> BoxedStrategy<Vec<QueueRef>> {
    let queue = positive().prop_map(|weight| QueueRef {
        queue: "q".to_owned(),
        weight,
    });
    prop_oneof![
        9 => vec(queue.clone(), 1..4),
        1 => vec(queue, 1000..1001),
    ]
    .boxed()
}

prop_compose! {
    /// Any policy validation could return, edges included.
    fn extreme_policy()(
        (min, max) in (task_count(), task_count()).prop_map(|(a, b)| {
            let (low, high) = (a.min(b), a.max(b).max(1));
            (low, high)
        }),
        target in target(),
        tolerance in prop_oneof![Just(0.0), Just(1.0 - f64::EPSILON), 0.0f64..1.0],
        queues in queues(),
        window in duration(),
        out_cooldown in duration(),
        in_cooldown in duration(),
        out_step in step(),
        in_step in step(),
        activation in prop_oneof![Just(0.0), Just(f64::MAX), 0.0f64..100.0],
        zero_after in duration(),
        count_in_flight in any::<bool>(),
        count_delayed in any::<bool>(),
        lookahead in duration(),
        in_flight_per_task in prop::option::of(positive()),
    ) -> Policy {
        let mut p = Policy::with_defaults("extreme", "prod", "extreme", "q");
        p.min_tasks = min;
        p.max_tasks = max;
        p.target = target;
        p.tolerance = tolerance;
        p.queues = queues;
        p.scale_in.stabilization_window = window;
        p.scale_out.cooldown = out_cooldown;
        p.scale_in.cooldown = in_cooldown;
        p.scale_out.max_step = out_step;
        p.scale_in.max_step = in_step;
        p.activation_backlog = activation;
        p.scale_to_zero_after = zero_after;
        p.count_in_flight = count_in_flight;
        p.count_delayed = count_delayed;
        p.scale_out.lookahead = lookahead;
        p.in_flight_per_task = in_flight_per_task;
        p
    }
}

/// One evaluation: how far the clock moves (or goes back), and what is seen.
#[derive(Debug, Clone)]
enum Evaluation {
    Seen {
        clock: Clock,
        queues: Vec<QueueDepth>,
        service: ServiceCounts,
    },
    Failed {
        clock: Clock,
    },
}

#[derive(Debug, Clone, Copy)]
enum Clock {
    Forward(Duration),
    Back(Duration),
}

fn clock() -> BoxedStrategy<Clock> {
    prop_oneof![
        6 => (0u64..120).prop_map(|s| Clock::Forward(Duration::from_secs(s))),
        1 => duration().prop_map(Clock::Forward),
        1 => duration().prop_map(Clock::Back),
    ]
    .boxed()
}

fn any_evaluation(queue_count: usize) -> impl Strategy<Value = Evaluation> {
    let depth = (message_count(), message_count(), message_count()).prop_map(
        |(visible, in_flight, delayed)| QueueDepth {
            visible,
            in_flight,
            delayed,
        },
    );
    // Usually one depth per queue; sometimes too few or too many.
    let lengths = prop_oneof![
        8 => Just(queue_count),
        1 => 0..queue_count + 3,
    ];
    let service = (task_count(), task_count(), task_count(), any::<bool>()).prop_map(
        |(desired, running, pending, deployment_in_progress)| ServiceCounts {
            desired,
            running,
            pending,
            deployment_in_progress,
        },
    );
    prop_oneof![
        8 => (clock(), lengths.prop_flat_map(move |n| vec(depth.clone(), n)), service)
            .prop_map(|(clock, queues, service)| Evaluation::Seen { clock, queues, service }),
        1 => clock().prop_map(|clock| Evaluation::Failed { clock }),
    ]
}

fn start() -> BoxedStrategy<Timestamp> {
    prop_oneof![
        4 => Just(Timestamp::ZERO),
        1 => Just(Timestamp(Duration::MAX)),
        1 => any::<u64>().prop_map(Timestamp::from_secs),
    ]
    .boxed()
}

fn advance(now: Timestamp, clock: Clock) -> Timestamp {
    match clock {
        Clock::Forward(by) => Timestamp(now.0.saturating_add(by)),
        Clock::Back(by) => Timestamp(now.0.saturating_sub(by)),
    }
}

/// What must hold of every decision, whatever the input.
fn assert_decision(
    policy: &Policy,
    observation: &Observation,
    decision: &Decision,
) -> Result<(), TestCaseError> {
    let (min, max) = (policy.min_tasks, policy.max_tasks);
    let current = observation.service.desired;
    prop_assert_eq!(decision.current(), Some(current));
    let desired = decision.desired().expect("a desired count when observed");
    let recommendation = decision.recommendation().expect("a recommendation");
    prop_assert!(
        (min..=max).contains(&desired),
        "desired {} outside [{}, {}]: {}",
        desired,
        min,
        max,
        decision.reason
    );
    prop_assert!((min..=max).contains(&recommendation));
    let expected_action = match desired.cmp(&current) {
        std::cmp::Ordering::Greater => Action::ScaleOut,
        std::cmp::Ordering::Less => Action::ScaleIn,
        std::cmp::Ordering::Equal => Action::Hold,
    };
    prop_assert_eq!(decision.action(), expected_action);
    prop_assert_eq!(
        decision.change(),
        (expected_action != Action::Hold).then_some(desired)
    );
    // Only towards the recommendation (which is itself within bounds).
    match decision.action() {
        Action::ScaleOut => prop_assert!(desired <= recommendation, "{}", decision.reason),
        Action::ScaleIn => prop_assert!(desired >= recommendation, "{}", decision.reason),
        Action::Hold => {}
    }
    if let Some(backlog) = decision.backlog() {
        prop_assert!(!backlog.is_nan(), "backlog NaN");
        prop_assert!(backlog >= 0.0, "backlog {}", backlog);
    }
    // What `explain`, logs and the JSON output do with a decision.
    let shown = decision.reason.to_string();
    prop_assert!(!shown.is_empty());
    serde_json::to_string(decision).expect("a decision serialises");
    Ok(())
}

/// Run `policy` through `evaluations` from `now`, asserting every decision.
fn replay(
    policy: &Policy,
    mut now: Timestamp,
    evaluations: &[Evaluation],
) -> Result<(), TestCaseError> {
    let mut state = PolicyState::default();
    for evaluation in evaluations {
        match evaluation {
            Evaluation::Failed { clock } => {
                now = advance(now, *clock);
                let (decision, next) = decide(policy, Err("throttled"), &state, now);
                prop_assert_eq!(decision.action(), Action::Hold);
                prop_assert_eq!(decision.desired(), None);
                prop_assert_eq!(decision.change(), None);
                prop_assert_eq!(&next, &state, "a failed observation changed the state");
                decision.reason.to_string();
            }
            Evaluation::Seen {
                clock,
                queues,
                service,
            } => {
                now = advance(now, *clock);
                let observation = Observation {
                    queues: queues.clone(),
                    service: *service,
                };
                let (decision, next) = decide(policy, Ok(&observation), &state, now);
                assert_decision(policy, &observation, &decision)?;
                if let Some(highest) = next.highest_recent_recommendation() {
                    prop_assert!(highest <= policy.max_tasks);
                }
                state = next;
            }
        }
    }
    Ok(())
}

fn history(queue_count: usize) -> impl Strategy<Value = Vec<Evaluation>> {
    vec(any_evaluation(queue_count), 1..16)
}

#[test]
fn extreme_policies_and_observations_stay_within_bounds() {
    let input = extreme_policy().prop_flat_map(|policy| {
        let n = policy.queues.len();
        (Just(policy), start(), history(n))
    });
    run(2, input, |(policy, start, evaluations)| {
        replay(&policy, start, &evaluations)
    });
}

#[test]
fn a_reloaded_policy_keeps_its_own_bounds_over_the_old_state() {
    // The daemon keeps a policy's state across a reload that changes it.
    let input = (extreme_policy(), extreme_policy()).prop_flat_map(|(old, new)| {
        let n = old.queues.len().max(new.queues.len());
        (Just(old), Just(new), history(n), history(n))
    });
    run(4, input, |(old, new, before, after)| {
        let mut state = PolicyState::default();
        let mut now = Timestamp::ZERO;
        for (policy, evaluations) in [(&old, &before), (&new, &after)] {
            for evaluation in evaluations {
                let Evaluation::Seen {
                    clock,
                    queues,
                    service,
                } = evaluation
                else {
                    continue;
                };
                now = advance(now, *clock);
                let observation = Observation {
                    queues: queues.clone(),
                    service: *service,
                };
                let (decision, next) = decide(policy, Ok(&observation), &state, now);
                assert_decision(policy, &observation, &decision)?;
                state = next;
            }
        }
        Ok(())
    });
}

#[test]
fn every_policy_the_loader_accepts_runs_within_bounds() {
    // The random documents of `yaml.rs` that pass validation: exactly the
    // extreme values a user can get through to the engine.
    let input = (policy_stream(), history(4));
    run(2, input, |(text, evaluations)| {
        let report = check_str(Path::new("fuzzed.yaml"), &text);
        for policy in &report.policies {
            replay(policy, Timestamp::ZERO, &evaluations)?;
        }
        Ok(())
    });
}

#[test]
fn timestamps_from_any_float_do_not_panic() {
    // The rule: NaN and anything not above zero is zero, anything past the
    // largest `Duration` saturates there, and the rest is those seconds to
    // the nanosecond.
    fn expect(secs: f64) -> Result<(), TestCaseError> {
        let got = Timestamp::from_secs_f64(secs).since(Timestamp::ZERO);
        if secs.is_nan() || secs <= 0.0 {
            prop_assert_eq!(got, Duration::ZERO, "{} s", secs);
        } else if secs >= Duration::MAX.as_secs_f64() {
            prop_assert_eq!(got, Duration::MAX, "{} s", secs);
        } else {
            let error = (got.as_secs_f64() - secs).abs();
            prop_assert!(error <= 1e-9 + secs * 1e-15, "{} s became {:?}", secs, got);
        }
        Ok(())
    }
    run(1, any::<f64>(), expect);
    for secs in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        -0.0,
        -1.5,
        1e30,
        1.5,
        5e-324,
    ] {
        expect(secs).unwrap();
    }
    assert_eq!(
        Timestamp::from_secs_f64(f64::INFINITY).since(Timestamp::ZERO),
        Duration::MAX
    );
    assert_eq!(Timestamp::from_secs_f64(f64::NAN), Timestamp::ZERO);
    assert_eq!(
        Timestamp::from_secs_f64(1.5),
        Timestamp::from_nanos(1_500_000_000)
    );
}
