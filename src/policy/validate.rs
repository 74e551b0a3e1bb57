//! From a raw document to a validated [`Policy`]: every check of one policy
//! on its own, each problem a [`Diagnostic`] at the value it is about, all
//! of them collected rather than stopping at the first.
//!
//! Checks that compare policies (names, services) are in `conflicts.rs`.

use std::path::Path;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::diagnostic::Diagnostic;
use super::model::{Policy, QueueRef, ScaleIn, ScaleOut, SourceLocation, Step, Target};
use super::names::{self, ClusterRef, ServiceRef};
use super::outline::Position;
use super::raw::{RawPolicy, RawQueue, RawScaleIn, RawScaleOut, RawStep};

/// A valid policy, with where the keys that can clash with another policy
/// were written.
#[derive(Debug, Clone)]
pub(crate) struct CheckedPolicy {
    pub policy: Policy,
    pub name_at: Position,
    pub service_at: Position,
}

const DURATION_HINT: &str = "write a duration such as `30s`, `5m` or `300ms`";
const STEP_HINT: &str = "write a number of tasks such as `4`, or a percent such as `50%`";
const NO_LIMIT_HINT: &str = "leave `max_step` out for no limit";

fn at<T>(value: &Spanned<T>) -> Position {
    Position {
        line: value.referenced.line(),
        column: value.referenced.column(),
    }
}

