//! `trace export`: a queue's arrivals from CloudWatch as a replayable trace.
//!
//! Reads `AWS/SQS` `NumberOfMessagesSent` (Sum, 60 s) for one queue with
//! `GetMetricData`, following `NextToken` until every page is read, and lays
//! the sums on a minute grid (minutes with no datapoint are 0) so the result
//! is the simulator's `t_seconds,arrivals` format.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

/// The metric's resolution, and the trace's bucket length.
pub const PERIOD_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the time range is empty: --since must be before --until by at least a minute")]
    EmptyRange,
    #[error("cannot read NumberOfMessagesSent for queue '{queue}' from CloudWatch")]
    Request {
        queue: String,
        #[source]
        source: Box<aws_sdk_cloudwatch::Error>,
    },
    #[error("CloudWatch returned a datapoint at {0} outside the requested range")]
    OutOfRange(i64),
    #[error("cannot write the trace")]
    Write(#[source] std::io::Error),
}

/// The queue name from a queue name or a queue URL
/// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
pub fn queue_name(name_or_url: &str) -> &str {
    let trimmed = name_or_url.trim_end_matches('/');
    if trimmed.contains("://") {
        trimmed.rsplit('/').next().unwrap_or(trimmed)
    } else {
        trimmed
    }
}

/// `[start, end)` in Unix seconds, both floored to a whole minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteRange {
    pub start: i64,
    pub end: i64,
}

impl MinuteRange {
    pub fn new(start: i64, end: i64) -> Result<MinuteRange, ExportError> {
        let floor = |t: i64| t.div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS;
        let (start, end) = (floor(start), floor(end));
        if end <= start {
            return Err(ExportError::EmptyRange);
        }
        Ok(MinuteRange { start, end })
    }

    fn minutes(&self) -> impl Iterator<Item = i64> {
        (self.start..self.end).step_by(PERIOD_SECONDS as usize)
    }
}

/// Per-minute arrivals: `(seconds since range start, messages)`, every
/// minute of the range present.
pub async fn fetch_arrivals(
    client: &aws_sdk_cloudwatch::Client,
    queue_name_or_url: &str,
    range: MinuteRange,
) -> Result<Vec<(u64, u64)>, ExportError> {
    let queue = queue_name(queue_name_or_url).to_owned();
    let query = MetricDataQuery::builder()
        .id("sent")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/SQS")
                        .metric_name("NumberOfMessagesSent")
                        .dimensions(Dimension::builder().name("QueueName").value(&queue).build())
                        .build(),
                )
                .period(PERIOD_SECONDS as i32)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build();
    let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .get_metric_data()
            .metric_data_queries(query.clone())
            .start_time(DateTime::from_secs(range.start))
            .end_time(DateTime::from_secs(range.end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|error| ExportError::Request {
                queue: queue.clone(),
                source: Box::new(error.into()),
            })?;
        for result in page.metric_data_results() {
            for (timestamp, value) in result.timestamps().iter().zip(result.values()) {
                let minute = timestamp.secs().div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS;
                if minute < range.start || minute >= range.end {
                    return Err(ExportError::OutOfRange(timestamp.secs()));
                }
                *sums.entry(minute).or_insert(0.0) += value;
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(range
        .minutes()
        .map(|minute| {
            let count = sums.get(&minute).copied().unwrap_or(0.0);
            ((minute - range.start) as u64, count.max(0.0).round() as u64)
        })
        .collect())
}

/// Write rows in the trace format.
pub fn write_trace(rows: &[(u64, u64)], mut out: impl Write) -> Result<(), ExportError> {
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "t_seconds,arrivals")?;
        for (t, arrivals) in rows {
            writeln!(out, "{t},{arrivals}")?;
        }
        out.flush()
    };
    write().map_err(ExportError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_to_names() {
        assert_eq!(queue_name("jobs"), "jobs");
        assert_eq!(
            queue_name("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs.fifo"),
            "jobs.fifo"
        );
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/jobs/"),
            "jobs"
        );
    }

    #[test]
    fn ranges_floor_to_minutes() {
        assert_eq!(
            MinuteRange::new(125, 359).unwrap(),
            MinuteRange {
                start: 120,
                end: 300
            }
        );
        assert!(matches!(
            MinuteRange::new(130, 170),
            Err(ExportError::EmptyRange)
        ));
    }

    #[test]
    fn writes_the_trace_format() {
        let mut out = Vec::new();
        write_trace(&[(0, 5), (60, 0), (120, 7)], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t_seconds,arrivals\n0,5\n60,0\n120,7\n"
        );
    }
}
