//! The controller under injected AWS faults: the real loop, in process,
//! talking to moto through a fault-injecting proxy (`support/fault_proxy.rs`)
//! that throttles, fails, slows, hangs, drops or garbles chosen operations
//! for chosen resources while a test says so.
//!
//! What is asserted (the "Faults" list of issue 6):
//! - no panic and no stuck policy; each fault shows up in the logs and in
//!   `backlog_scaler_aws_api_errors_total` with its kind;
//! - fail static: while a policy cannot observe (or cannot write), the
//!   service's desired count in the emulator does not move;
//! - throttled `UpdateService` calls are retried with backoff and jitter,
//!   every attempt under the client rate limit;
//! - recovery: decisions resume within two poll intervals of the fault
//!   ending and reach what a fault-free control policy reached;
//! - a fault on one policy's queue or service leaves the others on schedule;
//! - the emulator restarting empty makes policies report the missing
//!   resources and hold, and they recover when the resources come back.
//!
//! Every wait polls a condition until a deadline; figures measured (recovery
//! times, request spacing) are printed for RELIABILITY.md.

#[path = "support/aws.rs"]
mod aws;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws::{eventually, sdk_config, Aws, Recorder};
use backlog_scaler::aws::{
    ApiCalls, AwsPorts, AwsSettings, Backoff, DynamoLeaseStore, EcsServices, RateLimiter, SqsQueues,
};
use backlog_scaler::controller::{
    Controller, ControllerConfig, Evaluation, PolicyUpdate, WriteOutcome,
};
use backlog_scaler::lease::{LeaseKeeper, LeaseTiming};
use backlog_scaler::policy::{BacklogTarget, Policy};
use backlog_scaler::ports::ErrorKind;
use backlog_scaler::telemetry::Telemetry;
use fault_proxy::{Fault, FaultProxy};
use moto::Moto;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// Logs: one subscriber for the whole test binary, into a buffer
// ---------------------------------------------------------------------------

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(bytes);
        if std::env::var_os("FAULTS_LOG").is_some() {
            let _ = std::io::stderr().write_all(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("info,backlog_scaler=debug")
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

/// Log lines that mention every one of `parts`. Tests use policy names of
/// their own, so they can share the buffer.
fn log_lines(parts: &[&str]) -> Vec<String> {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------

/// 10 messages per task, 1..=50 tasks, every second, scale-out at once and
/// never in (so each phase only adds work).
fn policy(name: &str, queue: &str, cluster: &str, service: &str) -> Policy {
    let mut policy = Policy::with_defaults(name, cluster, service, queue);
    policy.target = BacklogTarget::BacklogPerTask(10.0);
    policy.min_tasks = 1;
    policy.max_tasks = 50;
    policy.poll_interval = INTERVAL;
    policy.scale_in.stabilization_window = Duration::from_secs(3600);
    policy
}

fn short_timeouts() -> AwsSettings {
    AwsSettings {
        connect_timeout: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(3),
        ..AwsSettings::default()
    }
}

struct Live {
    recorder: Arc<Recorder>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Live {
    fn start(aws: &AwsPorts, policies: Vec<Policy>, namespace_flush: Option<Duration>) -> Live {
        let recorder = Arc::new(Recorder::default());
        let (_, reloads) = mpsc::channel::<PolicyUpdate>(1);
        let (shutdown, stop) = oneshot::channel::<()>();
        let config = ControllerConfig {
            metrics_flush_interval: namespace_flush.unwrap_or(Duration::from_secs(15)),
            ..ControllerConfig::default()
        };
        let controller = Controller::new(config, aws.ports()).with_observer(recorder.clone());
        let task = tokio::spawn(controller.run(policies, reloads, async {
            let _ = stop.await;
        }));
        Live {
            recorder,
            shutdown,
            task,
        }
    }

    /// Stop, and fail the test if the controller panicked or would not stop.
    async fn stop(self) -> Arc<Recorder> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the controller stops")
            .expect("the controller does not panic");
        self.recorder
    }
}

fn api_errors(telemetry: &Telemetry, operation: &str, kind: &str) -> f64 {
    let series =
        format!("backlog_scaler_aws_api_errors_total{{operation=\"{operation}\",kind=\"{kind}\"}}");
    telemetry
        .metrics
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Every proxy test's start: logs captured, an emulator of its own, the
/// fault proxy in front of it, and clients to seed it directly.
async fn start_emulator_behind_proxy() -> (Moto, FaultProxy, Aws) {
    capture_logs();
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port()).await;
    let aws = Aws::new(&moto).await;
    (moto, proxy, aws)
}

fn since(time: SystemTime, start: SystemTime) -> Duration {
    time.duration_since(start).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The proxy itself answers in each protocol's own terms
// ---------------------------------------------------------------------------

/// The SDK reads each injected fault as AWS's own: the error codes the
/// controller's classifier knows, from each protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_speaks_each_protocols_errors() {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port()).await;
    let settings = AwsSettings {
        max_attempts: 1,
        ..short_timeouts()
    };
    let config = sdk_config(&proxy.endpoint(), settings).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let sqs_code = || async {
        let error = sqs
            .get_queue_url()
            .queue_name("q")
            .send()
            .await
            .unwrap_err();
        (
            error.code().map(str::to_owned),
            error.raw_response().map(|r| r.status().as_u16()),
        )
    };
    // A DescribeServices call that the injected fault makes fail.
    let ecs_error = || async {
        ecs.describe_services()
            .cluster("c")
            .services("s")
            .send()
            .await
            .unwrap_err()
    };
    let ecs_code = || async {
        let error = ecs_error().await;
        (
            error.code().map(str::to_owned),
            error.raw_response().map(|r| r.status().as_u16()),
        )
    };

    // Throttling and server errors, in each protocol's own code and status.
    for (operation, fault, code, status) in [
        ("GetQueueUrl", Fault::Throttle, "RequestThrottled", 400),
        ("GetQueueUrl", Fault::Status(503), "ServiceUnavailable", 503),
        (
            "DescribeServices",
            Fault::Throttle,
            "ThrottlingException",
            400,
        ),
        (
            "DescribeServices",
            Fault::Status(500),
            "InternalFailure",
            500,
        ),
    ] {
        proxy.inject(operation, fault);
        let answer = match operation {
            "GetQueueUrl" => sqs_code().await,
            _ => ecs_code().await,
        };
        assert_eq!(answer, (Some(code.into()), Some(status)), "{operation}");
        proxy.clear();
    }
    // Unreadable, dropped and unanswered calls: each its own SDK error.
    type DescribeError = aws_sdk_ecs::error::SdkError<
        aws_sdk_ecs::operation::describe_services::DescribeServicesError,
    >;
    type Expected = fn(&DescribeError) -> bool;
    let failures: [(Fault, &str, Expected); 3] = [
        (Fault::Garbage, "a garbled answer is unreadable", |error| {
            matches!(error, aws_sdk_ecs::error::SdkError::ResponseError(_))
        }),
        (
            Fault::Drop,
            "a dropped connection is a dispatch failure",
            |error| matches!(error, aws_sdk_ecs::error::SdkError::DispatchFailure(_)),
        ),
        // The read timeout (a dispatch failure of kind timeout) or the
        // attempt timeout, whichever comes first: both are "unreachable".
        (
            Fault::Hang,
            "an unanswered call times out",
            |error| match error {
                aws_sdk_ecs::error::SdkError::TimeoutError(_) => true,
                aws_sdk_ecs::error::SdkError::DispatchFailure(failure) => failure.is_timeout(),
                _ => false,
            },
        ),
    ];
    for (fault, what, expected) in failures {
        proxy.inject("DescribeServices", fault);
        let error = ecs_error().await;
        assert!(expected(&error), "{what}: {error:?}");
        proxy.clear();
    }

    proxy.inject("PutItem", Fault::Throttle);
    let error = dynamodb
        .put_item()
        .table_name("lease")
        .item("id", aws_sdk_dynamodb::types::AttributeValue::S("x".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ThrottlingException"));
    proxy.clear();

    proxy.inject("PutMetricData", Fault::Throttle);
    let error = cloudwatch
        .put_metric_data()
        .namespace("Faults")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("m")
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("Throttling"));
    proxy.clear();

    // Without a fault, calls pass through to the emulator.
    let error = sqs
        .get_queue_url()
        .queue_name("q")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.code(),
            Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
        ),
        "{error:?}"
    );
    for operation in [
        "GetQueueUrl",
        "DescribeServices",
        "PutItem",
        "PutMetricData",
    ] {
        assert!(proxy.count(operation) >= 1, "{operation} counted");
    }
}

// ---------------------------------------------------------------------------
// Every fault in turn: hold while it lasts, recover within two intervals
// ---------------------------------------------------------------------------

/// Where a phase's fault applies: the victim's queue or its cluster.
#[derive(Clone, Copy)]
enum On {
    Queue,
    Cluster,
}

/// A victim policy and a control policy see the same work arrive; each
/// phase injects one fault on the victim's queue or service, adds work, and
/// checks that the victim holds (its desired count unchanged in the
/// emulator, the fault's kind in its evaluations, logs and metrics) while the
/// control scales; then clears the fault and checks that the victim catches
/// up with the control within two poll intervals. `prefix` names the
/// policies (each test its own, as they share the log buffer).
async fn run_phases(prefix: &str, phases: &[(&'static str, On, Fault, ErrorKind)]) {
    let (_moto, proxy, aws) = start_emulator_behind_proxy().await;
    let (victim, control) = (format!("{prefix}-victim"), format!("{prefix}-control"));
    aws.create_cluster(&control).await;
    aws.create_cluster(&victim).await;
    aws.seed(&control, 10, &control, "worker", 1).await;
    aws.seed(&victim, 10, &victim, "worker", 1).await;

    let telemetry = Telemetry::default();
    let calls = Arc::new(ApiCalls::with_listener(telemetry.call_listener()));
    let config = sdk_config(&proxy.endpoint(), short_timeouts()).await;
    let ports = AwsPorts::with_calls(&config, Some("Faults".into()), calls);
    // CloudWatch publishing (query protocol) is throttled for the first
    // phases: decisions must not care.
    proxy.inject("PutMetricData", Fault::Throttle);
    let with_zero_tolerance = |mut policy: Policy| {
        // Every added task's worth of work is a change to make.
        policy.tolerance = 0.0;
        policy
    };
    let live = Live::start(
        &ports,
        vec![
            with_zero_tolerance(policy(&control, &control, &control, "worker")),
            with_zero_tolerance(policy(&victim, &victim, &victim, "worker")),
        ],
        Some(Duration::from_secs(1)),
    );
    eventually(Duration::from_secs(20), "first evaluations", || async {
        !live.recorder.of(&victim).is_empty() && !live.recorder.of(&control).is_empty()
    })
    .await;

    let queue_needle = format!("/{victim}");
    let cluster_needle = format!(r#""cluster":"{victim}""#);
    let victim_label = format!("policy={victim} ");
    let mut expected = 1;
    let mut recoveries = Vec::new();
    for (i, (operation, on, fault, kind)) in phases.iter().enumerate() {
        let what = format!("{} on {operation}", fault.name());
        let held = aws.desired(&victim, "worker").await;
        assert_eq!(held, expected, "{what}: the victim starts level");
        let label = format!("error_kind={kind}");
        let log_parts = [victim_label.as_str(), label.as_str(), operation];
        let lines_before = log_lines(&log_parts).len();
        let needle = match on {
            On::Queue => &queue_needle,
            On::Cluster => &cluster_needle,
        };
        let errors_before = api_errors(&telemetry, operation, kind.as_str());
        proxy.inject_matching(operation, needle, fault.clone());
        let injected = SystemTime::now();
        let failed = || {
            live.recorder
                .of(&victim)
                .into_iter()
                .filter(|e| since(e.wall_time, injected) > Duration::ZERO)
                .filter(|e| e.error().map(|e| e.kind()) == Some(*kind))
                .count()
        };
        // Work arrives at both.
        aws.send(&control, 20).await;
        aws.send(&victim, 20).await;
        expected += 2;
        eventually(
            Duration::from_secs(20),
            &format!("{what}: control scales"),
            || async { aws.desired(&control, "worker").await == expected },
        )
        .await;
        eventually(
            Duration::from_secs(30),
            &format!("{what}: two failures"),
            || async { failed() >= 2 },
        )
        .await;
        // Fail static: not a single write while blind (or refused).
        assert_eq!(aws.desired(&victim, "worker").await, held, "{what}: held");
        let errors = api_errors(&telemetry, operation, kind.as_str()) - errors_before;
        assert!(errors >= 2.0, "{what}: the metric counted {errors}");
        let lines = log_lines(&log_parts).len();
        assert!(lines > lines_before, "{what}: no new log line with {label}");

        proxy.clear();
        if i == 1 {
            // Publishing was throttled until now; it works again below.
            assert!(api_errors(&telemetry, "PutMetricData", "throttled") >= 1.0);
        }
        let cleared = SystemTime::now();
        eventually(
            Duration::from_secs(20),
            &format!("{what}: recovery"),
            || async { aws.desired(&victim, "worker").await == expected },
        )
        .await;
        let converged = since(SystemTime::now(), cleared);
        // The evaluation that wrote it is recorded once it has ended.
        eventually(
            Duration::from_secs(10),
            &format!("{what}: recorded"),
            || async {
                live.recorder
                    .of(&victim)
                    .last()
                    .is_some_and(|e| e.error().is_none())
            },
        )
        .await;
        let evaluations = live.recorder.of(&victim);
        // The first evaluation that worked after the fault: it may have
        // started just before the clear (a retry inside it got through).
        let first_ok = evaluations
            .iter()
            .rev()
            .take_while(|e| e.error().is_none())
            .last()
            .expect("a successful evaluation");
        let resumed = since(first_ok.wall_time, cleared);
        // A call hung at the moment of the clear still runs to its timeout
        // (3 s here) before the next evaluation starts.
        let allowance = if *fault == Fault::Hang {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        // The promise is two intervals; the slack on top (1.5 s, 4 s to
        // converge) is for a machine where dozens of Python emulators share
        // two cores and a poll can start late. It stays well below what a
        // policy still backing off would take (the backoff alone caps at
        // two intervals more).
        assert!(
            resumed <= 2 * INTERVAL + allowance + Duration::from_millis(1500),
            "{what}: decisions resumed {resumed:?} after the fault ended"
        );
        assert!(
            converged <= 2 * INTERVAL + allowance + Duration::from_secs(4),
            "{what}: converged {converged:?} after the fault ended"
        );
        assert_eq!(aws.desired(&control, "worker").await, expected);
        println!("{prefix}: {what}: resumed after {resumed:?}, converged after {converged:?}");
        recoveries.push((what, resumed, converged));
    }

    // Publishing recovered, the victim logged its recoveries, nobody panicked.
    eventually(
        Duration::from_secs(10),
        "PutMetricData works again",
        || async {
            proxy
                .requests("PutMetricData")
                .last()
                .is_some_and(|r| r.fault.is_none())
        },
    )
    .await;
    assert!(!log_lines(&[victim_label.as_str(), "recovered after"]).is_empty());
    let recorder = live.stop().await;
    let control = recorder.of(&control);
    assert!(
        control.iter().all(|e| e.error().is_none()),
        "control never failed"
    );
    let worst = recoveries.iter().map(|r| r.2).max().unwrap();
    println!(
        "{prefix}: worst convergence {worst:?} over {} faults",
        recoveries.len()
    );
}

/// SQS's side: throttling, 500, 503, dropped connections, garbled and
/// unanswered `GetQueueAttributes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_faults_hold_the_policy_and_it_recovers_within_two_intervals() {
    run_phases(
        "sqs",
        &[
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Throttle,
                ErrorKind::Throttled,
            ),
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Status(500),
                ErrorKind::Other,
            ),
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Status(503),
                ErrorKind::Unreachable,
            ),
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Drop,
                ErrorKind::Unreachable,
            ),
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Garbage,
                ErrorKind::Other,
            ),
            (
                "GetQueueAttributes",
                On::Queue,
                Fault::Hang,
                ErrorKind::Unreachable,
            ),
        ],
    )
    .await;
}

