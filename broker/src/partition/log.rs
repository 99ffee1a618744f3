//! The log state of one partition: the index of local batches, offsets, the high
//! watermark, leader epochs and truncation. Pure data: no locks, no I/O; the partition holds
//! it under its mutex.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::producers::Producers;
use super::replica::{FollowerState, Role};
use crate::wal::WalLocation;

/// One batch in the index.
#[derive(Debug, Clone)]
pub(super) struct IndexEntry {
    pub(super) base: i64,
    pub(super) last: i64,
    pub(super) max_timestamp: i64,
    pub(super) size: u32,
    pub(super) location: Option<WalLocation>,
    pub(super) cached: Option<Bytes>,
    /// In object storage and registered in the catalog.
    pub(super) uploaded: bool,
    pub(super) appended_at: Instant,
}

/// Everything a partition knows of its log and its replicas, guarded by its mutex.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) generation: u64,
    pub(super) next_offset: i64,
    /// End of the fsynced local log.
    pub(super) durable_end: i64,
    pub(super) high_watermark: i64,
    pub(super) role: Role,
    pub(super) leader_epoch: i32,
    pub(super) partition_epoch: i32,
    pub(super) replicas: Vec<u32>,
    pub(super) isr: Vec<u32>,
    /// When this broker last became leader.
    pub(super) leading_since: Option<Instant>,
    pub(super) followers: HashMap<u32, FollowerState>,
    /// `(leader epoch, first offset)` in offset order: where each epoch's batches begin.
    pub(super) epochs: Vec<(i32, i64)>,
    pub(super) producers: Producers,
    pub(super) log_start_offset: i64,
    /// Offsets below this are in object storage.
    pub(super) uploaded_end: i64,
    pub(super) entries: VecDeque<IndexEntry>,
    /// Bytes of local entries.
    pub(super) bytes: u64,
    /// Bytes of durable entries not uploaded yet.
    pub(super) unuploaded: u64,
    /// Leader: the end of what replica fetches were handed in this leadership, which may
    /// pass `durable_end` (followers fsync alongside the leader, not after it).
    pub(super) replica_served_end: i64,
    /// Leader: a write of batches followers already had failed. Truncating them and writing
    /// other batches at those offsets in the same epoch would let a follower keep the old
    /// ones and count as having the new ones, so the partition stops leading until a new
    /// epoch (the WAL stops and the broker restarts: see `AppendTarget::on_failed`).
    pub(super) fenced: bool,
}

impl State {
    /// Leads the partition and may append: the leader role, not fenced.
    pub(super) fn leads(&self) -> bool {
        self.role == Role::Leader && !self.fenced
    }

    pub(super) fn position(&self, base: i64) -> Option<usize> {
        self.entries.binary_search_by_key(&base, |e| e.base).ok()
    }

    pub(super) fn local_start(&self) -> i64 {
        self.entries
            .front()
            .map(|e| e.base)
            .unwrap_or(self.next_offset)
    }

    /// Records where an epoch's batches begin (batches arrive in offset order).
    pub(super) fn note_epoch(&mut self, epoch: i32, base: i64) {
        if self.epochs.last().is_none_or(|(e, _)| epoch > *e) {
            self.epochs.push((epoch, base));
        }
    }

