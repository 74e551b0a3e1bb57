//! The task that keeps the lease: every renewal period it asks the store to
//! acquire or renew, feeds the answer to the [`Lease`] machine, and opens or
//! closes the [`WriteGate`]. On shutdown it closes the gate and releases the
//! lease so the other replica takes over at once rather than at expiry.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::gate::{wall_now_ms, WriteGate};
use super::machine::{Lease, LeaseEvent, LeaseTiming, Role, StoreOutcome};
use super::store::LeaseStore;

/// Keeps one replica's lease; see the module docs.
pub struct LeaseKeeper {
    store: Arc<dyn LeaseStore>,
    gate: WriteGate,
    lease: Lease,
    /// The store's last failure, logged once per change rather than at
    /// every renewal period.
    failing: Option<String>,
}

impl LeaseKeeper {
    pub fn new(
        store: Arc<dyn LeaseStore>,
        replica: impl Into<String>,
        timing: LeaseTiming,
    ) -> Self {
        LeaseKeeper {
            store,
            gate: WriteGate::new(replica),
            lease: Lease::new(timing),
            failing: None,
        }
    }

    /// The gate the controller checks before writing.
    pub fn gate(&self) -> WriteGate {
        self.gate.clone()
    }

    /// One round: acquire or renew, then update the gate.
    pub async fn step(&mut self) {
        let timing = self.lease.timing();
        let replica = self.gate.replica().to_owned();
        let attempt = self.lease.attempt(wall_now_ms());
        // A call that outlasts a renewal period is as good as failed; the
        // next round tries again.
        let outcome =
            match tokio::time::timeout(timing.renew_every, self.store.attempt(&replica, attempt))
                .await
            {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => StoreOutcome::Failed(crate::ports::error_chain(&error)),
                Err(_) => StoreOutcome::Failed(format!(
                    "no answer within {}",
                    humantime::format_duration(timing.renew_every)
                )),
            };
        match (&outcome, &self.failing) {
            (StoreOutcome::Failed(reason), last) if last.as_ref() != Some(reason) => {
                tracing::warn!(replica = %replica, "cannot reach the lease: {reason}");
                self.failing = Some(reason.clone());
            }
            (StoreOutcome::Failed(_), _) => {}
            (_, Some(_)) => {
                tracing::info!(replica = %replica, "the lease is reachable again");
                self.failing = None;
            }
            (_, None) => {}
        }
        let events = self.lease.apply(attempt, outcome, wall_now_ms());
        self.gate.allow_until(self.lease.writable_until_ms());
        let holder = match self.lease.role() {
            Role::Holder { .. } => Some(replica.clone()),
            Role::Standby { holder } => holder.clone(),
        };
        self.gate.set_holder(holder.clone());
        let holder = holder.unwrap_or_else(|| "unknown".into());
        for event in events {
            match event {
                LeaseEvent::Acquired => tracing::info!(
                    replica = %replica,
                    holder = %holder,
                    "lease acquired: this replica now writes desired counts"
                ),
                LeaseEvent::Lost { .. } => tracing::warn!(
                    replica = %replica,
                    holder = %holder,
                    "lease lost to {holder}: standby, no more writes"
                ),
                LeaseEvent::Suspended { reason } => tracing::warn!(
                    replica = %replica,
                    holder = %holder,
                    "lease about to expire and not renewed ({reason}): writes stopped"
                ),
                LeaseEvent::HolderChanged { .. } => tracing::info!(
                    replica = %replica,
                    holder = %holder,
                    "standby: lease held by {holder}; observing without writing"
                ),
            }
        }
    }

