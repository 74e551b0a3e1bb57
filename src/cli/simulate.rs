//! `backlog-scaler simulate`: replay a trace through one policy, sweep a
//! policy key, run one alternative (`--alternative`), or compare the policy
//! with every alternative (`--compare`, in `compare.rs`), and print or write
//! what it would have cost.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use backlog_scaler::policy::Policy;
use backlog_scaler::sim::alternatives::{AlternativeSpec, Bounds};
use backlog_scaler::sim::compare::{self as sim_compare, CompareSetup};
use backlog_scaler::sim::sweep::{self, SweepOutcome, SweepSpec};
use backlog_scaler::sim::{self, SimConfig, SimResult, Summary, Trace};

use super::compare;
use super::duration_arg::parse_duration;
use super::policy_source::{PolicySource, POLICIES_HELP};
use super::progress::{bar, with_progress};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[arg(long, value_name = "PATH", help = POLICIES_HELP)]
    policies: Option<PathBuf>,
    /// Name of the policy to replay (not needed with --alternative).
    #[arg(long, value_name = "NAME")]
    policy: Option<String>,
    /// Replay an alternative instead of a policy: fixed=N, naive=T,
    /// keda-hpa=T or aws-target-tracking=T (T in messages per task).
    #[arg(long, value_name = "NAME=KNOB", conflicts_with_all = ["sweep", "compare"])]
    alternative: Option<String>,
    /// Fewest tasks for --alternative (default: the policy's, else 1).
    #[arg(long, value_name = "N")]
    min_tasks: Option<u32>,
    /// Most tasks for --alternative (default: the policy's, else 300).
    #[arg(long, value_name = "N")]
    max_tasks: Option<u32>,
    /// Run the policy (swept with --sweep), then tune every alternative to
    /// the cheapest setting meeting --wait-target, and show them side by
    /// side. Needs --wait-target.
    #[arg(long)]
    compare: bool,
    /// Arrival trace: CSV with header `t_seconds,arrivals`.
    #[arg(long, value_name = "FILE.csv")]
    trace: PathBuf,
    /// Time one message occupies one slot: decimal seconds (5.263158) or a
    /// duration (300ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    service_time: Duration,
    /// Messages one task serves at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// How long a launched task is PENDING before it serves.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    startup: Duration,
    /// Multiplies the trace's arrivals.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Tasks RUNNING at time 0 (default: the policy's min_tasks).
    #[arg(long, value_name = "N")]
    initial_tasks: Option<u32>,
    /// The p99 wait a run must not exceed to meet the target (default 60s).
    #[arg(long, value_parser = parse_duration)]
    wait_target: Option<Duration>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write summary.json, timeline.csv and chart.svg here (with --sweep:
    /// sweep.json, and those three files for the best value).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run once per value of a numeric policy key: KEY=V1,V2,... or
    /// KEY=A..B:N (N values from A to B, log-spaced, both ends included).
    #[arg(long, value_name = "KEY=VALUES")]
    sweep: Option<String>,
}

