//! `AclRule`: what one principal may (or may not) do in a `RustMQCluster` of the same
//! namespace, kept in the cluster's ACLs by the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Access rules of one principal: each listed resource gets the operations with the
/// effect, under the conditions.
// Each printcolumn(...) names its own type_, which clippy takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustmq.io",
    version = "v1alpha1",
    kind = "AclRule",
    plural = "aclrules",
    shortname = "rmqacl",
    category = "rustmq",
    namespaced,
    status = "AclRuleStatus",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".spec.principal"),
    printcolumn(name = "Effect", type_ = "string", json_path = ".spec.effect"),
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
pub struct AclRuleSpec {
    /// The `RustMQCluster` (same namespace) the rules apply in.
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef cannot change"))]
    pub cluster_ref: String,
    /// The principal (from a certificate's identity or a token's subject), or `*` for
    /// every authenticated principal.
    #[x_kube(
        validation = Rule::new("self.matches('^[^ ]+$')").message("principal must be non-empty without spaces")
    )]
    pub principal: String,
    /// The resources the rules are about.
    #[x_kube(validation = Rule::new("self.size() > 0").message("at least one resource"))]
    pub resources: Vec<AclResource>,
    /// The operations allowed or denied (`all`: every one).
    #[x_kube(validation = Rule::new("self.size() > 0").message("at least one operation"))]
    pub operations: Vec<AclOperation>,
    /// Allow (default) or deny; a matching deny beats every allow.
    #[serde(default)]
    pub effect: AclEffect,
    /// When the rules apply besides principal and resource.
    #[serde(default)]
    pub conditions: AclConditions,
}

/// Resources by type and name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type == 'cluster' || (has(self.name) && self.name.size() > 0)").message("name is required for topics, groups and transactional ids")
)]
pub struct AclResource {
    /// What kind of resource.
    #[serde(rename = "type")]
    pub resource_type: AclResourceType,
    /// The name, a prefix (`patternType: prefixed`) or `*` for every one; none for the
    /// cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `literal` (default) or `prefixed`.
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

/// A kind of resource.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AclResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (administration).
    Cluster,
    /// A transactional id.
    TransactionalId,
}

/// How a resource name matches.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum AclPatternType {
    /// Exactly the name (`*`: every resource of the type).
    #[default]
    Literal,
    /// Every name starting with it.
    Prefixed,
}

/// An operation.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AclOperation {
    /// Fetch; read a group's offsets.
    Read,
    /// Produce.
    Write,
    /// Create topics.
    Create,
    /// Delete topics or groups.
    Delete,
    /// Change a topic's config or partitions.
    Alter,
    /// See that a resource exists (implied by read, write, delete and alter).
    Describe,
    /// Join a consumer group and commit its offsets.
    ConsumeGroup,
    /// Administer the cluster.
    ClusterAdmin,
    /// Every operation.
    All,
}

/// Allow or deny.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum AclEffect {
    /// Grant.
    #[default]
    Allow,
    /// Refuse, whatever else allows.
    Deny,
}

/// Conditions of the rules.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AclConditions {
    /// Client networks (CIDR, e.g. `10.0.0.0/8`) the rules apply to; none: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// A weekly window with its time zone, e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`; none:
    /// always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// What the operator observed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AclRuleStatus {
    /// The generation of the spec this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The name the cluster keeps these rules under (`kubernetes:<namespace>:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Rules in force in the cluster for this resource.
    #[serde(default)]
    pub rules: i32,
    /// The cluster's ACL version when they were last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_version: Option<i64>,
}
