//! The HTTP endpoints (axum): `/healthz`, `/readyz` and `/metrics`. Read-only
//! by design: nothing served here changes what the controller does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::telemetry::{Metrics, Readiness};

/// The loop's heartbeat: the controller beats it every tick, `/healthz`
/// fails when it has gone quiet for longer than `stale_after`.
#[derive(Debug)]
pub struct Heartbeat {
    last_unix_ms: AtomicU64,
    stale_after: Duration,
}

impl Heartbeat {
    pub fn new(stale_after: Duration) -> Heartbeat {
        let heartbeat = Heartbeat {
            last_unix_ms: AtomicU64::new(0),
            stale_after,
        };
        heartbeat.beat();
        heartbeat
    }

    pub fn beat(&self) {
        self.last_unix_ms.store(unix_ms(), Ordering::Relaxed);
    }

    pub fn is_alive(&self) -> bool {
        let last = self.last_unix_ms.load(Ordering::Relaxed);
        unix_ms().saturating_sub(last) <= self.stale_after.as_millis() as u64
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    pub heartbeat: Arc<Heartbeat>,
}

pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(endpoints)
}

async fn healthz(State(e): State<Endpoints>) -> Response {
    if e.heartbeat.is_alive() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "controller loop stalled\n").into_response()
    }
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    let report = e.readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn metrics(State(e): State<Endpoints>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        e.metrics.encode(),
    )
        .into_response()
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
    endpoints: Endpoints,
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
    let app = router(endpoints);
    let serve = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(HttpError::Serve)
    };
    Ok((local, serve))
}
