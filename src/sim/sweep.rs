//! `--sweep KEY=V1,V2,...` or `KEY=A..B:N`: one simulation per value of a
//! numeric policy key, run on every core, and the cheapest value that meets
//! the wait target. Each value's policy is made by the validator `validate`
//! runs ([`Policy::with_setting`]): the sweep has no rules of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::config::{ConfigError, SimConfig};
use super::pool::run_all;
use super::report::{cheapest_meeting, Summary};
use super::run::simulate;
use super::trace::Trace;
use crate::policy::{duration_maximum, Policy, PolicyErrors};

/// The policy keys a sweep can vary; durations are given in seconds.
pub const SWEEP_KEYS: &[&str] = &[
    "target_backlog_per_task",
    "target_wait",
    "message_cost",
    "min_tasks",
    "max_tasks",
    "poll_interval",
    "tolerance",
    "activation_backlog",
    "scale_to_zero_after",
    "scale_out.max_step",
    "scale_out.cooldown",
    "scale_out.lookahead",
    "scale_in.stabilization_window",
    "scale_in.max_step",
    "scale_in.cooldown",
    "in_flight_per_task",
];

/// A parsed `--sweep` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub key: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("--sweep must look like KEY=V1,V2,... or KEY=A..B:N, found `{0}`")]
    Syntax(String),
    #[error("unknown sweep key `{key}`; numeric policy keys are: {}", SWEEP_KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("`{value}` is not a number (in --sweep {key})")]
    NotANumber { key: String, value: String },
    #[error("a geometric range needs 0 < A, 0 < B and N >= 2, found `{0}`")]
    BadRange(String),
    /// The value makes a policy `validate` refuses: the validator's errors.
    #[error("{}", invalid_text(.key, *.value, .errors))]
    Invalid {
        key: String,
        value: f64,
        errors: PolicyErrors,
    },
    #[error("{key} = {value}: {source}")]
    Simulation {
        key: String,
        value: f64,
        #[source]
        source: ConfigError,
    },
}

impl SweepSpec {
    /// Parse `KEY=V1,V2,...` or `KEY=A..B:N` (N values from A to B evenly
    /// spaced in log scale, both ends included).
    pub fn parse(text: &str) -> Result<SweepSpec, SweepError> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| SweepError::Syntax(text.to_owned()))?;
        let key = key.trim().to_owned();
        if !SWEEP_KEYS.contains(&key.as_str()) {
            return Err(SweepError::UnknownKey { key });
        }
        let number = |value: &str| -> Result<f64, SweepError> {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| SweepError::NotANumber {
                    key: key.clone(),
                    value: value.trim().to_owned(),
                })
        };
        let mut parsed = if let Some((range, count)) = values.split_once(':') {
            let (low, high) = range
                .split_once("..")
                .ok_or_else(|| SweepError::Syntax(text.to_owned()))?;
            let (low, high) = (number(low)?, number(high)?);
            let count: usize = count
                .trim()
                .parse()
                .map_err(|_| SweepError::BadRange(values.to_owned()))?;
            if low <= 0.0 || high <= 0.0 || count < 2 {
                return Err(SweepError::BadRange(values.to_owned()));
            }
            geometric(low, high, count)
        } else {
            values
                .split(',')
                .map(number)
                .collect::<Result<Vec<_>, _>>()?
        };
        if parsed.is_empty() {
            return Err(SweepError::Syntax(text.to_owned()));
        }
        if is_whole_key(&key) {
            for value in &mut parsed {
                *value = value.round();
            }
            let mut seen = Vec::new();
            parsed.retain(|v| {
                let fresh = !seen.contains(v);
                seen.push(*v);
                fresh
            });
        }
        Ok(SweepSpec {
            key,
            values: parsed,
        })
    }
}

/// `count` values from `low` to `high`, evenly spaced in log scale.
fn geometric(low: f64, high: f64, count: usize) -> Vec<f64> {
    let ratio = (high / low).ln() / (count - 1) as f64;
    (0..count)
        .map(|i| match i {
            0 => low,
            i if i == count - 1 => high,
            i => low * (ratio * i as f64).exp(),
        })
        .collect()
}

fn is_whole_key(key: &str) -> bool {
    matches!(
        key,
        "min_tasks" | "max_tasks" | "scale_out.max_step" | "scale_in.max_step"
    )
}

/// `policy` with `key` set to `value` (seconds, for a duration), built by
/// the validator `validate` runs ([`Policy::with_setting`]): a value
/// `validate` refuses in a file is refused here with the same error.
pub fn with_value(policy: &Policy, key: &str, value: f64) -> Result<Policy, SweepError> {
    if !SWEEP_KEYS.contains(&key) {
        return Err(SweepError::UnknownKey {
            key: key.to_owned(),
        });
    }
    policy
        .with_setting(key, setting(key, value))
        .map_err(|errors| SweepError::Invalid {
            key: key.to_owned(),
            value,
            errors,
        })
}

