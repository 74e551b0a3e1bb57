//! The lease's lifecycle beside the controller: [`RunningLease::start`]
//! builds the keeper from [`LeaseSettings`] and a store (the caller's
//! `aws::DynamoLeaseStore` in `run`), makes
//! the first attempt and leaves the keeper running;
//! [`RunningLease::stop`] ends it once the controller no longer writes, so
//! the keeper closes the gate and releases the lease and the other replica
//! takes over at once rather than at expiry.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::gate::WriteGate;
use super::keeper::LeaseKeeper;
use super::machine::LeaseTiming;
use super::store::LeaseStore;

/// How long [`RunningLease::stop`] waits for the keeper to release the
/// lease; past it the lease simply expires.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The lease options of `run`, as the CLI builds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The DynamoDB table (partition key `lease`, a string).
    pub table: String,
    /// The lease's key in the table: replicas that share it elect one
    /// writer.
    pub name: String,
    /// This replica's name in the lease and the logs.
    pub replica: String,
    pub timing: LeaseTiming,
}

/// The lease keeper running beside the controller.
pub struct RunningLease {
    gate: WriteGate,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningLease {
    /// Keep the lease of `settings` in `store` (the lease `settings.name`
    /// of table `settings.table`) until `stop` is cancelled (or
    /// [`RunningLease::stop`]).
    /// `announce` gets the write gate before the first attempt, so that
    /// `/readyz` reports the lease from the start and never lags the logs;
    /// the first attempt is made before returning, so the holder writes
    /// from its first evaluation and the logs say at once which replica is
    /// which.
    pub async fn start(
        settings: &LeaseSettings,
        store: Arc<dyn LeaseStore>,
        stop: CancellationToken,
        announce: impl FnOnce(&WriteGate),
    ) -> RunningLease {
        tracing::info!(
            replica = %settings.replica,
            lease_table = %settings.table,
            lease_name = %settings.name,
            lease_duration = %humantime::format_duration(settings.timing.duration),
            lease_renew_every = %humantime::format_duration(settings.timing.renew_every),
            "two-replica mode: only the lease holder writes desired counts"
        );
        let mut keeper = LeaseKeeper::new(store, settings.replica.clone(), settings.timing);
        let gate = keeper.gate();
        announce(&gate);
        keeper.step().await;
        let task = tokio::spawn(keeper.run(stop.clone()));
        RunningLease { gate, stop, task }
    }

    /// The gate the controller writes through.
    pub fn gate(&self) -> WriteGate {
        self.gate.clone()
    }

    /// After the controller has stopped writing: the keeper closes the gate
    /// and releases the lease (waited for at most [`STOP_WAIT`]).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(STOP_WAIT, self.task).await;
    }
}
