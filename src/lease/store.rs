//! Where the lease lives: the [`LeaseStore`] port. Its DynamoDB adapter is
//! `crate::aws::DynamoLeaseStore`, built from the SDK configuration every
//! AWS adapter shares; `lease/` never names AWS, so `aws/` can implement
//! this port without an import cycle.

use std::future::Future;
use std::pin::Pin;

use super::machine::{Attempt, StoreOutcome};

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LeaseStoreError>> + Send + 'a>>;

/// A lease store call failed; nothing is known about the lease.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on lease table {table}: {message}")]
pub struct LeaseStoreError {
    pub operation: &'static str,
    pub table: String,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The lease item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub expires_at_ms: u64,
    pub version: u64,
}

/// Conditional reads and writes of one lease.
pub trait LeaseStore: Send + Sync {
    /// Make `attempt` for `replica`: `Won` when the conditional write
    /// succeeded, `HeldBy` when its condition failed.
    fn attempt<'a>(&'a self, replica: &'a str, attempt: Attempt) -> StoreFuture<'a, StoreOutcome>;

    /// Give the lease up if `replica` still holds it.
    fn release<'a>(&'a self, replica: &'a str) -> StoreFuture<'a, ()>;

    /// The lease item, if there is one.
    fn read(&self) -> StoreFuture<'_, Option<LeaseRecord>>;
}
