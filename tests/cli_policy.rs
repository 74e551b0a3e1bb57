//! The policy commands run as a user runs them: `validate`, `explain` and
//! `schema`, with their exit codes and exact output, reading policies from
//! files or from the `BACKLOG_SCALER_POLICIES` environment variable; and
//! the start-up settings `run` applies before it reads any policy's queue.
//!
//! `tests/bad-policies/` holds one invalid policy file per problem; each is
//! validated on its own and its whole output asserted. The file over the
//! size limit is made here instead of committed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;

/// The binary, run from the package root so relative paths are stable.
fn cli() -> Command {
    let mut command = cargo_bin_cmd!("backlog-scaler");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BACKLOG_SCALER_POLICIES")
        // `validate` checks URLs against it when set; these tests give
        // `--region` when they mean one.
        .env_remove("AWS_REGION");
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
        "bad-region-and-role.yaml",
        &[
            "tests/bad-policies/bad-region-and-role.yaml:2:10: error: policy 'eu-orders': cluster: `arn:aws:ecs:eu-west-1:123456789012:clust…` is in region `eu-west-1`, but the policy's `region` is `eu-central-1` (hint: SQS and ECS are called in the policy's region: make `region` and the URL or ARN agree)",
            "tests/bad-policies/bad-region-and-role.yaml:5:5: error: policy 'eu-orders': queues[0]: `https://sqs.eu-west-1.amazonaws.com/1234…` is in region `eu-west-1`, but the policy's `region` is `eu-central-1` (hint: SQS and ECS are called in the policy's region: make `region` and the URL or ARN agree)",
            "tests/bad-policies/bad-region-and-role.yaml:20:9: error: policy 'partner-orders': region: `Frankfurt` is not an AWS region (hint: write a region code such as `eu-west-1`, `us-gov-west-1` or `cn-north-1`; leave it out for the controller's own region)",
            "tests/bad-policies/bad-region-and-role.yaml:21:11: error: policy 'partner-orders': role_arn: `arn:aws:iam::210987654321:user/backlog-s…` is not an IAM role ARN (hint: a role ARN looks like `arn:aws:iam::123456789012:role/backlog-scaler` (12-digit account, `role/` then the path and name))",
            "tests/bad-policies/bad-region-and-role.yaml: 4 errors, 0 warnings",
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
            "tests/bad-policies/both-targets.yaml:7:15: error: policy 'orders-worker': message_cost: cannot be used with both target_wait and target_backlog_per_task (hint: keep one of them: with target_wait, each gives the other (target_backlog_per_task = target_wait / message_cost))",
            "tests/bad-policies/both-targets.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "control-characters.yaml",
        &[
            r#"tests/bad-policies/control-characters.yaml:3:16: error: policy 'orders-worker': not valid YAML: unexpected character: `\u{0}' (hint: check the indentation, quotes and brackets here)"#,
            "tests/bad-policies/control-characters.yaml: 1 error, 0 warnings",
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
            "tests/bad-policies/half-wait-target.yaml:5:14: error: policy 'orders-worker': target_wait: needs message_cost or target_backlog_per_task (hint: add `message_cost`, the time one task spends on one message, or `target_backlog_per_task`, the messages one task serves within the wait)",
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
        "list-of-policies.yaml",
        &[
            "tests/bad-policies/list-of-policies.yaml:2:1: error: expected a mapping of policy keys such as `name:` and `queues:`, found a list (hint: each YAML document in a policy file is one policy: a mapping of keys)",
            "tests/bad-policies/list-of-policies.yaml: 1 error, 0 warnings",
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
        "misspelled-nested-keys.yaml",
        &[
            "tests/bad-policies/misspelled-nested-keys.yaml:6:5: error: policy 'orders-worker': queues[0].wieght: unknown key (hint: did you mean `weight`?)",
            "tests/bad-policies/misspelled-nested-keys.yaml:11:3: error: policy 'orders-worker': scale_in.stabilisation_window: unknown key (hint: did you mean `stabilization_window`?)",
            "tests/bad-policies/misspelled-nested-keys.yaml: 2 errors, 0 warnings",
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
        "not-finite-numbers.yaml",
        &[
            "tests/bad-policies/not-finite-numbers.yaml:7:13: error: policy 'orders-worker': queues[0].weight: must be a finite number greater than 0, got inf (hint: a weight says how much one message counts, e.g. `0.5`; remove the queue to ignore it)",
            "tests/bad-policies/not-finite-numbers.yaml:8:26: error: policy 'orders-worker': target_backlog_per_task: must be a finite number greater than 0, got NaN (hint: give the number of waiting messages one task should have, e.g. `100`)",
            "tests/bad-policies/not-finite-numbers.yaml:11:12: error: policy 'orders-worker': tolerance: must be at least 0 and below 1, got -inf (hint: 0.1 holds still while the backlog per task is within 10% of the target)",
            "tests/bad-policies/not-finite-numbers.yaml:18:26: error: policy 'thumbnailer': target_backlog_per_task: `1e309` is out of range for a number (hint: write a number, e.g. `0.5`)",
            "tests/bad-policies/not-finite-numbers.yaml: 4 errors, 0 warnings",
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
        "null-document.yaml",
        &[
            "tests/bad-policies/null-document.yaml: error: holds no policy (hint: write a policy here, or remove the file)",
            "tests/bad-policies/null-document.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "out-of-range-durations.yaml",
        &[
            "tests/bad-policies/out-of-range-durations.yaml:8:16: error: policy 'orders-worker': poll_interval: `18446744073709551616s` is not a duration: number is too large or cannot be represented without a lack of precision (values below 1ns are not supported) (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/out-of-range-durations.yaml:10:13: error: policy 'orders-worker': scale_out.cooldown: `-5s` is negative; a duration is 0 or more (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/out-of-range-durations.yaml:12:25: error: policy 'orders-worker': scale_in.stabilization_window: `600000000000 years` is not a duration: number is too large or cannot be represented without a lack of precision (values below 1ns are not supported) (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/out-of-range-durations.yaml: 3 errors, 0 warnings",
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
        "tab-indented.yaml",
        &[
            "tests/bad-policies/tab-indented.yaml:5:2: error: policy 'orders-worker': not valid YAML: tabs disallowed within this context (block indentation) (hint: check the indentation, quotes and brackets here)",
            "tests/bad-policies/tab-indented.yaml: 1 error, 0 warnings",
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
        "too-deep.yaml",
        &[
            "tests/bad-policies/too-deep.yaml:4:3: error: policy 'orders-worker': scale_out.max_step: expected a number of tasks such as `4`, or a percent such as `50%`, found a list (hint: write a number of tasks such as `4`, or a percent such as `50%`)",
            "tests/bad-policies/too-deep.yaml:4:268: error: policy 'orders-worker': too deep for a policy: recursion limit exceeded (hint: a policy needs a few dozen keys and no aliases; check this is the right file)",
            "tests/bad-policies/too-deep.yaml: 2 errors, 0 warnings",
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
        "undefined-alias.yaml",
        &[
            "tests/bad-policies/undefined-alias.yaml:4:9: error: policy 'orders-worker': not valid YAML: while parsing node, found unknown anchor (hint: check the indentation, quotes and brackets here)",
            "tests/bad-policies/undefined-alias.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "utf-16.yaml",
        &[
            "tests/bad-policies/utf-16.yaml:1:1: error: is not UTF-8 text: byte 0xFF (hint: this looks like UTF-16; save the file as UTF-8)",
            "tests/bad-policies/utf-16.yaml: 1 error, 0 warnings",
        ],
    ),
    (
        "wrong-types-in-every-section.yaml",
        &[
            "tests/bad-policies/wrong-types-in-every-section.yaml:2:7: error: name: expected a policy name, found a list (hint: write it as plain text, e.g. `orders`)",
            "tests/bad-policies/wrong-types-in-every-section.yaml:14:3: error: policy 'queues-as-mapping': queues: expected a list of SQS queue names or URLs, found a mapping (hint: write one `- queue` per line below `queues:`, or `[a, b]`)",
            "tests/bad-policies/wrong-types-in-every-section.yaml:25:12: error: policy 'fractional-count': max_tasks: expected a whole number, found `2.5` (hint: write a number of tasks, e.g. `4`)",
            "tests/bad-policies/wrong-types-in-every-section.yaml:34:10: error: policy 'flag-as-word': dry_run: expected true or false, found `maybe` (hint: write `true` or `false`)",
            "tests/bad-policies/wrong-types-in-every-section.yaml:43:11: error: policy 'section-as-scalar': scale_in: expected a mapping with `stabilization_window`, `max_step` and `cooldown`, found `5m` (hint: write its keys on the lines below it, indented)",
            "tests/bad-policies/wrong-types-in-every-section.yaml:52:16: error: policy 'duration-as-number': poll_interval: `15` is not a duration: time unit needed, for example 15sec or 15ms (hint: write a duration such as `30s`, `5m` or `300ms`)",
            "tests/bad-policies/wrong-types-in-every-section.yaml: 6 errors, 0 warnings",
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
        stderr.contains("error: $BACKLOG_SCALER_POLICIES has 1 problem; not starting"),
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

/// A valid policy, for directories that mix good and bad entries.
const GOOD_POLICY: &str = "name: good\ncluster: prod\nservice: good\nqueues: [q]\n\
                           target_backlog_per_task: 10\nmin_tasks: 2\nmax_tasks: 4\n";

/// Run `validate PATH` with a deadline: a load that blocks (on a FIFO, say)
/// fails the test instead of hanging it.
fn validate_within_deadline(path: &Path) -> (i32, String) {
    let output = cli()
        .arg("validate")
        .arg(path)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let code = output.status.code().expect("exits before the deadline");
    (
        code,
        String::from_utf8(output.stdout).expect("UTF-8 output"),
    )
}

#[test]
fn entries_of_a_directory_that_cannot_be_read_as_files_are_each_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    fs::write(root.join("good.yaml"), GOOD_POLICY).expect("good");
    std::os::unix::fs::symlink("nowhere.yaml", root.join("dangling.yaml")).expect("a link");
    std::os::unix::fs::symlink("loop.yaml", root.join("loop.yaml")).expect("a loop");
    // Opening a FIFO for reading blocks until a writer comes: a stray one
    // must not hang a load, or the daemon's reload.
    let fifo = root.join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // A directory named like a policy file is a directory: not read.
    fs::create_dir(root.join("drafts.yaml")).expect("a directory");
    fs::write(root.join("drafts.yaml/inner.yaml"), "not: [yaml").expect("inner");

    let (code, stdout) = validate_within_deadline(root);
    let root = root.display();
    assert_eq!(
        stdout,
        lines(&[
            &format!(
                "{root}/dangling.yaml: error: is a symbolic link to `nowhere.yaml`, which does not exist \
                 (hint: point the link at a policy file, or remove it)"
            ),
            &format!(
                "{root}/fifo.yaml: error: is a FIFO, not a regular file \
                 (hint: a policy file must be a regular file; for generated policies, \
                 write them to a file or pass them in BACKLOG_SCALER_POLICIES)"
            ),
            &format!(
                "{root}/loop.yaml: error: cannot be read: Too many levels of symbolic links (os error 40) \
                 (hint: check that the path exists and is readable)"
            ),
            &format!("{root}: 3 errors, 0 warnings"),
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn the_valid_policies_of_a_directory_with_broken_entries_still_load() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("good.yaml"), GOOD_POLICY).expect("good");
    std::os::unix::fs::symlink("nowhere.yaml", dir.path().join("dangling.yaml")).expect("link");
    fs::write(dir.path().join("broken.yaml"), "name: [").expect("broken");
    let output = cli()
        .args(["explain", "--policies"])
        .arg(dir.path())
        .args(["--policy", "good", "--visible", "80", "--desired", "2"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        lines(&[
            "policy: good",
            "action: scale_out 2 -> 4 tasks",
            "reason: backlog 80 (visible 80 + in-flight 0) / target 10 = 8 tasks; lowered to max_tasks 4",
        ])
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "warning: other policies in {0} have errors; run `backlog-scaler validate {0}`\n",
            dir.path().display()
        )
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_fifo_named_on_the_command_line_is_refused_unopened() {
    // Opening a FIFO blocks until something writes to it: named on the
    // command line, it is refused like one found in a directory, at once.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fifo = dir.path().join("policies.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (code, stdout) = validate_within_deadline(&fifo);
    let fifo = fifo.display();
    assert_eq!(
        stdout,
        lines(&[
            &format!(
                "{fifo}: error: is a FIFO, not a regular file \
                 (hint: a policy file must be a regular file; for generated policies, \
                 write them to a file or pass them in BACKLOG_SCALER_POLICIES)"
            ),
            &format!("{fifo}: 1 error, 0 warnings"),
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn a_path_through_a_file_is_an_error() {
    let (code, stdout) = validate("policies/orders-worker.yaml/more.yaml");
    assert_eq!(
        stdout,
        lines(&[
            "policies/orders-worker.yaml/more.yaml: error: cannot be read: Not a directory (os error 20) \
             (hint: check that the path exists and is readable)",
            "policies/orders-worker.yaml/more.yaml: 1 error, 0 warnings",
        ])
    );
    assert_eq!(code, 1);
}

#[test]
fn files_and_directories_without_read_permission_are_errors() {
    // The tests run as root, who reads anything: the binary then runs as
    // `nobody` (through util-linux's setpriv) to meet the permission check
    // a real deployment meets.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod");
    let binary = root.join("backlog-scaler");
    fs::copy(assert_cmd::cargo::cargo_bin!("backlog-scaler"), &binary).expect("copied");
    let policies = root.join("policies");
    fs::create_dir(&policies).expect("policies");
    fs::write(policies.join("good.yaml"), GOOD_POLICY).expect("good");
    fs::write(policies.join("secret.yaml"), GOOD_POLICY).expect("secret");
    fs::set_permissions(
        policies.join("secret.yaml"),
        fs::Permissions::from_mode(0o000),
    )
    .expect("chmod");
    let locked = root.join("locked");
    fs::create_dir(&locked).expect("locked");
    fs::write(locked.join("policy.yaml"), GOOD_POLICY).expect("policy");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");

    let privileged = fs::read_dir(&locked).is_ok();
    let run = |path: &Path| {
        let mut command = if privileged {
            let mut command = std::process::Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&binary);
            command
        } else {
            std::process::Command::new(&binary)
        };
        let output = command.arg("validate").arg(path).output().expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };

    let policies_shown = policies.display();
    assert_eq!(
        run(&policies),
        (
            Some(1),
            lines(&[
                &format!(
                    "{policies_shown}/secret.yaml: error: cannot be read: Permission denied (os error 13) \
                     (hint: check that the path exists and is readable)"
                ),
                &format!("{policies_shown}: 1 error, 0 warnings"),
            ])
        )
    );
    let locked_shown = locked.display();
    assert_eq!(
        run(&locked),
        (
            Some(1),
            lines(&[
                &format!(
                    "{locked_shown}: error: cannot be read: Permission denied (os error 13) \
                     (hint: check that the path exists and is readable)"
                ),
                &format!("{locked_shown}: 1 error, 0 warnings"),
            ])
        )
    );
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
            "aws: region eu-west-1",
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

#[test]
fn explain_shows_where_the_policys_calls_go() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("remote.yaml");
    fs::write(
        &file,
        "name: remote\ncluster: prod\nservice: remote\nqueues: [q]\ntarget_backlog_per_task: 10\n\
         min_tasks: 2\nmax_tasks: 20\nregion: eu-west-1\n\
         role_arn: arn:aws:iam::210987654321:role/backlog-scaler-target\n",
    )
    .expect("written");
    let run = |extra: &[&str]| {
        let output = cli()
            .args(["explain", "--policies"])
            .arg(&file)
            .args(["--policy", "remote", "--visible", "30", "--desired", "3"])
            .args(extra)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let text = run(&[]);
    assert!(
        text.lines().any(|line| line
            == "aws: region eu-west-1, role arn:aws:iam::210987654321:role/backlog-scaler-target"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&["--json"])).expect("JSON");
    assert_eq!(json["region"], "eu-west-1");
    assert_eq!(
        json["role_arn"],
        "arn:aws:iam::210987654321:role/backlog-scaler-target"
    );
    // The example policies use the controller's own: no `aws:` line, nulls.
    let (_, stdout, _) = explain(&[
        "--policy",
        "orders-worker",
        "--visible",
        "1",
        "--desired",
        "2",
    ]);
    assert!(!stdout.contains("aws:"), "{stdout}");
    let (_, stdout, _) = explain(&[
        "--policy",
        "orders-worker",
        "--visible",
        "1",
        "--desired",
        "2",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["region"], serde_json::Value::Null);
    assert_eq!(json["role_arn"], serde_json::Value::Null);
}

/// `run` through its first evaluation cycle (so its worker threads have
/// allocated): the log at debug until then, and the malloc arenas besides
/// the main one that it has by then; then stopped. `env` is added to its
/// environment.
fn run_start_up_log(env: &[(&str, &str)]) -> (String, usize) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("backlog-scaler"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--dry-run",
            "--policies",
            "policies/orders-worker.yaml",
        ])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "info,backlog_scaler=debug",
        ])
        // A closed port: the evaluations fail static, nothing leaves the host.
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("MALLOC_ARENA_MAX")
        .env_remove("GLIBC_TUNABLES")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run starts");
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        log.push_str(&line);
        log.push('\n');
        if line.contains("cycle finished") {
            break;
        }
    }
    let arenas = extra_malloc_arenas(child.id());
    child.kill().expect("stopped");
    child.wait().expect("reaped");
    assert!(
        log.contains("cycle finished"),
        "run did not evaluate:\n{log}"
    );
    (log, arenas)
}

/// glibc's malloc arenas besides the main one in process `pid`: each is a
/// 64 MiB heap reserved with `mmap`, most of it inaccessible (`---p`, no
/// file) until used. Nothing else in the process reserves that much that
/// way (thread stack guards are a page).
fn extra_malloc_arenas(pid: u32) -> usize {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("/proc/PID/maps");
    maps.lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some((start, end)) = fields[0].split_once('-') else {
                return false;
            };
            let size =
                u64::from_str_radix(end, 16).unwrap() - u64::from_str_radix(start, 16).unwrap();
            fields[1] == "---p" && fields.len() == 5 && size > 32 << 20
        })
        .count()
}

/// The daemon keeps glibc's malloc to one arena (src/cli/allocator.rs),
/// unless the operator chose a limit.
#[test]
fn run_shares_one_malloc_arena_unless_the_operator_sets_a_limit() {
    let limited = "malloc limited to one arena";
    // One arena indeed: no heap besides the main one, though its threads
    // have allocated.
    let (log, arenas) = run_start_up_log(&[]);
    assert!(log.contains(limited), "{log}");
    assert_eq!(arenas, 0, "{log}");
    // The operator's limit is kept: threads get arenas of their own, up to
    // it (the main arena is one of the 4).
    let (log, arenas) = run_start_up_log(&[("MALLOC_ARENA_MAX", "4")]);
    assert!(!log.contains(limited), "{log}");
    assert!((1..=3).contains(&arenas), "{arenas} arenas\n{log}");
    let (log, arenas) = run_start_up_log(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")]);
    assert!(!log.contains(limited), "{log}");
    assert_eq!(arenas, 1, "{log}");
}

/// Without a region anywhere in the chain (no variable, no profile, no
/// instance metadata), `run` and `plan` stop at once with the documented
/// error (docs/operations.md), exit 1, instead of starting and failing
/// every call. "At once" is bounded at 20 s, far above the fraction of a
/// second it takes, for a machine shared with dozens of emulators; a run
/// that started its loop would not exit at all.
#[test]
fn run_and_plan_without_a_region_exit_at_once() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["run", "--listen", "127.0.0.1:0", "--policies", "policies"][..],
        &["plan", "--policies", "policies"][..],
    ] {
        let output = cli()
            .args(args)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.path().join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .timeout(Duration::from_secs(20))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no AWS region: pass --region or set AWS_REGION"),
            "{args:?}: {stderr}"
        );
    }
}

/// `explain --json` prints the engine's state after its decision, and
/// `explain --state` starts from it: a wait-sized decision that depends on
/// the previous poll is reproduced, and a broken state file is a located
/// error with exit 1.
#[test]
fn explain_reproduces_a_decision_from_the_state_it_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("slo.yaml");
    fs::write(
        &policy,
        "name: slo\ncluster: c\nservice: s\nqueues: [q]\ntarget_wait: 60s\n\
         message_cost: 2s\ntask_startup: 60s\nmin_tasks: 1\nmax_tasks: 300\n",
    )
    .expect("written");
    let policy = policy.to_str().expect("UTF-8 path");
    let first = cli()
        .args(["explain", "--policies", policy, "--policy", "slo"])
        .args([
            "--visible",
            "50",
            "--in-flight",
            "10",
            "--desired",
            "10",
            "--json",
        ])
        .output()
        .expect("runs");
    assert!(first.status.success());
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON");
    let state = dir.path().join("state.json");
    fs::write(&state, first["state"].to_string()).expect("written");
    let state = state.to_str().expect("UTF-8 path");

    // 15 s later the queue grew by 150: 10 a second more than the 5 a
    // second that 10 tasks serve, which only the state can tell.
    let explain = |extra: &[&str]| {
        let output = cli()
            .args(["explain", "--policies", policy, "--policy", "slo"])
            .args(["--visible", "200", "--in-flight", "10", "--desired", "10"])
            .args(extra)
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8(output.stdout).expect("UTF-8"),
            String::from_utf8(output.stderr).expect("UTF-8"),
        )
    };
    let (code, with_state, _) = explain(&["--state", state]);
    assert_eq!(code, Some(0));
    assert!(with_state.contains("arrivals about 15/s"), "{with_state}");
    assert!(with_state.contains("-> 57 tasks"), "{with_state}");
    let (_, fresh, _) = explain(&[]);
    assert!(!fresh.contains("arrivals about 15/s"), "{fresh}");

    let broken = dir.path().join("broken.json");
    fs::write(&broken, "{\"seeded\": tru").expect("written");
    let (code, out, err) = explain(&["--state", broken.to_str().expect("UTF-8")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("broken.json:1:"), "{err}");
    assert!(err.contains("not an engine state"), "{err}");
}
