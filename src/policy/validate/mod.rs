//! From a raw document to a validated [`Policy`]: every check of one policy
//! on its own, each problem a [`Diagnostic`] at the value it is about, all
//! of them collected rather than stopping at the first.
//!
//! - `identity.rs`: what the policy drives (name, cluster, service, queues);
//! - `sizing.rs`: how many tasks (target, bounds, tolerance, from zero);
//! - `pacing.rs`: how fast (poll interval, steps, cooldowns, windows);
//! - `scope.rs`: where its calls go (region, role to assume).
//!
//! Checks that compare policies (names, services) are in `conflicts.rs`.

mod identity;
mod pacing;
mod scope;
mod sizing;

use std::path::Path;

use serde_saphyr::Spanned;

use super::defaults;
use super::diagnostic::Diagnostic;
use super::model::{Policy, SourceLocation};
use super::outline::Position;
use super::raw::RawPolicy;

/// The proof that a [`Policy`] passed validation: only this module makes
/// one, so outside `policy/` a `Policy` cannot be written as a struct
/// literal, only loaded, built by [`Policy::with_defaults`] or changed by
/// [`Policy::with_setting`], which all validate. (A copy made with
/// `..policy.clone()` carries the proof of the policy it copies.)
///
/// A policy written out in code does not compile:
///
/// ```compile_fail
/// use std::time::Duration;
/// use backlog_scaler::policy::*;
///
/// let unchecked = Policy {
///     name: "p".into(),
///     cluster: "c".into(),
///     service: "s".into(),
///     queues: vec![QueueRef { queue: "q".into(), weight: 1.0 }],
///     target: BacklogTarget::BacklogPerTask(10.0),
///     task_startup: None,
///     min_tasks: 1,
///     max_tasks: 10,
///     poll_interval: Duration::from_secs(15),
///     count_in_flight: true,
///     count_delayed: false,
///     tolerance: 1.5,
///     scale_out: ScaleOut { max_step: None, cooldown: Duration::ZERO, lookahead: Duration::ZERO },
///     scale_in: ScaleIn {
///         stabilization_window: Duration::ZERO,
///         max_step: None,
///         cooldown: Duration::ZERO,
///     },
///     activation_backlog: 0.0,
///     scale_to_zero_after: Duration::ZERO,
///     dry_run: false,
///     in_flight_per_task: None,
///     aws: AwsScope::default(),
///     source: None,
///     validated: Validated(()),
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validated(());

/// A valid policy, with where the keys that can clash with another policy
/// were written.
#[derive(Debug, Clone)]
pub(crate) struct CheckedPolicy {
    pub policy: Policy,
    pub name_at: Position,
    pub service_at: Position,
}

fn at<T>(value: &Spanned<T>) -> Position {
    Position {
        line: value.referenced.line(),
        column: value.referenced.column(),
    }
}

/// "must be greater than 0, got -1": the message for a number that is not
/// `requirement`. Infinity and NaN are called out as not finite, since
/// "must be greater than 0, got inf" would read as a contradiction.
fn must_be(requirement: &str, got: f64) -> String {
    if got.is_finite() {
        format!("must be {requirement}, got {got}")
    } else {
        format!("must be a finite number {requirement}, got {got}")
    }
}

/// Check one policy document; the policy is `None` when anything is wrong.
/// `home_region` is the controller's own region when known: a policy
/// without `region` is called there, so its URLs and ARNs must name it.
pub(crate) fn validate(
    file: &Path,
    raw: Spanned<RawPolicy>,
    home_region: Option<&str>,
) -> (Option<CheckedPolicy>, Vec<Diagnostic>) {
    let start = at(&raw);
    let raw = raw.value;
    let mut check = Checker {
        file,
        home_region,
        policy: raw.name.as_ref().map(|n| n.value.clone()),
        start,
        diagnostics: Vec::new(),
    };
    let name = check.name(raw.name.as_ref());
    let cluster = check.cluster(raw.cluster.as_ref());
    let service = check.service(raw.service.as_ref(), cluster.map(|(_, name)| name));
    let queues = check.queues(raw.queues.as_ref());
    let target = check.target(&raw);
    let task_startup = check.task_startup(&raw);
    let bounds = check.bounds(&raw);
    let poll_interval = check.poll_interval(raw.poll_interval.as_ref());
    let tolerance = check.tolerance(raw.tolerance.as_ref());
    let scale_out = check.scale_out(raw.scale_out.as_ref());
    let scale_in = check.scale_in(raw.scale_in.as_ref());
    let activation_backlog = check.activation_backlog(raw.activation_backlog.as_ref());
    let scale_to_zero_after = check.scale_to_zero_after(raw.scale_to_zero_after.as_ref());
    let in_flight_per_task = check.in_flight_per_task(raw.in_flight_per_task.as_ref());
    let aws = check.aws_scope(&raw);
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
        Some(task_startup),
        Some((min_tasks, max_tasks)),
        Some(poll_interval),
        Some(tolerance),
        Some(scale_out),
        Some(scale_in),
        Some(activation_backlog),
        Some(scale_to_zero_after),
        Some(in_flight_per_task),
        Some(aws),
    ) = (
        name,
        cluster,
        service,
        queues,
        target,
        task_startup,
        bounds,
        poll_interval,
        tolerance,
        scale_out,
        scale_in,
        activation_backlog,
        scale_to_zero_after,
        in_flight_per_task,
        aws,
    )
    else {
        // Unreachable: every `None` above came with an error.
        return (None, diagnostics);
    };
    let mut scale_in = scale_in;
    let window_given = raw
        .scale_in
        .as_ref()
        .is_some_and(|section| section.value.stabilization_window.is_some());
    if task_startup.is_some() && !window_given {
        // Wait sizing keeps capacity by what it has learned of the traffic;
        // a window the user did not ask for would only add a fixed floor.
        scale_in.stabilization_window = defaults::STABILIZATION_WINDOW_WAIT_SIZED;
    }
    let policy = Policy {
        name: name.value.clone(),
        cluster: cluster.0.value.clone(),
        service: service.value.clone(),
        queues,
        target,
        task_startup,
        min_tasks,
        max_tasks,
        poll_interval,
        count_in_flight: raw
            .count_in_flight
            .as_ref()
            .map_or(defaults::COUNT_IN_FLIGHT, |v| v.value),
        count_delayed: raw
            .count_delayed
            .as_ref()
            .map_or(defaults::COUNT_DELAYED, |v| v.value),
        tolerance,
        scale_out,
        scale_in,
        activation_backlog,
        scale_to_zero_after,
        dry_run: raw.dry_run.as_ref().map_or(defaults::DRY_RUN, |v| v.value),
        in_flight_per_task,
        aws,
        source: Some(SourceLocation {
            file: file.to_path_buf(),
            line: start.line,
            column: start.column,
        }),
        validated: Validated(()),
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
    /// The controller's region, when known (see [`validate`]).
    home_region: Option<&'a str>,
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
}
