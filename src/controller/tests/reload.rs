//! Reloads: unchanged policies keep their engine state and schedule,
//! changed ones start afresh (in another group if their interval changed),
//! removed ones stop, and an invalid reload changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::engine::Because;
use crate::policy::{Diagnostic, LoadedPolicies, Severity, SourceLocation, Step};

/// A policy that scales out by at most 1 task per hour: a fresh state would
/// scale out at once, a kept one is in cooldown.
fn cooled(name: &str) -> Policy {
    let mut policy = policy(name, 10);
    policy.scale_out.max_step = Some(Step::Tasks(1));
    policy.scale_out.cooldown = Duration::from_secs(3600);
    policy
}

fn loaded(policies: Vec<Policy>) -> PolicyUpdate {
    Ok(LoadedPolicies {
        policies,
        warnings: vec![],
    })
}

fn in_cooldown(recorder: &Recorder, name: &str) -> bool {
    let evaluations = recorder.of(name);
    let last = &evaluations.last().unwrap().1;
    last.decision
        .reason
        .steps()
        .iter()
        .any(|step| matches!(step, Because::ScaleOutCooldown { .. }))
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_unchanged_policies_and_restarts_changed_ones() {
    let world = FakeWorld::new();
    for name in ["kept", "changed", "removed", "added"] {
        world.add(name, 900, name, 1);
    }
    let policies = vec![cooled("kept"), cooled("changed"), cooled("removed")];
    let running = start(config(), &world, policies);
    advance(15.0).await;
    for name in ["kept", "changed", "removed"] {
        assert_eq!(world.desired(name), 2, "{name}");
        assert!(in_cooldown(&running.recorder, name));
    }

    // "kept" moved within its file: same content, new location.
    let mut kept = cooled("kept");
    kept.source = Some(SourceLocation {
        file: PathBuf::from("policies/all.yaml"),
        line: 40,
        column: 1,
    });
    let mut changed = cooled("changed");
    changed.max_tasks = 15;
    let reload = loaded(vec![kept, changed, cooled("added")]);
    running.reloads.send(reload).await.unwrap();
    advance(30.0).await;
    let removed_count = running.recorder.of("removed").len();
    advance(30.0).await;
    let reload_evaluations = running.recorder.of("kept").len();
    let (recorder, _) = running.stop().await;

    // Kept its state: still cooling down from the scale-out at 0 s.
    assert_eq!(world.desired("kept"), 2);
    assert!(in_cooldown(&recorder, "kept"));
    // Kept its schedule: every 10 s from 0, no restart at the reload.
    let offsets: Vec<u64> = recorder
        .times_of("kept")
        .windows(2)
        .map(|p| p[1].duration_since(p[0]).as_secs())
        .collect();
    assert!(offsets.iter().all(|&gap| gap == 10), "{offsets:?}");
    assert_eq!(reload_evaluations, 8);
    // Fresh state: scaled out again at once.
    assert_eq!(world.desired("changed"), 3);
    assert_eq!(world.desired("added"), 2);
    // Stopped.
    assert_eq!(recorder.of("removed").len(), removed_count);
    assert_eq!(world.desired("removed"), 2);
    let applied = recorder.applied.lock().unwrap().clone();
    assert_eq!(applied.last().unwrap(), &["added", "changed", "kept"]);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_reload_keeps_every_policy_running() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 1);
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(5.0).await;
    let diagnostic = |line, message: &str| Diagnostic {
        severity: Severity::Error,
        file: PathBuf::from("policies/orders.yaml"),
        line,
        column: 3,
        policy: Some("orders".into()),
        key: Some("max_tasks".into()),
        message: message.into(),
        hint: None,
    };
    let errors = PolicyErrors {
        errors: vec![
            diagnostic(4, "expected an integer"),
            diagnostic(9, "unknown key `poll_intervall`"),
        ],
    };
    running.reloads.send(Err(errors)).await.unwrap();
    advance(30.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(*recorder.failed_reloads.lock().unwrap(), 1);
    assert_eq!(recorder.times_of("orders").len(), 4);
    assert_eq!(
        logs.count("policies/orders.yaml:4:3: error"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(logs.count("unknown key `poll_intervall`"), 1);
    assert_eq!(logs.count("still running the previous 1 policy"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_replaced_policy_finishes_its_evaluation_before_its_successor_starts() {
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 1);
    world.with(|w| {
        w.queue_delays
            .insert("orders".into(), Duration::from_secs(4))
    });
    let running = start(config(), &world, vec![policy("orders", 10)]);
    advance(1.0).await;
    let mut changed = policy("orders", 10);
    changed.max_tasks = 5;
    running.reloads.send(loaded(vec![changed])).await.unwrap();
    advance(20.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(
        world.max_in_flight(),
        1,
        "never two evaluations of one service"
    );
    let times = recorder.times_of("orders");
    // The old evaluation ended at 4 s; the new policy started then and
    // evaluated at its group's next tick, 10 s, until 14 s.
    assert_eq!(times[1].duration_since(times[0]), Duration::from_secs(10));
    assert_eq!(world.desired("orders"), 5);
}

/// A reload that changes a policy's `poll_interval` moves it to the group
/// of its new interval: it starts afresh on that group's grid once its
/// evaluation in flight in the old group has ended (never two evaluations
/// of one service at once), and leaves the old group's cycles.
#[tokio::test(start_paused = true)]
async fn a_reload_moves_a_policy_whose_interval_changed_to_its_new_group() {
    let world = FakeWorld::new();
    world.add("stays", 100, "stays", 1);
    world.add("moves", 900, "moves", 1);
    world.with(|w| {
        w.queue_delays
            .insert("moves".into(), Duration::from_secs(4))
    });
    let running = start(
        config(),
        &world,
        vec![policy("stays", 10), policy("moves", 10)],
    );
    advance(1.0).await;
    let reload = loaded(vec![policy("stays", 10), policy("moves", 3)]);
    running.reloads.send(reload).await.unwrap();
    advance(20.0).await;
    let start = running.started;
    let (recorder, _) = running.stop().await;

    let ends = |name: &str| -> Vec<u64> {
        recorder
            .times_of(name)
            .iter()
            .map(|t| t.duration_since(start).as_secs())
            .collect()
    };
    // The 10 s evaluation from 0 to 4 s; the 3 s group's tick at 3 s is
    // skipped (the service is still being evaluated), then ticks 6, 12 and
    // 18 s: each evaluation skips the tick it runs past.
    assert_eq!(ends("moves"), [4, 10, 16, 22]);
    assert_eq!(world.queue_reads("moves"), 4);
    assert_eq!(ends("stays"), [0, 10, 20]);
    let cycles = recorder.cycles.lock().unwrap().clone();
    let policies_per_cycle = |interval: u64| -> Vec<usize> {
        cycles
            .iter()
            .filter(|c| c.poll_interval == Duration::from_secs(interval))
            .map(|c| c.policies)
            .collect()
    };
    assert_eq!(policies_per_cycle(10), [2, 1, 1]);
    assert_eq!(policies_per_cycle(3), [1, 1, 1]);
    let applied = recorder.applied.lock().unwrap().clone();
    assert_eq!(applied.last().unwrap(), &["moves", "stays"]);
}
