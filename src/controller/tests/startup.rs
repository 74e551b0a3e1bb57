//! `task_startup: measured` in the live loop: the controller measures the
//! service's startup from its own scale-outs, plans with it, and says so in
//! the reasons, the logs and `/metrics`. The emulator starts tasks at once,
//! so the fake here starts them only after a realistic delay.

use std::time::Duration;

use super::*;
use crate::engine::{Because, StartupSource, WaitPlan};
use crate::policy::TaskStartup;
use crate::telemetry::{Telemetry, TelemetryObserver};

/// Tells both the test's recorder and the telemetry that feeds `/metrics`.
struct Both(Arc<Recorder>, TelemetryObserver);

impl Observer for Both {
    fn evaluated(&self, evaluation: &Evaluation) {
        self.0.evaluated(evaluation);
        self.1.evaluated(evaluation);
    }

    fn policies_applied(&self, policies: &[Arc<Policy>]) {
        self.0.policies_applied(policies);
        self.1.policies_applied(policies);
    }

    fn startup_measured(&self, policy: &str, measured: Option<MeasuredStartup>) {
        self.0.startup_measured(policy, measured);
        self.1.startup_measured(policy, measured);
    }
}

/// `policy(name)` sized by its wait: a message may wait 1 minute, costs a
/// second, and the startup is measured.
fn measured(name: &str, poll_interval_secs: u64) -> Policy {
    let mut policy = policy(name, poll_interval_secs);
    policy.target = BacklogTarget::Wait {
        wait: Duration::from_secs(60),
        message_cost: Duration::from_secs(1),
    };
    policy.task_startup = Some(TaskStartup::Measured);
    policy
}

