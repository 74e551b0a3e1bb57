//! Policies with their own `region` and `role_arn`, against a real AWS API
//! emulator (moto): one moto serves every region (by the request's signing
//! region) and every account (credentials from STS `AssumeRole` act in the
//! role's account), so same-named queues and services in another region or
//! account hold other counts, and reading the wrong one shows.
//!
//! moto logs every request it serves (its recorder), which tells how many
//! `AssumeRole` calls the controller made and with which credentials and
//! region each call was signed. With moto's IAM checks on, STS refuses the
//! controller's dummy key, which is how a role that cannot be assumed is
//! tested.

#[path = "support/aws.rs"]
mod aws;
#[path = "support/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws::{binary, sdk_config, Aws};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use backlog_scaler::aws::{ApiCalls, AwsClients, AwsSettings};
use backlog_scaler::engine::QueueDepth;
use backlog_scaler::policy::AwsScope;
use backlog_scaler::ports::{error_chain, ErrorKind, PortsSource};
use moto::{Moto, REGION};

const CLUSTER: &str = "jobs";
const OTHER_REGION: &str = "us-west-2";
/// A role in another account (111111111111) than the controller's.
const ROLE: &str = "arn:aws:iam::111111111111:role/backlog-scaler-target";
/// The access key the controller runs with (`Moto::env`, `aws::sdk_config`).
const CONTROLLER_KEY: &str = "testing";
/// The access key the test seeds with, so its calls are told apart.
const SEEDER_KEY: &str = "seeder";

// ---------------------------------------------------------------------------
// The emulator, its request log, and seeding it
// ---------------------------------------------------------------------------

/// moto with its recorder on, logging every request to a file.
struct Recorded {
    moto: Moto,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Recorded {
    fn start() -> Recorded {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("requests.jsonl");
        let moto = Moto::start_with_env(&[
            ("MOTO_ENABLE_RECORDING", "true"),
            (
                "MOTO_RECORDER_FILEPATH",
                log.to_str().expect("a UTF-8 path"),
            ),
        ]);
        Recorded {
            moto,
            log,
            _dir: dir,
        }
    }

    /// How many requests have been logged: a mark to look only at the
    /// requests after it.
    fn mark(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Every request so far, as (access key, region, service) of its
    /// signature.
    fn signed_requests(&self) -> Vec<Signature> {
        self.signed_requests_since(0)
    }

    /// The requests logged after `mark`.
    fn signed_requests_since(&self, mark: usize) -> Vec<Signature> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .skip(mark)
            .filter_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).ok()?;
                let headers = entry["headers"].as_object()?;
                let authorization = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?
                    .1
                    .as_str()?;
                Signature::parse(authorization)
            })
            .collect()
    }

    /// The `RoleSessionName` of every `AssumeRole` request signed with
    /// `key`, as STS received it (the recorder keeps the form body, base64
    /// when bytes).
    fn assume_role_session_names(&self, key: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).ok()?;
                let authorization = entry["headers"]
                    .as_object()?
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?
                    .1
                    .as_str()?;
                if Signature::parse(authorization)?.key != key {
                    return None;
                }
                let body = entry["body"].as_str()?;
                let body = if entry["body_encoded"] == true {
                    String::from_utf8(aws_smithy_types::base64::decode(body).ok()?).ok()?
                } else {
                    body.to_owned()
                };
                let fields: Vec<(&str, &str)> = body
                    .split('&')
                    .filter_map(|field| field.split_once('='))
                    .collect();
                fields.contains(&("Action", "AssumeRole")).then(|| {
                    fields
                        .iter()
                        .find(|(name, _)| *name == "RoleSessionName")
                        .map(|(_, value)| value.to_string())
                        .unwrap_or_default()
                })
            })
            .collect()
    }

    /// `AssumeRole` calls (the only STS calls there are) signed with `key`.
    fn sts_calls_by(&self, key: &str) -> usize {
        self.signed_requests()
            .iter()
            .filter(|s| s.service == "sts" && s.key == key)
            .count()
    }
}

/// The credential scope of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq)]
struct Signature {
    key: String,
    region: String,
    service: String,
}

