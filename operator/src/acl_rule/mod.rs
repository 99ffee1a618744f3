//! The `AclRule` controller: keeps the cluster's ACLs for each resource equal to its spec.
//! The rules of one resource are kept under one source name and replaced in one Raft
//! command, so a change never shows a moment of denial; rules changed behind the
//! operator's back are put back; deleting the resource removes its rules.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use rustmq_security::acl::{
    AclRule as Rule, Conditions, Effect, Operation, PatternType, ResourcePattern, ResourceType,
};

use crate::context::Context;
use crate::crd::{
    AclEffect, AclOperation, AclPatternType, AclResource, AclResourceType, AclRule, AclRuleStatus,
};
use crate::dependent::{
    ClusterResource, cluster_of, not_ready, observed_current, ready_condition, reconcile_finalized,
    retry, write_status,
};
use crate::error::{Error, Result};

/// The finalizer the operator puts on every `AclRule`.
pub const FINALIZER: &str = "rustmq.io/acl-rule";
const CONTROLLER: &str = "acl_rule";

impl ClusterResource for AclRule {
    type Status = AclRuleStatus;
    fn cluster_ref(&self) -> &str {
        &self.spec.cluster_ref
    }
    fn status(&self) -> Option<&AclRuleStatus> {
        self.status.as_ref()
    }
    fn conditions(status: &AclRuleStatus) -> &[Condition] {
        &status.conditions
    }
    fn set_conditions(status: &mut AclRuleStatus, conditions: Vec<Condition>) {
        status.conditions = conditions;
    }
}

/// The name the cluster keeps a resource's rules under.
///
/// ```
/// use rustmq_operator::acl_rule::source;
/// assert_eq!(source("prod", "orders-writers"), "kubernetes:prod:orders-writers");
/// ```
pub fn source(namespace: &str, name: &str) -> String {
    format!("kubernetes:{namespace}:{name}")
}

fn source_of(a: &AclRule) -> String {
    source(&a.namespace().unwrap_or_default(), &a.name_any())
}

fn pattern(r: &AclResource) -> ResourcePattern {
    let resource_type = match r.resource_type {
        AclResourceType::Topic => ResourceType::Topic,
        AclResourceType::Group => ResourceType::Group,
        AclResourceType::Cluster => ResourceType::Cluster,
        AclResourceType::TransactionalId => ResourceType::TransactionalId,
    };
    if resource_type == ResourceType::Cluster {
        return ResourcePattern {
            resource_type,
            pattern_type: PatternType::Literal,
            name: "cluster".into(),
        };
    }
    ResourcePattern {
        resource_type,
        pattern_type: match r.pattern_type {
            AclPatternType::Literal => PatternType::Literal,
            AclPatternType::Prefixed => PatternType::Prefixed,
        },
        name: r.name.clone().unwrap_or_default(),
    }
}

fn operation(o: AclOperation) -> Operation {
    match o {
        AclOperation::Read => Operation::Read,
        AclOperation::Write => Operation::Write,
        AclOperation::Create => Operation::Create,
        AclOperation::Delete => Operation::Delete,
        AclOperation::Alter => Operation::Alter,
        AclOperation::Describe => Operation::Describe,
        AclOperation::ConsumeGroup => Operation::ConsumeGroup,
        AclOperation::ClusterAdmin => Operation::ClusterAdmin,
        AclOperation::All => Operation::All,
    }
}

