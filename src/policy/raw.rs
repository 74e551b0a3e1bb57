//! A policy document exactly as written: every key the format knows, each
//! value with the place it was written, nothing checked beyond its YAML type.
//!
//! `validate.rs` turns this into a [`super::Policy`]. Numbers are read into
//! wide types (`i64`, `f64`) and durations as strings so that a negative,
//! huge or misspelt value becomes a located validation message rather than a
//! terse type error. The JSON Schema (`schema` command) is derived from these
//! types, so the doc comments below are what editors show for each key.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::defaults::{self, duration_text};

/// One backlog-scaler policy: sizes one ECS service from the backlog of its
/// SQS queue(s). A file may hold several policies as YAML documents
/// separated by `---`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "backlog-scaler policy",
    extend("oneOf" = [
        {"required": ["target_backlog_per_task"]},
        {"required": ["target_wait", "message_cost"]}
    ])
)]
pub struct RawPolicy {
    /// Unique policy name, used in logs, metrics and `explain --policy`.
    /// Letters, digits, `.`, `_` and `-`.
    #[schemars(
        with = "String",
        length(min = 1, max = 64),
        pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    pub name: Option<Spanned<String>>,
    /// ECS cluster name or ARN.
    #[schemars(with = "String", length(min = 1))]
    pub cluster: Option<Spanned<String>>,
    /// ECS service name or ARN.
    #[schemars(with = "String", length(min = 1))]
    pub service: Option<Spanned<String>>,
    /// SQS queues whose backlogs are summed: queue names or URLs, or
    /// `{queue: NAME_OR_URL, weight: 0.5}` entries.
    #[schemars(with = "Vec<RawQueue>", length(min = 1))]
    pub queues: Option<Spanned<Vec<Spanned<RawQueue>>>>,
    /// Messages per task the service should hold. Give this, or
    /// `target_wait` and `message_cost`, not both.
    #[serde(default)]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0))]
    pub target_backlog_per_task: Option<Spanned<f64>>,
    /// Acceptable wait for a message (e.g. `30s`); with `message_cost` the
    /// target is `target_wait / message_cost` messages per task.
    #[serde(default)]
    #[schemars(with = "DurationText")]
    pub target_wait: Option<Spanned<String>>,
    /// Time one task spends on one message (e.g. `300ms`); used with
    /// `target_wait`.
    #[serde(default)]
    #[schemars(with = "DurationText")]
    pub message_cost: Option<Spanned<String>>,
    /// Time from raising the desired count to a new task consuming, e.g.
    /// `60s`, or `measured`: the controller measures it from the service's
    /// scale-outs. With `target_wait` and `message_cost`, it turns on wait
    /// sizing: the engine sizes and keeps capacity so that messages wait at
    /// most `target_wait`, knowing that new tasks help only after this long.
    #[serde(default)]
    #[schemars(with = "StartupText")]
    pub task_startup: Option<Spanned<String>>,
    /// Fewest tasks the service runs. `0` lets it scale to zero.
    #[serde(default)]
    #[schemars(with = "u32", extend("default" = defaults::MIN_TASKS))]
    pub min_tasks: Option<Spanned<i64>>,
    /// Most tasks the service runs.
    #[schemars(with = "u32", range(min = 1))]
    pub max_tasks: Option<Spanned<i64>>,
    /// How often the policy is evaluated.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::POLL_INTERVAL))
    )]
    pub poll_interval: Option<Spanned<String>>,
    /// Add in-flight messages (`ApproximateNumberOfMessagesNotVisible`) to the
    /// backlog.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = defaults::COUNT_IN_FLIGHT))]
    pub count_in_flight: Option<Spanned<bool>>,
    /// Add delayed messages (`ApproximateNumberOfMessagesDelayed`) to the
    /// backlog.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = defaults::COUNT_DELAYED))]
    pub count_delayed: Option<Spanned<bool>>,
    /// No change while `abs(backlog / (target * current) - 1) <= tolerance`.
    /// At least 0, below 1.
    #[serde(default)]
    #[schemars(with = "f64", range(min = 0), extend("exclusiveMaximum" = 1, "default" = defaults::TOLERANCE))]
    pub tolerance: Option<Spanned<f64>>,
    /// Limits on adding tasks.
    #[serde(default)]
    #[schemars(with = "RawScaleOut")]
    pub scale_out: Option<Spanned<RawScaleOut>>,
    /// Limits on removing tasks.
    #[serde(default)]
    #[schemars(with = "RawScaleIn")]
    pub scale_in: Option<Spanned<RawScaleIn>>,
    /// With `min_tasks: 0`: from zero tasks, start only once the backlog
    /// exceeds this many messages.
    #[serde(default)]
    #[schemars(
        with = "f64",
        range(min = 0),
        extend("default" = defaults::ACTIVATION_BACKLOG)
    )]
    pub activation_backlog: Option<Spanned<f64>>,
    /// With `min_tasks: 0`: go to zero tasks only after the backlog, in-flight
    /// messages included, has been zero this long.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::SCALE_TO_ZERO_AFTER))
    )]
    pub scale_to_zero_after: Option<Spanned<String>>,
    /// Decide and log, but never change the service's desired count.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = defaults::DRY_RUN))]
    pub dry_run: Option<Spanned<bool>>,
    /// Opt-in sizing: count in-flight messages as busy tasks, this many per
    /// task (the consumer's concurrency), and apply the target to waiting
    /// messages only: tasks = in_flight / in_flight_per_task + waiting /
    /// target. Left out, the backlog is divided by the target as a whole.
    #[serde(default)]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0))]
    pub in_flight_per_task: Option<Spanned<f64>>,
    /// AWS region of the policy's queues and service, e.g. `eu-west-1`.
    /// Left out, the controller's own region. A queue URL or ECS ARN of
    /// another region is an error: SQS and ECS are called in this region.
    #[serde(default)]
    #[schemars(with = "String", pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"))]
    pub region: Option<Spanned<String>>,
    /// IAM role to assume (through STS) for this policy's calls, e.g.
    /// `arn:aws:iam::123456789012:role/backlog-scaler-target`: how one
    /// controller serves other accounts. Left out, the controller's own
    /// credentials.
    #[serde(default)]
    #[schemars(
        with = "String",
        pattern(r"^arn:aws(-[a-z-]+)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
    )]
    pub role_arn: Option<Spanned<String>>,
}

