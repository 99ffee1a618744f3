//! Cluster metadata as the Raft state machine holds it, and the commands that change it.
//!
//! `ClusterMetadata::apply` is a plain, deterministic function: every controller applies the
//! same committed commands in the same order and reaches the same state. Anything that varies
//! between nodes (the clock, for example) travels inside the command.

use std::collections::BTreeMap;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogError, PartitionKey, Registered, UploadedObject};

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

    fn validate(&self) -> Result<(), MetadataError> {
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

impl PartitionAssignment {
    /// Changes the leader (bumping the epochs).
    fn elect(&mut self, leader: u32, elections: &mut u64) {
        self.leader = leader;
        self.leader_epoch += 1;
        self.partition_epoch += 1;
        *elections += 1;
    }

    /// Ends a reassignment whose new replicas are all in sync: the old replicas leave, and
    /// leadership moves to the first new in-sync replica if the leader is leaving.
    fn finish_reassignment(&mut self, live: &std::collections::BTreeSet<u32>, elections: &mut u64) {
        let Some(target) = self.target_replicas.clone() else {
            return;
        };
        if !target.iter().all(|r| self.isr.contains(r)) {
            return;
        }
        let next = (!target.contains(&self.leader))
            .then(|| target.iter().copied().find(|r| live.contains(r)))
            .flatten();
        if !target.contains(&self.leader) && next.is_none() {
            return;
        }
        self.replicas = target.clone();
        self.isr.retain(|r| target.contains(r));
        self.target_replicas = None;
        self.partition_epoch += 1;
        if let Some(n) = next {
            self.elect(n, elections);
        }
    }
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
    /// Next idempotent-producer id to hand out.
    #[serde(default)]
    pub next_producer_id: i64,
    /// Leader elections (changes of a partition's leader epoch) since the cluster began.
    #[serde(default)]
    pub leader_elections: u64,
    /// The cluster's id: chosen once by the first leader, never changed (empty until then).
    #[serde(default)]
    pub cluster_id: String,
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

    /// A partition's assignment by topic id.
    pub fn assignment(&self, topic_id: u64, partition: u32) -> Option<&PartitionAssignment> {
        self.topics
            .values()
            .find(|t| t.id == topic_id)
            .and_then(|t| t.assignments.get(partition as usize))
    }
}

/// A change to the metadata, proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Names the cluster. Only the first one applies: the id never changes afterwards.
    SetClusterId {
        /// The id (random, chosen by the leader that proposes it).
        id: String,
    },
    /// Create a topic; partitions are spread over the registered brokers.
    CreateTopic {
        /// Name.
        name: String,
        /// Partition count.
        partitions: u32,
        /// Replicas per partition.
        replication_factor: u32,
        /// Settings.
        config: TopicConfig,
        /// Creation time chosen by the proposer.
        created_at: String,
    },
    /// Delete a topic.
    DeleteTopic {
        /// Name.
        name: String,
        /// When (ms since the epoch, chosen by the proposer); its objects become deletable.
        #[serde(default)]
        deleted_at_ms: i64,
    },
    /// Add or update a broker (it is online from now on).
    RegisterBroker(BrokerRegistration),
    /// A broker's heartbeats stopped (`online: false`) or resumed.
    SetBrokerOnline {
        /// Broker id.
        id: u32,
        /// Whether it is alive.
        online: bool,
    },
    /// Commit consumer-group offsets. Entries for topics or partitions that no longer exist
    /// are skipped (the coordinator validated them before proposing).
    CommitOffsets {
        /// Group id.
        group: String,
        /// Offsets.
        offsets: Vec<OffsetCommit>,
        /// Commit time chosen by the proposer.
        committed_at_ms: i64,
    },
    /// Forget every committed offset of a group.
    DeleteGroupOffsets {
        /// Group id.
        group: String,
    },
    /// Record an object a broker uploaded from its WAL.
    RegisterObject(UploadedObject),
    /// Swap the slices a compacted object covers for that object, all or nothing.
    CompactObject {
        /// The compacted object.
        object: UploadedObject,
        /// When (the replaced objects' grace period starts here).
        now_ms: i64,
    },
    /// Retention: forget a partition's data below `start_offset`.
    TrimPartition {
        /// Partition.
        key: PartitionKey,
        /// New first offset.
        start_offset: i64,
        /// When.
        now_ms: i64,
    },
    /// These unreferenced objects were deleted from the bucket.
    ForgetObjects {
        /// Object keys.
        keys: Vec<String>,
    },
    /// A partition leader changes its ISR (shrinks lagging followers out, adds caught-up
    /// ones back). Refused unless `leader`, `leader_epoch` and `partition_epoch` are current.
    AlterIsr {
        /// Topic id.
        topic_id: u64,
        /// Partition.
        partition: u32,
        /// The proposing leader.
        leader: u32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// The partition epoch its view is based on.
        partition_epoch: i32,
        /// The new ISR (must contain the leader and only replicas).
        isr: Vec<u32>,
    },
    /// A broker is shutting down: its leaderships move to other in-sync replicas and it
    /// leaves every ISR, before the process exits.
    ControlledShutdown {
        /// Broker id.
        id: u32,
    },
    /// Hand out the next idempotent-producer id.
    InitProducerId,
    /// Move partitions to new replica lists. New replicas join first; once all of them are
    /// in the ISR, the old ones are removed and, if the leader is not among the new replicas,
    /// leadership moves to the first new replica in the ISR.
    ReassignPartitions {
        /// Topic name.
        topic: String,
        /// (partition, target replicas, preferred leader first).
        targets: Vec<(u32, Vec<u32>)>,
    },
    /// Start (`draining: true`) or stop draining a broker. Draining moves every replica it
    /// holds to other live brokers and keeps new ones off it.
    SetDraining {
        /// Broker id.
        id: u32,
        /// Whether it is being drained.
        draining: bool,
    },
}

