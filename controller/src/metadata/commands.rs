//! The commands that change the metadata, their results, and why one is refused.

use serde::{Deserialize, Serialize};

use super::{
    BrokerRegistration, MAX_PARTITIONS, OffsetCommit, PartitionAssignment, Topic, TopicConfig,
};
use crate::catalog::{CatalogError, PartitionKey, Registered, UploadedObject};

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
    AlterIsr(IsrChange),
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
    /// Grow a topic's partitions and/or replace its settings. New partitions are placed as
    /// at creation; fewer partitions than it has is refused (data would be dropped).
    AlterTopic {
        /// Topic name.
        name: String,
        /// The new partition count (unset: unchanged).
        partitions: Option<u32>,
        /// The topic's whole new config (unset: unchanged).
        config: Option<TopicConfig>,
    },
    /// Move leaderships to other in-sync replicas (the balancer's leader moves). A move
    /// whose target is not a live, in-sync, non-draining replica any more is skipped, not
    /// refused: the plan was computed against an earlier state.
    MoveLeaders {
        /// The moves.
        moves: Vec<LeaderMove>,
    },
    /// Start (`draining: true`) or stop draining a broker. Draining moves every replica it
    /// holds to other live brokers and keeps new ones off it.
    SetDraining {
        /// Broker id.
        id: u32,
        /// Whether it is being drained.
        draining: bool,
    },
    /// Change the ACL rules in one step (removals, then additions).
    ChangeAcls(super::AclChange),
    /// Deploy a WebAssembly ETL module, or replace the one of that name.
    DeployEtlModule {
        /// How it runs.
        spec: rustmq_etl::pipeline::ModuleSpec,
        /// The module (base64 in the log).
        #[serde(with = "super::etl::base64_bytes")]
        wasm: bytes::Bytes,
        /// When (the proposing controller's clock).
        deployed_at_ms: i64,
    },
    /// Remove a WebAssembly ETL module.
    RemoveEtlModule {
        /// Its name.
        name: String,
    },
    /// Record a certificate the cluster CA issued (never its key).
    RecordCertificate {
        /// What it is.
        info: rustmq_security::ca::CertificateInfo,
        /// The certificate it replaces, when renewed or rotated.
        replaces: Option<String>,
    },
    /// Revoke a certificate: brokers refuse it and close its sessions.
    RevokeCertificate {
        /// Serial, hex.
        serial: String,
        /// Why.
        reason: rustmq_security::ca::RevocationReason,
        /// When (seconds since the epoch, chosen by the proposer).
        revoked_at: i64,
    },
    /// Forget the certificates that expired before a time.
    PruneCertificates {
        /// Seconds since the epoch (chosen by the proposer).
        expired_before: i64,
    },
}

/// A leader's ISR change for one partition, as it proposes it. (Serialized as the fields of
/// the `AlterIsr` command it once was, so logs written before stay readable.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChange {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// The proposing leader.
    pub leader: u32,
    /// Its leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch its view is based on.
    pub partition_epoch: i32,
    /// The new ISR (must contain the leader and only replicas).
    pub isr: Vec<u32>,
}

/// One leadership move: partition `partition` of `topic` is to be led by broker `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaderMove {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The broker leading it now (the move is skipped when another one does).
    pub from: u32,
    /// The broker to lead it.
    pub to: u32,
}

/// Result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied.
    Ok,
    /// A topic was created.
    TopicCreated(Topic),
    /// The topic as altered.
    TopicAltered(Topic),
    /// This many offsets were committed.
    OffsetsCommitted(usize),
    /// An upload was registered (or found redundant).
    ObjectRegistered(Registered),
    /// A partition's assignment after the change.
    Partition(PartitionAssignment),
    /// An idempotent-producer id.
    ProducerId(i64),
    /// This many leaderships moved (the others were skipped).
    LeadersMoved(u32),
    /// The ACL rules after a change.
    AclsChanged(super::AclChangeResult),
    /// A certificate's record after a change.
    Certificate(super::CertificateRecord),
    /// The ETL version after a deployment or removal.
    EtlChanged(u64),
    /// The certificate records a prune removed.
    CertificatesPruned(Vec<super::CertificateRecord>),
    /// Refused; the metadata did not change.
    Refused(MetadataError),
}

impl CommandResult {
    /// The variant's name, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ok => "Ok",
            Self::TopicCreated(_) => "TopicCreated",
            Self::TopicAltered(_) => "TopicAltered",
            Self::OffsetsCommitted(_) => "OffsetsCommitted",
            Self::ObjectRegistered(_) => "ObjectRegistered",
            Self::Partition(_) => "Partition",
            Self::ProducerId(_) => "ProducerId",
            Self::LeadersMoved(_) => "LeadersMoved",
            Self::AclsChanged(_) => "AclsChanged",
            Self::Certificate(_) => "Certificate",
            Self::EtlChanged(_) => "EtlChanged",
            Self::CertificatesPruned(_) => "CertificatesPruned",
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
        "insufficient brokers: replication factor {requested} needs {requested} live brokers, {available} available of {registered} registered (offline and draining brokers do not count; a broker that is still starting has not registered yet)"
    )]
    InsufficientBrokers {
        /// Replication factor asked for.
        requested: u32,
        /// Brokers available: registered, online and not draining.
        available: u32,
        /// Brokers registered.
        #[serde(default)]
        registered: u32,
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
    /// A topic's partition count can only grow: keys would move between partitions and the
    /// removed partitions' data would be lost.
    #[error("topic '{topic}' has {current} partitions; it cannot shrink to {requested}")]
    PartitionsCannotShrink {
        /// Topic.
        topic: String,
        /// Partitions it has.
        current: u32,
        /// Partitions asked for.
        requested: u32,
    },
    /// A certificate record is not acceptable.
    #[error("invalid certificate record: {0}")]
    InvalidCertificate(String),
    /// No certificate with this serial was issued by the cluster.
    #[error("certificate {0} not found")]
    UnknownCertificate(String),
    /// An ACL rule or change is not acceptable.
    #[error("invalid ACL change: {0}")]
    InvalidAcl(String),
    /// An ETL module or its deployment is not acceptable.
    #[error("invalid ETL module: {0}")]
    InvalidEtlModule(String),
    /// No ETL module of this name is deployed.
    #[error("ETL module '{0}' not found")]
    UnknownEtlModule(String),
    /// A topic setting is invalid.
    #[error("invalid topic config '{key}': {reason}")]
    InvalidConfig {
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
}
