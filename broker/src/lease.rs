//! The leader lease: whether this broker may still act as a partition leader. Its own
//! module because the broker (which refuses produces without it), the node (whose heartbeat
//! renews it) and replication all read it, and none of them should import another for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether this broker may act as a partition leader: true while its last heartbeat that the
/// controllers answered was *sent* less than the lease ago. The controllers declare a broker
/// dead only after not *receiving* heartbeats for longer (`admin.health_timeout_ms`), so the
/// lease runs out first.
///
/// ```
/// use std::time::{Duration, Instant};
/// use rustmq_broker::lease::Lease;
/// let lease = Lease::new(Duration::from_secs(3600));
/// assert!(lease.valid());
/// lease.renewed(Instant::now());
/// assert!(lease.valid());
/// // A lease of zero has run out as soon as it is taken: no clock is involved.
/// assert!(!Lease::new(Duration::ZERO).valid());
/// assert!(Lease::always().valid());
/// ```
#[derive(Debug)]
pub struct Lease {
    duration: Option<Duration>,
    origin: Instant,
    /// Milliseconds after `origin` at which the last answered heartbeat was sent.
    last: AtomicU64,
}

impl Lease {
    /// A lease of `duration`, renewed now.
    pub fn new(duration: Duration) -> Arc<Self> {
        Arc::new(Self {
            duration: Some(duration),
            origin: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    /// A lease that never expires (one node, the controller in the same process).
    pub fn always() -> Arc<Self> {
        Arc::new(Self {
            duration: None,
            origin: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    /// A heartbeat sent at `sent_at` was answered.
    pub fn renewed(&self, sent_at: Instant) {
        let ms = sent_at.saturating_duration_since(self.origin).as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// Whether the lease holds now.
    pub fn valid(&self) -> bool {
        match self.duration {
            None => true,
            Some(d) => {
                let last = self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed));
                last.elapsed() < d
            }
        }
    }
}
