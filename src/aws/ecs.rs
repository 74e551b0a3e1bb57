//! ECS: reading a service's counts and setting its desired count.
//!
//! Reads are batched: lookups for services of one cluster that arrive close
//! together (within a short linger, or while waiting for the rate limiter)
//! share one `DescribeServices` call of up to 10 services, the API's limit.
//! Under load the `DescribeServices` rate limit makes lookups queue, and
//! queued lookups fill batches, so the call rate stays bounded as the number
//! of policies grows. Writes are `UpdateService` with only `desiredCount`,
//! under their own rate limit. Both operations are retried by `retry.rs`
//! (not the SDK), so that every attempt is under its limit.
//!
//! An evaluation cycle gathers its batches itself and reads them through
//! [`ServiceStateReader::services_state`]: direct calls of up to 10
//! services, under the same rate limit, without the linger.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ecs::types::{Deployment, Service};
use aws_sdk_ecs::Client;
use tokio::sync::{mpsc, oneshot};

use super::calls::ApiCalls;
use super::classify::{classify_kind, error_code, error_source, port_error, SERVICE_MISSING_CODES};
use super::rate_limit::RateLimiter;
use super::retry::{self, FirstToken};
use crate::engine::ServiceCounts;
use crate::ports::{DesiredCountWriter, ErrorKind, PortError, PortFuture, ServiceStateReader};

pub(super) const DESCRIBE_SERVICES: &str = "DescribeServices";
pub(super) const UPDATE_SERVICE: &str = "UpdateService";

/// `DescribeServices` takes at most this many services per call.
pub const DESCRIBE_BATCH_LIMIT: usize = 10;

/// How long a lookup waits for others to share its call. Short enough not to
/// matter next to a poll interval.
const DEFAULT_LINGER: Duration = Duration::from_millis(10);

type Reply = oneshot::Sender<Result<ServiceCounts, PortError>>;

struct Lookup {
    service: String,
    reply: Reply,
}

/// Reads and scales ECS services through the ECS API.
pub struct EcsServices {
    shared: Arc<Shared>,
    update_limit: Arc<RateLimiter>,
    batchers: Mutex<HashMap<String, mpsc::UnboundedSender<Lookup>>>,
}

/// What every cluster's batcher task needs.
struct Shared {
    client: Client,
    calls: Arc<ApiCalls>,
    describe_limit: Arc<RateLimiter>,
    linger: Duration,
}

