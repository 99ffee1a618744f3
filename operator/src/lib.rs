//! RustMQ's Kubernetes operator.
//!
//! Owns: the `RustMQCluster` and `Topic` custom resources (`crd`), which the `crds/` YAML is
//! generated from. Never: talks to brokers except through the admin API.

pub mod crd;
