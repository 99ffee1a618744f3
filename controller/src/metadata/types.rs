//! The state the controllers agree on: topics, their partitions' placement, brokers and
//! committed group offsets.

use std::collections::BTreeMap;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use super::MetadataError;
use crate::catalog::Catalog;

/// Longest topic name accepted (Kafka's limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

/// Per-topic settings; `None` means "use the broker default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Delete batches older than this many ms (-1: keep forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
    /// Keep at most this many bytes per partition (-1: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_bytes: Option<i64>,
    /// Segment size hint (the broker's WAL is shared, so this bounds the WAL's segments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_bytes: Option<u64>,
    /// Compression producers are expected to use (informational: batches are stored as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_type: Option<String>,
    /// Largest record batch accepted for this topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<u32>,
    /// Fewest in-sync replicas (leader included) an `acks=all` produce needs; below it such
    /// produces are refused with the retriable `NOT_ENOUGH_REPLICAS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_insync_replicas: Option<u32>,
}

impl TopicConfig {
    /// Sets one key from its string form, as `--config key=value` and the REST API give it.
    ///
    /// ```
    /// let mut c = rustmq_controller::metadata::TopicConfig::default();
    /// c.set("retention.ms", "60000").unwrap();
    /// assert_eq!(c.retention_ms, Some(60000));
    /// assert!(c.set("retention.ms", "soon").is_err());
    /// assert!(c.set("colour", "blue").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let bad = |reason: &str| MetadataError::InvalidConfig {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let int = |v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| bad("expected an integer"))
        };
        match key.replace('.', "_").as_str() {
            "retention_ms" => self.retention_ms = Some(int(value)?),
            "retention_bytes" => self.retention_bytes = Some(int(value)?),
            "segment_bytes" => {
                let v = int(value)?;
                if v < 1024 {
                    return Err(bad("must be at least 1024"));
                }
                self.segment_bytes = Some(v as u64)
            }
            "max_message_bytes" => {
                let v = int(value)?;
                if !(1..=i64::from(u32::MAX)).contains(&v) {
                    return Err(bad("must be between 1 and 4294967295"));
                }
                self.max_message_bytes = Some(v as u32)
            }
            "min_insync_replicas" => {
                let v = int(value)?;
                if !(1..=i64::from(u8::MAX)).contains(&v) {
                    return Err(bad("must be between 1 and 255"));
                }
                self.min_insync_replicas = Some(v as u32)
            }
            "compression_type" => {
                rustmq_protocol::records::parse_compression(value)
                    .map_err(|e| bad(&e.to_string()))?;
                self.compression_type = Some(value.to_ascii_lowercase())
            }
            _ => {
                return Err(bad(
                    "unknown topic config (known: retention.ms, retention.bytes, segment.bytes, \
                     compression.type, max.message.bytes, min.insync.replicas)",
                ));
            }
        }
        Ok(())
    }

    /// The settings that are set, as `key: value` strings [`TopicConfig::set`] reads back.
    ///
    /// ```
    /// let mut c = rustmq_controller::metadata::TopicConfig::default();
    /// c.set("retention.ms", "60000").unwrap();
    /// c.set("compression.type", "zstd").unwrap();
    /// let entries = c.entries();
    /// assert_eq!(entries["retention.ms"], "60000");
    /// let mut back = rustmq_controller::metadata::TopicConfig::default();
    /// for (k, v) in &entries {
    ///     back.set(k, v).unwrap();
    /// }
    /// assert_eq!(back, c);
    /// ```
    pub fn entries(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.insert(k.to_string(), v);
            }
        };
        put("retention.ms", self.retention_ms.map(|v| v.to_string()));
        put(
            "retention.bytes",
            self.retention_bytes.map(|v| v.to_string()),
        );
        put("segment.bytes", self.segment_bytes.map(|v| v.to_string()));
        put("compression.type", self.compression_type.clone());
        put(
            "max.message.bytes",
            self.max_message_bytes.map(|v| v.to_string()),
        );
        put(
            "min.insync.replicas",
            self.min_insync_replicas.map(|v| v.to_string()),
        );
        out
    }

    pub(super) fn validate(&self) -> Result<(), MetadataError> {
        if let Some(c) = &self.compression_type {
            let mut probe = TopicConfig::default();
            probe.set("compression_type", c)?;
        }
        if let Some(m) = self.max_message_bytes
            && m == 0
        {
            return Err(MetadataError::InvalidConfig {
                key: "max_message_bytes".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Where one partition lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionAssignment {
    /// Partition index.
    pub partition: u32,
    /// Broker id of the leader.
    pub leader: u32,
    /// Broker ids holding a replica, leader first.
    pub replicas: Vec<u32>,
    /// In-sync replicas.
    pub isr: Vec<u32>,
    /// Bumped on every leader change; fences deposed leaders.
    pub leader_epoch: i32,
    /// Bumped on every change of leader or ISR; an ISR change proposed against an older
    /// version is refused, so a leader's stale view can never undo the controllers' change.
    #[serde(default)]
    pub partition_epoch: i32,
    /// A reassignment in progress: the replicas the partition moves to. Until all of them
    /// are in the ISR, `replicas` holds the target followed by the replicas being removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_replicas: Option<Vec<u32>>,
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Unique for the life of the cluster: a topic deleted and created again gets a new id,
    /// so data of the old one can never reappear under the new one.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
    /// Replicas per partition.
    pub replication_factor: u32,
    /// Settings.
    pub config: TopicConfig,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// One entry per partition.
    pub assignments: Vec<PartitionAssignment>,
}

/// A broker as registered with the controllers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// Broker id.
    pub id: u32,
    /// Host clients connect to.
    pub host: String,
    /// QUIC port for clients.
    pub port_quic: u16,
    /// Internal RPC port.
    pub port_rpc: u16,
    /// Rack / availability zone.
    pub rack_id: String,
    /// Chosen at random by every start of the broker process: a registration with a new
    /// incarnation is a restart: its leaderships move to other in-sync replicas (its
    /// in-memory replication state is gone).
    #[serde(default)]
    pub incarnation: u64,
    /// The broker started without any WAL data (a new or replaced disk): on a restart it
    /// also leaves every ISR, since it may no longer hold what it had acknowledged.
    #[serde(default)]
    pub empty_log: bool,
}

/// An offset a consumer group committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    /// Next offset the group will consume.
    pub offset: i64,
    /// Free-form metadata from the committer.
    pub metadata: String,
    /// When it was committed (ms since the epoch, chosen by the proposer).
    pub committed_at_ms: i64,
}

/// One partition's offset in a commit command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCommit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Metadata.
    pub metadata: String,
}

/// Committed offsets of one group: topic -> partition -> offset.
pub type GroupOffsets = BTreeMap<String, BTreeMap<u32, CommittedOffset>>;

/// Everything the controllers agree on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMetadata {
    /// Topics by name. Persistent maps: publishing a new version after each command shares
    /// every topic it did not touch.
    pub topics: OrdMap<String, Topic>,
    /// Registered brokers by id.
    pub brokers: BTreeMap<u32, BrokerRegistration>,
    /// Next topic id to hand out.
    pub next_topic_id: u64,
    /// Committed consumer-group offsets by group id.
    #[serde(default)]
    pub group_offsets: OrdMap<String, GroupOffsets>,
    /// Objects in object storage and the partition offsets they hold.
    #[serde(default)]
    pub catalog: Catalog,
    /// Registered brokers whose heartbeats stopped; new partitions are not placed on them.
    #[serde(default)]
    pub offline_brokers: std::collections::BTreeSet<u32>,
    /// Brokers being drained: no new replicas are placed on them.
    #[serde(default)]
    pub draining_brokers: std::collections::BTreeSet<u32>,
    /// Brokers that announced a controlled shutdown and have not registered since: they
    /// neither rejoin an ISR (their fetchers run on until the process exits) nor take a
    /// leadership.
    #[serde(default)]
    pub shutting_down_brokers: std::collections::BTreeSet<u32>,
    /// Next idempotent-producer id to hand out.
    #[serde(default)]
    pub next_producer_id: i64,
    /// Leader elections (changes of a partition's leader epoch) since the cluster began.
    #[serde(default)]
    pub leader_elections: u64,
    /// The cluster's id: chosen once by the first leader, never changed (empty until then).
    #[serde(default)]
    pub cluster_id: String,
    /// The ACL rules and their version.
    #[serde(default)]
    pub acls: super::AclState,
    /// Certificates the cluster CA issued, and their revocations.
    #[serde(default)]
    pub certificates: super::CertificateRegistry,
    /// Deployed WebAssembly ETL modules and their version.
    #[serde(default)]
    pub etl: super::EtlState,
}

