//! One partition's log: offset assignment, the index of its local batches, its role (leader
//! or follower), the high watermark, leader epochs, idempotent-producer state, how far it is
//! uploaded, and its start offset.
//!
//! Owns: which offsets exist and which are visible. Offsets are assigned under the partition
//! lock in the same critical section that queues the batch on the WAL, so WAL order equals
//! offset order. `durable_end` is the end of what the local WAL has fsynced; the high
//! watermark is the end of what every in-sync replica has (on a leader: the minimum of its
//! own durable end and the ISR followers' fetch offsets; on a follower: what the leader
//! said, capped by its own durable end). Consumers see only offsets below the high
//! watermark. Offsets in `[log_start, local_start)` live only in object storage; the index
//! holds `[local_start, next_offset)`, and an uploaded batch leaves it once the write cache
//! drops it. Never: touches files (the WAL does) or object storage (`tier` does).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rustmq_protocol::batch::{self, BatchInfo};
use tokio::sync::{Notify, oneshot};

use crate::wal::{Append, AppendTarget, Wal, WalError, WalLocation};

/// Idempotent-producer batches remembered per producer (Kafka keeps 5 as well).
const PRODUCER_BATCHES: usize = 5;

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

/// This broker's role for the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Takes produces and serves consumers and followers.
    #[default]
    Leader,
    /// Copies the leader's log.
    Follower {
        /// The leader's broker id.
        leader: u32,
    },
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// Its durable log end as of its last fetch (-1: not fetched since this leadership began).
    end: i64,
    last_fetch: Instant,
    /// Last time its log end reached the leader's.
    caught_up: Instant,
    /// The leader's durable end at its previous fetch.
    leader_end_then: i64,
}

/// An idempotent producer's recent batches on this partition.
#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    /// `(first sequence, last sequence, base offset, last offset)`, oldest first.
    batches: VecDeque<(i32, i32, i64, i64)>,
}

/// How a batch relates to its producer's sequence.
enum SequenceCheck {
    /// Not idempotent, or the next in sequence: append.
    Append,
    /// Already in the log at these offsets.
    Duplicate(i64, i64),
    /// A gap or an older producer epoch.
    Refused(String),
}

