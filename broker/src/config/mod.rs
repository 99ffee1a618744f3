//! Broker configuration: `broker.toml` sections with a default for every key, overridden by
//! `RUSTMQ_<SECTION>__<KEY>` environment variables (nested sections join with `__`, for
//! example `RUSTMQ_NETWORK__QUIC_CONFIG__MAX_IDLE_TIMEOUT_MS`). Unknown keys and bad values
//! fail at start with the key named.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use rustmq_controller::config::ConfigError;

mod etl;
mod operations;
mod runtime;
mod security;
pub use etl::EtlSection;
pub use operations::{KubernetesSection, OperationsSection, ScalingSection};
pub use runtime::{ConfigChange, RUNTIME_KEYS, is_runtime_key};
pub use security::SecuritySection;

/// The whole `broker.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `[broker]`
    pub broker: BrokerSection,
    /// `[network]`
    pub network: NetworkSection,
    /// `[wal]`
    pub wal: WalSection,
    /// `[cache]`
    pub cache: CacheSection,
    /// `[object_storage]`
    pub object_storage: ObjectStorageSection,
    /// `[controller]`
    pub controller: ControllerSection,
    /// `[admin]`
    pub admin: AdminSection,
    /// `[log]` topic defaults.
    pub log: LogSection,
    /// `[groups]` consumer-group coordinator.
    pub groups: GroupsSection,
    /// `[replication]`
    pub replication: ReplicationSection,
    /// `[scaling]` (read by the operator)
    pub scaling: ScalingSection,
    /// `[operations]` (read by the operator)
    pub operations: OperationsSection,
    /// `[security]` client authentication and ACLs.
    pub security: SecuritySection,
    /// `[etl]` WebAssembly ETL on the produce path.
    pub etl: EtlSection,
    /// `[telemetry]` trace export (OTLP).
    pub telemetry: rustmq_transport::telemetry::TelemetryConfig,
}

/// `[replication]`: how partitions are copied to followers and acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSection {
    /// Fewest in-sync replicas (leader included) an `acks=all` produce needs (topics may
    /// set `min.insync.replicas`). Kafka's default, 1; clusters usually run 2 with RF 3.
    pub min_in_sync_replicas: u32,
    /// Most time a produce waits for its replicas (capped by the request's own timeout).
    pub ack_timeout_ms: u64,
    /// A follower whose log has not reached the leader's end for this long leaves the ISR.
    pub max_replication_lag: u64,
    /// A follower that has not fetched at all for this long leaves the ISR.
    pub heartbeat_timeout_ms: u64,
    /// A leader acknowledges only while its last successful heartbeat to the controllers
    /// was sent less than this long ago, so a leader cut off from the controllers stops
    /// acknowledging before they elect another (keep it below the controllers'
    /// `admin.health_timeout_ms`). Only with `controller.endpoints`.
    pub leader_lease_ms: u64,
    /// How long a follower's fetch waits at the leader for new data.
    pub fetch_max_wait_ms: u32,
    /// Most bytes one follower fetch carries.
    pub fetch_max_bytes: u32,
    /// How long a controlled shutdown waits for leadership to move away.
    pub controlled_shutdown_timeout_ms: u64,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        Self {
            min_in_sync_replicas: 1,
            ack_timeout_ms: 30_000,
            max_replication_lag: 10_000,
            heartbeat_timeout_ms: 10_000,
            leader_lease_ms: 1_000,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 8 * 1024 * 1024,
            controlled_shutdown_timeout_ms: 10_000,
        }
    }
}

/// `[groups]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupsSection {
    /// A group going from empty to rebalancing waits this long for more members before its
    /// first generation (Kafka's `group.initial.rebalance.delay.ms`).
    pub initial_rebalance_delay_ms: u64,
}

impl Default for GroupsSection {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3000,
        }
    }
}

