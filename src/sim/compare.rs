//! `--compare`: our policy against each alternative, each alternative tuned
//! in hindsight to the cheapest knob that meets the wait target.
//!
//! The knob grid is the benchmark's: 96 values from 1 to 10,000, evenly
//! spaced in log scale and rounded to 3 significant digits. The fixed fleet
//! is bisected instead (its p99 wait only falls as N grows, and its cost
//! only rises). Every simulation is one job of the worker pool.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::alternatives::{Alternative, AlternativeError, Bounds, Kind};
use super::config::{ConfigError, SimConfig};
use super::pool::run_all;
use super::report::{cheapest_meeting, Summary};
use super::run::{screen_with, simulate, simulate_with, Screen};
use super::sweep::{with_value, SweepError, SweepSpec};
use super::trace::Trace;
use crate::policy::Policy;

/// The benchmark's knob grid: `count` values from `low` to `high`, log
/// spaced, each rounded to 3 significant digits, sorted, without repeats.
pub fn grid(count: usize, low: f64, high: f64) -> Vec<f64> {
    let mut values: Vec<f64> = (0..count)
        .map(|k| {
            let exact = low * (high / low).powf(k as f64 / (count - 1) as f64);
            three_significant(exact)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
}

/// The default grid: 96 values from 1 to 10,000.
pub fn knob_grid() -> Vec<f64> {
    grid(96, 1.0, 10_000.0)
}

/// `value` rounded to 3 significant digits, as `%.3g` prints it.
fn three_significant(value: f64) -> f64 {
    format!("{value:.2e}")
        .parse()
        .expect("a formatted float parses")
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Alternative(#[from] AlternativeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Our policy's run in a comparison: the swept value when there was a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRun {
    pub name: String,
    /// The sweep key and its best value, when swept.
    pub key: Option<String>,
    pub value: Option<f64>,
    /// `None` when no swept value meets the wait target.
    pub summary: Option<Summary>,
}

/// One alternative tuned to the wait target.
#[derive(Debug, Clone, Serialize)]
pub struct Tuned {
    pub alternative: String,
    /// The cheapest knob meeting the wait target; `None`: none does.
    pub knob: Option<f64>,
    pub summary: Option<Summary>,
    /// `(alternative - ours) / alternative` task-seconds, in percent, when
    /// both meet the target.
    pub our_saving_pct: Option<f64>,
    /// Simulations run to tune it.
    pub runs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub wait_target_s: f64,
    pub min_tasks: u32,
    pub max_tasks: u32,
    pub policy: PolicyRun,
    pub alternatives: Vec<Tuned>,
}

impl Comparison {
    /// The setting of `kind` the comparison picked, if any.
    pub fn picked(&self, kind: Kind) -> Option<f64> {
        self.alternatives
            .iter()
            .find(|t| t.alternative == kind.name())
            .and_then(|t| t.knob)
    }
}

/// A policy run: its swept value (if swept) and what it gave.
type Run = (Option<f64>, Summary);

enum Job {
    Policy(Box<Policy>, Option<f64>),
    Grid(Kind, f64),
    BisectFixed,
}

enum Done {
    Policy(Run),
    /// Knobs screened, with their task-seconds and verdicts.
    Screened(Kind, Vec<(f64, Screen)>),
}

/// Everything the comparison needs to know about its setting.
pub struct CompareSetup<'a> {
    pub policy: &'a Policy,
    pub sweep: Option<&'a SweepSpec>,
    pub trace: &'a Trace,
    pub config: &'a SimConfig,
    pub bounds: Bounds,
    pub knobs: Vec<f64>,
    pub threads: usize,
}

impl CompareSetup<'_> {
    /// How many simulations [`compare`] runs at most, for a progress bar.
    pub fn total_runs(&self) -> u64 {
        let policy = self.sweep.map_or(1, |s| s.values.len());
        let span = u64::from(self.bounds.max - self.bounds.min) + 1;
        let bisection = 1 + u64::from(64 - span.leading_zeros());
        // The grids, the bisection, then one full run per alternative.
        policy as u64 + 3 * self.knobs.len() as u64 + bisection + Kind::ALL.len() as u64
    }
}

/// Run the comparison. `finished` counts simulations done.
///
/// The search screens each setting ([`screen_with`]: task-seconds and
/// verdict, mostly in one pass); only the setting picked per alternative
/// then runs in full for its percentiles.
pub fn compare(
    setup: &CompareSetup,
    finished: Option<&AtomicU64>,
) -> Result<Comparison, CompareError> {
    let config = SimConfig {
        record_timeline: false,
        ..setup.config.clone()
    };
    config.check()?;
    // Fail on bad bounds before any work.
    for kind in Kind::ALL {
        Alternative::new(kind, 1.0, setup.bounds)?;
    }
    // The bisection is sequential: first, so it overlaps the grids.
    let mut jobs = vec![Job::BisectFixed];
    match setup.sweep {
        Some(spec) => {
            for &value in &spec.values {
                jobs.push(Job::Policy(
                    Box::new(with_value(setup.policy, &spec.key, value)?),
                    Some(value),
                ));
            }
        }
        None => jobs.push(Job::Policy(Box::new(setup.policy.clone()), None)),
    }
    for kind in [Kind::Naive, Kind::KedaHpa, Kind::AwsTargetTracking] {
        for &knob in &setup.knobs {
            jobs.push(Job::Grid(kind, knob));
        }
    }
    let tick = || {
        if let Some(finished) = finished {
            finished.fetch_add(1, Ordering::Relaxed);
        }
    };
    let screen = |kind: Kind, knob: f64| -> Result<Screen, CompareError> {
        let controller = Alternative::new(kind, knob, setup.bounds)?;
        let screened = screen_with(&controller, setup.trace, &config)?;
        tick();
        Ok(screened)
    };
    let results = run_all(&jobs, setup.threads, |job| -> Result<Done, CompareError> {
        Ok(match job {
            Job::Policy(policy, value) => {
                let summary = simulate(policy, setup.trace, &config, None)?.summary;
                tick();
                Done::Policy((*value, summary))
            }
            Job::Grid(kind, knob) => Done::Screened(*kind, vec![(*knob, screen(*kind, *knob)?)]),
            Job::BisectFixed => Done::Screened(
                Kind::Fixed,
                bisect_fixed(setup.bounds, |n| screen(Kind::Fixed, n))?,
            ),
        })
    });

    let mut policy_runs = Vec::new();
    let mut screened: Vec<(Kind, Vec<(f64, Screen)>)> =
        Kind::ALL.iter().map(|&k| (k, Vec::new())).collect();
    for result in results {
        match result? {
            Done::Policy(run) => policy_runs.push(run),
            Done::Screened(kind, runs) => {
                let slot = screened
                    .iter_mut()
                    .find(|(k, _)| *k == kind)
                    .expect("every kind has a slot");
                slot.1.extend(runs);
            }
        }
    }
    // The cheapest meeting knob per alternative, then its full run.
    let picks: Vec<(Kind, Option<f64>, usize)> = screened
        .iter()
        .map(|(kind, runs)| {
            let knob = cheapest_meeting(runs, |(_, s)| (s.meets_wait_target, s.task_seconds))
                .map(|(knob, _)| *knob);
            (*kind, knob, runs.len())
        })
        .collect();
    let finals = run_all(
        &picks,
        setup.threads,
        |&(kind, knob, _)| -> Result<Option<Summary>, CompareError> {
            let Some(knob) = knob else {
                tick();
                return Ok(None);
            };
            let controller = Alternative::new(kind, knob, setup.bounds)?;
            let summary = simulate_with(&controller, setup.trace, &config, None)?.summary;
            tick();
            Ok(Some(summary))
        },
    );

    let ours = cheapest_meeting(&policy_runs, |(_, s)| (s.meets_wait_target, s.task_seconds))
        .cloned()
        .or_else(|| match setup.sweep {
            // An unswept policy is shown even when it misses the target.
            None => policy_runs.first().cloned(),
            Some(_) => None,
        });
    let ours_meeting = ours
        .as_ref()
        .filter(|(_, s)| s.meets_wait_target)
        .map(|(_, s)| s.task_seconds);
    let policy = PolicyRun {
        name: setup.policy.name.clone(),
        key: setup.sweep.map(|s| s.key.clone()),
        value: ours.as_ref().and_then(|(v, _)| *v),
        summary: ours.map(|(_, s)| s),
    };
    let mut alternatives = Vec::new();
    for ((kind, knob, runs), summary) in picks.into_iter().zip(finals) {
        let summary = summary?;
        let our_saving_pct = match (&summary, ours_meeting) {
            (Some(s), Some(ours)) if s.task_seconds > 0.0 => {
                Some(100.0 * (s.task_seconds - ours) / s.task_seconds)
            }
            _ => None,
        };
        alternatives.push(Tuned {
            alternative: kind.name().to_owned(),
            knob,
            summary,
            our_saving_pct,
            runs,
        });
    }
    Ok(Comparison {
        wait_target_s: config.wait_target.as_secs_f64(),
        min_tasks: setup.bounds.min,
        max_tasks: setup.bounds.max,
        policy,
        alternatives,
    })
}

/// The smallest fixed fleet in the bounds that meets the target, by
/// bisection; every run made is returned (only meeting ones can win, and
/// the smallest meeting N is the cheapest).
fn bisect_fixed(
    bounds: Bounds,
    mut run: impl FnMut(f64) -> Result<Screen, CompareError>,
) -> Result<Vec<(f64, Screen)>, CompareError> {
    let mut runs = Vec::new();
    let top = run(f64::from(bounds.max))?;
    runs.push((f64::from(bounds.max), top));
    if !top.meets_wait_target {
        return Ok(runs);
    }
    // Invariant: `high` meets; everything below `low` misses.
    let (mut low, mut high) = (bounds.min, bounds.max);
    while low < high {
        let mid = low + (high - low) / 2;
        let screened = run(f64::from(mid))?;
        if screened.meets_wait_target {
            high = mid;
        } else {
            low = mid + 1;
        }
        runs.push((f64::from(mid), screened));
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_benchmarks() {
        let grid = knob_grid();
        assert_eq!(grid.len(), 96);
        assert_eq!(grid[0], 1.0);
        assert_eq!(grid[95], 10_000.0);
        // Values from the benchmark's table, each on the grid.
        for value in [1.1, 2.39, 2.64, 3.2, 3.53, 32.8, 2120.0] {
            assert!(grid.contains(&value), "{value} on the grid");
        }
        assert_eq!(three_significant(1234.5), 1230.0);
        assert_eq!(three_significant(0.012345), 0.0123);
    }

    /// One message a second for 600 s, S = 2 s, no startup delay: a fixed
    /// fleet needs exactly 2 tasks (1 falls behind for good), which cost
    /// exactly the work. Every other pick must be the cheapest meeting run
    /// of a brute-force scan, though cheaper runs that miss exist.
    #[test]
    fn picks_the_cheapest_setting_that_meets_the_wait() {
        let trace = Trace::per_second(&[1; 600]);
        let config = SimConfig {
            service_time: std::time::Duration::from_secs(2),
            startup: std::time::Duration::ZERO,
            wait_target: std::time::Duration::from_secs(20),
            ..SimConfig::default()
        };
        let policy = Policy::with_defaults("p", "c", "s", "q");
        let bounds = Bounds { min: 1, max: 20 };
        let knobs = grid(12, 0.5, 200.0);
        let setup = CompareSetup {
            policy: &policy,
            sweep: None,
            trace: &trace,
            config: &config,
            bounds,
            knobs: knobs.clone(),
            threads: 2,
        };
        let comparison = compare(&setup, None).unwrap();
        let fixed = &comparison.alternatives[0];
        assert_eq!(fixed.alternative, "fixed");
        assert_eq!(fixed.knob, Some(2.0));
        assert_eq!(fixed.summary.as_ref().unwrap().cost_ratio, Some(1.0));

        let run = |kind, knob| {
            let controller = Alternative::new(kind, knob, bounds).unwrap();
            simulate_with(&controller, &trace, &config, None)
                .unwrap()
                .summary
        };
        for tuned in &comparison.alternatives[1..] {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == tuned.alternative)
                .unwrap();
            let runs: Vec<(f64, Summary)> = knobs.iter().map(|&k| (k, run(kind, k))).collect();
            let least_meeting = runs
                .iter()
                .filter(|(_, s)| s.meets_wait_target)
                .map(|(_, s)| s.task_seconds)
                .fold(f64::INFINITY, f64::min);
            let least_missing = runs
                .iter()
                .filter(|(_, s)| !s.meets_wait_target)
                .map(|(_, s)| s.task_seconds)
                .fold(f64::INFINITY, f64::min);
            let Some(picked) = tuned.summary.as_ref() else {
                // "cannot meet" only when no setting does.
                assert!(runs.iter().all(|(_, s)| !s.meets_wait_target));
                assert_eq!(tuned.knob, None);
                continue;
            };
            assert_eq!(picked.task_seconds, least_meeting, "{}", tuned.alternative);
            assert!(picked.meets_wait_target);
            assert!(
                least_missing < least_meeting,
                "{}: a cheaper run misses",
                tuned.alternative
            );
            let again = run(kind, tuned.knob.unwrap());
            assert_eq!(again.task_seconds, picked.task_seconds);
        }
    }
}
