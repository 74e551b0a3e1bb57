//! The controller's top level: starts a worker per policy, applies reloads,
//! and shuts down. In the style of mini-redis, shutdown is a future passed
//! in; the supervisor stops taking new ticks when it resolves and waits
//! (for a bounded grace period) for evaluations in flight.
//!
//! Every task is stopped the same way, by a [`CancellationToken`]: the
//! metrics flusher's token is the root, the workers' token its child, and
//! each worker has a child of that (so a reload stops one worker). Shutdown
//! cancels the workers' token; the root is cancelled only once they are
//! done, so the last flush carries their last samples.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::evaluate::Deadlines;
use super::groups::Groups;
use super::metrics_buffer::{run_flusher, MetricsBuffer};
use super::observer::{NoObserver, Observer, HEARTBEAT_INTERVAL};
use super::schedule::DEFAULT_PHASE_SPREAD;
use super::shard::Shard;
use super::summary::{log_summary, ActivityCounter, SUMMARY_INTERVAL};
use super::worker::{Worker, WorkerContext};
use crate::lease::WriteGate;
use crate::plural::plural;
use crate::policy::{LoadedPolicies, Policy, PolicyErrors};
use crate::ports::{Ports, PortsSource};

/// A new set of policies from a reload, or why it could not be loaded.
pub type PolicyUpdate = Result<LoadedPolicies, PolicyErrors>;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Dry-run every policy, whatever its own `dry_run` says.
    pub dry_run: bool,
    /// Most evaluations in progress at once.
    pub max_concurrency: usize,
    /// Limits on one evaluation's reads and write.
    pub deadlines: Deadlines,
    /// After shutdown, how long evaluations in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How often buffered metric samples are published.
    pub metrics_flush_interval: Duration,
    /// Each group of policies (same poll interval, same AWS target) ticks
    /// at a phase drawn within this fraction (0..=1) of its interval, so
    /// groups, replicas and restarts do not call the APIs in lockstep; 0
    /// ticks every group at the controller's start (see `schedule.rs`).
    pub phase_spread: f64,
    /// Seeds the phases, for reproducible tests; `None` draws from the OS.
    pub seed: Option<u64>,
    /// Run only the policies of this shard; `None` runs them all.
    pub shard: Option<Shard>,
    /// With two replicas: writes only while this gate is open (this
    /// replica holds the lease); otherwise every policy runs as in dry-run.
    /// `None` writes always.
    pub write_gate: Option<WriteGate>,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            dry_run: false,
            max_concurrency: 16,
            deadlines: Deadlines::default(),
            shutdown_grace: Duration::from_secs(5),
            metrics_flush_interval: Duration::from_secs(15),
            phase_spread: DEFAULT_PHASE_SPREAD,
            seed: None,
            shard: None,
            write_gate: None,
        }
    }
}

/// The live controller.
pub struct Controller {
    config: ControllerConfig,
    /// The ports of every policy's target.
    source: Arc<dyn PortsSource>,
    /// Where metric samples go: the controller's own account and region,
    /// whatever the policies' targets.
    metrics_publisher: Option<Arc<dyn crate::ports::MetricsPublisher>>,
    observer: Arc<dyn Observer>,
}

struct Running {
    /// The policy its worker runs (shared with it: with 1,000 policies a
    /// copy each would be most of a megabyte).
    policy: Arc<Policy>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Controller {
    /// A controller whose policies all use `ports`.
    pub fn new(config: ControllerConfig, ports: Ports) -> Controller {
        let metrics_publisher = ports.metrics.clone();
        Controller::with_source(config, Arc::new(ports), metrics_publisher)
    }

    /// A controller whose policies get their ports from `source`, by
    /// target, and whose metric samples go to `metrics_publisher`.
    pub fn with_source(
        config: ControllerConfig,
        source: Arc<dyn PortsSource>,
        metrics_publisher: Option<Arc<dyn crate::ports::MetricsPublisher>>,
    ) -> Controller {
        Controller {
            config,
            source,
            metrics_publisher,
            observer: Arc::new(NoObserver),
        }
    }

    /// Report every evaluation and policy change to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Controller {
        self.observer = observer;
        self
    }

