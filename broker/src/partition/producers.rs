//! Idempotent-producer state of one partition: each producer's epoch and its last few
//! batches, so a retried batch is recognised and a gap in sequences is refused.

use std::collections::{HashMap, VecDeque};

use rustmq_protocol::batch;

/// Idempotent-producer batches remembered per producer (Kafka keeps 5 as well).
const PRODUCER_BATCHES: usize = 5;

/// One batch of an idempotent producer already in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProducerBatch {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record (wrapped as Kafka wraps: after `i32::MAX` comes 0).
    pub last_sequence: i32,
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// One idempotent producer's recent batches on this partition.
#[derive(Debug, Clone, Default)]
pub(super) struct ProducerState {
    /// The producer epoch the batches belong to; a newer epoch starts afresh.
    pub epoch: i16,
    /// Oldest first, at most [`PRODUCER_BATCHES`].
    pub batches: VecDeque<ProducerBatch>,
}

impl ProducerState {
    /// Remembers a batch of epoch `pepoch` starting at sequence `seq` at `[base, last]`; a
    /// newer epoch forgets the older one's batches.
    fn note(&mut self, pepoch: i16, seq: i32, base: i64, last: i64) {
        if pepoch != self.epoch {
            self.epoch = pepoch;
            self.batches.clear();
        }
        self.batches.push_back(ProducerBatch {
            first_sequence: seq,
            last_sequence: batch::sequence_after(seq, (last - base) as i32),
            base_offset: base,
            last_offset: last,
        });
        while self.batches.len() > PRODUCER_BATCHES {
            self.batches.pop_front();
        }
    }
}

/// How a batch relates to its producer's sequence.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SequenceCheck {
    /// Not idempotent, or the next in sequence: append.
    Append,
    /// Already in the log at these offsets.
    Duplicate(i64, i64),
    /// Starts after a gap that batches still in flight may fill: the producer pipelines
    /// (several requests per partition) and a later request overtook an earlier one (QUIC
    /// streams, tasks and retries do not keep request order). Worth waiting for.
    Ahead(String),
    /// A gap no batch in flight can fill, or an older producer epoch.
    Refused(String),
}

/// How far past the expected sequence a batch may start and still be waited for: five
/// batches in flight (Kafka's and this client's limit with idempotence) of up to a million
/// records each. A batch further on, or behind the window, is refused.
const AHEAD_WINDOW: i64 = 5 << 20;

/// Every idempotent producer's state on one partition, by producer id.
#[derive(Debug, Default)]
pub(super) struct Producers(HashMap<i64, ProducerState>);

impl Producers {
    /// Remembers a batch at `[base, last]` (leader, follower and recovery alike).
    pub fn note(&mut self, b: &[u8], base: i64, last: i64) {
        let (pid, pepoch, seq) = batch::producer(b);
        if pid >= 0 {
            self.0.entry(pid).or_default().note(pepoch, seq, base, last);
        }
    }

    /// [`check_against`] this partition's state, for a batch checked alone.
    #[cfg(test)]
    pub fn check(&self, b: &[u8], offsets: i64, sequences: i64) -> SequenceCheck {
        let (pid, ..) = batch::producer(b);
        check_against(self.0.get(&pid), b, offsets, sequences)
    }

    /// Checks the batches of one request in order, each against the state the batches
    /// before it would leave once appended from `next_offset` on: a request may carry
    /// several consecutive batches of one producer, and the second follows the first, not
    /// the log.
    pub fn run_from(&self, next_offset: i64) -> RunCheck<'_> {
        RunCheck {
            producers: self,
            pending: HashMap::new(),
            next_offset,
        }
    }

    /// Forgets batches at or after `end` (the log was truncated there).
    pub fn truncate(&mut self, end: i64) {
        for p in self.0.values_mut() {
            p.batches.retain(|b| b.last_offset < end);
        }
        self.0.retain(|_, p| !p.batches.is_empty());
    }

    /// Forgets every producer (the log skipped a range whose batches are unknown here).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Whether a batch occupying `offsets` offsets and standing for `sequences` of its
