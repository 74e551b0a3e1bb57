//! `backlog-scaler explain`: the tuning calculator. One decision of the
//! engine the daemon runs, from a fresh state (as after a restart) at time
//! zero, for the counts given on the command line, printed with its reason.
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

use super::policy_source::{PolicySource, POLICIES_HELP};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[arg(long, value_name = "PATH", help = POLICIES_HELP)]
    pub policies: Option<PathBuf>,
    /// The name of the policy to explain.
    #[arg(long, value_name = "NAME")]
    pub policy: String,
    /// Visible messages (ApproximateNumberOfMessages).
    #[arg(long, value_name = "N")]
    pub visible: u64,
    /// In-flight messages (ApproximateNumberOfMessagesNotVisible).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub in_flight: u64,
    /// Delayed messages (ApproximateNumberOfMessagesDelayed).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub delayed: u64,
    /// The service's desired count.
    #[arg(long, value_name = "N")]
    pub desired: u32,
    /// Running tasks [default: the desired count].
    #[arg(long, value_name = "N")]
    pub running: Option<u32>,
    /// Pending tasks.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub pending: u32,
    /// A deployment is rolling out (no scale-in while it does).
    #[arg(long)]
    pub deployment_in_progress: bool,
    /// The engine's state before this evaluation, as JSON: the `state` that
    /// `explain --json` prints after its decision. With it, a decision that
    /// depends on what the engine learned (the previous poll, the returns,
    /// bursts and startups it remembers) is reproduced exactly.
    #[arg(long, value_name = "FILE.json")]
    pub state: Option<PathBuf>,
    /// When this evaluation happens, in seconds on the state's clock
    /// (default: one poll interval after the state's last poll, or 0
    /// without --state).
    #[arg(long, value_name = "SECONDS")]
    pub at: Option<f64>,
    /// Print the decision as a JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let policy = PolicySource::resolve(args.policies.clone())?.find(&args.policy)?;
    let summed = summed_queues(&policy)?;
    let observation = Observation::single(
        QueueDepth {
            visible: args.visible,
            in_flight: args.in_flight,
            delayed: args.delayed,
        },
        ServiceCounts {
            desired: args.desired,
            running: args.running.unwrap_or(args.desired),
            pending: args.pending,
            deployment_in_progress: args.deployment_in_progress,
        },
    );
    let state = match &args.state {
        Some(path) => read_state(path)?,
        None => PolicyState::default(),
    };
    let now = match args.at {
        Some(at) if at.is_finite() && at >= 0.0 => Timestamp::from_secs_f64(at),
        Some(at) => anyhow::bail!("--at {at}: give the time as seconds, 0 or more"),
        None => state.last_poll().map_or(Timestamp::ZERO, |last| {
            Timestamp(last.0.saturating_add(policy.poll_interval))
        }),
    };
    let (decision, next) = decide(&summed, Ok(&observation), &state, now);
    if args.json {
        let mut json = as_json(&policy, &decision);
        json["at_s"] = serde_json::json!(now.as_secs_f64());
        json["state"] = serde_json::to_value(&next)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_text(&policy, &decision);
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine state in `path`: a clear error naming the file and what is
/// wrong with it, never a panic.
fn read_state(path: &std::path::Path) -> anyhow::Result<PolicyState> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("{}: cannot read the state: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| {
        anyhow::anyhow!(
            "{}:{}:{}: not an engine state: {error} (write the `state` that `explain --json` prints)",
            path.display(),
            error.line(),
            error.column()
        )
    })
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

fn print_text(policy: &Policy, decision: &Decision) {
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
    if policy.queues.len() > 1 {
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
