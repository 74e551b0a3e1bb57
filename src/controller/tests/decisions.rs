//! What the loop does with decisions: dry-run shadows, noticing someone
//! else's changes, the engine's pending and deployment rules on fake ECS
//! counts (the emulator cannot produce them), and metrics batching.

use std::time::Duration;

use super::*;
use crate::controller::WriteOutcome;
use crate::engine::{Action, Because, ServiceCounts};

#[tokio::test(start_paused = true)]
async fn dry_run_keeps_a_shadow_and_never_writes() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 4);
    let mut policy = policy("orders", 10);
    policy.dry_run = true;
    policy.scale_out.max_step = Some(crate::policy::Step::Tasks(3));
    let running = start(config(), &world, vec![policy]);
    advance(35.0).await;
    world.set_visible("orders", 0);
    advance(20.0).await;
    let (recorder, _) = running.stop().await;

    assert!(world.writes().is_empty());
    assert_eq!(world.desired("orders"), 4);
    let shadow: Vec<(u32, u32)> = recorder
        .of("orders")
        .iter()
        .filter_map(|(_, e)| match e.write {
            WriteOutcome::DryRun { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    // Stepped by 3 from the shadow, not from the real 4 each time; then in
    // again once the backlog is gone.
    assert_eq!(shadow, [(4, 7), (7, 9), (9, 1)]);
    assert_eq!(
        logs.count("would set desired 4 -> 7 (backlog 900"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(logs.count("would set desired 7 -> 9 ("), 1);
    assert_eq!(logs.count("dry_run=true"), recorder.of("orders").len());
}

#[tokio::test(start_paused = true)]
async fn the_global_dry_run_covers_every_policy() {
    let world = FakeWorld::new();
    world.add("a", 900, "a", 1);
    world.add("b", 900, "b", 1);
    let config = ControllerConfig {
        dry_run: true,
        ..config()
    };
    let running = start(config, &world, vec![policy("a", 1), policy("b", 1)]);
    advance(100.0).await;
    let (recorder, _) = running.stop().await;
    assert!(world.writes().is_empty());
    assert!(recorder.of("a").len() > 90);
    assert!(recorder.of("b").iter().all(|(_, e)| e.dry_run));
}

#[tokio::test(start_paused = true)]
async fn someone_elses_change_is_noticed_once_and_followed() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 400, "orders", 4);
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(15.0).await;
    // An operator scales by hand; the backlog grows to match.
    world.with(|w| w.services.get_mut("orders").unwrap().desired = 7);
    world.set_visible("orders", 700);
    advance(40.0).await;
    let (recorder, _) = running.stop().await;

    let changes: Vec<_> = recorder
        .of("orders")
        .iter()
        .filter_map(|(_, e)| e.external_change)
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].expected, changes[0].found), (4, 7));
    assert_eq!(logs.count("changed outside the controller (4 -> 7)"), 1);
    // Carried on from 7: it is inside tolerance there, so it holds.
    assert!(world.writes().is_empty());
    assert_eq!(world.desired("orders"), 7);
}

#[tokio::test(start_paused = true)]
async fn a_manual_scale_up_stands_for_a_stabilization_window() {
    let world = FakeWorld::new();
    world.add("orders", 0, "orders", 2);
    let mut policy = policy("orders", 2);
    policy.scale_in.stabilization_window = Duration::from_secs(300);
    let running = start(config(), &world, vec![policy]);
    advance(10.0).await;
    // An operator pre-scales for a known event; the queue stays empty.
    world.with(|w| w.services.get_mut("orders").unwrap().desired = 8);
    let changed_at = tokio::time::Instant::now();
    advance(290.0).await;
    assert!(
        world.writes().is_empty(),
        "the operator's 8 was undone inside the window: {:?}",
        world.writes()
    );
    assert_eq!(world.desired("orders"), 8);
    advance(20.0).await;
    let (recorder, _) = running.stop().await;

    // Once a full window has passed since the change was seen, the idle
    // service goes back to its floor, in one write.
    assert_eq!(world.writes().len(), 1, "{:?}", world.writes());
    assert_eq!(world.desired("orders"), 1);
    let scale_in = recorder
        .of("orders")
        .into_iter()
        .find(|(_, e)| matches!(e.write, WriteOutcome::Applied { .. }))
        .map(|(at, _)| at)
        .unwrap();
    assert!(scale_in.duration_since(changed_at) >= Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn repeated_holds_are_debug_and_a_summary_comes_every_minute() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("a", 100, "a", 1);
    world.add("b", 100, "b", 1);
    let running = start(config(), &world, vec![policy("a", 2), policy("b", 2)]);
    advance(100.0).await;
    world.set_visible("a", 500);
    advance(25.0).await;
    running.stop().await;

    let text = logs.text();
    let lines = |level: &str, needle: &str| {
        text.lines()
            .filter(|line| line.contains(level) && line.contains(needle))
            .count()
    };
    // Each policy's first hold, then `a`'s scale-out and its first hold at
    // the new count: news. Every repeat is DEBUG.
    assert_eq!(lines(" INFO ", "hold at"), 3, "{text}");
    assert!(lines(" DEBUG ", "hold at") > 100, "{text}");
    assert_eq!(lines(" INFO ", "set desired 1 -> 5"), 1, "{text}");
    let summaries: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" INFO ") && line.contains("summary of the last 1m"))
        .collect();
    assert_eq!(summaries.len(), 2, "{text}");
    assert!(
        summaries[0].contains("2 policies running") && summaries[0].contains("0 failures"),
        "{}",
        summaries[0]
    );
    assert!(summaries[1].contains("1 change,"), "{}", summaries[1]);
}

