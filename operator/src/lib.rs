//! RustMQ's Kubernetes operator: the `RustMQCluster` and `Topic` custom resources and the
//! controllers reconciling them into StatefulSets, Services and topics.

pub mod admin;
pub mod backoff;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod crd;
pub mod error;
pub mod metrics;
pub mod server;
pub mod topic;

pub use error::{Error, Result};
