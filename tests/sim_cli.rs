//! The `simulate` and `trace export` commands, run as a user runs them.
//! `trace export` talks to the moto emulator's CloudWatch.

#[path = "support/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use moto::Moto;

const POLICY: &str = "\
name: one
cluster: c
service: s
queues: [q]
target_backlog_per_task: 100
min_tasks: 1
max_tasks: 1
---
name: scaler
cluster: c
service: s2
queues: [q]
target_backlog_per_task: 1
min_tasks: 1
max_tasks: 3
poll_interval: 3s
tolerance: 0
scale_in: {stabilization_window: 0s}
";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policies.yaml"), POLICY).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn trace(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `simulate` of `policy` on `trace` with `args`: its stdout, once it
    /// has succeeded.
    fn stdout_of(&self, policy: &str, trace: &Path, args: &[&str]) -> Vec<u8> {
        self.simulate(policy, trace)
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    }

    fn simulate(&self, policy: &str, trace: &Path) -> Command {
        let mut cmd = Command::cargo_bin("backlog-scaler").unwrap();
        cmd.arg("simulate")
            .arg("--policies")
            .arg(self.path("policies.yaml"))
            .args(["--policy", policy])
            .arg("--trace")
            .arg(trace);
        cmd
    }
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is JSON")
}

#[test]
fn json_summary_has_every_key_and_the_hand_computed_figures() {
    let files = Files::new();
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,3\n1,0\n2,0\n3,0\n");
    let out = files.stdout_of("one", &trace, &["--service-time", "1", "--json"]);
    let summary = json(&out);
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "messages",
        "served",
        "wait_p50_s",
        "wait_p90_s",
        "wait_p99_s",
        "wait_max_s",
        "task_seconds",
        "work_seconds",
        "cost_ratio",
        "unserved_share",
        "scale_actions",
        "max_visible",
        "peak_tasks",
        "mean_tasks",
        "meets_wait_target",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    // One task, S = 1 s, 3 messages at 0: waits 0, 1, 2 over 4 s.
    assert_eq!(summary["messages"], 3);
    assert_eq!(summary["wait_p50_s"], 1.0);
    assert_eq!(summary["wait_p99_s"], 2.0);
    assert_eq!(summary["task_seconds"], 4.0);
    assert_eq!(summary["work_seconds"], 3.0);
    assert_eq!(summary["max_visible"], 2);
    assert_eq!(summary["meets_wait_target"], true);
    assert_eq!(summary["unserved_share"], 0.0);
}

#[test]
fn work_left_unserved_is_reported_beside_the_cost_ratio() {
    let files = Files::new();
    // One task, S = 1 s, 10 messages at 0 and a 4 s trace: 4 are served
    // (at 0, 1, 2, 3), 6 are not; the task ran 4 s for 10 s of work, a
    // cost ratio of 0.4 that only looks cheap.
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,10\n1,0\n2,0\n3,0\n");
    let out = files.stdout_of("one", &trace, &["--service-time", "1", "--json"]);
    let summary = json(&out);
    assert_eq!(summary["served"], 4);
    assert_eq!(summary["cost_ratio"], 0.4);
    assert_eq!(summary["unserved_share"], 0.6);
    let text = files.stdout_of("one", &trace, &["--service-time", "1"]);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("unserved       60.00% of messages") && text.contains("not comparable"),
        "{text}"
    );
}

#[test]
fn wait_target_and_decimal_service_time_decide_the_verdict() {
    let files = Files::new();
    let rows: String = (1..10).map(|t| format!("{t},0\n")).collect();
    let trace = files.trace("t.csv", &format!("t_seconds,arrivals\n0,3\n{rows}"));
    // S = 2.5 s: waits 0, 2.5, 5; p99 5 s misses a 4.5 s target.
    files
        .simulate("one", &trace)
        .args(["--service-time", "2.5", "--wait-target", "4500ms"])
        .assert()
        .success()
        .stdout(predicate::str::contains("MISSES the 4.5 s p99 wait target"))
        .stdout(predicate::str::contains("wait p99       5.000 s"));
}

