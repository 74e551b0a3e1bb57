//! Tests of loading from text: parsing, validation and the checks across
//! policies together, as `check_str` runs them. The corpus of bad files and
//! the exact command output are tested in `tests/cli_policy.rs`.

use std::path::Path;
use std::time::Duration;

use super::*;

const FILE: &str = "p.yaml";

fn check(text: &str) -> PolicyReport {
    check_str(Path::new(FILE), text)
}

/// Each diagnostic as `line:column key: message`, for compact assertions.
fn problems(report: &PolicyReport) -> Vec<String> {
    report
        .diagnostics
        .iter()
        .map(|d| {
            let severity = if d.is_error() { "" } else { "warning " };
            let key = d
                .key
                .as_deref()
                .map(|k| format!("{k}: "))
                .unwrap_or_default();
            format!("{}:{} {severity}{key}{}", d.line, d.column, d.message)
        })
        .collect()
}

const MINIMAL: &str = "\
name: w
cluster: c
service: s
queues: [q]
target_backlog_per_task: 50
max_tasks: 10
min_tasks: 2
";

#[test]
fn a_minimal_policy_gets_every_default_of_the_reference() {
    let report = check(MINIMAL);
    assert_eq!(problems(&report), Vec::<String>::new());
    let policy = &report.policies[0];
    let mut expected = Policy::with_defaults("w", "c", "s", "q");
    expected.target = BacklogTarget::BacklogPerTask(50.0);
    expected.min_tasks = 2;
    expected.source = Some(SourceLocation {
        file: FILE.into(),
        line: 1,
        column: 1,
    });
    assert_eq!(policy, &expected);
}

/// A policy that sets every key (shared with `setting.rs`'s tests).
pub(super) const EVERY_KEY: &str = "\
name: full
cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/prod
service: arn:aws:ecs:eu-west-1:123456789012:service/prod/worker
queues:
  - q1
  - {queue: 'https://sqs.eu-west-1.amazonaws.com/1/q2', weight: 0.5}
target_wait: 30s
message_cost: 300ms
min_tasks: 0
max_tasks: 8
poll_interval: 1m 30s
count_in_flight: false
count_delayed: true
tolerance: 0
scale_out: {max_step: 150%, cooldown: 45s, lookahead: 1m}
scale_in: {stabilization_window: 10m, max_step: '2', cooldown: 1m}
activation_backlog: 5.5
scale_to_zero_after: 20m
dry_run: true
in_flight_per_task: 2
region: eu-west-1
role_arn: arn:aws:iam::123456789012:role/ops/backlog-scaler
";

