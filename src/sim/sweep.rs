//! `--sweep KEY=V1,V2,...` or `KEY=A..B:N`: one simulation per value of a
//! numeric policy key, run on every core, and the cheapest value that meets
//! the wait target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::config::{ConfigError, SimConfig};
use super::pool::run_all;
use super::report::{cheapest_meeting, Summary};
use super::run::simulate;
use super::trace::Trace;
use crate::policy::{duration_maximum, maximum_text, Policy, Step, Target};

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
    #[error("{key} = {value}: {message}")]
    BadValue {
        key: String,
        value: f64,
        message: String,
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

/// `value` seconds as a duration, within the key's maximum as `validate`
/// has it (so `poll_interval=1e30` says what is wrong with it).
fn seconds(key: &str, value: f64) -> Result<Duration, SweepError> {
    let bad = |message: String| SweepError::BadValue {
        key: key.to_owned(),
        value,
        message,
    };
    if value.is_nan() || value < 0.0 {
        return Err(bad("must be a number of seconds, 0 or more".to_owned()));
    }
    if let Some((maximum, why)) = duration_maximum(key) {
        if value > maximum.as_secs_f64() {
            return Err(bad(format!(
                "is more than the maximum, {} s ({}): {why}",
                maximum.as_secs(),
                maximum_text(maximum)
            )));
        }
    }
    Duration::try_from_secs_f64(value).map_err(|_| bad("is too many seconds".to_owned()))
}

/// `policy` with `key` set to `value`, checked as the validator would.
pub fn with_value(policy: &Policy, key: &str, value: f64) -> Result<Policy, SweepError> {
    let bad = |message: &str| SweepError::BadValue {
        key: key.to_owned(),
        value,
        message: message.to_owned(),
    };
    let count = || -> Result<u32, SweepError> {
        if value < 0.0 || value > f64::from(u32::MAX) || value.fract() != 0.0 {
            Err(bad("must be a whole number of tasks"))
        } else {
            Ok(value as u32)
        }
    };
    let mut policy = policy.clone();
    match key {
        "target_backlog_per_task" => {
            if value <= 0.0 {
                return Err(bad("must be more than zero"));
            }
            policy.target = Target::BacklogPerTask(value);
        }
        "target_wait" | "message_cost" => {
            let duration = seconds(key, value)?;
            if duration.is_zero() {
                return Err(bad("must be more than zero"));
            }
            let Target::Wait { wait, message_cost } = policy.target else {
                return Err(bad(
                    "the policy uses target_backlog_per_task, not target_wait + message_cost",
                ));
            };
            policy.target = if key == "target_wait" {
                Target::Wait {
                    wait: duration,
                    message_cost,
                }
            } else {
                Target::Wait {
                    wait,
                    message_cost: duration,
                }
            };
        }
        "min_tasks" => policy.min_tasks = count()?,
        "max_tasks" => policy.max_tasks = count()?,
        "poll_interval" => {
            policy.poll_interval = seconds(key, value)?;
            if policy.poll_interval.is_zero() {
                return Err(bad("must be more than zero"));
            }
        }
        "tolerance" | "activation_backlog" => {
            if value < 0.0 {
                return Err(bad("must be at least zero"));
            }
            if key == "tolerance" {
                policy.tolerance = value;
            } else {
                policy.activation_backlog = value;
            }
        }
        "scale_to_zero_after" => policy.scale_to_zero_after = seconds(key, value)?,
        "scale_out.max_step" => policy.scale_out.max_step = Some(Step::Tasks(count()?.max(1))),
        "scale_out.cooldown" => policy.scale_out.cooldown = seconds(key, value)?,
        "scale_out.lookahead" => policy.scale_out.lookahead = seconds(key, value)?,
        "in_flight_per_task" => {
            if value <= 0.0 {
                return Err(bad("must be more than zero"));
            }
            policy.in_flight_per_task = Some(value);
        }
        "scale_in.stabilization_window" => {
            policy.scale_in.stabilization_window = seconds(key, value)?
        }
        "scale_in.max_step" => policy.scale_in.max_step = Some(Step::Tasks(count()?.max(1))),
        "scale_in.cooldown" => policy.scale_in.cooldown = seconds(key, value)?,
        _ => {
            return Err(SweepError::UnknownKey {
                key: key.to_owned(),
            })
        }
    }
    if policy.min_tasks > policy.max_tasks {
        return Err(bad("min_tasks would exceed max_tasks"));
    }
    Ok(policy)
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
    use super::*;

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

    #[test]
    fn values_are_checked_when_applied() {
        let policy = Policy::with_defaults("p", "c", "s", "q");
        assert_eq!(
            with_value(&policy, "target_backlog_per_task", 0.0)
                .unwrap_err()
                .to_string(),
            "target_backlog_per_task = 0: must be more than zero"
        );
        assert_eq!(
            with_value(&policy, "min_tasks", 20.0)
                .unwrap_err()
                .to_string(),
            "min_tasks = 20: min_tasks would exceed max_tasks"
        );
        let changed = with_value(&policy, "scale_in.stabilization_window", 90.0).unwrap();
        assert_eq!(
            changed.scale_in.stabilization_window,
            Duration::from_secs(90)
        );
        assert_eq!(changed.target_backlog_per_task(), 100.0);
    }
}
