//! What each module did: counters and a latency histogram per record, updated with relaxed
//! atomics on the produce path and read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (the last bucket is unbounded).
pub const LATENCY_BUCKETS: [f64; 14] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 500e-6, 1e-3, 5e-3, 20e-3, 100e-3, 1.0, 5.0,
];

/// Counters of one module.
#[derive(Debug, Default)]
pub struct ModuleStats {
    /// Records given to it.
    pub invocations: AtomicU64,
    /// Records it failed on.
    pub errors: AtomicU64,
    /// Records it dropped (by answer, or by the drop policy).
    pub drops: AtomicU64,
    /// Calls stopped at the time limit.
    pub timeouts: AtomicU64,
    /// Time spent in it, nanoseconds.
    pub nanos: AtomicU64,
    /// The largest linear memory an instance reached, bytes.
    pub peak_memory: AtomicU64,
    /// Records per latency bucket ([`LATENCY_BUCKETS`], then one for slower).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl ModuleStats {
    /// Counts the time one record took.
    pub fn observe(&self, took: Duration) {
        self.nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The histogram: (upper bound, records at or under it), cumulative as Prometheus has
    /// it, the last bound infinite; and the total of seconds.
    ///
    /// ```
    /// use rustmq_etl::stats::ModuleStats;
    /// let s = ModuleStats::default();
    /// s.observe(std::time::Duration::from_micros(3));
    /// s.observe(std::time::Duration::from_secs(9));
    /// let (buckets, sum) = s.histogram();
    /// assert_eq!(buckets[2], (5e-6, 1));
    /// assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 2));
    /// assert!(sum > 9.0);
    /// ```
    pub fn histogram(&self) -> (Vec<(f64, u64)>, f64) {
        let mut total = 0;
        let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
        let buckets = bounds
            .zip(&self.buckets)
            .map(|(b, n)| {
                total += n.load(Ordering::Relaxed);
                (b, total)
            })
            .collect();
        (buckets, self.nanos.load(Ordering::Relaxed) as f64 / 1e9)
    }
}
