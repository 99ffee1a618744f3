//! The object format: record batches grouped by partition, then a batch index, then a
//! fixed footer. Sans-io: bytes in, typed values out.
//!
//! ```text
//! [partition A's batches][partition B's batches]...        (unchanged RecordBatch v2 bytes)
//! index: u32 range_count, per range: u64 topic_id | u32 partition | u32 batch_count,
//!        per batch: i64 base | i64 last | i64 max_timestamp | u64 position | u32 len
//! footer (24 bytes): u64 index_start | u32 index_len | u32 crc32c(index) | b"RMQOBJ01"
//! ```
//!
//! Each partition's batches are contiguous, so a cold read of one partition is one ranged
//! GET; the catalog holds the coarse ranges, the index (read once per object, cached) the
//! per-batch positions. The footer makes every object self-describing, so the catalog can
//! be checked against (or rebuilt from) the bucket.

use bytes::{BufMut, Bytes, BytesMut};
use rustmq_controller::catalog::PartitionRange;

/// Footer magic.
pub const MAGIC: &[u8; 8] = b"RMQOBJ01";
/// Footer length.
pub const FOOTER_LEN: usize = 24;
const RANGE_HEADER_LEN: usize = 16;
const BATCH_ENTRY_LEN: usize = 36;

/// One batch's position in an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRef {
    /// First offset.
    pub base: i64,
    /// Last offset.
    pub last: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Byte position in the object.
    pub position: u64,
    /// Length.
    pub len: u32,
}

/// One partition's batches in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRange {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// Batches in offset order.
    pub batches: Vec<BatchRef>,
}

impl IndexRange {
    /// The batch holding `offset`, or the first after it.
    pub fn position_of(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last < offset)
    }
}

/// An object's batch index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectIndex {
    /// Ranges in object order.
    pub ranges: Vec<IndexRange>,
}

impl ObjectIndex {
    /// The range of a partition.
    pub fn range(&self, topic_id: u64, partition: u32) -> Option<&IndexRange> {
        self.ranges
            .iter()
            .find(|r| r.topic_id == topic_id && r.partition == partition)
    }
}

