//! What an operator meets in the first week, run as an operator runs it: the
//! released binary, against the moto emulator where AWS is involved.
//!
//! - a desired count set by hand stands for a stabilization window;
//! - every printing command ends quietly on a closed stdout;
//! - `trace export` resolves its queue first, and is bounded in time;
//! - a queue URL or ARN of another region than the controller's is refused
//!   when the policy sets no `region`;
//! - durations have maxima;
//! - a `task_startup: measured` policy's startup is measured by the running
//!   controller and shown on `/metrics`, and `plan` says it assumes one;
//! - `explain --state` on what the daemon serves at `/state/POLICY`
//!   reproduces its last decision.

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

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws::{eventually, Aws};
use child::LoggedChild;
use moto::{Moto, REGION};
use process::output_within;

const CLUSTER: &str = "jobs";

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"));
    command
        .env_remove("BACKLOG_SCALER_POLICIES")
        .env_remove("AWS_REGION")
        .env_remove("RUST_LOG");
    command
}

/// Run `command` with its stdout a pipe whose reader is already gone, and
/// wait for it (with a deadline, so a hang fails instead of blocking).
fn run_into_closed_pipe(mut command: Command) -> (std::process::ExitStatus, String) {
    let writer = closed_pipe_writer();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = wait_with_deadline(&mut child, Duration::from_secs(60));
    (status, stderr)
}

