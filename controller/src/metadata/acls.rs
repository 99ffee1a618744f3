//! The cluster's ACL rules as Raft holds them: one ordered list and a version that grows
//! with every change. A change is one batch (remove what filters match, add new rules), so
//! replacing a principal's rules is one step that no request sees half done.

use rustmq_security::acl::{AclRule, Effect, Operation, ResourcePattern, ResourceType};
use serde::{Deserialize, Serialize};

use super::MetadataError;

/// Most rules the cluster holds (the authorizer indexes them; the bound keeps snapshots and
/// the API sane).
pub const MAX_ACL_RULES: usize = 1_000_000;

/// The rules in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclState {
    /// Grows by one with every change that changed something (0: never changed).
    pub version: u64,
    /// The rules, in the order they were added.
    pub rules: imbl::Vector<AclRule>,
    /// Principals whose decisions brokers compute ahead (`acl cache warm`): after every
    /// change of the rules, and when such a principal connects from a new address, so its
    /// first requests find their decisions cached. Sorted, without duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm_principals: Vec<String>,
}

/// Most principals `acl cache warm` takes (each costs the brokers one decision per topic
/// and operation per address it connects from).
pub const MAX_WARM_PRINCIPALS: usize = 100;

/// Which rules a removal is about; an unset field matches every rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclFilter {
    /// Exactly this principal (`*` only matches rules for `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Exactly this resource pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourcePattern>,
    /// Every rule about this kind of resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ResourceType>,
    /// Rules that list this operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// Rules with this effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// Rules managed by this source (see [`AclRule::source`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl AclFilter {
    /// Whether `rule` is one the filter names.
    pub fn matches(&self, rule: &AclRule) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == rule.principal)
            && self.resource.as_ref().is_none_or(|r| *r == rule.resource)
            && self
                .resource_type
                .is_none_or(|t| t == rule.resource.resource_type)
            && self.operation.is_none_or(|o| rule.operations.contains(&o))
            && self.effect.is_none_or(|e| e == rule.effect)
            && self
                .source
                .as_ref()
                .is_none_or(|s| rule.source.as_ref() == Some(s))
    }

    /// Whether the filter would match every rule (refused for removals: use a principal or
    /// a resource, so "delete everything" is never a typo).
    pub fn is_everything(&self) -> bool {
        *self == Self::default()
    }
}

/// One atomic change: first every rule any of `remove` matches goes (unless `add` has it
/// too: then it stays where it is), then `add` is appended (rules already present are not
/// added twice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclChange {
    /// What to remove.
    #[serde(default)]
    pub remove: Vec<AclFilter>,
    /// What to add.
    #[serde(default)]
    pub add: Vec<AclRule>,
    /// Replaces the principals whose decisions brokers compute ahead, when set. It
    /// changes no decision, so not the version either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_principals: Option<Vec<String>>,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclChangeResult {
    /// The version now in force.
    pub version: u64,
    /// Rules removed.
    pub removed: usize,
    /// Rules added.
    pub added: usize,
}

/// Checks a rule before it is proposed (the same check runs again at apply).
pub fn validate_rule(rule: &AclRule) -> Result<(), MetadataError> {
    let bad = |reason: &str| MetadataError::InvalidAcl(format!("{reason}: {rule:?}"));
    if rule.principal.trim().is_empty() || rule.principal != rule.principal.trim() {
        return Err(bad("the principal is empty or has surrounding spaces"));
    }
    if rule.operations.is_empty() {
        return Err(bad("no operation"));
    }
    if rule.resource.name.is_empty() {
        return Err(bad("no resource name (use `*` for every one)"));
    }
    Ok(())
}

