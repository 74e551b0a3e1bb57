//! The Prometheus metrics, in the text exposition format.
//!
//! Names follow Prometheus conventions: a `backlog_scaler_` prefix, base
//! units in the name (`_seconds`), counters ending in `_total` (added by
//! `prometheus-client`), labels in snake_case.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::engine::Action;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    policy: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiErrorLabels {
    operation: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntervalLabel {
    poll_interval: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabel {
    result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The outcome of one AWS API call, for the call and error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiOutcome<'a> {
    Ok,
    /// Failed, with a short snake_case kind such as `throttling`.
    Error(&'a str),
}

/// What one successful observation and decision showed for a policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyGauges {
    pub backlog: f64,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// The desired count the last decision aimed at.
    pub decided: u32,
}

/// Every metric the controller exports. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    backlog: Family<PolicyLabel, FloatGauge>,
    backlog_per_task: Family<PolicyLabel, FloatGauge>,
    desired: Family<PolicyLabel, Gauge>,
    running: Family<PolicyLabel, Gauge>,
    pending: Family<PolicyLabel, Gauge>,
    decided: Family<PolicyLabel, Gauge>,
    last_success: Family<PolicyLabel, FloatGauge>,
    decisions: Family<DecisionLabels, Counter>,
    api_calls: Family<OperationLabel, Counter>,
    api_errors: Family<ApiErrorLabels, Counter>,
    reloads: Family<ReloadLabel, Counter>,
    /// All policies together: a histogram per policy would be 18 series
    /// each, 18,000 for the 1,000 policies one controller runs.
    evaluation_duration: Histogram,
    last_evaluation_duration: Family<PolicyLabel, FloatGauge>,
    task_startup: Family<PolicyLabel, FloatGauge>,
    task_startup_scale_outs: Family<PolicyLabel, Gauge>,
    cycle_duration: Family<IntervalLabel, Histogram>,
    cycles: Counter,
    /// Serialises encoding (recording is lock-free) and holds the length
    /// of the last scrape.
    encode_lock: Mutex<usize>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("backlog_scaler");
        let backlog = Family::<PolicyLabel, FloatGauge>::default();
        let backlog_per_task = Family::<PolicyLabel, FloatGauge>::default();
        let desired = Family::<PolicyLabel, Gauge>::default();
        let running = Family::<PolicyLabel, Gauge>::default();
        let pending = Family::<PolicyLabel, Gauge>::default();
        let decided = Family::<PolicyLabel, Gauge>::default();
        let last_success = Family::<PolicyLabel, FloatGauge>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let api_calls = Family::<OperationLabel, Counter>::default();
        let api_errors = Family::<ApiErrorLabels, Counter>::default();
        let reloads = Family::<ReloadLabel, Counter>::default();
        let evaluation_duration = evaluation_histogram();
        let last_evaluation_duration = Family::<PolicyLabel, FloatGauge>::default();
        let task_startup = Family::<PolicyLabel, FloatGauge>::default();
        let task_startup_scale_outs = Family::<PolicyLabel, Gauge>::default();
        let cycle_duration =
            Family::<IntervalLabel, Histogram>::new_with_constructor(evaluation_histogram);
        let cycles = Counter::default();

        registry.register(
            "backlog",
            "Weighted backlog (messages) the policy counted at its last evaluation",
            backlog.clone(),
        );
        registry.register(
            "backlog_per_task",
            "Backlog divided by the desired count (the metric AWS recommends for alarms); absent at zero tasks",
            backlog_per_task.clone(),
        );
        registry.register(
            "desired_tasks",
            "Service desired count after the last evaluation (as set, or as observed)",
            desired.clone(),
        );
        registry.register(
            "running_tasks",
            "Service running count as observed at the last evaluation",
            running.clone(),
        );
        registry.register(
            "pending_tasks",
            "Service pending count as observed at the last evaluation",
            pending.clone(),
        );
        registry.register(
            "decided_tasks",
            "Desired count the last decision aimed at",
            decided.clone(),
        );
        registry.register_with_unit(
            "last_success_timestamp",
            "Unix time of the policy's last successful evaluation",
            Unit::Seconds,
            last_success.clone(),
        );
        registry.register("decisions", "Decisions made, by action", decisions.clone());
        registry.register(
            "aws_api_calls",
            "AWS API calls, by operation",
            api_calls.clone(),
        );
        registry.register(
            "aws_api_errors",
            "Failed AWS API calls, by operation and error kind",
            api_errors.clone(),
        );
        registry.register(
            "config_reloads",
            "Policy reloads, by result",
            reloads.clone(),
        );
        registry.register_with_unit(
            "evaluation_duration",
            "Time to observe and decide for one policy, all policies together",
            Unit::Seconds,
            evaluation_duration.clone(),
        );
        registry.register_with_unit(
            "last_evaluation_duration",
            "Time the policy's last evaluation took to observe and decide",
            Unit::Seconds,
            last_evaluation_duration.clone(),
        );
        registry.register_with_unit(
            "task_startup",
            "Task startup measured from the policy's scale-outs (median of the last ones); absent until one completed",
            Unit::Seconds,
            task_startup.clone(),
        );
        registry.register(
            "task_startup_scale_outs",
            "Scale-outs the measured task startup rests on",
            task_startup_scale_outs.clone(),
        );
        registry.register_with_unit(
            "cycle_duration",
            "Time from an evaluation cycle's tick to the end of its last evaluation, by poll interval",
            Unit::Seconds,
            cycle_duration.clone(),
        );
        registry.register(
            "cycles",
            "Evaluation cycles finished (one per group of policies per tick)",
            cycles.clone(),
        );

        // Both results from the start, so `increase()` sees the first reload.
        for result in ["ok", "failed"] {
            let _ = reloads.get_or_create(&ReloadLabel {
                result: result.to_owned(),
            });
        }

        Metrics {
            registry: root,
            backlog,
            backlog_per_task,
            desired,
            running,
            pending,
            decided,
            last_success,
            decisions,
            api_calls,
            api_errors,
            reloads,
            evaluation_duration,
            last_evaluation_duration,
            task_startup,
            task_startup_scale_outs,
            cycle_duration,
            cycles,
            encode_lock: Mutex::new(0),
        }
    }

    /// Set a policy's gauges from an evaluation that observed it.
    /// `backlog_per_task` has no finite value at zero tasks, so its series
    /// is removed then (as CloudWatch's `BacklogPerTask` is left out).
    pub fn record_observation(&self, policy: &str, gauges: PolicyGauges) {
        let label = PolicyLabel {
            policy: policy.to_owned(),
        };
        self.backlog.get_or_create(&label).set(gauges.backlog);
        if gauges.desired == 0 {
            self.backlog_per_task.remove(&label);
        } else {
            self.backlog_per_task
                .get_or_create(&label)
                .set(gauges.backlog / f64::from(gauges.desired));
        }
        self.desired
            .get_or_create(&label)
            .set(i64::from(gauges.desired));
        self.running
            .get_or_create(&label)
            .set(i64::from(gauges.running));
        self.pending
            .get_or_create(&label)
            .set(i64::from(gauges.pending));
        self.decided
            .get_or_create(&label)
            .set(i64::from(gauges.decided));
    }

    /// A policy's evaluation succeeded at `unix_time` (seconds).
    pub fn record_success(&self, policy: &str, unix_time: f64) {
        self.last_success
            .get_or_create(&PolicyLabel {
                policy: policy.to_owned(),
            })
            .set(unix_time);
    }

    /// Count a decision (a failed evaluation's hold included).
    pub fn record_decision(&self, policy: &str, action: Action) {
        self.decisions
            .get_or_create(&DecisionLabels {
                policy: policy.to_owned(),
                action: action.as_str().to_owned(),
            })
            .inc();
    }

    pub fn record_api_call(&self, operation: &str, outcome: ApiOutcome<'_>) {
        self.api_calls
            .get_or_create(&OperationLabel {
                operation: operation.to_owned(),
            })
            .inc();
        if let ApiOutcome::Error(kind) = outcome {
            self.api_errors
                .get_or_create(&ApiErrorLabels {
                    operation: operation.to_owned(),
                    kind: kind.to_owned(),
                })
                .inc();
        }
    }

    pub fn record_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads
            .get_or_create(&ReloadLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn observe_evaluation_seconds(&self, policy: &str, seconds: f64) {
        self.evaluation_duration.observe(seconds);
        self.last_evaluation_duration
            .get_or_create(&PolicyLabel {
                policy: policy.to_owned(),
            })
            .set(seconds);
    }

    /// A policy's measured task startup and the scale-outs it rests on;
    /// `None` removes the series (nothing measured, e.g. a fresh worker).
    pub fn record_startup(&self, policy: &str, measured: Option<(f64, usize)>) {
        let label = PolicyLabel {
            policy: policy.to_owned(),
        };
        match measured {
            Some((seconds, scale_outs)) => {
                self.task_startup.get_or_create(&label).set(seconds);
                self.task_startup_scale_outs
                    .get_or_create(&label)
                    .set(i64::try_from(scale_outs).unwrap_or(i64::MAX));
            }
            None => {
                self.task_startup.remove(&label);
                self.task_startup_scale_outs.remove(&label);
            }
        }
    }

    /// An evaluation cycle of the policies polled every `poll_interval`
    /// (as humantime prints it, e.g. `15s`) ended after `seconds`.
    pub fn record_cycle(&self, poll_interval: &str, seconds: f64) {
        self.cycles.inc();
        self.cycle_duration
            .get_or_create(&IntervalLabel {
                poll_interval: poll_interval.to_owned(),
            })
            .observe(seconds);
    }

    /// Forget a policy's series after a reload removed it, so dashboards do
    /// not show a stale service and a churn of policy names does not grow
    /// the scrape without bound.
    pub fn forget_policy(&self, policy: &str) {
        let label = PolicyLabel {
            policy: policy.to_owned(),
        };
        for family in [
            &self.backlog,
            &self.backlog_per_task,
            &self.last_success,
            &self.last_evaluation_duration,
            &self.task_startup,
        ] {
            family.remove(&label);
        }
        for family in [
            &self.desired,
            &self.running,
            &self.pending,
            &self.decided,
            &self.task_startup_scale_outs,
        ] {
            family.remove(&label);
        }
        for action in [Action::Hold, Action::ScaleOut, Action::ScaleIn] {
            self.decisions.remove(&DecisionLabels {
                policy: policy.to_owned(),
                action: action.as_str().to_owned(),
            });
        }
    }

    /// The text exposition format, ready to serve.
    pub fn encode(&self) -> String {
        let mut last_len = self.encode_lock.lock().unwrap_or_else(|e| e.into_inner());
        // With 1,000 policies a scrape is 0.6 MB: sized from the last one, the
        // text is written into one allocation instead of growing through
        // doublings whose copies would double the process's peak memory.
        let mut out = String::with_capacity(*last_len + *last_len / 8);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        *last_len = out.len();
        out
    }
}