#[test]
fn every_key_is_read() {
    let text = EVERY_KEY;
    let report = check(text);
    assert_eq!(problems(&report), Vec::<String>::new());
    let policy = &report.policies[0];
    let expected = Policy {
        name: "full".into(),
        cluster: "arn:aws:ecs:eu-west-1:123456789012:cluster/prod".into(),
        service: "arn:aws:ecs:eu-west-1:123456789012:service/prod/worker".into(),
        queues: vec![
            QueueRef {
                queue: "q1".into(),
                weight: 1.0,
            },
            QueueRef {
                queue: "https://sqs.eu-west-1.amazonaws.com/1/q2".into(),
                weight: 0.5,
            },
        ],
        target: BacklogTarget::Wait {
            wait: Duration::from_secs(30),
            message_cost: Duration::from_millis(300),
        },
        task_startup: None,
        min_tasks: 0,
        max_tasks: 8,
        poll_interval: Duration::from_secs(90),
        count_in_flight: false,
        count_delayed: true,
        tolerance: 0.0,
        scale_out: ScaleOut {
            max_step: Some(Step::Percent(150.0)),
            cooldown: Duration::from_secs(45),
            lookahead: Duration::from_secs(60),
        },
        scale_in: ScaleIn {
            stabilization_window: Duration::from_secs(600),
            max_step: Some(Step::Tasks(2)),
            cooldown: Duration::from_secs(60),
        },
        activation_backlog: 5.5,
        scale_to_zero_after: Duration::from_secs(1200),
        dry_run: true,
        in_flight_per_task: Some(2.0),
        aws: AwsScope {
            region: Some("eu-west-1".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/ops/backlog-scaler".into()),
        },
        source: Some(SourceLocation {
            file: FILE.into(),
            line: 1,
            column: 1,
        }),
        validated: policy.validated,
    };
    assert_eq!(policy, &expected);
    assert_eq!(policy.target_backlog_per_task(), 100.0);
}

#[test]
fn each_document_is_a_policy_with_its_own_source() {
    let second = MINIMAL
        .replace("name: w", "name: v")
        .replace("service: s", "service: t");
    let report = check(&format!("{MINIMAL}---\n{second}"));
    assert_eq!(problems(&report), Vec::<String>::new());
    let found: Vec<(&str, u64)> = report
        .policies
        .iter()
        .map(|p| (p.name.as_str(), p.source.as_ref().map_or(0, |s| s.line)))
        .collect();
    assert_eq!(found, vec![("w", 1), ("v", 9)]);
}

#[test]
fn every_problem_of_a_document_is_reported_at_once() {
    let text = "\
name: w
cluster: c
service: s
queues: [q, {queue: r, weight: 0}]
target_backlog_per_task: -1
min_tasks: -1
max_tasks: 0
tolerance: 2
scale_out: {max_step: 0%}
scale_in: {stabilization_window: forever}
";
    assert_eq!(
        problems(&check(text)),
        vec![
            "4:32 queues[1].weight: must be greater than 0, got 0",
            "5:26 target_backlog_per_task: must be greater than 0, got -1",
            "6:12 min_tasks: must be 0 or more, got -1",
            "7:12 max_tasks: must be at least 1",
            "8:12 tolerance: must be at least 0 and below 1, got 2",
            "9:23 scale_out.max_step: must be more than 0%",
            "10:34 scale_in.stabilization_window: `forever` is not a duration: expected number at 0",
        ]
    );
}

#[test]
fn every_unknown_key_is_reported_with_a_suggestion() {
    let text = "\
name: w
clustr: c
scale_in:
  cooldwn: 1m
queues:
  - {queue: q, wieght: 2}
";
    let report = check(text);
    let hints: Vec<(String, Option<String>)> = report
        .diagnostics
        .iter()
        .map(|d| {
            (
                format!(
                    "{}:{} {}",
                    d.line,
                    d.column,
                    d.key.clone().unwrap_or_default()
                ),
                d.hint.clone(),
            )
        })
        .collect();
    assert_eq!(
        hints,
        vec![
            ("2:1 clustr".into(), Some("did you mean `cluster`?".into())),
            (
                "4:3 scale_in.cooldwn".into(),
                Some("did you mean `cooldown`?".into())
            ),
            (
                "6:16 queues[0].wieght".into(),
                Some("did you mean `weight`?".into())
            ),
        ]
    );
}

#[test]
fn one_broken_document_does_not_hide_the_next() {
    let broken = "name: broken\nmin_tasks: [1]\n";
    let report = check(&format!("{broken}---\n{MINIMAL}"));
    assert_eq!(
        problems(&report),
        vec!["2:12 min_tasks: expected a whole number, found a list"]
    );
    assert_eq!(report.policies.len(), 1);
    assert_eq!(report.policies[0].name, "w");
    assert_eq!(report.diagnostics[0].policy.as_deref(), Some("broken"));
}

#[test]
fn warnings_do_not_fail_a_load() {
    let text = MINIMAL.replace(
        "min_tasks: 2",
        "min_tasks: 1\nactivation_backlog: 3\npoll_interval: 500ms",
    );
    let report = check(&text);
    assert_eq!(
        problems(&report),
        vec![
            "7:12 warning min_tasks: one task is a single point of failure",
            "8:21 warning activation_backlog: has no effect unless min_tasks is 0",
            "9:16 warning poll_interval: polls SQS and ECS more than once a second",
        ]
    );
    let loaded = load_str(Path::new(FILE), &text).expect("warnings only");
    assert_eq!(loaded.policies.len(), 1);
    assert_eq!(loaded.warnings.len(), 3);
}

#[test]
fn the_single_point_of_failure_warning_needs_room_for_two() {
    let one_of_one = MINIMAL
        .replace("min_tasks: 2", "min_tasks: 1")
        .replace("max_tasks: 10", "max_tasks: 1");
    assert_eq!(problems(&check(&one_of_one)), Vec::<String>::new());
    // Left out, min_tasks is 1: the warning points at the document.
    let default_min = MINIMAL.replace("min_tasks: 2\n", "");
    assert_eq!(
        problems(&check(&default_min)),
        vec!["1:1 warning min_tasks: one task is a single point of failure"]
    );
}

#[test]
fn an_unreachable_wait_target_and_an_oversized_scale_in_step_warn() {
    let text = MINIMAL.replace(
        "target_backlog_per_task: 50",
        "target_wait: 1s\nmessage_cost: 2s\nscale_in: {max_step: 150%}",
    );
    assert_eq!(
        problems(&check(&text)),
        vec![
            "5:14 warning target_wait: is shorter than message_cost 2s, so no number of tasks can meet it",
            "7:22 warning scale_in.max_step: 150% removes no more than 100% would",
        ]
    );
}

#[test]
fn an_error_fails_the_whole_load_with_every_error() {
    let text = MINIMAL.replace("max_tasks: 10", "max_tasks: 1");
    let errors = load_str(Path::new(FILE), &text).expect_err("min > max");
    assert_eq!(
        errors.to_string(),
        "p.yaml:7:12: error: policy 'w': min_tasks: 2 is greater than max_tasks 1 (hint: lower min_tasks or raise max_tasks)"
    );
}

#[test]
fn names_and_arns_of_one_service_clash() {
    let arn = MINIMAL.replace("name: w", "name: v").replace(
        "cluster: c\nservice: s",
        "cluster: arn:aws:ecs:us-east-1:1:cluster/c\nservice: arn:aws:ecs:us-east-1:1:service/s",
    );
    let report = check(&format!("{MINIMAL}---\n{arn}"));
    assert_eq!(
        problems(&report),
        vec!["11:10 service: service `s` in cluster `c` is already driven by policy `w` at p.yaml:3:10"]
    );
    // The first policy read is kept; the later one is left out.
    let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["w"]);
}