/// ECS's side: throttled, dropped and garbled `DescribeServices`; throttled
/// and failing `UpdateService` (the decision is made, the write fails, the
/// count holds until the write works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_faults_hold_the_policy_and_it_recovers_within_two_intervals() {
    run_phases(
        "ecs",
        &[
            (
                "DescribeServices",
                On::Cluster,
                Fault::Throttle,
                ErrorKind::Throttled,
            ),
            (
                "DescribeServices",
                On::Cluster,
                Fault::Status(503),
                ErrorKind::Unreachable,
            ),
            (
                "DescribeServices",
                On::Cluster,
                Fault::Drop,
                ErrorKind::Unreachable,
            ),
            (
                "DescribeServices",
                On::Cluster,
                Fault::Garbage,
                ErrorKind::Other,
            ),
            (
                "UpdateService",
                On::Cluster,
                Fault::Throttle,
                ErrorKind::Throttled,
            ),
            (
                "UpdateService",
                On::Cluster,
                Fault::Status(500),
                ErrorKind::Other,
            ),
        ],
    )
    .await;
}

// ---------------------------------------------------------------------------
// One policy's fault does not delay the others
// ---------------------------------------------------------------------------

/// One policy's queue never answers, another's answers slower than its
/// interval, a third's cluster answers 503: the healthy policies keep their
/// one-second schedule throughout, and the failing ones hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_one_policys_queue_or_service_leaves_the_others_on_schedule() {
    let (_moto, proxy, aws) = start_emulator_behind_proxy().await;
    aws.create_cluster("iso").await;
    aws.create_cluster("iso-down").await;
    for name in ["iso-ok-1", "iso-ok-2", "iso-hang", "iso-slow"] {
        aws.seed(name, 30, "iso", name, 1).await;
    }
    aws.seed("iso-down", 30, "iso-down", "iso-down", 1).await;

    proxy.inject_matching("GetQueueAttributes", "iso-hang", Fault::Hang);
    proxy.inject_matching(
        "GetQueueAttributes",
        "iso-slow",
        Fault::Delay(2500 * INTERVAL / 1000),
    );
    proxy.inject_matching(
        "DescribeServices",
        r#""cluster":"iso-down""#,
        Fault::Status(503),
    );
    // The production timeouts: a hung call is given up after 12 s.
    let config = sdk_config(&proxy.endpoint(), AwsSettings::default()).await;
    let ports = AwsPorts::new(&config, None);
    let names = ["iso-ok-1", "iso-ok-2", "iso-hang", "iso-slow", "iso-down"];
    let policies = names
        .iter()
        .map(|&name| {
            policy(
                name,
                name,
                if name == "iso-down" {
                    "iso-down"
                } else {
                    "iso"
                },
                name,
            )
        })
        .collect();
    let start = SystemTime::now();
    let live = Live::start(&ports, policies, None);
    let window = Duration::from_secs(8);
    eventually(
        window + Duration::from_secs(10),
        "the observation window",
        || async {
            live.recorder
                .of("iso-ok-2")
                .iter()
                .any(|e| since(e.wall_time, start) >= window)
        },
    )
    .await;
    let recorder = live.stop().await;

    let mut worst_gap = Duration::ZERO;
    for name in ["iso-ok-1", "iso-ok-2"] {
        let evaluations: Vec<Evaluation> = recorder
            .of(name)
            .into_iter()
            .filter(|e| since(e.wall_time, start) <= window)
            .collect();
        assert!(
            evaluations.iter().all(|e| e.error().is_none()),
            "{name} never failed"
        );
        // 8 on schedule; at least 5, more than a policy waiting on the
        // slow one's 2.5 s answers could make (4).
        assert!(
            evaluations.len() >= 5,
            "{name}: {} evaluations in 8 s",
            evaluations.len()
        );
        // The bounds are what rules out waiting on the faulty policies,
        // not how punctual a loaded machine is: the slow policy's answers
        // take 2.5 s and the hung one's 12 s, so a healthy policy held up
        // by either would start later than 2 s or leave a gap of 2.5 s or
        // more. Below those, the slack is for a busy machine.
        let first = since(evaluations[0].wall_time, start);
        assert!(first < Duration::from_secs(2), "{name} first at {first:?}");
        for pair in evaluations.windows(2) {
            let gap = pair[1].wall_time.duration_since(pair[0].wall_time).unwrap();
            worst_gap = worst_gap.max(gap);
            assert!(
                gap <= INTERVAL + Duration::from_millis(1200),
                "{name}: a gap of {gap:?}"
            );
        }
        assert_eq!(aws.desired("iso", name).await, 3, "{name} scaled");
    }
    // The hung one never finished an evaluation (its calls give up at
    // 12 s); the 503 one failed as unreachable; both held. The slow one
    // worked, once per 2.5 s answer.
    assert!(recorder.of("iso-hang").iter().all(|e| e.error().is_some()));
    assert!(proxy
        .requests("GetQueueAttributes")
        .iter()
        .any(|r| r.fault == Some(Fault::Hang)));
    assert_eq!(aws.desired("iso", "iso-hang").await, 1);
    let down = recorder.of("iso-down");
    assert!(down.len() >= 2);
    assert!(down
        .iter()
        .all(|e| e.error().map(|e| e.kind()) == Some(ErrorKind::Unreachable)));
    assert_eq!(aws.desired("iso-down", "iso-down").await, 1);
    let slow = recorder.of("iso-slow");
    assert!(!slow.is_empty() && slow.iter().all(|e| e.error().is_none()));
    assert!(slow[0].duration >= Duration::from_secs(2));
    println!(
        "healthy policies: worst gap {worst_gap:?}; slow policy: {} evaluations, hung: {}",
        slow.len(),
        recorder.of("iso-hang").len()
    );
}

