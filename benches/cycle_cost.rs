//! The controller's own cost of one evaluation cycle, without the AWS SDK:
//! 1,000 policies (1,000 queues, 100 clusters of 10 services) in dry-run
//! against in-memory ports, on a single-threaded runtime with paused time,
//! so every microsecond measured is the controller's work (scheduling,
//! shared reads, the engine, bookkeeping, log lines), not waiting.
//!
//! Run with `cargo bench --bench cycle_cost`; the figures go to
//! BENCHMARKS.md beside the load benchmark's, whose difference is the cost
//! of the SDK's HTTP calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog_scaler::controller::{Controller, ControllerConfig, CycleReport, Observer};
use backlog_scaler::engine::{QueueDepth, ServiceCounts};
use backlog_scaler::policy::{BacklogTarget, Policy};
use backlog_scaler::ports::{
    DesiredCountWriter, PortFuture, Ports, QueueDepthReader, ServiceStateReader,
};
use tokio::sync::{mpsc, Notify};

const POLICIES: usize = 1_000;
const SERVICES_PER_CLUSTER: usize = 10;
const MEASURED_CYCLES: usize = 20;

/// Every queue holds a few messages and every service runs 3 tasks, as in
/// the load benchmark, so each evaluation takes the usual path.
struct InMemory;

impl QueueDepthReader for InMemory {
    fn queue_depth<'a>(&'a self, queue: &'a str) -> PortFuture<'a, QueueDepth> {
        let visible = queue.len() as u64 % 40;
        Box::pin(std::future::ready(Ok(QueueDepth {
            visible,
            in_flight: 0,
            delayed: 0,
        })))
    }
}

impl ServiceStateReader for InMemory {
    fn service_state<'a>(&'a self, _: &'a str, _: &'a str) -> PortFuture<'a, ServiceCounts> {
        Box::pin(std::future::ready(Ok(ServiceCounts {
            desired: 3,
            running: 3,
            pending: 0,
            deployment_in_progress: false,
        })))
    }
}

impl DesiredCountWriter for InMemory {
    fn set_desired<'a>(&'a self, _: &'a str, _: &'a str, _: u32) -> PortFuture<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Counts finished cycles and wakes the bench after each.
#[derive(Default)]
struct Cycles {
    finished: AtomicUsize,
    notify: Notify,
}

impl Observer for Cycles {
    fn cycle_finished(&self, report: &CycleReport) {
        assert_eq!(report.policies, POLICIES, "every policy in every cycle");
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

fn policies() -> Vec<Policy> {
    (0..POLICIES)
        .map(|i| {
            let cluster = format!("bench-{:03}", i / SERVICES_PER_CLUSTER);
            let mut policy = Policy::with_defaults(
                &format!("bench-{i:04}"),
                &cluster,
                &format!("svc-{i:04}"),
                &format!("queue-{i:04}"),
            );
            policy.target = BacklogTarget::BacklogPerTask(10.0);
            policy.min_tasks = 2;
            policy.poll_interval = Duration::from_secs(60);
            policy
        })
        .collect()
}

/// Wall time per cycle over [`MEASURED_CYCLES`], after one warm-up cycle.
fn per_cycle() -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let ports = Ports {
            queues: Arc::new(InMemory),
            services: Arc::new(InMemory),
            scaler: Arc::new(InMemory),
            metrics: None,
        };
        let config = ControllerConfig {
            dry_run: true,
            seed: Some(7),
            ..ControllerConfig::default()
        };
        let cycles = Arc::new(Cycles::default());
        let controller = Controller::new(config, ports).with_observer(cycles.clone());
        let (_reloads, updates) = mpsc::channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(controller.run(policies(), updates, async {
            let _ = stopped.await;
        }));
        let wait_for = |n: usize| {
            let cycles = cycles.clone();
            async move {
                while cycles.finished.load(Ordering::SeqCst) < n {
                    cycles.notify.notified().await;
                }
            }
        };
        wait_for(1).await;
        let started = Instant::now();
        wait_for(1 + MEASURED_CYCLES).await;
        let elapsed = started.elapsed();
        let _ = stop.send(());
        let _ = run.await;
        elapsed / MEASURED_CYCLES as u32
    })
}

fn main() {
    let quiet = per_cycle();
    println!(
        "{POLICIES} policies, no log subscriber: {:.1} ms per cycle ({:.1} µs per policy)",
        quiet.as_secs_f64() * 1e3,
        quiet.as_secs_f64() * 1e6 / POLICIES as f64
    );
    // As the daemon runs: one info line per decision and per cycle,
    // formatted, then thrown away.
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let logged = tracing::subscriber::with_default(subscriber, per_cycle);
    println!(
        "{POLICIES} policies, info lines formatted: {:.1} ms per cycle ({:.1} µs per policy)",
        logged.as_secs_f64() * 1e3,
        logged.as_secs_f64() * 1e6 / POLICIES as f64
    );
    // The controller's own memory for 1,000 policies, without SDK clients.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(peak) = status.lines().find(|line| line.starts_with("VmHWM")) {
            println!(
                "peak resident set of this process: {}",
                peak.trim_start_matches("VmHWM:").trim()
            );
        }
    }
}
