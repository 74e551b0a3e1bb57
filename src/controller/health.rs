//! A policy's health across evaluations, so a failure's cause is logged once
//! when it starts or changes, not at every retry.

use crate::ports::{error_chain, ErrorKind, PortError};

/// Whether a policy's last evaluation worked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Healthy,
    Failing {
        kind: ErrorKind,
        /// The failure's top-level message: a change here is a new cause.
        cause: String,
        consecutive: u32,
    },
}

/// What changed with an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Same as before: nothing to log.
    Steady,
    /// Started failing, or failing for a new reason.
    Failing { kind: ErrorKind, detail: String },
    /// Working again after `failures` failed evaluations.
    Recovered { failures: u32 },
}

impl Health {
    /// Failed evaluations in a row.
    pub fn consecutive_failures(&self) -> u32 {
        match self {
            Health::Healthy => 0,
            Health::Failing { consecutive, .. } => *consecutive,
        }
    }

    /// Update with an evaluation's error (or success) and say what changed.
    pub fn update(&mut self, error: Option<&PortError>) -> Transition {
        match (error, &mut *self) {
            (None, Health::Healthy) => Transition::Steady,
            (None, Health::Failing { consecutive, .. }) => {
                let failures = *consecutive;
                *self = Health::Healthy;
                Transition::Recovered { failures }
            }
            (
                Some(error),
                Health::Failing {
                    kind,
                    cause,
                    consecutive,
                },
            ) if *kind == error.kind() && *cause == error.to_string() => {
                *consecutive = consecutive.saturating_add(1);
                Transition::Steady
            }
            (Some(error), _) => {
                let consecutive = self.consecutive_failures().saturating_add(1);
                *self = Health::Failing {
                    kind: error.kind(),
                    cause: error.to_string(),
                    consecutive,
                };
                Transition::Failing {
                    kind: error.kind(),
                    detail: error_chain(error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ErrorKind) -> PortError {
        PortError::new(kind, "GetQueueAttributes", "boom")
    }

    #[test]
    fn a_cause_is_reported_once_until_it_changes_or_ends() {
        let mut health = Health::default();
        assert_eq!(health.update(None), Transition::Steady);
        assert!(matches!(
            health.update(Some(&error(ErrorKind::Throttled))),
            Transition::Failing {
                kind: ErrorKind::Throttled,
                ..
            }
        ));
        assert_eq!(
            health.update(Some(&error(ErrorKind::Throttled))),
            Transition::Steady
        );
        assert_eq!(health.consecutive_failures(), 2);
        assert!(matches!(
            health.update(Some(&error(ErrorKind::Unreachable))),
            Transition::Failing {
                kind: ErrorKind::Unreachable,
                ..
            }
        ));
        assert_eq!(health.consecutive_failures(), 3);
        assert_eq!(health.update(None), Transition::Recovered { failures: 3 });
        assert_eq!(health.consecutive_failures(), 0);
    }
}