/// Why an object could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// Shorter than its structure says.
    #[error("object truncated: {0}")]
    Truncated(&'static str),
    /// Footer magic missing.
    #[error("not a RustMQ object (bad footer magic)")]
    BadMagic,
    /// Index CRC mismatch.
    #[error("object index checksum mismatch")]
    BadChecksum,
    /// Inconsistent positions or offsets.
    #[error("object index is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// Builds an object from partitions' batches (added partition by partition, in order).
#[derive(Default)]
pub struct ObjectBuilder {
    body: BytesMut,
    index: ObjectIndex,
}

impl ObjectBuilder {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty object with room for `bytes` of batches: growing by doubling would copy a
    /// 64 MiB upload's first half in one go, a burst the pacing cannot spread.
    pub fn with_capacity(bytes: usize) -> Self {
        Self::in_buffer(BytesMut::new(), bytes)
    }

    /// An empty object built in `buffer` (an earlier object's, emptied), with room for
    /// `bytes` of batches. Reusing one buffer spares the kernel zeroing and mapping fresh
    /// pages for every upload, which cost the broker as much CPU as copying the batches.
    ///
    /// ```
    /// use rustmq_broker::tier::object::ObjectBuilder;
    /// let mut first = ObjectBuilder::with_capacity(4096);
    /// first.push(1, 0, 0, 0, -1, b"batch");
    /// let (body, ..) = first.finish();
    /// let buffer = body.try_into_mut().expect("nothing else holds the object");
    /// let again = ObjectBuilder::in_buffer(buffer, 4096);
    /// assert!(again.is_empty());
    /// ```
    pub fn in_buffer(mut buffer: BytesMut, bytes: usize) -> Self {
        buffer.clear();
        buffer.reserve(bytes);
        Self {
            body: buffer,
            index: ObjectIndex::default(),
        }
    }

    /// Appends one batch of `(topic_id, partition)`. Batches of one partition must be added
    /// consecutively and in offset order.
    pub fn push(
        &mut self,
        topic_id: u64,
        partition: u32,
        base: i64,
        last: i64,
        max_timestamp: i64,
        batch: &[u8],
    ) {
        let position = self.body.len() as u64;
        self.body.extend_from_slice(batch);
        let r = match self.index.ranges.last_mut() {
            Some(r) if r.topic_id == topic_id && r.partition == partition => r,
            _ => {
                self.index.ranges.push(IndexRange {
                    topic_id,
                    partition,
                    batches: Vec::new(),
                });
                let n = self.index.ranges.len();
                &mut self.index.ranges[n - 1]
            }
        };
        r.batches.push(BatchRef {
            base,
            last,
            max_timestamp,
            position,
            len: batch.len() as u32,
        });
    }

    /// Body bytes so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether no batch was added.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The finished object, the catalog's ranges, and where the index sits.
    pub fn finish(mut self) -> (Bytes, Vec<PartitionRange>, u64, u32) {
        let index_start = self.body.len() as u64;
        let mut index = BytesMut::new();
        index.put_u32(self.index.ranges.len() as u32);
        let mut ranges = Vec::with_capacity(self.index.ranges.len());
        for r in &self.index.ranges {
            index.put_u64(r.topic_id);
            index.put_u32(r.partition);
            index.put_u32(r.batches.len() as u32);
            for b in &r.batches {
                index.put_i64(b.base);
                index.put_i64(b.last);
                index.put_i64(b.max_timestamp);
                index.put_u64(b.position);
                index.put_u32(b.len);
            }
            let (first, last) = (r.batches[0], r.batches[r.batches.len() - 1]);
            ranges.push(PartitionRange {
                topic_id: r.topic_id,
                partition: r.partition,
                base_offset: first.base,
                last_offset: last.last,
                max_timestamp: r
                    .batches
                    .iter()
                    .map(|b| b.max_timestamp)
                    .max()
                    .unwrap_or(-1),
                byte_start: first.position,
                byte_len: last.position + u64::from(last.len) - first.position,
            });
        }
        let index_len = index.len() as u32;
        self.body.extend_from_slice(&index);
        self.body.put_u64(index_start);
        self.body.put_u32(index_len);
        self.body.put_u32(crc32c::crc32c(&index));
        self.body.extend_from_slice(MAGIC);
        (self.body.freeze(), ranges, index_start, index_len)
    }
}

fn take<const N: usize>(b: &mut &[u8], what: &'static str) -> Result<[u8; N], ObjectError> {
    if b.len() < N {
        return Err(ObjectError::Truncated(what));
    }
    let (head, rest) = b.split_at(N);
    *b = rest;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    Ok(out)
}

/// Decodes the footer: `(index_start, index_len, crc)`.
pub fn decode_footer(footer: &[u8]) -> Result<(u64, u32, u32), ObjectError> {
    if footer.len() != FOOTER_LEN {
        return Err(ObjectError::Truncated("footer"));
    }
    if &footer[16..24] != MAGIC {
        return Err(ObjectError::BadMagic);
    }
    let mut b = footer;
    let start = u64::from_be_bytes(take(&mut b, "footer")?);
    let len = u32::from_be_bytes(take(&mut b, "footer")?);
    let crc = u32::from_be_bytes(take(&mut b, "footer")?);
    Ok((start, len, crc))
}

/// Decodes an index (the bytes at `[index_start, index_start + index_len)`), checking that
/// every batch lies inside `[0, index_start)`. With `crc`, also checks the checksum.
pub fn decode_index(
    bytes: &[u8],
    index_start: u64,
    crc: Option<u32>,
) -> Result<ObjectIndex, ObjectError> {
    if let Some(c) = crc
        && crc32c::crc32c(bytes) != c
    {
        return Err(ObjectError::BadChecksum);
    }
    let mut b = bytes;
    let n = u32::from_be_bytes(take(&mut b, "range count")?) as usize;
    // Every range needs at least its header: refuse counts the bytes cannot hold.
    if n > b.len() / RANGE_HEADER_LEN {
        return Err(ObjectError::Truncated("ranges"));
    }
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        let topic_id = u64::from_be_bytes(take(&mut b, "range")?);
        let partition = u32::from_be_bytes(take(&mut b, "range")?);
        let count = u32::from_be_bytes(take(&mut b, "range")?) as usize;
        if count == 0 {
            return Err(ObjectError::Inconsistent("empty range"));
        }
        if count > b.len() / BATCH_ENTRY_LEN {
            return Err(ObjectError::Truncated("batches"));
        }
        let mut batches: Vec<BatchRef> = Vec::with_capacity(count);
        for _ in 0..count {
            let base = i64::from_be_bytes(take(&mut b, "batch")?);
            let last = i64::from_be_bytes(take(&mut b, "batch")?);
            let max_timestamp = i64::from_be_bytes(take(&mut b, "batch")?);
            let position = u64::from_be_bytes(take(&mut b, "batch")?);
            let len = u32::from_be_bytes(take(&mut b, "batch")?);
            if last < base {
                return Err(ObjectError::Inconsistent("last offset below base"));
            }
            if position
                .checked_add(u64::from(len))
                .is_none_or(|end| end > index_start)
            {
                return Err(ObjectError::Inconsistent("batch outside the object body"));
            }
            if let Some(prev) = batches.last().copied()
                && (base <= prev.last || position != prev.position + u64::from(prev.len))
            {
                return Err(ObjectError::Inconsistent("batches out of order"));
            }
            batches.push(BatchRef {
                base,
                last,
                max_timestamp,
                position,
                len,
            });
        }
        ranges.push(IndexRange {
            topic_id,
            partition,
            batches,
        });
    }
    if !b.is_empty() {
        return Err(ObjectError::Inconsistent("trailing bytes after the index"));
    }
    Ok(ObjectIndex { ranges })
}