/// `[broker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSection {
    /// Numeric id, or a name ending in digits (`broker-001` is id 1).
    #[serde(deserialize_with = "de_broker_id")]
    pub id: u32,
    /// Rack / zone for rack-aware placement.
    pub rack_id: String,
    /// Root of the broker's local state: `wal/`, `controller/`, `tls/`.
    pub data_dir: PathBuf,
    /// Host advertised to clients in Metadata.
    pub advertised_host: String,
    /// A file whose content (trimmed) is the rack, read at start-up instead of `rack_id`:
    /// on Kubernetes an init container writes the node's zone label there.
    pub rack_id_file: Option<PathBuf>,
}

impl Default for BrokerSection {
    fn default() -> Self {
        Self {
            id: 1,
            rack_id: "default".into(),
            data_dir: PathBuf::from("/var/lib/rustmq"),
            advertised_host: "127.0.0.1".into(),
            rack_id_file: None,
        }
    }
}

fn de_broker_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Num(u32),
        Name(String),
    }
    match Id::deserialize(d)? {
        Id::Num(n) => Ok(n),
        Id::Name(s) => {
            let digits: String = s
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            digits.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "broker id '{s}' must be a number or end in digits (e.g. broker-001)"
                ))
            })
        }
    }
}

/// `[network]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSection {
    /// QUIC listener for clients.
    pub quic_listen: SocketAddr,
    /// Internal RPC listener (used once brokers talk to remote controllers).
    pub rpc_listen: SocketAddr,
    /// Port clients are told to use with `broker.advertised_host`, when it differs from the
    /// bound one (NAT, a Kubernetes service or proxy in front). Unset: the bound port.
    pub advertised_quic_port: Option<u16>,
    /// Port controllers and other brokers are told to use for internal RPC (heartbeats,
    /// metadata, replica fetches), when it differs from the bound one. Unset: the bound port.
    pub advertised_rpc_port: Option<u16>,
    /// Concurrent client connections accepted.
    pub max_connections: u32,
    /// QUIC handshake timeout.
    pub connection_timeout_ms: u64,
    /// Largest request frame body accepted; larger frames get FRAME_TOO_LARGE.
    pub max_frame_bytes: u32,
    /// TLS certificate chain (PEM). Unset: a development CA and certificate are created
    /// under `<data_dir>/tls`.
    pub tls_cert_path: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key_path: Option<PathBuf>,
    /// A connection whose fetch response is larger than this and left records behind (a
    /// catch-up consumer) is served at background priority until a fetch response reaches
    /// the end of the log or is small again: its fetches and its QUIC packets are handled by
    /// the bulk threads, so they never hold up produce acknowledgements and tail fetches.
    /// 0 turns this off.
    pub bulk_response_bytes: u64,
    /// Receive and send buffer asked for the QUIC sockets (client listener and internal
    /// RPC): datagrams go up to 64 KB, and the Linux default holds three, so a broker off
    /// the CPU for a moment dropped them and QUIC recovered with timeouts. The kernel grants
    /// at most `net.core.rmem_max` unless the broker has `CAP_NET_ADMIN`, which goes past
    /// it; 0 keeps the system default.
    pub udp_buffer_bytes: usize,
    /// Threads serving bulk connections (0: one per CPU).
    pub bulk_threads: usize,
    /// Record bytes all fetch responses being read or sent may hold at once; a fetch waits
    /// for room before reading (one larger than the whole limit takes all of it), so many
    /// catch-up consumers cannot exhaust memory. 0 turns the limit off.
    pub max_in_flight_fetch_bytes: u64,
    /// Run the bulk threads under Linux's `SCHED_IDLE` (the kernel runs them only when no
    /// other broker thread wants the CPU); false: nice 19.
    pub bulk_sched_idle: bool,
    /// `[network.quic_config]`
    pub quic_config: QuicSection,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            quic_listen: "0.0.0.0:9092".parse().expect("literal address"),
            rpc_listen: "0.0.0.0:9093".parse().expect("literal address"),
            advertised_quic_port: None,
            advertised_rpc_port: None,
            max_connections: 10_000,
            connection_timeout_ms: 30_000,
            max_frame_bytes: rustmq_protocol::DEFAULT_MAX_FRAME_BYTES,
            tls_cert_path: None,
            tls_key_path: None,
            bulk_response_bytes: 1024 * 1024,
            udp_buffer_bytes: rustmq_transport::udp::BROKER_UDP_BUFFER_BYTES,
            bulk_threads: 0,
            max_in_flight_fetch_bytes: 256 * 1024 * 1024,
            bulk_sched_idle: true,
            quic_config: QuicSection::default(),
        }
    }
}

