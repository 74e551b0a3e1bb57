//! `simulate --alternative` and `simulate --compare`, run as a user runs
//! them: the JSON keys, the refusals, the table, and `--out`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const POLICY: &str = "\
name: scaler
cluster: c
service: s
queues: [q]
target_backlog_per_task: 4
min_tasks: 1
max_tasks: 20
poll_interval: 15s
";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policies.yaml"), POLICY).unwrap();
        // One message a second for 10 minutes.
        let rows: String = (0..600).map(|t| format!("{t},1\n")).collect();
        std::fs::write(
            dir.path().join("steady.csv"),
            format!("t_seconds,arrivals\n{rows}"),
        )
        .unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `simulate` on the steady trace, S = 2 s, no startup delay.
    fn simulate(&self) -> Command {
        let mut cmd = Command::cargo_bin("backlog-scaler").unwrap();
        cmd.arg("simulate")
            .arg("--trace")
            .arg(self.path("steady.csv"))
            .args(["--service-time", "2", "--startup", "0s"]);
        cmd
    }

    fn with_policy(&self) -> Command {
        let mut cmd = self.simulate();
        cmd.arg("--policies")
            .arg(self.path("policies.yaml"))
            .args(["--policy", "scaler"]);
        cmd
    }
}

fn json(cmd: &mut Command) -> Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("stdout is JSON")
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn an_alternative_prints_the_same_keys_as_a_policy_run() {
    let files = Files::new();
    let policy = json(files.with_policy().arg("--json"));
    let hpa = json(
        files
            .simulate()
            .args(["--alternative", "keda-hpa=4", "--json"]),
    );
    assert_eq!(keys(&hpa), keys(&policy));
    assert_eq!(hpa["messages"], 600);
    // A fixed fleet of 2 serves 1 message/s with S = 2 s at no wait, and
    // bills exactly the work; the bounds clamp a fleet of 50 to --max-tasks.
    let fixed = json(
        files
            .simulate()
            .args(["--alternative", "fixed=2", "--json"]),
    );
    assert_eq!(fixed["wait_p99_s"], 0.0);
    assert_eq!(fixed["cost_ratio"], 1.0);
    assert_eq!(fixed["peak_tasks"], 2);
    let clamped =
        json(
            files
                .simulate()
                .args(["--alternative", "fixed=50", "--max-tasks", "3", "--json"]),
        );
    assert_eq!(clamped["peak_tasks"], 3);
}

#[test]
fn bad_alternatives_are_refused_with_a_clear_message() {
    let files = Files::new();
    let cases = [
        (
            "fixed=2.5",
            "--alternative fixed=2.5: the knob must be N, a whole number of tasks",
        ),
        (
            "naive=0",
            "--alternative naive=0: the knob must be T, messages per task",
        ),
        (
            "keda-hpa=many",
            "--alternative keda-hpa=many: the knob must be T",
        ),
        ("hpa=3", "unknown alternative `hpa`"),
        ("keda-hpa", "--alternative must look like NAME=KNOB"),
    ];
    for (spec, message) in cases {
        files
            .simulate()
            .args(["--alternative", spec])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
    }
    files
        .simulate()
        .args(["--alternative", "aws-target-tracking=5", "--min-tasks", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs --min-tasks of at least 1"));
    files
        .simulate()
        .args([
            "--alternative",
            "naive=5",
            "--min-tasks",
            "9",
            "--max-tasks",
            "3",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--min-tasks 9 is more than --max-tasks 3",
        ));
}

#[test]
fn compare_needs_a_wait_target() {
    let files = Files::new();
    files
        .with_policy()
        .arg("--compare")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--compare needs --wait-target"));
}

#[test]
fn compare_tunes_every_alternative_and_prints_one_table() {
    let files = Files::new();
    let c = json(
        files
            .with_policy()
            .args(["--compare", "--wait-target", "20s", "--json"]),
    );
    assert_eq!(c["wait_target_s"], 20.0);
    assert_eq!(
        (c["min_tasks"].clone(), c["max_tasks"].clone()),
        (1.into(), 20.into())
    );
    assert_eq!(c["policy"]["name"], "scaler");
    let names: Vec<&str> = c["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alternative"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fixed", "naive", "keda-hpa", "aws-target-tracking"]);
    // The fixed fleet's cheapest meeting size is 2 (1 falls behind).
    let fixed = &c["alternatives"][0];
    assert_eq!(fixed["knob"], 2.0);
    assert_eq!(fixed["summary"]["cost_ratio"], 1.0);
    let table = files
        .with_policy()
        .args(["--compare", "--wait-target", "20s"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.contains("cheapest setting meeting p99 wait <= 20 s"),
        "{table}"
    );
    assert!(table.contains("ours (scaler)"), "{table}");
    let fixed_row = table.lines().find(|l| l.starts_with("fixed")).unwrap();
    assert!(
        fixed_row.contains("N 2") && fixed_row.contains("1.000x"),
        "{fixed_row}"
    );
}

#[test]
fn compare_out_adds_the_comparison_and_draws_each_alternative() {
    let files = Files::new();
    let dir = files.path("out");
    files
        .with_policy()
        .args(["--compare", "--wait-target", "20s", "--out"])
        .arg(&dir)
        .assert()
        .success();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["messages"], 600);
    assert_eq!(summary["comparison"]["alternatives"][0]["knob"], 2.0);
    let svg = read(&dir.join("chart.svg"));
    assert!(svg.contains("tasks: ours and each alternative"));
    assert!(
        svg.contains(">fixed=2</text>"),
        "legend names the fixed fleet"
    );
    for met in summary["comparison"]["alternatives"].as_array().unwrap() {
        if let Some(knob) = met["knob"].as_f64() {
            let label = format!(
                ">{}={}</text>",
                met["alternative"].as_str().unwrap(),
                fmt(knob)
            );
            assert!(svg.contains(&label), "legend has {label}");
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn fmt(value: f64) -> String {
    format!("{value}")
}