/// The replication settings a partition's leader works with.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSettings {
    /// This broker.
    pub broker_id: u32,
    /// A follower that has not caught up for this long leaves the ISR.
    pub max_lag: std::time::Duration,
    /// A follower that has not fetched for this long leaves the ISR.
    pub fetch_timeout: std::time::Duration,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_offset: i64,
    /// End of the fsynced local log.
    durable_end: i64,
    high_watermark: i64,
    role: Role,
    leader_epoch: i32,
    partition_epoch: i32,
    replicas: Vec<u32>,
    isr: Vec<u32>,
    /// When this broker last became leader.
    leading_since: Option<Instant>,
    followers: HashMap<u32, FollowerState>,
    /// `(leader epoch, first offset)` in offset order: where each epoch's batches begin.
    epochs: Vec<(i32, i64)>,
    producers: HashMap<i64, ProducerEntry>,
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

    /// Records where an epoch's batches begin (batches arrive in offset order).
    fn note_epoch(&mut self, epoch: i32, base: i64) {
        if self.epochs.last().is_none_or(|(e, _)| epoch > *e) {
            self.epochs.push((epoch, base));
        }
    }

    /// Remembers an idempotent producer's batch (leader, follower and recovery alike).
    fn note_producer(&mut self, b: &[u8], base: i64, last: i64) {
        let (pid, pepoch, seq) = batch::producer(b);
        if pid < 0 {
            return;
        }
        let last_seq = batch::sequence_after(seq, (last - base) as i32);
        let p = self.producers.entry(pid).or_default();
        if pepoch != p.epoch {
            p.epoch = pepoch;
            p.batches.clear();
        }
        p.batches.push_back((seq, last_seq, base, last));
        while p.batches.len() > PRODUCER_BATCHES {
            p.batches.pop_front();
        }
    }

    fn check_sequence(&self, b: &[u8], count: i64) -> SequenceCheck {
        let (pid, pepoch, seq) = batch::producer(b);
        if pid < 0 {
            return SequenceCheck::Append;
        }
        let Some(p) = self.producers.get(&pid) else {
            // A producer this partition has no state for (new, or its batches were all
            // uploaded and the broker restarted): its sequence starts here.
            return SequenceCheck::Append;
        };
        if pepoch < p.epoch {
            return SequenceCheck::Refused(format!(
                "producer {pid} epoch {pepoch} is older than {}",
                p.epoch
            ));
        }
        if pepoch > p.epoch {
            return SequenceCheck::Append;
        }
        let last_seq = batch::sequence_after(seq, count as i32 - 1);
        if let Some((_, _, base, last)) = p
            .batches
            .iter()
            .find(|(f, l, _, _)| *f == seq && *l == last_seq)
        {
            return SequenceCheck::Duplicate(*base, *last);
        }
        match p.batches.back() {
            Some((_, l, _, _)) if batch::sequence_after(*l, 1) != seq => SequenceCheck::Refused(
                format!("producer {pid}: sequence {seq} does not follow {l}"),
            ),
            _ => SequenceCheck::Append,
        }
    }

    /// Leader: the high watermark is the smallest durable end among the in-sync replicas;
    /// a follower that has not fetched since this leadership began holds it where it is.
    fn update_hw(&mut self, me: u32) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let mut hw = self.durable_end;
        for r in &self.isr {
            if *r == me {
                continue;
            }
            match self.followers.get(r) {
                Some(f) if f.end >= 0 => hw = hw.min(f.end),
                _ => hw = hw.min(self.high_watermark),
            }
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            return true;
        }
        false
    }

    /// Drops batches from `offset` on (a follower's divergent tail, or a failed write).
    fn truncate_from(&mut self, offset: i64) -> (Vec<WalLocation>, u64, u64) {
        let mut released = Vec::new();
        let (mut freed_cache, mut unuploaded) = (0, 0);
        while self.entries.back().is_some_and(|e| e.last >= offset) {
            if let Some(e) = self.entries.pop_back() {
                self.bytes -= u64::from(e.size);
                if let Some(l) = e.location {
                    released.push(l);
                    if !e.uploaded {
                        unuploaded += u64::from(e.size);
                    }
                }
                if e.cached.is_some() {
                    freed_cache += u64::from(e.size);
                }
            }
        }
        let end = self
            .entries
            .back()
            .map(|e| e.last + 1)
            .unwrap_or(offset.min(self.next_offset))
            .max(self.uploaded_end.min(offset));
        self.next_offset = end;
        self.durable_end = self.durable_end.min(end);
        self.high_watermark = self.high_watermark.min(end);
        while self.epochs.last().is_some_and(|(_, s)| *s >= end) {
            self.epochs.pop();
        }
        for p in self.producers.values_mut() {
            p.batches.retain(|b| b.3 < end);
        }
        self.producers.retain(|_, p| !p.batches.is_empty());
        self.unuploaded -= unuploaded;
        self.generation += 1;
        (released, freed_cache, unuploaded)
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
    /// This broker does not lead the partition (now).
    #[error("not the leader of this partition (leader epoch {epoch})")]
    NotLeader {
        /// The epoch this broker knows.
        epoch: i32,
    },
    /// An idempotent producer's batch is out of sequence.
    #[error("{0}")]
    OutOfOrderSequence(String),
    /// Replicated data does not continue the local log.
    #[error("replicated batch at offset {got} does not continue the log at {expected}")]
    ReplicaGap {
        /// Offset of the batch.
        got: i64,
        /// The local log end.
        expected: i64,
    },
    /// Replicated bytes are not valid batches.
    #[error("corrupt replicated data: {0}")]
    Corrupt(String),
}

/// The result of an append on the leader.
#[derive(Debug)]
pub struct Appended {
    /// Offset of the first record.
    pub base: i64,
    /// Offset of the last record.
    pub last: i64,
    /// The leader epoch the batches were stamped with.
    pub epoch: i32,
    /// Completed when the last batch is durable; None for an idempotent retry whose batches
    /// were already in the log (wait for `durable_end` instead).
    pub durable: Option<oneshot::Receiver<Result<(), WalError>>>,
}

