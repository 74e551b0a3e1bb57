//! The controller against a real AWS API emulator (moto): every test starts
//! its own `moto_server`, creates queues, a cluster, a task definition and
//! services through the SDK, runs the real loop (in process) or the real
//! binary against it, and asserts on the emulator's state through the SDK
//! and on the binary's `/healthz`, `/readyz` and `/metrics` over HTTP. The
//! binary is also run as a container runs it: policies from
//! `BACKLOG_SCALER_POLICIES`, on a read-only root file system.
//!
//! Waiting on the emulator or the binary is always "poll a condition until a
//! deadline", never a fixed sleep used as an assertion.
//!
//! What moto does not model: it sets `runningCount` to the desired count at
//! once and starts no tasks, and never has a deployment in progress. The
//! engine's pending-task and deployment rules are therefore tested with
//! fakes (`src/controller/tests/`).

#[path = "support/aws.rs"]
mod aws;
#[path = "support/child.rs"]
mod child;
#[path = "support/http.rs"]
mod http;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/process.rs"]
mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws::{controller_ports, eventually, Aws, Recorder};
use backlog_scaler::aws::ApiCalls;
use backlog_scaler::controller::{
    Controller, ControllerConfig, Evaluation, PolicyUpdate, SharedReads, WriteOutcome,
};
use backlog_scaler::engine::{Because, QueueDepth};
use backlog_scaler::policy::{BacklogTarget, Policy};
use backlog_scaler::ports::{ErrorKind, QueueDepthReader, ServiceStateReader};
use child::LoggedChild as Binary;
use moto::{Moto, REGION};
use tokio::sync::{mpsc, oneshot};

const CLUSTER: &str = "jobs";

// ---------------------------------------------------------------------------
// Seeding and inspecting the emulator
// ---------------------------------------------------------------------------

async fn wait_for_desired(aws: &Aws, service: &str, desired: i32, limit: Duration) {
    eventually(
        limit,
        &format!("{service} at desired {desired}"),
        || async { aws.desired(CLUSTER, service).await == desired },
    )
    .await;
}

// ---------------------------------------------------------------------------
// The real loop, in process
// ---------------------------------------------------------------------------

/// A policy on `queue` for `service` in the test cluster: 10 messages per
/// task, 1..=10 tasks, evaluated every second, a 3 s stabilization window.
fn policy(name: &str, queue: &str, service: &str) -> Policy {
    let mut policy = Policy::with_defaults(name, CLUSTER, service, queue);
    policy.target = BacklogTarget::BacklogPerTask(10.0);
    policy.min_tasks = 1;
    policy.max_tasks = 10;
    policy.poll_interval = Duration::from_secs(1);
    policy.scale_in.stabilization_window = Duration::from_secs(3);
    policy
}

/// A controller running in the background against the emulator.
struct Live {
    recorder: Arc<Recorder>,
    calls: Arc<ApiCalls>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Live {
    async fn start(moto: &Moto, policies: Vec<Policy>) -> Live {
        Live::start_with(moto, policies, ControllerConfig::default(), None).await
    }

    async fn start_with(
        moto: &Moto,
        policies: Vec<Policy>,
        config: ControllerConfig,
        namespace: Option<String>,
    ) -> Live {
        let aws = controller_ports(moto, namespace).await;
        let recorder = Arc::new(Recorder::default());
        // These tests do not reload: a closed channel says so.
        let (_, reload_receiver) = mpsc::channel::<PolicyUpdate>(1);
        let (shutdown, stop) = oneshot::channel::<()>();
        let controller = Controller::new(config, aws.ports()).with_observer(recorder.clone());
        let task = tokio::spawn(controller.run(policies, reload_receiver, async {
            let _ = stop.await;
        }));
        Live {
            recorder,
            calls: aws.calls.clone(),
            shutdown,
            task,
        }
    }

    async fn wait_for_evaluations(&self, policy: &str, count: usize) {
        eventually(
            Duration::from_secs(30),
            &format!("{count} evaluations of {policy}"),
            || async { self.recorder.count(policy) >= count },
        )
        .await;
    }

    async fn stop(self) -> Arc<Recorder> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the controller stops")
            .expect("the controller does not panic");
        self.recorder
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_out_from_a_backlog_with_one_update() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 45, CLUSTER, "orders", 1).await;

    let live = Live::start(&moto, vec![policy("orders", "orders", "orders")]).await;
    wait_for_desired(&aws, "orders", 5, Duration::from_secs(20)).await;
    let evaluations_at_target = live.recorder.count("orders");
    live.wait_for_evaluations("orders", evaluations_at_target + 3)
        .await;
    let calls = live.calls.clone();
    let recorder = live.stop().await;