#[test]
fn one_service_name_in_two_clusters_is_two_services() {
    let other = MINIMAL
        .replace("name: w", "name: v")
        .replace("cluster: c", "cluster: d");
    let report = check(&format!("{MINIMAL}---\n{other}"));
    assert_eq!(problems(&report), Vec::<String>::new());
    assert_eq!(report.policies.len(), 2);
}

#[test]
fn a_file_without_a_policy_is_an_error() {
    for text in ["", "# just a comment\n", "---\n", "~\n"] {
        assert_eq!(
            problems(&check(text)),
            vec!["0:0 holds no policy"],
            "{text:?}"
        );
    }
}

#[test]
fn text_over_the_size_limit_is_not_parsed() {
    let text = format!("# {}\n", "x".repeat(MAX_POLICY_FILE_BYTES as usize));
    assert_eq!(
        problems(&check(&text)),
        vec!["0:0 is 1048579 bytes, over the 1048576-byte limit for a policy file"]
    );
}

#[test]
fn merge_keys_are_followed_and_not_unknown() {
    let text = MINIMAL.to_owned()
        + "scale_in: &calm {cooldown: 1m}\nscale_out:\n  <<: *calm\n  max_step: 4\n";
    let report = check(&text);
    assert_eq!(problems(&report), Vec::<String>::new());
    let scale_out = &report.policies[0].scale_out;
    assert_eq!(scale_out.cooldown, Duration::from_secs(60));
    assert_eq!(scale_out.max_step, Some(Step::Tasks(4)));
}