/// The write end of a pipe whose read end is already closed.
fn closed_pipe_writer() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills both descriptors on success; each is then owned
    // exactly once.
    let (reader, writer) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    writer
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ended as a Unix filter ends on a closed pipe: by SIGPIPE or with success,
/// never with a panic (exit 101, "failed printing to stdout").
fn assert_quiet_end(what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{what}: {status:?}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{what}: {stderr}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

const POLICY: &str = "name: orders\ncluster: jobs\nservice: orders\nqueues: [orders]\n\
                      target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 10\n";

/// The emulator with cluster `jobs`, queue `orders` holding `backlog`
/// messages and service `orders` at `desired`, and a policy file `yaml` in
/// a temporary directory.
struct World {
    moto: Moto,
    aws: Aws,
    dir: tempfile::TempDir,
    policy: std::path::PathBuf,
}

impl World {
    async fn seed(backlog: usize, desired: i32, yaml: &str) -> World {
        let moto = Moto::start();
        let aws = Aws::new(&moto).await;
        aws.create_cluster(CLUSTER).await;
        aws.seed("orders", backlog, CLUSTER, "orders", desired)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("orders.yaml");
        write(&policy, yaml);
        World {
            moto,
            aws,
            dir,
            policy,
        }
    }

    /// `run --policies POLICIES` against the emulator, logging every hold
    /// (so a test can count evaluations), once it has held at `tasks`.
    async fn run_until_first_hold(&self, policies: &Path, tasks: u32) -> LoggedChild {
        let mut command = aws::binary(&self.moto);
        command
            .args(["run", "--policies"])
            .arg(policies)
            .args(["--log-level", "info,backlog_scaler=debug"]);
        let daemon = LoggedChild::spawn(command);
        let hold = format!("hold at {tasks} (");
        eventually(Duration::from_secs(30), "a first hold", || async {
            daemon.log().contains(&hold)
        })
        .await;
        daemon
    }
}

#[test]
fn printing_commands_end_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("orders.yaml");
    write(&policy, POLICY);
    let trace = dir.path().join("trace.csv");
    let mut rows = String::from("t_seconds,arrivals\n");
    for t in 0..600 {
        rows.push_str(&format!("{t},{}\n", t % 7));
    }
    write(&trace, &rows);

    let mut schema = bin();
    schema.arg("schema");
    let mut validate = bin();
    validate.arg("validate").arg(&policy);
    let mut explain = bin();
    explain.args(["explain", "--policies"]).arg(&policy).args([
        "--policy",
        "orders",
        "--visible",
        "45",
        "--desired",
        "1",
        "--json",
    ]);
    let mut simulate = bin();
    simulate
        .args(["simulate", "--policies"])
        .arg(&policy)
        .args(["--policy", "orders", "--trace"])
        .arg(&trace)
        .args(["--service-time", "1s", "--json"]);
    let mut help = bin();
    help.arg("--help");
    for (what, command) in [
        ("schema", schema),
        ("validate", validate),
        ("explain --json", explain),
        ("simulate --json", simulate),
        ("--help", help),
    ] {
        let (status, stderr) = run_into_closed_pipe(command);
        assert_quiet_end(what, status, &stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_ends_quietly_on_a_closed_pipe() {
    let world = World::seed(45, 1, POLICY).await;
    let mut plan = aws::binary(&world.moto);
    plan.args(["plan", "--json", "--policies"])
        .arg(&world.policy);
    let (status, stderr) = tokio::task::spawn_blocking(move || run_into_closed_pipe(plan))
        .await
        .unwrap();
    assert_quiet_end("plan --json", status, &stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_scale_up_is_not_undone_inside_the_window() {
    let yaml = format!("{POLICY}poll_interval: 1s\nscale_in:\n  stabilization_window: 5m\n");
    let world = World::seed(0, 2, &yaml).await;
    let aws = &world.aws;
    let daemon = world.run_until_first_hold(&world.policy, 2).await;

    // The operator pre-scales for a known event; the queue stays empty.
    aws.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("orders")
        .desired_count(8)
        .send()
        .await
        .expect("UpdateService");
    eventually(Duration::from_secs(30), "the change noticed", || async {
        daemon
            .log()
            .contains("desired count changed outside the controller (2 -> 8)")
    })
    .await;
    // Five evaluations after the change (at 1 s each): all hold at 8.
    eventually(Duration::from_secs(30), "five holds at 8", || async {
        daemon.log().matches("hold at 8 (").count() >= 5
    })
    .await;
    let log = daemon.log();
    assert!(!log.contains("set desired 8 ->"), "{log}");
    assert_eq!(aws.desired(CLUSTER, "orders").await, 8, "{log}");
    assert!(
        log.contains("highest recommendation in the last 5m is 8"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_export_of_a_missing_queue_fails_and_writes_nothing() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.csv");
    let mut command = aws::binary(&moto);
    command
        .args([
            "trace",
            "export",
            "--queue",
            "no-such-queue",
            "--since",
            "1h",
            "--out",
        ])
        .arg(&out);
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-queue does not exist"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn trace_export_gives_up_on_an_endpoint_that_never_answers() {
    // Accepts connections (the kernel does, into the backlog) and never
    // answers: every attempt runs into the 5 s attempt timeout, the call
    // into its 12 s operation timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = bin();
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["trace", "export", "--queue", "orders", "--since", "1h"])
        .args(["--region", REGION, "--endpoint-url", &endpoint, "--out"])
        .arg(dir.path().join("x.csv"));
    // Generous: the bound is 12 s per call; a loaded machine may add some,
    // but the command must not wait without end (it did, before).
    let output = output_within(&mut command, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    // Not before the timeouts could have fired: it did wait for an answer.
    assert!(started.elapsed() >= Duration::from_secs(5), "{stderr}");
    drop(listener);
}

const OTHER_REGION_POLICY: &str = "name: orders\ncluster: jobs\nservice: orders\n\
     queues: [https://sqs.eu-west-1.amazonaws.com/123456789012/orders]\n\
     target_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 10\n";

#[test]
fn validate_refuses_a_url_of_another_region_than_the_controllers() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("orders.yaml");
    write(&policy, OTHER_REGION_POLICY);
    let file = policy.display();
    let expected = format!(
        "{file}:4:10: error: policy 'orders': queues[0]: `https://sqs.eu-west-1.amazonaws.com/1234…` \
         is in region `eu-west-1`, but the policy sets no `region` and the controller's region \
         is `us-east-1` (hint: SQS and ECS would be called in `us-east-1`, where this name means \
         another queue or service: add `region: eu-west-1` to the policy)"
    );
    for region_from in ["flag", "environment"] {
        let mut command = bin();
        command.arg("validate").arg(&policy);
        match region_from {
            "flag" => command.args(["--region", "us-east-1"]),
            _ => command.env("AWS_REGION", "us-east-1"),
        };
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{region_from}: {stdout}");
        assert!(stdout.starts_with(&expected), "{region_from}:\n{stdout}");
    }
    // With the region it names, or with no region known, it is valid.
    for args in [&["--region", "eu-west-1"][..], &[]] {
        let output = bin()
            .arg("validate")
            .arg(&policy)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
    }
    // A policy that says where it lives is valid whatever the controller's.
    write(
        &policy,
        &format!("{OTHER_REGION_POLICY}region: eu-west-1\n"),
    );
    let output = bin()
        .arg("validate")
        .arg(&policy)
        .args(["--region", "us-east-1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_run_refuse_a_url_of_another_region_than_the_controllers() {
    // A queue of the same name in the controller's region: the very queue
    // plan used to read by mistake.
    let world = World::seed(45, 1, OTHER_REGION_POLICY).await;
    let (moto, aws, policy) = (&world.moto, &world.aws, &world.policy);
    for command in ["plan", "run"] {
        let mut binary = aws::binary(moto);
        binary.args([command, "--policies"]).arg(policy);
        let output: Output = tokio::task::spawn_blocking(move || binary.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("is in region `eu-west-1`, but the policy sets no `region` and the controller's region is `us-east-1`"),
            "{command}: {stderr}"
        );
    }
    assert_eq!(aws.desired(CLUSTER, "orders").await, 1);
}

#[test]
fn every_duration_has_a_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("orders.yaml");
    for (key, yaml, maximum) in [
        (
            "poll_interval",
            "poll_interval: 18446744073709551615s\n",
            "1h",
        ),
        (
            "scale_in.stabilization_window",
            "scale_in:\n  stabilization_window: 25h\n",
            "24h",
        ),
        ("scale_out.cooldown", "scale_out:\n  cooldown: 2d\n", "24h"),
        (
            "scale_out.lookahead",
            "scale_out:\n  lookahead: 61m\n",
            "1h",
        ),
    ] {
        write(&policy, &format!("{POLICY}{yaml}"));
        let output = bin().arg("validate").arg(&policy).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{key}: {stdout}");
        // Located at the value's line (the key's line in these documents).
        let line = POLICY.lines().count() + yaml.lines().count();
        let error = stdout
            .lines()
            .find(|l| l.contains(": error: "))
            .unwrap_or_default();
        assert!(
            error.starts_with(&format!("{}:{line}:", policy.display()))
                && error.contains(&format!(": error: policy 'orders': {key}: "))
                && error.contains(&format!("is longer than the maximum, {maximum}")),
            "{key}: {stdout}"
        );
    }
    // The maximum itself is valid.
    write(&policy, &format!("{POLICY}poll_interval: 1h\n"));
    let output = bin().arg("validate").arg(&policy).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_policy_file_is_a_failed_reload_that_keeps_running() {
    let world = World::seed(0, 1, &format!("{POLICY}poll_interval: 1s\n")).await;
    let daemon = world.run_until_first_hold(world.dir.path(), 1).await;
    std::fs::remove_file(&world.policy).unwrap();
    eventually(Duration::from_secs(30), "the failed reload", || async {
        daemon
            .log()
            .contains("policy reload failed; still running the previous 1 policy")
    })
    .await;
    let log = daemon.log();
    assert!(log.contains("holds no *.yaml or *.yml file"), "{log}");
    // And it does keep evaluating the policy.
    let holds = log.matches("hold at 1 (").count();
    eventually(
        Duration::from_secs(30),
        "more holds after the reload",
        || async { daemon.log().matches("hold at 1 (").count() >= holds + 2 },
    )
    .await;
}

/// Sized by its wait, with the startup measured; polled every second so the
/// test is quick.
const MEASURED_POLICY: &str = "name: orders\ncluster: jobs\nservice: orders\nqueues: [orders]\n\
     target_wait: 1m\nmessage_cost: 1s\ntask_startup: measured\n\
     min_tasks: 1\nmax_tasks: 5\npoll_interval: 1s\n";

/// The value of `series` (a name and its labels exactly as exposed) in a
/// `/metrics` body.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// The address `run` logged it serves its endpoints on.
async fn endpoints_address(daemon: &LoggedChild) -> SocketAddr {
    let marker = "and /metrics on http://";
    daemon.wait_for_log(marker, Duration::from_secs(20)).await;
    let log = daemon.log();
    let start = log.find(marker).unwrap() + marker.len();
    let address = log[start..].split_whitespace().next().unwrap();
    address.parse().expect("a socket address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measured_startup_is_planned_as_assumed_and_measured_by_the_controller() {
    // The backlog is there before the controller starts: it scales out at
    // its first evaluation.
    let world = World::seed(45, 1, MEASURED_POLICY).await;

    // `plan` evaluates once, from a fresh state: it never has a measurement.
    let mut plan = aws::binary(&world.moto);
    plan.args(["plan", "--json", "--policies"])
        .arg(&world.policy);
    let output = tokio::task::spawn_blocking(move || plan.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let startup = &rows[0]["task_startup"];
    assert_eq!(startup["startup_s"], 60.0, "{stdout}");
    assert_eq!(startup["source"], "assumed", "{stdout}");
    assert!(
        startup["note"]
            .as_str()
            .unwrap()
            .contains("the running controller measures the startup"),
        "{stdout}"
    );

    let mut command = aws::binary(&world.moto);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--policies"])
        .arg(&world.policy);
    let daemon = LoggedChild::spawn(command);
    let address = endpoints_address(&daemon).await;
    daemon
        .wait_for_log("set desired 1 -> 5 (", Duration::from_secs(30))
        .await;
    let series = r#"backlog_scaler_task_startup_seconds{policy="orders"}"#;
    let mut metrics = String::new();
    eventually(Duration::from_secs(30), "the startup gauge", || {
        let response = http::get(address, "/metrics").expect("GET /metrics");
        assert_eq!(response.status, 200);
        metrics = response.body;
        std::future::ready(sample(&metrics, series).is_some())
    })
    .await;
    let log = daemon.log();
    // The emulator runs new tasks at once: the scale-out is seen complete
    // at the next poll, and measured at the midpoint of the two, about half
    // a poll (a poll delayed on a loaded machine makes it more).
    let startup = sample(&metrics, series).unwrap();
    assert!(
        startup > 0.0 && startup <= 2.0,
        "{startup}\n{metrics}\n{log}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"backlog_scaler_task_startup_scale_outs{policy="orders"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    // (What the count does next is the measured plan's: with a startup of
    // half a second and a 60 s wait, a standing queue, so it may scale in.)
    assert_eq!(log.matches("task startup measured: ").count(), 1, "{log}");
    assert!(
        log.contains("from one scale-out; wait sizing plans with it"),
        "{log}"
    );
    // Planned with from then on.
    eventually(Duration::from_secs(30), "a decision with it", || async {
        daemon.log().contains(" measured startup)")
    })
    .await;
}

/// `explain --state` on what the running daemon serves at `/state/POLICY`
/// reproduces its last decision: the same desired count and reason, from
/// the engine state before it (here one that has seen a previous poll), the
/// counts observed and the time, all taken from the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reproduces_the_running_daemons_decision_from_its_state_endpoint() {
    let world = World::seed(45, 1, MEASURED_POLICY).await;
    let mut command = aws::binary(&world.moto);
    command
        .args(["run", "--listen", "127.0.0.1:0", "--policies"])
        .arg(&world.policy)
        .args(["--log-level", "info,backlog_scaler=debug"]);
    let daemon = LoggedChild::spawn(command);
    let address = endpoints_address(&daemon).await;

    let unknown = http::get(address, "/state/ghost").expect("GET /state/ghost");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("no policy named `ghost`"),
        "{}",
        unknown.body
    );

    // A decision from a state that has seen the poll before it, when the
    // queue has grown since: its arrivals are the growth over the time
    // between the two, which only the state before can tell. The queue
    // grows until a document shows such a decision.
    let mut body = String::new();
    eventually(Duration::from_secs(30), "a decision on growth", || {
        let response = http::get(address, "/state/orders").expect("GET /state/orders");
        assert!([200, 404].contains(&response.status), "{}", response.body);
        let grown = response.status == 200 && {
            let dump = response.json();
            let observed = &dump["observed"];
            let work = ["visible", "in_flight", "delayed"]
                .iter()
                .map(|count| observed[count].as_f64().unwrap())
                .sum::<f64>();
            let before = dump["state_before"]["previous_work"][1].as_f64();
            before.is_some_and(|before| work > before)
        };
        body = response.body;
        let aws = &world.aws;
        async move {
            if !grown {
                aws.send("orders", 20).await;
            }
            grown
        }
    })
    .await;
    let dump: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(dump["format"], "backlog-scaler/state/1", "{body}");
    assert_eq!(dump["policy"], "orders");
    assert!(dump["at_s"].as_f64().unwrap() > 0.0, "{body}");
    assert!(dump["state_after"].is_object(), "{body}");
    let reason = dump["decision"]["reason"].as_str().unwrap().to_owned();
    // The daemon logged that decision.
    eventually(Duration::from_secs(10), "the decision logged", || async {
        daemon.log().contains(&format!("({reason})"))
    })
    .await;

    let file = world.dir.path().join("orders-state.json");
    write(&file, &body);
    let mut explain = bin();
    explain
        .args(["explain", "--policies"])
        .arg(&world.policy)
        .arg("--state")
        .arg(&file)
        .arg("--json");
    let output = tokio::task::spawn_blocking(move || explain.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let explained: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        explained["reason"], dump["decision"]["reason"],
        "{stdout}\n{body}"
    );
    assert_eq!(
        explained["desired"], dump["decision"]["desired"],
        "{stdout}\n{body}"
    );
    assert_eq!(
        explained["action"], dump["decision"]["action"],
        "{stdout}\n{body}"
    );
    assert_eq!(explained["daemon"]["same_decision"], true, "{stdout}");
    assert_eq!(explained["at_s"], dump["at_s"], "{stdout}");

    // The text says so too.
    let mut text = bin();
    text.args(["explain", "--policies"])
        .arg(&world.policy)
        .arg("--state")
        .arg(&file);
    let output = tokio::task::spawn_blocking(move || text.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("reason: {reason}\n")), "{stdout}");
    assert!(
        stdout.contains("daemon: the same decision, at "),
        "{stdout}"
    );

    // A document with a wrong value is a located error, exit 1.
    let mut broken: serde_json::Value = dump.clone();
    broken["observed"]["desired"] = serde_json::json!("five");
    let broken_file = world.dir.path().join("broken-state.json");
    write(
        &broken_file,
        &serde_json::to_string_pretty(&broken).unwrap(),
    );
    let mut explain = bin();
    explain
        .args(["explain", "--policies"])
        .arg(&world.policy)
        .arg("--state")
        .arg(&broken_file);
    let output = tokio::task::spawn_blocking(move || explain.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let located = stderr.split("broken-state.json:").nth(1).unwrap_or("");
    let mut place = located.split(':');
    assert!(
        place.next().is_some_and(|line| line.parse::<u32>().is_ok())
            && place
                .next()
                .is_some_and(|column| column.parse::<u32>().is_ok()),
        "file:line:column: {stderr}"
    );
    assert!(stderr.contains("not a /state/POLICY document"), "{stderr}");
}
