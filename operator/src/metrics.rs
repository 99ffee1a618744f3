//! The operator's Prometheus metrics: reconciliations, failures and their latency per
//! controller, served on `/metrics`.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of one controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `rustmqcluster` or `topic`.
    pub controller: &'static str,
}

/// Labels of a failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `rustmqcluster` or `topic`.
    pub controller: &'static str,
    /// [`crate::Error::metric_label`].
    pub error: &'static str,
}

/// Counters and histograms shared by the reconcilers.
///
/// ```
/// let mut registry = prometheus_client::registry::Registry::default();
/// let m = rustmq_operator::metrics::Metrics::new(&mut registry);
/// m.reconciled("topic", std::time::Instant::now());
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("rustmq_operator_reconciliations_total{controller=\"topic\"} 1"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    reconciliations: Family<ControllerLabels, Counter>,
    failures: Family<ErrorLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
}

impl Metrics {
    /// Creates the metrics and registers them under `rustmq_operator_`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            reconciliations: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(rustmq_transport::metrics::latency_histogram),
        };
        let sub = registry.sub_registry_with_prefix("rustmq_operator");
        sub.register(
            "reconciliations",
            "Reconciliations finished, successful or not",
            m.reconciliations.clone(),
        );
        sub.register(
            "reconcile_failures",
            "Reconciliations that failed, by kind of error",
            m.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Time one reconciliation took",
            m.duration.clone(),
        );
        m
    }

    /// Counts a reconciliation of `controller` that started at `started`.
    pub fn reconciled(&self, controller: &'static str, started: Instant) {
        let l = ControllerLabels { controller };
        self.reconciliations.get_or_create(&l).inc();
        self.duration
            .get_or_create(&l)
            .observe(started.elapsed().as_secs_f64());
    }

    /// Counts a failure.
    pub fn failed(&self, controller: &'static str, e: &crate::Error) {
        self.failures
            .get_or_create(&ErrorLabels {
                controller,
                error: e.metric_label(),
            })
            .inc();
    }
}
