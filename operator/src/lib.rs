//! RustMQ's Kubernetes operator: the `RustMQCluster`, `Topic`, `AclRule` and `Certificate`
//! custom resources and the controllers reconciling them into StatefulSets, Services,
//! topics, ACLs and certificate Secrets.

pub mod acl_rule;
pub mod admin;
pub mod backoff;
pub mod certificate;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod crd;
pub mod dependent;
pub mod error;
pub mod metrics;
pub mod server;
pub mod topic;

pub use error::{Error, Result};
