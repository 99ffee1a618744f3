//! Latency distributions a client keeps about itself (a producer's queue time and request
//! latency), so an application or a benchmark can tell where a slow acknowledgement spent
//! its time: waiting in the client, or on the network and the broker.

use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Durations recorded in microseconds (HDR histogram, two significant digits), up to an
/// hour; longer ones count as an hour. Recorded once per batch or request, never per
/// message, so the lock is taken a few thousand times a second at most.
///
/// ```
/// use std::time::Duration;
/// use rustmq_client::LatencyRecorder;
/// let r = LatencyRecorder::default();
/// let before = r.snapshot();
/// r.record(Duration::from_millis(3));
/// r.record(Duration::from_millis(40));
/// let window = r.snapshot().since(&before);
/// assert_eq!(window.len(), 2);
/// let p99 = window.value_at_quantile(0.99);
/// assert!((39_000..=41_000).contains(&p99), "{p99} µs");
/// ```
#[derive(Debug)]
pub struct LatencyRecorder(Mutex<Histogram<u64>>);

/// Longest duration told apart from longer ones.
const MAX_MICROS: u64 = 3_600_000_000;

impl Default for LatencyRecorder {
    fn default() -> Self {
        // Bounds and precision are constants that hdrhistogram accepts.
        let h = Histogram::new_with_bounds(1, MAX_MICROS, 2)
            .unwrap_or_else(|_| unreachable!("1 µs to an hour at two digits is a valid histogram"));
        Self(Mutex::new(h))
    }
}

impl LatencyRecorder {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        self.record_n(d, 1);
    }

    /// Records a duration `n` times (e.g. once per message of a batch that took it).
    pub fn record_n(&self, d: Duration, n: u64) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0
            .lock()
            .saturating_record_n(us.clamp(1, MAX_MICROS), n);
    }

    /// Everything recorded so far, in microseconds; [`LatencySnapshot::since`] gives a
    /// window between two snapshots.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot(self.0.lock().clone())
    }
}

/// A copy of a [`LatencyRecorder`]'s histogram (values in microseconds).
#[derive(Debug, Clone)]
pub struct LatencySnapshot(Histogram<u64>);

impl LatencySnapshot {
    /// What was recorded after `earlier` (a snapshot of the same recorder).
    pub fn since(mut self, earlier: &LatencySnapshot) -> LatencySnapshot {
        // Counts only grow, so `earlier` is contained in `self`; if it were not (another
        // recorder's snapshot), the window is left whole rather than wrong.
        let whole = self.0.clone();
        if self.0.subtract(&earlier.0).is_err() {
            self.0 = whole;
        }
        self
    }

    /// Adds another snapshot's values (e.g. several producers' into one).
    pub fn merge(&mut self, other: &LatencySnapshot) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Number of durations.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The duration (µs) at quantile `q` (0.0 to 1.0); 0 when empty.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    /// The longest duration (µs).
    pub fn max(&self) -> u64 {
        self.0.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_only_what_came_after_its_start_and_merges_add_up() {
        let r = LatencyRecorder::default();
        for _ in 0..100 {
            r.record(Duration::from_millis(50));
        }
        let start = r.snapshot();
        for _ in 0..99 {
            r.record(Duration::from_micros(900));
        }
        r.record_n(Duration::from_secs(7200), 1);
        let w = r.snapshot().since(&start);
        assert_eq!(w.len(), 100);
        // The earlier 50 ms values are outside the window; the median is 900 µs.
        let p50 = w.value_at_quantile(0.5);
        assert!((890..=910).contains(&p50), "{p50}");
        // Longer than an hour counts as an hour.
        assert!(w.max() >= MAX_MICROS - MAX_MICROS / 100, "{}", w.max());

        let mut all = w.clone();
        all.merge(&start);
        assert_eq!(all.len(), 200);
        let other = LatencyRecorder::default().snapshot();
        assert_eq!(
            w.clone().since(&other).len(),
            100,
            "an empty start changes nothing"
        );
    }
}
