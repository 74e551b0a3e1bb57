//! The policy commands run as a user runs them: `validate`, `explain` and
//! `schema`, with their exit codes and exact output, reading policies from
//! files or from the `BACKLOG_SCALER_POLICIES` environment variable.
//!
//! `tests/bad-policies/` holds one invalid policy file per problem; each is
//! validated on its own and its whole output asserted. The file over the
//! size limit is made here instead of committed.

use std::fs;
use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;

/// The binary, run from the package root so relative paths are stable.
fn cli() -> Command {
    let mut command = cargo_bin_cmd!("backlog-scaler");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BACKLOG_SCALER_POLICIES");
    command
}

/// Run `validate PATH`: (exit code, stdout).
fn validate(path: &str) -> (i32, String) {
    let output = cli().args(["validate", path]).output().expect("runs");
    let code = output.status.code().expect("exits");
    (
        code,
        String::from_utf8(output.stdout).expect("UTF-8 output"),
    )
}

fn lines(expected: &[&str]) -> String {
    expected.iter().map(|line| format!("{line}\n")).collect()
}

/// Every file of the corpus with the exact output `validate` gives for it.
const BAD_POLICIES: &[(&str, &[&str])] = &[
    (
        "alias-bomb.yaml",
        &[
            "tests/bad-policies/alias-bomb.yaml:11:37: error: policy 'laughs': aliases expand this document past 10000 nodes (hint: this looks like an alias bomb; write the policy out without anchors and aliases)",
            "tests/bad-policies/alias-bomb.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "bad-durations-and-steps.yaml",
        &[
            "tests/bad-policies/bad-durations-and-steps.yaml:8:16: error: policy 'orders-worker': poll_interval: `soon` is not a duration: expected number at 0 (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/bad-durations-and-steps.yaml:10:13: error: policy 'orders-worker': scale_out.max_step: must be at least 1, got 0 (hint: leave `max_step` out for no limit)",
            r#"tests/bad-policies/bad-durations-and-steps.yaml:11:13: error: policy 'orders-worker': scale_out.cooldown: `1 fortnight` is not a duration: unknown time unit "fortnight", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations) (hint: write a duration such as `30s`, `5m` or `300ms`)"#,
            "tests/bad-policies/bad-durations-and-steps.yaml:13:13: error: policy 'orders-worker': scale_in.max_step: `lots` is not a step (hint: write a number of tasks such as `4`, or a percent such as `50%`)",
            "tests/bad-policies/bad-durations-and-steps.yaml: 4 errors, 0 warnings",
        ],
    ),
    (
        "bad-weights.yaml",
        &[
            "tests/bad-policies/bad-weights.yaml:6:13: error: policy 'orders-worker': queues[0].weight: must be greater than 0, got 0 (hint: a weight says how much one message counts, e.g. `0.5`; remove the queue to ignore it)",
            "tests/bad-policies/bad-weights.yaml:8:5: error: policy 'orders-worker': queues[2]: `orders` is listed twice (hint: its backlog would count twice; list it once, with a `weight` if needed)",
            "tests/bad-policies/bad-weights.yaml: 2 errors, 0 warnings",
        ],
    ),
    (
        "both-targets.yaml",
        &[
            "tests/bad-policies/both-targets.yaml:6:14: error: policy 'orders-worker': target_wait: cannot be used with target_backlog_per_task (hint: keep `target_backlog_per_task`, or `target_wait` with `message_cost`, not both)",
            "tests/bad-policies/both-targets.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "duplicate-key.yaml",
        &[
            "tests/bad-policies/duplicate-key.yaml:8:1: error: policy 'orders-worker': max_tasks: `max_tasks` is given twice (hint: keep one of them)",
            "tests/bad-policies/duplicate-key.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "duplicate-names.yaml",
        &[
            "tests/bad-policies/duplicate-names.yaml:9:7: error: policy 'orders-worker': name: `orders-worker` is already the name of the policy at tests/bad-policies/duplicate-names.yaml:1:7 (hint: give each policy its own name)",
            "tests/bad-policies/duplicate-names.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "empty-queues.yaml",
        &[
            "tests/bad-policies/empty-queues.yaml:4:9: error: policy 'orders-worker': queues: lists no queue (hint: add `queues:` with the SQS queue names or URLs the service consumes)",
            "tests/bad-policies/empty-queues.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "empty.yaml",
        &[
            "tests/bad-policies/empty.yaml: error: holds no policy (hint: write a policy here, or remove the file)",
            "tests/bad-policies/empty.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "half-wait-target.yaml",
        &[
            "tests/bad-policies/half-wait-target.yaml:5:14: error: policy 'orders-worker': target_wait: needs message_cost (hint: add `message_cost`: the time one task spends on one message)",
            "tests/bad-policies/half-wait-target.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "huge-numbers.yaml",
        &[
            "tests/bad-policies/huge-numbers.yaml:7:12: error: policy 'orders-worker': max_tasks: `99999999999999999999` is out of range for a whole number (hint: write a number of tasks, e.g. `4`)",
            "tests/bad-policies/huge-numbers.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "min-greater-than-max.yaml",
        &[
            "tests/bad-policies/min-greater-than-max.yaml:6:12: error: policy 'orders-worker': min_tasks: 12 is greater than max_tasks 10 (hint: lower min_tasks or raise max_tasks)",
            "tests/bad-policies/min-greater-than-max.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "missing-keys.yaml",
        &[
            "tests/bad-policies/missing-keys.yaml:1:1: error: policy 'orders-worker': cluster: is required (hint: add `cluster:` with the ECS cluster's name or ARN)",
            "tests/bad-policies/missing-keys.yaml:1:1: error: policy 'orders-worker': service: is required (hint: add `service:` with the ECS service's name or ARN)",
            "tests/bad-policies/missing-keys.yaml:1:1: error: policy 'orders-worker': max_tasks: is required (hint: add `max_tasks`: the most tasks the service may run)",
            "tests/bad-policies/missing-keys.yaml: 3 errors, 0 warnings",
        ],
    ),
    (
        "misspelled-keys.yaml",
        &[
            "tests/bad-policies/misspelled-keys.yaml:7:1: error: policy 'orders-worker': max_taks: unknown key (hint: did you mean `max_tasks`?)",
            "tests/bad-policies/misspelled-keys.yaml:9:3: error: policy 'orders-worker': scale_out.max_stepp: unknown key (hint: did you mean `max_step`?)",
            "tests/bad-policies/misspelled-keys.yaml:10:1: error: policy 'orders-worker': cooldown: unknown key (hint: `cooldown` belongs under `scale_out` or `scale_in`)",
            "tests/bad-policies/misspelled-keys.yaml: 3 errors, 0 warnings",
        ],
    ),
    (
        "negative-numbers.yaml",
        &[
            "tests/bad-policies/negative-numbers.yaml:6:13: error: policy 'orders-worker': queues[0].weight: must be greater than 0, got -1 (hint: a weight says how much one message counts, e.g. `0.5`; remove the queue to ignore it)",
            "tests/bad-policies/negative-numbers.yaml:7:26: error: policy 'orders-worker': target_backlog_per_task: must be greater than 0, got -100 (hint: give the number of waiting messages one task should have, e.g. `100`)",
            "tests/bad-policies/negative-numbers.yaml:8:12: error: policy 'orders-worker': min_tasks: must be 0 or more, got -2 (hint: give a number of tasks)",
            "tests/bad-policies/negative-numbers.yaml: 3 errors, 0 warnings",
        ],
    ),
    (
        "no-target.yaml",
        &[
            "tests/bad-policies/no-target.yaml:1:1: error: policy 'orders-worker': no target is given (hint: add `target_backlog_per_task`, or `target_wait` and `message_cost`)",
            "tests/bad-policies/no-target.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "not-a-mapping.yaml",
        &[
            "tests/bad-policies/not-a-mapping.yaml:1:1: error: expected a mapping of policy keys such as `name:` and `queues:`, found `Scale the orders worker from its queue, …` (hint: each YAML document in a policy file is one policy: a mapping of keys)",
            "tests/bad-policies/not-a-mapping.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "not-utf8.yaml",
        &[
            "tests/bad-policies/not-utf8.yaml:1:10: error: is not UTF-8 text: byte 0xE9 (hint: save the file as UTF-8)",
            "tests/bad-policies/not-utf8.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "not-yaml.yaml",
        &[
            "tests/bad-policies/not-yaml.yaml:5:10: error: policy 'orders-worker': not valid YAML: illegal placement of ':' indicator (hint: check the indentation, quotes and brackets here)",
            "tests/bad-policies/not-yaml.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "same-service.yaml",
        &[
            "tests/bad-policies/same-service.yaml:12:10: error: policy 'orders-worker-retries': service: service `orders-worker` in cluster `prod` is already driven by policy `orders-worker` at tests/bad-policies/same-service.yaml:3:10 (hint: two policies would fight over one service; give one policy several queues instead)",
            "tests/bad-policies/same-service.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "service-in-other-cluster.yaml",
        &[
            "tests/bad-policies/service-in-other-cluster.yaml:3:10: error: policy 'orders-worker': service: the service ARN is in cluster `staging`, not `prod` (hint: make `cluster` and the service ARN name the same cluster)",
            "tests/bad-policies/service-in-other-cluster.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "tolerance-out-of-range.yaml",
        &[
            "tests/bad-policies/tolerance-out-of-range.yaml:8:12: error: policy 'orders-worker': tolerance: must be at least 0 and below 1, got 1.5 (hint: 0.1 holds still while the backlog per task is within 10% of the target)",
            "tests/bad-policies/tolerance-out-of-range.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "too-many-tasks.yaml",
        &[
            "tests/bad-policies/too-many-tasks.yaml:7:12: error: policy 'orders-worker': max_tasks: must be at most 4294967295, got 10000000000 (hint: give a number of tasks)",
            "tests/bad-policies/too-many-tasks.yaml:9:13: error: policy 'orders-worker': scale_out.max_step: must be at most 4294967295, got 5000000000 (hint: leave `max_step` out for no limit)",
            "tests/bad-policies/too-many-tasks.yaml: 2 errors, 0 warnings",
        ],
    ),
    (
        "wrong-types.yaml",
        &[
            "tests/bad-policies/wrong-types.yaml:6:12: error: policy 'orders-worker': min_tasks: expected a whole number, found `two` (hint: write a number of tasks, e.g. `4`)",
            "tests/bad-policies/wrong-types.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "zero-poll-interval.yaml",
        &[
            "tests/bad-policies/zero-poll-interval.yaml:8:16: error: policy 'orders-worker': poll_interval: must be longer than 0s (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/zero-poll-interval.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "zero-target.yaml",
        &[
            "tests/bad-policies/zero-target.yaml:5:26: error: policy 'orders-worker': target_backlog_per_task: must be greater than 0, got 0 (hint: give the number of waiting messages one task should have, e.g. `100`)",
            "tests/bad-policies/zero-target.yaml: 1 error, 0 warnings",
        ],
    ),
];

#[test]
fn every_bad_policy_is_rejected_with_its_exact_errors() {
    for (file, expected) in BAD_POLICIES {
        let (code, stdout) = validate(&format!("tests/bad-policies/{file}"));
        assert_eq!(stdout, lines(expected), "output for {file}");
        assert_eq!(code, 1, "exit code for {file}");
    }
}

#[test]
fn the_corpus_has_an_expectation_for_every_file() {
    let mut files: Vec<String> =
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-policies"))
            .expect("the corpus")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
    files.sort();
    let expected: Vec<&str> = BAD_POLICIES.iter().map(|(file, _)| *file).collect();
    assert_eq!(files, expected);
}

#[test]
fn the_example_policies_are_valid() {
    let (code, stdout) = validate("policies");
    assert_eq!(
        stdout,
        "OK: 3 valid policies in policies (notifications, orders-worker, thumbnailer), 0 warnings\n"
    );
    assert_eq!(code, 0);
}

#[test]
fn validate_reads_policies_by_default() {
    let output = cli().arg("validate").output().expect("runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("OK: 3 valid policies in policies (")
    );
}

#[test]
fn validate_reads_the_environment_variable_when_no_path_is_given() {
    let yaml = fs::read_to_string("policies/orders-worker.yaml").expect("an example policy");
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", &yaml)
        .arg("validate")
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "OK: 1 valid policy in $BACKLOG_SCALER_POLICIES (orders-worker), 0 warnings\n"
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());

    // A path given explicitly wins, with a note.
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", &yaml)
        .args(["validate", "policies"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("OK: 3 valid policies in policies (")
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "note: policies is given, so BACKLOG_SCALER_POLICIES is ignored\n"
    );

    // Empty is unset, as for every variable clap reads.
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", "")
        .arg("validate")
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("OK: 3 valid policies in policies (")
    );
}

#[test]
fn errors_in_the_environment_variable_are_located_in_it() {
    let yaml = "name: a\ncluster: prod\nqueues: [q]\ntarget_backlog_per_task: 10\n\
                min_tasks: 2\nmax_tasks: 4\nmax_taks: 3\n";
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", yaml)
        .arg("validate")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("$BACKLOG_SCALER_POLICIES:7:1: error: policy 'a': max_taks: "),
        "{stdout}"
    );
    assert_eq!(
        lines.last(),
        Some(&"$BACKLOG_SCALER_POLICIES: 1 error, 0 warnings"),
        "{stdout}"
    );
    assert_eq!(output.status.code(), Some(1));

    // `run` refuses to start on them, before any AWS call.
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", yaml)
        .args(["run", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(lines[0]), "{stderr}");
    assert!(
        stderr.contains("error: $BACKLOG_SCALER_POLICIES has 1 problem(s); not starting"),
        "{stderr}"
    );
}

#[test]
fn explain_reads_the_environment_variable() {
    let yaml = fs::read_to_string("policies/orders-worker.yaml").expect("an example policy");
    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", &yaml)
        .args([
            "explain",
            "--policy",
            "orders-worker",
            "--visible",
            "1200",
            "--desired",
            "4",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout)
        .starts_with("policy: orders-worker\naction: scale_out 4 -> 8 tasks\n"));

    let output = cli()
        .env("BACKLOG_SCALER_POLICIES", &yaml)
        .args([
            "explain",
            "--policy",
            "billing",
            "--visible",
            "1",
            "--desired",
            "1",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no policy named `billing` in $BACKLOG_SCALER_POLICIES; the policies are: orders-worker\n"
    );
}

#[test]
fn a_file_over_a_mebibyte_is_refused_unread() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let big = dir.path().join("big.yaml");
    let mut text = String::from("name: big\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    fs::write(&big, &text).expect("written");
    let path = big.display().to_string();
    let (code, stdout) = validate(&path);
    assert_eq!(
        stdout,
        lines(&[
            &format!(
                "{path}: error: is {} bytes, over the 1048576-byte limit for a policy file \
                 (hint: policy files are a few kilobytes; check this is the right file)",
                text.len()
            ),
            &format!("{path}: 1 error, 0 warnings"),
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn a_directory_is_checked_as_a_whole() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let policy =
        "cluster: prod\nqueues: [q]\ntarget_backlog_per_task: 10\nmin_tasks: 2\nmax_tasks: 4\n";
    fs::write(
        dir.path().join("a.yaml"),
        format!("name: a\nservice: a\n{policy}"),
    )
    .expect("a");
    // Another file, the same name: caught across files.
    fs::write(
        dir.path().join("b.yml"),
        format!("name: a\nservice: b\n{policy}"),
    )
    .expect("b");
    fs::write(dir.path().join("c.yaml"), "name: c\nqueues: [q\n").expect("c");
    // Neither a policy file nor visible: not read.
    fs::write(dir.path().join("notes.txt"), "not: [yaml").expect("notes");
    fs::write(dir.path().join(".draft.yaml"), "not: [yaml").expect("draft");
    let root = dir.path().display().to_string();
    let (code, stdout) = validate(&root);
    assert_eq!(
        stdout,
        lines(&[
            &format!(
                "{root}/b.yml:1:7: error: policy 'a': name: `a` is already the name of the policy at \
                 {root}/a.yaml:1:7 (hint: give each policy its own name)"
            ),
            &format!(
                "{root}/c.yaml:2:9: error: policy 'c': not valid YAML: unclosed bracket '[' \
                 (hint: check the indentation, quotes and brackets here)"
            ),
            &format!("{root}: 2 errors, 0 warnings"),
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn a_directory_without_policy_files_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().display().to_string();
    let (code, stdout) = validate(&root);
    assert_eq!(
        stdout,
        lines(&[
            &format!("{root}: error: holds no *.yaml or *.yml file (hint: point at a policy file, or a directory of them)"),
            &format!("{root}: 1 error, 0 warnings"),
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn a_missing_path_is_an_error() {
    let (code, stdout) = validate("tests/no-such-policies.yaml");
    assert_eq!(
        stdout,
        lines(&[
            "tests/no-such-policies.yaml: error: cannot be read: No such file or directory (os error 2) \
             (hint: check that the path exists and is readable)",
            "tests/no-such-policies.yaml: 1 error, 0 warnings",
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn warnings_are_printed_but_do_not_fail() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("single.yaml");
    fs::write(
        &file,
        "name: single\ncluster: prod\nservice: single\nqueues: [q]\ntarget_backlog_per_task: 10\nmin_tasks: 1\nmax_tasks: 4\n",
    )
    .expect("written");
    let path = file.display().to_string();
    let (code, stdout) = validate(&path);
    assert_eq!(
        stdout,
        lines(&[
            &format!(
                "{path}:6:12: warning: policy 'single': min_tasks: one task is a single point of failure \
                 (hint: set `min_tasks: 2` so one failing task or host does not stop consumption)"
            ),
            &format!("OK: 1 valid policy in {path} (single), 1 warning"),
        ])
    );
    assert_eq!(code, 0);
}

/// Run `explain` on the example policies: (exit code, stdout, stderr).
fn explain(args: &[&str]) -> (i32, String, String) {
    let output = cli()
        .args(["explain", "--policies", "policies"])
        .args(args)
        .output()
        .expect("runs");
    (
        output.status.code().expect("exits"),
        String::from_utf8(output.stdout).expect("UTF-8"),
        String::from_utf8(output.stderr).expect("UTF-8"),
    )
}

#[test]
fn explain_prints_the_decision_and_its_reason() {
    let (code, stdout, _) = explain(&[
        "--policy",
        "orders-worker",
        "--visible",
        "1200",
        "--in-flight",
        "30",
        "--desired",
        "4",
    ]);
    assert_eq!(
        stdout,
        lines(&[
            "policy: orders-worker",
            "action: scale_out 4 -> 8 tasks",
            "reason: backlog 1230 (visible 1200 + in-flight 30) / target 100 = 13 tasks; \
             scale-out capped by max_step 100%: 4 -> 8",
        ])
    );
    assert_eq!(code, 0);
}

#[test]
fn explain_json_carries_the_decision_and_the_structured_reason() {
    let (code, stdout, _) = explain(&[
        "--policy",
        "orders-worker",
        "--visible",
        "1200",
        "--in-flight",
        "30",
        "--desired",
        "4",
        "--json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["action"], "scale_out");
    assert_eq!(json["current"], 4);
    assert_eq!(json["desired"], 8);
    assert_eq!(json["backlog"], 1230.0);
    assert_eq!(json["recommendation"], 13);
    assert_eq!(
        json["reason"],
        "backlog 1230 (visible 1200 + in-flight 30) / target 100 = 13 tasks; scale-out capped by max_step 100%: 4 -> 8"
    );
    let rules: Vec<&str> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| step["rule"].as_str().expect("a rule"))
        .collect();
    assert_eq!(rules, vec!["backlog", "recommendation", "step_capped"]);
}

#[test]
fn explain_json_holds_at_the_input_count_inside_the_tolerance() {
    let (code, stdout, _) = explain(&[
        "--policy",
        "orders-worker",
        "--visible",
        "390",
        "--in-flight",
        "20",
        "--desired",
        "4",
        "--json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["action"], "hold");
    assert_eq!(json["desired"], 4);
    assert_eq!(
        json["reason"],
        "backlog 410 (visible 390 + in-flight 20); backlog per task is 102% of target, inside the ±10% tolerance"
    );
}

#[test]
fn explain_takes_the_counts_of_a_multi_queue_policy_as_their_sum() {
    let (code, stdout, _) = explain(&[
        "--policy",
        "notifications",
        "--visible",
        "1500",
        "--delayed",
        "100",
        "--desired",
        "3",
    ]);
    assert_eq!(
        stdout,
        lines(&[
            "policy: notifications",
            "action: scale_out 3 -> 8 tasks",
            "reason: backlog 1600 (visible 1500 + in-flight 0 + delayed 100) / target 200 = 8 tasks",
            "note: the counts given are taken as the weighted sum of the policy's 3 queues",
        ])
    );
    assert_eq!(code, 0);
}

#[test]
fn explain_uses_the_deployment_flag() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("eager.yaml");
    fs::write(
        &file,
        "name: eager\ncluster: prod\nservice: eager\nqueues: [q]\ntarget_backlog_per_task: 10\n\
         min_tasks: 2\nmax_tasks: 20\nscale_in: {stabilization_window: 0s}\n",
    )
    .expect("written");
    let run = |extra: &[&str]| {
        let output = cli()
            .args(["explain", "--policies"])
            .arg(&file)
            .args([
                "--policy",
                "eager",
                "--visible",
                "30",
                "--desired",
                "10",
                "--json",
            ])
            .args(extra)
            .output()
            .expect("runs");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        (json["action"].clone(), json["desired"].clone())
    };
    assert_eq!(run(&[]), ("scale_in".into(), 3.into()));
    assert_eq!(
        run(&["--deployment-in-progress"]),
        ("hold".into(), 10.into())
    );
}

#[test]
fn explain_names_the_policies_when_the_name_is_unknown() {
    let (code, stdout, stderr) = explain(&[
        "--policy",
        "ordres-worker",
        "--visible",
        "1",
        "--desired",
        "1",
    ]);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: no policy named `ordres-worker` in policies; the policies are: notifications, orders-worker, thumbnailer\n"
    );
    assert_eq!(code, 1);
}

#[test]
fn explain_refuses_an_invalid_policy_with_its_errors() {
    let output = cli()
        .args([
            "explain",
            "--policies",
            "tests/bad-policies/min-greater-than-max.yaml",
        ])
        .args([
            "--policy",
            "orders-worker",
            "--visible",
            "1",
            "--desired",
            "1",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: policy `orders-worker` is not valid:\n\
         tests/bad-policies/min-greater-than-max.yaml:6:12: error: policy 'orders-worker': min_tasks: \
         12 is greater than max_tasks 10 (hint: lower min_tasks or raise max_tasks)\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn the_committed_schema_is_what_the_schema_command_prints() {
    let output = cli().arg("schema").output().expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let committed =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/schema.json"))
            .expect("policies/schema.json");
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "policies/schema.json is stale: run `cargo run -- schema > policies/schema.json`"
    );
}