/// Result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied.
    Ok,
    /// A topic was created.
    TopicCreated(Topic),
    /// This many offsets were committed.
    OffsetsCommitted(usize),
    /// An upload was registered (or found redundant).
    ObjectRegistered(Registered),
    /// A partition's assignment after the change.
    Partition(PartitionAssignment),
    /// An idempotent-producer id.
    ProducerId(i64),
    /// Refused; the metadata did not change.
    Refused(MetadataError),
}

impl CommandResult {
    /// The variant's name, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ok => "Ok",
            Self::TopicCreated(_) => "TopicCreated",
            Self::OffsetsCommitted(_) => "OffsetsCommitted",
            Self::ObjectRegistered(_) => "ObjectRegistered",
            Self::Partition(_) => "Partition",
            Self::ProducerId(_) => "ProducerId",
            Self::Refused(_) => "Refused",
        }
    }
}

/// Why a metadata change was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MetadataError {
    /// The name breaks Kafka's topic naming rules.
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopicName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A topic with this name exists.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// No topic with this name.
    #[error("topic '{0}' not found")]
    UnknownTopic(String),
    /// No broker registered with this id (it must register first).
    #[error("broker {0} is not registered")]
    UnknownBroker(u32),
    /// Partition count out of range.
    #[error("invalid partition count {0}: must be between 1 and {MAX_PARTITIONS}")]
    InvalidPartitions(u32),
    /// Replication factor of zero.
    #[error("invalid replication factor {0}: must be at least 1")]
    InvalidReplicationFactor(u32),
    /// Not enough live brokers for the replication factor.
    #[error(
        "insufficient brokers: replication factor {requested} needs {requested} live brokers, {available} available"
    )]
    InsufficientBrokers {
        /// Replication factor asked for.
        requested: u32,
        /// Brokers available.
        available: u32,
    },
    /// The object catalog refused a change.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An ISR change from a leader whose view is out of date (deposed, or the controllers
    /// changed the partition since).
    #[error(
        "partition {topic_id}/{partition}: stale leader state (leader {leader} epoch {leader_epoch}, partition epoch {partition_epoch})"
    )]
    StaleLeader {
        /// Topic id.
        topic_id: u64,
        /// Partition.
        partition: u32,
        /// Current leader.
        leader: u32,
        /// Current leader epoch.
        leader_epoch: i32,
        /// Current partition epoch.
        partition_epoch: i32,
    },
    /// A replica list or ISR is not acceptable.
    #[error("invalid replicas: {0}")]
    InvalidReplicas(String),
    /// A topic setting is invalid.
    #[error("invalid topic config '{key}': {reason}")]
    InvalidConfig {
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Per topic name, `(partition, new replicas)`.
pub type DrainPlan = BTreeMap<String, Vec<(u32, Vec<u32>)>>;

/// Per topic, the new replica lists that move every replica off broker `id`: each replica
/// on it goes to a live, non-draining broker that is not already a replica of that
/// partition, preferring `id`'s rack, then the broker holding the fewest replicas.
///
/// ```
/// use rustmq_controller::metadata::{BrokerRegistration, ClusterMetadata, Command, TopicConfig, drain_plan};
/// let mut md = ClusterMetadata::default();
/// for id in 1..=3 {
///     md.apply(Command::RegisterBroker(BrokerRegistration {
///         id, host: "h".into(), port_quic: 1, port_rpc: 2, rack_id: "r".into(), incarnation: 0,
///         empty_log: false,
///     }));
/// }
/// md.apply(Command::CreateTopic {
///     name: "t".into(), partitions: 2, replication_factor: 2,
///     config: TopicConfig::default(), created_at: String::new(),
/// });
/// md.apply(Command::SetDraining { id: 1, draining: true });
/// let plan = drain_plan(&md, 1).unwrap();
/// assert!(plan["t"].iter().all(|(_, r)| !r.contains(&1) && r.len() == 2));
/// ```
pub fn drain_plan(md: &ClusterMetadata, id: u32) -> Result<DrainPlan, MetadataError> {
    let mut load: BTreeMap<u32, usize> = md
        .live_brokers()
        .filter(|b| b.id != id && !md.draining_brokers.contains(&b.id))
        .map(|b| (b.id, 0))
        .collect();
    for t in md.topics.values() {
        for a in &t.assignments {
            for r in &a.replicas {
                if let Some(n) = load.get_mut(r) {
                    *n += 1;
                }
            }
        }
    }
    let rack = |b: u32| md.brokers.get(&b).map(|r| r.rack_id.as_str());
    let mut plan = DrainPlan::new();
    for t in md.topics.values() {
        for a in &t.assignments {
            let current = a.target_replicas.as_ref().unwrap_or(&a.replicas);
            if !current.contains(&id) {
                continue;
            }
            let pick = load
                .iter()
                .filter(|(b, _)| !current.contains(b))
                .min_by_key(|(b, n)| (rack(**b) != rack(id), **n, **b))
                .map(|(b, _)| *b);
            let Some(to) = pick else {
                return Err(MetadataError::InsufficientBrokers {
                    requested: t.replication_factor,
                    available: load.len() as u32,
                });
            };
            *load.entry(to).or_default() += 1;
            // The replacement takes the drained replica's place, so a drained preferred
            // leader is replaced by a new preferred leader.
            let target = current
                .iter()
                .map(|r| if *r == id { to } else { *r })
                .collect();
            plan.entry(t.name.clone())
                .or_default()
                .push((a.partition, target));
        }
    }
    Ok(plan)
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

impl ClusterMetadata {
    /// Applies one command. Refusals leave the state untouched.
    pub fn apply(&mut self, cmd: Command) -> CommandResult {
        match cmd {
            Command::SetClusterId { id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = id;
                }
                CommandResult::Ok
            }
            Command::CreateTopic {
                name,
                partitions,
                replication_factor,
                config,
                created_at,
            } => {
                match self.create_topic(name, partitions, replication_factor, config, created_at) {
                    Ok(t) => CommandResult::TopicCreated(t),
                    Err(e) => CommandResult::Refused(e),
                }
            }
            Command::DeleteTopic {
                name,
                deleted_at_ms,
            } => match self.topics.remove(&name) {
                Some(t) => {
                    self.catalog.drop_topic(t.id, deleted_at_ms);
                    // Offsets of a deleted topic must not apply to a new topic of that name.
                    let holding: Vec<String> = self
                        .group_offsets
                        .iter()
                        .filter(|(_, o)| o.contains_key(&name))
                        .map(|(g, _)| g.clone())
                        .collect();
                    for group in holding {
                        if let Some(offsets) = self.group_offsets.get_mut(&group) {
                            offsets.remove(&name);
                            if offsets.is_empty() {
                                self.group_offsets.remove(&group);
                            }
                        }
                    }
                    CommandResult::Ok
                }
                None => CommandResult::Refused(MetadataError::UnknownTopic(name)),
            },
            Command::CommitOffsets {
                group,
                offsets,
                committed_at_ms,
            } => {
                let mut applied = 0;
                for o in offsets {
                    let valid = self
                        .topics
                        .get(&o.topic)
                        .is_some_and(|t| o.partition < t.partitions)
                        && o.offset >= 0;
                    if !valid {
                        continue;
                    }
                    self.group_offsets
                        .entry(group.clone())
                        .or_default()
                        .entry(o.topic)
                        .or_default()
                        .insert(
                            o.partition,
                            CommittedOffset {
                                offset: o.offset,
                                metadata: o.metadata,
                                committed_at_ms,
                            },
                        );
                    applied += 1;
                }
                CommandResult::OffsetsCommitted(applied)
            }
            Command::DeleteGroupOffsets { group } => {
                self.group_offsets.remove(&group);
                CommandResult::Ok
            }
            Command::RegisterBroker(b) => {
                let id = b.id;
                let restarted = self
                    .brokers
                    .get(&id)
                    .is_some_and(|old| old.incarnation != b.incarnation);
                if restarted {
                    // Its replication state died with the old process; with an empty log
                    // its data may be gone too.
                    self.fail_over(id, b.empty_log);
                }
                self.brokers.insert(id, b);
                self.set_online(id, restarted);
                CommandResult::Ok
            }
            Command::SetBrokerOnline { id, online } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                if online {
                    self.set_online(id, false);
                } else if self.offline_brokers.insert(id) {
                    self.fail_over(id, true);
                }
                CommandResult::Ok
            }
            Command::AlterIsr {
                topic_id,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => self.alter_isr(
                topic_id,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            ),
            Command::ControlledShutdown { id } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                self.fail_over(id, true);
                CommandResult::Ok
            }
            Command::InitProducerId => {
                let id = self.next_producer_id;
                self.next_producer_id += 1;
                CommandResult::ProducerId(id)
            }
            Command::ReassignPartitions { topic, targets } => {
                match self.reassign(&topic, targets) {
                    Ok(()) => CommandResult::Ok,
                    Err(e) => CommandResult::Refused(e),
                }
            }
            Command::SetDraining { id, draining } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                if draining {
                    self.draining_brokers.insert(id);
                } else {
                    self.draining_brokers.remove(&id);
                }
                CommandResult::Ok
            }
            Command::RegisterObject(mut object) => {
                // Ranges of a topic deleted while the upload was in flight are not cataloged
                // (the object is then collected like any unreferenced one).
                object.ranges.retain(|r| {
                    self.topics
                        .values()
                        .any(|t| t.id == r.topic_id && r.partition < t.partitions)
                });
                match self.catalog.register(object) {
                    Ok(r) => CommandResult::ObjectRegistered(r),
                    Err(e) => CommandResult::Refused(e.into()),
                }
            }
            Command::CompactObject { object, now_ms } => {
                match self.catalog.replace(object, now_ms) {
                    Ok(()) => CommandResult::Ok,
                    Err(e) => CommandResult::Refused(e.into()),
                }
            }
            Command::TrimPartition {
                key,
                start_offset,
                now_ms,
            } => {
                // A partition of a deleted topic must not come back to life.
                let exists = self
                    .topics
                    .values()
                    .any(|t| t.id == key.topic_id && key.partition < t.partitions);
                if exists {
                    self.catalog.trim(key, start_offset, now_ms);
                }
                CommandResult::Ok
            }
            Command::ForgetObjects { keys } => {
                self.catalog.forget(&keys);
                CommandResult::Ok
            }
        }
    }

    fn live_set(&self) -> std::collections::BTreeSet<u32> {
        self.live_brokers().map(|b| b.id).collect()
    }

    /// Broker `id` is gone (offline, restarted or shutting down): every partition it leads
    /// gets a new leader from the live ISR (preferred order), with a new epoch. With
    /// `leave_isr` it also leaves every ISR (it will not fetch any more); a restarted broker
    /// keeps its ISR places because its fsynced WAL still holds everything it reported.
    /// A partition whose only in-sync replica is `id` keeps it as leader: no other replica is
    /// known to have every acknowledged message (no unclean election).
    fn fail_over(&mut self, id: u32, leave_isr: bool) {
        let mut live = self.live_set();
        live.remove(&id);
        let mut elections = 0;
        let touched = self.topics_involving(id);
        for name in &touched {
            let Some(t) = self.topics.get_mut(name) else {
                continue;
            };
            for a in &mut t.assignments {
                if a.leader == id {
                    let next = a
                        .replicas
                        .iter()
                        .copied()
                        .find(|r| *r != id && a.isr.contains(r) && live.contains(r));
                    if let Some(n) = next {
                        a.isr.retain(|r| *r != id || !leave_isr);
                        a.elect(n, &mut elections);
                    }
                } else if leave_isr && a.isr.contains(&id) {
                    a.isr.retain(|r| *r != id);
                    a.partition_epoch += 1;
                }
            }
        }
        self.leader_elections += elections;
    }

    /// Names of the topics with a replica on broker `id`: only those are copied when a
    /// broker's state changes (the others stay shared with earlier versions).
    fn topics_involving(&self, id: u32) -> Vec<String> {
        self.topics
            .values()
            .filter(|t| {
                t.assignments
                    .iter()
                    .any(|a| a.leader == id || a.replicas.contains(&id) || a.isr.contains(&id))
            })
            .map(|t| t.name.clone())
            .collect()
    }

    /// Broker `id` is alive. Partitions it still leads after being offline or restarting
    /// start a new leader epoch (its followers check their logs against it).
    fn set_online(&mut self, id: u32, new_term: bool) {
        let was_offline = self.offline_brokers.remove(&id);
        if !(was_offline || new_term) {
            return;
        }
        let mut elections = 0;
        let touched = self.topics_involving(id);
        for name in &touched {
            let Some(t) = self.topics.get_mut(name) else {
                continue;
            };
            for a in &mut t.assignments {
                if a.leader == id {
                    a.elect(id, &mut elections);
                }
            }
        }
        self.leader_elections += elections;
    }

    fn alter_isr(
        &mut self,
        topic_id: u64,
        partition: u32,
        leader: u32,
        leader_epoch: i32,
        partition_epoch: i32,
        mut isr: Vec<u32>,
    ) -> CommandResult {
        let live = self.live_set();
        let mut elections = 0;
        let name = self
            .topics
            .values()
            .find(|t| t.id == topic_id)
            .map(|t| t.name.clone());
        let Some(t) = name.and_then(|n| self.topics.get_mut(&n)) else {
            return CommandResult::Refused(MetadataError::UnknownTopic(format!("id {topic_id}")));
        };
        let Some(a) = t.assignments.get_mut(partition as usize) else {
            return CommandResult::Refused(MetadataError::InvalidPartitions(partition));
        };
        if a.leader != leader
            || a.leader_epoch != leader_epoch
            || a.partition_epoch != partition_epoch
        {
            return CommandResult::Refused(MetadataError::StaleLeader {
                topic_id,
                partition,
                leader: a.leader,
                leader_epoch: a.leader_epoch,
                partition_epoch: a.partition_epoch,
            });
        }
        isr.sort_unstable();
        isr.dedup();
        if !isr.contains(&leader) || isr.iter().any(|r| !a.replicas.contains(r)) {
            return CommandResult::Refused(MetadataError::InvalidReplicas(format!(
                "ISR {isr:?} must contain the leader {leader} and only replicas {:?}",
                a.replicas
            )));
        }
        // A broker the controllers consider dead never joins an ISR.
        isr.retain(|r| *r == leader || live.contains(r));
        // Keep replica order (preferred leader first) for readability.
        a.isr = a
            .replicas
            .iter()
            .copied()
            .filter(|r| isr.contains(r))
            .collect();
        a.partition_epoch += 1;
        a.finish_reassignment(&live, &mut elections);
        let out = a.clone();
        self.leader_elections += elections;
        CommandResult::Partition(out)
    }

    fn reassign(
        &mut self,
        topic: &str,
        targets: Vec<(u32, Vec<u32>)>,
    ) -> Result<(), MetadataError> {
        let live = self.live_set();
        let known: std::collections::BTreeSet<u32> = self.brokers.keys().copied().collect();
        let t = self
            .topics
            .get(topic)
            .ok_or_else(|| MetadataError::UnknownTopic(topic.to_string()))?;
        for (p, target) in &targets {
            if *p >= t.partitions {
                return Err(MetadataError::InvalidPartitions(*p));
            }
            let mut sorted = target.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if target.is_empty() || sorted.len() != target.len() {
                return Err(MetadataError::InvalidReplicas(format!(
                    "partition {p}: replicas {target:?} must be non-empty and distinct"
                )));
            }
            if let Some(b) = target.iter().find(|b| !known.contains(b)) {
                return Err(MetadataError::UnknownBroker(*b));
            }
        }
        let mut elections = 0;
        let Some(t) = self.topics.get_mut(topic) else {
            return Err(MetadataError::UnknownTopic(topic.to_string()));
        };
        for (p, target) in targets {
            let a = &mut t.assignments[p as usize];
            let mut replicas = target.clone();
            replicas.extend(a.replicas.iter().filter(|r| !target.contains(r)));
            a.replicas = replicas;
            a.target_replicas = Some(target);
            a.partition_epoch += 1;
            a.finish_reassignment(&live, &mut elections);
        }
        self.leader_elections += elections;
        Ok(())
    }

    /// Live brokers ordered so that neighbours sit in different racks: the first broker of
    /// every rack, then the second of every rack, ... (Kafka's rack-alternated list).
    /// Consecutive replicas of a partition then land in distinct racks whenever there are
    /// at least as many racks as replicas and the racks are about equal in size.
    fn rack_interleaved(&self) -> Vec<u32> {
        let mut racks: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for b in self
            .live_brokers()
            .filter(|b| !self.draining_brokers.contains(&b.id))
        {
            racks.entry(b.rack_id.as_str()).or_default().push(b.id);
        }
        let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
        (0..deepest)
            .flat_map(|i| racks.values().filter_map(move |r| r.get(i).copied()))
            .collect()
    }

    fn create_topic(
        &mut self,
        name: String,
        partitions: u32,
        replication_factor: u32,
        config: TopicConfig,
        created_at: String,
    ) -> Result<Topic, MetadataError> {
        validate_topic_name(&name)?;
        if self.topics.contains_key(&name) {
            return Err(MetadataError::TopicExists(name));
        }
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(MetadataError::InvalidPartitions(partitions));
        }
        if replication_factor == 0 {
            return Err(MetadataError::InvalidReplicationFactor(0));
        }
        let brokers = self.rack_interleaved();
        let available = brokers.len() as u32;
        if replication_factor > available {
            return Err(MetadataError::InsufficientBrokers {
                requested: replication_factor,
                available,
            });
        }
        config.validate()?;
        // Spread leaders round-robin, starting at an offset derived from the topic id so that
        // many small topics do not all lead on the first broker.
        let id = self.next_topic_id;
        let start = id as usize;
        let assignments = (0..partitions)
            .map(|p| {
                let replicas: Vec<u32> = (0..replication_factor as usize)
                    .map(|r| brokers[(start + p as usize + r) % brokers.len()])
                    .collect();
                PartitionAssignment {
                    partition: p,
                    leader: replicas[0],
                    isr: replicas.clone(),
                    replicas,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    target_replicas: None,
                }
            })
            .collect();
        let topic = Topic {
            id,
            name: name.clone(),
            partitions,
            replication_factor,
            config,
            created_at,
            assignments,
        };
        self.next_topic_id += 1;
        self.topics.insert(name, topic.clone());
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_brokers(n: u32) -> ClusterMetadata {
        let mut m = ClusterMetadata::default();
        for id in 1..=n {
            m.apply(Command::RegisterBroker(BrokerRegistration {
                id,
                host: "127.0.0.1".into(),
                port_quic: 9092,
                port_rpc: 9093,
                rack_id: "r".into(),
                incarnation: 0,
                empty_log: false,
            }));
        }
        m
    }

    #[test]
    fn placement_alternates_racks_and_skips_offline_brokers() {
        let mut m = ClusterMetadata::default();
        for (id, rack) in [
            (1, "a"),
            (2, "a"),
            (3, "a"),
            (4, "b"),
            (5, "b"),
            (6, "b"),
            (7, "c"),
        ] {
            m.apply(Command::RegisterBroker(BrokerRegistration {
                id,
                host: "h".into(),
                port_quic: 1,
                port_rpc: 2,
                rack_id: rack.into(),
                incarnation: 0,
                empty_log: false,
            }));
        }
        assert_eq!(m.rack_interleaved(), [1, 4, 7, 2, 5, 3, 6]);
        let CommandResult::TopicCreated(t) = m.apply(create("t", 12, 2)) else {
            panic!("created")
        };
        let rack = |b: u32| m.brokers[&b].rack_id.clone();
        for a in &t.assignments {
            assert_ne!(rack(a.replicas[0]), rack(a.replicas[1]), "{a:?}");
        }
        assert_eq!(
            m.apply(Command::SetBrokerOnline {
                id: 7,
                online: false
            }),
            CommandResult::Ok
        );
        assert_eq!(m.rack_interleaved(), [1, 4, 2, 5, 3, 6]);
        let CommandResult::TopicCreated(t) = m.apply(create("u", 20, 3)) else {
            panic!("created")
        };
        assert!(t.assignments.iter().all(|a| !a.replicas.contains(&7)));
        assert_eq!(
            m.apply(Command::SetBrokerOnline {
                id: 9,
                online: false
            }),
            CommandResult::Refused(MetadataError::UnknownBroker(9))
        );
        // Registering again is a sign of life.
        let b7 = m.brokers[&7].clone();
        m.apply(Command::RegisterBroker(b7));
        assert!(m.offline_brokers.is_empty());
    }

    fn create(name: &str, p: u32, rf: u32) -> Command {
        Command::CreateTopic {
            name: name.into(),
            partitions: p,
            replication_factor: rf,
            config: TopicConfig::default(),
            created_at: "t".into(),
        }
    }

    #[test]
    fn failover_isr_changes_and_reassignment() {
        let mut m = with_brokers(3);
        m.apply(create("t", 1, 3));
        let a = |m: &ClusterMetadata| m.topics["t"].assignments[0].clone();
        let first = a(&m);
        let leader = first.leader;
        // A stale ISR change (old partition epoch) is refused; a current one applies.
        let shrink = |m: &mut ClusterMetadata, pe: i32, isr: Vec<u32>| {
            let cur = a(m);
            m.apply(Command::AlterIsr {
                topic_id: m.topics["t"].id,
                partition: 0,
                leader: cur.leader,
                leader_epoch: cur.leader_epoch,
                partition_epoch: pe,
                isr,
            })
        };
        assert!(matches!(
            shrink(&mut m, 7, vec![leader]),
            CommandResult::Refused(MetadataError::StaleLeader { .. })
        ));
        let follower = *first.replicas.iter().find(|r| **r != leader).unwrap();
        assert!(matches!(
            shrink(&mut m, 0, vec![leader, follower]),
            CommandResult::Partition(_)
        ));
        assert_eq!(a(&m).isr.len(), 2);
        // The leader dies: the in-sync follower takes over with a new epoch; the replica
        // that was out of the ISR cannot.
        m.apply(Command::SetBrokerOnline {
            id: leader,
            online: false,
        });
        let now = a(&m);
        assert_eq!(now.leader, follower);
        assert_eq!(now.leader_epoch, 1);
        assert_eq!(now.isr, vec![follower]);
        assert_eq!(m.leader_elections, 1);
        // Reassign to the two others: completes once the new replicas are in sync.
        let others: Vec<u32> = (1..=3).filter(|b| *b != follower).collect();
        m.apply(Command::SetBrokerOnline {
            id: leader,
            online: true,
        });
        assert_eq!(
            m.apply(Command::ReassignPartitions {
                topic: "t".into(),
                targets: vec![(0, others.clone())],
            }),
            CommandResult::Ok
        );
        assert!(a(&m).target_replicas.is_some());
        let cur = a(&m);
        let mut isr = others.clone();
        isr.push(follower);
        m.apply(Command::AlterIsr {
            topic_id: m.topics["t"].id,
            partition: 0,
            leader: cur.leader,
            leader_epoch: cur.leader_epoch,
            partition_epoch: cur.partition_epoch,
            isr,
        });
        let done = a(&m);
        assert_eq!(done.replicas, others);
        assert!(done.target_replicas.is_none());
        assert!(others.contains(&done.leader), "{done:?}");
        assert_eq!(done.leader_epoch, 2);
    }

    #[test]
    fn a_restart_moves_leadership_and_an_empty_disk_also_leaves_the_isr() {
        let mut m = with_brokers(3);
        m.apply(create("t", 1, 3));
        let leader = m.topics["t"].assignments[0].leader;
        let mut b = m.brokers[&leader].clone();
        b.incarnation = 1;
        m.apply(Command::RegisterBroker(b.clone()));
        let a = m.topics["t"].assignments[0].clone();
        assert_ne!(a.leader, leader);
        assert!(
            a.isr.contains(&leader),
            "its fsynced WAL still counts: {a:?}"
        );
        b.incarnation = 2;
        b.empty_log = true;
        m.apply(Command::RegisterBroker(b));
        let a = m.topics["t"].assignments[0].clone();
        assert!(!a.isr.contains(&leader), "{a:?}");
    }

    #[test]
    fn create_delete_recreate_gets_new_id() {
        let mut m = with_brokers(3);
        let CommandResult::TopicCreated(t) = m.apply(create("a", 6, 3)) else {
            panic!("not created")
        };
        assert_eq!(t.assignments.len(), 6);
        assert!(t.assignments.iter().all(|a| a.replicas.len() == 3));
        assert_eq!(
            m.apply(create("a", 1, 1)),
            CommandResult::Refused(MetadataError::TopicExists("a".into()))
        );
        assert_eq!(
            m.apply(Command::DeleteTopic {
                name: "a".into(),
                deleted_at_ms: 0
            }),
            CommandResult::Ok
        );
        let CommandResult::TopicCreated(t2) = m.apply(create("a", 1, 1)) else {
            panic!("not created")
        };
        assert_ne!(t.id, t2.id);
    }

    #[test]
    fn offsets_commit_validate_and_go_with_their_topic() {
        let mut m = with_brokers(1);
        m.apply(create("t", 2, 1));
        let commit = |p: u32, o: i64| OffsetCommit {
            topic: "t".into(),
            partition: p,
            offset: o,
            metadata: String::new(),
        };
        let r = m.apply(Command::CommitOffsets {
            group: "g".into(),
            offsets: vec![commit(0, 5), commit(1, 7), commit(9, 1), commit(0, -3)],
            committed_at_ms: 1,
        });
        assert_eq!(r, CommandResult::OffsetsCommitted(2));
        assert_eq!(m.group_offsets["g"]["t"][&0].offset, 5);
        m.apply(Command::DeleteTopic {
            name: "t".into(),
            deleted_at_ms: 0,
        });
        assert!(m.group_offsets.is_empty());
    }

    #[test]
    fn uploads_of_deleted_topics_are_not_cataloged() {
        use crate::catalog::{PartitionRange, Registered, UploadedObject};
        let mut m = with_brokers(1);
        m.apply(create("live", 1, 1));
        let live = m.topics["live"].id;
        let range = |topic_id| PartitionRange {
            topic_id,
            partition: 0,
            base_offset: 0,
            last_offset: 9,
            max_timestamp: 0,
            byte_start: 0,
            byte_len: 10,
        };
        let obj = |key: &str, ranges| UploadedObject {
            key: key.into(),
            size: 20,
            index_start: 20,
            index_len: 0,
            broker_id: 1,
            level: 0,
            created_at_ms: 0,
            ranges,
        };
        let r = m.apply(Command::RegisterObject(obj(
            "a",
            vec![range(live), range(99)],
        )));
        assert_eq!(r, CommandResult::ObjectRegistered(Registered::Accepted(1)));
        let r = m.apply(Command::RegisterObject(obj("b", vec![range(99)])));
        assert_eq!(r, CommandResult::ObjectRegistered(Registered::Redundant));
        assert_eq!(m.catalog.partitions.len(), 1);
    }

    #[test]
    fn refusals_are_typed() {
        let mut m = with_brokers(1);
        assert!(matches!(
            m.apply(create("x", 1, 2)),
            CommandResult::Refused(MetadataError::InsufficientBrokers {
                requested: 2,
                available: 1
            })
        ));
        assert!(matches!(
            m.apply(create("x", 0, 1)),
            CommandResult::Refused(MetadataError::InvalidPartitions(0))
        ));
        assert!(matches!(
            m.apply(create("no/slash", 1, 1)),
            CommandResult::Refused(MetadataError::InvalidTopicName { .. })
        ));
        assert!(matches!(
            m.apply(Command::DeleteTopic {
                name: "nope".into(),
                deleted_at_ms: 0,
            }),
            CommandResult::Refused(MetadataError::UnknownTopic(_))
        ));
        assert!(m.topics.is_empty());
    }
}