/// How many replicas an acknowledgement needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckNeed {
    /// The leader's WAL.
    Leader,
    /// Every in-sync replica: the high watermark passed the batch.
    All,
    /// This many replicas, leader included.
    Replicas(usize),
}

/// Where an acknowledgement stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Enough replicas have it.
    Done,
    /// Not yet.
    Waiting,
    /// It can no longer be acknowledged by this broker (leadership moved or the batch was
    /// truncated).
    Lost(String),
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
    settings: ReplicaSettings,
    state: Mutex<State>,
    appended: Notify,
    cache: Arc<WriteCache>,
    backlog: Arc<UploadBacklog>,
}

impl PartitionLog {
    /// A partition whose first retained offset is `log_start_offset` and whose offsets below
    /// `uploaded_end` are in object storage (both from the catalog).
    // Every argument is a distinct part of the partition's identity or its shared budgets.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic: String,
        topic_id: u64,
        partition: u32,
        log_start_offset: i64,
        uploaded_end: i64,
        cache: Arc<WriteCache>,
        backlog: Arc<UploadBacklog>,
        settings: ReplicaSettings,
    ) -> Arc<Self> {
        let end = uploaded_end.max(log_start_offset);
        Arc::new(Self {
            topic,
            topic_id,
            partition,
            settings,
            state: Mutex::new(State {
                next_offset: end,
                durable_end: end,
                high_watermark: end,
                log_start_offset,
                uploaded_end: end,
                replicas: vec![settings.broker_id],
                isr: vec![settings.broker_id],
                leading_since: Some(Instant::now()),
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
        // A batch after a hole is what is left of a truncated tail whose earlier batches'
        // segments are gone: nothing after a hole can be part of a contiguous log.
        if s.entries.back().is_some_and(|e| base > e.last + 1) {
            return;
        }
        if s.entries.back().is_some_and(|e| e.last >= base) {
            // Written after a failed or superseded write: the later entry wins.
            let (_, _, unuploaded) = s.truncate_from(base);
            self.backlog.sub(unuploaded);
        }
        // Nothing uploaded and the oldest local batch is gone (retention before a restart):
        // the log starts at the first batch still here.
        if s.entries.is_empty() && base > s.next_offset && s.uploaded_end == s.log_start_offset {
            s.log_start_offset = base;
            s.uploaded_end = base;
        }
        let epoch = batch::leader_epoch(b);
        s.note_epoch(epoch, base);
        s.note_producer(b, base, last);
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
        s.durable_end = last + 1;
        s.update_hw(self.settings.broker_id);
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

    /// Leader: checks idempotent-producer sequences, stamps offsets and the leader epoch on
    /// validated batches and queues them on the WAL. A retried batch already in the log is
    /// not appended again: its original offsets come back (with `durable: None`).
    pub fn append(
        self: &Arc<Self>,
        wal: &Wal,
        buf: &Bytes,
        infos: &[BatchInfo],
    ) -> Result<Appended, PartitionError> {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let mut s = self.state.lock();
        if s.role != Role::Leader {
            return Err(PartitionError::NotLeader {
                epoch: s.leader_epoch,
            });
        }
        let epoch = s.leader_epoch;
        // Sequence checks first, so a refused request appends nothing.
        let mut fresh = Vec::with_capacity(infos.len());
        let mut first_dup: Option<(i64, i64)> = None;
        for info in infos {
            let b = &buf[info.start..info.start + info.len];
            match s.check_sequence(b, i64::from(info.offset_count)) {
                SequenceCheck::Append => fresh.push(*info),
                SequenceCheck::Duplicate(base, last) => {
                    first_dup = Some(first_dup.map_or((base, last), |(b0, _)| (b0, last)));
                }
                SequenceCheck::Refused(why) => {
                    return Err(PartitionError::OutOfOrderSequence(why));
                }
            }
        }
        if fresh.is_empty() {
            let (base, last) = first_dup.unwrap_or((s.next_offset, s.next_offset - 1));
            return Ok(Appended {
                base,
                last,
                epoch,
                durable: None,
            });
        }
        let first_base = first_dup.map_or(s.next_offset, |(b, _)| b);
        let target: Arc<dyn AppendTarget> = self.clone();
        let mut bases = Vec::with_capacity(fresh.len());
        let mut last = s.next_offset - 1;
        for (i, info) in fresh.iter().enumerate() {
            let base = s.next_offset;
            last = base + i64::from(info.offset_count) - 1;
            let mut b = BytesMut::from(&buf[info.start..info.start + info.len]);
            batch::stamp(&mut b, base, epoch);
            let b = b.freeze();
            let reply = if i + 1 == fresh.len() {
                tx.take()
            } else {
                None
            };
            self.queue(
                &mut s,
                wal,
                &target,
                b,
                (base, last, epoch),
                info.max_timestamp,
                reply,
            )?;
            bases.push(base);
        }
        drop(s);
        self.cache.track(self, &bases);
        Ok(Appended {
            base: first_base,
            last,
            epoch,
            durable: Some(rx),
        })
    }

    /// Follower: appends batches fetched from the leader (already stamped with offsets and
    /// epochs) after the local log end, and returns a receiver completed when the last one is
    /// durable (None when `buf` held no batch).
    pub fn append_replica(
        self: &Arc<Self>,
        wal: &Wal,
        buf: &Bytes,
    ) -> Result<Option<oneshot::Receiver<Result<(), WalError>>>, PartitionError> {
        let infos =
            batch::validate(buf, usize::MAX).map_err(|e| PartitionError::Corrupt(e.to_string()))?;
        if infos.is_empty() {
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let mut s = self.state.lock();
        let target: Arc<dyn AppendTarget> = self.clone();
        let mut bases = Vec::with_capacity(infos.len());
        for (i, info) in infos.iter().enumerate() {
            let b = buf.slice(info.start..info.start + info.len);
            let base = batch::base_offset(&b);
            let last = batch::last_offset(&b);
            if base != s.next_offset {
                if bases.is_empty() {
                    return Err(PartitionError::ReplicaGap {
                        got: base,
                        expected: s.next_offset,
                    });
                }
                break;
            }
            let epoch = batch::leader_epoch(&b);
            let reply = if i + 1 == infos.len() {
                tx.take()
            } else {
                None
            };
            self.queue(
                &mut s,
                wal,
                &target,
                b,
                (base, last, epoch),
                info.max_timestamp,
                reply,
            )?;
            bases.push(base);
        }
        // A gap after the first batch: the rest is fetched again from the new end.
        if let Some(tx) = tx.take() {
            drop(tx);
            return Err(PartitionError::ReplicaGap {
                got: -1,
                expected: s.next_offset,
            });
        }
        drop(s);
        self.cache.track(self, &bases);
        Ok(Some(rx))
    }

    /// Adds one stamped batch to the index and the write cache and queues it on the WAL (in
    /// the caller's critical section, so WAL order is offset order). On a WAL refusal the
    /// queued tail is dropped.
    #[allow(clippy::too_many_arguments)]
    fn queue(
        &self,
        s: &mut State,
        wal: &Wal,
        target: &Arc<dyn AppendTarget>,
        b: Bytes,
        (base, last, epoch): (i64, i64, i32),
        max_timestamp: i64,
        reply: Option<oneshot::Sender<Result<(), WalError>>>,
    ) -> Result<(), PartitionError> {
        let len = b.len();
        s.note_epoch(epoch, base);
        s.note_producer(&b, base, last);
        s.entries.push_back(IndexEntry {
            base,
            last,
            max_timestamp,
            size: len as u32,
            location: None,
            cached: Some(b.clone()),
            uploaded: false,
            appended_at: Instant::now(),
        });
        s.bytes += len as u64;
        s.next_offset = last + 1;
        self.cache.account(len as u64);
        let submitted = wal.submit(Append {
            topic_id: self.topic_id,
            partition: self.partition,
            base_offset: base,
            last_offset: last,
            leader_epoch: epoch,
            batch: b,
            generation: s.generation,
            target: target.clone(),
            reply,
        });
        if let Err(e) = submitted {
            let freed = Self::truncate_to_durable(s, &self.backlog);
            self.cache.released(freed);
            return Err(e.into());
        }
        Ok(())
    }

    fn truncate_to_durable(s: &mut State, backlog: &UploadBacklog) -> u64 {
        let end = s.durable_end;
        let (_, freed, unuploaded) = s.truncate_from(end);
        backlog.sub(unuploaded);
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
        self.plan_read_upto(offset, max_bytes, false)
    }

    /// Like [`plan_read`](Self::plan_read), up to the durable log end with `log_end` (what a
    /// follower replicates) instead of the high watermark.
    pub fn plan_read_upto(
        &self,
        offset: i64,
        max_bytes: u64,
        log_end: bool,
    ) -> Result<ReadPlan, PartitionError> {
        let s = self.state.lock();
        let end = if log_end {
            s.durable_end
        } else {
            s.high_watermark
        };
        if offset < s.log_start_offset || offset > end {
            return Err(PartitionError::OffsetOutOfRange {
                offset,
                log_start: s.log_start_offset,
                high_watermark: end,
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
            if e.base >= end {
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

/// What changed when a partition's assignment was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Same role and epoch.
    None,
    /// This broker now leads (a new epoch).
    BecameLeader,
    /// This broker now follows (a new leader or epoch).
    BecameFollower,
}

/// A leader's proposed ISR change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    /// The new ISR.
    pub isr: Vec<u32>,
    /// The leader epoch it is based on.
    pub leader_epoch: i32,
    /// The partition epoch it is based on.
    pub partition_epoch: i32,
}

/// A partition's replication figures for health and metrics.
#[derive(Debug, Clone, Default)]
pub struct ReplicationView {
    /// Whether this broker leads it.
    pub leader: bool,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replicas.
    pub replicas: Vec<u32>,
    /// In-sync replicas.
    pub isr: Vec<u32>,
    /// Offsets the slowest replica is behind this broker's log end (leader only).
    pub max_lag: i64,
    /// Durable log end.
    pub log_end: i64,
    /// High watermark.
    pub high_watermark: i64,
}

impl PartitionLog {
    /// Applies the controllers' view of the partition. A new leader epoch on the leader
    /// resets what it knows of followers (they must fetch again before they count for the
    /// high watermark).
    pub fn set_assignment(
        &self,
        leader: u32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[u32],
        isr: &[u32],
    ) -> RoleChange {
        let me = self.settings.broker_id;
        let mut s = self.state.lock();
        let role = if leader == me {
            Role::Leader
        } else {
            Role::Follower { leader }
        };
        let changed = role != s.role || leader_epoch != s.leader_epoch;
        s.replicas = replicas.to_vec();
        s.isr = isr.to_vec();
        s.partition_epoch = partition_epoch;
        let out = if !changed {
            RoleChange::None
        } else {
            s.role = role;
            s.leader_epoch = leader_epoch;
            s.followers.clear();
            if role == Role::Leader {
                s.leading_since = Some(Instant::now());
                RoleChange::BecameLeader
            } else {
                s.leading_since = None;
                RoleChange::BecameFollower
            }
        };
        s.followers.retain(|id, _| replicas.contains(id));
        s.update_hw(me);
        drop(s);
        self.appended.notify_waiters();
        out
    }

    /// Offsets below this are in object storage.
    pub fn uploaded_end(&self) -> i64 {
        self.state.lock().uploaded_end
    }

    /// This broker's role.
    pub fn role(&self) -> Role {
        self.state.lock().role
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.state.lock().role == Role::Leader
    }

    /// The leader epoch this broker knows.
    pub fn leader_epoch(&self) -> i32 {
        self.state.lock().leader_epoch
    }

    /// `(durable log end, epoch of the last local batch or -1)`: what a follower fetches from.
    pub fn fetch_position(&self) -> (i64, i32) {
        let s = self.state.lock();
        (
            s.durable_end,
            s.epochs.last().map(|(e, _)| *e).unwrap_or(-1),
        )
    }

    /// In-sync replicas as this broker knows them.
    pub fn isr(&self) -> Vec<u32> {
        self.state.lock().isr.clone()
    }

    /// The end of this log's batches of `epoch`: where the first later epoch begins, or the
    /// durable log end when no later epoch exists. A follower whose log goes past this with
    /// `epoch` as its last epoch diverges there.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> i64 {
        let s = self.state.lock();
        s.epochs
            .iter()
            .find(|(e, _)| *e > epoch)
            .map(|(_, start)| *start)
            .unwrap_or(s.durable_end)
    }

    /// Leader: a follower fetched from `end` (its durable log end). Updates what the leader
    /// knows of it and the high watermark; returns true when the follower is out of the ISR
    /// but has caught up enough to join it (at the high watermark, within this epoch).
    pub fn follower_fetched(&self, follower: u32, end: i64) -> bool {
        let now = Instant::now();
        let me = self.settings.broker_id;
        let mut s = self.state.lock();
        if s.role != Role::Leader {
            return false;
        }
        let leader_end = s.durable_end;
        let since = s.leading_since.unwrap_or(now);
        let f = s.followers.entry(follower).or_insert(FollowerState {
            end: -1,
            last_fetch: now,
            caught_up: since,
            leader_end_then: leader_end,
        });
        if end >= leader_end {
            f.caught_up = now;
        } else if end >= f.leader_end_then {
            f.caught_up = f.last_fetch;
        }
        f.end = end;
        f.last_fetch = now;
        f.leader_end_then = leader_end;
        let moved = s.update_hw(me);
        let epoch_start = s.epochs.last().map(|(_, o)| *o).unwrap_or(0);
        let eligible = !s.isr.contains(&follower)
            && s.replicas.contains(&follower)
            && end >= s.high_watermark
            && end >= epoch_start.min(s.durable_end);
        drop(s);
        if moved {
            self.appended.notify_waiters();
        }
        eligible
    }

    /// Leader: the ISR this partition should have now — followers that have not caught up
    /// within `max_lag` leave, `joining` ones (caught up) join; None when nothing changes.
    pub fn isr_change(&self, joining: &[u32]) -> Option<IsrChange> {
        let now = Instant::now();
        let me = self.settings.broker_id;
        let s = self.state.lock();
        if s.role != Role::Leader {
            return None;
        }
        let since = s.leading_since.unwrap_or(now);
        let lagging = |r: &u32| {
            *r != me
                && match s.followers.get(r) {
                    Some(f) => {
                        now.duration_since(f.caught_up) > self.settings.max_lag
                            || now.duration_since(f.last_fetch) > self.settings.fetch_timeout
                    }
                    None => now.duration_since(since) > self.settings.max_lag,
                }
        };
        let mut isr: Vec<u32> = s.isr.iter().copied().filter(|r| !lagging(r)).collect();
        for j in joining {
            if !isr.contains(j) && s.replicas.contains(j) {
                isr.push(*j);
            }
        }
        if !isr.contains(&me) {
            isr.push(me);
        }
        let mut a = isr.clone();
        let mut b = s.isr.clone();
        a.sort_unstable();
        b.sort_unstable();
        (a != b).then(|| IsrChange {
            isr,
            leader_epoch: s.leader_epoch,
            partition_epoch: s.partition_epoch,
        })
    }

    /// Follower: the leader's high watermark (capped by what is durable here).
    pub fn set_follower_hw(&self, leader_hw: i64) {
        let mut s = self.state.lock();
        if s.role == Role::Leader {
            return;
        }
        let hw = leader_hw.min(s.durable_end);
        if hw > s.high_watermark {
            s.high_watermark = hw;
        }
    }

    /// Follower: drops the divergent tail from `offset` on; returns the WAL locations to
    /// release.
    pub fn truncate_to(&self, offset: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let (released, freed, unuploaded) = s.truncate_from(offset);
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed);
        self.appended.notify_waiters();
        released
    }

    /// Follower behind the leader's uploaded end: everything below `offset` is in object
    /// storage already, so the local log continues at `offset` (uploaded data moves by
    /// metadata only). Returns the WAL locations to release.
    pub fn skip_to(&self, offset: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        if offset <= s.next_offset {
            return Vec::new();
        }
        let from = s.entries.front().map(|e| e.base).unwrap_or(s.next_offset);
        let (released, freed, unuploaded) = s.truncate_from(from);
        // Producer batches in the skipped range are unknown here: what is left would be
        // stale (it would refuse the next sequence as a gap), so start from no state.
        s.producers.clear();
        s.next_offset = offset;
        s.durable_end = offset;
        s.uploaded_end = s.uploaded_end.max(offset);
        s.high_watermark = s.high_watermark.max(offset);
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed);
        released
    }

    /// Leader: whether a batch ending at `last`, appended in `epoch`, has the replicas `need`
    /// asks for. Durable appends, follower fetches and high-watermark moves all notify
    /// [`appended`](Self::appended).
    pub fn ack_state(&self, last: i64, epoch: i32, need: AckNeed) -> AckState {
        let me = self.settings.broker_id;
        let s = self.state.lock();
        if s.role != Role::Leader || s.leader_epoch != epoch {
            return AckState::Lost(format!(
                "leadership moved (epoch {epoch} -> {}) before the batch was replicated",
                s.leader_epoch
            ));
        }
        if s.next_offset <= last {
            return AckState::Lost("the batch was truncated after a failed write".into());
        }
        let done = match need {
            AckNeed::Leader => s.durable_end > last,
            AckNeed::All => s.high_watermark > last,
            AckNeed::Replicas(n) => {
                let have = usize::from(s.durable_end > last)
                    + s.followers
                        .iter()
                        .filter(|(id, f)| **id != me && f.end > last)
                        .count();
                have >= n
            }
        };
        if done {
            AckState::Done
        } else {
            AckState::Waiting
        }
    }

    /// Replication figures.
    pub fn replication_view(&self) -> ReplicationView {
        let me = self.settings.broker_id;
        let s = self.state.lock();
        let leader = s.role == Role::Leader;
        let max_lag = if leader {
            s.replicas
                .iter()
                .filter(|r| **r != me)
                .map(|r| {
                    s.followers
                        .get(r)
                        .map(|f| (s.durable_end - f.end.max(0)).max(0))
                        .unwrap_or(s.durable_end - s.log_start_offset)
                })
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        ReplicationView {
            leader,
            leader_epoch: s.leader_epoch,
            replicas: s.replicas.clone(),
            isr: s.isr.clone(),
            max_lag,
            log_end: s.durable_end,
            high_watermark: s.high_watermark,
        }
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
        if last + 1 > s.durable_end {
            s.durable_end = last + 1;
        }
        s.update_hw(self.settings.broker_id);
        drop(s);
        self.appended.notify_waiters();
    }

    fn on_failed(&self, generation: u64) {
        let mut s = self.state.lock();
        if s.generation != generation {
            return;
        }
        let freed = Self::truncate_to_durable(&mut s, &self.backlog);
        drop(s);
        self.cache.released(freed);
        self.appended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch_idempotent};

    /// A batch of `n` records of producer 9 (epoch 0) starting at sequence `seq`.
    fn batch_at(seq: i32, n: usize) -> Bytes {
        let records: Vec<_> = (0..n)
            .map(|i| OutgoingRecord::value(format!("r{i}")))
            .collect();
        encode_batch_idempotent(&records, Compression::None, 9, 0, seq).unwrap()
    }

    #[test]
    fn idempotent_sequences_cross_the_wrap_as_kafka_does() {
        let mut s = State::default();
        // Sequences i32::MAX - 1, i32::MAX, 0 at offsets 10..=12.
        let first = batch_at(i32::MAX - 1, 3);
        assert!(matches!(s.check_sequence(&first, 3), SequenceCheck::Append));
        s.note_producer(&first, 10, 12);
        // The retried batch is a duplicate, found by its first and last sequence.
        assert!(matches!(
            s.check_sequence(&first, 3),
            SequenceCheck::Duplicate(10, 12)
        ));
        // The next batch starts at sequence 1.
        assert!(matches!(
            s.check_sequence(&batch_at(1, 2), 2),
            SequenceCheck::Append
        ));
        // A gap after the wrap is still a gap.
        assert!(matches!(
            s.check_sequence(&batch_at(2, 2), 2),
            SequenceCheck::Refused(_)
        ));
        // And so is a sequence that wrapped like an i32 (to i32::MIN) instead of to 0.
        assert!(matches!(
            s.check_sequence(&batch_at(i32::MIN + 1, 1), 1),
            SequenceCheck::Refused(_)
        ));
        s.note_producer(&batch_at(1, 2), 13, 14);
        assert!(matches!(
            s.check_sequence(&batch_at(3, 1), 1),
            SequenceCheck::Append
        ));
    }
}
