//! The CloudWatch side of `trace export`: a queue's `AWS/SQS`
//! `NumberOfMessagesSent` sums over a time range, read with `GetMetricData`
//! and following `NextToken` until every page is read. `crate::trace_export`
//! lays them on a minute grid as a trace.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;

/// `GetMetricData` failed (after the SDK's retries, within its timeouts).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SentMessagesError(#[from] Box<aws_sdk_cloudwatch::Error>);

/// Reads the messages sent to a queue, per period, from CloudWatch.
#[derive(Debug, Clone)]
pub struct SentMessages {
    client: Client,
}

impl SentMessages {
    /// The SDK client, for the test that every adapter has the shared
    /// timeouts and retries.
    #[cfg(test)]
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// A reader through a client of `config` (the SDK configuration of
    /// every adapter: its timeouts and retries).
    pub fn new(config: &SdkConfig) -> SentMessages {
        SentMessages::from_client(Client::new(config))
    }

    pub fn from_client(client: Client) -> SentMessages {
        SentMessages { client }
    }

    /// Every datapoint of `queue`'s `NumberOfMessagesSent` (the `Sum` over
    /// `period_seconds`) from `start` to `end` (Unix seconds), as `(its
    /// timestamp in Unix seconds, the sum)`, oldest first, all pages.
    pub async fn sums(
        &self,
        queue: &str,
        start: i64,
        end: i64,
        period_seconds: i32,
    ) -> Result<Vec<(i64, f64)>, SentMessagesError> {
        let query = MetricDataQuery::builder()
            .id("sent")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/SQS")
                            .metric_name("NumberOfMessagesSent")
                            .dimensions(Dimension::builder().name("QueueName").value(queue).build())
                            .build(),
                    )
                    .period(period_seconds)
                    .stat("Sum")
                    .build(),
            )
            .return_data(true)
            .build();
        let mut points = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_metric_data()
                .metric_data_queries(query.clone())
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| SentMessagesError(Box::new(error.into())))?;
            for result in page.metric_data_results() {
                for (timestamp, value) in result.timestamps().iter().zip(result.values()) {
                    points.push((timestamp.secs(), *value));
                }
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(points)
    }
}