/// `[network.quic_config]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuicSection {
    /// Unidirectional streams a client may open at once.
    pub max_concurrent_uni_streams: u32,
    /// Requests in flight per connection (one bidirectional stream each).
    pub max_concurrent_bidi_streams: u32,
    /// Idle connections are closed after this.
    pub max_idle_timeout_ms: u64,
    /// Flow-control window per stream.
    pub max_stream_data: u64,
    /// Flow-control window per connection.
    pub max_connection_data: u64,
}

impl Default for QuicSection {
    fn default() -> Self {
        Self {
            max_concurrent_uni_streams: 1000,
            max_concurrent_bidi_streams: 1000,
            max_idle_timeout_ms: 30_000,
            max_stream_data: 16 * 1024 * 1024,
            max_connection_data: 64 * 1024 * 1024,
        }
    }
}

/// `[wal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalSection {
    /// WAL directory; unset means `<data_dir>/wal`.
    pub path: Option<PathBuf>,
    /// Most bytes the WAL may hold.
    pub capacity_bytes: u64,
    /// fdatasync every group commit before acknowledging. `false` acknowledges after the
    /// write() only: a machine crash (not a process crash) can then lose acknowledged data.
    pub fsync_on_write: bool,
    /// Roll to a new segment file past this size.
    pub segment_size_bytes: u64,
    /// Segment files no longer needed that are kept and written over by later segments
    /// (0 = delete them). Overwriting blocks a file already has makes each `fdatasync`
    /// flush data only; these files are not counted in `capacity_bytes`.
    pub recycle_segments: usize,
    /// Most bytes one group commit writes at once.
    pub buffer_size: usize,
    /// Most bytes of appends waiting for the WAL writer (submitted, not yet written). A
    /// stalled or slow disk then refuses produces with the retriable `THROTTLED` instead of
    /// queueing in memory without bound (`acks=none` producers do not wait for the disk).
    pub max_queued_bytes: u64,
    /// Upload to object storage at least this often (when anything is unuploaded).
    pub upload_interval_ms: u64,
    /// ... or as soon as this many bytes are unuploaded, whichever comes first.
    pub upload_bytes: u64,
    /// With `fsync_on_write = false`, fdatasync at least this often.
    pub flush_interval_ms: u64,
    /// How segments are written: `std` (pwrite and fdatasync through the page cache),
    /// `uring` (O_DIRECT writes with a linked fdatasync through io_uring; the broker does
    /// not start where that cannot work) or `auto` (the faster where it works).
    pub io_backend: crate::wal::IoBackend,
    /// How often retention runs.
    pub retention_check_interval_ms: u64,
}

impl Default for WalSection {
    fn default() -> Self {
        Self {
            path: None,
            capacity_bytes: 10 * 1024 * 1024 * 1024,
            fsync_on_write: true,
            segment_size_bytes: 128 * 1024 * 1024,
            recycle_segments: 2,
            buffer_size: 8 * 1024 * 1024,
            max_queued_bytes: 256 * 1024 * 1024,
            upload_interval_ms: 600_000,
            upload_bytes: 64 * 1024 * 1024,
            flush_interval_ms: 1000,
            io_backend: crate::wal::IoBackend::Auto,
            retention_check_interval_ms: 30_000,
        }
    }
}

