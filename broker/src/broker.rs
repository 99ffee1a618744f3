//! The broker: resolves partitions from the controller's metadata and serves Produce, Fetch,
//! ListOffsets, Metadata and Health. Requests arrive already decoded from `server`; this module
//! maps every failure to one protocol error code.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::join_all;
use parking_lot::{Mutex, RwLock};
use rustmq_controller::Controller;
use rustmq_controller::api::{
    BrokerView, ComponentHealth, GroupMemberView, GroupOffsetView, GroupView, StorageView,
    TopicPartitionView,
};
use rustmq_controller::metadata::{ClusterMetadata, TopicConfig, validate_topic_name};
use rustmq_protocol::batch::{self, BatchError};
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::{decode_batches, now_ms};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use rustmq_controller::catalog::PartitionKey;

use crate::config::BrokerConfig;
use crate::groups::GroupCoordinator;
use crate::partition::{
    AckNeed, AckState, BatchSource, PartitionError, PartitionLog, ReplicaSettings, RoleChange,
    UploadBacklog, WriteCache, retention_start,
};
use crate::replication::Lease;
use crate::tier::{Tier, TierError, UploadSource};
use crate::wal::{Wal, WalError, WalOptions};

/// Most a fetch long-poll waits, whatever the client asks.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);
/// Fetch response size when the client sets none.
const DEFAULT_FETCH_MAX_BYTES: u64 = 50 * 1024 * 1024;