/// Check one policy document; the policy is `None` when anything is wrong.
pub(crate) fn validate(
    file: &Path,
    raw: Spanned<RawPolicy>,
) -> (Option<CheckedPolicy>, Vec<Diagnostic>) {
    let start = at(&raw);
    let raw = raw.value;
    let mut check = Checker {
        file,
        policy: raw.name.as_ref().map(|n| n.value.clone()),
        start,
        diagnostics: Vec::new(),
    };
    let name = check.name(raw.name.as_ref());
    let cluster = check.cluster(raw.cluster.as_ref());
    let service = check.service(raw.service.as_ref(), cluster.map(|(_, name)| name));
    let queues = check.queues(raw.queues.as_ref());
    let target = check.target(&raw);
    let bounds = check.bounds(&raw);
    let poll_interval = check.poll_interval(raw.poll_interval.as_ref());
    let tolerance = check.tolerance(raw.tolerance.as_ref());
    let scale_out = check.scale_out(raw.scale_out.as_ref());
    let scale_in = check.scale_in(raw.scale_in.as_ref());
    let activation_backlog = check.activation_backlog(raw.activation_backlog.as_ref());
    let scale_to_zero_after = raw
        .scale_to_zero_after
        .as_ref()
        .map_or(Some(Duration::from_secs(300)), |value| {
            check.duration(value, "scale_to_zero_after")
        });
    if let Some((min_tasks, _)) = bounds {
        check.zero_only_keys(&raw, min_tasks);
    }

    let diagnostics = std::mem::take(&mut check.diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    let (
        Some(name),
        Some(cluster),
        Some(service),
        Some(queues),
        Some(target),
        Some((min_tasks, max_tasks)),
        Some(poll_interval),
        Some(tolerance),
        Some(scale_out),
        Some(scale_in),
        Some(activation_backlog),
        Some(scale_to_zero_after),
    ) = (
        name,
        cluster,
        service,
        queues,
        target,
        bounds,
        poll_interval,
        tolerance,
        scale_out,
        scale_in,
        activation_backlog,
        scale_to_zero_after,
    )
    else {
        // Unreachable: every `None` above came with an error.
        return (None, diagnostics);
    };
    let policy = Policy {
        name: name.value.clone(),
        cluster: cluster.0.value.clone(),
        service: service.value.clone(),
        queues,
        target,
        min_tasks,
        max_tasks,
        poll_interval,
        count_in_flight: raw.count_in_flight.is_none_or(|v| v.value),
        count_delayed: raw.count_delayed.is_some_and(|v| v.value),
        tolerance,
        scale_out,
        scale_in,
        activation_backlog,
        scale_to_zero_after,
        dry_run: raw.dry_run.is_some_and(|v| v.value),
        source: Some(SourceLocation {
            file: file.to_path_buf(),
            line: start.line,
            column: start.column,
        }),
    };
    let checked = CheckedPolicy {
        policy,
        name_at: at(name),
        service_at: at(service),
    };
    (Some(checked), diagnostics)
}

/// Collects the diagnostics of one policy.
struct Checker<'a> {
    file: &'a Path,
    policy: Option<String>,
    /// Where the document starts: the place for a missing key.
    start: Position,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, at: Position, key: &str, message: impl Into<String>, hint: &str) {
        let diagnostic = Diagnostic::error(self.file, at.line, at.column, message);
        self.push(diagnostic, key, hint);
    }

    fn warning(&mut self, at: Position, key: &str, message: impl Into<String>, hint: &str) {
        let diagnostic = Diagnostic::warning(self.file, at.line, at.column, message);
        self.push(diagnostic, key, hint);
    }

    fn push(&mut self, diagnostic: Diagnostic, key: &str, hint: &str) {
        let diagnostic = diagnostic
            .with_policy(self.policy.as_deref().filter(|n| !n.is_empty()))
            .with_key(key)
            .with_hint(hint);
        self.diagnostics.push(diagnostic);
    }

    /// `value`, or an error at the document's start when it is missing.
    fn required<'v, T>(
        &mut self,
        value: Option<&'v Spanned<T>>,
        key: &str,
        hint: &str,
    ) -> Option<&'v Spanned<T>> {
        self.required_in(self.start, value, key, hint)
    }

    /// `value`, or an error at `owner` (the mapping that lacks it).
    fn required_in<'v, T>(
        &mut self,
        owner: Position,
        value: Option<&'v Spanned<T>>,
        key: &str,
        hint: &str,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() {
            self.error(owner, key, "is required", hint);
        }
        value
    }

    fn name<'v>(&mut self, name: Option<&'v Spanned<String>>) -> Option<&'v Spanned<String>> {
        let hint = "give the policy a name no other policy uses, e.g. `orders-worker`";
        let name = self.required(name, "name", hint)?;
        let text = name.value.as_str();
        let valid = (1..=64).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            self.error(
                at(name),
                "name",
                format!("`{}` is not a valid policy name", text.escape_debug()),
                "use up to 64 letters, digits, `.`, `_` and `-`, starting with a letter or digit",
            );
            return None;
        }
        Some(name)
    }

    /// The cluster as written, with the name it stands for.
    fn cluster<'v>(
        &mut self,
        cluster: Option<&'v Spanned<String>>,
    ) -> Option<(&'v Spanned<String>, &'v str)> {
        let hint = "add `cluster:` with the ECS cluster's name or ARN";
        let cluster = self.required(cluster, "cluster", hint)?;
        match names::cluster_ref(&cluster.value) {
            ClusterRef::Name(name) => Some((cluster, name)),
            ClusterRef::BadArn => {
                self.error(
                    at(cluster),
                    "cluster",
                    format!("`{}` is not an ECS cluster ARN", cluster.value),
                    "a cluster ARN looks like `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`",
                );
                None
            }
            ClusterRef::BadName => {
                self.error(
                    at(cluster),
                    "cluster",
                    format!(
                        "`{}` is not a valid ECS cluster name",
                        cluster.value.escape_debug()
                    ),
                    "ECS names use up to 255 letters, digits, `-` and `_`; or give the ARN",
                );
                None
            }
        }
    }

    /// The service as written (the daemon passes it to ECS as is), once it is
    /// known to be a valid name or ARN of a service in `cluster`.
    fn service<'v>(
        &mut self,
        service: Option<&'v Spanned<String>>,
        cluster: Option<&str>,
    ) -> Option<&'v Spanned<String>> {
        let hint = "add `service:` with the ECS service's name or ARN";
        let service = self.required(service, "service", hint)?;
        match names::service_ref(&service.value) {
            ServiceRef::Name {
                cluster: Some(arn_cluster),
                ..
            } if cluster.is_some_and(|c| c != arn_cluster) => {
                self.error(
                    at(service),
                    "service",
                    format!(
                        "the service ARN is in cluster `{arn_cluster}`, not `{}`",
                        cluster.unwrap_or_default()
                    ),
                    "make `cluster` and the service ARN name the same cluster",
                );
                None
            }
            ServiceRef::Name { .. } => Some(service),
            ServiceRef::BadArn => {
                self.error(
                    at(service),
                    "service",
                    format!("`{}` is not an ECS service ARN", service.value),
                    "a service ARN looks like `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`",
                );
                None
            }
            ServiceRef::BadName => {
                self.error(
                    at(service),
                    "service",
                    format!(
                        "`{}` is not a valid ECS service name",
                        service.value.escape_debug()
                    ),
                    "ECS names use up to 255 letters, digits, `-` and `_`; or give the ARN",
                );
                None
            }
        }
    }

    fn queues(
        &mut self,
        queues: Option<&Spanned<Vec<Spanned<RawQueue>>>>,
    ) -> Option<Vec<QueueRef>> {
        let hint = "add `queues:` with the SQS queue names or URLs the service consumes";
        let queues = self.required(queues, "queues", hint)?;
        if queues.value.is_empty() {
            self.error(at(queues), "queues", "lists no queue", hint);
            return None;
        }
        let mut refs = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut valid = true;
        for (i, entry) in queues.value.iter().enumerate() {
            let name = match &entry.value {
                RawQueue::Name(name) => Some(name.as_str()),
                RawQueue::Weighted(weighted) => weighted.queue.as_ref().map(|q| q.value.as_str()),
            };
            if let Some(name) = name {
                if seen.contains(&name) {
                    self.error(
                        at(entry),
                        &format!("queues[{i}]"),
                        format!("`{name}` is listed twice"),
                        "its backlog would count twice; list it once, with a `weight` if needed",
                    );
                    valid = false;
                }
                seen.push(name);
            }
            match self.queue(entry, i) {
                Some(queue) => refs.push(queue),
                None => valid = false,
            }
        }
        valid.then_some(refs)
    }

    fn queue(&mut self, entry: &Spanned<RawQueue>, i: usize) -> Option<QueueRef> {
        let (queue, queue_at, weight) = match &entry.value {
            RawQueue::Name(name) => (name, at(entry), None),
            RawQueue::Weighted(weighted) => {
                let key = format!("queues[{i}].queue");
                let hint = "add `queue:` with the SQS queue name or URL";
                let queue = self.required_in(at(entry), weighted.queue.as_ref(), &key, hint)?;
                (&queue.value, at(queue), weighted.weight.as_ref())
            }
        };
        let mut valid = true;
        if !names::is_queue(queue) {
            let key = match entry.value {
                RawQueue::Name(_) => format!("queues[{i}]"),
                RawQueue::Weighted(_) => format!("queues[{i}].queue"),
            };
            self.error(
                queue_at,
                &key,
                format!("`{}` is not an SQS queue name or URL", queue.escape_debug()),
                "queue names use up to 80 letters, digits, `-` and `_` (plus `.fifo`); URLs start with https://",
            );
            valid = false;
        }
        let weight = match weight {
            None => 1.0,
            Some(weight) if weight.value > 0.0 && weight.value.is_finite() => weight.value,
            Some(weight) => {
                self.error(
                    at(weight),
                    &format!("queues[{i}].weight"),
                    format!("must be greater than 0, got {}", weight.value),
                    "a weight says how much one message counts, e.g. `0.5`; remove the queue to ignore it",
                );
                valid = false;
                1.0
            }
        };
        valid.then(|| QueueRef {
            queue: queue.clone(),
            weight,
        })
    }

    fn target(&mut self, raw: &RawPolicy) -> Option<Target> {
        let both_hint =
            "keep `target_backlog_per_task`, or `target_wait` with `message_cost`, not both";
        match (
            raw.target_backlog_per_task.as_ref(),
            raw.target_wait.as_ref(),
            raw.message_cost.as_ref(),
        ) {
            (Some(_), Some(other), _) => {
                let message = "cannot be used with target_backlog_per_task";
                self.error(at(other), "target_wait", message, both_hint);
                None
            }
            (Some(_), None, Some(other)) => {
                let message = "cannot be used with target_backlog_per_task";
                self.error(at(other), "message_cost", message, both_hint);
                None
            }
            (Some(direct), None, None) => {
                if direct.value > 0.0 && direct.value.is_finite() {
                    Some(Target::BacklogPerTask(direct.value))
                } else {
                    self.error(
                        at(direct),
                        "target_backlog_per_task",
                        format!("must be greater than 0, got {}", direct.value),
                        "give the number of waiting messages one task should have, e.g. `100`",
                    );
                    None
                }
            }
            (None, Some(wait), Some(cost)) => {
                let wait_value = self.positive_duration(wait, "target_wait");
                let cost_value = self.positive_duration(cost, "message_cost");
                let (wait_value, cost_value) = (wait_value?, cost_value?);
                if wait_value < cost_value {
                    self.warning(
                        at(wait),
                        "target_wait",
                        format!(
                            "is shorter than message_cost {}, so no number of tasks can meet it",
                            humantime::format_duration(cost_value)
                        ),
                        "a message waits at least as long as one task takes for it; raise target_wait",
                    );
                }
                Some(Target::Wait {
                    wait: wait_value,
                    message_cost: cost_value,
                })
            }
            (None, Some(wait), None) => {
                let hint = "add `message_cost`: the time one task spends on one message";
                self.error(at(wait), "target_wait", "needs message_cost", hint);
                None
            }
            (None, None, Some(cost)) => {
                let hint = "add `target_wait`: how long a message may wait";
                self.error(at(cost), "message_cost", "needs target_wait", hint);
                None
            }
            (None, None, None) => {
                self.error(
                    self.start,
                    "",
                    "no target is given",
                    "add `target_backlog_per_task`, or `target_wait` and `message_cost`",
                );
                None
            }
        }
    }

    /// A task count: a whole number from 0 to `u32::MAX`.
    fn count(&mut self, value: &Spanned<i64>, key: &str) -> Option<u32> {
        match u32::try_from(value.value) {
            Ok(count) => Some(count),
            Err(_) if value.value < 0 => {
                let message = format!("must be 0 or more, got {}", value.value);
                self.error(at(value), key, message, "give a number of tasks");
                None
            }
            Err(_) => {
                let message = format!("must be at most {}, got {}", u32::MAX, value.value);
                self.error(at(value), key, message, "give a number of tasks");
                None
            }
        }
    }

    fn bounds(&mut self, raw: &RawPolicy) -> Option<(u32, u32)> {
        let min = match raw.min_tasks.as_ref() {
            None => Some(1),
            Some(value) => self.count(value, "min_tasks"),
        };
        let hint = "add `max_tasks`: the most tasks the service may run";
        let max_value = self.required(raw.max_tasks.as_ref(), "max_tasks", hint);
        let max = max_value.and_then(|value| self.count(value, "max_tasks"));
        if let (Some(0), Some(value)) = (max, max_value) {
            self.error(
                at(value),
                "max_tasks",
                "must be at least 1",
                "a service that may never run a task needs no policy; remove it",
            );
            return None;
        }
        let (min, max) = (min?, max?);
        let min_at = raw.min_tasks.as_ref().map_or(self.start, at);
        if min > max {
            self.error(
                min_at,
                "min_tasks",
                format!("{min} is greater than max_tasks {max}"),
                "lower min_tasks or raise max_tasks",
            );
            return None;
        }
        if min == 1 && max >= 2 {
            self.warning(
                min_at,
                "min_tasks",
                "one task is a single point of failure",
                "set `min_tasks: 2` so one failing task or host does not stop consumption",
            );
        }
        Some((min, max))
    }

    fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(value.value.trim()) {
            Ok(duration) => Some(duration),
            Err(error) => {
                let message = format!(
                    "`{}` is not a duration: {error}",
                    value.value.escape_debug()
                );
                self.error(at(value), key, message, DURATION_HINT);
                None
            }
        }
    }

    fn positive_duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        let duration = self.duration(value, key)?;
        if duration.is_zero() {
            self.error(at(value), key, "must be longer than 0s", DURATION_HINT);
            return None;
        }
        Some(duration)
    }

    fn poll_interval(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let Some(value) = value else {
            return Some(Duration::from_secs(15));
        };
        let interval = self.positive_duration(value, "poll_interval")?;
        if interval < Duration::from_secs(1) {
            self.warning(
                at(value),
                "poll_interval",
                "polls SQS and ECS more than once a second",
                "SQS counts are approximate; a few seconds or more only saves API calls",
            );
        }
        Some(interval)
    }

    fn tolerance(&mut self, value: Option<&Spanned<f64>>) -> Option<f64> {
        let Some(value) = value else {
            return Some(0.1);
        };
        if (0.0..1.0).contains(&value.value) {
            return Some(value.value);
        }
        self.error(
            at(value),
            "tolerance",
            format!("must be at least 0 and below 1, got {}", value.value),
            "0.1 holds still while the backlog per task is within 10% of the target",
        );
        None
    }

    fn step(&mut self, value: &Spanned<RawStep>, key: &str) -> Option<Step> {
        let step = match &value.value {
            RawStep::Tasks(n) => match u32::try_from(*n) {
                Ok(n) if n >= 1 => Ok(Step::Tasks(n)),
                Ok(_) => Err((format!("must be at least 1, got {n}"), NO_LIMIT_HINT)),
                Err(_) if *n < 1 => Err((format!("must be at least 1, got {n}"), NO_LIMIT_HINT)),
                Err(_) => Err((
                    format!("must be at most {}, got {n}", u32::MAX),
                    NO_LIMIT_HINT,
                )),
            },
            RawStep::Fraction(f) => Err((
                format!("must be a whole number of tasks, got {f}"),
                STEP_HINT,
            )),
            RawStep::Text(text) => step_text(text.trim()),
        };
        match step {
            Ok(step) => Some(step),
            Err((message, hint)) => {
                self.error(at(value), key, message, hint);
                None
            }
        }
    }

    fn scale_out(&mut self, section: Option<&Spanned<RawScaleOut>>) -> Option<ScaleOut> {
        let Some(section) = section else {
            return Some(ScaleOut {
                max_step: None,
                cooldown: Duration::ZERO,
            });
        };
        let max_step = section
            .value
            .max_step
            .as_ref()
            .map(|v| self.step(v, "scale_out.max_step"));
        let cooldown = section
            .value
            .cooldown
            .as_ref()
            .map(|v| self.duration(v, "scale_out.cooldown"));
        Some(ScaleOut {
            max_step: max_step.map_or(Some(None), |step| step.map(Some))?,
            cooldown: cooldown.unwrap_or(Some(Duration::ZERO))?,
        })
    }

    fn scale_in(&mut self, section: Option<&Spanned<RawScaleIn>>) -> Option<ScaleIn> {
        let default_window = Duration::from_secs(300);
        let Some(section) = section else {
            return Some(ScaleIn {
                stabilization_window: default_window,
                max_step: None,
                cooldown: Duration::ZERO,
            });
        };
        let raw = &section.value;
        let window = raw
            .stabilization_window
            .as_ref()
            .map(|v| self.duration(v, "scale_in.stabilization_window"));
        let max_step = raw
            .max_step
            .as_ref()
            .map(|v| self.step(v, "scale_in.max_step"));
        let cooldown = raw
            .cooldown
            .as_ref()
            .map(|v| self.duration(v, "scale_in.cooldown"));
        if let (Some(Some(Step::Percent(p))), Some(value)) = (&max_step, &raw.max_step) {
            if *p > 100.0 {
                self.warning(
                    at(value),
                    "scale_in.max_step",
                    format!("{p}% removes no more than 100% would"),
                    "write `100%`",
                );
            }
        }
        Some(ScaleIn {
            stabilization_window: window.unwrap_or(Some(default_window))?,
            max_step: max_step.map_or(Some(None), |step| step.map(Some))?,
            cooldown: cooldown.unwrap_or(Some(Duration::ZERO))?,
        })
    }

    fn activation_backlog(&mut self, value: Option<&Spanned<f64>>) -> Option<f64> {
        let Some(value) = value else {
            return Some(0.0);
        };
        if value.value >= 0.0 && value.value.is_finite() {
            return Some(value.value);
        }
        self.error(
            at(value),
            "activation_backlog",
            format!("must be 0 or more, got {}", value.value),
            "give the backlog, in messages, that starts the first task",
        );
        None
    }

    /// Keys that only act from or towards zero tasks.
    fn zero_only_keys(&mut self, raw: &RawPolicy, min_tasks: u32) {
        if min_tasks == 0 {
            return;
        }
        let hint = "remove it, or set `min_tasks: 0` to let the service scale to zero";
        if let Some(value) = &raw.activation_backlog {
            self.warning(
                at(value),
                "activation_backlog",
                "has no effect unless min_tasks is 0",
                hint,
            );
        }
        if let Some(value) = &raw.scale_to_zero_after {
            self.warning(
                at(value),
                "scale_to_zero_after",
                "has no effect unless min_tasks is 0",
                hint,
            );
        }
    }
}

/// A step written as text: `50%`, or a quoted number of tasks.
fn step_text(text: &str) -> Result<Step, (String, &'static str)> {
    if let Some(number) = text.strip_suffix('%') {
        return match number.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p.is_finite() => Ok(Step::Percent(p)),
            Ok(_) => Err(("must be more than 0%".to_owned(), NO_LIMIT_HINT)),
            Err(_) => Err((format!("`{text}` is not a percent"), STEP_HINT)),
        };
    }
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Step::Tasks(n)),
        Ok(_) => Err(("must be at least 1, got 0".to_owned(), NO_LIMIT_HINT)),
        Err(_) => Err((
            format!("`{}` is not a step", text.escape_debug()),
            STEP_HINT,
        )),
    }
}
