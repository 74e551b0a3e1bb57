//! Collects evaluations' metric samples and publishes them in batches, so
//! CloudWatch gets few large `PutMetricData` calls instead of one per
//! evaluation.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ports::{error_chain, MetricSample, MetricsPublisher};

/// Samples waiting between two flushes, at most; beyond it the oldest are
/// dropped. A flush takes everything waiting, and a flush that fails drops
/// its batch (logged once per outage): metrics are a view of the
/// controller, not worth a growing backlog of their own while CloudWatch
/// is down.
const MAX_BUFFERED: usize = 100_000;

/// Samples waiting for the next flush.
#[derive(Debug, Default)]
pub(crate) struct MetricsBuffer {
    samples: Mutex<VecDeque<MetricSample>>,
}

impl MetricsBuffer {
    pub fn push(&self, sample: MetricSample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() >= MAX_BUFFERED {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    fn take(&self) -> Vec<MetricSample> {
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner())).into()
    }
}

/// Publish the buffer every `interval` until `stop` is cancelled, then
/// once more.
pub(crate) async fn run_flusher(
    buffer: Arc<MetricsBuffer>,
    publisher: Arc<dyn MetricsPublisher>,
    interval: Duration,
    timeout: Duration,
    stop: CancellationToken,
) {
    let mut failing = false;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = ticks.tick() => false,
        };
        let samples = buffer.take();
        if !samples.is_empty() {
            let result = tokio::time::timeout(timeout, publisher.publish(&samples)).await;
            match result {
                Ok(Ok(())) => {
                    if failing {
                        tracing::info!("publishing metrics works again");
                    }
                    failing = false;
                }
                Ok(Err(error)) => {
                    if !failing {
                        tracing::warn!(
                            error_kind = %error.kind(),
                            "could not publish metrics: {}; dropping them and retrying at the next flush",
                            error_chain(&error)
                        );
                    }
                    failing = true;
                }
                Err(_) => {
                    if !failing {
                        tracing::warn!("publishing metrics timed out; retrying at the next flush");
                    }
                    failing = true;
                }
            }
        }
        if last {
            return;
        }
    }
}