/// `value` as a policy file writes it: seconds as a duration (`90s`,
/// `1m 30s`), a task count as a whole number, anything else as a number.
fn setting(key: &str, value: f64) -> serde_json::Value {
    // Every duration key has a maximum (`policy::DURATION_MAXIMA`).
    if duration_maximum(key).is_some() {
        return seconds_text(value).into();
    }
    if is_whole_key(key) && value.fract() == 0.0 && value.abs() < 9.0e15 {
        return (value as i64).into();
    }
    serde_json::Number::from_f64(value)
        .map_or_else(|| value.to_string().into(), serde_json::Value::Number)
}

/// `seconds` as a duration's text, for any number: a negative one keeps
/// its sign and one too large for a duration keeps its digits, so the
/// validator says what is wrong with it.
fn seconds_text(seconds: f64) -> String {
    match Duration::try_from_secs_f64(seconds.abs()) {
        Ok(duration) if seconds < 0.0 => format!("-{}", humantime::format_duration(duration)),
        Ok(duration) => humantime::format_duration(duration).to_string(),
        Err(_) => format!("{seconds}s"),
    }
}

/// Each error of an invalid value, after the sweep value it is about.
fn invalid_text(key: &str, value: f64, errors: &PolicyErrors) -> String {
    let lines: Vec<String> = errors
        .errors
        .iter()
        .map(|error| format!("--sweep {key}={value}: {error}"))
        .collect();
    lines.join("\n")
}

/// One run of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRun {
    pub value: f64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Every run, in the order of the values, and the winner.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOutcome {
    pub runs: Vec<SweepRun>,
    /// The value whose run costs least among those meeting the wait target.
    pub best: Option<f64>,
}