fn evaluation_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAUGES: PolicyGauges = PolicyGauges {
        backlog: 120.0,
        desired: 4,
        running: 3,
        pending: 1,
        decided: 6,
    };

    #[test]
    fn a_scrape_is_written_into_a_buffer_sized_from_the_last() {
        let m = Metrics::new();
        for policy in 0..200 {
            let policy = format!("policy-{policy}");
            m.record_decision(&policy, Action::Hold);
            m.observe_evaluation_seconds(&policy, 0.02);
        }
        let first = m.encode();
        let second = m.encode();
        assert_eq!(first, second);
        // One allocation of the last size and an eighth, never regrown.
        assert_eq!(second.capacity(), first.len() + first.len() / 8);
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::new();
        m.record_observation("orders", GAUGES);
        m.record_decision("orders", Action::ScaleOut);
        m.record_success("orders", 1_700_000_000.0);
        m.record_api_call("GetQueueAttributes", ApiOutcome::Ok);
        m.record_api_call("UpdateService", ApiOutcome::Error("throttling"));
        m.record_reload(false);
        m.observe_evaluation_seconds("orders", 0.02);
        m.record_cycle("15s", 0.2);
        m.record_startup("orders", Some((45.5, 3)));
        let text = m.encode();
        for line in [
            "backlog_scaler_task_startup_seconds{policy=\"orders\"} 45.5",
            "backlog_scaler_task_startup_scale_outs{policy=\"orders\"} 3",
            "backlog_scaler_backlog{policy=\"orders\"} 120.0",
            "backlog_scaler_backlog_per_task{policy=\"orders\"} 30.0",
            "backlog_scaler_desired_tasks{policy=\"orders\"} 4",
            "backlog_scaler_running_tasks{policy=\"orders\"} 3",
            "backlog_scaler_pending_tasks{policy=\"orders\"} 1",
            "backlog_scaler_decided_tasks{policy=\"orders\"} 6",
            "backlog_scaler_decisions_total{policy=\"orders\",action=\"scale_out\"} 1",
            "backlog_scaler_aws_api_calls_total{operation=\"UpdateService\"} 1",
            "backlog_scaler_aws_api_errors_total{operation=\"UpdateService\",kind=\"throttling\"} 1",
            "backlog_scaler_config_reloads_total{result=\"failed\"} 1",
            "backlog_scaler_evaluation_duration_seconds_count 1",
            "backlog_scaler_last_evaluation_duration_seconds{policy=\"orders\"} 0.02",
            "backlog_scaler_last_success_timestamp_seconds{policy=\"orders\"} 1700000000.0",
            "backlog_scaler_cycle_duration_seconds_count{poll_interval=\"15s\"} 1",
            "backlog_scaler_cycles_total 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        m.forget_policy("orders");
        let text = m.encode();
        assert!(!text.contains("policy=\"orders\""), "{text}");
        assert!(text.contains("aws_api_calls_total{operation=\"UpdateService\"} 1"));
        assert!(text.contains("backlog_scaler_evaluation_duration_seconds_count 1"));
    }

    #[test]
    fn a_policy_costs_a_series_per_figure_not_a_histogram() {
        // The scrape of 1,000 policies is the controller's largest
        // allocation; a histogram per policy made it 2 MB.
        let m = Metrics::new();
        for policy in ["orders", "billing"] {
            m.record_observation(policy, GAUGES);
            m.record_success(policy, 1_700_000_000.0);
            for action in [Action::Hold, Action::ScaleOut, Action::ScaleIn] {
                m.record_decision(policy, action);
                m.observe_evaluation_seconds(policy, 0.02);
            }
        }
        let text = m.encode();
        let series = text
            .lines()
            .filter(|line| line.contains("policy=\"orders\""))
            .count();
        // 7 gauges, 3 decision counters, the last evaluation's duration.
        assert_eq!(series, 11, "{text}");
        assert!(text.contains("backlog_scaler_evaluation_duration_seconds_count 6"));
    }

    #[test]
    fn the_measured_startup_is_absent_until_measured_and_removed_with_it() {
        let m = Metrics::new();
        m.record_observation("orders", GAUGES);
        let text = m.encode();
        assert!(!text.contains("task_startup_seconds{"), "{text}");
        m.record_startup("orders", Some((45.0, 1)));
        m.record_startup("orders", Some((50.0, 2)));
        let text = m.encode();
        assert!(text.contains("# TYPE backlog_scaler_task_startup_seconds gauge"));
        assert!(text.contains("# UNIT backlog_scaler_task_startup_seconds seconds"));
        assert!(text.contains("backlog_scaler_task_startup_seconds{policy=\"orders\"} 50.0"));
        assert!(text.contains("backlog_scaler_task_startup_scale_outs{policy=\"orders\"} 2"));
        m.record_startup("orders", None);
        let text = m.encode();
        assert!(!text.contains("task_startup_seconds{"), "{text}");
        assert!(!text.contains("task_startup_scale_outs{"), "{text}");
    }

    #[test]
    fn backlog_per_task_is_absent_at_zero_tasks() {
        let m = Metrics::new();
        let gauges = PolicyGauges {
            backlog: 30.0,
            desired: 3,
            running: 3,
            pending: 0,
            decided: 3,
        };
        m.record_observation("orders", gauges);
        assert!(m
            .encode()
            .contains("backlog_scaler_backlog_per_task{policy=\"orders\"} 10.0"));
        m.record_observation(
            "orders",
            PolicyGauges {
                desired: 0,
                ..gauges
            },
        );
        let text = m.encode();
        assert!(!text.contains("backlog_per_task{"), "{text}");
        assert!(text.contains("backlog_scaler_backlog{policy=\"orders\"} 30.0"));
    }
}
