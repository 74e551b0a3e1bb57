//! The AWS side of the ports: SQS queue depths, ECS service counts and
//! desired-count updates, CloudWatch metrics.
//!
//! - `config.rs`: the SDK configuration, with explicit timeouts and retries.
//! - `classify.rs`: SDK errors to [`crate::ports::PortError`] kinds.
//! - `rate_limit.rs`: the client-side token bucket for ECS quotas.
//! - `retry.rs`: our own retries (backoff, full jitter, each attempt under
//!   the rate limiter) for calls that must stay under a limit.
//! - `calls.rs`: call counters by operation and outcome.
//! - `sqs.rs`, `ecs.rs`, `cloudwatch.rs`: the adapters.
//! - `fleet.rs`: [`AwsFleet`], one set of adapters per policy target
//!   (region, role to assume), limiters shared per (account, region).
//!
//! [`AwsPorts::connect`] builds all of them from one SDK configuration.

mod calls;
mod classify;
mod cloudwatch;
mod config;
mod ecs;
mod fleet;
mod rate_limit;
mod retry;
mod sqs;

use std::sync::Arc;

pub use calls::{ApiCalls, CallListener, Outcome};
pub use cloudwatch::{metric_data, CloudWatchPublisher, POLICY_DIMENSION, PUT_METRIC_DATA_LIMIT};
pub use config::{configure, load_sdk_config, AwsSettings};
pub use ecs::{deployment_in_progress, service_counts, EcsServices};
pub use fleet::{AwsFleet, EcsLimits, LimitKey, SESSION_NAME};
pub use rate_limit::RateLimiter;
pub use retry::{retryable, with_retries, Backoff};
pub use sqs::SqsQueues;

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
