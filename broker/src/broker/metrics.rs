//! The broker's metrics: latency histograms and per-topic counters updated on the request
//! path and registered once at start, and the figures read from the components' own
//! counters at each scrape (WAL, caches, tiered storage, replication, consumer-group lag).

use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rustmq_protocol::{ApiKey, proto};
use rustmq_transport::metrics::{Latency, counter, gauge, latency_histogram};

use super::Broker;

/// Labels of the produce latency: the acknowledgement level asked for.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AcksLabels {
    /// `none`, `leader`, `majority`, `all` or `custom`.
    pub acks: &'static str,
}

/// Labels of request timings: the API (`produce`, `fetch`, ...).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The API's name.
    pub api: &'static str,
}

/// Labels of the produce stages: where a produce's time to acknowledgement went.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// `append` (its producer-sequence turn, the partition lock, queueing to the WAL),
    /// `durable` (queued to written and fsynced) or `replicated` (durable here to enough
    /// replicas).
    pub stage: &'static str,
}

/// The stages of a produce after admission, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceStage {
    /// Waiting for earlier sequence numbers, then stamping and queueing to the WAL.
    Append,
    /// Queued to the WAL until written and fsynced.
    Durable,
    /// Durable here until the acks level's replicas have it.
    Replicated,
}

impl ProduceStage {
    fn label(self) -> &'static str {
        match self {
            ProduceStage::Append => "append",
            ProduceStage::Durable => "durable",
            ProduceStage::Replicated => "replicated",
        }
    }
}

/// Labels of the runtime's stall time: what its worker thread was doing meanwhile.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerStateLabels {
    /// `running` (polling tasks or driving I/O), `waiting` (ready, but the CPU ran other
    /// threads or the cgroup was throttled) or `sleeping` (parked or blocked in a call).
    pub worker: &'static str,
}

/// Labels of the request runtime's poll time by task kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

/// Labels of the per-topic counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    /// Topic name.
    pub topic: String,
}

/// Labels of consumer-group lag.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    group: String,
    topic: String,
    partition: u32,
}

type Latencies = Family<AcksLabels, Histogram, fn() -> Histogram>;
type ApiLatencies = Family<ApiLabels, Histogram, fn() -> Histogram>;
type StageLatencies = Family<StageLabels, Histogram, fn() -> Histogram>;

/// What the request path updates. Clones of the families share their data with the
/// registry, so registering them once is enough.
#[derive(Debug)]
pub struct BrokerMetrics {
    produce: Latencies,
    /// The produce's stages (successful ones), so a slow acknowledgement says where it waited.
    produce_stage: StageLatencies,
    /// A request stream accepted to its body read (the request on the wire, and the stream's
    /// task waiting for the runtime).
    request_read: ApiLatencies,
    /// A request stream accepted to its response handed to QUIC.
    request: ApiLatencies,
    /// How late the request runtime polled a task that was due (see `runtime_probe`).
    pub runtime_poll_delay: Latency,
    /// Probe ticks late by a stall (see `runtime_probe`).
    pub runtime_stalls: Counter,
    /// The stalled intervals' time, by what the worker thread was doing.
    pub runtime_stall: Family<WorkerStateLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// Fetch request to response (long polls included).
    pub fetch: Latency,
    /// A follower's replica fetch that brought records: request to answer.
    pub replica_fetch: Latency,
    bytes_in: Family<TopicLabels, Counter>,
    messages_in: Family<TopicLabels, Counter>,
    bytes_out: Family<TopicLabels, Counter>,
    /// Bytes served over every topic (for the load report).
    pub(super) served_total: std::sync::atomic::AtomicU64,
    /// Record bytes this broker copied from leaders as a follower.
    pub replica_fetched_bytes: Counter,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self {
            produce: Family::new_with_constructor(latency_histogram),
            produce_stage: Family::new_with_constructor(latency_histogram),
            request_read: Family::new_with_constructor(latency_histogram),
            request: Family::new_with_constructor(latency_histogram),
            runtime_poll_delay: Latency::default(),
            runtime_stalls: Counter::default(),
            runtime_stall: Family::default(),
            fetch: Latency::default(),
            replica_fetch: Latency::default(),
            bytes_in: Family::default(),
            messages_in: Family::default(),
            bytes_out: Family::default(),
            served_total: Default::default(),
            replica_fetched_bytes: Counter::default(),
        }
    }
}

fn api_labels(api: ApiKey) -> ApiLabels {
    let name = api.span_name();
    ApiLabels {
        api: name.strip_prefix("rustmq.").unwrap_or(name),
    }
}

