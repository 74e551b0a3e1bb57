//! The lease as a pure state machine. Time is wall-clock milliseconds since
//! the Unix epoch, passed in: the machine never reads a clock, so tests
//! drive it with any timeline.

use std::time::Duration;

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub duration: Duration,
    pub renew_every: Duration,
}

impl LeaseTiming {
    /// A holder stops writing this long before its lease expires unless it
    /// renews: one renewal period, which covers clock skew between replicas
    /// and the time a write already under way takes to land.
    pub fn safety_margin(&self) -> Duration {
        self.renew_every
    }

    /// Why these settings cannot keep a holder writing, if they cannot:
    /// after a renewal the holder must still have more than the margin left
    /// when the next renewal is due.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_every.is_zero() {
            return Err("the lease renewal period must be more than zero".into());
        }
        if self.duration <= self.renew_every * 2 {
            return Err(format!(
                "the lease duration ({}) must be more than twice the renewal period ({})",
                humantime::format_duration(self.duration),
                humantime::format_duration(self.renew_every)
            ));
        }
        Ok(())
    }

    fn duration_ms(&self) -> u64 {
        millis(self.duration)
    }

    fn margin_ms(&self) -> u64 {
        millis(self.safety_margin())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// This replica's part in the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not holding the lease; `holder` is who does, when known.
    Standby { holder: Option<String> },
    /// Holding the lease until `expires_at_ms`.
    Holder { expires_at_ms: u64 },
}

/// What the keeper should ask the store for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Take the lease if nobody holds it or it has expired, until
    /// `expires_at_ms`.
    Acquire { now_ms: u64, expires_at_ms: u64 },
    /// Extend our own lease to `expires_at_ms`.
    Renew { now_ms: u64, expires_at_ms: u64 },
}

/// What the store answered to an [`Attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The conditional write succeeded.
    Won,
    /// The condition failed: someone else holds an unexpired lease (named
    /// when the store could tell).
    HeldBy(Option<String>),
    /// No answer, or an error: nothing is known about the lease.
    Failed(String),
}

/// A change worth logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEvent {
    Acquired,
    Lost {
        holder: Option<String>,
    },
    /// Still holding on paper, but too close to expiry to keep writing.
    Suspended {
        reason: String,
    },
    HolderChanged {
        holder: Option<String>,
    },
}

/// One replica's view of the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    timing: LeaseTiming,
    role: Role,
    /// Whether the last answer left this replica writing, to report the
    /// moment that stops.
    writing: bool,
}