    /// Run `policies` until `shutdown` resolves, applying each update from
    /// `reloads` (a closed channel simply means no more reloads). Returns
    /// once every evaluation in flight has finished or the grace period has
    /// passed.
    pub async fn run(
        self,
        policies: Vec<Policy>,
        mut reloads: mpsc::Receiver<PolicyUpdate>,
        shutdown: impl Future<Output = ()>,
    ) {
        let config = &self.config;
        let metrics = self
            .metrics_publisher
            .as_ref()
            .map(|_| Arc::new(MetricsBuffer::default()));
        let clock = Clock::start();
        let context = Arc::new(WorkerContext {
            source: self.source.clone(),
            write_gate: config.write_gate.clone(),
            clock,
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            deadlines: config.deadlines,
            groups: Arc::new(Groups::new(
                clock.origin(),
                config.seed,
                config.phase_spread,
                self.observer.clone(),
            )),
            observer: self.observer.clone(),
            metrics: metrics.clone(),
            summary: Arc::new(ActivityCounter::default()),
        });
        let stop_flusher = CancellationToken::new();
        let stop_workers = stop_flusher.child_token();
        let flusher = match (&self.metrics_publisher, metrics) {
            (Some(publisher), Some(buffer)) => Some(tokio::spawn(run_flusher(
                buffer,
                publisher.clone(),
                config.metrics_flush_interval,
                config.deadlines.write,
                stop_flusher.clone(),
            ))),
            _ => None,
        };

        let mut running: HashMap<String, Running> = HashMap::new();
        // Workers stopped by a reload, finishing their last evaluation.
        let mut retiring = self.apply(&context, &stop_workers, &mut running, policies);

        tokio::pin!(shutdown);
        let mut reloads_open = true;
        let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut summary = tokio::time::interval_at(
            tokio::time::Instant::now() + SUMMARY_INTERVAL,
            SUMMARY_INTERVAL,
        );
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = heartbeat.tick() => self.observer.heartbeat(),
                _ = summary.tick() => log_summary(running.len(), context.summary.take()),
                update = reloads.recv(), if reloads_open => match update {
                    Some(Ok(loaded)) => {
                        for warning in &loaded.warnings {
                            tracing::warn!("{warning}");
                        }
                        retiring.retain(|task| !task.is_finished());
                        retiring.extend(self.apply(
                            &context,
                            &stop_workers,
                            &mut running,
                            loaded.policies,
                        ));
                    }
                    Some(Err(errors)) => {
                        for error in &errors.errors {
                            tracing::error!("{error}");
                        }
                        tracing::error!(
                            errors = errors.errors.len(),
                            "policy reload failed; still running the previous {}",
                            plural(running.len() as u64, "policy", "policies")
                        );
                        self.observer.reload_failed(&errors);
                    }
                    None => reloads_open = false,
                },
            }
        }

        tracing::info!(
            "shutting down: no new evaluations; waiting up to {} for those in flight",
            humantime::format_duration(config.shutdown_grace)
        );
        let deadline = tokio::time::Instant::now() + config.shutdown_grace;
        stop_workers.cancel();
        let mut workers = retiring;
        workers.extend(running.into_values().map(|worker| worker.task));
        if !join_until(workers, deadline).await {
            tracing::warn!("evaluations still in flight after the grace period; abandoning them");
        }
        // Metrics last, so the evaluations that just finished are in them;
        // a second at least, even if the evaluations used up the grace.
        stop_flusher.cancel();
        let flush_deadline = deadline.max(tokio::time::Instant::now() + Duration::from_secs(1));
        if !join_until(flusher.into_iter().collect(), flush_deadline).await {
            tracing::warn!("the last metrics could not be published in time");
        }
        tracing::info!("stopped");
    }

    /// Make the running workers match `policies`: unchanged policies keep
    /// their worker (and with it their engine state and schedule); changed
    /// and new ones get a fresh worker; removed ones are stopped. Returns
    /// the stopped workers that no new worker waits for. New workers stop
    /// with `stop_workers`.
    fn apply(
        &self,
        context: &Arc<WorkerContext>,
        stop_workers: &CancellationToken,
        running: &mut HashMap<String, Running>,
        policies: Vec<Policy>,
    ) -> Vec<JoinHandle<()>> {
        let policies: Vec<Policy> = match self.config.shard {
            Some(shard) => policies
                .into_iter()
                .filter(|policy| shard.owns(&policy.name))
                .collect(),
            None => policies,
        };
        let mut wanted: HashMap<String, Policy> = HashMap::new();
        for policy in &policies {
            wanted.insert(policy.name.clone(), policy.clone());
        }
        let (mut added, mut changed, mut removed, mut unchanged) = (vec![], vec![], vec![], 0);

        // A replaced worker may still be finishing an evaluation; its
        // successor on the same service waits for it, so two workers never
        // act on one service at once.
        let mut finishing: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(&name)
                .is_some_and(|policy| same_content(policy, &running[&name].policy));
            if keep {
                continue;
            }
            if let Some(old) = running.remove(&name) {
                old.stop.cancel();
                let key = (old.policy.cluster.clone(), old.policy.service.clone());
                finishing.insert(key, old.task);
                if wanted.contains_key(&name) {
                    changed.push(name);
                } else {
                    removed.push(name);
                }
            }
        }

        for policy in policies {
            if running.contains_key(&policy.name) {
                unchanged += 1;
                continue;
            }
            if !changed.contains(&policy.name) {
                added.push(policy.name.clone());
            }
            let key = (policy.cluster.clone(), policy.service.clone());
            let predecessor = finishing.remove(&key);
            let stop = stop_workers.child_token();
            let stopped = stop.clone();
            let policy = Arc::new(policy);
            let worker = Worker {
                dry_run: self.config.dry_run || policy.dry_run,
                membership: context.groups.join(&policy),
                policy: policy.clone(),
                context: context.clone(),
            };
            let task = tokio::spawn(async move {
                if let Some(predecessor) = predecessor {
                    let _ = predecessor.await;
                }
                worker.run(stopped).await;
            });
            running.insert(policy.name.clone(), Running { policy, stop, task });
        }

        added.sort();
        changed.sort();
        removed.sort();
        tracing::info!(
            policies = running.len(),
            added = %added.join(","),
            changed = %changed.join(","),
            removed = %removed.join(","),
            unchanged,
            shard = self.config.shard.map(|shard| shard.to_string()),
            "running {}",
            plural(running.len() as u64, "policy", "policies")
        );
        let mut current: Vec<Policy> = wanted.into_values().collect();
        current.sort_by(|a, b| a.name.cmp(&b.name));
        self.observer.policies_applied(&current);
        finishing.into_values().collect()
    }
}

/// Wait for `tasks` until `deadline`; abort the ones still running then.
/// Whether all finished in time.
async fn join_until(tasks: Vec<JoinHandle<()>>, deadline: tokio::time::Instant) -> bool {
    let aborts: Vec<_> = tasks.iter().map(|task| task.abort_handle()).collect();
    let all = async {
        for task in tasks {
            let _ = task.await;
        }
    };
    if tokio::time::timeout_at(deadline, all).await.is_ok() {
        return true;
    }
    for abort in aborts {
        abort.abort();
    }
    false
}

fn without_source(policy: &Policy) -> Policy {
    Policy {
        source: None,
        ..policy.clone()
    }
}

/// Same policy, wherever in the files it now sits.
fn same_content(policy: &Policy, other: &Policy) -> bool {
    without_source(policy) == without_source(other)
}
