//! What the engine returns: an action, the resulting desired count, and a
//! structured reason a person can read.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::wait_sizing::{StartupSource, StillToArrive, WaitPlan};
use crate::plural::plural;

/// The kind of decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Hold,
    ScaleOut,
    ScaleIn,
}

impl Action {
    /// The action that takes a desired count from `current` to `desired`.
    pub fn of_change(current: u32, desired: u32) -> Action {
        match desired.cmp(&current) {
            std::cmp::Ordering::Greater => Action::ScaleOut,
            std::cmp::Ordering::Less => Action::ScaleIn,
            std::cmp::Ordering::Equal => Action::Hold,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Hold => "hold",
            Action::ScaleOut => "scale_out",
            Action::ScaleIn => "scale_in",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of the reasoning behind a decision. A decision's reason is the
/// list of steps that shaped it, in the order the engine applied them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Because {
    /// The observation could not be made; the service is left as it is.
    ObservationFailed { error: String },
    /// How the backlog was summed.
    Backlog {
        #[serde(serialize_with = "number")]
        backlog: f64,
        visible: u64,
        /// `None` when `count_in_flight` is off.
        in_flight: Option<u64>,
        /// `None` when `count_delayed` is off.
        delayed: Option<u64>,
    },
    /// `ceil(backlog / target)`.
    Recommendation {
        #[serde(serialize_with = "number")]
        backlog: f64,
        target: f64,
        tasks: u32,
    },
    /// `in_flight_per_task`: busy tasks plus waiting messages over the target.
    BusyPlusWaiting {
        busy: f64,
        #[serde(serialize_with = "number")]
        waiting: f64,
        target: f64,
        tasks: u32,
    },
    /// `scale_out.lookahead`: the work expected from the recent growth.
    Lookahead {
        per_second: f64,
        #[serde(with = "secs")]
        lookahead: Duration,
        #[serde(serialize_with = "number")]
        expected: f64,
    },
    /// The backlog per task is within the tolerance band of the target.
    InsideTolerance {
        #[serde(serialize_with = "number")]
        ratio: f64,
        tolerance: f64,
    },
    /// Wait sizing: the tasks needed are within the tolerance band of the
    /// current count.
    NeedInsideTolerance {
        #[serde(serialize_with = "number")]
        ratio: f64,
        tolerance: f64,
    },
    /// From zero tasks, the backlog has not passed `activation_backlog`.
    BelowActivation {
        #[serde(serialize_with = "number")]
        backlog: f64,
        activation: f64,
    },
    /// Backlog is zero but has not been zero for `scale_to_zero_after` yet.
    NotIdleLongEnough {
        #[serde(with = "secs")]
        idle_for: Duration,
        #[serde(with = "secs")]
        needed: Duration,
    },
    /// Backlog has been zero long enough to stop every task.
    IdleLongEnough {
        #[serde(with = "secs")]
        idle_for: Duration,
    },
    /// The recommendation was raised to `min_tasks`.
    RaisedToMin { min: u32 },
    /// The recommendation was lowered to `max_tasks`.
    LoweredToMax { max: u32 },
    /// The service was outside [min, max] and is brought inside.
    OutsideBounds { current: u32, min: u32, max: u32 },
    /// A scale-out happened too recently.
    ScaleOutCooldown {
        #[serde(with = "secs")]
        remaining: Duration,
    },
    /// A scaling happened too recently to scale in.
    ScaleInCooldown {
        #[serde(with = "secs")]
        remaining: Duration,
    },
    /// Scale-in goes no lower than the highest recent recommendation.
    Stabilization {
        highest: u32,
        #[serde(with = "secs")]
        window: Duration,
    },
    /// A deployment is rolling out; no scale-in until it is done.
    DeploymentInProgress,
    /// The step limit capped the change.
    StepCapped {
        direction: Action,
        max_step: String,
        from: u32,
        to: u32,
    },
    /// The recommendation equals the current desired count.
    AtRecommendation { tasks: u32 },
    /// Wait sizing: the tasks that keep up with the arrivals and drain,
    /// within the wait, the queue expected when new tasks start.
    WaitSizing {
        #[serde(flatten)]
        plan: Box<WaitPlan>,
        tasks: u32,
    },
    /// Wait sizing keeps the highest recent need for as long as the
    /// traffic's idle spells say it returns.
    KeepingCapacity {
        highest: u32,
        #[serde(rename = "keep_for_s", with = "secs")]
        keep_for: Duration,
        returns_seen: usize,
        #[serde(rename = "typical_return_s", with = "optional_secs")]
        typical_return: Option<Duration>,
        /// What was kept was capped at the fleet a burst needs from its
        /// start (more had been recommended within the keep time).
        #[serde(skip_serializing_if = "Option::is_none")]
        burst_fleet: Option<u32>,
    },
}

pub(super) mod optional_secs {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => s.serialize_f64(value.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

pub(super) mod secs {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }
}

/// JSON has no infinity, and serde_json writes one as `null`, which reads
/// as "unknown". A non-finite figure is written as the text the tables show
/// (`"inf"`) instead.
pub fn number<S: serde::Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(*value)
    } else {
        s.serialize_str(&value.to_string())
    }
}

/// [`number`] for an optional figure (`None` stays `null`).
pub fn optional_number<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => number(value, s),
        None => s.serialize_none(),
    }
}