#[test]
fn out_writes_summary_timeline_and_chart() {
    let files = Files::new();
    let trace = files.trace(
        "t.csv",
        "t_seconds,arrivals\n0,3\n1,0\n2,0\n3,0\n4,0\n5,0\n6,0\n",
    );
    let out = files.path("run");
    files
        .simulate("scaler", &trace)
        .args(["--service-time", "3s", "--startup", "1s", "--json"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary = json(&std::fs::read(out.join("summary.json")).unwrap());
    assert_eq!(summary["task_seconds"], 17.0);
    assert_eq!(summary["scale_actions"], 3);
    let timeline = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(
        lines[0],
        "time_s,arrivals,visible,in_flight,desired,running,pending,oldest_wait_s,action,reason"
    );
    assert_eq!(lines.len(), 1 + 3, "one row per poll at 0, 3 and 6 s");
    assert!(
        lines[1].starts_with("0,3,2,1,3,1,0,0,scale_out,"),
        "{}",
        lines[1]
    );
    let chart = std::fs::read_to_string(out.join("chart.svg")).unwrap();
    assert!(chart.starts_with("<svg"));
    assert!(chart.contains("wait target 60 s"));
    assert!(chart.trim_end().ends_with("</svg>"));
}

#[test]
fn sweep_prints_a_table_and_marks_the_cheapest_value_that_meets_the_target() {
    let files = Files::new();
    let rows: String = (0..600)
        .map(|t| format!("{t},{}\n", if t % 60 < 30 { 4 } else { 0 }))
        .collect();
    let trace = files.trace("t.csv", &format!("t_seconds,arrivals\n{rows}"));
    // The same sweep, as a table and as JSON.
    let sweep = |extra: &[&str]| {
        files
            .simulate("scaler", &trace)
            .args(["--service-time", "1", "--startup", "10s"])
            .args(["--wait-target", "20s", "--sweep", "max_tasks=3,5,8"])
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let table = String::from_utf8(sweep(&[])).unwrap();
    assert!(table.starts_with("   max_tasks        cost"), "{table}");
    assert_eq!(table.matches("<- best").count(), 1, "{table}");

    let outcome = json(&sweep(&["--json"]));
    let runs = outcome["runs"].as_array().unwrap();
    let values: Vec<f64> = runs.iter().map(|r| r["value"].as_f64().unwrap()).collect();
    assert_eq!(values, vec![3.0, 5.0, 8.0]);
    let meeting: Vec<&Value> = runs
        .iter()
        .filter(|r| r["meets_wait_target"] == true)
        .collect();
    let cheapest = meeting
        .iter()
        .min_by(|a, b| {
            a["task_seconds"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["task_seconds"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(outcome["best"], cheapest["value"]);
    assert!(table.contains(&format!("{:>12}", cheapest["value"].as_f64().unwrap())));
}

#[test]
fn geometric_sweeps_run_every_value_and_null_best_when_none_meets() {
    let files = Files::new();
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,50\n60,0\n");
    let output = files.stdout_of(
        "one",
        &trace,
        &[
            "--service-time",
            "5",
            "--json",
            "--sweep",
            "target_backlog_per_task=1..100:5",
        ],
    );
    let outcome = json(&output);
    let values: Vec<f64> = outcome["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 5);
    assert_eq!((values[0], values[4]), (1.0, 100.0));
    assert!((values[2] - 10.0).abs() < 1e-9);
    assert_eq!(outcome["best"], Value::Null);
}

#[test]
fn a_sweep_where_nothing_meets_the_wait_still_charts_the_closest_and_says_so() {
    let files = Files::new();
    // `scaler` (1..3 tasks, S = 5 s) cannot serve 50 messages within 1 s.
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,50\n60,0\n");
    let out = files.path("out");
    let assert = files
        .simulate("scaler", &trace)
        .args(["--service-time", "5", "--wait-target", "1s"])
        .args(["--sweep", "max_tasks=1,2,3", "--out"])
        .arg(&out)
        .assert()
        .success();
    let output = assert.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("best: none of the values meets the 1 s p99 wait target; the lowest p99 wait is at max_tasks = 3"),
        "{stdout}"
    );
    assert!(
        stderr.contains("no value meets the 1 s p99 wait target")
            && stderr.contains("show max_tasks = 3, the lowest p99 wait"),
        "{stderr}"
    );
    for file in ["sweep.json", "summary.json", "timeline.csv", "chart.svg"] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert_eq!(
        json(&std::fs::read(out.join("summary.json")).unwrap())["peak_tasks"],
        3
    );
}

#[test]
fn a_sweep_value_beyond_a_keys_maximum_says_which_maximum() {
    let files = Files::new();
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,3\n1,0\n");
    files
        .simulate("scaler", &trace)
        .args(["--service-time", "1", "--sweep", "poll_interval=1,7200"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--sweep poll_interval=7200: "))
        .stderr(predicate::str::contains(
            "poll_interval: `2h` is longer than the maximum, 1h",
        ));
}

/// What `validate` says of `policies.yaml` with `line` written in policy
/// `scaler` (in place of its own line for that key, or at its end),
/// without the `file:line:column: ` it starts with.
fn validate_says(files: &Files, line: &str) -> String {
    let path = files.path("with-line.yaml");
    let key = line.split_once(':').unwrap().0;
    let text = match POLICY.find(&format!("\n{key}: 0\n")) {
        Some(at) => {
            let end = POLICY[at + 1..].find('\n').unwrap() + at + 1;
            format!("{}\n{line}{}", &POLICY[..at], &POLICY[end..])
        }
        None => format!("{POLICY}{line}\n"),
    };
    std::fs::write(&path, text).unwrap();
    let output = Command::cargo_bin("backlog-scaler")
        .unwrap()
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let error = stdout
        .lines()
        .find(|l| l.contains(": error: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    error.split_once(": ").unwrap().1.to_owned()
}

/// A sweep value that `validate` refuses in the file is refused by the
/// sweep with the same error, before any run: `tolerance: 1.5` is not a
/// policy, so `--sweep tolerance=0.5,1.5` is not a sweep.
#[test]
fn a_sweep_value_validate_refuses_is_refused_with_validates_error() {
    let files = Files::new();
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,3\n1,0\n");
    for (sweep, line) in [
        ("tolerance=0.5,1.5", "tolerance: 1.5"),
        ("scale_out.max_step=2,0", "scale_out: {max_step: 0}"),
        ("in_flight_per_task=1,-2", "in_flight_per_task: -2"),
    ] {
        let expected = validate_says(&files, line);
        let (key, values) = sweep.split_once('=').unwrap();
        let value = values.rsplit(',').next().unwrap();
        let output = files
            .simulate("scaler", &trace)
            .args(["--service-time", "1", "--json", "--sweep", sweep])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{sweep}");
        assert!(output.stdout.is_empty(), "{sweep}: no run is reported");
        let stderr = String::from_utf8(output.stderr).unwrap();
        // The policy `scaler` starts on line 9 of policies.yaml.
        let located = format!(
            "error: --sweep {key}={value}: {}:9:1: {expected}\n",
            files.path("policies.yaml").display()
        );
        assert_eq!(stderr, located, "{sweep}");
    }
}

#[test]
fn a_broken_policy_beside_it_does_not_stop_a_simulation() {
    let files = Files::new();
    let mixed =
        format!("{POLICY}---\nname: broken\ncluster: c\nservice: s3\nqueues: [q]\nmax_tasks: 2\n");
    std::fs::write(files.path("policies.yaml"), mixed).unwrap();
    let trace = files.trace("t.csv", "t_seconds,arrivals\n0,3\n1,0\n2,0\n3,0\n");
    files
        .simulate("one", &trace)
        .arg("--json")
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: other policies in"));
    files
        .simulate("broken", &trace)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("policy `broken` is not valid"));
}

#[test]
fn bad_input_is_an_error_with_its_location() {
    let files = Files::new();
    let trace = files.trace("bad.csv", "t_seconds,arrivals\n0,1\n60,many\n");
    files
        .simulate("one", &trace)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "bad.csv:3: arrivals must be a non-negative integer, found `many`",
        ));
    let good = files.trace("t.csv", "t_seconds,arrivals\n0,1\n");
    files
        .simulate("nobody", &good)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no policy named `nobody` in "))
        .stderr(predicate::str::contains("the policies are: one, scaler"));
    files
        .simulate("one", &good)
        .args(["--sweep", "colour=1,2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown sweep key `colour`"));
    files
        .simulate("one", &good)
        .args(["--sweep", "min_tasks=5"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--sweep min_tasks=5: "))
        .stderr(predicate::str::contains(
            "min_tasks: 5 is greater than max_tasks 1",
        ));
    files
        .simulate("one", &good)
        .args(["--service-time", "quick"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither decimal seconds"));
    files
        .simulate("one", &good)
        .args(["--concurrency", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("concurrency must be at least 1"));
}

fn rfc3339(unix: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix as u64)).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_export_reads_cloudwatch_sums_per_minute() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base = now / 60 * 60 - 600;
    let datum = |queue: &str, at: i64, value: f64| {
        MetricDatum::builder()
            .metric_name("NumberOfMessagesSent")
            .dimensions(Dimension::builder().name("QueueName").value(queue).build())
            .timestamp(aws_smithy_types::DateTime::from_secs(at))
            .value(value)
            .unit(StandardUnit::Count)
            .build()
    };
    cloudwatch
        .put_metric_data()
        .namespace("AWS/SQS")
        .metric_data(datum("jobs", base, 5.0))
        .metric_data(datum("jobs", base + 65, 3.0))
        .metric_data(datum("jobs", base + 100, 4.0))
        .metric_data(datum("jobs", base + 185, 2.0))
        .metric_data(datum("other", base + 60, 1000.0))
        .send()
        .await
        .expect("moto takes the datapoints");

    // The export looks the queue up first: it must exist.
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = sqs
        .create_queue()
        .queue_name("jobs")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");

    let files = Files::new();
    for (queue, file) in [("jobs", "by-name.csv"), (url.as_str(), "by-url.csv")] {
        let out = files.path(file);
        let mut cmd = Command::cargo_bin("backlog-scaler").unwrap();
        cmd.envs(moto.env())
            .env_remove("AWS_ENDPOINT_URL")
            .args(["trace", "export", "--queue", queue])
            .args(["--since", &rfc3339(base), "--until", &rfc3339(base + 240)])
            .args(["--region", moto::REGION, "--endpoint-url", &moto.endpoint()])
            .arg("--out")
            .arg(&out);
        let assert = tokio::task::spawn_blocking(move || cmd.assert())
            .await
            .unwrap();
        assert
            .success()
            .stderr(predicate::str::contains("wrote 4 minutes (14 messages)"));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "t_seconds,arrivals\n0,5\n60,7\n120,0\n180,2\n",
            "{queue}"
        );
    }

    // The exported file replays.
    let replay = files
        .simulate("one", &files.path("by-name.csv"))
        .args(["--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(json(&replay)["messages"], 14);
}

#[test]
fn trace_export_refuses_an_empty_range() {
    let files = Files::new();
    Command::cargo_bin("backlog-scaler")
        .unwrap()
        .args([
            "trace", "export", "--queue", "jobs", "--since", "1h", "--until", "2h",
        ])
        .arg("--out")
        .arg(files.path("x.csv"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the time range is empty"));
}
