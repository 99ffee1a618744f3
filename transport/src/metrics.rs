//! Metric plumbing every RustMQ process uses with prometheus-client: latency histograms
//! that live for the whole process (registered once, observed on the hot path), and helpers
//! for collectors that read values at scrape time from a component's own counters.

use std::time::{Duration, Instant};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// A latency histogram in seconds, buckets from 50 µs doubling to about 13 s. Clones share
/// their data, so a component keeps one and the registry another.
///
/// ```
/// use rustmq_transport::metrics::Latency;
/// let l = Latency::default();
/// let started = std::time::Instant::now();
/// l.since(started);
/// l.observe(std::time::Duration::from_millis(3));
/// let mut r = prometheus_client::registry::Registry::default();
/// r.register("wal_fsync_seconds", "fdatasync time", l.histogram());
/// let mut out = String::new();
/// prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
/// assert!(out.contains("wal_fsync_seconds_count 2"));
/// ```
#[derive(Debug, Clone)]
pub struct Latency(Histogram);

impl Default for Latency {
    fn default() -> Self {
        Self(latency_histogram())
    }
}

/// A histogram with [`Latency`]'s buckets, for families of latencies (one per label set).
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 19))
}

impl Latency {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }

    /// Records the time since `started`.
    pub fn since(&self, started: Instant) {
        self.observe(started.elapsed());
    }

    /// The histogram to register (shares its data with `self`).
    pub fn histogram(&self) -> Histogram {
        self.0.clone()
    }
}

/// Writes a gauge read at scrape time.
///
/// ```
/// #[derive(Debug)]
/// struct Answer;
/// impl prometheus_client::collector::Collector for Answer {
///     fn encode(&self, mut e: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
///         rustmq_transport::metrics::gauge(&mut e, "answer", "The answer", 42)
///     }
/// }
/// let mut r = prometheus_client::registry::Registry::with_prefix("rustmq");
/// r.register_collector(Box::new(Answer));
/// let mut out = String::new();
/// prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
/// assert!(out.contains("rustmq_answer 42"));
/// ```
pub fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// Writes a counter read at scrape time from a component's own atomic counter.
pub fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}
