//! Shared setup for the emulator tests: SDK clients that seed and inspect
//! moto's queues, clusters and services ([`Aws`]), the controller's SDK
//! configuration pointed at an endpoint ([`sdk_config`], [`controller_ports`]),
//! an observer that records evaluations ([`Recorder`]), and [`eventually`],
//! the "poll a condition until a deadline" wait, and the `backlog-scaler`
//! binary pointed at the emulator ([`binary`]).
//!
//! Included with `#[path = "support/aws.rs"] mod aws;` next to `mod moto;`.

#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use backlog_scaler::aws::{configure, AwsPorts, AwsSettings};
use backlog_scaler::controller::{Evaluation, Observer};

use crate::moto::{Moto, REGION};

/// The task definition family every test service runs.
pub const TASK_FAMILY: &str = "worker";

/// SDK clients for setting up and checking the emulator's state.
pub struct Aws {
    pub sqs: aws_sdk_sqs::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Aws {
    /// Clients with the emulator's own test credentials.
    pub async fn new(moto: &Moto) -> Aws {
        Aws::from_config(&moto.sdk_config().await)
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Aws {
        Aws {
            sqs: aws_sdk_sqs::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
        }
    }

    /// The lease table `table` as the CloudFormation template declares it.
    pub async fn create_lease_table(&self, table: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("lease")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("lease")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("CreateTable");
    }

    /// Create `name`; its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        let output = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue");
        output.queue_url.expect("a queue URL")
    }

    pub async fn queue_url(&self, name: &str) -> String {
        let output = self.sqs.get_queue_url().queue_name(name).send().await;
        output.expect("GetQueueUrl").queue_url.expect("a queue URL")
    }

    /// Send `count` messages, ten per call.
    pub async fn send(&self, queue: &str, count: usize) {
        self.send_batches(queue, count, None).await;
    }

    /// Send `count` messages that stay invisible for `delay_seconds`.
    pub async fn send_delayed(&self, queue: &str, count: usize, delay_seconds: i32) {
        self.send_batches(queue, count, Some(delay_seconds)).await;
    }

    async fn send_batches(&self, queue: &str, count: usize, delay_seconds: Option<i32>) {
        let url = self.queue_url(queue).await;
        let mut sent = 0;
        while sent < count {
            let batch = (count - sent).min(10);
            let entries = (0..batch)
                .map(|i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(format!("job {}", sent + i))
                        .set_delay_seconds(delay_seconds)
                        .build()
                        .expect("a message")
                })
                .collect();
            self.sqs
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("SendMessageBatch");
            sent += batch;
        }
    }

    pub async fn purge(&self, queue: &str) {
        let url = self.queue_url(queue).await;
        self.sqs
            .purge_queue()
            .queue_url(url)
            .send()
            .await
            .expect("PurgeQueue");
    }

    /// `cluster`, and the task definition every service uses.
    pub async fn create_cluster(&self, cluster: &str) {
        self.ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .expect("CreateCluster");
        self.register_task_definition().await;
    }

    /// The [`TASK_FAMILY`] task definition (moto starts no tasks, so the
    /// image is never pulled).
    pub async fn register_task_definition(&self) {
        let container = ContainerDefinition::builder()
            .name("worker")
            .image("public.ecr.aws/docker/library/busybox:latest")
            .memory(128)
            .build();
        self.ecs
            .register_task_definition()
            .family(TASK_FAMILY)
            .container_definitions(container)
            .send()
            .await
            .expect("RegisterTaskDefinition");
    }

    pub async fn create_service(&self, cluster: &str, service: &str, desired: i32) {
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(service)
            .task_definition(TASK_FAMILY)
            .desired_count(desired)
            .send()
            .await
            .expect("CreateService");
    }

    /// A queue with `backlog` messages and a service at `desired` in a
    /// cluster that already exists.
    pub async fn seed(
        &self,
        queue: &str,
        backlog: usize,
        cluster: &str,
        service: &str,
        desired: i32,
    ) {
        self.create_queue(queue).await;
        self.send(queue, backlog).await;
        self.create_service(cluster, service, desired).await;
    }

    pub async fn desired(&self, cluster: &str, service: &str) -> i32 {
        let output = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .expect("DescribeServices");
        output.services()[0].desired_count()
    }

    /// A metric's datapoints in the last hour (Maximum over 60 s).
    pub async fn metric(&self, namespace: &str, name: &str, policy: &str) -> Vec<f64> {
        let query = MetricDataQuery::builder()
            .id("m0")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(namespace)
                            .metric_name(name)
                            .dimensions(Dimension::builder().name("Policy").value(policy).build())
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let now = SystemTime::now();
        let output = self
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(query)
            .start_time((now - Duration::from_secs(3600)).into())
            .end_time((now + Duration::from_secs(600)).into())
            .send()
            .await
            .expect("GetMetricData");
        output
            .metric_data_results()
            .iter()
            .flat_map(|result| result.values().to_vec())
            .collect()
    }
}

/// Poll `check` every 50 ms until it holds; fail with `what` at `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The production SDK settings (timeouts, retries) from `settings`, pointed
/// at `endpoint` in [`REGION`], with the emulator's dummy credentials.
pub async fn sdk_config(endpoint: &str, settings: AwsSettings) -> aws_config::SdkConfig {
    let settings = AwsSettings {
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..settings
    };
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).credentials_provider(
        aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "moto"),
    );
    configure(loader, &settings).load().await
}

/// The controller's ports with the default settings, against `moto`.
pub async fn controller_ports(moto: &Moto, namespace: Option<String>) -> AwsPorts {
    let config = sdk_config(&moto.endpoint(), AwsSettings::default()).await;
    AwsPorts::new(&config, namespace)
}

/// Every evaluation the controller reports, in order.
#[derive(Default)]
pub struct Recorder {
    evaluations: Mutex<Vec<Evaluation>>,
}

impl Observer for Recorder {
    fn evaluated(&self, evaluation: &Evaluation) {
        self.evaluations.lock().unwrap().push(evaluation.clone());
    }
}

impl Recorder {
    /// The evaluations of `policy`, in order.
    pub fn of(&self, policy: &str) -> Vec<Evaluation> {
        let evaluations = self.evaluations.lock().unwrap();
        evaluations
            .iter()
            .filter(|e| e.policy == policy)
            .cloned()
            .collect()
    }

    pub fn count(&self, policy: &str) -> usize {
        self.of(policy).len()
    }
}

/// The `backlog-scaler` binary with the emulator's environment, and none of
/// the test runner's own logging, policy or shard settings.
pub fn binary(moto: &Moto) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backlog-scaler"));
    command
        .envs(moto.env())
        .env_remove("RUST_LOG")
        .env_remove("BACKLOG_SCALER_POLICIES")
        .env_remove("BACKLOG_SCALER_SHARD")
        // Tests run side by side: never the fixed default port.
        .env("BACKLOG_SCALER_LISTEN", "127.0.0.1:0");
    command
}
