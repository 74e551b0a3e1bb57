//! API cost at scale, against the emulator (moto): the calls one
//! evaluation cycle makes, counted by the adapters' own call counters.
//!
//! 30 policies over 3 clusters (12, 10 and 8 services) and 20 queues (ten
//! of them shared by two policies) must cost, per cycle in steady state,
//! exactly 20 `GetQueueAttributes`, 4 `DescribeServices` (10 + 2, 10, 8)
//! and no `UpdateService`. Also here: the ECS batch read answers per
//! service. (`PutMetricData`'s split at the API's 1,000 data is a unit
//! test in `src/aws/cloudwatch.rs`: moto takes longer than the SDK's
//! timeout to store a full call.)

#[path = "support/aws.rs"]
mod aws;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws::{binary, controller_ports, Aws};
use backlog_scaler::aws::ApiCalls;
use backlog_scaler::controller::{
    Controller, ControllerConfig, CycleReport, Observer, PolicyUpdate,
};
use backlog_scaler::policy::{BacklogTarget, Policy};
use backlog_scaler::ports::{ErrorKind, ServiceStateReader};
use moto::Moto;
use tokio::sync::{mpsc, oneshot};

const OPERATIONS: [&str; 4] = [
    "GetQueueUrl",
    "GetQueueAttributes",
    "DescribeServices",
    "UpdateService",
];

/// Clusters `clusters[i]` with `sizes[i]` services each, all at 1 task:
/// service `{cluster}-s{j}`.
async fn create_services(aws: &Aws, clusters: &[(&str, usize)]) -> Vec<(String, String)> {
    let mut services = Vec::new();
    for (cluster, size) in clusters {
        aws.create_cluster(cluster).await;
        for j in 0..*size {
            let service = format!("{cluster}-s{j}");
            aws.create_service(cluster, &service, 1).await;
            services.push(((*cluster).to_owned(), service));
        }
    }
    services
}

