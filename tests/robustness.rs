//! Robustness against arbitrary input (issue 6, "Bad input"): the policy
//! loader and the decision engine are fed random, hostile and extreme input
//! and must never panic, must locate every error they report, and the engine
//! must keep every decision within the policy's bounds.
//!
//! - `robustness/yaml.rs`: strategies for YAML-shaped policy documents;
//! - `robustness/parser.rs`: properties of `check_str` / `check_path` over
//!   arbitrary text, bytes, mutated examples and random documents;
//! - `robustness/nesting.rs`: huge, deep and wide inputs, one by one;
//! - `robustness/engine.rs`: the engine with extreme policies and
//!   observations, and with every policy the random documents made valid.
//!
//! The number of cases per property is `PROPTEST_CASES` (default
//! [`DEFAULT_CASES`], the session CI runs; `PROPTEST_CASES=256` for a quick
//! one while working). A failure
//! prints the shrunk input and is saved in
//! `tests/robustness.proptest-regressions` so the next run tries it first;
//! commit that file with the fix.

mod robustness {
    pub mod engine;
    pub mod nesting;
    pub mod parser;
    pub mod yaml;
}

use std::path::Path;

use backlog_scaler::policy::{Policy, PolicyReport};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// Cases per property when `PROPTEST_CASES` is not set: the longer session
/// that `scripts/test.d/robustness.sh` used to run before `cargo test` ran
/// the same binary again with 256; one run of 2,048 is enough.
pub const DEFAULT_CASES: u32 = 2048;

/// The configured number of cases, divided by `cost` for properties whose
/// cases are expensive (files on disk, thousands of queues).
pub fn cases(cost: u32) -> u32 {
    let total = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_CASES);
    (total / cost.max(1)).max(1)
}

/// Run `test` on `cases(cost)` inputs from `strategy`; a panic in `test` is
/// a failure, shrunk and reported like any other.
pub fn run<S: Strategy>(
    cost: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    run_cases(cases(cost), strategy, test);
}

/// As [`run`], on exactly `cases` inputs.
pub fn run_cases<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        // Shrinking a deep input can take long; the first failure is what
        // matters, the shrunk one is a convenience.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&strategy, test) {
        panic!("{error}");
    }
}

/// The number of lines of `text` as YAML counts them: `\r\n`, `\n` and a
/// lone `\r` each end a line.
fn line_count(text: &str) -> u64 {
    text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64
}

/// Longer than any message about a policy need be: values are quoted cut
/// short, so a message never carries a megabyte of the file.
const LONGEST_MESSAGE: usize = 1_000;

/// A problem about the file as a whole, the only kind allowed no line.
fn is_whole_file(message: &str) -> bool {
    message == "holds no policy"
        || message == "holds no *.yaml or *.yml file"
        || message.starts_with("cannot be read: ")
        || (message.starts_with("is ") && message.contains("-byte limit for a policy file"))
}

/// Every diagnostic of `report` names `origin` and, unless it is about the
/// whole file, a line and column that exist in `text`; every valid policy
/// holds the invariants validation promises.
pub fn assert_sound(report: &PolicyReport, origin: &Path, text: &str) -> Result<(), TestCaseError> {
    let lines = line_count(text);
    for diagnostic in &report.diagnostics {
        let shown = diagnostic.to_string();
        proptest::prop_assert_eq!(&diagnostic.file, origin, "{}", shown);
        proptest::prop_assert!(!diagnostic.message.is_empty(), "{}", shown);
        proptest::prop_assert!(
            shown.len() <= LONGEST_MESSAGE && !shown.bytes().any(|b| b == b'\n' || b == b'\r'),
            "not one short line: {:?}",
            shown
        );
        if diagnostic.line == 0 {
            proptest::prop_assert!(
                is_whole_file(&diagnostic.message),
                "no location for a problem inside the file: {}",
                shown
            );
        } else {
            proptest::prop_assert!(
                diagnostic.line <= lines && diagnostic.column >= 1,
                "{} points outside the {}-line text",
                shown,
                lines
            );
        }
    }
    if report.is_valid() {
        proptest::prop_assert!(!report.policies.is_empty(), "valid but no policy");
    }
    for policy in &report.policies {
        assert_policy_invariants(policy)?;
    }
    Ok(())
}

/// What validation guarantees of every [`Policy`] it returns.
pub fn assert_policy_invariants(policy: &Policy) -> Result<(), TestCaseError> {
    let name = &policy.name;
    proptest::prop_assert!(policy.max_tasks >= 1, "{name}: max_tasks 0");
    proptest::prop_assert!(policy.min_tasks <= policy.max_tasks, "{name}: min > max");
    let target = policy.target_backlog_per_task();
    proptest::prop_assert!(
        target > 0.0 && target.is_finite(),
        "{name}: target {target}"
    );
    proptest::prop_assert!((0.0..1.0).contains(&policy.tolerance), "{name}: tolerance");
    proptest::prop_assert!(!policy.queues.is_empty(), "{name}: no queue");
    for queue in &policy.queues {
        proptest::prop_assert!(
            queue.weight > 0.0 && queue.weight.is_finite(),
            "{name}: weight {}",
            queue.weight
        );
    }
    proptest::prop_assert!(
        policy.activation_backlog >= 0.0 && policy.activation_backlog.is_finite(),
        "{name}: activation_backlog"
    );
    proptest::prop_assert!(!policy.poll_interval.is_zero(), "{name}: poll_interval 0");
    if let Some(per_task) = policy.in_flight_per_task {
        proptest::prop_assert!(
            per_task > 0.0 && per_task.is_finite(),
            "{name}: in_flight_per_task {per_task}"
        );
    }
    Ok(())
}
