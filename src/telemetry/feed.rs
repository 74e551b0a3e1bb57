//! The controller's [`Observer`] that feeds the metrics, readiness and
//! heartbeat, and the AWS call listener that feeds the API call counters.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use super::metrics::{ApiOutcome, PolicyGauges};
use super::Telemetry;
use crate::aws::CallListener;
use crate::controller::{CycleReport, Evaluation, MeasuredStartup, Observer};
use crate::policy::{Policy, PolicyErrors};
use crate::ports::error_chain;

/// Turns what the controller reports into metrics and readiness.
pub struct TelemetryObserver {
    telemetry: Telemetry,
    /// The policies running, once the controller has said which (`None`
    /// before its first [`Observer::policies_applied`]).
    running: Mutex<Option<BTreeSet<String>>>,
}

impl Telemetry {
    /// An observer to give the controller ([`crate::controller::Controller::with_observer`]).
    pub fn observer(&self) -> TelemetryObserver {
        TelemetryObserver {
            telemetry: self.clone(),
            running: Mutex::new(None),
        }
    }

    /// A listener to give the AWS adapters ([`crate::aws::ApiCalls::with_listener`]):
    /// counts every call by operation, and failed ones by error kind.
    pub fn call_listener(&self) -> CallListener {
        let metrics = self.metrics.clone();
        Arc::new(move |operation, error| {
            let outcome = match error {
                None => ApiOutcome::Ok,
                Some(kind) => ApiOutcome::Error(kind.as_str()),
            };
            metrics.record_api_call(operation, outcome);
        })
    }
}

impl TelemetryObserver {
    fn running(&self) -> std::sync::MutexGuard<'_, Option<BTreeSet<String>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A policy removed by a reload may finish one last evaluation after
    /// it is gone: recording it would bring back the series the reload
    /// removed.
    fn is_gone(&self, policy: &str) -> bool {
        self.running()
            .as_ref()
            .is_some_and(|running| !running.contains(policy))
    }
}

impl Observer for TelemetryObserver {
    fn evaluated(&self, evaluation: &Evaluation) {
        let policy = evaluation.policy.as_str();
        if self.is_gone(policy) {
            return;
        }
        self.telemetry.states.record(evaluation);
        let metrics = &self.telemetry.metrics;
        metrics.observe_evaluation_seconds(policy, evaluation.duration.as_secs_f64());
        metrics.record_decision(policy, evaluation.decision.action());
        if let (Ok(observation), Some(backlog), Some(desired)) = (
            &evaluation.observation,
            evaluation.decision.backlog(),
            evaluation.desired_after(),
        ) {
            metrics.record_observation(
                policy,
                PolicyGauges {
                    backlog,
                    desired,
                    running: observation.service.running,
                    pending: observation.service.pending,
                    decided: evaluation.decision.desired().unwrap_or(desired),
                },
            );
        }
        match evaluation.error() {
            None => {
                let unix_time = evaluation
                    .wall_time
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                metrics.record_success(policy, unix_time);
                self.telemetry.readiness.record_success(policy);
            }
            Some(error) => self
                .telemetry
                .readiness
                .record_failure(policy, &error_chain(error)),
        }
    }

    fn startup_measured(&self, policy: &str, measured: Option<MeasuredStartup>) {
        if self.is_gone(policy) {
            return;
        }
        self.telemetry.metrics.record_startup(
            policy,
            measured.map(|m| (m.startup.as_secs_f64(), m.scale_outs)),
        );
    }

    fn policies_applied(&self, policies: &[Arc<Policy>]) {
        let now: BTreeSet<String> = policies.iter().map(|p| p.name.clone()).collect();
        let mut running = self.running();
        // The controller applies its first set at start; every later one is
        // a successful reload.
        if let Some(before) = running.as_ref() {
            self.telemetry.metrics.record_reload(true);
            for gone in before.difference(&now) {
                self.telemetry.metrics.forget_policy(gone);
            }
        }
        self.telemetry
            .readiness
            .set_policies(now.iter().map(String::as_str));
        self.telemetry.states.set_policies(policies);
        *running = Some(now);
    }

