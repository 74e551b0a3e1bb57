//! One evaluation cycle's shared reads: the policies evaluated at the same
//! tick read each distinct queue once, and describe each cluster's services
//! ten at a time, instead of one call per policy.
//!
//! [`SharedReads`] is a single-flight memo that lives for one cycle. It is
//! itself a [`QueueDepthReader`] and [`ServiceStateReader`], so evaluations
//! go through it without knowing. Every read is a shared future awaited by
//! the policies that need it, and only by them: a hung queue or cluster
//! delays only its own policies. Nothing outlives the cycle, failures
//! included, so the next cycle reads afresh.
//!
//! The first lookup of a cluster starts the reads of every service of that
//! cluster the cycle was planned with (the services of the policies due at
//! the tick), in batches of at most [`SERVICE_BATCH`]; a service that was
//! not planned gets a batch of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::engine::{QueueDepth, ServiceCounts};
use crate::policy::Policy;
use crate::ports::{
    ErrorKind, PortError, PortFuture, Ports, QueueDepthReader, ServiceStateReader, SERVICE_BATCH,
};

type Read<T> = Shared<BoxFuture<'static, Result<T, PortError>>>;
type BatchAnswers = Vec<Result<ServiceCounts, PortError>>;

/// The reads of one evaluation cycle, shared by its policies.
pub struct SharedReads {
    queues: Arc<dyn QueueDepthReader>,
    services: Arc<dyn ServiceStateReader>,
    /// Per cluster, the services its first lookup reads (sorted, distinct).
    planned: HashMap<String, Vec<String>>,
    memo: Mutex<Memo>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Memo {
    queues: HashMap<String, Read<QueueDepth>>,
    services: HashMap<(String, String), Read<ServiceCounts>>,
}

/// Reads actually started (a shared future does nothing until awaited).
#[derive(Default)]
struct Counts {
    queues: AtomicUsize,
    batches: AtomicUsize,
}

impl SharedReads {
    /// A memo over `ports`, planned for the `(cluster, service)` pairs of
    /// the cycle's policies.
    pub fn new<'a>(
        ports: &Ports,
        services: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> SharedReads {
        let mut by_cluster: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (cluster, service) in services {
            by_cluster.entry(cluster).or_default().insert(service);
        }
        let planned = by_cluster
            .into_iter()
            .map(|(cluster, services)| {
                let services = services.into_iter().map(str::to_owned).collect();
                (cluster.to_owned(), services)
            })
            .collect();
        SharedReads {
            queues: ports.queues.clone(),
            services: ports.services.clone(),
            planned,
            memo: Mutex::new(Memo::default()),
            counts: Arc::default(),
        }
    }

    /// A memo planned for every one of `policies`: one cycle over all of
    /// them, as `plan` runs.
    pub fn for_policies(ports: &Ports, policies: &[Policy]) -> SharedReads {
        SharedReads::new(
            ports,
            policies
                .iter()
                .map(|p| (p.cluster.as_str(), p.service.as_str())),
        )
    }

    /// `ports` with their reads going through this memo.
    pub fn ports(self: &Arc<Self>, ports: &Ports) -> Ports {
        Ports {
            queues: self.clone(),
            services: self.clone(),
            scaler: ports.scaler.clone(),
            metrics: ports.metrics.clone(),
        }
    }

    /// Distinct queues read so far.
    pub fn queues_read(&self) -> usize {
        self.counts.queues.load(Ordering::Relaxed)
    }

    /// Batch reads of services started so far.
    pub fn service_batches(&self) -> usize {
        self.counts.batches.load(Ordering::Relaxed)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self, queue: &str) -> Read<QueueDepth> {
        let mut memo = self.memo();
        if let Some(read) = memo.queues.get(queue) {
            return read.clone();
        }
        let port = self.queues.clone();
        let counts = self.counts.clone();
        let name = queue.to_owned();
        let read = shared(async move {
            counts.queues.fetch_add(1, Ordering::Relaxed);
            port.queue_depth(&name).await
        });
        memo.queues.insert(queue.to_owned(), read.clone());
        read
    }

    fn service(&self, cluster: &str, service: &str) -> Read<ServiceCounts> {
        let mut memo = self.memo();
        let key = (cluster.to_owned(), service.to_owned());
        if let Some(read) = memo.services.get(&key) {
            return read.clone();
        }
        let planned = self.planned.get(cluster).filter(|services| {
            services
                .binary_search_by(|s| s.as_str().cmp(service))
                .is_ok()
        });
        let unread: Vec<String> = match planned {
            // The cluster's first lookup: all its planned services not
            // read yet.
            Some(services) => services
                .iter()
                .filter(|s| {
                    !memo
                        .services
                        .contains_key(&(cluster.to_owned(), (*s).clone()))
                })
                .cloned()
                .collect(),
            None => vec![service.to_owned()],
        };
        for batch in unread.chunks(SERVICE_BATCH) {
            let answers = self.batch(cluster, batch.to_vec());
            for (index, name) in batch.iter().enumerate() {
                let answers = answers.clone();
                let read = shared(async move {
                    answers.await.and_then(|answers| {
                        answers.get(index).cloned().unwrap_or_else(|| {
                            Err(PortError::new(
                                ErrorKind::Other,
                                "DescribeServices",
                                "the batch read left this service out",
                            ))
                        })
                    })
                });
                memo.services
                    .insert((cluster.to_owned(), name.clone()), read);
            }
        }
        memo.services[&key].clone()
    }

    /// One batch read of `services` (at most [`SERVICE_BATCH`]).
    fn batch(&self, cluster: &str, services: Vec<String>) -> Read<BatchAnswers> {
        let port = self.services.clone();
        let counts = self.counts.clone();
        let cluster = cluster.to_owned();
        shared(async move {
            counts.batches.fetch_add(1, Ordering::Relaxed);
            port.services_state(&cluster, &services).await
        })
    }
}

fn shared<T: Clone + Send + Sync + 'static>(
    read: impl Future<Output = Result<T, PortError>> + Send + 'static,
) -> Read<T> {
    read.boxed().shared()
}

impl QueueDepthReader for SharedReads {
    fn queue_depth<'a>(&'a self, queue: &'a str) -> PortFuture<'a, QueueDepth> {
        Box::pin(self.queue(queue))
    }
}

impl ServiceStateReader for SharedReads {
    fn service_state<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
    ) -> PortFuture<'a, ServiceCounts> {
        Box::pin(self.service(cluster, service))
    }
}
