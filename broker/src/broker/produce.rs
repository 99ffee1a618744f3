//! Produce: admission (the acks level and its arithmetic against the replica count and
//! `min.insync.replicas`, WAL capacity, the leader lease, batch validation), the append, and
//! waiting for the acknowledgement the producer asked for; between admission and the append,
//! the ETL step (`etl.rs`) for topics a deployed module applies to. Never: writes to disk itself (the
//! partition log queues on the WAL).

use super::metrics::ProduceStage;
use super::*;
use crate::partition::Appended;
use tracing::Instrument;

/// Longest a pipelined batch waits at the leader for the batches before it in its
/// producer's sequence (sent earlier, still in flight or being retried).
const SEQUENCE_WAIT: Duration = Duration::from_secs(5);

impl Broker {
    /// Appends every partition's batches of a produce request.
    pub async fn produce(&self, req: proto::ProduceRequest) -> proto::ProduceResponse {
        let Ok(acks) = proto::Acks::try_from(req.acks) else {
            // An acks level this broker does not know: refusing it beats guessing a weaker one.
            let why = format!("unknown acks value {}", req.acks);
            return refuse_produce(req, ErrorCode::InvalidRequest, &why);
        };
        if let Some((topic, partition)) = named_twice(&req) {
            // Answers are matched by partition: two entries for one partition would get two
            // answers the client cannot tell apart, and appending both in an order of the
            // broker's choosing could reorder a producer's sequence. Nothing is appended.
            let why = format!("partition {topic}/{partition} is named twice in one request");
            return refuse_produce(req, ErrorCode::InvalidRequest, &why);
        }
        // 0 is proto3's unset value: the broker's default, not "time out at once" (which
        // would answer REQUEST_TIMED_OUT for a batch that is then written, and a retry would
        // duplicate it).
        let default = Duration::from_millis(self.config().replication.ack_timeout_ms.max(1));
        let timeout = match req.timeout_ms {
            0 => default,
            ms => Duration::from_millis(u64::from(ms.min(300_000))).min(default),
        };
        let custom = req.acks_replicas;
        // One ETL version for the whole request.
        let etl = self.etl_pipeline();
        let etl = etl.as_deref();
        let topics = req.topics.into_iter().map(|t| async move {
            let name = t.topic.clone();
            let parts = t.partitions.into_iter().map(|p| async {
                let started = Instant::now();
                let span = tracing::info_span!("rustmq.produce.partition", topic = %name,
                    partition = p.partition, bytes = p.records.len());
                let r = self
                    .produce_partition(&name, p, (acks, custom), timeout, etl)
                    .instrument(span)
                    .await;
                if r.error_code == ErrorCode::None as i32 {
                    self.metrics.produced(acks, started.elapsed());
                }
                r
            });
            proto::TopicProduceResponse {
                topic: t.topic.clone(),
                partitions: join_all(parts).await,
            }
        });
        proto::ProduceResponse {
            topics: join_all(topics).await,
        }
    }

    async fn produce_partition(
        &self,
        topic: &str,
        data: proto::PartitionProduceData,
        acks: (proto::Acks, u32),
        timeout: Duration,
        etl: Option<&crate::etl::ActivePipeline>,
    ) -> proto::PartitionProduceResponse {
        let mut resp = proto::PartitionProduceResponse {
            partition: data.partition,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            ..Default::default()
        };
        let fail = |mut r: proto::PartitionProduceResponse, (code, msg): Refusal| {
            r.error_code = code as i32;
            r.error_message = msg;
            r
        };
        let admitted =
            tracing::info_span!("rustmq.produce.admit").in_scope(|| self.admit(topic, &data, acks));
        let (p, need, mut infos, max) = match admitted {
            Ok(x) => x,
            Err(refusal) => return fail(resp, refusal),
        };
        let mut records = data.records;
        if let Some(etl) = etl.filter(|e| e.pipeline.applies_to(topic)) {
            match self
                .run_etl(
                    etl,
                    topic,
                    data.partition as i32,
                    &records,
                    &infos,
                    max,
                    (need, timeout),
                )
                .await
            {
                Ok(t) => (records, infos) = (t.records, t.infos),
                Err(refusal) => return fail(resp, refusal),
            }
            if records.is_empty() {
                // The modules dropped every record: nothing to append or wait for.
                resp.base_offset = p.bounds().1;
                resp.log_start_offset = p.bounds().0;
                return resp;
            }
        }
        let appending = Instant::now();
        let bytes = records.len() as u64;
        // Batches decoded from several packets are this request's own: stamped in place.
        let mut batches = batch::stampable(records, &infos);
        let appended = match p
            .append_in_sequence(&self.wal, &mut batches, &infos, timeout.min(SEQUENCE_WAIT))
            .await
        {
            Ok(x) => x,
            Err(e @ PartitionError::NotLeader { .. }) => {
                return fail(resp, (ErrorCode::NotLeader, e.to_string()));
            }
            Err(e @ PartitionError::OutOfOrderSequence(_)) => {
                return fail(resp, (ErrorCode::OutOfOrderSequence, e.to_string()));
            }
            Err(e) => return fail(resp, (ErrorCode::StorageError, e.to_string())),
        };
        self.metrics
            .produce_stage(ProduceStage::Append, appending.elapsed());
        p.count_produced(bytes);
        let messages = infos.iter().map(|i| u64::from(i.offset_count)).sum();
        self.metrics.appended(topic, bytes, messages);
        resp.base_offset = appended.base;
        resp.log_start_offset = p.bounds().0;
        if acks.0 == proto::Acks::NoneAck {
            return resp;
        }
        match self.acknowledgement(&p, appended, need, timeout).await {
            Ok(()) => resp,
            Err(refusal) => fail(resp, refusal),
        }
    }

