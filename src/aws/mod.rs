//! The AWS side of the ports: SQS queue depths, ECS service counts and
//! desired-count updates, CloudWatch metrics.
//!
//! - `config.rs`: the SDK configuration, with explicit timeouts and retries.
//! - `classify.rs`: SDK errors to [`crate::ports::PortError`] kinds.
//! - `rate_limit.rs`: the client-side token bucket for ECS quotas.
//! - `retry.rs`: our own retries (backoff, full jitter, each attempt under
//!   the rate limiter) for calls that must stay under a limit.
//! - `calls.rs`: call counters by operation and outcome.
//! - `sqs.rs`, `ecs.rs`, `cloudwatch.rs`: the controller's adapters.
//! - `dynamodb.rs`: [`DynamoLeaseStore`], the lease store of `lease/`.
//! - `trace_export.rs`: [`SentMessages`], a queue's sent messages per
//!   minute from CloudWatch, which `trace_export` lays out as a trace.
//!
//! Every adapter is built from one SDK configuration (`config.rs`), so each
//! has its timeouts and retries; `aws/` depends on the ports it implements
//! (`ports`, `lease`), never the reverse.
//! - `clients.rs`: [`AwsClients`], one set of adapters per AWS scope
//!   (region, role to assume), limiters shared per (account, region).
//!
//! [`AwsPorts::connect`] builds all of them from one SDK configuration.

mod calls;
mod classify;
mod clients;
mod cloudwatch;
mod config;
mod dynamodb;
mod ecs;
mod rate_limit;
mod retry;
mod sqs;
mod trace_export;

use std::sync::Arc;

pub use calls::{ApiCalls, CallListener, Outcome};
pub use clients::{AwsClients, EcsLimits, LimitKey, SESSION_NAME};
pub use cloudwatch::{metric_data, CloudWatchPublisher, POLICY_DIMENSION, PUT_METRIC_DATA_LIMIT};
pub use config::{configure, load_sdk_config, AwsSettings};
pub use dynamodb::DynamoLeaseStore;
pub use ecs::{deployment_in_progress, service_counts, EcsServices};
pub use rate_limit::RateLimiter;
pub use retry::{retryable, with_retries, Backoff};
pub use sqs::SqsQueues;
pub use trace_export::{SentMessages, SentMessagesError};

use aws_config::SdkConfig;

use crate::ports::Ports;

/// Every AWS adapter of one controller, sharing one SDK configuration and
/// one set of call counters.
#[derive(Clone)]
pub struct AwsPorts {
    pub sqs: Arc<SqsQueues>,
    pub ecs: Arc<EcsServices>,
    pub cloudwatch: Option<Arc<CloudWatchPublisher>>,
    pub calls: Arc<ApiCalls>,
}

impl AwsPorts {
    /// Clients for `config`; CloudWatch only when a namespace is given.
    pub fn new(config: &SdkConfig, cloudwatch_namespace: Option<String>) -> AwsPorts {
        AwsPorts::with_calls(config, cloudwatch_namespace, Arc::new(ApiCalls::new()))
    }

    /// As [`AwsPorts::new`], recording calls in `calls` (which may carry a
    /// listener, e.g. the Prometheus metrics).
    pub fn with_calls(
        config: &SdkConfig,
        cloudwatch_namespace: Option<String>,
        calls: Arc<ApiCalls>,
    ) -> AwsPorts {
        let sqs = SqsQueues::new(aws_sdk_sqs::Client::new(config), calls.clone());
        let ecs = EcsServices::new(aws_sdk_ecs::Client::new(config), calls.clone());
        let cloudwatch = cloudwatch_namespace.map(|namespace| {
            Arc::new(CloudWatchPublisher::new(
                aws_sdk_cloudwatch::Client::new(config),
                namespace,
                calls.clone(),
            ))
        });
        AwsPorts {
            sqs: Arc::new(sqs),
            ecs: Arc::new(ecs),
            cloudwatch,
            calls,
        }
    }

    /// Load the SDK configuration for `settings`, then build the clients.
    pub async fn connect(settings: &AwsSettings, cloudwatch_namespace: Option<String>) -> AwsPorts {
        AwsPorts::new(&load_sdk_config(settings).await, cloudwatch_namespace)
    }

    /// The adapters as the controller's ports.
    pub fn ports(&self) -> Ports {
        Ports {
            queues: self.sqs.clone(),
            services: self.ecs.clone(),
            scaler: self.ecs.clone(),
            metrics: self
                .cloudwatch
                .clone()
                .map(|publisher| publisher as Arc<dyn crate::ports::MetricsPublisher>),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_config::BehaviorVersion;
    use aws_sdk_sqs::config::Credentials;

    use super::*;

    /// Every adapter, the controller's and the lease's and the trace
    /// export's, is built from the one SDK configuration and so has its
    /// timeouts and retries: none can hang on an endpoint that never
    /// answers.
    #[tokio::test]
    async fn every_adapter_has_the_shared_timeouts_and_retries() {
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            connect_timeout: std::time::Duration::from_millis(1100),
            attempt_timeout: std::time::Duration::from_millis(2200),
            operation_timeout: std::time::Duration::from_millis(7700),
            max_attempts: 4,
            ..AwsSettings::default()
        };
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("id", "secret", None, None, "test"));
        let config = configure(loader, &settings).load().await;
        let ports = AwsPorts::new(&config, Some("ns".into()));
        let lease = DynamoLeaseStore::from_config(&config, "table", "lease");
        let sent = SentMessages::new(&config);

        let expected = |timeouts, retries| {
            config::tests::assert_bounded_and_retried(timeouts, retries, &settings)
        };
        let sqs = ports.sqs.client().config();
        expected(sqs.timeout_config(), sqs.retry_config());
        let ecs = ports.ecs.client().config();
        expected(ecs.timeout_config(), ecs.retry_config());
        let cloudwatch = ports
            .cloudwatch
            .as_ref()
            .expect("a namespace")
            .client()
            .config();
        expected(cloudwatch.timeout_config(), cloudwatch.retry_config());
        let dynamodb = lease.client().config();
        expected(dynamodb.timeout_config(), dynamodb.retry_config());
        let metrics = sent.client().config();
        expected(metrics.timeout_config(), metrics.retry_config());
    }
}