/// `[cache]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    /// Recent batches kept in memory for tail consumers.
    pub write_cache_size_bytes: u64,
    /// Cold-read cache (object storage reads).
    pub read_cache_size_bytes: u64,
    /// Only `Moka` is implemented.
    pub eviction_policy: String,
    /// Object-storage reads are ranged GETs of this many bytes, cached whole.
    pub read_chunk_bytes: u64,
    /// Chunks fetched ahead of a sequential cold reader.
    pub read_ahead_chunks: u32,
    /// Threads of the runtime object-storage reads run on (0: the broker's own runtime).
    pub cold_read_threads: usize,
    /// Nice value of those threads: cold catch-up gets the CPU the tail leaves (0..=19).
    pub cold_read_nice: i32,
    /// Run those threads under Linux's `SCHED_IDLE` policy instead (nice is then moot): the
    /// kernel gives them only CPU no other thread wants, and a waking produce handler
    /// preempts them at once rather than after their time slice.
    pub cold_read_sched_idle: bool,
    /// Most object-storage GETs for reads in flight (read-ahead included).
    pub cold_read_max_in_flight: usize,
    /// Bytes per second all object-storage reads may fetch together (0: no limit).
    pub cold_read_max_bytes_per_sec: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            write_cache_size_bytes: 256 * 1024 * 1024,
            read_cache_size_bytes: 512 * 1024 * 1024,
            eviction_policy: "Moka".into(),
            read_chunk_bytes: 4 * 1024 * 1024,
            read_ahead_chunks: 2,
            cold_read_threads: 1,
            cold_read_nice: 10,
            cold_read_sched_idle: true,
            cold_read_max_in_flight: 16,
            cold_read_max_bytes_per_sec: 0,
        }
    }
}

/// `[object_storage]`: where the WAL is uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStorageSection {
    /// `Local`, `Gcs` or `S3`.
    pub storage_type: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Endpoint override (S3-compatible servers, emulators).
    pub endpoint: Option<String>,
    /// Access key.
    pub access_key: Option<String>,
    /// Secret key.
    pub secret_key: Option<String>,
    /// Multipart upload threshold.
    pub multipart_threshold: u64,
    /// Concurrent uploads.
    pub max_concurrent_uploads: u32,
    /// Directory for `Local`; unset means `<data_dir>/objects`.
    pub local_path: Option<PathBuf>,
    /// Every key starts with this prefix (several clusters can share a bucket).
    pub prefix: String,
    /// GCS: service-account JSON key file. Unset: application default credentials
    /// (`GOOGLE_APPLICATION_CREDENTIALS`, workload identity / the metadata server).
    pub service_account_path: Option<PathBuf>,
    /// Allow plain-HTTP endpoints (emulators, local MinIO).
    pub allow_http: bool,
    /// Unreferenced and orphaned objects are deleted after this long.
    pub gc_grace_ms: u64,
    /// How often the garbage collector and the compactor run.
    pub maintenance_interval_ms: u64,
    /// Compaction writes per-partition objects of at least this many bytes.
    pub compaction_target_bytes: u64,
    /// Most source objects one compaction pass reads.
    pub compaction_max_objects: u32,
    /// Per request timeout for object-store calls.
    pub request_timeout_ms: u64,
    /// Threads of the runtime uploads, garbage collection and compaction run on (0: the
    /// broker's own runtime). Building an object and writing it out is bulk copying that
    /// must not hold the request threads off a CPU.
    pub background_threads: usize,
    /// Nice value of those threads (0..=19): the request path preempts them, and they get
    /// a tenth of a CPU it saturates (uploads that fall behind fill the WAL, which then
    /// slows producers with retriable errors until they catch up).
    pub background_nice: i32,
    /// Share of one CPU (0 < share <= 1) that building and writing upload objects may take
    /// while uploads keep up: the copying is done 1 MiB at a time with rests in between, so
    /// under a CPU quota it does not spend the whole period's quota in a burst and leave the
    /// request threads throttled. Uploads run at full speed while more than two uploads'
    /// worth waits. 1 turns pacing off.
    pub background_cpu_share: f64,
}