impl AclState {
    /// Applies `change` whole, or refuses it whole.
    pub fn apply(&mut self, change: AclChange) -> Result<AclChangeResult, MetadataError> {
        if change.remove.iter().any(AclFilter::is_everything) {
            return Err(MetadataError::InvalidAcl(
                "a removal filter must name a principal, a resource or a resource type".into(),
            ));
        }
        for r in &change.add {
            validate_rule(r)?;
        }
        let warm = match change.warm_principals {
            Some(mut w) => {
                w.sort();
                w.dedup();
                if w.len() > MAX_WARM_PRINCIPALS {
                    return Err(MetadataError::InvalidAcl(format!(
                        "{} principals to warm exceed the limit of {MAX_WARM_PRINCIPALS}",
                        w.len()
                    )));
                }
                if w.iter().any(|p| p.trim().is_empty() || p != p.trim()) {
                    return Err(MetadataError::InvalidAcl(
                        "a principal to warm is empty or has surrounding spaces".into(),
                    ));
                }
                Some(w)
            }
            None => None,
        };
        let before = self.rules.len();
        // A rule that is removed and added again keeps its place (and the index decisions
        // report): replacing rules with the same rules is no change at all.
        let mut rules: imbl::Vector<AclRule> = self
            .rules
            .iter()
            .filter(|r| !change.remove.iter().any(|f| f.matches(r)) || change.add.contains(r))
            .cloned()
            .collect();
        let removed = before - rules.len();
        let mut added = 0;
        for r in change.add {
            if !rules.contains(&r) {
                rules.push_back(r);
                added += 1;
            }
        }
        if rules.len() > MAX_ACL_RULES {
            return Err(MetadataError::InvalidAcl(format!(
                "{} rules would exceed the limit of {MAX_ACL_RULES}",
                rules.len()
            )));
        }
        // A change that changes nothing keeps the version (which every broker's decision
        // cache is keyed with).
        if rules != self.rules {
            self.rules = rules;
            self.version += 1;
        }
        if let Some(w) = warm {
            self.warm_principals = w;
        }
        Ok(AclChangeResult {
            version: self.version,
            removed,
            added,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustmq_security::acl::Conditions;

    fn rule(principal: &str, resource: &str, op: Operation, effect: Effect) -> AclRule {
        AclRule {
            principal: principal.into(),
            resource: resource.parse().unwrap(),
            operations: vec![op],
            effect,
            conditions: Conditions::default(),
            source: None,
        }
    }

    #[test]
    fn the_warm_list_is_replaced_sorted_and_bounded_without_a_new_version() {
        let mut s = AclState::default();
        let warm = |list: Vec<&str>| AclChange {
            warm_principals: Some(list.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        let r = s.apply(warm(vec!["bob", "alice", "bob"])).unwrap();
        assert_eq!(r.version, 0);
        assert_eq!(s.warm_principals, ["alice", "bob"]);
        let many: Vec<String> = (0..=MAX_WARM_PRINCIPALS).map(|i| format!("p{i}")).collect();
        assert!(
            s.apply(AclChange {
                warm_principals: Some(many),
                ..Default::default()
            })
            .is_err()
        );
        assert!(s.apply(warm(vec![" x"])).is_err());
        assert_eq!(s.warm_principals, ["alice", "bob"], "refused whole");
        s.apply(warm(vec![])).unwrap();
        assert!(s.warm_principals.is_empty());
    }

    #[test]
    fn a_change_replaces_a_principals_rules_in_one_version() {
        let mut s = AclState::default();
        let r = s
            .apply(AclChange {
                remove: vec![],
                add: vec![
                    rule("alice", "topic.orders", Operation::Write, Effect::Allow),
                    rule("bob", "topic.orders", Operation::Read, Effect::Allow),
                ],
                warm_principals: None,
            })
            .unwrap();
        assert_eq!((r.version, r.removed, r.added), (1, 0, 2));
        let r = s
            .apply(AclChange {
                remove: vec![AclFilter {
                    principal: Some("alice".into()),
                    ..Default::default()
                }],
                add: vec![rule(
                    "alice",
                    "topic.events.*",
                    Operation::Write,
                    Effect::Allow,
                )],
                warm_principals: None,
            })
            .unwrap();
        assert_eq!((r.version, r.removed, r.added), (2, 1, 1));
        assert_eq!(s.rules.len(), 2);
        assert!(s.rules.iter().any(|r| r.principal == "bob"));
        // A change that changes nothing keeps the version.
        let again = s
            .apply(AclChange {
                remove: vec![],
                add: vec![rule("bob", "topic.orders", Operation::Read, Effect::Allow)],
                warm_principals: None,
            })
            .unwrap();
        assert_eq!((again.version, again.added), (2, 0));
        // Nor does replacing rules with themselves.
        let same = s
            .apply(AclChange {
                remove: vec![AclFilter {
                    principal: Some("bob".into()),
                    ..Default::default()
                }],
                add: vec![rule("bob", "topic.orders", Operation::Read, Effect::Allow)],
                warm_principals: None,
            })
            .unwrap();
        assert_eq!((same.version, same.removed, same.added), (2, 0, 0));
    }

    #[test]
    fn a_source_owns_its_rules_and_only_those() {
        let mut s = AclState::default();
        let managed = |p: &str| AclRule {
            source: Some("kubernetes:prod:orders".into()),
            ..rule(p, "topic.orders", Operation::Write, Effect::Allow)
        };
        // The same rule by hand and from a resource: two rules.
        s.apply(AclChange {
            remove: vec![],
            add: vec![
                rule("alice", "topic.orders", Operation::Write, Effect::Allow),
                managed("alice"),
            ],
            warm_principals: None,
        })
        .unwrap();
        assert_eq!(s.rules.len(), 2);
        // Replacing the source's rules leaves the hand-made one alone.
        let by_source = AclFilter {
            source: Some("kubernetes:prod:orders".into()),
            ..Default::default()
        };
        let r = s
            .apply(AclChange {
                remove: vec![by_source.clone()],
                add: vec![managed("bob")],
                warm_principals: None,
            })
            .unwrap();
        assert_eq!((r.removed, r.added), (1, 1));
        let principals: Vec<(&str, bool)> = s
            .rules
            .iter()
            .map(|r| (r.principal.as_str(), r.source.is_some()))
            .collect();
        assert_eq!(principals, vec![("alice", false), ("bob", true)]);
        assert!(by_source.matches(&managed("x")));
        assert!(!by_source.matches(&rule("x", "topic.orders", Operation::Write, Effect::Allow)));
    }

    #[test]
    fn bad_changes_are_refused_whole() {
        let mut s = AclState::default();
        let everything = s.apply(AclChange {
            remove: vec![AclFilter::default()],
            add: vec![],
            warm_principals: None,
        });
        assert!(matches!(everything, Err(MetadataError::InvalidAcl(_))));
        let mut empty_ops = rule("x", "topic.a", Operation::Read, Effect::Allow);
        empty_ops.operations.clear();
        let r = s.apply(AclChange {
            remove: vec![],
            add: vec![
                rule("x", "topic.b", Operation::Read, Effect::Allow),
                empty_ops,
            ],
            warm_principals: None,
        });
        assert!(matches!(r, Err(MetadataError::InvalidAcl(_))));
        assert_eq!(s, AclState::default());
    }

    #[test]
    fn filters_match_by_every_field_they_set() {
        let r = rule("alice", "topic.orders", Operation::Write, Effect::Deny);
        let f = |f: AclFilter| f.matches(&r);
        assert!(f(AclFilter {
            resource_type: Some(ResourceType::Topic),
            ..Default::default()
        }));
        assert!(!f(AclFilter {
            resource_type: Some(ResourceType::Group),
            ..Default::default()
        }));
        assert!(f(AclFilter {
            principal: Some("alice".into()),
            operation: Some(Operation::Write),
            effect: Some(Effect::Deny),
            resource: Some("topic.orders".parse().unwrap()),
            ..Default::default()
        }));
        assert!(!f(AclFilter {
            principal: Some("alice".into()),
            effect: Some(Effect::Allow),
            ..Default::default()
        }));
    }
}
