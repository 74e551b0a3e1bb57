//! CloudWatch: per-policy `Backlog`, `BacklogPerTask`, `DesiredTasks` and
//! `RunningTasks`, each with a `Policy` dimension, in as few `PutMetricData`
//! calls as the API allows (1,000 metric data per call).
//!
//! `BacklogPerTask` is what AWS recommends alarming and graphing on for
//! queue-driven services; it is the backlog per *desired* task, the same
//! figure the policy's target is expressed in, and is left out at zero tasks
//! where it has no finite value.

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;

use super::calls::ApiCalls;
use super::classify::{classify_kind, port_error};
use crate::ports::{MetricSample, MetricsPublisher, PortError, PortFuture};

const PUT_METRIC_DATA: &str = "PutMetricData";

/// Most metric data one `PutMetricData` call accepts.
pub const PUT_METRIC_DATA_LIMIT: usize = 1000;

/// The dimension every metric carries.
pub const POLICY_DIMENSION: &str = "Policy";

/// Publishes samples to one CloudWatch namespace.
pub struct CloudWatchPublisher {
    client: Client,
    namespace: String,
    calls: Arc<ApiCalls>,
}

impl CloudWatchPublisher {
    /// The SDK client, for the test that every adapter has the shared
    /// timeouts and retries.
    #[cfg(test)]
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub fn new(client: Client, namespace: String, calls: Arc<ApiCalls>) -> CloudWatchPublisher {
        CloudWatchPublisher {
            client,
            namespace,
            calls,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn put(&self, samples: &[MetricSample]) -> Result<(), PortError> {
        let mut first_error = None;
        // Every chunk is tried even if one fails: metrics of the others
        // still arrive.
        for chunk in metric_batches(samples) {
            let result = self
                .client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk))
                .send()
                .await;
            match result {
                Ok(_) => self.calls.record(PUT_METRIC_DATA, None),
                Err(error) => {
                    self.calls
                        .record(PUT_METRIC_DATA, Some(classify_kind(&error)));
                    first_error.get_or_insert(port_error(PUT_METRIC_DATA, error));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl MetricsPublisher for CloudWatchPublisher {
    fn publish<'a>(&'a self, samples: &'a [MetricSample]) -> PortFuture<'a, ()> {
        Box::pin(self.put(samples))
    }
}

/// The metric data of `samples`, in as few `PutMetricData` calls' worth
/// as the API's limit allows.
pub fn metric_batches(samples: &[MetricSample]) -> Vec<Vec<MetricDatum>> {
    let data: Vec<MetricDatum> = samples.iter().flat_map(metric_data).collect();
    data.chunks(PUT_METRIC_DATA_LIMIT)
        .map(<[MetricDatum]>::to_vec)
        .collect()
}

/// The metric data of one sample.
pub fn metric_data(sample: &MetricSample) -> Vec<MetricDatum> {
    let dimension = Dimension::builder()
        .name(POLICY_DIMENSION)
        .value(&sample.policy)
        .build();
    let timestamp = DateTime::from(sample.at);
    let datum = |name: &str, value: f64| {
        MetricDatum::builder()
            .metric_name(name)
            .dimensions(dimension.clone())
            .timestamp(timestamp)
            .value(value)
            .unit(StandardUnit::Count)
            .build()
    };
    let mut data = vec![
        datum("Backlog", sample.backlog),
        datum("DesiredTasks", f64::from(sample.desired)),
        datum("RunningTasks", f64::from(sample.running)),
    ];
    if let Some(per_task) = sample.backlog_per_task() {
        data.push(datum("BacklogPerTask", per_task));
    }
    data
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn sample(desired: u32) -> MetricSample {
        MetricSample {
            policy: "orders".into(),
            at: SystemTime::UNIX_EPOCH,
            backlog: 900.0,
            desired,
            running: 2,
        }
    }

    fn value_of(data: &[MetricDatum], name: &str) -> Option<f64> {
        data.iter()
            .find(|d| d.metric_name() == Some(name))
            .and_then(|d| d.value())
    }

    #[test]
    fn four_metrics_with_the_policy_dimension() {
        let data = metric_data(&sample(3));
        assert_eq!(data.len(), 4);
        assert_eq!(value_of(&data, "Backlog"), Some(900.0));
        assert_eq!(value_of(&data, "BacklogPerTask"), Some(300.0));
        assert_eq!(value_of(&data, "DesiredTasks"), Some(3.0));
        assert_eq!(value_of(&data, "RunningTasks"), Some(2.0));
        for datum in &data {
            assert_eq!(datum.dimensions().len(), 1);
            assert_eq!(datum.dimensions()[0].name(), Some("Policy"));
            assert_eq!(datum.dimensions()[0].value(), Some("orders"));
        }
    }

    #[test]
    fn samples_are_split_at_the_api_limit_only() {
        let sizes = |n: usize| -> Vec<usize> {
            let samples = vec![sample(3); n];
            metric_batches(&samples).iter().map(Vec::len).collect()
        };
        // Four data per sample.
        assert_eq!(sizes(250), [1000]);
        assert_eq!(sizes(300), [1000, 200]);
        assert_eq!(sizes(750), [1000, 1000, 1000]);
        assert!(sizes(0).is_empty());
    }

    #[test]
    fn no_backlog_per_task_at_zero_tasks() {
        let data = metric_data(&sample(0));
        assert_eq!(data.len(), 3);
        assert_eq!(value_of(&data, "BacklogPerTask"), None);
    }
}