    /// Keep the lease until `stop` is cancelled, then close the gate and
    /// release the lease.
    pub async fn run(mut self, stop: CancellationToken) {
        let renew_every = self.lease.timing().renew_every;
        loop {
            self.step().await;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(renew_every) => {}
            }
        }
        self.release().await;
    }

    /// Close the gate, then give the lease up if this replica holds it.
    pub async fn release(&mut self) {
        self.gate.allow_until(0);
        if !matches!(self.lease.role(), Role::Holder { .. }) {
            return;
        }
        let replica = self.gate.replica().to_owned();
        let call = self.store.release(&replica);
        match tokio::time::timeout(Duration::from_secs(2), call).await {
            Ok(Ok(())) => tracing::info!(replica = %replica, "lease released"),
            Ok(Err(error)) => tracing::warn!(
                replica = %replica,
                "could not release the lease; it expires by itself: {}",
                crate::ports::error_chain(&error)
            ),
            Err(_) => tracing::warn!(
                replica = %replica,
                "no answer releasing the lease; it expires by itself"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::lease::machine::Attempt;
    use crate::lease::store::{LeaseRecord, LeaseStoreError, StoreFuture};

    /// The store's conditions over one in-memory item; `down` makes every
    /// call fail.
    #[derive(Default)]
    struct MemoryStore {
        item: Mutex<Option<LeaseRecord>>,
        down: Mutex<bool>,
    }

    impl MemoryStore {
        fn check_up(&self) -> Result<(), LeaseStoreError> {
            if *self.down.lock().unwrap() {
                return Err(LeaseStoreError {
                    operation: "PutItem",
                    table: "t".into(),
                    message: "unreachable".into(),
                    source: None,
                });
            }
            Ok(())
        }
    }

    impl LeaseStore for MemoryStore {
        fn attempt<'a>(
            &'a self,
            replica: &'a str,
            attempt: Attempt,
        ) -> StoreFuture<'a, StoreOutcome> {
            Box::pin(async move {
                self.check_up()?;
                let mut item = self.item.lock().unwrap();
                let won = match (attempt, item.as_ref()) {
                    (Attempt::Acquire { now_ms, .. }, Some(held)) => {
                        held.expires_at_ms < now_ms || held.holder == replica
                    }
                    (Attempt::Acquire { .. }, None) => true,
                    (Attempt::Renew { .. }, held) => held.is_some_and(|h| h.holder == replica),
                };
                if !won {
                    return Ok(StoreOutcome::HeldBy(
                        item.as_ref().map(|h| h.holder.clone()),
                    ));
                }
                let (Attempt::Acquire { expires_at_ms, .. } | Attempt::Renew { expires_at_ms, .. }) =
                    attempt;
                *item = Some(LeaseRecord {
                    holder: replica.into(),
                    expires_at_ms,
                    version: 0,
                });
                Ok(StoreOutcome::Won)
            })
        }

        fn release<'a>(&'a self, replica: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                self.check_up()?;
                let mut item = self.item.lock().unwrap();
                if item.as_ref().is_some_and(|h| h.holder == replica) {
                    *item = None;
                }
                Ok(())
            })
        }

        fn read(&self) -> StoreFuture<'_, Option<LeaseRecord>> {
            Box::pin(async move { Ok(self.item.lock().unwrap().clone()) })
        }
    }

    fn timing() -> LeaseTiming {
        LeaseTiming {
            duration: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn one_keeper_opens_its_gate_the_other_learns_the_holder() {
        let store = Arc::new(MemoryStore::default());
        let mut a = LeaseKeeper::new(store.clone(), "a", timing());
        let mut b = LeaseKeeper::new(store.clone(), "b", timing());
        a.step().await;
        b.step().await;
        assert!(a.gate().may_write());
        assert!(!b.gate().may_write());
        assert_eq!(b.gate().holder().as_deref(), Some("a"));
        assert_eq!(a.gate().report().role, "holder");

        // The store goes away: a keeps writing (its lease has 20 s of
        // writable time left), b stays a standby.
        *store.down.lock().unwrap() = true;
        a.step().await;
        b.step().await;
        assert!(a.gate().may_write());
        assert!(!b.gate().may_write());
        *store.down.lock().unwrap() = false;

        // a shuts down: its gate closes and the lease is free for b.
        a.release().await;
        assert!(!a.gate().may_write());
        assert_eq!(store.item.lock().unwrap().clone(), None);
        b.step().await;
        assert!(b.gate().may_write());
        assert_eq!(b.gate().holder().as_deref(), Some("b"));
        // a, back, finds b holding it.
        a.step().await;
        assert!(!a.gate().may_write());
        assert_eq!(a.gate().holder().as_deref(), Some("b"));
    }
}
