//! Leader election for two (or more) replicas through a lease in DynamoDB.
//!
//! Opt-in with `run --lease-table`. Only the replica holding the lease
//! writes desired counts; the others observe and decide as in dry-run, and
//! take over once the holder's lease has expired.
//!
//! - `machine.rs`: the lease as a pure state machine over wall-clock
//!   milliseconds (no I/O, no clock reads), unit-tested.
//! - `gate.rs`: the cheap shared flag the controller checks right before
//!   each `UpdateService`, and the holder's identity for logs and `/readyz`.
//! - `store.rs`: the [`LeaseStore`] port; its DynamoDB adapter is
//!   `crate::aws::DynamoLeaseStore` (`aws/` depends on `lease/`, never the
//!   other way).
//! - `keeper.rs`: the task that drives the machine against the store.
//! - `running.rs`: the keeper's lifecycle beside the controller: start from
//!   [`LeaseSettings`] (what `run`'s options become), stop and release.
//! - `replica.rs`: this replica's default identity.
//!
//! Clock assumption: replicas compare expiry times written by each other's
//! wall clocks, so their clocks must agree to within the safety margin
//! (one renewal period). A holder stops writing a margin before its own
//! lease expires if it could not renew; a standby takes over only once the
//! lease has expired by its own clock.

mod gate;
mod keeper;
mod machine;
mod replica;
mod running;
mod store;

pub use gate::{LeaseReport, WriteGate};
pub use keeper::LeaseKeeper;
pub use machine::{Attempt, Lease, LeaseEvent, LeaseTiming, Role, StoreOutcome};
pub use replica::default_replica_id;
pub use running::{LeaseSettings, RunningLease};
pub use store::{LeaseRecord, LeaseStore, LeaseStoreError, StoreFuture};