    /// Whether this broker takes `data` for `topic` now, and what its acknowledgement will
    /// need: the partition is led here under a valid lease, the acks level fits the replica
    /// count (and `min.insync.replicas` for `all`), the WAL has room, and the batches are
    /// valid and within the size limit.
    fn admit(
        &self,
        topic: &str,
        data: &proto::PartitionProduceData,
        (acks, custom): (proto::Acks, u32),
    ) -> Result<(Arc<PartitionLog>, AckNeed, Vec<batch::BatchInfo>, usize), Refusal> {
        let (t, p) = self
            .partition(topic, data.partition)
            .map_err(|code| (code, format!("{topic}/{}: {code:?}", data.partition)))?;
        if !p.is_leader() {
            return Err((
                ErrorCode::NotLeader,
                format!(
                    "broker {} does not lead {topic}/{} (epoch {})",
                    self.config().broker.id,
                    data.partition,
                    p.leader_epoch()
                ),
            ));
        }
        if !self.lease.valid() {
            return Err((
                ErrorCode::NotLeader,
                "this broker cannot reach the controllers (leader lease expired); it may have \
                 been replaced as leader"
                    .into(),
            ));
        }
        let replicas = p.replication_view().replicas.len().max(1);
        let need = match acks {
            proto::Acks::NoneAck | proto::Acks::Leader => AckNeed::Leader,
            proto::Acks::All => AckNeed::All,
            proto::Acks::Majority => AckNeed::Replicas(replicas / 2 + 1),
            proto::Acks::Custom => {
                let n = custom as usize;
                if n == 0 || n > replicas {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "acks=custom({n}) on {topic}/{}: must be between 1 and the replica count {replicas}",
                            data.partition
                        ),
                    ));
                }
                AckNeed::Replicas(n)
            }
        };
        if need == AckNeed::All {
            let min = t
                .config
                .min_insync_replicas
                .unwrap_or(self.config().replication.min_in_sync_replicas)
                as usize;
            let isr = p.isr();
            if isr.len() < min {
                return Err((
                    ErrorCode::NotEnoughReplicas,
                    format!(
                        "{topic}/{}: {} in-sync replicas {isr:?}, min.insync.replicas is {min}",
                        data.partition,
                        isr.len()
                    ),
                ));
            }
        }
        let max = t
            .config
            .max_message_bytes
            .unwrap_or(self.config().log.max_message_bytes) as usize;
        // Uploads are behind (object store down or slow): refuse before the disk fills.
        let wal_used = self.wal.disk_bytes() + data.records.len() as u64;
        let full = wal_used > self.config().wal.capacity_bytes;
        self.wal_full_at.store(
            if full {
                self.wal.disk_bytes().max(1)
            } else {
                0
            },
            std::sync::atomic::Ordering::Relaxed,
        );
        if full {
            return Err((
                ErrorCode::WalFull,
                format!(
                    "wal is at capacity ({} of {} bytes) while {} bytes wait for upload; retry later",
                    self.wal.disk_bytes(),
                    self.config().wal.capacity_bytes,
                    self.backlog.bytes()
                ),
            ));
        }
        // A stalled or slow disk: refuse before appends pile up in memory.
        let queued = self.wal.queued_bytes();
        if queued + data.records.len() as u64 > self.config().wal.max_queued_bytes {
            return Err((
                ErrorCode::Throttled,
                format!(
                    "{queued} bytes wait for the wal writer (wal.max_queued_bytes {}): the disk \
                     is behind; retry later",
                    self.config().wal.max_queued_bytes
                ),
            ));
        }
        let infos = match batch::validate(&data.records, max) {
            Ok(i) => i,
            Err(e @ BatchError::TooLarge { .. }) => {
                return Err((ErrorCode::MessageTooLarge, e.to_string()));
            }
            Err(e) => return Err((ErrorCode::CorruptMessage, e.to_string())),
        };
        Ok((p, need, infos, max))
    }

    /// Waits until the appended batches have the acknowledgement `need` asks for (durable
    /// here, then replicated), or `timeout` passes.
    pub(super) async fn acknowledgement(
        &self,
        p: &PartitionLog,
        appended: Appended,
        need: AckNeed,
        timeout: Duration,
    ) -> Result<(), Refusal> {
        let deadline = tokio::time::Instant::now() + timeout;
        let queued = Instant::now();
        if let Some(done) = appended.durable {
            let waited = tokio::time::timeout_at(deadline, done)
                .instrument(tracing::info_span!("rustmq.produce.durable"));
            match waited.await {
                Ok(Ok(Ok(()))) => self
                    .metrics
                    .produce_stage(ProduceStage::Durable, queued.elapsed()),
                Ok(Ok(Err(e))) => return Err((ErrorCode::StorageError, e.to_string())),
                Ok(Err(_)) => {
                    return Err((ErrorCode::StorageError, "wal writer stopped".into()));
                }
                Err(_) => {
                    return Err((
                        ErrorCode::RequestTimedOut,
                        format!("not durable within {timeout:?}"),
                    ));
                }
            }
        }
        // An acks=all (or a count above one) wait is the replication's share of the latency.
        let durable = Instant::now();
        let replicates =
            matches!(need, AckNeed::All) || matches!(need, AckNeed::Replicas(n) if n > 1);
        let replication = match need {
            AckNeed::All => tracing::info_span!("rustmq.produce.replication", need = "all"),
            AckNeed::Replicas(n) if n > 1 => {
                tracing::info_span!("rustmq.produce.replication", need = n)
            }
            _ => tracing::Span::none(),
        };
        async {
            loop {
                let notified = p.appended().notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match p.ack_state(appended.last, appended.epoch, need) {
                    AckState::Done => break,
                    AckState::Lost(why) => return Err((ErrorCode::NotLeader, why)),
                    AckState::Waiting => {}
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(deadline) => {
                        let isr = p.isr();
                        let why = format!("not replicated to {need:?} within {timeout:?} (ISR {isr:?})");
                        return Err((ErrorCode::RequestTimedOut, why));
                    }
                }
            }
            Ok(())
        }
        .instrument(replication)
        .await?;
        if replicates {
            self.metrics
                .produce_stage(ProduceStage::Replicated, durable.elapsed());
        }
        // Acknowledge only as a leader the controllers still know to be alive.
        if !self.lease.valid() {
            return Err((
                ErrorCode::NotLeader,
                "leader lease expired before the acknowledgement; the batch may or may not \
                 survive a leader change"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A new idempotent-producer id, from the controllers.
    pub async fn init_producer_id(&self) -> proto::InitProducerIdResponse {
        match self.controller.init_producer_id().await {
            Ok(id) => proto::InitProducerIdResponse {
                producer_id: id,
                producer_epoch: 0,
                ..Default::default()
            },
            Err(e) => proto::InitProducerIdResponse {
                error_code: ErrorCode::BrokerNotAvailable as i32,
                error_message: format!("cannot get a producer id from the controllers: {e}"),
                producer_id: -1,
                producer_epoch: -1,
            },
        }
    }
}

/// The first partition a produce request names more than once (under one topic entry or
/// two entries of the same topic), if any.
fn named_twice(req: &proto::ProduceRequest) -> Option<(&str, u32)> {
    if req.topics.iter().map(|t| t.partitions.len()).sum::<usize>() < 2 {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    req.topics.iter().find_map(|t| {
        t.partitions
            .iter()
            .find(|p| !seen.insert((t.topic.as_str(), p.partition)))
            .map(|p| (t.topic.as_str(), p.partition))
    })
}

/// Every partition of `req` answered with `code` and `why`, nothing appended.
fn refuse_produce(
    req: proto::ProduceRequest,
    code: ErrorCode,
    why: &str,
) -> proto::ProduceResponse {
    proto::ProduceResponse {
        topics: req
            .topics
            .into_iter()
            .map(|t| proto::TopicProduceResponse {
                topic: t.topic,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| proto::PartitionProduceResponse {
                        partition: p.partition,
                        error_code: code as i32,
                        error_message: why.to_string(),
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                    })
                    .collect(),
            })
            .collect(),
    }
}
