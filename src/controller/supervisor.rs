//! The controller's top level: starts a task per evaluation group (see
//! `groups.rs`), applies reloads as a diff per group, and shuts down. In
//! the style of mini-redis, shutdown is a future passed in; the supervisor
//! stops the groups when it resolves and waits (for a bounded grace period)
//! for the evaluations in flight.
//!
//! Every task is stopped the same way, by a [`CancellationToken`]: the
//! metrics flusher's token is the root, the groups' token its child, and
//! each group has a child of that. Shutdown cancels the groups' token; the
//! root is cancelled only once they are done, so the last flush carries
//! their last samples.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::evaluate::Deadlines;
use super::groups::{run_group, same_content, GroupContext, GroupKey};
use super::metrics_buffer::{run_flusher, MetricsBuffer};
use super::observer::{NoObserver, Observer, HEARTBEAT_INTERVAL};
use super::schedule::DEFAULT_PHASE_SPREAD;
use super::shard::Shard;
use super::summary::{log_summary, SUMMARY_INTERVAL};
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
    /// Each group of policies (same poll interval, same AWS scope) ticks
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

/// A running group's task, and how to send it its new members.
struct RunningGroup {
    updates: mpsc::UnboundedSender<Vec<Arc<Policy>>>,
    task: JoinHandle<()>,
}

/// What runs: every policy by name (shared with its group: with 1,000
/// policies a copy each would be most of a megabyte), and every group.
#[derive(Default)]
struct Running {
    policies: HashMap<String, Arc<Policy>>,
    groups: HashMap<GroupKey, RunningGroup>,
}

impl Controller {
    /// A controller whose policies all use `ports`.
    pub fn new(config: ControllerConfig, ports: Ports) -> Controller {
        let metrics_publisher = ports.metrics.clone();
        Controller::with_source(config, Arc::new(ports), metrics_publisher)
    }

    /// A controller whose policies get their ports from `source`, by
    /// AWS scope, and whose metric samples go to `metrics_publisher`.
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
        let context = Arc::new(GroupContext {
            source: self.source.clone(),
            write_gate: config.write_gate.clone(),
            clock: Clock::start(),
            permits: Semaphore::new(config.max_concurrency.max(1)),
            deadlines: config.deadlines,
            dry_run: config.dry_run,
            seed: config.seed.unwrap_or_else(rand::random),
            phase_spread: config.phase_spread,
            observer: self.observer.clone(),
            metrics: metrics.clone(),
            summary: Default::default(),
            in_flight: Default::default(),
        });
        let stop_flusher = CancellationToken::new();
        let stop_groups = stop_flusher.child_token();
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

        let mut running = Running::default();
        // Groups left empty by a reload, finishing their last evaluations.
        let mut retiring = self.apply(&context, &stop_groups, &mut running, policies);

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
                _ = summary.tick() => log_summary(running.policies.len(), context.summary.take()),
                update = reloads.recv(), if reloads_open => match update {
                    Some(Ok(loaded)) => {
                        for warning in &loaded.warnings {
                            tracing::warn!("{warning}");
                        }
                        retiring.retain(|task| !task.is_finished());
                        retiring.extend(self.apply(
                            &context,
                            &stop_groups,
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
                            plural(running.policies.len() as u64, "policy", "policies")
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
        stop_groups.cancel();
        let mut groups = retiring;
        groups.extend(running.groups.into_values().map(|group| group.task));
        if !join_until(groups, deadline).await {
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

    /// Make what runs match `policies`, group by group: each group still
    /// wanted gets its new members (it keeps the state and schedule of the
    /// unchanged ones), new groups start, and groups left empty stop. A
    /// policy whose `poll_interval` or target changed leaves one group for
    /// another. Returns the stopped groups' tasks; new groups stop with
    /// `stop_groups`.
    fn apply(
        &self,
        context: &Arc<GroupContext>,
        stop_groups: &CancellationToken,
        running: &mut Running,
        policies: Vec<Policy>,
    ) -> Vec<JoinHandle<()>> {
        let policies: Vec<Policy> = match self.config.shard {
            Some(shard) => policies
                .into_iter()
                .filter(|policy| shard.owns(&policy.name))
                .collect(),
            None => policies,
        };
        let (mut added, mut changed, mut unchanged) = (vec![], vec![], 0);
        let mut wanted: HashMap<String, Arc<Policy>> = HashMap::new();
        let mut by_group: HashMap<GroupKey, Vec<Arc<Policy>>> = HashMap::new();
        for policy in policies {
            let policy = match running.policies.get(&policy.name) {
                Some(old) if same_content(old, &policy) => {
                    unchanged += 1;
                    old.clone()
                }
                Some(_) => {
                    changed.push(policy.name.clone());
                    Arc::new(policy)
                }
                None => {
                    added.push(policy.name.clone());
                    Arc::new(policy)
                }
            };
            by_group
                .entry(GroupKey::of(&policy))
                .or_default()
                .push(policy.clone());
            wanted.insert(policy.name.clone(), policy);
        }
        let mut removed: Vec<String> = running
            .policies
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        running.policies = wanted;

        let mut retired = Vec::new();
        let keys: Vec<GroupKey> = running.groups.keys().cloned().collect();
        for key in keys {
            match by_group.remove(&key) {
                Some(members) => {
                    // A group ends only by a reload's doing or shutdown: it
                    // is still receiving.
                    let _ = running.groups[&key].updates.send(members);
                }
                None => {
                    // Its channel closes: it ends once its evaluations do.
                    if let Some(group) = running.groups.remove(&key) {
                        retired.push(group.task);
                    }
                }
            }
        }
        for (key, members) in by_group {
            let (updates, receiver) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_group(
                context.clone(),
                key.clone(),
                members,
                receiver,
                stop_groups.child_token(),
            ));
            running.groups.insert(key, RunningGroup { updates, task });
        }

        added.sort();
        changed.sort();
        removed.sort();
        let count = running.policies.len();
        tracing::info!(
            policies = count,
            added = %added.join(","),
            changed = %changed.join(","),
            removed = %removed.join(","),
            unchanged,
            shard = self.config.shard.map(|shard| shard.to_string()),
            "running {}",
            plural(count as u64, "policy", "policies")
        );
        let mut current: Vec<Arc<Policy>> = running.policies.values().cloned().collect();
        current.sort_by(|a, b| a.name.cmp(&b.name));
        self.observer.policies_applied(&current);
        retired
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
