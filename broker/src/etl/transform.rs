//! Running the pipeline over one partition's produced batches: decode a batch, run the
//! modules that apply to the topic, and re-encode it only when its records changed (a
//! batch every module kept stays the producer's bytes). A rewritten batch keeps standing for
//! the producer's batch (`rustmq_protocol::rewrite`), so idempotent sequences still hold.

use bytes::{Bytes, BytesMut};
use rustmq_etl::abi::Record;
use rustmq_etl::pipeline::{EtlError, Pipeline};
use rustmq_protocol::batch::{self, BatchError, BatchInfo};
use rustmq_protocol::proto::ErrorCode;
use rustmq_protocol::records::decode_batches;
use rustmq_protocol::rewrite::{RewrittenRecord, rewrite_batch};

use crate::broker::Refusal;

/// A record a module failed on, for its dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The dead-letter topic.
    pub topic: String,
    /// The record as it came.
    pub record: Record,
    /// Which module and what it did.
    pub why: String,
}

/// What a partition's batches became.
#[derive(Debug, Default)]
pub struct Transformed {
    /// The batches to append (empty: nothing is left to append).
    pub records: Bytes,
    /// Their validation.
    pub infos: Vec<BatchInfo>,
    /// Records for dead-letter topics.
    pub dead_letters: Vec<DeadLetter>,
    /// Batches a module changed.
    pub rewritten: usize,
}

/// Runs `pipeline` over `records` (validated as `infos`) of `topic`/`partition`, blocking
/// (call it off the async workers). `max_batch_bytes` bounds the rewritten batches as it
/// bounds produced ones.
pub fn transform(
    pipeline: &Pipeline,
    topic: &str,
    partition: i32,
    records: &Bytes,
    infos: &[BatchInfo],
    max_batch_bytes: usize,
) -> Result<Transformed, Refusal> {
    let mut out = BytesMut::with_capacity(records.len());
    let mut result = Transformed::default();
    // The producer's sequence count of each batch kept, in order (see BatchInfo).
    let mut sequences = Vec::with_capacity(infos.len());
    for info in infos {
        let input = records.slice(info.start..info.start + info.len);
        let decoded = decode_batches(input.clone())
            .map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
        let before: Vec<Record> = decoded
            .into_iter()
            .map(|r| Record {
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers,
            })
            .collect();
        let ran = pipeline
            .run(topic, partition, before.clone())
            .map_err(|e| match e {
                EtlError::Busy(_) => (ErrorCode::Throttled, e.to_string()),
                EtlError::Refused { .. } => (ErrorCode::EtlRejected, e.to_string()),
            })?;
        result.dead_letters.extend(
            ran.dead_letters
                .into_iter()
                .map(|(topic, record, why)| DeadLetter { topic, record, why }),
        );
        if ran.records == before {
            out.extend_from_slice(&input);
            sequences.push(info.sequence_count);
            continue;
        }
        result.rewritten += 1;
        let rewritten: Vec<RewrittenRecord> = ran
            .records
            .into_iter()
            .map(|r| RewrittenRecord {
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers,
            })
            .collect();
        let stored = rewrite_batch(&input, &rewritten).map_err(|e| {
            (
                ErrorCode::Unknown,
                format!("ETL output cannot be encoded: {e}"),
            )
        })?;
        if let Some(b) = stored {
            out.extend_from_slice(&b);
            sequences.push(info.sequence_count);
        }
    }
    if result.rewritten == 0 {
        // Nothing changed: the producer's bytes, as they came.
        result.records = records.clone();
        result.infos = infos.to_vec();
        return Ok(result);
    }
    result.records = out.freeze();
    if !result.records.is_empty() {
        result.infos = batch::validate(&result.records, max_batch_bytes).map_err(|e| match e {
            BatchError::TooLarge { .. } => (ErrorCode::MessageTooLarge, format!("after ETL: {e}")),
            e => (ErrorCode::CorruptMessage, format!("after ETL: {e}")),
        })?;
        for (info, n) in result.infos.iter_mut().zip(sequences) {
            info.sequence_count = n;
        }
    }
    Ok(result)
}
