//! The write cache: recent batches kept in memory across all partitions, within a byte
//! budget, so consumers at the tail and uploads read memory instead of the WAL.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::PartitionLog;

/// that is already durable is dropped first (it can be read back from the WAL).
pub struct WriteCache {
    budget: u64,
    used: AtomicU64,
    order: Mutex<VecDeque<(Weak<PartitionLog>, i64)>>,
}

impl WriteCache {
    /// A cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> Arc<Self> {
        Arc::new(Self {
            budget,
            used: AtomicU64::new(0),
            order: Mutex::new(VecDeque::new()),
        })
    }

    /// Bytes currently cached.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(super) fn account(&self, size: u64) {
        self.used.fetch_add(size, Ordering::Relaxed);
    }

    /// Remembers new batches for eviction and evicts past the budget. Called without any
    /// partition lock held: eviction takes partition locks.
    pub(super) fn track(&self, p: &Arc<PartitionLog>, bases: &[i64]) {
        let mut order = self.order.lock();
        order.extend(bases.iter().map(|b| (Arc::downgrade(p), *b)));
        while self.used.load(Ordering::Relaxed) > self.budget {
            let Some((w, base)) = order.front().cloned() else {
                break;
            };
            match w.upgrade().map(|p| p.evict_cached(base)) {
                // Not durable yet: everything behind it is newer, stop here.
                Some(None) => break,
                Some(Some(freed)) => {
                    self.used.fetch_sub(freed, Ordering::Relaxed);
                }
                None => {}
            }
            order.pop_front();
        }
    }

    pub(super) fn released(&self, size: u64) {
        self.used.fetch_sub(size, Ordering::Relaxed);
    }
}