#[tokio::test(start_paused = true)]
async fn a_hold_whose_reason_changes_kind_is_logged_again() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 400, "orders", 4);
    let mut policy = policy("orders", 2);
    policy.max_tasks = 4;
    let running = start(config(), &world, vec![policy]);
    // 400 messages on 4 tasks: inside the tolerance band.
    advance(9.0).await;
    // 900 would need 9, but 4 is the most: held at 4 for another reason.
    world.set_visible("orders", 900);
    advance(9.0).await;
    running.stop().await;
    let text = logs.text();
    let info_holds: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" INFO ") && line.contains("hold at 4"))
        .collect();
    assert_eq!(info_holds.len(), 2, "{text}");
    assert!(info_holds[0].contains("tolerance"), "{}", info_holds[0]);
    assert!(!info_holds[1].contains("tolerance"), "{}", info_holds[1]);
}

#[tokio::test(start_paused = true)]
async fn our_own_writes_are_not_taken_for_someone_elses() {
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 1);
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(35.0).await;
    let (recorder, _) = running.stop().await;
    assert_eq!(world.writes().len(), 1);
    assert!(recorder
        .of("orders")
        .iter()
        .all(|(_, e)| e.external_change.is_none()));
}

#[tokio::test(start_paused = true)]
async fn in_dry_run_an_outside_change_resets_the_shadow() {
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 4);
    let mut policy = policy("orders", 10);
    policy.dry_run = true;
    let running = start(config(), &world, vec![policy]);
    advance(15.0).await;
    world.with(|w| w.services.get_mut("orders").unwrap().desired = 2);
    advance(10.0).await;
    let (recorder, _) = running.stop().await;
    let moves: Vec<(u32, u32)> = recorder
        .of("orders")
        .iter()
        .filter_map(|(_, e)| match e.write {
            WriteOutcome::DryRun { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(moves, [(4, 9), (2, 9)]);
}

#[tokio::test(start_paused = true)]
async fn tasks_still_starting_are_not_asked_for_twice() {
    let world = FakeWorld::new();
    world.add("orders", 1000, "orders", 10);
    world.with(|w| {
        w.services.insert(
            "orders".into(),
            ServiceCounts {
                desired: 10,
                running: 2,
                pending: 8,
                deployment_in_progress: false,
            },
        )
    });
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(30.0).await;
    let (recorder, _) = running.stop().await;
    assert!(world.writes().is_empty());
    for (_, evaluation) in recorder.of("orders") {
        assert_eq!(evaluation.decision.action(), Action::Hold);
        assert_eq!(evaluation.decision.current(), Some(10));
    }
}

#[tokio::test(start_paused = true)]
async fn no_scale_in_while_a_deployment_rolls_out() {
    let world = FakeWorld::new();
    world.add("orders", 100, "orders", 8);
    let deploying = |in_progress| ServiceCounts {
        desired: 8,
        running: 8,
        pending: 0,
        deployment_in_progress: in_progress,
    };
    world.with(|w| w.services.insert("orders".into(), deploying(true)));
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(35.0).await;
    assert!(world.writes().is_empty());
    world.with(|w| w.services.insert("orders".into(), deploying(false)));
    advance(10.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.desired("orders"), 1);
    let first = &recorder.of("orders")[0].1;
    assert!(first
        .decision
        .reason
        .steps()
        .contains(&Because::DeploymentInProgress));
}

#[tokio::test(start_paused = true)]
async fn metrics_are_published_in_batches_and_flushed_at_shutdown() {
    let world = FakeWorld::new();
    for name in ["a", "b", "c"] {
        world.add(name, 300, name, 3);
    }
    let config = ControllerConfig {
        metrics_flush_interval: Duration::from_secs(12),
        ..config()
    };
    let policies = ["a", "b", "c"].iter().map(|n| policy(n, 5)).collect();
    let running = start_with_metrics(config, &world, policies, true);
    advance(18.0).await;
    let (recorder, _) = running.stop().await;

    let published = world.with(|w| w.published.clone());
    // One flush at 12 s (evaluations at 0, 5 and 10 of three policies),
    // one at shutdown (the evaluations at 15 s).
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(published[0].len(), 9);
    assert_eq!(published[1].len(), 3);
    let total: usize = published.iter().map(Vec::len).sum();
    assert_eq!(total, recorder.evaluations.lock().unwrap().len());
    let sample = &published[0][0];
    assert_eq!(sample.backlog, 300.0);
    assert_eq!(sample.desired, 3);
    assert_eq!(sample.backlog_per_task(), Some(100.0));
}

#[tokio::test(start_paused = true)]
async fn an_evaluation_finishing_during_shutdown_still_gets_its_metrics_out() {
    let world = FakeWorld::new();
    world.add("orders", 300, "orders", 3);
    world.with(|w| {
        w.queue_delays
            .insert("orders".into(), Duration::from_secs(2))
    });
    let config = ControllerConfig {
        metrics_flush_interval: Duration::from_secs(60),
        ..config()
    };
    let running = start_with_metrics(config, &world, vec![policy("orders", 10)], true);
    advance(1.0).await;
    running.stop().await;
    let published = world.with(|w| w.published.clone());
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].len(), 1);
}