/// Limits on adding tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ScaleOut")]
pub struct RawScaleOut {
    /// Most tasks added in one action: a number of tasks, or a percent of the
    /// current count such as `100%`. Unlimited when left out.
    #[serde(default)]
    #[schemars(with = "RawStep")]
    pub max_step: Option<Spanned<RawStep>>,
    /// Least time between two scale-outs.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::SCALE_OUT_COOLDOWN))
    )]
    pub cooldown: Option<Spanned<String>>,
    /// Opt-in: size for the work expected this far ahead, the backlog's
    /// growth per second since the previous poll times this. Set it near
    /// the task startup time, so tasks launched now are enough when they
    /// start. `0s` sizes for the backlog seen now.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::SCALE_OUT_LOOKAHEAD))
    )]
    pub lookahead: Option<Spanned<String>>,
}

/// Limits on removing tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ScaleIn")]
pub struct RawScaleIn {
    /// Scale in only to the highest recommendation seen within this window.
    /// Left out in a policy with `task_startup`, `0s`: wait sizing keeps
    /// capacity by what it learns of the traffic.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::STABILIZATION_WINDOW))
    )]
    pub stabilization_window: Option<Spanned<String>>,
    /// Most tasks removed in one action: a number of tasks, or a percent of
    /// the current count such as `50%`. Unlimited when left out.
    #[serde(default)]
    #[schemars(with = "RawStep")]
    pub max_step: Option<Spanned<RawStep>>,
    /// Least time after any scaling before a scale-in.
    #[serde(default)]
    #[schemars(
        with = "DurationText",
        extend("default" = duration_text(defaults::SCALE_IN_COOLDOWN))
    )]
    pub cooldown: Option<Spanned<String>>,
}

/// A queue entry: a name or URL, or a name or URL with a weight.
#[derive(Debug, JsonSchema)]
#[schemars(untagged, rename = "Queue")]
pub enum RawQueue {
    /// An SQS queue name, or a queue URL (which may be in another account).
    Name(String),
    Weighted(RawWeightedQueue),
}

/// A queue whose backlog counts `weight` times.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WeightedQueue")]
pub struct RawWeightedQueue {
    /// An SQS queue name or URL.
    #[schemars(with = "String", length(min = 1))]
    pub queue: Option<Spanned<String>>,
    /// How much one message of this queue counts, greater than 0.
    #[serde(default)]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0, "default" = defaults::QUEUE_WEIGHT))]
    pub weight: Option<Spanned<f64>>,
}

impl<'de> Deserialize<'de> for RawQueue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueueVisitor;

        impl<'de> Visitor<'de> for QueueVisitor {
            type Value = RawQueue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a queue name or URL, or a mapping with `queue` and `weight`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawQueue, E> {
                Ok(RawQueue::Name(value.to_owned()))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawQueue, M::Error> {
                let entry =
                    RawWeightedQueue::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawQueue::Weighted(entry))
            }
        }

        deserializer.deserialize_any(QueueVisitor)
    }
}

/// A step limit as written: a number of tasks, or text such as `50%`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawStep {
    Tasks(i64),
    /// Written as a fraction, which a task count cannot be.
    Fraction(f64),
    Text(String),
}

impl JsonSchema for RawStep {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of tasks (at least 1), or a percent of the current count such as `50%`.",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$"}
            ]
        })
    }
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;

        impl Visitor<'_> for StepVisitor {
            type Value = RawStep;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of tasks or a percent such as `50%`")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawStep, E> {
                Ok(RawStep::Tasks(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawStep, E> {
                Ok(RawStep::Tasks(i64::try_from(value).unwrap_or(i64::MAX)))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawStep, E> {
                Ok(RawStep::Fraction(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawStep, E> {
                Ok(RawStep::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(StepVisitor)
    }
}

/// The schema of `task_startup`: a duration, or `measured`; never constructed.
pub enum StartupText {}

impl JsonSchema for StartupText {
    fn schema_name() -> Cow<'static, str> {
        "TaskStartup".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration such as `60s`, or `measured`.",
            "anyOf": [
                generator.subschema_for::<DurationText>(),
                {"const": "measured"}
            ]
        })
    }
}

/// The schema of a duration written as text; never constructed.
pub enum DurationText {}

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration such as `30s`, `5m`, `1h 30m` or `300ms`.",
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*[a-zµ]+(\\s*[0-9]+\\s*[a-zµ]+)*\\s*$"
        })
    }
}
