//! A fake world behind the ports: queues, services and a metrics sink in
//! memory, with injectable failures and delays (on tokio's clock, so they
//! cost nothing under paused time).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{QueueDepth, ServiceCounts};
use crate::ports::{
    DesiredCountWriter, ErrorKind, MetricSample, MetricsPublisher, PortError, PortFuture, Ports,
    QueueDepthReader, ServiceStateReader,
};

#[derive(Default)]
pub struct World {
    pub queues: HashMap<String, QueueDepth>,
    pub services: HashMap<String, ServiceCounts>,
    pub queue_errors: HashMap<String, ErrorKind>,
    pub service_errors: HashMap<String, ErrorKind>,
    pub write_errors: HashMap<String, ErrorKind>,
    pub queue_delays: HashMap<String, Duration>,
    /// Services whose new tasks run only this long after a scale-out (the
    /// others run at once, as the emulator's).
    pub startup_delays: HashMap<String, Duration>,
    /// Tasks starting: (when they run, service, the count then running).
    pub starting: Vec<(Instant, String, u32)>,
    /// Every successful `set_desired`: (when, service, desired).
    pub writes: Vec<(Instant, String, u32)>,
    /// Every successful `publish` call's samples.
    pub published: Vec<Vec<MetricSample>>,
    /// How many of the next `publish` calls fail (throttled).
    pub failing_publishes: u32,
    /// Every failed `publish` call's samples.
    pub refused: Vec<Vec<MetricSample>>,
    /// `queue_depth` calls by queue.
    pub queue_reads: HashMap<String, usize>,
    /// Every `services_state` call: its cluster and services.
    pub service_batches: Vec<(String, Vec<String>)>,
}

#[derive(Default)]
pub struct FakeWorld {
    pub world: Mutex<World>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FakeWorld {
    pub fn new() -> Arc<FakeWorld> {
        Arc::new(FakeWorld::default())
    }

    pub fn ports(self: &Arc<FakeWorld>, metrics: bool) -> Ports {
        Ports {
            queues: self.clone(),
            services: self.clone(),
            scaler: self.clone(),
            metrics: metrics.then(|| self.clone() as Arc<dyn MetricsPublisher>),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().unwrap())
    }

    /// A queue with `visible` messages and a service at `desired` (all
    /// running).
    pub fn add(&self, queue: &str, visible: u64, service: &str, desired: u32) {
        self.with(|w| {
            w.queues.insert(
                queue.into(),
                QueueDepth {
                    visible,
                    ..QueueDepth::default()
                },
            );
            w.services.insert(
                service.into(),
                ServiceCounts {
                    desired,
                    running: desired,
                    ..ServiceCounts::default()
                },
            );
        });
    }

    pub fn set_visible(&self, queue: &str, visible: u64) {
        self.with(|w| w.queues.get_mut(queue).unwrap().visible = visible);
    }

    pub fn desired(&self, service: &str) -> u32 {
        self.with(|w| w.services[service].desired)
    }

    pub fn writes(&self) -> Vec<(Instant, String, u32)> {
        self.with(|w| w.writes.clone())
    }

    pub fn queue_reads(&self, queue: &str) -> usize {
        self.with(|w| w.queue_reads.get(queue).copied().unwrap_or(0))
    }

    /// The sizes of the service batch reads, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.with(|w| w.service_batches.iter().map(|(_, s)| s.len()).collect())
    }

    /// New tasks of `service` run `delay` after each scale-out; meanwhile
    /// they are pending.
    pub fn set_startup_delay(&self, service: &str, delay: Duration) {
        self.with(|w| w.startup_delays.insert(service.into(), delay));
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

impl World {
    /// The tasks of `service` due to run by `now` run (never more than the
    /// desired count, which may have come down since).
    /// Only for services with a startup delay: the others' counts are as
    /// the test set them.
    fn start_due_tasks(&mut self, service: &str, now: Instant) {
        if !self.startup_delays.contains_key(service) {
            return;
        }
        let Some(counts) = self.services.get_mut(service) else {
            return;
        };
        self.starting.retain(|(at, starting, to)| {
            if starting != service || *at > now {
                return true;
            }
            counts.running = counts.running.max((*to).min(counts.desired));
            false
        });
        counts.running = counts.running.min(counts.desired);
        counts.pending = counts.desired - counts.running;
    }
}

fn failure(kind: ErrorKind, operation: &'static str) -> PortError {
    PortError::new(kind, operation, format!("injected {kind}"))
}

impl QueueDepthReader for FakeWorld {
    fn queue_depth<'a>(&'a self, queue: &'a str) -> PortFuture<'a, QueueDepth> {
        Box::pin(async move {
            self.with(|w| *w.queue_reads.entry(queue.into()).or_default() += 1);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let delay = self.with(|w| w.queue_delays.get(queue).copied());
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.with(|w| {
                if let Some(&kind) = w.queue_errors.get(queue) {
                    return Err(failure(kind, "GetQueueAttributes"));
                }
                w.queues
                    .get(queue)
                    .copied()
                    .ok_or_else(|| PortError::QueueNotFound {
                        queue: queue.into(),
                        source: None,
                    })
            })
        })
    }
}

impl ServiceStateReader for FakeWorld {
    fn service_state<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
    ) -> PortFuture<'a, ServiceCounts> {
        Box::pin(async move {
            self.with(|w| {
                if let Some(&kind) = w.service_errors.get(service) {
                    return Err(failure(kind, "DescribeServices"));
                }
                w.start_due_tasks(service, Instant::now());
                w.services
                    .get(service)
                    .copied()
                    .ok_or_else(|| PortError::ServiceNotFound {
                        cluster: cluster.into(),
                        service: service.into(),
                        detail: Some("MISSING".into()),
                        source: None,
                    })
            })
        })
    }

    /// Records the batch, then answers each service as `service_state`.
    fn services_state<'a>(
        &'a self,
        cluster: &'a str,
        services: &'a [String],
    ) -> PortFuture<'a, Vec<Result<ServiceCounts, PortError>>> {
        Box::pin(async move {
            self.with(|w| {
                w.service_batches
                    .push((cluster.to_owned(), services.to_vec()))
            });
            let mut answers = Vec::new();
            for service in services {
                answers.push(self.service_state(cluster, service).await);
            }
            Ok(answers)
        })
    }
}

impl DesiredCountWriter for FakeWorld {
    fn set_desired<'a>(
        &'a self,
        _cluster: &'a str,
        service: &'a str,
        desired: u32,
    ) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.with(|w| {
                if let Some(&kind) = w.write_errors.get(service) {
                    return Err(failure(kind, "UpdateService"));
                }
                let delay = w.startup_delays.get(service).copied();
                let counts = w.services.get_mut(service).unwrap();
                counts.desired = desired;
                match delay {
                    Some(delay) if desired > counts.running => {
                        counts.pending = desired - counts.running;
                        w.starting
                            .push((Instant::now() + delay, service.into(), desired));
                    }
                    _ => {
                        counts.running = desired;
                        counts.pending = 0;
                    }
                }
                w.writes.push((Instant::now(), service.into(), desired));
                Ok(())
            })
        })
    }
}

impl MetricsPublisher for FakeWorld {
    fn publish<'a>(&'a self, samples: &'a [MetricSample]) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.with(|w| {
                if w.failing_publishes > 0 {
                    w.failing_publishes -= 1;
                    w.refused.push(samples.to_vec());
                    return Err(failure(ErrorKind::Throttled, "PutMetricData"));
                }
                w.published.push(samples.to_vec());
                Ok(())
            })
        })
    }
}
