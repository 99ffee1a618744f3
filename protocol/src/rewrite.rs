//! A batch the broker rewrote (WebAssembly ETL changed its records) encoded so that it still
//! stands for the producer's batch: same compression, same producer id and epoch, and the
//! same last sequence number, so a retry of the producer's batch is recognised as a duplicate
//! and its next batch follows on, also after a restart rebuilds the sequences from the log.
//!
//! How the sequence span survives a change in the record count `n` → `m`:
//! - `m <= n`: the batch keeps the input's base sequence and `last_offset_delta` (`n - 1`); its
//!   `m` records take the first offsets and the rest stay unused, the gap a compacted batch
//!   has (consumers move on to `last_offset + 1`).
//! - `m > n`: the base sequence moves back by `m - n`, so the last sequence is unchanged.
//! - `m == 0` for an idempotent producer: a control batch with one [`ETL_MARKER_TYPE`] record
//!   keeps the span (consumers skip control records). A plain batch that became nothing is
//!   not written at all.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
    RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::batch;
use crate::records::RecordsError;

/// The control-record type of a batch whose records ETL removed (Kafka's own types are small
/// numbers; this one is RustMQ's).
pub const ETL_MARKER_TYPE: i16 = 0x7E01;

/// A record as ETL left it (header values may be null, as Kafka allows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrittenRecord {
    /// Timestamp in ms (creation time).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

const ATTR_COMPRESSION: i16 = 0x07;

/// The batch to store for `input` (one batch that passed [`batch::validate`]) now that its
/// records are `records`; `None` when nothing needs storing (a plain batch left empty).
///
/// ```
/// use rustmq_protocol::{batch, rewrite::{rewrite_batch, RewrittenRecord}};
/// use rustmq_protocol::records::{encode_batch_idempotent, Compression, OutgoingRecord};
/// let three: Vec<_> = (0..3).map(|i| OutgoingRecord::value(format!("{i}"))).collect();
/// let input = encode_batch_idempotent(&three, Compression::None, 5, 0, 10).unwrap();
/// let one = [RewrittenRecord { value: Some("x".into()), ..Default::default() }];
/// let out = rewrite_batch(&input, &one).unwrap().unwrap();
/// assert_eq!(batch::record_count(&out), 1);
/// // Still sequences 10..=12 of producer 5: three offsets, one record.
/// assert_eq!(batch::producer(&out), (5, 0, 10));
/// assert_eq!(batch::last_offset(&out) - batch::base_offset(&out), 2);
/// ```
pub fn rewrite_batch(
    input: &[u8],
    records: &[RewrittenRecord],
) -> Result<Option<Bytes>, RecordsError> {
    if input.len() < batch::BATCH_HEADER_LEN {
        return Err(RecordsError::Encode(
            "input batch is shorter than a header".into(),
        ));
    }
    let (pid, epoch, seq) = batch::producer(input);
    let n_in = batch::last_offset(input) - batch::base_offset(input) + 1;
    let compression = match i16::from_be_bytes([input[21], input[22]]) & ATTR_COMPRESSION {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        other => {
            return Err(RecordsError::Encode(format!(
                "input batch has unknown compression {other}"
            )));
        }
    };
    let idempotent = pid >= 0;
    if records.is_empty() && !idempotent {
        return Ok(None);
    }
    let marker;
    let recs: Vec<Record> = if records.is_empty() {
        marker = [marker_record()];
        marker.to_vec()
    } else {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| plain(i, r))
            .collect()
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| RecordsError::Encode(e.to_string()))?;
    if idempotent {
        let n_out = recs.len() as i64;
        let (base_seq, last_delta) = if n_out <= n_in {
            (seq, n_in - 1)
        } else {
            let back = (i64::from(seq) + n_in - n_out).rem_euclid(1 << 31);
            (back as i32, n_out - 1)
        };
        buf[23..27].copy_from_slice(&(last_delta as i32).to_be_bytes());
        buf[43..51].copy_from_slice(&pid.to_be_bytes());
        buf[51..53].copy_from_slice(&epoch.to_be_bytes());
        buf[53..57].copy_from_slice(&base_seq.to_be_bytes());
        let crc = crc32c::crc32c(&buf[21..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(Some(buf.freeze()))
}

fn plain(i: usize, r: &RewrittenRecord) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset: i as i64,
        // The codec keeps records in one batch while offset - sequence is constant; this
        // makes the header's base sequence NO_SEQUENCE (the producer's is patched in after).
        sequence: NO_SEQUENCE.wrapping_add(i as i32),
        timestamp: r.timestamp,
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
            .collect::<IndexMap<_, _>>(),
    }
}

