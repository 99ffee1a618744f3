//! `GET /metrics`: Prometheus text exposition, and the helpers brokers use to add their own.

use super::*;

/// `GET /metrics`: Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus / OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(s): State<AdminState>) -> Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &s.registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The registry `/metrics` encodes, built once with the router: the controller's metrics,
/// then the broker's when one is attached.
pub(super) fn registry(
    controller: &Arc<Controller>,
    extra: Option<&Arc<dyn BrokerView>>,
) -> Registry {
    let mut r = Registry::with_prefix("rustmq");
    controller.register_metrics(&mut r);
    if let Some(b) = extra {
        b.clone().register_metrics(&mut r);
    }
    r
}