/// The wait-sizing step of an evaluation's reason.
fn wait_plan(evaluation: &Evaluation) -> WaitPlan {
    evaluation
        .decision
        .reason
        .steps()
        .iter()
        .find_map(|step| match step {
            Because::WaitSizing { plan, .. } => Some((**plan).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no wait sizing in {}", evaluation.decision.reason))
}

/// The value of `series` (name and labels as exposed) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test(start_paused = true)]
async fn a_measured_startup_is_taken_from_the_scale_outs_and_planned_with() {
    const POLL: u64 = 10;
    const STARTUP: Duration = Duration::from_secs(45);
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 300, "orders", 1);
    world.set_startup_delay("orders", STARTUP);
    let telemetry = Telemetry::default();
    let recorder = Arc::new(Recorder::default());
    let observer = Arc::new(Both(recorder.clone(), telemetry.observer()));
    let (reloads, reload_receiver) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let controller = Controller::new(config(), world.ports(false)).with_observer(observer);
    let task = tokio::spawn(controller.run(
        vec![measured("orders", POLL)],
        reload_receiver,
        shutdown.clone().cancelled_owned(),
    ));
    let running = Running {
        recorder,
        reloads,
        shutdown,
        task,
        started: Instant::now(),
    };
    let scrape = || telemetry.metrics.encode();
    let startup_series = r#"backlog_scaler_task_startup_seconds{policy="orders"}"#;

    // The scale-out at the first evaluation; its tasks pending for 45 s.
    advance(STARTUP.as_secs_f64() - 1.0).await;
    let writes = world.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].2, 20);
    let scaled_out_at = writes[0].0;
    assert_eq!(
        world.with(|w| w.services["orders"]),
        crate::engine::ServiceCounts {
            desired: 20,
            running: 1,
            pending: 19,
            deployment_in_progress: false,
        }
    );
    assert_eq!(sample(&scrape(), startup_series), None, "{}", scrape());

    advance(120.0).await;
    let (recorder, _) = running.stop().await;

    // Within one poll of the real 45 s (at the midpoint of the two polls
    // around the moment the tasks ran).
    let poll = Duration::from_secs(POLL);
    let reports = recorder.startups.lock().unwrap().clone();
    let measurement = reports
        .iter()
        .find_map(|(_, _, m)| *m)
        .expect("a measurement was reported");
    assert!(
        measurement.startup.abs_diff(STARTUP) <= poll,
        "measured {:?}",
        measurement.startup
    );
    assert_eq!(measurement.scale_outs, 1);
    // Told once at the first evaluation (nothing yet) and once per
    // scale-out measured, not at every poll. (Once the measured 45 s
    // leaves room for a standing queue, the fleet may be cut while the
    // rate of the last wait still counts the minute one task served, and
    // grown back: a second scale-out, measured too.)
    let scale_outs = world
        .writes()
        .windows(2)
        .filter(|pair| pair[1].2 > pair[0].2)
        .count()
        + 1;
    let told: Vec<_> = reports
        .iter()
        .map(|(_, policy, m)| (policy.as_str(), m.map(|m| m.scale_outs)))
        .collect();
    let expected: Vec<_> = std::iter::once(("orders", None))
        .chain((1..=scale_outs).map(|n| ("orders", Some(n))))
        .collect();
    assert_eq!(told, expected);

    // The reasons: assumed 60 s until the tasks ran, then, from the first
    // poll that saw them running on, the measurement.
    let evaluations = recorder.of("orders");
    let ran_at = scaled_out_at + STARTUP;
    let before = evaluations.iter().filter(|(at, _)| *at < ran_at).count();
    assert_eq!(before, 5, "polls at 0, 10, 20, 30 and 40 s");
    for (at, evaluation) in &evaluations {
        let plan = wait_plan(evaluation);
        if *at < ran_at {
            assert_eq!(plan.startup_source, StartupSource::Assumed, "at {at:?}");
            assert_eq!(plan.startup, TaskStartup::ASSUMED);
        } else {
            assert_eq!(plan.startup_source, StartupSource::Measured, "at {at:?}");
            assert_eq!(plan.startup, measurement.startup);
            assert!(
                evaluation
                    .decision
                    .reason
                    .to_string()
                    .contains(" measured startup)"),
                "{}",
                evaluation.decision.reason
            );
        }
    }
    assert!(evaluations.len() > 10);

    // /metrics: the gauge and the scale-outs it rests on.
    let text = scrape();
    assert_eq!(
        sample(&text, startup_series),
        Some(measurement.startup.as_secs_f64()),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"backlog_scaler_task_startup_scale_outs{policy="orders"}"#
        ),
        Some(scale_outs as f64),
        "{text}"
    );

    // The log: one INFO line with its fields.
    // Logged when the measured value changes: the same 45 s once.
    assert_eq!(logs.count("task startup measured"), 1, "{}", logs.text());
    let line = logs
        .text()
        .lines()
        .find(|line| line.contains("task startup measured"))
        .unwrap()
        .to_owned();
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains(&format!(
            "task startup measured: {}, from one scale-out; wait sizing plans with it",
            humantime::format_duration(measurement.startup)
        )),
        "{line}"
    );
    assert!(line.contains("policy=orders"), "{line}");
    assert!(
        line.contains(&format!("startup_s={}", measurement.startup.as_secs_f64())),
        "{line}"
    );
    assert!(line.contains("scale_outs=1"), "{line}");
}

#[tokio::test(start_paused = true)]
async fn a_stated_startup_is_planned_with_and_the_measurement_only_shown() {
    let (logs, _guard) = Logs::capture();
    let world = FakeWorld::new();
    world.add("orders", 300, "orders", 1);
    world.set_startup_delay("orders", Duration::from_secs(25));
    let mut policy = measured("orders", 10);
    policy.task_startup = Some(TaskStartup::Stated(Duration::from_secs(90)));
    let running = start(config(), &world, vec![policy]);
    advance(100.0).await;
    let (recorder, _) = running.stop().await;

    let evaluations = recorder.of("orders");
    assert!(evaluations.len() > 5);
    for (_, evaluation) in &evaluations {
        let plan = wait_plan(evaluation);
        assert_eq!(plan.startup_source, StartupSource::Stated);
        assert_eq!(plan.startup, Duration::from_secs(90));
    }
    let measured = recorder
        .startups
        .lock()
        .unwrap()
        .iter()
        .find_map(|(_, _, m)| *m)
        .expect("measured all the same");
    assert_eq!(measured.startup, Duration::from_secs(25));
    assert_eq!(
        logs.count("task startup measured: 25s, from one scale-out; the policy states task_startup: 1m 30s"),
        1,
        "{}",
        logs.text()
    );
}
