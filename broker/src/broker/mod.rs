//! The broker: resolves partitions from the controller's metadata and serves Produce, Fetch,
//! ListOffsets, Metadata and Health. Requests arrive already decoded from `server`; this module
//! maps every failure to one protocol error code.
//!
//! One file per concern: this one holds the broker's state, start and stop;
//! [`topology`] watches and applies the controller's metadata (and answers Metadata);
//! [`produce`] admits and appends produce requests and waits for their acknowledgement;
//! [`fetch`] serves Fetch and ListOffsets; [`retention`] trims logs; [`views`] builds health,
//! metrics and the admin API's views; [`replication`] is the leader and follower side of
//! replica fetching; [`reconfigure`] applies a changed `broker.toml`'s runtime keys.

mod etl;
mod fetch;
mod load;
pub mod metrics;
mod produce;
mod reconfigure;
pub mod replication;
mod retention;
mod runtime_probe;
mod topology;
mod views;

pub use fetch::{FetchBudget, FetchReservation, ServedFetch};
pub use reconfigure::ReloadStats;
pub use views::ReplicationSummary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use crate::lease::Lease;
use crate::partition::{
    AckNeed, AckState, BatchSource, PartitionError, PartitionLog, ReplicaSettings, RoleChange,
    UploadBacklog, WriteCache, retention_start,
};
use crate::task_time::{TaskKind::Periodic, timed};
use crate::tier::{Tier, TierError, UploadSource};
use crate::wal::{Wal, WalError, WalOptions};

/// Errors starting the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// WAL recovery or start failed.
    #[error("wal: {0}")]
    Wal(#[from] WalError),
    /// Object storage cannot be set up.
    #[error(transparent)]
    Tier(#[from] TierError),
    /// The WebAssembly runtime cannot be set up (`[etl]`).
    #[error("etl: {0}")]
    Etl(#[from] rustmq_etl::runtime::LoadError),
}

/// Why a produce to one partition was refused: its code and the message for the producer
/// (admission, the ETL step and the acknowledgement all answer with one).
pub(crate) type Refusal = (ErrorCode, String);

struct TopicLogs {
    id: u64,
    config: TopicConfig,
    partitions: Vec<Option<Arc<PartitionLog>>>,
}

/// A running broker.
pub struct Broker {
    /// Swapped whole when the file's runtime keys change (see [`Broker::reconfigure`]).
    config: RwLock<Arc<BrokerConfig>>,
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
    /// Latencies and per-topic counters the request path updates.
    pub(crate) metrics: metrics::BrokerMetrics,
    /// Room for fetch responses in flight (`network.max_in_flight_fetch_bytes`).
    pub(crate) fetch_budget: Option<fetch::FetchBudget>,
    /// The previous load sample (rates in heartbeats are differences to it).
    load_sampler: Mutex<load::LoadSampler>,
    /// What reading a changed `broker.toml` did.
    reloads: ReloadStats,
    /// WebAssembly ETL (`[etl] enabled`).
    pub(crate) etl: Option<Arc<crate::etl::Etl>>,
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
            io_backend: config.wal.io_backend,
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
        let etl = match config.etl.enabled {
            true => {
                let e = crate::etl::Etl::new(&config.etl)?;
                // The modules deployed already are in force before the first produce.
                let (engine, state) = (e.clone(), controller.metadata().etl.clone());
                tokio::task::spawn_blocking(move || engine.apply(&state))
                    .await
                    .map_err(|e| {
                        rustmq_etl::runtime::LoadError::Invalid(format!("ETL compile task: {e}"))
                    })?;
                Some(e)
            }
            false => None,
        };
        let broker = Arc::new(Self {
            etl,
            by_id: RwLock::new(by_id),
            lease,
            fetchers: Mutex::new(HashMap::new()),
            isr_joining: Mutex::new(HashMap::new()),
            metrics: metrics::BrokerMetrics::default(),
            fetch_budget: fetch::FetchBudget::new(config.network.max_in_flight_fetch_bytes),
            load_sampler: Default::default(),
            reloads: ReloadStats::default(),
            groups,
            config: RwLock::new(Arc::new(config)),
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
        let watcher = tokio::spawn(timed(Periodic, Self::watch_metadata(broker.clone())));
        let retention = tokio::spawn(timed(Periodic, Self::retention_loop(broker.clone())));
        let src: Arc<dyn UploadSource> = broker.clone();
        // Off the request threads, at a lower priority (`object_storage.background_*`).
        let uploader = broker.tier.spawn_background(
            broker
                .tier
                .clone()
                .run_uploader(src, broker.stop.subscribe()),
        );
        let maintenance = broker
            .tier
            .spawn_background(broker.tier.clone().run_maintenance(broker.stop.subscribe()));
        let sessions = tokio::spawn(timed(
            Periodic,
            broker
                .groups
                .clone()
                .run(Duration::from_millis(50), broker.stop.subscribe()),
        ));
        let isr = tokio::spawn(timed(Periodic, broker.clone().run_isr_maintenance()));
        let probe = tokio::spawn(timed(Periodic, broker.clone().probe_runtime()));
        broker.tasks.lock().extend([
            watcher,
            retention,
            sessions,
            uploader,
            maintenance,
            isr,
            probe,
        ]);
        if let Some(etl) = &broker.etl {
            let follow = etl
                .clone()
                .follow(broker.controller.clone(), broker.stop.subscribe());
            broker
                .tasks
                .lock()
                .push(tokio::spawn(timed(Periodic, follow)));
        }
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

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// The configuration the broker runs with now: as started, with the runtime keys
    /// ([`crate::config::RUNTIME_KEYS`]) of the latest file read.
    pub fn config(&self) -> Arc<BrokerConfig> {
        self.config.read().clone()
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
