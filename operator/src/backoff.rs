//! Per-object retry delays of failed reconciliations: doubling from 5 s to 5 min, reset
//! by a success.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

/// Consecutive failures per object.
///
/// ```
/// use std::time::Duration;
/// let b = rustmq_operator::backoff::Backoff::default();
/// assert_eq!(b.next("t"), Duration::from_secs(5));
/// assert_eq!(b.next("t"), Duration::from_secs(10));
/// b.reset("t");
/// assert_eq!(b.next("t"), Duration::from_secs(5));
/// ```
#[derive(Default, Debug)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

const FIRST: Duration = Duration::from_secs(5);
const MAX: Duration = Duration::from_secs(300);

impl Backoff {
    /// Counts a failure of `key` and returns how long to wait before retrying it.
    pub fn next(&self, key: &str) -> Duration {
        let mut f = self.failures.lock();
        let n = f.entry(key.to_string()).or_insert(0);
        let delay = FIRST.saturating_mul(1 << (*n).min(16)).min(MAX);
        *n = n.saturating_add(1);
        delay
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}