#[test]
fn a_key_brought_in_by_an_alias_is_still_checked() {
    let text =
        MINIMAL.to_owned() + "scale_in: &calm {stabilization_window: 1m}\nscale_out: *calm\n";
    let report = check(&text);
    assert_eq!(
        problems(&report),
        vec!["9:12 scale_out.stabilization_window: unknown key"]
    );
    assert_eq!(
        report.diagnostics[0].hint.as_deref(),
        Some("`stabilization_window` belongs under `scale_in`")
    );
}

#[test]
fn a_step_is_a_whole_number_or_a_percent() {
    let step = |value: &str| {
        let text = MINIMAL.to_owned() + &format!("scale_out:\n  max_step: {value}\n");
        let report = check(&text);
        (
            report.policies.first().and_then(|p| p.scale_out.max_step),
            problems(&report),
        )
    };
    assert_eq!(step("3"), (Some(Step::Tasks(3)), vec![]));
    assert_eq!(step("'3'"), (Some(Step::Tasks(3)), vec![]));
    assert_eq!(step("12.5%"), (Some(Step::Percent(12.5)), vec![]));
    assert_eq!(
        step("2.5"),
        (
            None,
            vec!["9:13 scale_out.max_step: must be a whole number of tasks, got 2.5".to_owned()]
        )
    );
    assert_eq!(
        step("-1"),
        (
            None,
            vec!["9:13 scale_out.max_step: must be at least 1, got -1".to_owned()]
        )
    );
    assert_eq!(
        step("x%"),
        (
            None,
            vec!["9:13 scale_out.max_step: `x%` is not a percent".to_owned()]
        )
    );
}

#[test]
fn names_must_be_usable_in_logs_and_on_the_command_line() {
    let text = MINIMAL.replace("name: w", "name: 'two words'");
    assert_eq!(
        problems(&check(&text)),
        vec!["1:7 name: `two words` is not a valid policy name"]
    );
}

#[test]
fn file_text_in_a_message_stays_on_one_line() {
    let text = MINIMAL.replace("name: w", "name: \"two\\nlines\"");
    assert_eq!(
        problems(&check(&text)),
        vec!["1:7 name: `two\\nlines` is not a valid policy name"]
    );
}

#[test]
fn queue_entries_must_name_a_queue() {
    let text = MINIMAL.replace("queues: [q]", "queues:\n  - {weight: 2}\n  - 'no spaces'");
    assert_eq!(
        problems(&check(&text)),
        vec![
            "5:5 queues[0].queue: is required",
            "6:5 queues[1]: `no spaces` is not an SQS queue name or URL",
        ]
    );
}

#[test]
fn an_alias_bomb_is_stopped_before_it_expands() {
    // Eight levels of ten aliases: 10^8 queues once expanded.
    let mut queues = String::from("queues:\n  - &a [q, q, q, q, q, q, q, q, q, q]\n");
    let mut previous = 'a';
    for name in 'b'..='h' {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        queues.push_str(&format!("  - &{name} [{aliases}]\n"));
        previous = name;
    }
    let text = MINIMAL.replace("queues: [q]\n", &queues);
    let report = check(&text);
    // Before `&d` aliases have repeated 1220 nodes; each `*c` repeats 1111.
    assert_eq!(
        problems(&report),
        vec!["8:37 aliases expand this document past 10000 nodes"]
    );
    assert!(report.policies.is_empty());
}

#[test]
fn a_duration_needs_its_unit() {
    let text = MINIMAL.to_owned() + "poll_interval: 15\n";
    assert_eq!(
        problems(&check(&text)),
        vec!["8:16 poll_interval: `15` is not a duration: time unit needed, for example 15sec or 15ms"]
    );
}

