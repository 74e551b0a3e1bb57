//! A policy's current run of failed evaluations: its cause, so the cause is
//! logged once when it starts or changes (not at every retry), and its
//! length, which the error backoff reads. (Nothing to do with `/healthz`.)

use crate::ports::{error_chain, ErrorKind, PortError};

/// Whether a policy's last evaluation worked, and if not, since when and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FailureStreak {
    #[default]
    Working,
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

impl FailureStreak {
    /// Failed evaluations in a row.
    pub fn consecutive_failures(&self) -> u32 {
        match self {
            FailureStreak::Working => 0,
            FailureStreak::Failing { consecutive, .. } => *consecutive,
        }
    }

    /// Update with an evaluation's error (or success) and say what changed.
    pub fn update(&mut self, error: Option<&PortError>) -> Transition {
        match (error, &mut *self) {
            (None, FailureStreak::Working) => Transition::Steady,
            (None, FailureStreak::Failing { consecutive, .. }) => {
                let failures = *consecutive;
                *self = FailureStreak::Working;
                Transition::Recovered { failures }
            }
            (
                Some(error),
                FailureStreak::Failing {
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
                *self = FailureStreak::Failing {
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
        let mut streak = FailureStreak::default();
        assert_eq!(streak.update(None), Transition::Steady);
        assert!(matches!(
            streak.update(Some(&error(ErrorKind::Throttled))),
            Transition::Failing {
                kind: ErrorKind::Throttled,
                ..
            }
        ));
        assert_eq!(
            streak.update(Some(&error(ErrorKind::Throttled))),
            Transition::Steady
        );
        assert_eq!(streak.consecutive_failures(), 2);
        assert!(matches!(
            streak.update(Some(&error(ErrorKind::Unreachable))),
            Transition::Failing {
                kind: ErrorKind::Unreachable,
                ..
            }
        ));
        assert_eq!(streak.consecutive_failures(), 3);
        assert_eq!(streak.update(None), Transition::Recovered { failures: 3 });
        assert_eq!(streak.consecutive_failures(), 0);
    }
}
