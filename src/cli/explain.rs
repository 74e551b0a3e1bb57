//! `backlog-scaler explain`: the tuning calculator. One decision of the
//! engine the daemon runs, from a fresh state (as after a restart) at time
//! zero, for the counts given on the command line, printed with its reason.
//!
//! With `--state`, from the engine state in a file: the `state` that
//! `explain --json` printed, or the document the running daemon serves at
//! `/state/POLICY` (its last decision), which also gives the policy, the
//! counts and the time, so that the daemon's decision is reproduced and
//! compared with it.
//!
//! For a policy with several queues the counts given are the weighted sum of
//! all its queues, so the policy is explained as a copy with one queue of
//! weight 1 holding that sum (made through the validator, as every policy
//! is: see `Policy::with_setting`).

use std::path::PathBuf;
use std::process::ExitCode;

use backlog_scaler::engine::{
    decide, Decision, Observation, PolicyState, QueueDepth, ServiceCounts, Timestamp,
};
use backlog_scaler::policy::Policy;
use backlog_scaler::telemetry::{StateDump, STATE_DUMP_FORMAT};

use super::policy_source::{PolicySource, POLICIES_HELP};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[arg(long, value_name = "PATH", help = POLICIES_HELP)]
    pub policies: Option<PathBuf>,
    /// The name of the policy to explain (with a `/state/POLICY` document
    /// as --state: the policy it names).
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// Visible messages (ApproximateNumberOfMessages). Required, unless
    /// --state is a `/state/POLICY` document.
    #[arg(long, value_name = "N")]
    pub visible: Option<u64>,
    /// In-flight messages (ApproximateNumberOfMessagesNotVisible) [default: 0].
    #[arg(long, value_name = "N")]
    pub in_flight: Option<u64>,
    /// Delayed messages (ApproximateNumberOfMessagesDelayed) [default: 0].
    #[arg(long, value_name = "N")]
    pub delayed: Option<u64>,
    /// The service's desired count. Required, unless --state is a
    /// `/state/POLICY` document.
    #[arg(long, value_name = "N")]
    pub desired: Option<u32>,
    /// Running tasks [default: the desired count].
    #[arg(long, value_name = "N")]
    pub running: Option<u32>,
    /// Pending tasks [default: 0].
    #[arg(long, value_name = "N")]
    pub pending: Option<u32>,
    /// A deployment is rolling out (no scale-in while it does).
    #[arg(long)]
    pub deployment_in_progress: bool,
    /// The engine's state before this evaluation, as JSON: the `state` that
    /// `explain --json` prints after its decision, or the document the
    /// running daemon serves at `/state/POLICY` (its last decision: the
    /// policy, the counts observed, the time and the state before are then
    /// taken from it, unless given here, and the decision is compared with
    /// the daemon's). With it, a decision that depends on what the engine
    /// learned (the previous poll, the returns, bursts and startups it
    /// remembers) is reproduced exactly.
    #[arg(long, value_name = "FILE.json")]
    pub state: Option<PathBuf>,
    /// When this evaluation happens, in seconds on the state's clock
    /// (default: the document's time, or one poll interval after the
    /// state's last poll, or 0 without --state).
    #[arg(long, value_name = "SECONDS")]
    pub at: Option<f64>,
    /// Print the decision as a JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.state {
        Some(path) => Some(read_state(path)?),
        None => None,
    };
    let dump = match &file {
        Some(StateFile::Dump(dump)) => Some(dump),
        _ => None,
    };
    let name = match (&args.policy, dump) {
        (Some(name), Some(dump)) if *name != dump.policy => anyhow::bail!(
            "--policy {name}: {} holds the state of policy `{}`",
            state_path(&args),
            dump.policy
        ),
        (Some(name), _) => name.clone(),
        (None, Some(dump)) => dump.policy.clone(),
        (None, None) => anyhow::bail!(
            "give --policy NAME (or, as --state, a document from the daemon's /state/POLICY)"
        ),
    };
    let policy = PolicySource::resolve(args.policies.clone())?.find(&name)?;
    let observed = dump.map(|dump| &dump.observed);
    let required = |flag: &str| {
        anyhow::anyhow!(
            "give {flag} N (or, as --state, a document from the daemon's /state/POLICY, which holds it)"
        )
    };
    if observed.is_none() && args.visible.is_none() {
        return Err(required("--visible"));
    }
    let desired = args
        .desired
        .or(observed.map(|o| o.desired))
        .ok_or_else(|| required("--desired"))?;
    let service = ServiceCounts {
        desired,
        running: args
            .running
            .or(observed.map(|o| o.running))
            .unwrap_or(desired),
        pending: args.pending.or(observed.map(|o| o.pending)).unwrap_or(0),
        deployment_in_progress: args.deployment_in_progress
            || observed.is_some_and(|o| o.deployment_in_progress),
    };
    let queue_counts_given =
        args.visible.is_some() || args.in_flight.is_some() || args.delayed.is_some();
    // The daemon's own counts, queue by queue, read by the policy as it is:
    // exact whatever the weights. Counts given are a weighted sum.
    let (engine_policy, queues, summed) = match observed {
        Some(observed) if !queue_counts_given => {
            let names: Vec<&str> = observed.queues.iter().map(|q| q.queue.as_str()).collect();
            let now: Vec<&str> = policy.queues.iter().map(|q| q.queue.as_str()).collect();
            if names != now {
                anyhow::bail!(
                    "{}: policy `{name}` read the queues {names:?} when the daemon decided, and reads {now:?} now: give the counts (--visible ...) to explain it as it is",
                    state_path(&args)
                );
            }
            let queues = observed
                .queues
                .iter()
                .map(|q| QueueDepth {
                    visible: q.visible,
                    in_flight: q.in_flight,
                    delayed: q.delayed,
                })
                .collect();
            (policy.clone(), queues, false)
        }
        _ => {
            let queue = QueueDepth {
                visible: args
                    .visible
                    .or(observed.map(|o| o.visible))
                    .ok_or_else(|| required("--visible"))?,
                in_flight: args
                    .in_flight
                    .or(observed.map(|o| o.in_flight))
                    .unwrap_or(0),
                delayed: args.delayed.or(observed.map(|o| o.delayed)).unwrap_or(0),
            };
            (summed_queues(&policy)?, vec![queue], true)
        }
    };
    let observation = Observation { queues, service };
    let state = match &file {
        Some(StateFile::Bare(state)) => state.as_ref(),
        Some(StateFile::Dump(dump)) => &dump.state_before,
        None => &PolicyState::default(),
    };
    let now = match (args.at, dump) {
        (Some(at), _) if at.is_finite() && at >= 0.0 => Timestamp::from_secs_f64(at),
        (Some(at), _) => anyhow::bail!("--at {at}: give the time as seconds, 0 or more"),
        (None, Some(dump)) => dump.at,
        (None, None) => state.last_poll().map_or(Timestamp::ZERO, |last| {
            Timestamp(last.0.saturating_add(policy.poll_interval))
        }),
    };
    let (decision, next) = decide(&engine_policy, Ok(&observation), state, now);
    let daemon = dump.map(|dump| Daemon {
        same: dump.decision.reason == decision.reason.to_string()
            && Some(dump.decision.desired) == decision.desired()
            && dump.decision.action == decision.action().as_str(),
        dump,
    });
    if args.json {
        let mut json = as_json(&policy, &decision);
        json["at_s"] = serde_json::json!(now.as_secs_f64());
        json["state"] = serde_json::to_value(&next)?;
        if let Some(daemon) = &daemon {
            json["daemon"] = serde_json::json!({
                "at_s": daemon.dump.at_s,
                "action": daemon.dump.decision.action,
                "desired": daemon.dump.decision.desired,
                "reason": daemon.dump.decision.reason,
                "same_decision": daemon.same,
            });
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_text(&policy, &decision, summed);
        if let Some(daemon) = &daemon {
            let dump = daemon.dump;
            if daemon.same {
                println!(
                    "daemon: the same decision, at {} s ({})",
                    dump.at_s, dump.evaluated_at
                );
            } else {
                println!(
                    "daemon: decided otherwise at {} s ({}): {} at desired {}: {}",
                    dump.at_s,
                    dump.evaluated_at,
                    dump.decision.action,
                    dump.decision.desired,
                    dump.decision.reason
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The daemon's decision from a `/state/POLICY` document, beside ours.
struct Daemon<'a> {
    dump: &'a StateDump,
    same: bool,
}

/// What `--state` holds: a bare engine state, or the daemon's document.
enum StateFile {
    Bare(Box<PolicyState>),
    Dump(Box<StateDump>),
}

fn state_path(args: &ExplainArgs) -> String {
    args.state
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

/// The engine state (or the daemon's document) in `path`: a clear error
/// naming the file, the line and the column, never a panic.
fn read_state(path: &std::path::Path) -> anyhow::Result<StateFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("{}: cannot read the state: {error}", path.display()))?;
    let located = |error: serde_json::Error, what: &str| {
        anyhow::anyhow!(
            "{}:{}:{}: {what}: {error} (write the `state` that `explain --json` prints, or what the daemon serves at /state/POLICY)",
            path.display(),
            error.line(),
            error.column()
        )
    };
    // A document names its format; anything else is taken as a bare state
    // (a syntax error then is reported as one).
    let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let format = value
        .as_ref()
        .and_then(|v| v.get("format"))
        .and_then(|f| f.as_str());
    match format {
        Some(STATE_DUMP_FORMAT) => serde_json::from_str(&text)
            .map(|dump| StateFile::Dump(Box::new(dump)))
            .map_err(|error| located(error, "not a /state/POLICY document")),
        Some(other) => anyhow::bail!(
            "{}: a document of format `{other}`, which this version cannot read (it reads `{STATE_DUMP_FORMAT}`)",
            path.display()
        ),
        None => serde_json::from_str(&text)
            .map(|state| StateFile::Bare(Box::new(state)))
            .map_err(|error| located(error, "not an engine state")),
    }
}

/// A copy of `policy` reading one queue of weight 1, which holds the counts
/// given (already summed over the policy's queues). The engine reads no
/// queue name, so the queue is the policy's first.
fn summed_queues(policy: &Policy) -> anyhow::Result<Policy> {
    if policy.queues.len() == 1 && policy.queues[0].weight == 1.0 {
        return Ok(policy.clone());
    }
    let first = policy.queues.first().map(|q| q.queue.as_str());
    Ok(policy.with_setting("queues", serde_json::json!([first]))?)
}

fn print_text(policy: &Policy, decision: &Decision, summed: bool) {
    let current = decision.current().unwrap_or_default();
    let desired = decision.desired().unwrap_or(current);
    println!("policy: {}", policy.name);
    if desired == current {
        println!("action: {} at {current} tasks", decision.action());
    } else {
        println!("action: {} {current} -> {desired} tasks", decision.action());
    }
    println!("reason: {}", decision.reason);
    if let Some(target) = target_text(policy) {
        println!("aws: {target}");
    }
    if summed && policy.queues.len() > 1 {
        println!(
            "note: the counts given are taken as the weighted sum of the policy's {} queues",
            policy.queues.len()
        );
    }
}

/// Where the policy's calls go, when not the controller's own region and
/// credentials: "region us-west-2, role arn:...".
fn target_text(policy: &Policy) -> Option<String> {
    let aws = &policy.aws;
    let parts: Vec<String> = [
        aws.region.as_ref().map(|r| format!("region {r}")),
        aws.role_arn.as_ref().map(|r| format!("role {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn as_json(policy: &Policy, decision: &Decision) -> serde_json::Value {
    serde_json::json!({
        "policy": policy.name,
        "region": policy.aws.region,
        "role_arn": policy.aws.role_arn,
        "action": decision.action(),
        "current": decision.current(),
        "desired": decision.desired(),
        "backlog": decision.backlog(),
        "recommendation": decision.recommendation(),
        "reason": decision.reason.to_string(),
        "steps": decision.reason,
    })
}