/// The one record of a control batch standing for records ETL removed: the control key
/// layout (version 0, type), no value.
fn marker_record() -> Record {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&ETL_MARKER_TYPE.to_be_bytes());
    Record {
        control: true,
        key: Some(Bytes::from(key)),
        value: None,
        headers: IndexMap::new(),
        timestamp: crate::records::now_ms(),
        ..plain(0, &RewrittenRecord::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Compression, OutgoingRecord, decode_batches, encode_batch_idempotent};

    fn input(pid: i64, seq: i32, n: usize, compression: Compression) -> Bytes {
        let recs: Vec<_> = (0..n)
            .map(|i| OutgoingRecord::value(format!("in{i}")))
            .collect();
        encode_batch_idempotent(&recs, compression, pid, 1, seq).unwrap()
    }

    fn out(n: usize) -> Vec<RewrittenRecord> {
        (0..n)
            .map(|i| RewrittenRecord {
                timestamp: 5,
                value: Some(Bytes::from(format!("out{i}"))),
                headers: vec![("h".into(), None)],
                ..Default::default()
            })
            .collect()
    }

    /// The sequence of the last record the stored batch stands for.
    fn last_sequence(b: &[u8]) -> i32 {
        let (_, _, seq) = batch::producer(b);
        batch::sequence_after(seq, (batch::last_offset(b) - batch::base_offset(b)) as i32)
    }

    #[test]
    fn the_last_sequence_is_kept_whatever_the_count_becomes() {
        for compression in [Compression::None, Compression::Zstd] {
            for (n_in, n_out) in [(3, 3), (3, 1), (3, 0), (3, 7), (1, 4)] {
                let i = input(9, 100, n_in, compression);
                let o = rewrite_batch(&i, &out(n_out)).unwrap().unwrap();
                let infos = batch::validate(&o, usize::MAX).unwrap();
                assert_eq!(infos.len(), 1);
                assert_eq!(last_sequence(&o), last_sequence(&i), "{n_in} -> {n_out}");
                assert_eq!(batch::producer(&o).0, 9);
                assert_eq!(batch::producer(&o).1, 1);
                let back = decode_batches(o.clone()).unwrap();
                assert_eq!(
                    back.len(),
                    n_out,
                    "control records are not application records"
                );
                assert!(back.iter().all(|r| r.timestamp == 5));
                assert_eq!(
                    back.first()
                        .map(|r| r.headers.clone())
                        .unwrap_or_default()
                        .len(),
                    n_out.min(1)
                );
                assert_eq!(
                    i16::from_be_bytes([o[21], o[22]]) & ATTR_COMPRESSION,
                    i16::from_be_bytes([i[21], i[22]]) & ATTR_COMPRESSION
                );
            }
        }
    }

    #[test]
    fn moving_the_base_sequence_back_wraps_as_kafka_sequences_do() {
        let i = input(9, 1, 1, Compression::None);
        let o = rewrite_batch(&i, &out(4)).unwrap().unwrap();
        assert_eq!(batch::producer(&o).2, i32::MAX - 1);
        assert_eq!(last_sequence(&o), 1);
    }

    #[test]
    fn a_plain_batch_is_rewritten_plainly_and_dropped_when_empty() {
        let plain = input(-1, -1, 2, Compression::Lz4);
        assert_eq!(rewrite_batch(&plain, &[]).unwrap(), None);
        let o = rewrite_batch(&plain, &out(5)).unwrap().unwrap();
        assert_eq!(batch::producer(&o).0, -1);
        assert_eq!(batch::record_count(&o), 5);
        assert_eq!(batch::last_offset(&o), 4);
    }

    #[test]
    fn an_emptied_idempotent_batch_is_a_control_batch_of_one_marker() {
        let o = rewrite_batch(&input(3, 0, 2, Compression::None), &[])
            .unwrap()
            .unwrap();
        assert_ne!(o[22] & 0x20, 0, "control attribute");
        assert_eq!(batch::record_count(&o), 1);
        assert!(decode_batches(o).unwrap().is_empty());
    }

    #[test]
    fn a_short_input_is_an_error_not_a_panic() {
        assert!(rewrite_batch(&[0u8; 10], &out(1)).is_err());
    }
}
