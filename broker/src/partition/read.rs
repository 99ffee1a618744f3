//! Read plans: which batches a fetch returns and where each one's bytes are.

use bytes::Bytes;

use super::{PartitionError, PartitionLog};
use crate::wal::WalLocation;

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
    /// The plan runs to the end of what may be read (the high watermark, or the durable end
    /// for a follower): the reader is at the tail, not catching up.
    pub reaches_end: bool,
}

impl PartitionLog {
    /// Plans a read of up to `max_bytes` starting at `offset` (at least one whole batch if any
    /// is available). Only offsets below the high watermark are returned.
    pub fn plan_read(&self, offset: i64, max_bytes: u64) -> Result<ReadPlan, PartitionError> {
        self.plan_read_upto(offset, max_bytes, false)
    }

    /// Like [`plan_read`](Self::plan_read), up to the log end with `log_end` (what a
    /// follower replicates) instead of the high watermark. The log end includes batches the
    /// WAL has not fsynced yet: a follower writes them while the leader does, so an
    /// `acks=all` batch waits for the slower of the two fsyncs rather than for both in turn.
    /// They count for the high watermark only once the leader's own fsync is done, and what
    /// was handed out is remembered so that a failed write of it fences the partition.
    pub fn plan_read_upto(
        &self,
        offset: i64,
        max_bytes: u64,
        log_end: bool,
    ) -> Result<ReadPlan, PartitionError> {
        let mut s = self.state.lock();
        let end = if log_end {
            s.next_offset
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
            reaches_end: false,
        };
        if offset < s.local_start() {
            plan.batches.push(BatchSource::Tiered { offset, max_bytes });
            plan.bytes = max_bytes;
            return Ok(plan);
        }
        let start = s.entries.partition_point(|e| e.last < offset);
        plan.reaches_end = true;
        let mut planned_end = offset;
        for e in s.entries.range(start..) {
            if e.base >= end {
                break;
            }
            if !plan.batches.is_empty() && plan.bytes + u64::from(e.size) > max_bytes {
                plan.reaches_end = false;
                break;
            }
            plan.batches.push(match (&e.cached, e.location) {
                (Some(b), _) => BatchSource::Memory(b.clone()),
                (None, Some(l)) => BatchSource::Wal(l),
                // Below the high watermark every batch has a location, and one not yet
                // written is still cached (the cache keeps it until then); keep the read
                // consistent by stopping here rather than skipping.
                (None, None) => {
                    plan.reaches_end = false;
                    break;
                }
            });
            plan.bytes += u64::from(e.size);
            planned_end = e.last + 1;
        }
        if log_end && planned_end > s.replica_served_end {
            s.replica_served_end = planned_end;
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
}