impl Lease {
    pub fn new(timing: LeaseTiming) -> Lease {
        Lease {
            timing,
            role: Role::Standby { holder: None },
            writing: false,
        }
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// Until when (wall-clock ms) this replica may write: the lease's
    /// expiry less the safety margin; 0 when it does not hold the lease.
    pub fn writable_until_ms(&self) -> u64 {
        match self.role {
            Role::Holder { expires_at_ms } => expires_at_ms.saturating_sub(self.timing.margin_ms()),
            Role::Standby { .. } => 0,
        }
    }

    /// Whether this replica may write at `now_ms`.
    pub fn may_write(&self, now_ms: u64) -> bool {
        now_ms < self.writable_until_ms()
    }

    /// The store call to make at `now_ms`.
    pub fn attempt(&self, now_ms: u64) -> Attempt {
        let expires_at_ms = now_ms.saturating_add(self.timing.duration_ms());
        match self.role {
            // Past our own expiry, someone else may already hold it: a renew
            // (conditional on being the holder) would still succeed in the
            // store if nobody took over, which is exactly right, so a holder
            // always renews.
            Role::Holder { .. } => Attempt::Renew {
                now_ms,
                expires_at_ms,
            },
            Role::Standby { .. } => Attempt::Acquire {
                now_ms,
                expires_at_ms,
            },
        }
    }

    /// Apply the store's answer to `attempt`; `now_ms` is when the answer
    /// came. Returns what changed.
    pub fn apply(
        &mut self,
        attempt: Attempt,
        outcome: StoreOutcome,
        now_ms: u64,
    ) -> Vec<LeaseEvent> {
        let was_writing = self.writing;
        let mut events = Vec::new();
        match (attempt, outcome) {
            (
                Attempt::Acquire { expires_at_ms, .. } | Attempt::Renew { expires_at_ms, .. },
                StoreOutcome::Won,
            ) => {
                if !matches!(self.role, Role::Holder { .. }) {
                    events.push(LeaseEvent::Acquired);
                }
                // The expiry counts from before the call, so a slow answer
                // only shortens our own view of the lease.
                self.role = Role::Holder { expires_at_ms };
            }
            (_, StoreOutcome::HeldBy(holder)) => {
                match &self.role {
                    Role::Holder { .. } => events.push(LeaseEvent::Lost {
                        holder: holder.clone(),
                    }),
                    Role::Standby { holder: known } if *known != holder => {
                        events.push(LeaseEvent::HolderChanged {
                            holder: holder.clone(),
                        })
                    }
                    Role::Standby { .. } => {}
                }
                self.role = Role::Standby { holder };
            }
            (_, StoreOutcome::Failed(reason)) => {
                // Keep the role: a holder keeps writing until its margin
                // runs out, a standby keeps waiting.
                self.writing = self.may_write(now_ms);
                if was_writing && !self.writing {
                    events.push(LeaseEvent::Suspended { reason });
                }
                return events;
            }
        }
        self.writing = self.may_write(now_ms);
        if was_writing && !self.writing && events.is_empty() {
            events.push(LeaseEvent::Suspended {
                reason: "the renewed lease is already within its safety margin".into(),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    fn timing() -> LeaseTiming {
        LeaseTiming {
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn holder(lease: &Lease) -> Option<&str> {
        match lease.role() {
            Role::Standby { holder } => holder.as_deref(),
            Role::Holder { .. } => Some("me"),
        }
    }

    #[test]
    fn settings_must_leave_room_for_a_renewal() {
        assert!(timing().validate().is_ok());
        let tight = LeaseTiming {
            duration: Duration::from_secs(10),
            renew_every: Duration::from_secs(5),
        };
        assert!(tight.validate().unwrap_err().contains("twice"));
        let zero = LeaseTiming {
            duration: Duration::from_secs(10),
            renew_every: Duration::ZERO,
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn a_standby_acquires_then_renews_and_writes_until_the_margin() {
        let mut lease = Lease::new(timing());
        assert!(!lease.may_write(0));
        let attempt = lease.attempt(100 * S);
        assert_eq!(
            attempt,
            Attempt::Acquire {
                now_ms: 100 * S,
                expires_at_ms: 115 * S
            }
        );
        let events = lease.apply(attempt, StoreOutcome::Won, 100 * S + 200);
        assert_eq!(events, vec![LeaseEvent::Acquired]);
        assert!(lease.may_write(101 * S));
        // Writable until expiry less the margin (one renewal period).
        assert_eq!(lease.writable_until_ms(), 110 * S);
        assert!(lease.may_write(110 * S - 1));
        assert!(!lease.may_write(110 * S));

        let renew = lease.attempt(105 * S);
        assert!(matches!(renew, Attempt::Renew { expires_at_ms, .. } if expires_at_ms == 120 * S));
        assert!(lease.apply(renew, StoreOutcome::Won, 105 * S).is_empty());
        assert!(lease.may_write(114 * S));
    }

    #[test]
    fn failed_renewals_stop_writes_a_margin_before_expiry() {
        let mut lease = Lease::new(timing());
        let attempt = lease.attempt(0);
        lease.apply(attempt, StoreOutcome::Won, 0);
        // The store does not answer at 5 s: still within the lease.
        let renew = lease.attempt(5 * S);
        assert!(lease
            .apply(renew, StoreOutcome::Failed("timeout".into()), 6 * S)
            .is_empty());
        assert!(lease.may_write(6 * S));
        // Nor at 10 s: the margin is reached, writes stop, the role stays.
        let renew = lease.attempt(10 * S);
        let events = lease.apply(renew, StoreOutcome::Failed("timeout".into()), 10 * S);
        assert_eq!(
            events,
            vec![LeaseEvent::Suspended {
                reason: "timeout".into()
            }]
        );
        assert!(!lease.may_write(10 * S));
        assert!(matches!(lease.role(), Role::Holder { .. }));
        // A late renewal that nobody contested brings writes back.
        let renew = lease.attempt(12 * S);
        assert_eq!(lease.apply(renew, StoreOutcome::Won, 12 * S), vec![]);
        assert!(lease.may_write(13 * S));
    }

    #[test]
    fn losing_the_lease_stops_writes_at_once() {
        let mut lease = Lease::new(timing());
        let attempt = lease.attempt(0);
        lease.apply(attempt, StoreOutcome::Won, 0);
        let renew = lease.attempt(5 * S);
        let events = lease.apply(renew, StoreOutcome::HeldBy(Some("b".into())), 5 * S);
        assert_eq!(
            events,
            vec![LeaseEvent::Lost {
                holder: Some("b".into())
            }]
        );
        assert!(!lease.may_write(5 * S));
        assert_eq!(holder(&lease), Some("b"));
        assert!(matches!(lease.attempt(6 * S), Attempt::Acquire { .. }));
    }

    #[test]
    fn a_standby_reports_holder_changes_once() {
        let mut lease = Lease::new(timing());
        let a = lease.attempt(0);
        let events = lease.apply(a, StoreOutcome::HeldBy(Some("a".into())), 0);
        assert_eq!(
            events,
            vec![LeaseEvent::HolderChanged {
                holder: Some("a".into())
            }]
        );
        let a = lease.attempt(5 * S);
        assert!(lease
            .apply(a, StoreOutcome::HeldBy(Some("a".into())), 5 * S)
            .is_empty());
        // A standby whose store fails stays a standby and never writes.
        let a = lease.attempt(10 * S);
        assert!(lease
            .apply(a, StoreOutcome::Failed("down".into()), 10 * S)
            .is_empty());
        assert!(!lease.may_write(10 * S));
        assert_eq!(holder(&lease), Some("a"));
    }

    #[test]
    fn a_slow_acquire_counts_the_lease_from_before_the_call() {
        let mut lease = Lease::new(timing());
        let attempt = lease.attempt(0);
        // The answer took 12 s: the lease (from 0) has only 3 s left, inside
        // the margin, so it is held but not writable.
        let events = lease.apply(attempt, StoreOutcome::Won, 12 * S);
        assert_eq!(events, vec![LeaseEvent::Acquired]);
        assert!(!lease.may_write(12 * S));
    }
}
