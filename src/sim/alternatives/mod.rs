//! What a team would run instead of backlog-scaler, as simulated
//! controllers: a fixed fleet, a naive proportional rule, KEDA's SQS scaler
//! driving a Kubernetes HPA, and AWS target tracking on backlog per task.
//!
//! Each follows its vendor's documented rules (`docs/simulation.md` lists
//! them and their sources) and has one knob. They implement
//! [`Controller`] and run in the same loop as our engine, but share nothing
//! with `engine/`: they are the yardstick, not the product.
//!
//! - `fixed.rs`: N tasks, always.
//! - `naive.rs`: `ceil(backlog / T)` every 15 s, undamped.
//! - `keda_hpa.rs`: KEDA `queueLength` T with the autoscaling/v2 defaults.
//! - `aws_target_tracking.rs`: alarms on `BacklogPerTask` against T.

mod aws_target_tracking;
mod fixed;
mod keda_hpa;
mod naive;

use std::fmt;
use std::time::Duration;

use super::controller::{Controller, Poll};
use crate::engine::Action;

pub use aws_target_tracking::AwsTargetTracking;
pub use fixed::Fixed;
pub use keda_hpa::KedaHpa;
pub use naive::Naive;

/// The alternatives, in the order tables list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Fixed,
    Naive,
    KedaHpa,
    AwsTargetTracking,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Fixed,
        Kind::Naive,
        Kind::KedaHpa,
        Kind::AwsTargetTracking,
    ];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fixed => "fixed",
            Kind::Naive => "naive",
            Kind::KedaHpa => "keda-hpa",
            Kind::AwsTargetTracking => "aws-target-tracking",
        }
    }

    /// What the knob means, for help and errors.
    pub fn knob(self) -> &'static str {
        match self {
            Kind::Fixed => "N, a whole number of tasks",
            Kind::Naive | Kind::KedaHpa | Kind::AwsTargetTracking => {
                "T, messages per task (a number above 0)"
            }
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The task bounds every alternative clamps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { min: 1, max: 300 }
    }
}

impl Bounds {
    pub fn clamp(self, count: u32) -> u32 {
        count.clamp(self.min, self.max)
    }
}

/// `ceil(numerator / t)` as a task count, saturating.
fn ceil_div(numerator: u64, t: f64) -> u32 {
    let value = (numerator as f64 / t).ceil();
    if value >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        value as u32
    }
}

/// A parsed `--alternative NAME=KNOB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlternativeSpec {
    pub kind: Kind,
    pub knob: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlternativeError {
    #[error("--alternative must look like NAME=KNOB (fixed=N, naive=T, keda-hpa=T, aws-target-tracking=T), found `{0}`")]
    Syntax(String),
    #[error("unknown alternative `{0}`; the alternatives are fixed, naive, keda-hpa, aws-target-tracking")]
    UnknownName(String),
    #[error("--alternative {kind}={value}: the knob must be {}", kind.knob())]
    BadKnob { kind: Kind, value: String },
    #[error("--min-tasks {min} is more than --max-tasks {max}")]
    BadBounds { min: u32, max: u32 },
    #[error("aws-target-tracking needs --min-tasks of at least 1 (backlog per task is undefined at zero tasks)")]
    TargetTrackingAtZero,
}

impl AlternativeSpec {
    pub fn parse(text: &str) -> Result<AlternativeSpec, AlternativeError> {
        let (name, knob) = text
            .split_once('=')
            .ok_or_else(|| AlternativeError::Syntax(text.to_owned()))?;
        let kind = Kind::from_name(name.trim())
            .ok_or_else(|| AlternativeError::UnknownName(name.trim().to_owned()))?;
        let bad = || AlternativeError::BadKnob {
            kind,
            value: knob.trim().to_owned(),
        };
        let value: f64 = knob.trim().parse().map_err(|_| bad())?;
        let fits = match kind {
            Kind::Fixed => (0.0..=f64::from(u32::MAX)).contains(&value) && value.fract() == 0.0,
            _ => value.is_finite() && value > 0.0,
        };
        if !fits {
            return Err(bad());
        }
        Ok(AlternativeSpec { kind, knob: value })
    }

