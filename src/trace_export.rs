//! `trace export`: a queue's arrivals from CloudWatch as a replayable trace.
//!
//! Reads `AWS/SQS` `NumberOfMessagesSent` (Sum, 60 s) for one queue through
//! the AWS adapter [`SentMessages`] (`aws/trace_export.rs`, built from the
//! shared SDK configuration), and lays the sums on a minute grid (minutes
//! with no datapoint are 0) so the result is the simulator's
//! `t_seconds,arrivals` format. Nothing here calls AWS itself.

use std::collections::BTreeMap;
use std::io::Write;

use crate::aws::{SentMessages, SentMessagesError};

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
        source: SentMessagesError,
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
/// minute of the range present, read from CloudWatch through `sent`.
pub async fn fetch_arrivals(
    sent: &SentMessages,
    queue_name_or_url: &str,
    range: MinuteRange,
) -> Result<Vec<(u64, u64)>, ExportError> {
    let queue = queue_name(queue_name_or_url).to_owned();
    let points = sent
        .sums(&queue, range.start, range.end, PERIOD_SECONDS as i32)
        .await
        .map_err(|source| ExportError::Request { queue, source })?;
    on_minute_grid(&points, range)
}

/// Datapoints `(Unix seconds, messages)` summed per minute of `range`, a
/// minute without any being 0; a datapoint outside the range is an error.
pub fn on_minute_grid(
    points: &[(i64, f64)],
    range: MinuteRange,
) -> Result<Vec<(u64, u64)>, ExportError> {
    let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
    for &(timestamp, value) in points {
        let minute = timestamp.div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS;
        if minute < range.start || minute >= range.end {
            return Err(ExportError::OutOfRange(timestamp));
        }
        *sums.entry(minute).or_insert(0.0) += value;
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
    fn datapoints_are_summed_per_minute_and_empty_minutes_are_zero() {
        let range = MinuteRange::new(120, 360).unwrap();
        let points = [(120, 5.0), (185, 3.0), (239, 4.0), (300, 2.4)];
        assert_eq!(
            on_minute_grid(&points, range).unwrap(),
            vec![(0, 5), (60, 7), (120, 0), (180, 2)]
        );
        assert!(matches!(
            on_minute_grid(&[(360, 1.0)], range),
            Err(ExportError::OutOfRange(360))
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
