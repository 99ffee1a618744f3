//! Zero-copy checks and stamps on Kafka RecordBatch v2 bytes.
//!
//! This is the broker's hot path: it reads the 61-byte batch header, verifies the CRC32C
//! over everything from `attributes` to the end, and patches the base offset and the
//! partition leader epoch in place. Both stamps sit before the CRC'd range, so a stamped
//! batch keeps its producer's CRC and its bytes are never re-encoded.
//!
//! Header layout (big endian):
//! `base_offset i64 @0 | batch_length i32 @8 | partition_leader_epoch i32 @12 | magic i8 @16 |
//! crc u32 @17 | attributes i16 @21 | last_offset_delta i32 @23 | base_timestamp i64 @27 |
//! max_timestamp i64 @35 | producer_id i64 @43 | producer_epoch i16 @51 |
//! base_sequence i32 @53 | records_count i32 @57 | records @61`

use bytes::{Buf, Bytes, BytesMut};

/// Bytes in a RecordBatch v2 header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batch_length` counts (base offset + the length field itself).
pub const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;

/// Why bytes are not an acceptable record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No batch at all.
    #[error("empty record set")]
    Empty,
    /// The bytes end inside a batch.
    #[error("truncated batch at byte {at}: need {needed} bytes, have {have}")]
    Truncated {
        /// Offset of the batch in the buffer.
        at: usize,
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes left.
        have: usize,
    },
    /// `batch_length` is smaller than a header.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// Only magic 2 (RecordBatch v2) is accepted.
    #[error("unsupported record batch magic {0} (only v2 is accepted)")]
    UnsupportedMagic(i8),
    /// The stored CRC32C does not match the bytes.
    #[error("corrupt batch: crc32c {actual:#010x} does not match stored {stored:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC computed over the bytes.
        actual: u32,
    },
    /// `records_count` disagrees with `last_offset_delta`, or is not positive.
    #[error("invalid record count {count} (last offset delta {last_offset_delta})")]
    InvalidRecordCount {
        /// Records count field.
        count: i32,
        /// Last offset delta field.
        last_offset_delta: i32,
    },
    /// One batch is larger than the configured limit.
    #[error("batch of {size} bytes exceeds the maximum message size of {max} bytes")]
    TooLarge {
        /// Batch size in bytes.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// What the broker needs to know about one validated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Byte offset of the batch in the validated buffer.
    pub start: usize,
    /// Total bytes of the batch.
    pub len: usize,
    /// Number of offsets the batch occupies (`last_offset_delta + 1`).
    pub offset_count: u32,
    /// Number of the producer's sequence numbers the batch stands for: `offset_count`, except
    /// for a batch ETL rewrote into more records than the producer sent
    /// ([`crate::rewrite`]), which ends at the producer's last sequence but starts earlier.
    pub sequence_count: u32,
    /// Producer's base timestamp (ms).
    pub base_timestamp: i64,
    /// Largest record timestamp in the batch (ms).
    pub max_timestamp: i64,
    /// Raw attributes (compression in the low 3 bits).
    pub attributes: i16,
    /// Idempotent producer id, -1 when not idempotent.
    pub producer_id: i64,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// Validates one or more concatenated batches: framing, magic, CRC32C and record count.
/// Each batch must be at most `max_batch_bytes`.
///
/// ```
/// use rustmq_protocol::{batch, records::{self, Compression, OutgoingRecord}};
/// let b = records::encode_batch(&[OutgoingRecord::value("hi")], Compression::None).unwrap();
/// let infos = batch::validate(&b, 1 << 20).unwrap();
/// assert_eq!(infos[0].offset_count, 1);
/// ```
pub fn validate(buf: &[u8], max_batch_bytes: usize) -> Result<Vec<BatchInfo>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        if rest.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated {
                at,
                needed: BATCH_HEADER_LEN,
                have: rest.len(),
            });
        }
        let batch_length = be_i32(rest, 8);
        if batch_length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let len = LOG_OVERHEAD + batch_length as usize;
        if len > max_batch_bytes {
            return Err(BatchError::TooLarge {
                size: len,
                max: max_batch_bytes,
            });
        }
        if rest.len() < len {
            return Err(BatchError::Truncated {
                at,
                needed: len,
                have: rest.len(),
            });
        }
        let b = &rest[..len];
        let magic = b[16] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let stored = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
        let actual = crc32c::crc32c(&b[CRC_START..]);
        if stored != actual {
            return Err(BatchError::CrcMismatch { stored, actual });
        }
        let last_offset_delta = be_i32(b, 23);
        let count = be_i32(b, 57);
        if count <= 0 || last_offset_delta < 0 || last_offset_delta < count - 1 {
            return Err(BatchError::InvalidRecordCount {
                count,
                last_offset_delta,
            });
        }
        out.push(BatchInfo {
            start: at,
            len,
            offset_count: last_offset_delta as u32 + 1,
            sequence_count: last_offset_delta as u32 + 1,
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            attributes: i16::from_be_bytes([b[21], b[22]]),
            producer_id: be_i64(b, 43),
        });
        at += len;
    }
    Ok(out)
}

