//! Policies built or changed in code, through the validator.
//!
//! [`Policy::with_setting`] writes a policy back as the document that
//! validates to it, sets one key, and validates that document exactly as
//! `validate` validates a file (parse, then `validate/`). The simulator's
//! sweep builds each variant this way, so every error `validate` gives for
//! a value, the sweep gives too. [`Policy::with_defaults`] validates its
//! small document the same way.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::defaults::{self, duration_text};
use super::diagnostic::{Diagnostic, PolicyErrors};
use super::load::check_str;
use super::model::{BacklogTarget, Policy, SourceLocation, Step, TaskStartup};

/// A policy document: its top-level keys in the order a file writes them,
/// each with its value (`scale_out` and `scale_in` are objects).
pub(crate) type Document = Vec<(String, Value)>;

/// What messages call a document built in code, which has no file.
const BUILT_IN_CODE: &str = "(policy built in code)";

impl Policy {
    /// This policy with the key at `path` (`tolerance`,
    /// `scale_in.max_step`, `queues`) set to `value`, written as a policy
    /// file writes it (a duration as text such as `"90s"`, a step as `4` or
    /// `"50%"`), and validated as `validate` validates a file.
    ///
    /// The errors are the validator's, with its message, key and hint, at
    /// the place the policy starts in its file (the value comes from the
    /// caller, not from the file). Warnings are left out.
    pub fn with_setting(&self, path: &str, value: Value) -> Result<Policy, PolicyErrors> {
        let mut document = document(self);
        set(&mut document, path, value);
        let mut policy = validated(document, self.source.as_ref())?;
        policy.source.clone_from(&self.source);
        Ok(policy)
    }
}

/// The policy `document` describes, validated; errors are placed at `at`
/// (line 0 of a file named for code when `None`). Its `source` is `None`.
pub(crate) fn validated(
    document: Document,
    at: Option<&SourceLocation>,
) -> Result<Policy, PolicyErrors> {
    let origin = Path::new(BUILT_IN_CODE);
    let report = check_str(origin, &yaml(&document));
    let errors: Vec<Diagnostic> = report
        .errors()
        .map(|error| relocated(error.clone(), at))
        .collect();
    if !errors.is_empty() {
        return Err(PolicyErrors { errors });
    }
    let mut policy = report.policies.into_iter().next().ok_or_else(|| {
        let lost = Diagnostic::error(origin, 0, 0, "validated to no policy");
        PolicyErrors {
            errors: vec![relocated(lost, at)],
        }
    })?;
    policy.source = None;
    Ok(policy)
}

/// `diagnostic` at the policy's place rather than in the document written
/// for it, which no one can open.
fn relocated(mut diagnostic: Diagnostic, at: Option<&SourceLocation>) -> Diagnostic {
    match at {
        Some(at) => {
            diagnostic.file.clone_from(&at.file);
            diagnostic.line = at.line;
            diagnostic.column = at.column;
        }
        None => {
            diagnostic.line = 0;
            diagnostic.column = 0;
        }
    }
    diagnostic
}

