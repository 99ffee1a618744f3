//! Cluster metadata as the Raft state machine holds it, and the commands that change it.
//!
//! `ClusterMetadata::apply` is a plain, deterministic function: every controller applies the
//! same committed commands in the same order and reaches the same state. Anything that varies
//! between nodes (the clock, for example) travels inside the command.

use std::collections::BTreeMap;

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
            "compression_type" => {
                rustmq_protocol::records::parse_compression(value)
                    .map_err(|e| bad(&e.to_string()))?;
                self.compression_type = Some(value.to_ascii_lowercase())
            }
            _ => {
                return Err(bad(
                    "unknown topic config (known: retention.ms, retention.bytes, segment.bytes, \
                     compression.type, max.message.bytes)",
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
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Registered brokers by id.
    pub brokers: BTreeMap<u32, BrokerRegistration>,
    /// Next topic id to hand out.
    pub next_topic_id: u64,
    /// Committed consumer-group offsets by group id.
    #[serde(default)]
    pub group_offsets: BTreeMap<String, GroupOffsets>,
    /// Objects in object storage and the partition offsets they hold.
    #[serde(default)]
    pub catalog: Catalog,
    /// Registered brokers whose heartbeats stopped; new partitions are not placed on them.
    #[serde(default)]
    pub offline_brokers: std::collections::BTreeSet<u32>,
}

impl ClusterMetadata {
    /// Registered brokers not marked offline.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers
            .values()
            .filter(|b| !self.offline_brokers.contains(&b.id))
    }
}

/// A change to the metadata, proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
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
    /// Refused; the metadata did not change.
    Refused(MetadataError),
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
    /// A topic setting is invalid.
    #[error("invalid topic config '{key}': {reason}")]
    InvalidConfig {
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
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
                    for offsets in self.group_offsets.values_mut() {
                        offsets.remove(&name);
                    }
                    self.group_offsets.retain(|_, o| !o.is_empty());
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
                self.offline_brokers.remove(&b.id);
                self.brokers.insert(b.id, b);
                CommandResult::Ok
            }
            Command::SetBrokerOnline { id, online } => {
                if !self.brokers.contains_key(&id) {
                    return CommandResult::Refused(MetadataError::UnknownBroker(id));
                }
                if online {
                    self.offline_brokers.remove(&id);
                } else {
                    self.offline_brokers.insert(id);
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

    /// Live brokers ordered so that neighbours sit in different racks: the first broker of
    /// every rack, then the second of every rack, ... (Kafka's rack-alternated list).
    /// Consecutive replicas of a partition then land in distinct racks whenever there are
    /// at least as many racks as replicas and the racks are about equal in size.
    fn rack_interleaved(&self) -> Vec<u32> {
        let mut racks: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for b in self.live_brokers() {
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
