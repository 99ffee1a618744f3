//! What an ACL rule says: who (a principal, or `*`), on what (a resource type and a literal or
//! prefixed name), which operations, allow or deny, and under which conditions (client
//! address ranges, a weekly time window).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::window::TimeWindow;

/// A value that does not parse, naming what it should have been.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what} '{value}': {reason}")]
pub struct ParseError {
    /// The kind of value (`operation`, `resource`, ...).
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// Why it does not parse.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            what,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// What kind of thing is protected.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// A topic, by name.
    Topic,
    /// A consumer group, by id.
    Group,
    /// The cluster itself (one resource, named `cluster`).
    Cluster,
    /// A transactional id (reserved: RustMQ has no transactions yet).
    TransactionalId,
}

impl ResourceType {
    /// The lower-case name used in resource strings and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Topic => "topic",
            Self::Group => "group",
            Self::Cluster => "cluster",
            Self::TransactionalId => "transactional_id",
        }
    }
}

/// A resource as audit records and refusals name it: `topic:orders`, `group:billing`,
/// `cluster`.
///
/// ```
/// use rustmq_security::acl::{ResourceType, resource_label};
/// assert_eq!(resource_label(ResourceType::Topic, "orders"), "topic:orders");
/// assert_eq!(resource_label(ResourceType::Cluster, "cluster"), "cluster");
/// ```
pub fn resource_label(resource_type: ResourceType, name: &str) -> String {
    match resource_type {
        ResourceType::Cluster => "cluster".to_string(),
        t => format!("{}:{name}", t.as_str()),
    }
}

impl FromStr for ResourceType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.to_ascii_lowercase().as_str() {
            "topic" => Ok(Self::Topic),
            "group" => Ok(Self::Group),
            "cluster" => Ok(Self::Cluster),
            "transactional_id" | "transactional-id" => Ok(Self::TransactionalId),
            _ => Err(ParseError::new(
                "resource type",
                s,
                "expected topic, group, cluster or transactional_id",
            )),
        }
    }
}

/// How a rule's resource name matches.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PatternType {
    /// The exact name; the name `*` matches every resource of the type.
    Literal,
    /// Every name starting with the rule's name.
    Prefixed,
}

/// What a request does to a resource.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Fetch from a topic; read a group's offsets.
    Read,
    /// Produce to a topic.
    Write,
    /// Create a topic.
    Create,
    /// Delete a topic or group.
    Delete,
    /// Change a topic's config or partitions.
    Alter,
    /// See that a resource exists (metadata, listings). Implied by read, write, delete and
    /// alter, as in Kafka.
    Describe,
    /// Join a consumer group and commit its offsets.
    ConsumeGroup,
    /// Cluster-wide administration (brokers, controllers, rebalancing, certificates, ACLs).
    ClusterAdmin,
    /// In a rule: every operation.
    All,
}

impl Operation {
    /// Every operation a request can ask for (not [`Operation::All`]).
    pub const REQUESTABLE: [Operation; 8] = [
        Self::Read,
        Self::Write,
        Self::Create,
        Self::Delete,
        Self::Alter,
        Self::Describe,
        Self::ConsumeGroup,
        Self::ClusterAdmin,
    ];

    /// The lower-case name used in rules and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Alter => "alter",
            Self::Describe => "describe",
            Self::ConsumeGroup => "consume_group",
            Self::ClusterAdmin => "cluster_admin",
            Self::All => "all",
        }
    }

    /// Whether a rule granting or denying `self` covers a request for `requested`. An allow
    /// of read, write, delete or alter also allows describe (Kafka's implied describe), and
    /// so does cluster_admin (whoever administers the cluster may read its state through
    /// the admin API); a deny covers only what it names (and `all`).
    /// `consume_group` is read on a group (joining, syncing, heartbeats, commits) under
    /// its seed name.
    pub fn covers(self, requested: Operation, allow: bool) -> bool {
        self == Self::All
            || self == requested
            || (self == Self::ConsumeGroup && requested == Self::Read)
            || (allow
                && requested == Self::Describe
                && matches!(
                    self,
                    Self::Read
                        | Self::Write
                        | Self::Delete
                        | Self::Alter
                        | Self::ConsumeGroup
                        | Self::ClusterAdmin
                ))
    }
}

impl FromStr for Operation {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "read" => Self::Read,
                "write" => Self::Write,
                "create" => Self::Create,
                "delete" => Self::Delete,
                "alter" => Self::Alter,
                "describe" => Self::Describe,
                "consume_group" | "join" | "join_group" => Self::ConsumeGroup,
                "cluster_admin" | "admin" => Self::ClusterAdmin,
                "all" | "*" => Self::All,
                _ => {
                    return Err(ParseError::new(
                        "operation",
                        s,
                        "expected read, write, create, delete, alter, describe, consume_group, cluster_admin or all",
                    ));
                }
            },
        )
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the operations.
    Allow,
    /// Refuses them, whatever else allows them.
    Deny,
}

impl FromStr for Effect {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.to_ascii_lowercase().as_str() {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            _ => Err(ParseError::new("effect", s, "expected allow or deny")),
        }
    }
}

/// The resources a rule is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourcePattern {
    /// Kind of resource.
    pub resource_type: ResourceType,
    /// Literal or prefixed.
    pub pattern_type: PatternType,
    /// The name, the prefix, or `*` (literal: every resource of the type).
    pub name: String,
}

