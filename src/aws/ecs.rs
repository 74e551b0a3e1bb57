//! ECS: reading services' counts and setting a service's desired count.
//!
//! Reads are `DescribeServices` calls of up to [`SERVICE_BATCH`] services,
//! the API's limit, under the describe rate limit: an evaluation cycle
//! gathers the services its policies need and reads them through
//! [`ServiceStateReader::services_state`], so the call rate grows with the
//! number of clusters and batches, not of policies. Writes are
//! `UpdateService` with only `desiredCount`, under their own rate limit.
//! Both operations are retried by `retry.rs` (not the SDK), so that every
//! attempt is under its limit.

use std::sync::Arc;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::update_service::{UpdateServiceError, UpdateServiceOutput};
use aws_sdk_ecs::types::{Deployment, Service};
use aws_sdk_ecs::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tracing::Instrument;

use super::calls::ApiCalls;
use super::classify::{classify_kind, error_code, error_source, port_error, SERVICE_MISSING_CODES};
use super::rate_limit::RateLimiter;
use super::retry::{with_retries, Backoff};
use crate::engine::ServiceCounts;
use crate::ports::{
    DesiredCountWriter, ErrorKind, PortError, PortFuture, ServiceStateReader, SERVICE_BATCH,
};

const DESCRIBE_SERVICES: &str = "DescribeServices";
const UPDATE_SERVICE: &str = "UpdateService";

/// Reads and scales ECS services through the ECS API.
pub struct EcsServices {
    client: Client,
    calls: Arc<ApiCalls>,
    describe_limit: Arc<RateLimiter>,
    update_limit: Arc<RateLimiter>,
}

impl EcsServices {
    /// The SDK client, for the test that every adapter has the shared
    /// timeouts and retries.
    #[cfg(test)]
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// With ECS's default quotas as rate limits.
    pub fn new(client: Client, calls: Arc<ApiCalls>) -> EcsServices {
        EcsServices::with_limits(
            client,
            calls,
            Arc::new(RateLimiter::ecs_describe_services()),
            Arc::new(RateLimiter::ecs_update_service()),
        )
    }

    /// With the given limiters, which may be shared with other clients of
    /// the same account and region (ECS quotas are per account and region).
    pub fn with_limits(
        client: Client,
        calls: Arc<ApiCalls>,
        describe_limit: Arc<RateLimiter>,
        update_limit: Arc<RateLimiter>,
    ) -> EcsServices {
        EcsServices {
            client,
            calls,
            describe_limit,
            update_limit,
        }
    }

    /// One service: a call of its own (the controller and `plan` read
    /// through [`ServiceStateReader::services_state`] instead).
    async fn lookup(&self, cluster: &str, service: &str) -> Result<ServiceCounts, PortError> {
        let services = [service.to_owned()];
        let mut answers = self.describe_once(cluster, &services).await;
        answers.pop().unwrap_or_else(|| {
            Err(PortError::new(
                ErrorKind::Other,
                DESCRIBE_SERVICES,
                "no answer for the service",
            ))
        })
    }

