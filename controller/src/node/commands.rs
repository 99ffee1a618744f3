//! One typed method per metadata change, each proposing its command through Raft.

use crate::metadata::{Command, CommandResult, MetadataError, Topic, TopicConfig};
use crate::{ControllerError, catalog, metadata};

use super::{Controller, now_ms};

impl Controller {
    /// Creates a topic. Partitions are assigned to the registered brokers.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u32,
        config: TopicConfig,
    ) -> Result<Topic, ControllerError> {
        // Validate before proposing so bad requests do not grow the log.
        metadata::validate_topic_name(name)?;
        let created_at =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.propose_expect(
            Command::CreateTopic {
                name: name.to_string(),
                partitions,
                replication_factor,
                config,
                created_at,
            },
            |r| match r {
                CommandResult::TopicCreated(t) => Some(t),
                _ => None,
            },
        )
        .await
    }

    /// Grows a topic to `partitions` and/or replaces its whole config; returns the topic as
    /// altered. Shrinking is refused with [`MetadataError::PartitionsCannotShrink`].
    pub async fn alter_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
        config: Option<TopicConfig>,
    ) -> Result<Topic, ControllerError> {
        if !self.metadata().topics.contains_key(name) {
            return Err(MetadataError::UnknownTopic(name.to_string()).into());
        }
        self.propose_expect(
            Command::AlterTopic {
                name: name.to_string(),
                partitions,
                config,
            },
            |r| match r {
                CommandResult::TopicAltered(t) => Some(t),
                _ => None,
            },
        )
        .await
    }

    /// Changes the ACL rules in one step: removals, then additions. Every broker and
    /// controller sees either the rules before or the rules after, never a mixture.
    pub async fn change_acls(
        &self,
        change: metadata::AclChange,
    ) -> Result<metadata::AclChangeResult, ControllerError> {
        // Validate before proposing so bad requests do not grow the log.
        for r in &change.add {
            metadata::validate_rule(r)?;
        }
        self.propose_expect(Command::ChangeAcls(change), |r| match r {
            CommandResult::AclsChanged(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// Deploys a WebAssembly ETL module (or replaces the one of its name); returns the ETL
    /// version every broker's pipeline reaches once it has compiled the module.
    pub async fn deploy_etl_module(
        &self,
        spec: rustmq_etl::pipeline::ModuleSpec,
        wasm: bytes::Bytes,
    ) -> Result<u64, ControllerError> {
        metadata::validate_etl_module(&spec, &wasm)?;
        let cmd = Command::DeployEtlModule {
            spec,
            wasm,
            deployed_at_ms: now_ms(),
        };
        self.propose_expect(cmd, |r| match r {
            CommandResult::EtlChanged(v) => Some(v),
            _ => None,
        })
        .await
    }

    /// Removes a WebAssembly ETL module; returns the new ETL version.
    pub async fn remove_etl_module(&self, name: &str) -> Result<u64, ControllerError> {
        if !self.metadata().etl.modules.contains_key(name) {
            return Err(MetadataError::UnknownEtlModule(name.to_string()).into());
        }
        let cmd = Command::RemoveEtlModule {
            name: name.to_string(),
        };
        self.propose_expect(cmd, |r| match r {
            CommandResult::EtlChanged(v) => Some(v),
            _ => None,
        })
        .await
    }

    /// Records a certificate the cluster CA issued (its metadata only).
    pub async fn record_certificate(
        &self,
        info: rustmq_security::ca::CertificateInfo,
        replaces: Option<String>,
    ) -> Result<metadata::CertificateRecord, ControllerError> {
        self.propose_expect(Command::RecordCertificate { info, replaces }, |r| match r {
            CommandResult::Certificate(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// Revokes a certificate: once committed, brokers refuse it at the handshake and close
    /// the sessions that use it.
    pub async fn revoke_certificate(
        &self,
        serial: &str,
        reason: rustmq_security::ca::RevocationReason,
    ) -> Result<metadata::CertificateRecord, ControllerError> {
        if !self.metadata().certificates.records.contains_key(serial) {
            return Err(MetadataError::UnknownCertificate(serial.to_string()).into());
        }
        self.propose_expect(
            Command::RevokeCertificate {
                serial: serial.to_string(),
                reason,
                revoked_at: now_ms() / 1000,
            },
            |r| match r {
                CommandResult::Certificate(c) => Some(c),
                _ => None,
            },
        )
        .await
    }

    /// Forgets the certificates that expired before `expired_before` (seconds since the
    /// epoch); returns their records.
    pub async fn prune_certificates(
        &self,
        expired_before: i64,
    ) -> Result<Vec<metadata::CertificateRecord>, ControllerError> {
        self.propose_expect(Command::PruneCertificates { expired_before }, |r| match r {
            CommandResult::CertificatesPruned(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ControllerError> {
        if !self.metadata().topics.contains_key(name) {
            return Err(MetadataError::UnknownTopic(name.to_string()).into());
        }
        self.propose_applied(Command::DeleteTopic {
            name: name.to_string(),
            deleted_at_ms: now_ms(),
        })
        .await
    }

    /// Commits consumer-group offsets through Raft; returns how many were stored.
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<metadata::OffsetCommit>,
    ) -> Result<usize, ControllerError> {
        let committed_at_ms = now_ms();
        self.propose_expect(
            Command::CommitOffsets {
                group: group.to_string(),
                offsets,
                committed_at_ms,
            },
            |r| match r {
                CommandResult::OffsetsCommitted(n) => Some(n),
                _ => None,
            },
        )
        .await
    }

    /// Forgets a group's committed offsets.
    pub async fn delete_group_offsets(&self, group: &str) -> Result<(), ControllerError> {
        self.propose_applied(Command::DeleteGroupOffsets {
            group: group.to_string(),
        })
        .await
    }

    /// Registers an uploaded object in the catalog. Idempotent for retries: ranges already
    /// uploaded are skipped and an object with nothing new comes back `Redundant`.
    pub async fn register_object(
        &self,
        object: catalog::UploadedObject,
    ) -> Result<catalog::Registered, ControllerError> {
        self.propose_expect(Command::RegisterObject(object), |r| match r {
            CommandResult::ObjectRegistered(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// Replaces the slices a compacted object covers, all or nothing.
    pub async fn compact_object(
        &self,
        object: catalog::UploadedObject,
    ) -> Result<(), ControllerError> {
        self.propose_applied(Command::CompactObject {
            object,
            now_ms: now_ms(),
        })
        .await
    }

    /// Retention in object storage: forget a partition's data below `start_offset`.
    pub async fn trim_partition(
        &self,
        key: catalog::PartitionKey,
        start_offset: i64,
    ) -> Result<(), ControllerError> {
        self.propose_applied(Command::TrimPartition {
            key,
            start_offset,
            now_ms: now_ms(),
        })
        .await
    }

    /// Unreferenced objects were deleted from the bucket.
    pub async fn forget_objects(&self, keys: Vec<String>) -> Result<(), ControllerError> {
        self.propose_applied(Command::ForgetObjects { keys }).await
    }

    /// A partition leader changes the ISR; returns the partition as the controllers now
    /// hold it. Refused with `StaleLeader` when the leader's view is out of date.
    pub async fn alter_isr(
        &self,
        change: metadata::IsrChange,
    ) -> Result<metadata::PartitionAssignment, ControllerError> {
        self.propose_expect(Command::AlterIsr(change), |r| match r {
            CommandResult::Partition(a) => Some(a),
            _ => None,
        })
        .await
    }

    /// A new idempotent-producer id.
    pub async fn init_producer_id(&self) -> Result<i64, ControllerError> {
        self.propose_expect(Command::InitProducerId, |r| match r {
            CommandResult::ProducerId(id) => Some(id),
            _ => None,
        })
        .await
    }

    /// Moves partitions of `topic` to new replica lists (preferred leader first).
    pub async fn reassign_partitions(
        &self,
        topic: &str,
        targets: Vec<(u32, Vec<u32>)>,
    ) -> Result<(), ControllerError> {
        self.propose_applied(Command::ReassignPartitions {
            topic: topic.to_string(),
            targets,
        })
        .await
    }

    /// Drains a broker: no new replicas go to it, and every replica it holds moves to the
    /// live broker (not already a replica of that partition) holding the fewest replicas,
    /// preferring the drained replica's rack. Leadership moves as each reassignment
    /// completes. Returns the number of partitions being moved.
    pub async fn drain_broker(&self, id: u32) -> Result<usize, ControllerError> {
        self.propose_applied(Command::SetDraining { id, draining: true })
            .await?;
        let md = self.metadata();
        let plan = metadata::drain_plan(&md, id)?;
        let moved = plan.values().map(Vec::len).sum();
        for (topic, targets) in plan {
            self.reassign_partitions(&topic, targets).await?;
        }
        Ok(moved)
    }

    /// Stops draining a broker (it may receive new replicas again).
    pub async fn undrain_broker(&self, id: u32) -> Result<(), ControllerError> {
        self.propose_applied(Command::SetDraining {
            id,
            draining: false,
        })
        .await
    }
}