#[test]
fn a_value_of_the_wrong_kind_in_a_section_is_the_one_named() {
    // The reader points at `max_step` (where the section's mapping starts
    // too); the message is about the list, not the section.
    let text = MINIMAL.to_owned() + "scale_out:\n  max_step: [1, 2]\n";
    assert_eq!(
        problems(&check(&text)),
        vec![
            "9:3 scale_out.max_step: expected a number of tasks such as `4`, or a percent \
             such as `50%`, found a list"
        ]
    );
    let text = MINIMAL.replace("queues: [q]", "queues:\n  orders: 1");
    assert_eq!(
        problems(&check(&text)),
        vec!["5:3 queues: expected a list of SQS queue names or URLs, found a mapping"]
    );
}

#[test]
fn a_negative_duration_says_so() {
    let text = MINIMAL.to_owned() + "scale_in:\n  cooldown: -30s\n";
    assert_eq!(
        problems(&check(&text)),
        vec!["9:13 scale_in.cooldown: `-30s` is negative; a duration is 0 or more"]
    );
}

#[test]
fn infinity_and_nan_are_not_finite_numbers() {
    let text = MINIMAL.replace(
        "target_backlog_per_task: 50",
        "target_backlog_per_task: .inf",
    ) + "activation_backlog: .nan\n";
    assert_eq!(
        problems(&check(&text)),
        vec![
            "5:26 target_backlog_per_task: must be a finite number greater than 0, got inf",
            "8:21 activation_backlog: must be a finite number at least 0, got NaN",
            "8:21 warning activation_backlog: has no effect unless min_tasks is 0",
        ]
    );
}

#[test]
fn a_long_policy_name_is_cut_short_in_every_message() {
    let name = "n".repeat(10_000);
    let text = MINIMAL.replace("name: w", &format!("name: {name}"));
    let report = check(&text);
    let policy = report.diagnostics[0].policy.as_deref().expect("the name");
    assert_eq!(policy, format!("{}…", "n".repeat(64)));
    assert!(report.diagnostics[0].to_string().len() < 300);
}

#[test]
fn the_opt_in_sizing_keys_are_checked() {
    let text = format!("{MINIMAL}in_flight_per_task: 0\nscale_out: {{lookahead: soon}}\n");
    assert_eq!(
        problems(&check(&text)),
        vec![
            "8:21 in_flight_per_task: must be greater than 0, got 0",
            "9:24 scale_out.lookahead: `soon` is not a duration: expected number at 0",
        ]
    );
    let text = format!("{MINIMAL}in_flight_per_task: 4\nscale_out: {{lookahead: 90s}}\n");
    let report = check(&text);
    assert_eq!(problems(&report), Vec::<String>::new());
    let policy = &report.policies[0];
    assert_eq!(policy.in_flight_per_task, Some(4.0));
    assert_eq!(policy.scale_out.lookahead, Duration::from_secs(90));
}

#[test]
fn region_and_role_arn_are_checked_with_a_hint() {
    let text = format!("{MINIMAL}region: Europe\nrole_arn: arn:aws:iam::1234:role/scaler\n");
    let report = check(&text);
    assert_eq!(
        problems(&report),
        vec![
            "8:9 region: `Europe` is not an AWS region",
            "9:11 role_arn: `arn:aws:iam::1234:role/scaler` is not an IAM role ARN",
        ]
    );
    let hints: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|d| d.hint.as_deref().expect("a hint"))
        .collect();
    assert!(hints[0].contains("`eu-west-1`"), "{}", hints[0]);
    assert!(
        hints[1].contains("arn:aws:iam::123456789012:role/"),
        "{}",
        hints[1]
    );
}

#[test]
fn a_policy_without_region_or_role_uses_the_controllers_own() {
    let report = check(MINIMAL);
    assert_eq!(report.policies[0].aws, AwsScope::default());
    assert!(report.policies[0].aws.is_home());
    let text = format!("{MINIMAL}region: us-gov-west-1\n");
    let aws = &check(&text).policies[0].aws;
    assert_eq!(aws.region.as_deref(), Some("us-gov-west-1"));
    assert_eq!(aws.role_arn, None);
    assert_eq!(aws.role_account(), None);
    let text = format!("{MINIMAL}role_arn: arn:aws-cn:iam::210987654321:role/scaler\n");
    let aws = &check(&text).policies[0].aws;
    assert_eq!(aws.region, None);
    assert_eq!(aws.role_account(), Some("210987654321"));
}