/// The call counters at the end of every cycle.
struct CycleCounts {
    calls: Arc<ApiCalls>,
    cycles: Mutex<Vec<(CycleReport, BTreeMap<&'static str, u64>)>>,
}

impl Observer for CycleCounts {
    fn cycle_finished(&self, report: &CycleReport) {
        let totals = OPERATIONS
            .iter()
            .map(|op| (*op, self.calls.total(op)))
            .collect();
        self.cycles.lock().unwrap().push((report.clone(), totals));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_reads_each_queue_once_and_describes_ten_services_per_call() {
    let moto = Moto::start();
    let seeder = Aws::new(&moto).await;
    let services = create_services(&seeder, &[("c0", 12), ("c1", 10), ("c2", 8)]).await;
    for q in 0..20 {
        seeder.create_queue(&format!("q{q}")).await;
    }
    // Policy i reads queue q(i mod 20): q0..q9 are read by two policies.
    // Empty queues, one task each: every policy holds at its minimum.
    let policies: Vec<Policy> = services
        .iter()
        .enumerate()
        .map(|(i, (cluster, service))| {
            let mut policy =
                Policy::with_defaults(&format!("p{i}"), cluster, service, &format!("q{}", i % 20));
            policy.target = BacklogTarget::BacklogPerTask(10.0);
            policy.min_tasks = 1;
            policy.max_tasks = 10;
            // Per-cycle counts are exact only while a cycle ends before
            // the next tick: 5 s is far beyond the few hundred ms a cycle
            // takes, even on a machine shared with dozens of emulators
            // (2 s was not always enough there).
            policy.poll_interval = Duration::from_secs(5);
            policy
        })
        .collect();

    let aws = controller_ports(&moto, None).await;
    let counts = Arc::new(CycleCounts {
        calls: aws.calls.clone(),
        cycles: Mutex::default(),
    });
    let config = ControllerConfig {
        // Fewer permits than policies: batching must not depend on them.
        max_concurrency: 4,
        seed: Some(7),
        ..ControllerConfig::default()
    };
    let (_, reloads) = mpsc::channel::<PolicyUpdate>(1);
    let (shutdown, stop) = oneshot::channel::<()>();
    let controller = Controller::new(config, aws.ports()).with_observer(counts.clone());
    let task = tokio::spawn(controller.run(policies, reloads, async {
        let _ = stop.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.cycles.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "three cycles within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = shutdown.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the controller stops")
        .expect("no panic");

    let cycles = counts.cycles.lock().unwrap().clone();
    let mut previous: BTreeMap<&str, u64> = OPERATIONS.iter().map(|op| (*op, 0)).collect();
    for (n, (report, totals)) in cycles.iter().enumerate() {
        let delta: BTreeMap<&str, u64> = totals
            .iter()
            .map(|(op, total)| (*op, total - previous[op]))
            .collect();
        eprintln!("cycle {n}: {delta:?} in {:?}", report.duration);
        // Queue URLs are resolved once, in the first cycle.
        let urls = if n == 0 { 20 } else { 0 };
        assert_eq!(delta["GetQueueUrl"], urls, "cycle {n}: {delta:?}");
        assert_eq!(delta["GetQueueAttributes"], 20, "cycle {n}: {delta:?}");
        assert_eq!(delta["DescribeServices"], 4, "cycle {n}: {delta:?}");
        assert_eq!(delta["UpdateService"], 0, "cycle {n}: {delta:?}");
        assert_eq!(report.policies, 30);
        assert_eq!(report.queues_read, 20);
        assert_eq!(report.service_batches, 4);
        previous = totals.clone();
    }
}

#[tokio::test]
async fn a_batch_read_answers_each_service_and_fails_only_the_missing_ones() {
    let moto = Moto::start();
    let services = create_services(&Aws::new(&moto).await, &[("c0", 12)]).await;
    let aws = controller_ports(&moto, None).await;
    let mut names: Vec<String> = services.into_iter().map(|(_, s)| s).collect();
    names.insert(5, "ghost".into());
    let answers = aws.ecs.services_state("c0", &names).await.unwrap();
    assert_eq!(answers.len(), 13);
    for (name, answer) in names.iter().zip(&answers) {
        match answer {
            Ok(counts) => assert_eq!(counts.desired, 1, "{name}"),
            Err(error) => {
                assert_eq!(name, "ghost");
                assert_eq!(error.kind(), ErrorKind::ServiceNotFound);
            }
        }
    }
    assert_eq!(answers.iter().filter(|a| a.is_err()).count(), 1);
    // 13 services: 10 + 3.
    assert_eq!(aws.calls.total("DescribeServices"), 2);

    let in_no_cluster = aws
        .ecs
        .services_state("no-such-cluster", &names[..2])
        .await
        .unwrap();
    assert!(in_no_cluster
        .iter()
        .all(|a| a.as_ref().unwrap_err().kind() == ErrorKind::ServiceNotFound));
    assert_eq!(aws.calls.total("DescribeServices"), 3);
}

/// Six policies on queues that do not exist: `plan` and `run` work anyway
/// (each policy holds), which is all sharding needs.
fn six_policies(dir: &std::path::Path) -> std::path::PathBuf {
    let names = [
        "orders",
        "billing",
        "emails",
        "thumbnails",
        "reports",
        "checkout",
    ];
    let documents: Vec<String> = names
        .iter()
        .map(|name| {
            format!(
                "name: {name}\ncluster: c0\nservice: {name}\nqueues: [{name}]\n\
                 target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 10\npoll_interval: 1s\n"
            )
        })
        .collect();
    let file = dir.join("policies.yaml");
    std::fs::write(&file, documents.join("---\n")).unwrap();
    file
}

#[tokio::test]
async fn a_shard_plans_and_runs_only_its_own_policies() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let file = six_policies(dir.path());

    // FNV-1a 64 mod 5: orders 2, billing 4, emails 0, thumbnails 3,
    // reports 3, checkout 3.
    let output = binary(&moto)
        .args(["plan", "--json", "--shard", "3/5", "--policies"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let planned: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["policy"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["thumbnails", "reports", "checkout"]);

    let refused = binary(&moto)
        .args(["plan", "--shard", "5/5", "--policies"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--shard") && stderr.contains("I goes from 0 to 4"),
        "{stderr}"
    );

    // `run` logs its shard and runs its policies only.
    let log = dir.path().join("run.log");
    let mut child = binary(&moto)
        .args(["run", "--dry-run", "--policies"])
        .arg(&file)
        // The per-cycle line is DEBUG.
        .args(["--log-level", "info,backlog_scaler=debug"])
        .env("BACKLOG_SCALER_SHARD", "0/5")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("cycle finished") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("shard=\"0/5\""), "{text}");
    assert!(text.contains("running 1 policy"), "{text}");
    assert!(text.contains("cycle finished: 1 policy,"), "{text}");
    assert!(text.contains("policy=emails"), "{text}");
    assert!(!text.contains("policy=orders"), "{text}");
}

/// An in-memory world for the full-size cycle: every queue empty, every
/// service at one task, and counters of the calls.
#[derive(Default)]
struct Counted {
    queue_reads: std::sync::atomic::AtomicU64,
    batches: std::sync::atomic::AtomicU64,
    largest_batch: std::sync::atomic::AtomicUsize,
    writes: std::sync::atomic::AtomicU64,
}

impl backlog_scaler::ports::QueueDepthReader for Counted {
    fn queue_depth<'a>(
        &'a self,
        _queue: &'a str,
    ) -> backlog_scaler::ports::PortFuture<'a, backlog_scaler::engine::QueueDepth> {
        self.queue_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(Default::default())))
    }
}

impl ServiceStateReader for Counted {
    fn service_state<'a>(
        &'a self,
        _cluster: &'a str,
        _service: &'a str,
    ) -> backlog_scaler::ports::PortFuture<'a, backlog_scaler::engine::ServiceCounts> {
        Box::pin(std::future::ready(Ok(one_task())))
    }

