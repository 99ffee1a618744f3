//! One partition's log: offset assignment, the index of its local batches, the high
//! watermark, how far it is uploaded, and its start offset.
//!
//! Owns: which offsets exist and which are visible. Offsets are assigned under the partition
//! lock in the same critical section that queues the batch on the WAL, so WAL order equals
//! offset order. A batch becomes visible to consumers only when the WAL writer reports it
//! durable. Offsets in `[log_start, local_start)` live only in object storage; the index holds
//! `[local_start, next_offset)`, and an uploaded batch leaves it once the write cache drops
//! it. Never: touches files (the WAL does) or object storage (`tier` does).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

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
    /// In object storage and registered in the catalog.
    uploaded: bool,
    appended_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_offset: i64,
    high_watermark: i64,
    log_start_offset: i64,
    /// Offsets below this are in object storage.
    uploaded_end: i64,
    entries: VecDeque<IndexEntry>,
    /// Bytes of local entries.
    bytes: u64,
    /// Bytes of durable entries not uploaded yet.
    unuploaded: u64,
}

impl State {
    fn position(&self, base: i64) -> Option<usize> {
        self.entries.binary_search_by_key(&base, |e| e.base).ok()
    }

    fn local_start(&self) -> i64 {
        self.entries
            .front()
            .map(|e| e.base)
            .unwrap_or(self.next_offset)
    }

    /// Uploaded batches the write cache no longer holds leave the index (from the front, so
    /// the index stays contiguous).
    fn pop_uploaded(&mut self) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.uploaded && e.cached.is_none())
        {
            if let Some(e) = self.entries.pop_front() {
                self.bytes -= u64::from(e.size);
            }
        }
    }
}

/// Bytes durable in the WAL but not yet in object storage, across all partitions; the
/// uploader waits on it.
#[derive(Debug, Default)]
pub struct UploadBacklog {
    bytes: AtomicU64,
    /// The uploader is woken when the backlog stops being empty or reaches this size, not on
    /// every append.
    threshold: u64,
    grew: Notify,
}

impl UploadBacklog {
    /// A new, empty backlog that wakes the uploader at `threshold` bytes.
    pub fn new(threshold: u64) -> Arc<Self> {
        Arc::new(Self {
            threshold,
            ..Self::default()
        })
    }

    /// Unuploaded bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Completes when the backlog stopped being empty or reached the threshold (register
    /// before checking).
    pub fn grew(&self) -> &Notify {
        &self.grew
    }

    fn add(&self, n: u64) {
        if n > 0 {
            let before = self.bytes.fetch_add(n, Ordering::Relaxed);
            if before == 0 || (before < self.threshold && before + n >= self.threshold) {
                self.grew.notify_waiters();
            }
        }
    }