    /// Leader: the high watermark is the smallest durable end among the in-sync replicas;
    /// a follower that has not fetched since this leadership began holds it where it is.
    pub(super) fn update_hw(&mut self, me: u32) -> bool {
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
    pub(super) fn truncate_from(&mut self, offset: i64) -> (Vec<WalLocation>, u64, u64) {
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
        self.producers.truncate(end);
        self.unuploaded -= unuploaded;
        self.generation += 1;
        (released, freed_cache, unuploaded)
    }

    /// A follower behind the leader's uploaded end continues its log at `offset`: every
    /// local batch goes (what it held is in object storage), and so does what the log knew
    /// of producers and epochs. The epochs matter: the skipped batches' epochs are unknown
    /// here, and an older last epoch sent with a fetch from `offset` would make the leader
    /// see a divergence below `offset`, truncate the follower there, and the follower skip
    /// again, forever. Returns what [`State::truncate_from`] returns; `None` when `offset`
    /// is not ahead of the log.
    pub(super) fn skip_to(&mut self, offset: i64) -> Option<(Vec<WalLocation>, u64, u64)> {
        if offset <= self.next_offset {
            return None;
        }
        let from = self
            .entries
            .front()
            .map(|e| e.base)
            .unwrap_or(self.next_offset);
        let dropped = self.truncate_from(from);
        // Producer batches in the skipped range are unknown here: what is left would be
        // stale (it would refuse the next sequence as a gap), so start from no state.
        self.producers.clear();
        self.epochs.clear();
        self.next_offset = offset;
        self.durable_end = offset;
        self.uploaded_end = self.uploaded_end.max(offset);
        self.high_watermark = self.high_watermark.max(offset);
        Some(dropped)
    }

    /// Uploaded batches the write cache no longer holds leave the index (from the front, so
    /// the index stays contiguous).
    pub(super) fn pop_uploaded(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of batches of `sizes` (one record per 10 bytes) from offset 0, all durable.
    fn log_of(sizes: &[u32]) -> State {
        let mut s = State::default();
        for (i, size) in sizes.iter().enumerate() {
            let base = s.next_offset;
            let last = base + i64::from(size / 10) - 1;
            s.note_epoch(i as i32 / 2, base);
            s.entries.push_back(IndexEntry {
                base,
                last,
                max_timestamp: 0,
                size: *size,
                location: Some(WalLocation {
                    segment: 1,
                    offset: base as u64 * 10,
                    len: *size,
                }),
                cached: None,
                uploaded: false,
                appended_at: Instant::now(),
            });
            s.bytes += u64::from(*size);
            s.unuploaded += u64::from(*size);
            s.next_offset = last + 1;
        }
        s.durable_end = s.next_offset;
        s.isr = vec![1];
        s
    }

    #[test]
    fn skipping_to_the_uploaded_end_forgets_local_batches_and_their_epochs() {
        let mut s = log_of(&[20, 30, 10]);
        assert_eq!(s.epochs, vec![(0, 0), (1, 5)]);
        assert!(s.skip_to(4).is_none(), "not ahead of the log");
        let (released, _, unuploaded) = s.skip_to(100).expect("ahead of the log");
        assert_eq!((released.len(), unuploaded), (3, 60));
        assert_eq!(
            (s.next_offset, s.durable_end, s.uploaded_end),
            (100, 100, 100)
        );
        assert!(s.entries.is_empty());
        // The next fetch says "no local epoch" (-1): the leader has nothing to compare, so
        // it cannot send the follower back below what object storage holds.
        assert!(s.epochs.is_empty());
        s.note_epoch(4, 100);
        assert_eq!(s.epochs, vec![(4, 100)]);
    }

    #[test]
    fn truncation_drops_whole_batches_and_pulls_every_end_back() {
        let mut s = log_of(&[20, 30, 10]);
        s.high_watermark = 6;
        assert_eq!(s.epochs, vec![(0, 0), (1, 5)]);
        let (released, freed_cache, unuploaded) = s.truncate_from(3);
        // The batch holding offset 3 (offsets 2..=4) goes with everything after it.
        assert_eq!(released.len(), 2);
        assert_eq!(freed_cache, 0);
        assert_eq!(unuploaded, 40);
        assert_eq!((s.next_offset, s.durable_end, s.high_watermark), (2, 2, 2));
        assert_eq!(s.bytes, 20);
        // Epoch 1 began at offset 5, now gone.
        assert_eq!(s.epochs, vec![(0, 0)]);
        assert_eq!(s.generation, 1);
    }

    #[test]
    fn truncation_never_goes_below_what_object_storage_holds() {
        let mut s = log_of(&[20]);
        s.entries.clear();
        s.uploaded_end = 2;
        s.truncate_from(5);
        assert_eq!(s.next_offset, 2);
        let mut s = log_of(&[20, 20]);
        s.uploaded_end = 4;
        s.truncate_from(3);
        // Offset 2 exists in the bucket: the local log continues after it, not at the end of
        // the last local batch.
        assert_eq!((s.next_offset, s.entries.len()), (3, 1));
    }

    #[test]
    fn the_leader_high_watermark_is_the_slowest_in_sync_durable_end() {
        let mut s = log_of(&[50]);
        s.isr = vec![1, 2, 3];
        // Follower 2 has not fetched in this leadership: the high watermark stays.
        assert!(!s.update_hw(1));
        let now = Instant::now();
        let at = |end| FollowerState {
            end,
            last_fetch: now,
            caught_up: now,
            leader_end_then: 0,
        };
        s.followers.insert(2, at(3));
        s.followers.insert(3, at(4));
        assert!(s.update_hw(1));
        assert_eq!(s.high_watermark, 3);
        // A follower out of the ISR does not hold it back.
        s.isr = vec![1, 3];
        assert!(s.update_hw(1));
        assert_eq!(s.high_watermark, 4);
        // Followers never move it past the leader's own durable end.
        s.followers.insert(3, at(9));
        s.update_hw(1);
        assert_eq!(s.high_watermark, 5);
        // And it never moves backwards.
        s.followers.insert(3, at(1));
        assert!(!s.update_hw(1));
        assert_eq!(s.high_watermark, 5);
        // A follower's log has no high watermark of its own to compute.
        s.role = Role::Follower { leader: 2 };
        assert!(!s.update_hw(1));
    }

    #[test]
    fn uploaded_batches_leave_the_index_from_the_front_once_uncached() {
        let mut s = log_of(&[10, 10, 10]);
        s.entries[0].uploaded = true;
        s.entries[1].uploaded = true;
        s.entries[1].cached = Some(Bytes::from_static(&[0; 10]));
        s.entries[2].uploaded = true;
        s.pop_uploaded();
        // The second is still cached, so it and everything behind it stay.
        assert_eq!(s.local_start(), 1);
        assert_eq!(s.bytes, 20);
        s.entries[0].cached = None;
        s.pop_uploaded();
        assert_eq!(s.local_start(), 3);
        assert_eq!(s.position(3), None);
    }

    #[test]
    fn positions_are_found_by_base_offset_only() {
        let s = log_of(&[20, 20]);
        assert_eq!(s.position(0), Some(0));
        assert_eq!(s.position(2), Some(1));
        assert_eq!(s.position(1), None);
        assert_eq!(s.local_start(), 0);
        assert_eq!(State::default().local_start(), 0);
    }
}