/// The cluster rules a resource stands for: one per listed resource, in spec order.
///
/// ```
/// use rustmq_operator::acl_rule::desired_rules;
/// use rustmq_operator::crd::AclRule;
/// let a: AclRule = serde_json::from_value(serde_json::json!({
///     "apiVersion": "rustmq.io/v1alpha1", "kind": "AclRule",
///     "metadata": {"name": "w", "namespace": "prod"},
///     "spec": {"clusterRef": "rmq", "principal": "orders-app",
///              "resources": [{"type": "topic", "name": "orders.", "patternType": "prefixed"}],
///              "operations": ["write"]}
/// })).unwrap();
/// let rules = desired_rules(&a).unwrap();
/// assert_eq!(rules[0].resource.to_string(), "topic.orders.*");
/// assert_eq!(rules[0].source.as_deref(), Some("kubernetes:prod:w"));
/// ```
pub fn desired_rules(a: &AclRule) -> std::result::Result<Vec<Rule>, String> {
    let spec = &a.spec;
    let hosts = spec
        .conditions
        .hosts
        .iter()
        .map(|h| {
            h.parse::<ipnet::IpNet>()
                .map_err(|e| format!("conditions.hosts: '{h}' is not a CIDR: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let window = spec
        .conditions
        .window
        .as_deref()
        .map(|w| w.parse().map_err(|e| format!("conditions.window: {e}")))
        .transpose()?;
    let mut operations: Vec<Operation> = spec.operations.iter().copied().map(operation).collect();
    operations.sort();
    operations.dedup();
    let effect = match spec.effect {
        AclEffect::Allow => Effect::Allow,
        AclEffect::Deny => Effect::Deny,
    };
    let source = source_of(a);
    let mut rules: Vec<Rule> = Vec::new();
    for r in &spec.resources {
        let rule = Rule {
            principal: spec.principal.clone(),
            resource: pattern(r),
            operations: operations.clone(),
            effect,
            conditions: Conditions {
                hosts: hosts.clone(),
                window: window.clone(),
            },
            source: Some(source.clone()),
        };
        rustmq_controller::metadata::validate_rule(&rule).map_err(|e| e.to_string())?;
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// Whether two rule lists hold the same rules (the cluster keeps its own order).
fn same_rules(a: &[Rule], b: &[Rule]) -> bool {
    a.len() == b.len() && a.iter().all(|r| b.contains(r)) && b.iter().all(|r| a.contains(r))
}

/// Reconciles one `AclRule`.
pub async fn reconcile(rule: Arc<AclRule>, ctx: Arc<Context>) -> Result<Action> {
    reconcile_finalized(rule, ctx, FINALIZER, CONTROLLER, apply, cleanup).await
}

/// Retries failures with a doubling delay (5 s up to 5 min).
pub fn error_policy(rule: Arc<AclRule>, error: &Error, ctx: Arc<Context>) -> Action {
    retry(rule.as_ref(), error, &ctx, CONTROLLER)
}

async fn apply(a: &AclRule, ctx: &Context) -> Result<Action> {
    // Drift (rules changed through the API or CLI) is undone within this.
    let resync = Action::requeue(ctx.settings.resync);
    let Some((_, admin)) = cluster_of(a, ctx).await? else {
        not_ready(
            a,
            ctx,
            "ClusterNotFound",
            format!("RustMQCluster '{}' does not exist", a.spec.cluster_ref),
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let desired = match desired_rules(a) {
        Ok(r) => r,
        Err(message) => {
            not_ready(a, ctx, "InvalidRule", message).await?;
            return Ok(Action::await_change());
        }
    };
    let source = source_of(a);
    let current = admin.acls_of(&source).await?;
    let version = if same_rules(&current.rules, &desired) {
        current.version
    } else {
        let changed = match admin.replace_acls(&source, desired.clone()).await {
            Ok(r) => r,
            // The cluster refused the rules as invalid: the user must change the spec.
            Err(Error::Admin {
                status: Some(400),
                message,
                ..
            }) => {
                not_ready(a, ctx, "RulesRefused", message).await?;
                return Ok(Action::await_change());
            }
            Err(e) => return Err(e),
        };
        let drift = observed_current(a, a.status.as_ref().and_then(|s| s.observed_generation));
        let (kind, reason, note) = if drift {
            (
                EventType::Warning,
                "DriftCorrected",
                format!(
                    "the rules of {source} were changed outside the operator; put back (ACL version {})",
                    changed.version
                ),
            )
        } else {
            (
                EventType::Normal,
                "RulesApplied",
                format!(
                    "{} rule(s) for '{}' in force (ACL version {})",
                    desired.len(),
                    a.spec.principal,
                    changed.version
                ),
            )
        };
        ctx.publish(a, kind, reason, note).await;
        changed.version
    };
    let status = AclRuleStatus {
        observed_generation: a.metadata.generation,
        conditions: vec![ready_condition(
            a,
            "RulesInForce",
            &format!(
                "{} rule(s) for '{}' in force",
                desired.len(),
                a.spec.principal
            ),
        )],
        source: Some(source),
        rules: desired.len() as i32,
        acl_version: Some(version as i64),
    };
    if a.status.as_ref() != Some(&status) {
        write_status(a, ctx, &status).await?;
    }
    Ok(resync)
}

async fn cleanup(a: &AclRule, ctx: &Context) -> Result<Action> {
    // A cluster that is gone (or going) holds no rules: release the finalizer so that the
    // namespace can be deleted.
    let Some((_, admin)) = cluster_of(a, ctx).await? else {
        return Ok(Action::await_change());
    };
    let source = source_of(a);
    let removed = admin.replace_acls(&source, Vec::new()).await?;
    if removed.removed > 0 {
        ctx.publish(
            a,
            EventType::Normal,
            "RulesRemoved",
            format!(
                "removed {} rule(s) of {source} (ACL version {})",
                removed.removed, removed.version
            ),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Runs the controller until the process is told to stop.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let rules = match &namespace {
        Some(ns) => Api::<AclRule>::namespaced(ctx.client.clone(), ns),
        None => Api::<AclRule>::all(ctx.client.clone()),
    };
    Controller::new(rules, watcher::Config::default().any_semantic())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "acl rule controller");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn acl(spec: serde_json::Value) -> AclRule {
        serde_json::from_value(json!({
            "apiVersion": "rustmq.io/v1alpha1", "kind": "AclRule",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn every_resource_becomes_one_rule_with_the_same_operations_and_conditions() {
        let a = acl(json!({
            "clusterRef": "rmq", "principal": "billing",
            "resources": [
                {"type": "topic", "name": "invoices"},
                {"type": "group", "name": "billing-", "patternType": "prefixed"},
                {"type": "cluster"},
                {"type": "topic", "name": "invoices"},
            ],
            "operations": ["read", "consumeGroup", "read"],
            "effect": "deny",
            "conditions": {"hosts": ["10.0.0.0/8"], "window": "Mon-Fri 09:00-17:00 Europe/Berlin"},
        }));
        let rules = desired_rules(&a).unwrap();
        let shown: Vec<String> = rules.iter().map(|r| r.resource.to_string()).collect();
        assert_eq!(shown, ["topic.invoices", "group.billing-*", "cluster"]);
        for r in &rules {
            assert_eq!(r.operations, [Operation::Read, Operation::ConsumeGroup]);
            assert_eq!(r.effect, Effect::Deny);
            assert_eq!(r.conditions.hosts.len(), 1);
            assert!(r.conditions.window.is_some());
            assert_eq!(r.source.as_deref(), Some("kubernetes:ns:r"));
        }
    }

    #[test]
    fn unparsable_conditions_name_the_field() {
        let bad_host = acl(json!({
            "clusterRef": "rmq", "principal": "p",
            "resources": [{"type": "topic", "name": "t"}], "operations": ["read"],
            "conditions": {"hosts": ["10.0.0.0/33"]},
        }));
        let e = desired_rules(&bad_host).unwrap_err();
        assert!(e.contains("conditions.hosts"), "{e}");
        let bad_window = acl(json!({
            "clusterRef": "rmq", "principal": "p",
            "resources": [{"type": "topic", "name": "t"}], "operations": ["read"],
            "conditions": {"window": "Mon-Fri 09:00-17:00 Mars/Olympus"},
        }));
        let e = desired_rules(&bad_window).unwrap_err();
        assert!(e.contains("conditions.window"), "{e}");
    }

    #[test]
    fn rule_lists_compare_as_sets() {
        let a = acl(json!({
            "clusterRef": "rmq", "principal": "p",
            "resources": [{"type": "topic", "name": "a"}, {"type": "topic", "name": "b"}],
            "operations": ["write"],
        }));
        let rules = desired_rules(&a).unwrap();
        let reversed: Vec<Rule> = rules.iter().rev().cloned().collect();
        assert!(same_rules(&rules, &reversed));
        assert!(!same_rules(&rules, &rules[..1]));
        let mut other = rules.clone();
        other[0].source = None;
        assert!(!same_rules(&rules, &other));
    }
}
