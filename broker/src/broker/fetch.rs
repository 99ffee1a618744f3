//! Fetch and ListOffsets: reads batches from the write cache, the WAL or object storage
//! (concatenating a partition's batches into one response buffer), long-polls until
//! `min_bytes` or the wait runs out, and finds offsets by timestamp. Never: reads at or above
//! the high watermark for consumers.

use super::*;

/// Most a fetch long-poll waits, whatever the client asks.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);
/// Fetch response size when the client sets none.
const DEFAULT_FETCH_MAX_BYTES: u64 = 50 * 1024 * 1024;

/// Why reading a partition's batches failed.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Tier(#[from] TierError),
}

/// One partition of a fetch: topic, what was asked, and the resolved partition (or why not).
type FetchTarget = (
    String,
    proto::FetchPartition,
    Result<Arc<PartitionLog>, ErrorCode>,
);

impl Broker {
    /// Long-poll fetch: answers as soon as `min_bytes` are available or `max_wait_ms` passed.
    pub async fn fetch(&self, req: proto::FetchRequest) -> proto::FetchResponse {
        self.fetch_reserved(req).await.response
    }

    /// [`Broker::fetch`], with the room its records hold in the in-flight budget (the server
    /// keeps it until the response is sent) and whether the reader is catching up.
    pub async fn fetch_reserved(&self, req: proto::FetchRequest) -> ServedFetch {
        let started = Instant::now();
        let served = self.fetch_until_ready(req).await;
        self.metrics.fetch.since(started);
        served
    }

