//! Metric plumbing every RustMQ process uses with prometheus-client: latency histograms
//! that live for the whole process (registered once, observed on the hot path), and helpers
//! for collectors that read values at scrape time from a component's own counters.

use std::time::{Duration, Instant};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds of every latency histogram's buckets, in seconds: 1, 1.5, 2, 3, 5 and 7
/// times each power of ten from 50 µs to 15 s, steps of 1.3-1.7x. Doubling buckets read a
/// 3.3 ms and a 6.3 ms p99 as the same "at most 6.4 ms", too coarse to tell where a 10 ms
/// tail goes; written out so the exposition's `le` labels are the round numbers.
pub const LATENCY_BUCKETS: [f64; 34] = [
    0.000_05, 0.000_07, // 50 µs
    0.000_1, 0.000_15, 0.000_2, 0.000_3, 0.000_5, 0.000_7, // 100 µs
    0.001, 0.001_5, 0.002, 0.003, 0.005, 0.007, // 1 ms
    0.01, 0.015, 0.02, 0.03, 0.05, 0.07, // 10 ms
    0.1, 0.15, 0.2, 0.3, 0.5, 0.7, // 100 ms
    1.0, 1.5, 2.0, 3.0, 5.0, 7.0, // 1 s
    10.0, 15.0,
];

/// A latency histogram in seconds, buckets [`LATENCY_BUCKETS`] (50 µs to 15 s). Clones
/// share their data, so a component keeps one and the registry another.
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
/// // Both fall in the 3 ms bucket (cumulative), the 3 ms one on its bound.
/// assert!(out.contains("wal_fsync_seconds_bucket{le=\"0.003\"} 2"), "{out}");
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
    Histogram::new(LATENCY_BUCKETS)
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

#[cfg(test)]
mod tests {
    use super::LATENCY_BUCKETS;

    #[test]
    fn latency_buckets_rise_by_less_than_doubling_from_50_microseconds_to_15_seconds() {
        assert_eq!(LATENCY_BUCKETS.first(), Some(&0.000_05));
        assert_eq!(LATENCY_BUCKETS.last(), Some(&15.0));
        for pair in LATENCY_BUCKETS.windows(2) {
            let step = pair[1] / pair[0];
            assert!((1.3..=1.7).contains(&step), "{pair:?}");
        }
    }
}
