//! Ports: the few things the controller needs from the world, as small
//! traits. The AWS adapters in [`crate::aws`] implement them for production;
//! tests and tools implement them with fakes. Keeping the controller behind
//! these traits is what lets its loop be tested with paused time.
//!
//! The traits return boxed futures so that they can be held as
//! `Arc<dyn Trait>`: `async fn` in traits is not object safe yet.

mod error;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

pub use error::{error_chain, ErrorKind, ErrorSource, PortError};

use crate::engine::{QueueDepth, ServiceCounts};
use crate::policy::AwsScope;

/// The future every port method returns.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// Reads the three SQS counts of one queue.
pub trait QueueDepthReader: Send + Sync {
    /// `queue` is a queue name or a queue URL, exactly as the policy gives it.
    fn queue_depth<'a>(&'a self, queue: &'a str) -> PortFuture<'a, QueueDepth>;
}

/// Services per [`ServiceStateReader::services_state`] call that the ECS
/// adapter answers in one request: `DescribeServices`' limit. Evaluation
/// cycles batch their service reads by it.
pub const SERVICE_BATCH: usize = 10;

/// Reads an ECS service's desired, running and pending counts.
pub trait ServiceStateReader: Send + Sync {
    /// `cluster` and `service` are names or ARNs, as the policy gives them.
    fn service_state<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
    ) -> PortFuture<'a, ServiceCounts>;

    /// Several services of one cluster at once, each answer in the order of
    /// `services` (a missing service fails only its own answer). The
    /// default asks for one service after the other; the ECS adapter
    /// describes up to [`SERVICE_BATCH`] services per call.
    fn services_state<'a>(
        &'a self,
        cluster: &'a str,
        services: &'a [String],
    ) -> PortFuture<'a, Vec<Result<ServiceCounts, PortError>>> {
        Box::pin(async move {
            let mut answers = Vec::with_capacity(services.len());
            for service in services {
                answers.push(self.service_state(cluster, service).await);
            }
            Ok(answers)
        })
    }
}

/// Sets an ECS service's desired count, and nothing else about it.
pub trait DesiredCountWriter: Send + Sync {
    fn set_desired<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
        desired: u32,
    ) -> PortFuture<'a, ()>;
}

/// One policy's figures at one evaluation, for a metrics backend.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub policy: String,
    /// Wall-clock time of the observation.
    pub at: SystemTime,
    /// The backlog as the policy counts it (weights and in-flight included).
    pub backlog: f64,
    /// The service's desired count after this evaluation.
    pub desired: u32,
    pub running: u32,
}

impl MetricSample {
    /// Backlog per desired task, the figure the policy's target is set in;
    /// `None` at zero tasks, where it has no finite value.
    pub fn backlog_per_task(&self) -> Option<f64> {
        (self.desired > 0).then(|| self.backlog / f64::from(self.desired))
    }
}

/// Publishes metric samples somewhere (CloudWatch in production).
pub trait MetricsPublisher: Send + Sync {
    /// Publish every sample; implementations split into as few calls as
    /// their backend allows.
    fn publish<'a>(&'a self, samples: &'a [MetricSample]) -> PortFuture<'a, ()>;
}

/// The ports one controller (or one `plan`) works with.
#[derive(Clone)]
pub struct Ports {
    pub queues: Arc<dyn QueueDepthReader>,
    pub services: Arc<dyn ServiceStateReader>,
    pub scaler: Arc<dyn DesiredCountWriter>,
    /// `None` when no metrics backend is configured.
    pub metrics: Option<Arc<dyn MetricsPublisher>>,
}

/// Hands out the ports for a policy's [`AwsScope`] (region and role), so
/// one controller can serve several accounts and regions. Implementations
/// share one set of ports per target rather than building one per policy.
pub trait PortsSource: Send + Sync {
    fn ports_for<'a>(
        &'a self,
        target: &'a AwsScope,
    ) -> Pin<Box<dyn Future<Output = Ports> + Send + 'a>>;
}

/// One set of ports serves every target: fakes, the simulator, and a
/// controller that only ever uses its own region and credentials.
impl PortsSource for Ports {
    fn ports_for<'a>(
        &'a self,
        _target: &'a AwsScope,
    ) -> Pin<Box<dyn Future<Output = Ports> + Send + 'a>> {
        Box::pin(std::future::ready(self.clone()))
    }
}