    /// [`Broker::fetch_reserved`] without its timing.
    async fn fetch_until_ready(&self, req: proto::FetchRequest) -> ServedFetch {
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(u64::from(req.max_wait_ms)).min(MAX_FETCH_WAIT);
        let max_bytes = if req.max_bytes == 0 {
            DEFAULT_FETCH_MAX_BYTES
        } else {
            u64::from(req.max_bytes)
        };
        // Resolve partitions once; unknown ones are answered with their error.
        let mut targets = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                targets.push((
                    t.topic.clone(),
                    *p,
                    self.led_partition(&t.topic, p.partition),
                ));
            }
        }
        loop {
            let mut waits: Vec<Pin<Box<tokio::sync::futures::Notified<'_>>>> = targets
                .iter()
                .filter_map(|(_, _, r)| r.as_ref().ok())
                .map(|p| Box::pin(p.appended().notified()))
                .collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            let mut plans = Vec::with_capacity(targets.len());
            let mut total = 0u64;
            let mut any_error = false;
            for (_, fp, r) in &targets {
                let plan = match r {
                    Ok(p) => {
                        let part_max = if fp.partition_max_bytes == 0 {
                            max_bytes
                        } else {
                            u64::from(fp.partition_max_bytes)
                        };
                        let budget = part_max.min(max_bytes.saturating_sub(total).max(1));
                        p.plan_read(fp.fetch_offset, budget).map_err(|e| match e {
                            PartitionError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
                            _ => ErrorCode::StorageError,
                        })
                    }
                    Err(code) => Err(*code),
                };
                match &plan {
                    Ok(pl) => total += pl.bytes,
                    Err(_) => any_error = true,
                }
                plans.push(plan);
            }
            let now = tokio::time::Instant::now();
            if total >= u64::from(req.min_bytes.max(1))
                || any_error
                || now >= deadline
                || waits.is_empty()
            {
                let reservation = match &self.fetch_budget {
                    Some(b) => Some(b.reserve(total).await),
                    None => None,
                };
                let catching_up = plans
                    .iter()
                    .any(|p| p.as_ref().is_ok_and(|p| !p.reaches_end));
                return ServedFetch {
                    response: self.materialize(&targets, plans).await,
                    reservation,
                    catching_up,
                };
            }
            tokio::select! {
                _ = futures::future::select_all(waits) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn materialize(
        &self,
        targets: &[FetchTarget],
        plans: Vec<Result<crate::partition::ReadPlan, ErrorCode>>,
    ) -> proto::FetchResponse {
        // Partitions are read concurrently: a cold (object-storage) partition does not hold
        // up the others, and its GETs overlap.
        let reads = targets.iter().zip(plans).map(|((topic, fp, r), plan)| async move {
            let mut pr = proto::FetchPartitionResponse {
                partition: fp.partition,
                high_watermark: -1,
                log_start_offset: -1,
                ..Default::default()
            };
            match (plan, r) {
                (Ok(plan), Ok(p)) => {
                    pr.high_watermark = plan.high_watermark;
                    pr.log_start_offset = plan.log_start_offset;
                    match self.read_batches(p, plan.batches).await {
                        Ok(b) => {
                            self.metrics.served(topic, b.len() as u64);
                            pr.records = b;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, %topic, partition = fp.partition, "fetch read failed");
                            pr.error_code = ErrorCode::StorageError as i32;
                        }
                    }
                }
                (Ok(_), &Err(code)) | (Err(code), _) => {
                    pr.error_code = code as i32;
                    if let Ok(p) = r {
                        let (s, h) = p.bounds();
                        pr.log_start_offset = s;
                        pr.high_watermark = h;
                    }
                }
            }
            (topic, pr)
        });
        let mut by_topic: Vec<proto::FetchTopicResponse> = Vec::new();
        for (topic, pr) in join_all(reads).await {
            match by_topic.iter_mut().find(|t| &t.topic == topic) {
                Some(t) => t.partitions.push(pr),
                None => by_topic.push(proto::FetchTopicResponse {
                    topic: topic.clone(),
                    partitions: vec![pr],
                }),
            }
        }
        proto::FetchResponse { topics: by_topic }
    }

    pub(crate) async fn read_batches_for(
        &self,
        p: &PartitionLog,
        sources: Vec<BatchSource>,
    ) -> Result<Bytes, String> {
        self.read_batches(p, sources)
            .await
            .map_err(|e| e.to_string())
    }

    async fn read_batches(
        &self,
        p: &PartitionLog,
        sources: Vec<BatchSource>,
    ) -> Result<Bytes, ReadError> {
        let mut parts = Vec::with_capacity(sources.len());
        for s in sources {
            parts.push(match s {
                BatchSource::Memory(b) => b,
                BatchSource::Wal(loc) => self.wal.read(loc).await?,
                BatchSource::Tiered { offset, max_bytes } => {
                    let key = PartitionKey {
                        topic_id: p.topic_id,
                        partition: p.partition,
                    };
                    match self.tier.read(key, offset, max_bytes).await? {
                        Some(b) => b,
                        // Nothing in object storage at or after the offset: serve the local
                        // log from where it starts.
                        None => {
                            let local = p.local_start();
                            let plan = p
                                .plan_read(local.max(offset), max_bytes)
                                .map_err(|e| ReadError::Wal(WalError::Io(e.to_string())))?;
                            let local_only = plan
                                .batches
                                .into_iter()
                                .filter(|b| !matches!(b, BatchSource::Tiered { .. }))
                                .collect();
                            Box::pin(self.read_batches(p, local_only)).await?
                        }
                    }
                }
            });
        }
        Ok(match parts.len() {
            0 => Bytes::new(),
            1 => parts.pop().unwrap_or_default(),
            _ => {
                let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.len()).sum());
                for p in parts {
                    out.extend_from_slice(&p);
                }
                out.freeze()
            }
        })
    }

    /// Earliest, latest, or first offset at/after a timestamp.
    pub async fn list_offsets(&self, req: proto::ListOffsetsRequest) -> proto::ListOffsetsResponse {
        let mut topics = Vec::new();
        for t in req.topics {
            let mut parts = Vec::new();
            for lp in t.partitions {
                let mut r = proto::ListOffsetsPartitionResponse {
                    partition: lp.partition,
                    offset: -1,
                    timestamp: -1,
                    ..Default::default()
                };
                match self.led_partition(&t.topic, lp.partition) {
                    Err(code) => r.error_code = code as i32,
                    Ok(p) => {
                        let (start, hw) = p.bounds();
                        match lp.timestamp {
                            rustmq_protocol::EARLIEST_TIMESTAMP => r.offset = start,
                            rustmq_protocol::LATEST_TIMESTAMP => r.offset = hw,
                            ts if ts < 0 => r.error_code = ErrorCode::InvalidRequest as i32,
                            ts => match self.offset_for_timestamp(&p, ts).await {
                                Ok(Some((o, rts))) => {
                                    r.offset = o;
                                    r.timestamp = rts;
                                }
                                Ok(None) => {}
                                Err(_) => r.error_code = ErrorCode::StorageError as i32,
                            },
                        }
                    }
                }
                parts.push(r);
            }
            topics.push(proto::ListOffsetsTopicResponse {
                topic: t.topic,
                partitions: parts,
            });
        }
        proto::ListOffsetsResponse { topics }
    }

    async fn offset_for_timestamp(
        &self,
        p: &PartitionLog,
        ts: i64,
    ) -> Result<Option<(i64, i64)>, ReadError> {
        let key = PartitionKey {
            topic_id: p.topic_id,
            partition: p.partition,
        };
        // Object storage first (older), then the local log.
        let tiered = self
            .controller
            .metadata()
            .catalog
            .partition(key)
            .and_then(|pc| {
                pc.slices
                    .values()
                    .find(|s| s.max_timestamp >= ts)
                    .map(|s| s.base_offset.max(pc.start_offset))
            });
        let src = match tiered {
            Some(offset) if offset < p.local_start() => BatchSource::Tiered {
                offset,
                max_bytes: DEFAULT_FETCH_MAX_BYTES,
            },
            _ => match p.batch_for_timestamp(ts) {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        let bytes = self.read_batches(p, vec![src]).await?;
        let records = decode_batches(bytes).map_err(|e| WalError::Io(e.to_string()))?;
        Ok(records
            .into_iter()
            .find(|r| r.timestamp >= ts)
            .map(|r| (r.offset, r.timestamp)))
    }
}

/// Bytes of fetch responses in flight, bounded: a fetch reserves what it is about to read
/// before reading it, and gives it back once its response is sent.
pub struct FetchBudget {
    room: Arc<tokio::sync::Semaphore>,
    limit: u32,
    peak: std::sync::atomic::AtomicU64,
}

/// A fetch's answer as the server sends it.
pub struct ServedFetch {
    /// The response.
    pub response: proto::FetchResponse,
    /// Room its records hold in the in-flight budget, kept until it is sent.
    pub reservation: Option<FetchReservation>,
    /// Some partition's read stopped short of the high watermark (byte limits, or object
    /// storage): the reader is behind, not at the tail.
    pub catching_up: bool,
}

/// Room held by one fetch response until it is dropped.
pub struct FetchReservation {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl FetchBudget {
    /// A budget of `limit` bytes (None when 0: no limit).
    pub fn new(limit: u64) -> Option<Self> {
        // Semaphore permits are counted in u32 by acquire_many.
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        (limit > 0).then(|| Self {
            room: Arc::new(tokio::sync::Semaphore::new(limit as usize)),
            limit,
            peak: Default::default(),
        })
    }

    /// Waits for room for `bytes` (at most the whole budget, so an oversized fetch runs
    /// alone rather than never).
    pub async fn reserve(&self, bytes: u64) -> FetchReservation {
        let n = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.limit);
        let permit = self
            .room
            .clone()
            .acquire_many_owned(n)
            .await
            // The semaphore lives as long as the broker and is never closed.
            .unwrap_or_else(|_| unreachable!("the fetch budget is never closed"));
        let used = u64::from(self.limit) - self.room.available_permits() as u64;
        self.peak
            .fetch_max(used, std::sync::atomic::Ordering::Relaxed);
        FetchReservation { _permit: permit }
    }

    /// Bytes reserved now.
    pub fn in_flight(&self) -> u64 {
        u64::from(self.limit) - self.room.available_permits() as u64
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}
