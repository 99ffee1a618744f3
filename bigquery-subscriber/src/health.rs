//! `/health` and `/metrics`: the subscriber's state (healthy, degraded while BigQuery is
//! retried, unhealthy when it cannot go on) and its counters, in Prometheus text and as the
//! seed's JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// The subscriber's counters.
pub struct Counters {
    /// Records received from the topic.
    pub messages_received: Counter,
    /// Records whose rows are in the table (inserted now or found there already).
    pub messages_processed: Counter,
    /// Records set aside by the dead-letter action.
    pub messages_failed: Counter,
    /// Rows inserted.
    pub rows_inserted: Counter,
    /// Records skipped because the table already held their row (after a restart).
    pub rows_already_present: Counter,
    /// insertAll requests sent.
    pub insert_requests: Counter,
    /// insertAll requests that failed and were retried.
    pub insert_retries: Counter,
    /// Rows sent again because BigQuery stopped their request for another row.
    pub rows_resent: Counter,
    /// Consumer offset commits.
    pub commits: Counter,
    /// Batches being inserted now.
    pub batches_in_flight: Gauge,
    /// insertAll latency, seconds.
    pub insert_seconds: Histogram,
}

impl Counters {
    fn new() -> Self {
        Self {
            messages_received: Counter::default(),
            messages_processed: Counter::default(),
            messages_failed: Counter::default(),
            rows_inserted: Counter::default(),
            rows_already_present: Counter::default(),
            insert_requests: Counter::default(),
            insert_retries: Counter::default(),
            rows_resent: Counter::default(),
            commits: Counter::default(),
            batches_in_flight: Gauge::default(),
            insert_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        }
    }
}

#[derive(Default)]
struct Status {
    last_successful_insert: Option<jiff::Timestamp>,
    /// Since when inserts have been failing and retried, and the last reason.
    failing: Option<(Instant, String)>,
    /// Why the subscriber stopped.
    fatal: Option<String>,
}

/// Shared state of one subscriber.
pub struct Health {
    pub counters: Counters,
    registry: Registry,
    status: Mutex<Status>,
    started: Instant,
}

/// `/health`'s answer.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HealthReport {
    /// `healthy`, `degraded` (BigQuery calls are being retried) or `unhealthy` (stopped).
    pub status: String,
    /// RFC 3339, or null before the first.
    pub last_successful_insert: Option<String>,
    /// Why it is degraded or unhealthy.
    pub reason: Option<String>,
    pub uptime_seconds: u64,
}

impl Health {
    /// Fresh state.
    pub fn new() -> Arc<Self> {
        let counters = Counters::new();
        let mut registry = Registry::with_prefix("rustmq_bigquery");
        macro_rules! reg {
            ($name:literal, $help:literal, $m:ident) => {
                registry.register($name, $help, counters.$m.clone());
            };
        }
        reg!(
            "messages_received",
            "Records received from the topic",
            messages_received
        );
        reg!(
            "messages_processed",
            "Records whose rows are in the table",
            messages_processed
        );
        reg!(
            "messages_failed",
            "Records set aside by the dead-letter action",
            messages_failed
        );
        reg!("rows_inserted", "Rows inserted", rows_inserted);
        reg!(
            "rows_already_present",
            "Records skipped because the table already held their row",
            rows_already_present
        );
        reg!(
            "insert_requests",
            "insertAll requests sent",
            insert_requests
        );
        reg!(
            "insert_retries",
            "insertAll requests retried after a failure",
            insert_retries
        );
        reg!(
            "rows_resent",
            "Rows sent again after BigQuery stopped their request",
            rows_resent
        );
        reg!("commits", "Consumer offset commits", commits);
        reg!(
            "batches_in_flight",
            "Batches being inserted",
            batches_in_flight
        );
        reg!("insert_seconds", "insertAll latency", insert_seconds);
        Arc::new(Self {
            counters,
            registry,
            status: Mutex::new(Status::default()),
            started: Instant::now(),
        })
    }

    /// An insert succeeded.
    pub fn inserted(&self) {
        let mut s = self.status.lock();
        s.last_successful_insert = Some(jiff::Timestamp::now());
        s.failing = None;
    }

    /// An insert failed and will be retried.
    pub fn failing(&self, why: &str) {
        let mut s = self.status.lock();
        let since = s.failing.as_ref().map_or_else(Instant::now, |f| f.0);
        s.failing = Some((since, why.to_string()));
    }

    /// The subscriber stopped for good.
    pub fn fatal(&self, why: &str) {
        self.status.lock().fatal = Some(why.to_string());
    }

    /// The report `/health` gives.
    pub fn report(&self) -> HealthReport {
        let s = self.status.lock();
        let (status, reason) = match (&s.fatal, &s.failing) {
            (Some(f), _) => ("unhealthy", Some(f.clone())),
            (None, Some((since, why))) => (
                "degraded",
                Some(format!(
                    "BigQuery calls failing for {}s: {why}",
                    since.elapsed().as_secs()
                )),
            ),
            (None, None) => ("healthy", None),
        };
        HealthReport {
            status: status.into(),
            last_successful_insert: s.last_successful_insert.map(|t| t.to_string()),
            reason,
            uptime_seconds: self.started.elapsed().as_secs(),
        }
    }

    /// The seed's JSON counters.
    pub fn json(&self) -> serde_json::Value {
        let c = &self.counters;
        serde_json::json!({
            "messages_received": c.messages_received.get(),
            "messages_processed": c.messages_processed.get(),
            "messages_failed": c.messages_failed.get(),
            "rows_inserted": c.rows_inserted.get(),
            "rows_already_present": c.rows_already_present.get(),
            "insert_requests": c.insert_requests.get(),
            "insert_retries": c.insert_retries.get(),
            "rows_resent": c.rows_resent.get(),
            "commits": c.commits.get(),
            "batches_in_flight": c.batches_in_flight.get(),
            "last_successful_insert": self.report().last_successful_insert,
        })
    }

    fn prometheus(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[derive(serde::Deserialize)]
struct MetricsQuery {
    format: Option<String>,
}

async fn health(State(h): State<Arc<Health>>) -> Response {
    let r = h.report();
    let code = if r.status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(r)).into_response()
}

async fn metrics(
    State(h): State<Arc<Health>>,
    Query(q): Query<MetricsQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let wants_json = q.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return axum::Json(h.json()).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.prometheus(),
    )
        .into_response()
}

/// Serves `/health` and `/metrics` on `listen` until the process ends; returns the bound
/// address (port 0 picks one).
pub async fn serve(state: Arc<Health>, listen: SocketAddr) -> std::io::Result<SocketAddr> {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(health))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state);
    let l = tokio::net::TcpListener::bind(listen).await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(l, app).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_inserts_failures_and_stops() {
        let h = Health::new();
        assert_eq!(h.report().status, "healthy");
        assert_eq!(h.report().last_successful_insert, None);
        h.failing("503 backend unavailable");
        let r = h.report();
        assert_eq!(r.status, "degraded");
        assert!(r.reason.unwrap().contains("503"));
        h.inserted();
        assert_eq!(h.report().status, "healthy");
        assert!(h.report().last_successful_insert.is_some());
        h.fatal("table schema mismatch");
        assert_eq!(h.report().status, "unhealthy");
        h.counters.messages_received.inc();
        assert_eq!(h.json()["messages_received"], 1);
        assert!(
            h.prometheus()
                .contains("rustmq_bigquery_messages_received_total 1")
        );
    }
}