    assert_eq!(aws.desired(CLUSTER, "orders").await, 5);
    // UpdateService only on change; one GetQueueUrl, then the cached URL;
    // one GetQueueAttributes and one DescribeServices per evaluation.
    let evaluations = recorder.count("orders") as u64;
    assert_eq!(calls.total("UpdateService"), 1);
    assert_eq!(calls.total("GetQueueUrl"), 1);
    assert_eq!(calls.total("GetQueueAttributes"), evaluations);
    assert_eq!(calls.total("DescribeServices"), evaluations);
    let first = &recorder.of("orders")[0];
    assert!(matches!(
        first.write,
        WriteOutcome::Applied { from: 1, to: 5 }
    ));
    assert_eq!(
        first.decision.reason.to_string(),
        "backlog 45 (visible 45 + in-flight 0) / target 10 = 5 tasks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_in_only_after_the_stabilization_window() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 60, CLUSTER, "orders", 1).await;

    let live = Live::start(&moto, vec![policy("orders", "orders", "orders")]).await;
    wait_for_desired(&aws, "orders", 6, Duration::from_secs(20)).await;
    aws.purge("orders").await;
    let purged = Instant::now();
    wait_for_desired(&aws, "orders", 1, Duration::from_secs(20)).await;
    let took = purged.elapsed();
    let recorder = live.stop().await;

    // The last recommendation of 6 was at most one poll before the purge,
    // and the window is 3 s: no scale-in sooner than 2 s after it.
    assert!(took >= Duration::from_secs(2), "scaled in after {took:?}");
    // The window itself, on the controller's own clock (so a slow machine
    // cannot blur it): the scale-in came at least 3 s after the last
    // evaluation that recommended 6, and every evaluation before then that
    // recommended less held at 6.
    let evaluations = recorder.of("orders");
    let last_high = evaluations
        .iter()
        .filter(|e| e.decision.recommendation() == Some(6))
        .map(|e| e.at)
        .max()
        .expect("a recommendation of 6");
    let scale_in = evaluations
        .iter()
        .find(|e| matches!(e.write, WriteOutcome::Applied { to: 1, .. }))
        .expect("the scale-in to 1");
    let window = Duration::from_secs(3);
    assert!(
        scale_in.at.since(last_high) >= window,
        "scaled in {:?} after the last recommendation of 6",
        scale_in.at.since(last_high)
    );
    for e in evaluations
        .iter()
        .filter(|e| e.at > last_high && e.at.since(last_high) < window)
    {
        assert_eq!(
            e.decision.desired(),
            Some(6),
            "held inside the window at {:?}",
            e.at
        );
    }
    let held_by_window = recorder.of("orders").iter().any(|e| {
        e.decision
            .reason
            .steps()
            .iter()
            .any(|step| matches!(step, Because::Stabilization { highest: 6, .. }))
    });
    assert!(held_by_window, "some evaluation waited for the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_are_respected_both_ways() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("flood", 500, CLUSTER, "capped", 1).await;
    aws.seed("quiet", 0, CLUSTER, "floored", 0).await;

    let mut capped = policy("capped", "flood", "capped");
    capped.max_tasks = 4;
    let mut floored = policy("floored", "quiet", "floored");
    floored.min_tasks = 2;
    let live = Live::start(&moto, vec![capped, floored]).await;
    wait_for_desired(&aws, "capped", 4, Duration::from_secs(20)).await;
    wait_for_desired(&aws, "floored", 2, Duration::from_secs(20)).await;
    let seen = live.recorder.count("capped");
    live.wait_for_evaluations("capped", seen + 3).await;
    live.stop().await;

    assert_eq!(
        aws.desired(CLUSTER, "capped").await,
        4,
        "500 messages want 50 tasks"
    );
    assert_eq!(aws.desired(CLUSTER, "floored").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_or_service_fails_only_its_own_policy() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;
    aws.seed("lonely", 30, CLUSTER, "unmanaged", 1).await;

    let policies = vec![
        policy("orders", "orders", "orders"),
        policy("no-queue", "no-such-queue", "unmanaged"),
        policy("no-service", "lonely", "no-such-service"),
        {
            let mut p = policy("no-cluster", "lonely", "unmanaged-2");
            p.cluster = "no-such-cluster".into();
            p
        },
    ];
    let live = Live::start(&moto, policies).await;
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;
    for name in ["no-queue", "no-service", "no-cluster"] {
        live.wait_for_evaluations(name, 3).await;
    }
    let recorder = live.stop().await;

    assert_eq!(aws.desired(CLUSTER, "unmanaged").await, 1);
    let kinds = |name: &str| -> Vec<ErrorKind> {
        recorder
            .of(name)
            .iter()
            .map(|e| e.error().map(|e| e.kind()).expect("every evaluation fails"))
            .collect()
    };
    assert!(kinds("no-queue")
        .iter()
        .all(|&k| k == ErrorKind::QueueNotFound));
    assert!(kinds("no-service")
        .iter()
        .all(|&k| k == ErrorKind::ServiceNotFound));
    assert!(kinds("no-cluster")
        .iter()
        .all(|&k| k == ErrorKind::ServiceNotFound));
    let reason = recorder.of("no-queue")[0].decision.reason.to_string();
    assert!(
        reason.contains("queue no-such-queue does not exist"),
        "{reason}"
    );
    let reason = recorder.of("no-service")[0].decision.reason.to_string();
    assert!(
        reason.contains("service no-such-service not found in cluster jobs (MISSING)"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_metrics_can_be_read_back() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;

    let config = ControllerConfig {
        metrics_flush_interval: Duration::from_secs(1),
        ..ControllerConfig::default()
    };
    let namespace = "BacklogScaler/Test".to_owned();
    let live = Live::start_with(
        &moto,
        vec![policy("orders", "orders", "orders")],
        config,
        Some(namespace.clone()),
    )
    .await;
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;
    eventually(Duration::from_secs(20), "published metrics", || async {
        !aws.metric(&namespace, "BacklogPerTask", "orders")
            .await
            .is_empty()
    })
    .await;
    live.wait_for_evaluations("orders", 3).await;
    let calls = live.calls.clone();
    live.stop().await;

    // One value per minute the test spanned, each the minute's maximum.
    let expect = |values: Vec<f64>, value: f64, name: &str| {
        assert!(!values.is_empty(), "{name}: no datapoints");
        assert!(values.iter().all(|&v| v == value), "{name}: {values:?}");
    };
    expect(
        aws.metric(&namespace, "BacklogPerTask", "orders").await,
        10.0,
        "BacklogPerTask",
    );
    expect(
        aws.metric(&namespace, "Backlog", "orders").await,
        30.0,
        "Backlog",
    );
    expect(
        aws.metric(&namespace, "DesiredTasks", "orders").await,
        3.0,
        "DesiredTasks",
    );
    // Running as observed: none at the first evaluation (moto starts a new
    // service with nothing running), all three once scaled (moto runs the
    // desired count at once). Latest minute first.
    let running = aws.metric(&namespace, "RunningTasks", "orders").await;
    assert_eq!(running.first(), Some(&3.0), "{running:?}");
    // Everything published is in the configured namespace, one series per
    // metric, each with the policy as its only dimension.
    let listed = aws
        .cloudwatch
        .list_metrics()
        .send()
        .await
        .expect("ListMetrics");
    let mut series: Vec<(String, String, String)> = listed
        .metrics()
        .iter()
        .map(|metric| {
            let dimensions: Vec<String> = metric
                .dimensions()
                .iter()
                .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
                .collect();
            (
                metric.namespace().unwrap_or_default().to_owned(),
                metric.metric_name().unwrap_or_default().to_owned(),
                dimensions.join(","),
            )
        })
        .collect();
    series.sort();
    assert_eq!(
        series,
        ["Backlog", "BacklogPerTask", "DesiredTasks", "RunningTasks"].map(|name| (
            namespace.clone(),
            name.to_owned(),
            "Policy=orders".to_owned()
        ))
    );
    assert!(calls.total("PutMetricData") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_emulator_makes_policies_hold_and_a_restarted_one_lets_them_recover() {
    let mut moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;

    let live = Live::start(&moto, vec![policy("orders", "orders", "orders")]).await;
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;

    moto.stop();
    let before = live.recorder.count("orders");
    eventually(Duration::from_secs(30), "failed evaluations", || async {
        let failed = live.recorder.of("orders")[before..]
            .iter()
            .filter(|e| e.error().is_some())
            .count();
        failed >= 3
    })
    .await;
    let outage: Vec<Evaluation> = live.recorder.of("orders")[before..].to_vec();
    for evaluation in outage.iter().filter(|e| e.error().is_some()) {
        assert_eq!(evaluation.error().unwrap().kind(), ErrorKind::Unreachable);
        assert!(matches!(evaluation.write, WriteOutcome::Unchanged));
    }
    assert_eq!(live.calls.total("UpdateService"), 1, "no write while blind");

    // The emulator comes back empty; once the resources exist again, the
    // policy works again by itself.
    moto.restart();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 70, CLUSTER, "orders", 2).await;
    wait_for_desired(&aws, "orders", 7, Duration::from_secs(30)).await;
    live.stop().await;
}

// ---------------------------------------------------------------------------
// The adapters' call budgets and parsing, against the emulator
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_reads_the_three_counts_and_caches_queue_urls() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    let url = aws.create_queue("orders").await;
    aws.send("orders", 5).await;
    let received = aws
        .sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(2)
        .visibility_timeout(600)
        .send()
        .await
        .expect("ReceiveMessage");
    assert_eq!(received.messages().len(), 2);
    aws.send_delayed("orders", 3, 900).await;

    let ports = controller_ports(&moto, None).await;
    let expected = QueueDepth {
        visible: 3,
        in_flight: 2,
        delayed: 3,
    };
    for _ in 0..3 {
        assert_eq!(ports.sqs.queue_depth("orders").await.unwrap(), expected);
    }
    assert_eq!(ports.sqs.queue_depth(&url).await.unwrap(), expected);
    assert_eq!(ports.calls.total("GetQueueUrl"), 1);
    assert_eq!(ports.calls.total("GetQueueAttributes"), 4);

    let missing = ports.sqs.queue_depth("no-such-queue").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::QueueNotFound);

    // A deleted queue: the cached URL is dropped and resolved again next time.
    aws.sqs
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("DeleteQueue");
    let gone = ports.sqs.queue_depth("orders").await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::QueueNotFound);
    aws.create_queue("orders").await;
    aws.send("orders", 4).await;
    let depth = ports.sqs.queue_depth("orders").await.unwrap();
    assert_eq!(depth.visible, 4);
    assert_eq!(ports.calls.total("GetQueueUrl"), 3);
}

#[tokio::test]
async fn a_cycles_service_lookups_are_batched_ten_services_per_call() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    for i in 0..12 {
        aws.create_service(CLUSTER, &format!("s{i}"), i).await;
    }

    let aws_ports = controller_ports(&moto, None).await;
    let ports = aws_ports.ports();
    // The cycle of twelve policies, one service each, read as the
    // controller and `plan` read them: through the cycle's shared reads.
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    let reads = Arc::new(SharedReads::new(
        &ports,
        names.iter().map(|name| (CLUSTER, name.as_str())),
    ));
    let mut lookups = tokio::task::JoinSet::new();
    for i in 0..12u32 {
        let reads = reads.clone();
        lookups.spawn(async move {
            let counts = reads.service_state(CLUSTER, &format!("s{i}")).await;
            (i, counts)
        });
    }
    let answers = lookups.join_all().await;
    assert_eq!(answers.len(), 12);
    for (i, counts) in answers {
        let counts = counts.expect("every service is found");
        assert_eq!(counts.desired, i);
        assert!(!counts.deployment_in_progress);
    }
    assert_eq!(reads.service_batches(), 2);
    assert_eq!(aws_ports.calls.total("DescribeServices"), 2);
}

// ---------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------

/// A policy file's YAML for the test cluster, evaluated every second.
fn policy_yaml(name: &str, queue: &str, service: &str, extra: &str) -> String {
    policy_yaml_every("1s", name, queue, service, extra)
}

fn policy_yaml_every(
    poll_interval: &str,
    name: &str,
    queue: &str,
    service: &str,
    extra: &str,
) -> String {
    format!(
        "name: {name}\ncluster: {CLUSTER}\nservice: {service}\nqueues: [{queue}]\n\
         target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 10\n\
         poll_interval: {poll_interval}\nscale_in:\n  stabilization_window: 3s\n{extra}"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a policy file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_every_policy_and_changes_nothing() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 45, CLUSTER, "orders", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.yaml");
    let policies = [
        policy_yaml("orders", "orders", "orders", ""),
        policy_yaml("ghost", "no-such-queue", "orders-2", ""),
    ]
    .join("---\n");
    write(&file, &policies);

    let output = aws::binary(&moto)
        .args(["plan", "--json", "--policies"])
        .arg(&file)
        .output()
        .expect("plan runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "plan failed: {stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let rows = rows.as_array().expect("an array of rows");
    assert_eq!(rows.len(), 2);
    let orders = &rows[0];
    assert_eq!(orders["policy"], "orders");
    assert_eq!(orders["backlog"], 45.0);
    assert_eq!(orders["desired"], 1);
    assert_eq!(orders["proposed"], 5);
    assert_eq!(orders["action"], "scale_out");
    let ghost = &rows[1];
    assert_eq!(ghost["action"], "hold");
    assert_eq!(ghost["error_kind"], "queue_not_found");
    assert!(ghost["reason"]
        .as_str()
        .unwrap()
        .contains("queue no-such-queue does not exist"));

    // The flags instead of the environment.
    let table = aws::binary(&moto)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .args([
            "plan",
            "--region",
            REGION,
            "--endpoint-url",
            &moto.endpoint(),
        ])
        .arg("--policies")
        .arg(&file)
        .output()
        .expect("plan runs");
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("POLICY"), "{table}");
    assert!(lines[0].contains("DESIRED/RUNNING/PENDING"), "{table}");
    assert!(lines[1].starts_with("orders "), "{table}");
    assert!(lines[1].contains("scale_out"), "{table}");
    assert!(lines[2].contains("does not exist"), "{table}");

    // Never writes.
    assert_eq!(aws.desired(CLUSTER, "orders").await, 1);

    // Invalid files: exit code 1, nothing observed.
    write(&file, "name: broken\ncluster: [\n");
    let invalid = aws::binary(&moto)
        .args(["plan", "--policies"])
        .arg(&file)
        .output()
        .expect("plan runs");
    assert_eq!(invalid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("policies.yaml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_leaves_desired_untouched_across_many_ticks() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 45, CLUSTER, "orders", 1).await;
    aws.seed("billing", 80, CLUSTER, "billing", 2).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("orders.yaml"),
        &policy_yaml("orders", "orders", "orders", ""),
    );
    // This one is dry-run by its own setting, even without the flag.
    write(
        &dir.path().join("billing.yaml"),
        &policy_yaml("billing", "billing", "billing", "dry_run: true\n"),
    );

    let mut command = aws::binary(&moto);
    command
        .args(["run", "--dry-run", "--policies"])
        .arg(dir.path())
        // Repeated holds are DEBUG; this test counts them.
        .args(["--log-level", "info,backlog_scaler=debug"]);
    let mut binary = Binary::spawn(command);
    binary
        .wait_for_log(
            "would set desired 1 -> 5 (backlog 45",
            Duration::from_secs(20),
        )
        .await;
    binary
        .wait_for_log(
            "would set desired 2 -> 8 (backlog 80",
            Duration::from_secs(20),
        )
        .await;
    // Many ticks: the shadow is at target, so each later one holds at it.
    eventually(Duration::from_secs(30), "ten ticks", || async {
        binary.log().matches("hold at 5 (").count() >= 10
    })
    .await;
    assert_eq!(aws.desired(CLUSTER, "orders").await, 1);
    assert_eq!(aws.desired(CLUSTER, "billing").await, 2);
    binary.signal("TERM");
    assert!(binary.wait_exit(Duration::from_secs(10)).await.success());
    assert_eq!(binary.log().matches("would set desired 1 -> 5").count(), 1);

    // Without --dry-run, only the policy marked dry_run stays untouched.
    let mut command = aws::binary(&moto);
    command.args(["run", "--policies"]).arg(dir.path());
    let mut binary = Binary::spawn(command);
    wait_for_desired(&aws, "orders", 5, Duration::from_secs(20)).await;
    binary
        .wait_for_log("would set desired 2 -> 8", Duration::from_secs(20))
        .await;
    assert_eq!(aws.desired(CLUSTER, "billing").await, 2);
    binary.signal("TERM");
    assert!(binary.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_reload_keeps_the_old_policies_and_a_good_one_applies() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;
    aws.seed("billing", 40, CLUSTER, "billing", 1).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("orders.yaml"),
        &policy_yaml("orders", "orders", "orders", ""),
    );

    let mut command = aws::binary(&moto);
    command.args(["run", "--policies"]).arg(dir.path());
    let mut binary = Binary::spawn(command);
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;

    // A broken file: every error logged, the old policy keeps working.
    write(
        &dir.path().join("billing.yaml"),
        &policy_yaml("billing", "billing", "billing", "max_taks: 3\n"),
    );
    binary
        .wait_for_log("policy reload failed", Duration::from_secs(20))
        .await;
    assert!(binary.log().contains("billing.yaml:"), "{}", binary.log());
    assert!(binary.log().contains("max_taks"), "{}", binary.log());
    aws.send("orders", 30).await;
    wait_for_desired(&aws, "orders", 6, Duration::from_secs(20)).await;
    assert_eq!(aws.desired(CLUSTER, "billing").await, 1);

    // Fixed, then SIGHUP-free: the file change alone reloads it.
    write(
        &dir.path().join("billing.yaml"),
        &policy_yaml("billing", "billing", "billing", ""),
    );
    wait_for_desired(&aws, "billing", 4, Duration::from_secs(20)).await;

    // SIGHUP reloads too (nothing changed: all policies kept).
    let before = binary.log().matches("SIGHUP: reloading policies").count();
    binary.signal("HUP");
    binary
        .wait_for_log("SIGHUP: reloading policies", Duration::from_secs(10))
        .await;
    // One signal, one reload.
    assert_eq!(
        binary.log().matches("SIGHUP: reloading policies").count(),
        before + 1
    );
    eventually(Duration::from_secs(10), "the reload to apply", || async {
        binary.log().contains("unchanged=2")
    })
    .await;
    binary.signal("TERM");
    assert!(binary.wait_exit(Duration::from_secs(10)).await.success());
    assert!(
        !binary.log().contains('\x1b'),
        "no colour codes when stderr is not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_promptly() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    // A long interval: waiting for the next tick would take most of a minute.
    write(
        &file,
        &policy_yaml_every("60s", "orders", "orders", "orders", ""),
    );

    let mut command = aws::binary(&moto);
    command
        .args(["run", "--log-format", "json", "--policies"])
        .arg(&file);
    let mut binary = Binary::spawn(command);
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;
    binary
        .wait_for_log("\"message\":\"set desired 1 -> 3", Duration::from_secs(10))
        .await;

    let asked = Instant::now();
    binary.signal("TERM");
    let status = binary.wait_exit(Duration::from_secs(30)).await;
    let took = asked.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?} to exit");

    // Every line is JSON; a decision line carries its fields.
    let stderr = binary.log();
    let decision = stderr
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line"))
        .find(|line| {
            line["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("set desired 1 -> 3")
        })
        .expect("the scale-out was logged");
    assert_eq!(decision["policy"], "orders");
    assert_eq!(decision["action"], "scale_out");
    assert_eq!(decision["desired"], 3);
    assert_eq!(decision["dry_run"], false);
    assert!(stderr.contains("SIGTERM received"));
}

// ---------------------------------------------------------------------------
// The endpoints, and the binary's side of the container
// ---------------------------------------------------------------------------

impl Binary {
    /// The address `run` logged it serves the endpoints on.
    async fn endpoints_address(&self) -> SocketAddr {
        let marker = "and /metrics on http://";
        self.wait_for_log(marker, Duration::from_secs(20)).await;
        let stderr = self.log();
        let start = stderr.find(marker).unwrap() + marker.len();
        let address = stderr[start..].split_whitespace().next().unwrap();
        address.parse().expect("a socket address")
    }
}

/// One sample of `/metrics`: the value of the series `series` (a name and
/// its labels exactly as exposed), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// `GET path` on the binary's endpoints.
fn get(address: SocketAddr, path: &str) -> http::Response {
    http::get(address, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The policies not ready, from a `/readyz` body: (policy, state, failures).
fn not_ready(body: &serde_json::Value) -> Vec<(String, String, u64)> {
    body["not_ready"]
        .as_array()
        .expect("a not_ready list")
        .iter()
        .map(|p| {
            (
                p["policy"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
                p["consecutive_failures"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_report_health_readiness_and_metrics_over_http() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 45, CLUSTER, "orders", 1).await;
    aws.create_service(CLUSTER, "ghost", 1).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("orders.yaml"),
        &policy_yaml("orders", "orders", "orders", ""),
    );
    // Its queue is missing until the test creates it. Every 4 s, so its
    // third failure (when it turns `failing`) comes some 12 s after start
    // (failures back off by skipping ticks): time enough to see it not
    // evaluated yet even where starting the binary and the probe below take
    // seconds on a loaded machine (at 2 s it was some 6 s, a near thing).
    write(
        &dir.path().join("ghost.yaml"),
        &policy_yaml_every("4s", "ghost", "ghost-jobs", "ghost", ""),
    );
    let started = SystemTime::now();

    let mut command = aws::binary(&moto);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--policies"])
        .arg(dir.path());
    let mut binary = Binary::spawn(command);
    let address = binary.endpoints_address().await;

    let health = get(address, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    // The container's probe: asked on loopback when given 0.0.0.0.
    let probe = healthcheck(&format!("0.0.0.0:{}", address.port()), &[]);
    assert_eq!(probe.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&probe.stdout), "ok\n");

    // Not ready before the missing queue's policy has ever succeeded.
    let first = get(address, "/readyz");
    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let ghost = not_ready(&first.json())
        .into_iter()
        .find(|(policy, ..)| policy == "ghost")
        .expect("ghost is named");
    assert_eq!(ghost.1, "not_evaluated_yet", "{}", first.body);
    assert!(ghost.2 < 3);

    // Three failures in a row: failing, with the cause; orders is ready.
    wait_for_desired(&aws, "orders", 5, Duration::from_secs(20)).await;
    let mut failing = serde_json::Value::Null;
    eventually(Duration::from_secs(30), "ghost failing", || {
        let readyz = get(address, "/readyz");
        assert_eq!(readyz.status, 503, "{}", readyz.body);
        failing = readyz.json();
        let states = not_ready(&failing);
        std::future::ready(states.len() == 1 && states[0].1 == "failing")
    })
    .await;
    let entry = &failing["not_ready"][0];
    assert_eq!(entry["policy"], "ghost");
    assert!(entry["consecutive_failures"].as_u64().unwrap() >= 3);
    assert!(
        entry["last_error"]
            .as_str()
            .unwrap()
            .starts_with("queue ghost-jobs does not exist"),
        "{failing}"
    );
    assert_eq!(failing["policies"], 2);
    let probe = healthcheck(&address.to_string(), &["--ready"]);
    assert_eq!(probe.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&probe.stdout).contains("\"failing\""));
    assert!(String::from_utf8_lossy(&probe.stderr).contains(&format!(
        "unhealthy: GET http://{address}/readyz: HTTP/1.1 503"
    )));

    // Metrics, once orders has held at least once at its new count (so
    // the running count observed is the new one).
    let mut metrics = String::new();
    eventually(Duration::from_secs(20), "a hold at 5", || {
        let response = get(address, "/metrics");
        assert_eq!(response.status, 200);
        assert!(response
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"));
        metrics = response.body;
        let holds = sample(
            &metrics,
            r#"backlog_scaler_decisions_total{policy="orders",action="hold"}"#,
        );
        std::future::ready(holds.is_some_and(|n| n >= 1.0))
    })
    .await;
    let value = |series: &str| {
        sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    for (series, expected) in [
        (r#"backlog_scaler_backlog{policy="orders"}"#, 45.0),
        (r#"backlog_scaler_backlog_per_task{policy="orders"}"#, 9.0),
        (r#"backlog_scaler_desired_tasks{policy="orders"}"#, 5.0),
        (r#"backlog_scaler_running_tasks{policy="orders"}"#, 5.0),
        (r#"backlog_scaler_pending_tasks{policy="orders"}"#, 0.0),
        (r#"backlog_scaler_decided_tasks{policy="orders"}"#, 5.0),
        (
            r#"backlog_scaler_decisions_total{policy="orders",action="scale_out"}"#,
            1.0,
        ),
        (
            r#"backlog_scaler_aws_api_calls_total{operation="UpdateService"}"#,
            1.0,
        ),
        (r#"backlog_scaler_config_reloads_total{result="ok"}"#, 0.0),
        (
            r#"backlog_scaler_config_reloads_total{result="failed"}"#,
            0.0,
        ),
    ] {
        assert_eq!(value(series), expected, "{series}");
    }
    // Every evaluation of orders read its queue once, and each of ghost's
    // failed to resolve its missing queue. A scrape can fall while an
    // evaluation is between its calls and its report: one more call than
    // evaluations, never fewer.
    // Every evaluation counts one decision, a failed one's hold included.
    let evaluations = |policy: &str| {
        ["hold", "scale_out", "scale_in"]
            .iter()
            .filter_map(|action| {
                let series = format!(
                    r#"backlog_scaler_decisions_total{{policy="{policy}",action="{action}"}}"#
                );
                sample(&metrics, &series)
            })
            .sum::<f64>()
    };
    let orders_evaluations = evaluations("orders");
    let ghost_evaluations = evaluations("ghost");
    assert_eq!(
        ghost_evaluations,
        value(r#"backlog_scaler_decisions_total{policy="ghost",action="hold"}"#),
        "a policy that cannot observe only holds"
    );
    assert!(orders_evaluations >= 2.0);
    assert!(ghost_evaluations >= 3.0);
    let about = |series: &str, evaluations: f64| {
        let calls = value(series);
        assert!(
            (evaluations..=evaluations + 1.0).contains(&calls),
            "{series} {calls} for {evaluations} evaluations"
        );
    };
    about(
        r#"backlog_scaler_aws_api_calls_total{operation="GetQueueAttributes"}"#,
        orders_evaluations,
    );
    about(
        r#"backlog_scaler_aws_api_errors_total{operation="GetQueueUrl",kind="queue_not_found"}"#,
        ghost_evaluations,
    );
    assert!(value(r#"backlog_scaler_aws_api_calls_total{operation="DescribeServices"}"#) >= 2.0);
    // Every evaluation is timed, the failed ones too; the histogram is
    // recorded just before the decision, so a scrape may fall between, for
    // each of the two policies.
    let timed = value("backlog_scaler_evaluation_duration_seconds_count");
    let decided = orders_evaluations + ghost_evaluations;
    assert!(
        (decided..=decided + 2.0).contains(&timed),
        "{timed} for {decided}"
    );
    for policy in ["orders", "ghost"] {
        let series =
            format!(r#"backlog_scaler_last_evaluation_duration_seconds{{policy="{policy}"}}"#);
        assert!(value(&series) >= 0.0);
    }
    assert_eq!(
        sample(&metrics, r#"backlog_scaler_backlog{policy="ghost"}"#),
        None,
        "no figures for a policy that could not be observed"
    );
    let since_epoch = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap();
    let last_success = value(r#"backlog_scaler_last_success_timestamp_seconds{policy="orders"}"#);
    assert!(last_success >= since_epoch(started).as_secs_f64().floor());
    assert!(last_success <= since_epoch(SystemTime::now()).as_secs_f64());
    assert!(metrics.contains("# TYPE backlog_scaler_evaluation_duration_seconds histogram"));
    assert!(metrics.ends_with("# EOF\n"));

    // The queue appears: ghost recovers and the controller is ready.
    aws.create_queue("ghost-jobs").await;
    eventually(Duration::from_secs(20), "ready", || {
        std::future::ready(get(address, "/readyz").status == 200)
    })
    .await;
    let ready = get(address, "/readyz").json();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["not_ready"], serde_json::json!([]));
    assert_eq!(
        healthcheck(&address.to_string(), &["--ready"])
            .status
            .code(),
        Some(0)
    );

    // Reloads, by result: SIGHUP with the same files, then a broken file.
    let reloads = |result: &str| {
        let series = format!(r#"backlog_scaler_config_reloads_total{{result="{result}"}}"#);
        sample(&get(address, "/metrics").body, &series)
    };
    binary.signal("HUP");
    eventually(Duration::from_secs(10), "an ok reload", || {
        std::future::ready(reloads("ok") == Some(1.0))
    })
    .await;
    write(&dir.path().join("broken.yaml"), "name: [\n");
    eventually(Duration::from_secs(10), "a failed reload", || {
        std::future::ready(reloads("failed") == Some(1.0))
    })
    .await;
    assert_eq!(reloads("ok"), Some(1.0));

    // An idle client connection does not hold up SIGTERM.
    let idle = std::net::TcpStream::connect(address).unwrap();
    let asked = Instant::now();
    binary.signal("TERM");
    let status = binary.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", binary.log());
    assert!(asked.elapsed() < Duration::from_secs(5));
    drop(idle);
    assert!(http::get(address, "/healthz").is_err(), "no longer served");
    let probe = healthcheck(&address.to_string(), &[]);
    assert_eq!(probe.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&probe.stderr).contains("cannot connect"));
}

/// `backlog-scaler healthcheck --listen LISTEN ARGS...`, run to its end
/// (failed if it takes more than 30 s: its own timeout is 3 s).
fn healthcheck(listen: &str, args: &[&str]) -> std::process::Output {
    process::output_within(
        Command::new(env!("CARGO_BIN_EXE_backlog-scaler"))
            .args(["healthcheck", "--listen", listen])
            .args(args),
        Duration::from_secs(30),
    )
}

/// A server that accepts connections and never answers (`drip: false`),
/// or answers one byte of a status line every 200 ms, never finishing
/// (`drip: true`): a timeout per read would never fire on the second.
fn never_answering_server(drip: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::Write;
                for byte in b"HTTP/1.1 200 OK".iter().cycle() {
                    std::thread::sleep(Duration::from_millis(200));
                    if drip && stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// A server that accepts connections and never answers, counting them.
fn hung_server() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Held open, never answered.
            open.push(stream);
        }
    });
    (address, accepted)
}

/// SIGTERM with an evaluation hung on AWS: the controller waits out its
/// grace period (5 s) for it, and all that time the endpoints still answer
/// (they stop last, with the process), which exits 0 having abandoned it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_answer_while_a_hung_evaluation_drains() {
    let (aws_endpoint, accepted) = hung_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    write(&file, &policy_yaml("orders", "orders", "orders", ""));
    let mut command = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"));
    command
        .env_remove("RUST_LOG")
        .env_remove("BACKLOG_SCALER_POLICIES")
        .env_remove("BACKLOG_SCALER_SHARD")
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", format!("http://{aws_endpoint}")),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("BACKLOG_SCALER_LISTEN", "127.0.0.1:0".to_owned()),
        ])
        .args(["run", "--policies"])
        .arg(&file);
    let mut binary = Binary::spawn(command);
    let address = binary.endpoints_address().await;
    // The first call of the first evaluation has reached the endpoint: it
    // hangs for the SDK's operation timeout (12 s), beyond the grace.
    eventually(Duration::from_secs(20), "a call in flight", || {
        std::future::ready(accepted.load(std::sync::atomic::Ordering::SeqCst) > 0)
    })
    .await;
    binary.signal("TERM");
    binary
        .wait_for_log("shutting down: no new evaluations", Duration::from_secs(10))
        .await;
    let health = http::get(address, "/healthz").expect("/healthz answers while draining");
    assert_eq!(health.status, 200, "{}", binary.log());
    let status = binary.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", binary.log());
    assert!(
        binary
            .log()
            .contains("evaluations still in flight after the grace period"),
        "{}",
        binary.log()
    );
    assert!(http::get(address, "/healthz").is_err(), "no longer served");
}

/// `healthcheck` gives up after `--timeout` in all (3 s by default) against
/// a server that accepts and never answers, with exit 1 and the reason.
/// The upper bounds are generous (the command is a process start on a
/// machine shared with dozens of emulators); the lower bounds are the
/// timeout itself, so an early give-up fails too.
#[test]
fn healthcheck_gives_up_after_its_timeout_on_a_server_that_never_answers() {
    let cases = [
        (false, Some("1s"), Duration::from_secs(1)),
        (true, Some("1s"), Duration::from_secs(1)),
        (false, None, Duration::from_secs(3)),
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(drip, timeout, expected)| {
            std::thread::spawn(move || {
                let address = never_answering_server(drip).to_string();
                let mut args = Vec::new();
                if let Some(timeout) = timeout {
                    args.extend(["--timeout", timeout]);
                }
                let started = Instant::now();
                let output = healthcheck(&address, &args);
                (drip, expected, started.elapsed(), output)
            })
        })
        .collect();
    for run in runs {
        let (drip, expected, took, output) = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "drip={drip}: {stderr}");
        assert!(
            stderr.contains("no complete answer"),
            "drip={drip}: {stderr}"
        );
        assert!(
            took >= expected && took < expected + Duration::from_secs(10),
            "drip={drip}: gave up after {took:?}, the timeout is {expected:?}"
        );
    }
}

#[test]
fn a_listen_address_that_cannot_be_bound_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    write(&file, &policy_yaml("orders", "orders", "orders", ""));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (a, taken)).unwrap();
    let run = |listen: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"))
            .args(["run", "--listen", listen, "--policies"])
            .arg(&file)
            // Never reached: binding comes before any AWS call.
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env_remove("BACKLOG_SCALER_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run starts");
        // Should it bind after all, it would run until killed.
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };

    let in_use = run(&taken.0.to_string());
    let stderr = String::from_utf8_lossy(&in_use.stderr);
    assert_eq!(in_use.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: --listen: cannot serve /healthz, /readyz and /metrics: cannot listen on {}: ",
            taken.0
        )),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("in use"), "{stderr}");

    // An address of no interface of this host (TEST-NET-1).
    let foreign = run("192.0.2.1:9090");
    let stderr = String::from_utf8_lossy(&foreign.stderr);
    assert_eq!(foreign.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot listen on 192.0.2.1:9090"),
        "{stderr}"
    );

    // Not an address at all: a usage error, as for every malformed flag.
    let garbage = run("localhost");
    let stderr = String::from_utf8_lossy(&garbage.stderr);
    assert_eq!(garbage.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
}

/// Remounts, in a private mount namespace, every writable mount read-only
/// (but `/proc`, `/sys` and `/dev`, as a container runtime leaves them),
/// then runs the command: what `docker run --read-only` gives the binary.
const READ_ONLY_ROOT: &str = r#"set -e
while read -r _ target _ options _; do
  case "$target" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  case "$options" in rw|rw,*) mount -o remount,bind,ro "$target" ;; esac
done < /proc/self/mounts
exec "$@""#;

/// `command` wrapped to run on a read-only root file system, where this
/// machine allows private mount namespaces (root, or CAP_SYS_ADMIN); `None`
/// where it does not.
fn on_read_only_root(command: &Command) -> Option<Command> {
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", READ_ONLY_ROOT, "sh", "sh", "-c"])
        .arg("! touch /.backlog-scaler-probe 2>/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        return None;
    }
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["-m", "sh", "-c", READ_ONLY_ROOT, "sh"])
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Some(wrapped)
}

/// Every path under `root`, for "nothing was written here".
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

#[cfg(unix)]
fn set_mode(path: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { dir_mode } else { file_mode };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A read-only world for the binary: its working directory, `HOME` and
/// `TMPDIR` are read-only directories (0555, files 0444) of one temporary
/// root, so a write relative to any of them would show up there, even for
/// root, who ignores the mode bits; and the whole root file system is
/// read-only where the machine allows it.
#[cfg(unix)]
struct ReadOnlyWorld {
    root: tempfile::TempDir,
}

#[cfg(unix)]
impl ReadOnlyWorld {
    fn new() -> ReadOnlyWorld {
        let root = tempfile::tempdir().unwrap();
        for dir in ["cwd", "home", "tmp"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        ReadOnlyWorld { root }
    }

    fn path(&self) -> &Path {
        self.root.path()
    }

    /// Makes everything under the root read-only and returns the command
    /// for `args`, run in the read-only directories (the root file system
    /// as it is).
    fn command(&self, moto: &Moto, args: &[&str]) -> Command {
        for path in tree(self.path()) {
            set_mode(&path, 0o555, 0o444);
        }
        set_mode(self.path(), 0o555, 0o444);
        let mut command = aws::binary(moto);
        command
            .args(args)
            .current_dir(self.path().join("cwd"))
            .env("HOME", self.path().join("home"))
            .env("TMPDIR", self.path().join("tmp"));
        command
    }

    /// As [`ReadOnlyWorld::command`], on a read-only root file system too.
    /// Panics where this machine refuses a private mount namespace: the
    /// test that needs one is `#[ignore]`d and run by
    /// `scripts/test.d/read-only-root.sh`, which reports it as skipped there
    /// instead of letting it pass without the property it names.
    fn command_on_read_only_root(&self, moto: &Moto, args: &[&str]) -> Command {
        let command = self.command(moto, args);
        on_read_only_root(&command).expect(
            "a private mount namespace (`unshare -m`) for a read-only root; \
             scripts/test.d/read-only-root.sh skips this test where there is none",
        )
    }
}

/// Writable again, so that a user who is not root can remove it.
#[cfg(unix)]
impl Drop for ReadOnlyWorld {
    fn drop(&mut self) {
        set_mode(self.path(), 0o755, 0o644);
        for path in tree(self.path()) {
            set_mode(&path, 0o755, 0o644);
        }
    }
}

/// Needs `unshare -m` (root or CAP_SYS_ADMIN): run by
/// `scripts/test.d/read-only-root.sh`, which reports a skip where it is
/// refused.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a private mount namespace; run by scripts/test.d/read-only-root.sh"]
async fn runs_from_a_read_only_policy_directory_on_a_read_only_root() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;
    let world = ReadOnlyWorld::new();
    let policies = world.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write(
        &policies.join("orders.yaml"),
        &policy_yaml("orders", "orders", "orders", ""),
    );
    let policies_arg = policies.to_str().unwrap().to_owned();
    let command = world.command_on_read_only_root(
        &moto,
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--policies",
            &policies_arg,
        ],
    );
    let before = tree(world.path());

    let mut binary = Binary::spawn(command);
    let address = binary.endpoints_address().await;
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;
    eventually(Duration::from_secs(20), "ready", || {
        std::future::ready(get(address, "/readyz").status == 200)
    })
    .await;
    // SIGHUP reloads from the read-only directory.
    binary.signal("HUP");
    binary
        .wait_for_log("unchanged=1", Duration::from_secs(10))
        .await;
    binary.signal("TERM");
    let status = binary.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", binary.log());

    let stderr = binary.log();
    assert!(!stderr.contains("Read-only file system"), "{stderr}");
    assert!(!stderr.contains(" ERROR "), "{stderr}");
    assert_eq!(tree(world.path()), before, "nothing written");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_from_the_environment_variable() {
    let moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster(CLUSTER).await;
    aws.seed("orders", 30, CLUSTER, "orders", 1).await;
    aws.seed("billing", 40, CLUSTER, "billing", 1).await;
    let yaml = [
        policy_yaml("orders", "orders", "orders", ""),
        policy_yaml("billing", "billing", "billing", ""),
    ]
    .join("---\n");

    // `plan` reads the variable.
    let plan = aws::binary(&moto)
        .env("BACKLOG_SCALER_POLICIES", &yaml)
        .args(["plan", "--json"])
        .output()
        .expect("plan runs");
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders", "billing"]);
    assert_eq!(rows[0]["proposed"], 3);

    // `run` too, from a read-only working directory that has no
    // `policies` directory: the variable is all there is.
    let world = ReadOnlyWorld::new();
    let mut command = world.command(&moto, &["run", "--listen", "127.0.0.1:0"]);
    command.env("BACKLOG_SCALER_POLICIES", &yaml);
    let before = tree(world.path());
    let mut binary = Binary::spawn(command);
    let address = binary.endpoints_address().await;
    wait_for_desired(&aws, "orders", 3, Duration::from_secs(20)).await;
    wait_for_desired(&aws, "billing", 4, Duration::from_secs(20)).await;
    assert!(binary.log().contains("source=$BACKLOG_SCALER_POLICIES"));

    // Nothing to reload from: SIGHUP says to restart, and changes nothing.
    binary.signal("HUP");
    binary
        .wait_for_log("restart it to apply new policies", Duration::from_secs(10))
        .await;
    let health = get(address, "/healthz");
    assert_eq!(health.status, 200, "still running");
    let metrics = get(address, "/metrics").body;
    assert_eq!(
        sample(
            &metrics,
            r#"backlog_scaler_config_reloads_total{result="ok"}"#
        ),
        Some(0.0)
    );
    binary.signal("TERM");
    let status = binary.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", binary.log());
    assert_eq!(tree(world.path()), before, "nothing written");

    // An invalid variable: exit 1, every error located in the variable.
    let invalid = aws::binary(&moto)
        .env("BACKLOG_SCALER_POLICIES", "name: orders\nmax_taks: 3\n")
        .args(["run", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run runs");
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert_eq!(invalid.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("$BACKLOG_SCALER_POLICIES:2:1: error: policy 'orders': max_taks"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: $BACKLOG_SCALER_POLICIES has "),
        "{stderr}"
    );
}