impl EcsServices {
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
            shared: Arc::new(Shared {
                client,
                calls,
                describe_limit,
                linger: DEFAULT_LINGER,
            }),
            update_limit,
            batchers: Mutex::new(HashMap::new()),
        }
    }

    /// Queue a lookup with the cluster's batcher, starting one if needed.
    fn enqueue(&self, cluster: &str, mut lookup: Lookup) -> Result<(), PortError> {
        let mut batchers = self.batchers.lock().unwrap_or_else(|e| e.into_inner());
        // A batcher ends only when its runtime does; if so, start another.
        for _ in 0..2 {
            let sender = batchers.entry(cluster.to_owned()).or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run_batcher(
                    self.shared.clone(),
                    cluster.to_owned(),
                    receiver,
                ));
                sender
            });
            match sender.send(lookup) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(returned)) => {
                    lookup = returned;
                    batchers.remove(cluster);
                }
            }
        }
        Err(PortError::new(
            ErrorKind::Other,
            DESCRIBE_SERVICES,
            "the lookup batcher is not running",
        ))
    }

    async fn lookup(&self, cluster: &str, service: &str) -> Result<ServiceCounts, PortError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(
            cluster,
            Lookup {
                service: service.to_owned(),
                reply,
            },
        )?;
        answer.await.unwrap_or_else(|_| {
            Err(PortError::new(
                ErrorKind::Other,
                DESCRIBE_SERVICES,
                "the lookup batcher stopped before answering",
            ))
        })
    }

    async fn update(&self, cluster: &str, service: &str, desired: u32) -> Result<(), PortError> {
        let result = retry::update_service(
            &self.shared.client,
            &self.update_limit,
            &self.shared.calls,
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
        Box::pin(describe_all(&self.shared, cluster, services))
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

/// One cluster's batcher: gathers lookups into calls of up to 10 services.
/// Each call runs in its own task, so a slow call does not hold up the next
/// batch.
async fn run_batcher(
    shared: Arc<Shared>,
    cluster: String,
    mut lookups: mpsc::UnboundedReceiver<Lookup>,
) {
    let mut pending: Vec<Lookup> = Vec::new();
    loop {
        if pending.is_empty() {
            match lookups.recv().await {
                Some(lookup) => pending.push(lookup),
                None => return,
            }
            if !shared.linger.is_zero() {
                tokio::time::sleep(shared.linger).await;
            }
        }
        shared.describe_limit.acquire().await;
        while pending.len() < DESCRIBE_BATCH_LIMIT {
            match lookups.try_recv() {
                Ok(lookup) => pending.push(lookup),
                Err(_) => break,
            }
        }
        let batch = take_batch(&mut pending);
        tokio::spawn(describe(shared.clone(), cluster.clone(), batch));
    }
}

/// Take lookups for at most [`DESCRIBE_BATCH_LIMIT`] distinct services.
fn take_batch(pending: &mut Vec<Lookup>) -> Vec<Lookup> {
    let mut names: Vec<&str> = Vec::new();
    let mut split = pending.len();
    for (i, lookup) in pending.iter().enumerate() {
        if !names.contains(&lookup.service.as_str()) {
            if names.len() == DESCRIBE_BATCH_LIMIT {
                split = i;
                break;
            }
            names.push(&lookup.service);
        }
    }
    // Later lookups of a service already in the batch ride along.
    let (mut batch, mut rest) = (Vec::new(), Vec::new());
    let taken: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    for (i, lookup) in pending.drain(..).enumerate() {
        if i < split || taken.contains(&lookup.service) {
            batch.push(lookup);
        } else {
            rest.push(lookup);
        }
    }
    *pending = rest;
    batch
}

async fn describe(shared: Arc<Shared>, cluster: String, batch: Vec<Lookup>) {
    let mut services: Vec<String> = Vec::new();
    for lookup in &batch {
        if !services.contains(&lookup.service) {
            services.push(lookup.service.clone());
        }
    }
    // run_batcher took this call's first token before closing the batch.
    let answers = describe_once(&shared, FirstToken::Taken, &cluster, &services).await;
    for lookup in batch {
        let at = services.iter().position(|s| *s == lookup.service);
        // Every lookup's service is in `services`, so `at` is always found.
        if let Some(answer) = at.map(|i| answers[i].clone()) {
            let _ = lookup.reply.send(answer);
        }
    }
}

/// `services` of `cluster` in direct `DescribeServices` calls of at most 10
/// services each, under the describe rate limit: for callers that gather
/// their batch themselves (an evaluation cycle), so without the batcher's
/// linger. A failed call fails the answers of its own services only.
async fn describe_all(
    shared: &Shared,
    cluster: &str,
    services: &[String],
) -> Result<Vec<Result<ServiceCounts, PortError>>, PortError> {
    let mut answers = Vec::with_capacity(services.len());
    for chunk in services.chunks(DESCRIBE_BATCH_LIMIT) {
        answers.extend(describe_once(shared, FirstToken::Take, cluster, chunk).await);
    }
    Ok(answers)
}

/// One `DescribeServices` call for at most 10 `services` of `cluster`, its
/// retries included: an answer for each, in their order. A missing cluster
/// makes each service missing; any other failure is each service's error.
async fn describe_once(
    shared: &Shared,
    first: FirstToken,
    cluster: &str,
    services: &[String],
) -> Vec<Result<ServiceCounts, PortError>> {
    let result = retry::describe_services(
        &shared.client,
        &shared.describe_limit,
        first,
        &shared.calls,
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

/// The error of a failed batched call, for each lookup it served.
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

    fn lookups(names: &[&str]) -> Vec<Lookup> {
        names
            .iter()
            .map(|name| Lookup {
                service: (*name).to_owned(),
                reply: oneshot::channel().0,
            })
            .collect()
    }

    fn services(batch: &[Lookup]) -> Vec<&str> {
        batch.iter().map(|l| l.service.as_str()).collect()
    }

    #[test]
    fn a_batch_holds_at_most_ten_distinct_services_and_their_repeats() {
        let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.push("s0");
        let mut pending = lookups(&all);
        let batch = take_batch(&mut pending);
        assert_eq!(services(&batch).len(), 11);
        assert_eq!(services(&batch)[10], "s0");
        assert_eq!(services(&pending), ["s10", "s11"]);
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
