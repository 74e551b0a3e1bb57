//! Evaluation cycles: policies of one interval and AWS scope tick together and
//! share their reads (one per distinct queue, services ten at a time per
//! cluster), a hung queue delays only its own policies, each cycle is
//! reported once, and a shard runs only its own policies.

use std::time::Duration;

use super::*;
use crate::controller::{shard_of, Shard};
use crate::policy::AwsScope;
use crate::ports::ErrorKind;

/// `name` reading `queue` (instead of its own).
fn on_queue(name: &str, queue: &str, interval: u64) -> Policy {
    let mut policy = policy(name, interval);
    policy.queues[0].queue = queue.into();
    policy
}

#[tokio::test(start_paused = true)]
async fn policies_sharing_a_queue_read_it_once_per_cycle() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("shared", 300, "unused", 3);
    for name in ["a", "b", "c", "d", "e", "own1", "own2"] {
        world.add(name, 300, name, 3);
    }
    let mut policies: Vec<Policy> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|name| on_queue(name, "shared", 10))
        .collect();
    policies.push(policy("own1", 10));
    policies.push(policy("own2", 10));
    let running = start(config(), &world, policies);
    // Ticks at 0, 10, 20 and 30 s.
    advance(35.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.queue_reads("shared"), 4);
    assert_eq!(world.queue_reads("own1"), 4);
    assert_eq!(world.queue_reads("own2"), 4);
    for name in ["a", "b", "c", "d", "e", "own1", "own2"] {
        assert_eq!(recorder.of(name).len(), 4, "{name}");
    }
    // The seven services of cluster `jobs`: one batch read per cycle.
    assert_eq!(world.batch_sizes(), [7, 7, 7, 7]);
    let cycles = recorder.cycles.lock().unwrap().clone();
    assert_eq!(cycles.len(), 4, "{cycles:?}");
    for cycle in &cycles {
        assert_eq!(cycle.policies, 7);
        assert_eq!(cycle.queues_read, 3);
        assert_eq!(cycle.service_batches, 1);
        assert_eq!(cycle.poll_interval, Duration::from_secs(10));
    }
    assert_eq!(
        logs.count("cycle finished: 7 policies, 3 queues read, 1 service batch read "),
        4
    );
    // At their target (3 tasks for 300 messages): nothing to write, ever.
    assert!(world.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn twenty_five_services_of_a_cluster_take_three_batch_reads_per_cycle() {
    let world = FakeWorld::new();
    let names: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
    for name in &names {
        world.add(name, 100, name, 1);
    }
    // Two permits for 25 policies: the batches are planned with the cycle,
    // not in permit order.
    let config = ControllerConfig {
        max_concurrency: 2,
        ..config()
    };
    let running = start(
        config,
        &world,
        names.iter().map(|n| policy(n, 10)).collect(),
    );
    advance(25.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.batch_sizes(), [10, 10, 5, 10, 10, 5, 10, 10, 5]);
    let batches = world.with(|w| w.service_batches.clone());
    let first_cycle: Vec<String> = batches[..3]
        .iter()
        .flat_map(|(_, services)| services.clone())
        .collect();
    assert_eq!(first_cycle, names, "every service once, in order");
    assert!(batches.iter().all(|(cluster, _)| cluster == "jobs"));
    for name in &names {
        assert_eq!(recorder.of(name).len(), 3, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_queue_delays_only_the_policies_that_read_it() {
    let world = FakeWorld::new();
    world.add("stuck", 100, "stuck-a", 1);
    world.add("fine", 100, "fine-a", 1);
    world.add("unused-1", 0, "stuck-b", 1);
    world.add("unused-2", 0, "fine-b", 1);
    world.with(|w| {
        w.queue_delays
            .insert("stuck".into(), Duration::from_secs(3600))
    });
    let policies = vec![
        on_queue("stuck-a", "stuck", 10),
        on_queue("stuck-b", "stuck", 10),
        on_queue("fine-a", "fine", 10),
        on_queue("fine-b", "fine", 10),
    ];
    let running = start(config(), &world, policies);
    advance(65.0).await;
    let start = running.started;
    let (recorder, _) = running.stop().await;

    for name in ["fine-a", "fine-b"] {
        let offsets: Vec<u64> = recorder
            .times_of(name)
            .iter()
            .map(|t| t.duration_since(start).as_secs())
            .collect();
        assert_eq!(offsets, [0, 10, 20, 30, 40, 50, 60], "{name}");
        assert!(recorder.of(name).iter().all(|(_, e)| e.error().is_none()));
    }
    let stuck_a = recorder.of("stuck-a");
    assert!(!stuck_a.is_empty());
    for (_, evaluation) in stuck_a.iter().chain(recorder.of("stuck-b").iter()) {
        assert_eq!(evaluation.error().unwrap().kind(), ErrorKind::Unreachable);
    }
    // One read per cycle, shared by both policies: each gave up at its
    // 20 s deadline (at 20, 40 and 60 s), the fourth read was in flight.
    assert_eq!(stuck_a.len(), 3);
    assert_eq!(recorder.of("stuck-b").len(), 3);
    assert_eq!(world.queue_reads("stuck"), 4);
    assert_eq!(world.queue_reads("fine"), 7);
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_is_shared_within_its_cycle_only() {
    let world = FakeWorld::new();
    world.add("shared", 900, "a", 1);
    world.add("unused", 0, "b", 1);
    world.with(|w| w.queue_errors.insert("shared".into(), ErrorKind::Throttled));
    let running = start(
        config(),
        &world,
        vec![on_queue("a", "shared", 10), on_queue("b", "shared", 10)],
    );
    advance(5.0).await;
    assert_eq!(world.queue_reads("shared"), 1);
    world.with(|w| w.queue_errors.clear());
    // One failure backs off one interval: the next try is at 10 s.
    advance(10.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.queue_reads("shared"), 2);
    for name in ["a", "b"] {
        let evaluations = recorder.of(name);
        assert_eq!(evaluations.len(), 2);
        assert!(evaluations[0].1.error().is_some());
        assert!(evaluations[1].1.error().is_none(), "read afresh");
    }
    assert_eq!(world.desired("a"), 9);
}

#[tokio::test(start_paused = true)]
async fn groups_tick_on_their_own_seeded_grid() {
    let world = FakeWorld::new();
    let names = ["a1", "a2", "b1", "c1"];
    for name in names {
        world.add(name, 100, name, 1);
    }
    let mut policies: Vec<Policy> = names.iter().map(|n| policy(n, 10)).collect();
    // b1: same interval, another region; c1: another interval.
    policies[2].aws = AwsScope {
        region: Some("eu-west-1".into()),
        role_arn: None,
    };
    policies[3].poll_interval = Duration::from_secs(7);
    let config = ControllerConfig {
        phase_spread: 1.0,
        ..config()
    };
    let running = start(config, &world, policies);
    advance(100.0).await;
    let start = running.started;
    let (recorder, _) = running.stop().await;

    let times = |name: &str| recorder.times_of(name);
    // One group, one grid: the same instants.
    assert_eq!(times("a1"), times("a2"));
    assert_ne!(
        times("a1")[0],
        times("b1")[0],
        "another target, another phase"
    );
    for (name, interval) in [("a1", 10), ("b1", 10), ("c1", 7)] {
        let times = times(name);
        assert!(times[0].duration_since(start) < Duration::from_secs(interval));
        for pair in times.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]),
                Duration::from_secs(interval)
            );
        }
    }
    // The phases come from the seed: the same seed, the same grid.
    let world = FakeWorld::new();
    world.add("a1", 100, "a1", 1);
    let again = super::start(
        ControllerConfig {
            phase_spread: 1.0,
            ..super::config()
        },
        &world,
        vec![policy("a1", 10)],
    );
    advance(15.0).await;
    let restart = again.started;
    let (recorder_again, _) = again.stop().await;
    assert_eq!(
        recorder_again.times_of("a1")[0].duration_since(restart),
        times("a1")[0].duration_since(start)
    );
}

#[tokio::test(start_paused = true)]
async fn a_shard_runs_only_its_own_policies_across_reloads() {
    let world = FakeWorld::new();
    let names: Vec<String> = (0..12).map(|i| format!("policy-{i}")).collect();
    for name in &names {
        world.add(name, 100, name, 1);
    }
    let shard: Shard = "1/3".parse().unwrap();
    let mine = |names: &[String]| -> Vec<String> {
        let mut mine: Vec<String> = names
            .iter()
            .filter(|n| shard_of(n, 3) == 1)
            .cloned()
            .collect();
        mine.sort();
        mine
    };
    let config = ControllerConfig {
        shard: Some(shard),
        ..config()
    };
    let running = start(
        config,
        &world,
        names[..8].iter().map(|n| policy(n, 10)).collect(),
    );
    advance(5.0).await;
    let reload = Ok(crate::policy::LoadedPolicies {
        policies: names.iter().map(|n| policy(n, 10)).collect(),
        warnings: vec![],
    });
    running.reloads.send(reload).await.unwrap();
    advance(10.0).await;
    let (recorder, _) = running.stop().await;

    let applied = recorder.applied.lock().unwrap().clone();
    assert_eq!(applied[0], mine(&names[..8]));
    assert_eq!(applied[1], mine(&names));
    assert!(!applied[1].is_empty() && applied[1].len() < names.len());
    let mut evaluated: Vec<String> = recorder.counts().into_keys().collect();
    evaluated.sort();
    assert_eq!(evaluated, mine(&names));
}

#[tokio::test(start_paused = true)]
async fn one_cycle_over_all_policies_as_plan_runs_it() {
    let world = FakeWorld::new();
    world.add("shared", 500, "unused", 1);
    let policies: Vec<Policy> = (0..12)
        .map(|i| {
            let name = format!("s{i:02}");
            world.add(&name, 0, &name, 1);
            on_queue(&name, "shared", 10)
        })
        .collect();
    let ports = world.ports(false);
    let reads = Arc::new(crate::controller::SharedReads::for_policies(
        &ports, &policies,
    ));
    let shared = reads.ports(&ports);
    let mut evaluations = tokio::task::JoinSet::new();
    for policy in policies {
        let ports = shared.clone();
        evaluations.spawn(async move {
            crate::controller::evaluate(
                &policy,
                true,
                &ports,
                &crate::controller::PolicyRecord::default(),
                crate::engine::Timestamp::ZERO,
                crate::controller::Deadlines::default(),
            )
            .await
        });
    }
    let done = evaluations.join_all().await;
    assert_eq!(done.len(), 12);
    assert!(done.iter().all(|(e, _)| e.error().is_none()));
    assert_eq!(world.queue_reads("shared"), 1);
    assert_eq!(world.batch_sizes(), [10, 2]);
    assert_eq!((reads.queues_read(), reads.service_batches()), (1, 2));
}

/// The production default: every group's first evaluation comes within a
/// tenth of its interval of the start (so `/readyz` does not wait a whole
/// interval), and the phases are actually spread, not all at the start.
#[tokio::test(start_paused = true)]
async fn under_the_default_phase_spread_the_first_evaluation_comes_within_a_tenth_of_the_interval()
{
    assert_eq!(ControllerConfig::default().phase_spread, 0.1);
    let world = FakeWorld::new();
    let intervals: Vec<u64> = (10..30).collect();
    let mut policies = Vec::new();
    for interval in &intervals {
        let name = format!("every-{interval}s");
        world.add(&name, 100, &name, 1);
        policies.push(policy(&name, *interval));
    }
    for seed in [1, 2, 3] {
        let config = ControllerConfig {
            seed: Some(seed),
            ..ControllerConfig::default()
        };
        let running = start(config, &world, policies.clone());
        advance(3.5).await;
        let start = running.started;
        let (recorder, _) = running.stop().await;
        let mut phases = Vec::new();
        for interval in &intervals {
            let name = format!("every-{interval}s");
            let first = *recorder
                .times_of(&name)
                .first()
                .unwrap_or_else(|| panic!("seed {seed}: {name} not evaluated within 3.5 s"));
            let phase = first.duration_since(start);
            assert!(
                phase < Duration::from_secs(*interval) / 10,
                "seed {seed}: {name} first evaluated after {phase:?}"
            );
            phases.push(phase);
        }
        let spread: std::collections::BTreeSet<Duration> = phases.iter().copied().collect();
        assert!(
            spread.len() > intervals.len() / 2,
            "seed {seed}: phases {phases:?}"
        );
    }
}
