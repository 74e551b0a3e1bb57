//! Fail static: a policy that cannot observe or write holds, logs the cause
//! once per change, backs off, and recovers by itself; others carry on.

use std::time::Duration;

use super::*;
use crate::ports::ErrorKind;

fn gaps(times: &[Instant]) -> Vec<u64> {
    times
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_failing_policy_holds_backs_off_and_recovers() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 2);
    world.with(|w| {
        w.service_errors
            .insert("orders".into(), ErrorKind::Throttled)
    });
    let running = start(config(), &world, vec![policy("orders", 10)]);

    // Failing: at 0, then 10 s (one interval), then every 20 s (the cap).
    advance(55.0).await;
    assert_eq!(world.desired("orders"), 2, "fail static: nothing written");
    assert!(world.writes().is_empty());
    // The cause changes: logged again, once.
    world.with(|w| {
        w.service_errors
            .insert("orders".into(), ErrorKind::AccessDenied)
    });
    advance(40.0).await;
    // The API recovers: within two intervals the policy acts again.
    world.with(|w| w.service_errors.clear());
    let recovered_at = Instant::now();
    advance(45.0).await;
    let (recorder, _) = running.stop().await;

    let times = recorder.times_of("orders");
    assert_eq!(&gaps(&times)[..5], [10, 20, 20, 20, 20]);
    let writes = world.writes();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].0.duration_since(recovered_at) <= Duration::from_secs(20));
    assert_eq!(world.desired("orders"), 9);
    // Back on the plain interval after recovering.
    let after: Vec<Instant> = times.into_iter().filter(|t| *t >= writes[0].0).collect();
    assert!(
        gaps(&after).iter().all(|&gap| gap == 10),
        "{:?}",
        gaps(&after)
    );

    assert_eq!(logs.count("retrying with backoff"), 2, "{}", logs.text());
    assert_eq!(logs.count("error_kind=throttled"), 1);
    assert_eq!(logs.count("error_kind=access_denied"), 1);
    assert_eq!(logs.count("recovered after"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_queue_fails_only_its_own_policy() {
    let world = FakeWorld::new();
    world.add("healthy", 900, "healthy", 1);
    world.add("unused", 0, "lonely", 1);
    let mut broken = policy("lonely", 5);
    broken.queues[0].queue = "no-such-queue".into();
    let running = start(config(), &world, vec![policy("healthy", 5), broken]);
    advance(32.5).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.desired("healthy"), 9);
    assert_eq!(world.desired("lonely"), 1);
    for (_, evaluation) in recorder.of("lonely") {
        assert_eq!(evaluation.error().unwrap().kind(), ErrorKind::QueueNotFound);
        assert!(evaluation
            .decision
            .reason
            .to_string()
            .contains("no-such-queue"));
    }
    assert_eq!(recorder.times_of("healthy").len(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_retried_and_leaves_no_cooldown_behind() {
    let world = FakeWorld::new();
    world.add("orders", 900, "orders", 2);
    world.with(|w| w.write_errors.insert("orders".into(), ErrorKind::Throttled));
    let mut policy = policy("orders", 10);
    // Were the failed write remembered as a scale-out, this would block the
    // retry for an hour.
    policy.scale_out.cooldown = Duration::from_secs(3600);
    let running = start(config(), &world, vec![policy]);
    advance(25.0).await;
    assert_eq!(world.desired("orders"), 2);
    world.with(|w| w.write_errors.clear());
    advance(25.0).await;
    let (recorder, _) = running.stop().await;

    assert_eq!(world.desired("orders"), 9);
    let evaluations = recorder.of("orders");
    let failed = evaluations
        .iter()
        .filter(|(_, e)| matches!(e.write, crate::controller::WriteOutcome::Failed { .. }))
        .count();
    assert_eq!(failed, 2);
    let applied = evaluations
        .iter()
        .filter(|(_, e)| matches!(e.write, crate::controller::WriteOutcome::Applied { .. }))
        .count();
    assert_eq!(applied, 1);
}