impl Default for ObjectStorageSection {
    fn default() -> Self {
        Self {
            storage_type: "Local".into(),
            bucket: "rustmq-data".into(),
            region: "us-central1".into(),
            endpoint: None,
            access_key: None,
            secret_key: None,
            multipart_threshold: 100 * 1024 * 1024,
            max_concurrent_uploads: 10,
            local_path: None,
            prefix: "rustmq".into(),
            service_account_path: None,
            allow_http: false,
            gc_grace_ms: 3_600_000,
            maintenance_interval_ms: 60_000,
            compaction_target_bytes: 64 * 1024 * 1024,
            compaction_max_objects: 16,
            request_timeout_ms: 30_000,
            background_threads: 1,
            background_nice: 10,
            background_cpu_share: 0.5,
        }
    }
}

/// `[controller]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerSection {
    /// Internal RPC addresses (`host:port`, or the seed's `controller-<n>@host:port`) of the
    /// controller cluster. Empty: run the embedded one-voter controller in this process
    /// (the single-node default). Set: this broker joins that cluster as a metadata
    /// observer over `network.rpc_listen`, registers, and heartbeats.
    pub endpoints: Vec<String>,
    /// Raft election timeout of the embedded controller.
    pub election_timeout_ms: u64,
    /// Raft heartbeat interval of the embedded controller.
    pub heartbeat_interval_ms: u64,
    /// How often this broker heartbeats to the controllers (with `endpoints`).
    pub broker_heartbeat_interval_ms: u64,
    /// Cluster CA of internal RPC (mutual TLS with the controllers).
    pub ca_cert: Option<PathBuf>,
    /// This broker's internal RPC certificate.
    pub cert: Option<PathBuf>,
    /// Its key.
    pub key: Option<PathBuf>,
    /// Local clusters: the development CA directory the controllers share; also used for
    /// the QUIC listener when `network.tls_cert_path` is unset, so clients trust every
    /// broker with one CA.
    pub dev_certificates_dir: Option<PathBuf>,
}

impl Default for ControllerSection {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            election_timeout_ms: 1000,
            heartbeat_interval_ms: 250,
            broker_heartbeat_interval_ms: 250,
            ca_cert: None,
            cert: None,
            key: None,
            dev_certificates_dir: None,
        }
    }
}

impl ControllerSection {
    /// Controller addresses without the optional `controller-<n>@` prefix.
    pub fn endpoint_addrs(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| e.rsplit_once('@').map(|(_, a)| a).unwrap_or(e).to_string())
            .collect()
    }

    /// Internal-RPC certificates: the three files, or the shared development CA.
    pub fn internal_tls(
        &self,
    ) -> Result<Option<rustmq_transport::tls::InternalTls>, rustmq_transport::tls::TlsError> {
        if let (Some(ca), Some(cert), Some(key)) = (&self.ca_cert, &self.cert, &self.key) {
            return Ok(Some(rustmq_transport::tls::InternalTls {
                ca_cert: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            }));
        }
        match &self.dev_certificates_dir {
            Some(d) => Ok(Some(
                rustmq_transport::tls::ensure_dev_certificates(d)?.into(),
            )),
            None => Ok(None),
        }
    }
}

/// `[admin]`: the admin REST API of the embedded controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSection {
    /// Listen address.
    pub http_listen: SocketAddr,
    /// Serve the admin API over HTTPS with the client listener's certificate (client
    /// certificates of the client CA are taken when presented: admin writes use them).
    pub https: bool,
    /// `[admin.rate_limiting]`
    pub rate_limiting: rustmq_transport::ratelimit::RateLimitConfig,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            http_listen: "0.0.0.0:9642".parse().expect("literal address"),
            https: false,
            rate_limiting: Default::default(),
        }
    }
}