#[test]
fn a_queue_url_or_arn_of_another_region_than_the_policys_is_an_error() {
    let text = "\
name: w
cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/c
service: s
queues:
  - https://sqs.us-east-1.amazonaws.com/123456789012/q1
  - {queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q2'}
  - http://127.0.0.1:5000/123456789012/q3
target_backlog_per_task: 50
min_tasks: 2
max_tasks: 10
region: us-east-1
";
    let report = check(text);
    assert_eq!(
        problems(&report),
        vec![
            "2:10 cluster: `arn:aws:ecs:eu-west-1:123456789012:clust…` is in region `eu-west-1`, but the policy's `region` is `us-east-1`",
            "6:13 queues[1].queue: `https://sqs.eu-west-1.amazonaws.com/1234…` is in region `eu-west-1`, but the policy's `region` is `us-east-1`",
        ]
    );
    assert!(report.policies.is_empty());
    // Without `region`, the controller's region applies and is not known here.
    let text = text.replace("region: us-east-1\n", "");
    assert_eq!(problems(&check(&text)), Vec::<String>::new());
}

#[test]
fn misspelt_target_keys_get_a_suggestion() {
    let text = format!("{MINIMAL}regoin: eu-west-1\nrole-arn: arn:aws:iam::123456789012:role/r\n");
    let report = check(&text);
    let hints: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| d.hint.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        hints,
        vec!["did you mean `region`?", "did you mean `role_arn`?"]
    );
}

#[test]
fn one_service_name_in_two_regions_or_accounts_is_two_services() {
    let policy = |name: &str, extra: &str| {
        format!(
            "name: {name}\ncluster: c\nservice: s\nqueues: [q]\ntarget_backlog_per_task: 5\nmax_tasks: 4\n{extra}"
        )
    };
    let role = |account: &str| format!("role_arn: arn:aws:iam::{account}:role/scaler\n");
    let clashes = |a: String, b: String| {
        let report = check(&format!("{a}---\n{b}"));
        problems(&report)
            .iter()
            .any(|p| p.contains("is already driven by policy"))
    };
    let east = || "region: us-east-1\n".to_owned();
    let west = || "region: us-west-2\n".to_owned();
    assert!(!clashes(policy("a", &east()), policy("b", &west())));
    assert!(!clashes(
        policy("a", &role("111111111111")),
        policy("b", &role("222222222222"))
    ));
    // Unset is the controller's own region or account, which may be either.
    assert!(clashes(policy("a", ""), policy("b", &west())));
    assert!(clashes(policy("a", &role("111111111111")), policy("b", "")));
    assert!(clashes(policy("a", &east()), policy("b", &east())));
    // Two roles of one account reach one service.
    let role_a = "role_arn: arn:aws:iam::111111111111:role/one\n";
    let role_b = "role_arn: arn:aws:iam::111111111111:role/two\n";
    assert!(clashes(policy("a", role_a), policy("b", role_b)));
}

const WAIT_SIZED: &str = "\
name: w
cluster: c
service: s
queues: [q]
target_wait: 60s
message_cost: 2s
min_tasks: 2
max_tasks: 10
";

