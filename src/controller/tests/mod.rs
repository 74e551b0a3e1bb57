//! Loop tests: the controller against a fake world, with tokio's clock
//! paused so hours of schedule run in milliseconds and every timing is
//! exact.

mod cycles;
mod decisions;
mod failures;
mod fakes;
mod lease;
mod reload;
mod schedule;
mod startup;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Controller, ControllerConfig, CycleReport, Evaluation, MeasuredStartup, Observer, PolicyUpdate,
};
use crate::policy::{BacklogTarget, Policy, PolicyErrors};
use fakes::FakeWorld;

/// A policy on queue `name`, service `name` in cluster `jobs`, 100 messages
/// per task, 1..=20 tasks, no stabilization window.
fn policy(name: &str, poll_interval_secs: u64) -> Policy {
    let mut policy = Policy::with_defaults(name, "jobs", name, name);
    policy.poll_interval = Duration::from_secs(poll_interval_secs);
    policy.target = BacklogTarget::BacklogPerTask(100.0);
    policy.max_tasks = 20;
    policy.scale_in.stabilization_window = Duration::ZERO;
    policy
}

/// Collects what the controller reports.
#[derive(Default)]
struct Recorder {
    evaluations: Mutex<Vec<(Instant, Evaluation)>>,
    applied: Mutex<Vec<Vec<String>>>,
    failed_reloads: Mutex<usize>,
    heartbeats: std::sync::atomic::AtomicUsize,
    cycles: Mutex<Vec<CycleReport>>,
    /// Every report of a measured startup: (when, policy, measurement).
    startups: Mutex<Vec<(Instant, String, Option<MeasuredStartup>)>>,
}

impl Observer for Recorder {
    fn evaluated(&self, evaluation: &Evaluation) {
        self.evaluations
            .lock()
            .unwrap()
            .push((Instant::now(), evaluation.clone()));
    }

    fn policies_applied(&self, policies: &[Arc<Policy>]) {
        let names = policies.iter().map(|p| p.name.clone()).collect();
        self.applied.lock().unwrap().push(names);
    }

    fn reload_failed(&self, _errors: &PolicyErrors) {
        *self.failed_reloads.lock().unwrap() += 1;
    }

    fn cycle_finished(&self, report: &CycleReport) {
        self.cycles.lock().unwrap().push(report.clone());
    }

    fn startup_measured(&self, policy: &str, measured: Option<MeasuredStartup>) {
        self.startups
            .lock()
            .unwrap()
            .push((Instant::now(), policy.to_owned(), measured));
    }

    fn heartbeat(&self) {
        self.heartbeats
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Recorder {
    fn of(&self, policy: &str) -> Vec<(Instant, Evaluation)> {
        self.evaluations
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.policy == policy)
            .cloned()
            .collect()
    }

    fn times_of(&self, policy: &str) -> Vec<Instant> {
        self.of(policy).into_iter().map(|(t, _)| t).collect()
    }

    fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (_, e) in self.evaluations.lock().unwrap().iter() {
            *counts.entry(e.policy.clone()).or_default() += 1;
        }
        counts
    }
}

/// A controller running in the background of a paused-time test.
struct Running {
    recorder: Arc<Recorder>,
    reloads: mpsc::Sender<PolicyUpdate>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    started: Instant,
}

/// Config for tests: every group ticks at the start (no phase) unless a
/// test wants one, a fixed seed.
fn config() -> ControllerConfig {
    ControllerConfig {
        phase_spread: 0.0,
        seed: Some(42),
        ..ControllerConfig::default()
    }
}

fn start(config: ControllerConfig, world: &Arc<FakeWorld>, policies: Vec<Policy>) -> Running {
    start_with_metrics(config, world, policies, false)
}

fn start_with_metrics(
    config: ControllerConfig,
    world: &Arc<FakeWorld>,
    policies: Vec<Policy>,
    metrics: bool,
) -> Running {
    let recorder = Arc::new(Recorder::default());
    let (reloads, reload_receiver) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let controller = Controller::new(config, world.ports(metrics)).with_observer(recorder.clone());
    let task = tokio::spawn(controller.run(
        policies,
        reload_receiver,
        shutdown.clone().cancelled_owned(),
    ));
    Running {
        recorder,
        reloads,
        shutdown,
        task,
        started: Instant::now(),
    }
}

impl Running {
    /// Signal shutdown and wait for `run` to return; how long it took.
    async fn stop(self) -> (Arc<Recorder>, Duration) {
        let asked = Instant::now();
        self.shutdown.cancel();
        self.task.await.unwrap();
        (self.recorder, asked.elapsed())
    }
}

async fn advance(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

/// Log output captured for the duration of a test (current-thread runtime).
///
/// One global subscriber serves every test and routes each event to the
/// capture of the thread that emits it. A scoped subscriber per test
/// (`set_default`) is not enough: tracing caches each callsite's interest
/// when it is first hit, and a callsite first hit by a parallel test with no
/// subscriber would stay disabled for the capturing test too.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// The writer of the global subscriber: this thread's capture, if any.
struct ThreadCapture;

impl Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(logs) = capture.borrow().as_ref() {
                logs.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops this thread's capture when dropped.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

impl Logs {
    fn capture() -> (Logs, CaptureGuard) {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(|| ThreadCapture)
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .finish();
            // Only fails if another global subscriber exists; none does in
            // the library's tests.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let logs = Logs::default();
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}
