//! Application records to Kafka RecordBatch v2 bytes and back, through the `kafka-protocol`
//! codec (compression gzip, snappy, lz4 and zstd included).

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
    RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub use kafka_protocol::records::Compression;

/// Why records could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// The codec refused to encode.
    #[error("cannot encode record batch: {0}")]
    Encode(String),
    /// The bytes are not decodable batches.
    #[error("cannot decode record batch: {0}")]
    Decode(String),
    /// A compression name that is not one of none, gzip, snappy, lz4, zstd.
    #[error("unknown compression '{0}' (expected none, gzip, snappy, lz4 or zstd)")]
    UnknownCompression(String),
}

/// Parses a compression name as used in configs and on the command line.
///
/// ```
/// use rustmq_protocol::records::{parse_compression, Compression};
/// assert_eq!(parse_compression("lz4").unwrap(), Compression::Lz4);
/// assert!(parse_compression("brotli").is_err());
/// ```
pub fn parse_compression(name: &str) -> Result<Compression, RecordsError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "none" | "" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return Err(RecordsError::UnknownCompression(name.to_string())),
    })
}

/// A record as an application produces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// Partitioning key.
    pub key: Option<Bytes>,
    /// Payload.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// Creation time in ms since the epoch.
    pub timestamp: i64,
}

impl OutgoingRecord {
    /// A record with only a value, stamped with the current time.
    pub fn value(v: impl Into<Bytes>) -> Self {
        Self {
            value: Some(v.into()),
            timestamp: now_ms(),
            ..Self::default()
        }
    }
}

/// A record as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Offset in its partition.
    pub offset: i64,
    /// Timestamp in ms (creation time).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Encodes records into one RecordBatch v2 with base offset 0 (the broker assigns offsets).
///
/// ```
/// use rustmq_protocol::records::{encode_batch, decode_batches, Compression, OutgoingRecord};
/// let bytes = encode_batch(&[OutgoingRecord::value("a"), OutgoingRecord::value("b")], Compression::Zstd).unwrap();
/// let back = decode_batches(bytes).unwrap();
/// assert_eq!(back[1].value.as_deref(), Some(&b"b"[..]));
/// ```
pub fn encode_batch(
    records: &[OutgoingRecord],
    compression: Compression,
) -> Result<Bytes, RecordsError> {
    encode_batch_idempotent(
        records,
        compression,
        NO_PRODUCER_ID,
        NO_PRODUCER_EPOCH,
        NO_SEQUENCE,
    )
}

/// Encodes one RecordBatch v2 of an idempotent producer: `producer_id`, `producer_epoch`
/// and the sequence number of the first record go into the header; the leader uses them
/// to refuse duplicates and out-of-order batches. `producer_id` -1 encodes a plain batch.
///
/// ```
/// use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch_idempotent};
/// let b = encode_batch_idempotent(&[OutgoingRecord::value("a")], Compression::None, 3, 0, 10)
///     .unwrap();
/// assert_eq!(rustmq_protocol::batch::producer(&b), (3, 0, 10));
/// ```
pub fn encode_batch_idempotent(
    records: &[OutgoingRecord],
    compression: Compression,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<Bytes, RecordsError> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The codec keeps records in one batch while offset - sequence is constant;
            // this yields base_sequence = -1 (NO_SEQUENCE) for a non-idempotent batch.
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), Some(v.clone())))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    // Uncompressed, a batch is its records' bytes plus a few varints each: sized once, the
    // buffer is not regrown (and copied) while it fills. A compressed batch is smaller than
    // that, and a frozen buffer keeps its capacity, so it starts empty.
    let mut buf = match compression {
        Compression::None => BytesMut::with_capacity(uncompressed_size_bound(records)),
        _ => BytesMut::new(),
    };
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| RecordsError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

/// At least the encoded size of an uncompressed batch of `records`: the 61-byte batch
/// header, then per record its fields at their longest varints (length 5, attributes 1,
/// timestamp delta 10, offset delta 5, key and value lengths 5 each, header count 5) and
/// per header two lengths of 5.
fn uncompressed_size_bound(records: &[OutgoingRecord]) -> usize {
    const BATCH_HEADER: usize = 61;
    const RECORD_FIELDS: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
    BATCH_HEADER
        + records
            .iter()
            .map(|r| {
                RECORD_FIELDS
                    + r.key.as_ref().map_or(0, Bytes::len)
                    + r.value.as_ref().map_or(0, Bytes::len)
                    + r.headers
                        .iter()
                        .map(|(k, v)| 10 + k.len() + v.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// Decodes concatenated batches into records, in offset order.
pub fn decode_batches(mut buf: Bytes) -> Result<Vec<ConsumedRecord>, RecordsError> {
    let sets = RecordBatchDecoder::decode_all(&mut buf)
        .map_err(|e| RecordsError::Decode(e.to_string()))?;
    Ok(sets
        .into_iter()
        .flat_map(|s| s.records)
        .filter(|r| !r.control)
        .map(|r| ConsumedRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Fuzz: decoding random bytes returns an error, never panics.
        #[test]
        fn decode_random_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_batches(Bytes::from(data));
        }

        // The buffer sized up front holds the whole encoded batch (it is never regrown), and
        // by no more than the varints' slack.
        #[test]
        fn the_size_bound_holds_every_uncompressed_batch(
            records in proptest::collection::vec(
                (
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3000)),
                    proptest::collection::vec(("[a-z]{0,20}", proptest::collection::vec(any::<u8>(), 0..50)), 0..4),
                    0..4_000_000_000_000i64,
                ),
                1..60,
            )
        ) {
            let records: Vec<OutgoingRecord> = records
                .into_iter()
                .map(|(key, value, headers, timestamp)| OutgoingRecord {
                    key: key.map(Bytes::from),
                    value: value.map(Bytes::from),
                    headers: headers.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect(),
                    timestamp,
                })
                .collect();
            let encoded = encode_batch(&records, Compression::None).unwrap();
            let bound = uncompressed_size_bound(&records);
            prop_assert!(encoded.len() <= bound, "{} > {bound}", encoded.len());
            let headers: usize = records.iter().map(|r| r.headers.len()).sum();
            prop_assert!(bound - encoded.len() <= 36 * records.len() + 10 * headers);
        }
    }
}