    /// The controller for this setting within `bounds`.
    pub fn controller(self, bounds: Bounds) -> Result<Alternative, AlternativeError> {
        Alternative::new(self.kind, self.knob, bounds)
    }
}

/// One alternative, tuned to one knob value, as a [`Controller`].
#[derive(Debug, Clone)]
pub enum Alternative {
    Fixed(Fixed),
    Naive(Naive),
    KedaHpa(KedaHpa),
    AwsTargetTracking(AwsTargetTracking),
}

impl Alternative {
    pub fn new(kind: Kind, knob: f64, bounds: Bounds) -> Result<Alternative, AlternativeError> {
        if bounds.min > bounds.max {
            return Err(AlternativeError::BadBounds {
                min: bounds.min,
                max: bounds.max,
            });
        }
        Ok(match kind {
            Kind::Fixed => Alternative::Fixed(Fixed::new(knob as u32, bounds)),
            Kind::Naive => Alternative::Naive(Naive::new(knob, bounds)),
            Kind::KedaHpa => Alternative::KedaHpa(KedaHpa::new(knob, bounds)),
            Kind::AwsTargetTracking => {
                if bounds.min == 0 {
                    return Err(AlternativeError::TargetTrackingAtZero);
                }
                Alternative::AwsTargetTracking(AwsTargetTracking::new(knob, bounds))
            }
        })
    }

    fn bounds(&self) -> Bounds {
        match self {
            Alternative::Fixed(c) => c.bounds,
            Alternative::Naive(c) => c.bounds,
            Alternative::KedaHpa(c) => c.bounds,
            Alternative::AwsTargetTracking(c) => c.bounds,
        }
    }
}

impl Controller for Alternative {
    fn poll_interval(&self) -> Duration {
        match self {
            Alternative::Fixed(_) => fixed::POLL,
            Alternative::Naive(_) => naive::POLL,
            Alternative::KedaHpa(_) => keda_hpa::POLL,
            Alternative::AwsTargetTracking(_) => aws_target_tracking::POLL,
        }
    }

    fn initial_tasks(&self) -> u32 {
        self.bounds().min
    }

    fn desired(&mut self, poll: &Poll, now: u64) -> u32 {
        match self {
            Alternative::Fixed(c) => c.desired(poll),
            Alternative::Naive(c) => c.desired(poll),
            Alternative::KedaHpa(c) => c.desired(poll, now),
            Alternative::AwsTargetTracking(c) => c.desired(poll, now),
        }
    }

    fn explain(&self) -> (Action, String) {
        match self {
            Alternative::Fixed(c) => c.explain(),
            Alternative::Naive(c) => c.explain(),
            Alternative::KedaHpa(c) => c.explain(),
            Alternative::AwsTargetTracking(c) => c.explain(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            AlternativeSpec::parse("keda-hpa=32.8").unwrap(),
            AlternativeSpec {
                kind: Kind::KedaHpa,
                knob: 32.8
            }
        );
        assert_eq!(AlternativeSpec::parse("fixed=42").unwrap().knob, 42.0);
    }

    #[test]
    fn bad_specs_say_why() {
        let err = |s: &str| AlternativeSpec::parse(s).unwrap_err().to_string();
        assert!(err("keda-hpa").starts_with("--alternative must look like NAME=KNOB"));
        assert!(err("hpa=3").starts_with("unknown alternative `hpa`"));
        assert_eq!(
            err("fixed=2.5"),
            "--alternative fixed=2.5: the knob must be N, a whole number of tasks"
        );
        assert_eq!(
            err("naive=0"),
            "--alternative naive=0: the knob must be T, messages per task (a number above 0)"
        );
        assert!(err("aws-target-tracking=abc").contains("the knob must be T"));
        assert!(err("naive=inf").contains("the knob must be T"));
    }

    #[test]
    fn bounds_are_checked() {
        let bounds = Bounds { min: 0, max: 5 };
        assert_eq!(
            Alternative::new(Kind::AwsTargetTracking, 5.0, bounds)
                .unwrap_err()
                .to_string(),
            "aws-target-tracking needs --min-tasks of at least 1 (backlog per task is undefined at zero tasks)"
        );
        assert!(Alternative::new(Kind::Naive, 5.0, Bounds { min: 6, max: 5 }).is_err());
    }
}