#[test]
fn task_startup_turns_on_wait_sizing_without_a_default_window() {
    for (written, expected) in [
        (
            "task_startup: 90s\n",
            TaskStartup::Stated(Duration::from_secs(90)),
        ),
        ("task_startup: measured\n", TaskStartup::Measured),
    ] {
        let report = check(&format!("{WAIT_SIZED}{written}"));
        assert_eq!(problems(&report), Vec::<String>::new());
        let policy = &report.policies[0];
        assert_eq!(policy.task_startup, Some(expected));
        assert_eq!(policy.scale_in.stabilization_window, Duration::ZERO);
    }
    // A window written down is kept.
    let report = check(&format!(
        "{WAIT_SIZED}task_startup: 1m\nscale_in:\n  stabilization_window: 10m\n"
    ));
    let policy = &report.policies[0];
    assert_eq!(
        policy.scale_in.stabilization_window,
        Duration::from_secs(600)
    );
    // Without it, the policy keeps the classic meaning and window.
    let report = check(WAIT_SIZED);
    assert_eq!(report.policies[0].task_startup, None);
    assert_eq!(
        report.policies[0].scale_in.stabilization_window,
        Duration::from_secs(300)
    );
}

#[test]
fn task_startup_errors_are_located() {
    let report = check(&format!("{MINIMAL}task_startup: 60s\n"));
    assert_eq!(
        problems(&report),
        vec!["8:15 task_startup: sizes for a wait: it needs target_wait"]
    );
    let report = check(&format!(
        "{WAIT_SIZED}task_startup: 60s\nscale_out:\n  lookahead: 30s\n"
    ));
    assert_eq!(
        problems(&report),
        vec!["11:14 scale_out.lookahead: cannot be used with task_startup"]
    );
    let report = check(&format!("{WAIT_SIZED}task_startup: soon\n"));
    assert_eq!(report.policies.len(), 0);
    assert_eq!(
        problems(&report),
        vec!["9:15 task_startup: `soon` is neither a duration nor `measured`"]
    );
    let report = check(&format!("{WAIT_SIZED}task_startup: 2h\n"));
    assert_eq!(
        problems(&report),
        vec!["9:15 task_startup: `2h` is longer than the maximum, 1h"]
    );
}

#[test]
fn target_wait_with_a_backlog_target_gives_the_message_cost() {
    let text = "name: w\ncluster: c\nservice: s\nqueues: [q]\ntarget_wait: 60s\n\
                target_backlog_per_task: 8\ntask_startup: 60s\nmin_tasks: 2\nmax_tasks: 10\n";
    let report = check(text);
    assert_eq!(problems(&report), Vec::<String>::new());
    let policy = &report.policies[0];
    let seconds = Duration::from_secs_f64;
    assert_eq!(
        policy.target.wait_and_cost(),
        Some((seconds(60.0), seconds(7.5)))
    );
    assert_eq!(policy.target_backlog_per_task(), 8.0);
    assert_eq!(
        policy.task_startup,
        Some(TaskStartup::Stated(seconds(60.0)))
    );
    // Sweeping the target keeps the wait and changes the cost.
    let swept = policy
        .with_setting("target_backlog_per_task", 12.into())
        .expect("a valid target");
    assert_eq!(
        swept.target.wait_and_cost(),
        Some((seconds(60.0), seconds(5.0)))
    );
    // Without the startup, the wait does nothing: said, not refused.
    let unused = check(&text.replace("task_startup: 60s\n", ""));
    assert_eq!(
        problems(&unused),
        vec!["5:14 warning target_wait: does nothing next to target_backlog_per_task without task_startup: the target alone sizes the service"]
    );
    assert_eq!(unused.policies[0].target_backlog_per_task(), 8.0);
    // Without a wait the target is the plain one, and states no cost.
    let plain = check(
        &text
            .replace("target_wait: 60s\n", "")
            .replace("task_startup: 60s\n", ""),
    );
    assert_eq!(plain.policies[0].target.wait_and_cost(), None);
    // A cost under a nanosecond is refused where the target is written.
    let report = check(&text.replace(
        "target_backlog_per_task: 8",
        "target_backlog_per_task: 1e12",
    ));
    assert_eq!(report.policies.len(), 0);
    assert_eq!(
        problems(&report),
        vec!["6:26 target_backlog_per_task: gives a message cost (target_wait / target) under a nanosecond, found 1000000000000"]
    );
}