fn fmt_count(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.2}")
    }
}

fn fmt_rate(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

impl fmt::Display for Because {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Because::ObservationFailed { error } => {
                write!(f, "holding: observation failed ({error})")
            }
            Because::Backlog {
                backlog,
                visible,
                in_flight,
                delayed,
            } => {
                write!(f, "backlog {} (visible {visible}", fmt_count(*backlog))?;
                if let Some(n) = in_flight {
                    write!(f, " + in-flight {n}")?;
                }
                if let Some(n) = delayed {
                    write!(f, " + delayed {n}")?;
                }
                f.write_str(")")
            }
            Because::Recommendation {
                backlog: _,
                target,
                tasks,
            } => {
                let plural = if *tasks == 1 { "" } else { "s" };
                write!(f, "/ target {} = {tasks} task{plural}", fmt_count(*target))
            }
            Because::BusyPlusWaiting {
                busy,
                waiting,
                target,
                tasks,
            } => write!(
                f,
                "{} busy tasks + waiting {} / target {} = {tasks} task{}",
                fmt_count(*busy),
                fmt_count(*waiting),
                fmt_count(*target),
                if *tasks == 1 { "" } else { "s" }
            ),
            Because::Lookahead {
                per_second,
                lookahead,
                expected,
            } => write!(
                f,
                "work growing {}/s, {} more expected within the {} lookahead",
                fmt_count(*per_second),
                fmt_count(*expected),
                fmt_duration(*lookahead)
            ),
            Because::InsideTolerance { ratio, tolerance } => write!(
                f,
                "backlog per task is {:.0}% of target, inside the ±{:.0}% tolerance",
                ratio * 100.0,
                tolerance * 100.0
            ),
            Because::NeedInsideTolerance { ratio, tolerance } => write!(
                f,
                "that is {:.0}% of the current count, inside the ±{:.0}% tolerance",
                ratio * 100.0,
                tolerance * 100.0
            ),
            Because::BelowActivation {
                backlog,
                activation,
            } => write!(
                f,
                "at zero tasks and backlog {} does not exceed activation_backlog {}",
                fmt_count(*backlog),
                fmt_count(*activation)
            ),
            Because::NotIdleLongEnough { idle_for, needed } => write!(
                f,
                "idle for {} of the {} scale_to_zero_after, keeping 1 task",
                fmt_duration(*idle_for),
                fmt_duration(*needed)
            ),
            Because::IdleLongEnough { idle_for } => {
                write!(f, "idle for {}, scaling to zero", fmt_duration(*idle_for))
            }
            Because::RaisedToMin { min } => write!(f, "raised to min_tasks {min}"),
            Because::LoweredToMax { max } => write!(f, "lowered to max_tasks {max}"),
            Because::OutsideBounds { current, min, max } => write!(
                f,
                "service at {current} is outside [{min}, {max}], bringing it inside"
            ),
            Because::ScaleOutCooldown { remaining } => {
                write!(f, "scale-out cooldown: {} left", fmt_duration(*remaining))
            }
            Because::ScaleInCooldown { remaining } => {
                write!(f, "scale-in cooldown: {} left", fmt_duration(*remaining))
            }
            Because::Stabilization { highest, window } => write!(
                f,
                "highest recommendation in the last {} is {highest}",
                fmt_duration(*window)
            ),
            Because::DeploymentInProgress => f.write_str("deployment in progress, no scale-in"),
            Because::StepCapped {
                direction,
                max_step,
                from,
                to,
            } => {
                let word = if *direction == Action::ScaleIn {
                    "scale-in"
                } else {
                    "scale-out"
                };
                write!(f, "{word} capped by max_step {max_step}: {from} -> {to}")
            }
            Because::AtRecommendation { tasks } => {
                write!(f, "already at {}", plural(*tasks, "task", "tasks"))
            }
            Because::WaitSizing { plan, tasks } => {
                let source = match plan.startup_source {
                    StartupSource::Stated => "",
                    StartupSource::Measured => " measured",
                    StartupSource::Assumed => " assumed",
                };
                write!(
                    f,
                    "arrivals about {}/s{} need {} busy tasks{}; {} messages expected waiting when tasks launched now \
                     start ({}{source} startup), ",
                    fmt_rate(plan.arrival_rate),
                    if plan.onset {
                        " (a burst's first poll: as if it had all just come)"
                    } else {
                        ""
                    },
                    fmt_count((plan.busy * 100.0).round() / 100.0),
                    plan.cost_from_target.map_or(String::new(), |derived| format!(
                        " at {} a message ({} wait / target {})",
                        fmt_duration(derived.cost),
                        fmt_duration(plan.wait),
                        fmt_count(derived.target),
                    )),
                    fmt_count(plan.queue_at_startup.round()),
                    fmt_duration(plan.startup),
                )?;
                let keep_up = |f: &mut fmt::Formatter<'_>| {
                    write!(
                        f,
                        "arrivals kept up with at {}/s, the rate of the last {}",
                        fmt_rate(plan.wait_rate),
                        fmt_duration(plan.wait_rate_over),
                    )
                };
                match plan.still_to_arrive {
                    Some(still) => {
                        write!(
                            f,
                            "a message arriving by the next poll served within the {} wait, and ",
                            fmt_duration(plan.wait),
                        )?;
                        match still {
                            StillToArrive::Run(run) => write!(
                                f,
                                "the last of a run of arrivals like 90% of the recent ones (about {} \
                                 more within {}) within the wait of the run's end",
                                fmt_count(run.messages.round()),
                                fmt_duration(run.within),
                            )?,
                            StillToArrive::KeepUp => keep_up(f)?,
                        }
                    }
                    None => {
                        write!(f, "drained within {}, and ", fmt_duration(plan.wait))?;
                        keep_up(f)?;
                    }
                }
                if plan.pending > 0 && plan.pending_in < plan.startup {
                    write!(
                        f,
                        "; {} already launched counted from when they run, within {}",
                        plural(plan.pending, "task", "tasks"),
                        fmt_duration(plan.pending_in)
                    )?;
                }
                if let Some(oldest) = plan.oldest_waited {
                    write!(
                        f,
                        "; the oldest waiting about {}, more to serve the queue by its deadlines",
                        fmt_duration(oldest)
                    )?;
                }
                if let Some(warm) = plan.warm {
                    write!(
                        f,
                        "; keeping {} warm: bursts",
                        plural(warm.tasks.ceil() as u32, "task", "tasks")
                    )?;
                    if let Some(spell) = warm.typical_spell {
                        write!(f, " after idle spells of about {}", fmt_duration(spell))?;
                    }
                    write!(
                        f,
                        " each need that many to drain within {} while new tasks take {} to start",
                        fmt_duration(plan.wait),
                        fmt_duration(plan.startup)
                    )?;
                }
                if let Some(next) = plan.next_burst {
                    if next.given_back {
                        f.write_str("; no tasks kept warm")?;
                    }
                    write!(
                        f,
                        "; the next burst due in {} at the earliest (bursts began at least {} apart)",
                        fmt_duration(next.due_in),
                        fmt_duration(next.shortest_period),
                    )?;
                    if next.given_back {
                        write!(
                            f,
                            ", so tasks launched a startup and two polls before it run when it begins",
                        )?;
                    }
                }
                if let Some(surges) = plan.surges {
                    write!(
                        f,
                        "; keeping {} for surges: 90% of the recent rises needed that many to serve \
                         what arrived within {} while new tasks take {} to start",
                        plural(surges.ceil() as u32, "task", "tasks"),
                        fmt_duration(plan.wait),
                        fmt_duration(plan.startup)
                    )?;
                }
                write!(f, ": {}", plural(*tasks, "task", "tasks"))
            }
            Because::KeepingCapacity {
                highest,
                keep_for,
                returns_seen,
                typical_return,
                burst_fleet,
            } => {
                write!(
                    f,
                    "keeping {} for {}",
                    plural(*highest, "task", "tasks"),
                    fmt_duration(*keep_for)
                )?;
                match typical_return {
                    Some(after) if *returns_seen >= super::wait_sizing::TrafficMemory::EVIDENCE => {
                        write!(
                            f,
                            ": the need came back about {} after capacity was given back ({} seen)",
                            fmt_duration(*after),
                            returns_seen
                        )?;
                    }
                    _ => f.write_str(": one startup, the cost of bringing a task back")?,
                }
                if burst_fleet.is_some() {
                    f.write_str(
                        "; no more than a burst like 90% of the recent ones needs \
                         from its start to be served within the wait",
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The full reason for a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Reason(pub Vec<Because>);

impl Reason {
    pub fn push(&mut self, step: Because) {
        self.0.push(step);
    }

    pub fn steps(&self) -> &[Because] {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for step in &self.0 {
            // The recommendation continues the backlog sentence.
            let separator = match step {
                Because::Recommendation { .. } => " ",
                _ => "; ",
            };
            if !first {
                f.write_str(separator)?;
            }
            first = false;
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

/// The engine's answer for one evaluation: what it found and did, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
}

/// What an evaluation came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The observation failed: the service is left as it is (fail static).
    Unobserved,
    /// The engine sized the service from an observation.
    Sized {
        /// The service's desired count as observed.
        current: u32,
        /// The desired count after this decision (`current` when holding).
        desired: u32,
        /// The backlog the policy counts.
        backlog: f64,
        /// The tasks needed within bounds, before damping.
        recommendation: u32,
    },
}

impl Decision {
    /// Hold, scale out or scale in: from the two counts, so it cannot
    /// disagree with them.
    pub fn action(&self) -> Action {
        match self.outcome {
            Outcome::Unobserved => Action::Hold,
            Outcome::Sized {
                current, desired, ..
            } => Action::of_change(current, desired),
        }
    }

    /// The service's desired count as observed; `None` when the observation
    /// failed.
    pub fn current(&self) -> Option<u32> {
        self.sized().map(|(current, _, _, _)| current)
    }

    /// The desired count after this decision; `None` when nothing could be
    /// observed.
    pub fn desired(&self) -> Option<u32> {
        self.sized().map(|(_, desired, _, _)| desired)
    }

    /// The backlog that was computed, when it could be.
    pub fn backlog(&self) -> Option<f64> {
        self.sized().map(|(_, _, backlog, _)| backlog)
    }

    /// The tasks needed within bounds, before damping, when sized.
    pub fn recommendation(&self) -> Option<u32> {
        self.sized().map(|(_, _, _, recommendation)| recommendation)
    }

    /// The desired count to write, if this decision changes it.
    pub fn change(&self) -> Option<u32> {
        match self.outcome {
            Outcome::Sized {
                current, desired, ..
            } if current != desired => Some(desired),
            _ => None,
        }
    }

    fn sized(&self) -> Option<(u32, u32, f64, u32)> {
        match self.outcome {
            Outcome::Unobserved => None,
            Outcome::Sized {
                current,
                desired,
                backlog,
                recommendation,
            } => Some((current, desired, backlog, recommendation)),
        }
    }
}

/// The JSON shape `explain --json` and `plan --json` print: flat, with
/// `null` counts when nothing was observed.
impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            action: Action,
            current: Option<u32>,
            desired: Option<u32>,
            #[serde(serialize_with = "optional_number")]
            backlog: Option<f64>,
            recommendation: Option<u32>,
            reason: &'a Reason,
        }
        Flat {
            action: self.action(),
            current: self.current(),
            desired: self.desired(),
            backlog: self.backlog(),
            recommendation: self.recommendation(),
            reason: &self.reason,
        }
        .serialize(serializer)
    }
}
