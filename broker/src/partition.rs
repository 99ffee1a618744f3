//! One partition's log: offset assignment, the index of its batches, the high watermark and
//! retention.
//!
//! Owns: which offsets exist and which are visible. Offsets are assigned under the partition
//! lock in the same critical section that queues the batch on the WAL, so WAL order equals
//! offset order. A batch becomes visible to consumers only when the WAL writer reports it
//! durable. Never: touches files (the WAL does).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rustmq_protocol::batch::{self, BatchInfo};
use tokio::sync::{Notify, oneshot};

use crate::wal::{Append, AppendTarget, Wal, WalError, WalLocation};

/// One batch in the index.
#[derive(Debug, Clone)]
struct IndexEntry {
    base: i64,
    last: i64,
    max_timestamp: i64,
    size: u32,
    location: Option<WalLocation>,
    cached: Option<Bytes>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_offset: i64,
    high_watermark: i64,
    log_start_offset: i64,
    entries: VecDeque<IndexEntry>,
    bytes: u64,
}

impl State {
    fn position(&self, base: i64) -> Option<usize> {
        self.entries.binary_search_by_key(&base, |e| e.base).ok()
    }
}

/// Where to get one batch of a read.
#[derive(Debug, Clone)]
pub enum BatchSource {
    /// In the write cache.
    Memory(Bytes),
    /// On disk in the WAL.
    Wal(WalLocation),
}

/// A read's plan: what to return, and the partition's bounds at the time.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// Batches in offset order.
    pub batches: Vec<BatchSource>,
    /// Total bytes.
    pub bytes: u64,
    /// High watermark.
    pub high_watermark: i64,
    /// Log start offset.
    pub log_start_offset: i64,
}

/// Why a partition operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PartitionError {
    /// The offset is outside `[log_start, high_watermark]`.
    #[error("offset {offset} is out of range [{log_start}, {high_watermark}]")]
    OffsetOutOfRange {
        /// Asked for.
        offset: i64,
        /// Log start.
        log_start: i64,
        /// High watermark.
        high_watermark: i64,
    },
    /// The WAL failed.
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Recent batches kept in memory across all partitions, bounded in bytes. The oldest batch
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

    fn account(&self, size: u64) {
        self.used.fetch_add(size, Ordering::Relaxed);
    }

    /// Remembers new batches for eviction and evicts past the budget. Called without any
    /// partition lock held: eviction takes partition locks.
    fn track(&self, p: &Arc<PartitionLog>, bases: &[i64]) {
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

    fn released(&self, size: u64) {
        self.used.fetch_sub(size, Ordering::Relaxed);
    }
}

/// A partition's log.
pub struct PartitionLog {
    /// Topic name.
    pub topic: String,
    /// Topic id.
    pub topic_id: u64,
    /// Partition index.
    pub partition: u32,
    state: Mutex<State>,
    appended: Notify,
    cache: Arc<WriteCache>,
}

impl PartitionLog {
    /// An empty partition starting at `log_start_offset`.
    pub fn new(
        topic: String,
        topic_id: u64,
        partition: u32,
        log_start_offset: i64,
        cache: Arc<WriteCache>,
    ) -> Arc<Self> {
        Arc::new(Self {
            topic,
            topic_id,
            partition,
            state: Mutex::new(State {
                next_offset: log_start_offset,
                high_watermark: log_start_offset,
                log_start_offset,
                ..State::default()
            }),
            appended: Notify::new(),
            cache,
        })
    }