/// `[log]`: defaults for topics that do not set their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// Default retention by time (-1: forever). Kafka's default: 7 days.
    pub retention_ms: i64,
    /// Default retention by size per partition (-1: unlimited).
    pub retention_bytes: i64,
    /// Largest record batch accepted by default.
    pub max_message_bytes: u32,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

impl BrokerConfig {
    /// Defaults for the single-process dev mode: everything on 127.0.0.1 and under `data_dir`.
    pub fn dev(data_dir: &Path) -> Self {
        let mut c = Self::default();
        c.broker.data_dir = data_dir.to_path_buf();
        c.network.quic_listen = "127.0.0.1:9092".parse().expect("literal address");
        c.network.rpc_listen = "127.0.0.1:9093".parse().expect("literal address");
        c.admin.http_listen = "127.0.0.1:9642".parse().expect("literal address");
        c
    }

    /// Loads `base` overridden by the TOML file (if any), then by `RUSTMQ_*__*` variables.
    ///
    /// ```
    /// use rustmq_broker::config::BrokerConfig;
    /// let c = BrokerConfig::load(BrokerConfig::default(), None).unwrap();
    /// assert!(c.wal.fsync_on_write);
    /// ```
    pub fn load(base: BrokerConfig, file: Option<&Path>) -> Result<Self, ConfigError> {
        let c: Self = rustmq_controller::config::load_layered(&base, file)?;
        c.validate()?;
        Ok(c)
    }

