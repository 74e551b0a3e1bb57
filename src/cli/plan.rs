//! `backlog-scaler plan`: observe every policy once and show what the
//! controller would do, without writing anything.
//!
//! Each policy is evaluated exactly as the daemon's first evaluation after a
//! start would be (same engine, fresh state), in dry-run, so nothing is ever
//! written. A policy that cannot be observed gets a row saying why; that is
//! not a failure of `plan`. Invalid policy files are (exit code 1).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use backlog_scaler::aws::{ApiCalls, AwsFleet};
use backlog_scaler::controller::{evaluate, Deadlines, Evaluation, Memory, SharedReads};
use backlog_scaler::engine::{Action, Reason, Timestamp};
use backlog_scaler::policy::{AwsTarget, Policy};
use backlog_scaler::ports::{error_chain, Ports, PortsSource};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::aws_args::{self, AwsArgs};
use super::logging::{self, LogArgs};
use super::policy_source::{PolicySource, POLICIES_HELP};
use super::shard_args::ShardArgs;

/// Policies observed at the same moment.
const CONCURRENCY: usize = 16;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[arg(long, value_name = "PATH", help = POLICIES_HELP)]
    pub policies: Option<PathBuf>,
    /// Print a JSON array, one object per policy, instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// One policy's line of the plan.
#[derive(Debug, Serialize)]
struct Row {
    policy: String,
    cluster: String,
    service: String,
    queues: Vec<String>,
    /// `"inf"` when a weight makes it overflow: JSON has no infinity.
    #[serde(serialize_with = "backlog_scaler::engine::optional_number")]
    backlog: Option<f64>,
    desired: Option<u32>,
    running: Option<u32>,
    pending: Option<u32>,
    proposed: Option<u32>,
    action: Action,
    /// The reason as one sentence.
    reason: String,
    /// The reason's steps, as the engine gave them.
    reason_steps: Reason,
    /// Why the policy could not be observed, if it could not.
    error: Option<String>,
    error_kind: Option<&'static str>,
}

impl Row {
    fn new(policy: &Policy, evaluation: Evaluation) -> Row {
        let service = evaluation.observation.as_ref().ok().map(|o| o.service);
        let error = evaluation.observation.as_ref().err();
        let decision = evaluation.decision;
        Row {
            policy: policy.name.clone(),
            cluster: policy.cluster.clone(),
            service: policy.service.clone(),
            queues: policy.queues.iter().map(|q| q.queue.clone()).collect(),
            backlog: decision.backlog,
            desired: service.map(|s| s.desired),
            running: service.map(|s| s.running),
            pending: service.map(|s| s.pending),
            proposed: decision.desired,
            action: decision.action,
            reason: decision.reason.to_string(),
            reason_steps: decision.reason,
            error: error.map(|e| error_chain(e)),
            error_kind: error.map(|e| e.kind().as_str()),
        }
    }
}

pub fn execute(args: PlanArgs) -> anyhow::Result<ExitCode> {
    logging::init(&args.log)?;
    let source = PolicySource::resolve(args.policies.clone())?;
    let Ok(loaded) = source.load_or_report() else {
        return Ok(ExitCode::from(1));
    };
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        let sdk_config = aws_args::load_config(&args.aws).await?;
        if let Some(region) = sdk_config.region() {
            if source.check_home_region(region.as_ref()).is_err() {
                return anyhow::Ok(None);
            }
        }
        // Each policy is read through its own target (region, role), as
        // the daemon reads it.
        let fleet = Arc::new(AwsFleet::new(sdk_config, Arc::new(ApiCalls::new())));
        anyhow::Ok(Some(
            plan_all(args.shard.select(loaded.policies), fleet).await,
        ))
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    let Some(rows) = rows else {
        // A policy's URL or ARN names another region than the one it
        // would be read in; the errors are printed.
        return Ok(ExitCode::from(1));
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// Evaluate every policy once, in dry-run, from a fresh state: one cycle
/// over all of them, each through its own target (region, role), reading
/// each of a target's queues once and describing each cluster's services
/// ten at a time, as the daemon's cycles do.
async fn plan_all(policies: Vec<Policy>, source: Arc<dyn PortsSource>) -> Vec<Row> {
    let mut by_target: BTreeMap<AwsTarget, Vec<&Policy>> = BTreeMap::new();
    for policy in &policies {
        by_target
            .entry(policy.aws.clone())
            .or_default()
            .push(policy);
    }
    let mut cycle_ports: BTreeMap<AwsTarget, Ports> = BTreeMap::new();
    for (target, members) in by_target {
        let ports = source.ports_for(&target).await;
        let services = members
            .iter()
            .map(|p| (p.cluster.as_str(), p.service.as_str()));
        let shared = Arc::new(SharedReads::new(&ports, services)).ports(&ports);
        cycle_ports.insert(target, shared);
    }
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for policy in policies {
        let ports = cycle_ports[&policy.aws].clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let (evaluation, _) = evaluate(
                &policy,
                true,
                &ports,
                &Memory::default(),
                Timestamp::ZERO,
                Deadlines::default(),
            )
            .await;
            Row::new(&policy, evaluation)
        }));
    }
    let mut rows = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(row) = task.await {
            rows.push(row);
        }
    }
    rows
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn format_backlog(backlog: Option<f64>) -> String {
    match backlog {
        Some(b) if b.fract() == 0.0 => format!("{b:.0}"),
        Some(b) => format!("{b:.2}"),
        None => "-".to_owned(),
    }
}

/// The plan as an aligned text table.
fn table(rows: &[Row]) -> String {
    let header = [
        "POLICY",
        "QUEUES",
        "BACKLOG",
        "DESIRED/RUNNING/PENDING",
        "PROPOSED",
        "ACTION",
        "REASON",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let counts = match (row.desired, row.running, row.pending) {
                (Some(d), Some(r), Some(p)) => format!("{d}/{r}/{p}"),
                _ => "-".to_owned(),
            };
            [
                row.policy.clone(),
                row.queues.join(","),
                format_backlog(row.backlog),
                counts,
                or_dash(row.proposed),
                row.action.to_string(),
                row.reason.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |line: &[String]| {
        let last = line.len() - 1;
        for (i, cell) in line.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    push_line(&header.map(str::to_owned));
    for line in &cells {
        push_line(line);
    }
    out
}