// ---------------------------------------------------------------------------
// Throttled UpdateService: retried with backoff and jitter, under the limit
// ---------------------------------------------------------------------------

/// Four policies all want to scale while `UpdateService` is throttled (until
/// each has been refused twice), with the write limit tightened to 2 per second (burst 2) so
/// retries would break it if they bypassed it. Every request the API sees is
/// one of ours (the SDK does not retry on its own), none breaks the limit,
/// retries are spaced by jittered backoff, the desired counts hold until
/// the throttling ends and then all converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_update_service_is_retried_with_backoff_within_the_rate_limit() {
    let (_moto, proxy, aws) = start_emulator_behind_proxy().await;
    aws.create_cluster("writes").await;
    let names = ["w-1", "w-2", "w-3", "w-4"];
    for name in names {
        aws.seed(name, 50, "writes", name, 1).await;
    }
    let (rate, burst) = (TIGHT_RATE, TIGHT_BURST);
    let ports = ports_with_ecs_limits(
        &proxy,
        RateLimiter::ecs_describe_services(),
        RateLimiter::new(rate, burst),
    )
    .await;
    let calls = ports.calls.clone();
    // Throttled until every policy has been refused at least twice (the
    // policies share the limiter, so who gets a token when varies).
    proxy.inject("UpdateService", Fault::Throttle);
    let throttled_for = |name: &str| {
        let needle = format!(r#""service":"{name}""#);
        proxy
            .requests("UpdateService")
            .iter()
            .filter(|r| r.fault.is_some() && r.body.contains(&needle))
            .count()
    };
    let policies = names.iter().map(|&n| policy(n, n, "writes", n)).collect();
    let started = Instant::now();
    let live = Live::start(&ports, policies, None);
    eventually(
        Duration::from_secs(30),
        "every policy refused twice",
        || async { names.iter().all(|name| throttled_for(name) >= 2) },
    )
    .await;
    proxy.clear();
    let throttled_until = Instant::now();
    let throttle = throttled_until - started;
    let throttle_end = SystemTime::now();
    for name in names {
        eventually(
            Duration::from_secs(30),
            &format!("{name} scaled"),
            || async { aws.desired("writes", name).await == 5 },
        )
        .await;
    }
    let converged = since(SystemTime::now(), throttle_end);
    let recorder = live.stop().await;

    let requests = proxy.requests("UpdateService");
    // Every request the API saw was an attempt of ours, counted and under
    // the limiter: no hidden SDK retries.
    assert_eq!(requests.len() as u64, calls.total("UpdateService"));
    // Each write names the service and sends the new count, nothing else:
    // no task definition, deployment or placement field that would roll
    // the service's tasks (docs/operations.md, permissions).
    for request in &requests {
        let body: serde_json::Value = serde_json::from_str(&request.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", request.body));
        let keys: std::collections::BTreeSet<&str> = body
            .as_object()
            .expect("a JSON object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["cluster", "desiredCount", "service"].into_iter().collect(),
            "{}",
            request.body
        );
    }
    let throttled: Vec<_> = requests.iter().filter(|r| r.fault.is_some()).collect();
    assert!(
        throttled.len() >= 6,
        "{} throttled attempts",
        throttled.len()
    );
    assert!(requests
        .iter()
        .all(|r| r.fault.is_none() || r.at <= throttled_until));
    assert_within_token_bucket(&requests, rate, burst);
    // Each policy retried, and the waits between its attempts were drawn
    // (full jitter), not fixed. The waits are drawn by the controller (its
    // retry log says which); on the wire, each retry reached the API at
    // least its wait after the refused attempt before it (the shared 2/s
    // limiter may add more, never less).
    let mut waits = Vec::new();
    for name in names {
        let needle = format!(r#""service":"{name}""#);
        let attempts = throttled
            .iter()
            .filter(|r| r.body.contains(&needle))
            .count();
        assert!(attempts >= 2, "{name} retried: {attempts} attempts");
        let service = format!(r#"service="{name}""#);
        let retries = logged_retries(&[&service], &Backoff::UPDATE_SERVICE);
        let sent: Vec<&fault_proxy::Seen> = requests
            .iter()
            .filter(|r| r.body.contains(&needle))
            .collect();
        assert_retries_waited_on_the_wire(name, &sent, &retries);
        waits.extend(retries.iter().map(|&(_, wait)| wait));
    }
    assert!(waits.len() >= 4, "retry waits logged: {waits:?}");
    let distinct: std::collections::BTreeSet<u64> = waits.iter().copied().collect();
    assert!(distinct.len() >= 3, "jittered waits: {waits:?}");
    waits.sort();
    // Fail static: while the writes failed, the next observation still
    // found the old count.
    for name in names {
        let evaluations = recorder.of(name);
        for pair in evaluations.windows(2) {
            if let WriteOutcome::Failed { from, error, .. } = &pair[0].write {
                assert_eq!(error.kind(), ErrorKind::Throttled);
                // Only writes were throttled: the next read succeeds.
                let observation = pair[1]
                    .observation
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{name}: the read after a failed write: {e}"));
                assert_eq!(observation.service.desired, *from, "{name} held");
            }
        }
    }
    println!(
        "{} UpdateService requests ({} throttled in {throttle:?}); retry waits (ms) {waits:?}; \
         all converged {converged:?} after the throttling ended",
        requests.len(),
        throttled.len(),
    );
}

/// With a write limit too loose to matter, the backoff alone spaces a
/// throttled `UpdateService`'s attempts: each retry reaches the API at
/// least the wait the controller drew (and logged) after the refused
/// attempt before it. (Above, the tight limiter spaces them more.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_service_retries_wait_their_drawn_backoff_on_the_wire() {
    let (_moto, proxy, aws) = start_emulator_behind_proxy().await;
    aws.create_cluster("waits").await;
    aws.seed("waited", 50, "waits", "waited", 1).await;
    let ports = ports_with_ecs_limits(
        &proxy,
        RateLimiter::ecs_describe_services(),
        RateLimiter::new(1000.0, 1000),
    )
    .await;
    proxy.inject("UpdateService", Fault::Throttle);
    let live = Live::start(
        &ports,
        vec![policy("waited", "waited", "waits", "waited")],
        None,
    );
    let refused = || {
        proxy
            .requests("UpdateService")
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
    };
    eventually(Duration::from_secs(30), "six refused writes", || async {
        refused() >= 6
    })
    .await;
    proxy.clear();
    eventually(Duration::from_secs(30), "scaled", || async {
        aws.desired("waits", "waited").await == 5
    })
    .await;
    live.stop().await;

    let sent = proxy.requests("UpdateService");
    let sent: Vec<&fault_proxy::Seen> = sent.iter().collect();
    let retries = logged_retries(&[r#"service="waited""#], &Backoff::UPDATE_SERVICE);
    assert!(retries.len() >= 3, "retries logged: {retries:?}");
    assert_retries_waited_on_the_wire("waited", &sent, &retries);
}

/// Ports through `proxy`, with the production SDK settings, whose ECS calls
/// go through the given limiters; their call counters are `ports.calls`.
async fn ports_with_ecs_limits(
    proxy: &FaultProxy,
    describe_limit: RateLimiter,
    update_limit: RateLimiter,
) -> AwsPorts {
    let config = &sdk_config(&proxy.endpoint(), AwsSettings::default()).await;
    let calls = Arc::new(ApiCalls::new());
    AwsPorts {
        sqs: Arc::new(SqsQueues::new(
            aws_sdk_sqs::Client::new(config),
            calls.clone(),
        )),
        ecs: Arc::new(EcsServices::with_limits(
            aws_sdk_ecs::Client::new(config),
            calls.clone(),
            Arc::new(describe_limit),
            Arc::new(update_limit),
        )),
        cloudwatch: None,
        calls,
    }
}

/// The limit the rate-limiter tests tighten an ECS call to: 2 a second,
/// a burst of 2.
const TIGHT_RATE: f64 = 2.0;
const TIGHT_BURST: u32 = 2;

/// Pairs each logged retry of one service with the requests that reached
/// the API: a refused attempt `n` that was retried (logged with
/// `attempt=n`) is followed by the retry, at least the logged wait later;
/// one that was not (the last attempt, or a success) is followed by a new
/// evaluation's first attempt. Every logged retry must be matched.
fn assert_retries_waited_on_the_wire(
    name: &str,
    sent: &[&fault_proxy::Seen],
    retries: &[(u64, u64)],
) {
    let mut pending = retries.iter().peekable();
    let mut attempt = 1;
    for pair in sent.windows(2) {
        let refused = pair[0].fault.is_some();
        match pending.peek() {
            Some(&&(logged, wait)) if refused && logged == attempt => {
                let gap = pair[1].at.duration_since(pair[0].at);
                // 5 ms for the two ends' clocks and the loopback.
                assert!(
                    gap + Duration::from_millis(5) >= Duration::from_millis(wait),
                    "{name}: attempt {} sent {gap:?} after attempt {attempt}, whose retry waits {wait} ms",
                    attempt + 1
                );
                pending.next();
                attempt += 1;
            }
            _ => attempt = 1,
        }
    }
    assert!(
        pending.next().is_none(),
        "{name}: logged retries {retries:?} not all seen on the wire"
    );
}

/// The (attempt, wait in ms) of the controller's retries logged with every
/// one of `parts`, in order.
fn logged_retries(parts: &[&str], backoff: &Backoff) -> Vec<(u64, u64)> {
    let mut needles = vec!["retrying after a transient error"];
    needles.extend_from_slice(parts);
    log_lines(&needles)
        .into_iter()
        .map(|line| {
            let field = |key: &str| -> u64 {
                let start = line.find(key).expect(key) + key.len();
                line[start..].split(' ').next().unwrap().parse().unwrap()
            };
            let (attempt, wait) = (field("attempt="), field("retry_in_ms="));
            let ceiling = backoff.ceiling(attempt as u32);
            assert!(wait as u128 <= ceiling.as_millis(), "{line}");
            (attempt, wait)
        })
        .collect()
}

/// The waits (ms) of the controller's retries logged with every one of
/// `parts`, each checked against its ceiling in `backoff`.
fn logged_retry_waits(parts: &[&str], backoff: &Backoff) -> Vec<u64> {
    logged_retries(parts, backoff)
        .into_iter()
        .map(|(_, wait)| wait)
        .collect()
}

/// The token bucket: the k-th request after any request comes at least
/// (k - burst) / rate later (50 ms for the loopback's own jitter).
fn assert_within_token_bucket(requests: &[fault_proxy::Seen], rate: f64, burst: u32) {
    let times: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    for (i, first) in times.iter().enumerate() {
        for (k, later) in times[i..].iter().enumerate().skip(burst as usize + 1) {
            let least = Duration::from_secs_f64((k - burst as usize) as f64 / rate);
            let took = later.duration_since(*first);
            assert!(
                took + Duration::from_millis(50) >= least,
                "{k} requests after #{i} within {took:?}, the limit allows {least:?}"
            );
        }
    }
}

/// Throttled `DescribeServices` is retried by the controller, each attempt
/// under the describe limiter: the API sees only attempts the controller
/// counted, never more than the limit allows, and the policies scale once
/// the throttling ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_services_retries_are_counted_and_under_the_limiter() {
    let (_moto, proxy, aws) = start_emulator_behind_proxy().await;
    let services = [("reads-a", "r-1"), ("reads-a", "r-2"), ("reads-b", "r-3")];
    for cluster in ["reads-a", "reads-b"] {
        aws.create_cluster(cluster).await;
    }
    for (cluster, name) in services {
        aws.seed(name, 50, cluster, name, 1).await;
    }
    let (rate, burst) = (TIGHT_RATE, TIGHT_BURST);
    let ports = ports_with_ecs_limits(
        &proxy,
        RateLimiter::new(rate, burst),
        RateLimiter::ecs_update_service(),
    )
    .await;
    let calls = ports.calls.clone();
    proxy.inject("DescribeServices", Fault::Throttle);
    let throttled = || {
        proxy
            .requests("DescribeServices")
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
    };
    let policies = services
        .iter()
        .map(|&(cluster, name)| policy(name, name, cluster, name))
        .collect();
    let live = Live::start(&ports, policies, None);
    eventually(Duration::from_secs(30), "six throttled reads", || async {
        throttled() >= 6
    })
    .await;
    proxy.clear();
    let throttled_until = Instant::now();
    for (cluster, name) in services {
        eventually(
            Duration::from_secs(30),
            &format!("{name} scaled"),
            || async { aws.desired(cluster, name).await == 5 },
        )
        .await;
    }
    live.stop().await;

    let requests = proxy.requests("DescribeServices");
    // Every request the API saw was an attempt of ours: no hidden SDK
    // retries.
    assert_eq!(requests.len() as u64, calls.total("DescribeServices"));
    assert!(requests
        .iter()
        .all(|r| r.fault.is_none() || r.at <= throttled_until));
    assert_within_token_bucket(&requests, rate, burst);
    // Retried by the controller in each cluster (they are read separately),
    // with drawn waits under their ceilings (checked as they are read),
    // and each logged retry followed a throttled request of that cluster
    // that reached the API.
    for cluster in ["reads-a", "reads-b"] {
        let span = format!(r#"describe_services{{cluster="{cluster}"}}"#);
        let waits = logged_retry_waits(&[&span], &Backoff::DESCRIBE_SERVICES);
        assert!(!waits.is_empty(), "no describe retry logged for {cluster}");
        let needle = format!(r#""cluster":"{cluster}""#);
        let seen = requests
            .iter()
            .filter(|r| r.fault.is_some() && r.body.contains(&needle))
            .count();
        assert!(
            seen >= waits.len(),
            "{cluster}: {seen} throttled requests reached the API for {} logged retries",
            waits.len()
        );
    }
}

// ---------------------------------------------------------------------------
// The lease under DynamoDB faults
// ---------------------------------------------------------------------------

/// Two replicas keep one lease: the holder reaches DynamoDB through the
/// proxy, the standby directly. For each fault on the holder's lease calls
/// (throttled, 500, never answered, dropped): the holder stops writing
/// before its lease expires, the standby takes over once it has expired and
/// not before, at no moment may both write, and once the fault ends the old
/// holder finds the new one and stays standby. "Write" is checked twice:
/// the gates, sampled every 5 ms, and the real `UpdateService` requests of
/// each replica's controller as they reach the API (all of the holder's
/// before the standby's first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_cannot_renew_stops_writing_before_the_standby_takes_over() {
    let (moto, proxy, aws) = start_emulator_behind_proxy().await;
    let table = "faults-lease";
    aws.create_lease_table(table).await;
    let timing = LeaseTiming {
        duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(500),
    };
    let dynamodb = |endpoint: String| async move {
        aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint, short_timeouts()).await)
    };
    let through_proxy = dynamodb(proxy.endpoint()).await;
    let direct = dynamodb(moto.endpoint()).await;
    let keeper = |client: &aws_sdk_dynamodb::Client, lease: &str, replica: &str| {
        let store = DynamoLeaseStore::new(client.clone(), table, lease);
        LeaseKeeper::new(Arc::new(store), replica, timing)
    };
    // Each replica also runs the real controller on one policy, gated by
    // its lease, with its AWS calls through a proxy of its own (a's is the
    // faulty one; only DynamoDB is faulted), so each one's UpdateService
    // requests are counted where they reach the API. The service is set
    // back to 1 every 200 ms while its queue wants 5, so the holder writes
    // at every evaluation.
    aws.create_cluster("leased").await;
    aws.seed("leased", 50, "leased", "leased", 1).await;
    let proxy_b = FaultProxy::start(moto.port()).await;
    let ports_a = AwsPorts::new(
        &sdk_config(&proxy.endpoint(), AwsSettings::default()).await,
        None,
    );
    let ports_b = AwsPorts::new(
        &sdk_config(&proxy_b.endpoint(), AwsSettings::default()).await,
        None,
    );
    let replica = |ports: &AwsPorts, gate: backlog_scaler::lease::WriteGate| {
        let (_, reloads) = mpsc::channel::<PolicyUpdate>(1);
        let (shutdown, stop) = oneshot::channel::<()>();
        let config = ControllerConfig {
            write_gate: Some(gate),
            ..ControllerConfig::default()
        };
        let policies = vec![policy("leased", "leased", "leased", "leased")];
        let task =
            tokio::spawn(
                Controller::new(config, ports.ports()).run(policies, reloads, async {
                    let _ = stop.await;
                }),
            );
        (shutdown, task)
    };
    let writes_since = |proxy: &FaultProxy, since: Instant| -> Vec<Instant> {
        proxy
            .requests("UpdateService")
            .iter()
            .filter(|r| r.at >= since && r.body.contains(r#""service":"leased""#))
            .map(|r| r.at)
            .collect()
    };
    for (fault, label) in [
        (Fault::Throttle, "throttled"),
        (Fault::Status(500), "500"),
        (Fault::Hang, "hang"),
        (Fault::Drop, "drop"),
    ] {
        let lease = format!("lease-{label}");
        let (a, b) = (format!("{lease}-a"), format!("{lease}-b"));
        let stop = CancellationToken::new();
        let holder = keeper(&through_proxy, &lease, &a);
        let gate_a = holder.gate();
        let task_a = tokio::spawn(holder.run(stop.clone()));
        eventually(Duration::from_secs(5), "a holds", || async {
            gate_a.may_write()
        })
        .await;
        let standby = keeper(&direct, &lease, &b);
        let gate_b = standby.gate();
        let task_b = tokio::spawn(standby.run(stop.clone()));
        eventually(Duration::from_secs(5), "b sees a", || async {
            gate_b.holder().as_deref() == Some(a.as_str())
        })
        .await;
        let round = Instant::now();
        let resetting = Arc::new(AtomicBool::new(true));
        let resetter = tokio::spawn({
            let (resetting, ecs) = (resetting.clone(), aws.ecs.clone());
            async move {
                while resetting.load(Ordering::Relaxed) {
                    let _ = ecs
                        .update_service()
                        .cluster("leased")
                        .service("leased")
                        .desired_count(1)
                        .send()
                        .await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        let (stop_a, controller_a) = replica(&ports_a, gate_a.clone());
        let (stop_b, controller_b) = replica(&ports_b, gate_b.clone());
        eventually(Duration::from_secs(20), "a writes", || async {
            !writes_since(&proxy, round).is_empty()
        })
        .await;

        // Both gates, every 5 ms, from before the fault to the end.
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = tokio::spawn({
            let (watching, gate_a, gate_b) = (watching.clone(), gate_a.clone(), gate_b.clone());
            async move {
                let mut samples = Vec::new();
                while watching.load(Ordering::Relaxed) {
                    samples.push((Instant::now(), gate_a.may_write(), gate_b.may_write()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                samples
            }
        });
        for operation in ["PutItem", "UpdateItem", "GetItem", "DeleteItem"] {
            proxy.inject(operation, fault.clone());
        }
        let fault_began = Instant::now();
        eventually(Duration::from_secs(10), "b takes over", || async {
            gate_b.may_write()
        })
        .await;
        let took_over = fault_began.elapsed();
        proxy.clear();
        eventually(Duration::from_secs(10), "a finds b", || async {
            gate_a.holder().as_deref() == Some(b.as_str())
        })
        .await;
        eventually(Duration::from_secs(20), "b writes", || async {
            !writes_since(&proxy_b, round).is_empty()
        })
        .await;
        for (stop, controller) in [(stop_a, controller_a), (stop_b, controller_b)] {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(15), controller)
                .await
                .expect("the controller stops")
                .expect("the controller does not panic");
        }
        resetting.store(false, Ordering::Relaxed);
        resetter.await.unwrap();
        // Real writes, as they reached the API: every one of a's came
        // before b's first; none of b's before b held the lease.
        let (writes_a, writes_b) = (writes_since(&proxy, round), writes_since(&proxy_b, round));
        let (last_a, first_b) = (*writes_a.last().unwrap(), writes_b[0]);
        assert!(
            last_a < first_b,
            "{label}: a wrote {:?} after b's first write",
            last_a - first_b
        );
        watching.store(false, Ordering::Relaxed);
        let samples = watcher.await.expect("the watcher");
        stop.cancel();
        for task in [task_a, task_b] {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the keeper stops")
                .expect("the keeper does not panic");
        }

        assert!(
            samples.iter().all(|&(_, a, b)| !(a && b)),
            "{label}: both replicas could write at once"
        );
        let a_stopped = samples.iter().find(|s| !s.1).expect("a stopped").0;
        let b_started = samples.iter().find(|s| s.2).expect("b took over").0;
        // b's first real write came once its gate was open (sampled every
        // 5 ms, so it may be seen open up to a sample late).
        assert!(
            first_b + Duration::from_millis(10) >= b_started,
            "{label}: b wrote before it held the lease"
        );
        // a stops a safety margin (one renewal period) before its lease
        // expires, and b starts no earlier than the expiry (less a sample).
        let gap = b_started.saturating_duration_since(a_stopped);
        assert!(
            gap + Duration::from_millis(20) >= timing.renew_every,
            "{label}: a stopped only {gap:?} before b started"
        );
        assert!(!samples.last().unwrap().1, "{label}: a writes again");
        // a renewed at most one period before the fault, and its lease
        // lasts `duration` from then: b must wait for that (a lower bound,
        // which no slow machine can break), and then takes it within a
        // period on an idle machine. The upper bound gives four more
        // periods for a loaded one: it checks that b does take over, not
        // how promptly a busy scheduler runs it.
        assert!(
            took_over >= timing.duration - timing.renew_every,
            "{label}: b took an unexpired lease after {took_over:?}"
        );
        assert!(
            took_over <= timing.duration + 5 * timing.renew_every,
            "{label}: b took over only after {took_over:?}"
        );
        let replica = format!("replica={a}");
        assert!(
            !log_lines(&["cannot reach the lease", &replica]).is_empty(),
            "{label}: a's failure not logged"
        );
        // "about to expire ... writes stopped" when a round fell inside the
        // margin, else "lease lost to ...: no more writes" once b has it.
        let stop_logged = |words: &str| !log_lines(&[words, &replica]).is_empty();
        assert!(
            stop_logged("writes stopped") || stop_logged("no more writes"),
            "{label}: a's stop not logged"
        );
        println!(
            "{label}: a stopped {:?} before b started; b took over {took_over:?} after the fault began; \
             UpdateService requests: {} from a, then {} from b",
            b_started - a_stopped,
            writes_a.len(),
            writes_b.len()
        );
    }
}

// ---------------------------------------------------------------------------
// The emulator restarts empty
// ---------------------------------------------------------------------------

/// moto restarts on the same port with no state: the policy's queue, then
/// its service, are reported missing while it holds; when they are created
/// again it works again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_restart_makes_policies_report_missing_resources_and_hold() {
    capture_logs();
    let mut moto = Moto::start();
    let aws = Aws::new(&moto).await;
    aws.create_cluster("rs").await;
    aws.seed("rs-a", 30, "rs", "rs-a", 1).await;
    aws.seed("rs-b", 20, "rs", "rs-b", 1).await;
    let config = sdk_config(&moto.endpoint(), short_timeouts()).await;
    let ports = AwsPorts::new(&config, None);
    let live = Live::start(
        &ports,
        vec![
            policy("rs-a", "rs-a", "rs", "rs-a"),
            policy("rs-b", "rs-b", "rs", "rs-b"),
        ],
        None,
    );
    eventually(
        Duration::from_secs(20),
        "scaled before the restart",
        || async { aws.desired("rs", "rs-a").await == 3 && aws.desired("rs", "rs-b").await == 2 },
    )
    .await;
    let writes_before = ports.calls.total("UpdateService");

    moto.restart();
    let restarted = SystemTime::now();
    let aws = Aws::new(&moto).await;
    let kinds_since = |name: &str, from: SystemTime| -> Vec<Option<ErrorKind>> {
        live.recorder
            .of(name)
            .iter()
            .filter(|e| e.wall_time >= from)
            .map(|e| e.error().map(|e| e.kind()))
            .collect()
    };
    let missing = |kind: ErrorKind, from: SystemTime| {
        let kinds_a = kinds_since("rs-a", from);
        let kinds_b = kinds_since("rs-b", from);
        kinds_a.iter().filter(|k| **k == Some(kind)).count() >= 2
            && kinds_b.iter().filter(|k| **k == Some(kind)).count() >= 2
    };
    eventually(
        Duration::from_secs(20),
        "queues reported missing",
        || async { missing(ErrorKind::QueueNotFound, restarted) },
    )
    .await;
    // The queues come back (empty), the cluster and services not yet.
    aws.create_queue("rs-a").await;
    aws.create_queue("rs-b").await;
    aws.send("rs-a", 40).await;
    let queues_back = SystemTime::now();
    eventually(
        Duration::from_secs(20),
        "services reported missing",
        || async { missing(ErrorKind::ServiceNotFound, queues_back) },
    )
    .await;
    assert_eq!(
        ports.calls.total("UpdateService"),
        writes_before,
        "no write while missing"
    );
    assert!(!log_lines(&["policy=rs-a", "error_kind=queue_not_found"]).is_empty());
    assert!(!log_lines(&["policy=rs-a", "error_kind=service_not_found"]).is_empty());

    aws.create_cluster("rs").await;
    aws.create_service("rs", "rs-a", 1).await;
    aws.create_service("rs", "rs-b", 1).await;
    let back = SystemTime::now();
    eventually(
        Duration::from_secs(20),
        "scaled after the restart",
        || async { aws.desired("rs", "rs-a").await == 4 },
    )
    .await;
    let recovered = since(SystemTime::now(), back);
    // rs-b's queue came back empty: it holds at its minimum, and works.
    eventually(Duration::from_secs(10), "rs-b evaluates again", || async {
        kinds_since("rs-b", back).contains(&None)
    })
    .await;
    assert_eq!(aws.desired("rs", "rs-b").await, 1);
    live.stop().await;
    println!("after the restart: scaled again {recovered:?} after the resources came back");
}

// ---------------------------------------------------------------------------
// Stopping the real binary with an evaluation in flight
// ---------------------------------------------------------------------------

/// A `backlog-scaler run` process whose stderr is collected.
struct Running {
    child: std::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(command: &mut std::process::Command) -> Running {
        use std::io::BufRead;
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Running { child, stderr }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The endpoints' address, once logged.
    async fn address(&self) -> std::net::SocketAddr {
        let mut found = None;
        eventually(Duration::from_secs(30), "the endpoints' address", || {
            let log = self.log();
            found = log.find("on http://").map(|at| {
                let rest = &log[at + "on http://".len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                rest[..end].parse().expect("an address")
            });
            std::future::ready(found.is_some())
        })
        .await;
        found.unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET /healthz: its status, or `None` once nothing answers.
fn healthz_status(address: std::net::SocketAddr) -> Option<u16> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// SIGTERM and SIGINT on the real binary while an evaluation is in flight
/// (its `UpdateService` held for 2 s by the proxy): the evaluation finishes
/// (the write reaches ECS, nothing is abandoned), the buffered metrics are
/// published after the signal, `/healthz` answers 200 until the endpoints
/// close, and the process exits 0. The grace period is pinned at its
/// documented 5 s. The exit bound (20 s) is generous for a loaded machine;
/// what it rules out is waiting for the next tick, 60 s away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_finish_the_evaluation_in_flight_and_flush_metrics() {
    assert_eq!(
        ControllerConfig::default().shutdown_grace,
        Duration::from_secs(5),
        "the grace period docs/operations.md gives"
    );
    let (moto, proxy, aws) = start_emulator_behind_proxy().await;
    aws.create_cluster("stop").await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["term", "int"] {
        aws.seed(name, 30, "stop", name, 1).await;
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            format!(
                "name: {name}\ncluster: stop\nservice: {name}\nqueues: [{name}]\n\
                 target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 20\npoll_interval: 60s\n"
            ),
        )
        .unwrap();
    }
    proxy.inject("UpdateService", Fault::Delay(Duration::from_secs(2)));

    let stop = |signal: &'static str, name: &'static str| {
        let (moto, proxy, aws, dir) = (&moto, &proxy, &aws, dir.path());
        async move {
            let mut binary = Running::start(
                aws::binary(moto)
                    .env("AWS_ENDPOINT_URL", proxy.endpoint())
                    .args(["run", "--listen", "127.0.0.1:0"])
                    .args(["--cloudwatch-namespace", "Stop/Test", "--policies"])
                    .arg(dir.join(format!("{name}.yaml"))),
            );
            let address = binary.address().await;
            let write = format!(r#""service":"{name}""#);
            eventually(Duration::from_secs(30), "a write in flight", || {
                std::future::ready(
                    proxy
                        .requests("UpdateService")
                        .iter()
                        .any(|r| r.body.contains(&write)),
                )
            })
            .await;
            binary.signal(signal);
            let signalled = Instant::now();
            // Ask /healthz until nothing answers.
            let answers = std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while let Some(status) = healthz_status(address) {
                    statuses.push(status);
                    std::thread::sleep(Duration::from_millis(50));
                }
                statuses
            });
            let status = binary.exit(Duration::from_secs(20)).await;
            let log = binary.log();
            assert!(status.success(), "{signal}: {status:?}\n{log}");
            let statuses = answers.join().unwrap();
            assert!(
                !statuses.is_empty(),
                "{signal}: /healthz answered after the signal"
            );
            assert!(statuses.iter().all(|&s| s == 200), "{signal}: {statuses:?}");
            assert_eq!(
                aws.desired("stop", name).await,
                3,
                "{signal}: the write landed\n{log}"
            );
            assert!(log.contains("set desired 1 -> 3"), "{signal}: {log}");
            assert!(!log.contains("abandoning"), "{signal}: {log}");
            // The evaluation's sample, published after the signal.
            let dimension = format!("Value={name}");
            let flushed = proxy
                .requests("PutMetricData")
                .iter()
                .filter(|r| r.at >= signalled && r.body.contains(&dimension))
                .count();
            assert!(
                flushed >= 1,
                "{signal}: no PutMetricData for {name} after the signal"
            );
            println!(
                "{signal}: exited {:?} after the signal; /healthz answered {} times meanwhile",
                signalled.elapsed(),
                statuses.len()
            );
        }
    };
    tokio::join!(stop("TERM", "term"), stop("INT", "int"));
}
