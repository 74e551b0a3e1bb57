//! `backlog-scaler plan`: observe every policy once and show what the
//! controller would do, without writing anything.
//!
//! Each policy is evaluated exactly as the daemon's first evaluation after a
//! start would be (same engine, fresh state), in dry-run, so nothing is ever
//! written. A policy that cannot be observed gets a row saying why; that is
//! not a failure of `plan`. Invalid policy files are (exit code 1).
//!
//! A policy sized by its wait shows the task startup it plans with and
//! where that came from. `plan` is one evaluation from a fresh state, so a
//! `task_startup: measured` policy never has a measurement here: it plans
//! with [`TaskStartup::ASSUMED`], and says the running controller measures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backlog_scaler::aws::{ApiCalls, AwsClients};
use backlog_scaler::controller::{evaluate, Deadlines, Evaluation, PolicyRecord, SharedReads};
use backlog_scaler::engine::{Action, Because, Reason, StartupSource, Timestamp};
use backlog_scaler::policy::{AwsScope, Policy, TaskStartup};
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
    /// For a policy sized by its wait, the startup it plans with.
    task_startup: Option<PlannedStartup>,
    /// Why the policy could not be observed, if it could not.
    error: Option<String>,
    error_kind: Option<&'static str>,
}

/// The task startup a policy sized by its wait plans with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct PlannedStartup {
    #[serde(rename = "startup_s", with = "secs")]
    startup: Duration,
    /// `stated` (the policy's `task_startup`) or `assumed` (`measured`,
    /// which `plan` never has a measurement for).
    source: StartupSource,
    /// Why it is assumed, when it is.
    note: Option<&'static str>,
}

/// Why a `task_startup: measured` policy plans with the assumption here.
const ASSUMED_NOTE: &str = "assumed until measured: plan makes one evaluation from a fresh \
     state, so it never has a measurement; the running controller measures the startup from \
     its scale-outs (log `task startup measured`, metric backlog_scaler_task_startup_seconds)";

mod secs {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }
}

impl PlannedStartup {
    /// What `policy` plans with: as the decision's wait sizing says when it
    /// was made, else as the policy implies (a failed observation decides
    /// nothing). `None` for a policy not sized by its wait.
    fn of(policy: &Policy, reason: &Reason) -> Option<PlannedStartup> {
        let planned = reason.steps().iter().find_map(|step| match step {
            Because::WaitSizing { plan, .. } => Some((plan.startup, plan.startup_source)),
            _ => None,
        });
        let (startup, source) = match (planned, policy.task_startup?) {
            (Some(planned), _) => planned,
            (None, TaskStartup::Stated(stated)) => (stated, StartupSource::Stated),
            (None, TaskStartup::Measured) => (TaskStartup::ASSUMED, StartupSource::Assumed),
        };
        Some(PlannedStartup {
            startup,
            source,
            note: (source == StartupSource::Assumed).then_some(ASSUMED_NOTE),
        })
    }