    /// `services` of `cluster` in `DescribeServices` calls of at most
    /// [`SERVICE_BATCH`] services each. A failed call fails the answers of
    /// its own services only.
    async fn describe_all(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<Result<ServiceCounts, PortError>>, PortError> {
        let mut answers = Vec::with_capacity(services.len());
        for chunk in services.chunks(SERVICE_BATCH) {
            answers.extend(self.describe_once(cluster, chunk).await);
        }
        Ok(answers)
    }

    /// One `DescribeServices` call for at most [`SERVICE_BATCH`] `services`
    /// of `cluster`, its retries included: an answer for each, in their
    /// order. A missing cluster makes each service missing; any other
    /// failure is each service's error.
    async fn describe_once(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Vec<Result<ServiceCounts, PortError>> {
        let result = describe_services(
            &self.client,
            &self.describe_limit,
            &self.calls,
            cluster,
            services,
        )
        .await;
        match result {
            Ok(output) => services
                .iter()
                .map(|service| find_service(cluster, service, &output))
                .collect(),
            Err(error) => {
                let kind = classify_kind(&error);
                let missing_cluster =
                    error_code(&error).is_some_and(|code| SERVICE_MISSING_CODES.contains(&code));
                let detail = error_code(&error).map(str::to_owned);
                let source = error_source(error);
                services
                    .iter()
                    .map(|service| {
                        Err(if missing_cluster {
                            PortError::ServiceNotFound {
                                cluster: cluster.to_owned(),
                                service: service.clone(),
                                detail: detail.clone(),
                                source: Some(source.clone()),
                            }
                        } else {
                            shared_error(kind, source.clone())
                        })
                    })
                    .collect()
            }
        }
    }

    async fn update(&self, cluster: &str, service: &str, desired: u32) -> Result<(), PortError> {
        let result = update_service(
            &self.client,
            &self.update_limit,
            &self.calls,
            cluster,
            service,
            desired,
        )
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                if error_code(&error).is_some_and(|code| SERVICE_MISSING_CODES.contains(&code)) {
                    let detail = error_code(&error).map(str::to_owned);
                    Err(PortError::ServiceNotFound {
                        cluster: cluster.to_owned(),
                        service: service.to_owned(),
                        detail,
                        source: Some(error_source(error)),
                    })
                } else {
                    Err(port_error(UPDATE_SERVICE, error))
                }
            }
        }
    }
}

impl ServiceStateReader for EcsServices {
    fn service_state<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
    ) -> PortFuture<'a, ServiceCounts> {
        Box::pin(self.lookup(cluster, service))
    }

    fn services_state<'a>(
        &'a self,
        cluster: &'a str,
        services: &'a [String],
    ) -> PortFuture<'a, Vec<Result<ServiceCounts, PortError>>> {
        Box::pin(self.describe_all(cluster, services))
    }
}

impl DesiredCountWriter for EcsServices {
    fn set_desired<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
        desired: u32,
    ) -> PortFuture<'a, ()> {
        Box::pin(self.update(cluster, service, desired))
    }
}

/// `UpdateService` of `desired` tasks, retried by [`with_retries`] under
/// `limiter` with [`Backoff::UPDATE_SERVICE`], and with the SDK's own
/// retries turned off for this operation. Every attempt is recorded in
/// `calls`, so the call counters (and the API's request log) agree.
async fn update_service(
    client: &aws_sdk_ecs::Client,
    limiter: &RateLimiter,
    calls: &ApiCalls,
    cluster: &str,
    service: &str,
    desired: u32,
) -> Result<UpdateServiceOutput, SdkError<UpdateServiceError, HttpResponse>> {
    let mut rng = StdRng::from_os_rng();
    let desired = i32::try_from(desired).unwrap_or(i32::MAX);
    // The span names the service in the retry logs, which with_retries
    // cannot know.
    let span = tracing::debug_span!("update_service", cluster, service);
    with_retries(
        limiter,
        &Backoff::UPDATE_SERVICE,
        &mut rng,
        || {
            client
                .update_service()
                .cluster(cluster)
                .service(service)
                .desired_count(desired)
                .customize()
                .config_override(without_sdk_retries())
                .send()
        },
        |result| calls.record(UPDATE_SERVICE, result.as_ref().err().map(classify_kind)),
    )
    .instrument(span)
    .await
}

/// `DescribeServices` of at most 10 `services` of `cluster`, retried by
/// [`with_retries`] under `limiter` with [`Backoff::DESCRIBE_SERVICES`],
/// the SDK's own retries off. Every attempt is recorded in `calls`.
async fn describe_services(
    client: &aws_sdk_ecs::Client,
    limiter: &RateLimiter,
    calls: &ApiCalls,
    cluster: &str,
    services: &[String],
) -> Result<DescribeServicesOutput, SdkError<DescribeServicesError, HttpResponse>> {
    let mut rng = StdRng::from_os_rng();
    let span = tracing::debug_span!("describe_services", cluster);
    with_retries(
        limiter,
        &Backoff::DESCRIBE_SERVICES,
        &mut rng,
        || {
            client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(services.to_vec()))
                .customize()
                .config_override(without_sdk_retries())
                .send()
        },
        |result| calls.record(DESCRIBE_SERVICES, result.as_ref().err().map(classify_kind)),
    )
    .instrument(span)
    .await
}