impl SweepOutcome {
    /// The value with the lowest p99 wait (the cheaper on a tie): what to
    /// show when no value meets the wait target.
    pub fn lowest_p99(&self) -> Option<f64> {
        self.runs
            .iter()
            .min_by(|a, b| {
                let key = |r: &SweepRun| (r.summary.wait_p99_s, r.summary.task_seconds);
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|run| run.value)
    }
}

/// Run one simulation per value on `threads` threads. `finished` counts
/// completed runs, for a progress bar.
pub fn run_sweep(
    policy: &Policy,
    trace: &Trace,
    config: &SimConfig,
    spec: &SweepSpec,
    threads: usize,
    finished: Option<&AtomicU64>,
) -> Result<SweepOutcome, SweepError> {
    let policies = spec
        .values
        .iter()
        .map(|&value| with_value(policy, &spec.key, value))
        .collect::<Result<Vec<_>, _>>()?;
    let config = SimConfig {
        record_timeline: false,
        ..config.clone()
    };
    let results = run_all(&policies, threads, |policy| {
        let outcome = simulate(policy, trace, &config, None).map(|r| r.summary);
        if let Some(finished) = finished {
            finished.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    });
    let mut runs = Vec::with_capacity(results.len());
    for (value, result) in spec.values.iter().zip(results) {
        let summary = result.map_err(|source| SweepError::Simulation {
            key: spec.key.clone(),
            value: *value,
            source,
        })?;
        runs.push(SweepRun {
            value: *value,
            summary,
        });
    }
    let best = cheapest_meeting(&runs, |run| {
        (run.summary.meets_wait_target, run.summary.task_seconds)
    })
    .map(|run| run.value);
    Ok(SweepOutcome { runs, best })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::{check_str, load_str};

    #[test]
    fn lists_parse() {
        let spec = SweepSpec::parse("target_backlog_per_task=10,20,50,100").unwrap();
        assert_eq!(spec.key, "target_backlog_per_task");
        assert_eq!(spec.values, vec![10.0, 20.0, 50.0, 100.0]);
    }

    #[test]
    fn geometric_ranges_include_both_ends() {
        let spec = SweepSpec::parse("target_backlog_per_task=1..10000:24").unwrap();
        assert_eq!(spec.values.len(), 24);
        assert_eq!(spec.values[0], 1.0);
        assert_eq!(spec.values[23], 10000.0);
        let ratio = spec.values[1] / spec.values[0];
        for pair in spec.values.windows(2) {
            assert!((pair[1] / pair[0] - ratio).abs() < 1e-9);
        }
        assert!((ratio - 10f64.powf(4.0 / 23.0)).abs() < 1e-12);
        let spec = SweepSpec::parse("tolerance=0.01..1:3").unwrap();
        assert!((spec.values[1] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn whole_keys_round_and_dedupe() {
        let spec = SweepSpec::parse("min_tasks=1..4:6").unwrap();
        assert_eq!(spec.values, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn bad_specs_say_why() {
        let err = |s: &str| SweepSpec::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("target_backlog_per_task"),
            "--sweep must look like KEY=V1,V2,... or KEY=A..B:N, found `target_backlog_per_task`"
        );
        assert!(err("colour=1,2").starts_with(
            "unknown sweep key `colour`; numeric policy keys are: target_backlog_per_task"
        ));
        assert_eq!(
            err("tolerance=0.1,abc"),
            "`abc` is not a number (in --sweep tolerance)"
        );
        assert_eq!(
            err("target_backlog_per_task=0..10:5"),
            "a geometric range needs 0 < A, 0 < B and N >= 2, found `0..10:5`"
        );
        assert_eq!(
            err("target_backlog_per_task=1..10:1"),
            "a geometric range needs 0 < A, 0 < B and N >= 2, found `1..10:1`"
        );
    }

    /// A policy file: `w`, with `key: value` written, `max_tasks: 10` and
    /// its target keys (`target_wait` and `message_cost` for those keys,
    /// else `target_backlog_per_task`) unless `key` is one of them.
    fn file_with(key: &str, value: Option<&str>) -> String {
        let targets: &[(&str, &str)] = if matches!(key, "target_wait" | "message_cost") {
            &[
                ("max_tasks", "10"),
                ("target_wait", "30s"),
                ("message_cost", "1s"),
            ]
        } else {
            &[("max_tasks", "10"), ("target_backlog_per_task", "50")]
        };
        let mut text = "name: w\ncluster: c\nservice: s\nqueues: [q]\n".to_owned();
        for (target, written) in targets {
            if *target != key || value.is_none() {
                text.push_str(&format!("{target}: {written}\n"));
            }
        }
        if let Some(value) = value {
            text.push_str(&match key.split_once('.') {
                Some((section, inner)) => format!("{section}: {{{inner}: {value}}}\n"),
                None => format!("{key}: {value}\n"),
            });
        }
        text
    }

    /// Every key the sweep accepts goes through the validator: a value the
    /// sweep applies gives the policy `validate` reads from a file that
    /// writes it, and a value it refuses gives the errors `validate` gives
    /// for that file (at the policy's start: the value is not in the file).
    #[test]
    fn every_sweep_key_is_validated_as_validate_does() {
        let file = Path::new("p.yaml");
        let cases: Vec<(&str, f64)> = SWEEP_KEYS
            .iter()
            .flat_map(|&key| [(key, -1.0), (key, 2.0), (key, 100_000.0)])
            .chain([
                ("tolerance", 1.5),
                ("tolerance", 0.5),
                ("min_tasks", 20.0),
                ("min_tasks", 0.0),
                ("scale_out.max_step", 0.0),
                ("scale_in.max_step", 2.5),
                ("poll_interval", 7200.0),
                ("poll_interval", 0.5),
                ("in_flight_per_task", 0.0),
                ("message_cost", 0.0),
            ])
            .collect();
        let (mut refused, mut applied) = (0, 0);
        for (key, value) in cases {
            let base = &load_str(file, &file_with(key, None)).unwrap().policies[0];
            let written = if duration_maximum(key).is_some() {
                seconds_text(value)
            } else {
                value.to_string()
            };
            let report = check_str(file, &file_with(key, Some(&written)));
            let swept = with_value(base, key, value);
            let case = format!("{key} = {value} ({key}: {written})");
            if report.is_valid() {
                applied += 1;
                let swept = swept.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(swept, report.policies[0], "{case}");
                continue;
            }
            refused += 1;
            let validate: Vec<String> = report
                .errors()
                .map(|error| {
                    let text = error.to_string();
                    text.split_once(": ").unwrap().1.to_owned()
                })
                .collect();
            let sweep: Vec<String> = swept
                .expect_err(&case)
                .to_string()
                .lines()
                .map(|line| {
                    let prefix = format!("--sweep {key}={value}: p.yaml:1:1: ");
                    line.strip_prefix(&prefix)
                        .unwrap_or_else(|| panic!("{case}: {line}"))
                        .to_owned()
                })
                .collect();
            assert_eq!(sweep, validate, "{case}");
        }
        assert!(refused >= SWEEP_KEYS.len() + 7, "{refused} refused");
        assert!(applied >= SWEEP_KEYS.len(), "{applied} applied");
    }

    #[test]
    fn values_are_checked_when_applied() {
        let policy = Policy::with_defaults("p", "c", "s", "q");
        assert_eq!(
            with_value(&policy, "target_backlog_per_task", 0.0)
                .unwrap_err()
                .to_string(),
            "--sweep target_backlog_per_task=0: (policy built in code): error: policy 'p': \
             target_backlog_per_task: must be greater than 0, got 0 (hint: give the number of \
             waiting messages one task should have, e.g. `100`)"
        );
        assert!(with_value(&policy, "min_tasks", 20.0)
            .unwrap_err()
            .to_string()
            .starts_with(
                "--sweep min_tasks=20: (policy built in code): error: policy 'p': min_tasks: \
                 20 is greater than max_tasks 10"
            ));
        let changed = with_value(&policy, "scale_in.stabilization_window", 90.0).unwrap();
        assert_eq!(
            changed.scale_in.stabilization_window,
            Duration::from_secs(90)
        );
        assert_eq!(changed.target_backlog_per_task(), 100.0);
    }
}