/// Writes the base offset and partition leader epoch into a batch's header.
/// Neither field is covered by the CRC, so the batch stays valid.
///
/// # Panics
/// If `batch` is shorter than a header; callers pass batches [`validate`] accepted.
pub fn stamp(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Each batch of `records` that [`validate`] found (`infos`, in order) in a buffer of its
/// own that [`stamp`] can write. Split without copying when `records` is the only reference
/// to its bytes (a produce request's batches decoded from the packets they arrived in, an
/// ETL module's output); copied when it shares them (a slice of a larger frame), since
/// stamping must not change bytes someone else holds.
///
/// ```
/// use bytes::{BufMut, Bytes, BytesMut};
/// use rustmq_protocol::batch;
/// # let one = rustmq_protocol::records::encode_batch(&[rustmq_protocol::records::OutgoingRecord {
/// #     key: None, value: Some(Bytes::from_static(b"v")), headers: vec![], timestamp: 1 }],
/// #     rustmq_protocol::records::Compression::None).unwrap();
/// let mut two = BytesMut::new();
/// two.put_slice(&one);
/// two.put_slice(&one);
/// let two = two.freeze();
/// let infos = batch::validate(&two, 1 << 20).unwrap();
/// let mut batches = batch::stampable(two, &infos);
/// batch::stamp(&mut batches[1], 1, 7);
/// assert_eq!(batch::base_offset(&batches[1]), 1);
/// assert_eq!(batch::leader_epoch(&batches[1]), 7);
/// ```
pub fn stampable(records: Bytes, infos: &[BatchInfo]) -> Vec<BytesMut> {
    // Batches in order without overlap, as `validate` reports them; anything else is copied.
    let ordered = infos
        .iter()
        .try_fold(0usize, |at, i| {
            (i.start >= at && i.start + i.len <= records.len()).then_some(i.start + i.len)
        })
        .is_some();
    let records = if ordered {
        match records.try_into_mut() {
            Ok(mut whole) => {
                let mut at = 0;
                return infos
                    .iter()
                    .map(|i| {
                        whole.advance(i.start - at);
                        at = i.start + i.len;
                        whole.split_to(i.len)
                    })
                    .collect();
            }
            Err(shared) => shared,
        }
    } else {
        records
    };
    infos
        .iter()
        .map(|i| BytesMut::from(&records[i.start..i.start + i.len]))
        .collect()
}

/// Base offset of a batch that passed [`validate`].
pub fn base_offset(batch: &[u8]) -> i64 {
    be_i64(batch, 0)
}

/// Last offset (`base_offset + last_offset_delta`) of a batch that passed [`validate`].
pub fn last_offset(batch: &[u8]) -> i64 {
    be_i64(batch, 0) + i64::from(be_i32(batch, 23))
}

/// Partition leader epoch stamped by the leader that appended a batch.
pub fn leader_epoch(batch: &[u8]) -> i32 {
    be_i32(batch, 12)
}

/// Idempotent-producer fields of a batch: `(producer_id, producer_epoch, base_sequence)`;
/// `producer_id` is -1 for a batch from a producer without idempotence.
///
/// ```
/// use rustmq_protocol::batch;
/// use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch_idempotent};
/// let b = encode_batch_idempotent(&[OutgoingRecord::value("x")], Compression::None, 7, 0, 41)
///     .unwrap();
/// assert_eq!(batch::producer(&b), (7, 0, 41));
/// ```
pub fn producer(batch: &[u8]) -> (i64, i16, i32) {
    (
        be_i64(batch, 43),
        i16::from_be_bytes([batch[51], batch[52]]),
        be_i32(batch, 53),
    )
}

/// The idempotent-producer sequence `n` records after `seq`. Sequences run from 0 to
/// `i32::MAX` and then wrap to 0, as Kafka's do, so client and broker agree on the number
/// that follows any batch.
///
/// ```
/// use rustmq_protocol::batch::sequence_after;
/// assert_eq!(sequence_after(5, 3), 8);
/// assert_eq!(sequence_after(i32::MAX, 1), 0);
/// assert_eq!(sequence_after(i32::MAX - 1, 4), 2);
/// ```
pub fn sequence_after(seq: i32, n: i32) -> i32 {
    // The sum fits an i64; masking is the modulus 2^31 (for a negative `n` too).
    ((i64::from(seq) + i64::from(n)) & i64::from(i32::MAX)) as i32
}

/// Records in a batch that passed [`validate`].
pub fn record_count(batch: &[u8]) -> i32 {
    be_i32(batch, 57)
}

/// Max timestamp of a batch that passed [`validate`].
pub fn max_timestamp(batch: &[u8]) -> i64 {
    be_i64(batch, 35)
}

/// Splits already-validated concatenated batches into one `Bytes` per batch (zero-copy).
pub fn split(buf: &Bytes, infos: &[BatchInfo]) -> Vec<Bytes> {
    infos
        .iter()
        .map(|i| buf.slice(i.start..i.start + i.len))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stampable_splits_a_buffer_it_alone_holds_and_copies_a_shared_one() {
        let one = sample();
        let mut whole = BytesMut::new();
        for _ in 0..3 {
            whole.extend_from_slice(&one);
        }
        let whole = whole.freeze();
        let infos = validate(&whole, 1 << 20).unwrap();
        assert_eq!(infos.len(), 3);

        // Shared: the request's bytes stay as they were after stamping the copies.
        let kept = whole.clone();
        let mut copies = stampable(whole.clone(), &infos);
        stamp(&mut copies[2], 99, 5);
        assert_eq!(base_offset(&copies[2]), 99);
        assert_eq!(&kept[..], &whole[..]);
        assert_eq!(base_offset(&kept[infos[2].start..]), base_offset(&one));
        drop(kept);

        // Alone: the batches are the buffer's own bytes, split, not copied.
        let at = whole.as_ptr() as usize;
        let mut split = stampable(whole, &infos);
        for (b, i) in split.iter().zip(&infos) {
            assert_eq!(b.as_ptr() as usize, at + i.start);
            assert_eq!(b.len(), i.len);
        }
        stamp(&mut split[1], 7, 3);
        assert_eq!((base_offset(&split[1]), leader_epoch(&split[1])), (7, 3));
        assert!(
            validate(&split[1], 1 << 20).is_ok(),
            "stamps are outside the CRC"
        );
    }

    use crate::records::{Compression, OutgoingRecord, encode_batch};
    use proptest::prelude::*;

    fn sample() -> Bytes {
        let recs: Vec<_> = (0..5)
            .map(|i| OutgoingRecord::value(format!("v{i}")))
            .collect();
        encode_batch(&recs, Compression::None).unwrap()
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let b = sample();
        let mut m = b.to_vec();
        stamp(&mut m, 1234, 7);
        let info = validate(&m, 1 << 20).unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].offset_count, 5);
        assert_eq!(base_offset(&m), 1234);
        assert_eq!(last_offset(&m), 1238);
    }

    #[test]
    fn corrupt_truncated_and_oversized_batches_are_refused() {
        let b = sample();
        let mut m = b.to_vec();
        let last = m.len() - 1;
        m[last] ^= 0xff;
        assert!(matches!(
            validate(&m, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            validate(&b[..b.len() - 1], 1 << 20),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(validate(&b, 10), Err(BatchError::TooLarge { .. })));
        let mut magic = b.to_vec();
        magic[16] = 1;
        assert_eq!(
            validate(&magic, 1 << 20),
            Err(BatchError::UnsupportedMagic(1))
        );
        assert_eq!(validate(&[], 10), Err(BatchError::Empty));
    }

    #[test]
    fn concatenated_batches_are_split() {
        let a = sample();
        let mut two = a.to_vec();
        two.extend_from_slice(&a);
        let two = Bytes::from(two);
        let infos = validate(&two, 1 << 20).unwrap();
        assert_eq!(infos.len(), 2);
        let parts = split(&two, &infos);
        assert_eq!(parts[1], a);
    }

    proptest! {
        // Fuzz: random bytes and random single-byte corruptions never panic, and a corrupted
        // byte inside the CRC'd range is always caught.
        #[test]
        fn validate_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validate(&data, 1 << 20);
        }

        #[test]
        fn any_flipped_byte_in_crc_range_is_detected(pos in CRC_START..200usize, bit in 0u8..8) {
            let b = sample().to_vec();
            let pos = pos % b.len();
            prop_assume!(pos >= CRC_START);
            let mut m = b.clone();
            m[pos] ^= 1 << bit;
            prop_assert!(validate(&m, 1 << 20).is_err());
        }
    }
}
