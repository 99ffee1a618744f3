//! One partition's log: offset assignment, the index of its local batches, its role (leader
//! or follower), the high watermark, leader epochs, idempotent-producer state, how far it is
//! uploaded, and its start offset.
//!
//! Owns: which offsets exist and which are visible. Offsets are assigned under the partition
//! lock in the same critical section that queues the batch on the WAL, so WAL order equals
//! offset order; leader appends and replicated appends go through the same queue step.
//! `durable_end` is the end of what the local WAL has fsynced; the high watermark is the end
//! of what every in-sync replica has (on a leader: the minimum of its own durable end and the
//! ISR followers' fetch offsets; on a follower: what the leader said, capped by its own
//! durable end). Consumers see only offsets below the high watermark. Offsets in
//! `[log_start, local_start)` live only in object storage; the index holds
//! `[local_start, next_offset)`, and an uploaded batch leaves it once the write cache drops
//! it. Never: touches files (the WAL does) or object storage (`tier` does).
//!
//! Files: `log` (the index and offsets: pure state, unit-tested), `producers` (idempotent
//! producer sequences), `cache` (the write cache's byte budget), `backlog` (what waits for
//! upload), `retention`, `read` (read plans), `replica` (role, ISR, follower progress and
//! acknowledgement state). A leader hands followers batches before its own fsync (so the
//! two fsyncs overlap); a failed write of such batches fences the partition (`tests`).

mod backlog;
mod cache;
mod log;
mod producers;
mod read;
mod replica;
mod retention;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rustmq_protocol::batch::{self, BatchInfo};
use tokio::sync::{Notify, oneshot};

use crate::wal::{Append, AppendTarget, Wal, WalError, WalLocation};

pub use backlog::{UploadBacklog, UploadItem};
pub use cache::WriteCache;
pub use read::{BatchSource, ReadPlan};
pub use replica::{
    AckNeed, AckState, IsrChange, ReplicaSettings, ReplicationView, Role, RoleChange,
};
pub use retention::{RetentionItem, retention_start};

use log::{IndexEntry, State};
use producers::SequenceCheck;

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
    /// An idempotent producer's batch starts past the next sequence, where batches still in
    /// flight may fill the gap: wait on [`PartitionLog::sequence_turn`] and try again.
    #[error("{0}")]
    SequenceAhead(String),
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

/// One append's batches on their way to the WAL: the last one queued carries the reply
/// (WAL order is offset order, so it is durable last), and the bases go to the write cache.
struct QueueRun<'a> {
    wal: &'a Wal,
    target: Arc<dyn AppendTarget>,
    reply: Option<oneshot::Sender<Result<(), WalError>>>,
    /// Batches still to queue.
    left: usize,
    bases: Vec<i64>,
}