/// The document that validates to `policy`: every key written out, but for
/// those it leaves out (no `task_startup`, no `max_step`, no `region`...)
/// and a zero `lookahead`, which is the default and may not be written
/// beside `task_startup`.
pub(crate) fn document(policy: &Policy) -> Document {
    let mut document: Vec<(&str, Value)> = vec![
        ("name", policy.name.clone().into()),
        ("cluster", policy.cluster.clone().into()),
        ("service", policy.service.clone().into()),
    ];
    let queues = policy
        .queues
        .iter()
        .map(|queue| {
            if queue.weight == defaults::QUEUE_WEIGHT {
                Value::from(queue.queue.clone())
            } else {
                json!({"queue": queue.queue, "weight": number(queue.weight)})
            }
        })
        .collect();
    document.push(("queues", Value::Array(queues)));
    match policy.target {
        BacklogTarget::BacklogPerTask(target) => {
            document.push(("target_backlog_per_task", number(target)));
        }
        BacklogTarget::Wait { wait, message_cost } => {
            document.push(("target_wait", duration_text(wait).into()));
            document.push(("message_cost", duration_text(message_cost).into()));
        }
        BacklogTarget::WaitPerTask {
            wait,
            backlog_per_task,
        } => {
            document.push(("target_wait", duration_text(wait).into()));
            document.push(("target_backlog_per_task", number(backlog_per_task)));
        }
    }
    match policy.task_startup {
        Some(TaskStartup::Stated(startup)) => {
            document.push(("task_startup", duration_text(startup).into()));
        }
        Some(TaskStartup::Measured) => document.push(("task_startup", "measured".into())),
        None => {}
    }
    document.extend([
        ("min_tasks", policy.min_tasks.into()),
        ("max_tasks", policy.max_tasks.into()),
        ("poll_interval", duration_text(policy.poll_interval).into()),
        ("count_in_flight", policy.count_in_flight.into()),
        ("count_delayed", policy.count_delayed.into()),
        ("tolerance", number(policy.tolerance)),
    ]);
    let mut scale_out = Map::new();
    if let Some(step) = policy.scale_out.max_step {
        scale_out.insert("max_step".into(), step_value(step));
    }
    scale_out.insert(
        "cooldown".into(),
        duration_text(policy.scale_out.cooldown).into(),
    );
    if policy.scale_out.lookahead != defaults::SCALE_OUT_LOOKAHEAD {
        scale_out.insert(
            "lookahead".into(),
            duration_text(policy.scale_out.lookahead).into(),
        );
    }
    document.push(("scale_out", Value::Object(scale_out)));
    let mut scale_in = Map::new();
    scale_in.insert(
        "stabilization_window".into(),
        duration_text(policy.scale_in.stabilization_window).into(),
    );
    if let Some(step) = policy.scale_in.max_step {
        scale_in.insert("max_step".into(), step_value(step));
    }
    scale_in.insert(
        "cooldown".into(),
        duration_text(policy.scale_in.cooldown).into(),
    );
    document.push(("scale_in", Value::Object(scale_in)));
    document.extend([
        ("activation_backlog", number(policy.activation_backlog)),
        (
            "scale_to_zero_after",
            duration_text(policy.scale_to_zero_after).into(),
        ),
        ("dry_run", policy.dry_run.into()),
    ]);
    if let Some(in_flight) = policy.in_flight_per_task {
        document.push(("in_flight_per_task", number(in_flight)));
    }
    if let Some(region) = &policy.aws.region {
        document.push(("region", region.clone().into()));
    }
    if let Some(role_arn) = &policy.aws.role_arn {
        document.push(("role_arn", role_arn.clone().into()));
    }
    document
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// A number as JSON; one that is not finite (which no validated policy
/// holds) as text, which the validator refuses rather than reading `null`
/// as a key left out.
fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Value::from(value.to_string()), Value::Number)
}

fn step_value(step: Step) -> Value {
    match step {
        Step::Tasks(tasks) => tasks.into(),
        Step::Percent(percent) => format!("{percent}%").into(),
    }
}

/// Set the key at `path` (`key` or `section.key`) of `document`.
fn set(document: &mut Document, path: &str, value: Value) {
    let (top, inner) = match path.split_once('.') {
        Some((section, key)) => (section, Some(key)),
        None => (path, None),
    };
    let i = match document.iter().position(|(key, _)| key == top) {
        Some(i) => i,
        None => {
            document.push((top.to_owned(), Value::Null));
            document.len() - 1
        }
    };
    let slot = &mut document[i].1;
    match inner {
        None => *slot = value,
        Some(key) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(section) = slot {
                section.insert(key.to_owned(), value);
            }
        }
    }
}

/// `document` as YAML text: one line per top-level key, values in flow
/// style (JSON scalars are YAML scalars).
fn yaml(document: &Document) -> String {
    document
        .iter()
        .map(|(key, value)| format!("{}: {}\n", yaml_key(key), flow(value)))
        .collect()
}

