//! The validated policy: what the engine and the controller consume.
//!
//! Every value here has passed validation (see [`super::validate`]), so code
//! that holds a [`Policy`] never re-checks bounds or target forms: only the
//! validator makes the [`Validated`] every `Policy` holds. The defaults of
//! left-out keys are in `defaults.rs`, read by the validator.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use super::validate::Validated;

/// Where a policy came from, for messages that point a user back at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One SQS queue a policy reads, with the weight its backlog counts for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueRef {
    /// A queue name, or a queue URL (which may belong to another account).
    pub queue: String,
    pub weight: f64,
}

/// How many messages one task should hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogTarget {
    /// `target_backlog_per_task`: messages per task, given directly.
    BacklogPerTask(f64),
    /// `target_wait` + `message_cost`: target = wait / cost (the AWS formula).
    Wait {
        #[serde(with = "crate::policy::duration_serde")]
        wait: Duration,
        #[serde(with = "crate::policy::duration_serde")]
        message_cost: Duration,
    },
    /// `target_wait` + `target_backlog_per_task`: the same formula read the
    /// other way, message cost = wait / target: the messages one task gets
    /// through within the wait. For a user who knows the target rather than
    /// the cost, and for sweeping the target of a wait-sized policy.
    WaitPerTask {
        #[serde(with = "crate::policy::duration_serde")]
        wait: Duration,
        backlog_per_task: f64,
    },
}

impl BacklogTarget {
    /// The target expressed as messages per task.
    pub fn backlog_per_task(&self) -> f64 {
        match *self {
            BacklogTarget::BacklogPerTask(t) => t,
            BacklogTarget::WaitPerTask {
                backlog_per_task, ..
            } => backlog_per_task,
            BacklogTarget::Wait { wait, message_cost } => {
                wait.as_secs_f64() / message_cost.as_secs_f64()
            }
        }
    }

    /// The wait and the message cost, when the target states a wait (the
    /// cost derived from the target when it is not written).
    pub fn wait_and_cost(&self) -> Option<(Duration, Duration)> {
        match *self {
            BacklogTarget::BacklogPerTask(_) => None,
            BacklogTarget::Wait { wait, message_cost } => Some((wait, message_cost)),
            BacklogTarget::WaitPerTask {
                wait,
                backlog_per_task,
            } => Some((wait, derived_cost(wait, backlog_per_task)?)),
        }
    }
}

/// `wait / backlog_per_task` as a duration, `None` when that is not a
/// positive duration (the validator refuses such a policy).
pub(in crate::policy) fn derived_cost(wait: Duration, backlog_per_task: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(wait.as_secs_f64() / backlog_per_task)
        .ok()
        .filter(|cost| !cost.is_zero())
}

/// `task_startup`: the time from raising the desired count to a new task
/// consuming. A policy that gives it is sized for its wait (see
/// `engine::wait_sizing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStartup {
    /// Written in the policy.
    Stated(#[serde(with = "crate::policy::duration_serde")] Duration),
    /// `measured`: the engine measures it from the service's scale-outs and
    /// assumes [`TaskStartup::ASSUMED`] until it has a measurement.
    Measured,
}

impl TaskStartup {
    /// The startup a `measured` policy assumes before its first measurement:
    /// a Fargate task that pulls a modest image and passes one health check.
    pub const ASSUMED: Duration = Duration::from_secs(60);
}

/// A step limit: a fixed number of tasks, or a percentage of the current count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Tasks(u32),
    Percent(f64),
}