    fn reload_failed(&self, _errors: &PolicyErrors) {
        self.telemetry.metrics.record_reload(false);
    }

    fn cycle_finished(&self, report: &CycleReport) {
        let interval = humantime::format_duration(report.poll_interval).to_string();
        self.telemetry
            .metrics
            .record_cycle(&interval, report.duration.as_secs_f64());
    }

    fn heartbeat(&self) {
        self.telemetry.heartbeat.beat();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::controller::WriteOutcome;
    use crate::engine::{
        Decision, Observation, Outcome, QueueDepth, Reason, ServiceCounts, Timestamp,
    };
    use crate::ports::{ErrorKind, PortError};

    fn policy(name: &str) -> Arc<Policy> {
        Arc::new(Policy::with_defaults(name, "jobs", name, name))
    }

    /// A decision from `current` to `desired`; unobserved without them.
    fn decision(current: Option<u32>, desired: Option<u32>) -> Decision {
        let outcome = match (current, desired) {
            (Some(current), Some(desired)) => Outcome::Sized {
                current,
                desired,
                backlog: 45.0,
                recommendation: desired,
            },
            _ => Outcome::Unobserved,
        };
        Decision {
            outcome,
            reason: Reason::default(),
        }
    }

    /// `orders` at 45 messages, desired 1 (running 1, pending 0), scaled to 5.
    fn scaled_out() -> Evaluation {
        Evaluation {
            policy: "orders".into(),
            at: Timestamp::ZERO,
            wall_time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(20),
            dry_run: false,
            observation: Ok(Observation::single(
                QueueDepth {
                    visible: 45,
                    ..QueueDepth::default()
                },
                ServiceCounts {
                    desired: 1,
                    running: 1,
                    pending: 0,
                    deployment_in_progress: false,
                },
            )),
            external_change: None,
            decision: decision(Some(1), Some(5)),
            write: WriteOutcome::Applied { from: 1, to: 5 },
            engine: Default::default(),
        }
    }

    fn failed(policy: &str) -> Evaluation {
        Evaluation {
            policy: policy.into(),
            at: Timestamp::ZERO,
            wall_time: SystemTime::now(),
            duration: Duration::from_millis(3),
            dry_run: false,
            observation: Err(PortError::new(
                ErrorKind::QueueNotFound,
                "GetQueueUrl",
                "ghost",
            )),
            external_change: None,
            decision: decision(None, None),
            write: WriteOutcome::Unchanged,
            engine: Default::default(),
        }
    }

    #[test]
    fn a_successful_evaluation_sets_the_gauges_and_makes_its_policy_ready() {
        let telemetry = Telemetry::new(3, Duration::from_secs(30));
        let observer = telemetry.observer();
        observer.policies_applied(&[policy("orders")]);
        assert!(!telemetry.readiness.report().ready);

        observer.evaluated(&scaled_out());
        let text = telemetry.metrics.encode();
        for line in [
            "backlog_scaler_backlog{policy=\"orders\"} 45.0",
            // Per task of the count just set, not of the one found.
            "backlog_scaler_backlog_per_task{policy=\"orders\"} 9.0",
            "backlog_scaler_desired_tasks{policy=\"orders\"} 5",
            "backlog_scaler_running_tasks{policy=\"orders\"} 1",
            "backlog_scaler_pending_tasks{policy=\"orders\"} 0",
            "backlog_scaler_decided_tasks{policy=\"orders\"} 5",
            "backlog_scaler_decisions_total{policy=\"orders\",action=\"scale_out\"} 1",
            "backlog_scaler_last_success_timestamp_seconds{policy=\"orders\"} 1700000000.0",
            "backlog_scaler_evaluation_duration_seconds_count 1",
            "backlog_scaler_last_evaluation_duration_seconds{policy=\"orders\"}",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        assert!(telemetry.readiness.report().ready);
    }

    #[test]
    fn failures_count_a_hold_and_make_the_policy_failing_after_the_threshold() {
        let telemetry = Telemetry::new(3, Duration::from_secs(30));
        let observer = telemetry.observer();
        observer.policies_applied(&[policy("ghost")]);
        for _ in 0..2 {
            observer.evaluated(&failed("ghost"));
        }
        let report = telemetry.readiness.report();
        assert_eq!(report.not_ready[0].state, "not_evaluated_yet");
        observer.evaluated(&failed("ghost"));
        let report = telemetry.readiness.report();
        assert_eq!(report.not_ready[0].state, "failing");
        assert_eq!(
            report.not_ready[0].last_error.as_deref(),
            Some("queue ghost does not exist")
        );
        let text = telemetry.metrics.encode();
        assert!(text.contains("backlog_scaler_decisions_total{policy=\"ghost\",action=\"hold\"} 3"));
        assert!(
            !text.contains("backlog_scaler_backlog{"),
            "no figures: {text}"
        );
        assert!(!text.contains("last_success_timestamp_seconds{"), "{text}");
    }

    #[test]
    fn reloads_are_counted_and_removed_policies_forgotten() {
        let telemetry = Telemetry::new(3, Duration::from_secs(30));
        let observer = telemetry.observer();
        observer.policies_applied(&[policy("orders"), policy("billing")]);
        let count = |result: &str| {
            let needle = format!("backlog_scaler_config_reloads_total{{result=\"{result}\"}} ");
            let text = telemetry.metrics.encode();
            let line = text.lines().find(|l| l.starts_with(&needle)).unwrap_or("");
            line[needle.len().min(line.len())..].to_owned()
        };
        assert_eq!(count("ok"), "0", "the first set is the start, not a reload");
        observer.evaluated(&scaled_out());

        observer.reload_failed(&PolicyErrors { errors: vec![] });
        observer.policies_applied(&[policy("billing")]);
        assert_eq!(count("ok"), "1");
        assert_eq!(count("failed"), "1");
        assert!(!telemetry.metrics.encode().contains("policy=\"orders\""));
        assert_eq!(telemetry.readiness.report().policies, 1);

        // A late evaluation of the removed policy brings nothing back.
        observer.evaluated(&scaled_out());
        assert!(!telemetry.metrics.encode().contains("policy=\"orders\""));
    }

    #[test]
    fn the_measured_startup_is_exported_and_forgotten_with_its_policy() {
        let telemetry = Telemetry::default();
        let observer = telemetry.observer();
        observer.policies_applied(&[policy("orders")]);
        observer.startup_measured(
            "orders",
            Some(MeasuredStartup {
                startup: Duration::from_millis(45_500),
                scale_outs: 3,
            }),
        );
        let text = telemetry.metrics.encode();
        assert!(text.contains("backlog_scaler_task_startup_seconds{policy=\"orders\"} 45.5"));
        assert!(text.contains("backlog_scaler_task_startup_scale_outs{policy=\"orders\"} 3"));
        // A changed policy starts afresh: it has measured nothing yet.
        observer.startup_measured("orders", None);
        assert!(!telemetry.metrics.encode().contains("task_startup_seconds{"));

        let forty_seconds = MeasuredStartup {
            startup: Duration::from_secs(40),
            scale_outs: 1,
        };
        observer.startup_measured("orders", Some(forty_seconds));
        observer.policies_applied(&[policy("billing")]);
        assert!(!telemetry.metrics.encode().contains("task_startup_seconds{"));
        // A late report of the removed policy brings nothing back.
        observer.startup_measured("orders", Some(forty_seconds));
        assert!(!telemetry.metrics.encode().contains("task_startup_seconds{"));
    }

    #[test]
    fn api_calls_are_counted_with_their_error_kind() {
        let telemetry = Telemetry::default();
        let listener = telemetry.call_listener();
        listener("GetQueueUrl", None);
        listener("GetQueueUrl", Some(ErrorKind::QueueNotFound));
        let text = telemetry.metrics.encode();
        assert!(text.contains("backlog_scaler_aws_api_calls_total{operation=\"GetQueueUrl\"} 2"));
        assert!(text.contains(
            "backlog_scaler_aws_api_errors_total{operation=\"GetQueueUrl\",kind=\"queue_not_found\"} 1"
        ));
    }
}