impl ClusterMetadata {
    /// Registered brokers not marked offline.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers
            .values()
            .filter(|b| !self.offline_brokers.contains(&b.id))
    }

    /// Whether a broker is registered and not offline.
    pub fn is_live(&self, id: u32) -> bool {
        self.brokers.contains_key(&id) && !self.offline_brokers.contains(&id)
    }

    /// Whether broker `id` leads, replicates, is in sync for or is a reassignment target
    /// of any partition.
    ///
    /// ```
    /// use rustmq_controller::metadata::ClusterMetadata;
    /// assert!(!ClusterMetadata::default().holds_replicas(1));
    /// ```
    pub fn holds_replicas(&self, id: u32) -> bool {
        self.topics.values().flat_map(|t| &t.assignments).any(|a| {
            a.leader == id
                || a.replicas.contains(&id)
                || a.isr.contains(&id)
                || a.target_replicas.as_ref().is_some_and(|t| t.contains(&id))
        })
    }

    /// A partition's assignment by topic id.
    pub fn assignment(&self, topic_id: u64, partition: u32) -> Option<&PartitionAssignment> {
        self.topics
            .values()
            .find(|t| t.id == topic_id)
            .and_then(|t| t.assignments.get(partition as usize))
    }
}

/// Checks a topic name against Kafka's rules.
///
/// ```
/// use rustmq_controller::metadata::validate_topic_name;
/// assert!(validate_topic_name("orders.v1").is_ok());
/// assert!(validate_topic_name("bad name").is_err());
/// ```
pub fn validate_topic_name(name: &str) -> Result<(), MetadataError> {
    let err = |reason: &str| {
        Err(MetadataError::InvalidTopicName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return err("must not be empty");
    }
    if name == "." || name == ".." {
        return err("'.' and '..' are reserved");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return err("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return err("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}
