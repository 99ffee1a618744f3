//! Cluster metadata as the Raft state machine holds it, and the commands that change it.
//!
//! `ClusterMetadata::apply` is a plain, deterministic function: every controller applies the
//! same committed commands in the same order and reaches the same state. Anything that varies
//! between nodes (the clock, for example) travels inside the command.
//!
//! `types` holds the state, `commands` what changes it and why a change is refused, `apply`
//! the one entry point, `placement` where replicas go (new topics, reassignment, draining)
//! and `isr` leader election and in-sync replica changes; `acls` the ACL rules, `certificates` what the cluster CA issued and revoked, and `etl` the
//! deployed WebAssembly ETL modules.

mod acls;
mod apply;
mod certificates;
mod commands;
mod etl;
mod isr;
mod placement;
mod types;

pub use acls::{AclChange, AclChangeResult, AclFilter, AclState, MAX_ACL_RULES, validate_rule};
pub use certificates::{CertificateRecord, CertificateRegistry, CertificateStatus};
pub use commands::{Command, CommandResult, IsrChange, LeaderMove, MetadataError};
pub use etl::{
    EtlModuleRecord, EtlState, MAX_ETL_MODULE_BYTES, MAX_ETL_MODULES, decode_module_base64,
    etl_digest, validate_etl_module,
};
pub use placement::{DrainPlan, drain_plan};
pub use types::{
    BrokerRegistration, ClusterMetadata, CommittedOffset, GroupOffsets, MAX_PARTITIONS,
    MAX_TOPIC_NAME_LEN, OffsetCommit, PartitionAssignment, Topic, TopicConfig, validate_topic_name,
};

#[cfg(test)]
mod tests;