impl Signature {
    /// From `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`.
    fn parse(authorization: &str) -> Option<Signature> {
        let scope = authorization
            .split("Credential=")
            .nth(1)?
            .split(',')
            .next()?;
        let parts: Vec<&str> = scope.split('/').collect();
        match parts.as_slice() {
            [key, _date, region, service, _] => Some(Signature {
                key: (*key).to_owned(),
                region: (*region).to_owned(),
                service: (*service).to_owned(),
            }),
            _ => None,
        }
    }
}

/// SDK configuration of the test's own calls in `region`, as the role when
/// `role` is given (so in the role's account).
async fn seeder_config(moto: &Moto, region: &str, role: Option<&str>) -> SdkConfig {
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            SEEDER_KEY, SEEDER_KEY, None, None, "seed",
        ))
        .load()
        .await;
    let Some(role) = role else {
        return base;
    };
    let provider = AssumeRoleProvider::builder(role)
        .session_name("seeder")
        .configure(&base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// Seeding clients for one (account, region), its cluster created.
async fn place(moto: &Moto, region: &str, role: Option<&str>) -> Aws {
    let place = Aws::from_config(&seeder_config(moto, region, role).await);
    place.create_cluster(CLUSTER).await;
    place
}

/// The same names in three places with different counts:
/// - home (controller's account, us-east-1): `orders` 3 messages, `worker` at 1;
/// - us-west-2, same account: `orders` 25 messages, `worker` at 2;
/// - account 111111111111 (through the role), us-east-1: `orders` 40
///   messages, `worker-a` at 3 and `worker-b` at 4.
async fn seed_three_places(moto: &Moto) -> [Aws; 3] {
    let home = place(moto, REGION, None).await;
    home.seed("orders", 3, CLUSTER, "worker", 1).await;
    let west = place(moto, OTHER_REGION, None).await;
    west.seed("orders", 25, CLUSTER, "worker", 2).await;
    let remote = place(moto, REGION, Some(ROLE)).await;
    remote.seed("orders", 40, CLUSTER, "worker-a", 3).await;
    remote.create_service(CLUSTER, "worker-b", 4).await;
    [home, west, remote]
}

/// The controller's own configuration, as `run` and `plan` load it.
async fn controller_base(moto: &Moto) -> SdkConfig {
    sdk_config(&moto.endpoint(), AwsSettings::default()).await
}

fn target(region: Option<&str>, role_arn: Option<&str>) -> AwsScope {
    AwsScope {
        region: region.map(str::to_owned),
        role_arn: role_arn.map(str::to_owned),
    }
}

// ---------------------------------------------------------------------------
// The fleet, in process
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_reads_its_own_region_and_account() {
    let recorded = Recorded::start();
    let moto = &recorded.moto;
    seed_three_places(moto).await;
    // Only the fleet's requests from here on (the seeding's role calls are
    // signed with assumed keys too).
    let mark = recorded.mark();
    let calls = Arc::new(ApiCalls::new());
    let fleet = AwsClients::new(controller_base(moto).await, calls.clone());

    let depth = |visible| QueueDepth {
        visible,
        in_flight: 0,
        delayed: 0,
    };
    let read = |target: AwsScope, service: &'static str| {
        let fleet = &fleet;
        async move {
            let ports = fleet.ports_for(&target).await;
            let queue = ports.queues.queue_depth("orders").await.expect("the queue");
            let counts = ports
                .services
                .service_state(CLUSTER, service)
                .await
                .expect("the service");
            (queue, counts.desired)
        }
    };
    assert_eq!(read(target(None, None), "worker").await, (depth(3), 1));
    assert_eq!(
        read(target(Some(OTHER_REGION), None), "worker").await,
        (depth(25), 2)
    );
    // Two policies of one role target, the second naming the region the
    // controller has anyway: one target, one AssumeRole.
    assert_eq!(
        read(target(None, Some(ROLE)), "worker-a").await,
        (depth(40), 3)
    );
    assert_eq!(
        read(target(Some(REGION), Some(ROLE)), "worker-b").await,
        (depth(40), 4)
    );
    assert_eq!(fleet.target_count().await, 3);
    assert_eq!(recorded.sts_calls_by(CONTROLLER_KEY), 1);

    // Every call the fleet made for us-west-2 was signed for us-west-2, and
    // the role's calls were signed with the role's keys, not the
    // controller's.
    let requests = recorded.signed_requests_since(mark);
    assert!(requests.iter().all(|s| s.key != SEEDER_KEY));
    let controller: Vec<&Signature> = requests.iter().filter(|s| s.service != "sts").collect();
    let west = controller
        .iter()
        .filter(|s| s.region == OTHER_REGION)
        .count();
    assert_eq!(west, 3, "GetQueueUrl, GetQueueAttributes, DescribeServices");
    let by_role = controller
        .iter()
        .filter(|s| s.key != CONTROLLER_KEY)
        .collect::<Vec<_>>();
    // GetQueueUrl, GetQueueAttributes, then two reads of the cached URL...
    assert!(by_role.len() >= 4, "{by_role:?}");
    assert!(by_role.iter().all(|s| s.region == REGION), "{by_role:?}");
    // Every call was counted in the one set of counters.
    let snapshot = calls.snapshot();
    let total: u64 = snapshot.values().sum();
    assert_eq!(total as usize, controller.len(), "{snapshot:?}");
}