impl Step {
    /// The most tasks one action may move from `current`. Never below 1, so
    /// a percentage can always move a service away from zero.
    pub fn limit(&self, current: u32) -> u32 {
        match *self {
            Step::Tasks(n) => n.max(1),
            Step::Percent(p) => {
                let tasks = (f64::from(current) * p / 100.0).ceil();
                if tasks >= f64::from(u32::MAX) {
                    u32::MAX
                } else {
                    (tasks as u32).max(1)
                }
            }
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Tasks(n) => write!(f, "{n}"),
            Step::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleOut {
    /// Most tasks added in one action; `None` is unlimited.
    pub max_step: Option<Step>,
    /// Least time between two scale-outs.
    #[serde(with = "crate::policy::duration_serde")]
    pub cooldown: Duration,
    /// Size for the work expected this far ahead: the growth of the
    /// backlog since the previous evaluation, per second, times this.
    /// Zero (the default) sizes for the backlog seen now.
    #[serde(with = "crate::policy::duration_serde")]
    pub lookahead: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleIn {
    /// Scale in only to the highest recommendation seen within this window.
    #[serde(with = "crate::policy::duration_serde")]
    pub stabilization_window: Duration,
    /// Most tasks removed in one action; `None` is unlimited.
    pub max_step: Option<Step>,
    /// Least time after any scaling before a scale-in.
    #[serde(with = "crate::policy::duration_serde")]
    pub cooldown: Duration,
}

/// Where a policy's AWS calls go: its queues' and service's region, and
/// the IAM role to assume for them. `None` means the controller's own
/// region or credentials. Policies with equal targets share SDK clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AwsScope {
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

impl AwsScope {
    /// The account of `role_arn`; `None` without a role (the controller's
    /// own account) or for a role ARN that is not valid.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn
            .as_deref()
            .and_then(super::names::role_arn_account)
    }

    /// True when the policy uses the controller's own region and
    /// credentials.
    pub fn is_home(&self) -> bool {
        self.region.is_none() && self.role_arn.is_none()
    }
}

/// A validated scaling policy for one ECS service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub name: String,
    pub cluster: String,
    pub service: String,
    pub queues: Vec<QueueRef>,
    pub target: BacklogTarget,
    /// `Some` turns on wait sizing (only with a target that states a wait,
    /// [`BacklogTarget::wait_and_cost`]).
    pub task_startup: Option<TaskStartup>,
    pub min_tasks: u32,
    pub max_tasks: u32,
    #[serde(with = "crate::policy::duration_serde")]
    pub poll_interval: Duration,
    pub count_in_flight: bool,
    pub count_delayed: bool,
    pub tolerance: f64,
    pub scale_out: ScaleOut,
    pub scale_in: ScaleIn,
    pub activation_backlog: f64,
    #[serde(with = "crate::policy::duration_serde")]
    pub scale_to_zero_after: Duration,
    pub dry_run: bool,
    /// When set, messages in flight count as busy tasks (this many per
    /// task, the consumer's concurrency) instead of as backlog divided by
    /// the target, which then applies to waiting messages only. `None` (the
    /// default) keeps the plain `ceil(backlog / target)` rule.
    pub in_flight_per_task: Option<f64>,
    /// The region and role its calls use.
    pub aws: AwsScope,
    /// Where the policy's document starts; `None` for policies built in code.
    #[serde(skip)]
    pub source: Option<SourceLocation>,
    /// Made by the validator alone: a `Policy` is loaded, built by
    /// [`Policy::with_defaults`] or changed by [`Policy::with_setting`],
    /// never written as a struct literal (or copied with `..`) outside
    /// `policy/`.
    #[serde(skip)]
    pub(in crate::policy) validated: Validated,
}

impl Policy {
    /// A policy with every default of the format, for tests and tools that
    /// build policies in code: the document `name`, `cluster`, `service`,
    /// `queues: [queue]`, `target_backlog_per_task: 100`, `max_tasks: 10`,
    /// through the validator. Its `source` is `None`.
    ///
    /// # Panics
    ///
    /// When the names are not valid, with the validator's errors.
    pub fn with_defaults(name: &str, cluster: &str, service: &str, queue: &str) -> Policy {
        let document = vec![
            ("name", name.into()),
            ("cluster", cluster.into()),
            ("service", service.into()),
            ("queues", serde_json::json!([queue])),
            ("target_backlog_per_task", 100.into()),
            ("max_tasks", 10.into()),
        ];
        let document = document
            .into_iter()
            .map(|(key, value): (&str, serde_json::Value)| (key.to_owned(), value))
            .collect();
        match super::setting::validated(document, None) {
            Ok(policy) => policy,
            Err(errors) => panic!("Policy::with_defaults: {errors}"),
        }
    }

    /// Whether `other` is the same policy, wherever each was written: a
    /// reload that only moved a policy within its files changes nothing.
    pub fn same_content(&self, other: &Policy) -> bool {
        let mut moved = other.clone();
        moved.source.clone_from(&self.source);
        *self == moved
    }

    /// The target as messages per task, whichever form the file used.
    pub fn target_backlog_per_task(&self) -> f64 {
        self.target.backlog_per_task()
    }
}