/// Decodes a whole object's index through its footer.
pub fn decode_object_index(object: &[u8]) -> Result<ObjectIndex, ObjectError> {
    if object.len() < FOOTER_LEN {
        return Err(ObjectError::Truncated("footer"));
    }
    let (start, len, crc) = decode_footer(&object[object.len() - FOOTER_LEN..])?;
    let end = start
        .checked_add(u64::from(len))
        .ok_or(ObjectError::Inconsistent("index range overflows"))?;
    if end != (object.len() - FOOTER_LEN) as u64 {
        return Err(ObjectError::Inconsistent(
            "index does not end at the footer",
        ));
    }
    decode_index(&object[start as usize..end as usize], start, Some(crc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Bytes {
        let mut b = ObjectBuilder::new();
        b.push(1, 0, 0, 9, 100, &[1u8; 50]);
        b.push(1, 0, 10, 19, 200, &[2u8; 60]);
        b.push(2, 3, 5, 5, 150, &[3u8; 10]);
        b.finish().0
    }

    #[test]
    fn round_trip() {
        let mut b = ObjectBuilder::new();
        b.push(1, 0, 0, 9, 100, &[1u8; 50]);
        b.push(1, 0, 10, 19, 200, &[2u8; 60]);
        b.push(2, 3, 5, 5, 150, &[3u8; 10]);
        let (obj, ranges, start, len) = b.finish();
        assert_eq!(start, 120);
        assert_eq!(ranges.len(), 2);
        assert_eq!((ranges[0].byte_start, ranges[0].byte_len), (0, 110));
        assert_eq!((ranges[0].base_offset, ranges[0].last_offset), (0, 19));
        assert_eq!(ranges[0].max_timestamp, 200);
        assert_eq!((ranges[1].byte_start, ranges[1].byte_len), (110, 10));
        let idx = decode_object_index(&obj).unwrap();
        assert_eq!(
            decode_index(
                &obj[start as usize..(start + u64::from(len)) as usize],
                start,
                None
            )
            .unwrap(),
            idx
        );
        let r = idx.range(1, 0).unwrap();
        assert_eq!(r.position_of(12), 1);
        assert_eq!(r.position_of(0), 0);
        assert_eq!(r.position_of(20), 2);
        let b = r.batches[1];
        assert_eq!(
            &obj[b.position as usize..][..b.len as usize],
            &[2u8; 60][..]
        );
    }

    #[test]
    fn an_object_built_in_a_reused_buffer_holds_only_its_own_batches() {
        let mut big = ObjectBuilder::with_capacity(1 << 16);
        big.push(7, 1, 0, 99, 10, &[9u8; 40_000]);
        let (old, ..) = big.finish();
        let at = old.as_ptr();
        let buffer = old.try_into_mut().unwrap();
        let mut b = ObjectBuilder::in_buffer(buffer, 1024);
        b.push(1, 0, 0, 9, 100, &[1u8; 50]);
        b.push(1, 0, 10, 19, 200, &[2u8; 60]);
        b.push(2, 3, 5, 5, 150, &[3u8; 10]);
        let (obj, ..) = b.finish();
        assert_eq!(obj.as_ptr(), at, "built in the same allocation");
        assert_eq!(obj, sample());
    }

    #[test]
    fn corruption_is_detected() {
        let obj = sample();
        let mut bad = obj.to_vec();
        let at = bad.len() - FOOTER_LEN - 3;
        bad[at] ^= 1;
        assert_eq!(decode_object_index(&bad), Err(ObjectError::BadChecksum));
        let mut bad = obj.to_vec();
        let n = bad.len();
        bad[n - 1] = b'X';
        assert_eq!(decode_object_index(&bad), Err(ObjectError::BadMagic));
        assert!(decode_object_index(&obj[..10]).is_err());
    }

    proptest! {
        // Fuzz: arbitrary bytes never panic the decoders.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), start in 0u64..1000) {
            let _ = decode_object_index(&bytes);
            let _ = decode_index(&bytes, start, None);
        }

        // Fuzz: a valid object with one byte flipped anywhere never panics and never
        // decodes an index pointing outside the body.
        #[test]
        fn flipped_objects_are_safe(at in 0usize..1000, bit in 0u8..8) {
            let mut obj = sample().to_vec();
            let at = at % obj.len();
            obj[at] ^= 1 << bit;
            if let Ok(idx) = decode_object_index(&obj) {
                for r in idx.ranges {
                    for b in r.batches {
                        prop_assert!(b.position + u64::from(b.len) <= obj.len() as u64);
                    }
                }
            }
        }
    }
}