// ---------------------------------------------------------------------------
// The binary: `plan` and `run`
// ---------------------------------------------------------------------------

fn policy(name: &str, service: &str, extra: &str) -> String {
    format!(
        "name: {name}\ncluster: {CLUSTER}\nservice: {service}\nqueues: [orders]\n\
         target_backlog_per_task: 5\nmin_tasks: 1\nmax_tasks: 20\npoll_interval: 1s\n{extra}"
    )
}

/// The policy file of the three places: `home` in the controller's region,
/// `west` in the other, `remote-a` and `remote-b` with the role. Both `home`
/// and `west` name their region: one service name in two policies is
/// accepted only when the regions are known to differ.
fn write_policies(dir: &Path) -> PathBuf {
    let file = dir.join("policies.yaml");
    let role = format!("role_arn: {ROLE}\n");
    let text = [
        policy("home", "worker", &format!("region: {REGION}\n")),
        policy("west", "worker", &format!("region: {OTHER_REGION}\n")),
        policy("remote-a", "worker-a", &role),
        policy("remote-b", "worker-b", &role),
    ]
    .join("---\n");
    std::fs::write(&file, text).expect("the policy file");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reads_every_policy_through_its_target() {
    let recorded = Recorded::start();
    let moto = &recorded.moto;
    let [home, west, remote] = seed_three_places(moto).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = write_policies(dir.path());

    let output = binary(moto)
        .args(["plan", "--json", "--policies"])
        .arg(&file)
        .output()
        .expect("plan runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "plan failed: {stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let row = |name: &str| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|row| row["policy"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows}"))
            .clone()
    };
    // backlog / 5 per task, from each place's own counts.
    for (name, backlog, desired, proposed) in [
        ("home", 3.0, 1, 1),
        ("west", 25.0, 2, 5),
        ("remote-a", 40.0, 3, 8),
        ("remote-b", 40.0, 4, 8),
    ] {
        let row = row(name);
        assert_eq!(row["error"], serde_json::Value::Null, "{name}: {row}");
        assert_eq!(row["backlog"], backlog, "{name}: {row}");
        assert_eq!(row["desired"], desired, "{name}: {row}");
        assert_eq!(row["proposed"], proposed, "{name}: {row}");
    }
    // Both role policies went through one AssumeRole, named for us.
    assert_eq!(recorded.sts_calls_by(CONTROLLER_KEY), 1);
    assert_eq!(
        recorded.assume_role_session_names(CONTROLLER_KEY),
        ["backlog-scaler"]
    );
    // plan never writes.
    assert_eq!(home.desired(CLUSTER, "worker").await, 1);
    assert_eq!(west.desired(CLUSTER, "worker").await, 2);
    assert_eq!(remote.desired(CLUSTER, "worker-a").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_scales_each_service_in_its_own_region_and_account() {
    let recorded = Recorded::start();
    let moto = &recorded.moto;
    let [home, west, remote] = seed_three_places(moto).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = write_policies(dir.path());

    // The daemon's log goes to a file, shown if the counts never arrive.
    let log_path = dir.path().join("run.log");
    let log = std::fs::File::create(&log_path).expect("the log file");
    let mut child = binary(moto)
        .args(["run", "--policies"])
        .arg(&file)
        .env("RUST_LOG", "backlog_scaler=debug")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run starts");
    // Poll the emulator until every service has its new count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let expected = [5, 8, 8];
    let current = || async {
        [
            west.desired(CLUSTER, "worker").await,
            remote.desired(CLUSTER, "worker-a").await,
            remote.desired(CLUSTER, "worker-b").await,
        ]
    };
    let mut seen = current().await;
    while seen != expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        seen = current().await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen,
        expected,
        "west/worker, remote/worker-a, remote/worker-b; the daemon's log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    // The same-named service at home was sized from its own backlog (3
    // messages: 1 task), not from another region's or account's.
    assert_eq!(home.desired(CLUSTER, "worker").await, 1);
    assert_eq!(recorded.sts_calls_by(CONTROLLER_KEY), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_be_assumed_is_access_denied_and_asked_again() {
    // moto checks every request's credentials from its first: the
    // controller's dummy key is not a known IAM key, so STS refuses the
    // AssumeRole with a 403.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("requests.jsonl");
    let recorded = Recorded {
        moto: Moto::start_with_env(&[
            ("INITIAL_NO_AUTH_ACTION_COUNT", "0"),
            ("MOTO_ENABLE_RECORDING", "true"),
            (
                "MOTO_RECORDER_FILEPATH",
                log.to_str().expect("a UTF-8 path"),
            ),
        ]),
        log,
        _dir: dir,
    };
    let moto = &recorded.moto;
    let fleet = AwsClients::new(controller_base(moto).await, Arc::new(ApiCalls::new()));
    let ports = fleet.ports_for(&target(None, Some(ROLE))).await;
    let error = ports
        .queues
        .queue_depth("orders")
        .await
        .expect_err("no credentials for the role");
    assert_eq!(
        error.kind(),
        ErrorKind::AccessDenied,
        "{}",
        error_chain(&error)
    );
    let chain = error_chain(&error);
    assert!(chain.contains("loading credentials"), "{chain}");
    let asked = recorded.sts_calls_by(CONTROLLER_KEY);
    assert!(asked >= 1);
    // A failure is not cached: the next evaluation asks STS again.
    let again = ports
        .queues
        .queue_depth("orders")
        .await
        .expect_err("still refused");
    assert_eq!(again.kind(), ErrorKind::AccessDenied);
    assert!(recorded.sts_calls_by(CONTROLLER_KEY) > asked);
}

/// A clock for the SDK that runs `offset` ahead of the real one: the
/// credentials' expiry (which moto sets an hour after the `AssumeRole`) can
/// be approached without waiting an hour.
#[derive(Debug, Clone, Default)]
struct ShiftedClock(Arc<std::sync::atomic::AtomicU64>);

impl ShiftedClock {
    fn set(&self, offset: std::time::Duration) {
        self.0
            .store(offset.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl aws_types::sdk_config::TimeSource for ShiftedClock {
    fn now(&self) -> std::time::SystemTime {
        let offset = self.0.load(std::sync::atomic::Ordering::SeqCst);
        std::time::SystemTime::now() + std::time::Duration::from_secs(offset)
    }
}

/// An assumed role's credentials (an hour, moto's default, which the SDK
/// keeps) serve every call until they near their expiry, and are refreshed
/// before it: no second `AssumeRole` 20 s before the expiry, one 5 s before
/// (the SDK's cache refreshes 10 to 15 s ahead), and the calls go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_credentials_are_refreshed_before_they_expire() {
    use std::time::Duration;
    let recorded = Recorded::start();
    let moto = &recorded.moto;
    seed_three_places(moto).await;
    let clock = ShiftedClock::default();
    let base = controller_base(moto)
        .await
        .to_builder()
        .time_source(aws_types::sdk_config::SharedTimeSource::new(clock.clone()))
        .build();
    let fleet = AwsClients::new(base, Arc::new(ApiCalls::new()));
    let ports = fleet.ports_for(&target(None, Some(ROLE))).await;
    let read = || async {
        ports
            .queues
            .queue_depth("orders")
            .await
            .expect("the role's queue")
            .visible
    };
    assert_eq!(read().await, 40);
    assert_eq!(recorded.sts_calls_by(CONTROLLER_KEY), 1);
    clock.set(Duration::from_secs(3600 - 20));
    assert_eq!(read().await, 40);
    assert_eq!(
        recorded.sts_calls_by(CONTROLLER_KEY),
        1,
        "refreshed 20 s before the expiry"
    );
    clock.set(Duration::from_secs(3600 - 5));
    assert_eq!(read().await, 40);
    assert_eq!(
        recorded.sts_calls_by(CONTROLLER_KEY),
        2,
        "not refreshed 5 s before the expiry"
    );
}
