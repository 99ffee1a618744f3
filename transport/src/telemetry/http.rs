//! Trace context over HTTP (the admin API): a server span per request, the child of the
//! caller's `traceparent` header when it sends one, and that header on outgoing calls.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::{HEADER, TraceParent};

/// Axum middleware: every admin API request runs in a `rustmq.admin` server span named by
/// its method and route (`GET /api/v1/topics/{name}`), whose log lines carry them too.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .layer(axum::middleware::from_fn(rustmq_transport::telemetry::http::server_span));
/// ```
pub async fn server_span(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let name = format!("{} {route}", req.method());
    let span = tracing::info_span!("rustmq.admin", otel.kind = "server", otel.name = %name,
        http.request.method = %req.method(), url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty);
    if let Some(parent) = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
    {
        parent.adopt(&span);
    }
    let response = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// Adds the current span's `traceparent` to an outgoing HTTP request (nothing without one).
///
/// ```
/// let req = reqwest::Client::new().get("http://127.0.0.1:9642/health");
/// let req = rustmq_transport::telemetry::http::propagate(req);
/// assert!(req.build().unwrap().headers().get("traceparent").is_none());
/// ```
pub fn propagate(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match TraceParent::current() {
        Some(tp) => req.header(HEADER, tp.to_string()),
        None => req,
    }
}