impl<'a> QueueRun<'a> {
    fn new(
        wal: &'a Wal,
        target: Arc<dyn AppendTarget>,
        reply: oneshot::Sender<Result<(), WalError>>,
        batches: usize,
    ) -> Self {
        Self {
            wal,
            target,
            reply: Some(reply),
            left: batches,
            bases: Vec::with_capacity(batches),
        }
    }
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
    /// Woken after every leader append, for batches that arrived before their predecessor.
    sequence_turn: Notify,
    /// Woken after every leader append, for replica fetches: followers are handed batches
    /// as soon as they are queued, not once durable (which `appended` tells).
    log_end_moved: Notify,
    cache: Arc<WriteCache>,
    backlog: Arc<UploadBacklog>,
    /// Bytes producers appended here while it led (for the broker's load report).
    produced: std::sync::atomic::AtomicU64,
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
            sequence_turn: Notify::new(),
            log_end_moved: Notify::new(),
            cache,
            backlog,
            produced: Default::default(),
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
        s.producers.note(b, base, last);
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
    ///
    /// `batches` are the validated batches (`infos`, in order), each in a buffer of its own
    /// ([`batch::stampable`]): the appended ones are stamped in place and taken (left
    /// empty); nothing is taken when the append is refused.
    pub fn append(
        self: &Arc<Self>,
        wal: &Wal,
        batches: &mut [BytesMut],
        infos: &[BatchInfo],
    ) -> Result<Appended, PartitionError> {
        let (tx, rx) = oneshot::channel();
        let mut s = self.state.lock();
        if !s.leads() {
            return Err(PartitionError::NotLeader {
                epoch: s.leader_epoch,
            });
        }
        let epoch = s.leader_epoch;
        debug_assert_eq!(batches.len(), infos.len(), "one buffer per batch");
        // Sequence checks first, so a refused request appends nothing.
        let mut fresh = Vec::with_capacity(infos.len());
        let mut first_dup: Option<(i64, i64)> = None;
        let mut checks = s.producers.run_from(s.next_offset);
        for (n, (info, b)) in infos.iter().zip(batches.iter()).enumerate() {
            match checks.check(
                b,
                i64::from(info.offset_count),
                i64::from(info.sequence_count),
            ) {
                SequenceCheck::Append => fresh.push((n, *info)),
                SequenceCheck::Duplicate(base, last) => {
                    first_dup = Some(first_dup.map_or((base, last), |(b0, _)| (b0, last)));
                }
                SequenceCheck::Refused(why) => {
                    return Err(PartitionError::OutOfOrderSequence(why));
                }
                SequenceCheck::Ahead(why) => return Err(PartitionError::SequenceAhead(why)),
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
        let mut run = QueueRun::new(wal, self.clone(), tx, fresh.len());
        let mut last = s.next_offset - 1;
        for (n, info) in &fresh {
            let base = s.next_offset;
            last = base + i64::from(info.offset_count) - 1;
            let mut b = std::mem::take(&mut batches[*n]);
            batch::stamp(&mut b, base, epoch);
            self.queue(
                &mut s,
                &mut run,
                b.freeze(),
                (base, last, epoch),
                info.max_timestamp,
            )?;
        }
        drop(s);
        self.sequence_turn.notify_waiters();
        self.log_end_moved.notify_waiters();
        self.cache.track(self, &run.bases);
        Ok(Appended {
            base: first_base,
            last,
            epoch,
            durable: Some(rx),
        })
    }

    /// [`Self::append`], waiting up to `wait` for a batch that arrived before its
    /// predecessor (a pipelining producer's requests may overtake each other) to become next
    /// in sequence; after that it is out of order. Rechecked on every append and every
    /// 50 ms (so a lost leadership ends the wait).
    pub async fn append_in_sequence(
        self: &Arc<Self>,
        wal: &Wal,
        batches: &mut [BytesMut],
        infos: &[BatchInfo],
        wait: std::time::Duration,
    ) -> Result<Appended, PartitionError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let turn = self.sequence_turn.notified();
            tokio::pin!(turn);
            // Registered before the check, so an append in between is not missed.
            turn.as_mut().enable();
            match self.append(wal, batches, infos) {
                Err(PartitionError::SequenceAhead(why)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(PartitionError::OutOfOrderSequence(format!(
                            "{why} (the missing batches did not arrive within {wait:?})"
                        )));
                    }
                    let recheck = (tokio::time::Instant::now()
                        + std::time::Duration::from_millis(50))
                    .min(deadline);
                    tokio::select! {
                        _ = turn => {}
                        _ = tokio::time::sleep_until(recheck) => {}
                    }
                }
                other => return other,
            }
        }
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
        let mut s = self.state.lock();
        let mut run = QueueRun::new(wal, self.clone(), tx, infos.len());
        for info in &infos {
            let b = buf.slice(info.start..info.start + info.len);
            let base = batch::base_offset(&b);
            let last = batch::last_offset(&b);
            if base != s.next_offset {
                if run.bases.is_empty() {
                    return Err(PartitionError::ReplicaGap {
                        got: base,
                        expected: s.next_offset,
                    });
                }
                break;
            }
            let epoch = batch::leader_epoch(&b);
            self.queue(&mut s, &mut run, b, (base, last, epoch), info.max_timestamp)?;
        }
        // A gap after the first batch: the rest is fetched again from the new end.
        if let Some(tx) = run.reply.take() {
            drop(tx);
            return Err(PartitionError::ReplicaGap {
                got: -1,
                expected: s.next_offset,
            });
        }
        drop(s);
        self.cache.track(self, &run.bases);
        Ok(Some(rx))
    }

    /// Adds one stamped batch to the index and the write cache and queues it on the WAL (in
    /// the caller's critical section, so WAL order is offset order). On a WAL refusal the
    /// queued tail is dropped.
    fn queue(
        &self,
        s: &mut State,
        run: &mut QueueRun<'_>,
        b: Bytes,
        (base, last, epoch): (i64, i64, i32),
        max_timestamp: i64,
    ) -> Result<(), PartitionError> {
        run.left = run.left.saturating_sub(1);
        let reply = if run.left == 0 {
            run.reply.take()
        } else {
            None
        };
        let len = b.len();
        s.note_epoch(epoch, base);
        s.producers.note(&b, base, last);
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
        let submitted = run.wal.submit(Append {
            topic_id: self.topic_id,
            partition: self.partition,
            base_offset: base,
            last_offset: last,
            leader_epoch: epoch,
            batch: b,
            generation: s.generation,
            target: run.target.clone(),
            reply,
            span: tracing::Span::current(),
        });
        if let Err(e) = submitted {
            let (freed, _) = Self::drop_unwritten(s, &self.backlog);
            self.cache.released(freed);
            return Err(e.into());
        }
        run.bases.push(base);
        Ok(())
    }

    /// Drops the batches not yet durable (their write failed, or the WAL refused them).
    /// Returns the cache bytes freed and whether followers had been handed any of them in
    /// this epoch, in which case the partition is fenced: it stops leading rather than
    /// write other batches at those offsets.
    fn drop_unwritten(s: &mut State, backlog: &UploadBacklog) -> (u64, bool) {
        let end = s.durable_end;
        let exposed = s.role == Role::Leader && s.replica_served_end > end;
        if exposed {
            s.fenced = true;
        }
        let (_, freed, unuploaded) = s.truncate_from(end);
        backlog.sub(unuploaded);
        (freed, exposed)
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
}

