//! `Topic`: a topic of a `RustMQCluster` in the same namespace, managed as YAML.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A topic.
// Each printcolumn(...) names its own type_, which clippy takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustmq.io",
    version = "v1alpha1",
    kind = "Topic",
    plural = "topics",
    shortname = "rmqt",
    category = "rustmq",
    namespaced,
    status = "TopicStatus",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Partitions", type_ = "integer", json_path = ".spec.partitions"),
    printcolumn(
        name = "Replication",
        type_ = "integer",
        json_path = ".spec.replicationFactor"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// The `RustMQCluster` (same namespace) the topic lives in.
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef cannot change"))]
    pub cluster_ref: String,
    /// Topic name in RustMQ (unset: the resource's name).
    #[x_kube(validation = Rule::new("self == oldSelf").message("topicName cannot change"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Partitions; may grow, never shrink (the operator refuses with a condition).
    #[x_kube(validation = Rule::new("self >= 1").message("partitions must be at least 1"))]
    pub partitions: i32,
    /// Replicas of each partition. Fixed once created (reassignment changes placement).
    #[x_kube(validation = Rule::new("self >= 1").message("replicationFactor must be at least 1"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("replicationFactor cannot change"))]
    #[serde(default = "one")]
    pub replication_factor: i32,
    /// Topic configs (`retention.ms`, `segment.bytes`, `compression.type`, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// What deleting the resource does to the topic.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn one() -> i32 {
    1
}

/// What deleting a `Topic` resource does.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum DeletionPolicy {
    /// The topic and its data are deleted.
    #[default]
    Delete,
    /// The topic stays in the cluster.
    Retain,
}

/// What the operator observed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// The generation of the spec this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Degraded`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Partitions the topic has in the cluster.
    #[serde(default)]
    pub partitions: i32,
    /// Partitions whose ISR is smaller than their replica set.
    #[serde(default)]
    pub under_replicated_partitions: i32,
}
