//! HTTP endpoints: `/metrics` on the metrics address, `/healthz` and `/readyz`
//! on the health address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// What `/readyz` reports: ready once every cache has synced, leading or
/// standing by (a standby's caches run too, so that it can take over at
/// once: a rolling update waits for them before it stops the leader).
#[derive(Default)]
pub struct Readiness {
    synced: AtomicBool,
}

impl Readiness {
    /// A shared instance, not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The controllers' caches have synced.
    pub fn set_synced(&self, v: bool) {
        self.synced.store(v, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(r): State<Arc<Readiness>>) -> impl IntoResponse {
    if r.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Binds both listeners (so a bad address fails at start) and returns the
/// bound addresses and the servers' future.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    m: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> std::io::Result<(
    SocketAddr,
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let metrics_listener = TcpListener::bind(metrics_addr).await?;
    let health_listener = TcpListener::bind(health_addr).await?;
    let bound = (
        metrics_listener.local_addr()?,
        health_listener.local_addr()?,
    );
    let metrics_app = Router::new().route("/metrics", get(metrics)).with_state(m);
    let health_app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness);
    let fut = async move {
        tokio::try_join!(
            axum::serve(metrics_listener, metrics_app).into_future(),
            axum::serve(health_listener, health_app).into_future(),
        )?;
        Ok(())
    };
    Ok((bound.0, bound.1, fut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_caches() {
        let r = Readiness::default();
        assert!(!r.is_ready());
        r.set_synced(true);
        assert!(r.is_ready());
        r.set_synced(false);
        assert!(!r.is_ready());
    }
}
