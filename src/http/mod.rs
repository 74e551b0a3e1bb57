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
                "error": format!("`{policy}` has not been evaluated yet"),
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
        let (address, serve) = bind(
            "127.0.0.1:0".parse().unwrap(),
            telemetry.clone(),
            std::future::pending(),
        )
        .await
        .unwrap();
        tokio::spawn(serve);

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
}