/// producer's sequence numbers (fewer than `offsets` only when ETL rewrote it into more
/// records) may be appended, is a retry of one in the log, or is out of sequence.
/// Checked against one producer's state (`None`: none kept here).
fn check_against(
    state: Option<&ProducerState>,
    b: &[u8],
    offsets: i64,
    sequences: i64,
) -> SequenceCheck {
    let (pid, pepoch, seq) = batch::producer(b);
    if pid < 0 {
        return SequenceCheck::Append;
    }
    if seq < 0 {
        // Sequences wrap from i32::MAX to 0, never below it.
        return SequenceCheck::Refused(format!("producer {pid}: sequence {seq} is negative"));
    }
    let Some(p) = state else {
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
    let last_seq = batch::sequence_after(seq, offsets as i32 - 1);
    // The producer's first sequence: a rewritten batch's header starts earlier.
    let first_seq = batch::sequence_after(last_seq, 1 - sequences as i32);
    // Matched by the last sequence alone: sequences are contiguous, so a batch ending
    // where a logged batch ends is in the log whole. A batch ETL rewrote is stored with
    // the producer's last sequence but may start elsewhere (`rustmq_protocol::rewrite`).
    if let Some(b) = p.batches.iter().find(|b| b.last_sequence == last_seq) {
        return SequenceCheck::Duplicate(b.base_offset, b.last_offset);
    }
    let Some(b) = p.batches.back() else {
        return SequenceCheck::Append;
    };
    let expected = batch::sequence_after(b.last_sequence, 1);
    if expected == first_seq {
        return SequenceCheck::Append;
    }
    // Distance forward from the expected sequence, modulo 2^31 (sequences wrap).
    let ahead = i64::from(batch::sequence_after(first_seq, -expected));
    let why = format!(
        "producer {pid}: sequence {first_seq} does not follow {}",
        b.last_sequence
    );
    if ahead < AHEAD_WINDOW {
        SequenceCheck::Ahead(why)
    } else {
        SequenceCheck::Refused(why)
    }
}

/// Sequence checks of one request's batches in order (see [`Producers::run_from`]). The
/// batches found fit for appending are remembered here only: the log remembers them when
/// they are queued, after the whole request passed.
pub(super) struct RunCheck<'a> {
    producers: &'a Producers,
    /// Copies of the states of producers with a batch earlier in this request, those
    /// batches included.
    pending: HashMap<i64, ProducerState>,
    next_offset: i64,
}

