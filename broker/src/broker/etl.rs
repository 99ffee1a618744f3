//! The produce path's ETL step: on the partition leader, after admission (authorization,
//! acks, WAL room, batch validation) and before the WAL append, the batches of a topic some
//! module applies to are run through the pipeline the request loaded; records a module sets
//! aside go to their dead-letter topic first, durably, so a record is never acknowledged
//! and lost. Topics no module applies to never get here (their bytes are appended as
//! produced).

use super::*;
use crate::etl::{ActivePipeline, DeadLetter, Transformed};
use rustmq_protocol::records::{OutgoingRecord, encode_batch};

impl Broker {
    /// The ETL pipeline a produce request runs under, when ETL is on (loaded once per
    /// request, so all its partitions see one version).
    pub(super) fn etl_pipeline(&self) -> Option<Arc<ActivePipeline>> {
        self.etl.as_ref().map(|e| e.current())
    }

    /// Runs `pipeline` over one partition's validated batches, off the async workers. Dead
    /// letters are acknowledged before this returns, as the input will be: by this broker's
    /// WAL when `need` is the leader alone, else by their partition's in-sync replicas.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_etl(
        &self,
        pipeline: &ActivePipeline,
        topic: &str,
        partition: i32,
        records: &Bytes,
        infos: &[batch::BatchInfo],
        max_batch_bytes: usize,
        (need, timeout): (AckNeed, Duration),
    ) -> Result<Transformed, Refusal> {
        let (pl, topic_name, recs, infos) = (
            pipeline.pipeline.clone(),
            topic.to_string(),
            records.clone(),
            infos.to_vec(),
        );
        let out = tokio::task::spawn_blocking(move || {
            crate::etl::transform(&pl, &topic_name, partition, &recs, &infos, max_batch_bytes)
        })
        .await
        .map_err(|e| (ErrorCode::Unknown, format!("ETL task failed: {e}")))??;
        if !out.dead_letters.is_empty() {
            let need = match need {
                AckNeed::Leader => AckNeed::Leader,
                // The dead-letter partition's replica count may differ from the input's.
                AckNeed::All | AckNeed::Replicas(_) => AckNeed::All,
            };
            self.write_dead_letters(topic, partition, &out.dead_letters, need, timeout)
                .await?;
        }
        Ok(out)
    }

    /// Appends dead letters to a partition of their topic this broker leads (the input's
    /// partition number modulo the topic's partitions when led here, else any led here) and
    /// waits for their acknowledgement `need`. Each keeps its record and gains two headers:
    /// where it came from and why it was set aside.
    async fn write_dead_letters(
        &self,
        source_topic: &str,
        source_partition: i32,
        letters: &[DeadLetter],
        need: AckNeed,
        timeout: Duration,
    ) -> Result<(), Refusal> {
        let mut by_topic: BTreeMap<&str, Vec<&DeadLetter>> = BTreeMap::new();
        for l in letters {
            by_topic.entry(l.topic.as_str()).or_default().push(l);
        }
        for (topic, letters) in by_topic {
            let p = self.dead_letter_partition(topic, source_partition)?;
            let records: Vec<OutgoingRecord> = letters
                .iter()
                .map(|l| {
                    let mut headers: Vec<(String, Bytes)> = l
                        .record
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
                        .collect();
                    headers.push((
                        "rustmq.etl.source".into(),
                        Bytes::from(format!("{source_topic}/{source_partition}")),
                    ));
                    headers.push(("rustmq.etl.error".into(), Bytes::from(l.why.clone())));
                    OutgoingRecord {
                        key: l.record.key.clone(),
                        value: l.record.value.clone(),
                        headers,
                        timestamp: l.record.timestamp,
                    }
                })
                .collect();
            let bytes = encode_batch(&records, rustmq_protocol::records::Compression::None)
                .map_err(|e| (ErrorCode::Unknown, format!("dead letters: {e}")))?;
            let infos = batch::validate(&bytes, usize::MAX)
                .map_err(|e| (ErrorCode::Unknown, format!("dead letters: {e}")))?;
            let len = bytes.len() as u64;
            let mut batches = batch::stampable(bytes, &infos);
            let appended = p.append(&self.wal, &mut batches, &infos).map_err(|e| {
                (
                    ErrorCode::StorageError,
                    format!("dead letters to {topic}: {e}"),
                )
            })?;
            self.metrics.appended(topic, len, records.len() as u64);
            self.acknowledgement(&p, appended, need, timeout)
                .await
                .map_err(|(code, why)| (code, format!("dead letters to {topic}: {why}")))?;
        }
        Ok(())
    }

    /// A partition of dead-letter topic `topic` led here.
    fn dead_letter_partition(
        &self,
        topic: &str,
        source_partition: i32,
    ) -> Result<Arc<PartitionLog>, Refusal> {
        let t = self.topics.read().get(topic).cloned().ok_or_else(|| {
            (
                ErrorCode::EtlRejected,
                format!("dead-letter topic {topic} does not exist"),
            )
        })?;
        let n = t.partitions.len().max(1);
        let preferred = source_partition.max(0) as usize % n;
        let led = |i: usize| {
            t.partitions
                .get(i)
                .and_then(Clone::clone)
                .filter(|p| p.is_leader())
        };
        led(preferred)
            .or_else(|| (0..n).find_map(led))
            .ok_or_else(|| {
                (
                    ErrorCode::EtlRejected,
                    format!(
                        "no partition of dead-letter topic {topic} is led by broker {} (give it at least as many partitions as there are brokers)",
                        self.config().broker.id
                    ),
                )
            })
    }
}