    fn sub(&self, n: u64) {
        if n > 0 {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// A durable batch waiting for upload.
#[derive(Debug, Clone)]
pub struct UploadItem {
    /// First offset.
    pub base: i64,
    /// Last offset.
    pub last: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Where its bytes are.
    pub source: BatchSource,
}

/// A batch as retention sees it.
#[derive(Debug, Clone, Copy)]
pub struct RetentionItem {
    /// Last offset.
    pub last: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Bytes.
    pub size: u64,
}

/// The first offset to keep after time and size retention over `items` (oldest first, none
/// above the high watermark), or None when nothing expires.
///
/// ```
/// use rustmq_broker::partition::{RetentionItem, retention_start};
/// let items = [
///     RetentionItem { last: 9, max_timestamp: 100, size: 10 },
///     RetentionItem { last: 19, max_timestamp: 200, size: 10 },
/// ];
/// assert_eq!(retention_start(&items, 1000, 850, -1), Some(10));
/// assert_eq!(retention_start(&items, 1000, -1, 10), Some(10));
/// assert_eq!(retention_start(&items, 1000, -1, -1), None);
/// ```
pub fn retention_start(
    items: &[RetentionItem],
    now_ms: i64,
    retention_ms: i64,
    retention_bytes: i64,
) -> Option<i64> {
    let mut total: u64 = items.iter().map(|i| i.size).sum();
    let mut start = None;
    for i in items {
        let too_old = retention_ms >= 0 && i.max_timestamp < now_ms - retention_ms;
        let too_big = retention_bytes >= 0 && total - i.size >= retention_bytes as u64;
        if !(too_old || too_big) {
            break;
        }
        total -= i.size;
        start = Some(i.last + 1);
    }
    start
}

/// Where to get one batch of a read.
#[derive(Debug, Clone)]
pub enum BatchSource {
    /// In the write cache.
    Memory(Bytes),
    /// On disk in the WAL.
    Wal(WalLocation),
    /// In object storage: read from `offset`, at most `max_bytes` (at least one batch).
    Tiered {
        /// First offset wanted.
        offset: i64,
        /// Budget.
        max_bytes: u64,
    },
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
    backlog: Arc<UploadBacklog>,
}

impl PartitionLog {
    /// A partition whose first retained offset is `log_start_offset` and whose offsets below
    /// `uploaded_end` are in object storage (both from the catalog).
    pub fn new(
        topic: String,
        topic_id: u64,
        partition: u32,
        log_start_offset: i64,
        uploaded_end: i64,
        cache: Arc<WriteCache>,
        backlog: Arc<UploadBacklog>,
    ) -> Arc<Self> {
        let end = uploaded_end.max(log_start_offset);
        Arc::new(Self {
            topic,
            topic_id,
            partition,
            state: Mutex::new(State {
                next_offset: end,
                high_watermark: end,
                log_start_offset,
                uploaded_end: end,
                ..State::default()
            }),
            appended: Notify::new(),
            cache,
            backlog,
        })
    }

    /// Adds an entry found by WAL recovery. A later entry at an offset already present wins
    /// (it was written after a failed or superseded write); entries already uploaded or
    /// below the start are skipped.
    pub fn recover(&self, b: &Bytes, location: WalLocation) {
        let mut s = self.state.lock();
        let base = batch::base_offset(b);
        let last = batch::last_offset(b);
        if last < s.log_start_offset || last < s.uploaded_end {
            return;
        }
        while s.entries.back().is_some_and(|e| e.base >= base) {
            if let Some(e) = s.entries.pop_back() {
                s.bytes -= u64::from(e.size);
                s.unuploaded -= u64::from(e.size);
                self.backlog.sub(u64::from(e.size));
            }
        }
        // Nothing uploaded and the oldest local batch is gone (retention before a restart):
        // the log starts at the first batch still here.
        if s.entries.is_empty() && base > s.next_offset && s.uploaded_end == s.log_start_offset {
            s.log_start_offset = base;
            s.uploaded_end = base;
        }
        s.entries.push_back(IndexEntry {
            base,
            last,
            max_timestamp: batch::max_timestamp(b),
            size: location.len,
            location: Some(location),
            cached: None,
            uploaded: false,
            appended_at: Instant::now(),
        });
        s.bytes += u64::from(location.len);
        s.unuploaded += u64::from(location.len);
        self.backlog.add(u64::from(location.len));
        s.next_offset = last + 1;
        s.high_watermark = last + 1;
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
                uploaded: false,
                appended_at: Instant::now(),
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
        if e.location.is_none() && !e.uploaded {
            return None;
        }
        let freed = e.cached.take().map(|b| b.len() as u64).unwrap_or(0);
        s.pop_uploaded();
        Some(freed)
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
        let mut plan = ReadPlan {
            batches: Vec::new(),
            bytes: 0,
            high_watermark: s.high_watermark,
            log_start_offset: s.log_start_offset,
        };
        if offset < s.local_start() {
            plan.batches.push(BatchSource::Tiered { offset, max_bytes });
            plan.bytes = max_bytes;
            return Ok(plan);
        }
        let start = s.entries.partition_point(|e| e.last < offset);
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

    /// The first local batch (below the high watermark) whose max timestamp is >= `ts`.
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

    /// The first offset of the local index (offsets below it are in object storage).
    pub fn local_start(&self) -> i64 {
        self.state.lock().local_start()
    }

    /// Durable batches not uploaded yet, oldest first, at most `max_bytes` (at least one).
    pub fn upload_candidates(&self, max_bytes: u64) -> Vec<UploadItem> {
        let s = self.state.lock();
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let from = s.entries.partition_point(|e| e.base < s.uploaded_end);
        for e in s.entries.range(from..) {
            if e.base >= s.high_watermark
                || (!out.is_empty() && bytes + u64::from(e.size) > max_bytes)
            {
                break;
            }
            let source = match (&e.cached, e.location) {
                (Some(b), _) => BatchSource::Memory(b.clone()),
                (None, Some(l)) => BatchSource::Wal(l),
                (None, None) => break,
            };
            bytes += u64::from(e.size);
            out.push(UploadItem {
                base: e.base,
                last: e.last,
                max_timestamp: e.max_timestamp,
                source,
            });
        }
        out
    }

    /// When the oldest unuploaded durable batch was appended.
    pub fn oldest_unuploaded(&self) -> Option<Instant> {
        let s = self.state.lock();
        let from = s.entries.partition_point(|e| e.base < s.uploaded_end);
        s.entries
            .range(from..)
            .find(|e| e.location.is_some())
            .map(|e| e.appended_at)
    }

    /// Everything up to `last` is registered in the catalog: the WAL copies are no longer
    /// needed (returned for release).
    pub fn mark_uploaded(&self, last: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let mut released = Vec::new();
        let mut done = 0u64;
        for e in s.entries.iter_mut() {
            if e.last > last {
                break;
            }
            if !e.uploaded {
                e.uploaded = true;
                if let Some(l) = e.location.take() {
                    released.push(l);
                    done += u64::from(e.size);
                }
            }
        }
        s.uploaded_end = s.uploaded_end.max(last + 1);
        s.unuploaded -= done;
        s.pop_uploaded();
        drop(s);
        self.backlog.sub(done);
        released
    }

    /// Local batches not uploaded yet, for retention (uploaded ones are in the catalog).
    pub fn retention_items(&self) -> Vec<RetentionItem> {
        let s = self.state.lock();
        s.entries
            .iter()
            .filter(|e| !e.uploaded && e.base < s.high_watermark)
            .map(|e| RetentionItem {
                last: e.last,
                max_timestamp: e.max_timestamp,
                size: u64::from(e.size),
            })
            .collect()
    }

    /// Moves the log start to `start` (retention): drops local batches below it and returns
    /// their WAL locations. Never moves backwards or past the high watermark.
    pub fn advance_start(&self, start: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let start = start.min(s.high_watermark);
        if start <= s.log_start_offset {
            return Vec::new();
        }
        let mut released = Vec::new();
        let mut freed_cache = 0;
        let mut unuploaded = 0;
        while s.entries.front().is_some_and(|e| e.last < start) {
            if let Some(e) = s.entries.pop_front() {
                s.bytes -= u64::from(e.size);
                if let Some(l) = e.location {
                    released.push(l);
                    if !e.uploaded {
                        unuploaded += u64::from(e.size);
                    }
                }
                if let Some(c) = e.cached {
                    freed_cache += c.len() as u64;
                }
            }
        }
        s.log_start_offset = start;
        s.uploaded_end = s.uploaded_end.max(start);
        s.unuploaded -= unuploaded;
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed_cache);
        released
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
        let unuploaded = std::mem::take(&mut s.unuploaded);
        s.generation += 1;
        drop(s);
        self.cache.released(freed);
        self.backlog.sub(unuploaded);
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
        if let Some(i) = s.position(base)
            && s.entries[i].location.is_none()
        {
            s.entries[i].location = Some(location);
            s.unuploaded += u64::from(location.len);
            self.backlog.add(u64::from(location.len));
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