    /// Replaces `broker.rack_id` with the content of `broker.rack_id_file`, when set. Done
    /// at start-up, not at load: the file is the pod's, and the operator loads the same
    /// configuration to check it without one.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("rack"), "europe-west1-b\n").unwrap();
    /// let mut c = rustmq_broker::config::BrokerConfig::default();
    /// c.broker.rack_id_file = Some(dir.path().join("rack"));
    /// c.resolve_rack().unwrap();
    /// assert_eq!(c.broker.rack_id, "europe-west1-b");
    /// ```
    pub fn resolve_rack(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.broker.rack_id_file else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Value {
            key: "broker.rack_id_file".into(),
            reason: format!("{}: {e}", path.display()),
        })?;
        let rack = text.trim();
        if rack.is_empty() {
            return Err(ConfigError::Value {
                key: "broker.rack_id_file".into(),
                reason: format!("{} is empty", path.display()),
            });
        }
        self.broker.rack_id = rack.to_string();
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Err((key, reason)) = self.admin.rate_limiting.validate() {
            return Err(ConfigError::Value { key, reason });
        }
        self.scaling.validate()?;
        self.operations.validate()?;
        self.security.validate()?;
        self.etl.validate()?;
        let v = |key, reason: &str| {
            Err(ConfigError::Value {
                key: String::from(key),
                reason: reason.to_string(),
            })
        };
        if self.wal.segment_size_bytes < 1024 * 1024 {
            return v("wal.segment_size_bytes", "must be at least 1048576 (1 MiB)");
        }
        if self.wal.buffer_size < 4096 {
            return v("wal.buffer_size", "must be at least 4096");
        }
        if self.wal.flush_interval_ms == 0 {
            return v("wal.flush_interval_ms", "must be at least 1");
        }
        if self.operations.graceful_shutdown_timeout_ms
            <= self.replication.controlled_shutdown_timeout_ms
        {
            return v(
                "operations.graceful_shutdown_timeout_ms",
                "must exceed replication.controlled_shutdown_timeout_ms (the controlled shutdown runs inside it)",
            );
        }
        if self.network.max_frame_bytes < 1024 {
            return v("network.max_frame_bytes", "must be at least 1024");
        }
        if u64::from(self.log.max_message_bytes) > u64::from(self.network.max_frame_bytes) {
            return v(
                "log.max_message_bytes",
                "must not exceed network.max_frame_bytes",
            );
        }
        if self.network.tls_cert_path.is_some() != self.network.tls_key_path.is_some() {
            return v(
                "network.tls_cert_path",
                "tls_cert_path and tls_key_path must be set together",
            );
        }
        if !matches!(
            self.object_storage.storage_type.as_str(),
            "Local" | "Gcs" | "S3"
        ) {
            return v("object_storage.storage_type", "must be Local, Gcs or S3");
        }
        if self.wal.upload_interval_ms == 0 {
            return v("wal.upload_interval_ms", "must be at least 1");
        }
        if self.wal.upload_bytes < 4096 {
            return v("wal.upload_bytes", "must be at least 4096");
        }
        if self.wal.capacity_bytes < 2 * self.wal.segment_size_bytes {
            return v(
                "wal.capacity_bytes",
                "must be at least twice wal.segment_size_bytes",
            );
        }
        if self.wal.max_queued_bytes < u64::from(self.network.max_frame_bytes) {
            return v(
                "wal.max_queued_bytes",
                "must be at least network.max_frame_bytes (one produce must fit)",
            );
        }
        if !(0..=19).contains(&self.cache.cold_read_nice) {
            return v(
                "cache.cold_read_nice",
                "must be 0 (same priority) to 19 (lowest)",
            );
        }
        if !(0..=19).contains(&self.object_storage.background_nice) {
            return v(
                "object_storage.background_nice",
                "must be 0 (same priority) to 19 (lowest)",
            );
        }
        let share = self.object_storage.background_cpu_share;
        if !(share > 0.0 && share <= 1.0) {
            return v(
                "object_storage.background_cpu_share",
                "must be above 0 and at most 1 (1: no pacing)",
            );
        }
        if self.cache.cold_read_max_in_flight == 0 {
            return v("cache.cold_read_max_in_flight", "must be at least 1");
        }
        if self.cache.read_chunk_bytes < 4096 {
            return v("cache.read_chunk_bytes", "must be at least 4096");
        }
        if self.object_storage.storage_type != "Local" && self.object_storage.bucket.is_empty() {
            return v("object_storage.bucket", "must be set for Gcs and S3");
        }
        if self.object_storage.prefix.is_empty() || self.object_storage.prefix.contains("//") {
            return v(
                "object_storage.prefix",
                "must be a non-empty path without empty segments",
            );
        }
        if self.object_storage.maintenance_interval_ms == 0 {
            return v(
                "object_storage.maintenance_interval_ms",
                "must be at least 1",
            );
        }
        if self.cache.eviction_policy != "Moka" {
            return v("cache.eviction_policy", "only Moka is supported");
        }
        let r = &self.replication;
        if r.min_in_sync_replicas == 0 {
            return v("replication.min_in_sync_replicas", "must be at least 1");
        }
        if r.fetch_max_bytes == 0 || r.max_replication_lag == 0 || r.leader_lease_ms == 0 {
            return v(
                "replication",
                "fetch_max_bytes, max_replication_lag and leader_lease_ms must be at least 1",
            );
        }
        let c = &self.controller;
        if !c.endpoints.is_empty() {
            for a in c.endpoint_addrs() {
                if a.rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none()
                {
                    return v("controller.endpoints", "each entry needs host:port");
                }
            }
            let given = [&c.ca_cert, &c.cert, &c.key]
                .iter()
                .filter(|p| p.is_some())
                .count();
            if given != 3 && c.dev_certificates_dir.is_none() {
                return v(
                    "controller.endpoints",
                    "remote controllers need controller.ca_cert, cert and key (or \
                     controller.dev_certificates_dir for a local cluster)",
                );
            }
            if c.broker_heartbeat_interval_ms == 0 {
                return v(
                    "controller.broker_heartbeat_interval_ms",
                    "must be at least 1",
                );
            }
        }
        Ok(())
    }

    /// The WAL directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.wal
            .path
            .clone()
            .unwrap_or_else(|| self.broker.data_dir.join("wal"))
    }

    /// The `Local` object store's directory.
    pub fn objects_dir(&self) -> PathBuf {
        self.object_storage
            .local_path
            .clone()
            .unwrap_or_else(|| self.broker.data_dir.join("objects"))
    }

    /// The embedded controller's directory.
    pub fn controller_dir(&self) -> PathBuf {
        self.broker.data_dir.join("controller")
    }

    /// The development TLS directory.
    pub fn tls_dir(&self) -> PathBuf {
        self.broker.data_dir.join("tls")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    #[test]
    fn file_env_and_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "broker.toml",
                r#"
                [broker]
                id = "broker-007"
                [wal]
                fsync_on_write = true
                segment_size_bytes = 2097152
                [network.quic_config]
                max_idle_timeout_ms = 5000
                "#,
            )?;
            jail.set_env("RUSTMQ_WAL__FSYNC_ON_WRITE", "false");
            jail.set_env("RUSTMQ_LOG", "debug");
            let c = BrokerConfig::load(BrokerConfig::default(), Some(Path::new("broker.toml")))
                .expect("loads");
            assert_eq!(c.broker.id, 7);
            assert!(!c.wal.fsync_on_write);
            assert_eq!(c.wal.segment_size_bytes, 2097152);
            assert_eq!(c.network.quic_config.max_idle_timeout_ms, 5000);

            jail.create_file("bad-key.toml", "[wal]\nfsync_on_wrte = true\n")?;
            let e = BrokerConfig::load(BrokerConfig::default(), Some(Path::new("bad-key.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("fsync_on_wrte"), "{e}");

            jail.create_file("bad-value.toml", "[wal]\nsegment_size_bytes = \"big\"\n")?;
            let e = BrokerConfig::load(BrokerConfig::default(), Some(Path::new("bad-value.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("wal.segment_size_bytes"), "{e}");

            jail.create_file("small.toml", "[wal]\nsegment_size_bytes = 10\n")?;
            let e = BrokerConfig::load(BrokerConfig::default(), Some(Path::new("small.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("wal.segment_size_bytes"), "{e}");

            for (body, key) in [
                (
                    "[object_storage]\nstorage_type = \"Azure\"\n",
                    "object_storage.storage_type",
                ),
                (
                    "[object_storage]\nstorage_type = \"Gcs\"\nbucket = \"\"\n",
                    "object_storage.bucket",
                ),
                ("[object_storage]\nprefix = \"\"\n", "object_storage.prefix"),
                ("[wal]\ncapacity_bytes = 1048576\n", "wal.capacity_bytes"),
                ("[wal]\nupload_interval_ms = 0\n", "wal.upload_interval_ms"),
                (
                    "[object_storage]\nbackground_cpu_share = 0.0\n",
                    "object_storage.background_cpu_share",
                ),
                (
                    "[object_storage]\nbackground_cpu_share = 1.5\n",
                    "object_storage.background_cpu_share",
                ),
                (
                    "[operations]\ngraceful_shutdown_timeout_ms = 10000\n",
                    "operations.graceful_shutdown_timeout_ms",
                ),
            ] {
                jail.create_file("tier.toml", body)?;
                let e = BrokerConfig::load(BrokerConfig::default(), Some(Path::new("tier.toml")))
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(key), "{body}: {e}");
            }
            jail.set_env("RUSTMQ_WAL__UPLOAD_INTERVAL_MS", "250");
            let c = BrokerConfig::load(BrokerConfig::default(), None).expect("loads");
            assert_eq!(c.wal.upload_interval_ms, 250);
            Ok(())
        });
    }
}

#[cfg(test)]
mod sample_configs {
    use super::*;

    /// Every file under `config/` loads: the samples cannot drift from the loader.
    #[test]
    fn every_sample_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml")
                && p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with("broker"))
            {
                BrokerConfig::load(BrokerConfig::default(), Some(&p))
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 2, "sample configs found: {n}");
    }
}
