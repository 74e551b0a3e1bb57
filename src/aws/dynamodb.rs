//! The lease store ([`crate::lease::LeaseStore`]) in a DynamoDB table.
//!
//! Table schema: partition key `lease` (string), the lease's name. The item
//! holds `holder` (string, the replica id), `expires_at_ms` (number,
//! wall-clock milliseconds since the Unix epoch) and `version` (number: the
//! acquisition's wall-clock milliseconds, plus one per renewal, so a later
//! acquisition always has a larger version than an earlier one).
//!
//! The state machine that decides when to acquire, renew and release is in
//! `lease/`; this adapter only makes the conditional calls.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::lease::{Attempt, LeaseRecord, LeaseStore, LeaseStoreError, StoreFuture, StoreOutcome};

/// The lease in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoLeaseStore {
    client: Client,
    table: String,
    name: String,
}

const KEY: &str = "lease";

impl DynamoLeaseStore {
    /// The SDK client, for the test that every adapter has the shared
    /// timeouts and retries.
    #[cfg(test)]
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// The lease `name` in `table`, through a client of `config` (the
    /// SDK configuration of every adapter: its timeouts and retries).
    pub fn from_config(
        config: &SdkConfig,
        table: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        DynamoLeaseStore::new(Client::new(config), table, name)
    }

    /// The lease `name` in `table`.
    pub fn new(client: Client, table: impl Into<String>, name: impl Into<String>) -> Self {
        DynamoLeaseStore {
            client,
            table: table.into(),
            name: name.into(),
        }
    }

    fn key(&self) -> AttributeValue {
        AttributeValue::S(self.name.clone())
    }

    /// A conditional write's outcome: won, or held by whoever holds the
    /// lease now (its read is best effort), or the call's error.
    async fn settle<T, E, R>(
        &self,
        operation: &'static str,
        result: Result<T, SdkError<E, R>>,
    ) -> Result<StoreOutcome, LeaseStoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(StoreOutcome::Won),
            Err(error) if condition_failed(&error) => Ok(StoreOutcome::HeldBy(
                self.read().await.ok().flatten().map(|r| r.holder),
            )),
            Err(error) => Err(self.error(operation, error)),
        }
    }

    fn error<E, R>(&self, operation: &'static str, error: SdkError<E, R>) -> LeaseStoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let message = match error.as_service_error() {
            Some(service) => format!(
                "{}: {}",
                service.code().unwrap_or("error"),
                service.message().unwrap_or("no message")
            ),
            None => error.to_string(),
        };
        LeaseStoreError {
            operation,
            table: self.table.clone(),
            message,
            source: Some(Box::new(error)),
        }
    }

    async fn acquire(
        &self,
        replica: &str,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<StoreOutcome, LeaseStoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, self.key())
            .item("holder", AttributeValue::S(replica.to_owned()))
            .item("expires_at_ms", number(expires_at_ms))
            .item("version", number(now_ms))
            .condition_expression(
                "attribute_not_exists(#lease) OR #expires < :now OR #holder = :me",
            )
            .expression_attribute_names("#lease", KEY)
            .expression_attribute_names("#expires", "expires_at_ms")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":now", number(now_ms))
            .expression_attribute_values(":me", AttributeValue::S(replica.to_owned()))
            .send()
            .await;
        self.settle("PutItem", result).await
    }

    async fn renew(
        &self,
        replica: &str,
        expires_at_ms: u64,
    ) -> Result<StoreOutcome, LeaseStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, self.key())
            .update_expression("SET #expires = :expires ADD #version :one")
            .condition_expression("#holder = :me")
            .expression_attribute_names("#expires", "expires_at_ms")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":expires", number(expires_at_ms))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":me", AttributeValue::S(replica.to_owned()))
            .send()
            .await;
        self.settle("UpdateItem", result).await
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn condition_failed<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

fn parse_number(
    item: &std::collections::HashMap<String, AttributeValue>,
    name: &str,
) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

impl LeaseStore for DynamoLeaseStore {
    fn attempt<'a>(&'a self, replica: &'a str, attempt: Attempt) -> StoreFuture<'a, StoreOutcome> {
        Box::pin(async move {
            match attempt {
                Attempt::Acquire {
                    now_ms,
                    expires_at_ms,
                } => self.acquire(replica, now_ms, expires_at_ms).await,
                Attempt::Renew { expires_at_ms, .. } => self.renew(replica, expires_at_ms).await,
            }
        })
    }

    fn release<'a>(&'a self, replica: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(KEY, self.key())
                .condition_expression("#holder = :me")
                .expression_attribute_names("#holder", "holder")
                .expression_attribute_values(":me", AttributeValue::S(replica.to_owned()))
                .send()
                .await;
            match result {
                // Someone else took it already: nothing of ours to release.
                Err(error) if condition_failed(&error) => Ok(()),
                Err(error) => Err(self.error("DeleteItem", error)),
                Ok(_) => Ok(()),
            }
        })
    }

    fn read(&self) -> StoreFuture<'_, Option<LeaseRecord>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(KEY, self.key())
                .consistent_read(true)
                .send()
                .await
                .map_err(|error| self.error("GetItem", error))?;
            Ok(output.item.and_then(|item| {
                Some(LeaseRecord {
                    holder: item.get("holder")?.as_s().ok()?.clone(),
                    expires_at_ms: parse_number(&item, "expires_at_ms")?,
                    version: parse_number(&item, "version").unwrap_or(0),
                })
            }))
        })
    }
}