/// An ECS client override that turns the SDK's retries off for one call.
fn without_sdk_retries() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// The error of a failed batch call, for each service it asked for.
fn shared_error(kind: ErrorKind, source: Arc<dyn std::error::Error + Send + Sync>) -> PortError {
    let operation = DESCRIBE_SERVICES;
    match kind {
        ErrorKind::AccessDenied => PortError::AccessDenied { operation, source },
        ErrorKind::Throttled => PortError::Throttled { operation, source },
        ErrorKind::Unreachable => PortError::Unreachable { operation, source },
        _ => PortError::Other { operation, source },
    }
}

/// The last segment of an ARN (`.../service/cluster/name` → `name`), or the
/// name itself.
fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

fn find_service(
    cluster: &str,
    wanted: &str,
    output: &aws_sdk_ecs::operation::describe_services::DescribeServicesOutput,
) -> Result<ServiceCounts, PortError> {
    let name = short_name(wanted);
    let found = output.services().iter().find(|service| {
        service.service_arn() == Some(wanted) || service.service_name() == Some(name)
    });
    if let Some(service) = found {
        if service.status() == Some("INACTIVE") {
            return Err(PortError::ServiceNotFound {
                cluster: cluster.to_owned(),
                service: wanted.to_owned(),
                detail: Some("INACTIVE".into()),
                source: None,
            });
        }
        return Ok(service_counts(service));
    }
    let failure = output.failures().iter().find(|failure| {
        failure
            .arn()
            .is_some_and(|arn| arn == wanted || short_name(arn) == name)
    });
    let detail = failure
        .and_then(|f| f.reason())
        .unwrap_or("not in the answer")
        .to_owned();
    Err(PortError::ServiceNotFound {
        cluster: cluster.to_owned(),
        service: wanted.to_owned(),
        detail: Some(detail),
        source: None,
    })
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// The counts the engine needs from a described service.
pub fn service_counts(service: &Service) -> ServiceCounts {
    ServiceCounts {
        desired: count(service.desired_count()),
        running: count(service.running_count()),
        pending: count(service.pending_count()),
        deployment_in_progress: deployment_in_progress(service.deployments()),
    }
}

/// A deployment is in progress while an older deployment (`ACTIVE`, next to
/// the `PRIMARY` one) still has tasks being replaced. The primary's own
/// `rolloutState` is not used: it also reads `IN_PROGRESS` while a service
/// merely scales, which would block every scale-in during scale-outs.
pub fn deployment_in_progress(deployments: &[Deployment]) -> bool {
    deployments
        .iter()
        .any(|deployment| deployment.status() == Some("ACTIVE"))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState};

    use super::*;

    fn deployment(status: &str, rollout: DeploymentRolloutState) -> Deployment {
        Deployment::builder()
            .status(status)
            .rollout_state(rollout)
            .build()
    }

    #[test]
    fn only_an_older_active_deployment_counts_as_rolling_out() {
        let primary = deployment("PRIMARY", DeploymentRolloutState::Completed);
        let rolling = deployment("PRIMARY", DeploymentRolloutState::InProgress);
        let old = deployment("ACTIVE", DeploymentRolloutState::Completed);
        assert!(!deployment_in_progress(&[]));
        assert!(!deployment_in_progress(std::slice::from_ref(&primary)));
        assert!(!deployment_in_progress(std::slice::from_ref(&rolling)));
        assert!(deployment_in_progress(&[rolling, old]));
    }

    #[test]
    fn counts_come_from_the_service_and_negative_counts_are_zero() {
        let service = Service::builder()
            .service_name("worker")
            .desired_count(7)
            .running_count(5)
            .pending_count(-1)
            .deployments(deployment("PRIMARY", DeploymentRolloutState::Completed))
            .deployments(deployment("ACTIVE", DeploymentRolloutState::Completed))
            .build();
        assert_eq!(
            service_counts(&service),
            ServiceCounts {
                desired: 7,
                running: 5,
                pending: 0,
                deployment_in_progress: true,
            }
        );
    }

    #[test]
    fn short_names_come_from_either_arn_form() {
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:123456789012:service/jobs/worker"),
            "worker"
        );
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:123456789012:service/worker"),
            "worker"
        );
        assert_eq!(short_name("worker"), "worker");
    }
}