    /// `45s stated`, `1m assumed`.
    fn cell(&self) -> String {
        let source = match self.source {
            StartupSource::Stated => "stated",
            StartupSource::Measured => "measured",
            StartupSource::Assumed => "assumed",
        };
        format!("{} {source}", humantime::format_duration(self.startup))
    }
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
            backlog: decision.backlog(),
            desired: service.map(|s| s.desired),
            running: service.map(|s| s.running),
            pending: service.map(|s| s.pending),
            proposed: decision.desired(),
            action: decision.action(),
            reason: decision.reason.to_string(),
            task_startup: PlannedStartup::of(policy, &decision.reason),
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
        let fleet = Arc::new(AwsClients::new(sdk_config, Arc::new(ApiCalls::new())));
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
    let mut by_target: BTreeMap<AwsScope, Vec<&Policy>> = BTreeMap::new();
    for policy in &policies {
        by_target
            .entry(policy.aws.clone())
            .or_default()
            .push(policy);
    }
    let mut cycle_ports: BTreeMap<AwsScope, Ports> = BTreeMap::new();
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
                &PolicyRecord::default(),
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

/// The plan as an aligned text table. A `STARTUP` column (before the
/// reason) when a policy is sized by its wait, and a note under the table
/// when one assumes its startup.
fn table(rows: &[Row]) -> String {
    let startups = rows.iter().any(|row| row.task_startup.is_some());
    let mut header = vec![
        "POLICY",
        "QUEUES",
        "BACKLOG",
        "DESIRED/RUNNING/PENDING",
        "PROPOSED",
        "ACTION",
    ];
    if startups {
        header.push("STARTUP");
    }
    header.push("REASON");
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let counts = match (row.desired, row.running, row.pending) {
                (Some(d), Some(r), Some(p)) => format!("{d}/{r}/{p}"),
                _ => "-".to_owned(),
            };
            let mut line = vec![
                row.policy.clone(),
                row.queues.join(","),
                format_backlog(row.backlog),
                counts,
                or_dash(row.proposed),
                row.action.to_string(),
            ];
            if startups {
                line.push(or_dash(row.task_startup.map(|s| s.cell())));
            }
            line.push(row.reason.clone());
            line
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
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
    push_line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for line in &cells {
        push_line(line);
    }
    let assumed = rows
        .iter()
        .filter_map(|row| row.task_startup)
        .find(|startup| startup.source == StartupSource::Assumed);
    if let Some(assumed) = assumed {
        out.push_str(&format!(
            "\n{} {}.\n",
            humantime::format_duration(assumed.startup),
            ASSUMED_NOTE
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use backlog_scaler::engine::Decision;
    use backlog_scaler::policy::BacklogTarget;

    fn wait_sized(name: &str, startup: TaskStartup) -> Policy {
        let mut policy = Policy::with_defaults(name, "jobs", name, name);
        policy.target = BacklogTarget::Wait {
            wait: Duration::from_secs(60),
            message_cost: Duration::from_secs(1),
        };
        policy.task_startup = Some(startup);
        policy
    }

    fn row(policy: &Policy, reason: Reason) -> Row {
        Row {
            policy: policy.name.clone(),
            cluster: policy.cluster.clone(),
            service: policy.service.clone(),
            queues: vec![policy.name.clone()],
            backlog: None,
            desired: None,
            running: None,
            pending: None,
            proposed: None,
            action: Action::Hold,
            reason: reason.to_string(),
            task_startup: PlannedStartup::of(policy, &reason),
            reason_steps: reason,
            error: None,
            error_kind: None,
        }
    }

    /// The reason the engine gives `policy` for one observation.
    fn decided(policy: &Policy) -> Reason {
        use backlog_scaler::engine::{decide, Observation, PolicyState, QueueDepth, ServiceCounts};
        let observation = Observation::single(
            QueueDepth {
                visible: 300,
                ..QueueDepth::default()
            },
            ServiceCounts {
                desired: 2,
                running: 2,
                pending: 0,
                deployment_in_progress: false,
            },
        );
        let (decision, _): (Decision, _) = decide(
            policy,
            Ok(&observation),
            &PolicyState::default(),
            Timestamp::ZERO,
        );
        decision.reason
    }

    #[test]
    fn a_wait_sized_policy_shows_its_startup_and_where_it_came_from() {
        let measured = wait_sized("orders", TaskStartup::Measured);
        let stated = wait_sized("billing", TaskStartup::Stated(Duration::from_secs(45)));
        let plain = Policy::with_defaults("thumbs", "jobs", "thumbs", "thumbs");
        let rows = [
            row(&measured, decided(&measured)),
            row(&stated, decided(&stated)),
            row(&plain, decided(&plain)),
        ];
        assert_eq!(
            rows[0].task_startup,
            Some(PlannedStartup {
                startup: TaskStartup::ASSUMED,
                source: StartupSource::Assumed,
                note: Some(ASSUMED_NOTE),
            })
        );
        assert_eq!(
            rows[1].task_startup,
            Some(PlannedStartup {
                startup: Duration::from_secs(45),
                source: StartupSource::Stated,
                note: None,
            })
        );
        assert_eq!(rows[2].task_startup, None);

        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["task_startup"]["startup_s"], 60.0);
        assert_eq!(json[0]["task_startup"]["source"], "assumed");
        assert!(json[0]["task_startup"]["note"]
            .as_str()
            .unwrap()
            .contains("the running controller measures the startup"));
        assert_eq!(json[1]["task_startup"]["startup_s"], 45.0);
        assert_eq!(json[1]["task_startup"]["source"], "stated");
        assert!(json[1]["task_startup"]["note"].is_null());
        assert!(json[2]["task_startup"].is_null());

        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        let column = lines[0].find("  STARTUP  ").expect("a STARTUP column") + 2;
        assert!(lines[0][..column].ends_with("ACTION  "), "{text}");
        assert!(lines[0][column..].contains("  REASON"), "{text}");
        for (line, cell) in [(1, "1m assumed  "), (2, "45s stated  "), (3, "-  ")] {
            assert!(
                lines[line][column..].starts_with(cell),
                "{cell:?} in\n{text}"
            );
        }
        assert!(
            text.ends_with(&format!("\n\n1m {ASSUMED_NOTE}.\n")),
            "{text}"
        );
    }

    #[test]
    fn a_failed_observation_still_shows_the_startup_the_policy_implies() {
        let measured = wait_sized("orders", TaskStartup::Measured);
        let failed = row(&measured, Reason::default());
        assert_eq!(
            failed.task_startup.map(|s| (s.startup, s.source)),
            Some((TaskStartup::ASSUMED, StartupSource::Assumed))
        );
    }

    #[test]
    fn without_a_wait_sized_policy_the_table_is_as_before() {
        let plain = Policy::with_defaults("thumbs", "jobs", "thumbs", "thumbs");
        let text = table(&[row(&plain, decided(&plain))]);
        assert!(
            text.starts_with(
                "POLICY  QUEUES  BACKLOG  DESIRED/RUNNING/PENDING  PROPOSED  ACTION  REASON\n"
            ),
            "{text}"
        );
        assert!(!text.contains("STARTUP"));
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