/// The label of an acks level.
fn acks_label(acks: proto::Acks) -> &'static str {
    match acks {
        proto::Acks::NoneAck => "none",
        proto::Acks::Leader => "leader",
        proto::Acks::Majority => "majority",
        proto::Acks::All => "all",
        proto::Acks::Custom => "custom",
    }
}

impl BrokerMetrics {
    /// A produce to one partition answered after `elapsed` (request to acknowledgement).
    pub fn produced(&self, acks: proto::Acks, elapsed: std::time::Duration) {
        self.produce
            .get_or_create(&AcksLabels {
                acks: acks_label(acks),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One produce stage that took `elapsed`.
    pub fn produce_stage(&self, stage: ProduceStage, elapsed: std::time::Duration) {
        self.produce_stage
            .get_or_create(&StageLabels {
                stage: stage.label(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A request of `api` whose body was read `elapsed` after its stream was accepted.
    pub fn request_read(&self, api: ApiKey, elapsed: std::time::Duration) {
        self.request_read
            .get_or_create(&api_labels(api))
            .observe(elapsed.as_secs_f64());
    }

    /// A request of `api` answered (response handed to QUIC) `elapsed` after its stream was
    /// accepted.
    pub fn request_answered(&self, api: ApiKey, elapsed: std::time::Duration) {
        self.request
            .get_or_create(&api_labels(api))
            .observe(elapsed.as_secs_f64());
    }

    /// Records appended to `topic`.
    pub fn appended(&self, topic: &str, bytes: u64, messages: u64) {
        let l = TopicLabels {
            topic: topic.to_string(),
        };
        self.bytes_in.get_or_create(&l).inc_by(bytes);
        self.messages_in.get_or_create(&l).inc_by(messages);
    }

    /// Record bytes served to consumers from `topic`.
    pub fn served(&self, topic: &str, bytes: u64) {
        if bytes > 0 {
            self.served_total
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            self.bytes_out
                .get_or_create(&TopicLabels {
                    topic: topic.to_string(),
                })
                .inc_by(bytes);
        }
    }

    /// Registers the families and histograms (once, at start).
    fn register(&self, r: &mut Registry) {
        r.register(
            "produce_seconds",
            "Produce to one partition: request to acknowledgement, by acks level",
            self.produce.clone(),
        );
        r.register(
            "produce_stage_seconds",
            "Produce to one partition, by stage: append (sequence turn and queueing to the WAL), durable (WAL write and fsync), replicated (to the acks level's replicas)",
            self.produce_stage.clone(),
        );
        r.register(
            "request_read_seconds",
            "A request stream accepted to its body read (on the wire, then waiting for the runtime), by API",
            self.request_read.clone(),
        );
        r.register(
            "request_seconds",
            "A request stream accepted to its response handed to QUIC, by API",
            self.request.clone(),
        );
        r.register(
            "runtime_poll_delay_seconds",
            "How late the request runtime polled a timer due every 10 ms: a stalled worker thread delays every request by this much",
            self.runtime_poll_delay.histogram(),
        );
        r.register(
            "runtime_stalls",
            "Times the runtime probe's timer ran 20 ms or more late",
            self.runtime_stalls.clone(),
        );
        r.register(
            "runtime_stall_seconds",
            "Time of the intervals that ended in a stall, by what the request runtime's worker thread did: running, waiting for the CPU, sleeping",
            self.runtime_stall.clone(),
        );
        r.register(
            "fetch_seconds",
            "Fetch request to response, long polls included",
            self.fetch.histogram(),
        );
        r.register(
            "replica_fetch_seconds",
            "A follower's replica fetch that brought records: request to answer",
            self.replica_fetch.histogram(),
        );
        r.register(
            "replica_fetched_bytes",
            "Record bytes copied from partition leaders as a follower (new replicas of a reassignment copy only the unuploaded tail)",
            self.replica_fetched_bytes.clone(),
        );
        r.register(
            "topic_bytes_in",
            "Record bytes appended, per topic",
            self.bytes_in.clone(),
        );
        r.register(
            "topic_messages_in",
            "Records appended, per topic",
            self.messages_in.clone(),
        );
        r.register(
            "topic_bytes_out",
            "Record bytes served to consumers, per topic",
            self.bytes_out.clone(),
        );
    }
}

/// Registers all of the broker's metrics, once: the request path's, the WAL's and tiered
/// storage's latencies, and the collector of scrape-time figures.
pub fn register(b: &Arc<Broker>, r: &mut Registry) {
    b.metrics.register(r);
    let wal = b.wal.stats();
    let latencies = [
        (
            "wal_group_commit_seconds",
            "Time to write one WAL group and make it durable",
            &wal.group_commit_latency,
        ),
        (
            "wal_fsync_seconds",
            "Time of one WAL fdatasync",
            &wal.fsync_latency,
        ),
        (
            "wal_queue_wait_seconds",
            "Time an append waited for the WAL writer: submitted to its group's write begun",
            &wal.queue_wait,
        ),
        (
            "upload_seconds",
            "Time to upload and register one object, retries included",
            &b.tier.stats().upload_latency,
        ),
    ];
    for (name, help, latency) in latencies {
        r.register(name, help, latency.histogram());
    }
    r.register_collector(Box::new(BrokerFigures(Arc::downgrade(b))));
}

/// Figures read from the broker's components at each scrape. Weak: the registry must not
/// keep a stopped broker alive.
pub struct BrokerFigures(pub Weak<Broker>);

impl std::fmt::Debug for BrokerFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerFigures")
    }
}

impl Collector for BrokerFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(b) = self.0.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        let ld = std::sync::atomic::Ordering::Relaxed;
        let w = b.wal.stats();
        gauge(
            e,
            "wal_bytes",
            "WAL bytes on disk",
            b.wal.disk_bytes() as i64,
        )?;
        gauge(
            e,
            "wal_queued_bytes",
            "Batch bytes waiting for the WAL writer",
            b.wal.queued_bytes() as i64,
        )?;
        gauge(
            e,
            "wal_capacity_bytes",
            "wal.capacity_bytes",
            b.config().wal.capacity_bytes as i64,
        )?;
        let reloads = b.reloads();
        counter(
            e,
            "config_reloads",
            "Times broker.toml was loaded again (its content changed, or SIGHUP)",
            reloads.loads.load(ld),
        )?;
        counter(
            e,
            "config_reloads_applied",
            "Reads of a changed broker.toml that applied runtime keys",
            reloads.applied.load(ld),
        )?;
        counter(
            e,
            "config_reloads_refused",
            "Reads of a changed broker.toml refused (nothing applied)",
            reloads.refused.load(ld),
        )?;
        gauge(
            e,
            "config_restart_pending_keys",
            "Keys changed in broker.toml that take effect only at the next restart",
            reloads.needs_restart.lock().len() as i64,
        )?;
        gauge(
            e,
            "wal_segments",
            "WAL segment files",
            b.wal.segment_count() as i64,
        )?;
        gauge(
            e,
            "wal_spare_segments",
            "WAL segment files kept to be written over",
            b.wal.spare_count() as i64,
        )?;
        counter(
            e,
            "wal_segments_recycled",
            "WAL segments kept as spares instead of deleted",
            w.segments_recycled.load(ld),
        )?;
        counter(
            e,
            "wal_group_commits",
            "WAL group commits",
            w.groups.load(ld),
        )?;
        counter(e, "wal_fsyncs", "WAL fdatasync calls", w.syncs.load(ld))?;
        counter(
            e,
            "wal_write_errors",
            "Failed WAL writes",
            w.write_errors.load(ld),
        )?;
        counter(
            e,
            "wal_fsync_failures",
            "WAL fdatasync calls that failed",
            w.sync_failures.load(ld),
        )?;
        counter(
            e,
            "wal_segments_abandoned",
            "WAL segments given up after a failed write or fdatasync",
            w.segments_abandoned.load(ld),
        )?;
        gauge(
            e,
            "wal_stopped",
            "1 once the WAL stopped after an fdatasync failure (restart required)",
            i64::from(b.wal.failed().borrow().is_some()),
        )?;
        counter(
            e,
            "wal_damaged_entries",
            "Damaged runs of acknowledged WAL entries found by recovery at start",
            w.damaged_entries.load(ld),
        )?;
        gauge(
            e,
            "write_cache_bytes",
            "Bytes in the write cache",
            b.cache.used() as i64,
        )?;
        let v = b.storage_view();
        gauge(
            e,
            "upload_lag_bytes",
            "Durable bytes not yet in object storage",
            v.upload_lag_bytes as i64,
        )?;
        gauge(
            e,
            "upload_lag_ms",
            "Age of the oldest unuploaded batch",
            v.upload_lag_ms as i64,
        )?;
        gauge(
            e,
            "produce_refused_wal_full",
            "1 while produces get WAL_FULL",
            i64::from(v.refusing_produces),
        )?;
        let rs = b.replication_summary();
        gauge(
            e,
            "leader_partitions",
            "Partitions this broker leads",
            rs.led as i64,
        )?;
        gauge(
            e,
            "under_replicated_partitions",
            "Led partitions whose ISR is smaller than their replica set",
            rs.under_replicated as i64,
        )?;
        gauge(
            e,
            "under_min_isr_partitions",
            "Led partitions whose ISR is smaller than min.insync.replicas (acks=all refused)",
            rs.under_min_isr as i64,
        )?;
        gauge(
            e,
            "replication_max_lag",
            "Largest lag of a follower behind this broker's log end, in offsets",
            rs.max_lag,
        )?;
        counter(
            e,
            "leader_elections",
            "Leader-epoch changes in the cluster",
            b.controller.metadata().leader_elections,
        )?;
        counter(e, "uploads", "Objects uploaded and registered", v.uploads)?;
        counter(
            e,
            "uploaded_bytes",
            "Batch bytes uploaded",
            v.uploaded_bytes,
        )?;
        counter(
            e,
            "upload_failures",
            "Failed upload attempts",
            v.upload_failures,
        )?;
        counter(
            e,
            "unpaced_uploads",
            "Uploads made at full speed because two uploads' worth was waiting (the uploader was behind)",
            b.tier()
                .stats()
                .unpaced_uploads
                .load(std::sync::atomic::Ordering::Relaxed),
        )?;
        counter(e, "object_store_puts", "PUT requests", v.puts)?;
        counter(e, "object_store_gets", "GET requests", v.gets)?;
        counter(e, "object_store_deletes", "DELETE requests", v.deletes)?;
        counter(
            e,
            "object_store_errors",
            "Object-store requests that failed",
            v.errors,
        )?;
        counter(e, "read_cache_hits", "Read-cache chunk hits", v.cache_hits)?;
        counter(
            e,
            "read_cache_misses",
            "Read-cache chunk misses (GETs)",
            v.cache_misses,
        )?;
        gauge(
            e,
            "read_cache_bytes",
            "Bytes in the read cache",
            v.read_cache_bytes as i64,
        )?;
        counter(
            e,
            "compacted_objects",
            "Objects written by compaction",
            v.compacted_objects,
        )?;
        counter(
            e,
            "objects_deleted",
            "Unreferenced objects deleted",
            v.objects_deleted,
        )?;
        counter(
            e,
            "orphans_deleted",
            "Orphaned objects deleted",
            v.orphans_deleted,
        )?;
        if let Some(budget) = &b.fetch_budget {
            gauge(
                e,
                "fetch_in_flight_bytes",
                "Record bytes of fetch responses being read or sent",
                budget.in_flight() as i64,
            )?;
            gauge(
                e,
                "fetch_in_flight_peak_bytes",
                "The most record bytes of fetch responses ever in flight at once",
                budget.peak() as i64,
            )?;
        }
        if let Some(etl) = &b.etl {
            crate::etl::metrics::encode(etl, e)?;
        }
        task_poll_time(e)?;
        group_lag(&b, e)
    }
}

/// The request runtime's poll time and polls by task kind (`crate::task_time`).
fn task_poll_time(e: &mut DescriptorEncoder) -> std::fmt::Result {
    let now = crate::task_time::snapshot();
    task_family(
        e,
        "task_poll_seconds",
        "Time the request runtime spent polling the broker's tasks, by kind",
        |k| now.busy(k).as_secs_f64(),
    )?;
    task_family(
        e,
        "task_polls",
        "Polls of the broker's tasks on the request runtime, by kind",
        |k| now.polls(k),
    )
}

/// One counter family with a series per task kind, `value` read for each.
fn task_family<N>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl Fn(crate::task_time::TaskKind) -> N,
) -> std::fmt::Result
where
    prometheus_client::metrics::counter::ConstCounter<N>: EncodeMetric,
{
    use prometheus_client::metrics::counter::ConstCounter;
    let mut family = e.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for kind in crate::task_time::TaskKind::ALL {
        let labels = TaskLabels { task: kind.label() };
        ConstCounter::new(value(kind)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Lag (high watermark minus committed offset) of every group this broker coordinates, per
/// partition it hosts (a partition hosted elsewhere has no high watermark here).
fn group_lag(b: &Arc<Broker>, e: &mut DescriptorEncoder) -> std::fmt::Result {
    let md = b.controller.metadata();
    let mut lags = Vec::new();
    for (group, topics) in md.group_offsets.iter() {
        if b.groups.coordinator_of(group).map(|c| c.id) != Some(b.config().broker.id) {
            continue;
        }
        for (topic, parts) in topics {
            for (partition, c) in parts {
                if let Some((_, hw)) = b.partition_bounds(topic, *partition) {
                    let labels = LagLabels {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    };
                    lags.push((labels, (hw - c.offset).max(0)));
                }
            }
        }
    }
    let mut family = e.encode_descriptor(
        "consumer_group_lag",
        "Offsets between a group's committed offset and the partition's high watermark",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, lag) in &lags {
        ConstGauge::new(*lag).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}