/// A failed publish is logged once (not at every flush while it keeps
/// failing) and its samples are dropped, not sent again; once it works,
/// that is logged and only new samples go out (docs/metrics.md).
#[tokio::test(start_paused = true)]
async fn a_failed_publish_is_logged_once_and_its_samples_dropped() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 300, "orders", 3);
    world.with(|w| w.failing_publishes = 2);
    let config = ControllerConfig {
        metrics_flush_interval: Duration::from_secs(10),
        ..config()
    };
    let running = start_with_metrics(config, &world, vec![policy("orders", 5)], true);
    // Flushes at 10 s (fails), 20 s (fails), 30 s (works); evaluations at
    // 0, 5, ..., 30 s.
    advance(31.0).await;
    let (recorder, _) = running.stop().await;

    let (refused, published) = world.with(|w| (w.refused.clone(), w.published.clone()));
    assert_eq!(refused.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    // Every evaluation's sample went out once or was dropped once: the 30 s
    // flush and the one at shutdown carry only the samples from 20 s on.
    let sent: usize = published.iter().map(Vec::len).sum();
    let evaluations = recorder.evaluations.lock().unwrap().len();
    assert_eq!(sent, evaluations - 4, "{published:?}");
    assert_eq!(
        logs.count("could not publish metrics"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(
        logs.count("publishing metrics works again"),
        1,
        "{}",
        logs.text()
    );
}

/// The state an evaluation leaves is the policy's record and the
/// evaluation's `after` at once (one allocation, which `GET /state` keeps),
/// and its `before` is the record it was given: no copies per policy.
#[tokio::test]
async fn an_evaluation_shares_its_states_with_the_record() {
    use crate::controller::{evaluate, Deadlines, PolicyRecord};
    use crate::engine::Timestamp;
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 1);
    let ports = world.ports(false);
    let policy = policy("orders", 10);
    let (_, record) = evaluate(
        &policy,
        false,
        &ports,
        &PolicyRecord::default(),
        Timestamp::ZERO,
        Deadlines::default(),
    )
    .await;
    let (evaluation, next) = evaluate(
        &policy,
        false,
        &ports,
        &record,
        Timestamp::from_secs(10),
        Deadlines::default(),
    )
    .await;
    assert!(Arc::ptr_eq(&evaluation.engine.before, &record.engine));
    assert!(Arc::ptr_eq(&evaluation.engine.after, &next.engine));
    assert_ne!(evaluation.engine.before, evaluation.engine.after);
}