fn flow(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{}: {}", yaml_key(key), flow(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// A key as written: plain when it is a word, else quoted.
fn yaml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        key.to_owned()
    } else {
        Value::from(key).to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::load_tests::EVERY_KEY;
    use crate::policy::schema::policy_schema;

    /// Every key, then wait-sized policies (stated and measured startup).
    fn full() -> String {
        format!("{EVERY_KEY}{WAIT_SIZED}")
    }

    const WAIT_SIZED: &str = "\
---
name: sized
cluster: c
service: sized
queues: [q]
target_wait: 20s
message_cost: 1s 500ms
task_startup: 45s
max_tasks: 4
---
name: measured
cluster: c
service: measured
queues: [q]
target_wait: 20s
message_cost: 2s
task_startup: measured
scale_in: {stabilization_window: 2m}
max_tasks: 4
";

    fn loaded(text: &str) -> Vec<Policy> {
        let report = check_str(Path::new("p.yaml"), text);
        assert!(report.is_valid(), "{:?}", report.diagnostics);
        report.policies
    }

    #[test]
    fn a_policy_written_back_validates_to_itself() {
        let mut policies = loaded(&full());
        policies.push(Policy::with_defaults("plain", "c", "s", "q"));
        for policy in policies {
            let mut again = validated(document(&policy), None).unwrap();
            again.source.clone_from(&policy.source);
            assert_eq!(again, policy, "{}", yaml(&document(&policy)));
        }
    }

    #[test]
    fn a_setting_changes_one_key_and_keeps_the_source() {
        let policy = &loaded(&full())[0];
        let changed = policy
            .with_setting("scale_in.cooldown", "2m".into())
            .unwrap();
        assert_eq!(changed.scale_in.cooldown, Duration::from_secs(120));
        assert_eq!(changed.source, policy.source);
        let mut expected = policy.clone();
        expected.scale_in.cooldown = Duration::from_secs(120);
        assert_eq!(changed, expected);
    }

    #[test]
    fn moving_a_policy_keeps_its_content() {
        let policy = &loaded(&full())[0];
        let moved = &loaded(&format!("\n\n{}", full()))[0];
        assert_ne!(policy, moved);
        assert!(policy.same_content(moved));
        let changed = policy.with_setting("dry_run", false.into()).unwrap();
        assert!(!policy.same_content(&changed));
    }

    /// The error of a setting is the one `validate` gives for that value
    /// in the file, at the policy's start rather than the value's place.
    #[test]
    fn a_bad_setting_gets_the_validators_error_at_the_policy() {
        let text = "name: w\ncluster: c\nservice: s\nqueues: [q]\ntarget_backlog_per_task: 5\nmax_tasks: 3\n";
        let policy = &loaded(&format!("# a comment\n{text}"))[0];
        let error = policy
            .with_setting("tolerance", 1.5.into())
            .unwrap_err()
            .to_string();
        let in_file = check_str(
            Path::new("p.yaml"),
            &format!("# a comment\n{text}tolerance: 1.5\n"),
        );
        let expected = in_file.errors().next().unwrap().to_string();
        assert_eq!(
            expected,
            "p.yaml:8:12: error: policy 'w': tolerance: must be at least 0 and below 1, got 1.5 \
             (hint: 0.1 holds still while the backlog per task is within 10% of the target)"
        );
        assert_eq!(error, expected.replace("p.yaml:8:12:", "p.yaml:2:1:"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_the_parsers_errors() {
        let policy = Policy::with_defaults("w", "c", "s", "q");
        let error =
            |path: &str, value: Value| policy.with_setting(path, value).unwrap_err().to_string();
        assert_eq!(
            error("tolerence", 0.5.into()),
            "(policy built in code): error: policy 'w': tolerence: unknown key \
             (hint: did you mean `tolerance`?)"
        );
        assert_eq!(
            error("scale_in.max_step", 2.5.into()),
            "(policy built in code): error: policy 'w': scale_in.max_step: must be a whole \
             number of tasks, got 2.5 (hint: write a number of tasks such as `4`, or a percent \
             such as `50%`)"
        );
        assert!(error("min_tasks", "two".into()).contains("min_tasks: expected a whole number"));
    }

    /// The schema's defaults, written out in a policy, validate to what
    /// leaving them out does, and that is the model's `with_defaults`.
    #[test]
    fn the_schemas_defaults_are_the_validators_and_the_models() {
        let schema = policy_schema();
        let defaults_of = |object: &Value| -> Map<String, Value> {
            let object = match object
                .pointer("/allOf/0/$ref")
                .or_else(|| object.get("$ref"))
                .and_then(Value::as_str)
            {
                Some(reference) => {
                    &schema["definitions"][reference.trim_start_matches("#/definitions/")]
                }
                None => object,
            };
            object["properties"]
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(key, property)| Some((key.clone(), property.get("default")?.clone())))
                .collect()
        };
        let top = defaults_of(&schema);
        let scale_out = defaults_of(&schema["properties"]["scale_out"]);
        let scale_in = defaults_of(&schema["properties"]["scale_in"]);
        let queue = defaults_of(&schema["definitions"]["WeightedQueue"]);
        let mut named: Vec<String> = top.keys().cloned().collect();
        named.extend(scale_out.keys().map(|k| format!("scale_out.{k}")));
        named.extend(scale_in.keys().map(|k| format!("scale_in.{k}")));
        named.extend(queue.keys().map(|k| format!("queues[].{k}")));
        named.sort();
        assert_eq!(
            named,
            [
                "activation_backlog",
                "count_delayed",
                "count_in_flight",
                "dry_run",
                "min_tasks",
                "poll_interval",
                "queues[].weight",
                "scale_in.cooldown",
                "scale_in.stabilization_window",
                "scale_out.cooldown",
                "scale_out.lookahead",
                "scale_to_zero_after",
                "tolerance",
            ]
        );

        let mut written: Document = vec![
            ("name".into(), "w".into()),
            ("cluster".into(), "c".into()),
            ("service".into(), "s".into()),
        ];
        let mut entry = queue.clone();
        entry.insert("queue".into(), "q".into());
        written.push(("queues".into(), json!([entry])));
        written.push(("target_backlog_per_task".into(), 100.into()));
        written.push(("max_tasks".into(), 10.into()));
        written.extend(top);
        written.push(("scale_out".into(), Value::Object(scale_out)));
        written.push(("scale_in".into(), Value::Object(scale_in)));
        let from_schema = validated(written, None).unwrap();
        assert_eq!(from_schema, Policy::with_defaults("w", "c", "s", "q"));
    }
}