impl ResourcePattern {
    /// Whether `resource_type`/`name` is one of the resources.
    pub fn matches(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => self.name == "*" || self.name == name,
                PatternType::Prefixed => name.starts_with(&self.name),
            }
    }
}

impl FromStr for ResourcePattern {
    type Err = ParseError;
    /// The seed's form: `topic.events.*` (topics starting with `events.`), `topic.orders`
    /// (that topic), `topic.*` (every topic), `group.billing-*`, `cluster`.
    ///
    /// ```
    /// use rustmq_security::acl::{PatternType, ResourcePattern, ResourceType};
    /// let p: ResourcePattern = "topic.users.*".parse().unwrap();
    /// assert_eq!(p.resource_type, ResourceType::Topic);
    /// assert_eq!(p.pattern_type, PatternType::Prefixed);
    /// assert_eq!(p.name, "users.");
    /// assert!(p.matches(ResourceType::Topic, "users.data"));
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (kind, name) = s.split_once('.').unwrap_or((s, ""));
        let resource_type: ResourceType = kind
            .parse()
            .map_err(|e: ParseError| ParseError::new("resource", s, e.reason))?;
        if resource_type == ResourceType::Cluster {
            if !name.is_empty() && name != "*" {
                return Err(ParseError::new(
                    "resource",
                    s,
                    "the cluster resource has no name",
                ));
            }
            return Ok(Self {
                resource_type,
                pattern_type: PatternType::Literal,
                name: "cluster".into(),
            });
        }
        if name.is_empty() {
            return Err(ParseError::new(
                "resource",
                s,
                "expected <type>.<name>, <type>.<prefix>* or <type>.*",
            ));
        }
        if name.contains('*') && !(name.ends_with('*') && name.matches('*').count() == 1) {
            return Err(ParseError::new(
                "resource",
                s,
                "'*' may only end a name (a prefix)",
            ));
        }
        Ok(match name.strip_suffix('*') {
            Some("") => Self {
                resource_type,
                pattern_type: PatternType::Literal,
                name: "*".into(),
            },
            Some(prefix) => Self {
                resource_type,
                pattern_type: PatternType::Prefixed,
                name: prefix.into(),
            },
            None => Self {
                resource_type,
                pattern_type: PatternType::Literal,
                name: name.into(),
            },
        })
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.resource_type, self.pattern_type) {
            (ResourceType::Cluster, _) => f.write_str("cluster"),
            (t, PatternType::Literal) if self.name == "*" => write!(f, "{}.*", t.as_str()),
            (t, PatternType::Literal) => write!(f, "{}.{}", t.as_str(), self.name),
            (t, PatternType::Prefixed) => write!(f, "{}.{}*", t.as_str(), self.name),
        }
    }
}

/// When a rule applies besides its principal and resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conditions {
    /// Client addresses the rule applies to (empty: any), as CIDR strings in JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "cidrs")]
    #[schema(value_type = Vec<String>, example = json!(["10.0.0.0/8"]))]
    pub hosts: Vec<ipnet::IpNet>,
    /// The weekly window the rule applies in (none: always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Mon-Fri 09:00-17:00 Europe/Berlin")]
    pub window: Option<TimeWindow>,
}

/// One ACL rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclRule {
    /// The principal, or `*` for every authenticated principal.
    pub principal: String,
    /// The resources.
    pub resource: ResourcePattern,
    /// The operations ([`Operation::All`]: every one).
    pub operations: Vec<Operation>,
    /// Allow or deny.
    pub effect: Effect,
    /// Extra conditions.
    #[serde(default)]
    pub conditions: Conditions,
    /// Who manages the rule: `kubernetes:<namespace>:<name>` for one the operator keeps in
    /// line with an `AclRule` resource (it replaces exactly the rules of its source); unset
    /// for rules made through the API or the CLI. Not part of a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What is being asked: who, from where, which operation on which resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// The authenticated principal.
    pub principal: String,
    /// The client's address, when known.
    pub host: Option<std::net::IpAddr>,
    /// The operation.
    pub operation: Operation,
    /// Kind of resource.
    pub resource_type: ResourceType,
    /// Its name (`cluster` for the cluster).
    pub resource: String,
}

impl AclRule {
    /// Whether the rule speaks about `req` (principal, resource, operation, host), leaving
    /// out the time window, which depends on the clock.
    pub(crate) fn concerns(&self, req: &Request) -> bool {
        let allow = self.effect == Effect::Allow;
        (self.principal == "*" || self.principal == req.principal)
            && self.resource.matches(req.resource_type, &req.resource)
            && self
                .operations
                .iter()
                .any(|o| o.covers(req.operation, allow))
            && (self.conditions.hosts.is_empty()
                || req
                    .host
                    .is_some_and(|h| self.conditions.hosts.iter().any(|n| n.contains(&h))))
    }
}

/// `Vec<IpNet>` as CIDR strings (`10.0.0.0/8`), refusing ones that do not parse.
mod cidrs {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(nets: &[ipnet::IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nets.iter().map(|n| n.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| serde::de::Error::custom(format!("host '{t}': {e}")))
            })
            .collect()
    }
}
