//! `simulate --compare`: our policy against every alternative tuned to the
//! wait target, as one table, one JSON object, or (with `--out`) the
//! policy's run files with the comparison in `summary.json` and each
//! alternative's task count on the chart.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use backlog_scaler::sim::alternatives::{Alternative, Kind};
use backlog_scaler::sim::chart::{self, Overlay};
use backlog_scaler::sim::compare::{self, CompareSetup, Comparison};
use backlog_scaler::sim::sweep;
use backlog_scaler::sim::{self, SimConfig, Summary};

use super::progress::{bar, with_progress};
use super::simulate::{cost, create_dir, format_value, write_file, write_run};

/// What `--compare` was asked: the comparison's setting, and how to show it.
pub struct CompareRun<'a> {
    pub setup: CompareSetup<'a>,
    pub json: bool,
    pub out: Option<&'a Path>,
    pub show_progress: bool,
}

pub fn execute(run: &CompareRun) -> anyhow::Result<ExitCode> {
    let setup = &run.setup;
    let bar = bar(
        setup.total_runs(),
        run.show_progress,
        "comparing {bar:40} {pos}/{len} runs ({elapsed})",
    );
    let comparison = with_progress(&bar, 1, |finished| compare::compare(setup, Some(finished)));
    let comparison = comparison?;
    if let Some(dir) = run.out {
        write_out(dir, run, &comparison)?;
    }
    if run.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print_table(&comparison);
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy's run files, with the comparison in `summary.json` and the
/// alternatives' task counts on the chart.
fn write_out(dir: &Path, run: &CompareRun, comparison: &Comparison) -> anyhow::Result<()> {
    create_dir(dir)?;
    let config = SimConfig {
        record_timeline: true,
        ..run.setup.config.clone()
    };
    let policy = match (run.setup.sweep, comparison.policy.value) {
        (Some(spec), Some(value)) => sweep::with_value(run.setup.policy, &spec.key, value)?,
        _ => run.setup.policy.clone(),
    };
    let ours = sim::simulate(&policy, run.setup.trace, &config, None)?;
    write_run(dir, &ours, &config)?;
    let mut overlays = Vec::new();
    for kind in Kind::ALL {
        let Some(knob) = comparison.picked(kind) else {
            continue;
        };
        let controller = Alternative::new(kind, knob, run.setup.bounds)?;
        let result = sim::simulate_with(&controller, run.setup.trace, &config, None)?;
        overlays.push(Overlay {
            label: format!("{kind}={knob}"),
            times: result.timeline.iter().map(|r| r.time_s).collect(),
            tasks: result
                .timeline
                .iter()
                .map(|r| f64::from(r.desired))
                .collect(),
        });
    }
    #[derive(Serialize)]
    struct WithComparison<'a> {
        #[serde(flatten)]
        summary: &'a Summary,
        comparison: &'a Comparison,
    }
    let summary = WithComparison {
        summary: &ours.summary,
        comparison,
    };
    write_file(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    let svg = chart::render_with(
        &ours.timeline,
        &ours.summary,
        config.wait_target.as_secs_f64(),
        ours.end_s,
        &overlays,
    );
    write_file(&dir.join("chart.svg"), &svg)
}

fn print_table(c: &Comparison) {
    println!(
        "cheapest setting meeting p99 wait <= {} s (tasks {}..{}):",
        c.wait_target_s, c.min_tasks, c.max_tasks
    );
    println!(
        "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6} {:>11}",
        "", "setting", "cost", "p50 s", "p99 s", "max s", "actions", "peak", "our saving"
    );
    let ours_name = format!("ours ({})", c.policy.name);
    let ours_setting = match (&c.policy.key, c.policy.value) {
        (Some(_), Some(value)) => format_value(value),
        _ => "-".to_owned(),
    };
    print_row(&ours_name, &ours_setting, c.policy.summary.as_ref(), None);
    for tuned in &c.alternatives {
        let setting = tuned.knob.map_or("-".to_owned(), |knob| {
            let name = if tuned.alternative == Kind::Fixed.name() {
                "N"
            } else {
                "T"
            };
            format!("{name} {knob}")
        });
        print_row(
            &tuned.alternative,
            &setting,
            tuned.summary.as_ref(),
            tuned.our_saving_pct,
        );
    }
    if let (Some(key), Some(value)) = (&c.policy.key, c.policy.value) {
        println!(
            "ours: {key} = {}, the cheapest swept value meeting the target",
            format_value(value)
        );
    }
}

fn print_row(name: &str, setting: &str, summary: Option<&Summary>, saving: Option<f64>) {
    let Some(s) = summary else {
        println!("{name:<22} {:>10} cannot meet the target", "-");
        return;
    };
    let saving = saving.map_or("-".to_owned(), |pct| format!("{pct:.1}%"));
    let verdict = if s.meets_wait_target {
        ""
    } else {
        "  (misses)"
    };
    println!(
        "{name:<22} {setting:>10} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>6} {saving:>11}{verdict}",
        cost(s),
        s.wait_p50_s,
        s.wait_p99_s,
        s.wait_max_s,
        s.scale_actions,
        s.peak_tasks,
    );
}
