//! The operator's own HTTP endpoints: `/health` for its probes and `/metrics` for
//! Prometheus.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::json;

/// What the endpoints read.
#[derive(Clone)]
pub struct ServerState {
    /// Every metric of the operator.
    pub registry: Arc<Registry>,
    /// Whether this replica holds the leader lease (and so reconciles).
    pub leading: Arc<AtomicBool>,
}

/// The router of `/health` and `/metrics`.
///
/// ```
/// use std::sync::Arc;
/// let state = rustmq_operator::server::ServerState {
///     registry: Arc::new(Default::default()),
///     leading: Arc::new(false.into()),
/// };
/// let _app = rustmq_operator::server::router(state);
/// ```
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn health(State(s): State<ServerState>) -> impl IntoResponse {
    // A standby replica is healthy too: it is ready to take over the lease.
    Json(json!({
        "status": "ok",
        "leader": s.leading.load(Ordering::Relaxed),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn metrics(State(s): State<ServerState>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &s.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
