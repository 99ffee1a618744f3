//! `GET /metrics`: Prometheus text exposition, and the helpers brokers use to add their own.

use super::*;

/// `GET /metrics`: Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus / OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(s): State<AdminState>) -> Response {
    let mut r = Registry::with_prefix("rustmq");
    let st = s.controller.status();
    let md = s.controller.metadata();
    gauge(
        &mut r,
        "controller_is_leader",
        "1 when this controller leads",
        i64::from(st.is_leader),
    );
    gauge(
        &mut r,
        "controller_raft_term",
        "Current Raft term",
        st.term as i64,
    );
    gauge(&mut r, "topics", "Topics", md.topics.len() as i64);
    gauge(
        &mut r,
        "catalog_objects",
        "Objects the catalog references",
        md.catalog.objects.len() as i64,
    );
    gauge(
        &mut r,
        "catalog_object_bytes",
        "Bytes of the objects the catalog references",
        md.catalog.objects.values().map(|o| o.size).sum::<u64>() as i64,
    );
    gauge(
        &mut r,
        "catalog_pending_deletes",
        "Unreferenced objects waiting for their grace period",
        md.catalog.deleting.len() as i64,
    );
    if let Some(b) = &s.extra {
        b.metrics(&mut r);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r) {
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

/// A gauge set to `v`, registered under `name` (prometheus-client builds the text format).
///
/// ```
/// let mut r = prometheus_client::registry::Registry::with_prefix("rustmq");
/// rustmq_controller::api::gauge(&mut r, "answer", "The answer", 42);
/// let mut out = String::new();
/// prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
/// assert!(out.contains("rustmq_answer 42"));
/// ```
pub fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    r.register(name, help, g);
}

/// A counter at `v` (the value is read from the component's own atomic counters).
pub fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    r.register(name, help, c);
}
