//! How late the request runtime runs a task that is due: a timer set every 10 ms records
//! how long after its deadline it was polled. A worker thread blocked by a synchronous call
//! or a long poll delays every request on the runtime, most of them before their stream is
//! even accepted, where the request timings cannot see it; this shows it.

use std::time::Duration;

use super::Broker;

/// How often the probe wakes: rare enough to cost nothing, often enough that a stall of a
/// few tens of milliseconds is caught in every case.
const PERIOD: Duration = Duration::from_millis(10);

impl Broker {
    /// Records the runtime's poll delay until the broker stops.
    pub(super) async fn probe_runtime(self: std::sync::Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            let due = tokio::time::Instant::now() + PERIOD;
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => return,
            }
            // The timer wheel's 1 ms granularity is in every sample; a stall is far above it.
            self.metrics
                .runtime_poll_delay
                .observe(tokio::time::Instant::now().saturating_duration_since(due));
        }
    }
}
