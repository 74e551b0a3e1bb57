//! When policies are evaluated: their own intervals, bounded concurrency,
//! isolation from slow policies, and shutdown. (Phases and shared cycles:
//! `cycles.rs`.)

use std::time::Duration;

use super::*;

#[tokio::test(start_paused = true)]
async fn each_policy_runs_on_its_own_interval() {
    let world = FakeWorld::new();
    world.add("fast", 100, "fast", 1);
    world.add("slow", 100, "slow", 1);
    let running = start(config(), &world, vec![policy("fast", 2), policy("slow", 7)]);
    advance(60.5).await;
    let start = running.started;
    let (recorder, _) = running.stop().await;

    let offsets = |name: &str| -> Vec<u64> {
        recorder
            .times_of(name)
            .iter()
            .map(|t| t.duration_since(start).as_secs())
            .collect()
    };
    assert_eq!(offsets("fast"), (0..=30).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(offsets("slow"), (0..=8).map(|i| i * 7).collect::<Vec<_>>());
    // The supervisor beats once a second, at 0 s included.
    let beats = recorder
        .heartbeats
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(beats, 61);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    let world = FakeWorld::new();
    let names: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    for name in &names {
        world.add(name, 100, name, 1);
        world.with(|w| w.queue_delays.insert(name.clone(), Duration::from_secs(3)));
    }
    let config = ControllerConfig {
        max_concurrency: 2,
        ..config()
    };
    let running = start(
        config,
        &world,
        names.iter().map(|n| policy(n, 30)).collect(),
    );
    advance(20.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.max_in_flight(), 2);
    // Three rounds of two, three seconds each: all six done by 9 s.
    let counts = recorder.counts();
    for name in &names {
        assert_eq!(counts.get(name), Some(&1), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_policy_does_not_delay_the_others() {
    let world = FakeWorld::new();
    world.add("stuck", 100, "stuck", 1);
    world.add("quick", 100, "quick", 1);
    world.with(|w| {
        w.queue_delays
            .insert("stuck".into(), Duration::from_secs(3600))
    });
    let running = start(
        config(),
        &world,
        vec![policy("stuck", 1), policy("quick", 1)],
    );
    advance(60.5).await;
    let (recorder, _) = running.stop().await;

    let quick = recorder.times_of("quick");
    assert_eq!(quick.len(), 61);
    for pair in quick.windows(2) {
        assert_eq!(pair[1].duration_since(pair[0]), Duration::from_secs(1));
    }
    // The stuck one gave up at its observe deadline each time and held.
    let stuck = recorder.of("stuck");
    assert!(!stuck.is_empty());
    for (_, evaluation) in &stuck {
        let error = evaluation.error().expect("stuck evaluations fail");
        assert_eq!(error.kind(), crate::ports::ErrorKind::Unreachable);
    }
    assert!(world
        .writes()
        .iter()
        .all(|(_, service, _)| service != "stuck"));
}

/// A policy whose evaluation runs past its next ticks is skipped at them,
/// not queued: one evaluation at a time, the next at the first tick after
/// the running one ends; the other policies of its group keep every tick.
#[tokio::test(start_paused = true)]
async fn a_policy_still_evaluating_at_its_tick_is_skipped_not_queued() {
    let world = FakeWorld::new();
    world.add("slow", 100, "slow", 1);
    world.add("quick", 100, "quick", 1);
    world.with(|w| {
        w.queue_delays
            .insert("slow".into(), Duration::from_millis(3500))
    });
    let running = start(
        config(),
        &world,
        vec![policy("slow", 1), policy("quick", 1)],
    );
    advance(12.9).await;
    let start = running.started;
    let (recorder, _) = running.stop().await;

    let ends = |name: &str| -> Vec<f64> {
        recorder
            .times_of(name)
            .iter()
            .map(|t| t.duration_since(start).as_secs_f64())
            .collect()
    };
    // Started at 0, 4, 8 and 12 s (the ticks in between skipped), each
    // ending 3.5 s later; the last one finished during the shutdown.
    assert_eq!(ends("slow"), [3.5, 7.5, 11.5, 15.5]);
    assert_eq!(world.queue_reads("slow"), 4);
    assert_eq!(
        ends("quick"),
        (0..=12).map(f64::from).collect::<Vec<_>>(),
        "the same group's other policy keeps every tick"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_the_evaluation_in_flight_and_starts_no_more() {
    let world = FakeWorld::new();
    world.add("work", 900, "work", 1);
    world.with(|w| w.queue_delays.insert("work".into(), Duration::from_secs(2)));
    let running = start(config(), &world, vec![policy("work", 10)]);
    // The first evaluation started at 0 and is reading its queue until 2 s.
    advance(1.0).await;
    let (recorder, took) = running.stop().await;

    assert_eq!(took, Duration::from_secs(1), "waits for the in-flight read");
    let evaluations = recorder.of("work");
    assert_eq!(evaluations.len(), 1);
    // It completed, write included.
    assert_eq!(world.desired("work"), 9);
    advance(60.0).await;
    assert_eq!(recorder.of("work").len(), 1, "no evaluation after shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_abandons_evaluations_past_the_grace_period() {
    let world = FakeWorld::new();
    world.add("hung", 900, "hung", 1);
    world.with(|w| {
        w.queue_delays
            .insert("hung".into(), Duration::from_secs(3600))
    });
    let config = ControllerConfig {
        shutdown_grace: Duration::from_secs(3),
        ..config()
    };
    let running = start(config, &world, vec![policy("hung", 10)]);
    advance(1.0).await;
    let (_, took) = running.stop().await;
    assert_eq!(took, Duration::from_secs(3));
    assert_eq!(world.desired("hung"), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_idle_is_immediate() {
    let world = FakeWorld::new();
    world.add("idle", 100, "idle", 1);
    let running = start(config(), &world, vec![policy("idle", 3600)]);
    advance(5.0).await;
    let (recorder, took) = running.stop().await;
    assert_eq!(took, Duration::ZERO);
    assert_eq!(recorder.of("idle").len(), 1);
}

/// One cluster and service name in two regions are two services: when their
/// groups tick at the same moment, both are evaluated at every tick (neither
/// is skipped as if the other's evaluation were its own).
#[tokio::test(start_paused = true)]
async fn a_same_named_service_in_another_region_is_not_skipped() {
    let world = FakeWorld::new();
    world.add("orders", 100, "worker", 1);
    world.with(|w| {
        w.queue_delays
            .insert("orders".into(), Duration::from_millis(300))
    });
    let in_region = |name: &str, region: &str| {
        let mut policy = Policy::with_defaults(name, "jobs", "worker", "orders");
        policy.target = BacklogTarget::BacklogPerTask(100.0);
        policy.poll_interval = Duration::from_secs(1);
        policy.aws.region = Some(region.into());
        policy
    };
    // Phase spread 0: both groups tick on the same grid.
    let running = start(
        config(),
        &world,
        vec![
            in_region("home", "us-east-1"),
            in_region("west", "us-west-2"),
        ],
    );
    advance(9.5).await;
    let (recorder, _) = running.stop().await;

    let counts = recorder.counts();
    assert_eq!(counts.get("home"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("west"), Some(&10), "{counts:?}");
}

/// At each tick every due member's evaluation is spawned at once and waits
/// for a permit: a waiting one must hold little more than its inputs (it
/// held a whole evaluation's room, about 2 KiB, before: 2.8 MiB at 1,000
/// policies).
#[test]
fn an_evaluation_waiting_for_a_permit_holds_little_memory() {
    use super::super::groups::{evaluate_member, GroupContext};
    use super::super::{Clock, Deadlines};
    let world = FakeWorld::new();
    let ports = world.ports(false);
    let context = Arc::new(GroupContext {
        source: Arc::new(ports.clone()),
        write_gate: None,
        clock: Clock::start(),
        permits: tokio::sync::Semaphore::new(1),
        deadlines: Deadlines::default(),
        dry_run: false,
        seed: 0,
        phase_spread: 0.0,
        observer: Arc::new(Recorder::default()),
        metrics: None,
        summary: Default::default(),
        in_flight: Default::default(),
    });
    let waiting = evaluate_member(
        Arc::new(policy("orders", 10)),
        false,
        false,
        Box::default(),
        ports,
        context,
        CancellationToken::new(),
    );
    let size = std::mem::size_of_val(&waiting);
    assert!(size < 512, "{size} bytes");
}