    /// Adds an entry found by WAL recovery. A later entry at an offset already present wins
    /// (it was written after a failed or superseded write). Returns locations dropped.
    pub fn recover(&self, b: &Bytes, location: WalLocation) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let base = batch::base_offset(b);
        let last = batch::last_offset(b);
        let mut dropped = Vec::new();
        if last < s.log_start_offset {
            dropped.push(location);
            return dropped;
        }
        while s.entries.back().is_some_and(|e| e.base >= base) {
            if let Some(e) = s.entries.pop_back() {
                s.bytes -= u64::from(e.size);
                dropped.extend(e.location);
            }
        }
        if s.entries.is_empty() && base > s.log_start_offset {
            s.log_start_offset = base;
        }
        s.entries.push_back(IndexEntry {
            base,
            last,
            max_timestamp: batch::max_timestamp(b),
            size: location.len,
            location: Some(location),
            cached: None,
        });
        s.bytes += u64::from(location.len);
        s.next_offset = last + 1;
        s.high_watermark = last + 1;
        dropped
    }

    /// WAL locations still referenced (for segment live counts after recovery).
    pub fn locations(&self) -> Vec<WalLocation> {
        self.state
            .lock()
            .entries
            .iter()
            .filter_map(|e| e.location)
            .collect()
    }

    /// Stamps offsets on validated batches, queues them on the WAL, and returns the base
    /// offset plus a receiver completed when the last batch is durable.
    pub fn append(
        self: &Arc<Self>,
        wal: &Wal,
        buf: &Bytes,
        infos: &[BatchInfo],
        leader_epoch: i32,
    ) -> Result<(i64, oneshot::Receiver<Result<(), WalError>>), PartitionError> {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let mut s = self.state.lock();
        let first_base = s.next_offset;
        let target: Arc<dyn AppendTarget> = self.clone();
        let mut bases = Vec::with_capacity(infos.len());
        for (i, info) in infos.iter().enumerate() {
            let base = s.next_offset;
            let last = base + i64::from(info.offset_count) - 1;
            let mut b = BytesMut::from(&buf[info.start..info.start + info.len]);
            batch::stamp(&mut b, base, leader_epoch);
            let b = b.freeze();
            s.entries.push_back(IndexEntry {
                base,
                last,
                max_timestamp: info.max_timestamp,
                size: info.len as u32,
                location: None,
                cached: Some(b.clone()),
            });
            s.bytes += info.len as u64;
            s.next_offset = last + 1;
            self.cache.account(info.len as u64);
            bases.push(base);
            let submitted = wal.submit(Append {
                topic_id: self.topic_id,
                partition: self.partition,
                base_offset: base,
                last_offset: last,
                leader_epoch,
                batch: b,
                generation: s.generation,
                target: target.clone(),
                reply: if i + 1 == infos.len() {
                    tx.take()
                } else {
                    None
                },
            });
            if let Err(e) = submitted {
                let freed = Self::truncate_to_hw(&mut s);
                drop(s);
                self.cache.released(freed);
                return Err(e.into());
            }
        }
        drop(s);
        self.cache.track(self, &bases);
        Ok((first_base, rx))
    }

    fn truncate_to_hw(s: &mut State) -> u64 {
        let mut freed = 0;
        while s.entries.back().is_some_and(|e| e.base >= s.high_watermark) {
            if let Some(e) = s.entries.pop_back() {
                s.bytes -= u64::from(e.size);
                if e.cached.is_some() {
                    freed += u64::from(e.size);
                }
            }
        }
        s.next_offset = s.high_watermark;
        s.generation += 1;
        freed
    }

    fn evict_cached(&self, base: i64) -> Option<u64> {
        let mut s = self.state.lock();
        let Some(i) = s.position(base) else {
            return Some(0);
        };
        let e = &mut s.entries[i];
        e.location?;
        Some(e.cached.take().map(|b| b.len() as u64).unwrap_or(0))
    }

    /// Plans a read of up to `max_bytes` starting at `offset` (at least one whole batch if any
    /// is available). Only offsets below the high watermark are returned.
    pub fn plan_read(&self, offset: i64, max_bytes: u64) -> Result<ReadPlan, PartitionError> {
        let s = self.state.lock();
        if offset < s.log_start_offset || offset > s.high_watermark {
            return Err(PartitionError::OffsetOutOfRange {
                offset,
                log_start: s.log_start_offset,
                high_watermark: s.high_watermark,
            });
        }
        let start = s.entries.partition_point(|e| e.last < offset);
        let mut plan = ReadPlan {
            batches: Vec::new(),
            bytes: 0,
            high_watermark: s.high_watermark,
            log_start_offset: s.log_start_offset,
        };
        for e in s.entries.range(start..) {
            if e.base >= s.high_watermark {
                break;
            }
            if !plan.batches.is_empty() && plan.bytes + u64::from(e.size) > max_bytes {
                break;
            }
            plan.batches.push(match (&e.cached, e.location) {
                (Some(b), _) => BatchSource::Memory(b.clone()),
                (None, Some(l)) => BatchSource::Wal(l),
                // Below the high watermark every batch has a location; keep the read
                // consistent by stopping here rather than skipping.
                (None, None) => break,
            });
            plan.bytes += u64::from(e.size);
        }
        Ok(plan)
    }

    /// The first batch (below the high watermark) whose max timestamp is >= `ts`.
    pub fn batch_for_timestamp(&self, ts: i64) -> Option<BatchSource> {
        let s = self.state.lock();
        s.entries
            .iter()
            .take_while(|e| e.base < s.high_watermark)
            .find(|e| e.max_timestamp >= ts)
            .and_then(|e| match (&e.cached, e.location) {
                (Some(b), _) => Some(BatchSource::Memory(b.clone())),
                (None, Some(l)) => Some(BatchSource::Wal(l)),
                _ => None,
            })
    }

    /// `(log_start_offset, high_watermark)`.
    pub fn bounds(&self) -> (i64, i64) {
        let s = self.state.lock();
        (s.log_start_offset, s.high_watermark)
    }

    /// Bytes held by the partition.
    pub fn size_bytes(&self) -> u64 {
        self.state.lock().bytes
    }

    /// Completes when the high watermark may have moved (register before checking).
    pub fn appended(&self) -> &Notify {
        &self.appended
    }

    /// Applies retention; returns WAL locations no longer needed and whether the log start
    /// moved.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> (Vec<WalLocation>, bool) {
        let mut s = self.state.lock();
        let mut released = Vec::new();
        let mut freed_cache = 0;
        while let Some(front) = s.entries.front() {
            if front.last >= s.high_watermark {
                break;
            }
            let too_old = retention_ms >= 0 && front.max_timestamp < now_ms - retention_ms;
            let too_big =
                retention_bytes >= 0 && s.bytes - u64::from(front.size) >= retention_bytes as u64;
            if !(too_old || too_big) {
                break;
            }
            if let Some(e) = s.entries.pop_front() {
                s.bytes -= u64::from(e.size);
                released.extend(e.location);
                if let Some(c) = e.cached {
                    freed_cache += c.len() as u64;
                }
            }
        }
        let moved = !released.is_empty();
        if moved {
            s.log_start_offset = s
                .entries
                .front()
                .map(|e| e.base)
                .unwrap_or(s.high_watermark);
        }
        drop(s);
        if freed_cache > 0 {
            self.cache.released(freed_cache);
        }
        (released, moved)
    }

    /// Drops everything (topic deleted); returns the WAL locations released.
    pub fn drop_all(&self) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let mut freed = 0;
        let locs = s
            .entries
            .drain(..)
            .filter_map(|e| {
                if let Some(c) = &e.cached {
                    freed += c.len() as u64;
                }
                e.location
            })
            .collect();
        s.bytes = 0;
        s.generation += 1;
        drop(s);
        self.cache.released(freed);
        self.appended.notify_waiters();
        locs
    }
}

impl AppendTarget for PartitionLog {
    fn is_current(&self, generation: u64) -> bool {
        self.state.lock().generation == generation
    }

    fn on_durable(&self, generation: u64, base: i64, last: i64, location: WalLocation) {
        let mut s = self.state.lock();
        if s.generation != generation {
            return;
        }
        if let Some(i) = s.position(base) {
            s.entries[i].location = Some(location);
        }
        if last + 1 > s.high_watermark {
            s.high_watermark = last + 1;
        }
        drop(s);
        self.appended.notify_waiters();
    }

    fn on_failed(&self, generation: u64) {
        let mut s = self.state.lock();
        if s.generation != generation {
            return;
        }
        let freed = Self::truncate_to_hw(&mut s);
        drop(s);
        self.cache.released(freed);
    }
}