impl RunCheck<'_> {
    /// The check of the request's next batch (arguments as [`check_against`]).
    pub fn check(&mut self, b: &[u8], offsets: i64, sequences: i64) -> SequenceCheck {
        let (pid, pepoch, seq) = batch::producer(b);
        let state = self
            .pending
            .get(&pid)
            .or_else(|| self.producers.0.get(&pid));
        let verdict = check_against(state, b, offsets, sequences);
        if verdict == SequenceCheck::Append {
            let base = self.next_offset;
            self.next_offset += offsets;
            if pid >= 0 {
                let known = self.producers.0.get(&pid);
                let p = self
                    .pending
                    .entry(pid)
                    .or_insert_with(|| known.cloned().unwrap_or_default());
                p.note(pepoch, seq, base, self.next_offset - 1);
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch_idempotent};

    /// A batch of `n` records of producer 9 (epoch `epoch`) starting at sequence `seq`.
    fn batch_of(epoch: i16, seq: i32, n: usize) -> Bytes {
        let records: Vec<_> = (0..n)
            .map(|i| OutgoingRecord::value(format!("r{i}")))
            .collect();
        encode_batch_idempotent(&records, Compression::None, 9, epoch, seq).unwrap()
    }

    fn batch_at(seq: i32, n: usize) -> Bytes {
        batch_of(0, seq, n)
    }

    #[test]
    fn a_request_s_batches_are_checked_after_the_ones_before_them() {
        let mut s = Producers::default();
        s.note(&batch_at(0, 2), 0, 1);
        // 2..=4 then 5..=5 in one request: the second follows the first, not the log.
        let mut run = s.run_from(2);
        assert_eq!(run.check(&batch_at(2, 3), 3, 3), SequenceCheck::Append);
        assert_eq!(run.check(&batch_at(5, 1), 1, 1), SequenceCheck::Append);
        // The same batch twice in one request is appended once.
        assert!(matches!(
            run.check(&batch_at(5, 1), 1, 1),
            SequenceCheck::Duplicate(5, 5)
        ));
        assert!(matches!(
            run.check(&batch_at(9, 1), 1, 1),
            SequenceCheck::Ahead(_)
        ));
        // Nothing was remembered by the run itself: checked alone, 5 is still ahead.
        assert!(matches!(
            s.check(&batch_at(5, 1), 1, 1),
            SequenceCheck::Ahead(_)
        ));
        // A producer new to the partition starts where its first batch in the request does.
        let mut run = s.run_from(2);
        let other = |seq, n| {
            let records: Vec<_> = (0..n)
                .map(|i| OutgoingRecord::value(format!("o{i}")))
                .collect();
            encode_batch_idempotent(&records, Compression::None, 11, 0, seq).unwrap()
        };
        assert_eq!(run.check(&other(40, 2), 2, 2), SequenceCheck::Append);
        assert_eq!(run.check(&other(42, 2), 2, 2), SequenceCheck::Append);
        assert!(matches!(
            run.check(&other(40, 2), 2, 2),
            SequenceCheck::Duplicate(2, 3)
        ));
    }

    #[test]
    fn idempotent_sequences_cross_the_wrap_as_kafka_does() {
        let mut s = Producers::default();
        // Sequences i32::MAX - 1, i32::MAX, 0 at offsets 10..=12.
        let first = batch_at(i32::MAX - 1, 3);
        assert_eq!(s.check(&first, 3, 3), SequenceCheck::Append);
        s.note(&first, 10, 12);
        // The retried batch is a duplicate, found by its first and last sequence.
        assert_eq!(s.check(&first, 3, 3), SequenceCheck::Duplicate(10, 12));
        // The next batch starts at sequence 1.
        assert_eq!(s.check(&batch_at(1, 2), 2, 2), SequenceCheck::Append);
        // A gap after the wrap is still a gap (one a batch in flight may fill).
        assert!(matches!(
            s.check(&batch_at(2, 2), 2, 2),
            SequenceCheck::Ahead(_)
        ));
        // And so is a sequence that wrapped like an i32 (to i32::MIN) instead of to 0.
        assert!(matches!(
            s.check(&batch_at(i32::MIN + 1, 1), 1, 1),
            SequenceCheck::Refused(_)
        ));
        s.note(&batch_at(1, 2), 13, 14);
        assert_eq!(s.check(&batch_at(3, 1), 1, 1), SequenceCheck::Append);
    }

    #[test]
    fn batches_etl_rewrote_keep_their_producers_sequences() {
        use rustmq_protocol::rewrite::{RewrittenRecord, rewrite_batch};
        let one = [RewrittenRecord::default()];
        let four = vec![RewrittenRecord::default(); 4];
        let mut s = Producers::default();
        // Sequences 0..=2 became one record (three offsets, 10..=12); 3..=4 became four
        // records (offsets 13..=16); 5 became none (a marker at offset 17).
        for (input, records, base) in [
            (batch_at(0, 3), &one[..], 10),
            (batch_at(3, 2), &four[..], 13),
            (batch_at(5, 1), &[][..], 17),
        ] {
            let sent = i64::from(batch::record_count(&input));
            let stored = rewrite_batch(&input, records).unwrap().unwrap();
            let offsets = batch::last_offset(&stored) - batch::base_offset(&stored) + 1;
            // The stored batch is checked (under the partition lock) as standing for the
            // producer's `sent` sequences.
            assert_eq!(s.check(&stored, offsets, sent), SequenceCheck::Append);
            let last = base + offsets - 1;
            s.note(&stored, base, last);
            // A retry of the producer's batch, and of the rewrite, are duplicates.
            assert_eq!(
                s.check(&input, sent, sent),
                SequenceCheck::Duplicate(base, last)
            );
            assert_eq!(
                s.check(&stored, offsets, sent),
                SequenceCheck::Duplicate(base, last)
            );
        }
        // And the producer's next batch follows on.
        assert_eq!(s.check(&batch_at(6, 1), 1, 1), SequenceCheck::Append);
        assert!(matches!(
            s.check(&batch_at(7, 1), 1, 1),
            SequenceCheck::Ahead(_)
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_recognised_as_retries() {
        let mut s = Producers::default();
        for i in 0..6 {
            s.note(&batch_at(i, 1), i64::from(i), i64::from(i));
        }
        // The first batch fell out of the window: a retry of it is now out of sequence.
        assert!(matches!(
            s.check(&batch_at(0, 1), 1, 1),
            SequenceCheck::Refused(_)
        ));
        assert_eq!(
            s.check(&batch_at(1, 1), 1, 1),
            SequenceCheck::Duplicate(1, 1)
        );
    }

    #[test]
    fn a_batch_that_overtook_its_predecessor_is_ahead_and_one_far_off_is_refused() {
        let mut s = Producers::default();
        s.note(&batch_at(0, 10), 0, 9);
        // Sequence 10 is next; 20 may follow a batch of ten still in flight.
        assert!(matches!(
            s.check(&batch_at(20, 5), 5, 5),
            SequenceCheck::Ahead(_)
        ));
        // No five batches in flight reach this far.
        assert!(matches!(
            s.check(&batch_at(10 + (6 << 20), 1), 1, 1),
            SequenceCheck::Refused(_)
        ));
        // Behind the expected sequence but not a remembered batch: never filled by waiting.
        assert!(matches!(
            s.check(&batch_at(5, 2), 2, 2),
            SequenceCheck::Refused(_)
        ));
        // Across the wrap: expected i32::MAX, a batch at 3 is four past it.
        let mut w = Producers::default();
        w.note(&batch_at(i32::MAX - 1, 1), 0, 0);
        assert!(matches!(
            w.check(&batch_at(3, 1), 1, 1),
            SequenceCheck::Ahead(_)
        ));
    }

    #[test]
    fn an_older_epoch_is_refused_and_a_newer_one_starts_afresh() {
        let mut s = Producers::default();
        s.note(&batch_of(3, 0, 2), 0, 1);
        assert!(matches!(
            s.check(&batch_of(2, 2, 1), 1, 1),
            SequenceCheck::Refused(_)
        ));
        // A new epoch may start at any sequence.
        assert_eq!(s.check(&batch_of(4, 0, 1), 1, 1), SequenceCheck::Append);
        s.note(&batch_of(4, 0, 1), 2, 2);
        // The old epoch's batches are forgotten.
        assert!(matches!(
            s.check(&batch_of(3, 0, 2), 2, 2),
            SequenceCheck::Refused(_)
        ));
    }

    #[test]
    fn truncation_forgets_batches_from_the_cut_on() {
        let mut s = Producers::default();
        s.note(&batch_at(0, 2), 0, 1);
        s.note(&batch_at(2, 2), 2, 3);
        s.truncate(2);
        // The batch at 2..=3 is gone, so it is appended again rather than answered as a
        // duplicate at offsets that no longer exist.
        assert_eq!(s.check(&batch_at(2, 2), 2, 2), SequenceCheck::Append);
        s.truncate(0);
        assert!(s.0.is_empty());
    }
}