    fn services_state<'a>(
        &'a self,
        _cluster: &'a str,
        services: &'a [String],
    ) -> backlog_scaler::ports::PortFuture<
        'a,
        Vec<Result<backlog_scaler::engine::ServiceCounts, backlog_scaler::ports::PortError>>,
    > {
        use std::sync::atomic::Ordering::Relaxed;
        self.batches.fetch_add(1, Relaxed);
        self.largest_batch.fetch_max(services.len(), Relaxed);
        Box::pin(std::future::ready(Ok(vec![Ok(one_task()); services.len()])))
    }
}

impl backlog_scaler::ports::DesiredCountWriter for Counted {
    fn set_desired<'a>(
        &'a self,
        _cluster: &'a str,
        _service: &'a str,
        _desired: u32,
    ) -> backlog_scaler::ports::PortFuture<'a, ()> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(())))
    }
}

fn one_task() -> backlog_scaler::engine::ServiceCounts {
    backlog_scaler::engine::ServiceCounts {
        desired: 1,
        running: 1,
        pending: 0,
        deployment_in_progress: false,
    }
}

/// The fleet, in memory: 1,000 policies, 1,000 queues, 100
/// clusters of 10 services. Each cycle must read 1,000 queues, make 100
/// batch reads of 10 and write nothing, whatever `--max-concurrency`: run
/// with 1, the default 16, and more permits than policies.
#[tokio::test(start_paused = true)]
async fn a_thousand_policies_cost_a_thousand_queue_reads_and_a_hundred_batches_per_cycle() {
    assert_eq!(ControllerConfig::default().max_concurrency, 16);
    for max_concurrency in [1, 16, 2000] {
        a_thousand_policies_with(max_concurrency).await;
    }
}

async fn a_thousand_policies_with(max_concurrency: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let world = Arc::new(Counted::default());
    let ports = backlog_scaler::ports::Ports {
        queues: world.clone(),
        services: world.clone(),
        scaler: world.clone(),
        metrics: None,
    };
    let policies: Vec<Policy> = (0..1000)
        .map(|i| {
            let mut policy = Policy::with_defaults(
                &format!("p{i:04}"),
                &format!("cluster-{}", i / 10),
                &format!("service-{i:04}"),
                &format!("queue-{i:04}"),
            );
            policy.poll_interval = Duration::from_secs(15);
            policy
        })
        .collect();
    let counts = Arc::new(CycleCounts {
        calls: Arc::new(ApiCalls::new()),
        cycles: Mutex::default(),
    });
    let (_, reloads) = mpsc::channel::<PolicyUpdate>(1);
    let (shutdown, stop) = oneshot::channel::<()>();
    let config = ControllerConfig {
        seed: Some(1),
        max_concurrency,
        ..ControllerConfig::default()
    };
    let controller = Controller::new(config, ports).with_observer(counts.clone());
    let task = tokio::spawn(controller.run(policies, reloads, async {
        let _ = stop.await;
    }));
    // Three ticks: the phase is under 1.5 s, so 32 s hold ticks 0, 1, 2.
    tokio::time::sleep(Duration::from_secs(32)).await;
    let _ = shutdown.send(());
    task.await.unwrap();

    let cycles = counts.cycles.lock().unwrap().clone();
    let at = format!("--max-concurrency {max_concurrency}");
    assert_eq!(cycles.len(), 3, "{at}");
    for (report, _) in &cycles {
        assert_eq!(report.policies, 1000, "{at}");
        assert_eq!(report.queues_read, 1000, "{at}");
        assert_eq!(report.service_batches, 100, "{at}");
    }
    assert_eq!(world.queue_reads.load(Relaxed), 3000, "{at}");
    assert_eq!(world.batches.load(Relaxed), 300, "{at}");
    assert_eq!(world.largest_batch.load(Relaxed), 10, "{at}");
    assert_eq!(world.writes.load(Relaxed), 0, "{at}");
}