/// Errors starting the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// WAL recovery or start failed.
    #[error("wal: {0}")]
    Wal(#[from] WalError),
    /// Object storage cannot be set up.
    #[error(transparent)]
    Tier(#[from] TierError),
}

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

struct TopicLogs {
    id: u64,
    config: TopicConfig,
    partitions: Vec<Option<Arc<PartitionLog>>>,
}

/// Replication figures of one broker.
#[derive(Debug, Clone, Default)]
pub struct ReplicationSummary {
    /// Partitions led.
    pub led: usize,
    /// Led partitions with an ISR smaller than the replica set.
    pub under_replicated: usize,
    /// Largest follower lag (offsets) over the led partitions.
    pub max_lag: i64,
    /// Partitions followed.
    pub followed: usize,
}

/// A running broker.
pub struct Broker {
    config: BrokerConfig,
    wal: Arc<Wal>,
    cache: Arc<WriteCache>,
    pub(crate) controller: Arc<Controller>,
    topics: RwLock<HashMap<String, Arc<TopicLogs>>>,
    tier: Arc<Tier>,
    backlog: Arc<UploadBacklog>,
    /// WAL bytes when the last produce was refused with WAL_FULL (0: accepting). Health
    /// reports refusing until the WAL shrinks below this (uploads freed segments) or a
    /// produce passes, so a readiness probe cannot keep a drained broker out of service.
    wal_full_at: std::sync::atomic::AtomicU64,
    started: Instant,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    groups: Arc<GroupCoordinator>,
    /// Hosted partitions by (topic id, partition), for broker-to-broker requests.
    pub(crate) by_id: RwLock<HashMap<(u64, u32), Arc<PartitionLog>>>,
    /// Whether this broker may act as a leader (fresh heartbeat to the controllers).
    pub(crate) lease: Arc<Lease>,
    /// One replica fetcher per leader this broker follows partitions of.
    pub(crate) fetchers: Mutex<HashMap<u32, JoinHandle<()>>>,
    /// Followers that caught up and may join a partition's ISR.
    pub(crate) isr_joining: Mutex<HashMap<(u64, u32), Vec<u32>>>,
}

impl Broker {
    /// Recovers the WAL against the controller's topics and starts the background tasks
    /// (metadata watcher, retention).
    pub async fn start(
        config: BrokerConfig,
        controller: Arc<Controller>,
    ) -> Result<Arc<Self>, BrokerError> {
        let wal_dir = config.wal_dir();
        let tier = Tier::new(&config, controller.clone())?;
        let cache = WriteCache::new(config.cache.write_cache_size_bytes);
        let backlog = UploadBacklog::new(config.wal.upload_bytes);
        let md = controller.metadata();
        let settings = Self::replica_settings(&config);
        let mut topics = HashMap::new();
        for t in md.topics.values() {
            topics.insert(
                t.name.clone(),
                Arc::new(Self::topic_logs(t, None, settings, &md, &cache, &backlog)),
            );
        }
        let by_id: HashMap<(u64, u32), Arc<PartitionLog>> = topics
            .values()
            .flat_map(|t: &Arc<TopicLogs>| t.partitions.iter().flatten().cloned())
            .map(|p| ((p.topic_id, p.partition), p))
            .collect();
        let opts = WalOptions {
            dir: wal_dir,
            fsync_on_write: config.wal.fsync_on_write,
            segment_size_bytes: config.wal.segment_size_bytes,
            max_group_bytes: config.wal.buffer_size,
            flush_interval: Duration::from_millis(config.wal.flush_interval_ms),
            max_entry_bytes: config.network.max_frame_bytes + 1024,
            recycle_segments: config.wal.recycle_segments,
        };
        let started_recovery = Instant::now();
        // Recovery reads every segment: blocking file I/O, off the async workers.
        let partitions = by_id.clone();
        let (recovered, recovered_entries) = tokio::task::spawn_blocking(move || {
            let mut entries = 0u64;
            let recovered = Wal::recover(opts, |e| {
                if e.batch.len() < batch::BATCH_HEADER_LEN {
                    return;
                }
                if let Some(p) = partitions.get(&(e.topic_id, e.partition)) {
                    entries += 1;
                    p.recover(&e.batch, e.location);
                }
            });
            recovered.map(|r| (r, entries))
        })
        .await
        .map_err(|e| WalError::Io(format!("wal recovery task failed: {e}")))??;
        let mut live: HashMap<u64, u64> = HashMap::new();
        for p in by_id.values() {
            for l in p.locations() {
                *live.entry(l.segment).or_default() += 1;
            }
        }
        tracing::info!(
            entries = recovered_entries,
            truncated_bytes = recovered.truncated_bytes,
            elapsed_ms = started_recovery.elapsed().as_millis() as u64,
            "wal recovered"
        );
        let wal = Arc::new(recovered.start(live)?);
        let (stop, _) = watch::channel(false);
        let groups = GroupCoordinator::new(
            controller.clone(),
            config.broker.id,
            Duration::from_millis(config.groups.initial_rebalance_delay_ms),
        );
        let lease = if config.controller.endpoints.is_empty() {
            Lease::always()
        } else {
            Lease::new(Duration::from_millis(config.replication.leader_lease_ms))
        };
        let broker = Arc::new(Self {
            by_id: RwLock::new(by_id),
            lease,
            fetchers: Mutex::new(HashMap::new()),
            isr_joining: Mutex::new(HashMap::new()),
            groups,
            config,
            wal,
            cache,
            controller,
            topics: RwLock::new(topics),
            tier,
            backlog,
            wal_full_at: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
            stop,
            tasks: Mutex::new(Vec::new()),
        });
        let watcher = tokio::spawn(Self::watch_metadata(broker.clone()));
        let retention = tokio::spawn(Self::retention_loop(broker.clone()));
        let src: Arc<dyn UploadSource> = broker.clone();
        let uploader = tokio::spawn(
            broker
                .tier
                .clone()
                .run_uploader(src, broker.stop.subscribe()),
        );
        let maintenance =
            tokio::spawn(broker.tier.clone().run_maintenance(broker.stop.subscribe()));
        let sessions = tokio::spawn(
            broker
                .groups
                .clone()
                .run(Duration::from_millis(50), broker.stop.subscribe()),
        );
        let isr = tokio::spawn(broker.clone().run_isr_maintenance());
        broker
            .tasks
            .lock()
            .extend([watcher, retention, sessions, uploader, maintenance, isr]);
        let service: Arc<dyn rustmq_controller::ReplicaService> = broker.clone();
        broker.controller.set_replica_service(&service);
        Ok(broker)
    }

    fn replica_settings(config: &BrokerConfig) -> ReplicaSettings {
        ReplicaSettings {
            broker_id: config.broker.id,
            max_lag: Duration::from_millis(config.replication.max_replication_lag),
            fetch_timeout: Duration::from_millis(config.replication.heartbeat_timeout_ms),
        }
    }

    /// The leader lease (renewed by the heartbeat task of a clustered broker).
    pub fn lease(&self) -> &Arc<Lease> {
        &self.lease
    }

    /// A topic's partitions on this broker (reusing those of `existing`), new ones starting
    /// where the catalog says: its start offset (retention) and the end of what is already in
    /// object storage. Each one's role comes from its assignment.
    fn topic_logs(
        t: &rustmq_controller::metadata::Topic,
        existing: Option<&TopicLogs>,
        settings: ReplicaSettings,
        md: &ClusterMetadata,
        cache: &Arc<WriteCache>,
        backlog: &Arc<UploadBacklog>,
    ) -> TopicLogs {
        let me = settings.broker_id;
        TopicLogs {
            id: t.id,
            config: t.config.clone(),
            partitions: t
                .assignments
                .iter()
                .map(|a| {
                    if !a.replicas.contains(&me) {
                        return None;
                    }
                    if let Some(p) = existing
                        .and_then(|e| e.partitions.get(a.partition as usize))
                        .and_then(|p| p.clone())
                    {
                        return Some(p);
                    }
                    let pc = md.catalog.partition(PartitionKey {
                        topic_id: t.id,
                        partition: a.partition,
                    });
                    let p = PartitionLog::new(
                        t.name.clone(),
                        t.id,
                        a.partition,
                        pc.map(|p| p.start_offset).unwrap_or(0),
                        pc.map(|p| p.uploaded_end()).unwrap_or(0),
                        cache.clone(),
                        backlog.clone(),
                        settings,
                    );
                    p.set_assignment(
                        a.leader,
                        a.leader_epoch,
                        a.partition_epoch,
                        &a.replicas,
                        &a.isr,
                    );
                    Some(p)
                })
                .collect(),
        }
    }

    async fn watch_metadata(self: Arc<Self>) {
        let mut rx = self.controller.subscribe();
        let mut stop = self.stop.subscribe();
        loop {
            let md = rx.borrow_and_update().clone();
            self.apply_metadata(&md);
            self.reconcile_fetchers();
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }

    fn apply_metadata(&self, md: &ClusterMetadata) {
        let mut released = Vec::new();
        let settings = Self::replica_settings(&self.config);
        let me = settings.broker_id;
        {
            let mut topics = self.topics.write();
            topics.retain(|name, logs| {
                let keep = md.topics.get(name).is_some_and(|t| t.id == logs.id);
                if !keep {
                    tracing::info!(topic = %name, "topic deleted; dropping its partitions");
                    for p in logs.partitions.iter().flatten() {
                        released.extend(p.drop_all());
                    }
                }
                keep
            });
            for t in md.topics.values() {
                let existing = topics.get(&t.name).cloned();
                let hosted_now =
                    |a: &rustmq_controller::metadata::PartitionAssignment| a.replicas.contains(&me);
                let unchanged = existing.as_ref().is_some_and(|e| {
                    e.config == t.config
                        && e.partitions.len() == t.assignments.len()
                        && e.partitions
                            .iter()
                            .zip(&t.assignments)
                            .all(|(p, a)| p.is_some() == hosted_now(a))
                });
                if !unchanged {
                    if let Some(e) = &existing {
                        // Replicas moved off this broker (reassignment, drain).
                        for (p, a) in e.partitions.iter().zip(&t.assignments) {
                            if let Some(p) = p
                                && !hosted_now(a)
                            {
                                tracing::info!(topic = %t.name, partition = a.partition, "replica moved away; dropping it");
                                released.extend(p.drop_all());
                            }
                        }
                    }
                    let logs = Self::topic_logs(
                        t,
                        existing.as_deref(),
                        settings,
                        md,
                        &self.cache,
                        &self.backlog,
                    );
                    topics.insert(t.name.clone(), Arc::new(logs));
                }
                let Some(logs) = topics.get(&t.name) else {
                    continue;
                };
                for (p, a) in logs.partitions.iter().zip(&t.assignments) {
                    let Some(p) = p else { continue };
                    let change = p.set_assignment(
                        a.leader,
                        a.leader_epoch,
                        a.partition_epoch,
                        &a.replicas,
                        &a.isr,
                    );
                    if change != RoleChange::None {
                        tracing::info!(
                            topic = %t.name,
                            partition = a.partition,
                            leader = a.leader,
                            epoch = a.leader_epoch,
                            ?change,
                            "partition role changed"
                        );
                    }
                    // What any broker uploaded is no longer needed in this WAL (followers
                    // drop their copies at the same point as the leader).
                    if let Some(pc) = md.catalog.partition(PartitionKey {
                        topic_id: t.id,
                        partition: a.partition,
                    }) {
                        if pc.uploaded_end() > 0 {
                            released.extend(p.mark_uploaded(pc.uploaded_end() - 1));
                        }
                        if !p.is_leader() && pc.start_offset > p.bounds().0 {
                            released.extend(p.advance_start(pc.start_offset));
                        }
                    }
                }
            }
            let mut by_id = self.by_id.write();
            by_id.clear();
            for logs in topics.values() {
                for p in logs.partitions.iter().flatten() {
                    by_id.insert((p.topic_id, p.partition), p.clone());
                }
            }
        }
        for l in released {
            self.wal.release(l);
        }
    }

    async fn retention_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let every = Duration::from_millis(self.config.wal.retention_check_interval_ms.max(10));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            self.enforce_retention().await;
        }
    }

    /// Applies time and size retention to every partition now, over what is in object
    /// storage and what is only in the WAL: the catalog moves first, then the WAL segments
    /// no partition needs are deleted; unreferenced objects go after the grace period.
    /// Runs periodically; public for tests and operators.
    pub async fn enforce_retention(&self) {
        let now = now_ms();
        let topics: Vec<Arc<TopicLogs>> = self.topics.read().values().cloned().collect();
        for t in topics {
            let ms = t
                .config
                .retention_ms
                .unwrap_or(self.config.log.retention_ms);
            let bytes = t
                .config
                .retention_bytes
                .unwrap_or(self.config.log.retention_bytes);
            if ms < 0 && bytes < 0 {
                continue;
            }
            for p in t.partitions.iter().flatten() {
                let key = PartitionKey {
                    topic_id: p.topic_id,
                    partition: p.partition,
                };
                let mut items = self.tier.retention_items(key);
                items.extend(p.retention_items());
                let Some(start) = retention_start(&items, now, ms, bytes) else {
                    continue;
                };
                if start <= p.bounds().0 {
                    continue;
                }
                if let Err(e) = self.tier.trim(key, start).await {
                    tracing::warn!(error = %e, partition = %key, "retention: catalog trim failed");
                    continue;
                }
                for l in p.advance_start(start) {
                    self.wal.release(l);
                }
            }
        }
    }

    fn partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(Arc<TopicLogs>, Arc<PartitionLog>), ErrorCode> {
        let topics = self.topics.read();
        let Some(t) = topics.get(topic) else {
            return Err(if validate_topic_name(topic).is_err() {
                ErrorCode::InvalidTopic
            } else {
                ErrorCode::UnknownTopic
            });
        };
        match t.partitions.get(partition as usize) {
            Some(Some(p)) => Ok((t.clone(), p.clone())),
            Some(None) => Err(ErrorCode::NotLeader),
            None => Err(ErrorCode::UnknownPartition),
        }
    }

    /// A partition this broker leads (consumers read from leaders only).
    fn led_partition(&self, topic: &str, partition: u32) -> Result<Arc<PartitionLog>, ErrorCode> {
        let (_, p) = self.partition(topic, partition)?;
        if p.is_leader() {
            Ok(p)
        } else {
            Err(ErrorCode::NotLeader)
        }
    }

    /// Appends every partition's batches of a produce request.
    pub async fn produce(&self, req: proto::ProduceRequest) -> proto::ProduceResponse {
        let Ok(acks) = proto::Acks::try_from(req.acks) else {
            // An acks level this broker does not know: refusing it beats guessing a weaker one.
            let why = format!("unknown acks value {}", req.acks);
            return refuse_produce(req, ErrorCode::InvalidRequest, &why);
        };
        // 0 is proto3's unset value: the broker's default, not "time out at once" (which
        // would answer REQUEST_TIMED_OUT for a batch that is then written, and a retry would
        // duplicate it).
        let default = Duration::from_millis(self.config.replication.ack_timeout_ms.max(1));
        let timeout = match req.timeout_ms {
            0 => default,
            ms => Duration::from_millis(u64::from(ms.min(300_000))).min(default),
        };
        let custom = req.acks_replicas;
        let topics = req.topics.into_iter().map(|t| async move {
            let name = t.topic.clone();
            let parts = t
                .partitions
                .into_iter()
                .map(|p| self.produce_partition(&name, p, (acks, custom), timeout));
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
        (acks, custom): (proto::Acks, u32),
        timeout: Duration,
    ) -> proto::PartitionProduceResponse {
        let mut resp = proto::PartitionProduceResponse {
            partition: data.partition,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            ..Default::default()
        };
        let fail = |mut r: proto::PartitionProduceResponse, code: ErrorCode, msg: String| {
            r.error_code = code as i32;
            r.error_message = msg;
            r
        };
        let (t, p) = match self.partition(topic, data.partition) {
            Ok(x) => x,
            Err(code) => {
                return fail(resp, code, format!("{topic}/{}: {code:?}", data.partition));
            }
        };
        if !p.is_leader() {
            return fail(
                resp,
                ErrorCode::NotLeader,
                format!(
                    "broker {} does not lead {topic}/{} (epoch {})",
                    self.config.broker.id,
                    data.partition,
                    p.leader_epoch()
                ),
            );
        }
        if !self.lease.valid() {
            return fail(
                resp,
                ErrorCode::NotLeader,
                "this broker cannot reach the controllers (leader lease expired); it may have \
                 been replaced as leader"
                    .into(),
            );
        }
        let replicas = p.replication_view().replicas.len().max(1);
        let need = match acks {
            proto::Acks::NoneAck | proto::Acks::Leader => AckNeed::Leader,
            proto::Acks::All => AckNeed::All,
            proto::Acks::Majority => AckNeed::Replicas(replicas / 2 + 1),
            proto::Acks::Custom => {
                let n = custom as usize;
                if n == 0 || n > replicas {
                    return fail(
                        resp,
                        ErrorCode::InvalidRequest,
                        format!(
                            "acks=custom({n}) on {topic}/{}: must be between 1 and the replica count {replicas}",
                            data.partition
                        ),
                    );
                }
                AckNeed::Replicas(n)
            }
        };
        if need == AckNeed::All {
            let min = t
                .config
                .min_insync_replicas
                .unwrap_or(self.config.replication.min_in_sync_replicas)
                as usize;
            let isr = p.isr();
            if isr.len() < min {
                return fail(
                    resp,
                    ErrorCode::NotEnoughReplicas,
                    format!(
                        "{topic}/{}: {} in-sync replicas {isr:?}, min.insync.replicas is {min}",
                        data.partition,
                        isr.len()
                    ),
                );
            }
        }
        let max = t
            .config
            .max_message_bytes
            .unwrap_or(self.config.log.max_message_bytes) as usize;
        // Uploads are behind (object store down or slow): refuse before the disk fills.
        let wal_used = self.wal.disk_bytes() + data.records.len() as u64;
        let full = wal_used > self.config.wal.capacity_bytes;
        self.wal_full_at.store(
            if full {
                self.wal.disk_bytes().max(1)
            } else {
                0
            },
            std::sync::atomic::Ordering::Relaxed,
        );
        if full {
            return fail(
                resp,
                ErrorCode::WalFull,
                format!(
                    "wal is at capacity ({} of {} bytes) while {} bytes wait for upload; retry later",
                    self.wal.disk_bytes(),
                    self.config.wal.capacity_bytes,
                    self.backlog.bytes()
                ),
            );
        }
        let infos = match batch::validate(&data.records, max) {
            Ok(i) => i,
            Err(e @ BatchError::TooLarge { .. }) => {
                return fail(resp, ErrorCode::MessageTooLarge, e.to_string());
            }
            Err(e) => return fail(resp, ErrorCode::CorruptMessage, e.to_string()),
        };
        let appended = match p.append(&self.wal, &data.records, &infos) {
            Ok(x) => x,
            Err(e @ PartitionError::NotLeader { .. }) => {
                return fail(resp, ErrorCode::NotLeader, e.to_string());
            }
            Err(e @ PartitionError::OutOfOrderSequence(_)) => {
                return fail(resp, ErrorCode::OutOfOrderSequence, e.to_string());
            }
            Err(e) => return fail(resp, ErrorCode::StorageError, e.to_string()),
        };
        resp.base_offset = appended.base;
        resp.log_start_offset = p.bounds().0;
        if acks == proto::Acks::NoneAck {
            return resp;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        if let Some(done) = appended.durable {
            match tokio::time::timeout_at(deadline, done).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return fail(resp, ErrorCode::StorageError, e.to_string()),
                Ok(Err(_)) => {
                    return fail(resp, ErrorCode::StorageError, "wal writer stopped".into());
                }
                Err(_) => {
                    return fail(
                        resp,
                        ErrorCode::RequestTimedOut,
                        format!("not durable within {timeout:?}"),
                    );
                }
            }
        }
        loop {
            let notified = p.appended().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match p.ack_state(appended.last, appended.epoch, need) {
                AckState::Done => break,
                AckState::Lost(why) => return fail(resp, ErrorCode::NotLeader, why),
                AckState::Waiting => {}
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return fail(
                        resp,
                        ErrorCode::RequestTimedOut,
                        format!("not replicated to {need:?} within {timeout:?} (ISR {:?})", p.isr()),
                    );
                }
            }
        }
        // Acknowledge only as a leader the controllers still know to be alive.
        if !self.lease.valid() {
            return fail(
                resp,
                ErrorCode::NotLeader,
                "leader lease expired before the acknowledgement; the batch may or may not \
                 survive a leader change"
                    .into(),
            );
        }
        resp
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

    /// Long-poll fetch: answers as soon as `min_bytes` are available or `max_wait_ms` passed.
    pub async fn fetch(&self, req: proto::FetchRequest) -> proto::FetchResponse {
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
                return self.materialize(&targets, plans).await;
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
                        Ok(b) => pr.records = b,
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

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
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

    /// Replication figures over the hosted partitions.
    pub fn replication_summary(&self) -> ReplicationSummary {
        let mut out = ReplicationSummary::default();
        for p in self.by_id.read().values() {
            let v = p.replication_view();
            if v.leader {
                out.led += 1;
                if v.isr.len() < v.replicas.len() {
                    out.under_replicated += 1;
                }
                out.max_lag = out.max_lag.max(v.max_lag);
            } else {
                out.followed += 1;
            }
        }
        out
    }

    /// Partitions this broker leads right now.
    pub fn led_partition_count(&self) -> usize {
        self.by_id.read().values().filter(|p| p.is_leader()).count()
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

    /// Brokers and partition leaders.
    pub fn metadata(&self, req: proto::MetadataRequest) -> proto::MetadataResponse {
        let md = self.controller.metadata();
        let brokers = md
            .brokers
            .values()
            .map(|b| proto::BrokerInfo {
                id: b.id,
                host: b.host.clone(),
                port: u32::from(b.port_quic),
                rack: b.rack_id.clone(),
            })
            .collect();
        let names: Vec<String> = if req.topics.is_empty() {
            md.topics.keys().cloned().collect()
        } else {
            req.topics
        };
        let topics = names
            .into_iter()
            .map(|name| match md.topics.get(&name) {
                None => proto::TopicMetadata {
                    error_code: if validate_topic_name(&name).is_err() {
                        ErrorCode::InvalidTopic
                    } else {
                        ErrorCode::UnknownTopic
                    } as i32,
                    name,
                    partitions: vec![],
                },
                Some(t) => proto::TopicMetadata {
                    name,
                    error_code: ErrorCode::None as i32,
                    partitions: t
                        .assignments
                        .iter()
                        .map(|a| proto::PartitionMetadata {
                            partition: a.partition,
                            error_code: ErrorCode::None as i32,
                            leader_id: a.leader,
                            leader_epoch: a.leader_epoch,
                            replicas: a.replicas.clone(),
                            isr: a.isr.clone(),
                        })
                        .collect(),
                },
            })
            .collect();
        proto::MetadataResponse {
            brokers,
            topics,
            cluster_id: md.cluster_id.clone(),
        }
    }

    /// Health over QUIC.
    pub fn health(&self) -> proto::HealthResponse {
        let components: Vec<proto::ComponentHealth> = self
            .components()
            .into_iter()
            .map(|c| proto::ComponentHealth {
                name: c.name,
                healthy: c.healthy,
                detail: c.detail,
            })
            .collect();
        proto::HealthResponse {
            healthy: components.iter().all(|c| c.healthy),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.started.elapsed().as_secs(),
            broker_id: self.config.broker.id,
            components,
        }
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The WAL (for tests and metrics).
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// The tier (object storage, read cache, counters).
    pub fn tier(&self) -> &Arc<Tier> {
        &self.tier
    }

    /// Bytes durable in the WAL but not yet in object storage.
    pub fn upload_backlog(&self) -> u64 {
        self.backlog.bytes()
    }

    /// Age of the oldest batch waiting for upload.
    pub fn upload_lag(&self) -> Option<Duration> {
        self.all_partitions()
            .iter()
            .filter_map(|p| p.oldest_unuploaded())
            .min()
            .map(|t| t.elapsed())
    }

    fn all_partitions(&self) -> Vec<Arc<PartitionLog>> {
        self.topics
            .read()
            .values()
            .flat_map(|t| t.partitions.iter().flatten().cloned())
            .collect()
    }

    /// Uploads everything waiting now (one or more objects). For tests and operators.
    pub async fn upload_now(&self) -> Result<u64, TierError> {
        let mut total = 0;
        loop {
            let n = self.tier.upload_once(self).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// `(log_start_offset, high_watermark)` of a partition.
    pub fn partition_bounds(&self, topic: &str, partition: u32) -> Option<(i64, i64)> {
        self.partition(topic, partition)
            .ok()
            .map(|(_, p)| p.bounds())
    }

    /// Stops background tasks and flushes the WAL.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> = self.tasks.lock().drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        self.wal.shutdown().await;
    }
}

impl Broker {
    /// A group as the admin API shows it, with lag against this broker's high watermarks.
    pub async fn group_view(&self, id: &str) -> Option<GroupView> {
        let d = self.groups.describe(id).await?;
        let mut offsets = Vec::new();
        for (topic, parts) in self.groups.committed(id) {
            for (partition, c) in parts {
                let hw = self
                    .partition_bounds(&topic, partition)
                    .map(|b| b.1)
                    .unwrap_or(-1);
                offsets.push(GroupOffsetView {
                    lag: if hw >= 0 { (hw - c.offset).max(0) } else { 0 },
                    topic: topic.clone(),
                    partition,
                    committed_offset: c.offset,
                    high_watermark: hw,
                });
            }
        }
        Some(GroupView {
            group_id: d.group_id,
            state: d.state.name().to_string(),
            generation: d.generation,
            assignor: d.assignor.map(str::to_string),
            leader: d.leader,
            members: d
                .members
                .into_iter()
                .map(|(member_id, group_instance_id, parts)| GroupMemberView {
                    member_id,
                    group_instance_id,
                    assignment: parts
                        .into_iter()
                        .map(|(topic, partition)| TopicPartitionView { topic, partition })
                        .collect(),
                })
                .collect(),
            total_lag: offsets.iter().map(|o| o.lag).sum(),
            offsets,
        })
    }
}

impl Broker {
    /// Tiered-storage figures for health, the admin API and metrics.
    pub fn storage_view(&self) -> StorageView {
        let ld = std::sync::atomic::Ordering::Relaxed;
        let t = self.tier.stats();
        let s = self.tier.store_stats();
        let (objects, object_bytes) = self.tier.object_count();
        let (hits, misses) = (t.cache_hits.load(ld), t.cache_misses.load(ld));
        StorageView {
            storage_type: self.config.object_storage.storage_type.clone(),
            objects: objects as u64,
            object_bytes,
            upload_lag_bytes: self.backlog.bytes(),
            upload_lag_ms: self.upload_lag().map(|d| d.as_millis() as u64).unwrap_or(0),
            wal_bytes: self.wal.disk_bytes(),
            wal_capacity_bytes: self.config.wal.capacity_bytes,
            refusing_produces: {
                let at = self.wal_full_at.load(ld);
                at > 0 && self.wal.disk_bytes() >= at
            },
            uploads: t.uploads.load(ld),
            uploaded_bytes: t.uploaded_bytes.load(ld),
            upload_failures: t.upload_failures.load(ld),
            puts: s.puts.load(ld),
            gets: s.gets.load(ld),
            deletes: s.deletes.load(ld),
            cache_hits: hits,
            cache_misses: misses,
            cache_hit_ratio: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            read_cache_bytes: self.tier.cache_bytes(),
            compacted_objects: t.compacted_objects.load(ld),
            objects_deleted: t.objects_deleted.load(ld),
            orphans_deleted: t.orphans_deleted.load(ld),
            last_error: self.tier.last_error(),
        }
    }
}

impl UploadSource for Broker {
    fn led_partitions(&self) -> Vec<Arc<PartitionLog>> {
        // Only leaders upload; followers drop their copies when the catalog has them.
        self.all_partitions()
            .into_iter()
            .filter(|p| p.is_leader())
            .collect()
    }

    fn wal(&self) -> &Wal {
        &self.wal
    }

    fn backlog(&self) -> &UploadBacklog {
        &self.backlog
    }
}

impl BrokerView for Broker {
    fn groups(&self) -> futures::future::BoxFuture<'_, Vec<GroupView>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for d in self.groups.list().await {
                if let Some(v) = self.group_view(&d.group_id).await {
                    out.push(v);
                }
            }
            out
        })
    }

    fn group(&self, id: String) -> futures::future::BoxFuture<'_, Option<GroupView>> {
        Box::pin(async move { self.group_view(&id).await })
    }

    fn components(&self) -> Vec<ComponentHealth> {
        let s = self.wal.stats();
        let ld = std::sync::atomic::Ordering::Relaxed;
        let damage = match self.wal.damage() {
            [] => String::new(),
            d => format!(
                "; recovery found {} damaged runs of acknowledged entries ({} bytes), first in \
                 segment {} at byte {}: {}",
                d.len(),
                d.iter().map(|d| d.bytes).sum::<u64>(),
                d[0].segment,
                d[0].offset,
                d[0].why
            ),
        };
        let failed = self.wal.failed().borrow().clone();
        let wal = match (failed, self.wal.last_error()) {
            (Some(why), _) => ComponentHealth {
                name: "wal".into(),
                healthy: false,
                detail: format!("stopped: {why}; restart the broker{damage}"),
            },
            (None, None) => ComponentHealth {
                name: "wal".into(),
                healthy: true,
                detail: format!(
                    "{} segments ({} spare), {} entries / {} bytes written in {} group commits, {} fsyncs",
                    self.wal.segment_count(),
                    self.wal.spare_count(),
                    s.entries.load(ld),
                    s.bytes.load(ld),
                    s.groups.load(ld),
                    s.syncs.load(ld)
                ) + &damage,
            },
            (None, Some(e)) => ComponentHealth {
                name: "wal".into(),
                healthy: false,
                detail: format!("last write failed: {e}{damage}"),
            },
        };
        let cache = ComponentHealth {
            name: "write_cache".into(),
            healthy: true,
            detail: format!(
                "{} of {} bytes used",
                self.cache.used(),
                self.config.cache.write_cache_size_bytes
            ),
        };
        let v = self.storage_view();
        let storage = ComponentHealth {
            name: "object_storage".into(),
            // Failing uploads alone leave the broker serving (the WAL absorbs them); it stops
            // accepting writes only at capacity.
            healthy: !v.refusing_produces,
            detail: format!(
                "{}: {} objects ({} bytes); upload lag {} bytes, oldest {} ms; {} uploads, {} \
                 failures; {} PUTs, {} GETs; read cache hit ratio {:.2}{}",
                v.storage_type,
                v.objects,
                v.object_bytes,
                v.upload_lag_bytes,
                v.upload_lag_ms,
                v.uploads,
                v.upload_failures,
                v.puts,
                v.gets,
                v.cache_hit_ratio,
                v.last_error
                    .as_ref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ),
        };
        let r = self.replication_summary();
        let replication = ComponentHealth {
            name: "replication".into(),
            // Under-replicated partitions are a warning, not a reason to take the broker out
            // of service: it still serves them.
            healthy: self.lease.valid(),
            detail: format!(
                "leads {} partitions ({} under-replicated, largest follower lag {} offsets), \
                 follows {}; {} leader elections in the cluster{}",
                r.led,
                r.under_replicated,
                r.max_lag,
                r.followed,
                self.controller.metadata().leader_elections,
                if self.lease.valid() {
                    ""
                } else {
                    "; leader lease expired (controllers unreachable): refusing produces"
                }
            ),
        };
        vec![wal, cache, storage, replication]
    }

    fn metrics(&self, r: &mut prometheus_client::registry::Registry) {
        use rustmq_controller::api::{counter, gauge};
        let ld = std::sync::atomic::Ordering::Relaxed;
        let w = self.wal.stats();
        gauge(
            r,
            "wal_bytes",
            "WAL bytes on disk",
            self.wal.disk_bytes() as i64,
        );
        gauge(
            r,
            "wal_capacity_bytes",
            "wal.capacity_bytes",
            self.config.wal.capacity_bytes as i64,
        );
        gauge(
            r,
            "wal_segments",
            "WAL segment files",
            self.wal.segment_count() as i64,
        );
        gauge(
            r,
            "wal_spare_segments",
            "WAL segment files kept to be written over",
            self.wal.spare_count() as i64,
        );
        counter(
            r,
            "wal_segments_recycled",
            "WAL segments kept as spares instead of deleted",
            w.segments_recycled.load(ld),
        );
        counter(
            r,
            "wal_group_commits",
            "WAL group commits",
            w.groups.load(ld),
        );
        counter(r, "wal_fsyncs", "WAL fdatasync calls", w.syncs.load(ld));
        counter(
            r,
            "wal_write_errors",
            "Failed WAL writes",
            w.write_errors.load(ld),
        );
        counter(
            r,
            "wal_fsync_failures",
            "WAL fdatasync calls that failed",
            w.sync_failures.load(ld),
        );
        counter(
            r,
            "wal_segments_abandoned",
            "WAL segments given up after a failed write or fdatasync",
            w.segments_abandoned.load(ld),
        );
        gauge(
            r,
            "wal_stopped",
            "1 once the WAL stopped after an fdatasync failure (restart required)",
            i64::from(self.wal.failed().borrow().is_some()),
        );
        counter(
            r,
            "wal_damaged_entries",
            "Damaged runs of acknowledged WAL entries found by recovery at start",
            w.damaged_entries.load(ld),
        );
        gauge(
            r,
            "write_cache_bytes",
            "Bytes in the write cache",
            self.cache.used() as i64,
        );
        let v = self.storage_view();
        gauge(
            r,
            "upload_lag_bytes",
            "Durable bytes not yet in object storage",
            v.upload_lag_bytes as i64,
        );
        gauge(
            r,
            "upload_lag_ms",
            "Age of the oldest unuploaded batch",
            v.upload_lag_ms as i64,
        );
        gauge(
            r,
            "produce_refused_wal_full",
            "1 while produces get WAL_FULL",
            i64::from(v.refusing_produces),
        );
        let rs = self.replication_summary();
        gauge(
            r,
            "leader_partitions",
            "Partitions this broker leads",
            rs.led as i64,
        );
        gauge(
            r,
            "under_replicated_partitions",
            "Led partitions whose ISR is smaller than their replica set",
            rs.under_replicated as i64,
        );
        gauge(
            r,
            "replication_max_lag",
            "Largest lag of a follower behind this broker's log end, in offsets",
            rs.max_lag,
        );
        counter(
            r,
            "leader_elections",
            "Leader-epoch changes in the cluster",
            self.controller.metadata().leader_elections,
        );
        counter(r, "uploads", "Objects uploaded and registered", v.uploads);
        counter(
            r,
            "uploaded_bytes",
            "Batch bytes uploaded",
            v.uploaded_bytes,
        );
        counter(
            r,
            "upload_failures",
            "Failed upload attempts",
            v.upload_failures,
        );
        counter(r, "object_store_puts", "PUT requests", v.puts);
        counter(r, "object_store_gets", "GET requests", v.gets);
        counter(r, "object_store_deletes", "DELETE requests", v.deletes);
        counter(r, "read_cache_hits", "Read-cache chunk hits", v.cache_hits);
        counter(
            r,
            "read_cache_misses",
            "Read-cache chunk misses (GETs)",
            v.cache_misses,
        );
        gauge(
            r,
            "read_cache_bytes",
            "Bytes in the read cache",
            v.read_cache_bytes as i64,
        );
        counter(
            r,
            "compacted_objects",
            "Objects written by compaction",
            v.compacted_objects,
        );
        counter(
            r,
            "objects_deleted",
            "Unreferenced objects deleted",
            v.objects_deleted,
        );
        counter(
            r,
            "orphans_deleted",
            "Orphaned objects deleted",
            v.orphans_deleted,
        );
    }

    fn storage(&self) -> Option<StorageView> {
        Some(self.storage_view())
    }
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