pub fn execute(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.compare && args.wait_target.is_none() {
        anyhow::bail!(
            "--compare needs --wait-target: the p99 wait each alternative is tuned to meet"
        );
    }
    let alternative = args
        .alternative
        .as_deref()
        .map(AlternativeSpec::parse)
        .transpose()?;
    let policy = match (&args.policy, alternative) {
        (Some(name), _) => Some(PolicySource::resolve(args.policies.clone())?.find(name)?),
        (None, Some(_)) => None,
        (None, None) => anyhow::bail!("--policy NAME is needed (or --alternative NAME=KNOB)"),
    };
    let bounds = Bounds {
        min: args
            .min_tasks
            .or(policy.as_ref().map(|p| p.min_tasks))
            .unwrap_or(Bounds::default().min),
        max: args
            .max_tasks
            .or(policy.as_ref().map(|p| p.max_tasks))
            .unwrap_or(Bounds::default().max),
    };
    let trace = Trace::from_path(&args.trace)?;
    let config = SimConfig {
        service_time: args.service_time,
        concurrency: args.concurrency,
        startup: args.startup,
        scale: args.scale,
        initial_tasks: args.initial_tasks,
        wait_target: args.wait_target.unwrap_or(Duration::from_secs(60)),
        record_timeline: args.out.is_some(),
    };
    config.check()?;
    // A bar only for a person watching: not into JSON pipelines or logs.
    let show_progress = !args.json && std::io::stderr().is_terminal();
    if let Some(spec) = alternative {
        let controller = spec.controller(bounds)?;
        let result = sim::simulate_with(&controller, &trace, &config, None)?;
        if let Some(dir) = &args.out {
            write_run(dir, &result, &config)?;
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&result.summary)?);
        } else {
            let name = format!("{}={}", spec.kind, spec.knob);
            print_summary(&name, &result.summary, &config);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let policy = policy.expect("a policy unless --alternative");
    if args.compare {
        let spec = args.sweep.as_deref().map(SweepSpec::parse).transpose()?;
        let run = compare::CompareRun {
            setup: CompareSetup {
                policy: &policy,
                sweep: spec.as_ref(),
                trace: &trace,
                config: &config,
                bounds,
                knobs: sim_compare::knob_grid(),
                threads: sim::pool::cores(),
            },
            json: args.json,
            out: args.out.as_deref(),
            show_progress,
        };
        return compare::execute(&run);
    }
    match &args.sweep {
        None => {
            let result = run_with_progress(&policy, &trace, &config, show_progress)?;
            if let Some(dir) = &args.out {
                write_run(dir, &result, &config)?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&result.summary)?);
            } else {
                print_summary(&format!("policy {}", policy.name), &result.summary, &config);
            }
        }
        Some(spec) => {
            let spec = SweepSpec::parse(spec)?;
            let outcome = sweep_with_progress(&policy, &trace, &config, &spec, show_progress)?;
            if let Some(dir) = &args.out {
                create_dir(dir)?;
                write_file(
                    &dir.join("sweep.json"),
                    &serde_json::to_string_pretty(&outcome)?,
                )?;
                // The best value's run; when none meets the wait, the run
                // that comes closest, said so rather than left out.
                if let Some(shown) = outcome.best.or_else(|| outcome.lowest_p99()) {
                    let shown_policy = sweep::with_value(&policy, &spec.key, shown)?;
                    let result = sim::simulate(&shown_policy, &trace, &config, None)?;
                    write_run(dir, &result, &config)?;
                    if outcome.best.is_none() {
                        eprintln!(
                            "note: no value meets the {} s p99 wait target; summary.json, \
                             timeline.csv and chart.svg in {} show {} = {}, the lowest p99 wait",
                            config.wait_target.as_secs_f64(),
                            dir.display(),
                            spec.key,
                            format_value(shown)
                        );
                    }
                }
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                print_sweep(&spec, &outcome, &config);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_with_progress(
    policy: &Policy,
    trace: &Trace,
    config: &SimConfig,
    show: bool,
) -> anyhow::Result<SimResult> {
    // Progress is simulated seconds over the (at most) two passes.
    let total = 2 * trace.end_seconds();
    let bar = bar(total, show, "simulating {bar:40} {percent}% ({elapsed})");
    let result = with_progress(&bar, 1_000_000_000, |progress| {
        sim::simulate(policy, trace, config, Some(progress))
    });
    Ok(result?)
}

fn sweep_with_progress(
    policy: &Policy,
    trace: &Trace,
    config: &SimConfig,
    spec: &SweepSpec,
    show: bool,
) -> anyhow::Result<SweepOutcome> {
    let bar = bar(
        spec.values.len() as u64,
        show,
        "sweeping {bar:40} {pos}/{len} runs ({elapsed})",
    );
    let threads = sim::pool::cores();
    let outcome = with_progress(&bar, 1, |finished| {
        sweep::run_sweep(policy, trace, config, spec, threads, Some(finished))
    });
    Ok(outcome?)
}

pub(super) fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub(super) fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

pub(super) fn write_run(dir: &Path, result: &SimResult, config: &SimConfig) -> anyhow::Result<()> {
    create_dir(dir)?;
    write_file(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(&result.summary)?,
    )?;
    let mut csv = Vec::new();
    sim::write_timeline_csv(&result.timeline, &mut csv)?;
    write_file(&dir.join("timeline.csv"), &String::from_utf8(csv)?)?;
    let svg = sim::chart::render(
        &result.timeline,
        &result.summary,
        config.wait_target.as_secs_f64(),
        result.end_s,
    );
    write_file(&dir.join("chart.svg"), &svg)
}

pub(super) fn cost(summary: &Summary) -> String {
    summary
        .cost_ratio
        .map_or("n/a".to_owned(), |ratio| format!("{ratio:.3}x"))
}

/// The unserved share, with a warning when it makes the cost ratio
/// incomparable.
fn unserved(summary: &Summary) -> String {
    match summary.unserved_share {
        None => "n/a".to_owned(),
        Some(0.0) => "0%".to_owned(),
        Some(share) => format!(
            "{:.2}% of messages (their work costs nothing, so the cost ratio \
             is lower than serving them would be: not comparable)",
            share * 100.0
        ),
    }
}

fn print_summary(name: &str, s: &Summary, config: &SimConfig) {
    let target = config.wait_target.as_secs_f64();
    let verdict = if s.meets_wait_target {
        "meets"
    } else {
        "MISSES"
    };
    println!("{name}: {verdict} the {target} s p99 wait target");
    let rows = [
        ("messages", s.messages.to_string()),
        ("served", s.served.to_string()),
        ("wait p50", format!("{:.3} s", s.wait_p50_s)),
        ("wait p90", format!("{:.3} s", s.wait_p90_s)),
        ("wait p99", format!("{:.3} s", s.wait_p99_s)),
        ("wait max", format!("{:.3} s", s.wait_max_s)),
        ("task seconds", format!("{:.1}", s.task_seconds)),
        ("work seconds", format!("{:.1}", s.work_seconds)),
        ("cost ratio", cost(s)),
        ("unserved", unserved(s)),
        ("scale actions", s.scale_actions.to_string()),
        ("max visible", s.max_visible.to_string()),
        ("peak tasks", s.peak_tasks.to_string()),
        ("mean tasks", format!("{:.2}", s.mean_tasks)),
    ];
    for (label, value) in rows {
        println!("  {label:<14} {value}");
    }
}

fn print_sweep(spec: &SweepSpec, outcome: &SweepOutcome, config: &SimConfig) {
    let target = config.wait_target.as_secs_f64();
    let width = spec.key.len().max(12);
    println!(
        "{:>width$}  {:>10}  {:>14}  {:>11}  meets {target} s",
        spec.key, "cost", "task seconds", "p99 wait s"
    );
    for run in &outcome.runs {
        let best = if outcome.best == Some(run.value) {
            "  <- best"
        } else {
            ""
        };
        println!(
            "{:>width$}  {:>10}  {:>14.1}  {:>11.3}  {:<5}{best}",
            format_value(run.value),
            cost(&run.summary),
            run.summary.task_seconds,
            run.summary.wait_p99_s,
            if run.summary.meets_wait_target {
                "yes"
            } else {
                "no"
            },
        );
    }
    match outcome.best {
        Some(best) => println!(
            "best: {} = {} (cheapest run whose p99 wait is at most {target} s)",
            spec.key,
            format_value(best)
        ),
        None => match outcome.lowest_p99() {
            Some(closest) => println!(
                "best: none of the values meets the {target} s p99 wait target; \
                 the lowest p99 wait is at {} = {}",
                spec.key,
                format_value(closest)
            ),
            None => println!("best: none of the values meets the {target} s p99 wait target"),
        },
    }
}

pub(super) fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e12 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}
