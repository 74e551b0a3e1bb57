//! The HTTP endpoints (axum): `/healthz`, `/readyz`, `/metrics` and
//! `/state/{policy}` (a policy's last decision with the engine state it was
//! made from, for `explain --state`). Read-only by design: nothing served
//! here changes what the controller does.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::telemetry::{NoStateDump, Telemetry};

pub fn router(telemetry: Telemetry) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/state/{policy}", get(state))
        .with_state(telemetry)
}

async fn healthz(State(telemetry): State<Telemetry>) -> Response {
    if telemetry.heartbeat.is_alive() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "controller loop stalled\n").into_response()
    }
}

async fn readyz(State(telemetry): State<Telemetry>) -> Response {
    let report = telemetry.readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn metrics(State(telemetry): State<Telemetry>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        telemetry.metrics.encode(),
    )
        .into_response()
}

/// `policy`'s last decision with the engine state before and after it, as
/// `explain --state` reads it; 404 with a JSON `error` for a policy not
/// loaded or not yet observed.
async fn state(State(telemetry): State<Telemetry>, Path(policy): Path<String>) -> Response {
    match telemetry.states.dump(&policy) {
        Ok(dump) => Json(dump).into_response(),
        Err(NoStateDump::UnknownPolicy) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "policy": policy,
                "error": format!("no policy named `{policy}` is loaded"),
            })),
        )
            .into_response(),
        Err(NoStateDump::NotEvaluatedYet(last_failure)) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "policy": policy,
                "error": match last_failure {
                    None => format!("`{policy}` has not been evaluated yet"),
                    Some(_) => format!("`{policy}` has not been observed yet: its evaluations failed"),
                },
                "last_failure": last_failure,
            })),
        )
            .into_response(),
    }
}

/// Errors starting the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// Bind `addr` now (so a bad address fails at start), then serve until
/// `shutdown` completes. Returns the bound address and the serving future.
pub async fn bind(
    addr: SocketAddr,
    telemetry: Telemetry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), HttpError>>,
    ),
    HttpError,
> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| HttpError::Bind { addr, source })?;
    let app = router(telemetry);
    let serve = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(HttpError::Serve)
    };
    Ok((local, serve))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::telemetry::{
        Heartbeat, HeartbeatClock, Metrics, Readiness, FAILURES_BEFORE_NOT_READY, LOOP_STALE_AFTER,
    };

    /// One GET over a real connection: the status and the body.
    /// The endpoints of `telemetry` on a free loopback port, served until
    /// the test ends.
    async fn serve_on_loopback(telemetry: &Telemetry) -> SocketAddr {
        let (address, serve) = bind(
            "127.0.0.1:0".parse().unwrap(),
            telemetry.clone(),
            std::future::pending(),
        )
        .await
        .unwrap();
        tokio::spawn(serve);
        address
    }

    async fn get(address: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
        let body = raw.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    #[tokio::test]
    async fn healthz_answers_503_once_the_loop_has_been_quiet_for_30_s() {
        assert_eq!(LOOP_STALE_AFTER, Duration::from_secs(30), "documented");
        // The loop is stalled: nothing beats the heartbeat; the test moves
        // its clock instead of waiting.
        let ms = Arc::new(AtomicU64::new(0));
        let read = ms.clone();
        let clock: HeartbeatClock =
            Arc::new(move || Duration::from_millis(read.load(Ordering::Relaxed)));
        let telemetry = Telemetry {
            metrics: Arc::new(Metrics::new()),
            readiness: Arc::new(Readiness::new(FAILURES_BEFORE_NOT_READY)),
            heartbeat: Arc::new(Heartbeat::with_clock(LOOP_STALE_AFTER, clock)),
            states: Default::default(),
        };
        let address = serve_on_loopback(&telemetry).await;

        assert_eq!(get(address, "/healthz").await, (200, "ok\n".into()));
        ms.store(30_000, Ordering::Relaxed);
        assert_eq!(
            get(address, "/healthz").await.0,
            200,
            "30 s is not yet stale"
        );
        ms.store(30_001, Ordering::Relaxed);
        assert_eq!(
            get(address, "/healthz").await,
            (503, "controller loop stalled\n".into())
        );
        // The loop beats again: healthy again.
        telemetry.heartbeat.beat();
        assert_eq!(get(address, "/healthz").await, (200, "ok\n".into()));
    }

    /// The world for `/state`'s test: one queue whose depth the test sets
    /// (`None` fails the read), one service running what it is set to.
    struct Fixed {
        depth: std::sync::Mutex<Option<crate::engine::QueueDepth>>,
        desired: std::sync::Mutex<u32>,
    }

    impl crate::ports::QueueDepthReader for Fixed {
        fn queue_depth<'a>(
            &'a self,
            _queue: &'a str,
        ) -> crate::ports::PortFuture<'a, crate::engine::QueueDepth> {
            let depth = *self.depth.lock().unwrap();
            Box::pin(async move {
                depth.ok_or_else(|| {
                    crate::ports::PortError::new(
                        crate::ports::ErrorKind::Unreachable,
                        "GetQueueAttributes",
                        "connection refused",
                    )
                })
            })
        }
    }

    impl crate::ports::ServiceStateReader for Fixed {
        fn service_state<'a>(
            &'a self,
            _cluster: &'a str,
            _service: &'a str,
        ) -> crate::ports::PortFuture<'a, crate::engine::ServiceCounts> {
            let desired = *self.desired.lock().unwrap();
            Box::pin(async move {
                Ok(crate::engine::ServiceCounts {
                    desired,
                    running: desired,
                    pending: 0,
                    deployment_in_progress: false,
                })
            })
        }
    }

    impl crate::ports::DesiredCountWriter for Fixed {
        fn set_desired<'a>(
            &'a self,
            _cluster: &'a str,
            _service: &'a str,
            desired: u32,
        ) -> crate::ports::PortFuture<'a, ()> {
            *self.desired.lock().unwrap() = desired;
            Box::pin(async { Ok(()) })
        }
    }

    /// `/state/{policy}`: 404 for a policy not loaded, or not evaluated
    /// yet; then the last decision with the state before it (the state the
    /// previous one left), the counts and the time that reproduce it, and
    /// the state after it; kept through a failed observation, which it
    /// notes; gone with its policy.
    #[tokio::test]
    async fn state_serves_each_policys_last_decision_with_the_state_it_came_from() {
        use crate::controller::{evaluate, Deadlines, Observer, PolicyRecord};
        use crate::engine::{decide, Observation, QueueDepth, Timestamp};
        use crate::policy::Policy;
        use crate::telemetry::{StateDump, STATE_DUMP_FORMAT};

        let yaml = "name: slo\ncluster: c\nservice: s\nqueues: [q]\ntarget_wait: 60s\n\
                    message_cost: 2s\ntask_startup: 60s\nmin_tasks: 1\nmax_tasks: 300\n";
        let policy: Policy = crate::policy::load_str(std::path::Path::new("slo.yaml"), yaml)
            .unwrap()
            .policies
            .remove(0);
        let telemetry = Telemetry::default();
        let observer = telemetry.observer();
        observer.policies_applied(&[Arc::new(policy.clone())]);
        let address = serve_on_loopback(&telemetry).await;

        let (status, body) = get(address, "/state/ghost").await;
        assert_eq!(status, 404, "{body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"], "no policy named `ghost` is loaded");
        let (status, body) = get(address, "/state/slo").await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("has not been evaluated yet"), "{body}");

        let world = Arc::new(Fixed {
            depth: std::sync::Mutex::new(Some(QueueDepth {
                visible: 50,
                in_flight: 10,
                delayed: 0,
            })),
            desired: std::sync::Mutex::new(10),
        });
        let ports = crate::ports::Ports {
            queues: world.clone(),
            services: world.clone(),
            scaler: world.clone(),
            metrics: None,
        };
        let mut record = PolicyRecord::default();
        let evaluate_at = |record: &PolicyRecord, secs: u64| {
            let (policy, ports, observer) = (&policy, &ports, &observer);
            let record = record.clone();
            async move {
                let now = Timestamp::from_secs(secs);
                let (evaluation, next) =
                    evaluate(policy, false, ports, &record, now, Deadlines::default()).await;
                observer.evaluated(&evaluation);
                next
            }
        };
        record = evaluate_at(&record, 100).await;
        let first_after = record.engine.clone();
        let scaled_to = *world.desired.lock().unwrap();
        assert!(scaled_to > 10, "scaled out to {scaled_to}");
        // 15 s later the queue grew, which only the state can tell.
        *world.depth.lock().unwrap() = Some(QueueDepth {
            visible: 2000,
            in_flight: 10,
            delayed: 0,
        });
        record = evaluate_at(&record, 115).await;

        let (status, body) = get(address, "/state/slo").await;
        assert_eq!(status, 200, "{body}");
        let dump: StateDump = serde_json::from_str(&body).unwrap();
        assert_eq!(dump.format, STATE_DUMP_FORMAT);
        assert_eq!(dump.policy, "slo");
        assert_eq!((dump.at, dump.at_s), (Timestamp::from_secs(115), 115.0));
        assert_eq!(dump.state_before, *first_after, "the state the last left");
        assert_eq!(dump.state_after, *record.engine, "the state kept");
        assert_eq!(dump.observed.queues.len(), 1);
        assert_eq!(dump.observed.queues[0].queue, "q");
        assert_eq!(
            (
                dump.observed.visible,
                dump.observed.in_flight,
                dump.observed.delayed
            ),
            (2000, 10, 0)
        );
        assert_eq!(
            (
                dump.observed.desired,
                dump.observed.running,
                dump.observed.pending
            ),
            (scaled_to, scaled_to, 0)
        );
        assert_eq!(dump.decision.current, scaled_to);
        assert!(dump.decision.reason.contains("arrivals about"), "{body}");
        assert_eq!(dump.last_failure, None);
        // What `explain --state` does with it: the same decision and state.
        let observation = Observation::single(
            QueueDepth {
                visible: dump.observed.visible,
                in_flight: dump.observed.in_flight,
                delayed: dump.observed.delayed,
            },
            crate::engine::ServiceCounts {
                desired: dump.observed.desired,
                running: dump.observed.running,
                pending: dump.observed.pending,
                deployment_in_progress: dump.observed.deployment_in_progress,
            },
        );
        let (decision, after) = decide(&policy, Ok(&observation), &dump.state_before, dump.at);
        assert_eq!(decision.reason.to_string(), dump.decision.reason);
        assert_eq!(decision.desired(), Some(dump.decision.desired));
        assert_eq!(dump.decision.action, decision.action().as_str());
        assert_eq!(after, dump.state_after);
        let (fresh, _) = decide(&policy, Ok(&observation), &Default::default(), dump.at);
        assert_ne!(fresh.reason, decision.reason, "the state matters");

        // A failed observation keeps the last decision, and says so.
        *world.depth.lock().unwrap() = None;
        evaluate_at(&record, 130).await;
        let (status, body) = get(address, "/state/slo").await;
        assert_eq!(status, 200, "{body}");
        let kept: StateDump = serde_json::from_str(&body).unwrap();
        assert_eq!(kept.at_s, 115.0);
        let failure = kept.last_failure.expect("noted");
        assert_eq!(failure.at_s, 130.0);
        assert!(failure.error.contains("connection refused"), "{failure:?}");

        // Removed by a reload: gone, and a late evaluation brings nothing back.
        observer.policies_applied(&[]);
        *world.depth.lock().unwrap() = Some(QueueDepth::default());
        evaluate_at(&record, 145).await;
        let (status, body) = get(address, "/state/slo").await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("no policy named `slo` is loaded"), "{body}");
    }
}