impl PartitionLog {
    /// `(log_start_offset, high_watermark)`.
    pub fn bounds(&self) -> (i64, i64) {
        let s = self.state.lock();
        (s.log_start_offset, s.high_watermark)
    }

    /// Bytes held by the partition.
    pub fn size_bytes(&self) -> u64 {
        self.state.lock().bytes
    }

    /// Counts `bytes` produced to this partition (as leader).
    pub fn count_produced(&self, bytes: u64) {
        self.produced
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes produced to this partition while this broker led it, since start.
    pub fn produced_bytes(&self) -> u64 {
        self.produced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Completes when the high watermark may have moved (register before checking).
    pub fn appended(&self) -> &Notify {
        &self.appended
    }

    /// Completes when a leader append moved the log end (register before checking): what a
    /// replica fetch waits for.
    pub fn log_end_moved(&self) -> &Notify {
        &self.log_end_moved
    }

    /// The first offset of the local index (offsets below it are in object storage).
    pub fn local_start(&self) -> i64 {
        self.state.lock().local_start()
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
        if last + 1 > s.durable_end {
            s.durable_end = last + 1;
        }
        s.update_hw(self.settings.broker_id);
        drop(s);
        self.appended.notify_waiters();
    }

    fn on_failed(&self, generation: u64) -> bool {
        let mut s = self.state.lock();
        if s.generation != generation {
            return false;
        }
        let (freed, exposed) = Self::drop_unwritten(&mut s, &self.backlog);
        if exposed {
            tracing::error!(
                topic = %self.topic,
                partition = self.partition,
                durable_end = s.durable_end,
                served_to_followers = s.replica_served_end,
                "a failed write lost batches followers already had: this broker stops leading the partition"
            );
        }
        drop(s);
        self.cache.released(freed);
        self.appended.notify_waiters();
        exposed
    }
}
